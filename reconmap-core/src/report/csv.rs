//! One CSV row per target.
use super::Report;

const COLUMNS: &[&str] = &[
    "target",
    "verdict",
    "segment_after_ttl",
    "segment_after_addr",
    "segment_at_ttl",
    "segment_at_addr",
    "starttls_reply",
    "starttls_advertised",
    "banner_masked",
    "masked_keywords",
    "hops",
    "reason",
];

pub fn csv_header() -> String {
    COLUMNS.join(",")
}

/// `hops` is compact: `ttl:addr:payload` joined with spaces (`1:203.0.113.1:intact 2:*:none`).
pub fn to_csv_row(r: &Report) -> String {
    let opt = |v: Option<String>| v.unwrap_or_default();
    let segment = r.segment.as_ref().map(super::SegmentOut::segment);
    let after = segment.map(|s| s.after);
    let at = segment.and_then(|s| s.at);
    let hops: Vec<String> = r
        .hops
        .iter()
        .map(|h| {
            format!(
                "{}:{}:{}",
                h.ttl,
                h.addr.map_or("*".to_string(), |a| a.to_string()),
                h.payload
            )
        })
        .collect();
    let fields = [
        r.target.clone(),
        r.verdict.name().to_string(),
        opt(after.map(|h| h.ttl.to_string())),
        opt(after.and_then(|h| h.addr).map(|a| a.to_string())),
        opt(at.map(|h| h.ttl.to_string())),
        opt(at.and_then(|h| h.addr).map(|a| a.to_string())),
        opt(r
            .smtp
            .starttls_reply
            .as_ref()
            .map(|x| format!("{} {}", x.code, x.text()))),
        r.smtp.starttls_advertised.to_string(),
        r.smtp.banner_masked.to_string(),
        r.smtp.masked_keywords.join(" "),
        hops.join(" "),
        r.reason.clone(),
    ];
    fields
        .iter()
        .map(|f| quote(f))
        .collect::<Vec<_>>()
        .join(",")
}

/// RFC 4180 quoting when needed.
fn quote(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}
