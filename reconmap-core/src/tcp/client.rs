//! The TCP client state machine.
use super::reassembly::Reassembly;
use super::{TcpConfig, TcpError, TcpEvent, TcpState};
use bytes::{Bytes, BytesMut};
use reconmap_wire::{ReceivedSegment, SeqNumber, TcpFlags, TcpOptions, TcpSegment};
use std::time::{Duration, Instant};

/// Most bytes `send` queues before refusing more.
const SEND_BUFFER: usize = 64 * 1024;
/// Acknowledged bytes kept for copies of them (the sweep's control segments).
const ACKED_TAIL: usize = 64;

/// A TCP client connection (see the module docs).
#[derive(Debug)]
pub struct TcpClient {
    cfg: TcpConfig,
    state: TcpState,
    created: Option<Instant>,
    // Send side.
    snd_una: SeqNumber,
    snd_nxt: SeqNumber,
    snd_wnd: u32,
    send_mss: usize,
    /// Data from `snd_una` on (acked bytes are dropped), not counting SYN/FIN.
    send_buf: BytesMut,
    /// The last acknowledged bytes (up to [`ACKED_TAIL`]), ending at `snd_una`.
    acked_tail: BytesMut,
    syn_sent: bool,
    fin_queued: bool,
    /// Sequence number of our FIN once it has been sent.
    fin_seq: Option<SeqNumber>,
    /// Latest time seen, for `poll_at` when work is due at once.
    last_now: Option<Instant>,
    // Receive side.
    recv: Option<Reassembly>,
    ack_pending: bool,
    peer_wscale: Option<u8>,
    ts_enabled: bool,
    ts_recent: u32,
    // Timers.
    rto: Duration,
    retries: u8,
    rtx_at: Option<Instant>,
    hold_until: Option<Instant>,
    time_wait_until: Option<Instant>,
    /// In SYN-SENT, an ACK for something we never sent (the server still holds an old
    /// connection of this 4-tuple, e.g. in TIME-WAIT after an earlier probe): the RST that
    /// clears it (RFC 9293 3.10.7.3), sent with the next dispatch.
    reset_pending: Option<SeqNumber>,
    /// Whether the SYN was already sent again at once after such a RST (once per connection,
    /// so a box answering every SYN with an ACK cannot make us loop).
    syn_resent_after_reset: bool,
    events: Vec<TcpEvent>,
}

impl TcpClient {
    pub fn new(cfg: TcpConfig) -> Self {
        let isn = cfg.isn;
        let rto = cfg.initial_rto;
        Self {
            cfg,
            state: TcpState::Closed,
            created: None,
            snd_una: isn,
            snd_nxt: isn,
            snd_wnd: 0,
            send_mss: 536,
            send_buf: BytesMut::new(),
            acked_tail: BytesMut::new(),
            syn_sent: false,
            fin_queued: false,
            fin_seq: None,
            last_now: None,
            recv: None,
            ack_pending: false,
            peer_wscale: None,
            ts_enabled: false,
            ts_recent: 0,
            rto,
            retries: 0,
            rtx_at: None,
            hold_until: None,
            time_wait_until: None,
            reset_pending: None,
            syn_resent_after_reset: false,
            events: Vec::new(),
        }
    }

    pub fn state(&self) -> TcpState {
        self.state
    }

    /// Starts the handshake: the SYN comes out of the next [`dispatch`](Self::dispatch).
    pub fn connect(&mut self, now: Instant) {
        if self.state == TcpState::Closed && !self.syn_sent {
            self.created = Some(now);
            self.last_now = Some(now);
            self.state = TcpState::SynSent;
        }
    }

    /// Queues data; returns the sequence number of its first byte.
    pub fn send(&mut self, data: &[u8]) -> Result<SeqNumber, TcpError> {
        match self.state {
            TcpState::SynSent | TcpState::Established | TcpState::CloseWait if !self.fin_queued => {
            }
            s => return Err(TcpError::InvalidState(s)),
        }
        if self.send_buf.len() + data.len() > SEND_BUFFER {
            return Err(TcpError::BufferFull(SEND_BUFFER));
        }
        let first = self.data_start() + self.send_buf.len();
        self.send_buf.extend_from_slice(data);
        Ok(first)
    }

