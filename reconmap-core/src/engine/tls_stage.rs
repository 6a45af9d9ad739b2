//! After `220 Ready to start TLS`: a real TLS client handshake on the same connection
//! (`reconmap_tls::TlsProbe`, sans-IO), the segment carrying the ClientHello swept with TTL
//! 1..n like the STARTTLS segment (where it stops or changes), then `QUIT` inside TLS,
//! close_notify and FIN.
//!
//! The stage owns no socket: the session hands it the TCP client to queue bytes on, and the
//! bytes the server sent.
use super::sweep::{Sweep, SweepPlan, SweepProbe, TsvalBlock, TSVAL_BLOCK};
use crate::tcp::TcpClient;
use reconmap_tls::{TlsProbe, TlsProbeConfig, TlsState, TransportEnd};
use reconmap_wire::{FlowAddrs, IcmpError, IpId, PacketError, Quote, TcpSegment, TimeToLive};
use std::time::{Duration, Instant, SystemTime};

/// What the session gives the stage to start with.
pub struct TlsStart<'a> {
    pub cfg: &'a TlsProbeConfig,
    /// The name sent as SNI and checked against the certificate (`None`: no SNI).
    pub server_name: Option<&'a str>,
    pub flow: FlowAddrs,
    pub limit: TimeToLive,
    pub retries: u8,
    pub wait: Duration,
    pub server_distance: Option<TimeToLive>,
    pub first_ip_id: IpId,
    /// Sweep the ClientHello segment (off: it is sent once, normally).
    pub sweep: bool,
    /// Send control segments to TTLs silent for the ClientHello.
    pub controls: bool,
    /// How long the server may take to answer before the session gives up on TLS.
    pub answer_timeout: Duration,
    /// How long to wait for the reply to `QUIT` inside TLS before close_notify.
    pub quit_wait: Duration,
}

/// The TLS part of a session.
pub struct TlsStage {
    probe: TlsProbe,
    sweep: Option<Sweep>,
    /// The segment that carried the start of the ClientHello, as TCP would send it.
    hello_segment: Option<TcpSegment>,
    /// Why the ClientHello was not swept, when it was not.
    sweep_skipped: Option<String>,
    started: Instant,
    deadline: Instant,
    quit_sent: bool,
    /// close_notify goes when the reply to QUIT came, or at this time.
    quit_deadline: Option<Instant>,
    quit_wait: Duration,
    closed: bool,
    /// The server sent anything at all after the ClientHello.
    server_spoke: bool,
    /// The ClientHello was acknowledged by the server.
    hello_acked: bool,
    /// The QUIT reply inside TLS, as text.
    quit_reply: Option<String>,
    /// The server closed the connection (FIN) before the handshake was over.
    server_closed: bool,
    errors: Vec<String>,
}

