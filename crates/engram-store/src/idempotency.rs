//! Idempotency records: the first response to a mutating request, kept for a day under the client's key so that a
//! retry gets the same answer and causes no second effect.

/// What the store knows about an idempotency key when a request arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyBegin {
    /// The key was free and is now reserved for this request: run it, then `finish` (or `release` on failure).
    Started,
    /// A request with this key and the same fingerprint already completed: replay its response.
    Completed(IdempotencyRecord),
    /// A request with this key is still being processed.
    InProgress,
    /// The key was used for a different request (another method, path or body).
    Mismatch,
}

/// A stored response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub status: u16,
    pub body: Vec<u8>,
}
