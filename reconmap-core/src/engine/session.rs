//! One probe session, sans-IO: TCP handshake, SMTP up to STARTTLS, the TTL sweep of the
//! STARTTLS segment, the server's answer, a polite close, and the report.
//!
//! The session never touches a socket or a clock: the driver feeds it captured packets and the
//! time, and takes datagrams to send from [`ProbeSession::poll_transmit`]. That keeps it testable
//! against a simulated network and lets one driver run thousands of sessions.
use super::config::{distance_from_ttl, ProbeConfig};
use super::intercept::{InterceptCheckState, InterceptPlan};
use super::near_hops::NearHops;
use super::sweep::{Sweep, SweepPlan, TsvalBlock, TSVAL_BLOCK};
use super::tls_stage::{TlsStage, TlsStart};
use crate::evidence::{
    ConnectOutcome, Evidence, Incomplete, InterceptionCheck, RstRecord, TcpObservations, Timeline,
};
use crate::smtp::{SmtpAction, SmtpClient};
use crate::tcp::{TcpClient, TcpConfig, TcpEvent, TcpState};
use reconmap_wire::{build_ipv4_tcp, Captured, FlowAddrs, IpParams, TcpSegment};
use reconmap_wire::{IpId, TimeToLive};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// A datagram to send. `probe` is set for sweep probes (their send time is their RTT origin).
#[derive(Clone, Debug)]
pub struct Outgoing {
    pub datagram: Vec<u8>,
    pub dst: Ipv4Addr,
    pub probe: Option<IpId>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Handshake, banner, EHLO.
    Talking,
    /// The sweep is out; waiting for quotes and the server's answer.
    Sweeping,
    /// `220` came: the TLS handshake (and the ClientHello's sweep) under way.
    Tls,
    /// Verdict evidence complete; QUIT/FIN under way.
    Closing,
    Done,
}

/// The flows of the interception check (see `engine::intercept`), registered with the main one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SideFlows {
    /// Our main port toward another port of the target.
    pub alt: FlowAddrs,
    /// Another port of ours toward the target's port.
    pub ctl: FlowAddrs,
}

impl SideFlows {
    pub fn all(&self) -> [FlowAddrs; 2] {
        [self.alt, self.ctl]
    }
}

/// One target's probe session.
pub struct ProbeSession {
    cfg: Arc<ProbeConfig>,
    flow: FlowAddrs,
    tcp: TcpClient,
    smtp: SmtpClient,
    sweep: Option<Sweep>,
    phase: Phase,
    started: Instant,
    started_wall: SystemTime,
    next_ip_id: IpId,
    outbox: VecDeque<Outgoing>,
    connect: Option<ConnectOutcome>,
    server_ttl: Option<TimeToLive>,
    handshake_rtt: Option<Duration>,
    rsts: Vec<RstRecord>,
    closed_by_peer: bool,
    starttls_at: Option<Instant>,
    starttls_acked: bool,
    timeline: Timeline,
    errors: Vec<String>,
    close_deadline: Option<Instant>,
    near: Option<Rc<RefCell<NearHops>>>,
    /// Why the session was interrupted before its verdict, if it was.
    interrupted: Option<String>,
    /// When the handshake's ACK is sent again if no banner has come by then.
    banner_nudge_at: Option<Instant>,
    /// Duplicate ACKs sent while waiting for the banner.
    ack_retransmits: u8,
    /// The connection was reset (by the server or a box).
    connection_reset: bool,
    /// The interception check's flows, when it may run.
    side: Option<SideFlows>,
    intercept: Option<InterceptCheckState>,
    /// Why the check did not run, when it did not.
    intercept_skipped: Option<String>,
    /// ISN of the check's SYNs.
    side_isn: u32,
    /// The SYN/ACK's IP TTL, once the check may start.
    intercept_at: Option<TimeToLive>,
    side_requested: bool,
    /// When the interception check's result was in.
    intercept_done_at: Option<Duration>,
    /// The name the target was given (SNI and the certificate check), if any.
    server_name: Option<String>,
    tls: Option<TlsStage>,
    /// Why no TLS handshake followed a `220`, when none did.
    tls_skipped: Option<String>,
    /// Close the connection once TLS is closed (close_notify queued).
    close_after_tls: bool,
}

