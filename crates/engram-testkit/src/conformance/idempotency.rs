//! Conformance checks for idempotency keys: reserve, replay, mismatch, in-progress, release, expiry, and keys scoped
//! per organisation.

use std::sync::Arc;

use chrono::{Duration, Utc};

use engram_store::{IdempotencyBegin, IdempotencyRecord, Store};

use super::fixtures::*;

pub async fn lifecycle(store: Arc<dyn Store>) {
    let org = org("acme");
    let long_ago = Utc::now() - Duration::days(1);
    let begin = |key: &'static str, fingerprint: &'static str| {
        let store = store.clone();
        let org = org.clone();
        async move { store.idempotency_begin(&org, key, fingerprint, long_ago).await.must("begin") }
    };

    assert_eq!(begin("k1", "POST /v1/agents #1").await, IdempotencyBegin::Started);
    assert_eq!(begin("k1", "POST /v1/agents #1").await, IdempotencyBegin::InProgress);
    assert_eq!(begin("k1", "POST /v1/agents #2").await, IdempotencyBegin::Mismatch);

    store.idempotency_finish(&org, "k1", 201, b"{\"id\":\"agent_1\"}").await.must("finish");
    let record = IdempotencyRecord { status: 201, body: b"{\"id\":\"agent_1\"}".to_vec() };
    assert_eq!(begin("k1", "POST /v1/agents #1").await, IdempotencyBegin::Completed(record.clone()));
    assert_eq!(begin("k1", "POST /v1/agents #1").await, IdempotencyBegin::Completed(record.clone()), "replays repeat");
    assert_eq!(begin("k1", "POST /v1/agents #2").await, IdempotencyBegin::Mismatch);

    // Releasing a completed key keeps its response.
    store.idempotency_release(&org, "k1").await.must("release completed");
    assert_eq!(begin("k1", "POST /v1/agents #1").await, IdempotencyBegin::Completed(record));

    // Releasing a reservation frees the key for a retry, even one with another body.
    assert_eq!(begin("k2", "A").await, IdempotencyBegin::Started);
    store.idempotency_release(&org, "k2").await.must("release");
    assert_eq!(begin("k2", "B").await, IdempotencyBegin::Started);
    assert_eq!(begin("k2", "B").await, IdempotencyBegin::InProgress);

    // Empty bodies and unusual statuses round-trip.
    assert_eq!(begin("k3", "C").await, IdempotencyBegin::Started);
    store.idempotency_finish(&org, "k3", 204, b"").await.must("finish empty");
    let empty = IdempotencyRecord { status: 204, body: Vec::new() };
    assert_eq!(begin("k3", "C").await, IdempotencyBegin::Completed(empty));
}

pub async fn expiry_and_scope(store: Arc<dyn Store>) {
    let acme = org("acme");
    let globex = org("globex");
    let long_ago = Utc::now() - Duration::days(1);
    let future = Utc::now() + Duration::days(1);

    assert_eq!(store.idempotency_begin(&acme, "k", "A", long_ago).await.must("begin"), IdempotencyBegin::Started);
    store.idempotency_finish(&acme, "k", 200, b"first").await.must("finish");
    // The same key in another organisation is another key.
    assert_eq!(store.idempotency_begin(&globex, "k", "B", long_ago).await.must("begin"), IdempotencyBegin::Started);
    let first = IdempotencyRecord { status: 200, body: b"first".to_vec() };
    assert_eq!(
        store.idempotency_begin(&acme, "k", "A", long_ago).await.must("replay"),
        IdempotencyBegin::Completed(first)
    );

    // Records older than `expired_before` count as absent: the key is reserved afresh, for any fingerprint.
    assert_eq!(store.idempotency_begin(&acme, "k", "C", future).await.must("expired"), IdempotencyBegin::Started);
    assert_eq!(store.idempotency_begin(&acme, "k", "C", long_ago).await.must("reserved"), IdempotencyBegin::InProgress);
    assert_eq!(store.idempotency_begin(&acme, "k", "A", long_ago).await.must("old body"), IdempotencyBegin::Mismatch);
    store.idempotency_finish(&acme, "k", 201, b"second").await.must("finish");
    let second = IdempotencyRecord { status: 201, body: b"second".to_vec() };
    assert_eq!(
        store.idempotency_begin(&acme, "k", "C", long_ago).await.must("replay"),
        IdempotencyBegin::Completed(second)
    );
    assert_eq!(store.idempotency_begin(&globex, "k", "B", long_ago).await.must("globex"), IdempotencyBegin::InProgress);
}
