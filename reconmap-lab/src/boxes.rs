//! Real-world boxes on a lab router: the iptables rules each needs and the helper process
//! (`reconmap-middlebox` for NFQUEUE modes, `reconmap-proxy` for the interception proxy).
//!
//! ```no_run
//! # fn main() -> Result<(), reconmap_lab::LabError> {
//! use reconmap_lab::boxes::{start_middlebox, BoxMode};
//! use reconmap_lab::netns::Netns;
//! let router = Netns::create("r2")?;
//! // ... links, addresses, ip_forward ...
//! let quotes = start_middlebox(&router, &BoxMode::TruncateQuotes(28), 3)?;
//! // ICMP errors r2 sends now quote 28 bytes; dropping `quotes` removes rule and process.
//! # Ok(()) }
//! ```
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::netns::Netns;
use crate::LabError;
use reconmap_core::scan::Cidr;
use reconmap_sys::process::run_command;

/// The port every box acts on (the SMTP server's).
pub const SMTP_PORT: u16 = 25;
/// How long a helper may take to bind its queue or socket.
const READY_TIMEOUT: Duration = Duration::from_secs(5);

/// An NFQUEUE middlebox mode of `reconmap-middlebox` (see its `--help` and the README).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoxMode {
    /// Client segments carrying STARTTLS: reset both ends, drop the segment.
    Reset,
    /// ICMP errors the router generates quote at most this many bytes.
    TruncateQuotes(u16),
    /// Forwarded client->server segments get a new IP ID.
    RewriteIpId(IpIdStyle),
    /// Cisco ASA style per-connection sequence number offset (both directions).
    SeqRandomise,
    /// Client segments starting a TLS handshake record are dropped.
    TlsDrop,
    /// Client segments starting a TLS handshake record: reset both ends, drop.
    TlsReset,
    /// The ClientHello's first cipher suite is replaced by this one (0x002f in the brief).
    TlsRewrite(u16),
}

/// How `BoxMode::RewriteIpId` picks IDs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpIdStyle {
    /// One counter for all datagrams, starting at this value.
    Counter(u16),
    /// Random, never the original.
    Random,
}

impl BoxMode {
    /// The helper's mode arguments.
    pub fn helper_args(&self) -> Vec<String> {
        let v = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        match *self {
            Self::Reset => v(&["--reset"]),
            Self::TruncateQuotes(n) => vec!["--truncate-quotes".into(), n.to_string()],
            Self::RewriteIpId(IpIdStyle::Counter(start)) => vec![
                "--rewrite-ip-id".into(),
                "--ip-id-style".into(),
                "counter".into(),
                "--ip-id-start".into(),
                start.to_string(),
            ],
            Self::RewriteIpId(IpIdStyle::Random) => {
                v(&["--rewrite-ip-id", "--ip-id-style", "random"])
            }
            Self::SeqRandomise => v(&["--seq-randomise"]),
            Self::TlsDrop => v(&["--tls-drop"]),
            Self::TlsReset => v(&["--tls-reset"]),
            Self::TlsRewrite(suite) => {
                vec![
                    "--tls-rewrite".into(),
                    "--tls-suite".into(),
                    format!("{suite:04x}"),
                ]
            }
        }
    }

    /// The iptables rules (arguments after `iptables`, each appending with `-A`) that hand
    /// this mode its packets on queue `queue`, in the FORWARD chain for every server address
    /// (`BoxScope::default()`). FORWARD rules act after the router's TTL check, so its own
    /// Time Exceeded quotes still show the original packet.
    pub fn iptables_rules(&self, queue: u16) -> Vec<Vec<String>> {
        self.scoped_rules(queue, &BoxScope::default())
    }

