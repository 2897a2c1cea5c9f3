//! Copying a SQLite data directory into a PostgreSQL database (`engram migrate`): every table that holds state, row
//! for row, in three passes over one read snapshot of the source.
//!
//! 1. **Check**: every source row whose key the target already has is compared with the target's row; the first
//!    difference stops the transfer before anything is written ([`TransferError::Diverged`]).
//! 2. **Copy**: table by table, parents first (`tables`), a batch of rows per transaction with
//!    `INSERT … ON CONFLICT DO NOTHING`; rows already there are compared again (a writer may have come in between)
//!    and counted as skipped. Identity columns keep the source's values and their sequences are moved past them.
//! 3. **Verify**: every source row is read back from the target and compared, and each organisation's audit log
//!    is followed in the target: `seq` 1..n without gaps, every event equal to the source's.
//!
//! Re-running is safe: a finished copy is found equal and nothing is written; an interrupted one is completed.
//! Values go through `value`, which reads both backends into one form and writes vectors the way the target stores
//! them (pgvector or bytes), so vector search works on the target at once; PostgreSQL fills its `tsvector` search
//! columns itself. The source is only read (after its own pending migrations, as `engram serve` would apply them);
//! nothing of it changes.

mod error;
mod report;
mod source;
mod tables;
mod target;
mod value;
mod verify;

use std::path::Path;

pub use error::TransferError;
pub use report::{AuditChain, NoProgress, Phase, Progress, TableReport, TransferReport};

use source::Source;
use tables::{TABLES, Table};
use target::Target;
use value::Row;

/// Tuning for a transfer.
#[derive(Debug, Clone)]
pub struct TransferOptions {
    /// Rows per batch: one statement and one transaction on the target.
    pub batch_size: usize,
}

impl Default for TransferOptions {
    fn default() -> Self {
        Self { batch_size: 500 }
    }
}

/// Copies the SQLite store in `data_dir` into the PostgreSQL database at `url` (creating its schema if needed),
/// then verifies the copy. The engram server using `data_dir` should be stopped: the copy is of one snapshot, and
/// what is written after it began is not copied.
pub async fn transfer(
    data_dir: &Path,
    url: &str,
    options: &TransferOptions,
    progress: &mut (dyn Progress + Send),
) -> Result<TransferReport, TransferError> {
    let mut source = Source::open(data_dir).await?;
    let target = match Target::open(url).await {
        Ok(target) => target,
        Err(e) => {
            source.close().await;
            return Err(e);
        }
    };
    let result = run(&mut source, &target, options.batch_size.max(1), progress).await;
    source.close().await;
    target.close().await;
    result
}

async fn run(
    source: &mut Source,
    target: &Target,
    batch: usize,
    progress: &mut (dyn Progress + Send),
) -> Result<TransferReport, TransferError> {
    let mut reports = Vec::with_capacity(TABLES.len());
    for table in TABLES {
        let rows = source.count(table).await?;
        reports.push(TableReport { table: table.name, source_rows: rows, copied: 0, skipped: 0, target_rows: 0 });
    }

    // 1. Check: nothing is written unless every row the target already has equals the source's. The
    // organisations' audit counters (first in `TABLES`) are checked last: a counter differs whenever the source has
    // events the target lacks, and a row of content that differs says more about what happened.
    let mut present = vec![0; TABLES.len()];
    for i in (1..TABLES.len()).chain([0]) {
        let (table, report) = (TABLES[i], &reports[i]);
        progress.start(Phase::Check, table.name, report.source_rows);
        let mut found = 0;
        if !target.is_empty(table).await? {
            let mut batches = Batches::new(table, batch);
            while let Some(rows) = batches.next(source).await? {
                found += target.check(table, &rows).await?;
                progress.advance(rows.len() as u64);
            }
        }
        progress.finish();
        present[i] = found;
    }

    // 2. Copy what is missing.
    let mut copied_so_far = 0;
    for ((table, report), present) in TABLES.iter().zip(&mut reports).zip(present) {
        progress.start(Phase::Copy, table.name, report.source_rows);
        if present == report.source_rows {
            report.skipped = present;
            progress.advance(present);
        } else {
            let mut batches = Batches::new(table, batch);
            while let Some(rows) = batches.next(source).await? {
                let outcome = target.copy(table, &rows).await.map_err(|e| with_copied(e, copied_so_far))?;
                report.copied += outcome.copied;
                report.skipped += outcome.skipped;
                copied_so_far += outcome.copied;
                progress.advance(rows.len() as u64);
            }
        }
        // Also when nothing was missing: an interrupted run may have copied every row but not got this far.
        target.advance_identity(table).await?;
        progress.finish();
    }

    // 3. Verify.
    for (table, report) in TABLES.iter().zip(&mut reports) {
        progress.start(Phase::Verify, table.name, report.source_rows);
        let mut batches = Batches::new(table, batch);
        while let Some(rows) = batches.next(source).await? {
            let found = target.check(table, &rows).await.map_err(|e| with_copied(e, copied_so_far))?;
            report.target_rows += found;
            progress.advance(rows.len() as u64);
        }
        progress.finish();
    }
    verify::counts(&reports)?;
    let audit = verify::audit_chains(source, target, progress).await?;

    Ok(TransferReport {
        source: source.dir().to_path_buf(),
        target: target.store().location().to_owned(),
        vector_path: target.path(),
        tables: reports,
        audit,
    })
}

/// Says how much was written before a divergence was found.
fn with_copied(error: TransferError, copied_so_far: u64) -> TransferError {
    match error {
        TransferError::Diverged { table, key, detail, copied } => {
            TransferError::Diverged { table, key, detail, copied: copied + copied_so_far }
        }
        other => other,
    }
}

/// The most parameters one statement binds (PostgreSQL's limit is 65,535).
const MAX_PARAMETERS: usize = 60_000;

/// A table's source rows a batch at a time, in key order.
struct Batches {
    table: &'static Table,
    size: usize,
    /// The key of the last row handed out; `None` before the first batch.
    after: Option<Row>,
    done: bool,
}

impl Batches {
    fn new(table: &'static Table, size: usize) -> Self {
        // PostgreSQL takes at most 65,535 parameters per statement, and an insert binds one per column and row.
        let size = size.min(MAX_PARAMETERS / table.columns.len().max(1)).max(1);
        Self { table, size, after: None, done: false }
    }

    async fn next(&mut self, source: &mut Source) -> Result<Option<Vec<Row>>, TransferError> {
        if self.done {
            return Ok(None);
        }
        let rows = source.batch(self.table, self.after.as_deref(), self.size).await?;
        self.done = rows.len() < self.size;
        self.after = rows.last().map(|row| row[..self.table.key.len()].to_vec());
        Ok(if rows.is_empty() { None } else { Some(rows) })
    }
}
