//! TlsProbe and LegacyProbe against real OpenSSL `s_server`s in network namespaces made by the
//! test (two namespaces joined by a veth pair, 198.51.100.0/24, removed on drop), driven by a
//! small blocking TcpStream pump on a thread that joined the client namespace. Every expected
//! value is read from `openssl s_client` / `openssl x509` output on the same server: the crate
//! itself stays sans-IO. Needs root (CI runs `cargo xtask test` as root).
use reconmap_sys::netns::{self, Netns};
use reconmap_tls::names::cipher_name;
use reconmap_tls::{
    HandshakeStep, LegacyProbe, Peer, TlsLimits, TlsObservations, TlsProbe, TlsProbeConfig,
    TlsState, TransportEnd,
};
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

const NAME: &str = "mx.example.test";
const SERVER_IP: &str = "198.51.100.2";
const PORT: u16 = 4433;
const TIMEOUT: Duration = Duration::from_secs(5);

fn require_root() {
    assert!(
        reconmap_sys::privilege::is_root(),
        "this test needs root (network namespaces): run it as root, as `cargo xtask test` does"
    );
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A client and a server namespace joined by a veth pair (removed on drop), and a directory.
struct Lab {
    client: Netns,
    server: Netns,
    dir: PathBuf,
}

impl Lab {
    fn new() -> Lab {
        require_root();
        let client = Netns::create("tlsc").expect("client namespace");
        let server = Netns::create("tlss").expect("server namespace");
        netns::veth(&client, "tc0", &server, "ts0").expect("veth");
        client
            .run(&["ip", "addr", "add", "198.51.100.1/24", "dev", "tc0"])
            .expect("address");
        server
            .run(&["ip", "addr", "add", "198.51.100.2/24", "dev", "ts0"])
            .expect("address");
        let dir = std::env::temp_dir().join(format!("rmtls-{}", client.name()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Lab {
            client,
            server,
            dir,
        }
    }

    fn openssl(&self, ns: &Netns) -> Command {
        let mut cmd = ns.command("openssl");
        cmd.current_dir(&self.dir);
        cmd
    }

    /// A self-signed RSA 2048 certificate for NAME (cert.pem, key.pem in the lab's directory).
    fn make_cert(&self) {
        run(Command::new("openssl")
            .current_dir(&self.dir)
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "key.pem",
            ])
            .args([
                "-out",
                "cert.pem",
                "-days",
                "30",
                "-subj",
                "/CN=mx.example.test",
            ])
            .args(["-addext", "subjectAltName=DNS:mx.example.test"]));
    }

    /// `openssl s_server` with `args`, once it accepts.
    fn server(&self, args: &[&str]) -> Server {
        let accept = format!("{SERVER_IP}:{PORT}");
        let mut child = self
            .openssl(&self.server)
            .args([
                "s_server", "-accept", &accept, "-cert", "cert.pem", "-key", "key.pem",
            ])
            .args(["-serverpref"])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn s_server");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        // Drains s_server's output (it blocks on a full pipe) and reports ACCEPT.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let server = Server { child };
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line.contains("ACCEPT") => break,
                Ok(_) => {}
                Err(e) => panic!("s_server {args:?} did not start: {e}"),
            }
        }
        server
    }

    /// `openssl s_client` from the client namespace: (protocol, IANA cipher name) or the
    /// failure text.
    fn s_client(&self, args: &[&str]) -> Result<(String, String), String> {
        let connect = format!("{SERVER_IP}:{PORT}");
        let out = self
            .openssl(&self.client)
            .args(["s_client", "-connect", &connect, "-servername", NAME])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("s_client");
        let stdout = String::from_utf8_lossy(&out.stdout);
        // "New, TLSv1.3, Cipher is TLS_AES_256_GCM_SHA384" ("(NONE)" when it failed).
        let session = stdout.lines().find_map(|l| {
            let rest = l.strip_prefix("New, ")?;
            let (protocol, cipher) = rest.split_once(", Cipher is ")?;
            (protocol != "(NONE)").then(|| (protocol.to_owned(), cipher.trim().to_owned()))
        });
        match session {
            Some((p, c)) => Ok((protocol_name(&p), self.iana(&c))),
            None => Err(format!("{stdout}{}", String::from_utf8_lossy(&out.stderr))),
        }
    }

    /// The IANA name (as this crate spells it) of an OpenSSL cipher name, via its code point
    /// from `openssl ciphers -V`.
    fn iana(&self, openssl_name: &str) -> String {
        let out =
            run(Command::new("openssl").args(["ciphers", "-V", "ALL:COMPLEMENTOFALL:@SECLEVEL=0"]));
        let table: HashMap<String, u16> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                let code = w.next()?;
                let _dash = w.next()?;
                let name = w.next()?;
                let (hi, lo) = code.split_once(',')?;
                let hi = u8::from_str_radix(hi.trim_start_matches("0x"), 16).ok()?;
                let lo = u8::from_str_radix(lo.trim_start_matches("0x"), 16).ok()?;
                Some((name.to_owned(), u16::from_be_bytes([hi, lo])))
            })
            .collect();
        let code = table
            .get(openssl_name)
            .unwrap_or_else(|| panic!("{openssl_name} not in `openssl ciphers -V`"));
        cipher_name(*code)
    }

    /// (sha256 hex, key bits) of cert.pem according to `openssl x509`.
    fn cert_facts(&self) -> (String, u32) {
        let out = run(Command::new("openssl").current_dir(&self.dir).args([
            "x509",
            "-in",
            "cert.pem",
            "-noout",
            "-fingerprint",
            "-sha256",
            "-text",
        ]));
        let text = String::from_utf8_lossy(&out.stdout);
        let fp = text
            .lines()
            .find_map(|l| {
                l.split_once("Fingerprint=")
                    .map(|(_, f)| f.replace(':', "").to_lowercase())
            })
            .expect("fingerprint");
        let bits = text
            .lines()
            .find_map(|l| {
                l.trim()
                    .strip_prefix("Public-Key: (")?
                    .strip_suffix(" bit)")?
                    .parse()
                    .ok()
            })
            .expect("key size");
        (fp, bits)
    }

    /// Runs `f` on a thread inside the client namespace.
    fn in_client<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let path = format!("/run/netns/{}", self.client.name());
        let ns = File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        std::thread::scope(|s| {
            s.spawn(move || {
                nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
                f()
            })
            .join()
            .expect("client thread")
        })
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// An s_server killed (by its PID) on drop.
struct Server {
    child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn protocol_name(openssl: &str) -> String {
    match openssl {
        "TLSv1" => "TLSv1.0".to_owned(),
        other => other.to_owned(),
    }
}

fn connect() -> TcpStream {
    let addr: SocketAddr = format!("{SERVER_IP}:{PORT}").parse().expect("addr");
    let s = TcpStream::connect_timeout(&addr, TIMEOUT).expect("connect");
    s.set_read_timeout(Some(Duration::from_millis(50)))
        .expect("timeout");
    s
}

/// Reads once: Some(bytes) (empty on EOF), None on a read timeout, Err on a reset.
fn read_some(s: &mut TcpStream) -> Result<Option<Vec<u8>>, TransportEnd> {
    let mut buf = [0u8; 4096];
    match s.read(&mut buf) {
        Ok(n) => Ok(Some(buf[..n].to_vec())),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Ok(None),
        Err(_) => Err(TransportEnd::Reset),
    }
}

/// The whole TLS session: handshake, then "QUIT" and close_notify when established.
fn modern(cfg: &TlsProbeConfig) -> (TlsObservations, TlsState) {
    let mut s = connect();
    let mut p = TlsProbe::new(cfg, Some(NAME), Instant::now(), SystemTime::now()).expect("probe");
    let deadline = Instant::now() + TIMEOUT;
    while p.state() == TlsState::Handshaking && Instant::now() < deadline {
        let out = p.outgoing();
        if !out.is_empty() {
            s.write_all(&out).expect("send");
        }
        match read_some(&mut s) {
            Ok(Some(data)) if data.is_empty() => {
                p.transport_closed(Instant::now(), TransportEnd::Fin)
            }
            Ok(Some(data)) => p.received(Instant::now(), &data),
            Ok(None) => p.on_timeout(Instant::now()),
            Err(how) => p.transport_closed(Instant::now(), how),
        }
    }
    let state = p.state();
    if state == TlsState::Established {
        p.send_app(b"QUIT\r\n").expect("app data");
        p.close();
    }
    let out = p.outgoing();
    let _ = s.write_all(&out);
    (p.observations(), state)
}

fn legacy(cfg: &TlsProbeConfig) -> TlsObservations {
    let mut s = connect();
    let mut p = LegacyProbe::new(
        cfg,
        Some(NAME),
        [0x5a; 32],
        Instant::now(),
        SystemTime::now(),
    )
    .expect("legacy probe");
    s.write_all(&p.outgoing()).expect("send");
    let deadline = Instant::now() + TIMEOUT;
    while !p.is_done() && Instant::now() < deadline {
        match read_some(&mut s) {
            Ok(Some(data)) if data.is_empty() => {
                p.transport_closed(Instant::now(), TransportEnd::Fin)
            }
            Ok(Some(data)) => p.received(Instant::now(), &data),
            Ok(None) => p.on_timeout(Instant::now()),
            Err(how) => p.transport_closed(Instant::now(), how),
        }
    }
    p.observations()
}

fn config() -> TlsProbeConfig {
    TlsProbeConfig::new(TlsLimits::default()).expect("config")
}

fn check_chain(o: &TlsObservations, lab: &Lab) {
    let (fp, bits) = lab.cert_facts();
    assert_eq!(o.chain.len(), 1, "{o:?}");
    assert_eq!(o.chain[0].sha256, fp);
    assert_eq!(o.chain[0].key_type.as_deref(), Some("RSA"));
    assert_eq!(o.chain[0].key_bits, Some(bits));
    assert_eq!(o.chain[0].subject.as_deref(), Some("CN=mx.example.test"));
    assert_eq!(o.chain[0].san_dns, [NAME]);
    assert_eq!(o.chain_valid, Some(false), "self-signed");
    assert_eq!(o.name_matches, Some(true));
}

#[test]
fn test_openssl_tls13() {
    let lab = Lab::new();
    lab.make_cert();
    let _server = lab.server(&["-tls1_3"]);
    let (version, cipher) = lab.s_client(&[]).expect("s_client handshake");
    let started = Instant::now();
    let (o, state) = lab.in_client(|| modern(&config()));
    let elapsed = started.elapsed();
    assert_eq!(state, TlsState::Established, "{o:?}");
    assert_eq!(o.version.as_deref(), Some(version.as_str()));
    assert_eq!(version, "TLSv1.3");
    assert_eq!(o.cipher.as_deref(), Some(cipher.as_str()));
    assert_eq!(
        o.server_hello.as_ref().map(|h| h.cipher.as_str()),
        Some(cipher.as_str())
    );
    assert_eq!(o.sni.as_deref(), Some(NAME));
    let ms = o.handshake_ms.expect("handshake time");
    assert!(
        u128::from(ms) <= elapsed.as_millis(),
        "{ms} ms within {elapsed:?}"
    );
    check_chain(&o, &lab);
}

#[test]
fn test_openssl_tls12() {
    let lab = Lab::new();
    lab.make_cert();
    let _server = lab.server(&["-tls1_2"]);
    let (version, cipher) = lab.s_client(&[]).expect("s_client handshake");
    let (o, state) = lab.in_client(|| modern(&config()));
    assert_eq!(state, TlsState::Established, "{o:?}");
    assert_eq!(version, "TLSv1.2");
    assert_eq!(o.version.as_deref(), Some("TLSv1.2"));
    assert_eq!(o.cipher.as_deref(), Some(cipher.as_str()));
    assert!(o.handshake_ms.is_some());
    check_chain(&o, &lab);
}

#[test]
fn test_openssl_tls10_only() {
    let lab = Lab::new();
    lab.make_cert();
    let _server = lab.server(&["-tls1", "-cipher", "DEFAULT@SECLEVEL=0"]);
    // Independent truth: an OpenSSL client offering TLS 1.3 and 1.2 only (as rustls does) is
    // refused with protocol_version; a TLS 1.0 one gets a session.
    let refused = lab
        .s_client(&["-min_protocol", "TLSv1.2"])
        .expect_err("modern client refused");
    assert!(refused.contains("alert protocol version"), "{refused}");
    let (version, cipher) = lab
        .s_client(&["-tls1", "-cipher", "DEFAULT@SECLEVEL=0"])
        .expect("TLS 1.0 client");
    assert_eq!(version, "TLSv1.0");

    let (o, state) = lab.in_client(|| modern(&config()));
    assert_eq!(state, TlsState::Failed);
    let f = o.failure.clone().expect("failure");
    assert_eq!(f.step, HandshakeStep::ClientHelloSent, "{f:?}");
    assert_eq!(f.alert.as_deref(), Some("protocol_version"));
    assert_eq!(f.alert_sent_by, Some(Peer::Server));
    assert_eq!(o.version, None);

    let o = lab.in_client(|| legacy(&config()));
    assert_eq!(o.failure, None, "{o:?}");
    let hello = o.server_hello.clone().expect("server hello");
    assert_eq!(hello.version, version);
    assert_eq!(hello.cipher, cipher);
    check_chain(&o, &lab);
}
