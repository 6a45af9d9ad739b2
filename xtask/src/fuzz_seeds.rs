//! `cargo xtask fuzz --write-seeds`: writes the seed corpora of the fuzz targets
//! (`fuzz/corpus/<target>/`) from real bytes: the texts of the lab's Postfix and hostile
//! server, probe datagrams built by `reconmap_wire`, ICMP errors built and forged by the same
//! code as the lab's forger, the TLS flights captured from OpenSSL (`reconmap-tls/testdata`),
//! and prefix2as / as2org lines in CAIDA's formats. Each seed carries the header its target's
//! input format asks for (see `fuzz/README.md`). The seeds are rewritten whole, in a fixed
//! order, so the output is the same every time.
use anyhow::{Context as _, Result};
use reconmap_core::scenario::forge;
use reconmap_core::scenario::server_text::{hostile, ServerText, HOSTNAME};
use reconmap_core::scenario::ForgeMode;
use reconmap_core::seeded::SeededRng;
use reconmap_wire::{
    build_ipv4_tcp, FlowAddrs, IpId, IpParams, SeqNumber, TcpFlags, TcpOptions, TcpSegment,
    TimeToLive,
};
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::path::Path;

use crate::util::workspace_root;

/// Named seeds of one target.
type Seeds = Vec<(String, Vec<u8>)>;

fn named(seeds: Vec<(&str, Vec<u8>)>) -> Seeds {
    seeds.into_iter().map(|(n, b)| (n.to_string(), b)).collect()
}

/// Writes every target's seeds; returns how many files were written.
pub fn write_seeds() -> Result<usize> {
    let corpus = workspace_root().join("fuzz/corpus");
    let sets: Vec<(&str, Seeds)> = vec![
        ("reply_parser", reply_parser()),
        ("captured", captured()?),
        ("quote_diff", quote_diff()?),
        ("target_list", target_list()),
        ("blocklist", blocklist()),
        ("tls_records", tls_records()?),
        ("asn_lines", asn_lines()?),
        ("engine_session", engine_session()),
    ];
    let mut n = 0;
    for (target, seeds) in sets {
        let dir = corpus.join(target);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .with_context(|| format!("cannot clear {}", dir.display()))?;
        }
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        for (name, bytes) in seeds {
            write(&dir.join(&name), &bytes)?;
            n += 1;
        }
    }
    Ok(n)
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

/// The lab's Postfix session as the client reads it: banner, EHLO reply, STARTTLS answer.
fn postfix_session(tls: bool) -> Vec<u8> {
    let t = ServerText::new(HOSTNAME, tls);
    [
        t.banner_line.as_bytes(),
        t.ehlo_reply.as_bytes(),
        t.starttls_reply.as_bytes(),
        t.quit_reply.as_bytes(),
    ]
    .concat()
}

/// A PIX `fixup protocol smtp` banner: every byte but '2', '0', ' ' and the line end as '*'.
fn pix_masked(line: &[u8]) -> Vec<u8> {
    let body = line.len().saturating_sub(2);
    line.iter()
        .enumerate()
        .map(|(i, &b)| {
            if i < body && !matches!(b, b'2' | b'0' | b' ') {
                b'*'
            } else {
                b
            }
        })
        .collect()
}

/// `reply_parser` input: flags (cut count, small limits), cut lengths, stream.
fn with_cuts(small_limits: bool, cuts: &[u8], stream: &[u8]) -> Vec<u8> {
    let count = u8::try_from(cuts.len().min(7)).unwrap_or(7);
    let mut v = vec![count | if small_limits { 0x08 } else { 0 }];
    v.extend_from_slice(&cuts[..usize::from(count)]);
    v.extend_from_slice(stream);
    v
}

fn reply_parser() -> Seeds {
    named(reply_parser_seeds())
}

