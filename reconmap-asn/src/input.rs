//! Reading the data files: transparent gzip (detected by its magic bytes, not the file
//! name) and a line reader that numbers lines and bounds their length.
use std::fs::File;
use std::io::{self, BufRead, BufReader, Cursor, Read};
use std::path::Path;

use flate2::bufread::MultiGzDecoder;

use crate::error::{LineError, LoadError, Location, SkippedLines, Strictness};

/// The two bytes every gzip member starts with (RFC 1952, ID1 ID2).
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Longest line accepted, in bytes without the line end. Real lines are under 200 bytes;
/// the bound keeps a file without newlines from being read into memory whole.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// Opens `path` for reading, buffered.
pub(crate) fn open(path: &Path) -> Result<BufReader<File>, LoadError> {
    File::open(path)
        .map(|file| BufReader::with_capacity(256 * 1024, file))
        .map_err(|source| LoadError::Open {
            path: path.to_path_buf(),
            source,
        })
}

/// Wraps `reader` in a gzip decoder when its first two bytes are the gzip magic; otherwise
/// returns the bytes unchanged. Concatenated gzip members are all read.
pub(crate) fn decompressing<'a>(
    mut reader: impl BufRead + 'a,
) -> io::Result<Box<dyn BufRead + 'a>> {
    let mut head = [0u8; 2];
    let mut got = 0;
    while got < head.len() {
        let Some(rest) = head.get_mut(got..) else {
            break;
        };
        match reader.read(rest) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let head_bytes = head.get(..got).unwrap_or_default().to_vec();
    let is_gzip = head_bytes == GZIP_MAGIC;
    let whole = Cursor::new(head_bytes).chain(reader);
    if is_gzip {
        Ok(Box::new(BufReader::with_capacity(
            256 * 1024,
            MultiGzDecoder::new(whole),
        )))
    } else {
        Ok(Box::new(whole))
    }
}

/// Reads every line of `reader` (gzip or plain) and hands it to `parse`. A line that is too
/// long or that `parse` rejects stops the load in strict mode and is counted in `skipped` in
/// lenient mode. I/O and decompression errors always stop it.
pub(crate) fn read_lines<'a>(
    reader: impl BufRead + 'a,
    path: Option<&Path>,
    strictness: Strictness,
    skipped: &mut SkippedLines,
    mut parse: impl FnMut(&Line<'_>) -> Result<(), LineError>,
) -> Result<(), LoadError> {
    let at = |line: usize| Location {
        path: path.map(Path::to_path_buf),
        line,
    };
    let plain = decompressing(reader).map_err(|source| LoadError::Read { at: at(0), source })?;
    let mut lines = LineReader::new(plain);
    loop {
        let read = lines.next_line();
        let line = match read {
            Ok(Some(line)) => line,
            Ok(None) => return Ok(()),
            Err(source) => {
                let last = lines.line_number();
                return Err(LoadError::Read {
                    at: at(last),
                    source,
                });
            }
        };
        let outcome = if line.too_long {
            Err(LineError::TooLong)
        } else {
            parse(&line)
        };
        if let Err(reason) = outcome {
            match strictness {
                Strictness::Strict => {
                    return Err(LoadError::BadLine {
                        at: at(line.number),
                        reason,
                    })
                }
                Strictness::Lenient => skipped.record(line.number, reason),
            }
        }
    }
}

/// One line as read: its 1-based number and its bytes without the line end (`\n` or `\r\n`).
#[derive(Debug)]
pub(crate) struct Line<'a> {
    pub number: usize,
    pub bytes: &'a [u8],
    /// The line was longer than [`MAX_LINE_BYTES`]; `bytes` holds only its start.
    pub too_long: bool,
}

/// Reads numbered lines of at most [`MAX_LINE_BYTES`] bytes.
pub(crate) struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
    number: usize,
}

