//! Semantic and hybrid search with the real local embedding model (all-MiniLM-L6-v2): paraphrases, filters before
//! ranking, deletion, restarts, concurrency, recall search, remote embedding models and model mismatches.

use engram_testkit::models::use_openai;
use engram_testkit::{EmbeddingReply, Reply, ScriptedModel, TestServer, Turn};
use serde_json::{Value, json};

const PASSAGES: [&str; 5] = [
    "The user's dog loves chasing tennis balls in the park.",
    "Quarterly revenue grew by twelve percent.",
    "She is learning to play the violin.",
    "The train to Berlin leaves at 9 am.",
    "My grandmother bakes bread every Sunday morning.",
];

async fn agent(s: &TestServer) -> String {
    s.create_agent("librarian").await["id"].as_str().unwrap().to_owned()
}

fn texts(r: &Value) -> Vec<String> {
    r["results"].as_array().unwrap().iter().map(|h| h["passage"]["text"].as_str().unwrap().to_owned()).collect()
}

async fn insert_all(s: &TestServer, id: &str, items: Value) -> Vec<String> {
    let r = s.post(&format!("/v1/agents/{id}/archival/batch"), json!({ "items": items })).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect()
}

async fn search(s: &TestServer, id: &str, query: &str) -> Value {
    let r = s.get(&format!("/v1/agents/{id}/archival/search?{query}")).await;
    assert_eq!(r.status, 200, "{query}: {}", r.text);
    r.body
}

#[tokio::test]
async fn a_paraphrase_is_found_by_meaning_but_not_by_words() {
    let s = TestServer::spawn_semantic().await;
    let id = agent(&s).await;
    let ids = insert_all(&s, &id, PASSAGES.iter().map(|t| json!({ "text": t })).collect()).await;

    let q = "q=puppy+fetching+toys+outdoors";
    let text = search(&s, &id, &format!("{q}&mode=text")).await;
    assert!(texts(&text).is_empty(), "no shared words, so BM25 finds nothing: {text}");
    for mode in ["vector", "hybrid"] {
        let found = search(&s, &id, &format!("{q}&mode={mode}")).await;
        assert_eq!(found["mode"], mode);
        assert!(found.get("note").is_none(), "{found}");
        assert_eq!(texts(&found)[0], PASSAGES[0], "{mode}: {found}");
    }
    // The default mode is hybrid.
    assert_eq!(search(&s, &id, q).await["mode"], "hybrid");

    // The vector is stored with its model and returned only when asked for.
    let r = s.get(&format!("/v1/agents/{id}/archival/{}?include=embedding", ids[0])).await;
    assert_eq!(r.body["embedding"]["model"], "local/all-minilm-l6-v2", "{}", r.text);
    assert_eq!(r.body["embedding"]["vector"].as_array().unwrap().len(), 384);
    let health = s.get("/v1/health").await;
    assert_eq!(health.body["semantic_search"], true, "{}", health.text);
}

#[tokio::test]
async fn filters_apply_before_vector_ranking() {
    let s = TestServer::spawn_semantic().await;
    let id = agent(&s).await;
    insert_all(
        &s,
        &id,
        json!([
            {"text": "Our cat sleeps on the windowsill all afternoon.", "tags": ["pets"],
             "created_at": "2023-01-10T00:00:00Z"},
            {"text": "The kitten naps in a sunny spot by the window.", "tags": ["pets", "kitten"],
             "created_at": "2023-06-10T00:00:00Z"},
            {"text": "Stock markets fell sharply on Monday.", "tags": ["news"], "created_at": "2023-06-11T00:00:00Z"},
        ]),
    )
    .await;
    let q = "q=cat+napping+near+a+window&k=1";
    for mode in ["vector", "hybrid"] {
        let only_news = search(&s, &id, &format!("{q}&mode={mode}&tags=news")).await;
        assert_eq!(texts(&only_news), vec!["Stock markets fell sharply on Monday."], "{mode}: filter before ranking");
        let all = search(&s, &id, &format!("{q}&mode={mode}&tags=pets,kitten&tag_mode=all")).await;
        assert_eq!(texts(&all), vec!["The kitten naps in a sunny spot by the window."], "{mode}");
        let early = search(&s, &id, &format!("{q}&mode={mode}&to=2023-02-01T00:00:00Z")).await;
        assert_eq!(texts(&early), vec!["Our cat sleeps on the windowsill all afternoon."], "{mode}");
        let late = search(&s, &id, &format!("{q}&mode={mode}&from=2023-06-01T00:00:00Z&tags=pets")).await;
        assert_eq!(texts(&late), vec!["The kitten naps in a sunny spot by the window."], "{mode}");
        let none = search(&s, &id, &format!("{q}&mode={mode}&tags=nothing-has-this")).await;
        assert!(texts(&none).is_empty(), "{mode}");
    }
}

