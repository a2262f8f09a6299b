//! One agent as the engine sees it: state with its start time, the queues served with
//! their tier, skills with proficiency, and what the routing order needs (idle since,
//! calls answered). Settings come with the login, so any phone or CTI can carry them.
//!
//! ```text
//!                login(ready)               offer              answered
//!   LoggedOut ───────────────▶ Available ─────────▶ Ringing ────────────▶ OnCall
//!     ▲  │ login(not ready)      ▲  ▲  ▲  ◀─────────┘ │ cancelled           │ hang-up
//!     │  ▼                 ready │  │  │    (keeps    │ (caller left,       ▼
//!     │ Paused(reason) ──────────┘  │  │  idle time) │  answered elsewhere) WrapUp
//!     │   ▲  ▲ ring-no-answer       │  └─ wrap-up ends (auto timer or CTI) ──┘ │
//!     │   │  └──────────────────────┼──────────────── Ringing                  │
//!     │   └─ pause (now; or after the call when OnCall) ◀──────────────────────┘
//!     └──── logout (any state; after the call when OnCall)
//! ```
//! A call straight to an available agent (a transfer, not a queue's offer) makes them
//! `Direct` until it ends, then Available (or what they asked for meanwhile).
//! A rejected offer leaves the agent Available but unroutable for the queue's reject
//! delay. An agent takes one voice call at a time: only Available agents are indexed.

use std::time::Duration;

use super::event::AgentStatus;
use super::ids::{AgentId, Tick};
use super::queue::SkillIdx;
use super::timers::{CallIdx, QueueIdx, TimerKey};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum AgentState {
    LoggedOut,
    Available,
    Ringing(CallIdx),
    OnCall(CallIdx),
    /// On a call that came straight to them, not through a queue (a transfer to this
    /// agent): busy, offered nothing, no wrap-up after it.
    Direct(super::ids::CallId),
    /// After-call work for a call from this queue.
    WrapUp(QueueIdx),
    Paused(String),
}

impl AgentState {
    /// Counts towards a queue's staffed agents (for estimated-wait announcements).
    pub fn staffed(&self) -> bool {
        !matches!(self, AgentState::LoggedOut | AgentState::Paused(_))
    }
}

/// What the agent asked for while on a call, applied when the call and wrap-up end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Pending {
    /// Asked for explicitly (the default anyway; shown as the agent's next state).
    Available,
    Pause(String),
    Logout,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Member {
    pub queue: QueueIdx,
    pub tier: u8,
    /// `Queue::offer_seq` at this member's last offer from the queue (round-robin).
    pub last_offered: u64,
}

#[derive(Debug)]
pub(super) struct Agent {
    pub id: AgentId,
    pub state: AgentState,
    pub since: Tick,
    /// Start of the current idle period: the longest-idle order.
    pub idle_since: Tick,
    pub members: Vec<Member>,
    /// Sorted by skill for binary search.
    pub skills: Vec<(SkillIdx, u8)>,
    pub calls_answered: u64,
    pub pending: Option<Pending>,
    /// Available but not routable until the timer ends (after rejecting an offer).
    pub blocked: bool,
    pub timer: Option<TimerKey>,
    /// In the availability indexes of its queues right now.
    pub indexed: bool,
}

impl Agent {
    pub fn new(id: AgentId, now: Tick) -> Agent {
        Agent {
            id,
            state: AgentState::LoggedOut,
            since: now,
            idle_since: now,
            members: Vec::new(),
            skills: Vec::new(),
            calls_answered: 0,
            pending: None,
            blocked: false,
            timer: None,
            indexed: false,
        }
    }

    pub fn level(&self, skill: SkillIdx) -> Option<u8> {
        self.skills
            .binary_search_by_key(&skill, |(s, _)| *s)
            .ok()
            .map(|i| self.skills[i].1)
    }

    /// Holds every required skill at its minimum level.
    pub fn satisfies(&self, need: &[(SkillIdx, u8)]) -> bool {
        need.iter()
            .all(|(s, min)| self.level(*s).is_some_and(|l| l >= *min))
    }

    /// Sum of levels in the required skills (the skills strategy's match score).
    pub fn score(&self, need: &[(SkillIdx, u8)]) -> u32 {
        need.iter()
            .map(|(s, _)| u32::from(self.level(*s).unwrap_or(0)))
            .sum()
    }

    pub fn member(&self, queue: QueueIdx) -> Option<&Member> {
        self.members.iter().find(|m| m.queue == queue)
    }

    pub fn routable(&self) -> bool {
        self.state == AgentState::Available && !self.blocked
    }

    pub fn time_in_state(&self, now: Tick) -> Duration {
        now.since(self.since)
    }
}

/// The public view of a state (call indexes become call ids through `name`).
pub(super) fn status(
    state: &AgentState,
    name: impl Fn(CallIdx) -> super::ids::CallId,
) -> AgentStatus {
    match state {
        AgentState::LoggedOut => AgentStatus::LoggedOut,
        AgentState::Available => AgentStatus::Available,
        AgentState::Ringing(c) => AgentStatus::Ringing { call: name(*c) },
        AgentState::OnCall(c) => AgentStatus::OnCall { call: name(*c) },
        AgentState::Direct(call) => AgentStatus::OnCall { call: call.clone() },
        AgentState::WrapUp(_) => AgentStatus::WrapUp,
        AgentState::Paused(r) => AgentStatus::Paused { reason: r.clone() },
    }
}
