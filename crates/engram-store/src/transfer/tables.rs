//! What is copied: every table of the SQLite schema that holds state, in dependency order, with each column's
//! PostgreSQL name, the SQLite expression that yields it and the kind of value it holds (which says how it is read
//! and written on either side).
//!
//! The column lists are explicit, so a column one backend has and the other does not (say, a new nullable one) is
//! neither copied nor a reason to fail; the test at the bottom names every column of both schemas that is left out,
//! so adding a column to the schemas without deciding about it here fails. Derived data is not copied:
//! `passage_tags` (PostgreSQL derives its `search` tsvectors and reads tags from the `tags` array), and the
//! SQLite-only migration bookkeeping.

/// How a column's values are stored on each side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Text,
    Int,
    /// SQLite `INTEGER` 0/1, PostgreSQL `boolean`.
    Bool,
    /// SQLite `INTEGER` microseconds since the epoch, PostgreSQL `timestamptz`.
    Time,
    Bytes,
    /// SQLite JSON array of strings as `TEXT`, PostgreSQL `text[]`.
    TextList,
    /// JSON text on both sides (PostgreSQL `json`, which keeps the text as written).
    Json,
    /// SQLite little-endian `f32` blob; PostgreSQL `vector` with pgvector, else the same bytes as `bytea`.
    Vector,
}

/// One copied column.
#[derive(Debug)]
pub(super) struct Column {
    /// The PostgreSQL column.
    pub name: &'static str,
    /// The SQLite expression giving its value (the column of the same name, unless the schemas differ).
    pub source: &'static str,
    pub kind: Kind,
}

/// One copied table.
#[derive(Debug)]
pub(super) struct Table {
    pub name: &'static str,
    /// The primary key's columns, which are the first of `columns` (in this order); rows are matched by it.
    pub key: &'static [&'static str],
    pub columns: &'static [Column],
    /// A PostgreSQL identity column among `columns`: written with `OVERRIDING SYSTEM VALUE` (it keeps the SQLite
    /// rowid, so orderings and ties stay as they were), and its sequence moved past the largest value afterwards.
    pub identity: Option<&'static str>,
}

const fn col(name: &'static str, kind: Kind) -> Column {
    Column { name, source: name, kind }
}

const fn derived(name: &'static str, source: &'static str, kind: Kind) -> Column {
    Column { name, source, kind }
}

use Kind::{Bool, Bytes, Int, Json, Text, TextList, Time, Vector};

