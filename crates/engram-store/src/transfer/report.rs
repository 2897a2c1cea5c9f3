//! What a transfer tells its caller: progress while it runs (through [`Progress`], so this crate stays free of
//! terminal code) and the [`TransferReport`] at the end.

use std::path::PathBuf;

use crate::postgres::VectorPath;

/// The three passes of a transfer, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Every source row whose key the target already has is compared with it; nothing is written.
    Check,
    /// The rows the target lacks are inserted, a batch per transaction.
    Copy,
    /// Every source row is read back from the target and compared, and each organisation's audit chain is followed.
    Verify,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Check => "checking",
            Phase::Copy => "copying",
            Phase::Verify => "verifying",
        }
    }
}

/// Receives progress: one `start` per phase and table (or audit chain), `advance` as its rows are done, `finish`.
pub trait Progress {
    /// `what` (a table, or `audit chain <org>`) begins `phase`; it has `rows` rows to go through.
    fn start(&mut self, phase: Phase, what: &str, rows: u64);
    fn advance(&mut self, rows: u64);
    fn finish(&mut self);
}

/// Progress nobody watches.
#[derive(Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&mut self, _: Phase, _: &str, _: u64) {}
    fn advance(&mut self, _: u64) {}
    fn finish(&mut self) {}
}

/// The outcome of a transfer that finished and verified.
#[derive(Debug, Clone, PartialEq)]
pub struct TransferReport {
    /// The SQLite data directory.
    pub source: PathBuf,
    /// The PostgreSQL database as `host:port/database`.
    pub target: String,
    /// How the target stores and searches vectors.
    pub vector_path: VectorPath,
    /// Per table, in copy order.
    pub tables: Vec<TableReport>,
    /// Per organisation, in id order.
    pub audit: Vec<AuditChain>,
}

impl TransferReport {
    /// Rows inserted into the target by this run.
    pub fn copied(&self) -> u64 {
        self.tables.iter().map(|t| t.copied).sum()
    }

    /// Rows the target already held, equal to the source's.
    pub fn skipped(&self) -> u64 {
        self.tables.iter().map(|t| t.skipped).sum()
    }
}

/// One table's counts. After verification `copied + skipped == source_rows == target_rows`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableReport {
    pub table: &'static str,
    /// Rows in the source.
    pub source_rows: u64,
    /// Rows inserted by this run.
    pub copied: u64,
    /// Rows that were already in the target, equal to the source's (an earlier run copied them).
    pub skipped: u64,
    /// Source rows found in the target, equal to the source's, when verifying.
    pub target_rows: u64,
}

/// One organisation's audit log in the target: `seq` runs from 1 to `events` without gaps, and every event equals
/// the source's (sequence number, action, target, versions and content commitments).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditChain {
    pub org: String,
    pub events: u64,
}
