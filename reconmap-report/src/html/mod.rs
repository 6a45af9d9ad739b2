//! The HTML report: one self-contained file (inline CSS, scripts and SVG; a Content Security
//! Policy forbids every fetch and admits only this page's own scripts by hash), rendered with
//! an askama template. The summary, the attribution table, the map and the vantage comparison
//! are static HTML; the per-target table is rendered by the page's script from compact
//! columnar data, optionally gzip-compressed.
mod data;

use crate::escape::json_in_script;
use crate::map::{render_map, MapOptions};
use crate::summary::Summary;
use crate::{Dataset, ReportError};
use askama::Template;
use base64::Engine as _;
use sha2::{Digest, Sha256};
use std::io::Write as _;

const CSS: &str = include_str!("../../assets/report.css");
const GUARD_JS: &str = include_str!("../../assets/guard.js");
const MAIN_JS: &str = include_str!("../../assets/report.js");

/// What the HTML report shows and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HtmlOptions {
    pub title: String,
    pub map: MapOptions,
    /// Rows in the "ASes" and "hops" tables.
    pub max_table_rows: usize,
    /// Targets listed statically in the vantage comparison (all are filterable below it).
    pub max_diff_rows: usize,
    /// Embed the per-target data gzip-compressed (base64) instead of as plain JSON.
    pub compress_data: bool,
}

impl Default for HtmlOptions {
    fn default() -> Self {
        HtmlOptions {
            title: "ReconMap report".into(),
            map: MapOptions::default(),
            max_table_rows: 15,
            max_diff_rows: 200,
            compress_data: true,
        }
    }
}

#[derive(Template)]
#[template(path = "report.html")]
struct Page<'a> {
    title: &'a str,
    subtitle: String,
    version: &'static str,
    csp: String,
    css: &'static str,
    guard_js: &'static str,
    main_js: &'static str,
    data: String,
    data_encoding: &'static str,
    record_count: usize,
    cards: Vec<crate::view::Card>,
    verdicts: Vec<crate::view::VerdictView>,
    vantages: Vec<crate::view::VantageView>,
    inputs: Vec<crate::view::InputView>,
    bad_lines: Vec<String>,
    bad_line_count: usize,
    bad_lines_hidden: usize,
    metas: Vec<crate::view::MetaView>,
    attribution: crate::view::AttrView,
    top_ases: Vec<crate::view::AsView>,
    top_hops: Vec<crate::view::HopView>,
    map_svg: String,
    map_summary: String,
    map_notes: Vec<String>,
    compare: crate::view::CompareView,
}

/// Bad lines listed on the page (all are counted).
const BAD_LINES_SHOWN: usize = 50;

fn sha256_b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(s.as_bytes()))
}

/// The page's policy: nothing may be fetched; only its own two scripts (by hash) run.
fn content_security_policy() -> String {
    format!(
        "default-src 'none'; script-src 'sha256-{}' 'sha256-{}'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'",
        sha256_b64(GUARD_JS),
        sha256_b64(MAIN_JS)
    )
}

fn gzip_base64(data: &str) -> Result<String, ReportError> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    enc.write_all(data.as_bytes())
        .and_then(|()| enc.finish())
        .map(|bytes| base64::engine::general_purpose::STANDARD.encode(bytes))
        .map_err(|source| ReportError::Io {
            path: "<gzip>".into(),
            source,
        })
}

