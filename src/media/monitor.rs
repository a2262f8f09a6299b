//! Who hears whom on a monitored call (issue 20's table), and the two small pieces the
//! mixer is built from: a source's jitter slot and the saturating sum of frames. Pure: no
//! IO, no clock; `mixer` runs them on the media worker's 20 ms tick.
//!
//! The table (`hears`), for a call bridged to its agent:
//!
//! | mode    | caller hears        | agent hears          | a supervisor hears |
//! |---------|---------------------|----------------------|--------------------|
//! | listen  | agent               | caller               | caller + agent     |
//! | whisper | agent               | caller + supervisor  | caller + agent     |
//! | barge   | agent + supervisor  | caller + supervisor  | caller + agent     |
//!
//! Decisions the issue leaves open, written down here:
//! - Several supervisors: each has their own mode. Supervisors hear each other only when
//!   both barge (they are then in one conference with the caller and the agent); a
//!   whispering supervisor is heard by the agent alone, never by another supervisor.
//! - Hold (the call unbridged): the caller hears the hold music only (played by the
//!   session, not mixed) and is heard by nobody; every supervisor still hears the agent.
//!   The table lets a whispering or barging supervisor reach the agent, but a held
//!   call's agent leg is not sent to at all (`MediaCommand::Sending`, as without
//!   monitoring: a phone that put the call on hold does not expect media), so in practice
//!   the agent hears the supervisor again on resume. The recording keeps what the caller
//!   hears: the music.

use serde::{Deserialize, Serialize};

/// How a supervisor monitors a call: who hears the supervisor.
/// `listen`: nobody; `whisper`: the agent only; `barge`: the agent and the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MonitorMode {
    Listen,
    Whisper,
    Barge,
}

impl MonitorMode {
    pub fn as_str(self) -> &'static str {
        match self {
            MonitorMode::Listen => "listen",
            MonitorMode::Whisper => "whisper",
            MonitorMode::Barge => "barge",
        }
    }

    /// The mode a keypad digit on the supervisor's phone selects (1, 2, 3).
    pub fn from_digit(d: char) -> Option<MonitorMode> {
        match d {
            '1' => Some(MonitorMode::Listen),
            '2' => Some(MonitorMode::Whisper),
            '3' => Some(MonitorMode::Barge),
            _ => None,
        }
    }
}

/// Samples in one 20 ms frame at 8 kHz.
pub const FRAME: usize = 160;
/// A source's slot holds this many samples: four frames, so a packet of up to 40 ms, or
/// two 20 ms packets arriving in one batch, fit.
const SLOT: usize = 4 * FRAME;
/// More than this waiting at a tick is latency piling up: the oldest is dropped.
const KEEP: usize = 2 * FRAME;

/// A party of a monitored call, as a listener or a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Party {
    Caller,
    Agent,
    Supervisor(MonitorMode),
}

/// Whether `listener` hears `source` (two different parties). `bridged`: the caller and
/// the agent talk (not on hold, not consulting).
pub fn hears(listener: Party, source: Party, bridged: bool) -> bool {
    use MonitorMode::*;
    use Party::*;
    match (listener, source) {
        (Caller, Agent) => bridged,
        (Caller, Supervisor(m)) => bridged && m == Barge,
        (Agent, Caller) => bridged,
        (Agent, Supervisor(m)) => m != Listen,
        (Supervisor(_), Caller) => bridged,
        (Supervisor(_), Agent) => true,
        (Supervisor(a), Supervisor(b)) => a == Barge && b == Barge,
        (Caller, Caller) | (Agent, Agent) => false,
    }
}

/// One source's audio between its packets and the tick that mixes it: a short FIFO of
/// samples. A packet arriving late is mixed at the next tick; one that would overflow
/// the slot, or audio piling up beyond two frames, is dropped and counted.
pub struct SourceSlot {
    buf: [i16; SLOT],
    len: usize,
    /// Samples dropped (late or in excess) since the last `take_dropped`.
    dropped: u64,
}

impl Default for SourceSlot {
    fn default() -> Self {
        SourceSlot {
            buf: [0; SLOT],
            len: 0,
            dropped: 0,
        }
    }
}

impl SourceSlot {
    /// Appends a packet's decoded samples.
    pub fn push(&mut self, pcm: &[i16]) {
        let room = SLOT - self.len;
        if pcm.len() > room {
            // Make room by dropping the oldest: the newest audio is the one to play.
            let drop = (pcm.len() - room).min(self.len);
            self.buf.copy_within(drop..self.len, 0);
            self.len -= drop;
            self.dropped += drop as u64;
        }
        let n = pcm.len().min(SLOT - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&pcm[pcm.len() - n..]);
        self.dropped += (pcm.len() - n) as u64;
        self.len += n;
    }

