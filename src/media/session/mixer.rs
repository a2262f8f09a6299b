//! A monitored call's mixer (issue 20): the supervisors' legs, one jitter slot per
//! source, and the 20 ms tick that gives each party the sum of what `monitor::hears`
//! says it hears, encoded in its own codec.
//!
//! While a session has a mixer, the caller's and the agent's packets are no longer
//! relayed as they come: they are decoded into their slots and mixed on the tick, like
//! the supervisors'. Everything is allocated when monitoring starts (the mixer is one
//! box with fixed frame buffers); a tick allocates nothing. A session without a mixer
//! pays one `Option` check per packet.
//!
//! Recording: the caller's left channel is recorded from the caller's packets as always;
//! the right channel (what the caller hears) is the caller's mix, so barge audio is in it
//! and whisper is not. The supervisors' track (`track`, a second file named after the
//! recording) keeps on its left what the supervisors said and on its right what the agent
//! heard (the caller, and the whisper).
//!
//! Limits: up to `MAX_SUPERVISORS` at once; a source's packets longer than 40 ms are cut
//! to the slot; a mixed party gets 20 ms frames whatever ptime it offered.

use std::net::SocketAddr;
use std::time::Instant;

use rtp_rs::RtpReader;
use tokio::sync::oneshot;

use super::{Leg, MediaEvent, MediaSession};
use crate::media::leg::LegState;
use crate::media::monitor::MonitorMode;
use crate::media::monitor::{self, FRAME, Party, SourceSlot};
use crate::media::recording::{Channel, RecordingHandle, RecordingReceipt};
use crate::media::shared_port::LegPort;
use crate::media::udp_batch::SendBatch;
use crate::media::voice::{MAX_PAYLOAD, MAX_PCM, Voice};
use crate::sdp::Negotiated;

/// Supervisors one call can have at once.
pub const MAX_SUPERVISORS: usize = 4;
const PARTIES: usize = 2 + MAX_SUPERVISORS;

/// One supervisor's leg.
pub(in crate::media) struct SupervisorLeg {
    /// The call actor's name for this supervisor's monitoring.
    key: u32,
    mode: MonitorMode,
    pub(in crate::media) leg: LegState,
    slot: SourceSlot,
}

pub(in crate::media) struct Mixer {
    caller: SourceSlot,
    agent: SourceSlot,
    pub(in crate::media) supervisors: [Option<SupervisorLeg>; MAX_SUPERVISORS],
    track: Option<RecordingHandle>,
    /// The session's sample clock when the track began: the track's own time 0 (it
    /// starts with the monitoring, not with the call).
    track_start: u64,
}

impl Mixer {
    fn new() -> Mixer {
        Mixer {
            caller: SourceSlot::default(),
            agent: SourceSlot::default(),
            supervisors: Default::default(),
            track: None,
            track_start: 0,
        }
    }

    fn find(&mut self, key: u32) -> Option<&mut SupervisorLeg> {
        self.supervisors.iter_mut().flatten().find(|s| s.key == key)
    }

    fn dropped(&mut self) -> u64 {
        let mut n = self.caller.take_dropped() + self.agent.take_dropped();
        for s in self.supervisors.iter_mut().flatten() {
            n += s.slot.take_dropped();
        }
        n
    }
}

impl MediaSession {
    /// Seats supervisor `key`'s leg on `socket` (the first one starts the mixer, with the
    /// supervisors' `track`); returns its place, for the worker to watch the socket, or
    /// `None` when the call has `MAX_SUPERVISORS` already (the socket is then dropped).
    pub(in crate::media) fn add_supervisor(
        &mut self,
        key: u32,
        mode: MonitorMode,
        socket: std::net::UdpSocket,
        seed: [u32; 2],
        track: Option<RecordingHandle>,
    ) -> Option<usize> {
        let now = self.now_sample();
        let m = self.mixer.get_or_insert_with(|| Box::new(Mixer::new()));
        if m.track.is_none() && track.is_some() {
            m.track = track;
            m.track_start = now;
        }
        let free = m.supervisors.iter().position(Option::is_none)?;
        let leg = LegState::new(
            LegPort::Own(socket),
            seed[0],
            seed[1] as u16,
            seed[1],
            Instant::now(),
        );
        m.supervisors[free] = Some(SupervisorLeg {
            key,
            mode,
            leg,
            slot: SourceSlot::default(),
        });
        // Relayed packets stop here: from now on each party gets the mixer's frames.
        for l in &mut self.legs {
            l.out.pause();
        }
        Some(free)
    }