    /// Sends FIN after the queued data.
    pub fn close(&mut self, _now: Instant) {
        match self.state {
            TcpState::SynSent => self.state = TcpState::Closed,
            TcpState::Established | TcpState::CloseWait => self.fin_queued = true,
            _ => {}
        }
    }

    /// Ends the connection at once; returns the RSTs to send (none if the peer never knew of
    /// us). A RST resets the peer only when its sequence number is exactly what the peer
    /// expects next (RFC 5961; others get a challenge ACK), and with data in flight we cannot
    /// know whether it arrived: so one RST at the first unacknowledged byte and, when data or
    /// a FIN is outstanding, one just past everything sent.
    pub fn abort(&mut self) -> Vec<TcpSegment> {
        let synchronized = !matches!(
            self.state,
            TcpState::Closed | TcpState::SynSent | TcpState::TimeWait
        );
        let fin_out = self.fin_seq.is_some() && !self.fin_acked();
        let snd_max = self.snd_una + self.send_buf.len() + usize::from(fin_out);
        self.state = TcpState::Closed;
        self.rtx_at = None;
        if !synchronized {
            return Vec::new();
        }
        let rst = |seq| TcpSegment {
            seq,
            ack: self.rcv_nxt(),
            flags: TcpFlags {
                rst: true,
                ack: true,
                ..TcpFlags::default()
            },
            window: 0,
            options: TcpOptions::default(),
            payload: Bytes::new(),
        };
        let mut out = vec![rst(self.snd_una)];
        if snd_max != self.snd_una {
            out.push(rst(snd_max));
        }
        out
    }

    /// Keeps data from being (re)transmitted until `until`: the TTL sweep sends its own copies
    /// of the segment meanwhile. Pure ACKs, SYN and FIN are not held.
    pub fn hold_retransmit(&mut self, until: Instant) {
        self.hold_until = Some(until);
    }

    /// Sends a duplicate ACK now (with the next dispatch). When the server's accept queue was
    /// full, its kernel dropped the handshake's ACK (SYN cookies) and waits for another one:
    /// this is that one.
    pub fn reacknowledge(&mut self) {
        if self.synchronized() {
            self.ack_pending = true;
        }
    }

    /// Whether everything queued has been acknowledged.
    pub fn all_data_acked(&self) -> bool {
        self.send_buf.is_empty()
    }

    /// The first unacknowledged data segment as a (re)transmission would carry it now.
    pub fn unacked_data_segment(&self, now: Instant) -> Option<TcpSegment> {
        if self.send_buf.is_empty() || !self.synchronized() {
            return None;
        }
        let len = self.send_buf.len().min(self.send_mss);
        Some(self.data_segment(now, self.data_start(), self.send_buf.get(..len)?))
    }

    /// A segment carrying a copy of the last `len` bytes the peer already acknowledged (ending
    /// at the first unacknowledged byte), as a retransmission would carry them now. The peer
    /// takes it as a duplicate and drops it; boxes on the way see an ordinary retransmission.
    /// `None` when fewer bytes than that were acknowledged.
    pub fn acked_copy_segment(&self, now: Instant, len: usize) -> Option<TcpSegment> {
        if !self.synchronized() || len == 0 || self.acked_tail.len() < len {
            return None;
        }
        let bytes = self.acked_tail.get(self.acked_tail.len() - len..)?;
        let seq = SeqNumber(self.snd_una.0.wrapping_sub(u32::try_from(len).ok()?));
        Some(self.data_segment(now, seq, bytes))
    }

    /// A segment of `len` zero bytes just before the first unacknowledged byte: to the peer an
    /// old duplicate (entirely before what it expects next), dropped and acknowledged again,
    /// whatever it carries. `None` before the handshake.
    pub fn old_data_segment(&self, now: Instant, len: usize) -> Option<TcpSegment> {
        if !self.synchronized() || len == 0 {
            return None;
        }
        let seq = SeqNumber(self.snd_una.0.wrapping_sub(u32::try_from(len).ok()?));
        Some(self.data_segment(now, seq, &vec![0; len]))
    }

