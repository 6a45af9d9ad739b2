//! State-machine tests, smoltcp style: `test_<state>_<event>`, with time injected.
use super::*;
use bytes::Bytes;
use reconmap_wire::{
    FlowAddrs, IpId, ReceivedSegment, TcpFlags, TcpOptions, TcpSegment, TimeToLive,
};
use std::time::{Duration, Instant};

const ISN: u32 = 1000;
const PEER_ISN: u32 = 5000;

fn flow() -> FlowAddrs {
    FlowAddrs {
        local: "198.51.100.2:40000".parse().expect("addr"),
        remote: "192.0.2.25:25".parse().expect("addr"),
    }
}

fn client(t0: Instant) -> TcpClient {
    client_with(t0, |_| {})
}

fn client_with(t0: Instant, tune: impl FnOnce(&mut TcpConfig)) -> TcpClient {
    let mut cfg = TcpConfig::new(flow(), SeqNumber(ISN));
    tune(&mut cfg);
    let mut c = TcpClient::new(cfg);
    c.connect(t0);
    c
}

fn flags(s: &str) -> TcpFlags {
    TcpFlags {
        syn: s.contains('S'),
        fin: s.contains('F'),
        rst: s.contains('R'),
        psh: s.contains('P'),
        ack: s.contains('.'),
        urg: false,
    }
}

/// A segment from the server.
fn from_peer(seq: u32, ack: u32, f: &str, payload: &[u8]) -> ReceivedSegment {
    ReceivedSegment {
        src: flow().remote,
        dst: flow().local,
        ip_ttl: TimeToLive(60),
        ip_id: IpId(1),
        segment: TcpSegment {
            seq: SeqNumber(seq),
            ack: SeqNumber(ack),
            flags: flags(f),
            window: 65535,
            options: TcpOptions::default(),
            payload: Bytes::copy_from_slice(payload),
        },
    }
}

fn syn_ack() -> ReceivedSegment {
    let mut s = from_peer(PEER_ISN, ISN + 1, "S.", b"");
    s.segment.options = TcpOptions {
        mss: Some(1460),
        window_scale: Some(7),
        sack_permitted: true,
        timestamps: Some((77, 1)),
    };
    s
}

fn all(c: &mut TcpClient, now: Instant) -> Vec<TcpSegment> {
    std::iter::from_fn(|| c.dispatch(now)).collect()
}

fn established(t0: Instant) -> TcpClient {
    established_with(t0, |_| {})
}

fn established_with(t0: Instant, tune: impl FnOnce(&mut TcpConfig)) -> TcpClient {
    let mut c = client_with(t0, tune);
    let syn = all(&mut c, t0);
    assert_eq!(syn.len(), 1);
    c.process(t0, &syn_ack());
    let ack = all(&mut c, t0);
    assert_eq!(ack.len(), 1);
    c.take_events();
    c
}

#[test]
fn test_syn_sent_dispatch_sends_linux_like_syn() {
    let t0 = Instant::now();
    let mut c = client(t0);
    let segs = all(&mut c, t0);
    assert_eq!(segs.len(), 1);
    let syn = &segs[0];
    assert!(syn.flags.syn && !syn.flags.ack);
    assert_eq!(syn.seq, SeqNumber(ISN));
    assert_eq!(syn.options.mss, Some(536));
    assert!(syn.options.sack_permitted);
    assert_eq!(syn.options.window_scale, Some(7));
    assert!(syn.options.timestamps.is_some());
    assert_eq!(c.state(), TcpState::SynSent);
}

#[test]
fn test_syn_sent_timeout_retransmits_with_backoff_then_gives_up() {
    let t0 = Instant::now();
    let mut c = client(t0);
    assert_eq!(all(&mut c, t0).len(), 1);
    let mut t = t0;
    let mut gaps = Vec::new();
    while let Some(next) = c.poll_at() {
        gaps.push(next - t);
        t = next;
        let segs = all(&mut c, t);
        if c.state() == TcpState::Closed {
            break;
        }
        assert!(segs.iter().all(|s| s.flags.syn), "{segs:?}");
    }
    assert_eq!(gaps, [1, 2, 4, 8].map(Duration::from_secs));
    assert_eq!(c.take_events(), [TcpEvent::TimedOut]);
}

