//! `report-bench`: builds reports from synthetic records (1,000 and 100,000 by default) and
//! prints the time of each step, the file size, and the load time in headless Chromium.
use clap::Parser;
use reconmap_report::browser::{body_attr, element_inner, Browser, LoadOptions};
use reconmap_report::{load_inputs, render_html, render_markdown, synthetic, HtmlOptions};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Debug, Parser)]
#[command(about = "Benchmark ReconMap report building and loading")]
struct Args {
    /// Record counts to benchmark.
    #[arg(long, value_delimiter = ',', default_values_t = [1_000usize, 100_000])]
    sizes: Vec<usize>,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Skip the Chromium load.
    #[arg(long)]
    no_browser: bool,
    /// Embed plain JSON instead of gzip+base64.
    #[arg(long)]
    no_compress: bool,
    /// Keep the generated files in this directory (default: a temporary one, removed).
    #[arg(long)]
    keep: Option<PathBuf>,
}

struct Dir {
    path: PathBuf,
    remove: bool,
}

impl Drop for Dir {
    fn drop(&mut self) {
        if self.remove {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn mb(bytes: u64) -> String {
    format!("{:.2} MB", bytes as f64 / 1e6)
}

fn bench(
    args: &Args,
    dir: &std::path::Path,
    n: usize,
    browser: Option<&Browser>,
) -> Result<(), String> {
    let input = dir.join(format!("synthetic-{n}.jsonl"));
    let t = Instant::now();
    let file = std::fs::File::create(&input).map_err(|e| e.to_string())?;
    synthetic::write_jsonl(std::io::BufWriter::new(file), n, args.seed)
        .map_err(|e| e.to_string())?;
    let generate = t.elapsed();
    let input_size = std::fs::metadata(&input).map(|m| m.len()).unwrap_or(0);

    let t = Instant::now();
    let data = load_inputs(std::slice::from_ref(&input)).map_err(|e| e.to_string())?;
    let load = t.elapsed();

    let opts = HtmlOptions {
        compress_data: !args.no_compress,
        ..HtmlOptions::default()
    };
    let t = Instant::now();
    let html = render_html(&data, &opts).map_err(|e| e.to_string())?;
    let render = t.elapsed();
    let t = Instant::now();
    let md = render_markdown(&data);
    let markdown = t.elapsed();
    let out = dir.join(format!("report-{n}.html"));
    std::fs::write(&out, &html).map_err(|e| e.to_string())?;
    std::fs::write(dir.join(format!("report-{n}.md")), &md).map_err(|e| e.to_string())?;

    println!("{n} records");
    println!(
        "  generate JSONL      {:>10}  ({})",
        ms(generate),
        mb(input_size)
    );
    println!("  load                {:>10}", ms(load));
    println!(
        "  render HTML         {:>10}  ({}, {:.0} bytes/record)",
        ms(render),
        mb(html.len() as u64),
        html.len() as f64 / n.max(1) as f64
    );
    println!(
        "  render Markdown     {:>10}  ({} bytes)",
        ms(markdown),
        md.len()
    );
    if let Some(b) = browser {
        let run = b
            .dump_dom(&out, &LoadOptions::default())
            .map_err(|e| e.to_string())?;
        let errors = element_inner(&run.stdout, "script-errors").unwrap_or_else(|| "?".into());
        println!("  Chromium (headless) {:>10}  wall, page load to first rows: {} ms (script {} ms), rows shown {}, script errors: {}",
            ms(run.wall),
            body_attr(&run.stdout, "data-render-ms").unwrap_or_else(|| "?".into()),
            body_attr(&run.stdout, "data-script-ms").unwrap_or_else(|| "?".into()),
            body_attr(&run.stdout, "data-rows-shown").unwrap_or_else(|| "?".into()),
            if errors.is_empty() { "none".to_string() } else { errors });
    }
    Ok(())
}

fn run(args: &Args) -> Result<(), String> {
    let dir = match &args.keep {
        Some(p) => Dir {
            path: p.clone(),
            remove: false,
        },
        None => Dir {
            path: std::env::temp_dir()
                .join(format!("reconmap-report-bench-{}", std::process::id())),
            remove: true,
        },
    };
    std::fs::create_dir_all(&dir.path).map_err(|e| e.to_string())?;
    let browser = if args.no_browser {
        None
    } else {
        Some(Browser::find().map_err(|e| e.to_string())?)
    };
    if let Some(b) = &browser {
        // Chromium's own start-up, for reference.
        let empty = dir.path.join("empty.html");
        std::fs::write(&empty, "<!DOCTYPE html><title>empty</title>").map_err(|e| e.to_string())?;
        let run = b
            .dump_dom(&empty, &LoadOptions::default())
            .map_err(|e| e.to_string())?;
        println!("Chromium start-up (empty page): {}", ms(run.wall));
    }
    for &n in &args.sizes {
        bench(args, &dir.path, n, browser.as_ref())?;
    }
    if args.keep.is_some() {
        println!("files kept in {}", dir.path.display());
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(&Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("report-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