fn reply_parser_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let postfix = ServerText::new(HOSTNAME, true);
    let masked = [
        pix_masked(postfix.banner_line.as_bytes()),
        postfix
            .ehlo_reply
            .replace("250-STARTTLS", "250-XXXXXXXA")
            .into_bytes(),
    ]
    .concat();
    let hostile_session = [
        hostile::BANNER,
        hostile::EHLO_REPLY,
        hostile::REJECTED_XXXXXXXX,
        hostile::BYE,
    ]
    .concat();
    let unicode = [hostile::UNICODE_BANNER, hostile::UNICODE_EHLO].concat();
    let mut flood = hostile::BANNER.to_vec();
    flood.extend_from_slice(b"250-flood\r\n");
    flood.extend(std::iter::repeat_n(b'A', 40));
    vec![
        ("postfix-tls", with_cuts(false, &[], &postfix_session(true))),
        (
            "postfix-tls-split",
            with_cuts(false, &[3, 20, 1, 60, 7], &postfix_session(true)),
        ),
        (
            "postfix-no-tls",
            with_cuts(false, &[37], &postfix_session(false)),
        ),
        ("pix-masked", with_cuts(false, &[10, 10], &masked)),
        ("hostile-echo", with_cuts(false, &[25], &hostile_session)),
        ("hostile-unicode", with_cuts(false, &[4, 9], &unicode)),
        (
            "hostile-garbage",
            with_cuts(false, &[], hostile::BANNER_WITH_GARBAGE),
        ),
        (
            "hostile-masked-banner",
            with_cuts(false, &[2], hostile::MASKED_BANNER),
        ),
        ("hostile-421", with_cuts(false, &[], hostile::TRY_LATER)),
        ("flood-small-limits", with_cuts(true, &[11, 2], &flood)),
        (
            "bare-lf-small-limits",
            with_cuts(true, &[1], b"220\n250-a\n250-b\n250-c\n250 d\n"),
        ),
    ]
}

/// 198.51.100.2:40000 -> 192.0.2.25:25, the lab's prober and server.
fn flow() -> FlowAddrs {
    FlowAddrs {
        local: std::net::SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 2), 40000),
        remote: std::net::SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 25), 25),
    }
}

fn reversed(f: &FlowAddrs) -> FlowAddrs {
    FlowAddrs {
        local: f.remote,
        remote: f.local,
    }
}

/// The STARTTLS probe of the sweep: PSH|ACK with the command, TTL `ttl`, IP ID `id`.
fn starttls_probe(ttl: u8, id: u16) -> Result<Vec<u8>> {
    let seg = TcpSegment {
        seq: SeqNumber(1_000_017),
        ack: SeqNumber(77_000_321),
        flags: TcpFlags {
            ack: true,
            psh: true,
            ..TcpFlags::default()
        },
        window: 502,
        payload: b"STARTTLS\r\n".to_vec().into(),
        ..TcpSegment::default()
    };
    Ok(build_ipv4_tcp(
        &flow(),
        &IpParams::new(TimeToLive(ttl), IpId(id)),
        &seg,
    )?)
}

/// What a router where the probe's TTL ran out quotes: TTL 1, the header checksum fixed.
fn router_quote(datagram: &[u8], len: usize) -> Vec<u8> {
    let mut q = datagram[..len.min(datagram.len())].to_vec();
    q[8] = 1;
    q[10] = 0;
    q[11] = 0;
    let sum = internet_checksum(&q[..20]);
    q[10..12].copy_from_slice(&sum.to_be_bytes());
    q
}

fn internet_checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !u16::try_from(sum).unwrap_or(0)
}

fn icmp_from_router(icmp: &[u8]) -> Result<Vec<u8>> {
    forge::ip_datagram(Ipv4Addr::new(198, 51, 100, 6), *flow().local.ip(), 7, icmp)
        .context("ICMP datagram too long")
}

