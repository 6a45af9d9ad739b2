//! The TLS side: `reconmap_tls::records::RecordReader`, `TlsProbe::received`,
//! `LegacyProbe::received` and `hello_diff` on arbitrary server bytes and quotes.
//!
//! Input: a flags byte (bits 0-1: which of the four; bits 2-4: the number N of piece lengths
//! that follow), N big-endian u16 piece lengths, then the bytes.
//!
//! Properties: no panic. Record reader: the events do not depend on the split, it stops at the
//! first encrypted or invalid record and says so once, last, and its buffers stay within one
//! record plus one handshake message. Probes: a failed handshake stays failed and the
//! observations can always be taken. `hello_diff` (the first piece is what was sent, the rest
//! the quote): a hello diffed against itself or a cut copy of itself shows at most where the
//! comparison stopped.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reconmap_fuzz::{pieces, Input};
use reconmap_tls::records::{
    RecordEvent, RecordReader, DEFAULT_MAX_HANDSHAKE_LEN, MAX_RECORD_LEN, RECORD_HEADER_LEN,
};
use reconmap_tls::{
    hello_diff, HelloChange, LegacyProbe, TlsLimits, TlsProbe, TlsProbeConfig, TlsState,
};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

fn config() -> &'static TlsProbeConfig {
    static CONFIG: OnceLock<TlsProbeConfig> = OnceLock::new();
    CONFIG.get_or_init(|| TlsProbeConfig::new(TlsLimits::default()).expect("TLS config"))
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let flags = input.u8();
    let lengths: Vec<usize> = (0..(flags >> 2) & 0x07)
        .map(|_| usize::from(input.u16()))
        .collect();
    let bytes = input.rest();
    match flags & 0x03 {
        0 => record_reader(bytes, &lengths),
        1 => probe(bytes, &lengths),
        2 => legacy_probe(bytes, &lengths),
        _ => quote_diff(bytes, &lengths),
    }
});

fn record_reader(bytes: &[u8], lengths: &[usize]) {
    let whole = RecordReader::default().feed(bytes);
    let mut reader = RecordReader::default();
    let mut split = Vec::new();
    for piece in pieces(bytes, lengths) {
        let stopped = reader.is_stopped();
        let events = reader.feed(piece);
        assert!(!stopped || events.is_empty(), "events after the stop");
        split.extend(events);
        assert!(
            reader.buffered() <= RECORD_HEADER_LEN + MAX_RECORD_LEN + DEFAULT_MAX_HANDSHAKE_LEN + 4,
            "{} bytes buffered",
            reader.buffered()
        );
    }
    assert_eq!(split, whole, "the split changed the events");
    let stops = whole
        .iter()
        .filter(|e| matches!(e, RecordEvent::Encrypted { .. } | RecordEvent::Invalid(_)))
        .count();
    assert!(stops <= 1, "{stops} stops");
    if stops == 1 {
        assert!(
            matches!(
                whole.last(),
                Some(RecordEvent::Encrypted { .. } | RecordEvent::Invalid(_))
            ),
            "the stop is not the last event"
        );
    }
    assert_eq!(reader.fed(), bytes.len() as u64);
}

fn probe(bytes: &[u8], lengths: &[usize]) {
    let t0 = Instant::now();
    let mut p =
        TlsProbe::new(config(), Some("mx.example.test"), t0, SystemTime::now()).expect("probe");
    assert!(!p.outgoing().is_empty(), "no ClientHello");
    let mut failed = false;
    for (i, piece) in pieces(bytes, lengths).into_iter().enumerate() {
        p.received(t0 + Duration::from_millis(i as u64), piece);
        let _ = p.outgoing();
        if failed {
            assert_eq!(p.state(), TlsState::Failed, "a failed handshake recovered");
        }
        failed = p.state() == TlsState::Failed;
        let _ = p.take_app();
    }
    let seen = p.observations();
    if p.state() == TlsState::Failed {
        assert!(seen.failure.is_some(), "failed without a failure record");
    }
    p.on_timeout(t0 + Duration::from_secs(60));
    p.close();
    let _ = p.outgoing();
    let _ = p.observations();
}

fn legacy_probe(bytes: &[u8], lengths: &[usize]) {
    let t0 = Instant::now();
    let mut l = LegacyProbe::new(
        config(),
        Some("mx.example.test"),
        [7; 32],
        t0,
        SystemTime::now(),
    )
    .expect("legacy probe");
    assert!(!l.outgoing().is_empty(), "no ClientHello");
    for piece in pieces(bytes, lengths) {
        l.received(t0, piece);
    }
    let _ = l.observations();
    l.on_timeout(t0 + Duration::from_secs(60));
    let _ = l.observations();
}

fn quote_diff(bytes: &[u8], lengths: &[usize]) {
    let first = lengths.first().copied().unwrap_or(0).min(bytes.len());
    let (sent, quoted) = bytes.split_at(first);
    let _ = hello_diff(sent, quoted);
    let only_truncation = |changes: &[HelloChange]| {
        changes
            .iter()
            .all(|c| matches!(c, HelloChange::TruncatedAt { .. }))
    };
    for hello in [sent, quoted] {
        let same = hello_diff(hello, hello);
        assert!(only_truncation(&same), "{same:?}");
        let cut = lengths
            .get(1)
            .copied()
            .unwrap_or(hello.len())
            .min(hello.len());
        let cut_diff = hello_diff(hello, &hello[..cut]);
        assert!(
            cut_diff.len() <= 1 && only_truncation(&cut_diff),
            "{cut_diff:?}"
        );
    }
}
