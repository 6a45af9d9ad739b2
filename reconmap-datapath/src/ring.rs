//! Draining the capture ring buffer with tokio's `AsyncFd`.
use super::DatapathError;
use aya::maps::{MapData, RingBuf};
use reconmap_common::{capture_kind, CaptureHeader, CAPTURE_LEN};
use std::mem::size_of;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// What the kernel program matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaptureKind {
    IcmpError,
    TcpSegment,
    Unknown(u32),
}

/// One captured packet, from its IPv4 header on.
#[derive(Clone, Debug)]
pub struct RawCapture {
    /// Arrival time, CLOCK_MONOTONIC nanoseconds (`bpf_ktime_get_ns`).
    pub ts_ns: u64,
    pub ifindex: u32,
    pub kind: CaptureKind,
    /// Length of the packet from the IP header on (more than `data.len()` when cut).
    pub orig_len: u32,
    pub data: Vec<u8>,
}

/// The ring buffer reader.
pub struct CaptureStream {
    ring: AsyncFd<RingBuf<MapData>>,
    malformed: u64,
}

impl CaptureStream {
    pub(super) fn new(ring: RingBuf<MapData>) -> Result<Self, DatapathError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(DatapathError::Ring(
                "attach the datapath inside a tokio runtime".to_string(),
            ));
        }
        // SAFETY: the RingBuf owns its map fd (an OwnedFd inside MapData) for as long as it
        // lives, and the AsyncFd owns the RingBuf: the fd stays open and the same throughout.
        let ring = unsafe { AsyncFd::register_with_interest(ring, Interest::READABLE) }
            .map_err(|e| DatapathError::Ring(format!("cannot poll the ring buffer: {e}")))?;
        Ok(Self { ring, malformed: 0 })
    }

    /// Records that user space could not make sense of (short or oversized items).
    pub fn malformed(&self) -> u64 {
        self.malformed
    }

    /// Waits for captures and appends up to `max` of them to `out`; returns how many.
    /// Cancel-safe: nothing is taken from the ring until it is readable.
    pub async fn recv_batch(
        &mut self,
        out: &mut Vec<RawCapture>,
        max: usize,
    ) -> Result<usize, DatapathError> {
        loop {
            let mut guard = self
                .ring
                .readable_mut()
                .await
                .map_err(|e| DatapathError::Ring(e.to_string()))?;
            let mut n = 0;
            let mut exhausted = false;
            {
                let ring = guard.get_inner_mut();
                while n < max {
                    let Some(item) = ring.next() else {
                        exhausted = true;
                        break;
                    };
                    match decode(&item) {
                        Some(c) => {
                            out.push(c);
                            n += 1;
                        }
                        None => self.malformed += 1,
                    }
                }
            }
            if exhausted {
                guard.clear_ready();
            }
            if n > 0 {
                return Ok(n);
            }
        }
    }

    /// Takes one capture if one is there, without waiting (readiness is left to
    /// [`recv_batch`](Self::recv_batch), which clears it only when it finds the ring empty).
    pub fn try_next(&mut self) -> Option<RawCapture> {
        loop {
            let item = self.ring.get_mut().next()?;
            match decode(&item) {
                Some(c) => return Some(c),
                None => self.malformed += 1,
            }
        }
    }

    /// Receives one capture.
    pub async fn recv(&mut self) -> Result<RawCapture, DatapathError> {
        let mut v = Vec::with_capacity(1);
        loop {
            self.recv_batch(&mut v, 1).await?;
            if let Some(c) = v.pop() {
                return Ok(c);
            }
        }
    }
}

fn decode(item: &[u8]) -> Option<RawCapture> {
    let hlen = size_of::<CaptureHeader>();
    let head = item.get(..hlen)?;
    // SAFETY: `head` holds exactly size_of::<CaptureHeader>() bytes and CaptureHeader is a
    // plain repr(C) struct of integers, valid for any bit pattern; read_unaligned copes with
    // any alignment.
    let h: CaptureHeader = unsafe { std::ptr::read_unaligned(head.as_ptr().cast()) };
    let len = usize::try_from(h.cap_len).ok()?;
    if len > CAPTURE_LEN {
        return None;
    }
    let data = item.get(hlen..hlen + len)?.to_vec();
    Some(RawCapture {
        ts_ns: h.ts_ns,
        ifindex: h.ifindex,
        kind: match h.kind {
            capture_kind::ICMP_ERROR => CaptureKind::IcmpError,
            capture_kind::TCP_SEGMENT => CaptureKind::TcpSegment,
            k => CaptureKind::Unknown(k),
        },
        orig_len: h.orig_len,
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_items_and_refuses_bad_lengths() {
        let h = CaptureHeader {
            ts_ns: 7,
            ifindex: 3,
            orig_len: 4,
            cap_len: 4,
            kind: capture_kind::TCP_SEGMENT,
        };
        let mut item = vec![0u8; size_of::<CaptureHeader>() + CAPTURE_LEN];
        // SAFETY: the buffer is large enough for the header.
        unsafe { std::ptr::write_unaligned(item.as_mut_ptr().cast(), h) };
        item[size_of::<CaptureHeader>()..][..4].copy_from_slice(b"\x45abc");
        let c = decode(&item).expect("decode");
        assert_eq!(
            (c.ts_ns, c.ifindex, c.kind, c.data.as_slice()),
            (7, 3, CaptureKind::TcpSegment, &b"\x45abc"[..])
        );
        assert!(decode(&item[..10]).is_none());
        let bad = CaptureHeader {
            cap_len: 10_000,
            ..h
        };
        // SAFETY: as above.
        unsafe { std::ptr::write_unaligned(item.as_mut_ptr().cast(), bad) };
        assert!(decode(&item).is_none());
    }
}