    /// The iptables rules of this mode on queue `queue` in `scope`: the hook of the TCP rules
    /// (`-A FORWARD`, or `-t mangle -A PREROUTING`: before the router's TTL check, so its own
    /// quotes already show the change) and the server prefix they cover (`-d` on
    /// client->server rules, `-s` on server->client rules). `TruncateQuotes` acts on the ICMP
    /// errors the router itself sends (`-A OUTPUT`) whatever the scope.
    pub fn scoped_rules(&self, queue: u16, scope: &BoxScope) -> Vec<Vec<String>> {
        let port = SMTP_PORT.to_string();
        let q = queue.to_string();
        let prefix = scope.server.map(|p| p.to_string());
        let rule = |parts: &[&str]| {
            let mut r: Vec<String> = parts.iter().map(|s| (*s).to_owned()).collect();
            r.extend(["-j", "NFQUEUE", "--queue-num", &q].map(String::from));
            r
        };
        let hook = scope.hook.chain_args();
        let with_prefix = |dir: &'static str| -> Vec<&str> {
            prefix.as_deref().map(|p| vec![dir, p]).unwrap_or_default()
        };
        let to_server: Vec<&str> = [hook, &["-p", "tcp", "--dport", &port]]
            .concat()
            .into_iter()
            .chain(with_prefix("-d"))
            .collect();
        let from_server: Vec<&str> = [hook, &["-p", "tcp", "--sport", &port]]
            .concat()
            .into_iter()
            .chain(with_prefix("-s"))
            .collect();
        let handshake = ["-m", "string", "--algo", "bm", "--hex-string", "|1603|"];
        match self {
            Self::Reset => vec![rule(
                &[
                    &to_server[..],
                    &[
                        "-m", "string", "--string", "STARTTLS", "--algo", "bm", "--icase",
                    ],
                ]
                .concat(),
            )],
            Self::TruncateQuotes(_) => [
                "time-exceeded",
                "destination-unreachable",
                "parameter-problem",
            ]
            .iter()
            .map(|t| rule(&["-A", "OUTPUT", "-p", "icmp", "--icmp-type", t]))
            .collect(),
            Self::RewriteIpId(_) => vec![rule(&to_server)],
            Self::SeqRandomise => vec![rule(&to_server), rule(&from_server)],
            Self::TlsDrop | Self::TlsReset | Self::TlsRewrite(_) => {
                vec![rule(&[&to_server[..], &handshake[..]].concat())]
            }
        }
    }
}

/// Where a box's TCP rules hook in and which server addresses they cover.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BoxScope {
    /// The hook of the rules.
    pub hook: BoxHook,
    /// Only traffic to (and back from) this prefix; every server address when `None`.
    pub server: Option<Cidr>,
}

/// The hook of a box's TCP rules, relative to the router's TTL check.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum BoxHook {
    /// `-A FORWARD` (filter): after the TTL check; the router's own quotes are untouched.
    #[default]
    Forward,
    /// `-t mangle -A PREROUTING`: before the TTL check; the router's own quotes show the change.
    Prerouting,
}

impl BoxHook {
    /// The iptables arguments naming the table (if not filter) and the chain.
    fn chain_args(self) -> &'static [&'static str] {
        match self {
            Self::Forward => &["-A", "FORWARD"],
            Self::Prerouting => &["-t", "mangle", "-A", "PREROUTING"],
        }
    }
}

/// What `reconmap-proxy` does about STARTTLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StarttlsPolicy {
    /// Strip it from the EHLO reply, answer the command with 502 5.5.1.
    Refuse,
    /// Relay it (and the TLS that follows).
    Pass,
}

/// A transparent SMTP interception proxy on a router.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxySpec {
    /// The local port the REDIRECT rule sends port-25 connections to.
    pub port: u16,
    /// STARTTLS policy.
    pub starttls: StarttlsPolicy,
    /// Only connections to this prefix are intercepted; every server address when `None`.
    pub server: Option<Cidr>,
}

impl ProxySpec {
    /// The helper's arguments.
    pub fn helper_args(&self) -> Vec<String> {
        let policy = match self.starttls {
            StarttlsPolicy::Refuse => "refuse",
            StarttlsPolicy::Pass => "pass",
        };
        vec![
            "--port".into(),
            self.port.to_string(),
            "--starttls".into(),
            policy.into(),
        ]
    }

    /// `-t nat -A PREROUTING -p tcp --dport 25 [-d PREFIX] -j REDIRECT --to-ports P`.
    pub fn iptables_rules(&self) -> Vec<Vec<String>> {
        let port = SMTP_PORT.to_string();
        let to = self.port.to_string();
        let mut rule: Vec<String> = [
            "-t",
            "nat",
            "-A",
            "PREROUTING",
            "-p",
            "tcp",
            "--dport",
            &port,
        ]
        .map(String::from)
        .to_vec();
        if let Some(p) = self.server {
            rule.extend(["-d".to_owned(), p.to_string()]);
        }
        rule.extend(["-j", "REDIRECT", "--to-ports", &to].map(String::from));
        vec![rule]
    }
}

/// An MPLS label switching router: `reconmap-middlebox --mpls-labels` appends the label stack
/// (RFC 4950, in an RFC 4884 extension) to the ICMP errors the router generates.
///
/// Its rules sit in the `security` table's OUTPUT chain, which runs after the `filter` table's:
/// a quote-cutting box ([`BoxMode::TruncateQuotes`], filter OUTPUT) on the same router cuts
/// the quote first, then this box pads it to 128 bytes and appends the stack, as a router that
/// does both would. Each needs its own queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LsrSpec {
    /// The label stack, top first.
    pub labels: Vec<u32>,
}

