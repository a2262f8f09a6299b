//! Relaying one received voice packet to another leg of the same session: untouched when
//! both legs speak the same codec, transcoded (and cut into frames the other codec
//! accepts) when they differ. Used for the bridged caller and agent, and for an attended
//! transfer's consultation (agent and target). Hot path: no allocation, no blocking; a
//! packet that cannot be built or queued is counted, never waited for.

use crate::media::leg::LegState;
use crate::media::udp_batch::SendBatch;
use crate::media::voice::MAX_PAYLOAD;
use crate::sdp::Codec;

/// A session's counters between two flushes to the process-wide `MediaStats`.
#[derive(Default)]
pub(super) struct LocalCounters {
    pub(super) packets_in: u64,
    pub(super) dropped: u64,
    pub(super) invalid: u64,
}

impl LocalCounters {
    /// Counts a packet that could not even be built; what is queued is counted sent or
    /// dropped by the worker when it flushes.
    pub(super) fn count(&mut self, queued: bool) {
        if !queued {
            self.dropped += 1;
        }
    }
}

/// A voice packet as it came in, with its audio decoded when the relay needs it.
pub(super) struct Inbound<'a> {
    pub(super) ssrc: u32,
    pub(super) ts: u32,
    pub(super) mark: bool,
    pub(super) payload: &'a [u8],
    pub(super) codec: Codec,
    /// RTP clock ticks per 8 kHz sample of the incoming codec.
    pub(super) in_ticks: u32,
    /// The payload decoded; empty unless the other leg speaks another codec.
    pub(super) pcm: &'a [i16],
}

/// Sends `inb` on to leg `to`, if its peer's address and codec are known.
pub(super) fn forward(
    to: &mut LegState,
    inb: &Inbound,
    now_sample: u64,
    local: &mut LocalCounters,
    tx: &mut SendBatch,
) {
    let (Some(dest), Some(out_neg)) = (to.remote, to.negotiated) else {
        return;
    };
    if out_neg.codec == inb.codec {
        // Same codec both ways: the payload passes through untouched.
        let header = to
            .out
            .next_relayed(now_sample, inb.ssrc, inb.ts, inb.in_ticks, inb.mark);
        let sent = to.send_rtp(tx, out_neg.pt, header, inb.payload, dest);
        local.count(sent);
        return;
    }
    // Transcode. The codec state is lent out of the leg for the loop (a move of a
    // pointer, not a copy).
    let Some(mut voice) = to.voice.take() else {
        return;
    };
    let pcm = inb.pcm;
    let n = pcm.len();
    let mut body = [0u8; MAX_PAYLOAD];
    let mut done = 0;
    let mut prev = 0;
    while done < n {
        let len = voice.frame_len(n - done);
        if len == 0 {
            break;
        }
        let header = if done == 0 {
            to.out
                .next_relayed(now_sample, inb.ssrc, inb.ts, inb.in_ticks, inb.mark)
        } else {
            to.out.next_piece(now_sample, prev as u32)
        };
        let Some(bytes) = voice.encode(&pcm[done..done + len], &mut body) else {
            local.invalid += 1;
            break;
        };
        let sent = to.send_rtp(tx, out_neg.pt, header, &body[..bytes], dest);
        local.count(sent);
        done += len;
        prev = len;
    }
    to.voice = Some(voice);
}
