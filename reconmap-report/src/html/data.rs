//! The per-target data the page's script renders: columnar arrays (one entry per record) of
//! numbers indexing a string table, with hops, SMTP, TCP and TLS facts deduplicated into
//! tables of their own. Compact enough for 100,000 records; decoded lazily by the script.
use crate::model::{AttributionClass, Record, Reply};
use crate::summary::{Difference, Summary};
use crate::Dataset;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// Strings by index; index 0 is the empty string (absent).
#[derive(Default)]
struct Strings {
    index: HashMap<String, u32>,
    list: Vec<String>,
}

impl Strings {
    fn new() -> Self {
        let mut s = Strings::default();
        s.list.push(String::new());
        s.index.insert(String::new(), 0);
        s
    }

    fn id(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = u32::try_from(self.list.len()).unwrap_or(u32::MAX);
        self.list.push(s.to_string());
        self.index.insert(s.to_string(), i);
        i
    }

    fn opt(&mut self, s: Option<&str>) -> u32 {
        s.map_or(0, |s| self.id(s))
    }
}

/// Rows of numbers deduplicated by content.
#[derive(Default)]
struct Tuples {
    index: HashMap<Vec<i64>, u32>,
    list: Vec<Vec<i64>>,
}

impl Tuples {
    fn id(&mut self, t: Vec<i64>) -> i64 {
        if let Some(&i) = self.index.get(&t) {
            return i64::from(i);
        }
        let i = u32::try_from(self.list.len()).unwrap_or(u32::MAX);
        self.list.push(t.clone());
        self.index.insert(t, i);
        i64::from(i)
    }
}

/// Columns, one entry per record (see the script for their use).
#[derive(Serialize, Default)]
struct Columns {
    /// target (string id)
    t: Vec<u32>,
    /// vantage index
    va: Vec<u32>,
    /// verdict index
    vd: Vec<u32>,
    /// rule (string id)
    ru: Vec<u32>,
    /// attribution class index, -1 when not tampering
    cl: Vec<i8>,
    /// 1 when the class was derived from segment ASes
    ad: Vec<u8>,
    /// AS the tampering is placed in, 0 none
    sa: Vec<u32>,
    /// target AS, 0 none
    ta: Vec<u32>,
    /// segment text, segment end label (string ids)
    sg: Vec<u32>,
    se: Vec<u32>,
    /// reason, attribution explanation, evidence and errors (string ids)
    re: Vec<u32>,
    ex: Vec<u32>,
    ev: Vec<u32>,
    er: Vec<u32>,
    /// started_at (string id)
    st: Vec<u32>,
    /// 0, or 1/2 when the verdict/place differs between vantage points
    df: Vec<u8>,
    /// hops of each record (consecutive in `hops`)
    hn: Vec<u32>,
    /// SMTP, TCP and TLS table rows, -1 none
    sm: Vec<i64>,
    tc: Vec<i64>,
    tl: Vec<i64>,
}

#[derive(Serialize, Default)]
struct Hops {
    /// hop signature (row of `sigs`)
    g: Vec<u32>,
    /// RTT in 1/100 ms, -1 none
    r: Vec<i64>,
}

#[derive(Serialize)]
struct VantageOut {
    name: String,
    asn: Option<u32>,
}

#[derive(Serialize)]
struct VerdictOut {
    name: String,
    color: String,
    tampering: bool,
    meaning: &'static str,
}

#[derive(Serialize)]
struct ClassOut {
    name: &'static str,
    label: &'static str,
}

#[derive(Serialize)]
struct Data {
    v: u32,
    n: usize,
    s: Vec<String>,
    vantages: Vec<VantageOut>,
    verdicts: Vec<VerdictOut>,
    classes: Vec<ClassOut>,
    /// AS number -> name
    asnames: BTreeMap<u32, String>,
    /// ASes offered by the AS filter, most frequent first: [asn, records]
    asfilter: Vec<[u64; 2]>,
    cols: Columns,
    hops: Hops,
    /// [ttl, addr, asn, payload, quoted, icmp, attempts, shared, quote_len, changes]
    sigs: Vec<Vec<i64>>,
    /// [flags, error, echo, masked, closed, banner, helo, ehlo, starttls, quit]; each reply
    /// is `line count, code, line ids...` or a single 0
    smtp: Vec<Vec<i64>>,
    /// [connect, server_ttl, distance, flags, rst count, (ttl, server_ttl, after, at_us)*]
    tcp: Vec<Vec<i64>>,
    /// see [`tls_row`]
    tls: Vec<Vec<i64>>,
}

