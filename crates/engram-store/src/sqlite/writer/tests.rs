//! The writer's batches seen from inside: a failing or panicking job is rolled back to its savepoint while its
//! batch-mates commit with gap-free audit numbers, and closing lets queued writes finish.

use chrono::Utc;
use sqlx::sqlite::SqliteConnectOptions;

use engram_core::audit::{Action, Actor, ActorKind, AuditEvent, TargetKind, WriteContext};
use engram_core::org::OrgId;
use engram_core::page::PageLimit;

use super::*;
use crate::Store;
use crate::sqlite::audit::{self, Event};
use crate::sqlite::{DB_FILE, SqliteOptions};
use crate::store::AuditQuery;

type Answer = oneshot::Receiver<Result<i64, StoreError>>;

fn org() -> OrgId {
    OrgId::parse("org", "acme").unwrap()
}

/// A queued job running `work`, and where its answer arrives.
fn queued<F>(work: F) -> (Box<dyn Queued>, Answer)
where
    F: for<'c> FnOnce(&'c mut SqliteConnection) -> JobFuture<'c, i64> + Send + 'static,
{
    let (reply, answer) = oneshot::channel();
    (Box::new(Job { work, reply, queued_at: Instant::now(), durability: Durability::Durable }), answer)
}

/// How a test job ends after recording its audit event.
#[derive(Clone, Copy)]
enum End {
    Succeed,
    Fail,
    Panic,
}

/// Records one audit event about block `target_id` (taking the organisation's next `seq`); answers the seq.
async fn record_event(conn: &mut SqliteConnection, target_id: &str) -> Result<i64, StoreError> {
    let ctx = WriteContext {
        org: org(),
        actor: Actor { kind: ActorKind::ApiKey, id: "key_test".into() },
        run_id: None,
        step_id: None,
        request_id: None,
    };
    let event = Event {
        action: Action::BlockUpdate,
        target_kind: TargetKind::Block,
        target_id,
        agent_id: None,
        before: None,
        after: None,
    };
    audit::record(conn, &ctx, Utc::now(), event).await
}

/// A job that records one audit event (taking the organisation's next `seq`), then ends as told. Answers the seq.
fn audited(end: End) -> (Box<dyn Queued>, Answer) {
    queued(move |conn| {
        Box::pin(async move {
            let seq = record_event(conn, "block_x").await?;
            match end {
                End::Succeed => Ok(seq),
                End::Fail => Err(StoreError::AlreadyExists(format!("job with seq {seq} fails after writing"))),
                End::Panic => panic!("job with seq {seq} panics after writing"),
            }
        })
    })
}

async fn events(store: &SqliteStore) -> Vec<AuditEvent> {
    let query = AuditQuery { after_seq: None, limit: PageLimit::parse("limit", 100).unwrap(), agent_id: None };
    store.list_audit_events(&org(), &query).await.unwrap().items
}

#[tokio::test]
async fn failed_and_panicking_jobs_leave_nothing_while_their_batch_mates_commit() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path(), SqliteOptions::default()).await.unwrap();
    // The batch runs on a connection of its own, as the writer task would run it.
    let mut conn = SqliteConnectOptions::new().filename(dir.path().join(DB_FILE)).connect().await.unwrap();
    let ends = [End::Succeed, End::Fail, End::Succeed, End::Panic, End::Succeed, End::Fail];
    let (batch, answers): (Vec<_>, Vec<_>) = ends.iter().map(|end| audited(*end)).unzip();
    sqlx::raw_sql("BEGIN IMMEDIATE; SAVEPOINT job").execute(&mut conn).await.unwrap();
    let counters = Counters::default();
    let outcome = run_batch(&mut conn, batch, Durability::Durable, &counters).await;
    assert!(outcome.unrun.is_empty() && !outcome.broken);

    let mut got = Vec::new();
    for answer in answers {
        got.push(match answer.await.unwrap() {
            Ok(seq) => format!("ok {seq}"),
            Err(StoreError::AlreadyExists(_)) => "failed".to_owned(),
            Err(StoreError::Database(e)) if e.to_string().contains("panicked") => "panicked".to_owned(),
            Err(other) => format!("unexpected {other:?}"),
        });
    }
    assert_eq!(got, ["ok 1", "failed", "ok 2", "panicked", "ok 3", "failed"]);
    let seqs: Vec<i64> = events(&store).await.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [1, 2, 3], "the failed jobs' events are gone and took no numbers");
    assert_eq!(counters.commits.load(Ordering::Relaxed), 1);
    assert_eq!(counters.jobs.load(Ordering::Relaxed), 3);
    store.close().await;
}

