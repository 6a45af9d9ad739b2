//! The client's bytes as OpenSSL reads them from the socket: one record at a time, its 5-byte
//! header, then its body (Postfix was seen reading exactly so). What is not read yet when the
//! server closes decides between FIN and RST.
use super::TlsClose;
use reconmap_tls::records::{MAX_RECORD_LEN, RECORD_HEADER_LEN};

/// The next thing read.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Next {
    /// Not a whole record yet.
    Incomplete,
    /// A whole record, header included.
    Record(Vec<u8>),
    /// A header no TLS peer would send (an SMTP line, say); the header was read.
    NotTls,
    /// A header announcing more than TLS allows; the header was read (given here).
    TooLong(Vec<u8>),
}

/// Received client bytes not read yet: at most one record in the making (bounded by the
/// largest record TLS allows), or, once the server stopped reading, whatever came after.
#[derive(Debug, Default)]
pub(super) struct Incoming {
    pending: Vec<u8>,
}

impl Incoming {
    pub(super) fn push(&mut self, data: &[u8]) {
        self.pending.extend_from_slice(data);
    }

    /// Reads the next record, if it is all there.
    pub(super) fn next(&mut self) -> Next {
        let Some(&[typ, major, _, hi, lo]) = self.pending.get(..RECORD_HEADER_LEN) else {
            return Next::Incomplete;
        };
        if !(20..=24).contains(&typ) || major != 3 {
            self.pending.drain(..RECORD_HEADER_LEN);
            return Next::NotTls;
        }
        let len = usize::from(u16::from_be_bytes([hi, lo]));
        if len > MAX_RECORD_LEN {
            return Next::TooLong(self.pending.drain(..RECORD_HEADER_LEN).collect());
        }
        if self.pending.len() < RECORD_HEADER_LEN + len {
            return Next::Incomplete;
        }
        Next::Record(self.pending.drain(..RECORD_HEADER_LEN + len).collect())
    }

    /// How `close()` ends the connection now: an abort (RST) when client bytes are unread.
    pub(super) fn close(&self) -> TlsClose {
        if self.pending.is_empty() {
            TlsClose::Fin
        } else {
            TlsClose::Abort
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_come_whole_in_any_split() {
        let mut i = Incoming::default();
        i.push(&[22, 3, 1, 0, 2, 9]);
        assert_eq!(i.next(), Next::Incomplete);
        i.push(&[8, 21, 3]);
        assert_eq!(i.next(), Next::Record(vec![22, 3, 1, 0, 2, 9, 8]));
        assert_eq!(i.next(), Next::Incomplete);
        assert_eq!(i.close(), TlsClose::Abort, "two bytes of a header unread");
        i.push(&[3, 0, 2, 1, 0]);
        assert_eq!(i.next(), Next::Record(vec![21, 3, 3, 0, 2, 1, 0]));
        assert_eq!(i.close(), TlsClose::Fin);
    }

    #[test]
    fn a_text_line_is_read_as_a_header_and_the_rest_stays_unread() {
        // Postfix after STARTTLS: `QUIT\r` got a FIN, `QUIT\r\n` a RST.
        let mut i = Incoming::default();
        i.push(b"QUIT\r");
        assert_eq!(i.next(), Next::NotTls);
        assert_eq!(i.close(), TlsClose::Fin);
        let mut i = Incoming::default();
        i.push(b"QUIT\r\n");
        assert_eq!(i.next(), Next::NotTls);
        assert_eq!(i.close(), TlsClose::Abort);
    }

    #[test]
    fn an_oversized_header_is_read_alone() {
        let mut i = Incoming::default();
        i.push(&[23, 3, 3, 0xff, 0xff, 1, 2]);
        assert_eq!(i.next(), Next::TooLong(vec![23, 3, 3, 0xff, 0xff]));
        assert_eq!(i.close(), TlsClose::Abort);
    }
}
