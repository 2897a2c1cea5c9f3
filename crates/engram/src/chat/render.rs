//! How `engram chat` shows a run as its events arrive: reply text as it streams, tool calls and their results
//! inline, then a short footer. Colour and the footer are for terminals only, so piped output stays plain text that
//! reads (and greps) the same as what the user saw.

use std::collections::HashSet;
use std::io::{self, IsTerminal, Write};

use serde_json::Value;

use crate::output::{field, preview};

/// The longest a tool argument or tool result is shown inline, in characters.
const INLINE_MAX: usize = 160;

/// ANSI styling, on only when standard output is a terminal and `NO_COLOR` is not set.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    color: bool,
}

impl Style {
    pub fn detect() -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Self { color: io::stdout().is_terminal() && !no_color }
    }

    /// Plain text.
    #[cfg(test)]
    pub fn plain() -> Self {
        Self { color: false }
    }

    fn paint(self, code: &str, text: &str) -> String {
        if self.color { format!("\x1b[{code}m{text}\x1b[0m") } else { text.to_owned() }
    }

    pub fn dim(self, text: &str) -> String {
        self.paint("2", text)
    }

    pub fn bold(self, text: &str) -> String {
        self.paint("1", text)
    }

    pub fn green(self, text: &str) -> String {
        self.paint("32", text)
    }

    pub fn red(self, text: &str) -> String {
        self.paint("31", text)
    }

    pub fn cyan(self, text: &str) -> String {
        self.paint("36", text)
    }
}

/// How one run ended, as far as the stream told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// A `done` event arrived.
    Done,
    /// An `error` event arrived and no `done` followed.
    Failed,
    /// The stream stopped before either.
    Cut,
}

/// The rendering of one run: feed it each event's data in order.
pub struct Transcript<'a> {
    out: &'a mut dyn Write,
    err: &'a mut dyn Write,
    style: Style,
    /// Print the footer (terminals only).
    footer: bool,
    /// Print each event as its JSON line instead (`--json`).
    json: bool,
    /// Whether the cursor is at the start of a line, so inline lines know whether to end the reply first.
    at_line_start: bool,
    /// Steps whose reply text already arrived as deltas, so their message event does not print it again.
    streamed_steps: HashSet<String>,
    /// `send_message` calls, whose argument was shown as the reply and whose `Sent.` result is not worth showing.
    send_message_calls: HashSet<String>,
    error_shown: bool,
    ending: Ending,
}

impl<'a> Transcript<'a> {
    pub fn new(out: &'a mut dyn Write, err: &'a mut dyn Write, style: Style, footer: bool, json: bool) -> Self {
        Self {
            out,
            err,
            style,
            footer,
            json,
            at_line_start: true,
            streamed_steps: HashSet::new(),
            send_message_calls: HashSet::new(),
            error_shown: false,
            ending: Ending::Cut,
        }
    }

    /// Shows one event (the `data` of one server-sent event).
    pub fn event(&mut self, data: &str) -> io::Result<()> {
        let event: Value = match serde_json::from_str(data) {
            Ok(event) => event,
            Err(e) => return self.error(&format!("the server sent an event that is not JSON ({e}): {data}")),
        };
        let kind = field(&event, "type");
        match kind.as_str() {
            "done" => self.ending = Ending::Done,
            "error" if self.ending != Ending::Done => self.ending = Ending::Failed,
            _ => {}
        }
        if self.json {
            writeln!(self.out, "{data}")?;
            return self.out.flush();
        }
        match kind.as_str() {
            "delta" => self.delta(&event),
            "message" => self.message(event.get("message").unwrap_or(&Value::Null)),
            "done" => self.done(&event),
            "error" => {
                let error = event.get("error").unwrap_or(&Value::Null);
                self.error_shown = true;
                self.error(&format!("{} ({})", field(error, "message"), field(error, "code")))
            }
            // Event types added later are not this version's business.
            _ => Ok(()),
        }
    }

    /// Ends the transcript of the run; says so when the stream stopped early.
    pub fn finish(mut self) -> io::Result<Ending> {
        self.end_line()?;
        if self.ending == Ending::Cut {
            self.error("the connection closed before the run finished; the agent may still be working")?;
        }
        Ok(self.ending)
    }

