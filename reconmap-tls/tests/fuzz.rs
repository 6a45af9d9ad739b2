//! Property tests: random, truncated and mutated bytes never make the parsers or the probes
//! panic, buffers stay within their bounds, and results stay consistent.
use proptest::prelude::*;
use reconmap_tls::records::{
    RecordReader, DEFAULT_MAX_HANDSHAKE_LEN, MAX_RECORD_LEN, RECORD_HEADER_LEN,
};
use reconmap_tls::{
    cert::describe_certificate, hello_diff, HelloChange, LegacyProbe, TlsLimits, TlsProbe,
    TlsProbeConfig,
};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

const FLIGHTS: [&[u8]; 4] = [
    include_bytes!("../testdata/tls10_answer_legacy.bin"),
    include_bytes!("../testdata/tls12_answer_legacy.bin"),
    include_bytes!("../testdata/tls12_answer_rustls.bin"),
    include_bytes!("../testdata/tls10_answer_rustls.bin"),
];
const HELLOS: [&[u8]; 3] = [
    include_bytes!("../testdata/rustls_client_hello.bin"),
    include_bytes!("../testdata/openssl_client_hello.bin"),
    include_bytes!("../testdata/legacy_client_hello.bin"),
];
const CERT: &[u8] = include_bytes!("../testdata/openssl_rsa2048.der");

fn config() -> &'static TlsProbeConfig {
    static CFG: OnceLock<TlsProbeConfig> = OnceLock::new();
    CFG.get_or_init(|| TlsProbeConfig::new(TlsLimits::default()).expect("config"))
}

/// Edits applied to a real input: byte flips, insertions, deletions, then a cut.
#[derive(Clone, Debug)]
enum Edit {
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    let edit = prop_oneof![
        (any::<usize>(), 1..=255u8).prop_map(|(i, x)| Edit::Flip(i, x)),
        (
            any::<usize>(),
            proptest::collection::vec(any::<u8>(), 1..16)
        )
            .prop_map(|(i, b)| Edit::Insert(i, b)),
        (any::<usize>(), 1..64usize).prop_map(|(i, n)| Edit::Delete(i, n)),
    ];
    proptest::collection::vec(edit, 0..6)
}

fn mutate(input: &[u8], edits: &[Edit], cut: usize) -> Vec<u8> {
    let mut v = input.to_vec();
    for e in edits {
        let len = v.len().max(1);
        match e {
            Edit::Flip(i, x) => {
                if let Some(b) = v.get_mut(i % len) {
                    *b ^= x;
                }
            }
            Edit::Insert(i, bytes) => {
                let at = i % (v.len() + 1);
                v.splice(at..at, bytes.iter().copied());
            }
            Edit::Delete(i, n) => {
                let at = i % len;
                let end = (at + n).min(v.len());
                if at < end {
                    v.drain(at..end);
                }
            }
        }
    }
    v.truncate(cut % (v.len() + 1));
    v
}

/// Splits `data` at the given (reduced) points.
fn chunks(data: &[u8], points: &[usize]) -> Vec<Vec<u8>> {
    let mut cuts: Vec<usize> = points.iter().map(|p| p % (data.len() + 1)).collect();
    cuts.sort_unstable();
    let mut out = Vec::new();
    let mut prev = 0;
    for c in cuts.into_iter().chain([data.len()]) {
        out.push(data[prev..c].to_vec());
        prev = c;
    }
    out
}

fn flight_input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..3000),
        (0..FLIGHTS.len(), edits(), any::<usize>())
            .prop_map(|(i, e, cut)| mutate(FLIGHTS[i], &e, cut)),
        // A valid record header in front of random bytes, to get past the first checks.
        proptest::collection::vec(any::<u8>(), 0..600).prop_map(|mut v| {
            let len = v.len() as u16;
            let mut r = vec![22, 3, 3];
            r.extend_from_slice(&len.to_be_bytes());
            r.append(&mut v);
            r
        }),
    ]
}

fn hello_input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..600),
        (0..HELLOS.len(), edits(), any::<usize>())
            .prop_map(|(i, e, cut)| mutate(HELLOS[i], &e, cut)),
    ]
}

proptest! {
    // 512 cases by default; PROPTEST_CASES raises it for a longer run.
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512)
    ))]

    #[test]
    fn records_never_panic_stay_bounded_and_ignore_splits(data in flight_input(), points in proptest::collection::vec(any::<usize>(), 0..8)) {
        let whole = RecordReader::default().feed(&data);
        let mut r = RecordReader::default();
        let mut split = Vec::new();
        for c in chunks(&data, &points) {
            split.extend(r.feed(&c));
            prop_assert!(r.buffered() <= RECORD_HEADER_LEN + MAX_RECORD_LEN + 4 + DEFAULT_MAX_HANDSHAKE_LEN);
        }
        prop_assert_eq!(split, whole);
    }

    #[test]
    fn hello_diff_never_panics_and_agrees_with_itself(sent in hello_input(), quoted in hello_input(), cut in any::<usize>()) {
        let _ = hello_diff(&sent, &quoted);
        let same = hello_diff(&sent, &sent);
        prop_assert!(same.iter().all(|c| matches!(c, HelloChange::TruncatedAt { .. })), "{:?}", same);
        let prefix = &sent[..cut % (sent.len() + 1)];
        // A quote that is only cut short shows no change, whatever was sent.
        let cut_diff = hello_diff(&sent, prefix);
        prop_assert!(cut_diff.len() <= 1, "{:?}", cut_diff);
        prop_assert!(cut_diff.iter().all(|c| matches!(c, HelloChange::TruncatedAt { .. })), "{:?}", cut_diff);
    }

    #[test]
    fn probe_never_panics_on_server_bytes(data in flight_input(), points in proptest::collection::vec(any::<usize>(), 0..8)) {
        let t0 = Instant::now();
        let mut p = TlsProbe::new(config(), Some("mx.example.test"), t0, SystemTime::now()).expect("probe");
        prop_assert!(!p.outgoing().is_empty());
        for (i, c) in chunks(&data, &points).iter().enumerate() {
            p.received(t0 + Duration::from_millis(i as u64), c);
            let _ = p.outgoing();
        }
        let o = p.observations();
        let _ = serde_json::to_string(&o).expect("json");
        p.on_timeout(t0 + Duration::from_secs(60));
        p.close();
        let _ = p.observations();

        let mut l = LegacyProbe::new(config(), Some("mx.example.test"), [1; 32], t0, SystemTime::now()).expect("legacy");
        let _ = l.outgoing();
        for c in chunks(&data, &points) {
            l.received(t0, &c);
        }
        let _ = serde_json::to_string(&l.observations()).expect("json");
    }

    #[test]
    fn certificates_never_panic(e in edits(), cut in any::<usize>()) {
        let der = mutate(CERT, &e, cut);
        let info = describe_certificate(&der);
        prop_assert_eq!(info.der_len, der.len());
    }
}
