//! `engram bench locomo`: retrieval quality on the LoCoMo long conversations, through the HTTP API of a child
//! `engram serve` on a temporary data directory. Each conversation becomes one agent whose archival memory holds one
//! passage per turn (`dataset` says how); each question is one archival search per mode, judged against the
//! annotated evidence turns (`metrics`), and `report` prints the table. All modes are measured in one run, on one
//! server and one ingest, so they compare fairly.

mod dataset;
mod metrics;
mod report;

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use clap::Args;
use engram_llm::tokens::TokenCounter;
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::child::ServerProcess;
use super::http::{Api, WARM_UP, error_code, url_encode};
use super::stats::Summary;
use crate::cli::SearchMode;
use dataset::{Conversation, Dataset, DiaId};
use metrics::{CONTEXT_K, CUTOFFS, Judged};
use report::{Ingest, ModeOutcome, ModeRun, Report};

/// Passages per batch request (the API's maximum).
const BATCH_SIZE: usize = 1000;
/// Where `scripts/fetch-model` puts the model, relative to the working directory (the repository root).
const DEFAULT_MODEL_DIR: &str = "engram-data/models/all-minilm-l6-v2";
/// The environment variable through which the child server is given the model directory.
const MODEL_DIR_ENV: &str = "ENGRAM_EMBEDDING_MODEL_DIR";

#[derive(Debug, Args)]
pub struct LocomoBenchArgs {
    /// The LoCoMo file (a JSON list of samples), e.g. `../shared/datasets/locomo/locomo_dev5.json`.
    #[arg(long, value_name = "FILE")]
    pub data: PathBuf,
    /// Search modes to compare, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "text,vector,hybrid")]
    pub modes: Vec<SearchMode>,
    /// Embedding model directory (Hugging Face layout) for the server; without it, `./engram-data/models/
    /// all-minilm-l6-v2` when that holds a model, else none (vector and hybrid then report "unavailable").
    #[arg(long, env = MODEL_DIR_ENV, value_name = "DIR")]
    pub embedding_model_dir: Option<PathBuf>,
    /// Append each shared image's caption to its turn's passage (`"Speaker: text [image: caption]"`).
    #[arg(long)]
    pub captions: bool,
    /// Results asked for per question (at least 20, the deepest cutoff).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(20..=100))]
    pub k: u32,
    /// Also write every ranked list (turn ids and scores, per mode and question) to FILE as JSON lines, for
    /// offline analysis. It is derived from the data set: keep it out of the repository.
    #[arg(long, value_name = "FILE")]
    pub dump: Option<PathBuf>,
}

pub async fn run_locomo(args: &LocomoBenchArgs, json: bool) -> anyhow::Result<()> {
    let dataset = Dataset::load(&args.data, args.captions)?;
    let mut modes = args.modes.clone();
    modes.dedup();
    let model_dir = model_dir(args.embedding_model_dir.as_deref())?;
    let env: Vec<(&str, OsString)> =
        model_dir.iter().map(|dir| (MODEL_DIR_ENV, dir.clone().into_os_string())).collect();
    eprintln!(
        "{}: {} conversations, {} turns, {} questions; embedding model: {}",
        args.data.display(),
        dataset.conversations.len(),
        dataset.turns(),
        dataset.questions(),
        model_dir.as_deref().map_or("none".into(), |d| d.display().to_string())
    );

    let http = reqwest::Client::builder().build().context("cannot build the HTTP client")?;
    let data_dir = tempfile::tempdir().context("cannot create a temporary data directory")?;
    let server = ServerProcess::start_with(data_dir.path(), &env).await?;
    let api = Api { http: &http, base: format!("http://{}", server.addr) };
    let result = measure(&api, &dataset, &modes, args).await;
    let stopped = server.stop().await;
    let (ingest, runs) = result?;
    stopped?;

    let report = Report::new(args, &dataset, model_dir.as_deref(), ingest, runs);
    if json {
        println!("{}", serde_json::to_string_pretty(&report.to_json())?);
    } else {
        print!("{}", report.markdown());
    }
    Ok(())
}

