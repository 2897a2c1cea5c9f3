//! Archival memory: passages, batches, listing, deletion and text search with filters.

use engram_testkit::TestServer;
use serde_json::{Value, json};

async fn agent(s: &TestServer) -> String {
    s.create_agent("archivist").await["id"].as_str().unwrap().to_owned()
}

fn texts(r: &Value) -> Vec<String> {
    r["results"].as_array().unwrap().iter().map(|h| h["passage"]["text"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn insert_get_list_delete() {
    let s = TestServer::spawn().await;
    let id = agent(&s).await;
    let r = s
        .post(
            &format!("/v1/agents/{id}/archival"),
            json!({"text": "The user's cat is named Miso.", "tags": ["pets"], "metadata": {"source": "chat"},
                   "created_at": "2024-05-01T10:00:00Z"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let pid = r.body["id"].as_str().unwrap().to_owned();
    assert!(pid.starts_with("psg_"));
    assert_eq!(r.body["created_at"], "2024-05-01T10:00:00Z");
    assert_eq!(r.body["agent_id"], json!(id));
    assert!(r.body.get("embedding").is_none());

    let got = s.get(&format!("/v1/agents/{id}/archival/{pid}")).await;
    assert_eq!(got.body, r.body);

    let batch = s
        .post(
            &format!("/v1/agents/{id}/archival/batch"),
            json!({"items": (0..30).map(|i| json!({"text": format!("fact number {i}")})).collect::<Vec<_>>()}),
        )
        .await;
    assert_eq!(batch.status, 201, "{}", batch.text);
    assert_eq!(batch.body["ids"].as_array().unwrap().len(), 30);

    let all = s.list_all(&format!("/v1/agents/{id}/archival"), 7).await;
    assert_eq!(all.len(), 31);
    assert_eq!(all[0]["id"], json!(pid));
    assert_eq!(all[30]["text"], "fact number 29");

    assert_eq!(s.delete(&format!("/v1/agents/{id}/archival/{pid}")).await.status, 204);
    assert_eq!(s.get(&format!("/v1/agents/{id}/archival/{pid}")).await.code(), "passage_not_found");
    let hits = s.get(&format!("/v1/agents/{id}/archival/search?q=cat+Miso&mode=text")).await;
    assert_eq!(hits.body["results"], json!([]), "deleted passages are never returned");

    // A passage is only reachable through its own agent.
    let other = agent(&s).await;
    let pid2 = batch.body["ids"][0].as_str().unwrap();
    assert_eq!(s.get(&format!("/v1/agents/{other}/archival/{pid2}")).await.status, 404);
}

#[tokio::test]
async fn text_search_ranks_and_filters() {
    let s = TestServer::spawn().await;
    let id = agent(&s).await;
    let items = json!({"items": [
        {"text": "Alice adopted a golden retriever puppy named Max.", "tags": ["pets", "alice"], "created_at": "2023-01-10T00:00:00Z"},
        {"text": "Bob went hiking in the Alps with his dog.", "tags": ["travel", "bob"], "created_at": "2023-03-10T00:00:00Z"},
        {"text": "Alice's retriever Max learned to fetch.", "tags": ["pets"], "created_at": "2023-06-10T00:00:00Z"},
        {"text": "The quarterly report is due on Friday.", "tags": ["work"], "created_at": "2023-07-10T00:00:00Z"}
    ]});
    assert_eq!(s.post(&format!("/v1/agents/{id}/archival/batch"), items).await.status, 201);
    let search = |q: &str| format!("/v1/agents/{id}/archival/search?mode=text&{q}");

    let r = s.get(&search("q=retriever+Max")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let found = texts(&r.body);
    assert_eq!(found.len(), 2);
    assert!(found.iter().all(|t| t.contains("Max")));
    let scores: Vec<f64> = r.body["results"].as_array().unwrap().iter().map(|h| h["score"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "best first: {scores:?}");

    // Stemming: "hikes" finds "hiking"; query syntax characters are just text.
    assert_eq!(texts(&s.get(&search("q=hikes")).await.body).len(), 1);
    assert_eq!(s.get(&search("q=%22dog%22+OR+(NEAR*")).await.status, 200);

    assert_eq!(texts(&s.get(&search("q=Alice+retriever+dog&tags=bob")).await.body).len(), 1);
    assert_eq!(texts(&s.get(&search("q=Alice+retriever+dog&tags=pets,bob&tag_mode=any")).await.body).len(), 3);
    assert_eq!(texts(&s.get(&search("q=Alice+retriever&tags=pets,alice&tag_mode=all")).await.body).len(), 1);
    let in_range =
        texts(&s.get(&search("q=retriever+dog&from=2023-02-01T00:00:00Z&to=2023-04-01T00:00:00Z")).await.body);
    assert_eq!(in_range, vec!["Bob went hiking in the Alps with his dog."]);
    assert_eq!(texts(&s.get(&search("q=retriever+dog+Max&k=1")).await.body).len(), 1);
    assert!(texts(&s.get(&search("q=zebra")).await.body).is_empty());
}

#[tokio::test]
async fn without_a_model_hybrid_answers_from_text_and_says_so_and_vector_is_refused() {
    let s = TestServer::spawn().await;
    let id = agent(&s).await;
    let r = s.post(&format!("/v1/agents/{id}/archival"), json!({"text": "Cats purr when content."})).await;
    assert_eq!(r.status, 201, "a passage is stored without a vector when no model is loaded: {}", r.text);
    for q in ["q=cats&mode=hybrid", "q=cats"] {
        let r = s.get(&format!("/v1/agents/{id}/archival/search?{q}")).await;
        assert_eq!(r.status, 200, "{q}: {}", r.text);
        assert_eq!(r.body["mode"], "text", "{q}: a text ranking is never presented as hybrid");
        assert!(r.body["note"].as_str().unwrap().contains("semantic search unavailable"), "{}", r.text);
        assert_eq!(r.body["results"].as_array().unwrap().len(), 1);
    }
    let r = s.get(&format!("/v1/agents/{id}/archival/search?q=cats&mode=vector")).await;
    assert_eq!((r.status, r.code()), (422, "search_mode_unavailable"), "{}", r.text);
    assert!(r.body["error"]["message"].as_str().unwrap().contains("unavailable"), "{}", r.text);
    let health = s.get("/v1/health").await;
    assert_eq!(health.body["semantic_search"], false);
    assert!(health.body["embedding_note"].as_str().unwrap().contains("all-minilm-l6-v2"), "{}", health.text);
}

#[tokio::test]
async fn search_parameters_are_validated() {
    let s = TestServer::spawn().await;
    let id = agent(&s).await;
    for (q, field) in [
        ("mode=text", "q"),
        ("q=x&mode=text&k=0", "k"),
        ("q=x&mode=text&k=101", "k"),
        ("q=x&mode=text&k=ten", "k"),
        ("q=x&mode=fuzzy", "mode"),
        ("q=x&mode=text&tag_mode=some", "tag_mode"),
        ("q=x&mode=text&from=yesterday", "from"),
        ("q=x&mode=text&colour=red", "query"),
    ] {
        let r = s.get(&format!("/v1/agents/{id}/archival/search?{q}")).await;
        assert_eq!((r.status, r.code()), (400, "invalid_request"), "{q}: {}", r.text);
        assert_eq!(r.body["error"]["details"]["field"], field, "{q}");
    }
}
