//! Agent runtime overhead: server time per turn with an instant scripted model, and turns per second across many
//! agents with concurrent clients. Run with `cargo bench -p engram-server --bench turns`; prints markdown tables.
//!
//! Layout: this executable runs the bench client and an OpenAI-wire scripted model that answers every request at once
//! with the same short text; the engram server (the test kit's `TestServer`: SQLite in a temporary directory,
//! default configuration) runs in a child process started from this same executable, so that its resident memory
//! and CPU time are its own and do not include the client, nor the scripted model (which keeps every request it
//! receives). Each phase gets a fresh model and a fresh server.
//!
//! Model time is measured at the client by replay: after each measured turn the exact request engram sent to the
//! model (`ScriptedModel::last_request`) is posted again, directly, to the scripted model, and the round trip is
//! timed. The turn's server overhead is its client-observed latency minus that replay, paired turn by turn; p50/p95
//! are taken over those differences.
//!
//! To show where the time goes, a store breakdown replays the store calls of a simple turn directly on a
//! `SqliteStore` in this process (no HTTP, no runtime), timing each, listing the SQL statements each sends, the bytes
//! a turn writes, and store-only turns per second; an fsync probe gives the floor of one durable commit here.
//!
//! Options (after `--`): `--turns N` (measured sequential turns per history size, default 300), `--agents N` and
//! `--clients N` (throughput, default 100 and 16), `--throughput-turns N` (default 3000), `--only PHASE` (`small`,
//! `large`, `throughput`, `store` or `fsync`; to profile one phase). Without `--bench` (which `cargo bench` passes, as
//! must anyone running the executable directly) it does nothing, so that `cargo test --benches` does not run it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use engram_core::audit::{Actor, ActorKind, WriteContext};

/// The allocator the `engram` binary uses (its `main.rs`), so the server child measured here allocates as it does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use engram_core::id::{AgentId, StepId};
use engram_core::message::{NewMessage, Role};
use engram_core::org::OrgId;
use engram_core::run::{NewStep, RunOutcome, RunStatus, StopReason, Usage};
use engram_llm::ToolSpec;
use engram_llm::tokens::TokenCounter;
use engram_store::{SqliteOptions, SqliteStore, Store};
use engram_testkit::{Reply, ScriptedModel, TestServer};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Set in the child: the scripted model's base URL. Its presence makes this executable the server.
const CHILD_ENV: &str = "ENGRAM_BENCH_TURNS_MODEL_URL";
/// The model every agent runs (the `openai` provider, pointed at the scripted model).
const MODEL: &str = "openai/gpt-4o-mini";
/// The scripted model's answer to every request.
const REPLY: &str = "Noted. I will remind you about the meeting tomorrow morning.";
/// Context window of the agents with a long history, so that every message stays in the window.
const LARGE_WINDOW: u32 = 200_000;
/// Messages stored before a measured turn in the small and large cases (two per turn: user and assistant).
const SMALL_HISTORY: usize = 10;
const LARGE_HISTORY: usize = 1_000;
/// Agents with a long history; the measured turns rotate over them so that each grows little while measured.
const LARGE_AGENTS: usize = 3;
/// Turns sent before measuring, to warm connections and caches (not measured).
const WARM_UP: usize = 20;
/// Turns per agent before the throughput phase.
const THROUGHPUT_PREFILL: usize = 2;
/// Agents the store breakdown rotates over (each starts with `SMALL_HISTORY` messages).
const BREAKDOWN_AGENTS: usize = 60;
/// Concurrency used to create agents and fill their histories.
const SETUP_CONCURRENCY: usize = 8;

#[derive(Debug, Clone)]
struct Options {
    turns: usize,
    agents: usize,
    clients: usize,
    throughput_turns: usize,
    /// Run one phase only (`--only small|large|throughput|fsync`), e.g. under a profiler.
    only: Option<Phase>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Small,
    Large,
    Throughput,
    Store,
    Fsync,
}

impl Options {
    /// Reads `--name value` pairs; anything else (cargo passes `--bench`) is ignored.
    fn parse() -> Self {
        let mut options = Self { turns: 300, agents: 100, clients: 16, throughput_turns: 3_000, only: None };
        let args: Vec<String> = std::env::args().skip(1).collect();
        let mut i = 0;
        while i < args.len() {
            if args[i] == "--only" {
                options.only = Some(match args.get(i + 1).map(String::as_str) {
                    Some("small") => Phase::Small,
                    Some("large") => Phase::Large,
                    Some("throughput") => Phase::Throughput,
                    Some("store") => Phase::Store,
                    Some("fsync") => Phase::Fsync,
                    other => panic!("--only takes small, large, throughput, store or fsync, not {other:?}"),
                });
                i += 2;
                continue;
            }
            let value = args.get(i + 1).and_then(|v| v.parse::<usize>().ok()).filter(|n| *n > 0);
            let slot = match args[i].as_str() {
                "--turns" => Some(&mut options.turns),
                "--agents" => Some(&mut options.agents),
                "--clients" => Some(&mut options.clients),
                "--throughput-turns" => Some(&mut options.throughput_turns),
                _ => None,
            };
            match (slot, value) {
                (Some(slot), Some(n)) => {
                    *slot = n;
                    i += 2;
                }
                (Some(_), None) => panic!("{} needs a positive number", args[i]),
                (None, _) => i += 1,
            }
        }
        assert!(options.agents > options.clients, "--agents must exceed --clients (one turn per agent at a time)");
        options
    }
}

