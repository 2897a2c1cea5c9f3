//! The local embedding model: all-MiniLM-L6-v2 (a 6-layer BERT, 384 dimensions) run on the CPU with candle, from
//! the files `scripts/fetch-model` installs (`model.safetensors`, `config.json`, `tokenizer.json`). No network.
//!
//! [`LocalEmbedder::load`] reads the weights once; [`Embedder::embed`] tokenises (truncating at
//! [`MAX_SEQUENCE_TOKENS`] like sentence-transformers), sorts the texts by length and runs them in batches
//! ([`batch`]) from a blocking thread, never on the async runtime's threads. The encoder itself is in [`bert`], its
//! non-matrix steps in [`kernels`].
//!
//! Threads: all the work runs on rayon's global pool (`RAYON_NUM_THREADS` threads, default one per CPU), which
//! candle's matrix products use too. The batches of a call are taken in *rounds* of one batch per thread, and the
//! batches of a round run side by side, each on its own thread: no thread waits for another until the round ends,
//! where splitting every matrix product of one batch over the threads would make them meet a hundred times per
//! batch. A batch left without a partner (a single query, the last of an import) still gets every thread, as rayon
//! lets an idle thread take half of a busy one's matrix product. One round runs at a time per model, so a
//! one-sentence query slips in between the rounds of a large import instead of waiting for all of it. Candle's own
//! element-wise thread pool, whose threads spin while they wait, is never started: the encoder does no candle
//! element-wise operations.

mod batch;
mod bert;
mod kernels;
mod ops;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use candle_core::{DType, Device};
use candle_nn::VarBuilder;
use tokenizers::{Tokenizer, TruncationParams};
use tokio::sync::Semaphore;

use crate::embedder::Embedder;
use crate::error::EmbedError;

/// The local model's name as agents refer to it.
pub const LOCAL_MODEL: &str = "local/all-minilm-l6-v2";
/// The length of the local model's vectors.
pub const LOCAL_DIMENSIONS: usize = 384;
/// Longest input in tokens (special tokens included); longer texts are truncated, as sentence-transformers does
/// for this model (`max_seq_length` 256).
pub const MAX_SEQUENCE_TOKENS: usize = 256;

/// The files the model directory must hold.
const WEIGHTS_FILE: &str = "model.safetensors";
const CONFIG_FILE: &str = "config.json";
const TOKENIZER_FILE: &str = "tokenizer.json";

/// all-MiniLM-L6-v2 on the CPU. Cheap to clone (the weights are shared).
#[derive(Clone)]
pub struct LocalEmbedder {
    model: Arc<batch::LoadedModel>,
    dir: PathBuf,
    /// One round of batches at a time (see the module docs).
    turn: Arc<Semaphore>,
}

impl std::fmt::Debug for LocalEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalEmbedder").field("model", &LOCAL_MODEL).field("dir", &self.dir).finish()
    }
}

impl LocalEmbedder {
    /// Loads the model from `dir` (which `scripts/fetch-model` fills). Reads about 90 MB; call it once at start-up,
    /// off the async threads if a runtime is busy.
    pub fn load(dir: &Path) -> Result<Self, EmbedError> {
        let file = |name: &str| -> Result<PathBuf, EmbedError> {
            let path = dir.join(name);
            if path.is_file() {
                Ok(path)
            } else {
                Err(EmbedError::Model(format!(
                    "{} is missing; run scripts/fetch-model {} to install the model",
                    path.display(),
                    dir.display()
                )))
            }
        };
        let (weights_path, config_path, tokenizer_path) =
            (file(WEIGHTS_FILE)?, file(CONFIG_FILE)?, file(TOKENIZER_FILE)?);
        let broken = |path: &Path, error: &dyn std::fmt::Display| {
            EmbedError::Model(format!(
                "cannot load {}: {error}; run scripts/fetch-model into an empty directory to reinstall the model",
                path.display()
            ))
        };

        let config_text = std::fs::read_to_string(&config_path).map_err(|error| broken(&config_path, &error))?;
        let config: bert::Config = serde_json::from_str(&config_text).map_err(|error| broken(&config_path, &error))?;
        if config.hidden_size != LOCAL_DIMENSIONS {
            let error = format!("hidden_size is {}, all-MiniLM-L6-v2 has {LOCAL_DIMENSIONS}", config.hidden_size);
            return Err(broken(&config_path, &error));
        }

        let mut tokenizer = Tokenizer::from_file(&tokenizer_path).map_err(|error| broken(&tokenizer_path, &error))?;
        // The tokenizer file carries its own settings (truncation and fixed padding at 128); ours replace them:
        // truncate at the model's sequence length and pad per batch, ourselves.
        let truncation = TruncationParams { max_length: MAX_SEQUENCE_TOKENS, ..TruncationParams::default() };
        tokenizer.with_truncation(Some(truncation)).map_err(|error| broken(&tokenizer_path, &error))?;
        tokenizer.with_padding(None);

        // `VarBuilder::from_mmaped_safetensors` would map the file, but it is `unsafe` (the file could change under
        // the map) and this workspace forbids `unsafe`; reading 90 MB once is cheap.
        let device = Device::Cpu;
        let weights = std::fs::read(&weights_path).map_err(|error| broken(&weights_path, &error))?;
        let vars = VarBuilder::from_buffered_safetensors(weights, DType::F32, &device)
            .map_err(|error| broken(&weights_path, &error))?;
        let bert = bert::Bert::load(&vars, &config, &device).map_err(|error| broken(&weights_path, &error))?;

        tracing::info!(dir = %dir.display(), model = LOCAL_MODEL, "loaded the local embedding model");
        Ok(Self {
            model: Arc::new(batch::LoadedModel { bert, tokenizer }),
            dir: dir.to_owned(),
            turn: Arc::new(Semaphore::new(1)),
        })
    }

    /// The directory the model was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[async_trait]
impl Embedder for LocalEmbedder {
    fn model(&self) -> &str {
        LOCAL_MODEL
    }

    fn dimensions(&self) -> usize {
        LOCAL_DIMENSIONS
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let model = self.model.clone();
        let texts = texts.to_vec();
        let plan = blocking(move || model.tokenize(&texts)).await?;
        let mut vectors: Vec<Vec<f32>> = vec![Vec::new(); plan.len()];
        let threads = rayon::current_num_threads();
        for round in plan.batches(threads).chunks(threads) {
            let _turn = self.turn.acquire().await.map_err(|_| EmbedError::Model("the model was shut down".into()))?;
            let model = self.model.clone();
            let batches: Vec<Vec<batch::Tokens>> = round.iter().map(|batch| batch.to_vec()).collect();
            let pooled = blocking(move || model.run(&batches)).await?;
            for (batch, vectors_of_batch) in round.iter().zip(pooled) {
                for (item, vector) in batch.iter().zip(vectors_of_batch) {
                    vectors[item.index] = vector;
                }
            }
        }
        Ok(vectors)
    }
}

/// Runs CPU-bound model work on tokio's blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, EmbedError> + Send + 'static,
) -> Result<T, EmbedError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| EmbedError::Model(format!("the embedding task failed: {error}")))?
}
