//! Running programs: one place for "run it, and on failure say which command and what it
//! printed", used by the lab, xtask and the tests.
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// A command that could not be run or failed; each variant names it.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("cannot run `{command}`")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` failed ({status}): {stderr}")]
    Failed {
        command: String,
        status: String,
        stderr: String,
    },
}

/// The command line, for messages (`ip netns exec x nft -f -`).
pub fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Runs `cmd` to completion with stdin closed; a non-zero exit is an error with its stderr.
pub fn run_command(cmd: &mut Command) -> Result<Output, ProcessError> {
    let command = describe(cmd);
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|source| ProcessError::Spawn {
            command: command.clone(),
            source,
        })?;
    check(command, out)
}

/// Like [`run_command`], returning stdout as text.
pub fn run(cmd: &mut Command) -> Result<String, ProcessError> {
    run_command(cmd).map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
}

/// Runs `cmd` with `input` on its stdin (e.g. `nft -f -`, `ip -batch -`); returns stdout.
pub fn run_with_input(cmd: &mut Command, input: &str) -> Result<String, ProcessError> {
    let command = describe(cmd);
    let spawn_err = |source| ProcessError::Spawn {
        command: command.clone(),
        source,
    };
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_err)?;
    if let Some(mut stdin) = child.stdin.take() {
        use std::io::Write as _;
        stdin.write_all(input.as_bytes()).map_err(spawn_err)?;
    }
    let out = child.wait_with_output().map_err(spawn_err)?;
    check(command, out).map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
}

/// Runs `cmd` with inherited stdout and stderr (the user sees its progress).
pub fn run_inherit(cmd: &mut Command) -> Result<(), ProcessError> {
    let command = describe(cmd);
    let status = cmd.status().map_err(|source| ProcessError::Spawn {
        command: command.clone(),
        source,
    })?;
    if status.success() {
        Ok(())
    } else {
        Err(ProcessError::Failed {
            command,
            status: status.to_string(),
            stderr: "(printed above)".to_string(),
        })
    }
}

/// What a child printed by the time it ended or was stopped.
#[derive(Debug)]
pub struct Finished {
    /// `None`: still running at the deadline, so it was killed.
    pub status: Option<ExitStatus>,
    /// Its standard output then standard error, as text.
    pub output: String,
    /// From the call to the end (or the kill).
    pub elapsed: Duration,
}

/// Waits for `child` (spawned with piped stdout and stderr) until it exits or `deadline`
/// passes, kills it (by its handle) in the second case, and collects what it printed.
pub fn wait_within(mut child: Child, deadline: Duration) -> std::io::Result<Finished> {
    let start = Instant::now();
    let mut status = None;
    while start.elapsed() < deadline {
        if let Some(s) = child.try_wait()? {
            status = Some(s);
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let elapsed = start.elapsed();
    if status.is_none() {
        let _ = child.kill();
    }
    let out = child.wait_with_output()?;
    Ok(Finished {
        status,
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        elapsed,
    })
}

/// Whether `cmd` runs and exits 0 (output discarded).
pub fn status_ok(cmd: &mut Command) -> bool {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn check(command: String, out: Output) -> Result<Output, ProcessError> {
    if out.status.success() {
        Ok(out)
    } else {
        Err(ProcessError::Failed {
            command,
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_name_the_command_and_its_stderr() {
        let e = run(Command::new("sh").args(["-c", "echo oops >&2; exit 3"])).expect_err("exit 3");
        let text = e.to_string();
        assert!(text.contains("sh -c") && text.contains("oops"), "{text}");
        assert_eq!(
            run_with_input(&mut Command::new("cat"), "hello").expect("cat"),
            "hello"
        );
        assert!(matches!(
            run(&mut Command::new("/nonexistent/prog")),
            Err(ProcessError::Spawn { .. })
        ));
        assert!(!status_ok(&mut Command::new("false")));
    }
}
