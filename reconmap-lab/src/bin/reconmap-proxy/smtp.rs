//! The SMTP side of the proxy: reading replies, recognising STARTTLS, and removing the
//! STARTTLS keyword from EHLO replies.
use std::io::{BufRead, Read};

/// Longest line relayed as one line (RFC 5321 allows 512 for replies, 1000 for text); longer
/// input is relayed in pieces of this size.
pub const MAX_LINE: u64 = 4096;
/// Most lines gathered into one multiline reply before it is passed on anyway.
const MAX_REPLY_LINES: usize = 200;
/// What the proxy answers to STARTTLS in `refuse` mode (the wording of ISP port-25 proxies).
pub const REFUSAL: &[u8] = b"502 5.5.1 STARTTLS not supported\r\n";

/// Reads one line (up to and with `\n`, at most [`MAX_LINE`] bytes) into a new buffer; an
/// empty buffer means end of stream.
pub fn read_line<R: BufRead>(reader: &mut R) -> std::io::Result<Vec<u8>> {
    let mut line = Vec::new();
    reader
        .by_ref()
        .take(MAX_LINE)
        .read_until(b'\n', &mut line)?;
    Ok(line)
}

/// Reads one reply: lines until one whose fourth byte is not `-` (or end of stream). The
/// result is empty at end of stream.
pub fn read_reply<R: BufRead>(reader: &mut R) -> std::io::Result<Vec<Vec<u8>>> {
    let mut lines = Vec::new();
    loop {
        let line = read_line(reader)?;
        if line.is_empty() {
            return Ok(lines);
        }
        let more = line.get(3) == Some(&b'-') && line.ends_with(b"\n");
        lines.push(line);
        if !more || lines.len() >= MAX_REPLY_LINES {
            return Ok(lines);
        }
    }
}

/// Whether a client line is the STARTTLS command (any case, surrounding blanks allowed).
pub fn is_starttls(line: &[u8]) -> bool {
    line.trim_ascii().eq_ignore_ascii_case(b"STARTTLS")
}

/// Whether a reply line (`250-KEYWORD params`) advertises `keyword`.
fn advertises(line: &[u8], keyword: &[u8]) -> bool {
    line.get(4..)
        .and_then(|rest| rest.split(|b| b.is_ascii_whitespace()).next())
        .is_some_and(|k| k.eq_ignore_ascii_case(keyword))
}

/// Removes STARTTLS from a 250 reply (the EHLO reply): drops the keyword's lines after the
/// first, and makes the last remaining line the final one (`250 ` instead of `250-`).
/// Other replies come back unchanged.
pub fn strip_starttls(reply: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    if !reply.first().is_some_and(|l| l.starts_with(b"250")) {
        return reply;
    }
    if !reply.iter().skip(1).any(|l| advertises(l, b"STARTTLS")) {
        return reply;
    }
    let mut kept: Vec<Vec<u8>> = reply
        .into_iter()
        .enumerate()
        .filter(|(i, l)| *i == 0 || !advertises(l, b"STARTTLS"))
        .map(|(_, l)| l)
        .collect();
    let last = kept.len().saturating_sub(1);
    for (i, line) in kept.iter_mut().enumerate() {
        if let Some(sep) = line.get_mut(3) {
            *sep = if i == last { b' ' } else { b'-' };
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<Vec<u8>> {
        text.split_inclusive('\n')
            .map(|l| l.as_bytes().to_vec())
            .collect()
    }

    const EHLO: &str = "250-mx.lab.example\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n\
                        250-STARTTLS\r\n250-8BITMIME\r\n250 CHUNKING\r\n";

    #[test]
    fn strips_the_keyword_and_keeps_the_rest() {
        let out = strip_starttls(lines(EHLO));
        assert_eq!(
            out.concat(),
            b"250-mx.lab.example\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-8BITMIME\r\n250 CHUNKING\r\n"
        );
    }

    #[test]
    fn starttls_last_makes_the_previous_line_final() {
        let out = strip_starttls(lines("250-mx\r\n250-8BITMIME\r\n250 starttls\r\n"));
        assert_eq!(out.concat(), b"250-mx\r\n250 8BITMIME\r\n");
    }

    #[test]
    fn other_replies_and_lookalikes_pass() {
        for text in [
            "220 mx ESMTP STARTTLS\r\n",
            "250-mx\r\n250-STARTTLSX\r\n250 OK\r\n",
            "250 STARTTLS\r\n",
            "502-STARTTLS\r\n502 no\r\n",
        ] {
            assert_eq!(strip_starttls(lines(text)), lines(text), "{text}");
        }
    }

    #[test]
    fn recognises_the_command() {
        assert!(is_starttls(b"STARTTLS\r\n"));
        assert!(is_starttls(b"starttls \r\n"));
        assert!(!is_starttls(b"STARTTLSX\r\n"));
        assert!(!is_starttls(b"EHLO starttls\r\n"));
    }

    #[test]
    fn reads_replies_and_caps_lines() {
        let mut input = std::io::Cursor::new(format!("{EHLO}220 next\r\n").into_bytes());
        assert_eq!(read_reply(&mut input).expect("reply").len(), 6);
        assert_eq!(
            read_reply(&mut input).expect("reply"),
            lines("220 next\r\n")
        );
        assert!(read_reply(&mut input).expect("eof").is_empty());
        let long = vec![b'a'; 10_000];
        let mut input = std::io::Cursor::new(long);
        assert_eq!(read_line(&mut input).expect("piece").len(), 4096);
    }
}
