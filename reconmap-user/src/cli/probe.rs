//! `reconmap probe TARGET[:PORT]...`: trace where STARTTLS is stripped on the path to each target.
use super::output::{OutputArgs, ReportWriter};
use super::session_args::SessionArgs;
use anyhow::{Context as _, Result};
use reconmap::engine::{Prober, RunPlan, StopLevel};
use reconmap::scan::parse_target;
use std::sync::Arc;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Targets as ADDR or ADDR:PORT (IPv4).
    #[arg(required = true, value_name = "TARGET[:PORT]")]
    targets: Vec<String>,
    /// Port when a target gives none.
    #[arg(long, default_value_t = 25)]
    port: u16,
    #[command(flatten)]
    session: SessionArgs,
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
    let cfg = Arc::new(args.session.config());
    let mut writer = ReportWriter::open(&args.output)?;
    let concurrency = targets.len().clamp(1, 64);
    let mut prober = Prober::open(&args.session.prober_options(concurrency), *first.ip())
        .with_context(|| format!("cannot set up the prober toward {first}"))?;
    log::info!("probing from {} on {}", prober.source(), prober.iface());
    let plan = RunPlan {
        concurrency,
        rate: None,
    };
    let stats = prober
        .run(
            targets,
            plan,
            cfg,
            |report, _| writer.write(&report).map_err(|e| format!("{e:#}")),
            super::signals::stop_channel(StopLevel::Abort),
        )
        .await?;
    writer.finish()?;
    if stats.interrupted > 0 {
        anyhow::bail!(
            "interrupted: {} session(s) reported incomplete",
            stats.interrupted
        );
    }
    Ok(())
}
