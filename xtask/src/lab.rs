//! `cargo xtask lab ...`: bring scenarios up and down from the command line.
//!
//! A lab brought up here outlives the command: its state (namespace names, Postfix directories)
//! is written to [`STATE_DIR`], and `lab down` tears down everything listed there plus the
//! leftovers of crashed runs (any `rmlab-*` namespace, Postfix instances of lab directories).
use anyhow::{bail, Context as _, Result};
use clap::Subcommand;
use reconmap_lab::{Lab, Scenario};
use std::path::Path;

use crate::util::require_root;

/// Where persisted labs are recorded (tmpfs: a reboot forgets them, as it forgets namespaces).
pub const STATE_DIR: &str = "/run/reconmap-lab";

#[derive(Debug, Subcommand)]
pub enum LabCmd {
    /// Bring a scenario up and leave it running (see `lab list` for names).
    Up {
        /// A builtin scenario name, or a path to a scenario TOML file.
        scenario: String,
    },
    /// Tear down every lab brought up with `lab up`, and leftovers of crashed runs.
    Down,
    /// List the builtin scenarios with their expected truth.
    List,
    /// Show the labs that are up.
    Status,
    /// Run a command in the prober namespace of the lab that is up, e.g.
    /// `cargo xtask lab exec -- ./target/release/reconmap probe 192.0.2.25`.
    Exec {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        command: Vec<String>,
    },
}

pub fn load_scenario(name_or_path: &str) -> Result<Scenario> {
    let path = Path::new(name_or_path);
    if name_or_path.ends_with(".toml") || path.exists() {
        return Ok(Scenario::load(path)?);
    }
    Scenario::builtin(name_or_path).with_context(|| {
        format!(
            "unknown scenario `{name_or_path}` (builtin: {})",
            Scenario::builtin_names().join(", ")
        )
    })
}

pub fn run(cmd: LabCmd) -> Result<()> {
    match cmd {
        LabCmd::List => {
            for name in Scenario::builtin_names() {
                let s = Scenario::builtin(&name)?;
                println!("{name:<24} {}", s.expect);
                println!("{:<24} {}", "", s.description);
            }
            Ok(())
        }
        LabCmd::Up { scenario } => {
            require_root("lab up")?;
            let scenario = load_scenario(&scenario)?;
            let lab = Lab::up(&scenario)
                .with_context(|| format!("lab {} did not come up", scenario.name))?;
            println!("lab {} is up", scenario.name);
            println!(
                "  prober namespace: {} ({})",
                lab.prober().name(),
                lab.prober_addr()
            );
            println!("  target:           {}", lab.target());
            let asn_db = lab
                .asn_db()
                .map(|p| format!(" --asn-db {}", p.display()))
                .unwrap_or_default();
            println!(
                "  try:              cargo xtask lab exec -- ./target/release/reconmap probe{asn_db} {}",
                lab.target()
            );
            lab.persist(Path::new(STATE_DIR))?;
            Ok(())
        }
        LabCmd::Down => {
            require_root("lab down")?;
            let r = Lab::down(Path::new(STATE_DIR))?;
            println!(
                "lab down: {} lab(s) {:?}, {} namespace(s), {} Postfix instance(s), {} temp dir(s) removed",
                r.labs.len(),
                r.labs,
                r.namespaces.len(),
                r.postfix_stopped.len(),
                r.dirs_removed.len()
            );
            for e in &r.errors {
                eprintln!("lab down: {e}");
            }
            if r.errors.is_empty() {
                Ok(())
            } else {
                bail!("{} teardown step(s) failed", r.errors.len())
            }
        }
        LabCmd::Status => {
            let labs = Lab::status(Path::new(STATE_DIR))?;
            if labs.is_empty() {
                println!("no lab is up (cargo xtask lab up SCENARIO)");
            }
            for l in labs {
                println!(
                    "{:<22} prober {} ({} on {}), target {}, {} namespaces",
                    l.scenario.name,
                    l.prober,
                    l.prober_addr,
                    l.prober_iface,
                    l.target,
                    l.namespaces.len()
                );
            }
            let leftovers = reconmap_lab::netns::leftovers();
            if !leftovers.is_empty() {
                println!("lab namespaces present: {}", leftovers.join(" "));
            }
            Ok(())
        }
        LabCmd::Exec { command } => {
            require_root("lab exec")?;
            let labs = Lab::status(Path::new(STATE_DIR))?;
            let ns = match labs.as_slice() {
                [one] => one.prober.clone(),
                [] => bail!("no lab is up: run `cargo xtask lab up SCENARIO` first"),
                many => bail!(
                    "{} labs are up; `lab down` and bring up one (exec runs in the prober of the only lab)",
                    many.len()
                ),
            };
            let Some((program, args)) = command.split_first() else {
                bail!("lab exec needs a command");
            };
            let status = reconmap_sys::netns::exec(&ns, program)
                .args(args)
                .status()
                .with_context(|| format!("cannot run {program} in {ns}"))?;
            if !status.success() {
                bail!("{program} exited with {status}");
            }
            Ok(())
        }
    }
}
