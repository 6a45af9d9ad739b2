//! The sweep alone: rounds, probe identity (IP ID, TSval, one at a time), control segments,
//! answers of different standing, and the checksum confirmation.
use super::*;
use reconmap_wire::{SeqNumber, TcpFlags, TcpOptions};

const WAIT: Duration = Duration::from_millis(100);

fn template() -> TcpSegment {
    TcpSegment {
        seq: SeqNumber(1000),
        ack: SeqNumber(7),
        flags: TcpFlags {
            ack: true,
            psh: true,
            ..TcpFlags::default()
        },
        window: 500,
        options: TcpOptions {
            timestamps: Some((50, 9)),
            ..TcpOptions::default()
        },
        payload: bytes::Bytes::from_static(b"STARTTLS\r\n"),
    }
}

fn control() -> TcpSegment {
    TcpSegment {
        seq: SeqNumber(990),
        payload: bytes::Bytes::from_static(b"nvalid\r\n\r\n"),
        ..template()
    }
}

/// A sweep to a server at distance 5 (routers 1-4).
fn sweep(retries: u8) -> Sweep {
    Sweep::new(SweepPlan {
        flow: reconmap_wire::fixtures::flow(),
        template: template(),
        control: Some(control()),
        limit: TimeToLive(6),
        retries,
        wait: WAIT,
        server_distance: Some(TimeToLive(5)),
        first_ip_id: IpId(100),
        tsvals: Some(TsvalBlock {
            first: 5000,
            len: TSVAL_BLOCK,
        }),
    })
}

fn router(ttl: u8) -> Ipv4Addr {
    Ipv4Addr::new(198, 51, 100, 4 * ttl - 2)
}

/// Router `ttl`'s Time Exceeded for `probe`: its first `len` bytes, TTL 1, the IP ID
/// replaced by `id` when given.
fn answer(probe: &SweepProbe, len: usize, id: Option<u16>) -> IcmpError {
    let mut q = probe.datagram.clone();
    q[8] = 1;
    if let Some(id) = id {
        q[4..6].copy_from_slice(&id.to_be_bytes());
    }
    q.truncate(len);
    IcmpError {
        from: router(probe.ttl.0),
        to: Ipv4Addr::new(198, 51, 100, 2),
        outer_ttl: TimeToLive(64 - probe.ttl.0),
        kind: IcmpKind::TimeExceeded { code: 0 },
        quote: Quote::new(&q),
        extensions: Default::default(),
    }
}

fn routers(probes: &[SweepProbe]) -> Vec<&SweepProbe> {
    probes
        .iter()
        .filter(|p| p.ttl < TimeToLive(5) && p.kind == ProbeKind::Starttls)
        .collect()
}

#[test]
fn one_round_of_answers_matched_by_ip_id_completes_the_sweep() {
    let t0 = Instant::now();
    let mut s = sweep(2);
    let probes = s.start(t0).expect("probes");
    assert_eq!(probes.len(), 6);
    let tsvals: Vec<u32> = probes
        .iter()
        .filter_map(|p| Quote::new(&p.datagram).tcp_tsval())
        .collect();
    assert_eq!(tsvals, [5000, 5001, 5002, 5003, 5004, 5005]);
    for p in routers(&probes) {
        assert!(s.on_icmp(t0 + Duration::from_millis(1), &answer(p, 576, None)));
    }
    assert!(s.is_finished());
    let hops = s.hop_records(None);
    assert_eq!(hops.len(), 4);
    assert!(hops
        .iter()
        .all(|h| h.matched_by == Some(ProbeMatch::IpId) && h.payload() == PayloadStatus::Intact));
}

#[test]
fn rewritten_ip_ids_are_matched_by_tsval_and_show_as_a_change() {
    let t0 = Instant::now();
    let mut s = sweep(2);
    let probes = s.start(t0).expect("probes");
    for p in routers(&probes) {
        // A box at hop 2 rewrites the IP ID: hops 3 and 4 quote a foreign one.
        let id = (p.ttl >= TimeToLive(3)).then_some(0xbeef);
        assert!(s.on_icmp(t0, &answer(p, 576, id)));
    }
    assert!(s.is_finished());
    let hops = s.hop_records(None);
    let how: Vec<Option<ProbeMatch>> = hops.iter().map(|h| h.matched_by).collect();
    use ProbeMatch::*;
    assert_eq!(
        how,
        [
            Some(IpId),
            Some(IpId),
            Some(TcpTimestamp),
            Some(TcpTimestamp)
        ]
    );
    let changed = |h: &HopRecord| {
        h.diff
            .as_ref()
            .is_some_and(|d| d.changes.iter().any(|c| c.field == "ip.id"))
    };
    assert!(!changed(&hops[1]) && changed(&hops[2]) && changed(&hops[3]));
    assert_eq!(s.unmatched(), 0);
}

