//! Running agents in tests: configure a server's providers to use scripted model servers, create agents that use
//! them, send messages and read server-sent event streams.

use std::time::Duration;

use engram_llm::RetryPolicy;
use engram_scripted::ScriptedModel;
use engram_server::ServerConfig;
use futures::StreamExt;
use serde_json::{Value, json};

use crate::server::{Resp, TestServer};

/// Points the `openai` provider at `model` (an OpenAI-wire scripted server) with fast retries.
pub fn use_openai(config: &mut ServerConfig, model: &ScriptedModel) {
    config.providers.openai.base_url = model.base_url().to_owned();
    config.providers.openai.api_key = Some("sk-test-not-a-real-key".to_owned());
    // As in the binary, `openai/…` embedding models live at the same base URL with the same key.
    config.embedders.openai.base_url = model.base_url().to_owned();
    config.embedders.openai.api_key = Some("sk-test-not-a-real-key".to_owned());
    fast_retries(config);
}

/// Points the `anthropic` provider at `model` (an Anthropic-wire scripted server) with fast retries.
pub fn use_anthropic(config: &mut ServerConfig, model: &ScriptedModel) {
    config.providers.anthropic.base_url = model.base_url().to_owned();
    config.providers.anthropic.api_key = Some("sk-ant-test-not-a-real-key".to_owned());
    fast_retries(config);
}

fn fast_retries(config: &mut ServerConfig) {
    config.providers.retry =
        RetryPolicy { max_retries: 2, base_delay: Duration::from_millis(5), max_delay: Duration::from_millis(200) };
}

impl TestServer {
    /// A server whose `openai` provider is `model`.
    pub async fn with_openai(model: &ScriptedModel) -> Self {
        Self::spawn_with(|config| use_openai(config, model)).await
    }

    /// Creates an agent running `model` (e.g. `openai/gpt-4o-mini`) with `human` and `persona` blocks and the
    /// default tools; `extra` fields are merged into the creation body. Returns the agent's id.
    pub async fn create_model_agent(&self, model: &str, extra: Value) -> String {
        let mut body = json!({
            "name": "runner",
            "model": model,
            "blocks": [
                {"label": "human", "value": "Name: unknown", "limit": 2000},
                {"label": "persona", "value": "A careful assistant."}
            ]
        });
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            for (key, value) in extra {
                body.insert(key.clone(), value.clone());
            }
        }
        let r = self.post("/v1/agents", body).await;
        assert_eq!(r.status, 201, "create agent: {}", r.text);
        r.body["id"].as_str().unwrap().to_owned()
    }

    /// Sends one user message and waits for the run (JSON reply).
    pub async fn send_message(&self, agent: &str, text: &str) -> Resp {
        self.post(&format!("/v1/agents/{agent}/messages"), json!({"messages": [{"role": "user", "content": text}]}))
            .await
    }

    /// Sends `body` with `"stream": true` and returns the parsed `data:` events, in order, with the status.
    pub async fn send_streaming(&self, agent: &str, body: Value) -> (u16, Vec<Value>) {
        let mut body = body;
        body["stream"] = json!(true);
        let response = self
            .client
            .post(self.url(&format!("/v1/agents/{agent}/messages")))
            .json(&body)
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        let mut events = Vec::new();
        let mut buffer = String::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            buffer.push_str(&String::from_utf8_lossy(&chunk.expect("stream chunk")));
            while let Some(end) = buffer.find("\n\n") {
                let record: String = buffer.drain(..end + 2).collect();
                let data: Vec<&str> =
                    record.lines().filter_map(|l| l.strip_prefix("data:")).map(str::trim_start).collect();
                if !data.is_empty() {
                    events.push(serde_json::from_str(&data.join("\n")).unwrap_or(Value::Null));
                }
            }
        }
        (status, events)
    }

    /// The agent's whole history, oldest first.
    pub async fn history(&self, agent: &str) -> Vec<Value> {
        self.list_all(&format!("/v1/agents/{agent}/messages"), 1000).await
    }
}