impl TlsStage {
    /// Starts the handshake: queues the ClientHello on `tcp` (held back for the sweep, whose
    /// probes are returned to send now).
    pub fn start(
        s: TlsStart<'_>,
        tcp: &mut TcpClient,
        now: Instant,
    ) -> Result<(Self, Vec<SweepProbe>), String> {
        let mut probe = TlsProbe::new(s.cfg, s.server_name, now, SystemTime::now())
            .map_err(|e| format!("cannot start TLS: {e}"))?;
        let hello = probe.outgoing();
        // Held: the sweep's copies carry the first segment; TCP retransmits it normally only
        // if the server has not acknowledged it by then.
        tcp.hold_retransmit(now + s.wait * (u32::from(s.retries) + 2));
        tcp.send(&hello)
            .map_err(|e| format!("cannot queue the ClientHello: {e}"))?;
        let segment = tcp.unacked_data_segment(now);
        let mut stage = Self {
            probe,
            sweep: None,
            hello_segment: segment.clone(),
            sweep_skipped: None,
            started: now,
            deadline: now + s.answer_timeout,
            quit_sent: false,
            quit_deadline: None,
            quit_wait: s.quit_wait,
            closed: false,
            server_spoke: false,
            hello_acked: false,
            quit_reply: None,
            server_closed: false,
            errors: Vec::new(),
        };
        let whole = segment
            .as_ref()
            .is_some_and(|seg| seg.payload.len() >= hello.len());
        let skip = if !s.sweep {
            Some("disabled".to_string())
        } else if segment.is_none() {
            Some("TCP produced no ClientHello segment".to_string())
        } else if !whole {
            Some(format!(
                "the ClientHello ({} bytes) does not fit one segment",
                hello.len()
            ))
        } else {
            None
        };
        let Some(template) = segment.filter(|_| skip.is_none()) else {
            stage.sweep_skipped = skip;
            // Sent normally, at once.
            tcp.hold_retransmit(now);
            return Ok((stage, Vec::new()));
        };
        let tsvals = tcp
            .reserve_timestamps(now, TSVAL_BLOCK)
            .map(|first| TsvalBlock {
                first,
                len: TSVAL_BLOCK,
            });
        // Control segments: bytes before the connection's acknowledged data (an old
        // duplicate to the server, were it to reach it), zeros: nothing a TLS box looks at.
        let control = s
            .controls
            .then(|| tcp.old_data_segment(now, template.payload.len()))
            .flatten();
        let mut sweep = Sweep::new(SweepPlan {
            flow: s.flow,
            template,
            control,
            limit: s.limit,
            retries: s.retries,
            wait: s.wait,
            server_distance: s.server_distance,
            first_ip_id: s.first_ip_id,
            tsvals,
        });
        let probes = sweep.start(now).map_err(|e: PacketError| e.to_string())?;
        stage.sweep = Some(sweep);
        Ok((stage, probes))
    }

    /// Whether an ICMP quote is of one of this stage's probes.
    pub fn owns(&self, quote: &Quote) -> bool {
        self.sweep.as_ref().is_some_and(|s| s.owns(quote))
    }

    pub fn on_icmp(&mut self, at: Instant, icmp: &IcmpError) -> Result<Vec<SweepProbe>, String> {
        let Some(sweep) = self.sweep.as_mut() else {
            return Ok(Vec::new());
        };
        sweep.on_icmp(at, icmp);
        sweep.take_owed(at).map_err(|e| e.to_string())
    }

    pub fn mark_sent(&mut self, id: IpId, at: Instant) {
        if let Some(s) = self.sweep.as_mut() {
            s.mark_sent(id, at);
        }
    }

    /// The server's bytes (TLS records), in any split; what the probe answers is queued.
    pub fn received(&mut self, now: Instant, data: &[u8], tcp: &mut TcpClient) {
        if data.is_empty() {
            return;
        }
        self.server_spoke = true;
        // The server answered: TCP may retransmit normally from now on.
        tcp.hold_retransmit(now);
        self.probe.received(now, data);
        if self.quit_sent {
            let app = self.probe.take_app();
            if !app.is_empty() && self.quit_reply.is_none() {
                let text = String::from_utf8_lossy(&app);
                self.quit_reply = text
                    .lines()
                    .next()
                    .map(|l| crate::smtp::escape(l.as_bytes()));
            }
        }
        self.pump(now, tcp);
    }

    /// The server acknowledged everything we sent (the ClientHello, at first).
    pub fn acked(&mut self) {
        self.hello_acked = true;
    }

    /// The connection ended under the handshake (the server's FIN, or a reset).
    pub fn transport_closed(&mut self, now: Instant, how: TransportEnd) {
        if how == TransportEnd::Fin && !self.handshake_over() {
            self.server_closed = true;
        }
        self.probe.transport_closed(now, how);
    }

