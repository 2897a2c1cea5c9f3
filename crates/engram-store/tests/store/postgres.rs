//! The PostgreSQL backend: the whole conformance suite on PostgreSQL 16 with pgvector and on PostgreSQL 15 without
//! it (each check in a fresh database), and what only PostgreSQL has to show: migrations and their refusal of a
//! newer schema, the vector path each server gets, the HNSW path agreeing with the exact one, two stores (as two
//! processes would) writing one database, and clear `Unavailable` errors when the server cannot be reached at start
//! or goes away, with recovery when it comes back.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use engram_core::message::Role;
use engram_core::passage::{Embedding, NewPassage};
use engram_core::search::{PassageFilter, PassageQuery};
use engram_store::postgres::known_schema_version;
use engram_store::{PostgresOptions, PostgresStore, Store, StoreError, VectorPath};
use engram_testkit::conformance::fixtures::{
    Must, all_events, all_messages, assert_gap_free, bare_agent, ctx, message, new_agent, org, passage,
};
use engram_testkit::conformance::{FreshStore, StoreFactory};
use engram_testkit::postgres::{PgVersion, TestDatabase};
use sqlx::{ConnectOptions, Connection, PgConnection};

/// Opens a fresh PostgreSQL store in a new database for each conformance check.
struct Postgres(PgVersion);

impl StoreFactory for Postgres {
    async fn fresh(&self) -> FreshStore {
        let database = TestDatabase::create(self.0).await;
        let store = PostgresStore::open(database.url(), PostgresOptions::default()).await.must("open postgres store");
        FreshStore::new(Arc::new(store), database)
    }
}

mod pg16_conformance {
    engram_testkit::store_conformance_tests!(super::Postgres(engram_testkit::postgres::PgVersion::Pg16));
}

mod pg15_conformance {
    engram_testkit::store_conformance_tests!(super::Postgres(engram_testkit::postgres::PgVersion::Pg15));
}

const BOTH: [PgVersion; 2] = [PgVersion::Pg16, PgVersion::Pg15];

async fn open(database: &TestDatabase) -> PostgresStore {
    PostgresStore::open(database.url(), PostgresOptions::default()).await.must("open postgres store")
}

async fn raw(url: &str) -> PgConnection {
    url.parse::<sqlx::postgres::PgConnectOptions>().must("url").connect().await.must("raw connection")
}

async fn applied_migrations(url: &str) -> Vec<(i64, bool)> {
    let mut conn = raw(url).await;
    let applied = sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version")
        .fetch_all(&mut conn)
        .await
        .must("migrations");
    conn.close().await.must("close");
    applied
}

#[tokio::test]
async fn migrations_apply_to_an_empty_database_and_reopening_applies_nothing() {
    for version in BOTH {
        let database = TestDatabase::create(version).await;
        let store = open(&database).await;
        store.ping().await.must("ping");
        assert_eq!(store.backend(), "postgres");
        store.close().await;
        let applied = applied_migrations(database.url()).await;
        assert_eq!(applied.last(), Some(&(known_schema_version(), true)), "{version:?}");

        let store = open(&database).await;
        let agent = store.create_agent(&ctx(&org("acme")), new_agent("Ada")).await.must("create agent");
        store.close().await;
        assert_eq!(applied_migrations(database.url()).await, applied, "reopening applies nothing");
        let store = open(&database).await;
        assert_eq!(store.get_agent(&org("acme"), agent.id).await.must("get after reopen"), agent);
        store.close().await;
    }
}