#[test]
fn test_syn_sent_syn_ack_establishes_and_acks() {
    let t0 = Instant::now();
    let mut c = client(t0);
    all(&mut c, t0);
    c.process(t0, &syn_ack());
    assert_eq!(c.state(), TcpState::Established);
    assert_eq!(
        c.take_events(),
        [TcpEvent::Established {
            server_ttl: TimeToLive(60)
        }]
    );
    let segs = all(&mut c, t0);
    assert_eq!(segs.len(), 1);
    assert!(segs[0].flags.ack && !segs[0].flags.syn);
    assert_eq!(segs[0].ack, SeqNumber(PEER_ISN + 1));
    assert_eq!(segs[0].options.timestamps.map(|t| t.1), Some(77));
    assert_eq!(c.poll_at(), None);
}

#[test]
fn test_syn_sent_rst_refuses() {
    let t0 = Instant::now();
    let mut c = client(t0);
    all(&mut c, t0);
    c.process(t0, &from_peer(0, ISN + 2, "R.", b""));
    assert_eq!(
        c.state(),
        TcpState::SynSent,
        "RST with a wrong ACK is ignored"
    );
    c.process(t0, &from_peer(0, ISN + 1, "R.", b""));
    assert_eq!(c.state(), TcpState::Closed);
    assert_eq!(
        c.take_events(),
        [TcpEvent::Refused {
            ttl: TimeToLive(60)
        }]
    );
}

#[test]
fn test_syn_sent_unacceptable_ack_is_reset_and_the_syn_sent_again() {
    // Found by the scan benchmark: a second scan of the same targets within a minute meets the
    // server's TIME-WAIT of the first (same 4-tuple); the server answers our SYN with an ACK
    // of the old connection, which we ignored until every SYN retry had failed.
    let t0 = Instant::now();
    let mut c = client(t0);
    let syn = all(&mut c, t0);
    assert!(syn[0].flags.syn);
    c.process(t0, &from_peer(777, 4242, ".", b""));
    let out = all(&mut c, t0);
    assert_eq!(out.len(), 2, "{out:?}");
    assert!(out[0].flags.rst && !out[0].flags.ack, "{:?}", out[0].flags);
    assert_eq!(out[0].seq, SeqNumber(4242), "RST at SEG.ACK");
    assert!(
        out[1].flags.syn && out[1].seq == syn[0].seq,
        "the SYN again, at once"
    );
    // A box that answers every SYN with an ACK gets a RST each time, but the SYN is sent
    // again only by the retransmission timer from then on.
    c.process(t0, &from_peer(777, 4243, ".", b""));
    let out = all(&mut c, t0);
    assert_eq!(out.len(), 1, "{out:?}");
    assert!(out[0].flags.rst);
    c.process(t0, &syn_ack());
    assert_eq!(c.state(), TcpState::Established);
}

#[test]
fn test_established_recv_in_order_out_of_order_and_duplicates() {
    let t0 = Instant::now();
    let mut c = established(t0);
    let p = PEER_ISN + 1;
    c.process(t0, &from_peer(p + 5, ISN + 1, ".", b" ESMTP\r\n"));
    assert!(c.recv().is_empty());
    let dup_ack = all(&mut c, t0);
    assert_eq!(dup_ack[0].ack, SeqNumber(p), "out of order: ack the gap");
    c.process(t0, &from_peer(p, ISN + 1, ".", b"220 x"));
    c.process(t0, &from_peer(p, ISN + 1, ".", b"220 x"));
    assert_eq!(&c.recv()[..], b"220 x ESMTP\r\n");
    let acks = all(&mut c, t0);
    assert_eq!(acks.last().map(|s| s.ack), Some(SeqNumber(p + 13)));
}

#[test]
fn test_established_send_data_is_acked_and_retransmitted_on_loss() {
    let t0 = Instant::now();
    let mut c = established(t0);
    c.send(b"EHLO x\r\n").expect("send");
    let segs = all(&mut c, t0);
    assert_eq!(segs.len(), 1);
    assert_eq!(&segs[0].payload[..], b"EHLO x\r\n");
    assert_eq!(segs[0].seq, SeqNumber(ISN + 1));
    // Lost: the timer fires after one RTO and the same bytes go again.
    let t1 = c.poll_at().expect("timer");
    assert_eq!(t1 - t0, Duration::from_secs(1));
    let again = all(&mut c, t1);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].seq, SeqNumber(ISN + 1));
    c.process(t1, &from_peer(PEER_ISN + 1, ISN + 9, ".", b""));
    assert!(c.all_data_acked());
    assert_eq!(
        c.take_events(),
        [TcpEvent::Acked {
            upto: SeqNumber(ISN + 9)
        }]
    );
    assert_eq!(c.poll_at(), None);
}

