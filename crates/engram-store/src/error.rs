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

    /// The data directory was written by a newer engram. Never deleted or downgraded: the user must upgrade.
    #[error(
        "this data directory was written by a newer engram (schema version {found}; this build knows up to \
         {known}). Upgrade engram to open it; the data has not been changed"
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
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Tls(_) => {
                StoreError::Unavailable(e.to_string())
            }
            _ => StoreError::Database(e),
        }
    }
}

impl StoreError {
    pub fn not_found(kind: &'static str, id: impl ToString) -> Self {
        Self::NotFound { kind, id: id.to_string() }
    }
}
