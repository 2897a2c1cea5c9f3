//! PostgreSQL going away under load: `engram serve --database-url` on a cluster of the test's own, clients reading
//! and writing continuously while the cluster is stopped (fast, then immediate) and started again. While it is down
//! every failed request is a 503 `storage_unavailable` (never a 500, a reset or a panic) and the process stays up;
//! once it is back, requests succeed again within a bounded time without restarting engram, and every write that was
//! acknowledged with a 2xx is there. Starting against a database that cannot be reached fails with one clear line.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use engram_testkit::pg_cluster::{PgCluster, StopMode, free_port};
use engram_testkit::postgres::PgVersion;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Server, engram_run};

/// How long requests may keep failing after PostgreSQL is back before the test calls it a failure to recover.
const RECOVERY_LIMIT: Duration = Duration::from_secs(15);
/// Upper bound for any one wait on the load (a hang, not a measurement).
const WAIT_LIMIT: Duration = Duration::from_secs(60);
/// Successful requests of every kind wanted before an outage and after a recovery.
const SUCCESSES: usize = 3;

/// The requests the load sends, each from a client task of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Op {
    GetAgent,
    ListBlocks,
    Search,
    PatchBlock,
    PostPassage,
    CreateAgent,
}

const OPS: [Op; 6] = [Op::GetAgent, Op::ListBlocks, Op::Search, Op::PatchBlock, Op::PostPassage, Op::CreateAgent];

/// What came back.
#[derive(Debug, Clone)]
enum Outcome {
    /// A 2xx; for writes, what it acknowledged (the passage or agent id, or the block value written).
    Ok(Option<String>),
    /// A 503 with code `storage_unavailable`.
    Unavailable,
    /// Any other status (or a 503 with another body).
    Other(StatusCode, String),
    /// No HTTP answer: connection refused or reset, timeout.
    Transport(String),
}

/// One request of the load. `epoch` and `answered` are the test's phase (see [`Phases`]) when it was sent and when
/// its answer came back.
#[derive(Debug, Clone)]
struct Record {
    op: Op,
    epoch: usize,
    answered: usize,
    /// For `PatchBlock`: the value sent, whatever the outcome (a failed write may still have committed).
    sent_value: Option<String>,
    outcome: Outcome,
}

impl Record {
    fn describe(&self) -> String {
        let outcome = match &self.outcome {
            Outcome::Ok(_) => "2xx".to_owned(),
            Outcome::Unavailable => "503 storage_unavailable".to_owned(),
            Outcome::Other(status, body) => format!("{status}: {body}"),
            Outcome::Transport(error) => format!("no answer: {error}"),
        };
        format!("{:?} sent in phase {}, answered in phase {}: {outcome}", self.op, self.epoch, self.answered)
    }
}

/// Phases: 0 before the first outage, then for outage `n` (from 0): `1 + 2n` while it is down and `2 + 2n` after
/// it was started again.
struct Phases {
    epoch: AtomicUsize,
    stop: AtomicBool,
    records: Mutex<Vec<Record>>,
}

impl Phases {
    fn records(&self) -> Vec<Record> {
        self.records.lock().unwrap().clone()
    }

    /// How many answers of each kind each op got in each phase, for failure messages.
    fn summary(&self) -> String {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for record in self.records.lock().unwrap().iter() {
            *counts.entry(record.describe()).or_default() += 1;
        }
        let mut lines: Vec<String> = counts.into_iter().map(|(line, n)| format!("{n} × {line}")).collect();
        lines.sort();
        lines.join("\n")
    }

    /// Whether every op has at least `n` records in `epoch` that satisfy `matches`.
    fn every_op_has(&self, epoch: usize, n: usize, matches: impl Fn(&Outcome) -> bool) -> bool {
        let records = self.records.lock().unwrap();
        let mut counts: HashMap<Op, usize> = HashMap::new();
        for record in records.iter().filter(|r| r.epoch == epoch && matches(&r.outcome)) {
            *counts.entry(record.op).or_default() += 1;
        }
        OPS.iter().all(|op| counts.get(op).copied().unwrap_or(0) >= n)
    }