/// Maximum ASes offered in the AS filter.
const AS_FILTER_MAX: usize = 400;

fn opt_i(v: Option<u32>) -> i64 {
    v.map_or(-1, i64::from)
}

/// Milliseconds to integer hundredths (RTT) or thousandths, -1 for none.
fn fixed(v: Option<f64>, scale: f64) -> i64 {
    match v {
        // Bounded before the cast: RTTs and times are far below 2^53.
        Some(x) if (0.0..1e12).contains(&x) => (x * scale).round() as i64,
        _ => -1,
    }
}

fn reply(s: &mut Strings, out: &mut Vec<i64>, r: Option<&Reply>) {
    match r {
        None => out.push(0),
        Some(r) => {
            out.push(i64::try_from(r.lines.len()).unwrap_or(0) + 1);
            out.push(opt_i(r.code));
            for l in &r.lines {
                out.push(i64::from(s.id(l)));
            }
        }
    }
}

fn smtp_row(s: &mut Strings, r: &Record) -> Option<Vec<i64>> {
    let m = r.smtp.as_ref()?;
    let flags = i64::from(m.banner_masked)
        | i64::from(m.helo_fallback) << 1
        | i64::from(m.starttls_advertised) << 2
        | i64::from(m.starttls_sent) << 3;
    let mut row = vec![
        flags,
        i64::from(s.opt(m.error.as_deref())),
        i64::from(s.opt(m.starttls_echo.as_deref())),
        i64::from(s.id(&m.masked_keywords.join(" "))),
        i64::from(s.opt(m.closed_by_server.as_deref())),
    ];
    for rep in [
        &m.banner,
        &m.helo,
        &m.ehlo,
        &m.starttls_reply,
        &m.quit_reply,
    ] {
        reply(s, &mut row, rep.as_ref());
    }
    Some(row)
}

fn tcp_row(s: &mut Strings, r: &Record) -> Option<Vec<i64>> {
    let t = r.tcp.as_ref()?;
    let mut row = vec![
        i64::from(s.opt(t.connect.as_deref())),
        opt_i(t.server_ttl),
        opt_i(t.server_distance),
        i64::from(t.starttls_unacked) | i64::from(t.closed_by_peer) << 1,
        i64::try_from(t.rsts.len()).unwrap_or(0),
    ];
    for rst in &t.rsts {
        row.extend([
            opt_i(rst.ttl),
            opt_i(rst.server_ttl),
            i64::from(rst.after_starttls),
            fixed(rst.at_ms, 1000.0),
        ]);
    }
    Some(row)
}

fn tri(v: Option<bool>) -> i64 {
    v.map_or(-1, i64::from)
}

/// `[version, cipher, handshake µs, sni, chain_valid, name_matches, failure step, alert,
/// error, hello version, hello cipher, chain error, alert sent by, downgrade sentinel, probe
/// kind, certificates, (subject, issuer, SANs, not_before, not_after, key type, key bits,
/// sha256, parse error)*]` as string ids and numbers (-1: none).
fn tls_row(s: &mut Strings, r: &Record) -> Option<Vec<i64>> {
    let t = r.tls.as_ref()?;
    let mut id = |x: Option<&str>| i64::from(s.opt(x));
    let f = t.failure.as_ref();
    let h = t.server_hello.as_ref();
    let mut row = vec![
        id(t.version.as_deref()),
        id(t.cipher.as_deref()),
        fixed(t.handshake_ms, 1000.0),
        id(t.sni.as_deref()),
        tri(t.chain_valid),
        tri(t.name_matches),
        id(f.and_then(|f| f.step.as_deref())),
        id(f.and_then(|f| f.alert.as_deref())),
        id(f.and_then(|f| f.error.as_deref())),
        id(h.and_then(|h| h.version.as_deref())),
        id(h.and_then(|h| h.cipher.as_deref())),
        id(t.chain_error.as_deref()),
        id(f.and_then(|f| f.alert_sent_by.as_deref())),
        id(h.and_then(|h| h.downgrade_sentinel.as_deref())),
        id(t.probe.as_deref()),
        i64::try_from(t.chain.len()).unwrap_or(0),
    ];
    for c in &t.chain {
        let sans = c
            .san_dns
            .iter()
            .chain(&c.san_ip)
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        row.extend([
            id(c.subject.as_deref()),
            id(c.issuer.as_deref()),
            id(Some(sans.as_str())),
            id(c.not_before.as_deref()),
            id(c.not_after.as_deref()),
            id(c.key_type.as_deref()),
            opt_i(c.key_bits),
            id(c.sha256.as_deref()),
            id(c.parse_error.as_deref()),
        ]);
    }
    Some(row)
}