/// Every copied table, parents before children; `orgs` (the audit counters) first.
pub(super) const TABLES: &[&Table] = &[
    &Table {
        name: "orgs",
        key: &["id"],
        columns: &[col("id", Text), col("audit_seq", Int), col("created_at", Time)],
        identity: None,
    },
    &Table {
        name: "agents",
        key: &["id"],
        columns: &[
            col("id", Text),
            col("org_id", Text),
            col("name", Text),
            col("system", Text),
            col("model", Text),
            col("embedding", Text),
            col("context_window", Int),
            col("tools", TextList),
            col("tags", TextList),
            col("metadata", Json),
            col("version", Int),
            col("salt", Bytes),
            col("created_at", Time),
            col("updated_at", Time),
        ],
        identity: None,
    },
    &Table {
        name: "blocks",
        key: &["id"],
        columns: &[
            col("id", Text),
            col("org_id", Text),
            col("label", Text),
            col("value", Text),
            col("char_limit", Int),
            col("description", Text),
            col("read_only", Bool),
            col("version", Int),
            col("standalone", Bool),
            col("owner_agent_id", Text),
            col("salt", Bytes),
            col("created_at", Time),
            col("updated_at", Time),
        ],
        identity: None,
    },
    &Table {
        name: "agent_blocks",
        key: &["agent_id", "block_id"],
        columns: &[
            col("agent_id", Text),
            col("block_id", Text),
            col("label", Text),
            col("position", Int),
            // SQLite orders a block's agents by the implicit rowid; PostgreSQL by this identity column.
            derived("attached", "rowid", Int),
        ],
        identity: Some("attached"),
    },
    &Table {
        name: "passages",
        key: &["id"],
        columns: &[
            col("id", Text),
            col("pk", Int),
            col("org_id", Text),
            col("agent_id", Text),
            col("text", Text),
            col("tags", TextList),
            col("metadata", Json),
            col("salt", Bytes),
            col("embedding", Vector),
            col("embedding_model", Text),
            col("embedding_dim", Int),
            col("created_at", Time),
        ],
        identity: Some("pk"),
    },
    &Table {
        name: "messages",
        key: &["id"],
        columns: &[
            col("id", Text),
            col("pk", Int),
            col("org_id", Text),
            col("agent_id", Text),
            col("position", Int),
            col("run_id", Text),
            col("step_id", Text),
            col("role", Text),
            col("content", Text),
            col("reasoning", Text),
            col("tool_calls", Json),
            col("tool_call_id", Text),
            col("tool_status", Text),
            col("in_context", Bool),
            col("salt", Bytes),
            col("embedding", Vector),
            col("embedding_model", Text),
            // SQLite keeps no dimension for messages: it is the blob's length / 4.
            derived("embedding_dim", "CASE WHEN embedding IS NULL THEN NULL ELSE length(embedding) / 4 END", Int),
            col("created_at", Time),
        ],
        identity: Some("pk"),
    },
    &Table {
        name: "runs",
        key: &["id"],
        columns: &[
            col("id", Text),
            col("org_id", Text),
            col("agent_id", Text),
            col("status", Text),
            col("stop_reason", Text),
            col("error", Text),
            col("input", Json),
            col("cancel_requested", Bool),
            col("created_at", Time),
            col("completed_at", Time),
        ],
        identity: None,
    },
    &Table {
        name: "steps",
        key: &["id"],
        columns: &[
            col("id", Text),
            // SQLite orders a run's steps by the implicit rowid; PostgreSQL by this identity column.
            derived("seq", "rowid", Int),
            col("run_id", Text),
            col("org_id", Text),
            col("model", Text),
            col("prompt_tokens", Int),
            col("completion_tokens", Int),
            col("duration_ms", Int),
            col("created_at", Time),
        ],
        identity: Some("seq"),
    },
    AUDIT_EVENTS,
    &Table {
        name: "idempotency_keys",
        key: &["org_id", "key"],
        columns: &[
            col("org_id", Text),
            col("key", Text),
            col("fingerprint", Text),
            col("status", Int),
            col("body", Bytes),
            col("created_at", Time),
        ],
        identity: None,
    },
];

