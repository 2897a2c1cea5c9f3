//! The store layer's error enum. The HTTP layer maps every variant to a status and a stable code with an exhaustive
//! `match`, so adding a variant forces a decision there.

use engram_core::ValidationError;
use engram_core::block::LimitExceeded;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The object does not exist in the caller's organisation (another tenant's objects are reported the same way).
    #[error("{kind} `{id}` not found")]
    NotFound { kind: &'static str, id: String },

    /// A unique constraint a client can trip, e.g. two blocks with one label on an agent.
    #[error("{0}")]
    AlreadyExists(String),

    /// `If-Match` named a block version that is no longer current, or a run was not in the stage a transition needs
    /// (a run's version is its stage: 1 queued, 2 running, 3 ended).
    #[error("the version is {actual}, not {expected}: reload and retry")]
    VersionConflict { expected: i64, actual: i64 },

    /// A block value does not fit its limit.
    #[error(transparent)]
    LimitExceeded(#[from] LimitExceeded),

    /// Deleting a block that agents still use, without `force`.
    #[error("block `{block_id}` is attached to {} agent(s); detach it first or delete with force=true", agent_ids.len())]
    BlockInUse { block_id: String, agent_ids: Vec<String> },

    /// A value the store checks against stored state (a cursor that names nothing, …).
    #[error(transparent)]
    Invalid(#[from] ValidationError),

    /// Vectors made by one embedding model meet vectors of another: an agent's stored embeddings and a new one (or a
    /// query's) differ in model or dimension. Comparing them would be meaningless, so nothing is searched or written.
    #[error(
        "this agent's {kind} are embedded with `{stored_model}` ({stored_dim} dimensions), but the {what} is embedded \
         with `{model}` ({dim} dimensions); vectors of different models cannot be compared. Set the agent's \
         `embedding` back to `{stored_model}`, or search with mode=text"
    )]
    EmbeddingMismatch {
        kind: &'static str,
        what: &'static str,
        stored_model: String,
        stored_dim: usize,
        model: String,
        dim: usize,
    },

    /// An agent's embedding model cannot change: it has passages or messages embedded with the current one.
    #[error(
        "this agent has passages or messages embedded with `{model}`; its embedding model cannot change while they \
         exist, because vectors of different models cannot be compared"
    )]
    EmbeddingInUse { model: String },

    /// The data directory (or PostgreSQL database) was written by a newer engram. Never deleted or downgraded: the
    /// user must upgrade.
    #[error(
        "this data directory (or database) was written by a newer engram (schema version {found}; this build knows \
         up to {known}). Upgrade engram to open it; the data has not been changed"
    )]
    SchemaTooNew { found: i64, known: i64 },

    /// The database cannot be reached (file system error, server down). Callers may retry.
    #[error("storage unavailable: {0}")]
    Unavailable(String),

    /// Stored data that does not parse back into domain types: corruption or a bug, never a client's fault.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),

    /// Any other database failure.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),

    /// Failure to apply migrations for a reason other than a newer schema.
    #[error("migration failed: {0}")]
    Migration(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e.to_string()),
            sqlx::Error::Database(db) => match db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                Some(pg) => {
                    let code = pg.code().to_owned();
                    from_postgres(&code, e)
                }
                None => StoreError::Database(e),
            },
            _ => StoreError::Database(e),
        }
    }
}

/// Sorts a PostgreSQL error by its SQLSTATE: the server going away, refusing connections or not answering in time
/// is [`StoreError::Unavailable`] (the request may be retried; engram keeps running and reconnects), text that
/// PostgreSQL cannot store is the client's [`StoreError::Invalid`], and anything else is a database error.
fn from_postgres(code: &str, e: sqlx::Error) -> StoreError {
    let unavailable = |what: &str| StoreError::Unavailable(format!("{what} ({e})"));
    match code {
        // Class 08: connection exceptions. 57P01–57P03: the server is shutting down, crashed or starting up.
        // 53xxx: out of connections, memory or disk. 58xxx: system errors (I/O).
        c if c.starts_with("08") || c.starts_with("53") || c.starts_with("58") => {
            unavailable("the database cannot serve requests now")
        }
        "57P01" | "57P02" | "57P03" | "57P04" | "57P05" => unavailable("the database server is not available"),
        // Statement timeout (or a cancel): the database did not answer in time.
        "57014" => unavailable("the database did not answer within the statement timeout"),
        // Serialization failures and deadlocks: nothing was written, and a retry can succeed.
        "40001" | "40P01" => unavailable("a concurrent write conflicted with this one; nothing was written"),
        // The NUL character (U+0000), which PostgreSQL text cannot hold.
        "22021" | "22P05" => StoreError::Invalid(ValidationError::new(
            "",
            "text containing the NUL character (U+0000) cannot be stored; remove it and retry",
        )),
        _ => StoreError::Database(e),
    }
}

impl StoreError {
    pub fn not_found(kind: &'static str, id: impl ToString) -> Self {
        Self::NotFound { kind, id: id.to_string() }
    }
}
