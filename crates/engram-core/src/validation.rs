//! The one error type of core: a value that failed its check, with the field it came from.

/// A client-supplied value that does not satisfy its type's rules.
///
/// `field` names the offending input (`"label"`, `"blocks[1].value"`) so the HTTP layer can report it in
/// `error.details.field`; `message` is a whole sentence a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    pub field: String,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }

    /// Prefixes the field with its parent, e.g. `label` inside `blocks[2]` becomes `blocks[2].label`.
    #[must_use]
    pub fn within(mut self, parent: &str) -> Self {
        self.field = if self.field.is_empty() { parent.to_owned() } else { format!("{parent}.{}", self.field) };
        self
    }
}
