//! The verdict rules, in the order they are tried. The first rule whose check fires decides;
//! the last one always fires. docs/output.md lists the same table (a test keeps them equal).
//!
//! Adding a verdict: one [`Verdict`] variant, one rule here, its tests, its doc line.
use super::facts::{Facts, StartTlsAnswer};
use super::{HopRef, Segment, Verdict};
use crate::evidence::{ConnectOutcome, Incomplete, InterceptionCheck};
use reconmap_wire::TimeToLive;

/// What a rule found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub segment: Option<Segment>,
    pub reason: String,
}

/// One row of the table.
pub struct Rule {
    /// Stable identifier, written to the record as `rule`.
    pub id: &'static str,
    pub verdict: Verdict,
    /// One line: when the rule fires (the docs show it).
    pub doc: &'static str,
    pub check: fn(&Facts<'_>) -> Option<Finding>,
}

fn found(segment: Option<Segment>, reason: String) -> Option<Finding> {
    Some(Finding { segment, reason })
}

/// The table.
pub static RULES: &[Rule] = &[
    Rule {
        id: "not_probed",
        verdict: Verdict::Inconclusive,
        doc: "The target was not probed (no source port, the flow could not be registered, ...); `reason` says why.",
        check: |f| match f.incomplete {
            Some(Incomplete::NotProbed(why)) => found(None, format!("not probed: {why}")),
            _ => None,
        },
    },
    Rule {
        id: "internal_error",
        verdict: Verdict::Inconclusive,
        doc: "The session hit a bug in ReconMap and was ended (the run went on); `reason` has the message.",
        check: |f| match f.incomplete {
            Some(Incomplete::InternalError(why)) => found(None, why.clone()),
            _ => None,
        },
    },
    Rule {
        id: "interrupted",
        verdict: Verdict::Inconclusive,
        doc: "The run was aborted before this session's evidence was complete; `--resume` probes the target again.",
        check: |f| match f.incomplete {
            Some(Incomplete::Interrupted(why)) => {
                found(None, format!("{why} before the verdict was complete"))
            }
            _ => None,
        },
    },
    Rule {
        id: "no_connection",
        verdict: Verdict::Unreachable,
        doc: "No TCP connection: a RST or an ICMP unreachable answered the SYN, or nothing did.",
        check: |f| {
            let why = match f.connect {
                ConnectOutcome::Established => return None,
                ConnectOutcome::Refused => "the server refused the connection (RST to our SYN)",
                ConnectOutcome::Unreachable => "an ICMP unreachable answered our SYN",
                ConnectOutcome::TimedOut => "no answer to our SYN",
            };
            found(None, why.to_string())
        },
    },
    Rule {
        id: "intercepted",
        verdict: Verdict::Intercepted,
        doc: "The TCP connection to the target's port ends before the target (a transparent SMTP proxy): a SYN with some TTL drew an answer in the target's name while a SYN to another port of the target with the same TTL expired at a router. `at` is the hop where the connection ends; the banner, EHLO and STARTTLS answers in the record are the proxy's.",
        check: |f| {
            let InterceptionCheck::Intercepted(i) = &f.evidence.interception else {
                return None;
            };
            let target = f.evidence.target;
            let name = |h: HopRef| {
                h.addr
                    .map_or(format!("hop {}", h.ttl), |a| format!("hop {} ({a})", h.ttl))
            };
            let router = i
                .routers_beyond
                .iter()
                .find(|(t, _)| *t == i.answered_at)
                .map_or("a router".to_string(), |(_, a)| a.to_string());
            let mut why = format!(
                "the TCP connection to port {} ends at {}, not at the target: a SYN to port {} with TTL {} was answered in {}'s name, while a SYN to port {} with the same TTL expired at {router}",
                target.port(),
                name(i.at),
                target.port(),
                i.answered_at,
                target.ip(),
                i.alt_port,
            );
            if let Some(last) = i.routers_beyond.iter().map(|(t, _)| *t).max() {
                why.push_str(&format!("; routers answer SYNs to port {} up to hop {last}", i.alt_port));
            }
            match (i.target_reached_at, i.target_answer_ttl) {
                (Some(reached), Some(ttl)) => why.push_str(&format!(
                    " and the target answers them from TTL {reached} on (its reply arrives with IP TTL {ttl})"
                )),
                _ => why.push_str(" (the target itself did not answer them)"),
            }
            let starttls = match f.answer {
                StartTlsAnswer::Accepted(r) | StartTlsAnswer::Refused(r) | StartTlsAnswer::Other(r) => {
                    format!("{} {}", r.code, r.text())
                }
                StartTlsAnswer::None => "no answer".to_string(),
            };
            why.push_str(&format!(
                ". The SMTP dialogue is the proxy's (STARTTLS: {starttls}{})",
                if f.advertised { "" } else { ", not advertised" }
            ));
            let after = if i.after.ttl == TimeToLive::PROBER {
                HopRef {
                    ttl: TimeToLive::PROBER,
                    addr: Some(f.evidence.prober),
                }
            } else {
                i.after
            };
            found(Some(Segment { after, at: Some(i.at) }), why)
        },
    },
    Rule {
        id: "starttls_not_sent",
        verdict: Verdict::Inconclusive,
        doc: "The SMTP session ended before STARTTLS could be sent (banner or EHLO/HELO refused, a limit, a timeout, a reset); `reason` quotes what happened.",
        check: |f| {
            if f.starttls_sent {
                return None;
            }
            let why = why_starttls_not_sent(f.evidence);
            found(None, format!("STARTTLS was never sent: {why}"))
        },
    },
    Rule {
        id: "quote_contradicts_server",
        verdict: Verdict::Inconclusive,
        doc: "A hop quotes a changed STARTTLS, yet the server accepted STARTTLS: the evidence contradicts itself (the segment is kept).",
        check: |f| {
            let seg = f.first_modified?;
            let StartTlsAnswer::Accepted(_) = f.answer else {
                return None;
            };
            let at = seg.at.map_or(0, |h| h.ttl.0);
            found(
                Some(seg),
                format!("hop {at} quotes a changed STARTTLS, yet the server accepted STARTTLS"),
            )
        },
    },
    Rule {
        id: "quote_modified",
        verdict: Verdict::Stripped,
        doc: "A hop's ICMP quote shows the STARTTLS bytes changed, or (unless the server accepted STARTTLS) a header-only quote's TCP checksum says bytes it does not show changed: `at` is the first such hop, `after` the last hop below it that saw the original bytes.",
        check: |f| {
            let seg = f.first_modified?;
            let at = seg.at.map_or(0, |h| h.ttl.0);
            let mut why = format!(
                "STARTTLS arrives intact at hop {} and changed at hop {at}",
                seg.after.ttl
            );
            if let Some(h) = f.modified_inferred {
                why.push_str(&format!(
                    " (inferred from the TCP checksum in its {}-byte quote, {})",
                    h.diff.as_ref().map_or(0, |d| d.quote_len),
                    match &h.checksum_confirmed_by {
                        Some(e) => format!(
                            "confirmed: the server's echo \"{}\" gives exactly that checksum",
                            crate::evidence::escape_bytes(e)
                        ),
                        None => "not confirmed by an echo".to_string(),
                    }
                ));
            }
            found(Some(seg), why)
        },
    },
    Rule {
        id: "server_echoes_rewrite",
        verdict: Verdict::Stripped,
        doc: "Every quote shows STARTTLS intact but the server refused it quoting a rewritten command (`\"XXXXXXXX\"`): rewritten after the last intact hop (`at` null).",
        check: |f| {
            let (StartTlsAnswer::Refused(r), Some(echo)) = (f.answer, f.echo) else {
                return None;
            };
            found(
                Some(f.after_last_intact()),
                format!(
                    "the server answered {} quoting \"{echo}\": STARTTLS was rewritten after hop {}",
                    r.code, f.last_intact.ttl
                ),
            )
        },
    },
    Rule {
        id: "refused_though_advertised",
        verdict: Verdict::Stripped,
        doc: "The server advertised STARTTLS in EHLO but refused the command (5xx): rewritten between the last intact hop and the server.",
        check: |f| {
            let StartTlsAnswer::Refused(_) = f.answer else {
                return None;
            };
            if !f.advertised {
                return None;
            }
            found(
                Some(f.after_last_intact()),
                format!(
                    "the server advertised STARTTLS but did not recognise the command: rewritten between hop {} and the server",
                    f.last_intact.ttl
                ),
            )
        },
    },
    Rule {
        id: "refused_while_masked",
        verdict: Verdict::Stripped,
        doc: "The banner or EHLO reply is masked and the server refused STARTTLS: rewritten between the last intact hop and the server.",
        check: |f| {
            let StartTlsAnswer::Refused(_) = f.answer else {
                return None;
            };
            if !f.masked {
                return None;
            }
            found(
                Some(f.after_last_intact()),
                format!(
                    "the banner or EHLO reply is masked and the server did not recognise STARTTLS: rewritten between hop {} and the server",
                    f.last_intact.ttl
                ),
            )
        },
    },
    Rule {
        id: "not_offered",
        verdict: Verdict::NotOffered,
        doc: "The server refused STARTTLS (5xx), did not advertise it, and nothing shows tampering.",
        check: |f| {
            let StartTlsAnswer::Refused(r) = f.answer else {
                return None;
            };
            found(
                None,
                format!(
                    "the server does not offer STARTTLS (not advertised, {} {}) and no tampering was seen",
                    r.code,
                    r.text()
                ),
            )
        },
    },
    Rule {
        id: "tls_quote_contradicts_handshake",
        verdict: Verdict::Inconclusive,
        doc: "A hop quotes a changed ClientHello, yet the TLS handshake completed: the evidence contradicts itself (the segment is kept).",
        check: |f| {
            let t = f.tls.as_ref()?;
            let seg = t.first_modified?;
            if !t.established {
                return None;
            }
            let at = seg.at.map_or(0, |h| h.ttl.0);
            found(
                Some(seg),
                format!("hop {at} quotes a changed ClientHello, yet the TLS handshake completed"),
            )
        },
    },
    Rule {
        id: "tls_quote_modified",
        verdict: Verdict::TlsTampered,
        doc: "STARTTLS was accepted, and a hop's ICMP quote shows the ClientHello changed (cipher suites, version, SNI, ...): `at` is the first such hop, `after` the last hop below it that saw it as sent.",
        check: |f| {
            let t = f.tls.as_ref()?;
            let seg = t.first_modified?;
            let at = seg.at.map_or(0, |h| h.ttl.0);
            let what = t
                .modified_hop
                .map(|h| hello_changes(&t.evidence.client_hello, h))
                .unwrap_or_default();
            let outcome = match &t.evidence.observations.failure {
                Some(fl) => format!("; the handshake then failed ({})", fl.error),
                None => String::new(),
            };
            found(
                Some(seg),
                format!(
                    "the ClientHello arrives intact at hop {} and changed at hop {at}{what}{outcome}",
                    seg.after.ttl
                ),
            )
        },
    },
    Rule {
        id: "tls_reset",
        verdict: Verdict::TlsBlocked,
        doc: "STARTTLS was accepted, then the connection was reset after the ClientHello by a RST whose IP TTL differs from the server's own segments (injected on the way), before any TLS answer; `after` is the last hop that saw the ClientHello, `at` the first hop that answered a control segment but never the ClientHello (null: not located).",
        check: |f| {
            let t = f.tls.as_ref()?;
            if t.established || t.server_answered {
                return None;
            }
            let r = t.injected_reset?;
            found(
                Some(t.where_lost()),
                format!(
                    "STARTTLS was accepted, then the ClientHello was answered by a RST with IP TTL {} (sent about {} hops away; the server's segments arrive with {}); {}",
                    r.ttl,
                    r.sent_from_hop,
                    r.server_ttl.map_or("an unknown TTL".to_string(), |t| t.to_string()),
                    tls_lost_where(t)
                ),
            )
        },
    },
    Rule {
        id: "tls_dropped",
        verdict: Verdict::TlsBlocked,
        doc: "STARTTLS was accepted, then the ClientHello was never acknowledged and no TLS answer came (dropped on the way); `after` is the last hop that saw it, `at` the first hop that answered a control segment but never the ClientHello (null: not located).",
        check: |f| {
            let t = f.tls.as_ref()?;
            if t.established || t.server_answered || t.evidence.hello_acked {
                return None;
            }
            found(
                Some(t.where_lost()),
                format!(
                    "STARTTLS was accepted, then the ClientHello was never acknowledged (dropped on the way); {}",
                    tls_lost_where(t)
                ),
            )
        },
    },
    Rule {
        id: "tls_transcript_mismatch",
        verdict: Verdict::TlsTampered,
        doc: "STARTTLS was accepted and the server answered the ClientHello, but the handshake failed on a transcript mismatch (a message that does not decrypt or verify: bad_record_mac, decrypt_error): the two ends saw different handshake messages, so something between them changed one; `after` is the last hop that saw the ClientHello as sent (`at` null).",
        check: |f| {
            let t = f.tls.as_ref()?;
            if t.established || !t.server_answered {
                return None;
            }
            let fl = t.evidence.observations.failure.as_ref()?;
            let by_alert = fl
                .alert
                .as_deref()
                .is_some_and(|a| matches!(a, "bad_record_mac" | "decrypt_error"));
            let by_error = fl.error.to_ascii_lowercase().contains("decrypt");
            if !(by_alert || by_error) || fl.step < reconmap_tls::HandshakeStep::ServerHello {
                return None;
            }
            found(
                Some(Segment {
                    after: t.last_intact,
                    at: None,
                }),
                format!(
                    "the TLS handshake failed on a transcript mismatch ({}): the two ends saw different handshake messages, changed after hop {}",
                    fl.alert.as_deref().unwrap_or(&fl.error),
                    t.last_intact.ttl
                ),
            )
        },
    },
    Rule {
        id: "advertisement_masked",
        verdict: Verdict::AdvertisementMasked,
        doc: "The server accepted STARTTLS (220) but the banner or EHLO reply was masked on the way back (forward probes cannot locate that box).",
        check: |f| {
            let StartTlsAnswer::Accepted(_) = f.answer else {
                return None;
            };
            if !f.masked {
                return None;
            }
            let mut why = "the banner or EHLO reply was masked on the way back, but STARTTLS reached the server intact and was accepted; forward probes cannot locate a box that changes only the server's replies".to_string();
            if f.candidates.is_empty() {
                why.push_str(" (no box changed headers on the forward path either)");
            } else {
                let list: Vec<String> = f
                    .candidates
                    .iter()
                    .map(|c| {
                        format!(
                            "between hop {} and hop {} ({})",
                            c.after.ttl,
                            c.at.ttl,
                            c.fields.join(", ")
                        )
                    })
                    .collect();
                why.push_str(&format!(
                    "; boxes that change headers on the forward path, candidates for it: {}",
                    list.join("; ")
                ));
            }
            found(None, why)
        },
    },
    Rule {
        id: "tls_failed_at_server",
        verdict: Verdict::TlsFailed,
        doc: "STARTTLS was accepted and the ClientHello reached the server unchanged, but the handshake failed there (an alert, no common version or cipher, a reset with the server's own IP TTL, a close without a TLS answer): a server problem, not tampering; `reason` names what the server offered or said.",
        check: |f| {
            let t = f.tls.as_ref()?;
            if t.established || !(t.server_answered || t.server_reset || t.server_closed) {
                return None;
            }
            found(None, format!("the TLS handshake failed at the server: {}", server_offer(t)))
        },
    },
    Rule {
        id: "tls_no_answer",
        verdict: Verdict::Inconclusive,
        doc: "STARTTLS was accepted and the ClientHello acknowledged, but no TLS answer came (a silent server, or a box dropping the server's answer): not evidence either way.",
        check: |f| {
            let t = f.tls.as_ref()?;
            if t.established {
                return None;
            }
            let why = t
                .evidence
                .observations
                .failure
                .as_ref()
                .map_or("no answer".to_string(), |fl| fl.error.clone());
            found(
                None,
                format!("STARTTLS was accepted and the ClientHello acknowledged, but the server never answered in TLS ({why})"),
            )
        },
    },
    Rule {
        id: "tls_not_attempted",
        verdict: Verdict::Inconclusive,
        doc: "STARTTLS was accepted but no TLS handshake followed although one was wanted (the connection was reset or the session had ended first): STARTTLS alone does not make a path clean.",
        check: |f| {
            let StartTlsAnswer::Accepted(_) = f.answer else {
                return None;
            };
            if f.tls.is_some() {
                return None;
            }
            let why = f.evidence.tls_skipped.as_deref()?;
            if why.starts_with("disabled") {
                return None;
            }
            found(
                None,
                format!("STARTTLS was accepted, but no TLS handshake followed: {why}"),
            )
        },
    },
    Rule {
        id: "clean",
        verdict: Verdict::Clean,
        doc: "The server accepted STARTTLS (220), the TLS handshake completed (unless `--no-tls`), and no quote, banner or EHLO line shows a change.",
        check: |f| {
            let StartTlsAnswer::Accepted(_) = f.answer else {
                return None;
            };
            let tls = match &f.tls {
                Some(t) => format!(
                    " and {} completed ({})",
                    t.evidence.observations.version.as_deref().unwrap_or("TLS"),
                    t.evidence.observations.cipher.as_deref().unwrap_or("?")
                ),
                None => " (no TLS handshake attempted)".to_string(),
            };
            found(
                None,
                format!("STARTTLS accepted end to end{tls}; every quote shows it unchanged"),
            )
        },
    },
    Rule {
        id: "other_answer",
        verdict: Verdict::Inconclusive,
        doc: "The server answered STARTTLS with something else than 220 or 5xx (e.g. 454): not evidence of tampering.",
        check: |f| {
            let StartTlsAnswer::Other(r) = f.answer else {
                return None;
            };
            found(
                None,
                format!("the server answered STARTTLS with {} {}", r.code, r.text()),
            )
        },
    },
    Rule {
        id: "starttls_reset",
        verdict: Verdict::Blocked,
        doc: "No answer to STARTTLS and the connection was reset after it by a RST whose IP TTL differs from the server's own segments (injected on the way); `after` is the last hop that saw STARTTLS, `at` the first hop that answered a control segment but never STARTTLS (null: not located).",
        check: |f| {
            if !f.injected_reset {
                return None;
            }
            let rst = f
                .evidence
                .tcp
                .rsts
                .iter()
                .find(|r| r.after_starttls && r.server_ttl != Some(r.ttl));
            let origin = rst.map_or(String::new(), |r| {
                format!(
                    " by a RST with IP TTL {} (sent about {} hops away; the server's segments arrive with {})",
                    r.ttl,
                    r.sent_from_hop,
                    r.server_ttl.map_or("an unknown TTL".to_string(), |t| t.to_string())
                )
            });
            found(
                Some(f.where_lost()),
                format!(
                    "the connection was reset after STARTTLS{origin}; {}",
                    lost_where(f)
                ),
            )
        },
    },
    Rule {
        id: "server_reset",
        verdict: Verdict::Inconclusive,
        doc: "No answer to STARTTLS and the server itself reset the connection (the RST came with the server's own IP TTL): not evidence of tampering.",
        check: |f| {
            if !f.server_reset {
                return None;
            }
            let ttl = f.evidence.tcp.server_ttl.map_or(0, |t| t.0);
            found(
                None,
                format!(
                    "the server reset the connection without answering STARTTLS (the RST came with its own IP TTL {ttl})"
                ),
            )
        },
    },
    Rule {
        id: "starttls_dropped",
        verdict: Verdict::Blocked,
        doc: "No answer to STARTTLS and the segment was never acknowledged (dropped on the way); `after` is the last hop that saw it, `at` the first hop that answered a control segment but never STARTTLS (null: not located).",
        check: |f| {
            if !f.starttls_unacked {
                return None;
            }
            found(
                Some(f.where_lost()),
                format!(
                    "the STARTTLS segment was never acknowledged (dropped on the way); {}",
                    lost_where(f)
                ),
            )
        },
    },
    Rule {
        id: "no_answer",
        verdict: Verdict::Inconclusive,
        doc: "STARTTLS was acknowledged, nothing reset the connection, yet no answer came (a slow or silent server, or one that closed): not evidence of tampering.",
        check: |f| {
            let how = if f.closed_after_starttls {
                "the server closed the connection after acknowledging STARTTLS without answering it"
            } else {
                "STARTTLS was acknowledged but not answered in time (a slow or silent server)"
            };
            let mut why = how.to_string();
            if let Some(e) = f.evidence.errors.iter().find(|e| e.contains("STARTTLS")) {
                why.push_str(&format!(" ({e})"));
            }
            found(None, why)
        },
    },
];

/// The ClientHello fields a hop's quote shows changed, in words (`: cipher_suites +a -b`).
fn hello_changes(sent: &[u8], hop: &crate::evidence::HopRecord) -> String {
    let crate::evidence::PayloadStatus::Modified { quoted } = hop.payload() else {
        return " (inferred from its quoted TCP checksum)".to_string();
    };
    let changes: Vec<String> = reconmap_tls::hello_diff(sent, &quoted)
        .iter()
        .filter_map(|c| match c {
            reconmap_tls::HelloChange::Changed {
                field,
                sent,
                quoted,
            } => Some(format!("{field} {sent} -> {quoted}")),
            reconmap_tls::HelloChange::CipherSuites { added, removed } => Some(format!(
                "cipher suites +[{}] -[{}]",
                added.join(", "),
                removed.join(", ")
            )),
            reconmap_tls::HelloChange::Reordered { field } => Some(format!("{field} reordered")),
            reconmap_tls::HelloChange::ExtensionAdded { name, .. } => {
                Some(format!("extension {name} added"))
            }
            reconmap_tls::HelloChange::ExtensionRemoved { name, .. } => {
                Some(format!("extension {name} removed"))
            }
            reconmap_tls::HelloChange::Bytes {
                first_difference, ..
            } => Some(format!("bytes from offset {first_difference}")),
            reconmap_tls::HelloChange::TruncatedAt { .. } => None,
        })
        .collect();
    if changes.is_empty() {
        String::new()
    } else {
        format!(": {}", changes.join("; "))
    }
}

/// Where the ClientHello was last seen and where it was missed, in words.
fn tls_lost_where(t: &super::facts::TlsFacts<'_>) -> String {
    let seen = format!("last hop seeing it intact: {}", t.last_intact.ttl);
    match t.first_unreached {
        Some(h) => format!(
            "{seen}; hop {} ({}) answers a control segment of the same length but never the ClientHello: it disappears between them",
            h.ttl,
            h.addr.map_or("?".to_string(), |a| a.to_string())
        ),
        None => format!("{seen}; where it disappears is not located"),
    }
}

/// What the server offered or said when its handshake failed.
fn server_offer(t: &super::facts::TlsFacts<'_>) -> String {
    let o = &t.evidence.observations;
    let mut parts = Vec::new();
    if let Some(h) = &o.server_hello {
        parts.push(format!("it chose {} with {}", h.version, h.cipher));
    }
    if let Some(fl) = &o.failure {
        if let Some(a) = &fl.alert {
            let who = match fl.alert_sent_by {
                Some(reconmap_tls::Peer::Probe) => "we sent",
                _ => "it sent",
            };
            parts.push(format!("{who} the alert {a}"));
        }
        parts.push(format!("at {:?}: {}", fl.step, fl.error));
    }
    if t.server_reset {
        parts.push("it reset the connection (its own IP TTL)".to_string());
    }
    if t.server_closed && !t.server_answered {
        parts.push("it closed the connection without a TLS answer".to_string());
    }
    if let Some(subject) = o.chain.first().and_then(|c| c.subject.as_deref()) {
        parts.push(format!("its certificate: {subject}"));
    }
    if parts.is_empty() {
        "it closed the connection".to_string()
    } else {
        parts.join("; ")
    }
}

/// Where STARTTLS was last seen and where it was missed, in words.
fn lost_where(f: &Facts<'_>) -> String {
    let seen = format!("last hop seeing it intact: {}", f.last_intact.ttl);
    match f.first_unreached {
        Some(h) => format!(
            "{seen}; hop {} ({}) answers a control segment of the same length but never STARTTLS: it disappears between them",
            h.ttl,
            h.addr.map_or("?".to_string(), |a| a.to_string())
        ),
        None => format!("{seen}; no hop above it answered a control segment, so where it disappears is not located"),
    }
}

/// What ended the SMTP session before STARTTLS, quoting what happened.
fn why_starttls_not_sent(e: &crate::evidence::Evidence) -> String {
    let smtp = &e.smtp;
    if let Some(err) = &smtp.error {
        return err.clone();
    }
    // The session's own limits (its deadline) end a session the server keeps alive.
    if let Some(err) = e.errors.iter().find(|e| e.contains("timeout")) {
        return err.clone();
    }
    if let Some(b) = smtp.banner.as_ref().filter(|b| b.code != 220) {
        return format!("the banner was {} {}", b.code, b.text());
    }
    let refused = |r: &Option<crate::smtp::Reply>| r.as_ref().filter(|r| r.code != 250).cloned();
    if let Some(h) = refused(&smtp.helo).filter(|_| smtp.helo_fallback) {
        let ehlo = smtp
            .ehlo
            .as_ref()
            .map_or(String::new(), |r| format!("EHLO {}, ", r.code));
        return format!("{ehlo}HELO answered {} {}", h.code, h.text());
    }
    if let Some(r) = refused(&smtp.ehlo) {
        return format!("EHLO answered {} {}", r.code, r.text());
    }
    if let Some(rst) = e.tcp.rsts.iter().find(|r| !r.after_starttls) {
        let whose = if rst.server_ttl == Some(rst.ttl) {
            "with the server's own IP TTL"
        } else {
            "with another IP TTL than the server's: injected"
        };
        return format!(
            "the connection was reset during {} (RST {whose}, TTL {})",
            phase_name(smtp),
            rst.ttl
        );
    }
    if let Some(p) = smtp.closed_by_server {
        return format!("the server closed the connection during {p:?}");
    }
    "the session ended before STARTTLS".to_string()
}

/// The step the SMTP session had reached.
fn phase_name(smtp: &crate::smtp::SmtpObservations) -> &'static str {
    if smtp.ehlo.is_some() || smtp.helo.is_some() {
        "the EHLO exchange"
    } else if smtp.banner.is_some() {
        "EHLO"
    } else {
        "the banner"
    }
}