#[test]
fn test_established_hold_keeps_data_for_the_sweep() {
    let t0 = Instant::now();
    let mut c = established(t0);
    c.hold_retransmit(t0 + Duration::from_secs(5));
    c.send(b"STARTTLS\r\n").expect("send");
    assert!(all(&mut c, t0).is_empty(), "held data is not sent");
    let tpl = c.unacked_data_segment(t0).expect("template");
    assert_eq!(tpl.seq, SeqNumber(ISN + 1));
    assert_eq!(&tpl.payload[..], b"STARTTLS\r\n");
    assert!(tpl.flags.psh && tpl.flags.ack);
    // The server acks a sweep copy: accepted although TCP itself never sent the bytes.
    c.process(t0, &from_peer(PEER_ISN + 1, ISN + 11, ".", b"220 go\r\n"));
    assert!(c.all_data_acked());
    assert_eq!(&c.recv()[..], b"220 go\r\n");
}

#[test]
fn test_established_hold_released_sends_data() {
    let t0 = Instant::now();
    let mut c = established(t0);
    let end = t0 + Duration::from_millis(300);
    c.hold_retransmit(end);
    c.send(b"STARTTLS\r\n").expect("send");
    assert!(all(&mut c, t0).is_empty());
    assert_eq!(c.poll_at(), Some(end));
    let segs = all(&mut c, end);
    assert_eq!(segs.len(), 1);
    assert_eq!(&segs[0].payload[..], b"STARTTLS\r\n");
}

#[test]
fn test_established_rst_in_order_resets_and_out_of_order_is_challenged() {
    let t0 = Instant::now();
    let mut c = established(t0);
    c.process(t0, &from_peer(PEER_ISN + 100, 0, "R", b""));
    assert_eq!(c.state(), TcpState::Established);
    let challenge = all(&mut c, t0);
    assert_eq!(challenge.len(), 1, "challenge ACK");
    let mut rst = from_peer(PEER_ISN + 1, 0, "R", b"");
    rst.ip_ttl = TimeToLive(61);
    c.process(t0, &rst);
    assert_eq!(c.state(), TcpState::Closed);
    assert_eq!(
        c.take_events(),
        [TcpEvent::Reset {
            ttl: TimeToLive(61),
            at: t0
        }]
    );
}

#[test]
fn test_established_close_fin_handshake() {
    let t0 = Instant::now();
    let mut c = established(t0);
    c.send(b"QUIT\r\n").expect("send");
    c.close(t0);
    let segs = all(&mut c, t0);
    assert_eq!(segs.len(), 2);
    assert!(segs[1].flags.fin);
    assert_eq!(segs[1].seq, SeqNumber(ISN + 7));
    assert_eq!(c.state(), TcpState::FinWait1);
    c.process(t0, &from_peer(PEER_ISN + 1, ISN + 8, ".", b"221 bye\r\n"));
    assert_eq!(c.state(), TcpState::FinWait2);
    c.process(t0, &from_peer(PEER_ISN + 10, ISN + 8, "F.", b""));
    assert_eq!(c.state(), TcpState::TimeWait);
    assert_eq!(&c.recv()[..], b"221 bye\r\n");
    let ack = all(&mut c, t0);
    assert_eq!(ack.last().map(|s| s.ack), Some(SeqNumber(PEER_ISN + 11)));
    let end = c.poll_at().expect("time-wait timer");
    all(&mut c, end);
    assert_eq!(c.state(), TcpState::Closed);
}

#[test]
fn test_established_peer_fin_then_close() {
    let t0 = Instant::now();
    let mut c = established(t0);
    c.process(t0, &from_peer(PEER_ISN + 1, ISN + 1, "F.", b"421 bye\r\n"));
    assert_eq!(c.state(), TcpState::CloseWait);
    assert!(c.take_events().contains(&TcpEvent::PeerClosed));
    c.close(t0);
    let segs = all(&mut c, t0);
    assert!(segs.iter().any(|s| s.flags.fin));
    assert_eq!(c.state(), TcpState::LastAck);
    c.process(t0, &from_peer(PEER_ISN + 11, ISN + 2, ".", b""));
    assert_eq!(c.state(), TcpState::Closed);
}

