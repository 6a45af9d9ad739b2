//! Operating-system helpers shared by ReconMap, its lab, xtask and the tests: running
//! programs, network namespaces, privileges, locating the project's binaries, and the raw IPv4
//! sender (the only way ReconMap and the lab's boxes put packets on the wire).
pub mod bins;
pub mod netns;
pub mod privilege;
pub mod process;
pub mod raw;
pub mod tempdir;

pub use raw::RawSender;

/// An error and its sources as one line (`a: b: c`), for where an error becomes text (a
/// record's reason, a log line) rather than being shown by the binary's error printer.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut s = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !s.ends_with(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        cause = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn chains_are_joined_once() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer")]
        struct Outer(#[source] std::io::Error);
        let e = Outer(std::io::Error::from_raw_os_error(28));
        let text = super::error_chain(&e);
        assert!(text.starts_with("outer: "), "{text}");
        assert_eq!(text.matches("os error 28").count(), 1, "{text}");
    }
}
