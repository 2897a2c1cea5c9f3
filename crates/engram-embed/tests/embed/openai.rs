//! The OpenAI-compatible embeddings client against a scripted server: the request it sends, vectors in input order
//! and normalised, batching, the provider's error messages, retries, and dimension checks.

use std::time::Duration;

use engram_embed::{EmbedError, Embedder, OpenAiEmbedder};
use engram_scripted::{DEFAULT_EMBEDDING_DIMENSIONS, EmbeddingReply, ScriptedModel, fake_embedding};

use crate::{cosine, length};

fn client(server: &ScriptedModel, key: Option<&str>) -> OpenAiEmbedder {
    OpenAiEmbedder::new("openai", "embed-test", server.base_url(), key.map(str::to_owned), Duration::from_secs(10))
        .unwrap()
}

fn texts(count: usize) -> Vec<String> {
    (0..count).map(|i| format!("passage number {i} about topic {}", i % 13)).collect()
}

#[tokio::test]
async fn vectors_come_back_normalised_in_input_order_with_the_request_as_openai_expects() {
    let server = ScriptedModel::openai([]).await;
    let embedder = client(&server, Some("sk-test"));
    let inputs = vec!["the cat sat".to_owned(), "a dog ran far away".to_owned()];
    let vectors = embedder.embed(&inputs).await.unwrap();

    assert_eq!(vectors.len(), 2);
    for (input, vector) in inputs.iter().zip(&vectors) {
        assert_eq!(vector.len(), DEFAULT_EMBEDDING_DIMENSIONS);
        assert!((length(vector) - 1.0).abs() < 1e-5);
        assert!(cosine(vector, &fake_embedding(input, DEFAULT_EMBEDDING_DIMENSIONS)) > 0.9999);
    }
    let requests = server.embedding_requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.path, "/v1/embeddings");
    assert_eq!(request.header("authorization"), Some("Bearer sk-test"));
    assert_eq!(request.body, serde_json::json!({ "model": "embed-test", "input": inputs, "encoding_format": "float" }));
    assert_eq!(embedder.model(), "openai/embed-test");
    assert!(server.requests().is_empty(), "embedding requests are not chat requests");
}

#[tokio::test]
async fn no_key_sends_no_authorization_header() {
    let server = ScriptedModel::openai([]).await;
    client(&server, None).embed(&texts(1)).await.unwrap();
    assert_eq!(server.embedding_requests()[0].header("authorization"), None);
}

#[tokio::test]
async fn vectors_are_put_back_in_order_by_index() {
    let server = ScriptedModel::openai([]).await;
    server.push_embedding(EmbeddingReply::Reversed);
    let inputs = texts(5);
    let vectors = client(&server, None).embed(&inputs).await.unwrap();
    for (input, vector) in inputs.iter().zip(&vectors) {
        assert!(cosine(vector, &fake_embedding(input, DEFAULT_EMBEDDING_DIMENSIONS)) > 0.9999, "{input}");
    }
}

#[tokio::test]
async fn more_than_512_inputs_go_in_several_requests_and_stay_in_order() {
    let server = ScriptedModel::openai([]).await;
    let inputs = texts(1100);
    let vectors = client(&server, None).embed(&inputs).await.unwrap();
    let sizes: Vec<usize> =
        server.embedding_requests().iter().map(|r| r.body["input"].as_array().unwrap().len()).collect();
    assert_eq!(sizes, vec![512, 512, 76]);
    assert_eq!(vectors.len(), 1100);
    for (input, vector) in inputs.iter().zip(&vectors) {
        assert!(cosine(vector, &fake_embedding(input, DEFAULT_EMBEDDING_DIMENSIONS)) > 0.9999, "{input}");
    }
}

#[tokio::test]
async fn no_texts_send_no_request() {
    let server = ScriptedModel::openai([]).await;
    assert!(client(&server, None).embed(&[]).await.unwrap().is_empty());
    assert!(server.embedding_requests().is_empty());
}

#[tokio::test]
async fn a_4xx_surfaces_the_providers_message_and_is_not_retried() {
    let server = ScriptedModel::openai([]).await;
    server.push_embedding(EmbeddingReply::error(401, "Incorrect API key provided: sk-wrong."));
    let error = client(&server, Some("sk-wrong")).embed(&texts(1)).await.unwrap_err();
    assert_eq!(error, EmbedError::Rejected { status: 401, message: "Incorrect API key provided: sk-wrong.".into() });
    assert!(!error.is_retryable());
    assert_eq!(server.embedding_requests().len(), 1);
}

