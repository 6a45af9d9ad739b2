//! The modes, and what each decides for one queued datagram.
use crate::ipid::IpIdRewriter;
use crate::mpls::append_extension;
use crate::reset::{resets_for, Injected};
use crate::seqrand::SeqRandomiser;
use crate::tls::{rewrite_first_suite, starts_tls_handshake};
use crate::truncate::truncate_quote;

/// One middlebox behaviour with its state.
pub enum Middlebox {
    /// Reset both ends for every queued TCP segment, drop it.
    Reset,
    /// Cut ICMP error quotes to this many bytes.
    TruncateQuotes(usize),
    /// New IP IDs.
    RewriteIpId(IpIdRewriter),
    /// Per-connection sequence number offsets.
    SeqRandomise(SeqRandomiser),
    /// Drop client TLS handshake segments.
    TlsDrop { port: u16 },
    /// Reset both ends on client TLS handshake segments.
    TlsReset { port: u16 },
    /// Rewrite the ClientHello's first cipher suite.
    TlsRewrite { port: u16, suite: u16 },
    /// Append this RFC 4884 extension structure (an MPLS label stack) to ICMP errors.
    MplsLabels(Vec<u8>),
}

/// The verdict for one datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Let it pass unchanged.
    Accept,
    /// Let the (changed) buffer pass instead.
    Rewritten,
    /// Drop it.
    Drop,
    /// Drop it and send these instead.
    DropAndInject(Vec<Injected>),
}

impl Middlebox {
    /// Whether the mode sends datagrams of its own (and so needs a raw socket).
    pub fn injects(&self) -> bool {
        matches!(self, Self::Reset | Self::TlsReset { .. })
    }

    /// Decides what happens to `datagram`, changing it in place for [`Decision::Rewritten`].
    pub fn decide(&mut self, datagram: &mut Vec<u8>) -> Decision {
        let rewritten = |changed: bool| {
            if changed {
                Decision::Rewritten
            } else {
                Decision::Accept
            }
        };
        match self {
            Self::Reset => reset(datagram),
            Self::TruncateQuotes(n) => rewritten(truncate_quote(datagram, *n)),
            Self::RewriteIpId(r) => rewritten(r.rewrite(datagram)),
            Self::SeqRandomise(r) => rewritten(r.rewrite(datagram)),
            Self::TlsDrop { port } => {
                if starts_tls_handshake(datagram, *port) {
                    Decision::Drop
                } else {
                    Decision::Accept
                }
            }
            Self::TlsReset { port } => {
                if starts_tls_handshake(datagram, *port) {
                    reset(datagram)
                } else {
                    Decision::Accept
                }
            }
            Self::TlsRewrite { port, suite } => {
                rewritten(rewrite_first_suite(datagram, *port, *suite))
            }
            Self::MplsLabels(structure) => rewritten(append_extension(datagram, structure)),
        }
    }
}

/// A segment we cannot parse passes untouched; any other dies and both ends are reset.
fn reset(datagram: &[u8]) -> Decision {
    let resets = resets_for(datagram);
    if resets.is_empty() {
        Decision::Accept
    } else {
        Decision::DropAndInject(resets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::fixtures;
    use crate::tls::tests::client_hello;

    const C: [u8; 4] = [198, 51, 100, 1];
    const S: [u8; 4] = [192, 0, 2, 25];

    #[test]
    fn tls_boxes_act_on_handshakes_only() {
        let hello = fixtures::tcp(C, S, 40000, 25, 1, &client_hello(0));
        let smtp = fixtures::tcp(C, S, 40000, 25, 1, b"EHLO x\r\n");
        let mut drop = Middlebox::TlsDrop { port: 25 };
        assert_eq!(drop.decide(&mut hello.clone()), Decision::Drop);
        assert_eq!(drop.decide(&mut smtp.clone()), Decision::Accept);
        let mut rst = Middlebox::TlsReset { port: 25 };
        assert!(
            matches!(rst.decide(&mut hello.clone()), Decision::DropAndInject(v) if v.len() == 2)
        );
        assert_eq!(rst.decide(&mut smtp.clone()), Decision::Accept);
        let mut rw = Middlebox::TlsRewrite {
            port: 25,
            suite: 0x2f,
        };
        let mut h = hello.clone();
        assert_eq!(rw.decide(&mut h), Decision::Rewritten);
        assert_ne!(h, hello);
        assert_eq!(rw.decide(&mut smtp.clone()), Decision::Accept);
        assert!(rst.injects() && !rw.injects());
    }
}
