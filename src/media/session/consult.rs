//! An attended transfer's consultation leg in the session: seated on its own socket,
//! heard by the agent while the caller is on hold, and taking the agent leg's place when
//! the transfer completes. Never recorded: the caller does not hear it. The worker's part
//! (watching the socket) is `reactor::consult`.

use std::net::SocketAddr;
use std::time::Instant;

use rtp_rs::RtpReader;

use super::{Leg, MediaSession};
use crate::media::leg::LegState;
use crate::media::relay::{self, Inbound};
use crate::media::shared_port::LegPort;
use crate::media::udp_batch::SendBatch;
use crate::media::voice::{MAX_PCM, Voice};

impl MediaSession {
    /// Whether the agent and a consulted target hear each other (its answer arrived).
    pub(super) fn consulting(&self) -> bool {
        self.consult
            .as_ref()
            .is_some_and(|c| c.negotiated.is_some())
    }

    /// Seats a consultation leg on `socket`; returns the one it replaces, for the worker
    /// to stop watching.
    pub(in crate::media) fn set_consult(
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
    pub(in crate::media) fn take_consult(&mut self) -> Option<Box<LegState>> {
        self.consult.take()
    }

    /// The consultation leg becomes the agent leg; the first agent's leg is returned for
    /// the worker to stop watching and close. `None` when no consultation was seated.
    pub(in crate::media) fn complete_consult(&mut self) -> Option<Box<LegState>> {
        let mut leg = self.consult.take()?;
        std::mem::swap(&mut self.legs[Leg::Agent.index()], &mut *leg);
        let agent = &mut self.legs[Leg::Agent.index()];
        agent.last_rx = Instant::now();
        agent.timeout_reported = false;
        Some(leg)
    }

    /// The agent leg (for the worker to watch its socket).
    pub(in crate::media) fn agent_leg(&mut self) -> &mut LegState {
        &mut self.legs[Leg::Agent.index()]
    }

    /// The consultation leg, if one is seated.
    pub(in crate::media) fn consult_leg(&mut self) -> Option<&mut LegState> {
        self.consult.as_deref_mut()
    }

    /// A datagram on the consultation leg's socket: the target's voice goes to the agent
    /// while they consult. Never recorded (the caller does not hear it); digits between
    /// the agents are theirs and are not relayed.
    pub(in crate::media) fn on_consult_packet(
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
}
