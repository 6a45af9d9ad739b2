//! The hardening items of the adversarial pass that need the real binary, the kernel and a lab:
//! our own RSTs reach the server, privileges are checked up front and given up after setup, a
//! second instance on one interface fails clearly, IP-only uplinks work, local services keep
//! the probe port range, and a non-local source is refused. Each test failed before its fix.
use reconmap_lab::{Lab, Scenario};
use reconmap_sys::netns::{self, Netns};
use reconmap_tests::{probe_json, reconmap_bin, reconmap_in_netns, require_root};
use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};
use std::process::Stdio;
use std::time::{Duration, Instant};

fn lab(name: &str) -> Lab {
    require_root();
    Lab::up(&Scenario::builtin(name).expect("scenario")).expect("lab up")
}

/// TCP connections the server namespace still holds in `state` (ss state name).
fn server_connections(lab: &Lab, state: &str) -> usize {
    let ns = lab.state().namespaces.last().cloned().expect("server ns");
    let out = netns::exec(&ns, "ss")
        .args(["-Htn", "state", state])
        .output()
        .expect("ss");
    String::from_utf8_lossy(&out.stdout).lines().count()
}

#[test]
fn our_own_rsts_reach_the_server_and_leave_nothing_half_open() {
    // Issue: the guard dropped our own RSTs too; servers kept half-open connections.
    // `drop`: STARTTLS never arrives, so the session ends with our RSTs after the close timeout.
    let lab = lab("drop");
    let r = probe_json(
        lab.prober().name(),
        &lab.target().to_string(),
        &["--retries", "0", "--starttls-timeout", "2"],
    );
    assert_eq!(r["verdict"], "blocked", "{r:#}");
    // Give the server a moment to process what we sent last.
    std::thread::sleep(Duration::from_millis(300));
    for state in ["established", "close-wait", "fin-wait-1", "fin-wait-2"] {
        assert_eq!(server_connections(&lab, state), 0, "{state} at the server");
    }
}

/// `CapEff` and `CapPrm` of a process, as hex.
fn caps_of(pid: u32) -> (String, String) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    (field("CapEff:"), field("CapPrm:"))
}

#[test]
fn capabilities_are_given_up_once_set_up() {
    // Issue: parsing hostile input ran with full root capabilities.
    let lab = lab("hostile-mute");
    let child = reconmap_in_netns(lab.prober().name())
        .args(["probe", "--json", "--reply-timeout", "4"])
        .arg(lab.target().to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // The mute server keeps the session waiting for its banner: look at the process meanwhile.
    std::thread::sleep(Duration::from_millis(1500));
    let (eff, prm) = caps_of(child.id());
    let out = child.wait_with_output().expect("wait");
    assert_eq!(
        eff, "0000000000000000",
        "effective capabilities while probing"
    );
    assert_eq!(
        prm, "0000000000000000",
        "permitted capabilities while probing"
    );
    let r: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("the probe still gave its record");
    assert_eq!(r["verdict"], "inconclusive");
}

#[test]
fn missing_capabilities_are_named_before_anything_is_loaded() {
    // Issue: without CAP_PERFMON the run failed with a 3 KB verifier dump.
    require_root();
    let ns = Netns::create("caps").expect("namespace");
    let out = netns::exec(ns.name(), "setpriv")
        .args(["--bounding-set", "-perfmon", "--inh-caps", "-perfmon", "--"])
        .arg(reconmap_bin())
        .args(["probe", "192.0.2.25"])
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("CAP_PERFMON"), "{stderr}");
    assert!(
        stderr.len() < 1000,
        "a clear message, not a verifier dump: {stderr}"
    );
}

#[test]
fn a_second_instance_on_the_same_interface_fails_clearly() {
    let lab = lab("clean");
    let ns = lab.prober().name().to_string();
    let iface = lab.prober_iface().to_string();
    let mut first = reconmap_in_netns(&ns)
        .args(["capture", "--iface", &iface, "--seconds", "20"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("first capture");
    let mut line = String::new();
    BufReader::new(first.stderr.take().expect("stderr"))
        .read_line(&mut line)
        .expect("read");
    assert!(line.contains("attached"), "{line}");
    let second = reconmap_in_netns(&ns)
        .args(["capture", "--iface", &iface, "--seconds", "1"])
        .output()
        .expect("second capture");
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(first.id()).expect("pid")),
        nix::sys::signal::Signal::SIGINT,
    );
    let _ = first.wait();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success(), "{stderr}");
    assert!(stderr.contains("another XDP program"), "{stderr}");
}