#[test]
fn test_fin_wait1_lost_fin_is_retransmitted() {
    let t0 = Instant::now();
    let mut c = established(t0);
    c.close(t0);
    assert!(all(&mut c, t0)[0].flags.fin);
    let t1 = c.poll_at().expect("timer");
    let again = all(&mut c, t1);
    assert_eq!(again.len(), 1);
    assert!(again[0].flags.fin);
    assert_eq!(again[0].seq, SeqNumber(ISN + 1));
}

#[test]
fn test_established_abort_sends_rst() {
    let t0 = Instant::now();
    let mut c = established(t0);
    let rsts = c.abort();
    assert_eq!(rsts.len(), 1, "nothing outstanding: one RST");
    assert!(rsts[0].flags.rst);
    assert_eq!(rsts[0].seq, SeqNumber(ISN + 1));
    assert_eq!(c.state(), TcpState::Closed);
    assert!(c.abort().is_empty());
}

#[test]
fn test_established_abort_with_data_in_flight_resets_both_possible_sequences() {
    // Whether the peer got the data or not, one of the two RSTs carries exactly the sequence
    // number it expects next (RFC 5961 ignores the other with a challenge ACK).
    let t0 = Instant::now();
    let mut c = established(t0);
    c.send(b"STARTTLS\r\n").expect("send");
    all(&mut c, t0);
    let seqs: Vec<SeqNumber> = c.abort().iter().map(|s| s.seq).collect();
    assert_eq!(seqs, [SeqNumber(ISN + 1), SeqNumber(ISN + 11)]);
}

#[test]
fn test_closed_ignores_segments_of_other_flows() {
    let t0 = Instant::now();
    let mut c = client(t0);
    all(&mut c, t0);
    let mut other = syn_ack();
    other.src = "192.0.2.26:25".parse().expect("addr");
    c.process(t0, &other);
    assert_eq!(c.state(), TcpState::SynSent);
}

/// A seeded lossy link: data and ACKs are dropped at random; the transfer still completes
/// and delivers the bytes exactly once, in order.
#[test]
fn test_established_lossy_link_simulation() {
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut rand = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _round in 0..20 {
        let t0 = Instant::now();
        let mut c = established_with(t0, |cfg| cfg.data_retries = 100);
        let msg: Vec<u8> = (0..2000u32).map(|i| (i % 251) as u8).collect();
        c.send(&msg).expect("send");
        let mut got = Vec::<u8>::new();
        let mut expected_seq = ISN + 1;
        let mut t = t0;
        for _ in 0..200 {
            for seg in all(&mut c, t) {
                if rand() % 3 == 0 || seg.payload.is_empty() {
                    continue; // lost
                }
                if seg.seq == SeqNumber(expected_seq) {
                    got.extend_from_slice(&seg.payload);
                    expected_seq += seg.payload.len() as u32;
                }
                if rand() % 3 != 0 {
                    c.process(t, &from_peer(PEER_ISN + 1, expected_seq, ".", b""));
                }
            }
            if c.all_data_acked() {
                break;
            }
            t = c.poll_at().unwrap_or(t + Duration::from_millis(10)).max(t);
        }
        assert_eq!(got, msg);
    }
}

#[test]
fn test_established_acked_copy_repeats_acknowledged_bytes_before_snd_una() {
    let t0 = Instant::now();
    let mut c = established(t0);
    assert!(c.acked_copy_segment(t0, 4).is_none());
    c.send(b"EHLO x\r\n").expect("send");
    let _ = all(&mut c, t0);
    c.process(t0, &from_peer(PEER_ISN + 1, ISN + 9, ".", b""));
    let copy = c.acked_copy_segment(t0, 5).expect("copy");
    assert_eq!(&copy.payload[..], b"O x\r\n");
    assert_eq!(copy.seq, SeqNumber(ISN + 9 - 5));
    assert!(copy.flags.ack && copy.flags.psh);
    assert!(
        c.acked_copy_segment(t0, 9).is_none(),
        "only 8 bytes were acknowledged"
    );
}

#[test]
fn test_established_reserved_timestamps_stay_below_later_segments() {
    let t0 = Instant::now();
    let mut c = established(t0);
    let first = c
        .reserve_timestamps(t0, 100)
        .expect("timestamps negotiated");
    c.send(b"QUIT\r\n").expect("send");
    let segs = all(&mut c, t0);
    let (val, ecr) = segs[0].options.timestamps.expect("ts");
    assert!(val >= first + 100, "{val} after block {first}+100");
    assert_eq!(ecr, 77);
    let mut no_ts = established_with(t0, |cfg| cfg.timestamps = false);
    assert_eq!(no_ts.reserve_timestamps(t0, 10), None);
}
