//! Two `engram serve` processes on one PostgreSQL database (a fresh one per test), as a load balancer would run
//! them: writes through both are all acknowledged and seen by both with one gap-free audit sequence, and one
//! idempotency key sent through both creates one object; sends to one agent through both never interleave their
//! steps; killing one mid-run leaves the run failed and the agent usable from the other; and an async run queued on
//! one is run by the other once the first stops.

use std::time::{Duration, Instant};

use engram_testkit::postgres::{PgVersion, TestDatabase};
use engram_testkit::{Reply, ScriptedModel};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::support::Server;

/// How long recovery may take: the survivor sweeps for runs of gone processes every two seconds.
const RECOVERY: Duration = Duration::from_secs(30);

/// An `engram serve` on `database`, whose `openai` provider is `model`.
struct Node {
    server: Server,
    _dir: TempDir,
}

impl Node {
    fn start(database: &TestDatabase, model: &ScriptedModel) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let data_dir = dir.path().to_str().expect("utf-8 path").to_owned();
        let args = ["serve", "--listen", "127.0.0.1:0", "--data-dir", &data_dir, "--database-url", database.url()];
        let env =
            [("OPENAI_BASE_URL", model.base_url()), ("OPENAI_API_KEY", "sk-test"), ("ENGRAM_MODEL_MAX_RETRIES", "0")];
        let server = tokio::task::block_in_place(|| Server::spawn(&args, &env))
            .unwrap_or_else(|log| panic!("the server did not start; its log:\n{log}"));
        Self { server, _dir: dir }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.url())
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("client")
}

