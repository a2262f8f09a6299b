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
//!
//! Here: relaying a leg's packets and the tick. The actor's side (commands, events, the
//! handle) is `handle`; prompts and outgoing digits, `playback`; the attended transfer's
//! consultation leg, `consult`; supervisors' legs and the mix, `mixer`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rtp_rs::RtpReader;
use tokio::sync::mpsc;

use crate::media::dtmf_out::DtmfQueue;
pub(super) use crate::media::leg::{LegSocket, LegState};
use crate::media::recording::{Channel, RecordingHandle, RecordingReceipt};
use crate::media::relay::{self, Inbound, LocalCounters};
use crate::media::shared_port::LegPort;
use crate::media::stream::RATE;
use crate::media::udp_batch::SendBatch;
use crate::media::voice::{MAX_PCM, Voice};
use crate::sdp::Codec;

mod consult;
mod handle;
mod mixer;
mod playback;
pub use handle::{MediaCommand, MediaEvent, MediaHandle, MediaStats};
pub use mixer::MAX_SUPERVISORS;
use playback::Playback;

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

    fn flush_counters(&mut self) {
        let c = std::mem::take(&mut self.local);
        let s = &self.stats;
        s.packets_in.fetch_add(c.packets_in, Ordering::Relaxed);
        s.packets_dropped.fetch_add(c.dropped, Ordering::Relaxed);
        s.packets_invalid.fetch_add(c.invalid, Ordering::Relaxed);
    }
}