fn captured() -> Result<Seeds> {
    let probe = starttls_probe(2, 0x1234)?;
    let mut seeds: Seeds = Vec::new();
    for (name, len) in [
        ("icmp-full-quote", 548),
        ("icmp-header-quote", 40),
        ("icmp-rfc792-quote", 28),
    ] {
        let quote = router_quote(&probe, len);
        seeds.push((
            name.into(),
            icmp_from_router(&forge::time_exceeded(0, &quote))?,
        ));
    }
    // RFC 4884: the quote padded to 128 bytes, its length in words, then an extension.
    let mut padded = router_quote(&probe, 548);
    padded.resize(128, 0);
    padded.extend_from_slice(&[0x20, 0, 0, 0, 0, 8, 1, 1, 0, 0, 0, 0]);
    seeds.push((
        "icmp-rfc4884".into(),
        icmp_from_router(&forge::time_exceeded(32, &padded))?,
    ));
    // Destination unreachable (port unreachable) quoting the probe.
    let mut unreach = forge::time_exceeded(0, &router_quote(&probe, 548));
    unreach[0] = 3;
    unreach[1] = 3;
    unreach[2] = 0;
    unreach[3] = 0;
    let sum = internet_checksum(&unreach);
    unreach[2..4].copy_from_slice(&sum.to_be_bytes());
    seeds.push(("icmp-unreachable".into(), icmp_from_router(&unreach)?));
    // What the lab's forger sends.
    let parsed = forge::Probe::parse(&probe, 25, b"STARTTLS").context("probe")?;
    let mut rng = SeededRng::new(1);
    for (name, mode) in [
        ("forge-wrong-id", ForgeMode::WrongId),
        ("forge-bad-rfc4884", ForgeMode::BadRfc4884),
        ("forge-truncated-inner", ForgeMode::TruncatedInner),
        ("forge-wrong-proto", ForgeMode::WrongProto),
        ("forge-modified-payload", ForgeMode::ModifiedPayload),
    ] {
        for (i, icmp) in forge::forge(mode, &parsed, &mut rng, 1)
            .into_iter()
            .enumerate()
        {
            seeds.push((format!("{name}-{i}"), icmp_from_router(&icmp)?));
        }
    }
    // The server's segments: SYN/ACK with options, the banner, a RST.
    let server = reversed(&flow());
    let syn_ack = TcpSegment {
        seq: SeqNumber(77_000_000),
        ack: SeqNumber(1_000_001),
        flags: TcpFlags {
            syn: true,
            ack: true,
            ..TcpFlags::default()
        },
        window: 65160,
        options: TcpOptions {
            mss: Some(1460),
            window_scale: Some(7),
            sack_permitted: true,
            timestamps: Some((123_456, 654_321)),
        },
        ..TcpSegment::default()
    };
    let banner = TcpSegment {
        seq: SeqNumber(77_000_001),
        ack: SeqNumber(1_000_001),
        flags: TcpFlags {
            ack: true,
            psh: true,
            ..TcpFlags::default()
        },
        window: 509,
        payload: ServerText::new(HOSTNAME, true)
            .banner_line
            .into_bytes()
            .into(),
        ..TcpSegment::default()
    };
    let rst = TcpSegment {
        seq: SeqNumber(77_000_321),
        flags: TcpFlags {
            rst: true,
            ..TcpFlags::default()
        },
        ..TcpSegment::default()
    };
    let from_server = IpParams::new(TimeToLive(61), IpId(0));
    seeds.push((
        "tcp-syn-ack".into(),
        build_ipv4_tcp(&server, &from_server, &syn_ack)?,
    ));
    seeds.push((
        "tcp-banner".into(),
        build_ipv4_tcp(&server, &from_server, &banner)?,
    ));
    seeds.push((
        "tcp-rst".into(),
        build_ipv4_tcp(&server, &from_server, &rst)?,
    ));
    seeds.push(("tcp-starttls".into(), probe));
    Ok(seeds)
}

/// `quote_diff` mode A: the split point, then `sent` and the quote.
fn pair(sent: &[u8], quote: &[u8]) -> Vec<u8> {
    let mut v = vec![0];
    v.extend_from_slice(&u16::try_from(sent.len()).unwrap_or(0).to_be_bytes());
    v.extend_from_slice(sent);
    v.extend_from_slice(quote);
    v
}

/// `quote_diff` mode B: the STARTTLS probe's fields, mutations, bytes cut off the end.
fn probe_fields(router_only: bool, mutations: &[(u16, u8)], cut: u8) -> Vec<u8> {
    let mut v = vec![if router_only { 0x03 } else { 0x01 }];
    v.extend_from_slice(&40000u16.to_be_bytes());
    v.extend_from_slice(&25u16.to_be_bytes());
    v.extend_from_slice(&1_000_017u32.to_be_bytes());
    v.extend_from_slice(&77_000_321u32.to_be_bytes());
    v.push(0x18); // PSH|ACK
    v.extend_from_slice(&502u16.to_be_bytes());
    v.push(0x10); // no options, Don't Fragment
    v.push(3); // TTL
    v.extend_from_slice(&0x1234u16.to_be_bytes());
    v.push(0); // TOS
    v.push(10);
    v.extend_from_slice(b"STARTTLS\r\n");
    v.push(u8::try_from(mutations.len()).unwrap_or(0));
    for (at, mask) in mutations {
        v.extend_from_slice(&at.to_be_bytes());
        v.push(*mask);
    }
    v.push(cut);
    v
}