#[tokio::main]
async fn main() {
    if let Ok(model_url) = std::env::var(CHILD_ENV) {
        serve(model_url).await;
        return;
    }
    if !std::env::args().any(|arg| arg == "--bench") {
        // `cargo test --benches` runs this without `--bench`: a benchmark is never a timed test.
        eprintln!("turns bench: skipped (run it with `cargo bench -p engram-server --bench turns`)");
        return;
    }
    let options = Options::parse();
    let mut report = Report::default();
    let run = |phase: Phase| options.only.is_none_or(|only| only == phase);

    if options.only.is_none() {
        // The server loads the OpenAI vocabularies on first use; what they cost, measured in this process.
        let before = rss_mib("/proc/self/status");
        TokenCounter::for_model("openai", "gpt-4o").count("warm up");
        let o200k = rss_mib("/proc/self/status");
        TokenCounter::for_model("openai", "gpt-4").count("warm up");
        let cl100k = rss_mib("/proc/self/status");
        report.value(
            "RSS of the BPE vocabularies (o200k_base + cl100k_base, loaded on first use)",
            format!("{} + {}", mib(o200k - before), mib(cl100k - o200k)),
        );
    }

    if run(Phase::Small) {
        progress(&format!("{SMALL_HISTORY} stored messages: {} agents, one measured turn each", options.turns));
        let small = small_history(&options).await;
        report.turns(&history_label(small.history), &small);
        report.value(
            &format!("server CPU per turn ({SMALL_HISTORY} stored, sequential)"),
            format!("{:.2} ms", small.server_cpu_ms_per_turn),
        );
    }
    if run(Phase::Large) {
        progress(&format!("{LARGE_HISTORY} stored messages: {LARGE_AGENTS} agents, {} measured turns", options.turns));
        let large = large_history(&options).await;
        report.turns(&format!("{}, all in context", history_label(large.history)), &large);
        report.value(
            &format!("server CPU per turn ({LARGE_HISTORY} stored, sequential)"),
            format!("{:.2} ms", large.server_cpu_ms_per_turn),
        );
        report.value(
            &format!("context of a long-history agent after the measured turns (window {LARGE_WINDOW})"),
            format!("{} tokens, {} messages", large.context_tokens, large.messages_in_context),
        );
        report.value(&format!("server RSS after the {LARGE_HISTORY}-message turns"), mib(large.rss_end_mib));
    }
    if run(Phase::Throughput) {
        let (agents, clients) = (options.agents, options.clients);
        progress(&format!("throughput: {agents} agents, {clients} clients, {} turns", options.throughput_turns));
        let load = throughput(&options).await;
        let latency = format!("turn latency under load ({clients} clients, {agents} agents)");
        report.row(&latency, &load.latencies, "");
        report.values.push(format!(
            "| turns per second ({clients} clients, {agents} agents) | {:.0} | {} |",
            load.turns_per_second,
            target("≥ 500", load.turns_per_second >= 500.0)
        ));
        report.value(
            "server CPU per turn under load",
            format!("{:.2} ms ({:.2} cores busy)", load.server_cpu_ms_per_turn, load.server_cores),
        );
        report.value(
            "bench client + scripted model CPU per turn under load",
            format!("{:.2} ms ({:.2} cores busy)", load.client_cpu_ms_per_turn, load.client_cores),
        );
        report.value("server RSS after start", mib(load.rss_start_mib));
        report.value(&format!("server RSS after the load ({agents} agents)"), mib(load.rss_end_mib));
    }
    if run(Phase::Store) {
        progress(&format!("store calls of a simple turn: {} turns over {BREAKDOWN_AGENTS} agents", options.turns));
        let small =
            store_breakdown(options.turns, BREAKDOWN_AGENTS, SMALL_HISTORY, None, true, Some(options.clients)).await;
        for (name, times) in small.rows {
            report.row(&name, &times, "");
        }
        for (call, sql) in small.statements.iter().filter(|(_, sql)| !sql.is_empty()) {
            progress(&format!("SQL of {call}: {}", sql.join(" · ")));
        }
        let (bytes, calls) = small.written_per_turn;
        report.value(
            "store only, one turn at a time: bytes written per turn (WAL and checkpoints; write syscalls)",
            format!("{:.0} KiB ({calls:.0} syscalls)", bytes / 1024.0),
        );
        if let Some((whole, writes, sequential)) = small.rates {
            let clients = options.clients;
            report.value(
                &format!("store only, {clients} concurrent turns ({BREAKDOWN_AGENTS} agents): turns per second"),
                format!("{whole:.0}"),
            );
            report.value(
                &format!("store only, {clients} concurrent turns: the two write transactions alone, per second"),
                format!("{writes:.0}"),
            );
            report.value(
                "store only, one turn at a time: the two write transactions alone, per second",
                format!("{sequential:.0}"),
            );
        }
        if let Some((writes, whole)) = small.tmpfs_rates {
            report.value(
                "same, database copied to tmpfs (fsync ≈ free): the two write transactions alone, one at a time, per second",
                format!("{writes:.0}"),
            );
            report.value(
                &format!("same, database on tmpfs: {} concurrent turns, per second", options.clients),
                format!("{whole:.0}"),
            );
        }
        progress(&format!("store calls of a simple turn: {} turns over {LARGE_AGENTS} agents", options.turns));
        let large = store_breakdown(options.turns, LARGE_AGENTS, LARGE_HISTORY, Some(LARGE_WINDOW), false, None).await;
        for (name, times) in large.rows {
            report.row(&name, &times, "");
        }
    }
    if run(Phase::Fsync) {
        progress("fsync floor: 200 × (append 4 KiB + fdatasync) in the temporary directory");
        report.row("fsync floor: append 4 KiB + fdatasync, same file system", &fsync_floor(200), "");
    }
    print!("{}", report.markdown());
    let _ = std::io::stdout().flush();
}

