//! Why a transfer stopped. Every message is one line that names what to look at (the data directory, the table and
//! key, the database's `host:port/database`) and never the database password.

use std::path::PathBuf;

use crate::error::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// The source directory holds no engram database.
    #[error(
        "no engram data in {}: {} does not exist (give the directory `engram serve --data-dir` used)",
        dir.display(),
        file.display()
    )]
    NoSource { dir: PathBuf, file: PathBuf },

    /// The SQLite database could not be opened or read.
    #[error("cannot read the SQLite data in {}: {source}", dir.display())]
    Source {
        dir: PathBuf,
        #[source]
        source: StoreError,
    },

    /// The PostgreSQL database could not be opened (unreachable, a newer schema, …); the message says where.
    #[error("{0}")]
    Target(#[source] StoreError),

    /// Reading or writing a table of the PostgreSQL database failed.
    #[error("PostgreSQL failed on `{table}`: {source}")]
    Table {
        table: &'static str,
        #[source]
        source: StoreError,
    },

    /// The target already holds a row with a source row's key (or unique values) but other content: it was
    /// written after an earlier copy, or holds other data. Every table is checked before anything is written, so
    /// `copied` is 0 unless another writer changed the target during the copy.
    #[error(
        "the target database differs from the source: `{table}` row {key} already exists there and {detail}; {}. \
         `engram migrate` fills an empty database or completes an earlier copy of the same data, it does not merge",
        copied_note(*copied)
    )]
    Diverged { table: &'static str, key: String, detail: String, copied: u64 },

    /// The copy finished but the target does not hold what the source does.
    #[error("verification failed: {0}")]
    Verification(String),
}

fn copied_note(copied: u64) -> String {
    match copied {
        0 => "nothing was copied".to_owned(),
        n => format!("{n} rows were copied before this was found"),
    }
}