    /// Reports an error in the middle of the run (a broken stream, say).
    pub fn error(&mut self, message: &str) -> io::Result<()> {
        self.end_line()?;
        self.out.flush()?;
        writeln!(self.err, "{}", self.style.red(&format!("error: {message}")))
    }

    fn delta(&mut self, event: &Value) -> io::Result<()> {
        let Some(text) = event.get("content").and_then(Value::as_str) else {
            // Reasoning deltas are not shown; the reply is what the user asked for.
            return Ok(());
        };
        if text.is_empty() {
            return Ok(());
        }
        self.streamed_steps.insert(field(event, "step_id"));
        self.write_text(text)
    }

    fn message(&mut self, message: &Value) -> io::Result<()> {
        match field(message, "role").as_str() {
            "assistant" => {
                let content = field(message, "content");
                if self.streamed_steps.contains(&field(message, "step_id")) {
                    self.end_line()?;
                } else if !content.trim().is_empty() {
                    self.write_text(content.trim_end())?;
                    self.end_line()?;
                }
                for call in message.get("tool_calls").and_then(Value::as_array).into_iter().flatten() {
                    self.tool_call(call)?;
                }
                Ok(())
            }
            "tool" => {
                if self.send_message_calls.contains(&field(message, "tool_call_id")) {
                    return Ok(());
                }
                self.end_line()?;
                let content = preview(&field(message, "content"), INLINE_MAX);
                let line = if field(message, "tool_status") == "error" {
                    self.style.red(&format!("  ✗ error: {content}"))
                } else {
                    format!("  {} {}", self.style.green("✓"), self.style.dim(&content))
                };
                writeln!(self.out, "{line}")
            }
            "summary" => {
                self.end_line()?;
                writeln!(self.out, "{}", self.style.dim("  ⋯ older messages were summarised to make room"))
            }
            // The user's own message, echoed as persisted, and system notes are not news to the user.
            _ => Ok(()),
        }
    }

    fn tool_call(&mut self, call: &Value) -> io::Result<()> {
        let name = field(call, "name");
        let arguments = call.get("arguments").unwrap_or(&Value::Null);
        if name == "send_message"
            && let Some(text) = arguments.get("message").and_then(Value::as_str)
        {
            self.send_message_calls.insert(field(call, "id"));
            self.end_line()?;
            self.write_text(text.trim_end())?;
            return self.end_line();
        }
        self.end_line()?;
        let line = format!("  ⚙ {name}({})", arguments_text(arguments));
        writeln!(self.out, "{}", self.style.cyan(&line))?;
        self.out.flush()
    }

    fn done(&mut self, event: &Value) -> io::Result<()> {
        self.end_line()?;
        let stop_reason = field(event, "stop_reason");
        if let Some(error) = event.get("error").and_then(Value::as_str)
            && !self.error_shown
        {
            self.error(&format!("{error} ({stop_reason})"))?;
        }
        if !self.footer {
            return self.out.flush();
        }
        let usage = event.get("usage").unwrap_or(&Value::Null);
        let mut parts = Vec::new();
        if !stop_reason.is_empty() && stop_reason != "end_turn" {
            parts.push(format!("stopped: {stop_reason}"));
        }
        let steps = field(usage, "steps");
        parts.push(format!("{steps} step{}", if steps == "1" { "" } else { "s" }));
        parts.push(format!("{} tokens", field(usage, "total_tokens")));
        writeln!(self.out, "{}", self.style.dim(&format!("  [{}]", parts.join(" · "))))?;
        self.out.flush()
    }

    fn write_text(&mut self, text: &str) -> io::Result<()> {
        write!(self.out, "{text}")?;
        self.at_line_start = text.ends_with('\n');
        self.out.flush()
    }

    fn end_line(&mut self) -> io::Result<()> {
        if !self.at_line_start {
            writeln!(self.out)?;
            self.at_line_start = true;
        }
        Ok(())
    }
}

