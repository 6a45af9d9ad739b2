//! The server end: just enough TCP (handshake, in-order data, duplicates acknowledged, FIN, RST
//! as RFC 5961 has it) and SMTP to answer a probe session as the scenario's server would: the
//! lab's Postfix, or one of the hostile server's behaviours (same bytes, same segmentation).
//! After STARTTLS, Postfix speaks TLS per the scenario's profile ([`super::tls_server`]).
use super::path::server_side;
use super::tls_server::{TlsAnswer, TlsClose, TlsServer};
use super::SimNet;
use crate::scenario::server_text::{hostile, ServerText, HOSTNAME};
use crate::scenario::{HostileBehaviour, HostileSpec, TlsProfile};
use bytes::Bytes;
use rand::Rng as _;
use reconmap_wire::{
    build_ipv4_tcp, parse_captured, Captured, FlowAddrs, IpId, IpParams, SeqNumber, TcpFlags,
    TcpOptions, TcpSegment, TimeToLive,
};
use std::time::{Duration, Instant};

/// The IP TTL the server's segments start with (Linux).
const SERVER_TTL: u8 = 64;
/// The port the server (and an interception proxy) listens on.
const SMTP_PORT: u16 = 25;

/// The largest segment the server sends.
const MSS: usize = 1460;
/// How much a flooding server sends before the model stops (the client's limits end the
/// session long before).
const FLOOD_BYTES: usize = 256 * 1024;

/// Which server the scenario has.
#[derive(Debug, Clone)]
pub(super) enum Model {
    /// The lab's Postfix; after STARTTLS it speaks TLS as the profile says.
    Postfix(ServerText, TlsProfile),
    Hostile(HostileSpec),
}

/// One connection at the server.
#[derive(Debug, Default)]
pub(super) struct ServerConn {
    rcv_nxt: u32,
    snd_nxt: u32,
    isn: u32,
    /// The handshake's ACK was taken (a full accept queue may drop the first).
    established: bool,
    banner_sent: bool,
    line: Vec<u8>,
    /// The client closed (FIN) or reset the connection.
    client_closed: bool,
    /// We sent our FIN (or a RST).
    fin_sent: bool,
    /// STARTTLS was accepted: what follows is TLS (spoken by `tls`; only acknowledged by a
    /// hostile server, which does not speak it).
    in_tls: bool,
    /// The server's TLS end, once STARTTLS was accepted by Postfix.
    tls: Option<Box<TlsServer>>,
    /// The server closed its socket after TLS ended: new data gets a RST (as Linux answers
    /// data for a closed socket).
    socket_closed: bool,
    /// Oldest sequence number the client has not acknowledged.
    snd_una: u32,
    /// The connection was reset by the client.
    reset: bool,
    /// The TLS handshake completed at the server.
    tls_established: bool,
    /// The server stopped answering (mute behaviours).
    mute: bool,
    /// When this connection's last segment leaves (segments leave in order).
    busy_until: Option<Instant>,
    /// Seed of the `split` cuts.
    split_seed: u64,
    /// The handshake's ACK was dropped once (a full accept queue).
    ack_dropped: bool,
    /// The interception proxy on this router answers instead of the server.
    proxy_hop: Option<usize>,
    /// TCP timestamps (when the client's SYN had them): the last TSval taken (`ts_recent`).
    ts_recent: Option<u32>,
    /// When the SYN came: the server's timestamp clock counts milliseconds from it (and
    /// starts at the ISN, a per-connection offset as Linux's).
    opened: Option<Instant>,
}

impl ServerConn {
    fn tsval(&self, now: Instant) -> u32 {
        let ms = self
            .opened
            .map_or(0, |o| now.saturating_duration_since(o).as_millis());
        self.isn.wrapping_add(ms as u32)
    }
}

impl ServerConn {
    pub(super) fn is_open(&self) -> bool {
        !self.client_closed
    }
}

