//! Health, the OpenAPI document, metrics, and the (empty until the runtime lands) message history endpoint.

use engram_testkit::TestServer;
use serde_json::json;

#[tokio::test]
async fn health_reports_storage_and_version() {
    let s = TestServer::spawn().await;
    let r = s.get("/v1/health").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["status"], "ok");
    // The suite also runs on PostgreSQL (`ENGRAM_TEST_BACKEND`), where health names it and its vector path.
    match engram_testkit::server::postgres_backend() {
        None => {
            assert_eq!(r.body["storage"], "sqlite");
            assert!(r.body.get("vector_path").is_none_or(|v| v.is_null()), "{}", r.body);
        }
        Some(_) => {
            assert_eq!(r.body["storage"], "postgres");
            assert!(["pgvector", "exact"].contains(&r.body["vector_path"].as_str().unwrap_or("")), "{}", r.body);
        }
    }
    assert_eq!(r.body["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(r.body["embedding_model"], "local/all-minilm-l6-v2");
    assert_eq!(r.body["local_mode"], true);
    assert!(r.header("x-request-id").is_some(), "every response carries a request id");
}

/// Every route of the v1 contract (`design/api.md`, wave 1 as built so far), as (method, OpenAPI path).
const ROUTES: &[(&str, &str)] = &[
    ("get", "/v1/health"),
    ("get", "/metrics"),
    ("post", "/v1/agents"),
    ("get", "/v1/agents"),
    ("get", "/v1/agents/{agent_id}"),
    ("patch", "/v1/agents/{agent_id}"),
    ("delete", "/v1/agents/{agent_id}"),
    ("post", "/v1/agents/import"),
    ("get", "/v1/agents/{agent_id}/export"),
    ("get", "/v1/agents/{agent_id}/blocks"),
    ("get", "/v1/agents/{agent_id}/blocks/{label}"),
    ("patch", "/v1/agents/{agent_id}/blocks/{label}"),
    ("post", "/v1/agents/{agent_id}/blocks/attach"),
    ("post", "/v1/agents/{agent_id}/blocks/detach"),
    ("post", "/v1/blocks"),
    ("get", "/v1/blocks"),
    ("get", "/v1/blocks/{block_id}"),
    ("patch", "/v1/blocks/{block_id}"),
    ("delete", "/v1/blocks/{block_id}"),
    ("post", "/v1/agents/{agent_id}/archival"),
    ("get", "/v1/agents/{agent_id}/archival"),
    ("post", "/v1/agents/{agent_id}/archival/batch"),
    ("get", "/v1/agents/{agent_id}/archival/search"),
    ("get", "/v1/agents/{agent_id}/archival/{passage_id}"),
    ("delete", "/v1/agents/{agent_id}/archival/{passage_id}"),
    ("get", "/v1/agents/{agent_id}/messages"),
    ("post", "/v1/agents/{agent_id}/messages"),
    ("get", "/v1/agents/{agent_id}/messages/search"),
    ("post", "/v1/agents/{agent_id}/messages/async"),
    ("get", "/v1/agents/{agent_id}/context"),
    ("post", "/v1/agents/{agent_id}/compact"),
    ("get", "/v1/runs/{run_id}"),
    ("post", "/v1/runs/{run_id}/cancel"),
    ("get", "/v1/tools"),
    ("get", "/v1/audit/events"),
];

#[tokio::test]
async fn openapi_lists_every_route_and_every_listed_route_exists() {
    let s = TestServer::spawn().await;
    let doc = s.get("/openapi.json").await;
    assert_eq!(doc.status, 200);
    assert!(doc.body["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = doc.body["paths"].as_object().unwrap();
    let mut documented = Vec::new();
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            documented.push((method.clone(), path.clone()));
        }
    }
    for (method, path) in ROUTES {
        assert!(documented.contains(&(method.to_string(), path.to_string())), "{method} {path} is not documented");
    }
    assert_eq!(documented.len(), ROUTES.len(), "documented routes not in the contract list: {documented:?}");
    // Each documented route is served: a request to it is answered by a handler, never by the router's 404/405.
    let client = reqwest::Client::new();
    for (method, path) in &documented {
        let concrete = path
            .replace("{agent_id}", "agent_01ARZ3NDEKTSV4RRFFQ69G5FAV")
            .replace("{block_id}", "block_01ARZ3NDEKTSV4RRFFQ69G5FAV")
            .replace("{passage_id}", "psg_01ARZ3NDEKTSV4RRFFQ69G5FAV")
            .replace("{label}", "human");
        let r = client
            .request(method.to_uppercase().parse().unwrap(), s.url(&concrete))
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        let body: serde_json::Value = r.json().await.unwrap_or_default();
        let code = body["error"]["code"].as_str().unwrap_or("");
        assert!(code != "route_not_found" && code != "method_not_allowed", "{method} {path}: {code}");
    }
    assert!(doc.body["components"]["schemas"]["AgentBody"].is_object());
    assert!(doc.body["components"]["securitySchemes"]["bearer"].is_object());
}

#[tokio::test]
async fn metrics_count_requests_by_route_template() {
    let s = TestServer::spawn().await;
    let id = s.create_agent("m").await["id"].as_str().unwrap().to_owned();
    for _ in 0..3 {
        s.get(&format!("/v1/agents/{id}")).await;
    }
    s.get("/v1/agents/agent_01ARZ3NDEKTSV4RRFFQ69G5FAV").await;
    let m = s.get("/metrics").await;
    assert_eq!(m.status, 200);
    assert!(m.header("content-type").unwrap().starts_with("text/plain"));
    assert!(
        m.text.contains(r#"engram_http_requests_total{method="GET",route="/v1/agents/{agent_id}",status="200"} 3"#),
        "{}",
        m.text
    );
    assert!(
        m.text.contains(r#"engram_http_requests_total{method="GET",route="/v1/agents/{agent_id}",status="404"} 1"#)
    );
    assert!(m.text.contains(r#"engram_http_request_duration_seconds_count{method="POST",route="/v1/agents"} 1"#));
    assert!(!m.text.contains(&id), "ids never become labels");
}

#[tokio::test]
async fn message_history_is_listed_and_validated() {
    let s = TestServer::spawn().await;
    let id = s.create_agent("quiet").await["id"].as_str().unwrap().to_owned();
    let r = s.get(&format!("/v1/agents/{id}/messages?order=desc&role=user&limit=10")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body, json!({"items": [], "next_cursor": null}));
    let bad = s.get(&format!("/v1/agents/{id}/messages?role=robot")).await;
    assert_eq!((bad.status, bad.body["error"]["details"]["field"].clone()), (400, json!("role")));
    let bad = s.get(&format!("/v1/agents/{id}/messages?order=sideways")).await;
    assert_eq!(bad.status, 400);
    assert_eq!(s.get("/v1/agents/agent_01ARZ3NDEKTSV4RRFFQ69G5FAV/messages").await.status, 404);
}