impl ProbeSession {
    /// Starts a session: the SYN is ready in [`poll_transmit`](Self::poll_transmit).
    /// `isn` and `ip_id_base` should be random.
    pub fn new(
        cfg: Arc<ProbeConfig>,
        flow: FlowAddrs,
        isn: u32,
        ip_id_base: IpId,
        now: Instant,
    ) -> Self {
        Self::with_near_hops(cfg, flow, isn, ip_id_base, now, None)
    }

    /// Like [`new`](Self::new), reusing the run's knowledge of the hops near the prober.
    pub fn with_near_hops(
        cfg: Arc<ProbeConfig>,
        flow: FlowAddrs,
        isn: u32,
        ip_id_base: IpId,
        now: Instant,
        near: Option<Rc<RefCell<NearHops>>>,
    ) -> Self {
        let mut tcp_cfg = TcpConfig::new(flow, crate::tcp::SeqNumber(isn));
        tcp_cfg.initial_rto = cfg.initial_rto;
        tcp_cfg.syn_retries = cfg.syn_retries;
        tcp_cfg.timestamps = cfg.tcp_timestamps;
        let mut tcp = TcpClient::new(tcp_cfg);
        tcp.connect(now);
        let smtp = SmtpClient::new(&cfg.ehlo_name, cfg.smtp_limits.clone(), now);
        let mut s = Self {
            cfg,
            flow,
            tcp,
            smtp,
            sweep: None,
            phase: Phase::Talking,
            started: now,
            started_wall: SystemTime::now(),
            next_ip_id: ip_id_base,
            outbox: VecDeque::new(),
            connect: None,
            server_ttl: None,
            handshake_rtt: None,
            rsts: Vec::new(),
            closed_by_peer: false,
            starttls_at: None,
            starttls_acked: false,
            timeline: Timeline::default(),
            errors: Vec::new(),
            close_deadline: None,
            near,
            interrupted: None,
            banner_nudge_at: None,
            ack_retransmits: 0,
            connection_reset: false,
            side: None,
            intercept: None,
            intercept_skipped: None,
            side_isn: isn.rotate_left(16) ^ 0x5a5a_5a5a,
            intercept_at: None,
            side_requested: false,
            intercept_done_at: None,
            server_name: None,
            tls: None,
            tls_skipped: None,
            close_after_tls: false,
        };
        s.advance(now);
        s
    }

    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// Whether the session wants the interception check's flows now (the handshake is
    /// complete); true once: the caller then answers with [`set_side_flows`](Self::set_side_flows).
    pub fn take_side_flow_request(&mut self) -> bool {
        if self.side_requested || self.intercept_at.is_none() || self.phase == Phase::Done {
            return false;
        }
        self.side_requested = true;
        true
    }

    /// Starts the interception check on these flows (registered by the caller), or records
    /// why it cannot run (`Err`).
    pub fn set_side_flows(&mut self, now: Instant, side: Result<SideFlows, String>) {
        match side {
            Ok(s) => {
                self.side = Some(s);
                if let Some(ttl) = self.intercept_at {
                    self.start_intercept_check(now, ttl);
                }
                self.advance(now);
            }
            Err(why) => self.intercept_skipped = Some(why),
        }
    }

    /// The name the target was given in the input (sent as SNI, and checked against the
    /// certificate), unless `--sni` names another.
    pub fn set_server_name(&mut self, name: Option<String>) {
        self.server_name = name;
    }

    /// The interception check's flows, when it has them.
    pub fn side_flows(&self) -> Option<SideFlows> {
        self.side
    }

    pub fn timeline(&self) -> Timeline {
        self.timeline
    }

