//! Bad input, data-driven: each case gets its status and a JSON `error.code`, and changes nothing (the audit log,
//! which records every mutation, does not grow, and the agent reads back unchanged).

use engram_testkit::TestServer;
use reqwest::Method;
use serde_json::{Value, json};

struct Case {
    name: &'static str,
    method: Method,
    path: String,
    body: Option<String>,
    content_type: &'static str,
    status: u16,
    code: &'static str,
    field: Option<&'static str>,
}

fn case(name: &'static str, method: Method, path: String, body: &str, status: u16, code: &'static str) -> Case {
    Case {
        name,
        method,
        path,
        body: Some(body.to_owned()),
        content_type: "application/json",
        status,
        code,
        field: None,
    }
}

impl Case {
    fn field(mut self, f: &'static str) -> Self {
        self.field = Some(f);
        self
    }
    fn content_type(mut self, c: &'static str) -> Self {
        self.content_type = c;
        self
    }
    fn no_body(mut self) -> Self {
        self.body = None;
        self
    }
}

#[tokio::test]
async fn bad_requests_get_clear_errors_and_change_nothing() {
    let s = TestServer::spawn_with(|c| c.body_limit_bytes = 64 * 1024).await;
    let agent = s.create_agent("target").await;
    let id = agent["id"].as_str().unwrap().to_owned();
    let a = format!("/v1/agents/{id}");
    let missing = "agent_01ARZ3NDEKTSV4RRFFQ69G5FAV";
    let huge = json!({"text": "x".repeat(70 * 1024)}).to_string();
    use Method as M;
    let cases = vec![
        case("malformed json", M::POST, "/v1/agents".into(), "{\"name\": ", 400, "invalid_json"),
        case("trailing garbage", M::POST, "/v1/agents".into(), "{\"name\": \"x\"} x", 400, "invalid_json"),
        case("wrong type", M::POST, "/v1/agents".into(), r#"{"name": 5}"#, 400, "invalid_request").field("name"),
        case("missing field", M::POST, "/v1/agents".into(), r#"{}"#, 400, "invalid_request").field("body"),
        case("unknown field", M::POST, "/v1/agents".into(), r#"{"name": "x", "colour": 1}"#, 400, "invalid_request"),
        case("blank name", M::POST, "/v1/agents".into(), r#"{"name": "  "}"#, 400, "invalid_request").field("name"),
        case("bad model", M::POST, "/v1/agents".into(), r#"{"name": "x", "model": "gpt4"}"#, 400, "invalid_request")
            .field("model"),
        case(
            "bad label",
            M::POST,
            "/v1/agents".into(),
            r#"{"name": "x", "blocks": [{"label": "Bad Label", "value": ""}]}"#,
            400,
            "invalid_request",
        )
        .field("blocks[0].label"),
        case(
            "duplicate labels",
            M::POST,
            "/v1/agents".into(),
            r#"{"name": "x", "blocks": [{"label": "a", "value": ""}, {"label": "a", "value": ""}]}"#,
            400,
            "invalid_request",
        )
        .field("blocks[1].label"),
        case(
            "nested wrong type",
            M::POST,
            "/v1/agents".into(),
            r#"{"name": "x", "blocks": [{"label": "a", "value": 3}]}"#,
            400,
            "invalid_request",
        )
        .field("blocks[0].value"),
        case(
            "limit out of range",
            M::POST,
            "/v1/agents".into(),
            r#"{"name": "x", "blocks": [{"label": "a", "value": "", "limit": 0}]}"#,
            400,
            "invalid_request",
        )
        .field("blocks[0].limit"),
        case(
            "context window too small",
            M::POST,
            "/v1/agents".into(),
            r#"{"name": "x", "context_window": 10}"#,
            400,
            "invalid_request",
        )
        .field("context_window"),
        case(
            "metadata not an object",
            M::POST,
            "/v1/agents".into(),
            r#"{"name": "x", "metadata": [1]}"#,
            400,
            "invalid_request",
        )
        .field("metadata"),
        case(
            "unknown attached block",
            M::POST,
            "/v1/agents".into(),
            r#"{"name": "x", "block_ids": ["block_01ARZ3NDEKTSV4RRFFQ69G5FAV"]}"#,
            404,
            "block_not_found",
        ),
        case(
            "malformed attached block id",
            M::POST,
            "/v1/agents".into(),
            r#"{"name": "x", "block_ids": ["nope"]}"#,
            400,
            "invalid_request",
        )
        .field("block_ids[0]"),
        case("not json content type", M::POST, "/v1/agents".into(), r#"{"name": "x"}"#, 415, "unsupported_media_type")
            .content_type("text/plain"),
        case("oversized body", M::POST, format!("{a}/archival"), &huge, 413, "payload_too_large"),
        case("empty passage", M::POST, format!("{a}/archival"), r#"{"text": ""}"#, 400, "invalid_request")
            .field("text"),
        case(
            "bad passage tag",
            M::POST,
            format!("{a}/archival"),
            r#"{"text": "t", "tags": ["a,b"]}"#,
            400,
            "invalid_request",
        )
        .field("tags[0]"),
        case("empty batch", M::POST, format!("{a}/archival/batch"), r#"{"items": []}"#, 400, "invalid_request")
            .field("items"),
        case(
            "bad item in batch",
            M::POST,
            format!("{a}/archival/batch"),
            r#"{"items": [{"text": "ok"}, {"text": ""}]}"#,
            400,
            "invalid_request",
        )
        .field("items[1].text"),
        case("unknown agent", M::GET, format!("/v1/agents/{missing}"), "", 404, "agent_not_found").no_body(),
        case("malformed agent id", M::GET, "/v1/agents/not-an-id".into(), "", 404, "agent_not_found").no_body(),
        case(
            "block id as agent id",
            M::GET,
            "/v1/agents/block_01ARZ3NDEKTSV4RRFFQ69G5FAV".into(),
            "",
            404,
            "agent_not_found",
        )
        .no_body(),
        case(
            "passage of unknown agent",
            M::POST,
            format!("/v1/agents/{missing}/archival"),
            r#"{"text": "t"}"#,
            404,
            "agent_not_found",
        ),
        case("unknown label", M::GET, format!("{a}/blocks/nothing"), "", 404, "block_not_found").no_body(),
        case(
            "invalid label in path",
            M::PATCH,
            format!("{a}/blocks/Not-A-Label"),
            r#"{"value": "v"}"#,
            404,
            "block_not_found",
        ),
        case("patch unknown field", M::PATCH, format!("{a}/blocks/human"), r#"{"valeu": "v"}"#, 400, "invalid_request"),
        case("patch agent wrong type", M::PATCH, a.clone(), r#"{"tags": "a"}"#, 400, "invalid_request").field("tags"),
        case(
            "detach unknown label",
            M::POST,
            format!("{a}/blocks/detach"),
            r#"{"label": "nothing"}"#,
            404,
            "block_not_found",
        ),
        case("bad list limit", M::GET, "/v1/agents?limit=0".into(), "", 400, "invalid_request")
            .field("limit")
            .no_body(),
        case("bad cursor", M::GET, "/v1/agents?after=zzz".into(), "", 400, "invalid_request").field("after").no_body(),
        case(
            "bad force flag",
            M::DELETE,
            "/v1/blocks/block_01ARZ3NDEKTSV4RRFFQ69G5FAV?force=yes".into(),
            "",
            400,
            "invalid_request",
        )
        .no_body(),
        case("unknown route", M::GET, "/v1/nothing".into(), "", 404, "route_not_found").no_body(),
        case("method not allowed", M::PUT, a.clone(), "{}", 405, "method_not_allowed"),
    ];

    let events_before = crate::audit_events(&s).await.len();
    for c in cases {
        let mut req = s.request(c.method.clone(), &c.path);
        if let Some(body) = c.body.clone() {
            req = req.header("content-type", c.content_type).body(body);
        }
        let r = s.send(req).await;
        assert_eq!((r.status, r.code()), (c.status, c.code), "{}: {}", c.name, r.text);
        assert!(!r.body["error"]["message"].as_str().unwrap_or("").is_empty(), "{}: message", c.name);
        if let Some(field) = c.field {
            assert_eq!(r.body["error"]["details"]["field"], field, "{}: {}", c.name, r.text);
        }
    }
    assert_eq!(crate::audit_events(&s).await.len(), events_before, "no bad request changed anything");
    let after: Value = s.get(&a).await.body;
    assert_eq!(after, agent);
    assert_eq!(s.get("/v1/agents").await.body["items"].as_array().unwrap().len(), 1);
}