/// The child: an engram server whose `openai` provider is the parent's scripted model. Prints its base URL, serves
/// until its stdin closes, then stops gracefully.
async fn serve(model_url: String) {
    let mut server = TestServer::spawn_with(|config| {
        config.providers.openai.base_url = model_url;
        config.providers.openai.api_key = Some("sk-bench-not-a-real-key".to_owned());
    })
    .await;
    println!("{}", server.base);
    let _ = std::io::stdout().flush();
    // Serve until the parent closes the pipe (tokio's `io-std` is not enabled here, so read on a blocking thread).
    let _ = tokio::task::spawn_blocking(|| std::io::stdin().read_to_end(&mut Vec::new())).await;
    server.stop().await;
}

fn progress(message: &str) {
    eprintln!("turns bench: {message}");
}

// ---- the server process ----

/// An engram server in a child process.
struct Server {
    child: Child,
    pid: u32,
    base: String,
}

impl Server {
    async fn start(model: &ScriptedModel) -> Self {
        let exe = std::env::current_exe().expect("current executable");
        let mut child = Command::new(exe)
            .env(CHILD_ENV, model.base_url())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("start the server process");
        let pid = child.id().expect("server pid");
        let stdout = child.stdout.take().expect("server stdout");
        let base = BufReader::new(stdout).lines().next_line().await.expect("read").expect("server address");
        Self { child, pid, base }
    }

    fn rss_mib(&self) -> f64 {
        rss_mib(&format!("/proc/{}/status", self.pid))
    }

    fn cpu_seconds(&self) -> f64 {
        cpu_seconds(&format!("/proc/{}/stat", self.pid))
    }

    /// Closes the child's stdin (it stops gracefully) and waits for it.
    async fn stop(mut self) {
        drop(self.child.stdin.take());
        let status = tokio::time::timeout(Duration::from_secs(60), self.child.wait())
            .await
            .expect("server stops within 60 s")
            .expect("wait for the server");
        assert!(status.success(), "server exited with {status}");
    }
}

/// Resident set size of a process from `/proc/…/status`, in MiB.
fn rss_mib(status_path: &str) -> f64 {
    let status = std::fs::read_to_string(status_path).expect("read /proc status");
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("VmRSS");
    kib / 1024.0
}

/// User + system CPU time of a process from `/proc/…/stat`, in seconds (clock ticks of 1/100 s).
fn cpu_seconds(stat_path: &str) -> f64 {
    let stat = std::fs::read_to_string(stat_path).expect("read /proc stat");
    // Fields after the command name, which is in parentheses and may hold spaces; utime and stime are fields 14/15.
    let after = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    ticks as f64 / 100.0
}

// ---- the client ----

struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    fn new(server: &Server) -> Self {
        Self { http: reqwest::Client::new(), base: server.base.clone() }
    }

    async fn create_agent(&self, name: &str, context_window: Option<u32>) -> String {
        let mut body = json!({
            "name": name,
            "model": MODEL,
            "blocks": [
                {"label": "human", "value": "Name: unknown", "limit": 2000},
                {"label": "persona", "value": "A careful assistant."}
            ]
        });
        if let Some(window) = context_window {
            body["context_window"] = json!(window);
        }
        let response = self.http.post(format!("{}/v1/agents", self.base)).json(&body).send().await.expect("create");
        let status = response.status().as_u16();
        let body: Value = response.json().await.expect("agent JSON");
        assert_eq!(status, 201, "create agent: {body}");
        body["id"].as_str().expect("agent id").to_owned()
    }

    async fn create_agents(&self, count: usize, prefix: &str, context_window: Option<u32>) -> Vec<String> {
        futures::stream::iter(0..count)
            .map(|i| async move { self.create_agent(&format!("{prefix}-{i}"), context_window).await })
            .buffered(SETUP_CONCURRENCY)
            .collect()
            .await
    }

    /// Sends one user message and waits for the reply; returns the client-observed latency.
    async fn send(&self, agent: &str, text: &str) -> Duration {
        let body = serde_json::to_vec(&json!({"messages": [{"role": "user", "content": text}]})).expect("body");
        let request = self
            .http
            .post(format!("{}/v1/agents/{agent}/messages", self.base))
            .header("content-type", "application/json")
            .body(body);
        let started = Instant::now();
        let response = request.send().await.expect("send message");
        let status = response.status().as_u16();
        let bytes = response.bytes().await.expect("reply body");
        let elapsed = started.elapsed();
        let reply: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        assert_eq!(status, 200, "send message: {reply}");
        assert_eq!(reply["stop_reason"], "end_turn", "send message: {reply}");
        elapsed
    }

    /// Fills each agent's history with `turns` turns, agents in parallel.
    async fn prefill(&self, agents: &[String], turns: usize) {
        futures::stream::iter(agents)
            .for_each_concurrent(SETUP_CONCURRENCY, |agent| async move {
                for i in 0..turns {
                    self.send(agent, &user_text(i)).await;
                }
            })
            .await;
    }

    async fn get(&self, path: &str) -> Value {
        let response = self.http.get(format!("{}{path}", self.base)).send().await.expect("get");
        assert_eq!(response.status().as_u16(), 200, "GET {path}");
        response.json().await.expect("JSON")
    }
}

/// A user message of a realistic length (about 30 tokens), different for each turn.
fn user_text(i: usize) -> String {
    format!(
        "Message {i}: the planning meeting about the quarterly budget moved to room {} on floor {}; please remind me \
         tomorrow morning and keep the notes from last week at hand.",
        100 + i % 37,
        1 + i % 9
    )
}

/// A scripted model that answers every request at once.
async fn instant_model() -> ScriptedModel {
    let model = ScriptedModel::openai([]).await;
    model.repeat(Reply::text(REPLY).with_usage(10, 2));
    model
}

/// Posts the last request the model received straight to it again and times the round trip: the model's share of
/// the turn that sent it.
async fn replay_last(http: &reqwest::Client, model: &ScriptedModel) -> Duration {
    let request = model.last_request().expect("the model was called");
    let body = serde_json::to_vec(&request.body).expect("request body");
    let call = http
        .post(format!("{}/chat/completions", model.base_url()))
        .header("content-type", "application/json")
        .header("authorization", "Bearer sk-bench-not-a-real-key")
        .body(body);
    let started = Instant::now();
    let response = call.send().await.expect("replay");
    let status = response.status().as_u16();
    let _ = response.bytes().await.expect("replay body");
    let elapsed = started.elapsed();
    assert_eq!(status, 200, "replay to the scripted model");
    elapsed
}

// ---- phases ----

/// Sequential turns, each followed by its model-call replay.
struct TurnTimes {
    total: Vec<f64>,
    model: Vec<f64>,
    overhead: Vec<f64>,
    server_cpu_ms_per_turn: f64,
    /// Stored messages before the first and before the last measured turn.
    history: (u64, u64),
    context_tokens: u64,
    messages_in_context: u64,
    rss_end_mib: f64,
}

async fn measure_turns(
    api: &Api,
    model: &ScriptedModel,
    server: &Server,
    agents: &[String],
    turns: usize,
    text_offset: usize,
) -> TurnTimes {
    let http = reqwest::Client::new();
    // Warm the replay connection and the client's connection.
    for _ in 0..WARM_UP {
        replay_last(&http, model).await;
    }
    let (mut total, mut model_times, mut overhead) = (Vec::new(), Vec::new(), Vec::new());
    let mut server_cpu = 0.0;
    let first = api.get(&format!("/v1/agents/{}/context", agents[0])).await["recall_messages"].as_u64().unwrap_or(0);
    for i in 0..turns {
        let agent = &agents[i % agents.len()];
        let cpu_before = server.cpu_seconds();
        let turn = api.send(agent, &user_text(text_offset + i)).await;
        server_cpu += server.cpu_seconds() - cpu_before;
        let call = replay_last(&http, model).await;
        total.push(ms(turn));
        model_times.push(ms(call));
        overhead.push(ms(turn) - ms(call));
    }
    let context = api.get(&format!("/v1/agents/{}/context", agents[(turns - 1) % agents.len()])).await;
    let last = context["recall_messages"].as_u64().unwrap_or(0).saturating_sub(2);
    TurnTimes {
        total,
        model: model_times,
        overhead,
        server_cpu_ms_per_turn: server_cpu * 1000.0 / turns as f64,
        history: (first, last),
        context_tokens: context["total_tokens"].as_u64().unwrap_or(0),
        messages_in_context: context["messages_in_context"].as_u64().unwrap_or(0),
        rss_end_mib: server.rss_mib(),
    }
}