    /// A packet of this session's flow (a TCP segment from the server or an ICMP error quoting
    /// our flow), with the time it arrived.
    pub fn on_captured(&mut self, at: Instant, captured: &Captured) {
        if self.phase == Phase::Done {
            return;
        }
        if self.cfg.fault_panic_target == Some(self.flow.remote) {
            panic!("injected fault for {}", self.flow.remote);
        }
        if let Some(check) = self.intercept.as_mut() {
            let flow = match captured {
                Captured::Tcp(seg) => Some(FlowAddrs {
                    local: seg.dst,
                    remote: seg.src,
                }),
                Captured::IcmpError(icmp) => icmp.quote.flow(),
            };
            if flow.is_some_and(|f| f != self.flow && check.flows().contains(&f)) {
                check.on_captured(at, captured);
                self.advance(at);
                return;
            }
        }
        match captured {
            Captured::Tcp(seg) => {
                if seg.segment.flags.rst {
                    self.rsts.push(RstRecord {
                        ttl: seg.ip_ttl,
                        server_ttl: self.server_ttl,
                        sent_from_hop: distance_from_ttl(seg.ip_ttl),
                        after_starttls: self.starttls_at.is_some(),
                        after_client_hello: self.tls.is_some(),
                        at: at.saturating_duration_since(self.started),
                    });
                }
                self.tcp.process(at, seg);
            }
            Captured::IcmpError(icmp) if self.tls.as_ref().is_some_and(|t| t.owns(&icmp.quote)) => {
                if let Some(tls) = self.tls.as_mut() {
                    match tls.on_icmp(at, icmp) {
                        Ok(probes) => self.queue_probes(probes),
                        Err(e) => self.errors.push(format!("cannot build probes: {e}")),
                    }
                }
            }
            Captured::IcmpError(icmp) => {
                let matched = self.sweep.as_mut().is_some_and(|s| s.on_icmp(at, icmp));
                if let Some(sweep) = self.sweep.as_mut() {
                    match sweep.take_owed(at) {
                        Ok(probes) => self.queue_probes(probes),
                        Err(e) => self.errors.push(format!("cannot build probes: {e}")),
                    }
                }
                if !matched && self.connect.is_none() && icmp.kind.is_unreachable() {
                    // An unreachable answered our SYN: that is the outcome. The connection
                    // attempt ends here too (no more SYNs, a late SYN/ACK is ignored), so the
                    // session cannot go on talking after it decided to stop.
                    self.connect = Some(ConnectOutcome::Unreachable);
                    self.errors.push(format!(
                        "ICMP {} from {} during the handshake",
                        icmp.kind, icmp.from
                    ));
                    self.finish_talking(at);
                    self.abort(at);
                }
            }
        }
        self.advance(at);
    }

    /// Timers (retransmission, sweep rounds, SMTP and session limits).
    pub fn on_timer(&mut self, now: Instant) {
        if self.phase == Phase::Done {
            return;
        }
        if let Some(sweep) = self.sweep.as_mut() {
            match sweep.on_timer(now) {
                Ok(probes) => self.queue_probes(probes),
                Err(e) => self.errors.push(format!("cannot build a retry probe: {e}")),
            }
        }
        if let Some(check) = self.intercept.as_mut() {
            check.on_timer(now);
        }
        if let Some(tls) = self.tls.as_mut() {
            match tls.on_timer(now, &mut self.tcp) {
                Ok(probes) => self.queue_probes(probes),
                Err(e) => self
                    .errors
                    .push(format!("cannot build a ClientHello probe: {e}")),
            }
        }
        self.nudge_for_banner(now);
        if let Err(e) = self.smtp.on_timeout(now) {
            self.errors.push(e.to_string());
        }
        if now.saturating_duration_since(self.started) >= self.cfg.session_timeout {
            self.errors.push(format!(
                "session timeout ({:?}) reached; reporting what was seen",
                self.cfg.session_timeout
            ));
            self.finish_talking(now);
            self.abort(now);
        }
        self.advance(now);
    }

    /// No banner yet, long after the handshake: acknowledge the SYN/ACK again (a full accept
    /// queue drops the handshake's ACK when SYN cookies are on), with a backoff.
    fn nudge_for_banner(&mut self, now: Instant) {
        let Some(at) = self.banner_nudge_at else {
            return;
        };
        if now < at {
            return;
        }
        let waiting = self.smtp.phase() == crate::smtp::SmtpPhase::Banner
            && self.smtp.observations().banner.is_none()
            && !self.smtp.received_any();
        if !waiting || self.ack_retransmits >= self.cfg.banner_nudges {
            self.banner_nudge_at = None;
            return;
        }
        self.tcp.reacknowledge();
        self.ack_retransmits += 1;
        let backoff = self.cfg.banner_nudge * (1u32 << self.ack_retransmits.min(8));
        self.banner_nudge_at = now.checked_add(backoff);
    }

