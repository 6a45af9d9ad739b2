//! `reconmap-delay`: link delay and loss for the lab, for kernels without `sch_netem`.
//!
//! Runs in one lab namespace and takes the packets an iptables `NFQUEUE` rule in that
//! namespace's mangle POSTROUTING chain hands it (everything leaving the node: forwarded and
//! locally generated), holds each for `--delay-ms`, drops `--loss-percent` of them at random,
//! and releases the rest in arrival order. One such hop per link direction gives the lab's
//! "delay per link". Ends on SIGTERM/SIGINT; the rule uses `--queue-bypass`, so packets flow
//! undelayed when no delayer is running.
use std::collections::VecDeque;
use std::time::{Duration, Instant};

struct Args {
    queue: u16,
    delay: Duration,
    loss_percent: f64,
    seed: u64,
    ready: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        queue: 0,
        delay: Duration::from_millis(20),
        loss_percent: 0.0,
        seed: 1,
        ready: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--ready" {
            a.ready = true;
            continue;
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--queue" => a.queue = value.parse().map_err(|e| bad(&e))?,
            "--delay-ms" => a.delay = Duration::from_millis(value.parse().map_err(|e| bad(&e))?),
            "--loss-percent" => a.loss_percent = value.parse().map_err(|e| bad(&e))?,
            "--seed" => a.seed = value.parse().map_err(|e| bad(&e))?,
            other => return Err(format!("unknown option {other}")),
        }
    }
    if !(0.0..=100.0).contains(&a.loss_percent) {
        return Err("--loss-percent must be within 0-100".to_string());
    }
    Ok(a)
}

fn main() {
    if let Err(e) = run() {
        eprintln!("reconmap-delay: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let args = parse_args()?;
    let mut queue = nfq::Queue::open().map_err(|e| format!("cannot open NFQUEUE: {e}"))?;
    queue
        .bind(args.queue)
        .map_err(|e| format!("cannot bind queue {}: {e}", args.queue))?;
    queue.set_nonblocking(true);
    if args.ready {
        reconmap_lab::announce_ready()?;
    }
    let mut held: VecDeque<(Instant, nfq::Message)> = VecDeque::new();
    let mut rng = args.seed.max(1);
    loop {
        // Take everything that arrived.
        loop {
            match queue.recv() {
                Ok(mut msg) => {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    let roll = (rng % 10_000) as f64 / 100.0;
                    if roll < args.loss_percent {
                        msg.set_verdict(nfq::Verdict::Drop);
                        queue.verdict(msg).map_err(|e| format!("verdict: {e}"))?;
                    } else {
                        held.push_back((Instant::now() + args.delay, msg));
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(format!("receive: {e}")),
            }
        }
        // Release what is due, in order.
        let now = Instant::now();
        while held.front().is_some_and(|(due, _)| *due <= now) {
            if let Some((_, mut msg)) = held.pop_front() {
                msg.set_verdict(nfq::Verdict::Accept);
                queue.verdict(msg).map_err(|e| format!("verdict: {e}"))?;
            }
        }
        // The queue offers no descriptor to poll: check again within a millisecond (or when
        // the next packet is due, if sooner).
        let wait = held
            .front()
            .map_or(Duration::from_millis(1), |(due, _)| {
                due.saturating_duration_since(now)
            })
            .min(Duration::from_millis(1));
        std::thread::sleep(wait);
    }
}
