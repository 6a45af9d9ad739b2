//! `reconmap-proxy`: a transparent SMTP interception proxy for a lab router, as ISPs run on
//! port 25. An iptables rule in the router's namespace
//! (`iptables -t nat -A PREROUTING -p tcp --dport 25 -j REDIRECT --to-ports P`) sends every
//! connection to port 25 passing the router to this process, which accepts it (the router
//! answers the SYN for the server's address), reads where it was going (`SO_ORIGINAL_DST`),
//! connects there from the router's own address, and relays SMTP line by line. With
//! `--starttls refuse` it removes STARTTLS from the EHLO reply and answers the client's
//! STARTTLS itself with `502 5.5.1 STARTTLS not supported`.
mod original_dst;
mod relay;
mod smtp;

use std::net::{Ipv4Addr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;

use relay::{RelayConfig, StarttlsPolicy};

/// Transparent SMTP interception proxy (run inside a lab router's namespace, behind an
/// iptables `-t nat -A PREROUTING -p tcp --dport 25 -j REDIRECT --to-ports PORT` rule).
#[derive(Debug, Parser)]
#[command(name = "reconmap-proxy", version)]
struct Args {
    /// Port the REDIRECT rule sends connections to.
    #[arg(long, default_value_t = 10025)]
    port: u16,

    /// Address to listen on.
    #[arg(long, default_value_t = Ipv4Addr::UNSPECIFIED)]
    listen: Ipv4Addr,

    /// `refuse`: strip STARTTLS from EHLO replies and answer the command with
    /// `502 5.5.1 STARTTLS not supported`; `pass`: relay STARTTLS and then the TLS bytes.
    #[arg(long, value_enum, default_value_t = StarttlsPolicy::Refuse)]
    starttls: StarttlsPolicy,

    /// Seconds to wait for the original destination to accept.
    #[arg(long, default_value_t = 10)]
    connect_timeout: u64,

    /// Seconds a direction may stay idle before the connection is closed.
    #[arg(long, default_value_t = 300)]
    idle_timeout: u64,

    /// Most connections served at once; more are closed at once.
    #[arg(long, default_value_t = 512)]
    max_connections: usize,

    /// Print `ready` on stdout once listening (for whoever started the proxy).
    #[arg(long)]
    ready: bool,
}

fn main() {
    if let Err(e) = run(Args::parse()) {
        eprintln!("reconmap-proxy: {e}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<(), String> {
    let listener = TcpListener::bind((args.listen, args.port))
        .map_err(|e| format!("listen on {}:{}: {e}", args.listen, args.port))?;
    if args.ready {
        reconmap_lab::announce_ready()?;
    }
    let cfg = RelayConfig {
        starttls: args.starttls,
        connect_timeout: Duration::from_secs(args.connect_timeout),
        idle_timeout: Duration::from_secs(args.idle_timeout),
    };
    let active = Arc::new(AtomicUsize::new(0));
    for client in listener.incoming() {
        let client = match client {
            Ok(c) => c,
            Err(e) => {
                eprintln!("reconmap-proxy: accept: {e}");
                continue;
            }
        };
        if active.fetch_add(1, Ordering::SeqCst) >= args.max_connections {
            active.fetch_sub(1, Ordering::SeqCst);
            continue;
        }
        let slot = Arc::clone(&active);
        let spawned = std::thread::Builder::new()
            .name("relay".into())
            .spawn(move || {
                let peer = client.peer_addr().ok();
                if let Err(e) = relay::serve(client, cfg) {
                    eprintln!("reconmap-proxy: {peer:?}: {e}");
                }
                slot.fetch_sub(1, Ordering::SeqCst);
            });
        if let Err(e) = spawned {
            active.fetch_sub(1, Ordering::SeqCst);
            eprintln!("reconmap-proxy: thread: {e}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn arguments() {
        Args::command().debug_assert();
        let a = Args::try_parse_from(["p", "--starttls", "pass", "--port", "2525"]).expect("args");
        assert_eq!(a.starttls, StarttlsPolicy::Pass);
        assert_eq!(a.port, 2525);
        assert!(Args::try_parse_from(["p", "--starttls", "maybe"]).is_err());
    }
}