#[tokio::test]
async fn a_newer_schema_is_refused_and_left_unchanged() {
    let database = TestDatabase::create(PgVersion::Pg16).await;
    let store = open(&database).await;
    let acme = org("acme");
    let agent = store.create_agent(&ctx(&acme), new_agent("Ada")).await.must("create agent");
    store.close().await;

    let mut conn = raw(database.url()).await;
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99990101000000, 'from the future', TRUE, '\\x00', 0)",
    )
    .execute(&mut conn)
    .await
    .must("insert future migration");
    let fingerprint = "SELECT (SELECT string_agg(version::text, ',' ORDER BY version) FROM _sqlx_migrations) || '/' || \
                       (SELECT count(*) FROM agents) || '/' || (SELECT count(*) FROM audit_events)";
    let before: String = sqlx::query_scalar(fingerprint).fetch_one(&mut conn).await.must("fingerprint");

    match PostgresStore::open(database.url(), PostgresOptions::default()).await {
        Err(StoreError::SchemaTooNew { found, known }) => {
            assert_eq!((found, known), (99_990_101_000_000, known_schema_version()));
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
    let after: String = sqlx::query_scalar(fingerprint).fetch_one(&mut conn).await.must("fingerprint again");
    assert_eq!(before, after, "a refused database is not modified");

    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = 99990101000000").execute(&mut conn).await.must("delete");
    conn.close().await.must("close");
    let store = open(&database).await;
    assert_eq!(store.get_agent(&acme, agent.id).await.must("get agent"), agent, "opens again, data intact");
    store.close().await;
}

#[tokio::test]
async fn the_vector_path_is_pgvector_where_the_extension_exists_and_exact_elsewhere() {
    for (version, path) in [(PgVersion::Pg16, VectorPath::Pgvector), (PgVersion::Pg15, VectorPath::Exact)] {
        let database = TestDatabase::create(version).await;
        let store = open(&database).await;
        assert_eq!(store.vector_path(), path, "{version:?}");
        assert_eq!(store.capabilities().vector_path, Some(path.as_str()));
        store.close().await;
    }
    assert_eq!((VectorPath::Pgvector.as_str(), VectorPath::Exact.as_str()), ("pgvector", "exact"));
}

/// A 384-dimensional vector at angle `theta` from the first axis (towards the second), with a small component of its
/// own on a third axis, so that every vector is distinct and its cosine with the first axis is `cos(theta)` scaled.
fn direction(theta: f32, own_axis: usize) -> Vec<f32> {
    let mut v = vec![0.0_f32; 384];
    v[0] = theta.cos();
    v[1] = theta.sin();
    v[2 + own_axis % 382] = 0.01;
    v
}

fn embedded(text: &str, tags: &[&str], v: Vec<f32>) -> NewPassage {
    let mut new = passage(text, tags, None);
    new.embedding = Some(Embedding { model: "local/all-minilm-l6-v2".into(), vector: v });
    new
}

/// With the threshold at 0 every search goes through the HNSW index of its dimension; the answers are those of the
/// exact ranking of another store on the same database, and a filter that leaves too few rows for the index falls
/// back to the exact ranking instead of returning fewer results.
#[tokio::test]
async fn the_hnsw_path_answers_like_the_exact_one() {
    let database = TestDatabase::create(PgVersion::Pg16).await;
    let exact = open(&database).await;
    let options = PostgresOptions { ann_threshold: 0, ..PostgresOptions::default() };
    let indexed = PostgresStore::open(database.url(), options).await.must("open with threshold 0");
    let acme = org("acme");
    let agent = exact.create_agent(&ctx(&acme), bare_agent("Ada")).await.must("agent");
    let other = exact.create_agent(&ctx(&acme), bare_agent("Bob")).await.must("other agent");
    // Distinct angles, so no two passages tie: the exact answer is one list.
    let step = std::f32::consts::PI / 64.0;
    let batch: Vec<NewPassage> = (0..60)
        .map(|i| {
            let tags: &[&str] = if i % 10 == 0 { &["rare"] } else { &[] };
            embedded(&format!("p{i}"), tags, direction(i as f32 * step, i))
        })
        .collect();
    exact.insert_passages(&ctx(&acme), agent.id, batch).await.must("insert");
    // Another agent's vectors, all tagged, right between the first agent's: they fill the index's answers.
    let others: Vec<NewPassage> =
        (0..60).map(|i| embedded(&format!("o{i}"), &["rare"], direction((i as f32 + 0.5) * step, i))).collect();
    exact.insert_passages(&ctx(&acme), other.id, others).await.must("insert other");

    let probe = Embedding { model: "local/all-minilm-l6-v2".into(), vector: direction(0.0, 383) };
    let rare = PassageFilter { tags: vec![engram_testkit::conformance::fixtures::tag("rare")], ..Default::default() };
    let cases =
        [(PassageFilter::default(), ["p0", "p1", "p2", "p3", "p4"]), (rare, ["p0", "p10", "p20", "p30", "p40"])];
    for (filter, expected) in cases {
        let query = PassageQuery { text: String::new(), k: 5, filter };
        let want = exact.search_passages_vector(&acme, agent.id, &query, &probe).await.must("exact search");
        let got = indexed.search_passages_vector(&acme, agent.id, &query, &probe).await.must("indexed search");
        let texts = |results: &[engram_core::search::Scored<engram_core::passage::Passage>]| {
            results.iter().map(|r| r.item.text.clone()).collect::<Vec<_>>()
        };
        assert_eq!(texts(&want), expected, "the exact ranking");
        assert_eq!(texts(&got), expected, "the index's ranking, or the exact one it fell back to");
        for (got, want) in got.iter().zip(&want) {
            assert!((got.score - want.score).abs() < 1e-4, "{} scores {} and {}", got.item.text, got.score, want.score);
        }
    }
    exact.close().await;
    indexed.close().await;
}

/// Two stores on one database, as two engram processes would be: writes of one organisation from both keep the
/// audit sequence and the message positions gap-free, and each store sees the other's writes at once.
#[tokio::test]
async fn two_stores_on_one_database_keep_seq_and_positions_gap_free() {
    for version in BOTH {
        let database = TestDatabase::create(version).await;
        let stores = [Arc::new(open(&database).await), Arc::new(open(&database).await)];
        let acme = org("acme");
        let agent = stores[0].create_agent(&ctx(&acme), bare_agent("Ada")).await.must("agent");
        let mut tasks = Vec::new();
        for (i, store) in stores.iter().enumerate() {
            for task in 0..3 {
                let (store, acme) = (store.clone(), acme.clone());
                tasks.push(tokio::spawn(async move {
                    for n in 0..10 {
                        let text = format!("store {i} task {task} message {n}");
                        store
                            .append_messages(&ctx(&acme), agent.id, vec![message(Role::User, &text)])
                            .await
                            .must("append");
                        store
                            .insert_passages(&ctx(&acme), agent.id, vec![passage(&text, &[], None)])
                            .await
                            .must("insert");
                    }
                }));
            }
        }
        for task in tasks {
            task.await.must("task");
        }
        for store in &stores {
            let events = all_events(store.as_ref(), &acme).await;
            assert_eq!(events.len(), 1 + 2 * 60, "{version:?}");
            assert_gap_free(&events);
            let listed = store.list_messages(&acme, agent.id, &all_messages()).await.must("list").items;
            let positions: Vec<i64> = listed.iter().map(|m| m.position).collect();
            assert_eq!(positions, (1..=60).collect::<Vec<_>>(), "positions are gap-free across stores");
            assert_eq!(store.count_passages(&acme, agent.id).await.must("count"), 60);
        }
        for store in &stores {
            store.close().await;
        }
    }
}

#[tokio::test]
async fn an_unreachable_database_fails_clearly_at_open() {
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0").must("bind").local_addr().must("addr").port();
    let url = format!("postgres://engram:s3cret-password@127.0.0.1:{port}/engram");
    let options = PostgresOptions { acquire_timeout: Duration::from_secs(2), ..PostgresOptions::default() };
    match PostgresStore::open(&url, options).await {
        Err(StoreError::Unavailable(message)) => {
            assert!(message.contains(&format!("127.0.0.1:{port}/engram")), "names where it tried: {message}");
            assert!(!message.contains("s3cret"), "never the password: {message}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    match PostgresStore::open("postgres://[not a url", PostgresOptions::default()).await {
        Err(StoreError::Unavailable(message)) => assert!(message.contains("not a valid PostgreSQL URL"), "{message}"),
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

/// A PostgreSQL 15 cluster of this test's own (the machine's binaries, as `scripts/test-postgres pg15` uses), on its
/// own port and data directory, so that it can be stopped and started without disturbing other tests.
struct Cluster {
    dir: PathBuf,
    port: u16,
}

const PG15_BIN: &str = "/usr/lib/postgresql/15/bin";

/// Runs a PostgreSQL binary, as the `postgres` system user when we are root (PostgreSQL refuses to run as root).
fn pg(binary: &str, args: &[&str]) {
    let program = Path::new(PG15_BIN).join(binary);
    let is_root = Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0\n")).unwrap_or(false);
    let mut command = if is_root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(&program);
        c
    } else {
        Command::new(&program)
    };
    let output = command.args(args).output().must(binary);
    assert!(output.status.success(), "{binary} {args:?}: {}", String::from_utf8_lossy(&output.stderr));
}

impl Cluster {
    fn create() -> Self {
        let dir = std::env::temp_dir().join(format!("engram-outage-{}", ulid::Ulid::new().to_string().to_lowercase()));
        std::fs::create_dir_all(&dir).must("cluster dir");
        // World-writable (sticky), so the `postgres` user can create the cluster inside it.
        Command::new("chmod").arg("1777").arg(&dir).status().must("chmod");
        let port = std::net::TcpListener::bind("127.0.0.1:0").must("bind").local_addr().must("addr").port();
        let cluster = Self { dir, port };
        let data = cluster.data();
        pg("initdb", &["-D", &data, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C"]);
        cluster
    }

    fn data(&self) -> String {
        self.dir.join("cluster").display().to_string()
    }

    fn start(&self) {
        let options = format!("-p {} -c listen_addresses=127.0.0.1 -k {}", self.port, self.data());
        let log = self.dir.join("cluster").join("server.log").display().to_string();
        pg("pg_ctl", &["-D", &self.data(), "-l", &log, "-w", "-t", "60", "-o", &options, "start"]);
    }

    fn stop(&self) {
        pg("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"]);
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.data();
        let _ = std::panic::catch_unwind(|| pg("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[track_caller]
fn assert_unavailable<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) {
    match result {
        Err(StoreError::Unavailable(_)) => {}
        other => panic!("{what}: expected Unavailable while the server is down, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_whose_server_goes_away_answers_unavailable_and_recovers() {
    let cluster = tokio::task::spawn_blocking(|| {
        let cluster = Cluster::create();
        cluster.start();
        cluster
    })
    .await
    .must("start the cluster");
    let options = PostgresOptions { acquire_timeout: Duration::from_secs(1), ..PostgresOptions::default() };
    let store = PostgresStore::open(&cluster.url(), options).await.must("open");
    let acme = org("acme");
    let agent = store.create_agent(&ctx(&acme), new_agent("Ada")).await.must("create agent");

    let cluster = tokio::task::spawn_blocking(move || {
        cluster.stop();
        cluster
    })
    .await
    .must("stop the cluster");
    assert_unavailable(store.ping().await, "ping");
    assert_unavailable(store.get_agent(&acme, agent.id).await, "get agent");
    assert_unavailable(store.create_agent(&ctx(&acme), bare_agent("Bob")).await, "create agent");
    assert_unavailable(store.append_messages(&ctx(&acme), agent.id, vec![message(Role::User, "hi")]).await, "append");

    let cluster = tokio::task::spawn_blocking(move || {
        cluster.start();
        cluster
    })
    .await
    .must("restart the cluster");
    store.ping().await.must("ping after the server is back");
    assert_eq!(store.get_agent(&acme, agent.id).await.must("get agent after recovery"), agent);
    store.create_agent(&ctx(&acme), bare_agent("Bob")).await.must("write after recovery");
    let events = all_events(&store, &acme).await;
    assert_gap_free(&events);
    assert_eq!(events.len(), 4, "agent, two blocks, then Bob: the failed writes recorded nothing");
    store.close().await;
    drop(cluster);
}
