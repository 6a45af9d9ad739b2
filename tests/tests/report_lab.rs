//! The report of a real lab scan, opened in headless Chromium: `reconmap scan` with the lab's
//! prefix-to-AS table over the `as-transit` scenario (a STARTTLS-stripping box inside transit
//! AS64500, a server answering on a /28), then `reconmap report`, then the rendered DOM must
//! show the counts, the stripping hop with its AS, the attribution table and the red segment
//! on the map, with no script error.
use reconmap_core::scenario::truth::Observed;
use reconmap_lab::{Lab, Scenario};
use reconmap_report::browser::{body_attr, element_inner, row_count, Browser, LoadOptions};
use reconmap_tests::{reconmap_bin, reconmap_in_netns, require_root, TempDir};
use std::process::Command;

#[test]
fn the_report_of_a_lab_scan_shows_where_and_whose_in_a_browser() {
    require_root();
    let scenario = Scenario::builtin("as-transit").expect("scenario");
    let lab = Lab::up(&scenario).expect("as-transit lab");
    let dir = TempDir::create("report-lab").expect("temp dir");
    let targets = lab.targets();
    assert!(targets.len() >= 10, "{} targets", targets.len());
    let list = dir.path("targets.txt");
    let text: Vec<String> = targets.iter().map(|(t, _)| t.ip().to_string()).collect();
    std::fs::write(&list, text.join("\n")).expect("target list");
    let names = dir.path("as-names.txt");
    std::fs::write(
        &names,
        "64496\tLab Eyeball ISP\n64500\tLab Transit\n64510\tLab Mail Host\n",
    )
    .expect("names");
    let results = dir.path("results.jsonl");
    let asn_db = lab.asn_db().expect("as-transit gives ASes");
    let path = |p: &std::path::Path| p.display().to_string();
    let out = reconmap_in_netns(lab.prober().name())
        .args([
            "scan",
            "--quiet",
            "--allow-lab-ranges",
            "--vantage",
            "lab-a",
        ])
        .args([
            "--retries",
            "1",
            "--reply-timeout",
            "5",
            "--concurrency",
            "8",
        ])
        .args(["-i", &path(&list), "-o", &path(&results)])
        .args(["--asn-db", &path(asn_db), "--as-names", &path(&names)])
        .output()
        .expect("scan");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "scan failed: {stderr}");
    // The scan's own summary counts the attribution.
    assert!(stderr.contains("segment lies in"), "{stderr}");

    // Every record: the scenario's truth, attribution included (checked as the e2e tests do).
    let records: Vec<serde_json::Value> = std::fs::read_to_string(&results)
        .expect("results")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(records.len(), targets.len(), "one record per target");
    for r in &records {
        let seen = Observed::from_json(r).expect("observed");
        if let Err(e) = scenario.check(&seen) {
            panic!("{e}\n{r:#}");
        }
        assert_eq!(r["vantage"]["name"], "lab-a");
        assert_eq!(r["prober_as_name"], "Lab Eyeball ISP");
        assert_eq!(r["segment"]["at"]["as_name"], "Lab Transit");
    }
    let at = scenario.hop_addr(4).expect("hop 4").to_string();
    let after = scenario.hop_addr(3).expect("hop 3").to_string();

    // The report, as a user builds it (no namespace or root needed to read results).
    let html = dir.path("report.html");
    let status = Command::new(reconmap_bin())
        .args(["report", &path(&results), "-o", &path(&html)])
        .status()
        .expect("reconmap report");
    assert!(status.success());
    let md = Command::new(reconmap_bin())
        .args(["report", "--format", "md", &path(&results)])
        .output()
        .expect("reconmap report --format md");
    let md = String::from_utf8_lossy(&md.stdout);
    assert!(md.contains("transit") && md.contains(&at), "{md}");

    let browser = Browser::find().expect("Chromium (cargo xtask setup installs it)");
    let dom = browser
        .dump_dom(&html, &LoadOptions::default())
        .expect("chromium ran")
        .stdout;
    let errors = element_inner(&dom, "script-errors").expect("#script-errors in the DOM");
    assert_eq!(errors, "", "script errors: {errors}");
    assert_eq!(body_attr(&dom, "data-ready").as_deref(), Some("1"));
    let n = records.len().to_string();
    assert_eq!(
        row_count(&dom, r#"data-verdict="stripped""#).as_deref(),
        Some(n.as_str()),
        "verdict counts"
    );
    assert_eq!(
        row_count(&dom, r#"data-class="transit""#).as_deref(),
        Some(n.as_str()),
        "attribution table"
    );
    assert_eq!(
        row_count(&dom, r#"data-class="client_network""#).as_deref(),
        Some("0")
    );
    let hops = element_inner(&dom, "top-hops").expect("#top-hops");
    assert!(
        hops.contains(&at) && hops.contains("AS64500 Lab Transit"),
        "{hops}"
    );
    let ases = element_inner(&dom, "top-ases").expect("#top-ases");
    assert!(
        ases.contains("AS64500") && ases.contains("Lab Transit"),
        "{ases}"
    );
    assert!(
        dom.contains(&format!(
            r#"<g class="node router strip-end" data-addr="{at}" data-asn="64500" data-strip-end="{n}""#
        )),
        "the stripping hop on the map"
    );
    assert!(
        dom.contains(r#"class="seg-strip""#)
            && dom.contains(&format!(
                r#"data-from="{after}" data-to="{at}" data-count="{n}""#
            )),
        "the red segment on the map"
    );
    assert_eq!(
        body_attr(&dom, "data-rows-shown").as_deref(),
        Some(n.as_str())
    );
}

/// The seed's question, "it fails via one carrier but not via the café's Wi-Fi": one mail
/// server (192.0.2.25) probed from two vantage points on two different networks (two labs: one
/// whose path has the server-side mailguard, one clean), then one report over both records.
#[test]
fn two_vantage_points_that_disagree_show_in_the_report() {
    require_root();
    let dir = TempDir::create("report-vantage").expect("temp dir");
    let path = |p: &std::path::Path| p.display().to_string();
    let mut files = Vec::new();
    for (scenario, vantage) in [("as-server-network", "carrier"), ("clean", "cafe-wifi")] {
        let s = Scenario::builtin(scenario).expect("scenario");
        let lab = Lab::up(&s).expect("lab");
        assert_eq!(lab.target().to_string(), "192.0.2.25:25");
        let out = dir.path(&format!("{vantage}.json"));
        let mut cmd = reconmap_in_netns(lab.prober().name());
        cmd.args(["probe", "--json", "--vantage", vantage, "--retries", "1"])
            .args(["-o", &path(&out)]);
        if let Some(db) = lab.asn_db() {
            cmd.args(["--asn-db", &path(db)]);
        }
        let status = cmd.arg("192.0.2.25").status().expect("probe");
        assert!(status.success(), "{scenario}");
        files.push(path(&out));
    }
    let html = dir.path("report.html");
    let status = Command::new(reconmap_bin())
        .arg("report")
        .args(&files)
        .args(["-o", &path(&html)])
        .status()
        .expect("reconmap report");
    assert!(status.success());
    let dom = Browser::find()
        .expect("Chromium (cargo xtask setup installs it)")
        .dump_dom(&html, &LoadOptions::default())
        .expect("chromium ran")
        .stdout;
    let errors = element_inner(&dom, "script-errors").expect("#script-errors in the DOM");
    assert_eq!(errors, "", "script errors: {errors}");
    let diffs = element_inner(&dom, "vantage-diffs").expect("#vantage-diffs: a difference");
    assert!(
        diffs.contains("192.0.2.25:25")
            && diffs.contains("carrier: stripped")
            && diffs.contains("cafe-wifi: clean"),
        "{diffs}"
    );
}