#[tokio::test]
async fn deleted_passages_are_never_returned_and_results_survive_a_restart() {
    let s = TestServer::spawn_semantic().await;
    let id = agent(&s).await;
    let ids = insert_all(&s, &id, PASSAGES.iter().map(|t| json!({ "text": t })).collect()).await;
    let q = "q=violin+lessons&k=5";
    let before = search(&s, &id, &format!("{q}&mode=vector")).await;
    assert_eq!(texts(&before)[0], PASSAGES[2]);

    let r = s.delete(&format!("/v1/agents/{id}/archival/{}", ids[2])).await;
    assert_eq!(r.status, 204);
    for mode in ["vector", "hybrid", "text"] {
        let after = search(&s, &id, &format!("{q}&mode={mode}")).await;
        assert!(!texts(&after).contains(&PASSAGES[2].to_owned()), "{mode}: {after}");
    }
    let kept = search(&s, &id, &format!("{q}&mode=vector")).await;

    let s = s.restart().await;
    let again = search(&s, &id, &format!("{q}&mode=vector")).await;
    assert_eq!(texts(&again), texts(&kept), "the index rebuilt from the database ranks the same");
    assert!(!texts(&again).contains(&PASSAGES[2].to_owned()));
    let scores = |v: &Value| -> Vec<f64> {
        v["results"].as_array().unwrap().iter().map(|h| h["score"].as_f64().unwrap()).collect()
    };
    for (a, b) in scores(&again).iter().zip(scores(&kept)) {
        assert!((a - b).abs() < 1e-6, "{a} vs {b}");
    }
}

