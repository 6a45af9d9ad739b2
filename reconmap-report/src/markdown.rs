//! The report's summary as Markdown (GitHub-flavoured tables) for terminals and issues: the
//! same counts, attribution, top ASes and hops, and vantage differences as the HTML page.
//! Every cell from the records is escaped.
use crate::escape::markdown as md;
use crate::summary::Summary;
use crate::view;
use crate::Dataset;
use std::fmt::Write as _;

/// Rows in the ASes and hops tables.
const TOP_ROWS: usize = 15;
/// Targets listed in the vantage differences.
const DIFF_ROWS: usize = 30;
/// Bad lines listed.
const BAD_ROWS: usize = 20;
/// Scan metadata keys shown (the rest is in the HTML report).
const META_KEYS: [&str; 10] = [
    "version",
    "args",
    "start",
    "end",
    "seed",
    "shard",
    "shards",
    "rate_pps",
    "concurrency",
    "targets_in_shard",
];

fn table(out: &mut String, header: &[&str], numeric: &[bool], rows: &[Vec<String>]) {
    let cells = |cols: &[String]| format!("| {} |", cols.join(" | "));
    let _ = writeln!(
        out,
        "{}",
        cells(&header.iter().map(|h| md(h)).collect::<Vec<_>>())
    );
    let align: Vec<String> = (0..header.len())
        .map(|i| {
            if numeric.get(i).copied().unwrap_or(false) {
                "---:".to_string()
            } else {
                "---".to_string()
            }
        })
        .collect();
    let _ = writeln!(out, "{}", cells(&align));
    for r in rows {
        let _ = writeln!(out, "{}", cells(r));
    }
    out.push('\n');
}

/// Renders the summary as Markdown.
pub fn render_markdown(d: &Dataset) -> String {
    let s = Summary::of(d);
    let mut out = String::with_capacity(16 * 1024);
    out.push_str("# ReconMap report\n\n");
    let _ = writeln!(
        out,
        "{} records of {} targets from {} vantage point(s), read from {} file(s); {} bad input line(s). {} records ({}) show tampering.\n",
        s.records,
        s.targets,
        s.vantages.len(),
        d.inputs.len(),
        d.bad_line_count,
        s.tampered,
        crate::summary::percent(s.tampered, s.records)
    );

    verdicts_section(&mut out, &s);
    attribution_section(&mut out, &s);
    comparison_section(&mut out, &s);
    vantage_section(&mut out, &s, d);
    out
}

/// The verdict counts, per vantage point.
fn verdicts_section(out: &mut String, s: &Summary) {
    out.push_str("## Verdicts\n\n");
    let vantages = view::vantages(s);
    let mut header = vec!["verdict", "records", "share"];
    header.extend(vantages.iter().map(|v| v.name.as_str()));
    let numeric: Vec<bool> = (0..header.len()).map(|i| i > 0).collect();
    let rows: Vec<Vec<String>> = view::verdicts(s)
        .iter()
        .map(|v| {
            let mut r = vec![md(&v.name), v.total.to_string(), v.pct.clone()];
            r.extend(v.cells.iter().map(|c| md(c)));
            r
        })
        .collect();
    table(out, &header, &numeric, &rows);
}

/// Whose network the tampering boxes are in, the ASes and hops.
fn attribution_section(out: &mut String, s: &Summary) {
    out.push_str("## Whose box tampers with STARTTLS\n\n");
    let a = view::attribution(s);
    let _ = writeln!(out, "{}\n", md(&a.headline));
    if a.total > 0 {
        let mut header = vec!["the box is in"];
        header.extend(a.columns.iter().map(|(n, _)| n.as_str()));
        header.extend(["records", "share", "targets"]);
        let numeric: Vec<bool> = (0..header.len()).map(|i| i > 0).collect();
        let rows: Vec<Vec<String>> = a
            .rows
            .iter()
            .map(|r| {
                let label = if r.derived > 0 {
                    format!("{} ({} derived)", r.label, r.derived)
                } else {
                    r.label.clone()
                };
                let mut row = vec![md(&label)];
                row.extend(r.counts.iter().map(ToString::to_string));
                row.extend([r.total.to_string(), r.pct.clone(), r.targets.to_string()]);
                row
            })
            .collect();
        table(out, &header, &numeric, &rows);
        if a.derived > 0 {
            let _ = writeln!(
                out,
                "{} records carry no `attribution` (older schema): placed from the ASes of their segment ends, the prober and the target.\n",
                a.derived
            );
        }
    }

    let ases = view::top_ases(s, TOP_ROWS);
    if !ases.is_empty() {
        out.push_str("### ASes the tampering is placed in\n\n");
        let rows: Vec<Vec<String>> = ases
            .iter()
            .map(|x| {
                vec![
                    md(&x.asn),
                    md(&x.name),
                    x.records.to_string(),
                    x.pct.clone(),
                    x.targets.to_string(),
                    md(&x.classes),
                    md(&x.verdicts),
                ]
            })
            .collect();
        table(
            out,
            &[
                "AS",
                "name",
                "records",
                "share",
                "targets",
                "placed as",
                "verdicts",
            ],
            &[false, false, true, true, true, false, false],
            &rows,
        );
    }
    let hops = view::top_hops(s, TOP_ROWS);
    if !hops.is_empty() {
        out.push_str("### Where tampering segments end\n\n");
        let rows: Vec<Vec<String>> = hops
            .iter()
            .map(|h| {
                vec![
                    md(&h.end),
                    md(&h.asn),
                    h.records.to_string(),
                    h.targets.to_string(),
                    md(&h.ttls),
                    md(&h.verdicts),
                    md(&h.vantages),
                ]
            })
            .collect();
        table(
            out,
            &[
                "hop",
                "AS",
                "records",
                "targets",
                "TTL",
                "verdicts",
                "vantage points",
            ],
            &[false, false, true, true, true, false, false],
            &rows,
        );
    }
}

