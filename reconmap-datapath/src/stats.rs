//! Per-program statistics through aya (no raw `bpf(2)` calls): BPF_PROG_TEST_RUN on a hand-made
//! frame, and the kernel's run-time counters (`kernel.bpf_stats_enabled`).
use super::DatapathError;
use aya::programs::{ProgramInfo, SchedClassifier, TestRun as _, TestRunOptions, Xdp};
use aya::Ebpf;
use reconmap_common::names;
use std::time::Duration;

/// The result of running a program on one frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TestRun {
    /// The program's return value (TC action, XDP action).
    pub retval: u32,
    /// Time per run as the kernel measured it.
    pub duration: Duration,
}

/// Which of the two programs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prog {
    /// `rst_guard` (TC egress).
    RstGuard,
    /// `capture` (XDP).
    Capture,
}

impl Prog {
    pub fn name(self) -> &'static str {
        match self {
            Prog::RstGuard => names::RST_GUARD_PROG,
            Prog::Capture => names::CAPTURE_PROG,
        }
    }
}

/// Runs `prog` of a loaded object on `frame` (an Ethernet frame) `repeat` times.
pub fn test_run(
    ebpf: &Ebpf,
    prog: Prog,
    frame: &[u8],
    repeat: u32,
) -> Result<TestRun, DatapathError> {
    test_run_ctx(ebpf, prog, frame, None, repeat)
}

/// Like [`test_run`], with the program's context given (for a classifier: a `struct
/// __sk_buff`, of which the kernel takes e.g. `mark`).
pub fn test_run_ctx(
    ebpf: &Ebpf,
    prog: Prog,
    frame: &[u8],
    ctx: Option<&[u8]>,
    repeat: u32,
) -> Result<TestRun, DatapathError> {
    let p = ebpf
        .program(prog.name())
        .ok_or_else(|| DatapathError::Load(format!("program {} missing", prog.name())))?;
    let mut out = vec![0u8; frame.len() + 256];
    let opts = TestRunOptions {
        data_in: Some(frame),
        data_out: Some(&mut out),
        ctx_in: ctx,
        repeat: repeat.max(1),
        ..TestRunOptions::default()
    };
    let err = |e: aya::programs::ProgramError| {
        DatapathError::Load(format!("BPF_PROG_TEST_RUN {}: {e}", prog.name()))
    };
    let r = match prog {
        Prog::RstGuard => <&SchedClassifier>::try_from(p).map_err(err)?.test_run(opts),
        Prog::Capture => <&Xdp>::try_from(p).map_err(err)?.test_run(opts),
    }
    .map_err(err)?;
    Ok(TestRun {
        retval: r.return_value,
        duration: r.duration,
    })
}

/// Cumulative run time and run count of `prog` (needs `aya::sys::enable_stats`).
pub fn run_stats(ebpf: &Ebpf, prog: Prog) -> Result<(Duration, u64), DatapathError> {
    let p = ebpf
        .program(prog.name())
        .ok_or_else(|| DatapathError::Load(format!("program {} missing", prog.name())))?;
    let info: ProgramInfo = p
        .info()
        .map_err(|e| DatapathError::Load(format!("program info {}: {e}", prog.name())))?;
    Ok((info.run_time(), info.run_count()))
}
