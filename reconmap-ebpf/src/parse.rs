//! Bounds-checked packet access shared by both programs (the verifier demands every read be
//! proven inside [data, data_end)).
use core::mem::size_of;

pub const ETH_HLEN: usize = 14;
pub const ETH_P_IP: u16 = 0x0800;
pub const IPPROTO_ICMP: u8 = 1;
pub const IPPROTO_TCP: u8 = 6;

/// A pointer to a `T` at `offset` from `start`, if the whole `T` lies before `end`.
#[inline(always)]
pub fn ptr_at<T>(start: usize, end: usize, offset: usize) -> Option<*const T> {
    let p = start.checked_add(offset)?;
    if p.checked_add(size_of::<T>())? > end {
        return None;
    }
    Some(p as *const T)
}

/// Reads a `T` (unaligned) at `offset`.
#[inline(always)]
pub fn read<T: Copy>(start: usize, end: usize, offset: usize) -> Option<T> {
    let p = ptr_at::<T>(start, end, offset)?;
    // SAFETY: `ptr_at` proved the bytes lie within the packet.
    Some(unsafe { core::ptr::read_unaligned(p) })
}

/// IPv4 header facts: length of the header and whether this is a non-first fragment.
#[derive(Clone, Copy)]
pub struct Ipv4Info {
    pub ihl: usize,
    pub protocol: u8,
    pub later_fragment: bool,
    pub src: [u8; 4],
    pub dst: [u8; 4],
}

/// Parses the IPv4 header at `offset`; `None` for anything that is not a sane IPv4 header.
///
/// The fixed 20 bytes are read with one bounds check first; the options are checked separately.
/// (With the fields read one by one, LLVM drops their checks as implied by the IHL check, and
/// the verifier, which tracks that check on another register, rejects the loads.)
#[inline(always)]
pub fn ipv4_at(start: usize, end: usize, offset: usize) -> Option<Ipv4Info> {
    let h: [u8; 20] = read(start, end, offset)?;
    if h[0] >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(h[0] & 0x0f) * 4;
    if ihl < 20 {
        return None;
    }
    // The whole header (options included) must be present.
    ptr_at::<u8>(start, end, offset + ihl - 1)?;
    let frag_offset = (u16::from(h[6] & 0x1f) << 8) | u16::from(h[7]);
    Some(Ipv4Info {
        ihl,
        protocol: h[9],
        later_fragment: frag_offset != 0,
        src: [h[12], h[13], h[14], h[15]],
        dst: [h[16], h[17], h[18], h[19]],
    })
}
