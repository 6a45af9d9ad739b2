//! Network namespaces with unique names that are removed when dropped, and commands run inside
//! them (`ip netns exec`): the one helper the lab, xtask and the tests share.
//!
//! Every namespace made here is named `rmlab-<pid>-<n>-<role>`, so parallel test runs never
//! collide and [`leftovers`] can find what a crashed run left behind.
use crate::process::{self, ProcessError};
use std::fs::File;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// Prefix of every namespace name this crate creates.
pub const PREFIX: &str = "rmlab-";

/// Errors from namespace handling; each names the command or step that failed.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    #[error(transparent)]
    Process(#[from] ProcessError),
    #[error("empty command")]
    EmptyCommand,
    #[error("cannot enter namespace {name}: {reason}")]
    Enter { name: String, reason: String },
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A network namespace owned by this process: created on [`Netns::create`], deleted on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates a namespace `rmlab-<pid>-<n>-<role>` with its loopback up.
    pub fn create(role: &str) -> Result<Self, NetnsError> {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("{PREFIX}{}-{n}-{role}", std::process::id());
        process::run_command(Command::new("ip").args(["netns", "add", &name]))?;
        let ns = Self { name };
        ns.run(&["ip", "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// The namespace's name, as `ip netns` knows it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A command that runs `program` inside this namespace (`ip netns exec NAME program`).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        exec(&self.name, program)
    }

    /// Runs `argv` inside the namespace to completion; returns stdout, or an error with stderr.
    pub fn run(&self, argv: &[&str]) -> Result<String, NetnsError> {
        let (program, args) = argv.split_first().ok_or(NetnsError::EmptyCommand)?;
        Ok(process::run(self.command(program).args(args))?)
    }

    /// Gives up ownership without deleting the namespace (for a lab that outlives this
    /// process, e.g. `lab up`); returns its name for a later [`delete`].
    pub fn forget(self) -> String {
        let me = std::mem::ManuallyDrop::new(self);
        me.name.clone()
    }

    /// Runs `argv` inside the namespace with `input` on its stdin (e.g. `nft -f -`,
    /// `ip -batch -`); returns stdout, or an error with stderr.
    pub fn run_with_input(&self, argv: &[&str], input: &str) -> Result<String, NetnsError> {
        let (program, args) = argv.split_first().ok_or(NetnsError::EmptyCommand)?;
        Ok(process::run_with_input(
            self.command(program).args(args),
            input,
        )?)
    }

    /// Sets a sysctl inside the namespace (`net.*` keys are per namespace).
    pub fn sysctl(&self, key: &str, value: &str) -> Result<(), NetnsError> {
        self.run(&["sysctl", "-q", "-w", &format!("{key}={value}")])
            .map(drop)
    }

    /// Runs `f` on a new thread that has joined this namespace (a network namespace belongs to
    /// a thread), and returns its result. Sockets made inside `f` stay in the namespace.
    pub fn enter<T, F>(&self, f: F) -> Result<T, NetnsError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let name = self.name.clone();
        let path = format!("/run/netns/{name}");
        let file = File::open(&path).map_err(|e| NetnsError::Enter {
            name: name.clone(),
            reason: format!("open {path}: {e}"),
        })?;
        let handle = std::thread::Builder::new()
            .name(format!("netns-{name}"))
            .spawn(move || {
                nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
                    .map(|()| f())
                    .map_err(|e| e.to_string())
            })
            .map_err(|e| NetnsError::Enter {
                name: name.clone(),
                reason: format!("spawn thread: {e}"),
            })?;
        match handle.join() {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(reason)) => Err(NetnsError::Enter { name, reason }),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Processes started in the namespace are owned (and killed) by whoever started them;
        // deleting the name is enough for the namespace to go once they are gone.
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .stderr(Stdio::null())
            .status();
    }
}

/// Creates a veth pair with one end (`a_if`) in `a` and the other (`b_if`) in `b`, both up,
/// with checksum offloads off so checksum bugs show (needs `ethtool`).
pub fn veth(a: &Netns, a_if: &str, b: &Netns, b_if: &str) -> Result<(), NetnsError> {
    process::run_command(Command::new("ip").args([
        "link", "add", a_if, "netns", &a.name, "type", "veth", "peer", "name", b_if, "netns",
        &b.name,
    ]))?;
    for (ns, dev) in [(a, a_if), (b, b_if)] {
        ns.run(&[
            "ethtool", "-K", dev, "rx", "off", "tx", "off", "gso", "off", "tso", "off", "gro",
            "off",
        ])?;
        ns.run(&["ip", "link", "set", dev, "up"])?;
    }
    Ok(())
}

/// Namespaces with this crate's prefix that exist now (from this or any earlier run).
pub fn leftovers() -> Vec<String> {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return Vec::new();
    };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| name.starts_with(PREFIX))
        .map(str::to_owned)
        .collect()
}

/// The PID embedded in a name made by [`Netns::create`] (`rmlab-<pid>-...`).
pub fn owner_pid(name: &str) -> Option<u32> {
    name.strip_prefix(PREFIX)?.split('-').next()?.parse().ok()
}

/// Whether a process with this PID exists.
pub fn pid_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Deletes a namespace by name (for `lab down` after a crashed run).
pub fn delete(name: &str) -> Result<(), NetnsError> {
    process::run_command(Command::new("ip").args(["netns", "del", name]))?;
    Ok(())
}

/// A command that runs `program` inside namespace `ns` (`ip netns exec` execs it, so the
/// child's PID is the program's own).
pub fn exec(ns: &str, program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns]).arg(program);
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_is_removed_on_drop() {
        assert!(
            crate::privilege::is_root(),
            "needs root: run `cargo xtask test` as root"
        );
        let ns = Netns::create("unit").expect("create");
        let name = ns.name().to_owned();
        assert!(leftovers().contains(&name));
        let inside = ns
            .enter(|| std::fs::read_to_string("/proc/thread-self/net/dev").unwrap_or_default())
            .expect("enter");
        assert!(inside.contains("lo:"));
        assert!(!inside.contains("eth0"), "a new namespace has only lo");
        drop(ns);
        assert!(!leftovers().contains(&name));
    }
}