#[test]
fn header_only_quotes_with_rewritten_ids_are_probed_again_one_at_a_time() {
    let t0 = Instant::now();
    let mut s = sweep(2);
    let probes = s.start(t0).expect("probes");
    for p in routers(&probes) {
        let id = (p.ttl >= TimeToLive(3)).then_some(0xbeef);
        s.on_icmp(t0, &answer(p, 40, id));
    }
    assert_eq!(s.unmatched(), 2);
    assert!(!s.is_finished());
    // As many answers to place as silent TTLs: they go again, alone, without waiting for the
    // round's end.
    let mut now = t0;
    let mut seen = Vec::new();
    let mut next = s.take_owed(now).expect("owed");
    while let Some(p) = next.first().cloned() {
        assert_eq!(next.len(), 1, "one probe outstanding at a time");
        assert_eq!(p.kind, ProbeKind::Starttls);
        seen.push(p.ttl.0);
        s.mark_sent(p.ip_id, now);
        now += Duration::from_millis(3);
        assert!(s.on_icmp(now, &answer(&p, 40, Some(0xcafe))));
        next = s.take_owed(now).expect("owed");
    }
    assert_eq!(seen, [3, 4]);
    assert!(s.is_finished());
    let hops = s.hop_records(None);
    assert_eq!(hops[2].matched_by, Some(ProbeMatch::Sequential));
    assert_eq!(hops[3].addr, Some(router(4)));
    assert_eq!(hops[3].rtt, Some(Duration::from_millis(3)));
}

#[test]
fn a_silent_sequential_probe_costs_one_wait_then_the_next_goes() {
    let t0 = Instant::now();
    let mut s = sweep(0);
    let probes = s.start(t0).expect("probes");
    // Only hop 4 answers, with a foreign ID in a short quote; hops 1-3 are silent.
    let p4 = probes.iter().find(|p| p.ttl == TimeToLive(4)).expect("p4");
    s.on_icmp(t0, &answer(p4, 28, Some(1)));
    let first = s.on_timer(t0 + WAIT).expect("timer");
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].ttl, TimeToLive(1));
    s.mark_sent(first[0].ip_id, t0 + WAIT);
    assert_eq!(s.poll_at(), Some(t0 + WAIT + WAIT));
    let second = s.on_timer(t0 + WAIT + WAIT).expect("timer");
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].ttl, TimeToLive(2));
}

/// A sweep with one retry whose hops 1 and 2 answer (quotes of `quote_len` bytes) and hops 3
/// and 4 stay silent: the start time, the sweep, and its retry round.
fn hops_3_and_4_silent(quote_len: usize) -> (Instant, Sweep, Vec<SweepProbe>) {
    let t0 = Instant::now();
    let mut s = sweep(1);
    let probes = s.start(t0).expect("probes");
    for p in routers(&probes)
        .into_iter()
        .filter(|p| p.ttl <= TimeToLive(2))
    {
        s.on_icmp(t0, &answer(p, quote_len, None));
    }
    let retry = s.on_timer(t0 + WAIT).expect("retry");
    (t0, s, retry)
}

#[test]
fn silent_ttls_below_the_server_get_control_segments_and_their_answers_are_kept() {
    // A drop box after hop 2: hops 3 and 4 never see STARTTLS.
    let (t0, mut s, retry) = hops_3_and_4_silent(576);
    let kinds: Vec<(u8, ProbeKind)> = retry.iter().map(|p| (p.ttl.0, p.kind)).collect();
    use ProbeKind::*;
    assert_eq!(
        kinds,
        [(3, Starttls), (4, Starttls), (3, Control), (4, Control)]
    );
    let control_3 = &retry[2];
    let q = Quote::new(&control_3.datagram);
    assert_eq!(q.tcp_seq(), Some(SeqNumber(990)));
    assert_eq!(q.tcp_payload().map(<[u8]>::len), Some(10));
    assert!(s.on_icmp(t0 + WAIT, &answer(control_3, 576, None)));
    // Controls never go to the server's TTL or beyond.
    assert!(retry.iter().all(|p| p.ttl < TimeToLive(5)));
    assert!(s.on_timer(t0 + WAIT + WAIT).expect("end").is_empty());
    assert!(s.is_finished());
    let hops = s.hop_records(None);
    assert_eq!(hops[2].control.map(|c| c.addr), Some(router(3)));
    assert_eq!((hops[2].control_attempts, hops[2].attempts), (1, 2));
    assert_eq!(hops[3].control, None);
    assert_eq!(hops[2].payload(), PayloadStatus::None);
}

#[test]
fn with_no_retries_the_controls_still_get_one_round() {
    let t0 = Instant::now();
    let mut s = sweep(0);
    let probes = s.start(t0).expect("probes");
    for p in routers(&probes)
        .into_iter()
        .filter(|p| p.ttl <= TimeToLive(2))
    {
        s.on_icmp(t0, &answer(p, 576, None));
    }
    let next = s.on_timer(t0 + WAIT).expect("controls");
    assert!(next.iter().all(|p| p.kind == ProbeKind::Control));
    assert_eq!(next.len(), 2);
    assert!(s.on_timer(t0 + WAIT + WAIT).expect("end").is_empty());
    assert!(s.is_finished());
}