    /// Where supervisor `key`'s phone takes its media (its answer).
    pub(in crate::media) fn supervisor_remote(
        &mut self,
        key: u32,
        addr: SocketAddr,
        neg: Negotiated,
    ) {
        if let Some(s) = self.mixer.as_deref_mut().and_then(|m| m.find(key)) {
            s.leg.set_remote(addr, neg);
        }
    }

    pub(in crate::media) fn supervisor_mode(&mut self, key: u32, mode: MonitorMode) {
        if let Some(s) = self.mixer.as_deref_mut().and_then(|m| m.find(key)) {
            s.mode = mode;
        }
    }

    /// Takes supervisor `key`'s leg out (for the worker to stop watching its socket).
    /// The last one out ends the mixer: its track is finished and its receipt sent to
    /// `reply`, and the legs go back to the plain relay.
    pub(in crate::media) fn remove_supervisor(
        &mut self,
        key: u32,
        reply: Option<oneshot::Sender<Option<RecordingReceipt>>>,
    ) -> Option<LegState> {
        let now = self.now_sample();
        let m = self.mixer.as_deref_mut()?;
        let end = now.saturating_sub(m.track_start);
        let i = m
            .supervisors
            .iter()
            .position(|s| s.as_ref().is_some_and(|s| s.key == key));
        let leg = i.and_then(|i| m.supervisors[i].take()).map(|s| s.leg);
        let receipt = if m.supervisors.iter().all(Option::is_none) {
            let track = self.mixer.take().and_then(|mut m| m.track.take());
            for l in &mut self.legs {
                l.out.pause();
            }
            track.map(|t| t.finish(end))
        } else {
            None
        };
        if let Some(r) = reply {
            let _ = r.send(receipt);
        }
        leg
    }

    /// Every supervisor leg, taken out (the session ends); the track is finished by
    /// `finish_track`.
    pub(in crate::media) fn take_supervisors(&mut self) -> Vec<LegState> {
        let Some(m) = self.mixer.as_deref_mut() else {
            return Vec::new();
        };
        m.supervisors
            .iter_mut()
            .filter_map(|s| s.take().map(|s| s.leg))
            .collect()
    }

    /// Closes the supervisors' track at the end of the session.
    pub(super) fn finish_track(&mut self, end: u64) {
        if let Some(mut m) = self.mixer.take()
            && let Some(t) = m.track.take()
        {
            // The writer still closes and syncs the file; nobody waits for the receipt.
            drop(t.finish(end.saturating_sub(m.track_start)));
        }
    }

    /// Supervisor leg `i`, if seated (for the worker to read its socket).
    pub(in crate::media) fn supervisor_leg(&mut self, i: usize) -> Option<&mut LegState> {
        self.mixer
            .as_deref_mut()
            .and_then(|m| m.supervisors.get_mut(i))
            .and_then(|s| s.as_mut())
            .map(|s| &mut s.leg)
    }

    /// A caller's or agent's voice while monitored: into its slot (already decoded).
    pub(super) fn mix_in(&mut self, leg: Leg, pcm: &[i16]) {
        if let Some(m) = self.mixer.as_deref_mut() {
            match leg {
                Leg::Caller => m.caller.push(pcm),
                Leg::Agent => m.agent.push(pcm),
            }
        }
    }

