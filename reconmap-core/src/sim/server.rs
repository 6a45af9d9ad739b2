//! The server end: just enough TCP (handshake, in-order data, duplicates acknowledged, FIN and
//! RST) and SMTP (the lab's Postfix texts) to answer a probe session as Postfix would.
use super::path::server_side;
use super::SimNet;
use bytes::Bytes;
use reconmap_wire::{
    build_ipv4_tcp, parse_captured, Captured, FlowAddrs, IpParams, SeqNumber, TcpFlags, TcpOptions,
    TcpSegment,
};

/// The IP TTL the server's segments start with (Linux).
const SERVER_TTL: u8 = 64;

/// One connection at the server.
#[derive(Debug, Default)]
pub(super) struct ServerConn {
    rcv_nxt: u32,
    snd_nxt: u32,
    isn: u32,
    banner_sent: bool,
    line: Vec<u8>,
    /// The client closed (FIN) or reset the connection.
    client_closed: bool,
    /// We sent our FIN.
    fin_sent: bool,
    /// STARTTLS was accepted: what follows is TLS, which this server does not speak.
    in_tls: bool,
    /// The connection was reset by the client.
    reset: bool,
}

impl ServerConn {
    pub(super) fn is_open(&self) -> bool {
        !self.client_closed
    }
}

impl SimNet {
    /// A segment reached the server.
    pub(super) fn at_server(&mut self, pkt: &[u8]) {
        let Ok(Captured::Tcp(rx)) = parse_captured(pkt) else {
            return;
        };
        self.stats.at_server += 1;
        // The flow as the prober names it (local = prober).
        let flow = FlowAddrs {
            local: rx.src,
            remote: rx.dst,
        };
        let seg = &rx.segment;
        if seg.flags.rst {
            self.stats.rsts_at_server += 1;
            // RFC 5961 (as Linux): only a RST at exactly rcv_nxt resets; one elsewhere in the
            // window gets a challenge ACK; others are ignored.
            let Some(c) = self.conns.get_mut(&flow) else {
                return;
            };
            if c.client_closed && c.fin_sent {
                return;
            }
            let offset = seg.seq.0.wrapping_sub(c.rcv_nxt) as i32;
            if offset == 0 {
                if !c.client_closed {
                    self.stats.closed += 1;
                }
                c.client_closed = true;
                c.reset = true;
            } else if (0..65535).contains(&offset) {
                self.reply(flow, "", b"");
            }
            return;
        }
        if seg.flags.syn {
            let isn: u32 = rand::Rng::gen(&mut self.rng);
            let conn = self.conns.entry(flow).or_default();
            *conn = ServerConn {
                rcv_nxt: seg.seq.0.wrapping_add(1),
                snd_nxt: isn,
                isn,
                ..ServerConn::default()
            };
            self.reply(flow, "S", b"");
            return;
        }
        let Some(conn) = self.conns.get_mut(&flow) else {
            return;
        };
        if conn.reset {
            return;
        }
        let mut out: Vec<(&'static str, Vec<u8>)> = Vec::new();
        if !conn.banner_sent && seg.flags.ack && seg.ack.0 == conn.isn.wrapping_add(1) {
            conn.banner_sent = true;
            out.push(("", self.text.banner_line.clone().into_bytes()));
        }
        if !seg.payload.is_empty() {
            if seg.seq.0 != conn.rcv_nxt {
                // A duplicate (another sweep copy) or out of order: acknowledge again.
                out.push(("", Vec::new()));
            } else {
                conn.rcv_nxt = conn
                    .rcv_nxt
                    .wrapping_add(u32::try_from(seg.payload.len()).unwrap_or(0));
                if conn.in_tls {
                    // Not SMTP any more: acknowledge and wait for the close.
                    out.push(("", Vec::new()));
                } else {
                    conn.line.extend_from_slice(&seg.payload);
                    while let Some(pos) = conn.line.iter().position(|&b| b == b'\n') {
                        let line: Vec<u8> = conn.line.drain(..=pos).collect();
                        let cmd = String::from_utf8_lossy(&line).trim().to_ascii_uppercase();
                        let answer: &str = if cmd.starts_with("EHLO") {
                            &self.text.ehlo_reply
                        } else if cmd.starts_with("HELO") {
                            "250 mx.lab.example\r\n"
                        } else if cmd == "STARTTLS" {
                            if self.text.starttls_reply.starts_with("220") {
                                conn.in_tls = true;
                            }
                            self.text.starttls_reply
                        } else if cmd == "QUIT" {
                            self.text.quit_reply
                        } else {
                            self.text.unknown_reply
                        };
                        out.push(("", answer.as_bytes().to_vec()));
                        if cmd == "QUIT" {
                            conn.fin_sent = true;
                            out.push(("F", Vec::new()));
                        }
                    }
                }
            }
        }
        if seg.flags.fin
            && seg
                .seq
                .0
                .wrapping_add(u32::try_from(seg.payload.len()).unwrap_or(0))
                == conn.rcv_nxt
        {
            conn.rcv_nxt = conn.rcv_nxt.wrapping_add(1);
            if !conn.client_closed {
                self.stats.closed += 1;
            }
            conn.client_closed = true;
            if conn.fin_sent {
                out.push(("", Vec::new()));
            } else {
                conn.fin_sent = true;
                out.push(("F", Vec::new()));
            }
        }
        for (flags, payload) in out {
            self.reply(flow, flags, &payload);
        }
    }

    /// The server sends one segment on `flow` (as the prober names it).
    fn reply(&mut self, flow: FlowAddrs, flags: &str, payload: &[u8]) {
        let Some(conn) = self.conns.get_mut(&flow) else {
            return;
        };
        let syn = flags.contains('S');
        let seg = TcpSegment {
            seq: SeqNumber(conn.snd_nxt),
            ack: SeqNumber(conn.rcv_nxt),
            flags: TcpFlags {
                syn,
                fin: flags.contains('F'),
                ack: true,
                psh: !payload.is_empty(),
                ..TcpFlags::default()
            },
            window: 65535,
            options: TcpOptions {
                mss: syn.then_some(1460),
                ..TcpOptions::default()
            },
            payload: Bytes::copy_from_slice(payload),
        };
        conn.snd_nxt = conn
            .snd_nxt
            .wrapping_add(u32::try_from(seg.seq_len()).unwrap_or(0));
        if let Ok(d) = build_ipv4_tcp(&server_side(&flow), &IpParams::new(SERVER_TTL, 0), &seg) {
            self.carry_from_server(d);
        }
    }
}
