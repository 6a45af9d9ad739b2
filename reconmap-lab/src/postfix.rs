//! A real Postfix per server namespace, with its own config directory under the lab's temp dir.
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::netns::Netns;
use crate::LabError;
use reconmap_core::scenario::server_text::HOSTNAME;
use reconmap_core::scenario::TlsProfile;
use reconmap_sys::process::{run_command, ProcessError};

/// A running Postfix instance; stopped on drop.
#[derive(Debug)]
pub struct Postfix {
    dir: PathBuf,
}

impl Postfix {
    /// Writes a config into `dir` (created) and starts Postfix inside `ns`: STARTTLS offered
    /// with the TLS set-up `tls` (see [`tls_settings`]), or not offered at all for `None`.
    pub fn start(ns: &Netns, dir: &Path, tls: Option<TlsProfile>) -> Result<Self, LabError> {
        let io = |what: String| move |source| LabError::Io { what, source };
        make_queue(dir)?;
        let d = dir.display();
        let mut main = format!(
            "compatibility_level = 3.6\nqueue_directory = {d}/queue\ndata_directory = {d}/data\n\
             myhostname = {HOSTNAME}\nmydestination =\ninet_interfaces = all\ninet_protocols = ipv4\n\
             alias_maps =\nalias_database =\nmaillog_file_prefixes = {d}\nmaillog_file = {d}/maillog\n\
             smtpd_banner = $myhostname ESMTP ReconMap lab\nmessage_size_limit = 10240000\n\
             default_process_limit = 200\nsmtpd_client_connection_count_limit = 0\n\
             smtpd_client_connection_rate_limit = 0\nsmtpd_peername_lookup = no\n\
             biff = no\n"
        );
        match tls {
            Some(profile) => {
                let (cert, key) = (dir.join(CERT_FILE), dir.join(KEY_FILE));
                make_certificate(cert_key(profile), &cert, &key)?;
                main.push_str(&tls_settings(profile, &cert, &key));
            }
            None => main.push_str("smtpd_tls_security_level = none\n"),
        }
        let main_cf = dir.join("main.cf");
        std::fs::write(&main_cf, main).map_err(io(format!("write {}", main_cf.display())))?;
        let master_cf = dir.join("master.cf");
        std::fs::copy("/etc/postfix/master.cf", &master_cf).map_err(io(format!(
            "copy /etc/postfix/master.cf to {}",
            master_cf.display()
        )))?;
        let cfg = dir.as_os_str();
        run_command(
            Command::new("postconf")
                .arg("-c")
                .arg(cfg)
                .args(["-F", "*/*/chroot = n"]),
        )?;
        let postfix = Self {
            dir: dir.to_owned(),
        };
        // The queue exists (make_queue), so the master can start directly: `postfix start`
        // would first run postfix-script's integrity checks, which cost seconds.
        let daemon_dir = daemon_directory(dir)?;
        run_command(
            ns.command(format!("{daemon_dir}/master"))
                .env("MAIL_CONFIG", cfg)
                .arg("-w"),
        )
        .map_err(|e| log_error(dir, e))?;
        Ok(postfix)
    }

    /// The config directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Consumes the handle without stopping Postfix (for a persisted lab).
    pub fn forget(self) -> PathBuf {
        let me = std::mem::ManuallyDrop::new(self);
        me.dir.clone()
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        stop(&self.dir);
    }
}

/// The server certificate in the config directory (PEM).
pub const CERT_FILE: &str = "cert.pem";
/// Its private key (PEM).
pub const KEY_FILE: &str = "key.pem";

/// The kind of key (and self-signed certificate) a TLS profile needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertKey {
    /// ECDSA P-256: every ECDHE-ECDSA suite, TLS 1.0 to 1.3.
    EcdsaP256,
    /// RSA 2048: needed by the RSA key exchange suites (AES128-SHA, AES256-SHA).
    Rsa2048,
}

/// The key a profile's suites need: `cbc-only` offers only RSA key exchange suites, which an
/// ECDSA certificate cannot serve.
pub fn cert_key(profile: TlsProfile) -> CertKey {
    match profile {
        TlsProfile::Modern | TlsProfile::Tls10Only => CertKey::EcdsaP256,
        TlsProfile::CbcOnly => CertKey::Rsa2048,
    }
}

