//! The checks: real observations of a lab path against its configuration (`PathModel`) and
//! its stated truth (`Expected`). Every observation is printed, so a run documents itself.
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use reconmap_lab::scenario::RouterKind;
use reconmap_lab::{Expected, Lab};

use crate::packets::{header_diff, tcp_checksum, variant, Headers, IcmpError};
use crate::path::{Ending, PathModel};
use crate::probe::{probe, Probe, Reply, Sent};

pub const STARTTLS: &[u8] = b"STARTTLS\r\n";
pub const NOOP: &[u8] = b"NOOP\r\n";
const REWRITTEN: &[u8] = b"XXXXXXXX\r\n";
/// The IP TTL the lab's hosts send with.
const HOST_TTL: u8 = 64;
/// The lab Postfix's banner.
const BANNER: &str = "220 mx.lab.example ESMTP ReconMap lab";
/// ICMP Time Exceeded, TTL exceeded in transit.
const TIME_EXCEEDED: (u8, u8) = (11, 0);

/// One scenario's lab and what is being checked there.
pub struct Bench<'a> {
    pub lab: &'a Lab,
    pub name: String,
    /// How long to wait for replies and ICMP after a probe line.
    pub window: Duration,
}

impl Bench<'_> {
    /// Runs probes for `ttls` in the prober's namespace.
    pub fn probes(&self, target: SocketAddrV4, ttls: &[u8], line: &'static [u8]) -> Vec<Probe> {
        let window = self.window;
        let ttls = ttls.to_vec();
        self.lab
            .prober()
            .enter(move || {
                ttls.iter()
                    .map(|&t| probe(target, t, line, window))
                    .collect()
            })
            .expect("enter the prober")
    }

    /// Address of hop `ttl` (n+1 = the server's main address).
    pub fn hop_addr(&self, ttl: u8) -> Ipv4Addr {
        self.lab.hop_addr(ttl).expect("hop address")
    }

    fn is_hop_addr(&self, addr: Ipv4Addr) -> bool {
        (1..=self.lab.scenario().server_ttl()).any(|t| self.lab.hop_addr(t) == Some(addr))
    }
}

/// A compact line for one ICMP error (for the log).
pub fn describe_error(e: &IcmpError) -> String {
    let mut s = format!(
        "{} (ttl {}) type {} len {}",
        e.from,
        e.ttl,
        e.icmp_type,
        e.quote.len()
    );
    if let Some(q) = e.quoted() {
        let _ = write!(s, " id {:#06x} seq {:#010x}", q.ip_id, q.seq);
        if let Some(f) = q.fixed {
            let _ = write!(s, " csum {:#06x}", f.checksum);
        }
        if let Some(ts) = q.timestamp() {
            let _ = write!(s, " ts {}", hex(&ts));
        }
        if let Some(p) = &q.payload {
            let _ = write!(s, " payload {:?}", String::from_utf8_lossy(p));
        }
    }
    s
}

fn hex(b: &[u8]) -> String {
    b.iter().fold(String::new(), |mut s, x| {
        let _ = write!(s, "{x:02x}");
        s
    })
}

/// A compact line for one probe (for the log).
pub fn describe(name: &str, p: &Probe) -> String {
    let line = String::from_utf8_lossy(p.line).trim().to_owned();
    let sent: Vec<String> = p
        .sent
        .iter()
        .map(|s| {
            let csum = s.headers.fixed.map(|f| f.checksum).unwrap_or_default();
            format!(
                "id {:#06x} seq {:#010x} csum {csum:#06x} ts {}",
                s.headers.ip_id,
                s.headers.seq,
                s.headers.timestamp().map(|t| hex(&t)).unwrap_or_default()
            )
        })
        .collect();
    let errors: Vec<String> = p.errors.iter().map(describe_error).collect();
    format!(
        "[{name}] {line} ttl {} port {}: sent [{}] | icmp [{}] | reply {:?} | syn-ack ttl {:?} | rst ttl {:?}",
        p.ttl,
        p.port,
        sent.join("; "),
        errors.join("; "),
        p.reply,
        p.syn_ack_ttl,
        p.rst_ttls
    )
}

