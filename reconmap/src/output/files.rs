//! Writing output files without following symbolic links: a results path that is a link (left
//! by someone else in a shared directory) must not make a root process overwrite its target.
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

/// Why an output file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("{} is a symbolic link; refusing to write through it", .0.display())]
    Symlink(PathBuf),
    #[error("cannot write {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> OutputError + '_ {
    move |source| {
        if source.raw_os_error() == Some(libc::ELOOP) {
            OutputError::Symlink(path.to_path_buf())
        } else {
            OutputError::Io {
                path: path.to_path_buf(),
                source,
            }
        }
    }
}

/// Opens `path` for writing (created, truncated unless `append`), refusing a symbolic link.
pub fn open_no_follow(path: &Path, append: bool, read: bool) -> Result<File, OutputError> {
    let mut o = OpenOptions::new();
    o.write(true)
        .read(read)
        .create(true)
        .custom_flags(libc::O_NOFOLLOW);
    if append {
        o.append(true);
    } else if !read {
        o.truncate(true);
    }
    o.open(path).map_err(io(path))
}

/// Replaces `path` with `bytes` atomically (a temporary file beside it, then a rename, which
/// replaces a link rather than writing through it).
pub fn replace_no_follow(path: &Path, bytes: &[u8]) -> Result<(), OutputError> {
    let tmp = temp_beside(path);
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&tmp)
        .map_err(io(&tmp))?;
    let written = f.write_all(bytes).and_then(|()| f.sync_data());
    drop(f);
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(path)(e));
    }
    Ok(())
}

/// `DIR/.NAME.PID.tmp`
fn temp_beside(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_refused_and_replacement_is_atomic() {
        let dir = std::env::temp_dir().join(format!("reconmap-files-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let victim = dir.join("victim");
        std::fs::write(&victim, "precious").expect("victim");
        let link = dir.join("out.json");
        std::os::unix::fs::symlink(&victim, &link).expect("link");
        assert!(matches!(
            open_no_follow(&link, false, false),
            Err(OutputError::Symlink(_))
        ));
        // Replacing a link replaces the link, never the file it points to.
        replace_no_follow(&link, b"meta").expect("replace");
        assert_eq!(std::fs::read_to_string(&victim).expect("read"), "precious");
        assert_eq!(std::fs::read_to_string(&link).expect("read"), "meta");
        assert!(!std::fs::symlink_metadata(&link)
            .expect("meta")
            .file_type()
            .is_symlink());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
