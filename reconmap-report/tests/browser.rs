//! Reports loaded in real headless Chromium: the DOM after the page's scripts ran is checked.
use reconmap_report::browser::{body_attr, element_inner, row_count, Browser, LoadOptions};
use reconmap_report::{load_inputs, render_html, synthetic, HtmlOptions};
use serde_json::{json, Value};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// A temporary directory removed on drop (also when a test fails).
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let p = std::env::temp_dir().join(format!(
            "reconmap-report-{tag}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn browser() -> Browser {
    Browser::find().expect("Chromium is required for these tests: apt-get install -y chromium")
}

fn write_jsonl(path: &Path, records: &[Value]) {
    let mut f = std::fs::File::create(path).unwrap();
    for r in records {
        writeln!(f, "{}", serde_json::to_string(r).unwrap()).unwrap();
    }
}

fn hop(ttl: u32, addr: &str, asn: u32, as_name: &str, payload: &str) -> Value {
    json!({"ttl": ttl, "addr": addr, "rtt_ms": 0.5 * f64::from(ttl), "icmp": [11, 0], "attempts": 1,
        "shared": false, "quote_len": 62, "payload": payload,
        "quoted_payload": if payload == "modified" { Some("XXXXXXXX\\r\\n") } else { None },
        "changes": [], "asn": asn, "as_name": as_name})
}

/// Vantage "lab-a" reaches three servers through AS64500, whose router 203.0.113.9 rewrites
/// STARTTLS; vantage "lab-b" reaches one of them cleanly and another network's server, which
/// does not offer STARTTLS.
fn small_dataset() -> Vec<Value> {
    let transit = "Example Transit";
    let path_a = |stripped: bool| {
        let p = if stripped { "modified" } else { "intact" };
        vec![
            hop(1, "192.0.2.1", 64496, "Example Access", "intact"),
            hop(2, "203.0.113.5", 64500, transit, "intact"),
            hop(3, "203.0.113.9", 64500, transit, p),
            hop(4, "198.18.0.1", 64510, "Example Mail Host", p),
        ]
    };
    let record = |target: &str,
                  vantage: &str,
                  prober: &str,
                  asn: u32,
                  verdict: &str,
                  hops: Vec<Value>| {
        let stripped = verdict == "stripped";
        json!({
            "schema": 1, "tool": "reconmap", "version": "0.2.0",
            "target": target, "prober": prober, "verdict": verdict,
            "rule": if stripped { "quote_modified" } else { "clean" },
            "vantage": {"name": vantage, "prober": prober, "asn": asn},
            "prober_asn": asn, "target_asn": 64510, "target_as_name": "Example Mail Host",
            "segment": if stripped {
                json!({"after": {"ttl": 2, "addr": "203.0.113.5", "asn": 64500},
                       "at": {"ttl": 3, "addr": "203.0.113.9", "asn": 64500, "as_name": transit}})
            } else { Value::Null },
            "attribution": if stripped {
                json!({"class": "transit", "asns": [64500], "explanation": "the box at hop 3 is inside AS64500"})
            } else { Value::Null },
            "reason": if stripped { "STARTTLS arrives intact at hop 2 and changed at hop 3" } else { "clean" },
            "evidence": [],
            "hops": hops,
            "smtp": {"banner": {"code": 220, "lines": ["mx.example ESMTP"]}, "starttls_advertised": true,
                     "starttls_sent": true,
                     "starttls_reply": if stripped { json!({"code": 500, "lines": ["5.5.2 Error: command not recognized"]}) }
                                       else { json!({"code": 220, "lines": ["2.0.0 Ready to start TLS"]}) }},
            "tcp": {"connect": "established", "server_ttl": 59, "server_distance": 5, "rsts": []},
            "errors": []
        })
    };
    let path_b = vec![
        hop(1, "198.51.100.1", 64497, "Example Cloud", "intact"),
        hop(2, "203.0.113.77", 64501, "Other Transit", "intact"),
        hop(3, "198.18.0.1", 64510, "Example Mail Host", "intact"),
    ];
    let mut not_offered = record(
        "198.18.1.4:25",
        "lab-b",
        "198.51.100.10",
        64497,
        "not_offered",
        path_b.clone(),
    );
    not_offered["target_asn"] = json!(64511);
    vec![
        record(
            "198.18.1.1:25",
            "lab-a",
            "192.0.2.10",
            64496,
            "stripped",
            path_a(true),
        ),
        record(
            "198.18.1.2:25",
            "lab-a",
            "192.0.2.10",
            64496,
            "stripped",
            path_a(true),
        ),
        record(
            "198.18.1.3:25",
            "lab-a",
            "192.0.2.10",
            64496,
            "stripped",
            path_a(true),
        ),
        record(
            "198.18.1.1:25",
            "lab-b",
            "198.51.100.10",
            64497,
            "clean",
            path_b,
        ),
        not_offered,
    ]
}

fn assert_no_script_errors(dom: &str) {
    let errors = element_inner(dom, "script-errors").expect("#script-errors is in the DOM");
    assert_eq!(errors, "", "script errors: {errors}");
    assert_eq!(
        body_attr(dom, "data-ready").as_deref(),
        Some("1"),
        "page script finished"
    );
}

#[test]
fn test_small_report_shows_the_stripping_hop() {
    let dir = TempDir::new("small");
    let input = dir.0.join("results.jsonl");
    write_jsonl(&input, &small_dataset());
    // A bad line and the scan's metadata side file.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&input)
        .unwrap()
        .write_all(b"{\"target\": oops\n")
        .unwrap();
    std::fs::write(
        dir.0.join("results.jsonl.meta.json"),
        serde_json::to_string_pretty(&json!({"tool": "reconmap", "version": "0.2.0",
            "args": ["reconmap", "scan", "-o", "results.jsonl"], "seed": 4242, "shard": 0, "shards": 1,
            "stats": {"finished": 5}})).unwrap(),
    )
    .unwrap();
    let d = load_inputs(std::slice::from_ref(&input)).unwrap();
    assert_eq!(d.records.len(), 5);
    assert_eq!(d.bad_line_count, 1);
    let html = dir.0.join("report.html");
    std::fs::write(&html, render_html(&d, &HtmlOptions::default()).unwrap()).unwrap();

    let run = browser().dump_dom(&html, &LoadOptions::default()).unwrap();
    let dom = run.stdout;
    assert_no_script_errors(&dom);

    // Verdict counts.
    assert_eq!(
        row_count(&dom, r#"data-verdict="stripped""#).as_deref(),
        Some("3")
    );
    assert_eq!(
        row_count(&dom, r#"data-verdict="clean""#).as_deref(),
        Some("1")
    );
    assert_eq!(
        row_count(&dom, r#"data-verdict="not_offered""#).as_deref(),
        Some("1")
    );
    // The attribution table: the three stripped records are in transit.
    assert_eq!(
        row_count(&dom, r#"data-class="transit""#).as_deref(),
        Some("3")
    );
    assert_eq!(
        row_count(&dom, r#"data-class="client_network""#).as_deref(),
        Some("0")
    );
    let answer = element_inner(&dom, "answer-headline").unwrap();
    assert!(answer.contains("100.0% in a transit network"), "{answer}");
    // The stripping hop with its AS, in the hops table and on the map.
    let hops = element_inner(&dom, "top-hops").unwrap();
    assert!(hops.contains("203.0.113.9"), "{hops}");
    assert!(hops.contains("AS64500 Example Transit"), "{hops}");
    let ases = element_inner(&dom, "top-ases").unwrap();
    assert!(ases.contains("AS64500") && ases.contains("Example Transit"));
    assert!(dom.contains(r#"<g class="node router strip-end" data-addr="203.0.113.9" data-asn="64500" data-strip-end="3""#));
    // The red segment element: after -> at.
    assert!(
        dom.contains(r#"class="seg-strip""#)
            && dom.contains(r#"data-from="203.0.113.5" data-to="203.0.113.9" data-count="3""#),
        "red segment missing"
    );
    // Vantage comparison: 198.18.1.1 is stripped from lab-a, clean from lab-b.
    let diffs = element_inner(&dom, "vantage-diffs").unwrap();
    assert!(
        diffs.contains("198.18.1.1:25") && diffs.contains("lab-b: clean"),
        "{diffs}"
    );
    // The scan metadata and the bad line.
    assert!(dom.contains("4242") && dom.contains("reconmap scan -o results.jsonl"));
    assert!(dom.contains("results.jsonl:6: "));
    // The per-target table rendered every row.
    assert_eq!(body_attr(&dom, "data-rows-shown").as_deref(), Some("5"));
    assert_eq!(dom.matches(r#"<tr class="row""#).count(), 5);
}

#[test]
fn test_filter_and_drill_down_from_the_url() {
    let dir = TempDir::new("drill");
    let d = reconmap_report::Dataset::from_values(small_dataset());
    let html = dir.0.join("report.html");
    std::fs::write(&html, render_html(&d, &HtmlOptions::default()).unwrap()).unwrap();
    let opts = LoadOptions {
        fragment: Some("verdict=stripped&q=198.18.1.2&open=2".into()),
        ..LoadOptions::default()
    };
    let dom = browser().dump_dom(&html, &opts).unwrap().stdout;
    assert_no_script_errors(&dom);
    assert_eq!(body_attr(&dom, "data-rows-matching").as_deref(), Some("1"));
    let detail = dom
        .split(r#"<tr class="detail">"#)
        .nth(1)
        .expect("row 1 is open");
    // Hop table with the modified quote, SMTP reply, facts.
    assert!(detail.contains("203.0.113.9") && detail.contains("XXXXXXXX\\r\\n"));
    assert!(detail.contains("500 5.5.2 Error: command not recognized"));
    assert!(detail.contains("quote_modified"));
}

#[test]
fn test_as_filter_matches_hop_ases() {
    let dir = TempDir::new("asfilter");
    let d = reconmap_report::Dataset::from_values(small_dataset());
    let html = dir.0.join("report.html");
    std::fs::write(&html, render_html(&d, &HtmlOptions::default()).unwrap()).unwrap();
    // AS64501 appears only as a hop of lab-b's two paths.
    let opts = LoadOptions {
        fragment: Some("as=64501".into()),
        ..LoadOptions::default()
    };
    let dom = browser().dump_dom(&html, &opts).unwrap().stdout;
    assert_no_script_errors(&dom);
    assert_eq!(body_attr(&dom, "data-rows-matching").as_deref(), Some("2"));
    let rows = element_inner(&dom, "rows").unwrap();
    assert!(rows.contains("198.18.1.4:25") && !rows.contains("198.18.1.2:25"));
    // Where the box is: transit.
    let opts = LoadOptions {
        fragment: Some("class=transit".into()),
        ..LoadOptions::default()
    };
    let dom = browser().dump_dom(&html, &opts).unwrap().stdout;
    assert_eq!(body_attr(&dom, "data-rows-matching").as_deref(), Some("3"));
}

#[test]
fn test_sparse_and_unknown_records_render() {
    let dir = TempDir::new("sparse");
    let d = reconmap_report::Dataset::from_values(vec![
        json!({"target": "192.0.2.1:25"}),
        json!({"target": "[2001:db8::25]:25", "prober": "2001:db8::1", "verdict": "quantum_downgrade",
            "segment": {"after": {"ttl": 0, "addr": "2001:db8::1"}, "at": null},
            "hops": [{"ttl": 1, "addr": null}, {"ttl": 2, "addr": "2001:db8::2", "payload": "checksum_changed"}],
            "tls": {"chain": [{"sha256": "ab12", "san_ip": ["2001:db8::25"]}], "chain_error": "UnknownIssuer",
                "failure": {"step": "server_hello", "alert": "handshake_failure", "alert_sent_by": "server"}},
            "smtp": {}, "tcp": {"rsts": [{}]}}),
    ]);
    let html = dir.0.join("report.html");
    std::fs::write(&html, render_html(&d, &HtmlOptions::default()).unwrap()).unwrap();
    for open in ["1", "2"] {
        let opts = LoadOptions {
            fragment: Some(format!("open={open}")),
            ..LoadOptions::default()
        };
        let dom = browser().dump_dom(&html, &opts).unwrap().stdout;
        assert_no_script_errors(&dom);
        assert!(dom.contains(r#"<tr class="detail">"#), "row {open} opens");
        assert!(dom.contains("quantum_downgrade"));
        if open == "2" {
            assert!(dom.contains("at server_hello, alert handshake_failure (sent by server)"));
            assert!(
                dom.contains("UnknownIssuer")
                    && dom.contains("2001:db8::25")
                    && dom.contains("ab12")
            );
        }
    }
}

#[test]
fn test_script_errors_are_recorded() {
    // A page whose data cannot be decoded must say so in #script-errors (so the other tests'
    // "no script error" checks can fail).
    let dir = TempDir::new("errors");
    let d = reconmap_report::Dataset::from_values(small_dataset());
    let page = render_html(&d, &HtmlOptions::default()).unwrap().replace(
        r#"data-encoding="gzip+base64">"#,
        r#"data-encoding="gzip+base64">!!"#,
    );
    let html = dir.0.join("report.html");
    std::fs::write(&html, page).unwrap();
    let dom = browser()
        .dump_dom(&html, &LoadOptions::default())
        .unwrap()
        .stdout;
    let errors = element_inner(&dom, "script-errors").unwrap();
    assert!(errors.contains("report data"), "{errors}");
    assert_eq!(body_attr(&dom, "data-ready").as_deref(), Some("error"));
    assert!(
        dom.contains(r#"<div id="script-error-notice">"#),
        "notice shown"
    );
}

#[test]
fn test_hostile_text_stays_text() {
    let dir = TempDir::new("hostile");
    let mut records = small_dataset();
    let banner = "</script><script>alert(1)</script><script>document.body.setAttribute('data-pwned','1')</script> <img src=x onerror=\"document.body.setAttribute('data-pwned','2')\">";
    records[1]["smtp"]["banner"]["lines"] = json!([banner]);
    records[1]["reason"] =
        json!("<img src=x onerror=\"document.body.setAttribute('data-pwned','3')\">");
    records[1]["vantage"]["name"] =
        json!("<b>lab-a</b><img src=x onerror=\"document.body.setAttribute('data-pwned','4')\">");
    records[1]["hops"][2]["as_name"] =
        json!("</text></svg><img src=x onerror=\"document.body.setAttribute('data-pwned','5')\">");
    let d = reconmap_report::Dataset::from_values(records);
    for compress in [true, false] {
        let html = dir.0.join(format!("report-{compress}.html"));
        let opts = HtmlOptions {
            compress_data: compress,
            ..HtmlOptions::default()
        };
        std::fs::write(&html, render_html(&d, &opts).unwrap()).unwrap();
        let load = LoadOptions {
            fragment: Some("q=198.18.1.2&open=2".into()),
            ..LoadOptions::default()
        };
        let dom = browser().dump_dom(&html, &load).unwrap().stdout;
        assert_no_script_errors(&dom);
        assert_eq!(body_attr(&dom, "data-pwned"), None, "injected code ran");
        assert!(!dom.contains("<img"), "an injected element was parsed");
        assert_eq!(
            dom.matches("<script").count(),
            3,
            "only the page's own scripts"
        );
        // The banner is shown, as text, in the opened row's SMTP block.
        let detail = dom
            .split(r#"<tr class="detail">"#)
            .nth(1)
            .expect("row 1 is open");
        assert!(
            detail.contains("220 &lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;"),
            "banner not shown as text"
        );
        assert!(detail.contains("&lt;img src=x onerror="));
        // Static parts escape too.
        assert!(dom.contains("&lt;b&gt;lab-a&lt;/b&gt;&lt;img"));
    }
}

#[test]
fn test_100k_records_render() {
    let dir = TempDir::new("100k");
    let input = dir.0.join("results.jsonl");
    let t = Instant::now();
    synthetic::write_jsonl(
        std::io::BufWriter::new(std::fs::File::create(&input).unwrap()),
        100_000,
        1,
    )
    .unwrap();
    let generated = t.elapsed();
    let t = Instant::now();
    let d = load_inputs(std::slice::from_ref(&input)).unwrap();
    let loaded = t.elapsed();
    assert_eq!(d.records.len(), 100_000);
    let t = Instant::now();
    let page = render_html(&d, &HtmlOptions::default()).unwrap();
    let rendered = t.elapsed();
    let html = dir.0.join("report.html");
    std::fs::write(&html, &page).unwrap();
    let run = browser().dump_dom(&html, &LoadOptions::default()).unwrap();
    let dom = run.stdout;
    assert_no_script_errors(&dom);
    assert!(element_inner(&dom, "verdict-counts").is_some());
    assert!(dom.contains(r#"<div class="n">100000</div><div class="k">records</div>"#));
    assert_eq!(body_attr(&dom, "data-rows-shown").as_deref(), Some("50"));
    assert_eq!(dom.matches(r#"<tr class="row""#).count(), 50);
    let render_ms: f64 = body_attr(&dom, "data-render-ms").unwrap().parse().unwrap();
    println!(
        "100k records: generate {generated:?}, load {loaded:?}, render {rendered:?}, file {:.1} MB, Chromium wall {:?}, page data-render-ms {render_ms} (script {} ms)",
        page.len() as f64 / 1e6,
        run.wall,
        body_attr(&dom, "data-script-ms").unwrap_or_default()
    );
    // Sanity bounds only (a slow CI machine must not fail this).
    assert!(
        render_ms > 0.0 && render_ms < 120_000.0,
        "render {render_ms} ms"
    );
    assert!(page.len() < 100_000_000, "file {} bytes", page.len());
}
