//! The limits an untrusted file must stay within, and decoding it into a JSON value safely: the size first, then the
//! nesting depth by a flat scan of the bytes (before any recursive parser runs), then the parse, an unwrapped second
//! encoding (some files are a JSON string whose content is the document), and the sizes of every string, array and
//! object, each reported with its JSON path.

use serde_json::Value;

use crate::error::{AgentFileError, index, join};

/// Longest message content (or reasoning) imported, in characters. Tool results can be long; the runtime cuts what it
/// sends to a tenth of the window anyway.
pub const MAX_MESSAGE_CHARS: usize = 200_000;

/// What a file may hold. `Default` is what the server uses (with `max_bytes` set to its body limit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Size of the file in bytes.
    pub max_bytes: usize,
    /// Nesting of arrays and objects (the samples need 10).
    pub max_depth: usize,
    /// Bytes of any one string, keys included, after unescaping.
    pub max_string_bytes: usize,
    /// Items of any one array or entries of any one object.
    pub max_items: usize,
    /// Agents in a file.
    pub max_agents: usize,
    /// Messages in a file, all agents together (as engram stores them: a tool message with several results counts
    /// once per result).
    pub max_messages: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_bytes: 8 * 1024 * 1024,
            max_depth: 64,
            max_string_bytes: 2 * 1024 * 1024,
            max_items: 100_000,
            max_agents: 100,
            max_messages: 100_000,
        }
    }
}

/// Decodes `bytes` into the document object, enforcing `limits`.
pub(crate) fn decode(bytes: &[u8], limits: &Limits) -> Result<Value, AgentFileError> {
    if bytes.len() > limits.max_bytes {
        return Err(AgentFileError::TooLarge { size: bytes.len(), limit: limits.max_bytes });
    }
    let value = match parse_bounded(bytes, limits)? {
        // Encoded twice: the document is the content of the string.
        Value::String(inner) => match parse_bounded(inner.as_bytes(), limits)? {
            Value::String(_) => {
                return Err(AgentFileError::invalid(
                    "body",
                    "the file is a JSON string holding another JSON string; an agent file is encoded at most twice",
                ));
            }
            value => value,
        },
        value => value,
    };
    if !value.is_object() {
        return Err(AgentFileError::invalid("body", "an agent file is a JSON object with an `agents` list"));
    }
    check_sizes(&value, "", limits)?;
    Ok(value)
}

/// Parses JSON text after checking its depth without recursion. A UTF-8 byte order mark is skipped.
fn parse_bounded(bytes: &[u8], limits: &Limits) -> Result<Value, AgentFileError> {
    let bytes = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(bytes);
    check_depth(bytes, limits.max_depth)?;
    serde_json::from_slice(bytes).map_err(|e| AgentFileError::Syntax { message: e.to_string() })
}

/// Fails when arrays and objects nest deeper than `max` anywhere in `bytes`. Brackets inside strings do not count;
/// malformed text is left for the parser to report.
fn check_depth(bytes: &[u8], max: usize) -> Result<(), AgentFileError> {
    let (mut depth, mut in_string, mut escaped) = (0_usize, false, false);
    for (offset, &byte) in bytes.iter().enumerate() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return Err(AgentFileError::invalid(
                        "body",
                        format!("arrays and objects nest deeper than {max} levels (at byte {offset})"),
                    ));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Checks every string, array and object of `value` (whose depth is already bounded) against `limits`.
fn check_sizes(value: &Value, path: &str, limits: &Limits) -> Result<(), AgentFileError> {
    let field = || if path.is_empty() { "body".to_owned() } else { path.to_owned() };
    match value {
        Value::String(s) if s.len() > limits.max_string_bytes => Err(AgentFileError::invalid(
            field(),
            format!("is a string of {} bytes; strings are limited to {} bytes", s.len(), limits.max_string_bytes),
        )),
        Value::Array(items) => {
            if items.len() > limits.max_items {
                return Err(AgentFileError::invalid(
                    field(),
                    format!("holds {} items; arrays are limited to {}", items.len(), limits.max_items),
                ));
            }
            items.iter().enumerate().try_for_each(|(i, item)| check_sizes(item, &index(path, i), limits))
        }
        Value::Object(map) => {
            if map.len() > limits.max_items {
                return Err(AgentFileError::invalid(
                    field(),
                    format!("holds {} entries; objects are limited to {}", map.len(), limits.max_items),
                ));
            }
            for (key, item) in map {
                let item_path = join(path, key);
                if key.len() > limits.max_string_bytes {
                    return Err(AgentFileError::invalid(
                        field(),
                        format!(
                            "has a key of {} bytes; strings are limited to {} bytes",
                            key.len(),
                            limits.max_string_bytes
                        ),
                    ));
                }
                check_sizes(item, &item_path, limits)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> Limits {
        Limits { max_bytes: 1000, max_depth: 4, max_string_bytes: 10, max_items: 3, max_agents: 2, max_messages: 5 }
    }

    fn err(text: &str) -> AgentFileError {
        decode(text.as_bytes(), &small()).unwrap_err()
    }

    #[test]
    fn plain_and_double_encoded_documents_decode_alike() {
        let plain = decode(br#"{"agents": []}"#, &small()).unwrap();
        let twice = decode(br#""{\"agents\": []}""#, &small()).unwrap();
        assert_eq!(plain, twice);
        let bom = decode("\u{feff}{\"agents\": []}".as_bytes(), &small()).unwrap();
        assert_eq!(plain, bom);
    }

    #[test]
    fn limits_are_reported_with_the_field() {
        assert_eq!(err(&" ".repeat(1001)), AgentFileError::TooLarge { size: 1001, limit: 1000 });
        assert!(matches!(err("{\"agents\": [}"), AgentFileError::Syntax { .. }));
        assert_eq!(err("[[[[[1]]]]]").field(), Some("body"));
        // Brackets inside strings do not count towards the depth.
        assert!(decode(br#"{"a": "[[[[[[[["}"#, &small()).is_ok());
        assert_eq!(err(r#"{"a": [[[{"b": 1}]]]}"#).field(), Some("body"));
        assert_eq!(err(r#"{"agents": [{"name": "0123456789ab"}]}"#).field(), Some("agents[0].name"));
        assert_eq!(err(r#"{"agents": [1, 2, 3, 4]}"#).field(), Some("agents"));
        assert_eq!(err(r#"{"a": 1, "b": 2, "c": 3, "d": 4}"#).field(), Some("body"));
        assert_eq!(err(r#""\"x\"""#).field(), Some("body"));
        assert_eq!(err("[]").field(), Some("body"));
        assert_eq!(err(r#""[[[[[1]]]]]""#).field(), Some("body"));
    }
}
