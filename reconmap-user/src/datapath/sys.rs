//! Raw bpf(2) calls aya 0.14 does not expose: BPF_PROG_TEST_RUN (running a program on a
//! hand-made frame) and the run-time statistics of a program (`run_time_ns`, `run_cnt`).
use super::DatapathError;
use aya_obj::generated::{bpf_attr, bpf_cmd, bpf_prog_info};
use std::os::fd::{AsRawFd, BorrowedFd};

/// The result of one test run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestRun {
    /// The program's return value (TC action, XDP action).
    pub retval: u32,
    /// Nanoseconds per run as the kernel measured it.
    pub duration_ns: u32,
}

fn bpf(cmd: bpf_cmd, attr: &mut bpf_attr) -> std::io::Result<()> {
    // SAFETY: `attr` is a valid, zero-initialised bpf_attr of the size we pass.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd as libc::c_long,
            attr as *mut bpf_attr,
            std::mem::size_of::<bpf_attr>(),
        )
    };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Runs the program `prog` on `frame` (an Ethernet frame) `repeat` times.
pub fn test_run(prog: BorrowedFd<'_>, frame: &[u8], repeat: u32) -> Result<TestRun, DatapathError> {
    // SAFETY: bpf_attr is plain old data; all-zero is its documented initial state.
    let mut attr: bpf_attr = unsafe { std::mem::zeroed() };
    let mut out = vec![0u8; frame.len() + 256];
    attr.test.prog_fd = prog.as_raw_fd() as u32;
    attr.test.data_in = frame.as_ptr() as u64;
    attr.test.data_size_in = u32::try_from(frame.len()).unwrap_or(u32::MAX);
    attr.test.data_out = out.as_mut_ptr() as u64;
    attr.test.data_size_out = u32::try_from(out.len()).unwrap_or(u32::MAX);
    attr.test.repeat = repeat.max(1);
    bpf(bpf_cmd::BPF_PROG_TEST_RUN, &mut attr).map_err(|source| DatapathError::Sys {
        what: "BPF_PROG_TEST_RUN",
        source,
    })?;
    // SAFETY: reading back the same union member.
    let (retval, duration_ns) = unsafe { (attr.test.retval, attr.test.duration) };
    Ok(TestRun {
        retval,
        duration_ns,
    })
}

/// Cumulative run time and run count of a program (needs `kernel.bpf_stats_enabled`, see
/// [`aya::sys::enable_stats`]).
pub fn run_stats(prog: BorrowedFd<'_>) -> Result<(u64, u64), DatapathError> {
    // SAFETY: plain old data, zeroed.
    let mut info: bpf_prog_info = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut attr: bpf_attr = unsafe { std::mem::zeroed() };
    attr.info.bpf_fd = prog.as_raw_fd() as u32;
    attr.info.info_len = std::mem::size_of::<bpf_prog_info>() as u32;
    attr.info.info = (&mut info as *mut bpf_prog_info) as u64;
    bpf(bpf_cmd::BPF_OBJ_GET_INFO_BY_FD, &mut attr).map_err(|source| DatapathError::Sys {
        what: "BPF_OBJ_GET_INFO_BY_FD",
        source,
    })?;
    Ok((info.run_time_ns, info.run_cnt))
}
