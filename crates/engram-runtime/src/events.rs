//! What a run reports while it runs: each message as it is persisted, streamed text fragments, and a final summary.

use engram_core::id::{RunId, StepId};
use engram_core::message::Message;
use engram_core::run::{StopReason, Usage};

/// Which kind of streamed text a delta carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeltaKind {
    Content,
    Reasoning,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    pub run_id: RunId,
    pub stop_reason: StopReason,
    pub usage: Usage,
    pub steps: u32,
    /// The provider's message for `llm_error`, the oversized part for `context_overflow`.
    pub error: Option<String>,
    /// The HTTP status the provider answered with, for `llm_error`.
    pub provider_status: Option<u16>,
}

/// One event of a run, in order. `Done` (or `Failed`) is always last.
#[derive(Debug, Clone, PartialEq)]
pub enum RunEvent {
    /// A message was persisted.
    Message(Message),
    /// A fragment of the model's answer as it streams.
    Delta {
        step_id: StepId,
        kind: DeltaKind,
        text: String,
    },
    Done(RunSummary),
    /// The run could not continue because storage failed; it is marked failed if the store still answers.
    Failed {
        message: String,
        storage_unavailable: bool,
    },
}