/// What the server does next on a connection.
#[derive(Debug)]
enum Send {
    /// Bytes (paced by the behaviour), optionally with a FIN on the last segment.
    Data { bytes: Vec<u8>, fin: bool },
    /// Bytes after a pause.
    Later { bytes: Vec<u8>, after: Duration },
    /// A bare FIN.
    Fin,
    /// A RST.
    Reset,
    /// A RST|ACK: the socket closed with client bytes unread (Linux's active reset).
    Abort,
}

impl Send {
    /// Whether this ends the server's side of the connection.
    fn closes(&self) -> bool {
        matches!(
            self,
            Send::Fin | Send::Reset | Send::Abort | Send::Data { fin: true, .. }
        )
    }
}

/// The segments of a TLS answer. A close after the writes is a FIN; an abort (a close with
/// client bytes unread) is a RST that leaves only what had already left: Nagle holds a
/// segment smaller than the MSS while earlier data is unacknowledged (`unacked`: before this
/// answer), and the RST drops what it holds. Through a relaying proxy (`relayed`), the client
/// gets what left and then a FIN: the lab's `reconmap-proxy` shuts its client socket down
/// when the server's side fails.
fn tls_sends(answer: TlsAnswer, unacked: bool, relayed: bool) -> Vec<Send> {
    let mut out = Vec::new();
    match answer.close {
        Some(TlsClose::Abort) => {
            let mut in_flight = unacked;
            'writes: for w in &answer.writes {
                for piece in w.chunks(MSS) {
                    if in_flight && piece.len() < MSS {
                        break 'writes;
                    }
                    in_flight = true;
                    out.push(Send::Data {
                        bytes: piece.to_vec(),
                        fin: false,
                    });
                }
            }
            out.push(if relayed { Send::Fin } else { Send::Abort });
        }
        close => {
            out.extend(
                answer
                    .writes
                    .into_iter()
                    .map(|bytes| Send::Data { bytes, fin: false }),
            );
            if close == Some(TlsClose::Fin) {
                out.push(Send::Fin);
            }
        }
    }
    out
}

impl Model {
    fn hostile(&self) -> Option<HostileBehaviour> {
        match self {
            Model::Hostile(h) => Some(h.behaviour),
            Model::Postfix(..) => None,
        }
    }

    fn delay(&self) -> Duration {
        match self {
            Model::Hostile(h) => h.delay_ms.map_or(
                if h.behaviour == HostileBehaviour::Split {
                    Duration::from_millis(5)
                } else {
                    Duration::from_secs(1)
                },
                |d| Duration::from_millis(u64::from(d)),
            ),
            Model::Postfix(..) => Duration::ZERO,
        }
    }

    fn banner(&self) -> Vec<Send> {
        let bytes: Vec<u8> = match self {
            Model::Postfix(t, _) => t.banner_line.clone().into_bytes(),
            Model::Hostile(h) => match h.behaviour {
                HostileBehaviour::Mute => return Vec::new(),
                HostileBehaviour::Flood => {
                    let mut b = hostile::BANNER.to_vec();
                    while b.len() < FLOOD_BYTES {
                        b.extend_from_slice(b"250-flood\r\n");
                        b.extend(std::iter::repeat_n(b'A', 8192));
                    }
                    b
                }
                HostileBehaviour::GarbageAfterReply => hostile::BANNER_WITH_GARBAGE.to_vec(),
                HostileBehaviour::MaskedMultilineBanner => hostile::MASKED_BANNER.to_vec(),
                HostileBehaviour::UnicodeTricks => hostile::UNICODE_BANNER.to_vec(),
                _ => hostile::BANNER.to_vec(),
            },
        };
        vec![Send::Data { bytes, fin: false }]
    }

