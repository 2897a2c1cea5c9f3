//! The benchmark's output: the command line, machine and storage, then a Markdown table of latencies and one of
//! single values (one column group per backend when several were measured, side by side), or the same as JSON.

use std::time::Duration;

use engram_store::postgres::describe_url;
use serde_json::{Value, json};

use super::ApiBenchArgs;
use super::backend::Backend;
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

    /// p50, p95 and p99 as table cells.
    fn cells(&self) -> [String; 3] {
        let s = &self.summary;
        if self.median_only {
            [ms(s.p50), "–".to_owned(), "–".to_owned()]
        } else {
            [ms(s.p50), ms(s.p95), ms(s.p99)]
        }
    }
}

/// What one backend measured.
pub struct Figures {
    backend: Backend,
    /// Where the data lived (never a password).
    storage: String,
    rows: Vec<Row>,
    values: Vec<(String, String, Value)>,
}

impl Figures {
    pub fn new(backend: Backend) -> Self {
        Self { backend, storage: String::new(), rows: Vec::new(), values: Vec::new() }
    }

    pub fn set_storage(&mut self, storage: String) {
        self.storage = storage;
    }

    pub fn latency(&mut self, row: Row) {
        self.rows.push(row);
    }

    pub fn value(&mut self, name: &str, shown: String, raw: Value) {
        self.values.push((name.to_owned(), shown, raw));
    }

    fn row(&self, name: &str) -> Option<&Row> {
        self.rows.iter().find(|row| row.name == name)
    }

    fn shown(&self, name: &str) -> Option<&str> {
        self.values.iter().find(|(n, _, _)| n == name).map(|(_, shown, _)| shown.as_str())
    }
}

pub struct Report {
    command: String,
    machine: String,
    cpus: usize,
    runs: Vec<Figures>,
}

impl Report {
    pub fn new(args: &ApiBenchArgs, runs: Vec<Figures>) -> Self {
        let (machine, cpus) = machine();
        let mut command = format!("engram bench api --passages {} --requests {}", args.passages, args.requests);
        if !args.backends.is_empty() {
            let names: Vec<&str> = args.backends.iter().map(|b| b.name()).collect();
            command.push_str(&format!(" --backends {}", names.join(",")));
        }
        if let Some(url) = &args.database_url {
            // Where it points, never who or with which password.
            command.push_str(&format!(" --database-url postgres://{}", describe_url(url)));
        }
        Self { command, machine, cpus, runs }
    }

    pub fn markdown(&self) -> String {
        let mut out = format!("command: `{}`\nmachine: {}\n", self.command, self.machine);
        for run in &self.runs {
            out.push_str(&format!("storage ({}): {}\n", run.backend.title(), run.storage));
        }
        out.push('\n');
        match self.runs.as_slice() {
            [] => {}
            [run] => out.push_str(&single(run)),
            runs => out.push_str(&side_by_side(runs)),
        }
        out.push_str(
            "\nLatency is measured at the client: loopback, one keep-alive connection, requests sent one after \
             another.\n",
        );
        if self.runs.iter().any(|run| run.backend == Backend::Postgres) {
            out.push_str(
                "On PostgreSQL, RSS is the engram process alone (the database server's memory is not counted), and \
                 the database server runs on the same machine.\n",
            );
        }
        out
    }

    pub fn to_json(&self) -> Value {
        let mut rows = Vec::new();
        let mut values = Vec::new();
        for run in &self.runs {
            let backend = run.backend.name();
            for row in &run.rows {
                let s = &row.summary;
                rows.push(json!({
                    "backend": backend, "measurement": row.name, "n": s.n, "p50_ms": millis(s.p50),
                    "p95_ms": millis(s.p95), "p99_ms": millis(s.p99), "mean_ms": millis(s.mean),
                }));
            }
            for (name, _, raw) in &run.values {
                values.push(json!({"backend": backend, "measurement": name, "value": raw}));
            }
        }
        let storage: Vec<Value> =
            self.runs.iter().map(|run| json!({"backend": run.backend.name(), "storage": run.storage})).collect();
        json!({
            "command": self.command, "machine": self.machine, "cpus": self.cpus, "storage": storage,
            "latency": rows, "values": values,
        })
    }
}

