//! Digits an operator sends towards a party as RFC 4733 telephone-events (the CTI's
//! `Dtmf`, e.g. to answer an external party's IVR): a queue of key presses turned into
//! one packet per 20 ms tick, pure (the session sends them on the leg's own stream).
//!
//! Each press lasts `PRESS_MS`, presses are `GAP_TICKS` ticks apart, and every press gets
//! a timestamp later than the one before, so a receiver that de-duplicates by (timestamp,
//! event) hears two equal digits in a row as two. Audio relayed meanwhile is untouched:
//! the events only take sequence numbers of the same stream.

use std::collections::VecDeque;

use crate::media::dtmf::{DtmfPacket, DtmfSender, digit_to_event};

/// How long one key press lasts.
const PRESS_MS: u32 = 100;
/// Silent ticks (20 ms each) between two presses.
const GAP_TICKS: u8 = 3;
/// Timestamp units from one press's start to the next at least (press + gap, 8 kHz).
const MIN_STEP: u32 = (PRESS_MS + GAP_TICKS as u32 * 20) * 8;
/// At most this many digits wait; more are refused.
pub const MAX_DIGITS: usize = 32;

/// Whether `digits` can be sent (0-9, *, #, A-D; 1 to `MAX_DIGITS` of them).
pub fn valid(digits: &str) -> bool {
    !digits.is_empty()
        && digits.chars().count() <= MAX_DIGITS
        && digits.chars().all(|c| digit_to_event(c).is_some())
}

/// The presses still to send on one leg.
#[derive(Debug, Default)]
pub struct DtmfQueue {
    digits: VecDeque<char>,
    press: Option<DtmfSender>,
    gap: u8,
    last_start: Option<u32>,
}

impl DtmfQueue {
    /// Adds presses; digits beyond `MAX_DIGITS` waiting are dropped.
    pub fn push(&mut self, digits: &str) {
        for c in digits.chars().filter(|c| digit_to_event(*c).is_some()) {
            if self.digits.len() < MAX_DIGITS {
                self.digits.push_back(c);
            }
        }
    }

    /// Nothing left to send.
    pub fn is_done(&self) -> bool {
        self.digits.is_empty() && self.press.is_none()
    }

    /// The packet of this tick, if any; `now_ts` is the leg's stream timestamp now.
    pub fn tick(&mut self, now_ts: u32) -> Option<DtmfPacket> {
        if self.press.is_none() {
            if self.gap > 0 {
                self.gap -= 1;
                return None;
            }
            let digit = self.digits.pop_front()?;
            let start = match self.last_start {
                // Wrapping compare: later than the previous press by at least a step.
                Some(prev) if now_ts.wrapping_sub(prev) < MIN_STEP => prev.wrapping_add(MIN_STEP),
                _ => now_ts,
            };
            self.last_start = Some(start);
            self.press = DtmfSender::new(digit, PRESS_MS, start).ok();
        }
        match self.press.as_mut().and_then(Iterator::next) {
            Some(p) => Some(p),
            None => {
                self.press = None;
                self.gap = GAP_TICKS;
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presses_follow_one_another_with_later_timestamps() {
        assert!(valid("12#*A"));
        assert!(!valid(""));
        assert!(!valid("12x"));
        assert!(!valid(&"1".repeat(MAX_DIGITS + 1)));
        let mut q = DtmfQueue::default();
        q.push("55");
        let mut packets = Vec::new();
        for _ in 0..40 {
            // The stream's clock stands still (nothing else is sent).
            if let Some(p) = q.tick(1000) {
                packets.push(p);
            }
        }
        assert!(q.is_done());
        let starts: Vec<u32> = packets
            .iter()
            .filter(|p| p.marker)
            .map(|p| p.timestamp)
            .collect();
        assert_eq!(starts, vec![1000, 1000 + MIN_STEP]);
        // Each press: 100 ms of updates then three end packets, all of event 5.
        assert!(packets.iter().all(|p| p.payload[0] == 5));
        let ends = packets.iter().filter(|p| p.payload[1] & 0x80 != 0).count();
        assert_eq!(ends, 6);
    }
}
