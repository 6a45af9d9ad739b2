//! Incremental parser of SMTP replies (RFC 5321 4.2): `CODE SP text CRLF`, or multi-line
//! `CODE-text CRLF ... CODE SP text CRLF`, with hard limits so a hostile or broken peer can only
//! end the session with an error, never exhaust memory.
use serde::Serialize;

/// One complete reply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Reply {
    pub code: u16,
    /// The text of each line after the code and separator, lossily decoded, control
    /// characters escaped.
    pub lines: Vec<String>,
}

impl Reply {
    pub fn is_positive(&self) -> bool {
        (200..400).contains(&self.code)
    }

    /// All lines joined with " | " (for tables and CSV).
    pub fn text(&self) -> String {
        self.lines.join(" | ")
    }
}

/// Limits on what the server may send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplyLimits {
    /// Longest line, CRLF included (RFC 5321: 512; we allow slack for real servers).
    pub max_line: usize,
    /// Most lines in one reply.
    pub max_lines: usize,
}

impl Default for ReplyLimits {
    fn default() -> Self {
        Self {
            max_line: 2048,
            max_lines: 100,
        }
    }
}

/// Why a reply was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    #[error("reply line longer than {0} bytes")]
    LineTooLong(usize),
    #[error("reply with more than {0} lines")]
    TooManyLines(usize),
    #[error("malformed reply line {0:?}: expected a 3-digit code and ' ' or '-'")]
    Malformed(String),
    #[error("multi-line reply mixes codes {0} and {1}")]
    MixedCodes(u16, u16),
}

/// What one [`ReplyParser::feed`] produced: every reply completed by the bytes, and the error
/// that stopped parsing, if any (replies completed before it are kept).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Fed {
    pub replies: Vec<Reply>,
    pub error: Option<ReplyError>,
}

/// Feeds bytes in any split; yields replies as they complete. The result never depends on how
/// the bytes were split: the same stream gives the same replies and the same first error.
/// After an error the parser stays failed (a broken stream is not resynchronised).
#[derive(Debug, Default)]
pub struct ReplyParser {
    limits: ReplyLimits,
    partial: Vec<u8>,
    lines: Vec<String>,
    code: Option<u16>,
    failed: Option<ReplyError>,
}