/// One measured turn on each of `turns` agents that have `SMALL_HISTORY` messages.
async fn small_history(options: &Options) -> TurnTimes {
    let model = instant_model().await;
    let server = Server::start(&model).await;
    let api = Api::new(&server);
    let warm = api.create_agent("warm-up", None).await;
    for i in 0..WARM_UP {
        api.send(&warm, &user_text(i)).await;
    }
    let agents = api.create_agents(options.turns, "small", None).await;
    api.prefill(&agents, SMALL_HISTORY / 2).await;
    let times = measure_turns(&api, &model, &server, &agents, options.turns, SMALL_HISTORY / 2).await;
    server.stop().await;
    times
}

/// Turns rotating over `LARGE_AGENTS` agents that start with `LARGE_HISTORY` messages, all in the window.
async fn large_history(options: &Options) -> TurnTimes {
    let model = instant_model().await;
    let server = Server::start(&model).await;
    let api = Api::new(&server);
    let agents = api.create_agents(LARGE_AGENTS, "large", Some(LARGE_WINDOW)).await;
    api.prefill(&agents, LARGE_HISTORY / 2).await;
    for i in 0..WARM_UP.min(options.turns) {
        // Warm-up turns on the long histories themselves (they add to the histories).
        api.send(&agents[i % LARGE_AGENTS], &user_text(LARGE_HISTORY + i)).await;
    }
    let times = measure_turns(&api, &model, &server, &agents, options.turns, LARGE_HISTORY * 2).await;
    server.stop().await;
    times
}

struct Throughput {
    latencies: Vec<f64>,
    turns_per_second: f64,
    server_cpu_ms_per_turn: f64,
    server_cores: f64,
    client_cpu_ms_per_turn: f64,
    client_cores: f64,
    rss_start_mib: f64,
    rss_end_mib: f64,
}

async fn throughput(options: &Options) -> Throughput {
    let model = instant_model().await;
    let server = Server::start(&model).await;
    let rss_start_mib = server.rss_mib();
    let api = Arc::new(Api::new(&server));
    let agents = Arc::new(api.create_agents(options.agents, "load", None).await);
    api.prefill(&agents, THROUGHPUT_PREFILL).await;
    load(&api, &agents, options.clients, options.clients * WARM_UP).await;

    let (server_cpu, client_cpu) = (server.cpu_seconds(), cpu_seconds("/proc/self/stat"));
    let started = Instant::now();
    let latencies = load(&api, &agents, options.clients, options.throughput_turns).await;
    let wall = started.elapsed().as_secs_f64();
    let server_cpu = server.cpu_seconds() - server_cpu;
    let client_cpu = cpu_seconds("/proc/self/stat") - client_cpu;
    let n = latencies.len() as f64;
    let result = Throughput {
        turns_per_second: n / wall,
        server_cpu_ms_per_turn: server_cpu * 1000.0 / n,
        server_cores: server_cpu / wall,
        client_cpu_ms_per_turn: client_cpu * 1000.0 / n,
        client_cores: client_cpu / wall,
        latencies,
        rss_start_mib,
        rss_end_mib: server.rss_mib(),
    };
    server.stop().await;
    result
}

/// `clients` tasks send `turns` turns in all, each to a random agent that no other task is using.
async fn load(api: &Arc<Api>, agents: &Arc<Vec<String>>, clients: usize, turns: usize) -> Vec<f64> {
    let sent = Arc::new(AtomicUsize::new(0));
    let busy = Arc::new(Mutex::new(vec![false; agents.len()]));
    let tasks: Vec<_> = (0..clients)
        .map(|client| {
            let (api, agents, sent, busy) = (api.clone(), agents.clone(), sent.clone(), busy.clone());
            tokio::spawn(async move {
                let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (client as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03));
                let mut latencies = Vec::new();
                loop {
                    let n = sent.fetch_add(1, Ordering::Relaxed);
                    if n >= turns {
                        return latencies;
                    }
                    let index = {
                        let mut busy = busy.lock().unwrap();
                        let mut index = rng.below(agents.len());
                        while busy[index] {
                            index = (index + 1) % agents.len();
                        }
                        busy[index] = true;
                        index
                    };
                    let latency = api.send(&agents[index], &user_text(n)).await;
                    busy.lock().unwrap()[index] = false;
                    latencies.push(ms(latency));
                }
            })
        })
        .collect();
    let mut all = Vec::with_capacity(turns);
    for task in tasks {
        all.extend(task.await.expect("client task"));
    }
    all
}

/// What [`store_breakdown`] found.
struct Breakdown {
    /// Timed rows.
    rows: Vec<(String, Vec<f64>)>,
    /// The SQL statements of each call (when captured).
    statements: Vec<(String, Vec<String>)>,
    /// Store-only turns per second: whole turns with `clients` in flight, and their two writes alone with `clients`
    /// and with one in flight.
    rates: Option<(f64, f64, f64)>,
    /// Bytes this process passed to write syscalls per timed turn, and those syscalls per turn (`/proc/self/io`).
    written_per_turn: (f64, f64),
    /// On a copy of the database in `/dev/shm`: the two writes alone one at a time, and whole turns with `clients` in
    /// flight, per second.
    tmpfs_rates: Option<(f64, f64)>,
}

