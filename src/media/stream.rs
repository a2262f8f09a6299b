//! RTP timing for one direction of a leg, pure: no sockets, time passed in.
//!
//! `OutStream` is what atende sends towards a party: one SSRC whose sequence numbers and
//! timestamps stay continuous when the source changes (welcome prompt → hold music →
//! agent's voice), with the marker bit on each talk-spurt start (RFC 3550 §5.1), so
//! phones and gateways never see a jump that resets their jitter buffer.
//!
//! `InClock` places incoming audio on the recording's timeline: the sender's timestamps give
//! the spacing (losses become silence, not time compression), the arrival time anchors the
//! stream and re-anchors it after a jump or an SSRC change.

/// Samples per second for every codec we carry (G.711).
pub const RATE: u64 = 8000;

/// Where the audio we send comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    None,
    Local,
    Relay(u32),
}

/// Header fields for the next packet of an outgoing stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutHeader {
    pub seq: u16,
    pub ts: u32,
    pub marker: bool,
}

#[derive(Debug, Clone)]
pub struct OutStream {
    pub ssrc: u32,
    seq: u16,
    ts: u32,
    source: Source,
    /// Relay mapping: out_ts = out_base + (in_ts - in_base).
    in_base: u32,
    out_base: u32,
    /// Recording-timeline sample of the last packet sent, to size the gap at a switch.
    last_sample: Option<u64>,
}

impl OutStream {
    pub fn new(ssrc: u32, initial_seq: u16, initial_ts: u32) -> Self {
        OutStream {
            ssrc,
            seq: initial_seq,
            ts: initial_ts,
            source: Source::None,
            in_base: 0,
            out_base: 0,
            last_sample: None,
        }
    }

    /// The timestamp a new source starts at: the old one plus the real time that passed.
    fn switch(&mut self, now_sample: u64, frame: u32) -> u32 {
        let gap = match self.last_sample {
            Some(last) => (now_sample.saturating_sub(last)).max(u64::from(frame)),
            None => 0,
        };
        self.ts.wrapping_add(gap as u32)
    }

    /// Next header for a locally generated frame (prompt, music) of `samples` samples.
    pub fn next_local(&mut self, now_sample: u64, samples: u32) -> OutHeader {
        let marker = self.source != Source::Local;
        let ts = if marker {
            self.switch(now_sample, samples)
        } else {
            self.ts.wrapping_add(samples)
        };
        self.source = Source::Local;
        self.emit(ts, marker, now_sample)
    }

    /// Next header for a frame relayed from the other leg.
    pub fn next_relayed(
        &mut self,
        now_sample: u64,
        in_ssrc: u32,
        in_ts: u32,
        in_marker: bool,
    ) -> OutHeader {
        let switched = self.source != Source::Relay(in_ssrc);
        if switched {
            self.out_base = self.switch(now_sample, 160);
            self.in_base = in_ts;
            self.source = Source::Relay(in_ssrc);
        }
        let ts = self.out_base.wrapping_add(in_ts.wrapping_sub(self.in_base));
        self.emit(ts, switched || in_marker, now_sample)
    }

    /// Marks the stream idle (hold, silence): the next frame starts a new talk-spurt.
    pub fn pause(&mut self) {
        self.source = Source::None;
    }

    fn emit(&mut self, ts: u32, marker: bool, now_sample: u64) -> OutHeader {
        self.seq = self.seq.wrapping_add(1);
        self.ts = ts;
        self.last_sample = Some(now_sample);
        OutHeader {
            seq: self.seq,
            ts,
            marker,
        }
    }
}

/// Maps an incoming stream's timestamps onto the recording timeline.
#[derive(Debug, Clone, Default)]
pub struct InClock {
    anchor: Option<(u32, u32, u64)>,
}

/// Drift between arrival and the sender's clock beyond which we re-anchor (a timestamp
/// jump, a sender restart, a long hold): 300 ms.
const MAX_DRIFT: u64 = RATE * 3 / 10;

impl InClock {
    /// Recording-timeline position of a packet with this SSRC and timestamp, arriving at
    /// `now_sample`.
    pub fn position(&mut self, ssrc: u32, ts: u32, now_sample: u64) -> u64 {
        if let Some((a_ssrc, a_ts, a_pos)) = self.anchor.filter(|a| a.0 == ssrc) {
            let _ = a_ssrc;
            let delta = ts.wrapping_sub(a_ts);
            // A timestamp slightly behind the anchor (reordering) reads as a huge delta.
            let pos = a_pos + u64::from(delta);
            if delta < u32::MAX / 2 && pos.abs_diff(now_sample) <= MAX_DRIFT {
                return pos;
            }
        }
        self.anchor = Some((ssrc, ts, now_sample));
        now_sample
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_frames_are_continuous_and_marked_once() {
        let mut s = OutStream::new(1, 100, 1000);
        let a = s.next_local(0, 160);
        let b = s.next_local(160, 160);
        assert!(a.marker);
        assert!(!b.marker);
        assert_eq!(b.seq, a.seq.wrapping_add(1));
        assert_eq!(b.ts, a.ts + 160);
    }

    #[test]
    fn switching_from_prompt_to_agent_keeps_time_and_sequence() {
        let mut s = OutStream::new(1, 65534, u32::MAX - 200);
        let p1 = s.next_local(0, 160);
        let p2 = s.next_local(160, 160);
        // The agent's first packet arrives 1 s later with its own clock.
        let r1 = s.next_relayed(8160, 77, 5_000_000, false);
        let r2 = s.next_relayed(8320, 77, 5_000_160, false);
        assert!(r1.marker, "talk-spurt start is marked");
        assert!(!r2.marker);
        assert_eq!(p2.seq, p1.seq.wrapping_add(1));
        assert_eq!(
            r1.seq,
            p2.seq.wrapping_add(1),
            "no sequence gap at the switch"
        );
        assert_eq!(
            r1.ts,
            p2.ts.wrapping_add(8000),
            "timestamp advances by the real gap"
        );
        assert_eq!(r2.ts, r1.ts.wrapping_add(160));
        // Back to hold music: continues from the relayed timestamps.
        let m = s.next_local(8480, 160);
        assert!(m.marker);
        assert_eq!(m.ts, r2.ts.wrapping_add(160));
    }

    #[test]
    fn relayed_marker_and_ssrc_change_are_marked() {
        let mut s = OutStream::new(1, 0, 0);
        s.next_relayed(0, 5, 100, false);
        assert!(s.next_relayed(160, 5, 260, true).marker);
        let c = s.next_relayed(320, 6, 9999, false);
        assert!(c.marker);
    }

    #[test]
    fn in_clock_follows_sender_timestamps_and_loss_keeps_spacing() {
        let mut c = InClock::default();
        assert_eq!(c.position(9, 1000, 800), 800);
        assert_eq!(c.position(9, 1160, 961), 960);
        // Two packets lost: position still follows the timestamps.
        assert_eq!(c.position(9, 1640, 1450), 1440);
    }

    #[test]
    fn in_clock_reanchors_on_jump_and_new_ssrc() {
        let mut c = InClock::default();
        c.position(9, 1000, 0);
        assert_eq!(c.position(9, 900_000, 160), 160);
        assert_eq!(c.position(10, 5, 320), 320);
        assert_eq!(c.position(10, 165, 480), 480);
    }
}
