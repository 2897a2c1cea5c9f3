//! Character-count rules shared by every free-text field: sizes are measured in Unicode scalar values, the unit a
//! person (and a model) reads, not in bytes.

use crate::ValidationError;

/// Number of characters in `s` as engram counts them for limits.
pub fn char_len(s: &str) -> usize {
    s.chars().count()
}

/// Checks that `s` holds at most `max` characters.
pub fn check_max_chars(field: &str, s: &str, max: usize) -> Result<(), ValidationError> {
    let len = char_len(s);
    if len > max {
        return Err(ValidationError::new(field, format!("must be at most {max} characters, got {len}")));
    }
    Ok(())
}

/// Checks that `s` is not empty after trimming white space.
pub fn check_not_blank(field: &str, s: &str) -> Result<(), ValidationError> {
    if s.trim().is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    Ok(())
}

/// Checks that `s` contains no control characters (names, tags and other one-line identifiers).
pub fn check_no_control(field: &str, s: &str) -> Result<(), ValidationError> {
    if s.chars().any(char::is_control) {
        return Err(ValidationError::new(field, "must not contain control characters"));
    }
    Ok(())
}