/// Times, directly on a `SqliteStore` (no HTTP, no runtime), the store calls the runtime makes for a simple turn (one
/// user message, one model reply without tool calls), in its order, and the tokenization of the system prompt and
/// tool schemas that context compilation repeats at every step. `agents` agents with `history` messages each (in a
/// context window of `window`) take the turns in rotation. Mirrors `Runtime::start` and `run_loop` as of this
/// benchmark's writing; keep it in step when they change. With `capture_sql`, one more turn records the SQL
/// statements of each call (this installs the process's global `tracing` subscriber, so only once). With `clients`,
/// also measures store-only turns per second with that many turns in flight.
async fn store_breakdown(
    turns: usize,
    agents: usize,
    history: usize,
    window: Option<u32>,
    capture_sql: bool,
    clients: Option<usize>,
) -> Breakdown {
    // Agents and their histories are made through the API (in this process), then the store is reopened alone.
    let model = instant_model().await;
    let mut server = TestServer::with_openai(&model).await;
    let api = Api { http: server.client.clone(), base: server.base.clone() };
    let ids = api.create_agents(agents, "breakdown", window).await;
    api.prefill(&ids, history / 2).await;
    let sent = model.last_request().expect("the model was called");
    server.stop().await;
    let store = SqliteStore::open(server.data_dir(), SqliteOptions::default()).await.expect("reopen the store");

    let counter = TokenCounter::for_model("openai", "gpt-4o-mini");
    let system = sent.system_text();
    let tools: Vec<ToolSpec> = sent.body["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .map(|t| ToolSpec {
            name: t["function"]["name"].as_str().unwrap_or_default().to_owned(),
            description: t["function"]["description"].as_str().unwrap_or_default().to_owned(),
            parameters: t["function"]["parameters"].clone(),
        })
        .collect();

    let org = OrgId::default_org();
    let caller = WriteContext {
        org: org.clone(),
        actor: Actor { kind: ActorKind::Operator, id: "local".to_owned() },
        run_id: None,
        step_id: None,
        request_id: None,
    };
    let turn = StoreTurn { store: &store, org, caller, counter, system, tools };
    let agents: Vec<AgentId> = ids.iter().map(|id| AgentId::parse("agent", id).expect("agent id")).collect();
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); STORE_CALLS.len() + 3];
    let io_before = self_io();
    for i in 0..turns {
        let mut lap = Lap::new();
        turn.run(agents[i % agents.len()], i, true, |call| lap.split(&mut times[call])).await;
        times[STORE_CALLS.len()].push(lap.total());
        let started = Instant::now();
        store.ping().await.expect("ping");
        times[STORE_CALLS.len() + 1].push(ms(started.elapsed()));
        let started = Instant::now();
        let bytes = serde_json::to_vec(&sent.body).expect("serialize");
        times[STORE_CALLS.len() + 2].push(ms(started.elapsed()));
        assert!(!bytes.is_empty());
    }

    let io_after = self_io();
    let written_per_turn =
        ((io_after.0 - io_before.0) as f64 / turns as f64, (io_after.1 - io_before.1) as f64 / turns as f64);
    let rates = match clients {
        Some(clients) => {
            let whole = turn.rate(&agents, clients, turns * 4, true).await;
            let writes = turn.rate(&agents, clients, turns * 4, false).await;
            Some((whole, writes, turn.rate(&agents, 1, turns * 2, false).await))
        }
        None => None,
    };

    let mut statements: Vec<Vec<String>> = vec![Vec::new(); STORE_CALLS.len()];
    if capture_sql {
        let log = Arc::new(StatementLog::default());
        tracing::subscriber::set_global_default(StatementSubscriber(log.clone())).expect("no other subscriber");
        log.active.store(true, Ordering::SeqCst);
        turn.run(agents[0], turns, true, |call| statements[call] = log.take()).await;
        log.active.store(false, Ordering::SeqCst);
    }
    store.close().await;

    // The same database on tmpfs, where fsync costs next to nothing: what the write path costs without the disk.
    let mut tmpfs_rates = None;
    if let (Some(clients), Ok(shm)) = (clients, tempfile::tempdir_in("/dev/shm")) {
        std::fs::copy(
            server.data_dir().join(engram_store::sqlite::DB_FILE),
            shm.path().join(engram_store::sqlite::DB_FILE),
        )
        .expect("copy the database to tmpfs");
        let shm_store = SqliteStore::open(shm.path(), SqliteOptions::default()).await.expect("open on tmpfs");
        let shm_turn = StoreTurn { store: &shm_store, ..turn.clone_for() };
        let writes = shm_turn.rate(&agents, 1, turns * 2, false).await;
        tmpfs_rates = Some((writes, shm_turn.rate(&agents, clients, turns * 4, true).await));
        shm_store.close().await;
    }

    let last = history + 2 * (turns.div_ceil(agents.len()) - 1);
    let label = history_label((history as u64, last as u64));
    let names = STORE_CALLS
        .iter()
        .zip(&statements)
        .map(|(name, sql)| match sql.len() {
            0 => (*name).to_owned(),
            n => format!("{name} [{n} SQL statements]"),
        })
        .chain([
            "**sum of the above**".to_owned(),
            "for scale, not in the sum: ping (`SELECT 1` on a reader)".to_owned(),
            format!("for scale, not in the sum: serialize the model request (JSON, {} bytes)", sent.text().len()),
        ]);
    let rows = names.zip(times).map(|(name, t)| (format!("store breakdown ({label}): {name}"), t)).collect();
    let statements = STORE_CALLS.iter().zip(statements).map(|(name, sql)| ((*name).to_owned(), sql)).collect();
    Breakdown { rows, statements, rates, written_per_turn, tmpfs_rates }
}