/// Checks of every probe: our own segment as captured, the session's banner and EHLO reply,
/// where TCP ends (SYN/ACK TTL).
pub fn check_session(b: &Bench, m: &PathModel, p: &Probe) {
    let ctx = format!(
        "{} ttl {} {:?}",
        b.name,
        p.ttl,
        String::from_utf8_lossy(p.line)
    );
    assert!(!p.sent.is_empty(), "{ctx}: our segment was not captured");
    for s in &p.sent {
        assert_eq!(s.datagram.get(8), Some(&p.ttl), "{ctx}: sent with our TTL");
        let f = s.headers.fixed.expect("whole TCP header");
        assert_eq!(
            tcp_checksum(&s.datagram),
            f.checksum,
            "{ctx}: the kernel's checksum is the RFC 1071 one (offloads off)"
        );
        assert!(
            s.headers.timestamp().is_some(),
            "{ctx}: kernel TCP uses timestamps"
        );
    }
    let end = m.tcp_end();
    assert_eq!(
        p.syn_ack_ttl,
        Some(HOST_TTL - (end - 1)),
        "{ctx}: the SYN/ACK comes from hop {end}"
    );
    let banner = p.banner.join("\n");
    let ehlo = p.ehlo.join("\n");
    if m.mailguard {
        assert!(
            banner.starts_with("220 ")
                && banner.contains('*')
                && banner.bytes().all(|c| b"20 *".contains(&c)),
            "{ctx}: PIX-masked banner: {banner:?}"
        );
    } else {
        assert_eq!(banner, BANNER, "{ctx}");
    }
    match m.ending {
        Ending::Proxy { pass: false, .. } => {
            assert!(
                !ehlo.to_ascii_uppercase().contains("STARTTLS") && !ehlo.contains("XXXXXXXX"),
                "{ctx}: the proxy removes STARTTLS from the EHLO reply: {ehlo:?}"
            );
            assert!(
                ehlo.contains("250-PIPELINING"),
                "{ctx}: the rest stays: {ehlo:?}"
            );
        }
        _ if m.mailguard || m.ehlo_mask => {
            assert!(
                p.ehlo.iter().any(|l| l == "250-XXXXXXXX") && !ehlo.contains("STARTTLS"),
                "{ctx}: STARTTLS masked in the EHLO reply: {ehlo:?}"
            );
        }
        _ => assert!(
            p.ehlo.iter().any(|l| l == "250-STARTTLS"),
            "{ctx}: STARTTLS offered: {ehlo:?}"
        ),
    }
}

/// The transmission a quote is compared with: the one with its IP ID, else the ones with its
/// TCP options (the timestamp tells transmissions apart); among several candidates (an ID
/// rewritten and no options quoted) the one whose checksum, computed for what the truth says
/// the segment is there, equals the quoted checksum.
fn matching_sent<'a>(sent: &'a [Sent], q: &Headers, changed: bool) -> &'a Sent {
    if let Some(s) = sent.iter().find(|s| s.headers.ip_id == q.ip_id) {
        return s;
    }
    let by_options: Vec<&Sent> = sent
        .iter()
        .filter(|s| q.options.is_some() && s.headers.options == q.options)
        .collect();
    let candidates = if by_options.is_empty() {
        sent.iter().collect()
    } else {
        by_options
    };
    candidates
        .iter()
        .find(|s| {
            q.fixed
                .is_some_and(|f| f.checksum == expected_checksum(s, q.seq, changed))
        })
        .or(candidates.first())
        .copied()
        .unwrap_or(&sent[0])
}

/// The TCP checksum of transmission `s` with sequence number `seq`, its STARTTLS replaced by
/// XXXXXXXX when `changed`.
fn expected_checksum(s: &Sent, seq: u32, changed: bool) -> u16 {
    let (from, to): (&[u8], &[u8]) = if changed {
        (b"STARTTLS", b"XXXXXXXX")
    } else {
        (b"", b"")
    };
    tcp_checksum(&variant(&s.datagram, seq, from, to))
}

/// What one hop's quotes of the STARTTLS segment showed (for cross-hop checks).
#[derive(Debug, Clone, Default)]
pub struct HopView {
    pub ttl: u8,
    /// Header fields (besides checksum, TTL, payload) that differ from what was sent.
    pub diff: BTreeSet<&'static str>,
    /// Quoted seq minus sent seq.
    pub seq_offsets: Vec<u32>,
    /// Its quotes hold the TCP checksum (and so show whether the payload changed).
    pub reveals: bool,
    /// A forger's claim about the same probe came too (the hop is no evidence either way).
    pub conflicting: bool,
}