/// Opens the persistent TUN device `name` of the calling thread's namespace (no packet info
/// header: packets start at the IP header, as on WireGuard or PPP).
fn open_tun(name: &str) -> std::fs::File {
    use std::os::fd::AsRawFd;
    const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
    const IFF_TUN: libc::c_short = 0x0001;
    const IFF_NO_PI: libc::c_short = 0x1000;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun")
        .expect("/dev/net/tun");
    // SAFETY: ifreq is plain old data; zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in req.ifr_name.iter_mut().zip(name.bytes()) {
        *d = s as libc::c_char;
    }
    req.ifr_ifru.ifru_flags = IFF_TUN | IFF_NO_PI;
    // SAFETY: a valid tun fd and ifreq for TUNSETIFF.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), TUNSETIFF, &mut req) };
    assert_eq!(rc, 0, "TUNSETIFF: {}", std::io::Error::last_os_error());
    file
}

/// Copies packets from one TUN device to the other until either side fails.
fn relay(from: std::fs::File, to: std::fs::File) {
    use std::io::{Read, Write};
    std::thread::spawn(move || {
        let (mut from, mut to) = (from, to);
        let mut buf = vec![0u8; 65536];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 || to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
    });
}

#[test]
fn a_probe_over_an_ip_only_uplink_works() {
    // Issue: on tun/WireGuard/PPP uplinks (no Ethernet header) nothing was captured and
    // reachable servers were reported unreachable after 30 s. Two TUN devices (link/none)
    // joined by a user-space relay stand for such an uplink.
    require_root();
    let prober = Netns::create("l3p").expect("ns");
    let server = Netns::create("l3s").expect("ns");
    let sh = |ns: &Netns, cmds: &str| ns.run_with_input(&["ip", "-batch", "-"], cmds).expect("ip");
    sh(
        &prober,
        "tuntap add mode tun name rmt0\nlink set rmt0 up\n\
         address add 203.0.113.1/32 peer 203.0.113.2/32 dev rmt0\n",
    );
    sh(
        &server,
        "tuntap add mode tun name rmt0\nlink set rmt0 up\n\
         address add 203.0.113.2/32 peer 203.0.113.1/32 dev rmt0\n",
    );
    let a = prober.enter(|| open_tun("rmt0")).expect("enter");
    let b = server.enter(|| open_tun("rmt0")).expect("enter");
    relay(a.try_clone().expect("clone"), b.try_clone().expect("clone"));
    relay(b, a);
    let smtpd = reconmap_sys::bins::find("reconmap-hostile-smtp").expect("lab helper built");
    // TLS after the 220 too: the whole session, handshake included, crosses the IP-only link.
    let certs = reconmap_tests::TempDir::create("tun-tls").expect("temp dir");
    let (cert, key) =
        reconmap_lab::cert::self_signed(&certs.path(""), "hostile.lab").expect("certificate");
    let mut server_proc = server
        .command(&smtpd)
        .args([
            "--listen",
            "203.0.113.2:25",
            "--behaviour",
            "normal",
            "--ready",
        ])
        .arg("--tls-cert")
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("server");
    let mut ready = String::new();
    BufReader::new(server_proc.stdout.take().expect("stdout"))
        .read_line(&mut ready)
        .expect("ready");
    let started = Instant::now();
    let out = reconmap_in_netns(prober.name())
        .args(["probe", "--json", "--iface", "rmt0", "203.0.113.2"])
        .output()
        .expect("probe");
    let _ = server_proc.kill();
    let _ = server_proc.wait();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let r: serde_json::Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("{e}: {stdout} {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(r["verdict"], "clean", "{r:#}");
    assert_eq!(r["tls"]["version"], "TLSv1.3", "{r:#}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn local_services_can_bind_ports_of_the_probe_range_during_a_scan() {
    // Issue: port leases held wildcard-bound sockets and local services got EADDRINUSE.
    let lab = lab("many");
    let dir = reconmap_tests::TempDir::create("ports").expect("temp dir");
    let list = dir.path("list.txt");
    let targets: Vec<String> = lab
        .targets()
        .iter()
        .step_by(300)
        .take(150)
        .map(|(a, _)| a.to_string())
        .collect();
    std::fs::write(&list, targets.join("\n")).expect("list");
    let mut scan = reconmap_in_netns(lab.prober().name())
        .args([
            "scan",
            "--quiet",
            "--allow-lab-ranges",
            "--concurrency",
            "50",
            "-i",
        ])
        .arg(&list)
        .arg("-o")
        .arg(dir.path("out.jsonl"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("scan");
    std::thread::sleep(Duration::from_millis(700));
    let failures: Vec<u16> = lab
        .prober()
        .enter(|| {
            (61000u16..65535)
                .step_by(13)
                .filter(|&p| {
                    TcpListener::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, p)).is_err()
                })
                .collect()
        })
        .expect("enter");
    let status = scan.wait().expect("scan");
    assert!(
        failures.is_empty(),
        "ports a local service could not bind: {failures:?}"
    );
    assert!(status.success());
}

#[test]
fn a_source_address_that_is_not_ours_is_refused() {
    let lab = lab("clean");
    let out = reconmap_in_netns(lab.prober().name())
        .args(["probe", "--source", "203.0.113.99"])
        .arg(lab.target().to_string())
        .output()
        .expect("probe");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("not an address of this machine"),
        "{stderr}"
    );
}