/// The main.cf lines of a TLS profile (checked with `openssl s_client` by
/// `tests/tests/lab_tls`, Postfix 3.7.11 with OpenSSL 3.0.19):
/// - `modern`: Postfix's defaults (`smtpd_tls_protocols = >=TLSv1`, medium ciphers): TLS 1.3
///   (`TLS_AES_256_GCM_SHA384` to openssl) and 1.2 (`ECDHE-ECDSA-AES256-GCM-SHA384`); TLS 1.0
///   and 1.1 are accepted too.
/// - `tls1.0-only`: the protocol range `>=TLSv1 <=TLSv1` and the medium cipher list at OpenSSL
///   security level 0 (at level 1 or more OpenSSL 3 refuses TLS 1.0's SHA-1 signatures: the
///   server then sends `internal_error`). A client offering TLS 1.2 and 1.3 only gets a
///   `protocol_version` alert; one without `supported_versions` gets a TLS 1.0 ServerHello.
/// - `cbc-only`: TLS 1.2 only, `AES128-SHA:AES256-SHA` (RSA key exchange, CBC, SHA-1 MAC; an RSA
///   certificate): a client with AEAD suites only gets `handshake_failure` (no shared cipher),
///   a TLS 1.3-only client `protocol_version`.
pub fn tls_settings(profile: TlsProfile, cert: &Path, key: &Path) -> String {
    let mut lines = format!(
        "smtpd_tls_cert_file = {}\nsmtpd_tls_key_file = {}\nsmtpd_tls_security_level = may\n\
         smtpd_tls_loglevel = 1\n",
        cert.display(),
        key.display()
    );
    let (protocols, ciphers) = match profile {
        TlsProfile::Modern => return lines,
        TlsProfile::Tls10Only => (
            ">=TLSv1 <=TLSv1",
            "aNULL:-aNULL:HIGH:MEDIUM:+RC4:@STRENGTH:@SECLEVEL=0",
        ),
        TlsProfile::CbcOnly => (">=TLSv1.2 <=TLSv1.2", "AES128-SHA:AES256-SHA"),
    };
    let _ = write!(
        lines,
        "smtpd_tls_protocols = {protocols}\nsmtpd_tls_mandatory_protocols = {protocols}\n\
         smtpd_tls_ciphers = medium\nsmtpd_tls_mandatory_ciphers = medium\n\
         tls_medium_cipherlist = {ciphers}\n"
    );
    lines
}

/// A self-signed certificate for `CN=mx.lab.example` and its key.
fn make_certificate(kind: CertKey, cert: &Path, key: &Path) -> Result<(), LabError> {
    let key_args: &[&str] = match kind {
        CertKey::EcdsaP256 => &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"],
        CertKey::Rsa2048 => &["-newkey", "rsa:2048"],
    };
    run_command(
        Command::new("openssl")
            .args(["req", "-x509"])
            .args(key_args)
            .args(["-nodes", "-days", "30", "-subj"])
            .arg(format!("/CN={HOSTNAME}"))
            .arg("-keyout")
            .arg(key)
            .arg("-out")
            .arg(cert),
    )?;
    Ok(())
}

/// Queue and data directories as /etc/postfix/postfix-files wants them: (path, owner is the
/// mail owner, group is postdrop, mode).
const QUEUE_DIRS: &[(&str, bool, bool, u32)] = &[
    ("queue", false, false, 0o755),
    ("queue/pid", false, false, 0o755),
    ("queue/maildrop", true, true, 0o730),
    ("queue/public", true, true, 0o710),
    ("queue/private", true, false, 0o700),
    ("queue/active", true, false, 0o700),
    ("queue/bounce", true, false, 0o700),
    ("queue/corrupt", true, false, 0o700),
    ("queue/defer", true, false, 0o700),
    ("queue/deferred", true, false, 0o700),
    ("queue/flush", true, false, 0o700),
    ("queue/hold", true, false, 0o700),
    ("queue/incoming", true, false, 0o700),
    ("queue/saved", true, false, 0o700),
    ("queue/trace", true, false, 0o700),
    ("data", true, false, 0o700),
];

/// Creates the queue and data directories with Postfix's owners and modes.
fn make_queue(dir: &Path) -> Result<(), LabError> {
    use std::os::unix::fs::PermissionsExt;
    let user = nix::unistd::User::from_name("postfix")
        .ok()
        .flatten()
        .ok_or_else(|| LabError::Postfix("no `postfix` user (is Postfix installed?)".into()))?;
    let postdrop = nix::unistd::Group::from_name("postdrop")
        .ok()
        .flatten()
        .ok_or_else(|| LabError::Postfix("no `postdrop` group".into()))?;
    for &(sub, mail_owner, setgid_group, mode) in QUEUE_DIRS {
        let path = dir.join(sub);
        let fail = |e: String| LabError::Postfix(format!("{}: {e}", path.display()));
        std::fs::create_dir_all(&path).map_err(|e| fail(e.to_string()))?;
        let uid = mail_owner.then_some(user.uid);
        let gid = setgid_group.then_some(postdrop.gid);
        nix::unistd::chown(&path, uid, gid).map_err(|e| fail(e.to_string()))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| fail(e.to_string()))?;
    }
    Ok(())
}

/// Debian's daemon directory; asking `postconf` costs ~2 s here (it resolves defaults).
const DEBIAN_DAEMON_DIR: &str = "/usr/lib/postfix/sbin";