/// The calls of a simple turn, in order.
const STORE_CALLS: [&str; 5] = [
    "get_agent (start; the first step reuses it)",
    "create_run + user message (write)",
    "load_window (window, counts, tags)",
    "tokenize the system prompt (tool schema counts are cached)",
    "record_step + assistant message + finish (write)",
];

/// What a simple turn asks of the store, without HTTP and the runtime around it.
struct StoreTurn<'a> {
    store: &'a SqliteStore,
    org: OrgId,
    caller: WriteContext,
    counter: TokenCounter,
    system: String,
    tools: Vec<ToolSpec>,
}

impl<'a> StoreTurn<'a> {
    /// The same turn, for another store.
    fn clone_for(&self) -> Self {
        Self {
            store: self.store,
            org: self.org.clone(),
            caller: self.caller.clone(),
            counter: self.counter,
            system: self.system.clone(),
            tools: self.tools.clone(),
        }
    }

    /// Makes the calls of [`STORE_CALLS`] in order (only the two writes unless `reads`); `mark(k)` runs after the
    /// k-th.
    async fn run(&self, agent: AgentId, i: usize, reads: bool, mut mark: impl FnMut(usize)) {
        let (store, org) = (self.store, &self.org);
        if reads {
            store.get_agent(org, agent).await.expect("get_agent");
        }
        mark(0);
        let user = NewMessage::text(Role::User, user_text(i));
        let input = json!({"messages": [{"role": "user", "content": user.content}], "max_steps": 20});
        let (run, _) =
            store.create_run(&self.caller, agent, RunStatus::Running, input, vec![user]).await.expect("create_run");
        mark(1);
        if reads {
            store.load_window(org, agent, 20).await.expect("load_window");
            mark(2);
            let tokens = self.counter.count_system(&self.system);
            assert!(tokens > 0 && !self.tools.is_empty());
            mark(3);
        }
        let step_id = StepId::parse("step", &format!("step_{}", run.id.ulid())).expect("step id");
        let ctx = WriteContext {
            org: org.clone(),
            actor: Actor { kind: ActorKind::Agent, id: agent.to_string() },
            run_id: Some(run.id),
            step_id: Some(step_id),
            request_id: None,
        };
        let step = NewStep {
            id: step_id,
            run_id: run.id,
            model: "gpt-4o-mini".to_owned(),
            usage: Usage { prompt_tokens: 10, completion_tokens: 2 },
            duration_ms: 0,
        };
        let assistant =
            NewMessage { run_id: Some(run.id), step_id: Some(step_id), ..NewMessage::text(Role::Assistant, REPLY) };
        let finish = RunOutcome { status: RunStatus::Completed, stop_reason: Some(StopReason::EndTurn), error: None };
        store.record_step(&ctx, agent, step, vec![assistant], Some(finish)).await.expect("record_step");
        mark(4);
    }

    /// Turns per second with `clients` turns in flight at once, on distinct agents.
    async fn rate(&self, agents: &[AgentId], clients: usize, turns: usize, reads: bool) -> f64 {
        let started = Instant::now();
        futures::stream::iter(0..turns)
            .for_each_concurrent(clients, |i| self.run(agents[i % agents.len()], i, reads, |_| {}))
            .await;
        turns as f64 / started.elapsed().as_secs_f64()
    }
}

/// The statement summaries sqlx logs (target `sqlx::query`, one event per statement), while `active`.
#[derive(Default)]
struct StatementLog {
    active: AtomicBool,
    statements: Mutex<Vec<String>>,
}

impl StatementLog {
    /// The statements logged since the last call, without the transaction control the store's writer sends around
    /// each write (`BEGIN IMMEDIATE`, `COMMIT`, and savepoints when writes share a transaction).
    fn take(&self) -> Vec<String> {
        let mut statements = std::mem::take(&mut *self.statements.lock().unwrap());
        statements.retain(|sql| {
            let first = sql.split_whitespace().next().unwrap_or_default();
            !["BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"].contains(&first)
        });
        statements
    }
}