impl LsrSpec {
    /// The helper's arguments: `--mpls-labels L1,L2,..`.
    pub fn helper_args(&self) -> Vec<String> {
        let labels: Vec<String> = self.labels.iter().map(ToString::to_string).collect();
        vec!["--mpls-labels".into(), labels.join(",")]
    }

    /// `-t security -A OUTPUT -p icmp --icmp-type T -j NFQUEUE --queue-num Q` for the three
    /// ICMP errors that may carry extensions.
    pub fn iptables_rules(&self, queue: u16) -> Vec<Vec<String>> {
        let q = queue.to_string();
        [
            "time-exceeded",
            "destination-unreachable",
            "parameter-problem",
        ]
        .iter()
        .map(|t| {
            [
                "-t",
                "security",
                "-A",
                "OUTPUT",
                "-p",
                "icmp",
                "--icmp-type",
                t,
                "-j",
                "NFQUEUE",
                "--queue-num",
                &q,
            ]
            .map(String::from)
            .to_vec()
        })
        .collect()
    }
}

/// A box running on a router: its helper process and the rules it added. Dropping it removes
/// the rules (first, so no packet waits for a dead queue) and then ends the process.
#[derive(Debug)]
pub struct RunningBox {
    namespace: String,
    child: Child,
    rules: Vec<Vec<String>>,
}

impl RunningBox {
    /// The helper's process ID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The iptables rules it added (arguments after `iptables`).
    pub fn rules(&self) -> &[Vec<String>] {
        &self.rules
    }
}

