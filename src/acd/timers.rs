//! The engine's timers: one ordered map keyed by (due tick, sequence), so the next
//! deadline is the first key and cancelling is a removal by the key the owner kept.

use std::collections::BTreeMap;

use super::ids::Tick;

pub(super) type CallIdx = u32;
pub(super) type AgentIdx = u32;
pub(super) type QueueIdx = u16;

/// Returned by `set`, kept by the owner to cancel.
pub(super) type TimerKey = (Tick, u64);

/// The per-call timers; the discriminant indexes `Call::timers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CallTimer {
    Escalation = 0,
    MaxWait = 1,
    Announce = 2,
    Message = 3,
    Ring = 4,
    CallbackDue = 5,
}

pub(super) const CALL_TIMERS: usize = 6;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Timer {
    Call {
        call: CallIdx,
        kind: CallTimer,
    },
    /// Wrap-up end or the end of a reject delay (an agent has one at a time).
    Agent {
        agent: AgentIdx,
    },
    /// The next opening-hours boundary of a queue.
    Queue {
        queue: QueueIdx,
    },
}

#[derive(Debug, Default)]
pub(super) struct Timers {
    due: BTreeMap<TimerKey, Timer>,
    seq: u64,
}

impl Timers {
    pub fn set(&mut self, at: Tick, timer: Timer) -> TimerKey {
        self.seq += 1;
        let key = (at, self.seq);
        self.due.insert(key, timer);
        key
    }

    pub fn cancel(&mut self, key: Option<TimerKey>) {
        if let Some(k) = key {
            self.due.remove(&k);
        }
    }

    pub fn next(&self) -> Option<Tick> {
        self.due.keys().next().map(|(t, _)| *t)
    }

    /// The earliest timer due at or before `now`, removed.
    pub fn pop_due(&mut self, now: Tick) -> Option<(TimerKey, Timer)> {
        let (&key, _) = self.due.iter().next()?;
        if key.0 > now {
            return None;
        }
        self.due.remove(&key).map(|t| (key, t))
    }
}