    /// Reserves `n` TCP timestamp values from now on for segments sent outside the state
    /// machine (the sweep's probes): returns the first, and moves the clock so that every
    /// later segment carries a larger one (the peer's PAWS check never sees it go back).
    /// `None` when the connection does not use timestamps.
    pub fn reserve_timestamps(&mut self, now: Instant, n: u32) -> Option<u32> {
        if !self.ts_enabled {
            return None;
        }
        let first = self.ts_val(now);
        self.cfg.ts_offset = self.cfg.ts_offset.wrapping_add(n);
        Some(first)
    }

    /// Takes the in-order data received so far.
    pub fn recv(&mut self) -> Bytes {
        self.recv.as_mut().map(Reassembly::take).unwrap_or_default()
    }

    /// Whether events wait to be taken.
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    pub fn take_events(&mut self) -> Vec<TcpEvent> {
        std::mem::take(&mut self.events)
    }

    /// When [`dispatch`](Self::dispatch) wants to be called again.
    pub fn poll_at(&self) -> Option<Instant> {
        if self.state == TcpState::Closed {
            return None;
        }
        let held = match (self.hold_until, self.last_now) {
            (Some(h), Some(n)) => n < h,
            _ => false,
        };
        let sendable = self.has_unsent_data() && !held;
        let fin_due = self.fin_queued && self.fin_seq.is_none() && !self.has_unsent_data();
        if self.ack_pending
            || (self.state == TcpState::SynSent && !self.syn_sent)
            || sendable
            || fin_due
        {
            return self.last_now;
        }
        let hold = self.hold_until.filter(|_| self.has_unsent_data());
        [self.rtx_at, self.time_wait_until, hold]
            .into_iter()
            .flatten()
            .min()
    }

    fn synchronized(&self) -> bool {
        !matches!(self.state, TcpState::Closed | TcpState::SynSent)
    }

    /// Sequence number of the first byte in `send_buf`.
    fn data_start(&self) -> SeqNumber {
        if self.synchronized() || self.snd_una != self.cfg.isn {
            self.snd_una
        } else {
            self.cfg.isn + 1
        }
    }

    fn rcv_nxt(&self) -> SeqNumber {
        self.recv.as_ref().map_or(SeqNumber(0), Reassembly::next)
    }

    fn has_unsent_data(&self) -> bool {
        let sent = usize::try_from((self.snd_nxt - self.snd_una).max(0)).unwrap_or(0);
        self.send_buf.len() > sent
    }

    fn held(&self, now: Instant) -> bool {
        self.hold_until.is_some_and(|h| now < h)
    }

    fn ts_val(&self, now: Instant) -> u32 {
        let ms = self
            .created
            .map_or(0, |c| now.saturating_duration_since(c).as_millis());
        self.cfg.ts_offset.wrapping_add(ms as u32)
    }

    fn window_field(&self) -> u16 {
        let free = self
            .recv
            .as_ref()
            .map_or(self.cfg.recv_buffer, Reassembly::window);
        let shift = if self.peer_wscale.is_some() {
            self.cfg.window_scale
        } else {
            0
        };
        u16::try_from(free >> shift).unwrap_or(u16::MAX)
    }

    fn data_segment(&self, now: Instant, seq: SeqNumber, data: &[u8]) -> TcpSegment {
        TcpSegment {
            seq,
            ack: self.rcv_nxt(),
            flags: TcpFlags {
                ack: true,
                psh: true,
                ..TcpFlags::default()
            },
            window: self.window_field(),
            options: self.segment_options(now),
            payload: Bytes::copy_from_slice(data),
        }
    }

    fn segment_options(&self, now: Instant) -> TcpOptions {
        TcpOptions {
            timestamps: self.ts_enabled.then(|| (self.ts_val(now), self.ts_recent)),
            ..TcpOptions::default()
        }
    }

