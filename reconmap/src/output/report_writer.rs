//! Output format selection (`--json`, `--csv`, table) and destination (`-o FILE` or stdout).
use anyhow::{Context as _, Result};
use reconmap_core::report::{self, Report};
use std::io::{IsTerminal as _, Write};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, clap::Args)]
pub struct OutputArgs {
    /// One JSON object per target (schema 1, see docs/output.md).
    #[arg(long, conflicts_with = "csv")]
    json: bool,
    /// CSV with a header row.
    #[arg(long)]
    csv: bool,
    /// Write to FILE instead of stdout (flushed after every target).
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    /// Colour in the table output.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Table { color: bool },
    Json,
    Csv,
}

/// Writes reports one by one as they complete.
pub struct ReportWriter {
    out: Box<dyn Write>,
    format: Format,
    wrote_header: bool,
    count: usize,
}

impl ReportWriter {
    pub fn open(args: &OutputArgs) -> Result<Self> {
        let (out, tty): (Box<dyn Write>, bool) = match &args.output {
            Some(path) => (
                Box::new(
                    super::files::open_no_follow(path, false, false)
                        .with_context(|| format!("cannot create output file {}", path.display()))?,
                ),
                false,
            ),
            None => (Box::new(std::io::stdout()), std::io::stdout().is_terminal()),
        };
        let color = match args.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => tty && std::env::var_os("NO_COLOR").is_none(),
        };
        let format = if args.json {
            Format::Json
        } else if args.csv {
            Format::Csv
        } else {
            Format::Table { color }
        };
        Ok(Self {
            out,
            format,
            wrote_header: false,
            count: 0,
        })
    }

    pub fn write(&mut self, r: &Report) -> Result<()> {
        match self.format {
            Format::Json => writeln!(self.out, "{}", report::to_json(r)?)?,
            Format::Csv => {
                if !self.wrote_header {
                    writeln!(self.out, "{}", report::csv_header())?;
                    self.wrote_header = true;
                }
                writeln!(self.out, "{}", report::to_csv_row(r))?;
            }
            Format::Table { color } => {
                if self.count > 0 {
                    writeln!(self.out)?;
                }
                write!(self.out, "{}", report::render_table(r, color))?;
            }
        }
        self.count += 1;
        self.out.flush().context("cannot write the output")?;
        Ok(())
    }

    pub fn finish(mut self) -> Result<()> {
        self.out.flush().context("cannot write the output")?;
        Ok(())
    }
}

/// RFC 3339 UTC timestamp with seconds.
pub fn rfc3339(t: std::time::SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}