    /// The next datagram to send, if any.
    pub fn poll_transmit(&mut self) -> Option<Outgoing> {
        self.outbox.pop_front()
    }

    /// Tells the session a sweep probe really left at `at`.
    pub fn probe_sent(&mut self, ip_id: IpId, at: Instant) {
        if let Some(s) = self.sweep.as_mut() {
            s.mark_sent(ip_id, at);
        }
        if let Some(t) = self.tls.as_mut() {
            t.mark_sent(ip_id, at);
        }
    }

    /// When [`on_timer`](Self::on_timer) wants to run next.
    pub fn poll_at(&self) -> Option<Instant> {
        if self.phase == Phase::Done {
            return None;
        }
        if self.cfg.fault_stuck_timer_target == Some(self.flow.remote) {
            return Some(self.started);
        }
        let session_end = self.started + self.cfg.session_timeout;
        [
            self.tcp.poll_at(),
            self.smtp.poll_at(),
            self.banner_nudge_at,
            self.sweep.as_ref().and_then(Sweep::poll_at),
            self.intercept
                .as_ref()
                .and_then(InterceptCheckState::poll_at),
            self.starttls_deadline(),
            // Only while closing: a deadline that nothing acts on would wake the session
            // forever.
            self.close_deadline.filter(|_| self.phase == Phase::Closing),
            Some(session_end),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn starttls_deadline(&self) -> Option<Instant> {
        match self.phase {
            Phase::Sweeping => self.starttls_at.map(|t| t + self.cfg.starttls_timeout),
            _ => None,
        }
    }

    /// Gives up now (e.g. Ctrl-C): resets the connection and ends the session.
    pub fn interrupt(&mut self, now: Instant, why: &str) {
        if self.phase == Phase::Done {
            return;
        }
        self.errors.push(why.to_string());
        // Interrupted before the verdict's evidence was complete: the record says so (and
        // `--resume` probes the target again). After it, the verdict stands.
        if matches!(self.phase, Phase::Talking | Phase::Sweeping | Phase::Tls) {
            self.interrupted = Some(why.to_string());
        }
        self.finish_talking(now);
        self.abort(now);
    }

    fn abort(&mut self, now: Instant) {
        if let Some(check) = self.intercept.as_mut() {
            check.abandon();
        }
        for seg in self.tcp.abort() {
            self.queue_segment(&seg, self.cfg.ttl, None);
        }
        self.phase = Phase::Done;
        self.timeline.done = Some(now.saturating_duration_since(self.started));
    }

    /// Marks the verdict evidence complete and starts closing.
    fn finish_talking(&mut self, now: Instant) {
        if matches!(self.phase, Phase::Talking | Phase::Sweeping | Phase::Tls) {
            if let Some(s) = self.sweep.as_mut() {
                s.finish();
            }
            if let Some(t) = self.tls.as_mut() {
                t.finish();
            }
            // Let TCP retransmit the STARTTLS segment normally from now on.
            self.tcp.hold_retransmit(now);
            self.phase = Phase::Closing;
            self.timeline.verdict = Some(now.saturating_duration_since(self.started));
            self.close_deadline = Some(now + self.cfg.close_timeout);
        }
    }

    fn queue_segment(&mut self, seg: &TcpSegment, ttl: TimeToLive, probe: Option<IpId>) {
        let id = self.next_ip_id;
        self.next_ip_id = id.next();
        match build_ipv4_tcp(&self.flow, &IpParams::new(ttl, id), seg) {
            Ok(datagram) => self.outbox.push_back(Outgoing {
                datagram,
                dst: *self.flow.remote.ip(),
                probe,
            }),
            Err(e) => self.errors.push(format!("cannot build a segment: {e}")),
        }
    }

    fn queue_probes(&mut self, probes: Vec<super::sweep::SweepProbe>) {
        for p in probes {
            self.outbox.push_back(Outgoing {
                datagram: p.datagram,
                dst: *self.flow.remote.ip(),
                probe: Some(p.ip_id),
            });
        }
    }

    /// Runs everything that can progress at `now`.
    fn advance(&mut self, now: Instant) {
        for _ in 0..16 {
            let mut progressed = false;
            progressed |= self.pump_tcp_events(now);
            progressed |= self.pump_smtp(now);
            progressed |= self.pump_transmit(now);
            progressed |= self.check_phase(now);
            if !progressed {
                break;
            }
        }
    }

    fn pump_tcp_events(&mut self, now: Instant) -> bool {
        let events = self.tcp.take_events();
        let any = !events.is_empty();
        for ev in events {
            match ev {
                TcpEvent::Established { server_ttl } => {
                    if self.cfg.intercept_check {
                        self.intercept_at = Some(server_ttl);
                    } else {
                        self.intercept_skipped = Some("disabled".to_string());
                    }
                    self.banner_nudge_at = now.checked_add(self.cfg.banner_nudge);
                    self.connect = Some(ConnectOutcome::Established);
                    self.server_ttl = Some(server_ttl);
                    self.handshake_rtt = Some(now.saturating_duration_since(self.started));
                    self.timeline.established = self.handshake_rtt;
                }
                TcpEvent::Refused { ttl } => {
                    self.connect = Some(ConnectOutcome::Refused);
                    self.server_ttl = Some(ttl);
                    self.finish_talking(now);
                }
                TcpEvent::TimedOut => {
                    if self.connect.is_none() {
                        self.connect = Some(ConnectOutcome::TimedOut);
                    } else {
                        self.errors
                            .push("TCP retransmissions exhausted".to_string());
                    }
                    self.finish_talking(now);
                    self.phase = Phase::Done;
                    self.timeline.done = Some(now.saturating_duration_since(self.started));
                }
                TcpEvent::Reset { .. } => {
                    // Recorded with its TTL in on_captured; the connection is gone. A sweep
                    // under way goes on (its rounds are bounded): its control segments can
                    // still locate the box that reset it.
                    self.connection_reset = true;
                    if let Some(tls) = self.tls.as_mut() {
                        tls.transport_closed(now, reconmap_tls::TransportEnd::Reset);
                    }
                    let sweeping = match self.phase {
                        Phase::Sweeping => self.sweep.as_ref().is_some_and(|s| !s.is_finished()),
                        Phase::Tls => self.tls.as_ref().is_some_and(|t| !t.is_done()),
                        _ => false,
                    };
                    if !sweeping {
                        self.finish_talking(now);
                        // The interception check's result is part of the verdict: wait for it
                        // (the closing phase does, within its deadline).
                        let checking = self.intercept.as_ref().is_some_and(|c| !c.is_done());
                        if !checking {
                            self.phase = Phase::Done;
                            self.timeline.done = Some(now.saturating_duration_since(self.started));
                        }
                    }
                }
                TcpEvent::PeerClosed => {
                    if self.phase != Phase::Closing {
                        self.closed_by_peer = true;
                    }
                    // Data that came with (or before) the FIN is a reply like any other:
                    // the SMTP session sees it before it sees the close.
                    self.feed_smtp(now);
                    if let Some(tls) = self.tls.as_mut() {
                        tls.transport_closed(now, reconmap_tls::TransportEnd::Fin);
                    } else {
                        self.smtp.peer_closed(now);
                    }
                }
                TcpEvent::Acked { .. } => {
                    if self.starttls_at.is_some() && self.tcp.all_data_acked() {
                        self.starttls_acked = true;
                        if let Some(tls) = self.tls.as_mut() {
                            tls.acked();
                        }
                    }
                }
            }
        }
        any
    }

    /// Hands the data TCP received so far to the SMTP session; whether there was any.
    fn feed_smtp(&mut self, now: Instant) -> bool {
        let data = self.tcp.recv();
        if data.is_empty() {
            return false;
        }
        // After `220`, the server's bytes are TLS records.
        if let Some(tls) = self.tls.as_mut() {
            tls.received(now, &data, &mut self.tcp);
            return true;
        }
        if let Err(e) = self.smtp.feed(now, &data) {
            self.errors.push(e.to_string());
        }
        true
    }

    fn pump_smtp(&mut self, now: Instant) -> bool {
        let mut progressed = self.feed_smtp(now);
        while let Some(action) = self.smtp.next_action() {
            progressed = true;
            match action {
                SmtpAction::Send(bytes) => {
                    if let Err(e) = self.tcp.send(&bytes) {
                        self.errors.push(format!("cannot send: {e}"));
                    }
                }
                SmtpAction::SendStartTls(bytes) => self.start_sweep(now, &bytes),
                SmtpAction::Close => {
                    if self.wants_tls() {
                        self.start_tls(now);
                    } else {
                        self.finish_talking(now);
                        self.tcp.close(now);
                    }
                }
            }
        }
        progressed
    }

    /// Queues STARTTLS in TCP, takes the segment TCP would send as the sweep's template, and
    /// sends the TTL 1..=limit copies instead of the ordinary one.
    fn start_sweep(&mut self, now: Instant, bytes: &[u8]) {
        if self.phase != Phase::Talking {
            // The session already decided to stop (closing or done): never back to sweeping.
            return;
        }
        // Hold TCP's own (re)transmission of the data while the sweep's copies are out.
        let hold_until = now + self.cfg.starttls_timeout;
        self.tcp.hold_retransmit(hold_until);
        if let Err(e) = self.tcp.send(bytes) {
            self.errors.push(format!("cannot queue STARTTLS: {e}"));
            self.finish_talking(now);
            return;
        }
        let Some(template) = self.tcp.unacked_data_segment(now) else {
            self.errors
                .push("TCP produced no STARTTLS segment".to_string());
            self.finish_talking(now);
            return;
        };
        let distance = self.server_ttl.map(distance_from_ttl);
        // Probe up to one past the server when its distance is known (asymmetric paths).
        let limit = distance
            .map_or(self.cfg.max_ttl, TimeToLive::next)
            .min(self.cfg.max_ttl)
            .max(TimeToLive(1));
        let wait = self
            .handshake_rtt
            .map_or(self.cfg.sweep_wait_max, |rtt| rtt * 3)
            .clamp(self.cfg.sweep_wait_min, self.cfg.sweep_wait_max);
        let first_ip_id = self.next_ip_id;
        self.next_ip_id = first_ip_id.skip(2048);
        // Every probe its own TSval, from a block the connection's clock then skips.
        let tsvals = self
            .tcp
            .reserve_timestamps(now, TSVAL_BLOCK)
            .map(|first| TsvalBlock {
                first,
                len: TSVAL_BLOCK,
            });
        let control = self
            .tcp
            .acked_copy_segment(now, template.payload.len())
            .filter(|_| self.cfg.locate_drops);
        let mut sweep = Sweep::new(SweepPlan {
            flow: self.flow,
            template,
            control,
            limit,
            retries: self.cfg.retries,
            wait,
            server_distance: distance,
            first_ip_id,
            tsvals,
        });
        if let Some(prefix) = self
            .near
            .as_ref()
            .and_then(|n| n.borrow().shared_prefix(limit))
        {
            sweep = sweep.with_shared_prefix(prefix);
        }
        match sweep.start(now) {
            Ok(probes) => self.queue_probes(probes),
            Err(e) => self.errors.push(format!("cannot build sweep probes: {e}")),
        }
        self.sweep = Some(sweep);
        self.starttls_at = Some(now);
        self.smtp.starttls_sent(now);
        self.phase = Phase::Sweeping;
        self.timeline.sweep_started = Some(now.saturating_duration_since(self.started));
    }

    /// Whether the SMTP session ended with `220` to STARTTLS and a TLS handshake follows.
    fn wants_tls(&mut self) -> bool {
        let ready = self
            .smtp
            .observations()
            .starttls_reply
            .as_ref()
            .is_some_and(|r| r.code == 220);
        if !ready || self.tls.is_some() {
            return false;
        }
        if self.cfg.tls.is_none() {
            self.tls_skipped = Some("disabled (--no-tls)".to_string());
            return false;
        }
        if self.connection_reset {
            self.tls_skipped = Some("the connection was reset".to_string());
            return false;
        }
        // A 220 that came after the STARTTLS wait (the session was already closing) still
        // gets its handshake while the connection is open.
        let open = matches!(
            self.tcp.state(),
            TcpState::Established | TcpState::CloseWait
        );
        match self.phase {
            Phase::Talking | Phase::Sweeping => true,
            Phase::Closing if open => true,
            _ => {
                self.tls_skipped = Some("the session had ended".to_string());
                false
            }
        }
    }

    /// `220`: starts the TLS handshake on the connection, the ClientHello swept like STARTTLS.
    fn start_tls(&mut self, now: Instant) {
        let Some(cfg) = self.cfg.tls.clone() else {
            return;
        };
        let distance = self.server_ttl.map(distance_from_ttl);
        let limit = distance
            .map_or(self.cfg.max_ttl, TimeToLive::next)
            .min(self.cfg.max_ttl)
            .max(TimeToLive(1));
        let wait = self
            .handshake_rtt
            .map_or(self.cfg.sweep_wait_max, |rtt| rtt * 3)
            .clamp(self.cfg.sweep_wait_min, self.cfg.sweep_wait_max);
        let first_ip_id = self.next_ip_id;
        self.next_ip_id = first_ip_id.skip(2048);
        let name = self.cfg.sni.clone().or_else(|| self.server_name.clone());
        let start = TlsStart {
            cfg: &cfg,
            server_name: name.as_deref(),
            flow: self.flow,
            limit,
            retries: self.cfg.retries,
            wait,
            server_distance: distance,
            first_ip_id,
            sweep: self.cfg.tls_sweep,
            controls: self.cfg.locate_drops,
            answer_timeout: self.cfg.starttls_timeout,
            quit_wait: wait,
        };
        match TlsStage::start(start, &mut self.tcp, now) {
            Ok((mut stage, probes)) => {
                if self.closed_by_peer {
                    // Its FIN came with (or before) the 220: no handshake can follow.
                    stage.transport_closed(now, reconmap_tls::TransportEnd::Fin);
                }
                self.tls = Some(stage);
                self.queue_probes(probes);
                self.phase = Phase::Tls;
            }
            Err(e) => {
                self.errors.push(e.clone());
                self.tls_skipped = Some(e);
                self.finish_talking(now);
                self.tcp.close(now);
            }
        }
    }

    /// Starts the interception check once the SYN/ACK says how far the target seems to be.
    fn start_intercept_check(&mut self, now: Instant, server_ttl: TimeToLive) {
        let Some(side) = self.side else {
            return;
        };
        if self.intercept.is_some() || self.phase == Phase::Done {
            return;
        }
        let rtt = self.handshake_rtt.unwrap_or(self.cfg.sweep_wait_max);
        let first_ip_id = self.next_ip_id;
        self.next_ip_id = first_ip_id.skip(256);
        self.intercept = Some(InterceptCheckState::start(
            InterceptPlan {
                alt: side.alt,
                ctl: side.ctl,
                distance: distance_from_ttl(server_ttl),
                max_ttl: self.cfg.max_ttl,
                wait: (rtt * 3).clamp(self.cfg.sweep_wait_min, self.cfg.sweep_wait_max),
                first_ip_id,
                isn: self.side_isn,
            },
            now,
        ));
    }

    fn pump_transmit(&mut self, now: Instant) -> bool {
        let mut any = false;
        if self.intercept_done_at.is_none() && self.intercept.as_ref().is_some_and(|c| c.is_done())
        {
            self.intercept_done_at = Some(now.saturating_duration_since(self.started));
        }
        if let Some(check) = self.intercept.as_mut() {
            while let Some(p) = check.poll_transmit() {
                any = true;
                self.outbox.push_back(Outgoing {
                    datagram: p.datagram,
                    dst: p.dst,
                    probe: None,
                });
            }
        }
        while let Some(seg) = self.tcp.dispatch(now) {
            any = true;
            self.queue_segment(&seg, self.cfg.ttl, None);
        }
        // Dispatching can raise events (the retransmissions ran out): they must be handled
        // now, not at some later timer.
        any || self.tcp.has_events()
    }

    fn check_phase(&mut self, now: Instant) -> bool {
        match self.phase {
            Phase::Talking => {
                if self.smtp.is_done() {
                    self.finish_talking(now);
                    return true;
                }
                false
            }
            Phase::Sweeping => {
                let sweep_done = self.sweep.as_ref().is_none_or(Sweep::is_finished);
                let answered = self.smtp.observations().starttls_reply.is_some();
                let timed_out = self.starttls_deadline().is_some_and(|d| now >= d);
                let ended = answered || self.connection_reset;
                if (sweep_done && ended) || timed_out || self.smtp.is_done() {
                    if timed_out && !answered {
                        self.errors.push(format!(
                            "no answer to STARTTLS within {:?}",
                            self.cfg.starttls_timeout
                        ));
                    }
                    self.finish_talking(now);
                    return true;
                }
                false
            }
            Phase::Tls => {
                let sweep_done = self.sweep.as_ref().is_none_or(Sweep::is_finished);
                let tls_done = self.tls.as_ref().is_none_or(TlsStage::is_done);
                if tls_done && sweep_done {
                    // The verdict's evidence is complete; QUIT inside TLS, close_notify and
                    // FIN follow in the closing phase.
                    self.finish_talking(now);
                    self.close_after_tls = !self.connection_reset;
                    return true;
                }
                false
            }
            Phase::Closing => {
                if self.close_after_tls && self.tls.as_ref().is_none_or(TlsStage::may_close) {
                    self.close_after_tls = false;
                    self.tcp.close(now);
                }
                let closed = matches!(self.tcp.state(), TcpState::Closed | TcpState::TimeWait);
                let late = self.close_deadline.is_some_and(|d| now >= d);
                // The interception check's rounds are bounded; its verdict is part of ours.
                let checking = self.intercept.as_ref().is_some_and(|c| !c.is_done());
                if late {
                    if let Some(check) = self.intercept.as_mut() {
                        check.abandon();
                    }
                } else if checking {
                    return false;
                }
                if closed || late {
                    if late && !closed {
                        self.abort(now);
                    } else {
                        self.phase = Phase::Done;
                        self.timeline.done = Some(now.saturating_duration_since(self.started));
                    }
                    return true;
                }
                false
            }
            Phase::Done => false,
        }
    }

    /// The sweep's per-hop records so far.
    pub fn hop_records(&self) -> Vec<crate::evidence::HopRecord> {
        let echo = self.smtp.observations().starttls_echo.clone();
        self.sweep
            .as_ref()
            .map(|s| s.hop_records(echo.as_deref().map(str::as_bytes)))
            .unwrap_or_default()
    }

    /// The evidence gathered so far.
    pub fn evidence(&self, prober: Ipv4Addr) -> Evidence {
        let hops = self.hop_records();
        let distance = self.server_ttl.map(distance_from_ttl);
        let tcp = TcpObservations {
            connect: self.connect.unwrap_or(ConnectOutcome::TimedOut),
            server_ttl: self.server_ttl,
            server_distance: distance,
            rsts: self.rsts.clone(),
            starttls_unacked: self.starttls_at.is_some() && !self.starttls_acked,
            closed_by_peer: self.closed_by_peer,
            ack_retransmits: self.ack_retransmits,
        };
        // The verdict needs the interception check's result too.
        let mut timeline = self.timeline;
        if let (Some(v), Some(c)) = (timeline.verdict, self.intercept_done_at) {
            timeline.verdict = Some(v.max(c));
        }
        Evidence {
            target: self.flow.remote,
            prober,
            started_at: self.started_wall,
            timeline,
            hops,
            smtp: self.smtp.observations().clone(),
            tcp,
            errors: self.errors.clone(),
            unmatched_icmp: self.sweep.as_ref().map_or(0, Sweep::unmatched),
            incomplete: self.interrupted.clone().map(Incomplete::Interrupted),
            interception: self.interception(),
            tls: self.tls.as_ref().map(TlsStage::evidence),
            tls_skipped: self.tls_skipped.clone(),
        }
    }

    fn interception(&self) -> InterceptionCheck {
        if let Some(r) = self
            .intercept
            .as_ref()
            .and_then(InterceptCheckState::result)
        {
            return r.clone();
        }
        if self.intercept.is_some() {
            return InterceptionCheck::Undetermined("still running".to_string());
        }
        InterceptionCheck::NotChecked(self.intercept_skipped.clone().unwrap_or_else(|| {
            if self.server_ttl.is_none() || self.connect != Some(ConnectOutcome::Established) {
                "no TCP connection".to_string()
            } else {
                "disabled".to_string()
            }
        }))
    }
}
