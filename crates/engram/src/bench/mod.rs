//! `engram bench api`: end-to-end figures for a server started from this very executable — cold start, idle and
//! loaded memory, and client-side latency of common requests on loopback with one keep-alive connection used
//! sequentially — on SQLite, on PostgreSQL (`--database-url`), or on both in one run, side by side. `backend` picks
//! and makes the storage, `child` runs the server, `http` sends the requests, `workload` makes the data, `stats`
//! computes percentiles and `report` prints the table. `engram bench locomo` (in `locomo`) measures retrieval
//! quality on the LoCoMo conversations with the same server and client.

mod backend;
mod child;
mod http;
mod locomo;
mod report;
mod stats;
mod workload;

use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use clap::Args;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use backend::{Backend, BenchServer, Storage};
use http::{Api, WARM_UP, url_encode};
use report::{Figures, Report, Row};
use stats::Summary;
use workload::Rng;

pub use locomo::{LocomoBenchArgs, run_locomo};

/// Cold starts measured; the report gives their median.
const COLD_STARTS: usize = 5;
/// Passages per batch request while loading.
const BATCH_SIZE: usize = 500;

#[derive(Debug, Args)]
pub struct ApiBenchArgs {
    /// Passages loaded before measuring search.
    #[arg(long, default_value_t = 10_000)]
    pub passages: usize,
    /// Measured requests of each kind.
    #[arg(long, default_value_t = 2_000)]
    pub requests: usize,
    /// PostgreSQL server to measure engram on, as postgres://USER@HOST:PORT/DATABASE with a role that may create
    /// databases. Every server the benchmark starts (cold starts included) gets a fresh database
    /// `engram_bench_<ulid>`, created through this URL and dropped when that server stops; nothing else on the
    /// server is touched (an interrupted run may leave an `engram_bench_…` database behind). Given alone, the
    /// benchmark runs on PostgreSQL only.
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
    /// Storage backends to measure, in this order, printed side by side: `sqlite`, `postgres` or
    /// `sqlite,postgres`. Default: `postgres` when --database-url is given, else `sqlite`.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub backends: Vec<Backend>,
}

pub async fn run_api(args: &ApiBenchArgs, json: bool) -> anyhow::Result<()> {
    if args.requests == 0 {
        bail!("--requests must be at least 1");
    }
    let backends = backend::resolve(&args.backends, args.database_url.as_deref())?;
    let http = reqwest::Client::builder().build().context("cannot build the HTTP client")?;
    let mut runs = Vec::with_capacity(backends.len());
    for backend in backends {
        let storage = Storage::new(backend, args.database_url.as_deref())?;
        runs.push(measure_backend(&http, &storage, backend, args).await?);
    }

    let report = Report::new(args, runs);
    if json {
        println!("{}", serde_json::to_string_pretty(&report.to_json())?)
    } else {
        print!("{}", report.markdown())
    }
    Ok(())
}

/// Every figure for one backend: cold starts, then one server measured throughout.
async fn measure_backend(
    http: &reqwest::Client,
    storage: &Storage,
    backend: Backend,
    args: &ApiBenchArgs,
) -> anyhow::Result<Figures> {
    let mut figures = Figures::new(backend);
    eprintln!("{}: measuring cold start ({COLD_STARTS} starts)…", backend.title());
    let mut starts = Vec::with_capacity(COLD_STARTS);
    for _ in 0..COLD_STARTS {
        starts.push(cold_start(http, storage).await?);
    }
    if let Some(summary) = Summary::of(&starts) {
        figures.latency(Row::median("cold start (spawn → first 200 from /v1/health)", summary));
    }

    let server = storage.start().await?;
    let api = Api { http, base: format!("http://{}", server.process.addr) };
    let result = async {
        figures.set_storage(server.describe().await?);
        measure(&api, &server, args, &mut figures).await
    }
    .await;
    let stopped = server.stop().await;
    result?;
    stopped?;
    Ok(figures)
}