#[test]
fn an_ip_id_match_outranks_a_tsval_match_and_neither_conflicts() {
    let t0 = Instant::now();
    let mut s = sweep(0);
    let probes = s.start(t0).expect("probes");
    let p3 = probes.iter().find(|p| p.ttl == TimeToLive(3)).expect("p3");
    // A forger's copy (another source, a random IP ID) comes first...
    let mut forged = answer(p3, 576, Some(0x4242));
    forged.from = Ipv4Addr::new(192, 0, 2, 66);
    s.on_icmp(t0, &forged);
    // ...the real router's, matched by its IP ID, replaces it.
    s.on_icmp(t0, &answer(p3, 576, None));
    // A later forged copy does not make the hop conflicting.
    s.on_icmp(t0, &forged);
    let hops = s.hop_records(None);
    assert_eq!(hops[2].addr, Some(router(3)));
    assert!(hops[2].conflicts.is_empty());
    assert_eq!(hops[2].matched_by, Some(ProbeMatch::IpId));
}

#[test]
fn an_echoed_rewrite_confirms_a_checksum_inference_only_when_it_gives_the_quoted_sum() {
    let t0 = Instant::now();
    let mut s = sweep(0);
    let probes = s.start(t0).expect("probes");
    for p in routers(&probes) {
        let mut d = p.datagram.clone();
        if p.ttl >= TimeToLive(3) {
            // Mailguard on hop 2 (forward): STARTTLS -> XXXXXXXX, checksum fixed.
            let off = d.len() - 10;
            d[off..off + 8].copy_from_slice(b"XXXXXXXX");
            let c = reconmap_wire::tcp_checksum(&d).expect("sum");
            d[36..38].copy_from_slice(&c.to_be_bytes());
        }
        d[8] = 1;
        d.truncate(40);
        let icmp = IcmpError {
            quote: Quote::new(&d),
            ..answer(p, 40, None)
        };
        s.on_icmp(t0, &icmp);
    }
    let hops = s.hop_records(Some(b"XXXXXXXX"));
    assert_eq!(hops[1].payload(), PayloadStatus::ChecksumUnchanged);
    assert!(matches!(
        hops[2].payload(),
        PayloadStatus::ChecksumChanged { .. }
    ));
    assert_eq!(
        hops[2].checksum_confirmed_by.as_deref(),
        Some(&b"XXXXXXXX"[..])
    );
    let other = s.hop_records(Some(b"XXXXXXXA"));
    assert_eq!(other[2].checksum_confirmed_by, None);
}

#[test]
fn a_late_answer_to_a_control_segment_is_not_taken_for_the_probe_sent_alone() {
    // Found by the property test: IP IDs rewritten after hop 2, header-only quotes, loss.
    // A control segment's answer arriving while a STARTTLS probe is outstanding alone must not
    // be placed as that probe's answer (its quote shows the control's sequence number).
    // Hops 3 and 4 silent: the retry round carries STARTTLS probes and control segments.
    let (t0, mut s, retry) = hops_3_and_4_silent(40);
    let control = retry
        .iter()
        .find(|p| p.kind == ProbeKind::Control && p.ttl == TimeToLive(3))
        .cloned()
        .expect("a control to hop 3");
    // Both STARTTLS retries come back with foreign IP IDs: as many as the silent TTLs, but
    // the controls are still in flight, so no early sequential start yet.
    for p in retry.iter().filter(|p| p.kind == ProbeKind::Starttls) {
        s.on_icmp(t0 + WAIT, &answer(p, 40, Some(0xbeef)));
    }
    let early = s.take_owed(t0 + WAIT).expect("owed");
    assert!(
        early.is_empty(),
        "sequential started with controls in flight"
    );
    // The round ends: sequential probing of hops 3 and 4.
    let now = t0 + WAIT + WAIT;
    let first = s.on_timer(now).expect("sequential");
    assert_eq!(first.len(), 1);
    assert_eq!(
        (first[0].ttl, first[0].kind),
        (TimeToLive(3), ProbeKind::Starttls)
    );
    s.mark_sent(first[0].ip_id, now);
    // The control's late answer (foreign IP ID, the control's sequence number) arrives first.
    assert!(!s.on_icmp(now, &answer(&control, 40, Some(0xbeef))));
    assert!(s.take_owed(now).expect("owed").is_empty(), "still waiting");
    // Then the real answer.
    assert!(s.on_icmp(now, &answer(&first[0], 40, Some(0xcafe))));
    let hops = s.hop_records(None);
    assert_eq!(hops[2].matched_by, Some(ProbeMatch::Sequential));
    assert!(
        hops[2]
            .diff
            .as_ref()
            .is_some_and(|d| d.changes.iter().all(|c| c.field != "tcp.seq")),
        "{:?}",
        hops[2].diff
    );
}