    /// Polls until [`Self::every_op_has`] holds; `Err` with the time waited when `limit` passes first.
    async fn wait_for(
        &self,
        limit: Duration,
        epoch: usize,
        n: usize,
        matches: impl Fn(&Outcome) -> bool,
    ) -> Result<Duration, Duration> {
        let started = Instant::now();
        while !self.every_op_has(epoch, n, &matches) {
            if started.elapsed() > limit {
                return Err(started.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(started.elapsed())
    }
}

fn is_ok(outcome: &Outcome) -> bool {
    matches!(outcome, Outcome::Ok(_))
}

fn is_unavailable(outcome: &Outcome) -> bool {
    matches!(outcome, Outcome::Unavailable)
}

/// Sends `op` once and sorts the answer.
async fn send(http: &reqwest::Client, base: &str, agent: &str, op: Op, i: usize) -> (Option<String>, Outcome) {
    let (request, sent_value) = match op {
        Op::GetAgent => (http.get(format!("{base}/v1/agents/{agent}")), None),
        Op::ListBlocks => (http.get(format!("{base}/v1/agents/{agent}/blocks")), None),
        Op::Search => (http.get(format!("{base}/v1/agents/{agent}/archival/search?mode=text&q=outage+passage")), None),
        Op::PatchBlock => {
            let value = format!("value {i}");
            let request = http.patch(format!("{base}/v1/agents/{agent}/blocks/human")).json(&json!({ "value": value }));
            (request, Some(value))
        }
        Op::PostPassage => {
            let body = json!({ "text": format!("outage passage {i}") });
            (http.post(format!("{base}/v1/agents/{agent}/archival")).json(&body), None)
        }
        Op::CreateAgent => (http.post(format!("{base}/v1/agents")).json(&json!({ "name": format!("load {i}") })), None),
    };
    let response = match request.send().await {
        Ok(response) => response,
        Err(e) => return (sent_value, Outcome::Transport(e.to_string())),
    };
    let status = response.status();
    let body = match response.text().await {
        Ok(body) => body,
        Err(e) => return (sent_value, Outcome::Transport(format!("reading the body of a {status}: {e}"))),
    };
    let json: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let outcome = if status.is_success() {
        let acknowledged = match op {
            Op::PostPassage | Op::CreateAgent => json["id"].as_str().map(str::to_owned),
            Op::PatchBlock => sent_value.clone(),
            Op::GetAgent | Op::ListBlocks | Op::Search => None,
        };
        Outcome::Ok(acknowledged)
    } else if status == StatusCode::SERVICE_UNAVAILABLE && json["error"]["code"] == "storage_unavailable" {
        Outcome::Unavailable
    } else {
        Outcome::Other(status, body)
    };
    (sent_value, outcome)
}

/// One client task: sends `op` back to back until told to stop, recording every answer.
fn spawn_client(
    http: reqwest::Client,
    base: String,
    agent: String,
    op: Op,
    phases: Arc<Phases>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut i = 0;
        while !phases.stop.load(Ordering::SeqCst) {
            let epoch = phases.epoch.load(Ordering::SeqCst);
            let (sent_value, outcome) = send(&http, &base, &agent, op, i).await;
            let answered = phases.epoch.load(Ordering::SeqCst);
            phases.records.lock().unwrap().push(Record { op, epoch, answered, sent_value, outcome });
            i += 1;
        }
    })
}

/// `GET /v1/health`: status and body.
async fn health(http: &reqwest::Client, base: &str) -> (StatusCode, Value) {
    let response = http.get(format!("{base}/v1/health")).send().await.expect("health answers");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_going_away_under_load_gives_503s_and_engram_recovers() {
    let mut cluster = tokio::task::block_in_place(|| PgCluster::init(PgVersion::Pg16));
    let data_dir = tempfile::tempdir().unwrap();
    let url = cluster.url();
    let args = ["serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir.path().to_str().unwrap()];
    let args: Vec<&str> = args.into_iter().chain(["--database-url", url.as_str()]).collect();
    let server = tokio::task::block_in_place(|| Server::spawn(&args, &[]))
        .unwrap_or_else(|log| panic!("engram did not start on PostgreSQL; its log:\n{log}"));
    let base = server.url();
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();

    let created = http
        .post(format!("{base}/v1/agents"))
        .json(&json!({ "name": "steady", "blocks": [{ "label": "human", "value": "value start" }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED, "{}", created.text().await.unwrap_or_default());
    let agent = created.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();

    let phases =
        Arc::new(Phases { epoch: AtomicUsize::new(0), stop: AtomicBool::new(false), records: Mutex::default() });
    let clients: Vec<_> =
        OPS.iter().map(|&op| spawn_client(http.clone(), base.clone(), agent.clone(), op, phases.clone())).collect();
    let log = |server: &Server, cluster: &PgCluster| {
        format!("engram log:\n{}\nPostgreSQL log:\n{}", server.log(), cluster.log())
    };

    phases
        .wait_for(WAIT_LIMIT, 0, SUCCESSES, is_ok)
        .await
        .unwrap_or_else(|_| panic!("the load did not get going:\n{}\n{}", phases.summary(), log(&server, &cluster)));

    for (outage, mode) in [StopMode::Fast, StopMode::Immediate].into_iter().enumerate() {
        let down = 1 + 2 * outage;
        phases.epoch.store(down, Ordering::SeqCst);
        tokio::task::block_in_place(|| cluster.stop(mode));
        let stopped = Instant::now();

        // Every kind of request fails with 503 `storage_unavailable` (checked for all records at the end: nothing
        // else comes back), and health, answered by the process that is still up, says the database is down.
        phases.wait_for(WAIT_LIMIT, down, 1, is_unavailable).await.unwrap_or_else(|_| {
            panic!("{mode:?} stop: not every request kind got a 503:\n{}\n{}", phases.summary(), log(&server, &cluster))
        });
        eprintln!("{mode:?} stop: every request kind answered 503 within {:?}", stopped.elapsed());
        let (status, body) = health(&http, &base).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "health while PostgreSQL is down: {body}");
        assert_eq!(body["error"]["code"], "storage_unavailable", "{body}");

        let up = down + 1;
        phases.epoch.store(up, Ordering::SeqCst);
        tokio::task::block_in_place(|| cluster.start());
        let recovered = phases.wait_for(RECOVERY_LIMIT, up, 1, is_ok).await.unwrap_or_else(|waited| {
            panic!(
                "{mode:?} stop: engram did not recover within {waited:?} of PostgreSQL coming back:\n{}\n{}",
                phases.summary(),
                log(&server, &cluster)
            )
        });
        eprintln!("{mode:?} stop: every request kind succeeded again {recovered:?} after PostgreSQL was back");
        phases.wait_for(WAIT_LIMIT, up, SUCCESSES, is_ok).await.unwrap_or_else(|_| {
            panic!("{mode:?} stop: the load did not settle after recovery\n{}", log(&server, &cluster))
        });
        let (status, body) = health(&http, &base).await;
        assert_eq!(status, StatusCode::OK, "health after recovery: {body}");
        assert_eq!(body["status"], "ok", "{body}");
    }

    phases.stop.store(true, Ordering::SeqCst);
    for client in clients {
        client.await.unwrap();
    }
    let records = phases.records();

    // Only 2xx and 503 `storage_unavailable`, ever; and nothing but 2xx before the first outage began.
    let unexpected: Vec<String> = records
        .iter()
        .filter(|r| match &r.outcome {
            Outcome::Ok(_) => false,
            Outcome::Unavailable => r.answered == 0,
            Outcome::Other(..) | Outcome::Transport(_) => true,
        })
        .map(Record::describe)
        .collect();
    assert!(unexpected.is_empty(), "unexpected answers:\n{}\n{}", unexpected.join("\n"), log(&server, &cluster));
    // Once a kind of request has succeeded after PostgreSQL came back, it keeps succeeding.
    for op in OPS {
        for up in [2, 4] {
            let answers: Vec<&Record> =
                records.iter().filter(|r| r.op == op && r.epoch == up && r.answered == up).collect();
            let first_ok = answers.iter().position(|r| is_ok(&r.outcome)).unwrap_or(answers.len());
            let relapses: Vec<String> =
                answers[first_ok..].iter().filter(|r| !is_ok(&r.outcome)).map(|r| r.describe()).collect();
            assert!(relapses.is_empty(), "failures after recovering:\n{}", relapses.join("\n"));
        }
    }
    let count = |matches: fn(&Outcome) -> bool| records.iter().filter(|r| matches(&r.outcome)).count();
    eprintln!("{} requests: {} succeeded, {} got 503", records.len(), count(is_ok), count(is_unavailable));

    // Every acknowledged write is there.
    for record in &records {
        let path = match (&record.op, &record.outcome) {
            (Op::PostPassage, Outcome::Ok(Some(id))) => format!("/v1/agents/{agent}/archival/{id}"),
            (Op::CreateAgent, Outcome::Ok(Some(id))) => format!("/v1/agents/{id}"),
            _ => continue,
        };
        let response = http.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "acknowledged {:?} is missing: {path}", record.op);
    }
    // The block holds the last acknowledged value, or a later one whose answer was lost with the connection (a
    // commit whose acknowledgement never came back may or may not have happened).
    let patches: Vec<&Record> = records.iter().filter(|r| r.op == Op::PatchBlock).collect();
    let last_ok = patches.iter().rposition(|r| is_ok(&r.outcome)).expect("some PATCH succeeded");
    let allowed: Vec<&str> = patches[last_ok..].iter().filter_map(|r| r.sent_value.as_deref()).collect();
    let block: Value =
        http.get(format!("{base}/v1/agents/{agent}/blocks/human")).send().await.unwrap().json().await.unwrap();
    let value = block["value"].as_str().unwrap();
    assert!(allowed.contains(&value), "the block holds {value:?}, not its last acknowledged value {:?}", allowed[0]);

    assert!(!server.log().contains("panicked"), "{}", server.log());
    tokio::task::block_in_place(|| server.stop());
}

#[test]
fn start_up_against_an_unreachable_database_fails_with_one_clear_line() {
    let data_dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    let args = ["serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir.path().to_str().unwrap()];
    let args: Vec<&str> = args.into_iter().chain(["--database-url", url.as_str()]).collect();
    let started = Instant::now();
    let run = engram_run(&args, &[]);
    let stderr = run.failed();
    let lines: Vec<&str> = stderr.lines().filter(|line| !line.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    assert!(lines[0].contains(&format!("cannot connect to PostgreSQL at 127.0.0.1:{port}/postgres")), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(30), "took {:?}", started.elapsed());
}
