//! Server-sent events (the WHATWG `text/event-stream` format OpenAI and Anthropic stream
//! in), decoded incrementally from arbitrary byte chunks with bounded memory: a line or an
//! event larger than [`MAX_EVENT_BYTES`] is an [`LlmError::InvalidResponse`], never an
//! ever-growing buffer.

use super::LlmError;

/// The largest line, and the largest event's data, accepted.
pub(crate) const MAX_EVENT_BYTES: usize = 1024 * 1024;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SseEvent {
    /// The `event:` field, if the event had one.
    pub(crate) event: Option<String>,
    /// The `data:` lines, joined by `\n`.
    pub(crate) data: String,
}

/// The incremental decoder.
#[derive(Debug, Default)]
pub(crate) struct SseDecoder {
    /// Bytes of the line being received.
    pending: Vec<u8>,
    event: Option<String>,
    data: String,
    has_data: bool,
}

impl SseDecoder {
    /// Decodes `bytes`, pushing every event they complete onto `out`.
    pub(crate) fn feed(&mut self, bytes: &[u8], out: &mut Vec<SseEvent>) -> Result<(), LlmError> {
        self.pending.extend_from_slice(bytes);
        let mut start = 0;
        let result = loop {
            let rest = &self.pending[start..];
            let Some(end) = rest.iter().position(|b| *b == b'\n' || *b == b'\r') else {
                break Ok(());
            };
            // A `\r` that ends the buffer may be the first half of `\r\n`: wait for more.
            let skip = match rest[end] {
                b'\r' if end + 1 == rest.len() => break Ok(()),
                b'\r' if rest[end + 1] == b'\n' => 2,
                _ => 1,
            };
            let line = match std::str::from_utf8(&rest[..end]) {
                Ok(line) => line.to_owned(),
                Err(_) => break Err(invalid("a line of the stream is not UTF-8")),
            };
            start += end + skip;
            if let Err(e) = self.line(&line, out) {
                break Err(e);
            }
        };
        self.pending.drain(..start);
        result?;
        if self.pending.len() > MAX_EVENT_BYTES {
            return Err(invalid("a line of the stream is longer than 1 MiB"));
        }
        Ok(())
    }

    fn line(&mut self, line: &str, out: &mut Vec<SseEvent>) -> Result<(), LlmError> {
        if line.is_empty() {
            if self.has_data {
                let mut data = std::mem::take(&mut self.data);
                data.pop(); // the last line's `\n`
                out.push(SseEvent {
                    event: self.event.take(),
                    data,
                });
            }
            self.event = None;
            self.has_data = false;
            return Ok(());
        }
        if line.starts_with(':') {
            return Ok(()); // a comment (keep-alive)
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "data" => {
                if self.data.len() + value.len() + 1 > MAX_EVENT_BYTES {
                    return Err(invalid("an event of the stream is larger than 1 MiB"));
                }
                self.data.push_str(value);
                self.data.push('\n');
                self.has_data = true;
            }
            "event" => self.event = Some(value.to_owned()),
            _ => {} // id, retry and unknown fields do not matter here
        }
        Ok(())
    }
}

fn invalid(what: &str) -> LlmError {
    LlmError::InvalidResponse(what.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_in_pieces(input: &[u8], piece: usize) -> Vec<SseEvent> {
        let mut decoder = SseDecoder::default();
        let mut out = Vec::new();
        for chunk in input.chunks(piece) {
            decoder.feed(chunk, &mut out).unwrap();
        }
        out
    }

    #[test]
    fn events_survive_any_chunking_and_line_ending() {
        let input =
            "event: ping\ndata: {}\n\n: keep-alive\r\ndata:one\r\ndata: two\r\n\rdata: é\n\n";
        let expected = vec![
            SseEvent {
                event: Some("ping".into()),
                data: "{}".into(),
            },
            SseEvent {
                event: None,
                data: "one\ntwo".into(),
            },
            SseEvent {
                event: None,
                data: "é".into(),
            },
        ];
        for piece in 1..input.len() {
            assert_eq!(
                decode_in_pieces(input.as_bytes(), piece),
                expected,
                "{piece}"
            );
        }
    }

    #[test]
    fn an_unterminated_huge_line_is_refused_not_buffered() {
        let mut decoder = SseDecoder::default();
        let mut out = Vec::new();
        let chunk = vec![b'x'; 64 * 1024];
        let mut result = Ok(());
        for _ in 0..20 {
            result = decoder.feed(&chunk, &mut out);
            if result.is_err() {
                break;
            }
        }
        assert!(matches!(result, Err(LlmError::InvalidResponse(_))));
        assert!(decoder.pending.len() <= MAX_EVENT_BYTES + chunk.len());
    }

    #[test]
    fn a_huge_event_of_many_lines_is_refused() {
        let mut decoder = SseDecoder::default();
        let mut out = Vec::new();
        let line = format!("data: {}\n", "y".repeat(1000));
        let mut result = Ok(());
        for _ in 0..2000 {
            result = decoder.feed(line.as_bytes(), &mut out);
            if result.is_err() {
                break;
            }
        }
        assert!(matches!(result, Err(LlmError::InvalidResponse(_))));
    }
}