    /// The answer to one command line (without its line end).
    fn answer(&self, line: &[u8], conn: &mut ServerConn) -> Vec<Send> {
        let verb = line.split(|&b| b == b' ').next().unwrap_or_default();
        let is = |w: &[u8]| verb.eq_ignore_ascii_case(w);
        let data = |b: &[u8]| Send::Data {
            bytes: b.to_vec(),
            fin: false,
        };
        match self {
            Model::Postfix(t, _) => {
                if is(b"EHLO") {
                    vec![data(t.ehlo_reply.as_bytes())]
                } else if is(b"HELO") {
                    vec![data(b"250 mx.lab.example\r\n")]
                } else if is(b"STARTTLS") {
                    conn.in_tls = t.starttls_reply.starts_with("220");
                    vec![data(t.starttls_reply.as_bytes())]
                } else if is(b"QUIT") {
                    vec![data(t.quit_reply.as_bytes()), Send::Fin]
                } else {
                    vec![data(t.unknown_reply.as_bytes())]
                }
            }
            Model::Hostile(h) => {
                use HostileBehaviour as B;
                let b = h.behaviour;
                if is(b"EHLO") {
                    match b {
                        B::Reply421ToEhlo => vec![data(hostile::TRY_LATER), Send::Fin],
                        B::RstBeforeStarttls => vec![data(hostile::EHLO_REPLY), Send::Reset],
                        B::NoStarttls => vec![data(hostile::EHLO_NO_STARTTLS)],
                        B::UnicodeTricks => vec![data(hostile::UNICODE_EHLO)],
                        _ => vec![data(hostile::EHLO_REPLY)],
                    }
                } else if is(b"STARTTLS") {
                    match b {
                        B::NoStarttls => vec![data(hostile::NOT_IMPLEMENTED)],
                        B::MuteAfterStarttls => {
                            conn.mute = true;
                            Vec::new()
                        }
                        B::FinWithReply220 => vec![Send::Data {
                            bytes: hostile::TLS_READY.to_vec(),
                            fin: true,
                        }],
                        B::FinWithReply500 => vec![Send::Data {
                            bytes: hostile::REJECTED_XXXXXXXX.to_vec(),
                            fin: true,
                        }],
                        B::SlowStarttls => {
                            conn.in_tls = true;
                            vec![Send::Later {
                                bytes: hostile::TLS_READY.to_vec(),
                                after: self.delay(),
                            }]
                        }
                        _ => {
                            conn.in_tls = true;
                            vec![data(hostile::TLS_READY)]
                        }
                    }
                } else if is(b"QUIT") {
                    if b == B::FinWithQuit {
                        vec![Send::Data {
                            bytes: hostile::BYE.to_vec(),
                            fin: true,
                        }]
                    } else {
                        vec![data(hostile::BYE), Send::Fin]
                    }
                } else {
                    let mut reply = b"500 5.5.1 Command unrecognized: \"".to_vec();
                    reply.extend_from_slice(line.get(..400).unwrap_or(line));
                    reply.extend_from_slice(b"\"\r\n");
                    vec![Send::Data {
                        bytes: reply,
                        fin: false,
                    }]
                }
            }
        }
    }
}

