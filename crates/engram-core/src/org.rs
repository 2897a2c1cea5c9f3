//! Organisations (tenants). Every row belongs to exactly one organisation, taken from the caller's credentials.

use std::fmt;

use crate::ValidationError;

/// An organisation's identifier: a lowercase slug such as `default` or `acme-prod`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrgId(String);

impl OrgId {
    /// The organisation that local mode (no API keys configured) acts as.
    pub fn default_org() -> Self {
        Self("default".to_owned())
    }

    /// Accepts `^[a-z0-9][a-z0-9_-]{0,63}$`.
    pub fn parse(field: &str, text: &str) -> Result<Self, ValidationError> {
        let mut chars = text.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if !first_ok || !rest_ok || text.len() > 64 {
            return Err(ValidationError::new(
                field,
                format!("`{text}` is not a valid organisation id (lowercase letters, digits, `_` and `-`, at most 64)"),
            ));
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OrgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
