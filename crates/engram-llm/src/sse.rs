//! A server-sent events decoder for streamed model responses: turns a response body into `(event, data)` records
//! following the SSE rules (fields per line, `data` lines joined with `\n`, a blank line ends an event, comments
//! ignored). Both provider clients use it.

use futures::{Stream, StreamExt};

use crate::error::LlmError;

/// One server-sent event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct SseEvent {
    /// The `event:` field, if any.
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

/// Incremental SSE parser: feed it bytes, take out complete events.
#[derive(Debug, Default)]
pub(crate) struct SseDecoder {
    buffer: Vec<u8>,
    event: Option<String>,
    data: Vec<String>,
    has_data: bool,
}

impl SseDecoder {
    /// Adds bytes and returns the events they complete.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        self.buffer.extend_from_slice(bytes);
        let mut events = Vec::new();
        while let Some(end) = self.buffer.iter().position(|&b| b == b'\n') {
            let mut line: Vec<u8> = self.buffer.drain(..=end).collect();
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            let line = String::from_utf8_lossy(&line).into_owned();
            if let Some(event) = self.line(&line) {
                events.push(event);
            }
        }
        events
    }

    /// Ends the stream: a final event without its blank line still counts.
    pub(crate) fn finish(&mut self) -> Option<SseEvent> {
        if !self.buffer.is_empty() {
            let rest = String::from_utf8_lossy(&std::mem::take(&mut self.buffer)).into_owned();
            if let Some(event) = self.line(rest.trim_end_matches('\r')) {
                return Some(event);
            }
        }
        self.dispatch()
    }

    fn line(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            return self.dispatch();
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "event" => self.event = Some(value.to_owned()),
            "data" => {
                self.data.push(value.to_owned());
                self.has_data = true;
            }
            _ => {}
        }
        None
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let event = self.event.take();
        if !self.has_data {
            return None;
        }
        self.has_data = false;
        Some(SseEvent { event, data: std::mem::take(&mut self.data).join("\n") })
    }
}

/// The events of a streaming HTTP response, in order. A transport failure mid-stream ends the stream with an error.
pub(crate) fn events(response: reqwest::Response) -> impl Stream<Item = Result<SseEvent, LlmError>> + Send {
    let bytes = response.bytes_stream();
    futures::stream::unfold(
        (bytes, SseDecoder::default(), std::collections::VecDeque::new(), false),
        |state| async move {
            let (mut bytes, mut decoder, mut pending, mut ended) = state;
            loop {
                if let Some(event) = pending.pop_front() {
                    return Some((Ok(event), (bytes, decoder, pending, ended)));
                }
                if ended {
                    return None;
                }
                match bytes.next().await {
                    Some(Ok(chunk)) => pending.extend(decoder.push(&chunk)),
                    Some(Err(error)) => {
                        ended = true;
                        let error = LlmError::Transport(format!("the stream broke off: {error}"));
                        return Some((Err(error), (bytes, decoder, pending, ended)));
                    }
                    None => {
                        ended = true;
                        pending.extend(decoder.finish());
                    }
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(chunks: &[&str]) -> Vec<SseEvent> {
        let mut decoder = SseDecoder::default();
        let mut events: Vec<SseEvent> = chunks.iter().flat_map(|c| decoder.push(c.as_bytes())).collect();
        events.extend(decoder.finish());
        events
    }

    #[test]
    fn events_split_across_chunks_are_reassembled() {
        let events = decode(&["event: message_start\nda", "ta: {\"a\":1}\n", "\n: keep-alive\n\ndata: [DONE]\n\n"]);
        assert_eq!(
            events,
            vec![
                SseEvent { event: Some("message_start".into()), data: "{\"a\":1}".into() },
                SseEvent { event: None, data: "[DONE]".into() },
            ]
        );
    }

    #[test]
    fn crlf_multiline_data_and_a_missing_final_blank_line() {
        let events = decode(&["data: one\r\ndata: two\r\n\r\ndata:three"]);
        assert_eq!(events[0].data, "one\ntwo");
        assert_eq!(events[1].data, "three");
    }
}