    fn arm_timer(&mut self, now: Instant) {
        if self.rtx_at.is_none() {
            self.rtx_at = Some(now + self.rto);
        }
    }

    /// The next segment to send, if any. Call until it returns `None`.
    pub fn dispatch(&mut self, now: Instant) -> Option<TcpSegment> {
        self.last_now = Some(now);
        if self.state == TcpState::TimeWait && self.time_wait_until.is_some_and(|t| now >= t) {
            self.state = TcpState::Closed;
            self.time_wait_until = None;
        }
        if self.state == TcpState::Closed {
            return None;
        }
        if self.rtx_at.is_some_and(|t| now >= t) && !self.on_retransmit_timeout(now) {
            return None;
        }
        if self.state == TcpState::SynSent {
            if let Some(seq) = self.reset_pending.take() {
                return Some(TcpSegment {
                    seq,
                    ack: SeqNumber(0),
                    flags: TcpFlags {
                        rst: true,
                        ..TcpFlags::default()
                    },
                    window: 0,
                    options: TcpOptions::default(),
                    payload: Bytes::new(),
                });
            }
            if self.syn_sent {
                return None;
            }
            self.syn_sent = true;
            self.snd_nxt = self.cfg.isn + 1;
            self.arm_timer(now);
            return Some(self.syn_segment(now));
        }
        // Data.
        if self.has_unsent_data()
            && !self.held(now)
            && self.synchronized()
            && self.state != TcpState::TimeWait
        {
            let sent = usize::try_from((self.snd_nxt - self.snd_una).max(0)).unwrap_or(0);
            let in_flight_room = usize::try_from(self.snd_wnd)
                .unwrap_or(usize::MAX)
                .saturating_sub(sent);
            // With a closed window, still send one segment when nothing is in flight, so the
            // connection cannot stall (the peer's answer reopens the window).
            let room = if in_flight_room == 0 && sent == 0 {
                self.send_mss
            } else {
                in_flight_room
            };
            let len = (self.send_buf.len() - sent).min(self.send_mss).min(room);
            if len > 0 {
                let seq = self.snd_nxt;
                let seg = self.data_segment(
                    now,
                    seq,
                    self.send_buf.get(sent..sent + len).unwrap_or_default(),
                );
                self.snd_nxt = self.snd_nxt + len;
                self.ack_pending = false;
                self.arm_timer(now);
                return Some(seg);
            }
        }
        // FIN after all data.
        let data_end = self.snd_una + self.send_buf.len();
        if self.fin_queued && self.snd_nxt == data_end && !self.fin_acked() {
            let first_time = self.fin_seq.is_none();
            self.fin_seq = Some(data_end);
            let seg = TcpSegment {
                seq: self.snd_nxt,
                ack: self.rcv_nxt(),
                flags: TcpFlags {
                    fin: true,
                    ack: true,
                    ..TcpFlags::default()
                },
                window: self.window_field(),
                options: self.segment_options(now),
                payload: Bytes::new(),
            };
            self.snd_nxt = self.snd_nxt + 1;
            if first_time {
                self.state = match self.state {
                    TcpState::CloseWait => TcpState::LastAck,
                    TcpState::Established => TcpState::FinWait1,
                    s => s,
                };
            }
            self.ack_pending = false;
            self.arm_timer(now);
            return Some(seg);
        }
        if self.ack_pending {
            self.ack_pending = false;
            return Some(TcpSegment {
                seq: self.snd_nxt,
                ack: self.rcv_nxt(),
                flags: TcpFlags {
                    ack: true,
                    ..TcpFlags::default()
                },
                window: self.window_field(),
                options: self.segment_options(now),
                payload: Bytes::new(),
            });
        }
        None
    }