impl ReplyParser {
    pub fn new(limits: ReplyLimits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    /// Appends bytes and returns every reply they complete, and the error that stopped
    /// parsing (replies complete before the error are returned with it).
    pub fn feed(&mut self, data: &[u8]) -> Fed {
        let mut out = Fed::default();
        if let Some(e) = &self.failed {
            out.error = Some(e.clone());
            return out;
        }
        for &b in data {
            self.partial.push(b);
            let step = if b == b'\n' {
                let line = std::mem::take(&mut self.partial);
                self.line(&line)
            } else if self.partial.len() > self.limits.max_line {
                Err(ReplyError::LineTooLong(self.limits.max_line))
            } else {
                Ok(None)
            };
            match step {
                Ok(Some(r)) => out.replies.push(r),
                Ok(None) => {}
                Err(e) => {
                    self.failed = Some(e.clone());
                    out.error = Some(e);
                    break;
                }
            }
        }
        out
    }

    /// Bytes of an unfinished line (for diagnostics).
    pub fn pending(&self) -> usize {
        self.partial.len()
    }

    fn line(&mut self, raw: &[u8]) -> Result<Option<Reply>, ReplyError> {
        // Accept bare LF as well as CRLF (lenient, like most clients).
        let body = raw.strip_suffix(b"\n").unwrap_or(raw);
        let body = body.strip_suffix(b"\r").unwrap_or(body);
        let text = escape(body);
        let digits = body.get(..3).filter(|d| d.iter().all(u8::is_ascii_digit));
        let Some(digits) = digits else {
            return Err(ReplyError::Malformed(text));
        };
        let code = digits
            .iter()
            .fold(0u16, |a, d| a * 10 + u16::from(d - b'0'));
        let sep = body.get(3).copied();
        let rest = body.get(4..).map(escape).unwrap_or_default();
        let last = match sep {
            None | Some(b' ') => true,
            Some(b'-') => false,
            Some(_) => return Err(ReplyError::Malformed(text)),
        };
        if let Some(first) = self.code {
            if first != code {
                return Err(ReplyError::MixedCodes(first, code));
            }
        }
        self.code = Some(code);
        self.lines.push(rest);
        if self.lines.len() > self.limits.max_lines {
            return Err(ReplyError::TooManyLines(self.limits.max_lines));
        }
        if last {
            self.code = None;
            return Ok(Some(Reply {
                code,
                lines: std::mem::take(&mut self.lines),
            }));
        }
        Ok(None)
    }
}

/// A server's text made safe to show anywhere: valid UTF-8 kept; invalid bytes and control
/// characters as `\xNN`; characters that are invisible or reorder text (bidi controls,
/// zero-width characters, line separators: a server could hide or disguise a keyword with
/// them) as `\u{NNNN}`.
pub fn escape(b: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(b.len());
    for chunk in b.utf8_chunks() {
        for ch in chunk.valid().chars() {
            if ch.is_control() {
                let _ = write!(s, "\\x{:02x}", u32::from(ch));
            } else if is_invisible_or_bidi(ch) {
                let _ = write!(s, "\\u{{{:04x}}}", u32::from(ch));
            } else {
                s.push(ch);
            }
        }
        for byte in chunk.invalid() {
            let _ = write!(s, "\\x{byte:02x}");
        }
    }
    s
}

/// Unicode format characters and separators that change how text displays without showing.
fn is_invisible_or_bidi(c: char) -> bool {
    matches!(
        c,
        '\u{00ad}'
            | '\u{034f}'
            | '\u{061c}'
            | '\u{115f}'
            | '\u{1160}'
            | '\u{17b4}'
            | '\u{17b5}'
            | '\u{180b}'..='\u{180f}'
            | '\u{200b}'..='\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2060}'..='\u{206f}'
            | '\u{3164}'
            | '\u{fe00}'..='\u{fe0f}'
            | '\u{feff}'
            | '\u{ffa0}'
            | '\u{fff0}'..='\u{fffb}'
            | '\u{e0000}'..='\u{e007f}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(chunks: &[&[u8]]) -> Result<Vec<Reply>, ReplyError> {
        let mut p = ReplyParser::new(ReplyLimits::default());
        let mut out = Vec::new();
        for c in chunks {
            let fed = p.feed(c);
            out.extend(fed.replies);
            if let Some(e) = fed.error {
                return Err(e);
            }
        }
        Ok(out)
    }

    /// Replies and first error of a stream fed in the given pieces.
    fn parse_split(stream: &[u8], cuts: &[usize]) -> (Vec<Reply>, Option<ReplyError>) {
        let mut p = ReplyParser::new(ReplyLimits::default());
        let mut out = Vec::new();
        let mut err = None;
        let mut start = 0;
        for &cut in cuts.iter().chain(std::iter::once(&stream.len())) {
            let end = cut.clamp(start, stream.len());
            let fed = p.feed(&stream[start..end]);
            out.extend(fed.replies);
            if err.is_none() {
                err = fed.error;
            }
            start = end;
        }
        (out, err)
    }

    #[test]
    fn replies_before_a_malformed_line_in_the_same_chunk_are_kept() {
        // Issue: "220 ready\r\nabc\r\n" lost the 220 when both came in one segment.
        let mut p = ReplyParser::new(ReplyLimits::default());
        let fed = p.feed(b"220 ready\r\nabc\r\n");
        assert_eq!(fed.replies.len(), 1);
        assert_eq!(fed.replies[0].code, 220);
        assert!(matches!(fed.error, Some(ReplyError::Malformed(_))));
        // Failed for good: later bytes give the same error and nothing else.
        let again = p.feed(b"250 ok\r\n");
        assert!(again.replies.is_empty() && again.error.is_some());
    }

    use proptest::strategy::Strategy as _;

    proptest::proptest! {
        /// Any split of the same byte stream gives the same replies and the same error.
        #[test]
        fn parsing_does_not_depend_on_segmentation(
            stream in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Just(b"220 mx ESMTP\r\n".to_vec()),
                    proptest::strategy::Just(b"250-a\r\n250-STARTTLS\r\n250 b\r\n".to_vec()),
                    proptest::strategy::Just(b"abc\r\n".to_vec()),
                    proptest::strategy::Just(b"500 \"XXXXXXXX\"\n".to_vec()),
                    proptest::collection::vec(proptest::num::u8::ANY, 0..40),
                ],
                0..8,
            ).prop_map(|v: Vec<Vec<u8>>| v.concat()),
            cuts in proptest::collection::vec(0usize..400, 0..12),
        ) {
            let mut cuts = cuts;
            cuts.sort_unstable();
            let whole = parse_split(&stream, &[]);
            let split = parse_split(&stream, &cuts);
            proptest::prop_assert_eq!(whole, split);
        }
    }

    #[test]
    fn single_and_multi_line_in_any_split() {
        let ehlo = b"250-mail.lab\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 CHUNKING\r\n";
        for split in 0..ehlo.len() {
            let r = parse_all(&[b"220 mail.lab ESMTP\r\n", &ehlo[..split], &ehlo[split..]])
                .expect("parse");
            assert_eq!(r.len(), 2);
            assert_eq!(r[0].code, 220);
            assert_eq!(r[0].lines, ["mail.lab ESMTP"]);
            assert_eq!(r[1].code, 250);
            assert_eq!(
                r[1].lines,
                ["mail.lab", "PIPELINING", "STARTTLS", "CHUNKING"]
            );
        }
    }

    #[test]
    fn code_only_lines_bare_lf_and_escapes() {
        let r = parse_all(&[b"220\n", b"500 bad \x07 \xff\r\n"]).expect("parse");
        assert_eq!(r[0].code, 220);
        assert_eq!(r[0].lines, [""]);
        assert_eq!(r[1].lines, ["bad \\x07 \\xff"]);
        let r = parse_all(&[b"220 a\xe2\x80\xaeb c\xe2\x80\x8bd \xc3\xa9\r\n"]).expect("parse");
        assert_eq!(r[0].lines, ["a\\u{202e}b c\\u{200b}d \u{e9}"]);
    }

    #[test]
    fn malformed_and_over_limit_replies_are_errors() {
        assert!(matches!(
            parse_all(&[b"hello\r\n"]),
            Err(ReplyError::Malformed(_))
        ));
        assert!(matches!(
            parse_all(&[b"22 x\r\n"]),
            Err(ReplyError::Malformed(_))
        ));
        assert!(matches!(
            parse_all(&[b"220x\r\n"]),
            Err(ReplyError::Malformed(_))
        ));
        assert!(matches!(
            parse_all(&[b"250-a\r\n251 b\r\n"]),
            Err(ReplyError::MixedCodes(250, 251))
        ));
        let long = vec![b'2'; 5000];
        assert!(matches!(
            parse_all(&[&long]),
            Err(ReplyError::LineTooLong(_))
        ));
        let many = b"250-x\r\n".repeat(200);
        assert!(matches!(
            parse_all(&[&many]),
            Err(ReplyError::TooManyLines(_))
        ));
    }
}