async fn send(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = http.request(method, url);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn get(http: &reqwest::Client, url: String) -> Value {
    let (status, body) = send(http, reqwest::Method::GET, url, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn post(http: &reqwest::Client, url: String, body: Value) -> (StatusCode, Value) {
    send(http, reqwest::Method::POST, url, Some(body)).await
}

async fn create_agent(http: &reqwest::Client, node: &Node, name: &str) -> String {
    let body = json!({
        "name": name,
        "model": "openai/gpt-4o-mini",
        "blocks": [{"label": "human", "value": "", "limit": 5000}, {"label": "persona", "value": "A helper."}]
    });
    let (status, agent) = post(http, node.url("/v1/agents"), body).await;
    assert_eq!(status, StatusCode::CREATED, "{agent}");
    agent["id"].as_str().expect("agent id").to_owned()
}

/// Every item of a paginated list.
async fn list_all(http: &reqwest::Client, node: &Node, path: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let separator = if path.contains('?') { '&' } else { '?' };
        let mut url = node.url(&format!("{path}{separator}limit=100"));
        if let Some(after) = &after {
            url.push_str(&format!("&after={after}"));
        }
        let page = get(http, url).await;
        let batch = page["items"].as_array().cloned().unwrap_or_default();
        items.extend(batch);
        match page["next_cursor"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => return items,
        }
    }
}

fn user_message(text: &str) -> Value {
    json!({"messages": [{"role": "user", "content": text}]})
}

/// A model that echoes the last user message after `delay`, or hangs for a minute on "slow".
async fn echo_model(delay: Duration) -> ScriptedModel {
    let model = ScriptedModel::openai([]).await;
    model.respond_with(move |request| {
        let said = request.last_user_text().unwrap_or_default();
        match said.as_str() {
            "slow" => Reply::text("too late").after(Duration::from_secs(60)),
            _ => Reply::text(format!("echo: {said}")).after(delay),
        }
    });
    model
}

/// Polls `run` through `node` until `done` says so.
async fn wait_for_run(http: &reqwest::Client, node: &Node, run: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + RECOVERY;
    loop {
        let current = get(http, node.url(&format!("/v1/runs/{run}"))).await;
        if done(&current) {
            return current;
        }
        assert!(Instant::now() < deadline, "run {run} did not get there in {RECOVERY:?}: {current}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writes_through_both_processes_are_acknowledged_and_seen_by_both() {
    let database = TestDatabase::create(PgVersion::Pg16).await;
    let model = echo_model(Duration::ZERO).await;
    let nodes = [Node::start(&database, &model), Node::start(&database, &model)];
    let http = http();
    let agent = create_agent(&http, &nodes[0], "shared").await;

    let mut tasks = Vec::new();
    for (n, node) in nodes.iter().enumerate() {
        for task in 0..4 {
            let (http, agent) = (http.clone(), agent.clone());
            let archival = node.url(&format!("/v1/agents/{agent}/archival"));
            let agents = node.url("/v1/agents");
            tasks.push(tokio::spawn(async move {
                let mut written = Vec::new();
                for i in 0..15 {
                    let text = format!("node {n} task {task} passage {i}");
                    let (status, body) = post(&http, archival.clone(), json!({"text": text})).await;
                    assert_eq!(status, StatusCode::CREATED, "{body}");
                    written.push(body["id"].as_str().expect("passage id").to_owned());
                }
                let body = json!({"name": format!("node {n} task {task}")});
                let (status, created) = post(&http, agents, body).await;
                assert_eq!(status, StatusCode::CREATED, "{created}");
                written
            }));
        }
    }
    let mut written = Vec::new();
    for task in tasks {
        written.extend(task.await.expect("writer"));
    }
    assert_eq!(written.len(), 2 * 4 * 15);

    // One idempotency key sent through both processes at once creates one agent: the others replay it or are told
    // it is in progress.
    let mut retries = Vec::new();
    for node in nodes.iter().chain(nodes.iter()) {
        let request = http
            .post(node.url("/v1/agents"))
            .header("Idempotency-Key", "create-once")
            .json(&json!({"name": "created once"}));
        retries.push(tokio::spawn(async move {
            let response = request.send().await.expect("request");
            let replayed = response.headers().contains_key("idempotent-replayed");
            let status = response.status();
            let body: Value = response.json().await.expect("json");
            (status, replayed, body)
        }));
    }
    let mut created = Vec::new();
    for retry in retries {
        let (status, replayed, body) = retry.await.expect("retry");
        match status {
            StatusCode::CREATED => created.push((replayed, body["id"].as_str().expect("id").to_owned())),
            StatusCode::CONFLICT => assert_eq!(body["error"]["code"], "idempotency_in_progress", "{body}"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(created.iter().filter(|(replayed, _)| !replayed).count(), 1, "{created:?}");
    assert!(created.iter().all(|(_, id)| *id == created[0].1), "one agent: {created:?}");

    for node in &nodes {
        let passages = list_all(&http, node, &format!("/v1/agents/{agent}/archival")).await;
        let mut seen: Vec<String> = passages.iter().map(|p| p["id"].as_str().unwrap_or_default().to_owned()).collect();
        let mut expected = written.clone();
        seen.sort();
        expected.sort();
        assert_eq!(seen, expected, "every acknowledged passage is visible through {}", node.server.url());
        assert_eq!(list_all(&http, node, "/v1/agents").await.len(), 1 + 8 + 1);

        let events = list_all(&http, node, "/v1/audit/events").await;
        let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().expect("seq")).collect();
        let expected: Vec<i64> = (1..=seqs.len() as i64).collect();
        assert_eq!(seqs, expected, "one gap-free audit sequence across both processes");
        let inserts = events.iter().filter(|e| e["action"] == "passage.insert").count();
        assert_eq!(inserts, written.len());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sends_to_one_agent_through_both_processes_never_interleave() {
    let database = TestDatabase::create(PgVersion::Pg16).await;
    let model = echo_model(Duration::from_millis(50)).await;
    let nodes = [Node::start(&database, &model), Node::start(&database, &model)];
    let http = http();
    let agent = create_agent(&http, &nodes[0], "busy").await;

    let mut tasks = Vec::new();
    for (n, node) in nodes.iter().enumerate() {
        for i in 0..3 {
            let http = http.clone();
            let url = node.url(&format!("/v1/agents/{agent}/messages"));
            tasks.push(tokio::spawn(async move {
                let (status, body) = post(&http, url, user_message(&format!("node {n} send {i}"))).await;
                assert_eq!(status, StatusCode::OK, "{body}");
                body
            }));
        }
    }
    for task in tasks {
        task.await.expect("sender");
    }

    for node in &nodes {
        let history = list_all(&http, node, &format!("/v1/agents/{agent}/messages")).await;
        assert_eq!(history.len(), 12, "six sends, each a user message and a reply: {history:#?}");
        for pair in history.chunks(2) {
            let (asked, answered) = (&pair[0], &pair[1]);
            assert_eq!((asked["role"].as_str(), answered["role"].as_str()), (Some("user"), Some("assistant")));
            assert_eq!(asked["run_id"], answered["run_id"], "a run's messages are together: {history:#?}");
            let said = asked["content"].as_str().unwrap_or_default();
            assert_eq!(answered["content"].as_str(), Some(format!("echo: {said}").as_str()));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_a_process_mid_run_fails_the_run_and_the_other_process_carries_on() {
    let database = TestDatabase::create(PgVersion::Pg16).await;
    let model = echo_model(Duration::ZERO).await;
    let mut doomed = Node::start(&database, &model);
    let survivor = Node::start(&database, &model);
    let http = http();
    let agent = create_agent(&http, &survivor, "survivor").await;

    let (status, queued) =
        post(&http, doomed.url(&format!("/v1/agents/{agent}/messages/async")), user_message("slow")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    let run = queued["run_id"].as_str().expect("run id").to_owned();
    wait_for_run(&http, &survivor, &run, |r| r["status"] == "running").await;
    while model.requests().is_empty() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The agent is busy in the doomed process: the survivor refuses a send that will not wait.
    let body = json!({"messages": [{"role": "user", "content": "now?"}], "wait": false});
    let (status, busy) = post(&http, survivor.url(&format!("/v1/agents/{agent}/messages")), body).await;
    assert_eq!((status, busy["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("agent_busy")), "{busy}");

    doomed.server.kill();
    let failed = wait_for_run(&http, &survivor, &run, |r| r["status"] != "running").await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert!(failed["error"].as_str().is_some_and(|e| e.contains("interrupted")), "{failed}");

    let (status, reply) =
        post(&http, survivor.url(&format!("/v1/agents/{agent}/messages")), user_message("hello again")).await;
    assert_eq!(status, StatusCode::OK, "the agent is usable from the survivor: {reply}");
    let history = list_all(&http, &survivor, &format!("/v1/agents/{agent}/messages")).await;
    let said: Vec<(&str, &str)> = history
        .iter()
        .map(|m| (m["role"].as_str().unwrap_or_default(), m["content"].as_str().unwrap_or_default()))
        .collect();
    assert_eq!(said, [("user", "slow"), ("user", "hello again"), ("assistant", "echo: hello again")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_async_run_queued_on_one_process_is_run_by_the_other_when_the_first_stops() {
    let database = TestDatabase::create(PgVersion::Pg16).await;
    let model = echo_model(Duration::ZERO).await;
    let first = Node::start(&database, &model);
    let second = Node::start(&database, &model);
    let http = http();
    let agent = create_agent(&http, &first, "handed over").await;
    let async_url = first.url(&format!("/v1/agents/{agent}/messages/async"));

    let (status, slow) = post(&http, async_url.clone(), user_message("slow")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{slow}");
    let slow = slow["run_id"].as_str().expect("run id").to_owned();
    wait_for_run(&http, &second, &slow, |r| r["status"] == "running").await;
    let (status, waiting) = post(&http, async_url, user_message("after the slow one")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{waiting}");
    let waiting = waiting["run_id"].as_str().expect("run id").to_owned();
    assert_eq!(get(&http, second.url(&format!("/v1/runs/{waiting}"))).await["status"], "queued");

    tokio::task::block_in_place(|| first.server.stop());
    let done = wait_for_run(&http, &second, &waiting, |r| r["status"] == "completed").await;
    assert_eq!(done["stop_reason"], "end_turn", "{done}");
    let interrupted = get(&http, second.url(&format!("/v1/runs/{slow}"))).await;
    assert_eq!(interrupted["status"], "failed", "{interrupted}");
    let history = list_all(&http, &second, &format!("/v1/agents/{agent}/messages")).await;
    let last = history.last().expect("history");
    assert_eq!(
        (last["content"].as_str(), last["run_id"].as_str()),
        (Some("echo: after the slow one"), Some(waiting.as_str()))
    );
}
