//! One call's media: the caller's and the agent's RTP sockets and what flows between them.
//!
//! It relays RTP between the legs (rewriting SSRC/sequence/timestamps so each party sees
//! one continuous stream, transcoding A-law↔µ-law when the legs differ), plays prompts and
//! hold music to the caller, detects RFC 4733 digits on both legs (and sends an
//! operator's digits to a leg, `dtmf_out`), and feeds the stereo recording (caller left;
//! what the caller hears right). Symmetric RTP: each leg latches to the address its media
//! really comes from, so phones behind NAT work.
//!
//! A session is driven by a `reactor` worker thread (many sessions per thread), never by a
//! task of its own. Hot path rules: no allocation and no blocking per packet (a full socket
//! buffer drops the packet and counts it), no database work; recording blocks go to the
//! shared writer thread. The call's actor talks to the session by `MediaCommand` through
//! its `MediaHandle` and hears back by `MediaEvent`; it never touches the sockets.

use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mio::net::UdpSocket;
use rtp_rs::{RtpPacketBuilder, RtpReader, Seq};
use tokio::sync::{mpsc, oneshot};

use crate::media::dtmf::DtmfReceiver;
use crate::media::dtmf_out::DtmfQueue;
use crate::media::recording::{Channel, RecordingHandle, RecordingReceipt};
use crate::media::shared_port::{LegPort, SharedPort};
use crate::media::stream::{InClock, OutHeader, OutStream, RATE};
use crate::media::udp_batch::{self, SendBatch};
use crate::media::voice::{MAX_PAYLOAD, MAX_PCM, Voice};
use crate::sdp::{Codec, Negotiated};

const FRAME: usize = 160;
pub(super) const MTU: usize = 1500;
/// How often a session's clock work runs: prompt frames, recording advance, RTP timeouts.
pub(super) const TICK: Duration = Duration::from_millis(20);
/// A leg silent this long (not on hold) is reported once, so the call can be cleared.
const RTP_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Leg {
    Caller,
    Agent,
}

impl Leg {
    pub(super) fn index(self) -> usize {
        match self {
            Leg::Caller => 0,
            Leg::Agent => 1,
        }
    }
    fn other(self) -> Leg {
        match self {
            Leg::Caller => Leg::Agent,
            Leg::Agent => Leg::Caller,
        }
    }
}

