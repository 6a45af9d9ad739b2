//! View models of the summary, shared by the HTML page (whose template escapes every value)
//! and the Markdown report (which escapes every cell): every value preformatted as text.
use crate::model::AttributionClass;
use crate::summary::{percent, Difference, Summary};
use crate::Dataset;

pub struct Card {
    pub n: String,
    pub k: String,
    pub alert: bool,
}

pub struct InputView {
    pub path: String,
    pub records: usize,
    pub bad: usize,
}

pub struct VerdictView {
    pub name: String,
    pub color: String,
    pub meaning: String,
    pub total: usize,
    pub pct: String,
    /// Bar width in percent of the largest count.
    pub bar: String,
    pub cells: Vec<String>,
    pub href: String,
}

pub struct VantageView {
    pub name: String,
    pub prober: String,
    pub asn: String,
    pub records: usize,
    pub tampered: String,
    pub href: String,
}

pub struct MetaView {
    pub path: String,
    pub rows: Vec<(String, String)>,
}

pub struct AttrRowView {
    pub label: String,
    pub name: String,
    pub counts: Vec<usize>,
    pub total: usize,
    pub pct: String,
    pub targets: usize,
    pub derived: usize,
    pub href: String,
}

pub struct AttrView {
    pub columns: Vec<(String, String)>,
    pub rows: Vec<AttrRowView>,
    pub total: usize,
    pub headline: String,
    pub derived: usize,
}

pub struct AsView {
    pub asn: String,
    pub name: String,
    pub records: usize,
    pub targets: usize,
    pub pct: String,
    pub classes: String,
    pub verdicts: String,
    pub vantages: usize,
    pub href: String,
}

pub struct HopView {
    pub end: String,
    pub asn: String,
    pub records: usize,
    pub targets: usize,
    pub verdicts: String,
    pub vantages: String,
    pub ttls: String,
    pub href: String,
}

pub struct PairView {
    pub a: String,
    pub b: String,
    pub shared: usize,
    pub verdict_differs: String,
    pub place_differs: String,
}

pub struct DiffView {
    pub target: String,
    pub kind: &'static str,
    pub views: Vec<String>,
    pub href: String,
}

pub struct CompareView {
    pub multi: usize,
    pub pairs: Vec<PairView>,
    pub diffs: Vec<DiffView>,
    pub diff_total: usize,
    pub diff_verdict: usize,
    pub diffs_hidden: usize,
}

