//! One member (a caller, or a citizen waiting for a callback) as the engine sees it.
//!
//! ```text
//!  enqueue ──▶ Waiting ──offer──▶ Offered ──answered──▶ Connected ──hang-up──▶ (gone)
//!               ▲   │  ◀─no answer / rejected─┘  (callback: Dialing ─connected─▶ Connected)
//!               │   ├─ hang-up → abandoned; max wait / closed / escalation → routed out
//!               │   └─ callback requested ─▶ Scheduled ──due──▶ Waiting (kind callback)
//!               └──────────────────────────── failed attempt, retries left ◀─ Dialing
//! ```
//! A call is in exactly one place: in its queue's bucket while Waiting, in the offer's
//! agents while Offered, with its agent afterwards.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use super::ids::{CallId, CallerNumber, Tick};
use super::queue::{CallKey, Class, SkillIdx};
use super::timers::{AgentIdx, CALL_TIMERS, CallIdx, CallTimer, QueueIdx, TimerKey};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum CallState {
    Waiting,
    Offered {
        agents: Vec<AgentIdx>,
        since: Tick,
    },
    /// Callback: the agent answered and the citizen is being dialled.
    Dialing {
        agent: AgentIdx,
    },
    Connected {
        agent: AgentIdx,
        since: Tick,
    },
    /// Callback waiting for its time (requested time or the next retry).
    Scheduled,
    /// Out of every queue structure, about to move to another queue or be forgotten.
    Leaving,
}

#[derive(Debug, Clone)]
pub(super) struct CallbackInfo {
    pub number: CallerNumber,
    pub typed: bool,
    /// Failed attempts so far.
    pub attempts: u32,
    pub requested_wall: jiff::Timestamp,
    /// Set while Scheduled: when it is due.
    pub due_wall: Option<jiff::Timestamp>,
    /// When due, keep the old place (a retry) or join at the due time (a requested time).
    pub keep_place_when_due: bool,
}

#[derive(Debug)]
pub(super) struct Call {
    pub id: CallId,
    pub queue: QueueIdx,
    pub priority: u8,
    /// As required at enqueue, sorted by skill.
    pub skills: Vec<(SkillIdx, u8)>,
    pub lowered: u8,
    pub any_skill: bool,
    pub max_tier: u8,
    /// Place in line: the first enqueue (kept across overflow and ring-no-answer).
    pub place: Tick,
    pub first_enqueued: Tick,
    pub enqueued_wall: jiff::Timestamp,
    pub entered_queue: Tick,
    pub seq: u64,
    pub a_number: CallerNumber,
    pub variables: BTreeMap<String, String>,
    pub state: CallState,
    pub next_step: usize,
    /// A timer fired while an agent was ringing; applied if the call comes back.
    pub escalation_due: bool,
    pub max_wait_due: bool,
    pub hops: u8,
    pub callback: Option<CallbackInfo>,
    pub timers: [Option<TimerKey>; CALL_TIMERS],
}

impl Call {
    pub fn key(&self, idx: CallIdx) -> CallKey {
        CallKey {
            priority: Reverse(self.priority),
            since: self.place,
            seq: self.seq,
            call: idx,
        }
    }

    /// The bucket this call waits in, after any widening by escalation.
    pub fn class(&self) -> Class {
        let skills = if self.any_skill {
            Vec::new()
        } else {
            self.skills
                .iter()
                .map(|(s, l)| (*s, l.saturating_sub(self.lowered).max(1)))
                .collect()
        };
        Class {
            skills,
            max_tier: self.max_tier,
            callback: self.callback.is_some(),
        }
    }

    pub fn take_timer(&mut self, kind: CallTimer) -> Option<TimerKey> {
        self.timers[kind as usize].take()
    }

    pub fn offered_to(&self, agent: AgentIdx) -> bool {
        matches!(&self.state, CallState::Offered { agents, .. } if agents.contains(&agent))
    }
}
