//! The local all-MiniLM-L6-v2 embedder: agreement with the Python reference (sentence-transformers), batches equal to
//! single texts, meaning (a paraphrase is nearer than an unrelated sentence), and what a missing model says.

use engram_embed::{EmbedError, Embedder, LOCAL_DIMENSIONS, LOCAL_MODEL, LocalEmbedder};
use serde_json::Value;

use crate::model_dir::local_embedder;
use crate::{cosine, length};

/// `(text, reference vector, token count)` from `tests/fixtures/reference_embeddings.json`.
fn reference() -> Vec<(String, Vec<f32>, u64)> {
    let text = include_str!("../fixtures/reference_embeddings.json");
    let fixture: Value = serde_json::from_str(text).unwrap();
    fixture["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            let vector = item["embedding"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect();
            (item["text"].as_str().unwrap().to_owned(), vector, item["tokens"].as_u64().unwrap())
        })
        .collect()
}

#[tokio::test]
async fn vectors_match_the_python_reference() {
    let reference = reference();
    assert!(reference.iter().any(|(_, _, tokens)| *tokens > 256), "the fixture must exercise truncation");
    let texts: Vec<String> = reference.iter().map(|(text, _, _)| text.clone()).collect();
    let embedder = local_embedder();
    let vectors = embedder.embed(&texts).await.unwrap();
    assert_eq!(vectors.len(), texts.len());
    for ((text, expected, _), actual) in reference.iter().zip(&vectors) {
        assert_eq!(actual.len(), LOCAL_DIMENSIONS);
        assert!((length(actual) - 1.0).abs() < 1e-4, "not normalised: {text:?}");
        let similarity = cosine(actual, expected);
        assert!(similarity >= 0.999, "cosine {similarity} against the reference for {text:?}");
    }
}

#[tokio::test]
async fn a_batch_gives_the_same_vectors_as_one_text_at_a_time() {
    // More texts than one batch holds, of very different lengths, so sorting, padding and reordering all happen.
    let mut texts: Vec<String> = reference().into_iter().map(|(text, _, _)| text).collect();
    for i in 0..40 {
        texts.push(format!("Note {i}: {}", "the meeting moved to Thursday afternoon ".repeat(i % 7 + 1)));
    }
    let embedder = local_embedder();
    let batch = embedder.embed(&texts).await.unwrap();
    assert_eq!(batch.len(), texts.len());
    for (text, batched) in texts.iter().zip(&batch) {
        let single = embedder.embed(std::slice::from_ref(text)).await.unwrap();
        let similarity = cosine(&single[0], batched);
        assert!(similarity > 0.9999, "cosine {similarity} between batched and single for {text:?}");
    }
}

#[tokio::test]
async fn a_paraphrase_is_closer_than_an_unrelated_sentence() {
    let texts = [
        "The cat sat on the mat.",
        "A kitten was resting on the rug.",
        "Quarterly revenue grew by 12% compared with last year.",
    ]
    .map(String::from);
    let vectors = local_embedder().embed(&texts).await.unwrap();
    let paraphrase = cosine(&vectors[0], &vectors[1]);
    let unrelated = cosine(&vectors[0], &vectors[2]);
    assert!(paraphrase > unrelated + 0.2, "paraphrase {paraphrase} vs unrelated {unrelated}");
}

#[tokio::test]
async fn no_texts_give_no_vectors() {
    let embedder = local_embedder();
    assert_eq!(embedder.embed(&[]).await.unwrap(), Vec::<Vec<f32>>::new());
    assert_eq!(embedder.model(), LOCAL_MODEL);
    assert_eq!(embedder.model(), "local/all-minilm-l6-v2");
    assert_eq!(embedder.dimensions(), 384);
}

#[tokio::test]
async fn empty_and_whitespace_texts_still_get_unit_vectors() {
    let texts = ["", "   ", "\n"].map(String::from);
    let vectors = local_embedder().embed(&texts).await.unwrap();
    for vector in vectors {
        assert_eq!(vector.len(), LOCAL_DIMENSIONS);
        assert!((length(&vector) - 1.0).abs() < 1e-4);
    }
}

#[test]
fn a_missing_model_directory_names_the_file_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere");
    let error = LocalEmbedder::load(&missing).unwrap_err();
    let EmbedError::Model(message) = &error else { panic!("unexpected error {error:?}") };
    assert!(message.contains("model.safetensors is missing"), "{message}");
    assert!(message.contains("scripts/fetch-model"), "{message}");
    assert!(message.contains(&missing.display().to_string()), "{message}");
}

#[test]
fn a_partial_model_directory_names_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("model.safetensors"), b"not weights").unwrap();
    std::fs::write(dir.path().join("config.json"), b"{}").unwrap();
    let message = LocalEmbedder::load(dir.path()).unwrap_err().to_string();
    assert!(message.contains("tokenizer.json is missing"), "{message}");

    std::fs::copy(crate::model_dir::model_dir().join("tokenizer.json"), dir.path().join("tokenizer.json")).unwrap();
    let message = LocalEmbedder::load(dir.path()).unwrap_err().to_string();
    assert!(message.contains("cannot load") && message.contains("config.json"), "{message}");
    assert!(message.contains("scripts/fetch-model"), "{message}");

    std::fs::copy(crate::model_dir::model_dir().join("config.json"), dir.path().join("config.json")).unwrap();
    let message = LocalEmbedder::load(dir.path()).unwrap_err().to_string();
    assert!(message.contains("cannot load") && message.contains("model.safetensors"), "{message}");
}