/// Spawns a server on fresh storage and times spawn → first 200 from `/v1/health` (making the storage is not
/// timed; migrating it is).
async fn cold_start(http: &reqwest::Client, storage: &Storage) -> anyhow::Result<Duration> {
    let server = storage.start().await?;
    let url = format!("http://{}/v1/health", server.process.addr);
    let deadline = Instant::now() + Duration::from_secs(30);
    let elapsed = loop {
        if let Ok(response) = http.get(&url).send().await
            && response.status() == StatusCode::OK
        {
            break Ok(server.process.spawned_at.elapsed());
        }
        if Instant::now() > deadline {
            break Err(anyhow!("the server never answered 200 on /v1/health"));
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    let stopped = server.stop().await;
    let elapsed = elapsed?;
    stopped?;
    Ok(elapsed)
}

async fn measure(
    api: &Api<'_>,
    server: &BenchServer,
    args: &ApiBenchArgs,
    figures: &mut Figures,
) -> anyhow::Result<()> {
    let agent = api
        .call(
            Method::POST,
            "/v1/agents",
            Some(json!({
                "name": "bench",
                "blocks": [
                    {"label": "human", "value": "The user's name is Ada. She likes jazz records."},
                    {"label": "persona", "value": "I am a helpful assistant with a long memory."}
                ]
            })),
        )
        .await?;
    let id = agent.get("id").and_then(Value::as_str).ok_or_else(|| anyhow!("agent without id"))?.to_owned();
    for _ in 0..3 {
        api.call(Method::GET, &format!("/v1/agents/{id}"), None).await?;
    }
    let idle_rss = server.process.rss_mib()?;
    figures.value("idle RSS", format!("{idle_rss:.1} MiB"), json!(idle_rss));

    let mut rng = Rng::new(0x5EED);
    let n = args.requests;
    eprintln!("measuring GET, PATCH and POST ({n} requests each)…");
    let agent_path = format!("/v1/agents/{id}");
    let get = api.timed(n, |_| (Method::GET, agent_path.clone(), None)).await?;
    figures.latency(Row::percentiles("GET /v1/agents/{id}", get));

    let block_path = format!("/v1/agents/{id}/blocks/human");
    let patch = api
        .timed(n, |i| {
            (Method::PATCH, block_path.clone(), Some(json!({"value": format!("The user's name is Ada. Note {i}.")})))
        })
        .await?;
    figures.latency(Row::percentiles("PATCH /v1/agents/{id}/blocks/human", patch));

    let archival_path = format!("/v1/agents/{id}/archival");
    let texts: Vec<String> = (0..n + WARM_UP).map(|_| workload::passage(&mut rng)).collect();
    let post = api.timed(n, |i| (Method::POST, archival_path.clone(), Some(json!({"text": texts[i]})))).await?;
    figures.latency(Row::percentiles("POST /v1/agents/{id}/archival (one passage)", post));

    eprintln!("loading {} passages…", args.passages);
    let batch_path = format!("/v1/agents/{id}/archival/batch");
    let mut batches = Vec::new();
    let started = Instant::now();
    let mut loaded = 0;
    while loaded < args.passages {
        let size = BATCH_SIZE.min(args.passages - loaded);
        let items: Vec<Value> = (0..size).map(|_| json!({"text": workload::passage(&mut rng)})).collect();
        let sent = Instant::now();
        api.call(Method::POST, &batch_path, Some(json!({"items": items}))).await?;
        batches.push(sent.elapsed());
        loaded += size;
    }
    let load_time = started.elapsed();
    if let Some(summary) = Summary::of(&batches) {
        figures.latency(Row::percentiles(
            &format!("POST /v1/agents/{{id}}/archival/batch ({BATCH_SIZE} passages)"),
            summary,
        ));
        let per_second = args.passages as f64 / load_time.as_secs_f64();
        figures.value("archival batch insert throughput", format!("{per_second:.0} passages/s"), json!(per_second));
    }

    eprintln!("measuring text search ({n} queries)…");
    let total = args.passages + n + WARM_UP;
    let queries: Vec<String> = (0..n + WARM_UP).map(|_| workload::query(&mut rng)).collect();
    let search_path = format!("/v1/agents/{id}/archival/search");
    let search = api
        .timed(n, |i| {
            let query: String = url_encode(&queries[i]);
            (Method::GET, format!("{search_path}?mode=text&k=10&q={query}"), None)
        })
        .await?;
    figures.latency(Row::percentiles(
        &format!("GET /v1/agents/{{id}}/archival/search?mode=text ({total} passages)"),
        search,
    ));
    let loaded_rss = server.process.rss_mib()?;
    figures.value(&format!("RSS after loading {total} passages"), format!("{loaded_rss:.1} MiB"), json!(loaded_rss));
    Ok(())
}