#[derive(Debug)]
pub enum MediaCommand {
    /// Where a leg's RTP goes and which codec it speaks (from SDP).
    Remote {
        leg: Leg,
        addr: SocketAddr,
        negotiated: Negotiated,
    },
    /// Play audio (8 kHz PCM) to one leg, replacing whatever is playing; `id` comes
    /// back in `PromptFinished`. Sent by `MediaHandle::play`, which numbers playbacks.
    /// Only what the caller hears is recorded (a prompt to the agent is a private cue).
    Play {
        leg: Leg,
        /// Played back to back; shared with the prompt library, never copied per call.
        parts: Vec<Arc<[i16]>>,
        looped: bool,
        id: u64,
    },
    /// Stop what is playing, without a `PromptFinished` (barge-in).
    Stop,
    /// Relay audio both ways between the legs; stops any playback.
    Bridge,
    /// Stop relaying (the agent put the call on hold, or left).
    Unbridge,
    /// Whether a leg may be sent to (false while that party holds with sendonly/inactive).
    Sending { leg: Leg, enabled: bool },
    /// Send these digits to a leg as RFC 4733 events (`dtmf_out`), alongside whatever
    /// it hears; dropped when that leg negotiated no telephone-event.
    Dtmf { leg: Leg, digits: String },
    /// End the call's media: the recording is finalized and its receipt returned.
    Finish {
        reply: oneshot::Sender<Option<RecordingReceipt>>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaEvent {
    Dtmf {
        leg: Leg,
        digit: char,
    },
    /// Playback `id` reached its end (a replaced or stopped one never reports).
    PromptFinished {
        id: u64,
    },
    RtpTimeout {
        leg: Leg,
    },
}

/// Process-wide counters exported on /metrics.
#[derive(Debug, Default)]
pub struct MediaStats {
    pub packets_in: AtomicU64,
    pub packets_out: AtomicU64,
    pub packets_dropped: AtomicU64,
    pub packets_invalid: AtomicU64,
    /// Packets on a shared port from a source no leg there expects (a peer's stray or
    /// late packets, a scan); dropped.
    pub packets_stray: AtomicU64,
    /// Media workers running on io_uring (the others fell back to epoll).
    pub workers_io_uring: AtomicU64,
    /// io_uring receives that ended and were armed again (the receive buffers ran out,
    /// or a socket reported an error); the datagrams waited in their socket meanwhile.
    pub receive_rearms: AtomicU64,
}

/// The actor's side of a running media session.
#[derive(Debug, Clone)]
pub struct MediaHandle {
    pub(super) id: u64,
    pub(super) tx: crossbeam_channel::Sender<super::reactor::WorkerMsg>,
    /// The id of the latest playback started or stop requested, shared by the handle's
    /// clones (the call actor, its IVR driver and its queue music), so an end report
    /// from a playback already replaced is told apart from the current one's.
    pub(super) latest_play: Arc<AtomicU64>,
}

impl MediaHandle {
    /// Sends a command; a session that already ended ignores it. Never blocks: the
    /// reactor's queue is unbounded and commands are a handful per call.
    pub async fn send(&self, cmd: MediaCommand) {
        let _ = self
            .tx
            .send(super::reactor::WorkerMsg::Command(self.id, cmd));
    }

    /// Plays `samples` to the caller in place of whatever plays; returns the playback's
    /// id, which `MediaEvent::PromptFinished` reports at its end.
    pub async fn play(&self, samples: Arc<[i16]>, looped: bool) -> u64 {
        self.play_parts(vec![samples], looped).await
    }

    /// Plays prompts back to back as one playback (a menu, a number said in fragments)
    /// without copying their audio.
    pub async fn play_parts(&self, parts: Vec<Arc<[i16]>>, looped: bool) -> u64 {
        self.play_to(Leg::Caller, parts, looped).await
    }

    /// Plays to `leg`: the agent hears a cue (a callback's "calling the citizen") while
    /// the caller leg is not up yet.
    pub async fn play_to(&self, leg: Leg, parts: Vec<Arc<[i16]>>, looped: bool) -> u64 {
        let id = self.latest_play.fetch_add(1, Ordering::Relaxed) + 1;
        self.send(MediaCommand::Play {
            leg,
            parts,
            looped,
            id,
        })
        .await;
        id
    }

    /// Stops the playback; no end is reported for it.
    pub async fn stop(&self) {
        self.latest_play.fetch_add(1, Ordering::Relaxed);
        self.send(MediaCommand::Stop).await;
    }

    /// Whether playback `id` is the latest one started (its end is news, not stale).
    pub fn is_latest(&self, id: u64) -> bool {
        self.latest_play.load(Ordering::Relaxed) == id
    }

    /// Finalizes the recording and stops the session.
    pub async fn finish(&self) -> Option<RecordingReceipt> {
        let (reply, rx) = oneshot::channel();
        self.send(MediaCommand::Finish { reply }).await;
        rx.await.ok().flatten()
    }
}

/// A leg's socket as its worker sees it.
pub(super) enum LegSocket {
    /// Registered with the worker's poll under the leg's own token.
    Own(UdpSocket),
    /// Read by the worker on the shared port; packets reach the leg by source address.
    Shared(SharedPort),
}

impl LegSocket {
    pub(super) fn fd(&self) -> RawFd {
        match self {
            LegSocket::Own(s) => s.as_raw_fd(),
            LegSocket::Shared(p) => p.fd,
        }
    }
}

pub(super) struct LegState {
    pub(super) sock: LegSocket,
    remote: Option<SocketAddr>,
    /// Where the peer's SDP says its RTP comes from.
    announced: Option<SocketAddr>,
    /// Whether `remote` came from real packets (symmetric RTP) rather than SDP.
    latched: bool,
    /// Whether the leg's own socket is connected to `remote` (see `latch`).
    connected: bool,
    negotiated: Option<Negotiated>,
    /// The codec state for what this leg speaks; set with `negotiated`.
    voice: Option<Voice>,
    out: OutStream,
    in_clock: InClock,
    dtmf: DtmfReceiver,
    sending: bool,
    last_rx: Instant,
    timeout_reported: bool,
}

impl LegState {
    fn new(port: LegPort, ssrc: u32, seq: u16, ts: u32, now: Instant) -> Self {
        let sock = match port {
            LegPort::Own(s) => LegSocket::Own(UdpSocket::from_std(s)),
            LegPort::Shared(p) => LegSocket::Shared(p),
        };
        LegState {
            sock,
            remote: None,
            announced: None,
            latched: false,
            connected: false,
            negotiated: None,
            voice: None,
            out: OutStream::new(ssrc, seq, ts),
            in_clock: InClock::default(),
            dtmf: DtmfReceiver::default(),
            sending: true,
            last_rx: now,
            timeout_reported: false,
        }
    }

    /// The shared port and the source addresses this leg's packets are taken from, when
    /// it sits on a shared port: the one its peer's SDP announced (always, so a peer
    /// that sends from there again is heard even after a stray packet was latched to),
    /// and the one latched to, if another.
    pub(super) fn shared_keys(&self) -> [Option<(usize, SocketAddr)>; 2] {
        let LegSocket::Shared(p) = &self.sock else {
            return [None, None];
        };
        let latched = self.remote.filter(|r| Some(*r) != self.announced);
        [
            self.announced.map(|a| (p.port, a)),
            latched.map(|a| (p.port, a)),
        ]
    }

    /// Whether a packet from `from` may be this leg's first: nothing came in yet and it
    /// comes from the host its SDP names (a gateway sending from another port than it
    /// announced).
    pub(super) fn awaits_first_packet_from(&self, from: SocketAddr) -> bool {
        !self.latched && self.announced.is_some_and(|r| r.ip() == from.ip())
    }

    /// Symmetric RTP: sends follow where the peer's packets come from. A leg on its own
    /// port whose peer sends from exactly the address its SDP announced (a gateway, a LAN
    /// phone) has its socket connected there: the kernel then skips a route lookup per
    /// datagram sent, and packets from anywhere else never reach the call (no injected or
    /// stray audio). A peer sending from elsewhere (NAT) stays unconnected and followed.
    fn latch(&mut self, from: SocketAddr) {
        if self.connected {
            // Only a datagram queued before the connect can come from elsewhere.
            return;
        }
        if !self.latched || self.remote != Some(from) {
            self.remote = Some(from);
            self.latched = true;
        }
        if let LegSocket::Own(sock) = &self.sock
            && self.announced == Some(from)
        {
            match sock.connect(from) {
                Ok(()) => self.connected = true,
                Err(e) => tracing::debug!(error = %e, %from, "cannot connect an RTP socket"),
            }
        }
    }

    /// The peer announced a new media address (a re-INVITE): forget the old association
    /// so its packets, from wherever they now come, are heard again.
    fn reannounce(&mut self, addr: SocketAddr) {
        // A zero address is old-style hold (RFC 3264 §8.4), not a move: on resume the peer
        // names its address again.
        if self.announced == Some(addr) || addr.ip().is_unspecified() {
            return;
        }
        if self.connected {
            if let Err(e) = udp_batch::disconnect(self.sock.fd()) {
                tracing::warn!(error = %e, "cannot disconnect an RTP socket; the peer's new address may go unheard");
            }
            self.connected = false;
            self.latched = false;
        }
        if !self.latched {
            self.remote = Some(addr);
        }
        self.announced = Some(addr);
    }
}

struct Playback {
    parts: Vec<Arc<[i16]>>,
    /// The part playing and the position in it.
    part: usize,
    pos: usize,
    /// Some part has samples (an all-empty looped playback must not spin).
    has_audio: bool,
    looped: bool,
    id: u64,
    leg: Leg,
}

pub struct MediaSession {
    pub(super) legs: [LegState; 2],
    /// When the reactor next runs `on_tick`.
    pub(super) next_tick: Instant,
    recording: Option<RecordingHandle>,
    playback: Option<Playback>,
    bridged: bool,
    started: Instant,
    events: mpsc::Sender<MediaEvent>,
    stats: Arc<MediaStats>,
    local: LocalCounters,
    /// Digits on their way to a leg; boxed, as most calls never send any.
    dtmf_out: Option<Box<(Leg, DtmfQueue)>>,
}

#[derive(Default)]
struct LocalCounters {
    packets_in: u64,
    dropped: u64,
    invalid: u64,
}

impl LocalCounters {
    /// Counts a packet that could not even be built; what is queued is counted sent or
    /// dropped by the worker when it flushes.
    fn count(&mut self, queued: bool) {
        if !queued {
            self.dropped += 1;
        }
    }
}

impl MediaSession {
    /// The media of a call whose caller leg was just answered; hand it to
    /// `MediaReactor::attach` to run it. `seed` gives the SSRCs and initial sequence
    /// numbers/timestamps (random, per RFC 3550).
    pub fn new(
        caller: LegPort,
        agent: LegPort,
        recording: Option<RecordingHandle>,
        events: mpsc::Sender<MediaEvent>,
        stats: Arc<MediaStats>,
        seed: [u32; 4],
    ) -> MediaSession {
        let now = Instant::now();
        MediaSession {
            next_tick: now + TICK,
            legs: [
                LegState::new(caller, seed[0], seed[2] as u16, seed[3], now),
                LegState::new(
                    agent,
                    seed[1],
                    (seed[2] >> 16) as u16,
                    seed[3] ^ seed[1],
                    now,
                ),
            ],
            recording,
            playback: None,
            bridged: false,
            started: now,
            events,
            stats,
            local: LocalCounters::default(),
            dtmf_out: None,
        }
    }

    /// The worker whose shared port a leg sits on: the session must run there.
    pub(super) fn worker(&self) -> Option<usize> {
        self.legs.iter().find_map(|l| match &l.sock {
            LegSocket::Shared(p) => Some(p.worker),
            LegSocket::Own(_) => None,
        })
    }

    fn now_sample(&self) -> u64 {
        self.sample_at(Instant::now())
    }

    fn sample_at(&self, now: Instant) -> u64 {
        let d = now.saturating_duration_since(self.started);
        d.as_secs() * RATE + u64::from(d.subsec_nanos()) * RATE / 1_000_000_000
    }

    /// Ends the session: the recording is closed at the current time.
    pub(super) fn finish(&mut self) -> Option<RecordingReceipt> {
        let end = self.now_sample();
        let receipt = self.recording.take().map(|r| r.finish(end));
        self.flush_counters();
        receipt
    }

    /// Whether the call's actor is gone (it dropped its event receiver without finishing,
    /// e.g. after a panic): the reactor then finishes the session itself.
    pub(super) fn orphaned(&self) -> bool {
        self.events.is_closed()
    }

    pub(super) fn command(&mut self, cmd: MediaCommand) {
        match cmd {
            MediaCommand::Remote {
                leg,
                addr,
                negotiated,
            } => {
                let l = &mut self.legs[leg.index()];
                l.reannounce(addr);
                l.negotiated = Some(negotiated);
                if l.voice.as_ref().map(Voice::codec) != Some(negotiated.codec) {
                    match Voice::new(negotiated.codec) {
                        Ok(v) => {
                            l.out.set_ticks(v.ticks_per_sample());
                            l.in_clock.set_ticks(v.ticks_per_sample());
                            l.voice = Some(v);
                        }
                        Err(e) => {
                            // The leg stays silent; the call and its recording go on.
                            tracing::error!(error = %e, ?leg, "cannot set up the leg's codec");
                            l.voice = None;
                        }
                    }
                }
            }
            MediaCommand::Play {
                leg,
                parts,
                looped,
                id,
            } => {
                if let Some(old) = self.playback.take()
                    && old.leg != leg
                {
                    self.legs[old.leg.index()].out.pause();
                }
                self.playback = Some(Playback {
                    leg,
                    has_audio: parts.iter().any(|p| !p.is_empty()),
                    parts,
                    part: 0,
                    pos: 0,
                    looped,
                    id,
                });
            }
            MediaCommand::Stop => {
                if let Some(pb) = self.playback.take() {
                    self.legs[pb.leg.index()].out.pause();
                }
            }
            MediaCommand::Bridge => {
                self.playback = None;
                self.bridged = true;
            }
            MediaCommand::Unbridge => {
                self.bridged = false;
                for l in &mut self.legs {
                    l.out.pause();
                }
            }
            MediaCommand::Sending { leg, enabled } => {
                let l = &mut self.legs[leg.index()];
                l.sending = enabled;
                if !enabled {
                    l.out.pause();
                }
            }
            MediaCommand::Dtmf { leg, digits } => {
                let out = self
                    .dtmf_out
                    .get_or_insert_with(|| Box::new((leg, DtmfQueue::default())));
                // Digits for another leg than the queued ones replace them.
                if out.0 != leg {
                    **out = (leg, DtmfQueue::default());
                }
                out.1.push(&digits);
            }
            MediaCommand::Finish { .. } => {}
        }
    }

    /// A datagram from `from` for `leg`; `now` is when the worker's pass began (one clock
    /// read per pass, not two per packet: packets waited up to a batch interval anyway).
    pub(super) fn on_packet(
        &mut self,
        leg: Leg,
        packet: &[u8],
        from: SocketAddr,
        now: Instant,
        tx: &mut SendBatch,
    ) {
        let Ok(rtp) = RtpReader::new(packet) else {
            self.local.invalid += 1;
            return;
        };
        self.local.packets_in += 1;
        let now_sample = self.sample_at(now);
        let l = &mut self.legs[leg.index()];
        l.latch(from);
        l.last_rx = now;
        l.timeout_reported = false;
        let Some(neg) = l.negotiated else { return };
        let pt = rtp.payload_type();
        if Some(pt) == neg.telephone_event_pt {
            if let Ok(Some(d)) = l.dtmf.on_packet(rtp.timestamp(), rtp.payload()) {
                let _ = self.events.try_send(MediaEvent::Dtmf {
                    leg,
                    digit: d.digit,
                });
            }
            return;
        }
        if pt != neg.pt {
            // Comfort noise and other payloads are neither recorded nor relayed.
            return;
        }
        let payload = rtp.payload();
        let in_ticks = l.voice.as_ref().map_or(1, Voice::ticks_per_sample);
        let pos = l.in_clock.position(rtp.ssrc(), rtp.timestamp(), now_sample);
        let channel = match leg {
            Leg::Caller => Some(Channel::Caller),
            Leg::Agent if self.bridged => Some(Channel::Other),
            Leg::Agent => None,
        };
        let out_codec = self.legs[leg.other().index()]
            .negotiated
            .filter(|_| self.bridged)
            .map(|n| n.codec);
        // A PCMA payload is recorded as it came and relayed untouched to a PCMA leg: the
        // trunks' common case decodes nothing.
        let alaw = neg.codec == Codec::Pcma;
        let record = channel.filter(|_| self.recording.is_some());
        let need_pcm = (record.is_some() && !alaw) || out_codec.is_some_and(|c| c != neg.codec);
        let mut pcm = [0i16; MAX_PCM];
        let mut n = 0;
        if need_pcm {
            let l = &mut self.legs[leg.index()];
            let Some(decoded) = l.voice.as_mut().and_then(|v| v.decode(payload, &mut pcm)) else {
                self.local.invalid += 1;
                return;
            };
            n = decoded;
        }
        if let (Some(rec), Some(ch)) = (self.recording.as_mut(), record) {
            if alaw {
                rec.push_alaw(ch, pos, payload);
            } else {
                rec.push(ch, pos, &pcm[..n]);
            }
        }
        if !self.bridged {
            return;
        }
        let other = &mut self.legs[leg.other().index()];
        let (Some(dest), Some(out_neg), true) = (other.remote, other.negotiated, other.sending)
        else {
            return;
        };
        if out_neg.codec == neg.codec {
            // Same codec both ways: the payload passes through untouched.
            let header = other.out.next_relayed(
                now_sample,
                rtp.ssrc(),
                rtp.timestamp(),
                in_ticks,
                rtp.mark(),
            );
            let sent = other.send_rtp(tx, out_neg.pt, header, payload, dest);
            self.local.count(sent);
            return;
        }
        // Transcode, cutting the frame into packets the other codec accepts. The codec
        // state is lent out of the leg for the loop (a move of a pointer, not a copy).
        let Some(mut voice) = other.voice.take() else {
            return;
        };
        let mut body = [0u8; MAX_PAYLOAD];
        let mut done = 0;
        let mut prev = 0;
        while done < n {
            let len = voice.frame_len(n - done);
            if len == 0 {
                break;
            }
            let header = if done == 0 {
                other.out.next_relayed(
                    now_sample,
                    rtp.ssrc(),
                    rtp.timestamp(),
                    in_ticks,
                    rtp.mark(),
                )
            } else {
                other.out.next_piece(now_sample, prev as u32)
            };
            let Some(bytes) = voice.encode(&pcm[done..done + len], &mut body) else {
                self.local.invalid += 1;
                break;
            };
            let sent = other.send_rtp(tx, out_neg.pt, header, &body[..bytes], dest);
            self.local.count(sent);
            done += len;
            prev = len;
        }
        other.voice = Some(voice);
    }

    pub(super) fn on_tick(&mut self, tx: &mut SendBatch) {
        let now_sample = self.now_sample();
        self.play_frame(now_sample, tx);
        self.send_dtmf(tx);
        if let Some(rec) = self.recording.as_mut() {
            rec.advance(now_sample);
        }
        let now = Instant::now();
        for (i, l) in self.legs.iter_mut().enumerate() {
            let active = l.negotiated.is_some() && l.sending && (i == 0 || self.bridged);
            if active && !l.timeout_reported && now.duration_since(l.last_rx) > RTP_TIMEOUT {
                l.timeout_reported = true;
                let leg = if i == 0 { Leg::Caller } else { Leg::Agent };
                let _ = self.events.try_send(MediaEvent::RtpTimeout { leg });
            }
        }
        self.flush_counters();
    }

    /// Sends the next 20 ms of the playing prompt to its leg (and records it when the
    /// caller hears it).
    fn play_frame(&mut self, now_sample: u64, tx: &mut SendBatch) {
        let Some(pb) = self.playback.as_mut() else {
            return;
        };
        let mut pcm = [0i16; FRAME];
        let mut filled = 0;
        while filled < FRAME {
            let Some(part) = pb.parts.get(pb.part) else {
                if pb.looped && pb.has_audio {
                    (pb.part, pb.pos) = (0, 0);
                    continue;
                }
                break;
            };
            let left = part.len().saturating_sub(pb.pos);
            if left == 0 {
                (pb.part, pb.pos) = (pb.part + 1, 0);
                continue;
            }
            let take = left.min(FRAME - filled);
            pcm[filled..filled + take].copy_from_slice(&part[pb.pos..pb.pos + take]);
            pb.pos += take;
            filled += take;
        }
        let finished = filled < FRAME;
        if filled > 0 {
            // The last partial frame is padded with silence: G.711 frames stay 20 ms.
            let leg = pb.leg;
            if let (Some(rec), Leg::Caller) = (self.recording.as_mut(), leg) {
                rec.push(Channel::Other, now_sample, &pcm);
            }
            let to = &mut self.legs[leg.index()];
            if let (Some(dest), Some(neg), true, Some(voice)) =
                (to.remote, to.negotiated, to.sending, to.voice.as_mut())
            {
                let header = to.out.next_local(now_sample, FRAME as u32);
                let mut body = [0u8; MAX_PAYLOAD];
                match voice.encode(&pcm, &mut body) {
                    Some(bytes) => {
                        let sent = to.send_rtp(tx, neg.pt, header, &body[..bytes], dest);
                        self.local.count(sent);
                    }
                    None => self.local.invalid += 1,
                }
            }
        }
        if finished {
            let (id, leg) = self
                .playback
                .take()
                .map_or((0, Leg::Caller), |p| (p.id, p.leg));
            self.legs[leg.index()].out.pause();
            let _ = self.events.try_send(MediaEvent::PromptFinished { id });
        }
    }

    /// This tick's telephone-event packet of the digits being sent, if any.
    fn send_dtmf(&mut self, tx: &mut SendBatch) {
        let Some(out) = self.dtmf_out.as_mut() else {
            return;
        };
        let (leg, queue) = &mut **out;
        let l = &mut self.legs[leg.index()];
        let pt = l.negotiated.and_then(|n| n.telephone_event_pt);
        let (Some(dest), Some(pt)) = (l.remote, pt) else {
            self.dtmf_out = None;
            return;
        };
        if let Some(p) = queue.tick(l.out.last_ts())
            && l.sending
        {
            let header = l.out.next_event(p.timestamp, p.marker);
            let sent = l.send_rtp(tx, pt, header, &p.payload, dest);
            self.local.count(sent);
        }
        if queue.is_done() {
            self.dtmf_out = None;
        }
    }

    fn flush_counters(&mut self) {
        let c = std::mem::take(&mut self.local);
        let s = &self.stats;
        s.packets_in.fetch_add(c.packets_in, Ordering::Relaxed);
        s.packets_dropped.fetch_add(c.dropped, Ordering::Relaxed);
        s.packets_invalid.fetch_add(c.invalid, Ordering::Relaxed);
    }
}

impl LegState {
    /// Builds one RTP packet of this leg's stream and queues it on the worker's send
    /// batch; false when it could not be built. (A full socket buffer at the flush drops
    /// the packet rather than block the worker; the worker counts those.)
    fn send_rtp(
        &self,
        tx: &mut SendBatch,
        pt: u8,
        header: OutHeader,
        payload: &[u8],
        dest: SocketAddr,
    ) -> bool {
        let built = RtpPacketBuilder::new()
            .payload_type(pt)
            .ssrc(self.out.ssrc)
            .sequence(Seq::from(header.seq))
            .timestamp(header.ts)
            .marked(header.marker)
            .payload(payload)
            .build_into(tx.buffer());
        match built {
            Ok(len) => {
                if self.connected && self.remote == Some(dest) {
                    tx.queue_connected(self.sock.fd(), len);
                } else {
                    tx.queue(self.sock.fd(), len, dest);
                }
                true
            }
            Err(_) => false,
        }
    }
}