#[tokio::test]
async fn a_batch_of_failures_commits_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path(), SqliteOptions::default()).await.unwrap();
    let mut conn = SqliteConnectOptions::new().filename(dir.path().join(DB_FILE)).connect().await.unwrap();
    let (batch, answers): (Vec<_>, Vec<_>) = [End::Fail, End::Fail].iter().map(|end| audited(*end)).unzip();
    sqlx::raw_sql("BEGIN IMMEDIATE; SAVEPOINT job").execute(&mut conn).await.unwrap();
    let counters = Counters::default();
    run_batch(&mut conn, batch, Durability::Durable, &counters).await;
    for answer in answers {
        assert!(matches!(answer.await.unwrap(), Err(StoreError::AlreadyExists(_))));
    }
    assert!(events(&store).await.is_empty());
    assert_eq!(counters.commits.load(Ordering::Relaxed), 0);
    // The connection is out of its transaction: another one can begin.
    sqlx::raw_sql("BEGIN IMMEDIATE; ROLLBACK").execute(&mut conn).await.unwrap();
    store.close().await;
}

#[tokio::test]
async fn a_panicking_write_fails_alone_and_the_writer_keeps_writing() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path(), SqliteOptions::default()).await.unwrap();
    let (job, answer) = audited(End::Panic);
    store.inner.writer.queue.send(Message::Job(job)).ok().unwrap();
    let error = answer.await.unwrap().unwrap_err();
    assert!(error.to_string().contains("the write panicked: job with seq 1 panics after writing"), "{error}");
    let (job, answer) = audited(End::Succeed);
    store.inner.writer.queue.send(Message::Job(job)).ok().unwrap();
    assert_eq!(answer.await.unwrap().unwrap(), 1, "the panicked write took no seq");
    store.close().await;
}

#[tokio::test]
async fn close_lets_queued_writes_finish_and_refuses_later_ones() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path(), SqliteOptions::default()).await.unwrap();
    let mut answers = Vec::new();
    for _ in 0..10 {
        let (job, answer) = audited(End::Succeed);
        store.inner.writer.queue.send(Message::Job(job)).ok().unwrap();
        answers.push(answer);
    }
    store.close().await;
    let mut seqs = Vec::new();
    for answer in answers {
        seqs.push(answer.await.unwrap().unwrap());
    }
    assert_eq!(seqs, (1..=10).collect::<Vec<i64>>());
    // The writer had not run before they were all queued, so they went in one transaction.
    assert_eq!(store.commit_stats(), CommitStats { commits: 1, synced: 1, jobs: 10 });
    let later = store.write(|conn| Box::pin(async move { Ok(sqlx::query("SELECT 1").execute(conn).await?) })).await;
    assert!(matches!(later, Err(StoreError::Unavailable(_))), "{later:?}");
    // Everything queued before the close was committed: a new store sees it.
    let reopened = SqliteStore::open(dir.path(), SqliteOptions::default()).await.unwrap();
    assert_eq!(events(&reopened).await.len(), 10);
    reopened.close().await;
}

/// The `synchronous` setting the writer connection had during its last job.
async fn synchronous_seen(store: &SqliteStore, durability: Durability) -> i64 {
    store
        .write_with(durability, |conn| {
            Box::pin(async move { Ok(sqlx::query_scalar::<_, i64>("PRAGMA synchronous").fetch_one(conn).await?) })
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn deferred_writes_commit_without_fsync_and_the_next_durable_one_syncs() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path(), SqliteOptions::default()).await.unwrap();
    // SQLite's codes: 1 NORMAL (no fsync at commit in WAL mode), 2 FULL. A read is a job too, and commits.
    let before = store.commit_stats();
    assert_eq!(synchronous_seen(&store, Durability::Deferred).await, 1);
    assert_eq!(synchronous_seen(&store, Durability::Durable).await, 2);
    let after = store.commit_stats();
    assert_eq!((after.commits - before.commits, after.synced - before.synced), (2, 1));

    // A deferred write is committed and visible at once, and survives the process letting go of the database.
    let deferred = store
        .write_with(Durability::Deferred, |conn| Box::pin(async move { record_event(conn, "block_y").await }))
        .await
        .unwrap();
    assert_eq!(deferred, 1);
    let stats = store.commit_stats();
    assert_eq!((stats.commits - after.commits, stats.synced - after.synced), (1, 0), "committed without fsync");
    assert_eq!(events(&store).await.len(), 1, "visible to readers");
    store.close().await;
    let reopened = SqliteStore::open(dir.path(), SqliteOptions::default()).await.unwrap();
    assert_eq!(events(&reopened).await.len(), 1);
    reopened.close().await;
}