    /// Retransmission timer fired: back off and rewind, or give up. Returns false on give-up.
    fn on_retransmit_timeout(&mut self, now: Instant) -> bool {
        self.rtx_at = None;
        if self.held(now) && self.state != TcpState::SynSent {
            // The sweep owns the data for now; look again when the hold ends.
            self.rtx_at = self.hold_until;
            return true;
        }
        let limit = if self.state == TcpState::SynSent {
            self.cfg.syn_retries
        } else {
            self.cfg.data_retries
        };
        if self.retries >= limit {
            self.state = TcpState::Closed;
            self.events.push(TcpEvent::TimedOut);
            return false;
        }
        self.retries += 1;
        self.rto = (self.rto * 2).min(self.cfg.max_rto);
        if self.state == TcpState::SynSent {
            self.syn_sent = false;
        } else {
            // Go back to the first unacknowledged byte; data and then FIN go out again.
            self.snd_nxt = self.snd_una;
        }
        true
    }

    fn syn_segment(&self, now: Instant) -> TcpSegment {
        TcpSegment {
            seq: self.cfg.isn,
            ack: SeqNumber(0),
            flags: TcpFlags {
                syn: true,
                ..TcpFlags::default()
            },
            window: u16::try_from(self.cfg.recv_buffer).unwrap_or(u16::MAX),
            options: TcpOptions {
                mss: Some(self.cfg.mss),
                window_scale: Some(self.cfg.window_scale),
                sack_permitted: self.cfg.sack_permitted,
                timestamps: self.cfg.timestamps.then(|| (self.ts_val(now), 0)),
            },
            payload: Bytes::new(),
        }
    }

    /// Processes a segment that arrived at `now`.
    pub fn process(&mut self, now: Instant, rx: &ReceivedSegment) {
        self.last_now = Some(now);
        if rx.src != self.cfg.flow.remote || rx.dst != self.cfg.flow.local {
            return;
        }
        let seg = &rx.segment;
        match self.state {
            TcpState::Closed => {}
            TcpState::SynSent => self.process_syn_sent(now, rx),
            _ => self.process_synchronized(now, rx, seg),
        }
    }

    fn process_syn_sent(&mut self, now: Instant, rx: &ReceivedSegment) {
        let seg = &rx.segment;
        let ack_ok = seg.flags.ack && seg.ack == self.cfg.isn + 1;
        if seg.flags.rst {
            if ack_ok {
                self.state = TcpState::Closed;
                self.rtx_at = None;
                self.events.push(TcpEvent::Refused { ttl: rx.ip_ttl });
            }
            return;
        }
        if seg.flags.ack && !ack_ok {
            // RFC 9293 3.10.7.3: an unacceptable ACK gets <SEQ=SEG.ACK><CTL=RST>; a server
            // holding an old connection of this 4-tuple (TIME-WAIT after an earlier probe of
            // the same target, PAWS) drops it on that RST and takes the SYN sent again.
            self.reset_pending = Some(seg.ack);
            if !self.syn_resent_after_reset {
                self.syn_resent_after_reset = true;
                self.syn_sent = false;
            }
            return;
        }
        if !(seg.flags.syn && ack_ok) {
            return;
        }
        self.recv = Some(Reassembly::new(seg.seq + 1, self.cfg.recv_buffer));
        self.snd_una = self.cfg.isn + 1;
        self.snd_nxt = self.snd_una;
        self.send_mss = usize::from(seg.options.mss.unwrap_or(536).min(self.cfg.mss)).max(64);
        self.peer_wscale = seg.options.window_scale.map(|w| w.min(14));
        if self.peer_wscale.is_none() {
            // Scaling is on only when both sides offer it.
            self.cfg.window_scale = 0;
        }
        self.snd_wnd = u32::from(seg.window);
        if let (true, Some((val, _))) = (self.cfg.timestamps, seg.options.timestamps) {
            self.ts_enabled = true;
            self.ts_recent = val;
        }
        self.state = TcpState::Established;
        self.rtx_at = None;
        self.retries = 0;
        self.rto = self.cfg.initial_rto;
        self.ack_pending = true;
        self.events.push(TcpEvent::Established {
            server_ttl: rx.ip_ttl,
        });
        self.last_now = Some(now);
    }