/// The STARTTLS sweep: one connection per TTL 1..=n+1, each checked against the model and the
/// truth `expect`. Returns what each quoting hop showed.
pub fn check_sweep(
    b: &Bench,
    m: &PathModel,
    target: SocketAddrV4,
    expect: &Expected,
) -> Vec<HopView> {
    let ttls: Vec<u8> = (1..=m.n + 1).collect();
    let probes = b.probes(target, &ttls, STARTTLS);
    let mut views = Vec::new();
    for p in &probes {
        eprintln!("{}", describe(&b.name, p));
        check_session(b, m, p);
        if let Some(v) = check_sweep_ttl(b, m, expect, p) {
            views.push(v);
        }
    }
    check_segment_bounds(b, m, expect, &views);
    if let Some(want) = &expect.candidate_hops {
        let mut first_changes = Vec::new();
        let mut before_changed = false;
        for v in &views {
            let changed = !v.diff.is_empty();
            if changed && !before_changed {
                first_changes.push(v.ttl);
            }
            before_changed = changed;
        }
        assert_eq!(
            &first_changes, want,
            "{}: hops whose quotes first show a header change: {views:?}",
            b.name
        );
    }
    views
}

fn check_sweep_ttl(b: &Bench, m: &PathModel, expect: &Expected, p: &Probe) -> Option<HopView> {
    let t = p.ttl;
    let ctx = format!("{} STARTTLS ttl {t}", b.name);
    let hop = b.hop_addr(t);
    let (honest, other): (Vec<&IcmpError>, Vec<&IcmpError>) =
        p.errors.iter().partition(|e| e.from == hop);
    for e in &other {
        assert!(
            !b.is_hop_addr(e.from) && m.may_forge(t, e.from),
            "{ctx}: ICMP from {} (not hop {t}, nor a forger the segment passed): {}",
            e.from,
            describe_error(e)
        );
    }
    for (k, f) in &m.forgers {
        let forged: Vec<&&IcmpError> = other.iter().filter(|e| e.from == f.from).collect();
        if t <= *k {
            assert!(
                forged.is_empty(),
                "{ctx}: forged before the forger at hop {k}"
            );
        } else if f.mode == reconmap_lab::scenario::ForgeMode::ModifiedPayload {
            assert!(
                forged
                    .iter()
                    .any(|e| e.quoted().and_then(|q| q.payload).as_deref() == Some(REWRITTEN)),
                "{ctx}: the forger at hop {k} claims XXXXXXXX: {other:?}"
            );
        }
    }
    if t > m.last_quoting_ttl() {
        assert!(
            honest.is_empty(),
            "{ctx}: the segment ended before hop {t}: {honest:?}"
        );
        check_end_reply(b, m, p);
        return None;
    }
    assert_eq!(
        p.reply,
        Reply::Silence,
        "{ctx}: the segment died in transit"
    );
    let router = m.router(t).expect("router");
    if router == RouterKind::Silent {
        assert!(honest.is_empty(), "{ctx}: a silent router answered");
        return None;
    }
    assert!(!honest.is_empty(), "{ctx}: no Time Exceeded from {hop}");
    let mut view = HopView {
        ttl: t,
        conflicting: !other.is_empty(),
        ..HopView::default()
    };
    let sent_ids: BTreeSet<u16> = p.sent.iter().map(|s| s.headers.ip_id).collect();
    let sent_csums: BTreeSet<u16> = p
        .sent
        .iter()
        .filter_map(|s| s.headers.fixed.map(|f| f.checksum))
        .collect();
    for e in honest {
        assert_eq!((e.icmp_type, e.code), TIME_EXCEEDED, "{ctx}");
        let q = e.quoted().expect("quote");
        // Payload and checksum: changed from the truth's segment_at on.
        let changed = expect.segment_at.is_some_and(|at| t >= at);
        let s = matching_sent(&p.sent, &q, changed);
        let want_len = match (router, m.quote_bytes(t)) {
            (RouterKind::ShortQuote, _) => 40,
            (RouterKind::Rfc792Quote, _) => 28,
            (_, Some(n)) => usize::from(n).min(s.datagram.len()),
            _ => s.datagram.len(),
        };
        assert_eq!(
            e.quote.len(),
            want_len,
            "{ctx}: quote length for a {router:?} router"
        );
        // IP ID: rewritten from the truth's hop on, kept before it.
        let rewritten = expect.ip_id_rewritten_from.is_some_and(|f| t >= f);
        assert_eq!(
            !sent_ids.contains(&q.ip_id),
            rewritten,
            "{ctx}: quoted IP ID {:#06x}, sent {sent_ids:x?}, truth ip_id_rewritten_from {:?}",
            q.ip_id,
            expect.ip_id_rewritten_from
        );
        if !sent_ids.contains(&q.ip_id) {
            view.diff.insert("ip.id");
        }
        // Every other header field the quote holds.
        let diff = header_diff(&s.headers, &q);
        let want: Vec<&str> = if m.seq_changed_at(t) {
            vec!["tcp.seq"]
        } else {
            Vec::new()
        };
        assert_eq!(diff, want, "{ctx}: changed header fields");
        view.diff.extend(diff);
        let offset = q.seq.wrapping_sub(s.headers.seq);
        if offset != 0 {
            view.seq_offsets.push(offset);
        }
        if q.options.is_some() {
            assert!(
                q.timestamp().is_some() && q.timestamp() == s.headers.timestamp(),
                "{ctx}: the quote shows the timestamp option unchanged"
            );
        }
        if let Some(after) = expect.segment_after {
            assert!(!(changed && t <= after), "{ctx}: truth bounds");
        }
        if e.quote.len() == s.datagram.len() {
            let want = if changed { REWRITTEN } else { STARTTLS };
            assert_eq!(
                q.payload.as_deref(),
                Some(want),
                "{ctx}: quoted payload (truth after {:?} at {:?})",
                expect.segment_after,
                expect.segment_at
            );
        }
        if let Some(f) = q.fixed {
            view.reveals = true;
            let expected = expected_checksum(s, q.seq, changed);
            assert_eq!(
                f.checksum, expected,
                "{ctx}: quoted checksum {:#06x}, computed for the {} segment {expected:#06x}, sent {sent_csums:x?}",
                f.checksum,
                if changed { "XXXXXXXX" } else { "STARTTLS" }
            );
            assert_eq!(
                sent_csums.contains(&f.checksum),
                !changed && offset == 0,
                "{ctx}: quoted checksum {:#06x} vs sent {sent_csums:x?}",
                f.checksum
            );
        } else {
            assert_eq!(
                e.quote.len(),
                28,
                "{ctx}: only an RFC 792 quote lacks the checksum"
            );
        }
    }
    Some(view)
}

