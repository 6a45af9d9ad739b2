//! Headless Chromium for the report's own checks: load a report file, let its scripts run
//! (virtual time), and dump the resulting DOM or take a screenshot. Each run gets a fresh
//! profile directory (removed afterwards) and a time limit; on timeout the browser's process
//! group, which this module started, is killed.
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Environment variable naming the Chromium binary (default: `chromium` on `PATH`).
pub const CHROMIUM_ENV: &str = "RECONMAP_CHROMIUM";

#[derive(Debug, thiserror::Error)]
pub enum BrowserError {
    #[error("no Chromium found (install Debian's `chromium` or set {CHROMIUM_ENV})")]
    NotFound,
    #[error("cannot start {binary}")]
    Spawn {
        binary: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("Chromium did not finish within {0:?}")]
    Timeout(Duration),
    #[error("Chromium failed ({status}): {stderr}")]
    Failed { status: String, stderr: String },
}

/// How to load the page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadOptions {
    /// Virtual time the page's scripts may use before the dump or the screenshot.
    pub virtual_time_budget_ms: u64,
    pub window: (u32, u32),
    /// URL fragment (without `#`), e.g. the page's filter state `q=192.0.2.1&open=3`.
    pub fragment: Option<String>,
    /// Wall-clock limit for the whole run.
    pub timeout: Duration,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            virtual_time_budget_ms: 30_000,
            window: (1600, 1200),
            fragment: None,
            timeout: Duration::from_secs(300),
        }
    }
}

/// What a run produced.
#[derive(Clone, Debug)]
pub struct Run {
    pub stdout: String,
    pub wall: Duration,
}

/// A Chromium binary.
#[derive(Clone, Debug)]
pub struct Browser {
    pub binary: PathBuf,
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// `file://` URL of a path (absolute, percent-encoded), with an optional fragment.
pub fn file_url(path: &Path, fragment: Option<&str>) -> Result<String, BrowserError> {
    let abs = std::fs::canonicalize(path).map_err(|source| BrowserError::Io {
        what: format!("cannot resolve {}", path.display()),
        source,
    })?;
    let mut url = String::from("file://");
    for b in abs.to_string_lossy().bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'.' | b'_' | b'~') {
            url.push(char::from(b));
        } else {
            url.push_str(&format!("%{b:02X}"));
        }
    }
    if let Some(f) = fragment {
        url.push('#');
        url.push_str(f);
    }
    Ok(url)
}

/// A fresh, empty profile directory, removed on drop.
struct ProfileDir(PathBuf);

impl ProfileDir {
    fn new() -> Result<Self, BrowserError> {
        static N: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!(
            "reconmap-chromium-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).map_err(|source| BrowserError::Io {
            what: format!("cannot create {}", dir.display()),
            source,
        })?;
        Ok(ProfileDir(dir))
    }
}

impl Drop for ProfileDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn drain<R: Read + Send + 'static>(mut r: R) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        buf
    })
}

/// Kills the browser's whole process group (it was started as its own group leader).
fn kill_group(child: &mut Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let _ = child.kill();
    let _ = child.wait();
}

impl Browser {
    /// The binary named by [`CHROMIUM_ENV`], else `chromium` (or `chromium-browser`) on `PATH`.
    pub fn find() -> Result<Self, BrowserError> {
        if let Some(p) = std::env::var_os(CHROMIUM_ENV) {
            let p = PathBuf::from(p);
            return if p.is_file() {
                Ok(Browser { binary: p })
            } else {
                Err(BrowserError::NotFound)
            };
        }
        ["chromium", "chromium-browser"]
            .iter()
            .find_map(|n| on_path(n))
            .map(|binary| Browser { binary })
            .ok_or(BrowserError::NotFound)
    }