    /// A datagram on supervisor leg `i`'s socket: digits are reported (keypad mode
    /// switching), voice goes into its slot.
    pub(in crate::media) fn on_supervisor_packet(
        &mut self,
        i: usize,
        packet: &[u8],
        from: SocketAddr,
        now: Instant,
    ) {
        let Ok(rtp) = RtpReader::new(packet) else {
            self.local.invalid += 1;
            return;
        };
        self.local.packets_in += 1;
        let Some(s) = self
            .mixer
            .as_deref_mut()
            .and_then(|m| m.supervisors.get_mut(i))
            .and_then(|s| s.as_mut())
        else {
            return;
        };
        s.leg.latch(from);
        s.leg.last_rx = now;
        let Some(neg) = s.leg.negotiated else { return };
        let pt = rtp.payload_type();
        if Some(pt) == neg.telephone_event_pt {
            if let Ok(Some(d)) = s.leg.dtmf.on_packet(rtp.timestamp(), rtp.payload()) {
                let _ = self.events.try_send(MediaEvent::SupervisorDigit {
                    key: s.key,
                    digit: d.digit,
                });
            }
            return;
        }
        if pt != neg.pt {
            return;
        }
        let mut pcm = [0i16; MAX_PCM];
        match s
            .leg
            .voice
            .as_mut()
            .and_then(|v| v.decode(rtp.payload(), &mut pcm))
        {
            Some(n) => s.slot.push(&pcm[..n]),
            None => self.local.invalid += 1,
        }
    }

    /// The tick's mixing: each party gets the sum of the frames it hears.
    pub(super) fn mix(&mut self, now_sample: u64, tx: &mut SendBatch) {
        let bridged = self.bridged;
        let Some(m) = self.mixer.as_deref_mut() else {
            return;
        };
        let mut frames = [[0i16; FRAME]; PARTIES];
        let mut present = [false; PARTIES];
        let mut parties: [Option<Party>; PARTIES] = [None; PARTIES];
        parties[0] = Some(Party::Caller);
        parties[1] = Some(Party::Agent);
        present[0] = m.caller.pop(&mut frames[0]);
        present[1] = m.agent.pop(&mut frames[1]);
        for (i, s) in m.supervisors.iter_mut().enumerate() {
            if let Some(s) = s {
                parties[2 + i] = Some(Party::Supervisor(s.mode));
                present[2 + i] = s.slot.pop(&mut frames[2 + i]);
            }
        }
        let mut pcm = [0i16; FRAME];
        let track_at = now_sample.saturating_sub(m.track_start);
        for listener in 0..PARTIES {
            let Some(who) = parties[listener] else {
                continue;
            };
            let mut acc = [0i32; FRAME];
            let mut any = false;
            for source in 0..PARTIES {
                if source == listener || !present[source] {
                    continue;
                }
                if let Some(from) = parties[source]
                    && monitor::hears(who, from, bridged)
                {
                    monitor::add(&mut acc, &frames[source]);
                    any = true;
                }
            }
            if !any {
                continue;
            }
            monitor::saturate(&acc, &mut pcm);
            let to = match listener {
                0 => {
                    if let Some(rec) = self.recording.as_mut() {
                        rec.push(Channel::Other, now_sample, &pcm);
                    }
                    &mut self.legs[0]
                }
                1 => {
                    if let Some(t) = m.track.as_mut() {
                        t.push(Channel::Other, track_at, &pcm);
                    }
                    &mut self.legs[1]
                }
                i => match m.supervisors[i - 2].as_mut() {
                    Some(s) => &mut s.leg,
                    None => continue,
                },
            };
            if let (Some(dest), Some(neg), true, Some(voice)) =
                (to.remote, to.negotiated, to.sending, to.voice.as_mut())
            {
                let header = to.out.next_local(now_sample, FRAME as u32);
                let mut body = [0u8; MAX_PAYLOAD];
                match Voice::encode(voice, &pcm, &mut body) {
                    Some(bytes) => {
                        let sent = to.send_rtp(tx, neg.pt, header, &body[..bytes], dest);
                        self.local.count(sent);
                    }
                    None => self.local.invalid += 1,
                }
            }
        }
        // The track's left: every supervisor's voice, whatever their mode.
        if let Some(t) = m.track.as_mut() {
            let mut acc = [0i32; FRAME];
            let mut any = false;
            for i in 2..PARTIES {
                if present[i] {
                    monitor::add(&mut acc, &frames[i]);
                    any = true;
                }
            }
            if any {
                monitor::saturate(&acc, &mut pcm);
                t.push(Channel::Caller, track_at, &pcm);
            }
            t.advance(track_at);
        }
        self.local.dropped += m.dropped() / FRAME as u64;
    }
}