/// The truth's segment bounds against what the quotes could show: hop `segment_after` shows
/// the original segment (its checksum at least), hop `segment_at` shows the change or is where
/// the segment ends, and no hop between them gives a quote that shows the segment (silent,
/// RFC 792 and conflicting hops do not).
fn check_segment_bounds(b: &Bench, m: &PathModel, expect: &Expected, views: &[HopView]) {
    let view = |t: u8| views.iter().find(|v| v.ttl == t);
    let last = m.last_quoting_ttl();
    let after = expect.segment_after.unwrap_or(0);
    if after >= 1 {
        assert!(
            view(after).is_some_and(|v| v.reveals && !v.conflicting),
            "{}: hop {after} (segment_after) shows the original segment: {views:?}",
            b.name
        );
    }
    if let Some(at) = expect.segment_at {
        if at <= last {
            assert!(
                view(at).is_some_and(|v| v.reveals && !v.conflicting),
                "{}: hop {at} (segment_at) shows the change: {views:?}",
                b.name
            );
        } else {
            assert_eq!(
                at,
                last + 1,
                "{}: segment_at beyond the last quoting hop is where the segment ends",
                b.name
            );
        }
    }
    if expect.segment_after.is_none() {
        return;
    }
    let upper = expect.segment_at.unwrap_or(last + 1);
    for v in views {
        if v.ttl > after && v.ttl < upper {
            assert!(
                !v.reveals || v.conflicting,
                "{}: hop {} between segment_after {after} and segment_at {upper} shows the segment",
                b.name,
                v.ttl
            );
        }
    }
}

