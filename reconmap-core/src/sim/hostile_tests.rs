//! The hostile scenario family in the simulator: what each odd server or forged ICMP must give,
//! beyond the verdict every scenario states (reasons, recorded observations, timing).
use super::tests::simulate;
use crate::engine::{ProbeConfig, RunPlan};
use crate::report::{render_table, Report};
use crate::scenario::Scenario;
use crate::verdict::Verdict;
use std::net::SocketAddrV4;
use std::time::Duration;

fn report(name: &str) -> Report {
    report_with(name, ProbeConfig::default())
}

fn report_with(name: &str, cfg: ProbeConfig) -> Report {
    let s = Scenario::builtin(name).expect("scenario");
    let (mut ev, _, _) = simulate(&s, &[s.target()], cfg, RunPlan::default());
    Report::build(ev.remove(0))
}

#[test]
fn a_reply_in_the_same_segment_as_the_fin_counts() {
    // Issue: the close was handled before the data; 220+FIN gave `blocked`. The 220 counts
    // (STARTTLS accepted), and no TLS can follow on a closed connection: the server's doing.
    let r = report("hostile-fin-220");
    assert_eq!(
        (r.verdict, r.rule),
        (Verdict::TlsFailed, "tls_failed_at_server"),
        "{r:#?}"
    );
    assert_eq!(r.smtp.starttls_reply.as_ref().map(|x| x.code), Some(220));
    assert!(r.reason.contains("closed the connection"), "{}", r.reason);
    let r = report("hostile-fin-500");
    assert_eq!(r.verdict, Verdict::Stripped);
    assert_eq!(r.rule, "server_echoes_rewrite");
    assert_eq!(r.smtp.starttls_echo.as_deref(), Some("XXXXXXXX"));
}

#[test]
fn a_malformed_line_after_the_banner_keeps_the_banner() {
    // Issue: "220 ready\r\nabc\r\n" in one segment lost the 220.
    let r = report("hostile-garbage");
    assert_eq!(r.verdict, Verdict::Inconclusive);
    assert_eq!(r.smtp.banner.as_ref().map(|b| b.code), Some(220), "{r:#?}");
    assert!(r.reason.contains("malformed"), "{}", r.reason);
}

#[test]
fn refusals_and_resets_before_starttls_are_quoted() {
    // Issue: a 421 to EHLO and a RST before STARTTLS got a generic reason.
    let r = report("hostile-421-ehlo");
    assert_eq!(r.rule, "starttls_not_sent");
    assert!(
        r.reason.contains("421 4.7.0 Try again later"),
        "{}",
        r.reason
    );
    let r = report("hostile-rst-before-starttls");
    assert_eq!(r.verdict, Verdict::Inconclusive, "{r:#?}");
    assert!(r.reason.contains("reset"), "{}", r.reason);
    assert!(r.reason.contains("own IP TTL"), "{}", r.reason);
}

#[test]
fn a_partly_masked_multi_line_banner_is_masking() {
    let r = report("hostile-masked-banner");
    assert!(r.smtp.banner_masked, "{r:#?}");
    assert_eq!(r.verdict, Verdict::AdvertisementMasked);
}

#[test]
fn invisible_and_control_characters_are_escaped_everywhere() {
    // Issue: bidi/zero-width characters from servers were printed raw in the table.
    let r = report("hostile-unicode");
    assert_eq!(
        r.verdict,
        Verdict::Clean,
        "the real STARTTLS keyword is there"
    );
    let table = render_table(&r, false);
    let json = crate::report::to_json(&r).expect("json");
    for text in [&table, &json] {
        for bad in ['\u{202e}', '\u{200b}', '\u{1b}', '\u{fffd}'] {
            assert!(!text.contains(bad), "{bad:?} in {text}");
        }
    }
    assert!(table.contains("\\u{202e}"), "{table}");
}

#[test]
fn a_full_accept_queue_is_overcome_by_acknowledging_again() {
    // Issue: the handshake ACK lost to a full accept queue left both sides waiting 30 s.
    let r = report("hostile-small-backlog");
    assert_eq!(r.verdict, Verdict::Clean, "{r:#?}");
    assert!(r.tcp.ack_retransmits >= 1);
    let banner_at = r.timing.sweep_started_ms.expect("sweep");
    assert!(banner_at < 5_000.0, "{banner_at} ms");
}

#[test]
fn silent_or_slow_servers_are_never_tampering() {
    // Issue: an acknowledged but unanswered STARTTLS was `blocked`.
    let r = report("hostile-mute-after-starttls");
    assert_eq!((r.verdict, r.rule), (Verdict::Inconclusive, "no_answer"));
    assert!(!r.tcp.starttls_unacked);
    let r = report("hostile-mute");
    assert_eq!(r.rule, "starttls_not_sent");
    assert!(r.reason.contains("banner"), "{}", r.reason);
    // One byte per second: the session's deadline ends it, inconclusive with the reason.
    let s = Scenario::builtin("hostile-drip").expect("scenario");
    let mut slow = s.clone();
    if let Some(h) = slow.server.hostile.as_mut() {
        h.delay_ms = Some(1000);
    }
    let (mut ev, _, _) = simulate(
        &slow,
        &[slow.target()],
        ProbeConfig::default(),
        RunPlan::default(),
    );
    let r = Report::build(ev.remove(0));
    assert_eq!(r.verdict, Verdict::Inconclusive, "{r:#?}");
    assert!(
        r.reason.contains("timeout") || r.reason.contains("within"),
        "{}",
        r.reason
    );
    let r = report("hostile-flood");
    assert_eq!(r.rule, "starttls_not_sent");
    assert!(
        r.reason.contains("longer than") || r.reason.contains("more than"),
        "{}",
        r.reason
    );
}

#[test]
fn forged_icmp_never_makes_a_clean_path_tampered() {
    for name in [
        "forge-wrong-id",
        "forge-bad-rfc4884",
        "forge-truncated-inner",
        "forge-wrong-proto",
        "forge-flood",
    ] {
        let r = report(name);
        assert_eq!(r.verdict, Verdict::Clean, "{name}: {r:#?}");
    }
    assert!(report("forge-wrong-id").unmatched_icmp >= 1);
    assert!(report("forge-flood").unmatched_icmp >= 100);
    let r = report("forge-modified-payload");
    assert_eq!(r.rule, "quote_contradicts_server");
    assert!(r.hops.iter().any(|h| !h.conflicts.is_empty()), "{r:#?}");
}

#[test]
fn a_dead_host_is_unreachable_when_the_syn_retries_end() {
    // Issue: the give-up was only processed at the next (banner, 30 s) timer.
    let s = Scenario::builtin("clean").expect("scenario");
    let dead = SocketAddrV4::new([192, 0, 2, 99].into(), 25);
    let (mut ev, _, _) = simulate(&s, &[dead], ProbeConfig::default(), RunPlan::default());
    let e = ev.remove(0);
    let done = e.timeline.done.expect("done");
    let r = Report::build(e);
    assert_eq!(r.verdict, Verdict::Unreachable);
    // SYN at 0, retransmitted after 1, 2 and 4 s; given up 8 s later.
    assert!(done <= Duration::from_secs(16), "{done:?}");
}