/// A minimal `tracing` subscriber that only listens to sqlx's statement log.
struct StatementSubscriber(Arc<StatementLog>);

impl tracing::Subscriber for StatementSubscriber {
    fn register_callsite(&self, metadata: &'static tracing::Metadata<'static>) -> tracing::subscriber::Interest {
        match metadata.target() == "sqlx::query" {
            true => tracing::subscriber::Interest::sometimes(),
            false => tracing::subscriber::Interest::never(),
        }
    }

    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        metadata.target() == "sqlx::query" && self.0.active.load(Ordering::SeqCst)
    }

    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }

    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}

    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}

    fn event(&self, event: &tracing::Event<'_>) {
        struct Summary(Option<String>);
        impl tracing::field::Visit for Summary {
            fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
                if field.name() == "summary" {
                    self.0 = Some(value.to_owned());
                }
            }
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "summary" && self.0.is_none() {
                    self.0 = Some(format!("{value:?}"));
                }
            }
        }
        let mut summary = Summary(None);
        event.record(&mut summary);
        self.0.statements.lock().unwrap().push(summary.0.unwrap_or_else(|| "?".to_owned()));
    }

    fn enter(&self, _: &tracing::span::Id) {}

    fn exit(&self, _: &tracing::span::Id) {}
}

/// `wchar` and `syscw` of `/proc/self/io`: bytes passed to write syscalls and their number, so far.
fn self_io() -> (u64, u64) {
    let io = std::fs::read_to_string("/proc/self/io").expect("read /proc/self/io");
    let field = |name: &str| {
        io.lines().find_map(|l| l.strip_prefix(name)).and_then(|v| v.trim().parse::<u64>().ok()).expect("io field")
    };
    (field("wchar:"), field("syscw:"))
}

/// Consecutive timings.
struct Lap {
    start: Instant,
    last: Instant,
}

impl Lap {
    fn new() -> Self {
        let now = Instant::now();
        Self { start: now, last: now }
    }

    /// Records the time since the previous split into `into`.
    fn split(&mut self, into: &mut Vec<f64>) {
        let now = Instant::now();
        into.push(ms(now - self.last));
        self.last = now;
    }

    fn total(&self) -> f64 {
        ms(self.last - self.start)
    }
}

/// Appends a 4 KiB page and `fdatasync`s it, `n` times, in a file of the temporary directory (where the server's
/// database lives): the least a durable commit costs here.
fn fsync_floor(n: usize) -> Vec<f64> {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut file = std::fs::File::create(dir.path().join("probe")).expect("probe file");
    let page = [7u8; 4096];
    (0..n)
        .map(|_| {
            let started = Instant::now();
            file.write_all(&page).expect("write");
            file.sync_data().expect("fdatasync");
            ms(started.elapsed())
        })
        .collect()
}

// ---- statistics and report ----

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Nearest-rank percentile of unsorted values.
fn percentile(values: &[f64], p: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn mib(value: f64) -> String {
    format!("{value:.1} MiB")
}

fn history_label((first, last): (u64, u64)) -> String {
    if first == last { format!("{first} stored messages") } else { format!("{first}–{last} stored messages") }
}

fn target(text: &str, met: bool) -> String {
    format!("{text} {}", if met { "✓" } else { "✗" })
}

/// A small xorshift generator: deterministic agent choice without a dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

#[derive(Default)]
struct Report {
    rows: Vec<String>,
    values: Vec<String>,
}

impl Report {
    fn row(&mut self, name: &str, values: &[f64], target: &str) {
        self.rows.push(format!(
            "| {name} | {} | {:.2} ms | {:.2} ms | {:.2} ms | {target} |",
            values.len(),
            percentile(values, 50.0),
            percentile(values, 95.0),
            values.iter().sum::<f64>() / values.len() as f64
        ));
    }

    fn turns(&mut self, case: &str, times: &TurnTimes) {
        self.row(&format!("turn, {case}: total (client-observed)"), &times.total, "");
        self.row(&format!("turn, {case}: model call (replayed)"), &times.model, "");
        let met = percentile(&times.overhead, 50.0) < 2.0;
        self.row(
            &format!("turn, {case}: **server overhead** (total − model)"),
            &times.overhead,
            &target("p50 < 2 ms", met),
        );
    }

    fn value(&mut self, name: &str, value: String) {
        self.values.push(format!("| {name} | {value} | |"));
    }

    fn markdown(&self) -> String {
        let mut out = String::from("| measurement | n | p50 | p95 | mean | target |\n|---|---:|---:|---:|---:|---|\n");
        for row in &self.rows {
            out.push_str(row);
            out.push('\n');
        }
        if self.values.is_empty() {
            return out;
        }
        out.push_str("\n| measurement | value | target |\n|---|---:|---|\n");
        for value in &self.values {
            out.push_str(value);
            out.push('\n');
        }
        out
    }
}
