//! Runs and steps: a run is one request processed by the agent loop; a step is one model call plus the tool calls it
//! returned. The agent runtime writes them; the types live here so every layer agrees on them.

use chrono::{DateTime, Utc};

use serde_json::Value;

use crate::id::{AgentId, RunId, StepId};

/// Where a run is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    Queued,
    Running,
    Completed,
    Failed,
    Cancelled,
}

impl RunStatus {
    pub const ALL: [RunStatus; 5] = [Self::Queued, Self::Running, Self::Completed, Self::Failed, Self::Cancelled];

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Whether the run has ended (completed, failed or cancelled).
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }
}

/// Why a run stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    EndTurn,
    TerminalTool,
    MaxSteps,
    NoProgress,
    Cancelled,
    ContextOverflow,
    LlmError,
}

impl StopReason {
    pub const ALL: [StopReason; 7] = [
        Self::EndTurn,
        Self::TerminalTool,
        Self::MaxSteps,
        Self::NoProgress,
        Self::Cancelled,
        Self::ContextOverflow,
        Self::LlmError,
    ];

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::EndTurn => "end_turn",
            Self::TerminalTool => "terminal_tool",
            Self::MaxSteps => "max_steps",
            Self::NoProgress => "no_progress",
            Self::Cancelled => "cancelled",
            Self::ContextOverflow => "context_overflow",
            Self::LlmError => "llm_error",
        }
    }
}

/// Token usage of a step or a whole run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

impl Usage {
    pub fn total_tokens(self) -> u64 {
        self.prompt_tokens + self.completion_tokens
    }
}

impl std::ops::AddAssign for Usage {
    fn add_assign(&mut self, other: Self) {
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
    }
}

/// One model call within a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub id: StepId,
    pub run_id: RunId,
    pub model: String,
    pub usage: Usage,
    pub duration_ms: u64,
}

/// A step to record: its id is chosen by the runtime before the model call so that messages and audit events of
/// the step can name it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewStep {
    pub id: StepId,
    pub run_id: RunId,
    pub model: String,
    pub usage: Usage,
    pub duration_ms: u64,
}

/// A run of the agent loop.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub id: RunId,
    pub agent_id: AgentId,
    pub status: RunStatus,
    pub stop_reason: Option<StopReason>,
    /// The provider's or the runtime's message when the run failed.
    pub error: Option<String>,
    /// Sum of the steps' usage.
    pub usage: Usage,
    /// Steps in the order they ran.
    pub steps: Vec<Step>,
    /// What the run was asked to do, as the runtime recorded it (opaque to the store), so a queued run can be
    /// picked up again after a restart.
    pub input: Value,
    /// A cancellation was requested; the runtime stops before its next step.
    pub cancel_requested: bool,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutcome {
    pub status: RunStatus,
    pub stop_reason: Option<StopReason>,
    pub error: Option<String>,
}
