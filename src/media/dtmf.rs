//! RFC 4733 telephone-events (DTMF over RTP): a receiver that reports each key press once,
//! and a sender that yields the packet payloads for one key press.
//!
//! Pure and allocation-free; the caller owns sockets, RTP headers and pacing. The receiver
//! looks only at the RTP timestamp and the 4-byte event payload — never at SSRC or sequence
//! numbers, because senders disagree on them: sipp replays the three end packets with the
//! same sequence number, baresip numbers them, some gateways send events from another SSRC
//! than the audio. A press is identified by (RTP timestamp, event code), which RFC 4733 §2.5
//! keeps constant for every packet of one event, so:
//!
//! ```text
//!   first packet of (ts, ev) seen ──► report digit, remember (ts, ev)
//!   any later packet of (ts, ev)  ──► nothing (updates, end packets, retransmits)
//!   same digit, new ts            ──► a new press (unless it continues a >8 s event)
//! ```
//!
//! A lost first packet is fine: whichever packet of the press arrives first reports it,
//! even one with the end bit set.

use thiserror::Error;

/// Payload size of one telephone-event (RFC 4733 §2.3).
pub const EVENT_LEN: usize = 4;
/// Samples per 20 ms packet at the 8 kHz telephone-event clock.
const STEP: u16 = 160;
/// Presses remembered for de-duplication. Retransmits arrive within a few packets of the
/// original, so a handful of entries covers even fast dialing.
const HISTORY: usize = 8;
/// The end bit (`E`) of the second payload byte.
const END_BIT: u8 = 0x80;
/// Volume we send: -10 dBm0, a common default for gateways.
const SEND_VOLUME: u8 = 10;

#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum DtmfError {
    #[error("telephone-event payload too short: {len} bytes, need 4")]
    Truncated { len: usize },
    #[error("telephone-event {0} is not a DTMF digit")]
    NotADigit(u8),
    #[error("{0:?} is not a DTMF digit (0-9, *, #, A-D)")]
    InvalidDigit(char),
}

/// One key press, reported once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfDigit {
    /// `0`-`9`, `*`, `#`, `A`-`D`.
    pub digit: char,
    /// RTP timestamp of the event (its start on the sender's clock).
    pub timestamp: u32,
}