impl Drop for RunningBox {
    fn drop(&mut self) {
        for rule in &self.rules {
            let delete: Vec<&str> = rule
                .iter()
                .map(|a| if a == "-A" { "-D" } else { a.as_str() })
                .collect();
            let _ = reconmap_sys::netns::exec(&self.namespace, "iptables")
                .args(&delete)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `reconmap-middlebox` in `mode` on queue `queue` in `node`, waits until it has bound
/// the queue, then adds the mode's iptables rules. One queue per box on a router.
pub fn start_middlebox(node: &Netns, mode: &BoxMode, queue: u16) -> Result<RunningBox, LabError> {
    start_scoped_middlebox(node, mode, queue, &BoxScope::default())
}

/// Like [`start_middlebox`], with the rules in `scope` (hook and server prefix).
pub fn start_scoped_middlebox(
    node: &Netns,
    mode: &BoxMode,
    queue: u16,
    scope: &BoxScope,
) -> Result<RunningBox, LabError> {
    let mut args = vec!["--queue".to_owned(), queue.to_string()];
    args.extend(mode.helper_args());
    start_helper(
        node,
        "reconmap-middlebox",
        args,
        mode.scoped_rules(queue, scope),
    )
}

/// Starts `reconmap-middlebox --mpls-labels` on queue `queue` in `node` (see [`LsrSpec`]).
pub fn start_lsr(node: &Netns, spec: &LsrSpec, queue: u16) -> Result<RunningBox, LabError> {
    let mut args = vec!["--queue".to_owned(), queue.to_string()];
    args.extend(spec.helper_args());
    start_helper(node, "reconmap-middlebox", args, spec.iptables_rules(queue))
}

/// Starts `reconmap-proxy` in `node`, waits until it listens, then adds the REDIRECT rule.
pub fn start_proxy(node: &Netns, spec: &ProxySpec) -> Result<RunningBox, LabError> {
    start_helper(
        node,
        "reconmap-proxy",
        spec.helper_args(),
        spec.iptables_rules(),
    )
}

/// Starts lab helper `helper` (which takes `--ready`) with `args` in `node`, waits until it says
/// it is ready, then adds its iptables `rules` (arguments after `iptables`, each with `-A`).
pub fn start_helper(
    node: &Netns,
    helper: &str,
    mut args: Vec<String>,
    rules: Vec<Vec<String>>,
) -> Result<RunningBox, LabError> {
    let bin = crate::lab::helper_binary(helper)?;
    args.push("--ready".into());
    let mut child = node
        .command(&bin)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|source| LabError::Io {
            what: format!("start {}", bin.display()),
            source,
        })?;
    let ready = child.stdout.take().map(|out| {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(out).read_line(&mut line);
            let _ = tx.send(line);
        });
        rx
    });
    let mut running = RunningBox {
        namespace: node.name().to_owned(),
        child,
        rules: Vec::new(),
    };
    let line = ready
        .and_then(|rx| rx.recv_timeout(READY_TIMEOUT).ok())
        .unwrap_or_default();
    if line.trim() != "ready" {
        let status = running.child.try_wait().ok().flatten();
        return Err(LabError::Io {
            what: format!("start {helper} {} in {}", args.join(" "), node.name()),
            source: std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!(
                    "not ready within {READY_TIMEOUT:?} ({}; see its stderr)",
                    status.map_or("still running".to_owned(), |s| s.to_string())
                ),
            ),
        });
    }
    for rule in rules {
        run_command(node.command("iptables").args(&rule).stdout(Stdio::null()))?;
        running.rules.push(rule);
    }
    Ok(running)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mode_has_rules_that_append_to_a_chain() {
        let modes = [
            BoxMode::Reset,
            BoxMode::TruncateQuotes(28),
            BoxMode::RewriteIpId(IpIdStyle::Counter(7)),
            BoxMode::RewriteIpId(IpIdStyle::Random),
            BoxMode::SeqRandomise,
            BoxMode::TlsDrop,
            BoxMode::TlsReset,
            BoxMode::TlsRewrite(0x2f),
        ];
        for mode in modes {
            let rules = mode.iptables_rules(4);
            assert!(!rules.is_empty(), "{mode:?}");
            for r in &rules {
                assert_eq!(r.iter().filter(|a| *a == "-A").count(), 1, "{r:?}");
                assert!(
                    r.ends_with(&["--queue-num".to_owned(), "4".to_owned()]),
                    "{r:?}"
                );
            }
            assert!(!mode.helper_args().is_empty());
        }
        assert_eq!(
            BoxMode::SeqRandomise.iptables_rules(1).len(),
            2,
            "both directions"
        );
        assert_eq!(
            BoxMode::TlsRewrite(0x2f).helper_args(),
            ["--tls-rewrite", "--tls-suite", "002f"]
        );
        let mut proxy = ProxySpec {
            port: 10025,
            starttls: StarttlsPolicy::Refuse,
            server: None,
        };
        assert_eq!(
            proxy.iptables_rules()[0].join(" "),
            "-t nat -A PREROUTING -p tcp --dport 25 -j REDIRECT --to-ports 10025"
        );
        proxy.server = "198.18.0.0/17".parse().ok();
        assert_eq!(
            proxy.iptables_rules()[0].join(" "),
            "-t nat -A PREROUTING -p tcp --dport 25 -d 198.18.0.0/17 -j REDIRECT --to-ports 10025"
        );
    }

    #[test]
    fn scoped_rules_hook_and_prefix() {
        let scope = BoxScope {
            hook: BoxHook::Prerouting,
            server: "192.0.2.0/24".parse().ok(),
        };
        let joined =
            |rules: Vec<Vec<String>>| rules.iter().map(|r| r.join(" ")).collect::<Vec<_>>();
        assert_eq!(
            joined(BoxMode::SeqRandomise.scoped_rules(1, &scope)),
            [
                "-t mangle -A PREROUTING -p tcp --dport 25 -d 192.0.2.0/24 -j NFQUEUE --queue-num 1",
                "-t mangle -A PREROUTING -p tcp --sport 25 -s 192.0.2.0/24 -j NFQUEUE --queue-num 1",
            ]
        );
        assert_eq!(
            joined(BoxMode::RewriteIpId(IpIdStyle::Random).iptables_rules(1)),
            ["-A FORWARD -p tcp --dport 25 -j NFQUEUE --queue-num 1"]
        );
        assert_eq!(
            joined(BoxMode::Reset.scoped_rules(1, &scope)),
            ["-t mangle -A PREROUTING -p tcp --dport 25 -d 192.0.2.0/24 -m string --string STARTTLS --algo bm --icase -j NFQUEUE --queue-num 1"]
        );
        assert!(
            joined(BoxMode::TruncateQuotes(28).scoped_rules(3, &scope))
                .iter()
                .all(|r| r.starts_with("-A OUTPUT -p icmp")),
            "quote truncation acts on the router's own ICMP"
        );
    }

    #[test]
    fn lsr_rules() {
        let lsr = LsrSpec {
            labels: vec![16004, 24001],
        };
        assert_eq!(lsr.helper_args(), ["--mpls-labels", "16004,24001"]);
        let rules = lsr.iptables_rules(4);
        assert_eq!(rules.len(), 3);
        assert_eq!(
            rules[0].join(" "),
            "-t security -A OUTPUT -p icmp --icmp-type time-exceeded -j NFQUEUE --queue-num 4"
        );
    }
}
