//! The map as SVG: TTL columns, trace edges weighted by count, tampering segments in red, nodes
//! labelled with address and AS and sized by the segments that end there. Every text from the
//! records is escaped; presentation is in attributes so the SVG also stands alone.
use super::layout::{Layout, COLUMN_TOP};
use super::select::{MapView, ViewKind, ViewNode};
use crate::escape::{truncate, xml};
use crate::summary::AsNames;
use std::fmt::Write as _;

const RED: &str = "#d62728";
const EDGE: &str = "#7f8c99";

/// Counts stay far below 2^52: exact in f64.
fn f(c: usize) -> f64 {
    c as f64
}

fn scaled(count: usize, max: usize, lo: f64, span: f64) -> f64 {
    if max == 0 {
        return lo;
    }
    lo + span * f(count).ln_1p() / f(max).ln_1p()
}

/// Radius of the red halo of a node where `n` of at most `max` segments end.
fn halo_radius(n: usize, max: usize) -> f64 {
    if n == 0 || max == 0 {
        return 0.0;
    }
    7.0 + 15.0 * (f(n) / f(max)).sqrt()
}

fn node_name(n: &ViewNode, names: &AsNames) -> String {
    match &n.kind {
        ViewKind::Vantage { name } => name.clone(),
        ViewKind::Router { addr } => addr.clone(),
        ViewKind::Servers { asn: Some(a) } => format!("servers in {}", names.label(*a)),
        ViewKind::Servers { asn: None } => "servers (AS unknown)".into(),
        ViewKind::MoreRouters { hidden } => format!("+{hidden} more hops"),
        ViewKind::MoreServers { hidden } => format!("+{hidden} more server networks"),
        ViewKind::MoreVantages { hidden } => format!("+{hidden} more vantage points"),
    }
}

