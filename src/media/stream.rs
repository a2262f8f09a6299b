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

/// Samples per second of the recording timeline and of every leg's audio. A codec with a
/// faster RTP clock (Opus: 48 kHz) counts `ticks` RTP units per sample.
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
    /// RTP ticks per 8 kHz sample on this stream (1 for G.711, 6 for Opus).
    ticks: u32,
    /// Source ticks per sample of the stream being relayed.
    in_ticks: u32,
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
            ticks: 1,
            in_ticks: 1,
        }
    }

    /// Sets this stream's RTP clock (ticks per 8 kHz sample) once its codec is known.
    pub fn set_ticks(&mut self, ticks: u32) {
        if ticks != self.ticks {
            self.ticks = ticks.max(1);
            // Timestamps restart their mapping at the next packet.
            self.source = Source::None;
        }
    }

    pub fn ticks(&self) -> u32 {
        self.ticks
    }

    /// The timestamp a new source starts at: the old one plus the real time that passed.
    fn switch(&mut self, now_sample: u64, frame: u32) -> u32 {
        let gap = match self.last_sample {
            Some(last) => (now_sample.saturating_sub(last)).max(u64::from(frame)),
            None => 0,
        };
        self.ts.wrapping_add((gap as u32).wrapping_mul(self.ticks))
    }

    /// Next header for a locally generated frame (prompt, music) of `samples` 8 kHz
    /// samples.
    pub fn next_local(&mut self, now_sample: u64, samples: u32) -> OutHeader {
        let marker = self.source != Source::Local;
        let ts = if marker {
            self.switch(now_sample, samples)
        } else {
            self.ts.wrapping_add(samples.wrapping_mul(self.ticks))
        };
        self.source = Source::Local;
        self.emit(ts, marker, now_sample)
    }

    /// Next header for a frame relayed from the other leg, whose RTP clock runs
    /// `in_ticks` per 8 kHz sample (the sender's spacing is kept across clock rates).
    pub fn next_relayed(
        &mut self,
        now_sample: u64,
        in_ssrc: u32,
        in_ts: u32,
        in_ticks: u32,
        in_marker: bool,
    ) -> OutHeader {
        let switched = self.source != Source::Relay(in_ssrc) || self.in_ticks != in_ticks;
        if switched {
            self.out_base = self.switch(now_sample, 160);
            self.in_base = in_ts;
            self.in_ticks = in_ticks.max(1);
            self.source = Source::Relay(in_ssrc);
        }
        let delta = u64::from(in_ts.wrapping_sub(self.in_base));
        let scaled = delta * u64::from(self.ticks) / u64::from(self.in_ticks);
        let ts = self.out_base.wrapping_add(scaled as u32);
        self.emit(ts, switched || in_marker, now_sample)
    }

    /// The header of a further packet cut from the same relayed frame, `offset` samples
    /// after the previous one (an odd-sized frame re-packetized for another codec).
    pub fn next_piece(&mut self, now_sample: u64, offset: u32) -> OutHeader {
        let ts = self.ts.wrapping_add(offset.wrapping_mul(self.ticks));
        self.emit(ts, false, now_sample)
    }

    /// The header of a telephone-event packet (RFC 4733) carrying its event's timestamp
    /// `ts`: the stream's sequence goes on, its audio timing is left as it was.
    pub fn next_event(&mut self, ts: u32, marker: bool) -> OutHeader {
        self.seq = self.seq.wrapping_add(1);
        OutHeader {
            seq: self.seq,
            ts,
            marker,
        }
    }

    /// The timestamp of the last packet sent (where an event starting now sits).
    pub fn last_ts(&self) -> u32 {
        self.ts
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
    /// Sender's RTP ticks per 8 kHz sample; 0 reads as 1.
    ticks: u32,
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
            let pos = a_pos + u64::from(delta) / u64::from(self.ticks.max(1));
            if delta < u32::MAX / 2 && pos.abs_diff(now_sample) <= MAX_DRIFT {
                return pos;
            }
        }
        self.anchor = Some((ssrc, ts, now_sample));
        now_sample
    }

    /// Sets the sender's RTP clock (ticks per 8 kHz sample) once its codec is known.
    pub fn set_ticks(&mut self, ticks: u32) {
        if ticks != self.ticks.max(1) {
            self.ticks = ticks;
            self.anchor = None;
        }
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
        let r1 = s.next_relayed(8160, 77, 5_000_000, 1, false);
        let r2 = s.next_relayed(8320, 77, 5_000_160, 1, false);
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
        s.next_relayed(0, 5, 100, 1, false);
        assert!(s.next_relayed(160, 5, 260, 1, true).marker);
        let c = s.next_relayed(320, 6, 9999, 1, false);
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
    fn relaying_g711_to_opus_scales_timestamps_to_48_khz_and_back() {
        let mut to_opus = OutStream::new(1, 0, 1000);
        to_opus.set_ticks(6);
        let a = to_opus.next_relayed(0, 5, 100, 1, false);
        let b = to_opus.next_relayed(160, 5, 260, 1, false);
        assert_eq!(b.ts, a.ts.wrapping_add(960), "20 ms is 960 ticks at 48 kHz");
        // The next 10 ms piece of an odd-sized frame.
        let c = to_opus.next_piece(160, 160);
        assert_eq!(c.ts, b.ts.wrapping_add(960));
        assert_eq!(c.seq, b.seq.wrapping_add(1));
        let mut to_g711 = OutStream::new(2, 0, 0);
        let x = to_g711.next_relayed(0, 9, u32::MAX - 100, 6, false);
        // Across the sender's timestamp wrap.
        let y = to_g711.next_relayed(160, 9, (u32::MAX - 100).wrapping_add(960), 6, false);
        assert_eq!(y.ts, x.ts.wrapping_add(160));
        let local = to_opus.next_local(320, 160);
        assert!(local.marker);
        let local2 = to_opus.next_local(480, 160);
        assert_eq!(local2.ts, local.ts.wrapping_add(960));
    }

    #[test]
    fn in_clock_reads_a_48_khz_sender_in_8_khz_samples() {
        let mut c = InClock::default();
        c.set_ticks(6);
        assert_eq!(c.position(3, 48_000, 800), 800);
        assert_eq!(c.position(3, 48_960, 961), 960);
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