/// The model directory given, or the default one when it holds a model; made absolute for the child.
fn model_dir(given: Option<&Path>) -> anyhow::Result<Option<PathBuf>> {
    let dir = match given {
        Some(dir) => dir.to_path_buf(),
        None if Path::new(DEFAULT_MODEL_DIR).join("config.json").is_file() => PathBuf::from(DEFAULT_MODEL_DIR),
        None => return Ok(None),
    };
    let absolute = std::path::absolute(&dir).with_context(|| format!("cannot resolve {}", dir.display()))?;
    Ok(Some(absolute))
}

async fn measure(
    api: &Api<'_>,
    dataset: &Dataset,
    modes: &[SearchMode],
    args: &LocomoBenchArgs,
) -> anyhow::Result<(Ingest, Vec<ModeRun>)> {
    let (agents, ingest) = ingest(api, dataset).await?;
    let mut dump = match &args.dump {
        Some(path) => Some(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => None,
    };
    let counter = TokenCounter::for_model("openai", "gpt-4o");
    let mut runs = Vec::with_capacity(modes.len());
    for &mode in modes {
        let searcher = Searcher { api, mode, k: args.k, counter };
        let outcome = run_mode(&searcher, dataset, &agents, dump.as_mut().map(|d| d as &mut dyn Write)).await?;
        runs.push(ModeRun { mode: mode.as_str(), outcome });
    }
    if let Some(mut dump) = dump {
        dump.flush().context("cannot write the dump")?;
    }
    Ok((ingest, runs))
}

/// Creates one agent per conversation and stores its turns; returns the agent ids in conversation order.
async fn ingest(api: &Api<'_>, dataset: &Dataset) -> anyhow::Result<(Vec<String>, Ingest)> {
    eprintln!("ingesting {} turns as passages…", dataset.turns());
    let progress = progress_bar(dataset.turns(), "passages");
    let mut agents = Vec::with_capacity(dataset.conversations.len());
    let mut elapsed = Duration::ZERO;
    let mut batches = 0;
    for conversation in &dataset.conversations {
        let agent = api.call(Method::POST, "/v1/agents", Some(json!({"name": conversation.sample_id}))).await?;
        let id = agent.get("id").and_then(Value::as_str).ok_or_else(|| anyhow!("agent without id"))?.to_owned();
        let path = format!("/v1/agents/{id}/archival/batch");
        for chunk in conversation.turns.chunks(BATCH_SIZE) {
            let items: Vec<Value> = chunk
                .iter()
                .map(|t| json!({"text": t.text, "created_at": t.created_at, "metadata": {"dia_id": t.dia_id.to_string()}}))
                .collect();
            let started = Instant::now();
            api.call(Method::POST, &path, Some(json!({"items": items}))).await?;
            elapsed += started.elapsed();
            batches += 1;
            progress.inc(chunk.len() as u64);
        }
        agents.push(id);
    }
    progress.finish_and_clear();
    Ok((agents, Ingest { passages: dataset.turns(), batches, elapsed }))
}

/// Asks every question in one mode: `WARM_UP` unmeasured searches first (the first one finds out whether the
/// server offers the mode), then each question once, timed.
async fn run_mode(
    searcher: &Searcher<'_>,
    dataset: &Dataset,
    agents: &[String],
    mut dump: Option<&mut dyn Write>,
) -> anyhow::Result<ModeOutcome> {
    let mode = searcher.mode.as_str();
    let questions: Vec<(&Conversation, &str, usize)> = dataset
        .conversations
        .iter()
        .zip(agents)
        .flat_map(|(conversation, agent)| {
            (0..conversation.questions.len()).map(move |q| (conversation, agent.as_str(), q))
        })
        .collect();
    for &(conversation, agent, q) in questions.iter().cycle().take(WARM_UP) {
        if let Err(reason) = searcher.search(agent, &conversation.questions[q].text).await? {
            eprintln!("mode {mode}: unavailable ({reason})");
            return Ok(ModeOutcome::Unavailable(reason));
        }
    }
    eprintln!("mode {mode}: asking {} questions…", questions.len());
    let progress = progress_bar(questions.len(), &format!("{mode} searches"));
    let mut judged = Vec::with_capacity(questions.len());
    let mut latencies = Vec::with_capacity(questions.len());
    for &(conversation, agent, q) in &questions {
        let question = &conversation.questions[q];
        let started = Instant::now();
        let hits = searcher.search(agent, &question.text).await?.map_err(|reason| anyhow!("mode {mode}: {reason}"))?;
        latencies.push(started.elapsed());
        let ranked: Vec<DiaId> = hits.iter().map(|h| h.dia_id).collect();
        let context_tokens = hits.iter().take(CONTEXT_K).map(|h| searcher.counter.count(&h.text)).sum();
        judged.push(Judged::new(question.category, &question.evidence, &ranked, context_tokens));
        if let Some(out) = dump.as_mut() {
            let line = json!({
                "mode": mode, "sample_id": conversation.sample_id, "question": q, "category": question.category,
                "evidence": question.evidence.iter().map(DiaId::to_string).collect::<Vec<_>>(),
                "results": hits.iter().map(|h| json!([h.dia_id.to_string(), h.score])).collect::<Vec<_>>(),
            });
            writeln!(out, "{line}").context("cannot write the dump")?;
        }
        progress.inc(1);
    }
    progress.finish_and_clear();
    let latency = Summary::of(&latencies).ok_or_else(|| anyhow!("no questions in the data"))?;
    Ok(ModeOutcome::Measured { judged, latency })
}

/// One search result as the benchmark needs it.
struct Hit {
    dia_id: DiaId,
    text: String,
    score: f64,
}

/// Sends the archival searches of one mode.
struct Searcher<'a> {
    api: &'a Api<'a>,
    mode: SearchMode,
    k: u32,
    counter: TokenCounter,
}