/// A tool call's arguments as `name="value", n=3`, each value cut short.
pub fn arguments_text(arguments: &Value) -> String {
    match arguments {
        Value::Object(map) => map
            .iter()
            .map(|(name, value)| match value {
                Value::String(s) => format!("{name}={:?}", preview(s, INLINE_MAX)),
                other => format!("{name}={}", preview(&other.to_string(), INLINE_MAX)),
            })
            .collect::<Vec<_>>()
            .join(", "),
        Value::Null => String::new(),
        other => preview(&other.to_string(), INLINE_MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Renders `events` as a pipe would see them: (stdout, stderr, ending).
    fn check(events: &[&str], footer: bool, expected_out: &str, expected_err: &str) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let mut transcript = Transcript::new(&mut out, &mut err, Style::plain(), footer, false);
        for event in events {
            transcript.event(event).unwrap();
        }
        transcript.finish().unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), expected_out);
        assert_eq!(String::from_utf8(err).unwrap(), expected_err);
    }

    const DONE: &str = r#"{"type":"done","stop_reason":"end_turn","usage":{"prompt_tokens":90,"completion_tokens":10,"total_tokens":100,"steps":2}}"#;

    #[test]
    fn deltas_stream_and_the_message_does_not_repeat_them() {
        check(
            &[
                r#"{"type":"message","message":{"role":"user","content":"hi"}}"#,
                r#"{"type":"delta","step_id":"s1","content":"Hel"}"#,
                r#"{"type":"delta","step_id":"s1","content":"lo!"}"#,
                r#"{"type":"message","message":{"role":"assistant","step_id":"s1","content":"Hello!"}}"#,
                DONE,
            ],
            false,
            "Hello!\n",
            "",
        );
    }

    #[test]
    fn tool_calls_and_results_show_inline_and_unstreamed_replies_print_whole() {
        check(
            &[
                r#"{"type":"message","message":{"role":"assistant","step_id":"s1","content":"","tool_calls":[{"id":"c1","name":"core_memory_append","arguments":{"label":"human","content":"Likes tea."}}]}}"#,
                r#"{"type":"message","message":{"role":"tool","tool_call_id":"c1","tool_status":"ok","content":"Block `human` updated (version 2)."}}"#,
                r#"{"type":"message","message":{"role":"assistant","step_id":"s2","tool_calls":[{"id":"c2","name":"core_memory_replace","arguments":{"label":"x"}}]}}"#,
                r#"{"type":"message","message":{"role":"tool","tool_call_id":"c2","tool_status":"error","content":"no block `x`"}}"#,
                r#"{"type":"message","message":{"role":"assistant","step_id":"s3","content":"Noted."}}"#,
                DONE,
            ],
            true,
            "  ⚙ core_memory_append(content=\"Likes tea.\", label=\"human\")\n  ✓ Block `human` updated (version 2).\n  \
             ⚙ core_memory_replace(label=\"x\")\n  ✗ error: no block `x`\nNoted.\n  [2 steps · 100 tokens]\n",
            "",
        );
    }

    #[test]
    fn send_message_reads_as_the_reply() {
        check(
            &[
                r#"{"type":"message","message":{"role":"assistant","step_id":"s1","content":"","tool_calls":[{"id":"c1","name":"send_message","arguments":{"message":"Hi Ada."}}]}}"#,
                r#"{"type":"message","message":{"role":"tool","tool_call_id":"c1","tool_status":"ok","content":"Sent."}}"#,
                DONE,
            ],
            false,
            "Hi Ada.\n",
            "",
        );
    }

    #[test]
    fn errors_go_to_stderr_once_and_a_cut_stream_is_reported() {
        check(
            &[
                r#"{"type":"delta","step_id":"s1","content":"Hal"}"#,
                r#"{"type":"error","error":{"code":"upstream_error","message":"provider said 500"}}"#,
                r#"{"type":"done","stop_reason":"llm_error","error":"provider said 500","usage":{"steps":1,"total_tokens":0}}"#,
            ],
            true,
            "Hal\n  [stopped: llm_error · 1 step · 0 tokens]\n",
            "error: provider said 500 (upstream_error)\n",
        );
        check(
            &[r#"{"type":"delta","step_id":"s1","content":"Hal"}"#],
            false,
            "Hal\n",
            "error: the connection closed before the run finished; the agent may still be working\n",
        );
        check(
            &[r#"{"type":"done","stop_reason":"context_overflow","error":"too big","usage":{}}"#],
            false,
            "",
            "error: too big (context_overflow)\n",
        );
    }
}