    /// Queues what the probe wants to send; once established, `QUIT`, and close_notify only
    /// if the server has not closed TLS itself by a deadline: a server that reads the QUIT,
    /// answers and closes with our close_notify still unread would reset the connection,
    /// losing its reply.
    pub fn pump(&mut self, now: Instant, tcp: &mut TcpClient) {
        if self.probe.state() == TlsState::Established && !self.quit_sent {
            self.quit_sent = true;
            self.quit_deadline = Some(now + self.quit_wait);
            if let Err(e) = self.probe.send_app(b"QUIT\r\n") {
                self.errors
                    .push(format!("cannot send QUIT inside TLS: {e}"));
            }
        }
        // The server answers QUIT and closes TLS itself (Postfix: 221, close_notify, FIN):
        // then ours is not needed, and would only meet a closed socket (a RST). Without its
        // close_notify by the deadline, ours goes.
        let peer_closed = self.probe.state() == TlsState::Closed;
        let waited = self.quit_deadline.is_some_and(|d| now >= d);
        if self.quit_sent && !self.closed && (peer_closed || waited) {
            self.probe.close();
            self.closed = true;
        }
        let out = self.probe.outgoing();
        if !out.is_empty() {
            if let Err(e) = tcp.send(&out) {
                self.errors.push(format!("cannot send TLS bytes: {e}"));
            }
        }
    }

    /// Whether our side of TLS is over (close_notify queued, or the handshake failed): the
    /// connection may be closed.
    pub fn may_close(&self) -> bool {
        self.closed || (self.handshake_over() && !self.quit_sent)
    }

    pub fn poll_at(&self) -> Option<Instant> {
        [
            self.sweep.as_ref().and_then(Sweep::poll_at),
            self.probe.poll_at(),
            (!self.handshake_over()).then_some(self.deadline),
            self.quit_deadline.filter(|_| !self.closed),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    pub fn on_timer(
        &mut self,
        now: Instant,
        tcp: &mut TcpClient,
    ) -> Result<Vec<SweepProbe>, String> {
        self.probe.on_timeout(now);
        if !self.handshake_over() && now >= self.deadline {
            self.probe.close();
            self.errors.push(format!(
                "no complete TLS handshake within {:?}",
                now.saturating_duration_since(self.started)
            ));
        }
        self.pump(now, tcp);
        match self.sweep.as_mut() {
            Some(s) => s.on_timer(now).map_err(|e| e.to_string()),
            None => Ok(Vec::new()),
        }
    }

    /// The handshake completed or failed (what the verdict needs from TLS).
    pub fn handshake_over(&self) -> bool {
        self.probe.state() != TlsState::Handshaking
    }

    /// The handshake is over and the sweep has all its answers (or gave up).
    pub fn is_done(&self) -> bool {
        self.handshake_over() && self.sweep.as_ref().is_none_or(Sweep::is_finished)
    }

    pub fn established(&self) -> bool {
        matches!(self.probe.state(), TlsState::Established | TlsState::Closed)
            && self.probe.observations().failure.is_none()
    }

    /// Ends the sweep (the session is closing).
    pub fn finish(&mut self) {
        if let Some(s) = self.sweep.as_mut() {
            s.finish();
        }
    }

    /// Everything the stage saw, for the evidence.
    pub fn evidence(&self) -> crate::evidence::TlsEvidence {
        crate::evidence::TlsEvidence {
            observations: self.probe.observations(),
            hops: self
                .sweep
                .as_ref()
                .map(|s| s.hop_records(None))
                .unwrap_or_default(),
            unmatched_icmp: self.sweep.as_ref().map_or(0, Sweep::unmatched),
            client_hello: self
                .hello_segment
                .as_ref()
                .map(|s| s.payload.to_vec())
                .unwrap_or_default(),
            sweep_skipped: self.sweep_skipped.clone(),
            server_spoke: self.server_spoke,
            hello_acked: self.hello_acked,
            server_closed: self.server_closed,
            quit_reply: self.quit_reply.clone(),
            errors: self.errors.clone(),
        }
    }
}
