//! The text edits the agent's core memory tools make: append a line, replace an exact snippet, insert at a line,
//! rewrite. Pure functions over a block's value; the caller checks the result against the block's limit and writes it
//! through the audited path.

/// Why an edit cannot be made. The messages are written for the model: they say what to do instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    #[error("the snippet to replace was not found in block `{label}`; quote it exactly as it appears in core memory")]
    SnippetNotFound { label: String },
    #[error(
        "the snippet to replace occurs {count} times in block `{label}`; quote a longer snippet that occurs exactly once"
    )]
    SnippetAmbiguous { label: String, count: usize },
    #[error("`old_content` must not be empty; to add text use core_memory_append or memory_insert")]
    EmptySnippet,
    #[error("line {line} is past the end of block `{label}`, which has {lines} lines; use a line from 0 to {lines}")]
    LineOutOfRange { label: String, line: u64, lines: usize },
}

/// Appends `content` as a new line (no leading newline when the block is empty).
pub fn append_line(value: &str, content: &str) -> String {
    if value.is_empty() { content.to_owned() } else { format!("{value}\n{content}") }
}

/// Replaces the single occurrence of `old` with `new`; an empty `new` deletes the snippet.
pub fn replace_snippet(label: &str, value: &str, old: &str, new: &str) -> Result<String, EditError> {
    if old.is_empty() {
        return Err(EditError::EmptySnippet);
    }
    match value.matches(old).count() {
        0 => Err(EditError::SnippetNotFound { label: label.to_owned() }),
        1 => Ok(value.replacen(old, new, 1)),
        count => Err(EditError::SnippetAmbiguous { label: label.to_owned(), count }),
    }
}

/// Inserts `content` as a line before line `line` (0-based: 0 inserts at the top); `None` appends at the end.
pub fn insert_line(label: &str, value: &str, content: &str, line: Option<u64>) -> Result<String, EditError> {
    let Some(line) = line else {
        return Ok(append_line(value, content));
    };
    let mut lines: Vec<&str> = if value.is_empty() { Vec::new() } else { value.split('\n').collect() };
    let count = lines.len();
    let index = usize::try_from(line).ok().filter(|&i| i <= count);
    let Some(index) = index else {
        return Err(EditError::LineOutOfRange { label: label.to_owned(), line, lines: count });
    };
    lines.insert(index, content);
    Ok(lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_lines() {
        assert_eq!(append_line("", "a"), "a");
        assert_eq!(append_line("a", "b"), "a\nb");
    }

    #[test]
    fn replaces_exactly_one_snippet() {
        assert_eq!(replace_snippet("h", "likes tea", "tea", "coffee").unwrap(), "likes coffee");
        assert_eq!(replace_snippet("h", "likes tea", " tea", "").unwrap(), "likes");
        assert_eq!(
            replace_snippet("h", "tea tea", "tea", "x"),
            Err(EditError::SnippetAmbiguous { label: "h".into(), count: 2 })
        );
        assert_eq!(replace_snippet("h", "tea", "milk", "x"), Err(EditError::SnippetNotFound { label: "h".into() }));
        assert_eq!(replace_snippet("h", "tea", "", "x"), Err(EditError::EmptySnippet));
    }

    #[test]
    fn inserts_at_lines() {
        assert_eq!(insert_line("h", "a\nc", "b", Some(1)).unwrap(), "a\nb\nc");
        assert_eq!(insert_line("h", "a", "z", Some(0)).unwrap(), "z\na");
        assert_eq!(insert_line("h", "a", "z", Some(1)).unwrap(), "a\nz");
        assert_eq!(insert_line("h", "", "z", Some(0)).unwrap(), "z");
        assert_eq!(insert_line("h", "a", "z", None).unwrap(), "a\nz");
        assert_eq!(
            insert_line("h", "a", "z", Some(5)),
            Err(EditError::LineOutOfRange { label: "h".into(), line: 5, lines: 1 })
        );
    }
}
