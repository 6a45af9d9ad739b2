//! `openssl s_client -starttls smtp` from the prober's namespace, with the prober's interface
//! captured meanwhile: what openssl printed (version, suite, errors) and what the wire carried
//! after STARTTLS in each direction (TLS records), the server's RSTs with their IP TTL.
use std::net::SocketAddrV4;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use reconmap_lab::netns::Netns;

use crate::capture::Capture;
use crate::records::{messages, records, Message, Record, HANDSHAKE};
use crate::wire::{after, stream, Segment, RST};

/// The prober's interface (toward r1).
const IFACE: &str = "east";
/// What precedes the TLS bytes in each direction.
const CLIENT_MARKER: &[u8] = b"STARTTLS\r\n";
const SERVER_MARKER: &[u8] = b"Ready to start TLS\r\n";

/// A client set-up: a label for the log and the arguments after the common ones.
#[derive(Debug, Clone, Copy)]
pub struct Client {
    pub label: &'static str,
    pub args: &'static [&'static str],
}

/// Like ReconMap's rustls client: TLS 1.3 and 1.2 only, ECDHE with AEAD suites only (TLS 1.3
/// suites are all AEAD).
pub const MODERN: Client = Client {
    label: "modern (TLS 1.2-1.3, ECDHE AEAD)",
    args: &[
        "-no_tls1",
        "-no_tls1_1",
        "-cipher",
        "ECDHE+AESGCM:ECDHE+CHACHA20",
    ],
};
/// openssl's defaults (TLS 1.0-1.3, its DEFAULT suites, CBC and RSA key exchange included).
pub const OPENSSL_DEFAULT: Client = Client {
    label: "openssl defaults",
    args: &[],
};
/// TLS 1.0 only; OpenSSL 3 needs security level 0 to accept TLS 1.0's SHA-1 signatures.
pub const TLS10: Client = Client {
    label: "TLS 1.0 only, security level 0",
    args: &["-tls1", "-cipher", "DEFAULT:@SECLEVEL=0"],
};
/// TLS 1.2 only.
pub const TLS12: Client = Client {
    label: "TLS 1.2 only",
    args: &["-tls1_2"],
};
/// TLS 1.3 only.
pub const TLS13: Client = Client {
    label: "TLS 1.3 only",
    args: &["-tls1_3"],
};
/// TLS 1.2 with one CBC suite (RSA key exchange).
pub const CBC: Client = Client {
    label: "TLS 1.2, AES128-SHA",
    args: &["-tls1_2", "-cipher", "AES128-SHA"],
};

/// One s_client run.
#[derive(Debug, Clone)]
pub struct Run {
    pub client: Client,
    /// `None`: still running at the deadline (killed).
    pub status: Option<ExitStatus>,
    pub elapsed: Duration,
    pub output: String,
    /// TLS records after STARTTLS, client to server (first transmissions and retransmissions
    /// counted once).
    pub from_client: Vec<Record>,
    /// TLS records after the 220, server to client.
    pub from_server: Vec<Record>,
    /// The first ClientHello record as sent (header and body).
    pub client_hello: Option<Vec<u8>>,
    /// How many times a segment starting the ClientHello went out.
    pub hello_transmissions: usize,
    /// IP TTLs of RSTs that came to the client from the server's address and port.
    pub rst_ttls: Vec<u8>,
}

impl Run {
    /// `-brief` prints `Protocol version: ...` once the handshake is done.
    fn brief(&self, key: &str) -> Option<String> {
        self.output
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .map(|v| v.trim().to_owned())
    }

    pub fn protocol(&self) -> Option<String> {
        self.brief("Protocol version:")
    }

    pub fn cipher(&self) -> Option<String> {
        self.brief("Ciphersuite:")
    }

    /// Exited 0 with a handshake done.
    pub fn completed(&self) -> bool {
        self.status.is_some_and(|s| s.success()) && self.protocol().is_some()
    }

    /// openssl's error lines.
    pub fn errors(&self) -> Vec<&str> {
        self.output
            .lines()
            .filter(|l| l.contains(":error:") || l.contains("errno="))
            .collect()
    }

