//! The lab servers' self-signed certificate (what MX hosts often have): an ECDSA P-256 key and
//! a certificate for the lab's host name, made with openssl.
use std::path::{Path, PathBuf};
use std::process::Command;

use reconmap_sys::process::run_command;

use crate::LabError;

/// Writes `cert.pem` and `key.pem` for `name` into `dir`; returns their paths.
pub fn self_signed(dir: &Path, name: &str) -> Result<(PathBuf, PathBuf), LabError> {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    run_command(
        Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-days",
                "30",
                "-subj",
            ])
            .arg(format!("/CN={name}"))
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert),
    )?;
    Ok((cert, key))
}
