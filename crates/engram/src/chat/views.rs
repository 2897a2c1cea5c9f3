//! What `engram chat`'s slash commands print: the agent's core memory blocks (`/memory`), where its context window
//! goes (`/context`) and the list of commands (`/help`).

use serde_json::Value;

use super::render::Style;
use crate::output::field;

pub const HELP: &str = "\
Type a message and press Enter to send it to the agent. Commands:
  /memory    the agent's core memory blocks
  /context   where the agent's context window goes, in tokens
  /help      this list
  /quit      leave (so does end of input, Ctrl-D)
Start a message with // to send one that begins with /.";

/// Each block as a heading (label, size against its limit) over its value, indented.
pub fn memory(blocks: &Value, style: Style) -> String {
    // The listing is a bare array; accept a `{"items": […]}` page too.
    let blocks = blocks.as_array().or_else(|| blocks.get("items").and_then(Value::as_array));
    let blocks = blocks.map(Vec::as_slice).unwrap_or_default();
    if blocks.is_empty() {
        return style.dim("(no core memory blocks)\n");
    }
    let mut out = String::new();
    for block in blocks {
        let value = field(block, "value");
        let mut about = format!("{}/{} chars", value.chars().count(), field(block, "limit"));
        if block.get("read_only").and_then(Value::as_bool) == Some(true) {
            about.push_str(", read-only");
        }
        out.push_str(&format!("{} {}\n", style.bold(&field(block, "label")), style.dim(&format!("({about})"))));
        if value.is_empty() {
            out.push_str(&format!("  {}\n", style.dim("(empty)")));
        }
        for line in value.lines() {
            out.push_str(&format!("  {line}\n"));
        }
    }
    out
}

/// The token breakdown as a table with each part's share of the window, then the message and passage counts.
pub fn context(context: &Value) -> String {
    let number = |name: &str| context.get(name).and_then(Value::as_u64).unwrap_or(0);
    let window = number("context_window");
    let parts = [
        ("system", number("system_tokens")),
        ("core memory", number("core_memory_tokens")),
        ("tool schemas", number("tool_schema_tokens")),
        ("summary", number("summary_tokens")),
        ("messages", number("message_tokens")),
        ("total", number("total_tokens")),
    ];
    let share = |tokens: u64| {
        if window == 0 { "–".to_owned() } else { format!("{:.1}%", tokens as f64 * 100.0 / window as f64) }
    };
    let rows: Vec<[String; 3]> =
        parts.iter().map(|(name, tokens)| [(*name).to_owned(), tokens.to_string(), share(*tokens)]).collect();
    let tokens_width = rows.iter().map(|r| r[1].len()).max().unwrap_or(0).max("TOKENS".len());
    let share_width = rows.iter().map(|r| r[2].len()).max().unwrap_or(0).max("WINDOW".len());
    let mut out = format!("{:<12}  {:>tokens_width$}  {:>share_width$}\n", "PART", "TOKENS", "WINDOW");
    for [name, tokens, share] in &rows {
        out.push_str(&format!("{name:<12}  {tokens:>tokens_width$}  {share:>share_width$}\n"));
    }
    out.push_str(&format!(
        "window: {window} tokens · messages in context: {} · in recall: {} · archival passages: {} · tokenizer: {}\n",
        number("messages_in_context"),
        number("recall_messages"),
        number("archival_passages"),
        field(context, "tokenizer"),
    ));
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn memory_shows_label_size_and_value() {
        let blocks = json!([
            {"label": "human", "value": "Name: Ada\nLikes tea.", "limit": 2000, "read_only": false},
            {"label": "persona", "value": "", "limit": 5000, "read_only": true}
        ]);
        assert_eq!(
            memory(&blocks, Style::plain()),
            "human (20/2000 chars)\n  Name: Ada\n  Likes tea.\npersona (0/5000 chars, read-only)\n  (empty)\n"
        );
        assert_eq!(memory(&json!([]), Style::plain()), "(no core memory blocks)\n");
    }

    #[test]
    fn context_is_a_table_with_shares_of_the_window() {
        let shown = context(&json!({
            "context_window": 1000, "total_tokens": 250, "system_tokens": 100, "core_memory_tokens": 20,
            "tool_schema_tokens": 100, "summary_tokens": 0, "message_tokens": 30, "messages_in_context": 2,
            "recall_messages": 5, "archival_passages": 1, "tokenizer": "o200k_base"
        }));
        assert_eq!(
            shown,
            "PART          TOKENS  WINDOW\n\
             system           100   10.0%\n\
             core memory       20    2.0%\n\
             tool schemas     100   10.0%\n\
             summary            0    0.0%\n\
             messages          30    3.0%\n\
             total            250   25.0%\n\
             window: 1000 tokens · messages in context: 2 · in recall: 5 · archival passages: 1 · tokenizer: \
             o200k_base\n"
        );
    }
}