fn quote_diff() -> Result<Seeds> {
    let probe = starttls_probe(3, 0x1234)?;
    let honest = router_quote(&probe, 548);
    let mut rewritten = honest.clone();
    rewritten[40..48].copy_from_slice(b"XXXXXXXX");
    let mut tos = honest.clone();
    tos[1] = 0x10;
    // `S` ^ `X` on the first byte of the command: a payload rewrite.
    let rewrite: Vec<(u16, u8)> = (40u16..48).map(|i| (i, b'S' ^ b'X')).collect();
    Ok(named(vec![
        ("pair-honest", pair(&probe, &honest)),
        ("pair-rewritten", pair(&probe, &rewritten)),
        ("pair-tos", pair(&probe, &tos)),
        ("pair-rfc792", pair(&probe, &honest[..28])),
        ("pair-header-only", pair(&probe, &honest[..40])),
        ("probe-untouched", probe_fields(false, &[], 0)),
        (
            "probe-router-fields",
            probe_fields(true, &[(0, 2), (1, 0x5a), (2, 0xa5)], 0),
        ),
        ("probe-rewritten", probe_fields(false, &rewrite[..7], 0)),
        ("probe-cut-to-28", probe_fields(false, &[], 22)),
        ("probe-cut-mid-payload", probe_fields(true, &[(0, 1)], 6)),
    ]))
}

/// `target_list` input: flags (CSV, column length), default port, column name, text.
fn list(csv_column: Option<&str>, port: u16, text: &str) -> Vec<u8> {
    let column = csv_column.unwrap_or("");
    let len = u8::try_from(column.len().min(15)).unwrap_or(15);
    let mut v = vec![(len << 1) | u8::from(csv_column.is_some())];
    v.extend_from_slice(&port.to_be_bytes());
    v.extend_from_slice(&column.as_bytes()[..usize::from(len)]);
    v.extend_from_slice(text.as_bytes());
    v
}

fn target_list() -> Seeds {
    named(vec![
        (
            "lines",
            list(
                None,
                25,
                "# list\n192.0.2.1\n\n192.0.2.2:587  # submission\n198.18.0.0/30\nmx.lab.example\n",
            ),
        ),
        (
            "lines-bad",
            list(
                None,
                25,
                "192.0.2.1\n300.1.1.1\n2001:db8::1\n192.0.2.3:0\n[2001:db8::1]:25\n192.0.2.0/40\n!!!\n192.0.2.4:\n",
            ),
        ),
        ("lines-wide", list(None, 587, "198.18.0.0/15\n0.0.0.0/0\n203.0.113.7\n")),
        (
            "csv",
            list(
                Some("addr"),
                25,
                "rank,\"host, name\",addr\n1,\"a, b\",192.0.2.10\n2,x,\"192.0.2.11:26\"\n3,y\n",
            ),
        ),
        ("csv-no-column", list(Some("ip"), 25, "a,b\n1,2\n")),
    ])
}

fn blocklist() -> Seeds {
    named(vec![
        (
            "zmap",
            b"# ours\n198.18.1.0/24  # test half\n\n198.18.2.7\n10.0.0.0/8\n0.0.0.0/0\n".to_vec(),
        ),
        (
            "bad-line",
            b"198.18.0.0/16\nnonsense\n192.0.2.0/33\n".to_vec(),
        ),
        (
            "crlf",
            b"192.0.2.0/24\r\n198.51.100.0/24 # lab\r\n203.0.113.0/24\r\n".to_vec(),
        ),
    ])
}

/// `tls_records` input: flags (which, piece count), piece lengths, bytes.
fn tls(which: u8, pieces: &[u16], bytes: &[u8]) -> Vec<u8> {
    let count = u8::try_from(pieces.len().min(7)).unwrap_or(7);
    let mut v = vec![which | (count << 2)];
    for p in &pieces[..usize::from(count)] {
        v.extend_from_slice(&p.to_be_bytes());
    }
    v.extend_from_slice(bytes);
    v
}