impl<R: BufRead> LineReader<R> {
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            buf: Vec::with_capacity(256),
            number: 0,
        }
    }

    /// The number of the last line returned (0 before the first).
    pub fn line_number(&self) -> usize {
        self.number
    }

    /// The next line, `None` at the end of the input.
    pub fn next_line(&mut self) -> io::Result<Option<Line<'_>>> {
        self.buf.clear();
        let limit = (MAX_LINE_BYTES + 1) as u64;
        let n = (&mut self.inner)
            .take(limit)
            .read_until(b'\n', &mut self.buf)?;
        if n == 0 {
            return Ok(None);
        }
        self.number += 1;
        let ended = self.buf.last() == Some(&b'\n');
        let too_long = !ended && self.buf.len() > MAX_LINE_BYTES;
        if too_long {
            self.inner.skip_until(b'\n')?;
        }
        let mut bytes = self.buf.as_slice();
        if let Some(rest) = bytes.strip_suffix(b"\n") {
            bytes = rest;
        }
        if let Some(rest) = bytes.strip_suffix(b"\r") {
            bytes = rest;
        }
        Ok(Some(Line {
            number: self.number,
            bytes,
            too_long,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{write::GzEncoder, Compression};
    use std::io::Write;

    fn read_all(input: &[u8]) -> Vec<(usize, Vec<u8>, bool)> {
        let mut reader = LineReader::new(decompressing(input).expect("decompressing"));
        let mut out = Vec::new();
        while let Some(line) = reader.next_line().expect("read") {
            out.push((line.number, line.bytes.to_vec(), line.too_long));
        }
        out
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(data).expect("write");
        enc.finish().expect("finish")
    }

    #[test]
    fn test_lines_crlf_and_last_line_without_newline() {
        let lines = read_all(b"a\r\nb\n\nc");
        assert_eq!(
            lines,
            vec![
                (1, b"a".to_vec(), false),
                (2, b"b".to_vec(), false),
                (3, b"".to_vec(), false),
                (4, b"c".to_vec(), false)
            ]
        );
    }

    #[test]
    fn test_empty_and_one_byte_inputs() {
        assert!(read_all(b"").is_empty());
        assert_eq!(read_all(b"x"), vec![(1, b"x".to_vec(), false)]);
        // A lone 0x1f is not gzip: it stays a (binary) line.
        assert_eq!(read_all(&[0x1f]), vec![(1, vec![0x1f], false)]);
    }

    #[test]
    fn test_overlong_line_is_cut_and_skipped_to_its_end() {
        let mut input = vec![b'x'; MAX_LINE_BYTES + 10];
        input.extend_from_slice(b"\nnext\n");
        let lines = read_all(&input);
        assert_eq!(lines.len(), 2);
        assert!(lines[0].2, "first line flagged too long");
        assert_eq!(lines[1], (2, b"next".to_vec(), false));
    }

    #[test]
    fn test_line_of_exactly_the_limit_is_accepted() {
        let mut input = vec![b'y'; MAX_LINE_BYTES];
        input.push(b'\n');
        let lines = read_all(&input);
        assert_eq!(lines.len(), 1);
        assert!(!lines[0].2);
        assert_eq!(lines[0].1.len(), MAX_LINE_BYTES);
    }

    #[test]
    fn test_gzip_detected_by_magic_and_members_concatenated() {
        let mut data = gzip(b"one\ntwo\n");
        data.extend(gzip(b"three\n"));
        let lines: Vec<Vec<u8>> = read_all(&data).into_iter().map(|l| l.1).collect();
        assert_eq!(
            lines,
            vec![b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]
        );
    }

    #[test]
    fn test_truncated_gzip_is_a_read_error() {
        let data = gzip(&b"192.0.2.0\t24\t64500\n".repeat(1000));
        let cut = &data[..data.len() / 2];
        let mut reader = LineReader::new(decompressing(cut).expect("header"));
        let mut result = Ok(());
        loop {
            match reader.next_line() {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        assert!(
            result.is_err(),
            "a cut gzip stream must not look like a short file"
        );
    }

    /// A reader handing out one byte per call: gzip detection must not depend on how much a
    /// single read returns.
    struct OneByte<'a>(&'a [u8]);
    impl Read for OneByte<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match (self.0.split_first(), buf.first_mut()) {
                (Some((b, rest)), Some(slot)) => {
                    *slot = *b;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    #[test]
    fn test_gzip_detected_through_one_byte_reads() {
        let data = gzip(b"hello\n");
        let reader = io::BufReader::with_capacity(1, OneByte(&data));
        let mut lines = LineReader::new(decompressing(reader).expect("decompressing"));
        let line = lines.next_line().expect("read").expect("a line");
        assert_eq!(line.bytes, b"hello");
    }
}
