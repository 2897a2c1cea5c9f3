//! Group commit: the task that owns the writer connection and runs every write of the store.
//!
//! A write is a job sent to the task over a channel ([`SqliteStore::write`]). The task takes the first job waiting,
//! then the others already queued (at most [`MAX_BATCH_JOBS`], never waiting for more), and runs them in one
//! transaction (`BEGIN IMMEDIATE`), each inside its own savepoint: a job that fails is rolled back to its savepoint, so
//! it changes nothing (its audit events and their `seq` included) while the others keep their changes. One `COMMIT`
//! (one WAL fsync) then makes the whole batch durable, and only then does each job's caller get its result; if the
//! commit fails, every job of the batch gets the error. Jobs run one after another on the one connection, so each sees
//! the changes of those queued before it, as if each had committed on its own; readers see a batch when it commits.
//! A job alone in its batch (no load) runs in a plain transaction without savepoints: an idle store pays nothing for
//! batching, and nothing waits to form a batch.
//!
//! A job is [`Durability::Durable`] (the default) or [`Durability::Deferred`]. A batch of deferred jobs only commits
//! with `synchronous = NORMAL`: the commit is visible and survives the process crashing, but the WAL is not fsynced,
//! so it is not yet safe from a power cut. The next durable batch's fsync of the WAL makes every earlier frame
//! durable with it. The store defers only the writes of a run in progress, whose caller hears of them when the run
//! ends (with a durable write).

use std::any::Any;
use std::collections::VecDeque;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, SqliteConnection};
use tokio::sync::{mpsc, oneshot, watch};

use super::SqliteStore;
use crate::error::StoreError;

/// The most jobs one transaction takes. Bounds how long the first job of a batch waits for its batch-mates.
const MAX_BATCH_JOBS: usize = 64;

/// Whether a write's commit must be fsynced before its caller hears of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Durability {
    /// Answered once the commit is on disk (fsynced).
    Durable,
    /// Answered once committed; made durable by the next durable commit. For writes nobody is told of yet.
    Deferred,
}

/// A job's work, boxed: it runs inside the writer's transaction on the connection it is lent.
pub(super) type JobFuture<'c, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'c>>;

/// A type-erased job's run: what it leaves for the end of the batch.
type RanFuture<'c> = Pin<Box<dyn Future<Output = Box<dyn Ran>> + Send + 'c>>;

/// How the writer has grouped writes so far, for metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// Write transactions committed.
    pub commits: u64,
    /// Those of them that were fsynced (all but the batches of deferred writes only).
    pub synced: u64,
    /// Write operations those commits made durable (failed writes, rolled back, are not counted).
    pub jobs: u64,
}

#[derive(Default)]
struct Counters {
    commits: AtomicU64,
    synced: AtomicU64,
    jobs: AtomicU64,
}

/// What the queue carries.
enum Message {
    Job(Box<dyn Queued>),
    /// Finish what is queued, then close the connection.
    Close,
}

/// The store's handle on its writer task.
pub(super) struct Writer {
    queue: mpsc::UnboundedSender<Message>,
    /// Becomes `true` (or its sender goes away) when the task has stopped and closed the connection.
    stopped: watch::Receiver<bool>,
    counters: Arc<Counters>,
}

impl Writer {
    /// Starts the task on the current runtime with the (migrated) connection. `reconnect` opens a new connection if
    /// this one breaks; a job still queued after `queue_wait` fails without running.
    pub(super) fn start(conn: SqliteConnection, reconnect: SqliteConnectOptions, queue_wait: Duration) -> Self {
        let (queue, receiver) = mpsc::unbounded_channel();
        let (stopped_tx, stopped) = watch::channel(false);
        let counters = Arc::new(Counters::default());
        let task = Task {
            receiver,
            pending: VecDeque::new(),
            conn: Some(conn),
            reconnect,
            queue_wait,
            counters: counters.clone(),
        };
        tokio::spawn(async move {
            task.run().await;
            stopped_tx.send_replace(true);
        });
        Self { queue, stopped, counters }
    }

    /// Lets the jobs already queued finish, then closes the connection. Later writes fail with `Unavailable`.
    pub(super) async fn close(&self) {
        // A closed queue means the task is stopping already; either way, wait until it has.
        let _ = self.queue.send(Message::Close);
        let mut stopped = self.stopped.clone();
        let _ = stopped.wait_for(|stopped| *stopped).await;
    }

    pub(super) fn stats(&self) -> CommitStats {
        CommitStats {
            commits: self.counters.commits.load(Ordering::Relaxed),
            synced: self.counters.synced.load(Ordering::Relaxed),
            jobs: self.counters.jobs.load(Ordering::Relaxed),
        }
    }
}