impl SimNet {
    /// A segment reached the server, or the interception proxy on router `proxy_hop`.
    pub(super) fn at_server(&mut self, pkt: &[u8], proxy_hop: Option<usize>) {
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
            self.rst_at_server(flow, seg.seq);
            return;
        }
        if seg.flags.syn && rx.dst.port() != SMTP_PORT {
            // Nothing listens there: RST (as Linux answers a closed port).
            self.stats.closed_port_resets += 1;
            self.refuse(flow, seg.seq);
            return;
        }
        if seg.flags.syn {
            let isn: u32 = self.rng.gen();
            let split_seed: u64 = self.rng.gen();
            let conn = self.conns.entry(flow).or_default();
            *conn = ServerConn {
                rcv_nxt: seg.seq.0.wrapping_add(1),
                snd_nxt: isn,
                snd_una: isn,
                isn,
                split_seed,
                proxy_hop,
                ts_recent: seg.options.timestamps.map(|(val, _)| val),
                opened: Some(self.now),
                ..ServerConn::default()
            };
            self.emit(flow, "S", b"");
            return;
        }
        // PAWS (RFC 7323): a segment whose TSval is older than the last one taken is dropped
        // and acknowledged again, as Linux does.
        if let (Some(conn), Some((val, _))) = (self.conns.get_mut(&flow), seg.options.timestamps) {
            if let Some(recent) = conn.ts_recent {
                if (val.wrapping_sub(recent) as i32) < 0 {
                    self.stats.paws_rejected += 1;
                    self.emit(flow, "", b"");
                    return;
                }
            }
            let offset = seg.seq.0.wrapping_sub(conn.rcv_nxt) as i32;
            if offset <= 0 && conn.ts_recent.is_some() {
                conn.ts_recent = Some(val);
            }
        }
        let model = match self.conns.get(&flow).and_then(|c| c.proxy_hop) {
            Some(k) => self.proxy_model(k),
            None => self.model.clone(),
        };
        let small_backlog = model.hostile() == Some(HostileBehaviour::SmallBacklog);
        let Some(conn) = self.conns.get_mut(&flow) else {
            return;
        };
        if conn.reset {
            return;
        }
        if seg.flags.ack {
            // Only an ACK of data sent and not yet acknowledged moves snd_una.
            let acked = seg.ack.0.wrapping_sub(conn.snd_una) as i32;
            let sent = conn.snd_nxt.wrapping_sub(conn.snd_una) as i32;
            if acked > 0 && acked <= sent {
                conn.snd_una = seg.ack.0;
            }
        }
        let mut out: Vec<Send> = Vec::new();
        if !conn.established && seg.flags.ack && seg.ack.0 == conn.isn.wrapping_add(1) {
            if small_backlog && !conn.ack_dropped {
                // A full accept queue: the server's kernel drops the handshake's ACK (SYN
                // cookies); the client believes it is connected. A later ACK completes it.
                conn.ack_dropped = true;
                self.stats.acks_dropped += 1;
                return;
            }
            conn.established = true;
        }
        if conn.established && !conn.banner_sent {
            conn.banner_sent = true;
            out.extend(model.banner());
        }
        if !seg.payload.is_empty() {
            if seg.seq.0 != conn.rcv_nxt {
                // A duplicate (another sweep copy) or out of order: acknowledge again.
                self.emit(flow, "", b"");
            } else if conn.socket_closed {
                // New data for a socket Postfix has closed: the kernel answers with a RST.
                self.stats.resets_from_closed_socket += 1;
                self.emit(flow, "R", b"");
                return;
            } else {
                conn.rcv_nxt = conn
                    .rcv_nxt
                    .wrapping_add(u32::try_from(seg.payload.len()).unwrap_or(0));
                if let Some(tls) = conn.tls.as_mut() {
                    let was_closed = tls.is_closed();
                    let answer = tls.received(&seg.payload);
                    if tls.is_established() && !conn.tls_established {
                        conn.tls_established = true;
                        self.stats.tls_handshakes += 1;
                    }
                    if !was_closed && answer.close.is_some() {
                        conn.socket_closed = true;
                    }
                    let relayed = conn.proxy_hop.is_some();
                    let sends = tls_sends(answer, conn.snd_una != conn.snd_nxt, relayed);
                    if sends.is_empty() {
                        self.emit(flow, "", b"");
                    }
                    out.extend(sends);
                } else if conn.in_tls || conn.mute {
                    // Not SMTP any more, or not answering: acknowledge only.
                    self.emit(flow, "", b"");
                } else {
                    conn.line.extend_from_slice(&seg.payload);
                    while let Some(pos) = conn.line.iter().position(|&b| b == b'\n') {
                        let line: Vec<u8> = conn.line.drain(..=pos).collect();
                        let line = line
                            .strip_suffix(b"\n")
                            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
                            .unwrap_or(&line)
                            .to_vec();
                        let answer = model.answer(&line, conn);
                        out.extend(answer);
                        if conn.mute {
                            break;
                        }
                        if conn.in_tls {
                            // The lab's hostile server speaks TLS after its 220 too (rustls,
                            // TLS 1.2 and 1.3), when the scenario gives it a certificate.
                            let profile = match &model {
                                Model::Postfix(_, profile) => Some(*profile),
                                Model::Hostile(_) => {
                                    self.scenario.server.tls.then_some(TlsProfile::Modern)
                                }
                            };
                            if let Some(profile) = profile {
                                // Postfix discards plaintext that came with STARTTLS
                                // (CVE-2011-0411) and speaks TLS from here on.
                                conn.line.clear();
                                conn.tls = self.tls_setup.as_ref().and_then(|setup| {
                                    TlsServer::new(profile, setup, conn.split_seed)
                                        .map_err(|e| log::error!("simulated TLS server: {e}"))
                                        .ok()
                                        .map(Box::new)
                                });
                                break;
                            }
                        }
                    }
                    if out.is_empty() {
                        self.emit(flow, "", b"");
                    }
                }
            }
        }
        let Some(conn) = self.conns.get_mut(&flow) else {
            return;
        };
        let fin_in_order = seg.flags.fin
            && seg
                .seq
                .0
                .wrapping_add(u32::try_from(seg.payload.len()).unwrap_or(0))
                == conn.rcv_nxt;
        if fin_in_order {
            conn.rcv_nxt = conn.rcv_nxt.wrapping_add(1);
            if !conn.client_closed {
                self.stats.closed += 1;
            }
            conn.client_closed = true;
            let closing = out.iter().any(Send::closes);
            let aborting = out.iter().any(|s| matches!(s, Send::Reset | Send::Abort));
            if conn.fin_sent || closing {
                // Already closed or closing in this turn: only acknowledge (nothing after a
                // RST).
                if !aborting {
                    out.push(Send::Data {
                        bytes: Vec::new(),
                        fin: false,
                    });
                }
            } else {
                conn.socket_closed = conn.tls.is_some();
                out.push(Send::Fin);
            }
        }
        self.send_all(flow, &model, out);
    }

    /// RFC 5961 (as Linux): only a RST at exactly rcv_nxt resets; one elsewhere in the window
    /// gets a challenge ACK; others are ignored.
    fn rst_at_server(&mut self, flow: FlowAddrs, seq: SeqNumber) {
        self.stats.rsts_at_server += 1;
        let Some(c) = self.conns.get_mut(&flow) else {
            return;
        };
        if c.reset || (c.client_closed && c.fin_sent) {
            return;
        }
        let offset = seq.0.wrapping_sub(c.rcv_nxt) as i32;
        if offset == 0 {
            if !c.client_closed {
                self.stats.closed += 1;
            }
            c.client_closed = true;
            c.reset = true;
        } else if (0..65535).contains(&offset) {
            self.emit(flow, "", b"");
        }
    }

    /// Sends what the server decided, paced as its behaviour paces replies.
    fn send_all(&mut self, flow: FlowAddrs, model: &Model, out: Vec<Send>) {
        // A behaviour paces the server's SMTP replies; TLS records (written by the TLS
        // library, as the lab's hostile server does) go out whole.
        let in_tls = self.conns.get(&flow).is_some_and(|c| c.tls.is_some());
        let pace = model.hostile().filter(|_| !in_tls);
        let gap = if in_tls {
            Duration::ZERO
        } else {
            model.delay()
        };
        for s in out {
            match s {
                Send::Data { bytes, fin } if bytes.is_empty() => {
                    self.emit(flow, if fin { "F" } else { "" }, b"");
                }
                Send::Data { bytes, fin } => {
                    let pieces = self.pieces(flow, pace, &bytes);
                    let n = pieces.len();
                    for (i, piece) in pieces.into_iter().enumerate() {
                        let last = i + 1 == n;
                        let after = if i == 0 { Duration::ZERO } else { gap };
                        self.emit_after(flow, after, if fin && last { "F" } else { "" }, &piece);
                    }
                }
                Send::Later { bytes, after } => {
                    for piece in bytes.chunks(MSS) {
                        self.emit_after(flow, after, "", piece);
                    }
                }
                Send::Fin => self.emit(flow, "F", b""),
                Send::Reset => self.emit(flow, "R", b""),
                Send::Abort => self.emit(flow, "RA", b""),
            }
        }
    }

    /// How the behaviour cuts a reply into segments.
    fn pieces(
        &mut self,
        flow: FlowAddrs,
        pace: Option<HostileBehaviour>,
        bytes: &[u8],
    ) -> Vec<Vec<u8>> {
        match pace {
            Some(HostileBehaviour::Drip) => bytes.iter().map(|b| vec![*b]).collect(),
            Some(HostileBehaviour::Split) if bytes.len() > 1 => {
                let seed = self.conns.get(&flow).map_or(0, |c| c.split_seed);
                let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(
                    seed ^ bytes.len() as u64,
                );
                let parts = rng.gen_range(2..=4).min(bytes.len());
                let mut cuts: Vec<usize> = (0..parts - 1)
                    .map(|_| rng.gen_range(1..bytes.len()))
                    .collect();
                cuts.sort_unstable();
                cuts.dedup();
                let mut out = Vec::new();
                let mut start = 0;
                for c in cuts.into_iter().chain(std::iter::once(bytes.len())) {
                    if c > start {
                        out.push(bytes[start..c].to_vec());
                        start = c;
                    }
                }
                out
            }
            _ => bytes.chunks(MSS).map(<[u8]>::to_vec).collect(),
        }
    }

    /// The model of the interception proxy on router `k`: the server's banner, its EHLO reply
    /// without STARTTLS and the proxy's own refusal (`proxy`), or the server's answers as
    /// they are, relayed (`proxy-pass`).
    fn proxy_model(&self, k: usize) -> Model {
        let pass = self
            .scenario
            .hops
            .get(k.wrapping_sub(1))
            .and_then(|h| h.middlebox.as_ref())
            .is_some_and(|m| m.behaviour == crate::scenario::Behaviour::ProxyPass);
        if pass {
            Model::Postfix(
                ServerText::new(HOSTNAME, self.scenario.server.tls),
                self.scenario.server.tls_profile,
            )
        } else {
            let mut text = ServerText::new(HOSTNAME, false);
            text.starttls_reply = crate::scenario::server_text::PROXY_REFUSAL;
            Model::Postfix(text, TlsProfile::default())
        }
    }

    /// A RST|ACK for a SYN to a port nothing listens on.
    fn refuse(&mut self, flow: FlowAddrs, syn_seq: SeqNumber) {
        let seg = TcpSegment {
            seq: SeqNumber(0),
            ack: syn_seq + 1,
            flags: TcpFlags {
                rst: true,
                ack: true,
                ..TcpFlags::default()
            },
            ..TcpSegment::default()
        };
        if let Ok(d) = build_ipv4_tcp(
            &server_side(&flow),
            &IpParams::new(TimeToLive(SERVER_TTL), IpId(0)),
            &seg,
        ) {
            self.carry_from_server(d, self.now, None);
        }
    }

    /// The server sends one segment on `flow` now (or as soon as its earlier segments left).
    fn emit(&mut self, flow: FlowAddrs, flags: &str, payload: &[u8]) {
        self.emit_after(flow, Duration::ZERO, flags, payload);
    }

    /// The server sends one segment `after` its previous one left (segments leave in order).
    /// `flags`: S(YN), F(IN), R(ST); every segment but a RST carries an ACK, a RST only with
    /// A.
    fn emit_after(&mut self, flow: FlowAddrs, after: Duration, flags: &str, payload: &[u8]) {
        let now = self.now;
        let Some(conn) = self.conns.get_mut(&flow) else {
            return;
        };
        let depart = conn.busy_until.map_or(now, |b| b.max(now)) + after;
        conn.busy_until = Some(depart);
        let syn = flags.contains('S');
        let fin = flags.contains('F');
        let rst = flags.contains('R');
        let seg = TcpSegment {
            seq: SeqNumber(conn.snd_nxt),
            ack: SeqNumber(conn.rcv_nxt),
            flags: TcpFlags {
                syn,
                fin,
                rst,
                ack: !rst || flags.contains('A'),
                psh: !payload.is_empty(),
                ..TcpFlags::default()
            },
            window: 65535,
            options: TcpOptions {
                mss: syn.then_some(1460),
                timestamps: conn.ts_recent.map(|recent| (conn.tsval(depart), recent)),
                ..TcpOptions::default()
            },
            payload: Bytes::copy_from_slice(payload),
        };
        conn.snd_nxt = conn
            .snd_nxt
            .wrapping_add(u32::try_from(seg.seq_len()).unwrap_or(0));
        if fin || rst {
            conn.fin_sent = true;
        }
        if rst {
            conn.reset = true;
            conn.client_closed = true;
        }
        let proxy_hop = conn.proxy_hop;
        if let Ok(d) = build_ipv4_tcp(
            &server_side(&flow),
            &IpParams::new(TimeToLive(SERVER_TTL), IpId(0)),
            &seg,
        ) {
            self.carry_from_server(d, depart, proxy_hop);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sizes(sends: &[Send]) -> Vec<String> {
        sends
            .iter()
            .map(|s| match s {
                Send::Data { bytes, fin } => {
                    format!("{}{}", bytes.len(), if *fin { "F" } else { "" })
                }
                Send::Later { bytes, .. } => format!("later {}", bytes.len()),
                Send::Fin => "FIN".to_string(),
                Send::Reset => "RST".to_string(),
                Send::Abort => "RST|ACK".to_string(),
            })
            .collect()
    }

    /// Ticket (255), 221 (37), close_notify (24): what the lab's Postfix wrote after a TLS 1.3
    /// client's Finished, QUIT and close_notify came in one segment.
    fn postfix_quit(close: TlsClose) -> TlsAnswer {
        TlsAnswer {
            writes: vec![vec![0; 255], vec![0; 37], vec![0; 24]],
            close: Some(close),
        }
    }

    #[test]
    fn an_abort_sends_what_nagle_let_go_then_a_rst() {
        // Seen: the ticket went (nothing unacknowledged before it), then RST|ACK; the 221
        // and close_notify were held behind the unacknowledged ticket and dropped.
        let sends = tls_sends(postfix_quit(TlsClose::Abort), false, false);
        assert_eq!(sizes(&sends), ["255", "RST|ACK"]);
        // With data still unacknowledged, nothing small leaves before the RST.
        let sends = tls_sends(postfix_quit(TlsClose::Abort), true, false);
        assert_eq!(sizes(&sends), ["RST|ACK"]);
        // Full-sized segments are not held.
        let big = TlsAnswer {
            writes: vec![vec![0; MSS + 10]],
            close: Some(TlsClose::Abort),
        };
        assert_eq!(sizes(&tls_sends(big, true, false)), ["1460", "RST|ACK"]);
    }

    #[test]
    fn a_close_sends_every_write_then_a_fin() {
        let sends = tls_sends(postfix_quit(TlsClose::Fin), true, false);
        assert_eq!(sizes(&sends), ["255", "37", "24", "FIN"]);
        let open = TlsAnswer {
            writes: vec![vec![0; 40]],
            close: None,
        };
        assert_eq!(sizes(&tls_sends(open, false, false)), ["40"]);
    }

    #[test]
    fn through_a_relaying_proxy_an_abort_reaches_the_client_as_a_fin() {
        let sends = tls_sends(postfix_quit(TlsClose::Abort), false, true);
        assert_eq!(sizes(&sends), ["255", "FIN"]);
    }
}
