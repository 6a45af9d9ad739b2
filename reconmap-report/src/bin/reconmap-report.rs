//! `reconmap-report`: turns scan results (JSON Lines or JSON) into one self-contained HTML
//! report, optionally also Markdown and a screenshot.
use clap::Parser;
use reconmap_report::{load_inputs, render_html, render_markdown, HtmlOptions};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    version,
    about = "Build a ReconMap report: where on the network STARTTLS stripping happens"
)]
struct Args {
    /// Result files: JSON Lines from `reconmap scan`, or JSON from `reconmap probe --json`
    /// (several files: shards, vantage points; gzip-compressed too). `FILE.meta.json` is
    /// read when present.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// HTML report to write.
    #[arg(short, long, default_value = "report.html")]
    output: PathBuf,
    /// Also write the summary as Markdown (`-`: standard output).
    #[arg(long, value_name = "FILE")]
    markdown: Option<PathBuf>,
    /// Page title.
    #[arg(long, default_value = "ReconMap report")]
    title: String,
    /// Embed the per-target data as plain JSON instead of gzip+base64.
    #[arg(long)]
    no_compress: bool,
    /// Also take a PNG screenshot of the report's map with headless Chromium.
    #[arg(long, value_name = "PNG")]
    screenshot: Option<PathBuf>,
}

fn run(args: Args) -> Result<(), String> {
    let data = load_inputs(&args.inputs).map_err(|e| e.to_string())?;
    eprintln!(
        "loaded {} records from {} file(s), {} bad line(s)",
        data.records.len(),
        data.inputs.len(),
        data.bad_line_count
    );
    for b in data.bad_lines.iter().take(5) {
        eprintln!("  {b}");
    }
    let opts = HtmlOptions {
        title: args.title,
        compress_data: !args.no_compress,
        ..HtmlOptions::default()
    };
    let html = render_html(&data, &opts).map_err(|e| e.to_string())?;
    std::fs::write(&args.output, &html)
        .map_err(|e| format!("cannot write {}: {e}", args.output.display()))?;
    eprintln!("wrote {} ({} bytes)", args.output.display(), html.len());
    if let Some(md) = &args.markdown {
        let text = render_markdown(&data);
        if md.as_os_str() == "-" {
            print!("{text}");
        } else {
            std::fs::write(md, text).map_err(|e| format!("cannot write {}: {e}", md.display()))?;
            eprintln!("wrote {}", md.display());
        }
    }
    if let Some(png) = &args.screenshot {
        reconmap_report::screenshot(&args.output, png).map_err(|e| e.to_string())?;
        eprintln!("wrote {} (the map)", png.display());
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("reconmap-report: {e}");
            ExitCode::FAILURE
        }
    }
}