/// One backend's tables.
fn single(run: &Figures) -> String {
    let mut out = "| measurement | n | p50 | p95 | p99 |\n|---|---:|---:|---:|---:|\n".to_owned();
    for row in &run.rows {
        let [p50, p95, p99] = row.cells();
        out.push_str(&format!("| {} | {} | {p50} | {p95} | {p99} |\n", row.name, row.summary.n));
    }
    out.push_str("\n| measurement | value |\n|---|---:|\n");
    for (name, shown, _) in &run.values {
        out.push_str(&format!("| {name} | {shown} |\n"));
    }
    out
}

/// Several backends' figures in one table each, a column group per backend, rows in the first backend's order
/// (then any row only a later backend has).
fn side_by_side(runs: &[Figures]) -> String {
    let mut names: Vec<&str> = Vec::new();
    let mut value_names: Vec<&str> = Vec::new();
    for run in runs {
        for row in &run.rows {
            if !names.contains(&row.name.as_str()) {
                names.push(&row.name);
            }
        }
        for (name, _, _) in &run.values {
            if !value_names.contains(&name.as_str()) {
                value_names.push(name);
            }
        }
    }
    let mut out = "| measurement | n |".to_owned();
    let mut rule = "|---|---:|".to_owned();
    for run in runs {
        let title = run.backend.title();
        out.push_str(&format!(" {title} p50 | {title} p95 | {title} p99 |"));
        rule.push_str("---:|---:|---:|");
    }
    out.push_str(&format!("\n{rule}\n"));
    for name in names {
        let n = runs.iter().find_map(|run| run.row(name)).map_or(0, |row| row.summary.n);
        out.push_str(&format!("| {name} | {n} |"));
        for run in runs {
            let cells = run.row(name).map_or_else(|| ["–".to_owned(), "–".to_owned(), "–".to_owned()], Row::cells);
            out.push_str(&format!(" {} | {} | {} |", cells[0], cells[1], cells[2]));
        }
        out.push('\n');
    }
    out.push_str("\n| measurement |");
    let mut rule = "|---|".to_owned();
    for run in runs {
        out.push_str(&format!(" {} |", run.backend.title()));
        rule.push_str("---:|");
    }
    out.push_str(&format!("\n{rule}\n"));
    for name in value_names {
        out.push_str(&format!("| {name} |"));
        for run in runs {
            out.push_str(&format!(" {} |", run.shown(name).unwrap_or("–")));
        }
        out.push('\n');
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(backend: Backend, p50_ms: u64) -> Figures {
        let d = Duration::from_millis(p50_ms);
        let summary = Summary { n: 3, p50: d, p95: d, p99: d, mean: d };
        let mut figures = Figures::new(backend);
        figures.set_storage(format!("{} somewhere", backend.title()));
        figures.latency(Row::percentiles("GET x", summary));
        figures.value("idle RSS", format!("{p50_ms} MiB"), json!(p50_ms));
        figures
    }

    #[test]
    fn two_backends_are_printed_side_by_side() {
        let args = ApiBenchArgs {
            passages: 10,
            requests: 3,
            database_url: Some("postgres://bench:s3cret@db.example:5433/postgres".to_owned()),
            backends: vec![Backend::Sqlite, Backend::Postgres],
        };
        let report = Report::new(&args, vec![figures(Backend::Sqlite, 1), figures(Backend::Postgres, 2)]);
        let out = report.markdown();
        assert!(
            out.contains(
                "command: `engram bench api --passages 10 --requests 3 --backends sqlite,postgres --database-url \
                 postgres://db.example:5433/postgres`"
            ),
            "{out}"
        );
        assert!(!out.contains("s3cret"), "{out}");
        assert!(out.contains("storage (PostgreSQL): PostgreSQL somewhere\n"), "{out}");
        assert!(out.contains("| measurement | n | SQLite p50 | SQLite p95 | SQLite p99 | PostgreSQL p50 |"), "{out}");
        assert!(out.contains("| GET x | 3 | 1.00 ms | 1.00 ms | 1.00 ms | 2.00 ms | 2.00 ms | 2.00 ms |"), "{out}");
        assert!(
            out.contains("| measurement | SQLite | PostgreSQL |\n|---|---:|---:|\n| idle RSS | 1 MiB | 2 MiB |"),
            "{out}"
        );
        let json = report.to_json();
        assert_eq!(json["latency"][1]["backend"], "postgres");
        assert_eq!(json["values"][0]["backend"], "sqlite");
    }
}
