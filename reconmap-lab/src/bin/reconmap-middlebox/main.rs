//! `reconmap-middlebox`: the lab's NFQUEUE middleboxes, one behaviour (mode) per process and
//! one process per queue. An iptables `NFQUEUE` rule in the router's namespace hands it the
//! packets; it accepts, rewrites, drops or answers each. See `--help` and the crate README.
mod boxes;
mod ipid;
mod mpls;
mod packet;

mod reset;
mod seqrand;
mod tls;
mod truncate;

use clap::Parser;
use reconmap_sys::RawSender;
use reconmap_wire::icmp_ext::{mpls_extension_structure, MAX_LABELS};
use reconmap_wire::MplsLabel;

use boxes::{Decision, Middlebox};
use ipid::IpIdStyle;

/// What the box does; exactly one.
#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false)]
struct ModeArgs {
    /// Reset box: every queued TCP segment is dropped and answered with a RST to each end
    /// (to the client at its ACK, to the server at the segment's sequence number).
    /// Rule (router, client side): `iptables -A FORWARD -p tcp --dport 25 -m string --string
    /// STARTTLS --algo bm --icase -j NFQUEUE --queue-num Q`.
    #[arg(long)]
    reset: bool,

    /// Cut the quote of ICMP errors (Time Exceeded, Destination Unreachable, Parameter
    /// Problem) the router generates to N bytes (28 = RFC 792 IP header + 8 bytes, 40 = IP +
    /// TCP header), fixing the outer total length and checksums. Rules: `iptables -A OUTPUT
    /// -p icmp --icmp-type time-exceeded -j NFQUEUE --queue-num Q` (and
    /// `destination-unreachable`, `parameter-problem`).
    #[arg(long, value_name = "N")]
    truncate_quotes: Option<u16>,

    /// Give every queued datagram a new IP ID (see --ip-id-style) and fix the IP checksum,
    /// as NATs and normalisers do. Rule: `iptables -A FORWARD -p tcp --dport 25 -j NFQUEUE
    /// --queue-num Q`.
    #[arg(long)]
    rewrite_ip_id: bool,

    /// TCP sequence number randomisation (Cisco ASA): a random offset per connection seen
    /// starting (client SYN) is added to client->server sequence numbers and subtracted from
    /// server->client acknowledgement numbers and SACK blocks; TCP checksums fixed. Needs
    /// both directions: `iptables -A FORWARD -p tcp --dport 25 -j NFQUEUE --queue-num Q` and
    /// the same with `--sport 25`.
    #[arg(long)]
    seq_randomise: bool,

    /// Drop client segments whose payload starts with a TLS handshake record (`16 03 0x`);
    /// everything else passes. Rule: `iptables -A FORWARD -p tcp --dport 25 -m string
    /// --hex-string "|1603|" --algo bm -j NFQUEUE --queue-num Q`.
    #[arg(long)]
    tls_drop: bool,

    /// Like --tls-drop, but also reset both ends (as --reset does).
    #[arg(long)]
    tls_reset: bool,

    /// Act as an MPLS LSR: append to the ICMP errors the router generates (Time Exceeded,
    /// Destination Unreachable, Parameter Problem) an RFC 4884 extension carrying an RFC 4950
    /// label stack with these labels (top first; TC 0, TTL 1, bottom-of-stack on the last):
    /// quote zero-padded to 128 bytes, length field, extension checksum, outer length and
    /// checksums fixed. Rules (after any quote-cutting box, whose rules are in the filter
    /// table): `iptables -t security -A OUTPUT -p icmp --icmp-type time-exceeded -j NFQUEUE
    /// --queue-num Q` (and `destination-unreachable`, `parameter-problem`).
    #[arg(long, value_name = "L1,L2,..", value_delimiter = ',', value_parser = parse_label)]
    mpls_labels: Option<Vec<u32>>,

    /// Replace the first cipher suite of a ClientHello (carried at the start of a client
    /// segment) by --tls-suite and fix the TCP checksum; the handshake transcripts of the two
    /// ends then differ, so the handshake fails (or the changed suite is negotiated).
    #[arg(long)]
    tls_rewrite: bool,
}

/// The lab's NFQUEUE middlebox: one mode per process, one process per queue.
#[derive(Debug, Parser)]
#[command(name = "reconmap-middlebox", version)]
struct Args {
    /// The NFQUEUE number to bind (the iptables rule's `--queue-num`).
    #[arg(long)]
    queue: u16,

    #[command(flatten)]
    mode: ModeArgs,

    /// The server port: tells client->server from server->client (--seq-randomise) and which
    /// segments are client TLS (--tls-*).
    #[arg(long, default_value_t = 25)]
    port: u16,

    /// --rewrite-ip-id: `counter` (one counter for all datagrams, from --ip-id-start) or
    /// `random` (never the original ID).
    #[arg(long, value_enum, default_value_t = IpIdStyle::Counter)]
    ip_id_style: IpIdStyle,

    /// --rewrite-ip-id counter: the first ID given.
    #[arg(long, default_value_t = 1)]
    ip_id_start: u16,

    /// --tls-rewrite: the suite (hex) written over the first one offered.
    #[arg(long, value_parser = parse_hex16, default_value = "002f")]
    tls_suite: u16,