#[tokio::test]
async fn concurrent_inserts_and_searches_are_consistent() {
    let s = std::sync::Arc::new(TestServer::spawn_semantic().await);
    let id = agent(&s).await;
    let colours = ["red", "blue", "green", "yellow"];
    let animals = ["fox", "owl", "whale", "lizard", "horse"];
    let mut tasks = Vec::new();
    for (w, colour) in colours.iter().enumerate() {
        let (s, id) = (s.clone(), id.clone());
        let items: Vec<Value> =
            animals.iter().map(|a| json!({"text": format!("Writer {w} saw a {colour} {a} at dawn.")})).collect();
        tasks.push(tokio::spawn(async move {
            for item in items {
                let r = s.post(&format!("/v1/agents/{id}/archival"), item).await;
                assert_eq!(r.status, 201, "{}", r.text);
            }
        }));
    }
    for _ in 0..3 {
        let (s, id) = (s.clone(), id.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..5 {
                let found = search(&s, &id, "q=a+colourful+animal+at+sunrise&k=20").await;
                let listed: Vec<String> = s
                    .list_all(&format!("/v1/agents/{id}/archival"), 100)
                    .await
                    .iter()
                    .map(|p| p["id"].as_str().unwrap().to_owned())
                    .collect();
                for hit in found["results"].as_array().unwrap() {
                    assert!(
                        listed.contains(&hit["passage"]["id"].as_str().unwrap().to_owned()),
                        "hit of a stored passage"
                    );
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    // Every committed passage is in the index: each is its own nearest neighbour.
    for (w, colour) in colours.iter().enumerate() {
        for a in animals {
            let text = format!("Writer {w} saw a {colour} {a} at dawn.");
            let q = format!("q={}&mode=vector&k=1", text.replace(' ', "+"));
            assert_eq!(texts(&search(&s, &id, &q).await), vec![text]);
        }
    }
}

#[tokio::test]
async fn recall_search_finds_messages_by_meaning() {
    let model = ScriptedModel::openai([Turn::new(Reply::text("Congratulations to her!"))]).await;
    let s = TestServer::spawn_semantic_with(|c| use_openai(c, &model)).await;
    let agent = s.create_model_agent("openai/gpt-4o-mini", json!({})).await;
    let r = s.send_message(&agent, "My sister just adopted a kitten named Pixel.").await;
    assert_eq!(r.status, 200, "{}", r.text);

    let path = |q: &str| format!("/v1/agents/{agent}/messages/search?q={q}");
    let text = s.get(&format!("{}&mode=text", path("sibling+got+new+cat"))).await;
    assert!(text.body["results"].as_array().unwrap().is_empty(), "{}", text.text);
    for mode in ["vector", "hybrid"] {
        let found = s.get(&format!("{}&mode={mode}&role=user", path("sibling+got+new+cat"))).await;
        assert_eq!(found.status, 200, "{}", found.text);
        assert_eq!(found.body["mode"], mode);
        let first = &found.body["results"][0]["message"];
        assert_eq!(first["content"], "My sister just adopted a kitten named Pixel.", "{mode}: {}", found.text);
    }
    let bad = s.get(&format!("{}&mode=semantic", path("cat"))).await;
    assert_eq!((bad.status, bad.code()), (400, "invalid_request"));
}

#[tokio::test]
async fn the_archival_tool_searches_by_meaning() {
    let model = ScriptedModel::openai([
        Turn::new(Reply::tool("archival_memory_search", json!({"query": "puppy fetching toys outdoors"}))),
        Turn::new(Reply::text("Your dog loves tennis balls.")),
    ])
    .await;
    let s = TestServer::spawn_semantic_with(|c| use_openai(c, &model)).await;
    let agent = s.create_model_agent("openai/gpt-4o-mini", json!({})).await;
    insert_all(&s, &agent, PASSAGES.iter().map(|t| json!({ "text": t })).collect()).await;
    let r = s.send_message(&agent, "What does my dog like?").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let sent = model.last_request().unwrap().text();
    let result_at = sent.find("tennis balls").expect("the passage reached the model as the tool result");
    assert!(sent[..result_at].contains("archival_memory_search"));
    model.assert_done();
}

#[tokio::test]
async fn a_remote_embedding_model_is_used_and_model_mismatches_are_refused() {
    let model = ScriptedModel::openai(Vec::<Turn>::new()).await;
    let s = TestServer::spawn_semantic_with(|c| use_openai(c, &model)).await;
    let r = s.post("/v1/agents", json!({"name": "remote", "embedding": "openai/scripted-embedder"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_owned();
    insert_all(&s, &id, json!([{"text": "alpha beta gamma"}, {"text": "delta epsilon"}])).await;
    let requests = model.embedding_requests();
    assert_eq!(requests.len(), 1, "one batched request for the batch");
    assert_eq!(requests[0].body["input"], json!(["alpha beta gamma", "delta epsilon"]));
    assert_eq!(requests[0].body["model"], "scripted-embedder");
    let found = search(&s, &id, "q=alpha+gamma&mode=vector&k=1").await;
    assert_eq!(texts(&found), vec!["alpha beta gamma"]);
    let r = s.get(&format!("/v1/agents/{id}/archival/search?q=x&mode=vector")).await;
    assert_eq!(r.status, 200);

    // Its vectors cannot be compared with another model's: the agent's model cannot change under them.
    let r = s.patch(&format!("/v1/agents/{id}"), json!({"embedding": "local/all-minilm-l6-v2"})).await;
    assert_eq!((r.status, r.code()), (409, "embedding_in_use"), "{}", r.text);
    assert_eq!(s.get(&format!("/v1/agents/{id}")).await.body["embedding"], "openai/scripted-embedder");

    // A provider failure fails the insert and stores nothing.
    model.push_embedding(EmbeddingReply::error(500, "embedding backend exploded"));
    model.push_embedding(EmbeddingReply::error(500, "embedding backend exploded"));
    model.push_embedding(EmbeddingReply::error(500, "embedding backend exploded"));
    let r = s.post(&format!("/v1/agents/{id}/archival"), json!({"text": "zeta"})).await;
    assert_eq!((r.status, r.code()), (502, "embedding_provider_error"), "{}", r.text);
    assert!(r.body["error"]["message"].as_str().unwrap().contains("embedding backend exploded"), "{}", r.text);
    // A provider whose dimension changes is refused too.
    model.set_embedding_dimensions(16);
    let r = s.post(&format!("/v1/agents/{id}/archival"), json!({"text": "eta"})).await;
    assert!(r.status == 502 || r.status == 409, "{}", r.text);
    let listed = s.list_all(&format!("/v1/agents/{id}/archival"), 100).await;
    assert_eq!(listed.len(), 2, "nothing half-written");
}
