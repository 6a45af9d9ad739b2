//! The human table: one traceroute-like row per hop, then the server's replies and the verdict.
use super::{HopPayload, Report};
use crate::verdict::Verdict;
use std::fmt::Write as _;

struct Paint {
    on: bool,
}

impl Paint {
    fn wrap(&self, code: &str, s: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
}

/// Renders the report; ANSI colours only with `color`.
pub fn render_table(r: &Report, color: bool) -> String {
    let p = Paint { on: color };
    let mut s = String::new();
    let _ = writeln!(
        s,
        "reconmap: STARTTLS path to {}{} from {}{}",
        r.target,
        as_suffix(r.target_asn, r.target_as_name.as_deref()),
        r.prober,
        as_suffix(r.prober_asn, r.prober_as_name.as_deref()),
    );
    if let Some(name) = &r.vantage.name {
        let _ = writeln!(s, "vantage: {name}");
    }
    hop_rows(&mut s, r, &p);
    server_lines(&mut s, r);
    tls_lines(&mut s, r);
    path_lines(&mut s, r);
    verdict_lines(&mut s, r, &p);
    s
}

/// One traceroute-like row per hop.
fn hop_rows(s: &mut String, r: &Report, p: &Paint) {
    // The hop column: the address, and an MPLS label stack after it when the hop sent one.
    let hop_cells: Vec<String> = r.hops.iter().map(hop_cell).collect();
    let width = hop_cells.iter().map(String::len).max().unwrap_or(0).max(16);
    let _ = writeln!(
        s,
        "{:>3}  {:<width$} {:>9} {:>6}  STARTTLS as quoted",
        "ttl", "hop", "rtt", "quote"
    );
    for (h, addr) in r.hops.iter().zip(&hop_cells) {
        let rtt = h.rtt_ms.map_or("*".to_string(), |v| format!("{v:.2} ms"));
        let qlen = h.quote_len.map_or("-".to_string(), |q| q.to_string());
        let status = hop_status(h, p);
        let extra = hop_extra(h);
        let _ = writeln!(
            s,
            "{:>3}  {:<width$} {:>9} {:>6}  {status}{extra}",
            h.ttl, addr, rtt, qlen
        );
    }
}

/// What the hop's quote shows of the STARTTLS command.
fn hop_status(h: &super::HopOut, p: &Paint) -> String {
    match h.payload {
        HopPayload::Intact => p.wrap("32", "intact"),
        HopPayload::Modified => p.wrap(
            "1;31",
            &format!(
                "MODIFIED \"{}\"",
                h.quoted_payload.as_deref().unwrap_or_default()
            ),
        ),
        HopPayload::ChecksumChanged => {
            let how = h
                .checksum
                .as_ref()
                .and_then(|c| c.confirmed_by.as_ref())
                .map_or("inferred".to_string(), |e| format!("confirmed by \"{e}\""));
            p.wrap(
                "1;31",
                &format!("CHANGED (header-only quote, TCP checksum; {how})"),
            )
        }
        HopPayload::ChecksumUnchanged => p.wrap("32", "intact (TCP checksum)"),
        HopPayload::Short => p.wrap("33", "short quote (no payload)"),
        HopPayload::None => p.wrap("2", "no reply"),
        HopPayload::Conflicting => {
            let others: Vec<String> = h
                .conflicts
                .iter()
                .map(|c| format!("{} {}", c.addr, c.payload.name()))
                .collect();
            p.wrap(
                "1;33",
                &format!("CONFLICTING answers (also {})", others.join(", ")),
            )
        }
    }
}

/// Header changes, how the answer was matched, the control segment.
fn hop_extra(h: &super::HopOut) -> String {
    let mut extra = String::new();
    if h.shared {
        extra.push_str(" (shared)");
    }
    for c in &h.changes {
        let _ = write!(extra, " [{} {}->{}]", c.field, c.sent, c.quoted);
    }
    match h.matched_by {
        Some(crate::evidence::ProbeMatch::TcpTimestamp) => extra.push_str(" (matched by TSval)"),
        Some(crate::evidence::ProbeMatch::Sequential) => extra.push_str(" (probed alone)"),
        _ => {}
    }
    if let Some(c) = &h.control {
        match c.addr {
            Some(a) if h.payload == HopPayload::None => {
                let _ = write!(extra, " control answered by {a}");
            }
            Some(_) => {}
            None => extra.push_str(" control: no reply"),
        }
    }
    extra
}

/// The server's replies.
fn server_lines(s: &mut String, r: &Report) {
    let reply = |x: &Option<crate::smtp::Reply>| {
        x.as_ref()
            .map_or("-".to_string(), |r| format!("{} {}", r.code, r.text()))
    };
    let _ = writeln!(s, "server   banner:   {}", reply(&r.smtp.banner));
    let ehlo = if r.smtp.helo_fallback {
        format!("HELO fallback: {}", reply(&r.smtp.helo))
    } else {
        let adv = if r.smtp.starttls_advertised {
            "STARTTLS advertised"
        } else {
            "STARTTLS not advertised"
        };
        let masked = if r.smtp.masked_keywords.is_empty() {
            String::new()
        } else {
            format!(", masked: {}", r.smtp.masked_keywords.join(" "))
        };
        format!("{adv}{masked}")
    };
    let _ = writeln!(s, "         EHLO:     {ehlo}");
    let _ = writeln!(s, "         STARTTLS: {}", reply(&r.smtp.starttls_reply));
}

/// The TLS handshake and the ClientHello sweep.
fn tls_lines(s: &mut String, r: &Report) {
    if let Some(t) = &r.tls {
        let o = &t.observations;
        let outcome = match (&o.failure, &o.version) {
            (None, Some(v)) => format!("{v} {}", o.cipher.as_deref().unwrap_or("")),
            (Some(f), _) => format!("FAILED at {:?}: {}", f.step, f.error),
            (None, None) => "no handshake".to_string(),
        };
        let _ = writeln!(s, "         TLS:      {}", outcome.trim_end());
        if let Some(leaf) = o.chain.first() {
            let _ = writeln!(
                s,
                "         cert:     {} (chain valid: {}, name matches: {})",
                leaf.subject.as_deref().unwrap_or("?"),
                o.chain_valid.map_or("?".to_string(), |v| v.to_string()),
                o.name_matches.map_or("?".to_string(), |v| v.to_string())
            );
        }
        let changed = t.hops.iter().find(|h| {
            matches!(
                h.payload,
                HopPayload::Modified | HopPayload::ChecksumChanged
            )
        });
        let silent = t.hops.iter().find(|h| {
            h.payload == HopPayload::None && h.control.as_ref().is_some_and(|c| c.addr.is_some())
        });
        let last = t
            .hops
            .iter()
            .filter(|h| {
                matches!(
                    h.payload,
                    HopPayload::Intact | HopPayload::ChecksumUnchanged
                )
            })
            .map(|h| h.ttl.0)
            .max();
        let sweep = match (changed, silent, &t.sweep_skipped) {
            (_, _, Some(why)) => format!("not swept ({why})"),
            (Some(h), _, _) => format!("changed at hop {}", h.ttl),
            (None, Some(h), _) => format!("stops before hop {}", h.ttl),
            (None, None, _) => format!("intact up to hop {}", last.unwrap_or(0)),
        };
        let _ = writeln!(s, "         ClientHello: {sweep}");
    } else if let Some(why) = &r.tls_skipped {
        let _ = writeln!(s, "         TLS:      not attempted ({why})");
    }
}

/// What the sweep saw of boxes on the path.
fn path_lines(s: &mut String, r: &Report) {
    if let Some(h) = r.ip_id_rewritten_from {
        let _ = writeln!(s, "path     IP ID rewritten from hop {}", h.ttl);
    }
    for c in &r.candidate_boxes {
        let _ = writeln!(
            s,
            "path     box changing {} between hop {} and hop {}",
            c.fields.join(", "),
            c.after.ttl,
            c.at.ttl
        );
    }
    let _ = writeln!(
        s,
        "path     interception: {} ({})",
        r.interception.result.replace('_', " "),
        r.interception.detail
    );
}

/// The verdict, the segment, whose network, the reason.
fn verdict_lines(s: &mut String, r: &Report, p: &Paint) {
    let colour = match r.verdict {
        Verdict::Clean => "1;32",
        Verdict::NotOffered | Verdict::Inconclusive | Verdict::Unreachable | Verdict::TlsFailed => {
            "1;33"
        }
        Verdict::Stripped
        | Verdict::AdvertisementMasked
        | Verdict::Blocked
        | Verdict::Intercepted
        | Verdict::TlsBlocked
        | Verdict::TlsTampered => "1;31",
    };
    let verdict = p.wrap(colour, r.verdict.name());
    let _ = writeln!(s, "verdict: {verdict}");
    if let Some(seg) = r.segment.as_ref().map(super::SegmentOut::segment) {
        let after = match seg.after.addr {
            Some(a) if seg.after.ttl.0 == 0 => format!("the prober ({a})"),
            Some(a) => format!("hop {} ({a})", seg.after.ttl),
            None => format!("hop {}", seg.after.ttl),
        };
        let at = seg.at.map_or("the server".to_string(), |h| {
            format!(
                "hop {} ({})",
                h.ttl,
                h.addr.map_or("?".to_string(), |a| a.to_string())
            )
        });
        let _ = writeln!(s, "segment: after {after}, at {at}");
    }
    if let Some(line) = super::attribution::attribution_line(r) {
        let _ = writeln!(s, "whose:   {line}");
    }
    let _ = writeln!(s, "reason:  {}", r.reason);
    for e in &r.errors {
        let _ = writeln!(s, "note:    {e}");
    }
}

/// `198.51.100.6`, `198.51.100.6 MPLS L=24001,16005` (top of the stack first), or `*`.
fn hop_cell(h: &super::HopOut) -> String {
    let mut cell = h.addr.map_or("*".to_string(), |a| a.to_string());
    cell.push_str(&as_suffix(h.asn, h.as_name.as_deref()));
    if !h.mpls.is_empty() {
        let labels: Vec<String> = h.mpls.iter().map(|l| l.label.to_string()).collect();
        let _ = write!(cell, " MPLS L={}", labels.join(","));
    }
    cell
}

/// ` [AS64500 TransitCo]`, ` [AS64500]`, or nothing without an AS.
fn as_suffix(asn: Option<u32>, name: Option<&str>) -> String {
    match (asn, name) {
        (Some(n), Some(name)) => format!(" [AS{n} {name}]"),
        (Some(n), None) => format!(" [AS{n}]"),
        (None, _) => String::new(),
    }
}
