//! Load time and memory of an `AsDb` at real-table size.
//!
//! ```text
//! cargo run --release -p reconmap-asn --example load_figures            # synthetic table
//! cargo run --release -p reconmap-asn --example load_figures -- FILE    # any prefix2as file
//! ```
//!
//! Without an argument it writes a synthetic prefix2as file (1,000,000 IPv4 and 200,000
//! IPv6 prefixes with a length mix like a real BGP table, ~1% multi-origin, 75,000 ASes)
//! plain and gzip'd into a temporary directory, then measures each load in a fresh child
//! process, so the resident-set figures are not blurred by the generator's memory.
use std::collections::HashSet;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::Instant;

use flate2::{write::GzEncoder, Compression};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reconmap_asn::AsDb;

const V4_PREFIXES: usize = 1_000_000;
const V6_PREFIXES: usize = 200_000;
const ASES: u32 = 75_000;
const LOOKUPS: usize = 1_000_000;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let result = match args.get(1) {
        Some(path) => measure(Path::new(path)),
        None => generate_and_measure(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("load_figures: {e}");
            ExitCode::FAILURE
        }
    }
}

type BoxError = Box<dyn std::error::Error>;

fn generate_and_measure() -> Result<(), BoxError> {
    let dir = tempfile::tempdir()?;
    let plain = dir.path().join("synthetic.pfx2as");
    let gz = dir.path().join("synthetic.pfx2as.gz");
    let t = Instant::now();
    let lines = write_synthetic(&plain, &gz)?;
    println!(
        "generated {lines} lines in {:.1?}: plain {:.1} MiB, gzip {:.1} MiB",
        t.elapsed(),
        mib(std::fs::metadata(&plain)?.len()),
        mib(std::fs::metadata(&gz)?.len()),
    );
    let me = std::env::current_exe()?;
    for path in [&plain, &gz] {
        let status = Command::new(&me).arg(path).status()?;
        if !status.success() {
            return Err(format!("measuring {} failed: {status}", path.display()).into());
        }
    }
    Ok(())
}

/// Loads `path` in this (fresh) process and prints time, memory and lookup speed.
fn measure(path: &Path) -> Result<(), BoxError> {
    let rss_before = status_kib("VmRSS")?;
    let t = Instant::now();
    let db = AsDb::load(path)?;
    let load = t.elapsed();
    let rss_after = status_kib("VmRSS")?;
    let peak = status_kib("VmHWM")?;
    println!("{}:", path.display());
    println!(
        "  loaded {} IPv4 + {} IPv6 prefixes, {} distinct origin sets in {:.2?} ({:.0} lines/s)",
        db.ipv4_len(),
        db.ipv6_len(),
        db.origin_set_count(),
        load,
        db.len() as f64 / load.as_secs_f64(),
    );
    println!(
        "  memory: tables {:.1} MiB (mem_size), resident +{:.1} MiB after load, peak RSS {:.1} MiB",
        mib(db.mem_size() as u64),
        (rss_after.saturating_sub(rss_before)) as f64 / 1024.0,
        peak as f64 / 1024.0,
    );

    let mut rng = StdRng::seed_from_u64(7);
    let v4: Vec<IpAddr> = (0..LOOKUPS)
        .map(|_| IpAddr::V4(Ipv4Addr::from(rng.gen::<u32>())))
        .collect();
    let v6: Vec<IpAddr> = (0..LOOKUPS)
        .map(|_| IpAddr::V6(Ipv6Addr::from(rng.gen::<u128>() >> 3 | 1 << 125)))
        .collect();
    for (family, addrs) in [("IPv4", &v4), ("IPv6", &v6)] {
        let t = Instant::now();
        let hits = addrs.iter().filter(|a| !db.origins(**a).is_empty()).count();
        let took = t.elapsed();
        println!(
            "  {LOOKUPS} random {family} lookups in {took:.2?} ({:.1} M/s), {hits} covered",
            LOOKUPS as f64 / took.as_secs_f64() / 1e6,
        );
    }
    Ok(())
}

