//! Runs and steps: a run is one request processed by the agent loop; a step is one model call plus the tool calls it
//! returned. The agent runtime writes them; the types live here so every layer agrees on them.

use chrono::{DateTime, Utc};

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

/// One model call within a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
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
    pub usage: Usage,
    pub steps: Vec<Step>,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}