impl SqliteStore {
    /// Runs `work` as one write: in the writer's transaction, possibly together with other writes, each isolated by a
    /// savepoint. Returns its result once the transaction is committed (durable), or its own error (then it changed
    /// nothing). What `work` captures must be owned: clone the context, ids and the store it needs. `work` must not
    /// start another write (it would wait for itself): everything one write changes happens inside one `work`.
    pub(super) async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> JobFuture<'c, T> + Send + 'static,
    {
        self.write_with(Durability::Durable, work).await
    }

    /// [`SqliteStore::write`] with a choice of [`Durability`].
    pub(super) async fn write_with<T, F>(&self, durability: Durability, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> JobFuture<'c, T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Job { work, reply, queued_at: Instant::now(), durability };
        self.inner
            .writer
            .queue
            .send(Message::Job(Box::new(job)))
            .map_err(|_| StoreError::Unavailable("the store is closed".into()))?;
        answer.await.unwrap_or_else(|_| Err(StoreError::Unavailable("the writer stopped before the write ran".into())))
    }

    /// [`SqliteStore::write`], then `after` with what the work handed over, once its changes are committed (e.g. to
    /// update the in-memory vector indexes). Both run on a task of their own, so a caller that stops waiting cannot
    /// leave a committed write without its follow-up.
    pub(super) async fn write_then<T, H, F, A, Fut>(&self, work: F, after: A) -> Result<T, StoreError>
    where
        T: Send + 'static,
        H: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> JobFuture<'c, (T, H)> + Send + 'static,
        A: FnOnce(SqliteStore, H) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send,
    {
        let store = self.clone();
        let task = tokio::spawn(async move {
            let (value, handover) = store.write(work).await?;
            after(store, handover).await;
            Ok(value)
        });
        match task.await {
            Ok(result) => result,
            Err(error) if error.is_panic() => Err(panicked(error.into_panic())),
            Err(_) => Err(StoreError::Unavailable("the runtime is shutting down".into())),
        }
    }

    /// How many commits the writer has made and how many writes they carried.
    pub fn commit_stats(&self) -> CommitStats {
        self.inner.writer.stats()
    }
}

/// A queued job, its result type erased.
trait Queued: Send {
    fn queued_at(&self) -> Instant;
    fn durability(&self) -> Durability;
    /// Runs the work on `conn`; never panics (a panic in the work becomes its error).
    fn run<'c>(self: Box<Self>, conn: &'c mut SqliteConnection) -> RanFuture<'c>;
    /// Answers without running.
    fn fail(self: Box<Self>, error: StoreError);
}

/// A job that has run, its result held until the batch's fate is known.
trait Ran: Send {
    fn succeeded(&self) -> bool;
    /// Sends the result: the job's own, or `failure` (the batch did not commit) if the job had succeeded.
    fn settle(self: Box<Self>, failure: Option<StoreError>);
}

struct Job<T, F> {
    work: F,
    reply: oneshot::Sender<Result<T, StoreError>>,
    queued_at: Instant,
    durability: Durability,
}

struct Done<T> {
    result: Result<T, StoreError>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Queued for Job<T, F>
where
    T: Send + 'static,
    F: for<'c> FnOnce(&'c mut SqliteConnection) -> JobFuture<'c, T> + Send + 'static,
{
    fn queued_at(&self) -> Instant {
        self.queued_at
    }

    fn durability(&self) -> Durability {
        self.durability
    }

    fn run<'c>(self: Box<Self>, conn: &'c mut SqliteConnection) -> RanFuture<'c> {
        let Job { work, reply, .. } = *self;
        Box::pin(async move {
            let result = match panic::catch_unwind(AssertUnwindSafe(|| work(conn))) {
                Ok(future) => caught(future).await,
                Err(payload) => Err(panicked(payload)),
            };
            Box::new(Done { result, reply }) as Box<dyn Ran>
        })
    }

    fn fail(self: Box<Self>, error: StoreError) {
        // The caller may have stopped waiting; then nobody needs the answer.
        let _ = self.reply.send(Err(error));
    }
}

impl<T: Send> Ran for Done<T> {
    fn succeeded(&self) -> bool {
        self.result.is_ok()
    }

    fn settle(self: Box<Self>, failure: Option<StoreError>) {
        let result = match (self.result, failure) {
            (Ok(_), Some(error)) => Err(error),
            (result, _) => result,
        };
        let _ = self.reply.send(result);
    }
}

