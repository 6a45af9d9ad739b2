//! `reconmap scan`: many targets at once on the probe engine, paced, sharded, resumable.
use super::attribution_args::AttributionArgs;
use super::session_args::SessionArgs;
use super::signals::stop_channel;
use crate::output::report_writer::rfc3339;
use crate::output::resolver::SystemResolver;
use crate::output::results::{ResultsWriter, ResumeState};
use anyhow::{bail, Context as _, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use reconmap_core::engine::{RunPlan, RunStats, SinkError, StopLevel, Target};
use reconmap_core::evidence::Evidence;
use reconmap_core::report::{self, Report};
use reconmap_core::scan::{
    shard_order, Blocklist, ListFormat, Permutation, Shard, Tally, TargetList,
};
use serde_json::{json, Value};
use std::cell::Cell;
use std::io::{IsTerminal as _, Read as _, Write as _};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Target list (one IP, IP:PORT, CIDR or hostname per line); `-` or absent = stdin.
    #[arg(long, short = 'i', value_name = "FILE")]
    input: Option<PathBuf>,
    /// Read the list as CSV and take targets from this column (by header name).
    #[arg(long, value_name = "NAME")]
    csv_column: Option<String>,
    /// Fail on the first bad line instead of reporting and skipping it.
    #[arg(long)]
    strict: bool,
    /// Port where a line gives none.
    #[arg(long, default_value_t = 25, value_parser = clap::value_parser!(u16).range(1..))]
    port: u16,
    /// ZMap-format blocklist (CIDR per line, `#` comments), on top of the built-in one.
    #[arg(long, value_name = "FILE")]
    blocklist: Option<PathBuf>,
    /// Let the documentation and benchmarking ranges (192.0.2.0/24, 198.51.100.0/24,
    /// 203.0.113.0/24, 198.18.0.0/15) through the built-in blocklist: for the lab only.
    #[arg(long)]
    allow_lab_ranges: bool,
    /// Cap on all packets sent per second.
    #[arg(long, default_value_t = 1000.0)]
    rate: f64,
    /// Sessions in flight at most.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=65536))]
    concurrency: u32,
    /// Seed of the pseudo-random target order (default: random, recorded in the metadata).
    #[arg(long)]
    seed: Option<u64>,
    /// Number of shards the list is split into (ZMap semantics).
    #[arg(long, default_value_t = 1)]
    shards: u32,
    /// Which shard this box scans (0-based).
    #[arg(long, default_value_t = 0)]
    shard: u32,
    /// JSON Lines results file (default: stdout).
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    /// Continue an interrupted scan: skip targets already in the results file.
    #[arg(long, requires = "output")]
    resume: bool,
    /// Run metadata file (default: OUTPUT.meta.json, or reconmap-scan.meta.json).
    #[arg(long, value_name = "FILE")]
    metadata: Option<PathBuf>,
    #[command(flatten)]
    session: SessionArgs,
    #[command(flatten)]
    attribution: AttributionArgs,
    /// No progress bar or progress lines.
    #[arg(long)]
    quiet: bool,
}

