//! Durability and concurrency: restarts keep everything, shutdown loses no acknowledged write, and concurrent
//! writers to one agent are all acknowledged without "database is locked".

use std::sync::{Arc, Mutex};

use engram_testkit::TestServer;
use serde_json::json;

#[tokio::test]
async fn everything_survives_a_restart() {
    let s = TestServer::spawn().await;
    let agent = s.create_agent("persistent").await;
    let id = agent["id"].as_str().unwrap().to_owned();
    s.patch(&format!("/v1/agents/{id}/blocks/human"), json!({"value": "Name: Ada"})).await;
    let shared = s.post("/v1/blocks", json!({"label": "team", "value": "t"})).await.body;
    s.post(&format!("/v1/agents/{id}/blocks/attach"), json!({"block_id": shared["id"]})).await;
    s.post(
        &format!("/v1/agents/{id}/archival/batch"),
        json!({"items": [{"text": "Ada likes tea"}, {"text": "Ada lives in Lyon"}]}),
    )
    .await;
    let agent_before = s.get(&format!("/v1/agents/{id}")).await.body;
    let passages_before = s.list_all(&format!("/v1/agents/{id}/archival"), 10).await;
    let events_before = crate::audit_events(&s).await;

    let s = s.restart().await;
    assert_eq!(s.get(&format!("/v1/agents/{id}")).await.body, agent_before);
    assert_eq!(s.list_all(&format!("/v1/agents/{id}/archival"), 10).await, passages_before);
    assert_eq!(crate::audit_events(&s).await, events_before);
    let hits = s.get(&format!("/v1/agents/{id}/archival/search?q=Lyon&mode=text")).await;
    assert_eq!(hits.body["results"][0]["passage"]["text"], "Ada lives in Lyon", "the text index survives too");
    // Writing after the restart continues the audit sequence without a gap.
    s.patch(&format!("/v1/agents/{id}/blocks/human"), json!({"value": "Name: Ada L."})).await;
    let events = crate::audit_events(&s).await;
    assert_eq!(events.last().unwrap()["seq"].as_i64().unwrap(), events_before.len() as i64 + 1);
}

#[tokio::test]
async fn eight_clients_fifty_writes_each_to_one_agent() {
    let s = TestServer::spawn().await;
    let id = s.create_agent("busy").await["id"].as_str().unwrap().to_owned();
    let events_before = crate::audit_events(&s).await.len();
    let mut tasks = Vec::new();
    for client in 0..8 {
        let (http, base, id) = (reqwest::Client::new(), s.base.clone(), id.clone());
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..50 {
                let r = if i % 10 == 9 {
                    // Every tenth write edits the shared human block instead.
                    http.patch(format!("{base}/v1/agents/{id}/blocks/human"))
                        .json(&json!({"value": format!("client {client} write {i}")}))
                        .send()
                        .await
                        .unwrap()
                } else {
                    http.post(format!("{base}/v1/agents/{id}/archival"))
                        .json(&json!({"text": format!("client {client} write {i}")}))
                        .send()
                        .await
                        .unwrap()
                };
                let status = r.status().as_u16();
                let body: serde_json::Value = r.json().await.unwrap();
                assert!(status == 200 || status == 201, "client {client} write {i}: {status} {body}");
                if status == 201 {
                    ids.push(body["id"].as_str().unwrap().to_owned());
                }
            }
            ids
        }));
    }
    let mut acked = Vec::new();
    for t in tasks {
        acked.extend(t.await.unwrap());
    }
    assert_eq!(acked.len(), 8 * 45);
    let listed: Vec<String> = s
        .list_all(&format!("/v1/agents/{id}/archival"), 1000)
        .await
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect();
    acked.sort();
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(sorted, acked, "every acknowledged passage is visible, nothing extra");
    let block = s.get(&format!("/v1/agents/{id}/blocks/human")).await.body;
    assert_eq!(block["version"], 1 + 8 * 5);
    let events = crate::audit_events(&s).await;
    assert_eq!(events.len() - events_before, 400, "one event per write");
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (1..=events.len() as i64).collect::<Vec<_>>());
}

#[tokio::test]
async fn graceful_shutdown_loses_no_acknowledged_write() {
    let mut s = TestServer::spawn().await;
    let id = s.create_agent("burst").await["id"].as_str().unwrap().to_owned();
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut tasks = Vec::new();
    for client in 0..8 {
        let (http, base, id, acked) = (reqwest::Client::new(), s.base.clone(), id.clone(), acked.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0.. {
                let sent = http
                    .post(format!("{base}/v1/agents/{id}/archival"))
                    .json(&json!({"text": format!("burst {client}-{i}")}))
                    .send()
                    .await;
                let Ok(r) = sent else { break };
                if r.status().as_u16() != 201 {
                    break;
                }
                let Ok(body) = r.json::<serde_json::Value>().await else { break };
                acked.lock().unwrap().push(body["id"].as_str().unwrap().to_owned());
            }
        }));
    }
    // Stop once the burst is well under way.
    while acked.lock().unwrap().len() < 100 {
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    s.stop().await;
    for t in tasks {
        t.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    let s = s.restart().await;
    let listed: std::collections::HashSet<String> = s
        .list_all(&format!("/v1/agents/{id}/archival"), 1000)
        .await
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect();
    for id in &acked {
        assert!(listed.contains(id), "acknowledged passage {id} was lost");
    }
}