impl Searcher<'_> {
    /// The ranked hits, or `Err(reason)` when the server does not offer this mode: it answers 422
    /// `search_mode_unavailable`, or ranks in another mode and says so (a hybrid search without a usable embedding
    /// model answers from text with `"mode": "text"`), which must not be reported as this mode's figures.
    async fn search(&self, agent: &str, question: &str) -> anyhow::Result<Result<Vec<Hit>, String>> {
        let path = format!(
            "/v1/agents/{agent}/archival/search?q={}&k={}&mode={}",
            url_encode(question),
            self.k,
            self.mode.as_str()
        );
        let (status, body) = self.api.request(Method::GET, &path, None).await?;
        if status == StatusCode::UNPROCESSABLE_ENTITY && error_code(&body) == Some("search_mode_unavailable") {
            let message = body.pointer("/error/message").and_then(Value::as_str).unwrap_or("search_mode_unavailable");
            return Ok(Err(message.to_owned()));
        }
        if !status.is_success() {
            bail!("GET {path} answered {status}: {body}");
        }
        let answered = body.get("mode").and_then(Value::as_str).unwrap_or(self.mode.as_str());
        if answered != self.mode.as_str() {
            let note = body.get("note").and_then(Value::as_str).unwrap_or("no reason given");
            return Ok(Err(format!("the server ranked in {answered} mode instead: {note}")));
        }
        let results = body.get("results").and_then(Value::as_array).ok_or_else(|| anyhow!("no results in {body}"))?;
        let hits = results.iter().map(hit).collect::<anyhow::Result<Vec<_>>>()?;
        if hits.len() > CUTOFFS[CUTOFFS.len() - 1].max(self.k as usize) {
            bail!("asked for {} results, got {}", self.k, hits.len());
        }
        Ok(Ok(hits))
    }
}

fn hit(result: &Value) -> anyhow::Result<Hit> {
    let dia_id = result
        .pointer("/passage/metadata/dia_id")
        .and_then(Value::as_str)
        .and_then(DiaId::parse)
        .ok_or_else(|| anyhow!("a result without a turn id in its metadata: {result}"))?;
    let text = result.pointer("/passage/text").and_then(Value::as_str).unwrap_or_default().to_owned();
    let score = result.get("score").and_then(Value::as_f64).unwrap_or(f64::NAN);
    Ok(Hit { dia_id, text, score })
}

/// A bar on standard error (drawn only when it is a terminal).
fn progress_bar(len: usize, unit: &str) -> ProgressBar {
    let progress = ProgressBar::new(len as u64);
    if let Ok(style) =
        ProgressStyle::with_template(&format!("{{bar:40}} {{pos}}/{{len}} {unit} ({{per_sec}}, eta {{eta}})"))
    {
        progress.set_style(style);
    }
    progress
}