/// Polls `future` to completion, turning a panic into an error.
async fn caught<T>(mut future: JobFuture<'_, T>) -> Result<T, StoreError> {
    let outcome = std::future::poll_fn(|cx| match panic::catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
        Ok(poll) => poll.map(Ok),
        Err(payload) => Poll::Ready(Err(payload)),
    })
    .await;
    outcome.unwrap_or_else(|payload| Err(panicked(payload)))
}

/// The error a panicking write reports: a bug in engram, not the caller's fault.
fn panicked(payload: Box<dyn Any + Send>) -> StoreError {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_owned());
    tracing::error!(panic = %message, "a write panicked; it was rolled back");
    StoreError::Database(sqlx::Error::Protocol(format!("the write panicked: {message}")))
}

/// The same failure for another job of the batch (`StoreError` is not `Clone`).
fn copy_error(error: &StoreError) -> StoreError {
    match error {
        StoreError::Unavailable(message) => StoreError::Unavailable(message.clone()),
        StoreError::Database(sqlx::Error::Protocol(message)) => {
            StoreError::Database(sqlx::Error::Protocol(message.clone()))
        }
        StoreError::Database(e) => StoreError::Database(sqlx::Error::Protocol(format!("the batch failed: {e}"))),
        other => StoreError::Unavailable(other.to_string()),
    }
}

/// Hands every job its result; `failure` (the batch did not commit) goes to those that had succeeded.
fn settle_all(ran: Vec<Box<dyn Ran>>, mut failure: Option<StoreError>) {
    let template = failure.as_ref().map(copy_error);
    for done in ran {
        let failure =
            if done.succeeded() { failure.take().or_else(|| template.as_ref().map(copy_error)) } else { None };
        done.settle(failure);
    }
}

/// Whether an error means the connection itself is gone, so the next batch needs a new one.
fn is_broken(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::WorkerCrashed | sqlx::Error::Io(_))
}

/// Leaves whatever transaction is open; fails harmlessly when SQLite has already rolled it back.
async fn rollback(conn: &mut SqliteConnection) {
    let _ = sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await;
}

/// How a batch ended, for the task.
struct Outcome {
    /// Jobs that did not get to run (the batch was abandoned); they go back to the head of the queue.
    unrun: Vec<Box<dyn Queued>>,
    /// The connection failed and must be replaced.
    broken: bool,
}

/// Runs `batch` in one transaction on `conn` and answers every job that ran. The caller has begun the transaction
/// (with a first savepoint when the batch has several jobs).
async fn run_batch(
    conn: &mut SqliteConnection,
    batch: Vec<Box<dyn Queued>>,
    durability: Durability,
    counters: &Counters,
) -> Outcome {
    let grouped = batch.len() > 1;
    let mut ran: Vec<Box<dyn Ran>> = Vec::with_capacity(batch.len());
    let mut jobs = batch.into_iter();
    while let Some(job) = jobs.next() {
        let done = job.run(conn).await;
        let succeeded = done.succeeded();
        ran.push(done);
        if !grouped {
            continue;
        }
        // Closing this job's savepoint and opening the next one's is one round trip to SQLite.
        let more = jobs.len() > 0;
        let sql = match (succeeded, more) {
            (true, true) => "RELEASE job; SAVEPOINT job",
            (true, false) => "RELEASE job",
            (false, true) => "ROLLBACK TO job; RELEASE job; SAVEPOINT job",
            (false, false) => "ROLLBACK TO job; RELEASE job",
        };
        if let Err(error) = sqlx::raw_sql(sql).execute(&mut *conn).await {
            // SQLite may have rolled the whole transaction back itself (a full disk, an I/O error): the jobs that
            // ran are lost; those that did not run get another batch.
            tracing::warn!(%error, "a write batch failed between two writes; it is rolled back");
            let broken = is_broken(&error);
            rollback(conn).await;
            settle_all(ran, Some(error.into()));
            return Outcome { unrun: jobs.collect(), broken };
        }
    }
    let committed = ran.iter().filter(|done| done.succeeded()).count();
    if committed == 0 {
        // Nothing to keep (and nothing to fsync).
        rollback(conn).await;
        settle_all(ran, None);
        return Outcome { unrun: Vec::new(), broken: false };
    }
    match sqlx::raw_sql("COMMIT").execute(&mut *conn).await {
        Ok(_) => {
            counters.commits.fetch_add(1, Ordering::Relaxed);
            if durability == Durability::Durable {
                counters.synced.fetch_add(1, Ordering::Relaxed);
            }
            counters.jobs.fetch_add(committed as u64, Ordering::Relaxed);
            settle_all(ran, None);
            Outcome { unrun: Vec::new(), broken: false }
        }
        Err(error) => {
            tracing::warn!(%error, jobs = ran.len(), "a write batch failed to commit");
            let broken = is_broken(&error);
            rollback(conn).await;
            settle_all(ran, Some(error.into()));
            Outcome { unrun: Vec::new(), broken }
        }
    }
}

