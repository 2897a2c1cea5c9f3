//! The LoCoMo benchmark's output: what was run on what, the ingest figures, a summary table of recall@10 per
//! category and query latency per mode, and a full table of every metric; or the same as JSON.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use super::LocomoBenchArgs;
use super::dataset::Dataset;
use super::metrics::{ANSWERABLE, Bucket, CATEGORIES, CUTOFFS, Judged, buckets};
use crate::bench::report::{machine, ms};
use crate::bench::stats::{Summary, millis};

/// How the turns were stored.
pub struct Ingest {
    pub passages: usize,
    pub batches: usize,
    /// Time spent in the batch requests (send to last byte of the reply), summed.
    pub elapsed: Duration,
}

impl Ingest {
    fn per_second(&self) -> f64 {
        self.passages as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }
}

pub enum ModeOutcome {
    /// The server answered 422 `search_mode_unavailable`, with this message.
    Unavailable(String),
    Measured {
        judged: Vec<Judged>,
        latency: Summary,
    },
}

pub struct ModeRun {
    pub mode: &'static str,
    pub outcome: ModeOutcome,
}

pub struct Report {
    command: String,
    machine: String,
    cpus: usize,
    data: String,
    data_json: Value,
    model: Option<String>,
    ingest: Ingest,
    modes: Vec<(ModeRun, Vec<Bucket>)>,
}

impl Report {
    pub fn new(
        args: &LocomoBenchArgs,
        dataset: &Dataset,
        model_dir: Option<&Path>,
        ingest: Ingest,
        runs: Vec<ModeRun>,
    ) -> Self {
        let (machine, cpus) = machine();
        let with_evidence = dataset.conversations.iter().flat_map(|c| &c.questions).filter(|q| !q.evidence.is_empty());
        let data = format!(
            "{}: {} conversations, {} turns stored as passages ({}), {} questions ({} with evidence); {} evidence ids \
             dropped because they name no turn",
            args.data.display(),
            dataset.conversations.len(),
            dataset.turns(),
            if args.captions { "\"Speaker: text [image: caption]\"" } else { "\"Speaker: text\"" },
            dataset.questions(),
            with_evidence.count(),
            dataset.dropped_evidence.len()
        );
        let data_json = json!({
            "file": args.data.display().to_string(),
            "conversations": dataset.conversations.len(),
            "turns": dataset.turns(),
            "captions": args.captions,
            "questions": dataset.questions(),
            "dropped_evidence": dataset.dropped_evidence,
        });
        let modes: Vec<(ModeRun, Vec<Bucket>)> = runs
            .into_iter()
            .map(|run| {
                let buckets = match &run.outcome {
                    ModeOutcome::Measured { judged, .. } => buckets(judged),
                    ModeOutcome::Unavailable(_) => Vec::new(),
                };
                (run, buckets)
            })
            .collect();
        Self {
            command: format!(
                "engram bench locomo --data {} --modes {} --k {}{}",
                args.data.display(),
                modes_list(&modes),
                args.k,
                if args.captions { " --captions" } else { "" }
            ),
            machine,
            cpus,
            data,
            data_json,
            model: model_dir.map(|d| d.display().to_string()),
            ingest,
            modes,
        }
    }

