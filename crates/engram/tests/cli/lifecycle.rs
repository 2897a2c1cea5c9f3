//! Stopping and restarting: SIGTERM in the middle of a burst of writes loses no acknowledged write, and everything
//! written before a restart is there after it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::support::Server;

/// Concurrent writers in the burst.
const WRITERS: usize = 8;
/// Acknowledged writes to wait for before sending SIGTERM, so the signal lands mid-burst.
const BEFORE_SIGNAL: usize = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_mid_burst_keeps_every_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = tokio::task::block_in_place(|| Server::start_in(dir.path()));
    let agent = tokio::task::block_in_place(|| server.create_agent(&["burst"]));
    let base = format!("{}/v1/agents/{agent}/archival", server.url());
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();

    let acknowledged = Arc::new(AtomicUsize::new(0));
    let enough = Arc::new(Notify::new());
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let (http, base, acknowledged, enough) = (http.clone(), base.clone(), acknowledged.clone(), enough.clone());
            tokio::spawn(async move {
                let mut ids = Vec::new();
                let mut failures = 0;
                for i in 0.. {
                    let body = json!({ "text": format!("writer {writer} passage {i}") });
                    match http.post(&base).json(&body).send().await {
                        Ok(response) if response.status().is_success() => {
                            let passage: Value = response.json().await.expect("2xx body is a passage");
                            ids.push(passage["id"].as_str().expect("passage id").to_owned());
                            if acknowledged.fetch_add(1, Ordering::SeqCst) + 1 == BEFORE_SIGNAL {
                                enough.notify_one();
                            }
                        }
                        // Refused, reset or 503 while stopping: the burst is over for this writer.
                        _ => {
                            failures += 1;
                            if failures >= 3 {
                                break;
                            }
                        }
                    }
                }
                ids
            })
        })
        .collect();

    tokio::time::timeout(Duration::from_secs(120), enough.notified())
        .await
        .unwrap_or_else(|_| panic!("fewer than {BEFORE_SIGNAL} writes succeeded; server log:\n{}", server.log()));
    server.sigterm();
    let status = tokio::task::block_in_place(|| server.wait_exit());
    assert_eq!(status.code(), Some(0), "server log:\n{}", server.log());
    assert!(server.log().contains("stopped"), "{}", server.log());

    let mut acked = Vec::new();
    for writer in writers {
        acked.extend(writer.await.unwrap());
    }
    assert!(acked.len() >= BEFORE_SIGNAL);
    eprintln!("{} writes acknowledged, at least {BEFORE_SIGNAL} of them before SIGTERM", acked.len());
    drop(server);

    let server = tokio::task::block_in_place(|| Server::start_in(dir.path()));
    let base = format!("{}/v1/agents/{agent}/archival", server.url());
    for id in &acked {
        let response = http.get(format!("{base}/{id}")).send().await.unwrap();
        assert_eq!(response.status(), 200, "acknowledged passage {id} is missing after restart");
    }
    tokio::task::block_in_place(|| server.stop());
}

#[test]
fn data_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path());
    let id = server.create_agent(&["keeper", "--system", "Remember.", "--block", "human=Grace", "--tag", "kept"]);
    server.cli(&["block", "set", "keeper", "human", "Grace Hopper, admiral"]).ok();
    let lines = "COBOL was her idea.\nShe kept a nanosecond of wire on her desk.\n";
    server.cli_with_stdin(&["archival", "add", "keeper", "-", "--tag", "bio"], Some(lines)).ok();
    let before = server.cli(&["agent", "show", &id, "--json"]).json();
    let passages_before = server.cli(&["archival", "list", &id, "--json"]).json();
    server.stop();

    let server = Server::start_in(dir.path());
    let after = server.cli(&["agent", "show", "keeper", "--json"]).json();
    assert_eq!(after, before);
    assert_eq!(server.cli(&["block", "get", "keeper", "human"]).ok(), "Grace Hopper, admiral\n");
    assert_eq!(server.cli(&["archival", "list", &id, "--json"]).json(), passages_before);
    let found = server.cli(&["archival", "search", "keeper", "nanosecond", "--mode", "text", "--json"]).json();
    assert!(found["results"][0]["passage"]["text"].as_str().unwrap().contains("nanosecond"));
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_dir_from_a_newer_engram_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let server = tokio::task::block_in_place(|| Server::start_in(dir.path()));
    let id = tokio::task::block_in_place(|| server.create_agent(&["old"]));
    tokio::task::block_in_place(|| server.stop());

    // Pretend a later engram applied a migration this build does not know.
    let db = dir.path().join(engram_store::sqlite::DB_FILE);
    let url = format!("sqlite://{}", db.to_str().unwrap());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99990101000000, 'from the future', 1, x'00', 0)",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;

    let data_dir = dir.path().to_str().unwrap();
    let run = tokio::task::block_in_place(|| {
        crate::support::engram_run(&["serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir], &[])
    });
    let stderr = run.failed();
    assert!(stderr.contains("written by a newer engram") && stderr.contains("99990101000000"), "{stderr}");

    // Nothing was changed: removing the marker makes the data readable again.
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = 99990101000000").execute(&pool).await.unwrap();
    pool.close().await;
    let server = tokio::task::block_in_place(|| Server::start_in(dir.path()));
    let shown = tokio::task::block_in_place(|| server.cli(&["agent", "show", &id, "--json"]).json());
    assert_eq!(shown["name"], "old");
    tokio::task::block_in_place(|| server.stop());
}