#[tokio::test]
async fn an_input_over_the_models_limit_is_reported_as_too_large() {
    let server = ScriptedModel::openai([]).await;
    let message = "This model's maximum context length is 8192 tokens, however you requested 9000 tokens.";
    server.push_embedding(EmbeddingReply::error(400, message));
    let error = client(&server, None).embed(&texts(1)).await.unwrap_err();
    assert_eq!(error, EmbedError::InputTooLarge { model: "openai/embed-test".into(), message: message.into() });
}

#[tokio::test]
async fn a_5xx_or_429_is_retried_at_most_twice() {
    let server = ScriptedModel::openai([]).await;
    for status in [500, 429] {
        let reply = EmbeddingReply::Error { status, message: "busy".into(), retry_after: Some("0".into()) };
        server.push_embedding(reply);
    }
    let vectors = client(&server, None).embed(&texts(2)).await.unwrap();
    assert_eq!(vectors.len(), 2);
    assert_eq!(server.embedding_requests().len(), 3);

    let server = ScriptedModel::openai([]).await;
    for _ in 0..4 {
        let reply = EmbeddingReply::Error { status: 429, message: "slow down".into(), retry_after: Some("0".into()) };
        server.push_embedding(reply);
    }
    let error = client(&server, None).embed(&texts(2)).await.unwrap_err();
    assert_eq!(
        error,
        EmbedError::RateLimited { status: 429, message: "slow down".into(), retry_after: Some(Duration::ZERO) }
    );
    assert_eq!(server.embedding_requests().len(), 3, "one try and two retries");
}

#[tokio::test]
async fn a_vector_of_another_dimension_in_one_answer_is_an_error() {
    let server = ScriptedModel::openai([]).await;
    server.push_embedding(EmbeddingReply::WrongDimension { dimensions: 5 });
    let embedder = client(&server, None);
    let error = embedder.embed(&texts(3)).await.unwrap_err();
    assert_eq!(
        error,
        EmbedError::Dimension { model: "openai/embed-test".into(), expected: DEFAULT_EMBEDDING_DIMENSIONS, got: 5 }
    );
    assert_eq!(embedder.dimensions(), 0, "nothing learned from a bad answer");
}

#[tokio::test]
async fn the_dimension_is_learned_from_the_first_answer_and_then_enforced() {
    let server = ScriptedModel::openai([]).await;
    server.set_embedding_dimensions(24);
    let embedder = client(&server, None);
    assert_eq!(embedder.dimensions(), 0);
    embedder.embed(&texts(2)).await.unwrap();
    assert_eq!(embedder.dimensions(), 24);

    server.set_embedding_dimensions(12);
    let error = embedder.embed(&texts(2)).await.unwrap_err();
    assert_eq!(error, EmbedError::Dimension { model: "openai/embed-test".into(), expected: 24, got: 12 });
}

#[tokio::test]
async fn a_configured_dimension_is_enforced_from_the_first_answer() {
    let server = ScriptedModel::openai([]).await;
    let embedder = client(&server, None).with_dimensions(16);
    assert_eq!(embedder.dimensions(), 16);
    let error = embedder.embed(&texts(1)).await.unwrap_err();
    assert_eq!(
        error,
        EmbedError::Dimension { model: "openai/embed-test".into(), expected: 16, got: DEFAULT_EMBEDDING_DIMENSIONS }
    );
}

#[tokio::test]
async fn known_openai_models_know_their_dimension_before_any_call() {
    let server = ScriptedModel::openai([]).await;
    let embedder =
        OpenAiEmbedder::new("openai", "text-embedding-3-small", server.base_url(), None, Duration::from_secs(5))
            .unwrap();
    assert_eq!(embedder.dimensions(), 1536);
    let error = embedder.embed(&texts(1)).await.unwrap_err();
    assert!(matches!(error, EmbedError::Dimension { expected: 1536, got: 32, .. }), "{error:?}");
}

#[tokio::test]
async fn an_unreachable_server_is_a_transport_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let embedder = OpenAiEmbedder::new(
        "ollama",
        "nomic-embed-text",
        &format!("http://127.0.0.1:{port}/v1"),
        None,
        Duration::from_secs(5),
    )
    .unwrap();
    let error = embedder.embed(&texts(1)).await.unwrap_err();
    let EmbedError::Transport(message) = &error else { panic!("unexpected error {error:?}") };
    assert!(message.starts_with("ollama/nomic-embed-text: "), "{message}");
    assert!(error.is_retryable());
}

#[test]
fn the_key_never_appears_in_debug_output() {
    let embedder =
        OpenAiEmbedder::new("openai", "m", "http://127.0.0.1:1/v1", Some("sk-secret".into()), Duration::from_secs(1))
            .unwrap();
    let debug = format!("{embedder:?}");
    assert!(!debug.contains("sk-secret") && debug.contains("<redacted>"), "{debug}");
}
