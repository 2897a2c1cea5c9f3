//! API keys and tenant isolation: callers see only their organisation's data.

use engram_core::org::OrgId;
use engram_server::ApiKeyConfig;
use engram_testkit::TestServer;
use reqwest::Method;
use serde_json::json;

const KEY_A: &str = "key-a-0123456789abcdef";
const KEY_B: &str = "key-b-0123456789abcdef";

async fn two_tenants() -> TestServer {
    TestServer::spawn_with(|c| {
        c.api_keys = vec![
            ApiKeyConfig { id: "alice-key".into(), key: KEY_A.into(), org: OrgId::parse("org", "acme").unwrap() },
            ApiKeyConfig { id: "bob-key".into(), key: KEY_B.into(), org: OrgId::parse("org", "globex").unwrap() },
        ];
    })
    .await
}

#[tokio::test]
async fn requests_need_a_valid_key() {
    let s = two_tenants().await;
    let none = s.get("/v1/agents").await;
    assert_eq!((none.status, none.code()), (401, "unauthorized"));
    assert_eq!(none.header("www-authenticate"), Some("Bearer"));
    let wrong = s.send(s.request(Method::GET, "/v1/agents").bearer_auth("not-a-key")).await;
    assert_eq!(wrong.status, 401);
    let ok = s.send(s.request(Method::GET, "/v1/agents").bearer_auth(KEY_A)).await;
    assert_eq!(ok.status, 200);
    // Health stays open for load balancers and reports that keys are on.
    let health = s.get("/v1/health").await;
    assert_eq!((health.status, health.body["local_mode"].clone()), (200, json!(false)));
}

#[tokio::test]
async fn tenants_never_see_each_other() {
    let s = two_tenants().await;
    let as_a = |m: Method, p: &str| s.request(m, p).bearer_auth(KEY_A);
    let as_b = |m: Method, p: &str| s.request(m, p).bearer_auth(KEY_B);

    let agent = s
        .send(
            as_a(Method::POST, "/v1/agents")
                .json(&json!({"name": "private", "blocks": [{"label": "human", "value": "v"}]})),
        )
        .await;
    assert_eq!(agent.status, 201);
    let id = agent.body["id"].as_str().unwrap();
    let block_id = agent.body["blocks"][0]["id"].as_str().unwrap();
    s.send(as_a(Method::POST, &format!("/v1/agents/{id}/archival")).json(&json!({"text": "classified"}))).await;

    let listed = s.send(as_b(Method::GET, "/v1/agents")).await;
    assert_eq!(listed.body["items"], json!([]));
    for (m, p) in [
        (Method::GET, format!("/v1/agents/{id}")),
        (Method::GET, format!("/v1/agents/{id}/blocks/human")),
        (Method::GET, format!("/v1/blocks/{block_id}")),
        (Method::GET, format!("/v1/agents/{id}/archival")),
        (Method::GET, format!("/v1/agents/{id}/archival/search?q=classified&mode=text")),
        (Method::GET, format!("/v1/agents/{id}/messages")),
        (Method::DELETE, format!("/v1/agents/{id}")),
    ] {
        let r = s.send(as_b(m.clone(), &p)).await;
        assert_eq!(r.status, 404, "{m} {p}: {}", r.text);
    }
    let r =
        s.send(as_b(Method::PATCH, &format!("/v1/agents/{id}/blocks/human")).json(&json!({"value": "pwned"}))).await;
    assert_eq!(r.status, 404);
    let r = s.send(as_b(Method::POST, "/v1/agents").json(&json!({"name": "thief", "block_ids": [block_id]}))).await;
    assert_eq!(r.status, 404, "cannot attach another tenant's block");

    // Audit logs are per organisation, each with its own gap-free sequence and the key as actor.
    let b_events = s.send(as_b(Method::GET, "/v1/audit/events")).await.body["items"].as_array().unwrap().clone();
    assert!(b_events.is_empty(), "{b_events:?}");
    let a_events = s.send(as_a(Method::GET, "/v1/audit/events")).await.body["items"].as_array().unwrap().clone();
    assert_eq!(a_events[0]["seq"], 1);
    assert_eq!(a_events[0]["actor"], json!({"kind": "api_key", "id": "alice-key"}));
    assert_eq!(a_events[0]["org_id"], "acme");
    let still = s.send(as_a(Method::GET, &format!("/v1/agents/{id}/blocks/human"))).await;
    assert_eq!(still.body["value"], "v");
}