/// Percent-encodes a URL fragment value (everything but unreserved characters).
pub fn fragment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn counts_text(items: &[(String, usize)]) -> String {
    let mut v: Vec<&(String, usize)> = items.iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v.iter()
        .map(|(k, c)| format!("{k} {c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn cards(d: &Dataset, s: &Summary) -> Vec<Card> {
    vec![
        Card {
            n: s.records.to_string(),
            k: "records".into(),
            alert: false,
        },
        Card {
            n: s.targets.to_string(),
            k: "distinct targets".into(),
            alert: false,
        },
        Card {
            n: s.vantages.len().to_string(),
            k: "vantage points".into(),
            alert: false,
        },
        Card {
            n: s.tampered.to_string(),
            k: format!("tampering records ({})", percent(s.tampered, s.records)),
            alert: s.tampered > 0,
        },
        Card {
            n: d.bad_line_count.to_string(),
            k: format!("bad input lines ({} files)", d.inputs.len()),
            alert: d.bad_line_count > 0,
        },
    ]
}

pub fn verdicts(s: &Summary) -> Vec<VerdictView> {
    let max = s.verdicts.iter().map(|v| v.total).max().unwrap_or(1).max(1);
    s.verdicts
        .iter()
        .map(|v| VerdictView {
            name: v.info.name.clone(),
            color: v.info.color.clone(),
            meaning: v.info.meaning.to_string(),
            total: v.total,
            pct: percent(v.total, s.records),
            bar: format!("{:.1}", v.total as f64 * 100.0 / max as f64),
            cells: v
                .per_vantage
                .iter()
                .zip(&s.vantages)
                .map(|(&c, vp)| format!("{c} ({})", percent(c, vp.records)))
                .collect(),
            href: format!("#verdict={}", fragment(&v.info.name)),
        })
        .collect()
}

pub fn vantages(s: &Summary) -> Vec<VantageView> {
    s.vantages
        .iter()
        .map(|v| VantageView {
            name: v.name.clone(),
            prober: v.prober.clone().unwrap_or_default(),
            asn: v.asn.map(|a| s.as_label(a)).unwrap_or_default(),
            records: v.records,
            tampered: format!("{} ({})", v.tampered, percent(v.tampered, v.records)),
            href: format!("#vantage={}", fragment(&v.name)),
        })
        .collect()
}

pub fn metas(d: &Dataset) -> Vec<MetaView> {
    d.metas
        .iter()
        .map(|m| MetaView {
            path: m.path.display().to_string(),
            rows: m.fields.clone(),
        })
        .collect()
}

pub fn attribution(s: &Summary) -> AttrView {
    let t = &s.attribution;
    let rows: Vec<AttrRowView> = t
        .rows
        .iter()
        .map(|r| AttrRowView {
            label: r.class.label().to_string(),
            name: r.class.name().to_string(),
            counts: r.counts.clone(),
            total: r.records,
            pct: percent(r.records, t.records),
            targets: r.targets,
            derived: r.derived,
            href: format!("#class={}", r.class.name()),
        })
        .collect();
    let share = |c: AttributionClass| {
        t.rows
            .iter()
            .find(|r| r.class == c)
            .map_or(0, |r| r.records)
    };
    let headline = if t.records == 0 {
        "No record shows tampering with STARTTLS.".to_string()
    } else {
        format!(
            "Of {} tampering records, {} place the box in the client's network, {} in a transit network and {} in the server's own network; {} are ambiguous (an AS boundary) and {} have no AS data.",
            t.records,
            percent(share(AttributionClass::ClientNetwork), t.records),
            percent(share(AttributionClass::Transit), t.records),
            percent(share(AttributionClass::ServerNetwork), t.records),
            percent(share(AttributionClass::Ambiguous), t.records),
            percent(share(AttributionClass::Unknown), t.records),
        )
    };
    AttrView {
        columns: t
            .verdicts
            .iter()
            .map(|v| (v.name.clone(), v.color.clone()))
            .collect(),
        rows,
        total: t.records,
        headline,
        derived: t.rows.iter().map(|r| r.derived).sum(),
    }
}

pub fn top_ases(s: &Summary, max: usize) -> Vec<AsView> {
    s.top_ases
        .iter()
        .take(max)
        .map(|a| AsView {
            asn: format!("AS{}", a.asn),
            name: s.as_names.name(a.asn).unwrap_or("").to_string(),
            records: a.records,
            targets: a.targets,
            pct: percent(a.records, s.tampered),
            classes: counts_text(
                &a.classes
                    .iter()
                    .map(|(c, n)| (c.name().replace('_', " "), *n))
                    .collect::<Vec<_>>(),
            ),
            verdicts: counts_text(&a.verdicts),
            vantages: a.vantages,
            href: format!("#as={}", a.asn),
        })
        .collect()
}

pub fn top_hops(s: &Summary, max: usize) -> Vec<HopView> {
    s.top_hops
        .iter()
        .take(max)
        .map(|h| {
            let q = match &h.end {
                crate::model::SegmentEnd::Hop(a) => a.clone(),
                other => other.label(),
            };
            HopView {
                end: h.end.label(),
                asn: h.asn.map(|a| s.as_label(a)).unwrap_or_default(),
                records: h.records,
                targets: h.targets,
                verdicts: counts_text(&h.verdicts),
                vantages: h.vantages.join(", "),
                ttls: match h.ttl_range {
                    Some((a, b)) if a == b => a.to_string(),
                    Some((a, b)) => format!("{a}–{b}"),
                    None => String::new(),
                },
                href: format!("#q={}", fragment(&q)),
            }
        })
        .collect()
}

pub fn comparison(s: &Summary, max: usize) -> CompareView {
    let c = &s.comparison;
    CompareView {
        multi: c.multi,
        pairs: c
            .pairs
            .iter()
            .map(|p| PairView {
                a: p.a.clone(),
                b: p.b.clone(),
                shared: p.shared,
                verdict_differs: format!(
                    "{} ({})",
                    p.verdict_differs,
                    percent(p.verdict_differs, p.shared)
                ),
                place_differs: format!(
                    "{} ({})",
                    p.place_differs,
                    percent(p.place_differs, p.shared)
                ),
            })
            .collect(),
        diffs: c
            .diffs
            .iter()
            .take(max)
            .map(|d| DiffView {
                target: d.target.clone(),
                kind: match d.difference {
                    Difference::Verdict => "verdict",
                    Difference::Place => "place",
                },
                views: d
                    .views
                    .iter()
                    .map(|v| match &v.segment {
                        Some(seg) => format!("{}: {} ({seg})", v.vantage, v.verdict),
                        None => format!("{}: {}", v.vantage, v.verdict),
                    })
                    .collect(),
                href: format!("#q={}&diff=1", fragment(&d.target)),
            })
            .collect(),
        diff_total: c.diffs.len(),
        diff_verdict: c
            .diffs
            .iter()
            .filter(|d| d.difference == Difference::Verdict)
            .count(),
        diffs_hidden: c.diffs.len().saturating_sub(max),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_fragment() {
        assert_eq!(fragment("[2001:db8::1]:25"), "%5B2001%3Adb8%3A%3A1%5D%3A25");
        assert_eq!(fragment("a b&c"), "a%20b%26c");
    }
}
