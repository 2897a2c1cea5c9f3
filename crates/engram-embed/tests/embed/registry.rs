//! Resolving an agent's embedding model: the local model when it is loaded, OpenAI-compatible providers when they
//! are configured, and errors that say what to do otherwise.

use std::sync::Arc;
use std::time::Duration;

use engram_core::agent::ModelRef;
use engram_embed::{EmbedError, EmbedProviderConfig, Embedders, EmbeddersConfig, LOCAL_MODEL};
use engram_scripted::ScriptedModel;

use crate::model_dir::model_dir;

fn model(text: &str) -> ModelRef {
    ModelRef::parse("embedding", text).unwrap()
}

fn unavailable_reason(error: EmbedError) -> String {
    match error {
        EmbedError::Unavailable { reason, .. } => reason,
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn the_local_model_is_served_once_loaded() {
    let embedders = Embedders::new(EmbeddersConfig { model_dir: Some(model_dir().to_owned()), ..Default::default() });
    assert_eq!(embedders.local_status(), Ok(model_dir()));
    let embedder = embedders.get(&model(LOCAL_MODEL)).unwrap();
    assert_eq!(embedder.model(), "local/all-minilm-l6-v2");
    assert_eq!(embedder.dimensions(), 384);
    let vectors = embedder.embed(&["hello there".to_owned()]).await.unwrap();
    assert_eq!(vectors[0].len(), 384);

    let error = embedders.get(&model("local/bge-small")).unwrap_err();
    let EmbedError::UnknownModel { model, reason } = error else { panic!("expected UnknownModel") };
    assert_eq!(model, "local/bge-small");
    assert!(reason.contains("local/all-minilm-l6-v2"), "{reason}");
}

#[test]
fn a_model_that_failed_to_load_explains_itself_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let embedders = Embedders::new(EmbeddersConfig { model_dir: Some(dir.path().to_owned()), ..Default::default() });
    let status = embedders.local_status().unwrap_err();
    assert!(status.contains("model.safetensors is missing"), "{status}");
    let reason = unavailable_reason(embedders.get(&model(LOCAL_MODEL)).unwrap_err());
    assert!(reason.contains("model.safetensors is missing"), "{reason}");
    assert!(reason.contains("run scripts/fetch-model"), "{reason}");
}

#[test]
fn disabled_embedders_have_no_local_model() {
    let embedders = Embedders::disabled();
    assert!(embedders.local_status().is_err());
    let reason = unavailable_reason(embedders.get(&model(LOCAL_MODEL)).unwrap_err());
    assert!(reason.contains("scripts/fetch-model"), "{reason}");

    let embedders = Embedders::new(EmbeddersConfig::default());
    assert_eq!(embedders.local_status(), Err("no model directory is configured"));
}

#[test]
fn the_public_openai_api_needs_a_key() {
    let embedders = Embedders::disabled();
    let error = embedders.get(&model("openai/text-embedding-3-small")).unwrap_err();
    let message = error.to_string();
    let reason = unavailable_reason(error);
    assert!(reason.contains("OPENAI_API_KEY"), "{reason}");
    assert!(message.contains("openai/text-embedding-3-small"), "{message}");

    let blank_key = EmbeddersConfig {
        openai: EmbedProviderConfig { api_key: Some("  ".into()), ..EmbeddersConfig::default().openai },
        ..Default::default()
    };
    assert!(Embedders::new(blank_key).get(&model("openai/text-embedding-3-small")).is_err());

    let with_key = EmbeddersConfig {
        openai: EmbedProviderConfig { api_key: Some("sk-x".into()), ..EmbeddersConfig::default().openai },
        ..Default::default()
    };
    let embedder = Embedders::new(with_key).get(&model("openai/text-embedding-3-small")).unwrap();
    assert_eq!(embedder.dimensions(), 1536);
}

#[test]
fn unknown_providers_are_named() {
    let error = Embedders::disabled().get(&model("cohere/embed-v3")).unwrap_err();
    let EmbedError::UnknownModel { model, reason } = error else { panic!("expected UnknownModel") };
    assert_eq!(model, "cohere/embed-v3");
    assert!(reason.contains("`cohere`") && reason.contains("local, openai or ollama"), "{reason}");
}

#[tokio::test]
async fn remote_embedders_are_made_once_per_model_so_learned_dimensions_stick() {
    let server = ScriptedModel::openai([]).await;
    server.set_embedding_dimensions(20);
    let provider =
        EmbedProviderConfig { base_url: server.base_url().to_owned(), api_key: None, timeout: Duration::from_secs(5) };
    let embedders = Embedders::new(EmbeddersConfig { ollama: provider.clone(), openai: provider, model_dir: None });

    let first = embedders.get(&model("ollama/nomic-embed-text")).unwrap();
    assert_eq!(first.model(), "ollama/nomic-embed-text");
    assert_eq!(first.embed(&["some words".to_owned()]).await.unwrap()[0].len(), 20);
    let again = embedders.clone().get(&model("ollama/nomic-embed-text")).unwrap();
    assert!(Arc::ptr_eq(&first, &again));
    assert_eq!(again.dimensions(), 20);
    assert_eq!(server.embedding_requests()[0].body["model"], "nomic-embed-text");

    // A compatible server at another URL needs no key, even under the `openai` provider.
    let other = embedders.get(&model("openai/my-embedder")).unwrap();
    assert!(!Arc::ptr_eq(&first, &other));
    assert_eq!(other.dimensions(), 0);
}

#[test]
fn debug_output_redacts_keys() {
    let config = EmbeddersConfig {
        openai: EmbedProviderConfig { api_key: Some("sk-very-secret".into()), ..EmbeddersConfig::default().openai },
        ..Default::default()
    };
    let embedders = Embedders::new(config.clone());
    for debug in [format!("{config:?}"), format!("{embedders:?}")] {
        assert!(!debug.contains("sk-very-secret") && debug.contains("<redacted>"), "{debug}");
    }
}
