//! `reconmap_wire::diff_quote(sent, quote)`: arbitrary pairs, and real probe datagrams against
//! mutated and truncated copies of themselves.
//!
//! Input: a flags byte. Bit 0 clear: two bytes give where the rest splits into `sent` and the
//! quote. Bit 0 set: a probe datagram built with `build_ipv4_tcp` from the next bytes (ports,
//! sequence and acknowledgment numbers, TCP flags, window, options, TTL, IP ID, TOS, up to 79
//! bytes of payload), then up to 7 mutations (offset, XOR mask) and how many bytes to cut off
//! the end; bit 1 set confines the mutations to what a router changes (IP TTL and checksum).
//!
//! Properties: no panic; `quote_len` is the quote's length; anything diffed against itself shows
//! no change; a copy whose headers are unchanged except TTL and IP checksum shows no field
//! change, and its payload is `Intact` when equal to what was sent (as far as it is quoted),
//! `Modified` with the quoted bytes when not, `Short` when the quote ends before the payload.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reconmap_fuzz::Input;
use reconmap_wire::{
    build_ipv4_tcp, diff_quote, FlowAddrs, IpId, IpParams, PayloadStatus, Quote, SeqNumber,
    TcpFlags, TcpOptions, TcpSegment, TimeToLive,
};

/// What a router rewrites in a datagram it quotes: the TTL and the header checksum.
const ROUTER_FIELDS: [usize; 3] = [8, 10, 11];

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let flags = input.u8();
    if flags & 1 == 0 {
        arbitrary_pair(input);
    } else {
        mutated_probe(input, flags & 2 != 0);
    }
});

fn assert_no_change_against_itself(bytes: &[u8]) {
    let d = diff_quote(bytes, &Quote::new(bytes));
    assert!(d.changes.is_empty(), "self diff: {:?}", d.changes);
    assert!(
        matches!(d.payload, PayloadStatus::Intact | PayloadStatus::Short),
        "self diff: {:?}",
        d.payload
    );
}

fn arbitrary_pair(mut input: Input<'_>) {
    let at = usize::from(input.u16());
    let rest = input.rest();
    let (sent, quoted) = rest.split_at(at % (rest.len() + 1));
    let quote = Quote::new(quoted);
    let d = diff_quote(sent, &quote);
    assert_eq!(d.quote_len, quoted.len());
    if let PayloadStatus::Modified { quoted: q } = &d.payload {
        assert_eq!(
            Some(q.as_slice()),
            quote.tcp_payload(),
            "modified bytes not the quote's"
        );
    }
    assert_no_change_against_itself(sent);
    assert_no_change_against_itself(quoted);
}

fn probe(input: &mut Input<'_>) -> Option<Vec<u8>> {
    let flow = FlowAddrs {
        local: std::net::SocketAddrV4::new([198, 51, 100, 2].into(), input.u16()),
        remote: std::net::SocketAddrV4::new([192, 0, 2, 25].into(), input.u16()),
    };
    let seq = SeqNumber(input.u32());
    let ack = SeqNumber(input.u32());
    let f = input.u8();
    let window = input.u16();
    let o = input.u8();
    let options = TcpOptions {
        mss: (o & 1 != 0).then(|| input.u16()),
        window_scale: (o & 2 != 0).then(|| input.u8()),
        sack_permitted: o & 4 != 0,
        timestamps: (o & 8 != 0).then(|| (input.u32(), input.u32())),
    };
    let ip = IpParams {
        ttl: TimeToLive(input.u8()),
        id: IpId(input.u16()),
        dont_fragment: o & 16 != 0,
        tos: input.u8(),
    };
    let payload_len = usize::from(input.u8() % 80);
    let seg = TcpSegment {
        seq,
        ack,
        flags: TcpFlags {
            fin: f & 1 != 0,
            syn: f & 2 != 0,
            rst: f & 4 != 0,
            psh: f & 8 != 0,
            ack: f & 16 != 0,
            urg: false,
        },
        window,
        options,
        payload: input.take(payload_len).to_vec().into(),
    };
    build_ipv4_tcp(&flow, &ip, &seg).ok()
}

fn mutated_probe(mut input: Input<'_>, router_fields_only: bool) {
    let Some(sent) = probe(&mut input) else {
        return;
    };
    let mut copy = sent.clone();
    for _ in 0..input.u8() % 8 {
        let at = usize::from(input.u16());
        let mask = input.u8();
        let at = if router_fields_only {
            ROUTER_FIELDS[at % ROUTER_FIELDS.len()]
        } else {
            at % copy.len()
        };
        copy[at] ^= mask;
    }
    let keep = copy.len() - usize::from(input.u8()).min(copy.len());
    copy.truncate(keep);

    let d = diff_quote(&sent, &Quote::new(&copy));
    assert_eq!(d.quote_len, copy.len());

    let header_len = 20 + usize::from(sent[32] >> 4) * 4;
    let headers_as_sent =
        (0..keep.min(header_len)).all(|i| ROUTER_FIELDS.contains(&i) || copy[i] == sent[i]);
    if !headers_as_sent {
        return;
    }
    assert!(d.changes.is_empty(), "headers as sent, yet {:?}", d.changes);
    // No payload quoted: `short`, or `checksum_unchanged` when the quote shows the checksum
    // as sent and the sent datagram had nothing beyond its header.
    if copy.get(header_len..).is_none_or(<[u8]>::is_empty)
        && d.payload == PayloadStatus::ChecksumUnchanged
    {
        assert!(keep >= 20 + 18, "checksum_unchanged from {keep} bytes");
        return;
    }
    let expected = match copy.get(header_len..) {
        None | Some([]) => PayloadStatus::Short,
        Some(quoted) if quoted == &sent[header_len..keep] => PayloadStatus::Intact,
        Some(quoted) => PayloadStatus::Modified {
            quoted: quoted.to_vec(),
        },
    };
    assert_eq!(d.payload, expected, "sent {sent:02x?}\nquote {copy:02x?}");
}