    /// What the server sent after the 220.
    pub fn server_messages(&self) -> Vec<Message> {
        messages(&self.from_server)
    }

    /// The plaintext alerts (level, description) the server sent.
    pub fn server_alerts(&self) -> Vec<(u8, u8)> {
        self.server_messages()
            .into_iter()
            .filter_map(|m| match m {
                Message::Alert(l, d) => Some((l, d)),
                _ => None,
            })
            .collect()
    }

    /// One line for the log.
    pub fn describe(&self, name: &str) -> String {
        let server: Vec<String> = self
            .server_messages()
            .iter()
            .map(|m| m.to_string())
            .collect();
        let client: Vec<String> = messages(&self.from_client)
            .iter()
            .map(|m| m.to_string())
            .collect();
        format!(
            "[{name}] s_client {}: {} after {:?} | protocol {:?} cipher {:?} | errors {:?} | \
             client sent [{}] (ClientHello {} time(s)) | server sent [{}] | RST ttl {:?}",
            self.client.label,
            match self.status {
                Some(s) => format!("exit {}", s.code().unwrap_or(-1)),
                None => "still running, killed".to_owned(),
            },
            self.elapsed,
            self.protocol(),
            self.cipher(),
            self.errors(),
            client.join(", "),
            self.hello_transmissions,
            server.join(", "),
            self.rst_ttls
        )
    }
}

/// Runs `openssl s_client -starttls smtp -connect TARGET -servername mx.lab.example -brief
/// ARGS` in `ns` with stdin closed (it handshakes, then quits), killed after `deadline`;
/// `linger` is how long the capture goes on after it ended.
pub fn run(
    ns: &Netns,
    target: SocketAddrV4,
    client: Client,
    deadline: Duration,
    linger: Duration,
) -> Run {
    ns.enter(move || run_here(target, client, deadline, linger))
        .expect("enter the prober")
}

fn run_here(target: SocketAddrV4, client: Client, deadline: Duration, linger: Duration) -> Run {
    let capture = Capture::open(IFACE);
    // A child forked from this thread lives in the thread's namespace (the prober's).
    let child = Command::new("openssl")
        .args([
            "s_client",
            "-starttls",
            "smtp",
            "-connect",
            &target.to_string(),
            "-servername",
            "mx.lab.example",
            "-brief",
        ])
        .args(client.args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl");
    let done = reconmap_sys::process::wait_within(child, deadline).expect("openssl output");
    let frames = capture.collect(Instant::now() + linger);
    let segments: Vec<(bool, Segment)> = frames
        .iter()
        .filter_map(|f| Some((f.outgoing, Segment::parse(&f.datagram)?)))
        .collect();
    let up: Vec<&Segment> = segments
        .iter()
        .filter(|(out, s)| *out && s.dst == *target.ip() && s.dport == 25)
        .map(|(_, s)| s)
        .collect();
    let down: Vec<&Segment> = segments
        .iter()
        .filter(|(out, s)| !*out && s.src == *target.ip() && s.sport == 25)
        .map(|(_, s)| s)
        .collect();
    let client_bytes = stream(&up);
    let client_tls = after(&client_bytes, CLIENT_MARKER).unwrap_or_default();
    let server_bytes = stream(&down);
    let server_tls = after(&server_bytes, SERVER_MARKER).unwrap_or_default();
    let from_client = records(client_tls);
    let client_hello = from_client
        .first()
        .filter(|r| r.content_type == HANDSHAKE)
        .and_then(|r| client_tls.get(..5 + r.body.len()))
        .map(<[u8]>::to_vec);
    let hello_transmissions = up
        .iter()
        .filter(|s| {
            client_hello
                .as_deref()
                .is_some_and(|h| s.payload().starts_with(h.get(..16).unwrap_or(h)))
        })
        .count();
    Run {
        client,
        status: done.status,
        elapsed: done.elapsed,
        output: done.output,
        from_client,
        from_server: records(server_tls),
        client_hello,
        hello_transmissions,
        rst_ttls: down
            .iter()
            .filter(|s| s.has_flag(RST))
            .map(|s| s.ttl)
            .collect(),
    }
}
