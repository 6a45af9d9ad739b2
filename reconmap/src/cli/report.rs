//! `reconmap report RESULTS... -o report.html`: one self-contained HTML report (or Markdown)
//! from the records of probes and scans (shards, several vantage points).
use anyhow::{Context as _, Result};
use reconmap_report::{load_inputs, render_html, render_markdown, HtmlOptions};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One self-contained HTML file: the map, the attribution table, vantage comparison,
    /// per-target drill-down.
    Html,
    /// The same summary as Markdown (for terminals and issues).
    Md,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Result files: JSON Lines from `reconmap scan`, or the JSON of `reconmap probe --json`
    /// (several files: shards, vantage points; `.gz` too). `FILE.meta.json` is read when
    /// present.
    #[arg(required = true, value_name = "RESULTS")]
    inputs: Vec<PathBuf>,
    /// File to write (`-`: standard output). Default: `report.html`, or standard output
    /// for `--format md`.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Html)]
    format: Format,
    /// Page title.
    #[arg(long, default_value = "ReconMap report")]
    title: String,
    /// Embed the per-target data as plain JSON instead of gzip+base64 (bigger file).
    #[arg(long)]
    no_compress: bool,
    /// Also take a PNG screenshot of the report's map with headless Chromium.
    #[arg(long, value_name = "PNG", conflicts_with = "format")]
    screenshot: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<()> {
    let data = load_inputs(&args.inputs).context("cannot load the results")?;
    eprintln!(
        "reconmap: loaded {} record(s) from {} file(s), {} bad line(s)",
        data.records.len(),
        data.inputs.len(),
        data.bad_line_count
    );
    for b in data.bad_lines.iter().take(5) {
        eprintln!("reconmap:   {b}");
    }
    let (text, default) = match args.format {
        Format::Html => {
            let opts = HtmlOptions {
                title: args.title,
                compress_data: !args.no_compress,
                ..HtmlOptions::default()
            };
            (
                render_html(&data, &opts)?,
                Some(PathBuf::from("report.html")),
            )
        }
        Format::Md => (render_markdown(&data), None),
    };
    match args.output.or(default) {
        Some(path) if path.as_os_str() != "-" => {
            std::fs::write(&path, &text)
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("reconmap: wrote {} ({} bytes)", path.display(), text.len());
            if let Some(png) = &args.screenshot {
                reconmap_report::screenshot(&path, png)?;
                eprintln!("reconmap: wrote {} (the map)", png.display());
            }
        }
        _ => {
            use std::io::Write as _;
            std::io::stdout()
                .write_all(text.as_bytes())
                .context("cannot write to standard output")?;
            if args.screenshot.is_some() {
                anyhow::bail!("--screenshot needs the HTML written to a file (-o FILE)");
            }
        }
    }
    Ok(())
}