/// RFC 4733 event code for a DTMF digit (`a`-`d` accepted in either case).
pub fn digit_to_event(c: char) -> Option<u8> {
    match c {
        '0'..='9' => Some(c as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        'A'..='D' => Some(c as u8 - b'A' + 12),
        'a'..='d' => Some(c as u8 - b'a' + 12),
        _ => None,
    }
}

/// DTMF digit for an RFC 4733 event code, `None` for other events (flash, tones).
pub fn event_to_digit(event: u8) -> Option<char> {
    match event {
        0..=9 => Some((b'0' + event) as char),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some((b'A' + event - 12) as char),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Seen {
    timestamp: u32,
    event: u8,
    /// Longest duration seen for this press; used to recognise a >8 s press continued with
    /// a new timestamp (RFC 4733 §2.5.1.3).
    duration: u16,
    ended: bool,
}

/// Turns a stream of telephone-event payloads into key presses.
#[derive(Debug, Default, Clone)]
pub struct DtmfReceiver {
    history: [Option<Seen>; HISTORY],
    /// Slot the next new press goes into (ring).
    next: usize,
    /// Slot of the most recent press, for long-event continuation.
    last: Option<usize>,
}

impl DtmfReceiver {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one telephone-event payload with its RTP timestamp. Returns the digit the
    /// first time a press is seen, `None` for every other packet of it.
    pub fn on_packet(
        &mut self,
        rtp_timestamp: u32,
        payload: &[u8],
    ) -> Result<Option<DtmfDigit>, DtmfError> {
        let [event, flags, d_hi, d_lo] = match payload {
            [a, b, c, d, ..] => [*a, *b, *c, *d],
            _ => return Err(DtmfError::Truncated { len: payload.len() }),
        };
        let digit = event_to_digit(event).ok_or(DtmfError::NotADigit(event))?;
        let duration = u16::from_be_bytes([d_hi, d_lo]);
        let ended = flags & END_BIT != 0;

        let known = self
            .history
            .iter_mut()
            .flatten()
            .find(|s| s.timestamp == rtp_timestamp && s.event == event);
        if let Some(seen) = known {
            seen.duration = seen.duration.max(duration);
            seen.ended |= ended;
            return Ok(None);
        }
        let continues = self.continues_long_event(rtp_timestamp, event);
        let slot = self.next;
        self.history[slot] = Some(Seen {
            timestamp: rtp_timestamp,
            event,
            duration,
            ended,
        });
        self.next = (slot + 1) % HISTORY;
        self.last = Some(slot);
        if continues {
            return Ok(None);
        }
        Ok(Some(DtmfDigit {
            digit,
            timestamp: rtp_timestamp,
        }))
    }

    /// A press longer than the 16-bit duration allows is sent as segments, each starting
    /// where the previous one's duration ran out; those are one press, not several.
    fn continues_long_event(&self, ts: u32, event: u8) -> bool {
        let Some(prev) = self.last.and_then(|i| self.history[i]) else {
            return false;
        };
        let near_max = prev.duration >= u16::MAX - 10 * STEP;
        let offset = ts.wrapping_sub(prev.timestamp);
        let expected = u32::from(prev.duration);
        prev.event == event
            && !prev.ended
            && near_max
            && offset.abs_diff(expected) <= 10 * u32::from(STEP)
    }
}

/// One telephone-event packet to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfPacket {
    pub payload: [u8; EVENT_LEN],
    /// RTP marker bit: set on the first packet of the event only.
    pub marker: bool,
    /// RTP timestamp: the event's start, the same for every packet of it.
    pub timestamp: u32,
}

/// Yields the packets of one key press, one per 20 ms: growing durations (160 samples per
/// packet at 8 kHz), then three identical end packets (RFC 4733 §2.5.1.4).
#[derive(Debug, Clone)]
pub struct DtmfSender {
    event: u8,
    timestamp: u32,
    total: u16,
    /// Duration of the next update packet.
    next_duration: u16,
    ends_left: u8,
    first: bool,
}

impl DtmfSender {
    /// A press of `digit` lasting `duration_ms` (at least 20 ms, at most the 8.19 s a
    /// single event can express), starting at RTP timestamp `start_timestamp`.
    pub fn new(digit: char, duration_ms: u32, start_timestamp: u32) -> Result<Self, DtmfError> {
        let event = digit_to_event(digit).ok_or(DtmfError::InvalidDigit(digit))?;
        let samples = duration_ms.saturating_mul(8).clamp(u32::from(STEP), 65535);
        let total = u16::try_from(samples).unwrap_or(u16::MAX);
        Ok(DtmfSender {
            event,
            timestamp: start_timestamp,
            total,
            next_duration: STEP,
            ends_left: 3,
            first: true,
        })
    }

    fn payload(&self, end: bool, duration: u16) -> [u8; EVENT_LEN] {
        let flags = if end { END_BIT } else { 0 } | SEND_VOLUME;
        let [hi, lo] = duration.to_be_bytes();
        [self.event, flags, hi, lo]
    }
}

impl Iterator for DtmfSender {
    type Item = DtmfPacket;

    fn next(&mut self) -> Option<DtmfPacket> {
        let marker = std::mem::take(&mut self.first);
        if self.next_duration < self.total {
            let payload = self.payload(false, self.next_duration);
            self.next_duration = self.next_duration.saturating_add(STEP);
            return Some(DtmfPacket {
                payload,
                marker,
                timestamp: self.timestamp,
            });
        }
        if self.ends_left == 0 {
            return None;
        }
        self.ends_left -= 1;
        Some(DtmfPacket {
            payload: self.payload(true, self.total),
            marker,
            timestamp: self.timestamp,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(event: u8, end: bool, duration: u16) -> [u8; 4] {
        let [hi, lo] = duration.to_be_bytes();
        [event, if end { 0x8a } else { 0x0a }, hi, lo]
    }

    fn digits(rx: &mut DtmfReceiver, packets: &[(u32, [u8; 4])]) -> String {
        packets
            .iter()
            .filter_map(|(ts, p)| rx.on_packet(*ts, p).expect("valid payload"))
            .map(|d| d.digit)
            .collect()
    }

    #[test]
    fn sipp_style_end_packets_with_same_sequence_report_once() {
        // sipp replays: updates every 20 ms, then 3 end packets whose duration grows by 320.
        let mut rx = DtmfReceiver::new();
        let ts = 1_000;
        let stream = [
            (ts, pkt(5, false, 160)),
            (ts, pkt(5, false, 320)),
            (ts, pkt(5, false, 480)),
            (ts, pkt(5, true, 800)),
            (ts, pkt(5, true, 1120)),
            (ts, pkt(5, true, 1440)),
        ];
        assert_eq!(digits(&mut rx, &stream), "5");
    }

    #[test]
    fn baresip_style_and_retransmits_report_once() {
        let mut rx = DtmfReceiver::new();
        let ts = 77_000;
        let mut stream = vec![];
        for d in (160..=640).step_by(160) {
            stream.push((ts, pkt(11, false, d)));
            stream.push((ts, pkt(11, false, d))); // retransmit
        }
        for d in [800, 960, 1120] {
            stream.push((ts, pkt(11, true, d)));
        }
        assert_eq!(digits(&mut rx, &stream), "#");
    }

    #[test]
    fn lost_first_packets_still_report_at_the_end_packet() {
        let mut rx = DtmfReceiver::new();
        let d = rx.on_packet(3200, &pkt(12, true, 800)).unwrap();
        assert_eq!(
            d,
            Some(DtmfDigit {
                digit: 'A',
                timestamp: 3200
            })
        );
        assert_eq!(rx.on_packet(3200, &pkt(12, true, 800)).unwrap(), None);
    }

    #[test]
    fn same_digit_twice_is_two_presses_and_a_sequence_is_kept_in_order() {
        let mut rx = DtmfReceiver::new();
        let mut stream = vec![];
        // "1 1 2 3 * 1" with 3 end packets each, timestamps 1 s apart, wrapping around u32.
        let mut ts = u32::MAX - 10_000;
        for ev in [1u8, 1, 2, 3, 10, 1] {
            stream.push((ts, pkt(ev, false, 160)));
            for _ in 0..3 {
                stream.push((ts, pkt(ev, true, 640)));
            }
            ts = ts.wrapping_add(8000);
        }
        assert_eq!(digits(&mut rx, &stream), "1123*1");
    }

    #[test]
    fn a_press_longer_than_eight_seconds_is_one_digit() {
        let mut rx = DtmfReceiver::new();
        let ts = 50_000;
        let stream = [
            (ts, pkt(9, false, 65_000)),
            (ts, pkt(9, false, 65_535)),
            // Next segment: timestamp moves by the full duration, duration restarts.
            (ts + 65_535, pkt(9, false, 160)),
            (ts + 65_535, pkt(9, true, 800)),
            // A real second press afterwards.
            (ts + 80_000, pkt(9, true, 800)),
        ];
        assert_eq!(digits(&mut rx, &stream), "99");
    }

    #[test]
    fn bad_payloads_are_errors_not_panics() {
        let mut rx = DtmfReceiver::new();
        assert_eq!(
            rx.on_packet(0, &[1, 2]),
            Err(DtmfError::Truncated { len: 2 })
        );
        assert_eq!(rx.on_packet(0, &[]), Err(DtmfError::Truncated { len: 0 }));
        assert_eq!(
            rx.on_packet(0, &pkt(16, false, 160)),
            Err(DtmfError::NotADigit(16))
        );
        // A longer payload (padding, redundancy) is read by its first event.
        assert_eq!(
            rx.on_packet(9, &[7, 0x0a, 0, 160, 0, 0])
                .unwrap()
                .map(|d| d.digit),
            Some('7')
        );
    }

    #[test]
    fn digits_and_events_map_both_ways() {
        for c in "0123456789*#ABCD".chars() {
            let ev = digit_to_event(c).unwrap();
            assert_eq!(event_to_digit(ev), Some(c));
        }
        assert_eq!(digit_to_event('d'), Some(15));
        assert_eq!(digit_to_event('x'), None);
        assert_eq!(event_to_digit(16), None);
    }

    #[test]
    fn sender_emits_marked_growing_packets_then_three_ends() {
        let tx = DtmfSender::new('#', 100, 4242).unwrap();
        let packets: Vec<DtmfPacket> = tx.collect();
        let durations: Vec<u16> = packets
            .iter()
            .map(|p| u16::from_be_bytes([p.payload[2], p.payload[3]]))
            .collect();
        assert_eq!(durations, [160, 320, 480, 640, 800, 800, 800]);
        assert!(packets[0].marker);
        assert!(packets[1..].iter().all(|p| !p.marker));
        assert!(
            packets
                .iter()
                .all(|p| p.timestamp == 4242 && p.payload[0] == 11)
        );
        let ends = packets.iter().filter(|p| p.payload[1] & 0x80 != 0).count();
        assert_eq!(ends, 3);
        assert!(packets[..4].iter().all(|p| p.payload[1] & 0x80 == 0));
    }

    #[test]
    fn sender_output_is_received_as_one_digit_and_limits_hold() {
        let mut rx = DtmfReceiver::new();
        let got: Vec<char> = DtmfSender::new('0', 20, 9)
            .unwrap()
            .filter_map(|p| rx.on_packet(p.timestamp, &p.payload).unwrap())
            .map(|d| d.digit)
            .collect();
        assert_eq!(got, ['0']);
        assert_eq!(DtmfSender::new('0', 20, 9).unwrap().count(), 3);
        let long = DtmfSender::new('1', 60_000, 0).unwrap().last().unwrap();
        assert_eq!(
            u16::from_be_bytes([long.payload[2], long.payload[3]]),
            65535
        );
        assert!(matches!(
            DtmfSender::new('x', 100, 0),
            Err(DtmfError::InvalidDigit('x'))
        ));
    }
}
