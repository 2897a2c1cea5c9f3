//! `engram migrate --from DIR --to URL`: copies a SQLite data directory into a PostgreSQL database with
//! `engram_store::transfer` (which checks, copies and verifies), showing a progress bar per table on a terminal and
//! printing the counts at the end. Safe to run again: what is already there is checked and skipped.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{anyhow, bail};
use clap::Args;
use engram_store::transfer::{self, Phase, Progress, TransferOptions, TransferReport};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::output::{Table, print_json};

/// Flags of `engram migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The data directory to copy (what `engram serve --data-dir` used). Stop the server that uses it first: the
    /// copy is of one snapshot, and what is written after it began is not copied.
    #[arg(long, value_name = "DIR")]
    pub from: PathBuf,
    /// The PostgreSQL database to copy into, `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`; its schema is
    /// created if needed. It should be empty, or hold an earlier copy of the same data (which is completed).
    #[arg(long, value_name = "URL", env = "ENGRAM_DATABASE_URL", hide_env_values = true)]
    pub to: String,
}

pub async fn run(args: &MigrateArgs, json: bool) -> anyhow::Result<()> {
    let url = args.to.trim();
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        bail!("--to must be a postgres:// URL (postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE)");
    }
    let mut bars = Bars::new();
    let result = transfer::transfer(&args.from, url, &TransferOptions::default(), &mut bars).await;
    bars.clear();
    // The store's messages are whole sentences that name the place and never the password.
    let report = result.map_err(|e| anyhow!("{e}"))?;
    if json { print_json(&report_json(&report)) } else { print_report(&report) }
}

fn print_report(report: &TransferReport) -> anyhow::Result<()> {
    println!(
        "{} → PostgreSQL at {} (vector search: {})",
        report.source.display(),
        report.target,
        report.vector_path.as_str()
    );
    let mut table = Table::new(["TABLE", "SOURCE", "COPIED", "ALREADY THERE", "IN TARGET"]);
    for t in &report.tables {
        table.row([
            t.table.to_owned(),
            t.source_rows.to_string(),
            t.copied.to_string(),
            t.skipped.to_string(),
            t.target_rows.to_string(),
        ]);
    }
    print!("{}", table.render());
    for chain in &report.audit {
        println!("audit chain of {}: seq 1..{} without gaps, equal to the source", chain.org, chain.events);
    }
    match report.copied() {
        0 => println!("nothing to copy: the target already held all {} rows", report.skipped()),
        n => println!("copied {n} rows ({} were already there); verified", report.skipped()),
    }
    Ok(())
}

fn report_json(report: &TransferReport) -> serde_json::Value {
    let tables: Vec<_> = report
        .tables
        .iter()
        .map(|t| {
            json!({
                "table": t.table,
                "source_rows": t.source_rows,
                "copied": t.copied,
                "skipped": t.skipped,
                "target_rows": t.target_rows,
            })
        })
        .collect();
    let audit: Vec<_> = report.audit.iter().map(|c| json!({ "org": c.org, "events": c.events })).collect();
    json!({
        "source": report.source.display().to_string(),
        "target": report.target,
        "vector_path": report.vector_path.as_str(),
        "copied": report.copied(),
        "skipped": report.skipped(),
        "tables": tables,
        "audit": audit,
        "verified": true,
    })
}

/// One progress bar per phase and table on standard error, when it is a terminal.
struct Bars {
    enabled: bool,
    current: Option<ProgressBar>,
}

impl Bars {
    fn new() -> Self {
        Self { enabled: std::io::stderr().is_terminal(), current: None }
    }

    fn clear(&mut self) {
        if let Some(bar) = self.current.take() {
            bar.finish_and_clear();
        }
    }
}

impl Progress for Bars {
    fn start(&mut self, phase: Phase, what: &str, rows: u64) {
        self.clear();
        if !self.enabled {
            return;
        }
        // Built whole before it first draws, so it never shows half set up.
        let mut bar = ProgressBar::new(rows).with_prefix(phase.as_str()).with_message(what.to_owned());
        if let Ok(style) = ProgressStyle::with_template("{prefix:>9} {msg:<28} {bar:30} {pos}/{len} ({per_sec})") {
            bar = bar.with_style(style);
        }
        self.current = Some(bar);
    }

    fn advance(&mut self, rows: u64) {
        if let Some(bar) = &self.current {
            bar.inc(rows);
        }
    }

    fn finish(&mut self) {
        // Copied tables stay on screen; the checking and verifying passes go as they end.
        if let Some(bar) = self.current.take() {
            if bar.prefix() == Phase::Copy.as_str() { bar.finish() } else { bar.finish_and_clear() }
        }
    }
}
