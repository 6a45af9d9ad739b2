//! Command-line interface: argument parsing and dispatch to the subcommands.
use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod attribution_args;
mod capture;
mod probe;
mod prober;
mod report;
mod scan;
mod session_args;
mod signals;

#[derive(Debug, Parser)]
#[command(
    name = "reconmap",
    version,
    about = "Locate where on the network path SMTP STARTTLS gets stripped",
    long_about = "Opens its own TCP connection to an SMTP server from raw packets, sends the \
                  STARTTLS command with IP TTL 1, 2, 3, ... and compares the ICMP quotes of every \
                  hop with what was sent. Needs root (raw sockets, eBPF)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Trace where STARTTLS is stripped on the path to each target.
    Probe(probe::Args),
    /// Scan many targets at once: paced, sharded, resumable, JSON Lines out.
    Scan(scan::Args),
    /// Load the datapath on an interface and print what it captures for the given flows.
    Capture(capture::Args),
    /// Build one self-contained HTML report (or Markdown) from probe and scan results.
    Report(report::Args),
}

pub fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let cli = Cli::parse();
    // Reading results needs neither root nor the async runtime.
    let cli = match cli.command {
        Command::Report(args) => {
            return match report::run(args) {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => {
                    eprintln!("reconmap: error: {err:#}");
                    ExitCode::FAILURE
                }
            };
        }
        command => Cli { command },
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("reconmap: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Probe(args) => probe::run(args).await,
            Command::Scan(args) => scan::run(args).await,
            Command::Capture(args) => capture::run(args).await,
            Command::Report(_) => Ok(()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("reconmap: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
