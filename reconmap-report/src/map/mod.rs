//! THE MAP: every vantage point's traces merged into one path graph, laid out by TTL, with the
//! tampering segments drawn in red and the hops where many segments end drawn large. Built for
//! any number of records: the graph is aggregated, then capped (the rest collapsed into
//! "+N more" nodes), and the notes say what was left out.
mod graph;
mod layout;
mod select;
mod svg;

use crate::model::Record;
use crate::summary::AsNames;

/// How much the map shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapOptions {
    /// Routers drawn in all (the rest are collapsed per TTL column).
    pub max_routers: usize,
    /// Routers drawn per TTL column.
    pub max_per_column: usize,
    /// Server networks (by target AS) drawn.
    pub max_server_groups: usize,
    pub max_vantages: usize,
    /// Trace edges drawn (the thinnest are dropped).
    pub max_edges: usize,
    /// Tampering segments drawn (the rarest are dropped).
    pub max_segments: usize,
    /// Segments labelled with their count.
    pub max_segment_labels: usize,
}

impl Default for MapOptions {
    fn default() -> Self {
        MapOptions {
            max_routers: 36,
            max_per_column: 6,
            max_server_groups: 8,
            max_vantages: 12,
            max_edges: 140,
            max_segments: 36,
            max_segment_labels: 14,
        }
    }
}

/// The rendered map and what it left out.
#[derive(Clone, Debug)]
pub struct MapRender {
    pub svg: String,
    /// Sentences on the caps applied (empty when everything is drawn).
    pub notes: Vec<String>,
    pub routers_total: usize,
    pub routers_shown: usize,
    pub segments_drawn: usize,
    pub traced: usize,
}

/// Builds the map of the records.
pub fn render_map(records: &[Record], names: &AsNames, opts: &MapOptions) -> MapRender {
    let g = graph::PathGraph::build(records);
    let view = select::select(&g, opts);
    let lay = layout::layout(&view);
    let svg = svg::render(&view, &lay, names, opts.max_segment_labels);
    let mut notes = Vec::new();
    if view.routers_hidden > 0 {
        notes.push(format!(
            "{} of {} hops are drawn (those carrying the most traces or ending the most tampering segments, at most {} per TTL column); the other {} are collapsed into “+N more hops” nodes.",
            view.routers_total - view.routers_hidden,
            view.routers_total,
            opts.max_per_column,
            view.routers_hidden
        ));
    }
    if view.servers_hidden > 0 {
        notes.push(format!(
            "{} of {} server networks are drawn; the other {} are collapsed into one node.",
            view.servers_total - view.servers_hidden,
            view.servers_total,
            view.servers_hidden
        ));
    }
    if view.edges_hidden > 0 {
        notes.push(format!(
            "The {} thickest of {} links are drawn.",
            opts.max_edges, view.edges_total
        ));
    }
    if view.strips_hidden > 0 {
        notes.push(format!(
            "The {} most frequent of {} tampering segments are drawn; the other {} ({} records) are not.",
            opts.max_segments,
            opts.max_segments + view.strips_hidden,
            view.strips_hidden,
            view.strip_records_hidden
        ));
    }
    if view.strips_inside_collapsed > 0 {
        notes.push(format!(
            "{} tampering segments lie entirely inside collapsed nodes and are not drawn.",
            view.strips_inside_collapsed
        ));
    }
    MapRender {
        svg,
        notes,
        routers_total: view.routers_total,
        routers_shown: view.routers_total - view.routers_hidden,
        segments_drawn: view.strips.iter().map(|s| s.count).sum(),
        traced: view.traced,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::Summary;
    use crate::Dataset;

    #[test]
    fn test_map_is_deterministic_and_capped() {
        let d = Dataset::from_values(crate::synthetic::records(4000, 11));
        let s = Summary::of(&d);
        let opts = MapOptions::default();
        let a = render_map(&d.records, &s.as_names, &opts);
        let b = render_map(&d.records, &s.as_names, &opts);
        assert_eq!(a.svg, b.svg);
        assert!(a.routers_shown <= opts.max_routers);
        assert!(a.routers_total > a.routers_shown);
        assert!(!a.notes.is_empty());
        assert!(a.svg.contains(r#"class="seg-strip""#));
        // The home ISP's stripping router is drawn and marked.
        assert!(a.svg.contains(r#"data-addr="192.0.2.3""#));
        let g = a.svg.split(r#"data-addr="192.0.2.3""#).nth(1).unwrap();
        assert!(g.starts_with(r#" data-asn="64496" data-strip-end=""#));
        assert!(a.svg.len() < 200_000, "svg {} bytes", a.svg.len());
    }

    #[test]
    fn test_hostile_names_escaped_in_svg() {
        let r: Record = serde_json::from_value(serde_json::json!({
            "target": "192.0.2.1:25", "verdict": "stripped",
            "vantage": {"name": "<script>alert(1)</script>"},
            "segment": {"after": {"ttl": 1, "addr": "192.0.2.5"}, "at": {"ttl": 2, "addr": "\"><img src=x onerror=alert(1)>"}},
            "hops": [{"ttl": 1, "addr": "192.0.2.5", "asn": 64500, "as_name": "</text><script>x</script>"},
                     {"ttl": 2, "addr": "\"><img src=x onerror=alert(1)>"}]
        }))
        .unwrap();
        let d = Dataset::from_values(vec![]);
        let mut names = Summary::of(&d).as_names;
        names.add_record(&r);
        let m = render_map(&[r], &names, &MapOptions::default());
        assert!(!m.svg.contains("<script"));
        assert!(!m.svg.contains("<img"));
        assert!(m.svg.contains("&lt;script&gt;"));
    }
}
