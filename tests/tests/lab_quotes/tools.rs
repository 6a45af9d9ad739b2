//! Other tools' view of a lab path: `traceroute -T` and `openssl s_client -starttls smtp`.
use std::net::Ipv4Addr;
use std::process::Stdio;
use std::time::Duration;

use reconmap_lab::netns::Netns;

/// `traceroute -T -p PORT -n -q 1 -w 1 -m 8 TARGET`: one address per hop (`None` for `*`).
pub fn tcp_traceroute(ns: &Netns, target: Ipv4Addr, port: u16) -> (Vec<Option<Ipv4Addr>>, String) {
    let port = port.to_string();
    let target = target.to_string();
    let out = ns
        .run(&[
            "traceroute",
            "-T",
            "-p",
            &port,
            "-n",
            "-q",
            "1",
            "-w",
            "1",
            "-m",
            "8",
            &target,
        ])
        .expect("traceroute");
    let hops = out
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().nth(1).and_then(|a| a.parse().ok()))
        .collect();
    (hops, out)
}

/// What `openssl s_client -starttls smtp` printed and whether it exited 0 within the deadline.
pub struct SClient {
    pub success: bool,
    pub output: String,
}

impl SClient {
    /// The PEM blocks of certificates it printed (`-showcerts`: the chain as sent).
    pub fn certificates(&self) -> Vec<String> {
        pem_blocks(&self.output)
    }
}

/// The `-----BEGIN CERTIFICATE-----` blocks of `text`, whitespace removed.
pub fn pem_blocks(text: &str) -> Vec<String> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    text.split(BEGIN)
        .skip(1)
        .filter_map(|rest| rest.split(END).next())
        .map(|b| b.split_whitespace().collect())
        .collect()
}

/// Runs `openssl s_client -starttls smtp -connect TARGET:25 -showcerts` in `ns` with stdin
/// closed (it handshakes, then quits), killed after `deadline`.
pub fn s_client(ns: &Netns, target: Ipv4Addr, deadline: Duration) -> SClient {
    let child = ns
        .command("openssl")
        .args([
            "s_client",
            "-starttls",
            "smtp",
            "-connect",
            &format!("{target}:25"),
            "-servername",
            "mx.lab.example",
            "-showcerts",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl");
    let done = reconmap_sys::process::wait_within(child, deadline).expect("openssl output");
    SClient {
        success: done.status.is_some_and(|s| s.success()),
        output: done.output,
    }
}
