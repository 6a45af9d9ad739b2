//! How reply bytes leave the socket: whole, one byte at a time, cut into seeded pieces, in
//! one segment with the FIN, or not at all (a RST).
use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use reconmap_lab::seeded::SeededRng;
use socket2::SockRef;

/// How replies are paced onto the wire.
#[derive(Debug, Clone)]
pub enum Pacing {
    /// One write per reply.
    Whole,
    /// One write (and, with TCP_NODELAY, one segment) per byte, this far apart.
    Drip(Duration),
    /// Each reply cut at seeded positions into 2-4 writes, this far apart.
    Split { rng: SeededRng, gap: Duration },
}

/// The sending side of one connection.
pub struct Output<'a> {
    stream: &'a TcpStream,
    pacing: Pacing,
}

impl<'a> Output<'a> {
    /// Output on `stream`; drip and split turn Nagle off so that every write is a segment.
    pub fn new(stream: &'a TcpStream, pacing: Pacing) -> std::io::Result<Self> {
        if !matches!(pacing, Pacing::Whole) {
            stream.set_nodelay(true)?;
        }
        Ok(Self { stream, pacing })
    }

    /// Sends one reply with this connection's pacing.
    pub fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let mut stream = self.stream;
        match &mut self.pacing {
            Pacing::Whole => stream.write_all(bytes),
            Pacing::Drip(pause) => {
                for (i, byte) in bytes.iter().enumerate() {
                    if i > 0 {
                        std::thread::sleep(*pause);
                    }
                    stream.write_all(std::slice::from_ref(byte))?;
                }
                Ok(())
            }
            Pacing::Split { rng, gap } => {
                let mut start = 0;
                for end in split_points(rng, bytes.len())
                    .into_iter()
                    .chain([bytes.len()])
                {
                    if start > 0 {
                        std::thread::sleep(*gap);
                    }
                    stream.write_all(bytes.get(start..end).unwrap_or_default())?;
                    start = end;
                }
                Ok(())
            }
        }
    }

    /// Sends `bytes` and the FIN in one segment: cork, write, shut the write side, uncork.
    pub fn send_with_fin(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let sock = SockRef::from(self.stream);
        sock.set_tcp_cork(true)?;
        let mut stream = self.stream;
        stream.write_all(bytes)?;
        self.stream.shutdown(Shutdown::Write)?;
        sock.set_tcp_cork(false)
    }
}

/// Closes `stream` with SO_LINGER 0, so the kernel sends a RST instead of a FIN.
pub fn reset(stream: TcpStream) -> std::io::Result<()> {
    SockRef::from(&stream).set_linger(Some(Duration::ZERO))?;
    drop(stream);
    Ok(())
}

/// Where a reply of `len` bytes is cut: 1-3 distinct positions in `1..len`, ascending (none
/// for replies shorter than 2 bytes).
pub fn split_points(rng: &mut SeededRng, len: usize) -> Vec<usize> {
    if len < 2 {
        return Vec::new();
    }
    let wanted = rng.below(1, 4).min(len - 1);
    let mut points = Vec::with_capacity(wanted);
    while points.len() < wanted {
        let p = rng.below(1, len);
        if !points.contains(&p) {
            points.push(p);
        }
    }
    points.sort_unstable();
    points
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_points_are_inside_distinct_sorted_and_seeded() {
        let mut rng = SeededRng::new(3);
        for len in 0..200 {
            let p = split_points(&mut rng, len);
            if len < 2 {
                assert!(p.is_empty());
                continue;
            }
            assert!(!p.is_empty() && p.len() <= 3);
            assert!(p.windows(2).all(|w| w[0] < w[1]), "{p:?}");
            assert!(p.iter().all(|&x| x > 0 && x < len), "{p:?} in {len}");
        }
        let a = split_points(&mut SeededRng::new(9), 23);
        let b = split_points(&mut SeededRng::new(9), 23);
        assert_eq!(a, b);
    }
}
