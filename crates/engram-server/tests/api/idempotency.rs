//! Idempotency-Key: a retry with the same key returns the first result and has one effect.

use engram_testkit::TestServer;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn retries_replay_the_first_response() {
    let s = TestServer::spawn().await;
    let create =
        || s.request(Method::POST, "/v1/agents").header("Idempotency-Key", "create-1").json(&json!({"name": "once"}));
    let first = s.send(create()).await;
    assert_eq!(first.status, 201);
    let events = crate::audit_events(&s).await.len();
    let second = s.send(create()).await;
    assert_eq!(second.status, 201);
    assert_eq!(second.body, first.body, "same body");
    assert_eq!(second.header("idempotent-replayed"), Some("true"));
    assert_eq!(s.get("/v1/agents?name=once").await.body["items"].as_array().unwrap().len(), 1, "one effect");
    assert_eq!(crate::audit_events(&s).await.len(), events);

    // The same key for a different request is refused; a different key acts again.
    let other = s
        .send(
            s.request(Method::POST, "/v1/agents").header("Idempotency-Key", "create-1").json(&json!({"name": "twice"})),
        )
        .await;
    assert_eq!((other.status, other.code()), (422, "idempotency_key_reused"));
    let fresh = s
        .send(
            s.request(Method::POST, "/v1/agents").header("Idempotency-Key", "create-2").json(&json!({"name": "once"})),
        )
        .await;
    assert_eq!(fresh.status, 201);
    assert_ne!(fresh.body["id"], first.body["id"]);
}

#[tokio::test]
async fn passage_retries_insert_once_even_concurrently() {
    let s = TestServer::spawn().await;
    let id = s.create_agent("a").await["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/agents/{id}/archival");
    let send =
        || s.send(s.request(Method::POST, &path).header("Idempotency-Key", "p-1").json(&json!({"text": "only once"})));
    let results = futures::future::join_all((0..6).map(|_| send())).await;
    for r in &results {
        assert!(r.status == 201 || (r.status == 409 && r.code() == "idempotency_in_progress"), "{}", r.text);
    }
    let ok: Vec<_> = results.iter().filter(|r| r.status == 201).collect();
    assert!(!ok.is_empty());
    assert!(ok.iter().all(|r| r.body["id"] == ok[0].body["id"]));
    let retry = send().await;
    assert_eq!(retry.body["id"], ok[0].body["id"]);
    assert_eq!(s.list_all(&path, 100).await.len(), 1);
}

#[tokio::test]
async fn client_errors_are_remembered_and_empty_keys_refused() {
    let s = TestServer::spawn().await;
    let bad = || s.request(Method::POST, "/v1/agents").header("Idempotency-Key", "k").json(&json!({"name": ""}));
    let first = s.send(bad()).await;
    assert_eq!(first.status, 400);
    let again = s.send(bad()).await;
    assert_eq!((again.status, again.body.clone()), (400, first.body));
    let invalid =
        s.send(s.request(Method::POST, "/v1/agents").header("Idempotency-Key", "").json(&json!({"name": "x"}))).await;
    assert_eq!((invalid.status, invalid.code()), (400, "invalid_request"));
}