fn verdict_list(v: &std::collections::BTreeMap<String, usize>) -> String {
    let mut items: Vec<(&String, &usize)> = v.iter().collect();
    items.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    items
        .iter()
        .map(|(k, c)| format!("{k} {c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn tooltip(n: &ViewNode, names: &AsNames) -> String {
    let mut t = node_name(n, names);
    if let (Some(asn), ViewKind::Router { .. } | ViewKind::Vantage { .. }) = (n.asn, &n.kind) {
        let _ = write!(t, "\n{}", names.label(asn));
    }
    let _ = write!(t, "\n{} traces pass here", n.traversals);
    if n.strip_end > 0 {
        let _ = write!(
            t,
            "\n{} tampering segments end here ({})",
            n.strip_end,
            verdict_list(&n.end_verdicts)
        );
    }
    if n.strip_start > 0 {
        let _ = write!(t, "\n{} tampering segments start here", n.strip_start);
    }
    if let Some((lo, hi)) = n
        .ttl_range
        .filter(|_| matches!(n.kind, ViewKind::Router { .. }))
    {
        if lo == hi {
            let _ = write!(t, "\nseen at TTL {lo}");
        } else {
            let _ = write!(t, "\nseen at TTL {lo}-{hi}");
        }
    }
    if n.vantages > 0 {
        let _ = write!(t, " from {} vantage point(s)", n.vantages);
    }
    t
}

/// The label lines under a node.
fn label_lines(n: &ViewNode, names: &AsNames) -> Vec<(String, &'static str)> {
    let as_line = |asn: Option<u32>| {
        asn.map(|a| truncate(&names.label(a), 22).into_owned())
            .unwrap_or_default()
    };
    let mut lines = match &n.kind {
        ViewKind::Vantage { name } => vec![
            (truncate(name, 20).into_owned(), "lbl-main"),
            (as_line(n.asn), "lbl-as"),
        ],
        ViewKind::Router { addr } => vec![
            (truncate(addr, 26).into_owned(), "lbl-addr"),
            (as_line(n.asn), "lbl-as"),
        ],
        ViewKind::Servers { asn } => vec![
            (
                match asn {
                    Some(a) => format!("servers AS{a}"),
                    None => "servers (AS unknown)".into(),
                },
                "lbl-main",
            ),
            (
                asn.and_then(|a| names.name(a))
                    .map(|s| truncate(s, 22).into_owned())
                    .unwrap_or_default(),
                "lbl-as",
            ),
        ],
        ViewKind::MoreRouters { .. }
        | ViewKind::MoreServers { .. }
        | ViewKind::MoreVantages { .. } => vec![
            (node_name(n, names), "lbl-more"),
            (format!("{} traces", n.traversals), "lbl-as"),
        ],
    };
    if n.strip_end > 0 {
        lines.push((format!("▼ {} end here", n.strip_end), "lbl-strip"));
    }
    lines.retain(|(s, _)| !s.is_empty());
    lines
}

fn label_style(class: &str) -> &'static str {
    match class {
        "lbl-addr" => r##"font-family="ui-monospace,monospace" font-size="10.5" fill="#222""##,
        "lbl-main" => r##"font-size="11" font-weight="600" fill="#222""##,
        "lbl-more" => r##"font-size="10.5" font-style="italic" fill="#555""##,
        "lbl-strip" => r##"font-size="10.5" font-weight="700" fill="#d62728""##,
        _ => r##"font-size="9.5" fill="#667""##,
    }
}

fn write_node(out: &mut String, n: &ViewNode, (x, y): (f64, f64), max_end: usize, names: &AsNames) {
    let (class, data) = match &n.kind {
        ViewKind::Vantage { name } => ("vantage", format!(r#" data-vantage="{}""#, xml(name))),
        ViewKind::Router { addr } => ("router", format!(r#" data-addr="{}""#, xml(addr))),
        ViewKind::Servers { asn } => (
            "servers",
            asn.map(|a| format!(r#" data-servers-asn="{a}""#))
                .unwrap_or_default(),
        ),
        _ => ("more", String::new()),
    };
    let asn = n
        .asn
        .map(|a| format!(r#" data-asn="{a}""#))
        .unwrap_or_default();
    let strip_class = if n.strip_end > 0 { " strip-end" } else { "" };
    let _ = write!(
        out,
        r#"<g class="node {class}{strip_class}"{data}{asn} data-strip-end="{}" transform="translate({x:.1},{y:.1})">"#,
        n.strip_end
    );
    let _ = write!(out, "<title>{}</title>", xml(&tooltip(n, names)));
    let halo = halo_radius(n.strip_end, max_end);
    if halo > 0.0 {
        let _ = write!(
            out,
            r#"<circle class="halo" r="{halo:.1}" fill="{RED}" fill-opacity="0.22" stroke="{RED}" stroke-width="1.5"/>"#
        );
    }
    let shape_r = match &n.kind {
        ViewKind::Vantage { .. } => {
            let _ = write!(
                out,
                r##"<rect x="-8" y="-8" width="16" height="16" rx="3" fill="#1f77b4"/>"##
            );
            8.0
        }
        ViewKind::Servers { .. } => {
            let _ = write!(
                out,
                r##"<rect x="-8" y="-7" width="16" height="14" rx="2" fill="#3b3b3b"/><line x1="-5" y1="-2" x2="5" y2="-2" stroke="#ddd"/><line x1="-5" y1="2" x2="5" y2="2" stroke="#ddd"/>"##
            );
            8.0
        }
        ViewKind::Router { .. } => {
            let fill = if n.strip_end > 0 { RED } else { "#5b6b7b" };
            let _ = write!(out, r#"<circle r="5" fill="{fill}"/>"#);
            5.0
        }
        _ => {
            let _ = write!(
                out,
                r##"<circle r="6" fill="#fff" stroke="#888" stroke-dasharray="2,2"/>"##
            );
            6.0
        }
    };
    let mut ly = f64::max(halo, shape_r) + 11.0;
    for (text, class) in label_lines(n, names) {
        let _ = write!(
            out,
            r#"<text class="{class}" y="{ly:.1}" text-anchor="middle" {}>{}</text>"#,
            label_style(class),
            xml(&text)
        );
        ly += 12.0;
    }
    out.push_str("</g>");
}

fn edge_path((x1, y1): (f64, f64), (x2, y2): (f64, f64)) -> String {
    if x2 > x1 + 1.0 {
        let mx = (x1 + x2) / 2.0;
        format!("M{x1:.1},{y1:.1} C{mx:.1},{y1:.1} {mx:.1},{y2:.1} {x2:.1},{y2:.1}")
    } else {
        // Same or earlier column: a loop below.
        let dip = y1.max(y2) + 40.0;
        format!(
            "M{x1:.1},{y1:.1} C{:.1},{dip:.1} {:.1},{dip:.1} {x2:.1},{y2:.1}",
            x1 + 50.0,
            x2 - 50.0
        )
    }
}

/// Renders the laid-out view.
pub fn render(view: &MapView, layout: &Layout, names: &AsNames, count_labels: usize) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let (w, h) = (layout.width, layout.height);
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="netmap" viewBox="0 0 {w:.0} {h:.0}" width="{w:.0}" height="{h:.0}" role="img" aria-labelledby="netmap-title" font-family="system-ui,-apple-system,Segoe UI,sans-serif">"#
    );
    out.push_str(r#"<title id="netmap-title">Path graph of all traces: where tampering segments end</title>"#);
    out.push_str(r#"<g class="columns">"#);
    for c in &layout.columns {
        let _ = write!(
            out,
            r##"<text x="{:.1}" y="18" text-anchor="middle" font-size="11" fill="#889">{}</text><line x1="{:.1}" y1="26" x2="{:.1}" y2="{:.1}" stroke="#e3e7eb" stroke-dasharray="3,4"/>"##,
            c.x,
            xml(&c.heading),
            c.x,
            c.x,
            h - 4.0
        );
    }
    out.push_str("</g>");
    let pos = |i: usize| layout.pos.get(i).copied().unwrap_or((0.0, COLUMN_TOP));
    let name = |i: usize| {
        view.nodes
            .get(i)
            .map(|n| node_name(n, names))
            .unwrap_or_default()
    };

    let max_edge = view.edges.iter().map(|e| e.count).max().unwrap_or(0);
    out.push_str(r#"<g class="edges" fill="none">"#);
    for e in &view.edges {
        let width = scaled(e.count, max_edge, 0.6, 4.5);
        let _ = write!(
            out,
            r#"<path class="edge" d="{}" stroke="{EDGE}" stroke-opacity="0.35" stroke-width="{width:.2}" data-count="{}"><title>{} → {}: {} traces</title></path>"#,
            edge_path(pos(e.from), pos(e.to)),
            e.count,
            xml(&name(e.from)),
            xml(&name(e.to)),
            e.count
        );
    }
    out.push_str("</g>");

    let max_strip = view.strips.iter().map(|s| s.count).max().unwrap_or(0);
    out.push_str(r#"<g class="strips" fill="none">"#);
    // Rarest first, so the big ones are drawn on top.
    for (rank, s) in view.strips.iter().enumerate().rev() {
        let ((x1, y1), (x2, y2)) = (pos(s.from), pos(s.to));
        let lift = 22.0 + 0.12 * (x2 - x1).abs();
        let (cx, cy) = ((x1 + x2) / 2.0, y1.min(y2) - lift);
        let width = scaled(s.count, max_strip, 1.2, 5.0);
        let opacity = scaled(s.count, max_strip, 0.35, 0.55);
        let _ = write!(
            out,
            r#"<path class="seg-strip" d="M{x1:.1},{y1:.1} Q{cx:.1},{cy:.1} {x2:.1},{y2:.1}" stroke="{RED}" stroke-opacity="{opacity:.2}" stroke-width="{width:.2}" stroke-linecap="round" data-from="{}" data-to="{}" data-count="{}"><title>tampering segment {} → {}: {} records ({})</title></path>"#,
            xml(&name(s.from)),
            xml(&name(s.to)),
            s.count,
            xml(&name(s.from)),
            xml(&name(s.to)),
            s.count,
            xml(&verdict_list(&s.verdicts))
        );
        if rank >= count_labels {
            continue;
        }
        // Count at the top of the curve.
        let (tx, ty) = (
            0.25 * x1 + 0.5 * cx + 0.25 * x2,
            0.25 * y1 + 0.5 * cy + 0.25 * y2,
        );
        let _ = write!(
            out,
            r##"<text class="seg-count" x="{tx:.1}" y="{:.1}" text-anchor="middle" font-size="10" font-weight="700" fill="{RED}" stroke="#fff" stroke-width="3" paint-order="stroke">{}</text>"##,
            ty - 4.0,
            s.count
        );
    }
    out.push_str("</g>");

    let max_end = view.nodes.iter().map(|n| n.strip_end).max().unwrap_or(0);
    out.push_str(r#"<g class="nodes">"#);
    for (i, n) in view.nodes.iter().enumerate() {
        write_node(&mut out, n, pos(i), max_end, names);
    }
    out.push_str("</g></svg>");
    out
}