/// The writer task's state.
struct Task {
    receiver: mpsc::UnboundedReceiver<Message>,
    /// Jobs taken off the channel but not run yet.
    pending: VecDeque<Box<dyn Queued>>,
    /// `None` after the connection broke, until the next batch reopens it.
    conn: Option<SqliteConnection>,
    reconnect: SqliteConnectOptions,
    queue_wait: Duration,
    counters: Arc<Counters>,
}

impl Task {
    async fn run(mut self) {
        loop {
            if self.pending.is_empty() {
                match self.receiver.recv().await {
                    Some(Message::Job(job)) => self.pending.push_back(job),
                    Some(Message::Close) => {
                        // What is queued still arrives; then `recv` answers `None`.
                        self.receiver.close();
                        continue;
                    }
                    None => break,
                }
            }
            // Whatever else is queued already joins the batch; nothing waits for more.
            while self.pending.len() < MAX_BATCH_JOBS {
                match self.receiver.try_recv() {
                    Ok(Message::Job(job)) => self.pending.push_back(job),
                    Ok(Message::Close) => self.receiver.close(),
                    Err(_) => break,
                }
            }
            let mut batch = Vec::with_capacity(self.pending.len().min(MAX_BATCH_JOBS));
            while batch.len() < MAX_BATCH_JOBS
                && let Some(job) = self.pending.pop_front()
            {
                if job.queued_at().elapsed() > self.queue_wait {
                    let waited = self.queue_wait.as_secs();
                    job.fail(StoreError::Unavailable(format!("the write waited more than {waited} s for the writer")));
                } else {
                    batch.push(job);
                }
            }
            if !batch.is_empty() {
                self.run_one(batch).await;
            }
        }
        if let Some(conn) = self.conn.take()
            && let Err(error) = conn.close().await
        {
            tracing::warn!(%error, "closing the writer connection failed");
        }
    }

    /// Begins the batch's transaction (reopening the connection if it broke) and runs the batch.
    async fn run_one(&mut self, batch: Vec<Box<dyn Queued>>) {
        let durability = if batch.iter().any(|job| job.durability() == Durability::Durable) {
            Durability::Durable
        } else {
            Durability::Deferred
        };
        let mut attempts = 0;
        let conn = loop {
            attempts += 1;
            let conn = match self.conn.take() {
                Some(conn) => conn,
                None => match self.reconnect.connect().await {
                    Ok(conn) => conn,
                    Err(error) => return fail_all(batch, error.into()),
                },
            };
            let mut conn = conn;
            // The setting applies to the batch's commit. It is set every time (a flag on the connection, no I/O), in
            // the same round trip as `BEGIN`, so no failure can leave it other than the batch needs.
            let begin = match (durability, batch.len() > 1) {
                (Durability::Durable, false) => "PRAGMA synchronous = FULL; BEGIN IMMEDIATE",
                (Durability::Durable, true) => "PRAGMA synchronous = FULL; BEGIN IMMEDIATE; SAVEPOINT job",
                (Durability::Deferred, false) => "PRAGMA synchronous = NORMAL; BEGIN IMMEDIATE",
                (Durability::Deferred, true) => "PRAGMA synchronous = NORMAL; BEGIN IMMEDIATE; SAVEPOINT job",
            };
            match sqlx::raw_sql(begin).execute(&mut conn).await {
                Ok(_) => break self.conn.insert(conn),
                Err(error) if is_broken(&error) && attempts < 2 => {
                    tracing::warn!(%error, "the writer connection broke; reconnecting");
                }
                Err(error) => {
                    rollback(&mut conn).await;
                    if !is_broken(&error) {
                        self.conn = Some(conn);
                    }
                    return fail_all(batch, error.into());
                }
            }
        };
        let outcome = run_batch(conn, batch, durability, &self.counters).await;
        if outcome.broken {
            self.conn = None;
        }
        for job in outcome.unrun.into_iter().rev() {
            self.pending.push_front(job);
        }
    }
}

/// Answers every job of a batch that could not start with `error`.
fn fail_all(batch: Vec<Box<dyn Queued>>, error: StoreError) {
    let template = copy_error(&error);
    let mut original = Some(error);
    for job in batch {
        job.fail(original.take().unwrap_or_else(|| copy_error(&template)));
    }
}

#[cfg(test)]
mod tests;
