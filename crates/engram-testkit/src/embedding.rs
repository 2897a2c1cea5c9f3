//! The real local embedding model for tests: found where `ENGRAM_EMBEDDING_MODEL_DIR` says, else in the workspace's
//! `engram-data/models/all-minilm-l6-v2` (fetched there with `scripts/fetch-model` on first use, so `cargo test` works
//! on a fresh machine), loaded once per test binary and shared by every server that asks for it.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use engram_embed::{Embedders, EmbeddersConfig};

/// The workspace root (this crate lives in `crates/engram-testkit`).
fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The local model's directory, fetching the model first if it is missing. Panics with the reason when it cannot.
pub fn model_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("ENGRAM_EMBEDDING_MODEL_DIR") {
        return PathBuf::from(dir);
    }
    static FETCHED: OnceLock<PathBuf> = OnceLock::new();
    FETCHED
        .get_or_init(|| {
            let root = workspace_root();
            let dir = root.join("engram-data/models/all-minilm-l6-v2");
            if !dir.join("model.safetensors").is_file() {
                let status =
                    Command::new(root.join("scripts/fetch-model")).arg(&dir).status().expect("run scripts/fetch-model");
                assert!(status.success(), "scripts/fetch-model {} failed: {status}", dir.display());
            }
            dir
        })
        .clone()
}

/// Embedders with the real local model loaded, shared by every caller in this process.
pub fn local_embedders() -> Embedders {
    static SHARED: OnceLock<Embedders> = OnceLock::new();
    SHARED
        .get_or_init(|| {
            let embedders = Embedders::new(EmbeddersConfig { model_dir: Some(model_dir()), ..Default::default() });
            if let Err(reason) = embedders.local_status() {
                panic!("the local embedding model did not load: {reason}");
            }
            embedders
        })
        .clone()
}
