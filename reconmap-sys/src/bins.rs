//! Finding the project's own binaries (the `reconmap` binary for the tests, the lab's helper
//! programs) from wherever the running program is: an installed tree, `target/release`, or a
//! test executable in `target/*/deps`.
use std::path::{Path, PathBuf};

/// Where `name` is: `$RECONMAP_BIN_DIR/name` when that is set, else next to the running
/// executable or in the sibling `release`/`debug` directories of a cargo target tree.
pub fn find(name: &str) -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("RECONMAP_BIN_DIR") {
        let p = PathBuf::from(dir).join(name);
        return p.exists().then_some(p);
    }
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    [
        dir.join(name),
        dir.join("..").join(name),
        dir.join("../../release").join(name),
        dir.join("../release").join(name),
        dir.join("../../debug").join(name),
    ]
    .into_iter()
    .find(|p| p.exists())
}