/// The audit log, which verification also reads per organisation.
pub(super) const AUDIT_EVENTS: &Table = &Table {
    name: "audit_events",
    key: &["org_id", "seq"],
    columns: &[
        col("org_id", Text),
        col("seq", Int),
        col("at", Time),
        col("actor_kind", Text),
        col("actor_id", Text),
        col("action", Text),
        col("target_kind", Text),
        col("target_id", Text),
        col("agent_id", Text),
        col("run_id", Text),
        col("step_id", Text),
        col("request_id", Text),
        col("before_version", Int),
        col("before_hash", Text),
        col("after_version", Int),
        col("after_hash", Text),
    ],
    identity: None,
};

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::str::FromStr;

    use engram_testkit::postgres::{PgVersion, TestDatabase};
    use sqlx::postgres::PgConnectOptions;
    use sqlx::sqlite::SqliteConnectOptions;
    use sqlx::{ConnectOptions, Connection};

    use super::*;
    use crate::Store;

    /// SQLite tables and columns deliberately not copied: derived from copied columns, or bookkeeping.
    const SQLITE_ONLY: &[&str] = &[
        "_sqlx_migrations.*",
        "passage_tags.*",
        "sqlite_sequence.*",
        // Which process owns a run: meaningless in another database (left NULL: nobody owns it).
        "runs.owner",
    ];
    /// PostgreSQL tables and columns not filled from SQLite: generated, or per-process.
    const POSTGRES_ONLY: &[&str] = &["_sqlx_migrations.*", "passages.search", "messages.search", "runs.owner"];

    fn left_out(name: &str, rules: &[&str]) -> bool {
        let table = name.split('.').next().unwrap_or(name);
        rules.iter().any(|rule| {
            rule.strip_suffix(".*").is_some_and(|t| t == table)
                || rule.strip_suffix('*').is_some_and(|prefix| !rule.ends_with(".*") && table.starts_with(prefix))
                || *rule == name
        })
    }

    fn copied() -> BTreeSet<String> {
        TABLES.iter().flat_map(|t| t.columns.iter().map(move |c| format!("{}.{}", t.name, c.name))).collect()
    }

    #[test]
    fn keys_lead_the_column_lists_and_identities_are_columns() {
        for table in TABLES {
            let names: Vec<&str> = table.columns.iter().map(|c| c.name).collect();
            assert_eq!(&names[..table.key.len()], table.key, "{}", table.name);
            if let Some(identity) = table.identity {
                assert!(names.contains(&identity), "{}", table.name);
            }
        }
        assert!(TABLES.iter().any(|t| t.name == AUDIT_EVENTS.name));
        assert_eq!(TABLES[0].name, "orgs", "the check pass takes the counters last by this position");
    }

    /// Every column of both schemas is either copied (and exists on both sides) or named above as left out, so a
    /// new column cannot be forgotten by the migration.
    #[tokio::test]
    async fn every_column_of_both_schemas_is_copied_or_left_out_on_purpose() {
        let dir = tempfile::tempdir().unwrap();
        let sqlite = crate::SqliteStore::open(dir.path(), crate::SqliteOptions::default()).await.unwrap();
        sqlite.close().await;
        let path = dir.path().join(crate::sqlite::DB_FILE);
        let mut conn = SqliteConnectOptions::new().filename(&path).connect().await.unwrap();
        let tables: Vec<String> = sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
            .fetch_all(&mut conn)
            .await
            .unwrap();
        let mut sqlite_columns = BTreeSet::new();
        for table in tables {
            let sql = format!("SELECT name FROM pragma_table_info('{table}')");
            let names: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_all(&mut conn).await.unwrap();
            sqlite_columns.extend(names.into_iter().map(|c| format!("{table}.{c}")));
        }
        conn.close().await.unwrap();

        let database = TestDatabase::create(PgVersion::Pg16).await;
        let postgres = crate::PostgresStore::open(database.url(), crate::PostgresOptions::default()).await.unwrap();
        postgres.close().await;
        let mut conn = PgConnectOptions::from_str(database.url()).unwrap().connect().await.unwrap();
        let postgres_columns: BTreeSet<String> = sqlx::query_scalar(
            "SELECT table_name::text || '.' || column_name::text FROM information_schema.columns \
             WHERE table_schema = 'public'",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap()
        .into_iter()
        .collect();
        conn.close().await.unwrap();

        let copied = copied();
        // The SQLite side of a derived column is an expression, not a column of that name.
        let derived: BTreeSet<String> = TABLES
            .iter()
            .flat_map(|t| {
                t.columns.iter().filter(|c| c.source != c.name).map(move |c| format!("{}.{}", t.name, c.name))
            })
            .collect();
        let missing_in_postgres: Vec<&String> = copied.iter().filter(|c| !postgres_columns.contains(*c)).collect();
        assert!(missing_in_postgres.is_empty(), "copied but not in PostgreSQL: {missing_in_postgres:?}");
        let missing_in_sqlite: Vec<&String> =
            copied.iter().filter(|c| !derived.contains(*c) && !sqlite_columns.contains(*c)).collect();
        assert!(missing_in_sqlite.is_empty(), "copied but not in SQLite: {missing_in_sqlite:?}");
        let forgotten: Vec<&String> =
            sqlite_columns.iter().filter(|c| !copied.contains(*c) && !left_out(c, SQLITE_ONLY)).collect();
        assert!(forgotten.is_empty(), "SQLite columns neither copied nor left out on purpose: {forgotten:?}");
        let unfilled: Vec<&String> =
            postgres_columns.iter().filter(|c| !copied.contains(*c) && !left_out(c, POSTGRES_ONLY)).collect();
        assert!(unfilled.is_empty(), "PostgreSQL columns neither copied nor left out on purpose: {unfilled:?}");
    }
}