    /// Print `ready` on stdout once the queue is bound (for whoever started the box).
    #[arg(long)]
    ready: bool,
}

fn parse_label(text: &str) -> Result<u32, String> {
    let label: u32 = text.trim().parse().map_err(|e| format!("{text}: {e}"))?;
    if label > MplsLabel::MAX_LABEL {
        return Err(format!(
            "{label}: an MPLS label has 20 bits (at most {})",
            MplsLabel::MAX_LABEL
        ));
    }
    Ok(label)
}

fn parse_hex16(text: &str) -> Result<u16, String> {
    let digits = text.trim_start_matches("0x");
    u16::from_str_radix(digits, 16).map_err(|e| format!("{text}: {e}"))
}

fn main() {
    if let Err(e) = run(Args::parse()) {
        eprintln!("reconmap-middlebox: {e}");
        std::process::exit(1);
    }
}

fn middlebox(args: &Args) -> Middlebox {
    let m = &args.mode;
    if let Some(n) = m.truncate_quotes {
        Middlebox::TruncateQuotes(usize::from(n))
    } else if m.rewrite_ip_id {
        Middlebox::RewriteIpId(ipid::IpIdRewriter::new(args.ip_id_style, args.ip_id_start))
    } else if m.seq_randomise {
        Middlebox::SeqRandomise(seqrand::SeqRandomiser::new(args.port))
    } else if m.tls_drop {
        Middlebox::TlsDrop { port: args.port }
    } else if m.tls_reset {
        Middlebox::TlsReset { port: args.port }
    } else if let Some(labels) = &m.mpls_labels {
        let labels = labels
            .get(..labels.len().min(MAX_LABELS))
            .unwrap_or_default();
        Middlebox::MplsLabels(mpls_extension_structure(&MplsLabel::expired_stack(labels)))
    } else if m.tls_rewrite {
        Middlebox::TlsRewrite {
            port: args.port,
            suite: args.tls_suite,
        }
    } else {
        Middlebox::Reset
    }
}

fn run(args: Args) -> Result<(), String> {
    let mut mb = middlebox(&args);
    let raw = if mb.injects() {
        Some(RawSender::new(None).map_err(|e| format!("raw socket: {e}"))?)
    } else {
        None
    };
    let mut queue = nfq::Queue::open().map_err(|e| format!("cannot open NFQUEUE: {e}"))?;
    queue
        .bind(args.queue)
        .map_err(|e| format!("cannot bind queue {}: {e}", args.queue))?;
    if args.ready {
        reconmap_lab::announce_ready()?;
    }
    loop {
        let mut msg = queue.recv().map_err(|e| format!("receive: {e}"))?;
        let mut packet = msg.get_payload().to_vec();
        match mb.decide(&mut packet) {
            Decision::Accept => msg.set_verdict(nfq::Verdict::Accept),
            Decision::Rewritten => {
                msg.set_payload(packet);
                msg.set_verdict(nfq::Verdict::Accept);
            }
            Decision::Drop => msg.set_verdict(nfq::Verdict::Drop),
            Decision::DropAndInject(packets) => {
                for p in &packets {
                    if let Some(Err(e)) = raw.as_ref().map(|r| r.send(&p.datagram, p.to)) {
                        eprintln!("reconmap-middlebox: send to {}: {e}", p.to);
                    }
                }
                msg.set_verdict(nfq::Verdict::Drop);
            }
        }
        queue.verdict(msg).map_err(|e| format!("verdict: {e}"))?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn exactly_one_mode() {
        Args::command().debug_assert();
        assert!(Args::try_parse_from(["mb", "--queue", "1"]).is_err());
        assert!(Args::try_parse_from(["mb", "--queue", "1", "--reset", "--tls-drop"]).is_err());
        let a = Args::try_parse_from(["mb", "--queue", "1", "--reset"]).expect("reset");
        assert!(matches!(middlebox(&a), Middlebox::Reset));
        let a = Args::try_parse_from(["mb", "--queue", "2", "--truncate-quotes", "28"])
            .expect("truncate");
        assert!(matches!(middlebox(&a), Middlebox::TruncateQuotes(28)));
        let a = Args::try_parse_from(["mb", "--queue", "3", "--mpls-labels", "16004,24001"])
            .expect("mpls");
        let want = mpls_extension_structure(&MplsLabel::expired_stack(&[16004, 24001]));
        assert!(matches!(middlebox(&a), Middlebox::MplsLabels(s) if s == want));
        assert!(Args::try_parse_from(["mb", "--queue", "3", "--mpls-labels", "1048576"]).is_err());
        assert!(Args::try_parse_from(["mb", "--queue", "3", "--mpls-labels", "x"]).is_err());
        assert!(Args::try_parse_from([
            "mb",
            "--queue",
            "3",
            "--mpls-labels",
            "1",
            "--truncate-quotes",
            "28"
        ])
        .is_err());
        let a = Args::try_parse_from([
            "mb",
            "--queue",
            "2",
            "--tls-rewrite",
            "--tls-suite",
            "0x1301",
        ])
        .expect("rewrite");
        assert!(matches!(
            middlebox(&a),
            Middlebox::TlsRewrite {
                port: 25,
                suite: 0x1301
            }
        ));
    }
}
