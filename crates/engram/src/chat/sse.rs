//! A minimal server-sent events reader for `engram chat`: feeds it the response body as it arrives and it hands back
//! the `data` of each complete event. engram's server sends only `data:` lines (and keep-alive comments), so `event`,
//! `id` and `retry` fields are ignored.

/// Collects bytes into lines and lines into events. Bytes are kept until a line is complete, so a character split
/// across two chunks is decoded whole.
#[derive(Debug, Default)]
pub struct SseParser {
    pending: Vec<u8>,
    data: Option<String>,
}

impl SseParser {
    /// Adds a chunk of the body and returns the data of every event it completed, in order.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<String> {
        self.pending.extend_from_slice(chunk);
        let mut events = Vec::new();
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches('\n').trim_end_matches('\r');
            if let Some(event) = self.line(line) {
                events.push(event);
            }
        }
        events
    }

    /// The event left open when the body ended without the blank line that closes it, if any.
    pub fn finish(&mut self) -> Option<String> {
        let rest = std::mem::take(&mut self.pending);
        let rest = String::from_utf8_lossy(&rest).into_owned();
        if !rest.is_empty() {
            self.line(rest.trim_end_matches('\r'));
        }
        self.data.take()
    }

    fn line(&mut self, line: &str) -> Option<String> {
        if line.is_empty() {
            return self.data.take();
        }
        if let Some(value) = line.strip_prefix("data") {
            // `data:value`, `data: value` (one space dropped) and a bare `data` are all data lines.
            let value = match value.strip_prefix(':') {
                Some(value) => value.strip_prefix(' ').unwrap_or(value),
                None if value.is_empty() => "",
                None => return None,
            };
            match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            }
        }
        // Comments (`:keep-alive`) and other fields carry nothing engram uses.
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(chunks: &[&[u8]]) -> Vec<String> {
        let mut parser = SseParser::default();
        let mut events: Vec<String> = chunks.iter().flat_map(|chunk| parser.push(chunk)).collect();
        events.extend(parser.finish());
        events
    }

    #[test]
    fn events_end_at_a_blank_line() {
        assert_eq!(parse(&[b"data: {\"a\":1}\n\ndata: two\n\n"]), ["{\"a\":1}", "two"]);
        assert_eq!(parse(&[b"data:x\r\n\r\n"]), ["x"]);
    }

    #[test]
    fn chunks_may_split_lines_and_characters() {
        let text = "data: caf\u{e9}\n\n".as_bytes();
        let (a, b) = text.split_at(9);
        assert_eq!(parse(&[a, b]), ["caf\u{e9}"]);
        assert_eq!(parse(&[b"da", b"ta: 1\n", b"\n"]), ["1"]);
    }

    #[test]
    fn comments_and_other_fields_are_skipped_and_data_lines_join() {
        assert_eq!(parse(&[b": keep-alive\n\nevent: x\ndata: a\ndata: b\nid: 7\n\n"]), ["a\nb"]);
        assert_eq!(parse(&[b"datum: no\n\n"]), Vec::<String>::new());
    }

    #[test]
    fn an_unterminated_event_is_returned_at_the_end() {
        assert_eq!(parse(&[b"data: last"]), ["last"]);
    }
}