    pub fn markdown(&self) -> String {
        let ingest = &self.ingest;
        let mut out = format!(
            "command: `{}`\nmachine: {}\ndata: {}\nembedding model: {}\ningest: {} passages in {} batch requests, \
             {:.2} s ({:.0} passages/s, embedding included)\n\n",
            self.command,
            self.machine,
            self.data,
            self.model.as_deref().unwrap_or("none given"),
            ingest.passages,
            ingest.batches,
            ingest.elapsed.as_secs_f64(),
            ingest.per_second()
        );
        out.push_str("Recall@10 (%) by category id, and query latency at the client:\n\n| mode |");
        for (id, name) in CATEGORIES {
            out.push_str(&format!(" {id} {name} |"));
        }
        out.push_str(&format!(" {ANSWERABLE} | query p50 | query p95 |\n|---|"));
        out.push_str(&"---:|".repeat(CATEGORIES.len() + 3));
        out.push('\n');
        for (run, buckets) in &self.modes {
            match &run.outcome {
                ModeOutcome::Unavailable(reason) => {
                    out.push_str(&format!("| {} | unavailable: {reason} |\n", run.mode));
                }
                ModeOutcome::Measured { latency, .. } => {
                    out.push_str(&format!("| {} |", run.mode));
                    for bucket in buckets {
                        out.push_str(&format!(" {} |", percent(bucket.recall_at(10))));
                    }
                    out.push_str(&format!(" {} | {} |\n", ms(latency.p50), ms(latency.p95)));
                }
            }
        }
        out.push_str(
            "\nEvery metric (recall and all@10 over the questions with evidence, in %; tokens@10: mean o200k ",
        );
        out.push_str("tokens of the top 10 passages' text):\n\n| mode | category | questions | with evidence |");
        for k in CUTOFFS {
            out.push_str(&format!(" R@{k} |"));
        }
        out.push_str(" all@10 | tokens@10 |\n|---|---|---:|---:|");
        out.push_str(&"---:|".repeat(CUTOFFS.len() + 2));
        out.push('\n');
        for (run, buckets) in &self.modes {
            for bucket in buckets {
                out.push_str(&format!(
                    "| {} | {} | {} | {} |",
                    run.mode, bucket.name, bucket.questions, bucket.with_evidence
                ));
                for recall in bucket.recall {
                    out.push_str(&format!(" {} |", percent(recall)));
                }
                let tokens = bucket.mean_context_tokens.map_or("–".to_owned(), |t| format!("{t:.0}"));
                out.push_str(&format!(" {} | {tokens} |\n", percent(bucket.all_at_10)));
            }
        }
        out
    }

    pub fn to_json(&self) -> Value {
        let modes: Vec<Value> = self
            .modes
            .iter()
            .map(|(run, buckets)| match &run.outcome {
                ModeOutcome::Unavailable(reason) => json!({"mode": run.mode, "available": false, "reason": reason}),
                ModeOutcome::Measured { latency, .. } => json!({
                    "mode": run.mode,
                    "available": true,
                    "latency": {
                        "n": latency.n, "p50_ms": millis(latency.p50), "p95_ms": millis(latency.p95),
                        "p99_ms": millis(latency.p99), "mean_ms": millis(latency.mean),
                    },
                    "categories": buckets.iter().map(bucket_json).collect::<Vec<_>>(),
                }),
            })
            .collect();
        json!({
            "command": self.command,
            "machine": self.machine,
            "cpus": self.cpus,
            "data": self.data_json,
            "embedding_model_dir": self.model,
            "ingest": {
                "passages": self.ingest.passages,
                "batches": self.ingest.batches,
                "seconds": self.ingest.elapsed.as_secs_f64(),
                "passages_per_second": self.ingest.per_second(),
            },
            "modes": modes,
        })
    }
}

fn modes_list(modes: &[(ModeRun, Vec<Bucket>)]) -> String {
    modes.iter().map(|(run, _)| run.mode).collect::<Vec<_>>().join(",")
}

fn bucket_json(bucket: &Bucket) -> Value {
    let mut value = json!({
        "category": bucket.name,
        "questions": bucket.questions,
        "with_evidence": bucket.with_evidence,
        "all_at_10": bucket.all_at_10,
        "mean_context_tokens": bucket.mean_context_tokens,
    });
    for (k, recall) in CUTOFFS.iter().zip(bucket.recall) {
        value[format!("recall_at_{k}")] = json!(recall);
    }
    value
}

/// A 0–1 share as a percentage with one decimal, or `–` when undefined.
fn percent(share: Option<f64>) -> String {
    share.map_or("–".to_owned(), |s| format!("{:.1}", s * 100.0))
}
