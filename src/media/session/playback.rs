//! What a session sends a leg of its own on each tick: the playing prompt or hold music
//! (20 ms frames, recorded when the caller hears them) and an operator's digits as
//! RFC 4733 events (`dtmf_out`). The audio is shared with the prompt library, never
//! copied per call.

use std::sync::Arc;

use super::{FRAME, Leg, MediaEvent, MediaSession};
use crate::media::recording::Channel;
use crate::media::udp_batch::SendBatch;
use crate::media::voice::MAX_PAYLOAD;

/// A playback in progress.
pub(super) struct Playback {
    pub(super) parts: Vec<Arc<[i16]>>,
    /// The part playing and the position in it.
    pub(super) part: usize,
    pub(super) pos: usize,
    /// Some part has samples (an all-empty looped playback must not spin).
    pub(super) has_audio: bool,
    pub(super) looped: bool,
    pub(super) id: u64,
    pub(super) leg: Leg,
}

impl MediaSession {
    /// Sends the next 20 ms of the playing prompt to its leg (and records it when the
    /// caller hears it).
    pub(super) fn play_frame(&mut self, now_sample: u64, tx: &mut SendBatch) {
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
    pub(super) fn send_dtmf(&mut self, tx: &mut SendBatch) {
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
}
