//! The crate's one error type: why a file cannot be imported, with the JSON path of the offending field.

use engram_core::ValidationError;

/// Why an agent file was refused. Nothing is created for a refused file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgentFileError {
    /// The file is larger than [`crate::Limits::max_bytes`].
    #[error("the agent file is {size} bytes; the limit is {limit} bytes")]
    TooLarge { size: usize, limit: usize },

    /// The file is not JSON.
    #[error("the agent file is not valid JSON: {message}")]
    Syntax { message: String },

    /// The file is JSON but not an agent file engram can import: a wrong type, a missing field, an id that points
    /// nowhere, a duplicate label, a value over its limit or the file's limits. `field` is the JSON path, e.g.
    /// `agents[0].messages[3].role` (`body` for the document as a whole).
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
}

impl AgentFileError {
    pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid { field: field.into(), message: message.into() }
    }

    /// The JSON path of the offending field, for `Invalid`.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Invalid { field, .. } => Some(field),
            Self::TooLarge { .. } | Self::Syntax { .. } => None,
        }
    }
}

impl From<ValidationError> for AgentFileError {
    fn from(e: ValidationError) -> Self {
        Self::Invalid { field: e.field, message: e.message }
    }
}

/// The JSON path of `key` inside the object at `parent` (`""` is the document).
pub(crate) fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() { key.to_owned() } else { format!("{parent}.{key}") }
}

/// The JSON path of item `index` of the array at `parent`.
pub(crate) fn index(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
}