fn tls_records() -> Result<Seeds> {
    let dir = workspace_root().join("reconmap-tls/testdata");
    let read = |name: &str| {
        std::fs::read(dir.join(name)).with_context(|| format!("cannot read {name} in testdata"))
    };
    let tls12 = read("tls12_answer_rustls.bin")?;
    let tls12_legacy = read("tls12_answer_legacy.bin")?;
    let tls10_legacy = read("tls10_answer_legacy.bin")?;
    let alert = read("tls10_answer_rustls.bin")?;
    let rustls_hello = read("rustls_client_hello.bin")?;
    let openssl_hello = read("openssl_client_hello.bin")?;
    let legacy_hello = read("legacy_client_hello.bin")?;
    let len = |b: &[u8]| u16::try_from(b.len()).unwrap_or(u16::MAX);
    Ok(named(vec![
        ("reader-tls12", tls(0, &[], &tls12)),
        ("reader-tls12-split", tls(0, &[3, 100, 700], &tls12_legacy)),
        ("reader-tls10", tls(0, &[5], &tls10_legacy)),
        ("reader-alert", tls(0, &[], &alert)),
        (
            "reader-smtp-text",
            tls(0, &[], b"500 5.5.2 Error: command not recognized\r\n"),
        ),
        ("probe-tls12", tls(1, &[90], &tls12)),
        ("probe-alert", tls(1, &[], &alert)),
        ("legacy-tls10", tls(2, &[], &tls10_legacy)),
        ("legacy-tls12", tls(2, &[64, 64], &tls12_legacy)),
        (
            "hello-diff-same",
            tls(
                3,
                &[len(&rustls_hello)],
                &[rustls_hello.clone(), rustls_hello.clone()].concat(),
            ),
        ),
        (
            "hello-diff-other",
            tls(
                3,
                &[len(&rustls_hello), 100],
                &[rustls_hello.clone(), openssl_hello].concat(),
            ),
        ),
        (
            "hello-diff-cut",
            tls(
                3,
                &[len(&legacy_hello)],
                &[legacy_hello.clone(), legacy_hello[..60].to_vec()].concat(),
            ),
        ),
    ]))
}

const PREFIX2AS: &str = "# CAIDA RouteViews prefix2as\n\
0.0.0.0\t0\t64496\n\
192.0.2.0\t24\t64500\n\
198.51.100.0\t24\t64501_64502\n\
203.0.113.0\t25\t64503,64504\n\
198.18.5.200\t32\t64505\n\
2001:db8::\t32\t64510\n\
2001:db8:1::\t48\t64511_64512,64513\n";

const AS2ORG: &str = "# format:aut|changed|aut_name|org_id|opaque_id|source\n\
64500|20240101|EXAMPLE-NET|ORG-EX1|x|ARIN\n\
64501|20240101|OTHER|ORG-OT1|y|RIPE\n\
# format:org_id|changed|org_name|country|source\n\
ORG-EX1|20240101|Example Networks Inc.|US|ARIN\n\
ORG-OT1|20240101||NL|RIPE\n";

const SIMPLE_NAMES: &str = "64500\tExample Net\nAS64501\tOther Net  \n64502 Space Separated\n\
as64503\tlower\r\n64504\tCaf\u{e9} Net\n";

fn gzip(text: &str) -> Result<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(text.as_bytes())?;
    Ok(enc.finish()?)
}

fn asn_lines() -> Result<Seeds> {
    let with = |flag: u8, body: &[u8]| [&[flag][..], body].concat();
    Ok(named(vec![
        ("prefix2as", with(0, PREFIX2AS.as_bytes())),
        (
            "prefix2as-bad",
            with(
                0,
                b"192.0.2.0\t33\t1\n::\t0\t64496\n10.0.0.0\t8\tAS1\nx\n\xff\xfe\t1\t2\n",
            ),
        ),
        ("prefix2as-gzip", with(0, &gzip(PREFIX2AS)?)),
        ("as2org", with(1, AS2ORG.as_bytes())),
        ("names-simple", with(1, SIMPLE_NAMES.as_bytes())),
        ("names-gzip", with(1, &gzip(AS2ORG)?)),
    ]))
}

