//! `reconmap-hostile-smtp`: an SMTP server for the lab's server namespace that misbehaves in
//! one reproducible way per run (`--behaviour`), so ReconMap can be tested against odd and
//! hostile servers. One thread per connection, at most `--max-connections` at once; it never
//! does TLS. Logs one line per connection to stderr.
mod behaviour;
mod output;
mod session;
mod tls;

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use socket2::{Domain, Protocol, Socket, Type};

use behaviour::Behaviour;
use session::Settings;

/// Listen backlog of every behaviour but `small-backlog`.
const BACKLOG: i32 = 1024;

const LONG_ABOUT: &str = "\
An SMTP server that misbehaves in one reproducible way (--behaviour) for ReconMap's lab.

Normal session (every behaviour varies it):
  server: 220 hostile.lab ESMTP
  EHLO -> 250-hostile.lab / 250-PIPELINING / 250-STARTTLS / 250 8BITMIME
  STARTTLS -> 220 2.0.0 Ready to start TLS, then wait for the client to close (no TLS)
  QUIT -> 221 2.0.0 Bye, then close
  anything else -> 500 5.5.1 Command unrecognized: \"<line>\"

Run it inside the server namespace, e.g.
  ip netns exec NS reconmap-hostile-smtp --listen 0.0.0.0:25 --behaviour split --seed 7";

#[derive(Debug, Parser)]
#[command(name = "reconmap-hostile-smtp", version, about = "A hostile SMTP server for the ReconMap lab", long_about = LONG_ABOUT)]
struct Args {
    /// Address and port to listen on.
    #[arg(long, default_value = "0.0.0.0:25")]
    listen: SocketAddr,
    /// How to misbehave.
    #[arg(long, alias = "behavior", value_enum, default_value_t = Behaviour::Normal)]
    behaviour: Behaviour,
    /// Seed of the pseudo-random choices (split positions): same seed, same bytes on the wire.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Pause of drip (between bytes), split (between pieces), slow-starttls (before the
    /// reply) and small-backlog (between accepts). Default: 5 for split, else 1000.
    #[arg(long)]
    delay_ms: Option<u64>,
    /// Connections served at once; more are accepted and closed at once.
    #[arg(long, default_value_t = 1024)]
    max_connections: usize,
    /// A connection whose client sends nothing for this long (or does not read for this long
    /// while the server writes) is closed.
    #[arg(long, default_value_t = 600)]
    idle_secs: u64,
    /// Print `ready` on stdout once listening.
    #[arg(long)]
    ready: bool,
    /// Certificate chain (PEM) for TLS after `220` (with --tls-key); without them the server
    /// only waits for the client to go after accepting STARTTLS.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<std::path::PathBuf>,
    /// Private key (PEM) of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<std::path::PathBuf>,
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(&args) {
        eprintln!("reconmap-hostile-smtp: {e}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> Result<(), String> {
    let backlog = if args.behaviour == Behaviour::SmallBacklog {
        1
    } else {
        BACKLOG
    };
    let listener =
        listen(args.listen, backlog).map_err(|e| format!("listen on {}: {e}", args.listen))?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(tls::server_config(cert, key)?),
        _ => None,
    };
    let settings = Arc::new(Settings {
        behaviour: args.behaviour,
        tls,
        delay: args
            .delay_ms
            .map_or_else(|| args.behaviour.default_delay(), Duration::from_millis),
        seed: args.seed,
    });
    let idle = Duration::from_secs(args.idle_secs.max(1));
    eprintln!(
        "reconmap-hostile-smtp: {:?} on {} (backlog {backlog}, delay {:?}, seed {})",
        args.behaviour, args.listen, settings.delay, settings.seed
    );
    if args.ready {
        reconmap_lab::announce_ready()?;
    }
    let active = Arc::new(AtomicUsize::new(0));
    let mut number: u64 = 0;
    loop {
        let (stream, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(e) => {
                eprintln!("reconmap-hostile-smtp: accept: {e}");
                // Out of descriptors or similar: do not spin.
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        number += 1;
        if active.load(Ordering::Relaxed) >= args.max_connections {
            eprintln!("reconmap-hostile-smtp: #{number} {peer}: too many connections, closed");
            drop(stream);
        } else {
            let timeouts = stream
                .set_read_timeout(Some(idle))
                .and_then(|()| stream.set_write_timeout(Some(idle)));
            if let Err(e) = timeouts {
                eprintln!("reconmap-hostile-smtp: #{number} {peer}: set timeouts: {e}");
            }
            let guard = Active::enter(&active);
            let settings = Arc::clone(&settings);
            let spawned = std::thread::Builder::new()
                .name(format!("conn-{number}"))
                .spawn(move || {
                    let _guard = guard;
                    match session::serve(stream, &settings) {
                        Ok(ending) => {
                            eprintln!("reconmap-hostile-smtp: #{number} {peer}: {ending:?}");
                        }
                        Err(e) => eprintln!("reconmap-hostile-smtp: #{number} {peer}: {e}"),
                    }
                });
            if let Err(e) = spawned {
                eprintln!("reconmap-hostile-smtp: #{number} {peer}: cannot start thread: {e}");
            }
        }
        if args.behaviour == Behaviour::SmallBacklog {
            std::thread::sleep(settings.delay);
        }
    }
}

/// A listening TCP socket with SO_REUSEADDR and the given accept-queue length.
fn listen(addr: SocketAddr, backlog: i32) -> std::io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    Ok(socket.into())
}

/// Counts a running session; the count drops when the session's thread ends.
struct Active(Arc<AtomicUsize>);

impl Active {
    fn enter(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(Arc::clone(count))
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