    /// The next frame, if a whole one is waiting: `out` gets it, false leaves `out` alone
    /// (the source is silent this tick; a partial frame waits for the rest).
    pub fn pop(&mut self, out: &mut [i16; FRAME]) -> bool {
        if self.len > KEEP + FRAME {
            let drop = self.len - KEEP - FRAME;
            self.buf.copy_within(drop..self.len, 0);
            self.len -= drop;
            self.dropped += drop as u64;
        }
        if self.len < FRAME {
            return false;
        }
        out.copy_from_slice(&self.buf[..FRAME]);
        self.buf.copy_within(FRAME..self.len, 0);
        self.len -= FRAME;
        true
    }

    /// Forgets what waits (the source stopped being heard, e.g. the call went on hold).
    pub fn clear(&mut self) {
        self.len = 0;
    }

    pub fn take_dropped(&mut self) -> u64 {
        std::mem::take(&mut self.dropped)
    }
}

/// Adds `frame` into `acc` (32-bit accumulation; `saturate` clips once at the end).
pub fn add(acc: &mut [i32; FRAME], frame: &[i16; FRAME]) {
    for (a, s) in acc.iter_mut().zip(frame) {
        *a += i32::from(*s);
    }
}

/// The accumulated sum as 16-bit samples, clipped rather than wrapped.
pub fn saturate(acc: &[i32; FRAME], out: &mut [i16; FRAME]) {
    for (o, a) in out.iter_mut().zip(acc) {
        *o = (*a).clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use MonitorMode::*;
    use Party::*;

    /// What each listener hears, as the issue's table spells it.
    fn heard_by(listener: Party, mode: MonitorMode, bridged: bool) -> Vec<&'static str> {
        let sources = [
            (Caller, "caller"),
            (Agent, "agent"),
            (Supervisor(mode), "supervisor"),
        ];
        sources
            .iter()
            .filter(|(s, _)| *s != listener && hears(listener, *s, bridged))
            .map(|(_, n)| *n)
            .collect()
    }

    #[test]
    fn the_issues_table_exactly() {
        let table = [
            (Listen, vec!["agent"], vec!["caller"]),
            (Whisper, vec!["agent"], vec!["caller", "supervisor"]),
            (
                Barge,
                vec!["agent", "supervisor"],
                vec!["caller", "supervisor"],
            ),
        ];
        for (mode, caller, agent) in table {
            assert_eq!(heard_by(Caller, mode, true), caller, "{mode:?} caller");
            assert_eq!(heard_by(Agent, mode, true), agent, "{mode:?} agent");
            let sup = heard_by(Supervisor(mode), mode, true);
            assert!(sup.starts_with(&["caller", "agent"]), "{mode:?} supervisor");
        }
    }

    #[test]
    fn on_hold_the_caller_is_apart_and_coaching_goes_on() {
        for mode in [Listen, Whisper, Barge] {
            assert!(heard_by(Caller, mode, false).is_empty());
            assert!(!hears(Agent, Caller, false));
            assert!(!hears(Supervisor(mode), Caller, false));
            assert!(hears(Supervisor(mode), Agent, false));
            assert_eq!(hears(Agent, Supervisor(mode), false), mode != Listen);
        }
    }

    #[test]
    fn supervisors_hear_each_other_only_when_both_barge() {
        assert!(hears(Supervisor(Barge), Supervisor(Barge), true));
        assert!(!hears(Supervisor(Barge), Supervisor(Whisper), true));
        assert!(!hears(Supervisor(Listen), Supervisor(Barge), true));
        assert!(!hears(Supervisor(Whisper), Supervisor(Whisper), true));
    }

    #[test]
    fn a_slot_plays_whole_frames_and_drops_what_piles_up() {
        let mut s = SourceSlot::default();
        let mut f = [0i16; FRAME];
        assert!(!s.pop(&mut f));
        s.push(&[1; 80]);
        assert!(!s.pop(&mut f), "half a frame waits");
        s.push(&[2; 80]);
        assert!(s.pop(&mut f));
        assert_eq!((f[0], f[159]), (1, 2));
        // Five frames at once (a burst after a stall): the slot keeps four, the tick
        // then plays one and keeps two waiting.
        for v in 0..5 {
            s.push(&[v; FRAME]);
        }
        assert_eq!(s.take_dropped(), FRAME as u64);
        assert!(s.pop(&mut f));
        assert_eq!(f[0], 2, "the oldest were dropped");
        assert_eq!(s.take_dropped(), FRAME as u64);
        assert!(s.pop(&mut f) && s.pop(&mut f));
        assert!(!s.pop(&mut f));
    }

    #[test]
    fn sums_saturate() {
        let mut acc = [0i32; FRAME];
        add(&mut acc, &[30_000; FRAME]);
        add(&mut acc, &[10_000; FRAME]);
        let mut out = [0i16; FRAME];
        saturate(&acc, &mut out);
        assert_eq!(out[0], i16::MAX);
        let mut acc = [0i32; FRAME];
        add(&mut acc, &[-30_000; FRAME]);
        add(&mut acc, &[-10_000; FRAME]);
        saturate(&acc, &mut out);
        assert_eq!(out[0], i16::MIN);
    }
}