/// `engine_session` events (see the target for the encoding).
mod script {
    /// The server's SYN/ACK (MSS, window scale, SACK; no timestamps, so that the probes'
    /// payload starts at byte 40), from 3 hops away (TTL 61).
    pub fn syn_ack() -> Vec<u8> {
        vec![2, 61, 0, 0x07]
    }
    /// Reply `index` of the target's dictionary, in sequence.
    pub fn reply(index: u8) -> Vec<u8> {
        vec![0, 0, 0, 0, 61, index]
    }
    /// Reply `index` with the server's FIN.
    pub fn reply_fin(index: u8) -> Vec<u8> {
        vec![0, 1, 0, 0, 61, index]
    }
    /// A RST in sequence with TTL `ttl`.
    pub fn rst(ttl: u8) -> Vec<u8> {
        vec![3, 0, ttl]
    }
    /// Time passes.
    pub fn wait(ms: u16) -> Vec<u8> {
        let mut v = vec![6];
        v.extend_from_slice(&ms.to_be_bytes());
        v
    }
    /// Time exceeded from router `hop` quoting the `back`-th last datagram sent, whole (548
    /// bytes at most), with `mask` applied at byte `at` (the payload starts at 40 without
    /// options).
    pub fn time_exceeded(back: u8, hop: u8, at: u16, mask: u8) -> Vec<u8> {
        let mut v = vec![4, back, 11, 0, 0];
        v.extend_from_slice(&548u16.to_be_bytes());
        v.extend_from_slice(&at.to_be_bytes());
        v.push(mask);
        v.push(hop);
        v
    }
}

/// Dictionary indexes of the target's SMTP replies.
const BANNER: u8 = 0;
const EHLO: u8 = 1;
const READY: u8 = 2;
const UNRECOGNIZED: u8 = 3;
const ECHO_X: u8 = 4;
const PIX_BANNER: u8 = 7;
const EHLO_MASKED: u8 = 8;

fn session(events: &[Vec<u8>]) -> Vec<u8> {
    events.concat()
}

/// The sweep's answers from hops 1-5: the last five datagrams sent are its probes (TTL 5
/// last); from hop `rewritten_from` on they quote `XXXXXXXX`.
fn sweep_answers(rewritten_from: u8) -> Vec<Vec<u8>> {
    (0..5u8)
        .map(|back| {
            let hop = 5 - back;
            let mask = if hop >= rewritten_from {
                b'S' ^ b'X'
            } else {
                0
            };
            script::time_exceeded(back, hop, 40, mask)
        })
        .collect()
}

fn engine_session() -> Seeds {
    use script::*;
    let greeting = |banner: u8, ehlo: u8| {
        vec![
            syn_ack(),
            wait(5),
            reply(banner),
            wait(5),
            reply(ehlo),
            wait(5),
        ]
    };
    let mut clean = greeting(BANNER, EHLO);
    clean.extend(sweep_answers(u8::MAX));
    clean.extend([wait(5), reply(READY), wait(3000)]);
    let mut mailguard = greeting(PIX_BANNER, EHLO_MASKED);
    mailguard.extend(sweep_answers(3));
    mailguard.extend([
        wait(5),
        reply(UNRECOGNIZED),
        wait(100),
        reply_fin(5),
        wait(3000),
    ]);
    let mut echo = greeting(BANNER, EHLO);
    echo.extend(sweep_answers(u8::MAX));
    echo.extend([wait(5), reply_fin(ECHO_X), wait(3000)]);
    let mut reset = greeting(BANNER, EHLO);
    reset.extend(sweep_answers(u8::MAX));
    reset.extend([wait(5), rst(62), wait(6000)]);
    let mut dropped = greeting(BANNER, EHLO);
    dropped.extend(sweep_answers(u8::MAX));
    dropped.push(wait(20_000));
    named(vec![
        ("clean", session(&clean)),
        ("mailguard", session(&mailguard)),
        ("echo-and-fin", session(&echo)),
        ("injected-reset", session(&reset)),
        ("dropped", session(&dropped)),
        ("no-answer", session(&[wait(20_000)])),
    ])
}