/// Where Postfix's `master` lives.
fn daemon_directory(config: &Path) -> Result<String, LabError> {
    if Path::new(DEBIAN_DAEMON_DIR).join("master").exists() {
        return Ok(DEBIAN_DAEMON_DIR.to_owned());
    }
    let out = run_command(
        Command::new("postconf")
            .arg("-c")
            .arg(config)
            .args(["-h", "daemon_directory"]),
    )?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Adds the tail of Postfix's own log to an error (its commands often fail without a message).
fn log_error(dir: &Path, e: ProcessError) -> LabError {
    let log = std::fs::read_to_string(dir.join("maillog")).unwrap_or_default();
    let tail: Vec<&str> = log.lines().rev().take(5).collect();
    LabError::Postfix(format!("{e}; maillog: {}", tail.join(" | ")))
}

/// PID of the master process of the instance in `dir`, if it runs.
pub fn master_pid(dir: &Path) -> Option<i32> {
    let text = std::fs::read_to_string(dir.join("queue/pid/master.pid")).ok()?;
    let pid: i32 = text.trim().parse().ok()?;
    let alive = std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|c| c.trim() == "master")
        .unwrap_or(false);
    alive.then_some(pid)
}

/// Stops the instance in `dir` (SIGTERM to its master by PID, SIGKILL after 5 s) and
/// waits until the master is gone. Returns whether a master was running.
pub fn stop(dir: &Path) -> bool {
    let Some(pid) = master_pid(dir) else {
        return false;
    };
    // SIGTERM makes the master stop its children and exit; `postfix stop` costs a second more.
    let pid = nix::unistd::Pid::from_raw(pid);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(5);
    while master_pid(dir).is_some() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    if master_pid(dir).is_some() {
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(profile: TlsProfile) -> String {
        tls_settings(profile, Path::new("/d/cert.pem"), Path::new("/d/key.pem"))
    }

    /// The value main.cf gives `key` (the last assignment wins, as in Postfix).
    fn value(main_cf: &str, key: &str) -> Option<String> {
        main_cf
            .lines()
            .filter_map(|l| l.split_once(" = "))
            .filter(|(k, _)| *k == key)
            .map(|(_, v)| v.to_owned())
            .next_back()
    }

    #[test]
    fn modern_keeps_postfix_defaults() {
        let s = settings(TlsProfile::Modern);
        assert_eq!(
            value(&s, "smtpd_tls_security_level").as_deref(),
            Some("may")
        );
        assert_eq!(
            value(&s, "smtpd_tls_cert_file").as_deref(),
            Some("/d/cert.pem")
        );
        for key in ["smtpd_tls_protocols", "tls_medium_cipherlist"] {
            assert_eq!(value(&s, key), None, "{key}");
        }
        assert_eq!(cert_key(TlsProfile::Modern), CertKey::EcdsaP256);
    }

    #[test]
    fn tls10_only_limits_the_range_and_lowers_the_security_level() {
        let s = settings(TlsProfile::Tls10Only);
        for key in ["smtpd_tls_protocols", "smtpd_tls_mandatory_protocols"] {
            assert_eq!(value(&s, key).as_deref(), Some(">=TLSv1 <=TLSv1"), "{key}");
        }
        let ciphers = value(&s, "tls_medium_cipherlist").expect("cipher list");
        assert!(ciphers.ends_with(":@SECLEVEL=0"), "{ciphers}");
        assert_eq!(value(&s, "smtpd_tls_ciphers").as_deref(), Some("medium"));
        assert_eq!(cert_key(TlsProfile::Tls10Only), CertKey::EcdsaP256);
    }

    #[test]
    fn cbc_only_is_tls12_with_rsa_cbc_suites() {
        let s = settings(TlsProfile::CbcOnly);
        for key in ["smtpd_tls_protocols", "smtpd_tls_mandatory_protocols"] {
            assert_eq!(
                value(&s, key).as_deref(),
                Some(">=TLSv1.2 <=TLSv1.2"),
                "{key}"
            );
        }
        assert_eq!(
            value(&s, "tls_medium_cipherlist").as_deref(),
            Some("AES128-SHA:AES256-SHA")
        );
        assert_eq!(cert_key(TlsProfile::CbcOnly), CertKey::Rsa2048);
    }

    #[test]
    fn banner_length_differs_from_the_tls_ready_reply() {
        use reconmap_core::scenario::server_text::ServerText;
        let t = ServerText::new(HOSTNAME, true);
        assert_ne!(
            t.banner_line.len(),
            "220 2.0.0 Ready to start TLS\r\n".len()
        );
        assert!(t.ehlo_starttls_offset.is_some());
        assert_eq!(ServerText::new(HOSTNAME, false).ehlo_starttls_offset, None);
    }
}