pub async fn run(args: Args) -> Result<()> {
    if !(args.rate.is_finite() && (0.01..=1e8).contains(&args.rate)) {
        bail!(
            "--rate {} is not usable: give packets per second between 0.01 and 100000000",
            args.rate
        );
    }
    args.session.validate()?;
    let annotator = args.attribution.annotator()?;
    let shard = Shard::new(args.shard, args.shards).map_err(anyhow::Error::msg)?;
    let started_wall = SystemTime::now();

    let list = load_list(&args)?;
    let blocklist = load_blocklist(&args)?;
    let (mut results, resume) = open_results(&args)?;
    let meta_path = args.metadata.clone().unwrap_or_else(|| match &args.output {
        Some(p) => PathBuf::from(format!("{}.meta.json", p.display())),
        None => PathBuf::from("reconmap-scan.meta.json"),
    });

    // Order.
    let seed = args.seed.unwrap_or_else(rand::random);
    let perm = Permutation::new(list.len(), seed);
    let blocked = Rc::new(Cell::new(0u64));
    let skipped = Rc::new(Cell::new(0u64));
    let in_shard =
        (list.len() + u64::from(shard.count) - 1 - u64::from(shard.index)) / u64::from(shard.count);
    let targets = {
        let (blocked, skipped) = (blocked.clone(), skipped.clone());
        let done = resume.done;
        shard_order(&perm, shard)
            .filter_map(|i| list.get_named(i))
            .map(|(addr, name)| Target { addr, name })
            .filter(move |t: &Target| match blocklist.blocks(*t.addr.ip()) {
                Some(why) => {
                    log::info!("not probing {}: {why}", t.addr);
                    blocked.set(blocked.get() + 1);
                    false
                }
                None => true,
            })
            .filter(move |t| {
                if done.contains(&t.addr) {
                    skipped.set(skipped.get() + 1);
                    false
                } else {
                    true
                }
            })
            .peekable()
    };
    let mut targets = targets;
    let meta = RunMeta {
        path: meta_path,
        args: &args,
        seed,
        started: started_wall,
        in_shard,
        blocked: &blocked,
        skipped: &skipped,
    };
    let Some(first) = targets.peek().map(|t| t.addr) else {
        meta.write(None, None)?;
        eprintln!("reconmap: nothing to scan (all targets blocked or already done)");
        return Ok(());
    };

    let concurrency = usize::try_from(args.concurrency).unwrap_or(100);
    let plan = RunPlan {
        concurrency,
        rate: Some(args.rate),
    };
    let (mut net, mut engine) = super::prober::open(&args.session, plan, *first.ip())?;
    meta.write(None, None)?;

    let progress = Progress::new(in_shard, args.quiet);
    let mut tally = Tally::default();
    let mut stdout = std::io::stdout().lock();
    let mut sink = |e: Evidence, stats: &RunStats| -> Result<(), SinkError> {
        let mut r = Report::build(e);
        annotator.annotate(&mut r);
        // The hop a stripping segment points at: the first showing the change, else the
        // last seeing the original bytes.
        let hop = r
            .segment
            .as_ref()
            .and_then(|s| s.at.as_ref().and_then(|h| h.addr).or(s.after.addr));
        tally.record(r.verdict.name(), hop);
        if let Some(a) = &r.attribution {
            tally.record_attribution(a.class.as_str(), &a.asns);
        }
        if let Some(t) = &r.tls {
            tally.record_tls(&t.observations);
        }
        let line = report::to_json(&r).map_err(|e| SinkError(e.to_string()))?;
        match results.as_mut() {
            Some(w) => w
                .write_record(&line)
                .map_err(|e| SinkError(e.to_string()))?,
            None => writeln!(stdout, "{line}").map_err(|e| SinkError(e.to_string()))?,
        }
        progress.update(stats, &tally, skipped.get() + blocked.get());
        Ok(())
    };
    let outcome = reconmap_datapath::run(
        &mut engine,
        &mut net,
        targets,
        &mut sink,
        stop_channel(StopLevel::Drain),
    )
    .await;
    progress.finish();
    if let Some(w) = results.as_mut() {
        w.flush()?;
    }
    let counters = net.datapath().counters().ok().map(|c| json!(c));
    let stats = outcome.as_ref().ok().cloned();
    meta.write(Some((stats.clone().unwrap_or_default(), &tally)), counters)?;
    let stats = outcome?;
    eprintln!("\n{}", tally.render());
    eprintln!(
        "{} started, {} finished, {} interrupted, {} blocked, {} skipped (resume), {} packets, {} malformed captures, {} send errors",
        stats.started,
        stats.finished,
        stats.interrupted,
        blocked.get(),
        skipped.get(),
        stats.packets,
        stats.malformed,
        stats.send_errors
    );
    if let Ok(c) = net.datapath().counters() {
        if c.ringbuf_full > 0 {
            eprintln!(
                "reconmap: WARNING: {} packets lost to a full ring buffer",
                c.ringbuf_full
            );
        }
    }
    check_complete(&stats, in_shard, blocked.get(), skipped.get())
}

/// Every target of the shard must have a complete record: says plainly when not (exit 1).
fn check_complete(stats: &RunStats, in_shard: u64, blocked: u64, skipped: u64) -> Result<()> {
    // Every target of the shard must have a complete record; say plainly when not.
    let done_before = skipped;
    let not_reached = in_shard
        .saturating_sub(blocked)
        .saturating_sub(done_before)
        .saturating_sub(stats.targets);
    let incomplete = stats.incomplete();
    if incomplete > 0 || not_reached > 0 {
        eprintln!(
            "reconmap: INCOMPLETE: {incomplete} target(s) have no complete record \
             ({} interrupted, {} not probed, {} internal errors) and {not_reached} were never \
             started (stopped early)",
            stats.interrupted, stats.not_probed, stats.internal_errors
        );
        bail!(
            "the scan did not probe every target; rerun with --resume to complete it \
             (incomplete records are probed again)"
        );
    }
    Ok(())
}

/// Reads and parses the target list; bad lines are reported (and fatal with `--strict`).
fn load_list(args: &Args) -> Result<TargetList> {
    let text = read_input(args.input.as_ref())?;
    let format = match &args.csv_column {
        Some(c) => ListFormat::Csv { column: c.clone() },
        None => ListFormat::Lines,
    };
    let list = TargetList::parse_bytes(&text, &format, args.port, &SystemResolver);
    for bad in &list.bad_lines {
        eprintln!("reconmap: skipping input {bad}");
    }
    if args.strict && !list.bad_lines.is_empty() {
        bail!(
            "{} bad input line(s) and --strict given",
            list.bad_lines.len()
        );
    }
    if list.is_empty() {
        bail!("the target list is empty");
    }

    Ok(list)
}

