//! `reconmap_core::smtp::ReplyParser` on a server's byte stream, fed in the split the input
//! encodes.
//!
//! Input: one flags byte (bits 0-2: the number N of cut lengths that follow, bit 3: small
//! limits, 32-byte lines and 3 lines per reply, so that the limits are reached by short
//! inputs), N bytes each giving the length of the next piece, then the stream.
//!
//! Property: the replies and the error are the same as when the stream is fed whole; after an
//! error every further piece gives that error and nothing else; replies keep to the limits and
//! the parser never holds more than one line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reconmap_core::smtp::{Fed, ReplyLimits, ReplyParser};
use reconmap_fuzz::{pieces, Input};

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let flags = input.u8();
    let lengths: Vec<usize> = input
        .take(usize::from(flags & 0x07))
        .iter()
        .map(|&b| usize::from(b))
        .collect();
    let limits = if flags & 0x08 != 0 {
        ReplyLimits {
            max_line: 32,
            max_lines: 3,
        }
    } else {
        ReplyLimits::default()
    };
    check(input.rest(), &lengths, &limits);
});

fn check(stream: &[u8], lengths: &[usize], limits: &ReplyLimits) {
    let whole = ReplyParser::new(limits.clone()).feed(stream);

    let mut parser = ReplyParser::new(limits.clone());
    let mut split = Fed::default();
    for piece in pieces(stream, lengths) {
        let fed = parser.feed(piece);
        if let Some(first) = &split.error {
            assert!(fed.replies.is_empty(), "replies after the error {first:?}");
            assert_eq!(
                fed.error.as_ref(),
                Some(first),
                "another error after the first"
            );
            continue;
        }
        split.replies.extend(fed.replies);
        split.error = fed.error;
        assert!(
            parser.pending() <= limits.max_line + 1,
            "{} bytes pending with lines of at most {}",
            parser.pending(),
            limits.max_line
        );
    }
    assert_eq!(split, whole, "the split changed the result");

    for r in &whole.replies {
        assert!(r.code <= 999, "code {}", r.code);
        assert!(
            !r.lines.is_empty() && r.lines.len() <= limits.max_lines,
            "{} lines",
            r.lines.len()
        );
        for line in &r.lines {
            // Escaped text: no control character reaches a record.
            assert!(!line.chars().any(char::is_control), "{line:?}");
        }
    }
}