/// The reply (or its absence) once the STARTTLS segment got past every router that could
/// quote it.
fn check_end_reply(b: &Bench, m: &PathModel, p: &Probe) {
    let ctx = format!("{} STARTTLS ttl {}", b.name, p.ttl);
    match m.ending {
        Ending::Server => {
            let code = p.reply.code();
            if m.mailguard {
                assert!(
                    code.is_some_and(|c| (500..600).contains(&c)),
                    "{ctx}: the server refuses the rewritten command: {:?}",
                    p.reply
                );
            } else {
                assert_eq!(code, Some(220), "{ctx}: {:?}", p.reply);
            }
        }
        Ending::Proxy { pass, .. } => {
            let want = if pass {
                "220 2.0.0 Ready to start TLS"
            } else {
                "502 5.5.1 STARTTLS not supported"
            };
            assert_eq!(p.reply, Reply::Line(want.into()), "{ctx}");
        }
        Ending::Drop(..) => {
            assert_eq!(p.reply, Reply::Silence, "{ctx}: dropped");
            assert!(p.rst_ttls.is_empty(), "{ctx}: no RST");
        }
        Ending::Reset(k, _) => {
            assert_eq!(p.reply, Reply::Reset, "{ctx}");
            assert!(!p.rst_ttls.is_empty(), "{ctx}: a RST arrived");
            let from_box = HOST_TTL - (k - 1);
            assert!(
                p.rst_ttls.iter().all(|&ttl| ttl == from_box),
                "{ctx}: RSTs arrive with TTL {:?}, sent from hop {k} they would have {from_box}",
                p.rst_ttls
            );
        }
    }
}

/// Drop and reset boxes: beyond the box, a segment without STARTTLS (`NOOP`) draws Time
/// Exceeded from every router (and the server's 250), where STARTTLS draws nothing.
pub fn check_control_segments(b: &Bench, m: &PathModel, target: SocketAddrV4) {
    let from = m.last_quoting_ttl() + 1;
    let ttls: Vec<u8> = (from..=m.n + 1).collect();
    for p in b.probes(target, &ttls, NOOP) {
        eprintln!("{}", describe(&b.name, &p));
        check_session(b, m, &p);
        let t = p.ttl;
        let ctx = format!("{} NOOP ttl {t}", b.name);
        if t > m.n {
            assert_eq!(p.reply.code(), Some(250), "{ctx}: {:?}", p.reply);
            continue;
        }
        assert_eq!(p.reply, Reply::Silence, "{ctx}");
        if m.router(t) == Some(RouterKind::Silent) {
            continue;
        }
        let hop = b.hop_addr(t);
        let honest: Vec<&IcmpError> = p.errors.iter().filter(|e| e.from == hop).collect();
        assert!(
            !honest.is_empty(),
            "{ctx}: the control segment reaches hop {t}"
        );
        for e in honest {
            assert_eq!((e.icmp_type, e.code), TIME_EXCEEDED, "{ctx}");
            if e.quote.len() == p.sent[0].datagram.len() {
                let q = e.quoted().expect("quote");
                assert_eq!(q.payload.as_deref(), Some(NOOP), "{ctx}");
            }
        }
    }
}

/// A sequence-randomising box: one connection, its STARTTLS segment retransmitted with TTL
/// 1, 2, ... n; every quote beyond the box shows the same changed seq, quotes before it the
/// sent one.
pub fn check_one_connection_seq(b: &Bench, m: &PathModel, target: SocketAddrV4) {
    let hops: Vec<(u8, Ipv4Addr)> = (1..=m.n).map(|t| (t, b.hop_addr(t))).collect();
    let quotes = b
        .lab
        .prober()
        .enter(move || crate::probe::probe_raising_ttl(target, STARTTLS, &hops))
        .expect("enter the prober");
    let (sent, by_hop) = quotes;
    let sent_seqs: BTreeSet<u32> = sent.iter().map(|s| s.headers.seq).collect();
    assert_eq!(sent_seqs.len(), 1, "{}: one segment, retransmitted", b.name);
    let seq = sent[0].headers.seq;
    let mut changed = BTreeSet::new();
    for (t, e) in &by_hop {
        let q = e.quoted().expect("quote");
        eprintln!(
            "[{}] one connection, sent seq {seq:#010x}, ttl {t}: {}",
            b.name,
            describe_error(e)
        );
        if m.seq_changed_at(*t) {
            assert_ne!(
                q.seq, seq,
                "{}: ttl {t}: seq changed beyond the box",
                b.name
            );
            changed.insert(q.seq);
        } else {
            assert_eq!(
                q.seq, seq,
                "{}: ttl {t}: seq as sent before the box",
                b.name
            );
        }
    }
    assert_eq!(
        changed.len(),
        1,
        "{}: the same offset at every hop beyond the box: {changed:x?}",
        b.name
    );
}