/// Encodes the records as the page's data object (JSON text, not yet made script-safe).
pub fn encode(d: &Dataset, summary: &Summary) -> Result<String, serde_json::Error> {
    let n = d.records.len();
    let mut s = Strings::new();
    let mut sigs = Tuples::default();
    let mut smtp = Tuples::default();
    let mut tcp = Tuples::default();
    let mut tls = Tuples::default();
    let mut c = Columns::default();
    let mut hops = Hops::default();

    let vantage_ix: HashMap<&str, u32> = summary
        .vantages
        .iter()
        .enumerate()
        .map(|(i, v)| (v.name.as_str(), u32::try_from(i).unwrap_or(0)))
        .collect();
    let verdict_ix: HashMap<&str, u32> = summary
        .verdicts
        .iter()
        .enumerate()
        .map(|(i, v)| (v.info.name.as_str(), u32::try_from(i).unwrap_or(0)))
        .collect();
    let mut differs: HashMap<usize, u8> = HashMap::new();
    for diff in &summary.comparison.diffs {
        let code = match diff.difference {
            Difference::Verdict => 1,
            Difference::Place => 2,
        };
        for v in &diff.views {
            differs.insert(v.record, code);
        }
    }
    let mut as_counts: HashMap<u32, u64> = HashMap::new();
    let mut icmp_ids: HashMap<Vec<u32>, u32> = HashMap::new();

    for (i, r) in d.records.iter().enumerate() {
        c.t.push(s.id(r.target_text()));
        c.va.push(vantage_ix.get(r.vantage_name()).copied().unwrap_or(0));
        c.vd.push(verdict_ix.get(r.verdict_name()).copied().unwrap_or(0));
        c.ru.push(s.opt(r.rule.as_deref()));
        let tampered = r.is_tampered();
        let placement = tampered.then(|| r.placement());
        let class = placement.as_ref().and_then(|p| {
            AttributionClass::ALL
                .iter()
                .position(|&x| x == p.class)
                .and_then(|x| i8::try_from(x).ok())
        });
        c.cl.push(class.unwrap_or(-1));
        c.ad.push(u8::from(placement.as_ref().is_some_and(|p| p.derived)));
        let strip_as = placement
            .as_ref()
            .and_then(|p| p.asns.first().copied())
            .unwrap_or(0);
        c.sa.push(strip_as);
        c.ta.push(r.target_asn.unwrap_or(0));
        for asn in [strip_as, r.target_asn.unwrap_or(0)] {
            if asn != 0 {
                *as_counts.entry(asn).or_default() += 1;
            }
        }
        let seg = r.segment.as_ref();
        c.sg.push(s.opt(seg.map(|x| x.text()).as_deref()));
        c.se.push(s.opt(seg.map(|x| x.end().label()).as_deref()));
        c.re.push(s.opt(r.reason.as_deref()));
        c.ex.push(
            s.opt(
                r.attribution
                    .as_ref()
                    .and_then(|a| a.explanation.as_deref()),
            ),
        );
        c.ev.push(s.id(&r.evidence.join("\n")));
        c.er.push(s.id(&r.errors.join("\n")));
        c.st.push(s.opt(r.started_at.as_deref()));
        c.df.push(differs.get(&i).copied().unwrap_or(0));
        c.hn.push(u32::try_from(r.hops.len()).unwrap_or(0));
        for h in &r.hops {
            let icmp = match icmp_ids.get(&h.icmp) {
                Some(&id) => id,
                None => {
                    let text = h
                        .icmp
                        .iter()
                        .map(u32::to_string)
                        .collect::<Vec<_>>()
                        .join("/");
                    let id = s.id(&text);
                    icmp_ids.insert(h.icmp.clone(), id);
                    id
                }
            };
            let changes = if h.changes.is_empty() {
                0
            } else {
                let text = h
                    .changes
                    .iter()
                    .map(|ch| {
                        format!(
                            "{}: {} → {}",
                            ch.field.as_deref().unwrap_or("?"),
                            ch.sent.as_deref().unwrap_or("?"),
                            ch.quoted.as_deref().unwrap_or("?")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ");
                s.id(&text)
            };
            let sig = vec![
                opt_i(h.ttl),
                i64::from(s.opt(h.addr.as_deref())),
                opt_i(h.asn),
                i64::from(s.opt(h.payload.as_deref())),
                i64::from(s.opt(h.quoted_payload.as_deref())),
                i64::from(icmp),
                opt_i(h.attempts),
                i64::from(h.shared),
                opt_i(h.quote_len),
                i64::from(changes),
            ];
            hops.g.push(u32::try_from(sigs.id(sig)).unwrap_or(0));
            hops.r.push(fixed(h.rtt_ms, 100.0));
        }
        c.sm.push(smtp_row(&mut s, r).map_or(-1, |row| smtp.id(row)));
        c.tc.push(tcp_row(&mut s, r).map_or(-1, |row| tcp.id(row)));
        c.tl.push(tls_row(&mut s, r).map_or(-1, |row| tls.id(row)));
    }

    let mut asfilter: Vec<[u64; 2]> = as_counts
        .into_iter()
        .map(|(asn, n)| [u64::from(asn), n])
        .collect();
    asfilter.sort_by(|a, b| b[1].cmp(&a[1]).then(a[0].cmp(&b[0])));
    asfilter.truncate(AS_FILTER_MAX);
    let mut asnames: BTreeMap<u32, String> = BTreeMap::new();
    let mut want: Vec<u32> = asfilter
        .iter()
        .filter_map(|a| u32::try_from(a[0]).ok())
        .collect();
    want.extend(summary.vantages.iter().filter_map(|v| v.asn));
    for sig in &sigs.list {
        if let Some(asn) = sig.get(2).and_then(|&a| u32::try_from(a).ok()) {
            want.push(asn);
        }
    }
    for asn in want {
        if let Some(name) = summary.as_names.name(asn) {
            asnames.insert(asn, name.to_string());
        }
    }

    let data = Data {
        v: 1,
        n,
        s: s.list,
        vantages: summary
            .vantages
            .iter()
            .map(|v| VantageOut {
                name: v.name.clone(),
                asn: v.asn,
            })
            .collect(),
        verdicts: summary
            .verdicts
            .iter()
            .map(|v| VerdictOut {
                name: v.info.name.clone(),
                color: v.info.color.clone(),
                tampering: v.info.kind == crate::model::VerdictKind::Tampering,
                meaning: v.info.meaning,
            })
            .collect(),
        classes: AttributionClass::ALL
            .iter()
            .map(|c| ClassOut {
                name: c.name(),
                label: c.label(),
            })
            .collect(),
        asnames,
        asfilter,
        cols: c,
        hops,
        sigs: sigs.list,
        smtp: smtp.list,
        tcp: tcp.list,
        tls: tls.list,
    };
    serde_json::to_string(&data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_columns_align_and_tables_dedupe() {
        let d = Dataset::from_values(crate::synthetic::records(400, 4));
        let summary = Summary::of(&d);
        let text = encode(&d, &summary).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["n"], 400);
        for col in [
            "t", "va", "vd", "cl", "sa", "sg", "re", "df", "sm", "tc", "tl",
        ] {
            assert_eq!(v["cols"][col].as_array().unwrap().len(), 400, "{col}");
        }
        assert_eq!(v["cols"]["hn"].as_array().unwrap().len(), 400);
        let hops: usize = d.records.iter().map(|r| r.hops.len()).sum();
        assert_eq!(v["hops"]["g"].as_array().unwrap().len(), hops);
        // Hop signatures repeat across targets.
        assert!(v["sigs"].as_array().unwrap().len() * 3 < hops);
        // The first record's target round-trips through the string table.
        let t = v["cols"]["t"][0].as_u64().unwrap() as usize;
        assert_eq!(v["s"][t], d.records[0].target_text());
    }
}
