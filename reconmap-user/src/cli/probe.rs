//! `reconmap probe TARGET[:PORT]...`: trace where STARTTLS is stripped on the path to each target.
use super::output::{OutputArgs, ReportWriter};
use super::target::parse_target;
use anyhow::{Context as _, Result};
use reconmap::engine::{ProbeConfig, Prober, ProberOptions, RunPlan, StopLevel};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Targets as ADDR or ADDR:PORT (IPv4).
    #[arg(required = true, value_name = "TARGET[:PORT]")]
    targets: Vec<String>,
    /// Port when a target gives none.
    #[arg(long, default_value_t = 25)]
    port: u16,
    /// Interface to attach to and send from (default: the route to the first target).
    #[arg(long, short = 'i')]
    iface: Option<String>,
    /// Source address (default: the route's preferred source).
    #[arg(long)]
    source: Option<Ipv4Addr>,
    /// Highest TTL of the STARTTLS sweep (it stops at the server's distance when known).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u8).range(1..=64))]
    max_ttl: u8,
    /// Retries for hops that stay silent.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(0..=10))]
    retries: u8,
    /// Name sent with EHLO/HELO.
    #[arg(long, default_value = "reconmap.invalid")]
    ehlo_name: String,
    /// Give up on a target after this many seconds (what was seen is still reported).
    #[arg(long, default_value_t = 60)]
    timeout: u64,
    /// How long to wait for the answer to STARTTLS, in seconds.
    #[arg(long, default_value_t = 5)]
    starttls_timeout: u64,
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
    if args.ehlo_name.is_empty()
        || args
            .ehlo_name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
    {
        anyhow::bail!("--ehlo-name must be a non-empty name without spaces or control characters");
    }
    let cfg = Arc::new(ProbeConfig {
        max_ttl: args.max_ttl,
        retries: args.retries,
        ehlo_name: args.ehlo_name.clone(),
        session_timeout: Duration::from_secs(args.timeout.max(1)),
        starttls_timeout: Duration::from_secs(args.starttls_timeout.max(1)),
        ..ProbeConfig::default()
    });
    let mut writer = ReportWriter::open(&args.output)?;
    let opts = ProberOptions {
        iface: args.iface.clone(),
        source: args.source,
        concurrency: targets.len().clamp(1, 64),
    };
    let mut prober = Prober::open(&opts, *first.ip())
        .with_context(|| format!("cannot set up the prober toward {first}"))?;
    log::info!("probing from {} on {}", prober.source(), prober.iface());
    let plan = RunPlan {
        concurrency: targets.len().clamp(1, 64),
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
