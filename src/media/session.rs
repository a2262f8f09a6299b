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
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rtp_rs::RtpReader;
use tokio::sync::{mpsc, oneshot};

use crate::media::dtmf_out::DtmfQueue;
pub(super) use crate::media::leg::{LegSocket, LegState};
use crate::media::recording::{Channel, RecordingHandle, RecordingReceipt};
use crate::media::relay::{self, Inbound, LocalCounters};
use crate::media::shared_port::LegPort;
use crate::media::stream::RATE;
use crate::media::udp_batch::SendBatch;
use crate::media::voice::{MAX_PAYLOAD, MAX_PCM, Voice};
use crate::sdp::{Codec, Negotiated};

mod mixer;
pub use mixer::MAX_SUPERVISORS;

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
    /// An attended transfer's consultation leg, on a socket of its own (the one offered
    /// to the target): once its peer is known (`ConsultRemote`) and while the caller is
    /// not bridged, the agent and the target hear each other; the caller hears what
    /// plays to them (hold music) and the recording keeps what the caller hears.
    ConsultLeg {
        socket: std::net::UdpSocket,
        /// SSRC and initial sequence number/timestamp of what the target is sent.
        seed: [u32; 2],
    },
    /// Where the consulted target's RTP goes and which codec it speaks (its answer).
    ConsultRemote {
        addr: SocketAddr,
        negotiated: Negotiated,
    },
    /// The consultation ends without a transfer: its leg and socket are closed.
    ConsultEnd,
    /// The target takes the agent's place: the consultation leg becomes the agent leg
    /// (its stream and socket go on) and the first agent's socket is closed.
    ConsultComplete,
    /// A supervisor's leg (issue 20), on a socket of its own (the one offered to the
    /// supervisor's phone): the first one turns the session into a mixer (`mixer`);
    /// `track` is the supervisors' track, opened by the first. `key` names it in the
    /// other monitor commands.
    SupervisorLeg {
        key: u32,
        mode: crate::media::monitor::MonitorMode,
        socket: std::net::UdpSocket,
        seed: [u32; 2],
        track: Option<RecordingHandle>,
    },
    /// Where supervisor `key`'s RTP goes and which codec it speaks (its answer).
    SupervisorRemote {
        key: u32,
        addr: SocketAddr,
        negotiated: Negotiated,
    },
    /// Supervisor `key` switches mode.
    SupervisorMode {
        key: u32,
        mode: crate::media::monitor::MonitorMode,
    },
    /// Supervisor `key` leaves; the last one out closes the track, whose receipt goes to
    /// `reply`, and the call goes back to the plain relay.
    SupervisorEnd {
        key: u32,
        reply: Option<oneshot::Sender<Option<RecordingReceipt>>>,
    },
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
    /// A digit from supervisor `key`'s phone (keypad mode switching).
    SupervisorDigit {
        key: u32,
        digit: char,
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
    /// An attended transfer's consultation leg while it lasts; boxed, as most calls never
    /// consult.
    consult: Option<Box<LegState>>,
    /// The mixer while supervisors monitor the call; `None` keeps the plain relay.
    mixer: Option<Box<mixer::Mixer>>,
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
            consult: None,
            mixer: None,
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
        self.finish_track(end);
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
                self.legs[leg.index()].set_remote(addr, negotiated);
            }
            MediaCommand::ConsultRemote { addr, negotiated } => {
                if let Some(c) = self.consult.as_deref_mut() {
                    c.set_remote(addr, negotiated);
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
            MediaCommand::SupervisorRemote {
                key,
                addr,
                negotiated,
            } => self.supervisor_remote(key, addr, negotiated),
            MediaCommand::SupervisorMode { key, mode } => self.supervisor_mode(key, mode),
            // The worker carries these out: they add or move sockets it watches.
            MediaCommand::Finish { .. }
            | MediaCommand::SupervisorLeg { .. }
            | MediaCommand::SupervisorEnd { .. }
            | MediaCommand::ConsultLeg { .. }
            | MediaCommand::ConsultEnd
            | MediaCommand::ConsultComplete => {}
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
        // A monitored call's right channel is the caller's mix (`mixer`), not the agent.
        let monitored = self.mixer.is_some();
        let channel = match leg {
            Leg::Caller => Some(Channel::Caller),
            Leg::Agent if self.bridged && !monitored => Some(Channel::Other),
            Leg::Agent => None,
        };
        // Where the packet goes: the other party while bridged; the consulted agent while
        // the agent consults (the caller on hold hears neither of them).
        let consulting = leg == Leg::Agent && !self.bridged && self.consulting();
        let out_codec = if self.bridged {
            self.legs[leg.other().index()]
                .negotiated
                .filter(|_| self.legs[leg.other().index()].sending)
                .map(|n| n.codec)
        } else if consulting {
            self.consult
                .as_ref()
                .and_then(|c| c.negotiated)
                .map(|n| n.codec)
        } else {
            None
        };
        // A PCMA payload is recorded as it came and relayed untouched to a PCMA leg: the
        // trunks' common case decodes nothing.
        let alaw = neg.codec == Codec::Pcma;
        let record = channel.filter(|_| self.recording.is_some());
        let need_pcm =
            (record.is_some() && !alaw) || out_codec.is_some_and(|c| c != neg.codec) || monitored;
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
        if monitored {
            self.mix_in(leg, &pcm[..n]);
            return;
        }
        if out_codec.is_none() {
            return;
        }
        let inb = Inbound {
            ssrc: rtp.ssrc(),
            ts: rtp.timestamp(),
            mark: rtp.mark(),
            payload,
            codec: neg.codec,
            in_ticks,
            pcm: &pcm[..n],
        };
        let to = if consulting {
            match self.consult.as_deref_mut() {
                Some(c) => c,
                None => return,
            }
        } else {
            &mut self.legs[leg.other().index()]
        };
        relay::forward(to, &inb, now_sample, &mut self.local, tx);
    }

    /// Whether the agent and a consulted target hear each other (its answer arrived).
    fn consulting(&self) -> bool {
        self.consult
            .as_ref()
            .is_some_and(|c| c.negotiated.is_some())
    }

    /// Seats a consultation leg on `socket`; returns the one it replaces, for the worker
    /// to stop watching.
    pub(super) fn set_consult(
        &mut self,
        socket: std::net::UdpSocket,
        seed: [u32; 2],
    ) -> Option<Box<LegState>> {
        let leg = LegState::new(
            LegPort::Own(socket),
            seed[0],
            seed[1] as u16,
            seed[1],
            Instant::now(),
        );
        self.consult.replace(Box::new(leg))
    }

    /// The consultation leg, taken out (its end).
    pub(super) fn take_consult(&mut self) -> Option<Box<LegState>> {
        self.consult.take()
    }

    /// The consultation leg becomes the agent leg; the first agent's leg is returned for
    /// the worker to stop watching and close. `None` when no consultation was seated.
    pub(super) fn complete_consult(&mut self) -> Option<Box<LegState>> {
        let mut leg = self.consult.take()?;
        std::mem::swap(&mut self.legs[Leg::Agent.index()], &mut *leg);
        let agent = &mut self.legs[Leg::Agent.index()];
        agent.last_rx = Instant::now();
        agent.timeout_reported = false;
        Some(leg)
    }

    /// The agent leg (for the worker to watch its socket).
    pub(super) fn agent_leg(&mut self) -> &mut LegState {
        &mut self.legs[Leg::Agent.index()]
    }

    /// The consultation leg, if one is seated.
    pub(super) fn consult_leg(&mut self) -> Option<&mut LegState> {
        self.consult.as_deref_mut()
    }

    /// A datagram on the consultation leg's socket: the target's voice goes to the agent
    /// while they consult. Never recorded (the caller does not hear it); digits between
    /// the agents are theirs and are not relayed.
    pub(super) fn on_consult_packet(
        &mut self,
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
        let Some(c) = self.consult.as_deref_mut() else {
            return;
        };
        c.latch(from);
        c.last_rx = now;
        let Some(neg) = c.negotiated else { return };
        if rtp.payload_type() != neg.pt || self.bridged {
            return;
        }
        let agent = &mut self.legs[Leg::Agent.index()];
        let Some(out) = agent.negotiated else { return };
        let payload = rtp.payload();
        let mut pcm = [0i16; MAX_PCM];
        let mut n = 0;
        if out.codec != neg.codec {
            let Some(decoded) = c.voice.as_mut().and_then(|v| v.decode(payload, &mut pcm)) else {
                self.local.invalid += 1;
                return;
            };
            n = decoded;
        }
        let inb = Inbound {
            ssrc: rtp.ssrc(),
            ts: rtp.timestamp(),
            mark: rtp.mark(),
            payload,
            codec: neg.codec,
            in_ticks: c.voice.as_ref().map_or(1, Voice::ticks_per_sample),
            pcm: &pcm[..n],
        };
        relay::forward(agent, &inb, now_sample, &mut self.local, tx);
    }

    pub(super) fn on_tick(&mut self, tx: &mut SendBatch) {
        let now_sample = self.now_sample();
        self.play_frame(now_sample, tx);
        if self.mixer.is_some() {
            self.mix(now_sample, tx);
        }
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
