//! `engram bench api` at a tiny size: it runs to the end and prints the table with every row.

use std::time::Duration;

use crate::support::{engram, run};

#[test]
fn bench_api_prints_the_table() {
    let bench =
        run(engram(&["bench", "api", "--passages", "200", "--requests", "50"], &[]), None, Duration::from_secs(600));
    let out = bench.ok();
    assert!(out.contains("command: `engram bench api --passages 200 --requests 50`"), "{out}");
    assert!(out.contains("CPUs (nproc)"), "{out}");
    for row in [
        "| cold start (spawn → first 200 from /v1/health) | 5 |",
        "| GET /v1/agents/{id} | 50 |",
        "| PATCH /v1/agents/{id}/blocks/human | 50 |",
        "| POST /v1/agents/{id}/archival (one passage) | 50 |",
        "| POST /v1/agents/{id}/archival/batch (500 passages) | 1 |",
        "| GET /v1/agents/{id}/archival/search?mode=text (270 passages) | 50 |",
        "| idle RSS |",
        "| archival batch insert throughput |",
        "| RSS after loading 270 passages |",
    ] {
        assert!(out.contains(row), "missing {row:?} in:\n{out}");
    }
}