    fn run(&self, url: &str, action: &[String], opts: &LoadOptions) -> Result<Run, BrowserError> {
        use std::os::unix::process::CommandExt as _;
        let profile = ProfileDir::new()?;
        let mut cmd = Command::new(&self.binary);
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--disable-default-apps",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.0.display()))
        .arg(format!(
            "--virtual-time-budget={}",
            opts.virtual_time_budget_ms
        ))
        .arg(format!("--window-size={},{}", opts.window.0, opts.window.1))
        .args(action)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
        let started = Instant::now();
        let mut child = cmd.spawn().map_err(|source| BrowserError::Spawn {
            binary: self.binary.clone(),
            source,
        })?;
        let out = child.stdout.take().map(drain);
        let err = child.stderr.take().map(drain);
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if started.elapsed() > opts.timeout => {
                    kill_group(&mut child);
                    return Err(BrowserError::Timeout(opts.timeout));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(source) => {
                    kill_group(&mut child);
                    return Err(BrowserError::Io {
                        what: "cannot wait for Chromium".into(),
                        source,
                    });
                }
            }
        };
        let wall = started.elapsed();
        let stdout = out.and_then(|h| h.join().ok()).unwrap_or_default();
        let stderr = err.and_then(|h| h.join().ok()).unwrap_or_default();
        if !status.success() {
            let text = String::from_utf8_lossy(&stderr);
            let tail: String = text
                .lines()
                .rev()
                .take(15)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n");
            return Err(BrowserError::Failed {
                status: status.to_string(),
                stderr: tail,
            });
        }
        Ok(Run {
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            wall,
        })
    }

    /// Loads the page, runs its scripts, and returns the serialized DOM.
    pub fn dump_dom(&self, html: &Path, opts: &LoadOptions) -> Result<Run, BrowserError> {
        let url = file_url(html, opts.fragment.as_deref())?;
        self.run(&url, &["--dump-dom".to_string()], opts)
    }

    /// Loads the page, runs its scripts, and writes a PNG of the window.
    pub fn screenshot(
        &self,
        html: &Path,
        png: &Path,
        opts: &LoadOptions,
    ) -> Result<Run, BrowserError> {
        let url = file_url(html, opts.fragment.as_deref())?;
        let png_abs = if png.is_absolute() {
            png.to_path_buf()
        } else {
            std::env::current_dir()
                .map_err(|source| BrowserError::Io {
                    what: "no current directory".into(),
                    source,
                })?
                .join(png)
        };
        let run = self.run(&url, &[format!("--screenshot={}", png_abs.display())], opts)?;
        if !png_abs.is_file() {
            return Err(BrowserError::Failed {
                status: "no screenshot written".into(),
                stderr: run.stdout,
            });
        }
        Ok(run)
    }
}

/// A PNG of a report's map: the page in its `#view=map` mode (title, legend, map and its
/// notes only) in a 1600×1000 window.
pub fn screenshot(html_path: &Path, png_path: &Path) -> Result<(), BrowserError> {
    let opts = LoadOptions {
        window: (1600, 1000),
        fragment: Some("view=map".into()),
        ..LoadOptions::default()
    };
    Browser::find()?
        .screenshot(html_path, png_path, &opts)
        .map(|_| ())
}

/// The value of an attribute of the first `<body` tag of a dumped DOM.
pub fn body_attr(dom: &str, name: &str) -> Option<String> {
    let start = dom.find("<body")?;
    let tag = dom.get(start..)?.split('>').next()?;
    let needle = format!(" {name}=\"");
    let at = tag.find(&needle)? + needle.len();
    let rest = tag.get(at..)?;
    rest.split('"').next().map(str::to_string)
}

/// The text of the `<td class="num count">` in the table row whose opening tag contains
/// `row_attr` (e.g. `data-verdict="stripped"`), in a dumped DOM.
pub fn row_count(dom: &str, row_attr: &str) -> Option<String> {
    let row = dom.split(row_attr).nth(1)?.split("</tr>").next()?;
    let cell = row.split(r#"class="num count">"#).nth(1)?;
    cell.split('<').next().map(str::to_string)
}

/// The inner text of the element with the given `id` in a dumped DOM (up to its closing tag;
/// for elements without nested elements of the same name).
pub fn element_inner(dom: &str, id: &str) -> Option<String> {
    let needle = format!(" id=\"{id}\"");
    let at = dom.find(&needle)?;
    let open_start = dom.get(..at)?.rfind('<')?;
    let tag_name: String = dom
        .get(open_start + 1..)?
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    let content_start = at + dom.get(at..)?.find('>')? + 1;
    let close = format!("</{tag_name}>");
    let len = dom.get(content_start..)?.find(&close)?;
    dom.get(content_start..content_start + len)
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_dom_helpers() {
        let dom = r#"<html><body class="x" data-ready="1" data-render-ms="12.5"><pre id="script-errors" hidden="">oops</pre></body></html>"#;
        assert_eq!(body_attr(dom, "data-ready").as_deref(), Some("1"));
        assert_eq!(body_attr(dom, "data-render-ms").as_deref(), Some("12.5"));
        assert_eq!(body_attr(dom, "nope"), None);
        assert_eq!(element_inner(dom, "script-errors").as_deref(), Some("oops"));
    }

    #[test]
    fn test_file_url_encodes() {
        let dir = std::env::temp_dir().join(format!("rm url {}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("a#b.html");
        std::fs::write(&f, "x").unwrap();
        let url = file_url(&f, Some("q=1")).unwrap();
        assert!(url.starts_with("file:///"));
        assert!(url.contains("rm%20url"));
        assert!(url.ends_with("a%23b.html#q=1"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