/// Writes the synthetic table to `plain` and, gzip'd, to `gz`; returns the line count.
fn write_synthetic(plain: &Path, gz: &Path) -> Result<usize, BoxError> {
    let mut rng = StdRng::seed_from_u64(0x5EED);
    let mut out = BufWriter::new(File::create(plain)?);
    let mut zout = GzEncoder::new(BufWriter::new(File::create(gz)?), Compression::fast());
    let mut lines = 0;
    let mut emit = |line: String| -> std::io::Result<()> {
        out.write_all(line.as_bytes())?;
        zout.write_all(line.as_bytes())?;
        lines += 1;
        Ok(())
    };
    emit("# synthetic prefix2as table for load figures\n".to_string())?;

    // IPv4 prefix lengths roughly as in a full BGP table (about 60% /24).
    let v4_lengths: [(u8, u32); 10] = [
        (24, 600),
        (23, 100),
        (22, 120),
        (21, 50),
        (20, 50),
        (19, 30),
        (18, 12),
        (17, 8),
        (16, 22),
        (12, 8),
    ];
    let mut seen = HashSet::with_capacity(V4_PREFIXES);
    while seen.len() < V4_PREFIXES {
        let len = pick(&mut rng, &v4_lengths);
        // 1.0.0.0 ..= 223.255.255.255, host bits cleared.
        let addr = rng.gen_range(0x0100_0000u32..0xE000_0000) & (u32::MAX << (32 - len));
        if seen.insert((addr, len)) {
            let line = format!("{}\t{len}\t{}\n", Ipv4Addr::from(addr), origins(&mut rng));
            emit(line)?;
        }
    }
    drop(seen);

    let v6_lengths: [(u8, u32); 8] = [
        (48, 450),
        (32, 100),
        (44, 90),
        (40, 80),
        (36, 60),
        (29, 50),
        (64, 40),
        (46, 130),
    ];
    let mut seen = HashSet::with_capacity(V6_PREFIXES);
    while seen.len() < V6_PREFIXES {
        let len = pick(&mut rng, &v6_lengths);
        // Inside 2000::/3.
        let raw = rng.gen::<u128>() >> 3 | 1 << 125;
        let addr = raw & (u128::MAX << (128 - u32::from(len)));
        if seen.insert((addr, len)) {
            let line = format!("{}\t{len}\t{}\n", Ipv6Addr::from(addr), origins(&mut rng));
            emit(line)?;
        }
    }
    out.flush()?;
    zout.finish()?.flush()?;
    Ok(lines)
}

/// An origin field: skewed toward small AS indices, ~1% multi-origin, a few AS sets.
fn origins(rng: &mut StdRng) -> String {
    let one = |rng: &mut StdRng| {
        let u: f64 = rng.gen();
        // Skew: many prefixes per big network, one or two for most.
        // Private-use 32-bit ASNs (RFC 6996).
        4_200_000_000 + (u * u * f64::from(ASES)) as u32
    };
    let r: u32 = rng.gen_range(0..1000);
    match r {
        0..=9 => format!("{}_{}", one(rng), one(rng)),
        10 => format!("{},{}", one(rng), one(rng)),
        _ => one(rng).to_string(),
    }
}

fn pick(rng: &mut StdRng, weighted: &[(u8, u32)]) -> u8 {
    let total: u32 = weighted.iter().map(|(_, w)| w).sum();
    let mut x = rng.gen_range(0..total);
    for (len, w) in weighted {
        if x < *w {
            return *len;
        }
        x -= w;
    }
    weighted.first().map_or(24, |(len, _)| *len)
}

/// A `kB` field of /proc/self/status.
fn status_kib(field: &str) -> Result<u64, BoxError> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| format!("no {field} in /proc/self/status").into())
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}