/// The built-in blocklist (lab ranges let through with `--allow-lab-ranges`) and `--blocklist`.
fn load_blocklist(args: &Args) -> Result<Blocklist> {
    let mut blocklist = Blocklist::builtin(args.allow_lab_ranges);
    if let Some(path) = &args.blocklist {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read blocklist {}", path.display()))?;
        blocklist
            .add_text(&text)
            .with_context(|| format!("bad blocklist {}", path.display()))?;
    }

    Ok(blocklist)
}

/// The results file (resumed with `--resume`: what is done, what was cut).
fn open_results(args: &Args) -> Result<(Option<ResultsWriter>, ResumeState)> {
    Ok(match &args.output {
        Some(path) => {
            let (w, state) = ResultsWriter::open(path, args.resume)?;
            if state.truncated_bytes > 0 {
                eprintln!(
                    "reconmap: cut {} bytes of an incomplete last record from {}",
                    state.truncated_bytes,
                    path.display()
                );
            }
            if state.incomplete_dropped > 0 {
                eprintln!(
                    "reconmap: {} record(s) in {} were not complete (interrupted, not probed); \
                     their targets are probed again",
                    state.incomplete_dropped,
                    path.display()
                );
            }
            (Some(w), state)
        }
        None => (None, Default::default()),
    })
}

fn read_input(path: Option<&PathBuf>) -> Result<Vec<u8>> {
    match path {
        Some(p) if p.as_os_str() != "-" => {
            std::fs::read(p).with_context(|| format!("cannot read target list {}", p.display()))
        }
        _ => {
            let mut s = Vec::new();
            std::io::stdin()
                .read_to_end(&mut s)
                .context("cannot read the target list from stdin")?;
            Ok(s)
        }
    }
}

/// The run's metadata side file (ZMap style): written at the start and rewritten at the end.
struct RunMeta<'a> {
    path: PathBuf,
    args: &'a Args,
    seed: u64,
    started: SystemTime,
    in_shard: u64,
    blocked: &'a Cell<u64>,
    skipped: &'a Cell<u64>,
}

impl RunMeta<'_> {
    fn write(&self, end: Option<(RunStats, &Tally)>, counters: Option<Value>) -> Result<()> {
        let (stats, tally) = match end {
            Some((s, t)) => (json!(s), json!(t.verdicts)),
            None => (Value::Null, Value::Null),
        };
        let meta = json!({
            "tool": "reconmap",
            "version": env!("CARGO_PKG_VERSION"),
            "args": std::env::args().collect::<Vec<_>>(),
            "start": rfc3339(self.started),
            "end": if stats.is_null() { Value::Null } else { json!(rfc3339(SystemTime::now())) },
            "seed": self.seed,
            "shard": self.args.shard,
            "shards": self.args.shards,
            "rate_pps": self.args.rate,
            "concurrency": self.args.concurrency,
            "targets_in_shard": self.in_shard,
            "blocked": self.blocked.get(),
            "skipped_resume": self.skipped.get(),
            "stats": stats,
            "verdicts": tally,
            "datapath_counters": counters,
        });
        let text = serde_json::to_string_pretty(&meta)? + "\n";
        crate::output::files::replace_no_follow(&self.path, text.as_bytes())
            .with_context(|| format!("cannot write metadata {}", self.path.display()))
    }
}

/// A progress bar on a TTY, plain lines every few seconds otherwise.
struct Progress {
    bar: Option<ProgressBar>,
    plain_every: Duration,
    last_plain: Cell<Instant>,
    started: Instant,
    total: u64,
}

impl Progress {
    fn new(total: u64, quiet: bool) -> Self {
        let tty = std::io::stderr().is_terminal();
        let bar = (!quiet && tty).then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            let style =
                ProgressStyle::with_template("{bar:30} {pos}/{len} {per_sec} eta {eta} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar
        });
        Self {
            bar,
            plain_every: if quiet {
                Duration::MAX
            } else {
                Duration::from_secs(5)
            },
            last_plain: Cell::new(Instant::now()),
            started: Instant::now(),
            total,
        }
    }

    fn update(&self, stats: &RunStats, tally: &Tally, not_probed: u64) {
        let msg = || {
            let counts: Vec<String> = tally
                .verdicts
                .iter()
                .map(|(v, c)| format!("{v}={c}"))
                .collect();
            format!("in flight {} | {}", stats.in_flight, counts.join(" "))
        };
        if let Some(bar) = &self.bar {
            bar.set_position(stats.finished + not_probed);
            bar.set_message(msg());
        } else if self.last_plain.get().elapsed() >= self.plain_every {
            self.last_plain.set(Instant::now());
            let secs = self.started.elapsed().as_secs_f64().max(0.001);
            eprintln!(
                "progress: {}/{} done, {:.1}/s, {}",
                stats.finished + not_probed,
                self.total,
                stats.finished as f64 / secs,
                msg()
            );
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