    fn process_synchronized(&mut self, now: Instant, rx: &ReceivedSegment, seg: &TcpSegment) {
        let rcv_nxt = self.rcv_nxt();
        let window = self.recv.as_ref().map_or(0, Reassembly::window);
        let offset = seg.seq - rcv_nxt;
        if seg.flags.rst {
            // RFC 5961: only an exactly in-order RST resets; one elsewhere in the window gets
            // a challenge ACK; others are ignored.
            if offset == 0 {
                self.state = TcpState::Closed;
                self.rtx_at = None;
                self.events.push(TcpEvent::Reset {
                    ttl: rx.ip_ttl,
                    at: now,
                });
            } else if offset > 0 && (offset as usize) < window.max(1) {
                self.ack_pending = true;
            }
            return;
        }
        if seg.flags.syn {
            // A retransmitted SYN/ACK: our ACK was lost.
            self.ack_pending = true;
            return;
        }
        if seg.flags.ack {
            self.process_ack(now, seg);
        }
        if let (true, Some((val, _))) = (self.ts_enabled, seg.options.timestamps) {
            if offset <= 0 {
                self.ts_recent = val;
            }
        }
        if !seg.payload.is_empty() {
            if matches!(
                self.state,
                TcpState::Established | TcpState::FinWait1 | TcpState::FinWait2
            ) {
                if let Some(r) = self.recv.as_mut() {
                    r.insert(seg.seq, &seg.payload);
                }
            }
            self.ack_pending = true;
        }
        if seg.flags.fin {
            self.ack_pending = true;
            let fin_seq = seg.seq + seg.payload.len();
            if fin_seq == self.rcv_nxt() && !self.peer_fin_seen() {
                if let Some(r) = self.recv.as_mut() {
                    r.advance_fin();
                }
                self.events.push(TcpEvent::PeerClosed);
                self.state = match self.state {
                    TcpState::Established => TcpState::CloseWait,
                    TcpState::FinWait1 if self.fin_acked() => self.enter_time_wait(now),
                    TcpState::FinWait1 => TcpState::Closing,
                    TcpState::FinWait2 => self.enter_time_wait(now),
                    s => s,
                };
            }
        }
    }

    fn peer_fin_seen(&self) -> bool {
        matches!(
            self.state,
            TcpState::CloseWait | TcpState::LastAck | TcpState::Closing | TcpState::TimeWait
        )
    }

    fn fin_acked(&self) -> bool {
        self.fin_seq.is_some_and(|f| self.snd_una - f >= 1)
    }

    fn enter_time_wait(&mut self, now: Instant) -> TcpState {
        self.time_wait_until = Some(now + self.cfg.time_wait);
        self.rtx_at = None;
        TcpState::TimeWait
    }

    fn process_ack(&mut self, now: Instant, seg: &TcpSegment) {
        // Everything queued may be acknowledged: the sweep sends queued data itself.
        let snd_max = self.snd_una
            + self.send_buf.len()
            + usize::from(self.fin_seq.is_some() && !self.fin_acked());
        let advance = seg.ack - self.snd_una;
        let room = snd_max - self.snd_una;
        let shift = self.peer_wscale.unwrap_or(0);
        self.snd_wnd = u32::from(seg.window) << shift;
        if advance <= 0 || advance > room {
            return;
        }
        let acked = advance as usize;
        let data = acked.min(self.send_buf.len());
        let gone = self.send_buf.split_to(data);
        self.acked_tail.extend_from_slice(&gone);
        let excess = self.acked_tail.len().saturating_sub(ACKED_TAIL);
        let _ = self.acked_tail.split_to(excess);
        self.snd_una = seg.ack;
        if (self.snd_nxt - self.snd_una) < 0 {
            self.snd_nxt = self.snd_una;
        }
        self.retries = 0;
        self.rto = self.cfg.initial_rto;
        self.rtx_at = None;
        if self.snd_nxt != self.snd_una {
            self.arm_timer(now);
        }
        self.events.push(TcpEvent::Acked { upto: seg.ack });
        if self.fin_acked() {
            self.state = match self.state {
                TcpState::FinWait1 => TcpState::FinWait2,
                TcpState::Closing => self.enter_time_wait(now),
                TcpState::LastAck => TcpState::Closed,
                s => s,
            };
        }
    }
}
