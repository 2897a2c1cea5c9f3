//! The benchmark's output: the command line and machine, then a Markdown table of latencies and one of single
//! values, or the same as JSON.

use std::time::Duration;

use serde_json::{Value, json};

use super::ApiBenchArgs;
use super::stats::{Summary, millis};

/// One latency line.
pub struct Row {
    name: String,
    summary: Summary,
    /// Only the median is meaningful (a handful of samples).
    median_only: bool,
}

impl Row {
    pub fn percentiles(name: &str, summary: Summary) -> Self {
        Self { name: name.to_owned(), summary, median_only: false }
    }

    pub fn median(name: &str, summary: Summary) -> Self {
        Self { name: name.to_owned(), summary, median_only: true }
    }
}

pub struct Report {
    command: String,
    machine: String,
    cpus: usize,
    rows: Vec<Row>,
    values: Vec<(String, String, Value)>,
}

impl Report {
    pub fn new(args: &ApiBenchArgs) -> Self {
        let (machine, cpus) = machine();
        Self {
            command: format!("engram bench api --passages {} --requests {}", args.passages, args.requests),
            machine,
            cpus,
            rows: Vec::new(),
            values: Vec::new(),
        }
    }

    pub fn latency(&mut self, row: Row) {
        self.rows.push(row);
    }

    pub fn value(&mut self, name: &str, shown: String, raw: Value) {
        self.values.push((name.to_owned(), shown, raw));
    }

    pub fn markdown(&self) -> String {
        let mut out = format!("command: `{}`\nmachine: {}\n\n", self.command, self.machine);
        out.push_str("| measurement | n | p50 | p95 | p99 |\n|---|---:|---:|---:|---:|\n");
        for row in &self.rows {
            let s = &row.summary;
            let (p95, p99) =
                if row.median_only { ("–".to_owned(), "–".to_owned()) } else { (ms(s.p95), ms(s.p99)) };
            out.push_str(&format!("| {} | {} | {} | {p95} | {p99} |\n", row.name, s.n, ms(s.p50)));
        }
        out.push_str("\n| measurement | value |\n|---|---:|\n");
        for (name, shown, _) in &self.values {
            out.push_str(&format!("| {name} | {shown} |\n"));
        }
        out.push_str(
            "\nLatency is measured at the client: loopback, one keep-alive connection, requests sent one after \
             another.\n",
        );
        out
    }

    pub fn to_json(&self) -> Value {
        let rows: Vec<Value> = self
            .rows
            .iter()
            .map(|row| {
                let s = &row.summary;
                json!({
                    "measurement": row.name, "n": s.n, "p50_ms": millis(s.p50), "p95_ms": millis(s.p95),
                    "p99_ms": millis(s.p99), "mean_ms": millis(s.mean),
                })
            })
            .collect();
        let values: Vec<Value> =
            self.values.iter().map(|(name, _, raw)| json!({"measurement": name, "value": raw})).collect();
        json!({"command": self.command, "machine": self.machine, "cpus": self.cpus, "latency": rows, "values": values})
    }
}

/// A line describing the machine and build, and the number of CPUs.
pub fn machine() -> (String, usize) {
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|line| line.strip_prefix("model name").and_then(|rest| rest.split_once(':')))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let build = if cfg!(debug_assertions) { "debug build" } else { "release build" };
    let line = format!(
        "{cpus} CPUs (nproc), {cpu_model}, {} {}; engram {} ({build})",
        std::env::consts::OS,
        std::env::consts::ARCH,
        env!("CARGO_PKG_VERSION")
    );
    (line, cpus)
}

pub fn ms(duration: Duration) -> String {
    format!("{:.2} ms", millis(duration))
}
