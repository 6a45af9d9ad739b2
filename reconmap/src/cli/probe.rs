//! `reconmap probe TARGET[:PORT]...`: trace where STARTTLS is stripped on the path to each target.
use super::attribution_args::AttributionArgs;
use super::session_args::SessionArgs;
use crate::output::report_writer::{OutputArgs, ReportWriter};
use anyhow::{Context as _, Result};
use reconmap_core::engine::{RunPlan, RunStats, SinkError, StopLevel, Target};
use reconmap_core::evidence::Evidence;
use reconmap_core::report::Report;
use reconmap_core::scan::parse_target;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Targets as ADDR or ADDR:PORT (IPv4).
    #[arg(required = true, value_name = "TARGET[:PORT]")]
    targets: Vec<String>,
    /// Port when a target gives none.
    #[arg(long, default_value_t = 25, value_parser = clap::value_parser!(u16).range(1..))]
    port: u16,
    #[command(flatten)]
    session: SessionArgs,
    #[command(flatten)]
    attribution: AttributionArgs,
    #[command(flatten)]
    output: OutputArgs,
}

pub async fn run(args: Args) -> Result<()> {
    let targets = args
        .targets
        .iter()
        .map(|t| parse_target(t, args.port))
        .collect::<Result<Vec<_>, _>>()?;
    let first = targets.first().context("no target given")?;
    args.session.validate()?;
    let annotator = args.attribution.annotator()?;
    let mut writer = ReportWriter::open(&args.output)?;
    let plan = RunPlan {
        concurrency: targets.len().clamp(1, 64),
        rate: None,
    };
    let (mut net, mut engine) = super::prober::open(&args.session, plan, *first.ip())?;
    let mut sink = |e: Evidence, _: &RunStats| {
        let mut r = Report::build(e);
        annotator.annotate(&mut r);
        writer.write(&r).map_err(|e| SinkError(format!("{e:#}")))
    };
    let stats = reconmap_datapath::run(
        &mut engine,
        &mut net,
        targets.into_iter().map(Target::addr),
        &mut sink,
        super::signals::stop_channel(StopLevel::Abort),
    )
    .await?;
    writer.finish()?;
    if stats.incomplete() > 0 {
        anyhow::bail!(
            "{} target(s) reported incomplete (interrupted, not probed or failed)",
            stats.incomplete()
        );
    }
    Ok(())
}
