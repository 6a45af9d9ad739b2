//! Bounds-checked packet access shared by both programs (the verifier demands every read be
//! proven inside [data, data_end)), and where the IP header starts on this link.
use core::mem::size_of;
use reconmap_common::layout::{eth, ipv4};
use reconmap_common::link_kind;

/// How the interface frames packets (`reconmap_common::link_kind`), set by user space at load
/// time. Read volatile, so the compiler does not fold the default in.
#[unsafe(no_mangle)]
static LINK_KIND: u32 = link_kind::ETHERNET;

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

/// Where the IPv4 header starts: right away on links without a link-layer header, else after
/// the Ethernet header and up to two VLAN tags (802.1Q, 802.1ad). `None` for anything that is
/// not IPv4.
#[inline(always)]
pub fn ipv4_start(start: usize, end: usize) -> Option<usize> {
    // SAFETY: reading a plain static.
    let kind = unsafe { core::ptr::read_volatile(&LINK_KIND) };
    if kind == link_kind::RAW_IP {
        return Some(0);
    }
    let first: [u8; 2] = read(start, end, eth::ETHERTYPE.start)?;
    let mut ethertype = u16::from_be_bytes(first);
    let mut offset = eth::HLEN;
    // Two tags at most (QinQ); written out so the verifier sees a bounded program.
    if is_vlan(ethertype) {
        let t: [u8; 2] = read(start, end, offset + 2)?;
        ethertype = u16::from_be_bytes(t);
        offset += eth::VLAN_TAG_LEN;
        if is_vlan(ethertype) {
            let t: [u8; 2] = read(start, end, offset + 2)?;
            ethertype = u16::from_be_bytes(t);
            offset += eth::VLAN_TAG_LEN;
        }
    }
    (ethertype == eth::ETHERTYPE_IPV4).then_some(offset)
}

#[inline(always)]
fn is_vlan(ethertype: u16) -> bool {
    ethertype == eth::ETHERTYPE_VLAN || ethertype == eth::ETHERTYPE_QINQ
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
    let h: [u8; ipv4::MIN_HLEN] = read(start, end, offset)?;
    if h[ipv4::VERSION_IHL] >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(h[ipv4::VERSION_IHL] & 0x0f) * 4;
    if ihl < ipv4::MIN_HLEN {
        return None;
    }
    // The whole header (options included) must be present.
    ptr_at::<u8>(start, end, offset + ihl - 1)?;
    let f = ipv4::FLAGS_FRAGMENT.start;
    let frag_offset = (u16::from(h[f] & 0x1f) << 8) | u16::from(h[f + 1]);
    let (s, d) = (ipv4::SRC.start, ipv4::DST.start);
    Some(Ipv4Info {
        ihl,
        protocol: h[ipv4::PROTOCOL],
        later_fragment: frag_offset != 0,
        src: [h[s], h[s + 1], h[s + 2], h[s + 3]],
        dst: [h[d], h[d + 1], h[d + 2], h[d + 3]],
    })
}