/// Renders the whole report as one self-contained HTML document.
pub fn render_html(d: &Dataset, opts: &HtmlOptions) -> Result<String, ReportError> {
    let summary = Summary::of(d);
    let map = render_map(&d.records, &summary.as_names, &opts.map);
    let json = data::encode(d, &summary)?;
    let (data, data_encoding) = if opts.compress_data {
        (gzip_base64(&json)?, "gzip+base64")
    } else {
        (json_in_script(&json), "json")
    };
    let subtitle = format!(
        "{} records of {} targets from {} vantage point(s), read from {} file(s)",
        summary.records,
        summary.targets,
        summary.vantages.len(),
        d.inputs.len()
    );
    let map_summary = format!(
        "{} records with traces; {} of {} hops drawn; {} tampering segments drawn in red.",
        map.traced, map.routers_shown, map.routers_total, map.segments_drawn
    );
    let page = Page {
        title: &opts.title,
        subtitle,
        version: env!("CARGO_PKG_VERSION"),
        csp: content_security_policy(),
        css: CSS,
        guard_js: GUARD_JS,
        main_js: MAIN_JS,
        data,
        data_encoding,
        record_count: d.records.len(),
        cards: crate::view::cards(d, &summary),
        verdicts: crate::view::verdicts(&summary),
        vantages: crate::view::vantages(&summary),
        inputs: d
            .inputs
            .iter()
            .map(|i| crate::view::InputView {
                path: i.path.display().to_string(),
                records: i.records,
                bad: i.bad_lines,
            })
            .collect(),
        bad_lines: d
            .bad_lines
            .iter()
            .take(BAD_LINES_SHOWN)
            .map(ToString::to_string)
            .collect(),
        bad_line_count: d.bad_line_count,
        bad_lines_hidden: d.bad_line_count.saturating_sub(BAD_LINES_SHOWN),
        metas: crate::view::metas(d),
        attribution: crate::view::attribution(&summary),
        top_ases: crate::view::top_ases(&summary, opts.max_table_rows),
        top_hops: crate::view::top_hops(&summary, opts.max_table_rows),
        map_svg: map.svg,
        map_summary,
        map_notes: map.notes,
        compare: crate::view::comparison(&summary, opts.max_diff_rows),
    };
    Ok(page.render()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hostile_dataset() -> Dataset {
        let mut values = crate::synthetic::records(30, 3);
        values.push(serde_json::json!({
            "target": "192.0.2.66:25", "verdict": "stripped</script><script>alert(1)</script>",
            "vantage": {"name": "<img src=x onerror=alert(2)>", "prober": "192.0.2.10"},
            "reason": "</script><script>alert(3)</script>",
            "segment": {"after": {"ttl": 1, "addr": "192.0.2.1", "asn": 64496, "as_name": "</style><script>alert(4)</script>"},
                        "at": {"ttl": 2, "addr": "192.0.2.2", "asn": 64496}},
            "attribution": {"class": "client_network", "asns": [64496], "explanation": "<!-- x"},
            "smtp": {"banner": {"code": 220, "lines": ["</script><script>alert(1)</script> <img src=x onerror=alert(5)>"]}},
            "hops": [{"ttl": 1, "addr": "192.0.2.1", "asn": 64496, "as_name": "</style><script>alert(4)</script>"}]
        }));
        Dataset::from_values(values)
    }

    /// The page's own script elements, and nothing from the records, execute.
    fn assert_no_breakout(html: &str) {
        assert_eq!(
            html.matches("<script").count(),
            3,
            "only the page's three script elements"
        );
        assert_eq!(html.matches("</script>").count(), 3);
        assert!(!html.contains("<img src=x"));
        assert!(!html.contains("</style><script>"));
        assert!(!html.contains("<!-- x"));
    }

    #[test]
    fn test_hostile_text_is_escaped_plain_json() {
        let opts = HtmlOptions {
            compress_data: false,
            ..HtmlOptions::default()
        };
        let html = render_html(&hostile_dataset(), &opts).unwrap();
        assert_no_breakout(&html);
        assert!(html.contains("\\u003c/script\\u003e\\u003cscript\\u003ealert(1)"));
        assert!(html.contains("&lt;img src=x onerror=alert(2)&gt;"));
    }

    #[test]
    fn test_hostile_text_is_escaped_compressed() {
        let html = render_html(&hostile_dataset(), &HtmlOptions::default()).unwrap();
        assert_no_breakout(&html);
        assert!(html.contains(r#"data-encoding="gzip+base64""#));
    }

    #[test]
    fn test_csp_admits_exactly_the_page_scripts() {
        let html = render_html(&hostile_dataset(), &HtmlOptions::default()).unwrap();
        let csp = content_security_policy();
        assert!(csp.starts_with("default-src 'none'"));
        // In the attribute, quotes are escaped as entities (the browser decodes them).
        let attr = csp.replace('\'', "&#39;");
        assert!(html.contains(&format!(r#"content="{attr}""#)));
        // The hashes are of the exact text between the script tags.
        let guard = html
            .split("<script>")
            .nth(1)
            .unwrap()
            .split("</script>")
            .next()
            .unwrap();
        assert_eq!(guard, GUARD_JS);
        assert!(csp.contains(&sha256_b64(guard)));
        let main = html
            .rsplit("<script>")
            .next()
            .unwrap()
            .split("</script>")
            .next()
            .unwrap();
        assert!(csp.contains(&sha256_b64(main)));
    }

    #[test]
    fn test_no_external_references() {
        let html = render_html(&hostile_dataset(), &HtmlOptions::default()).unwrap();
        for needle in [
            "src=\"http",
            "href=\"http",
            "url(",
            "@import",
            "<link",
            "<iframe",
        ] {
            assert!(!html.contains(needle), "{needle}");
        }
    }

    #[test]
    fn test_deterministic_output() {
        let d = Dataset::from_values(crate::synthetic::records(300, 8));
        let a = render_html(&d, &HtmlOptions::default()).unwrap();
        let b = render_html(&d, &HtmlOptions::default()).unwrap();
        assert_eq!(a, b);
    }
}