/// Targets whose verdict differs between vantage points.
fn comparison_section(out: &mut String, s: &Summary) {
    out.push_str("## Vantage comparison\n\n");
    let c = view::comparison(s, DIFF_ROWS);
    if c.multi == 0 {
        out.push_str("No target was measured from more than one vantage point.\n\n");
    } else {
        let _ = writeln!(
            out,
            "{} targets were measured from two or more vantage points; {} differ ({} in verdict, the others in where the tampering is).\n",
            c.multi, c.diff_total, c.diff_verdict
        );
        let rows: Vec<Vec<String>> = c
            .pairs
            .iter()
            .map(|p| {
                vec![
                    md(&p.a),
                    md(&p.b),
                    p.shared.to_string(),
                    p.verdict_differs.clone(),
                    p.place_differs.clone(),
                ]
            })
            .collect();
        table(
            out,
            &[
                "vantage point",
                "vantage point",
                "both measured",
                "verdict differs",
                "tampering elsewhere",
            ],
            &[false, false, true, true, true],
            &rows,
        );
        if !c.diffs.is_empty() {
            let rows: Vec<Vec<String>> = c
                .diffs
                .iter()
                .map(|x| {
                    vec![
                        md(&x.target),
                        x.kind.to_string(),
                        x.views
                            .iter()
                            .map(|v| md(v))
                            .collect::<Vec<_>>()
                            .join("<br>"),
                    ]
                })
                .collect();
            table(
                out,
                &["target", "differs in", "what each vantage point saw"],
                &[false, false, false],
                &rows,
            );
            if c.diffs_hidden > 0 {
                let _ = writeln!(out, "… and {} more.\n", c.diffs_hidden);
            }
        }
    }
}

/// The vantage points, inputs and bad lines.
fn vantage_section(out: &mut String, s: &Summary, d: &Dataset) {
    let vantages = view::vantages(s);
    out.push_str("## Vantage points\n\n");
    let rows: Vec<Vec<String>> = vantages
        .iter()
        .map(|v| {
            vec![
                md(&v.name),
                md(&v.prober),
                md(&v.asn),
                v.records.to_string(),
                v.tampered.clone(),
            ]
        })
        .collect();
    table(
        out,
        &["vantage point", "prober", "AS", "records", "tampering"],
        &[false, false, false, true, true],
        &rows,
    );

    for m in &d.metas {
        let _ = writeln!(
            out,
            "## Scan metadata: {}\n",
            md(&m.path.display().to_string())
        );
        let rows: Vec<Vec<String>> = META_KEYS
            .iter()
            .filter_map(|k| m.get(k).map(|v| vec![md(k), md(v)]))
            .collect();
        table(out, &["key", "value"], &[false, false], &rows);
    }

    if d.bad_line_count > 0 {
        let _ = writeln!(out, "## Bad input lines ({})\n", d.bad_line_count);
        for b in d.bad_lines.iter().take(BAD_ROWS) {
            let _ = writeln!(out, "- {}", md(&b.to_string()));
        }
        if d.bad_line_count > BAD_ROWS {
            let _ = writeln!(out, "- … and {} more", d.bad_line_count - BAD_ROWS);
        }
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_markdown_summary() {
        let d = Dataset::from_values(crate::synthetic::records(2000, 6));
        let m = render_markdown(&d);
        assert!(m.starts_with("# ReconMap report\n\n2000 records"));
        assert!(m.contains("## Verdicts"));
        assert!(m.contains("| stripped |"));
        assert!(m.contains("| the client's network (the prober's ISP) |"));
        assert!(m.contains("### ASes the tampering is placed in"));
        assert!(m.contains("| AS64496 | Example Home Broadband |"));
        assert!(m.contains("### Where tampering segments end"));
        assert!(m.contains("| 192.0.2.3 | AS64496 Example Home Broadband |"));
        assert!(m.contains("## Vantage comparison"));
        // Every table row has as many cells as its header.
        for block in m.split("\n\n").filter(|b| b.starts_with('|')) {
            let widths: Vec<usize> = block
                .lines()
                .map(|l| l.replace("\\|", "").matches('|').count())
                .collect();
            assert!(widths.iter().all(|w| *w == widths[0]), "{block}");
        }
    }

    #[test]
    fn test_hostile_cells_escaped() {
        let d = Dataset::from_values(vec![serde_json::json!({
            "target": "192.0.2.1:25", "verdict": "stripped",
            "vantage": {"name": "a|b <script>x</script> [link](http://x)"},
            "segment": {"after": {"ttl": 1, "addr": "192.0.2.9"}, "at": {"ttl": 2, "addr": "192.0.2.10|`x`"}}
        })]);
        let m = render_markdown(&d);
        assert!(!m.contains("<script>"));
        assert!(m.contains("a\\|b &lt;script&gt;x&lt;/script&gt; \\[link\\](http://x)"));
        assert!(m.contains("192.0.2.10\\|\\`x\\`"));
    }
}
