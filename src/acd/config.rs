//! How queues are set up: strategy, opening hours, limits, escalation, wrap-up, callback.
//!
//! Plain serde data (TOML/YAML/JSON), validated and compiled by `Engine::new`. Durations
//! are whole seconds so the files stay readable. Nothing here routes.

use serde::{Deserialize, Serialize};

use super::ids::{QueueId, SkillId};
use crate::schedule::ScheduleSpec;

/// Highest proficiency an agent can have in a skill (1 = novice … 10 = expert).
pub const MAX_PROFICIENCY: u8 = 10;

/// The pause reason the engine itself uses when an agent lets an offer ring out.
pub const PAUSE_NO_ANSWER: &str = "no_answer";
/// The pause reason of an agent whose desktop stayed disconnected past the grace period.
pub const PAUSE_DISCONNECTED: &str = "disconnected";
/// Reasons only the system sets: an agent asking for one of them is refused.
pub const SYSTEM_PAUSE_REASONS: [&str; 2] = [PAUSE_NO_ANSWER, PAUSE_DISCONNECTED];

/// Everything the engine needs at start-up.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    pub queues: Vec<QueueConfig>,
    /// Pause reason codes agents may pick on the CTI screen. "login" is always accepted;
    /// the system reasons (`SYSTEM_PAUSE_REASONS`) only through `Input::SystemPause`.
    #[serde(default = "default_pause_reasons")]
    pub pause_reasons: Vec<String>,
}

fn default_pause_reasons() -> Vec<String> {
    ["break", "lunch", "training", "feedback", "personal"]
        .into_iter()
        .map(String::from)
        .collect()
}

/// How a queue picks among its available members (the lowest tier always goes first).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// The agent available for longest since their last call (or since becoming ready).
    #[default]
    LongestIdle,
    /// The agent who answered the fewest calls since login, then longest idle.
    FewestCalls,
    /// The member offered a call from this queue least recently, then longest idle.
    RoundRobin,
    /// Ring every eligible available member at once; the first to answer takes the call.
    RingAll,
    /// Best proficiency in the call's required skills (sum of levels), then longest idle.
    Skills,
}

/// Where a call goes when it leaves a queue without an agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "to", rename_all = "snake_case", deny_unknown_fields)]
pub enum Destination {
    /// Join another queue (overflow); the call keeps its original place in time.
    Queue {
        queue: QueueId,
    },
    /// Hand the call back to an IVR node (e.g. a self-service menu).
    Ivr {
        node: String,
    },
    /// Play a prompt, then hang up.
    Message {
        prompt: String,
    },
    Hangup,
}

/// After-call work once the talk ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
pub enum WrapUp {
    /// Wrap-up ends by itself after this many seconds (0 = straight back to available).
    Auto { secs: u64 },
    /// The agent ends it on the CTI screen; `max_secs` ends it anyway.
    Manual {
        #[serde(default)]
        max_secs: Option<u64>,
    },
}

impl Default for WrapUp {
    fn default() -> Self {
        WrapUp::Auto { secs: 0 }
    }
}

/// One escalation rule: after `after_secs` in this queue, do `action`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalationStep {
    pub after_secs: u64,
    pub action: Escalation,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "do", rename_all = "snake_case", deny_unknown_fields)]
pub enum Escalation {
    /// Accept agents whose proficiency is `by` levels lower (never below 1).
    LowerProficiency { by: u8 },
    /// Accept agents with any level in the required skills (or none of them).
    AnySkill,
    /// Let members of the next tier take the call.
    NextTier,
    /// Move the call to another queue (overflow).
    Overflow { queue: QueueId },
    /// Ask the caller whether they want to be called back.
    OfferCallback,
    /// Leave the queue for a destination (a message, the IVR…).
    SendTo { destination: Destination },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitLimit {
    pub secs: u64,
    pub destination: Destination,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LengthLimit {
    /// Voice calls waiting at most; the next one goes to `destination`.
    pub calls: usize,
    pub destination: Destination,
}

/// Position and estimated-wait announcements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Announcements {
    pub first_after_secs: u64,
    pub every_secs: u64,
    /// Positions are counted up to this many; beyond it the prompt says "more than".
    #[serde(default = "default_position_cap")]
    pub position_cap: usize,
}

fn default_position_cap() -> usize {
    100
}

/// An institutional message played to waiting callers at an interval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeriodicMessage {
    pub every_secs: u64,
    pub prompt: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallbackPolicy {
    /// The key a waiting caller presses to be called back, any time while waiting (an
    /// `offer_callback` escalation invites them to); absent = no callbacks in this queue.
    /// The engine never reads it: the call's shell does.
    #[serde(default)]
    pub key: Option<char>,
    /// Attempts to reach the citizen before giving up.
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    /// Wait between a failed attempt and the next.
    #[serde(default = "default_retry")]
    pub retry_after_secs: u64,
}

fn default_attempts() -> u32 {
    3
}
fn default_retry() -> u64 {
    600
}

impl Default for CallbackPolicy {
    fn default() -> Self {
        CallbackPolicy {
            key: None,
            max_attempts: default_attempts(),
            retry_after_secs: default_retry(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    pub id: QueueId,
    #[serde(default)]
    pub strategy: Strategy,
    /// Opening hours; absent = always open.
    #[serde(default)]
    pub schedule: Option<ScheduleSpec>,
    /// Where calls go while the queue is closed.
    #[serde(default = "default_closed")]
    pub closed: Destination,
    /// When the queue closes, send the calls still waiting to `closed` (otherwise they are
    /// served; callbacks always wait for the next opening).
    #[serde(default)]
    pub drain_on_close: bool,
    #[serde(default = "default_ring")]
    pub ring_timeout_secs: u64,
    #[serde(default)]
    pub wrap_up: WrapUp,
    #[serde(default)]
    pub max_wait: Option<WaitLimit>,
    #[serde(default)]
    pub max_length: Option<LengthLimit>,
    #[serde(default)]
    pub announcements: Option<Announcements>,
    #[serde(default)]
    pub periodic_message: Option<PeriodicMessage>,
    /// Applied in order of `after_secs`.
    #[serde(default)]
    pub escalation: Vec<EscalationStep>,
    #[serde(default)]
    pub callback: CallbackPolicy,
    /// Handle-time estimate until real calls have been measured.
    #[serde(default = "default_aht")]
    pub initial_aht_secs: u64,
    /// Highest member tier a fresh call may reach (`NextTier` widens it); 0 = all tiers.
    #[serde(default)]
    pub start_tier: u8,
    /// Pause an agent who lets an offer ring out (reason "no_answer"). Ring-all never does.
    #[serde(default = "yes")]
    pub pause_on_no_answer: bool,
    /// An agent who rejects an offer gets no new one for this long.
    #[serde(default = "default_reject_delay")]
    pub reject_delay_secs: u64,
    /// What the IVR collected that the agent's screen-pop may show (LGPD: only what this
    /// queue's agents need); empty = none of it. The engine never reads it.
    #[serde(default)]
    pub screen_pop_fields: Vec<String>,
    /// A link the screen-pop opens in the institute's own system: `${name}` placeholders
    /// (`protocol`, `caller`, `did`, `queue`, `waited_ms` and the `screen_pop_fields`)
    /// filled URL-encoded. The engine never reads it.
    #[serde(default)]
    pub screen_pop_url: Option<String>,
}

fn default_closed() -> Destination {
    Destination::Hangup
}
fn default_ring() -> u64 {
    20
}
fn default_aht() -> u64 {
    300
}
fn yes() -> bool {
    true
}
fn default_reject_delay() -> u64 {
    10
}

impl QueueConfig {
    /// Every place this queue may send a call (closed, limits, escalation), for checks.
    pub fn destinations(&self) -> Vec<&Destination> {
        let mut d = vec![&self.closed];
        d.extend(self.max_wait.as_ref().map(|l| &l.destination));
        d.extend(self.max_length.as_ref().map(|l| &l.destination));
        d.extend(self.escalation.iter().filter_map(|e| match &e.action {
            Escalation::SendTo { destination } => Some(destination),
            _ => None,
        }));
        d
    }

    /// A queue with every setting at its default: always open, longest idle.
    pub fn new(id: impl Into<String>) -> QueueConfig {
        QueueConfig {
            id: QueueId::new(id),
            strategy: Strategy::default(),
            schedule: None,
            closed: default_closed(),
            drain_on_close: false,
            ring_timeout_secs: default_ring(),
            wrap_up: WrapUp::default(),
            max_wait: None,
            max_length: None,
            announcements: None,
            periodic_message: None,
            escalation: Vec::new(),
            callback: CallbackPolicy::default(),
            initial_aht_secs: default_aht(),
            start_tier: 0,
            pause_on_no_answer: true,
            reject_delay_secs: default_reject_delay(),
            screen_pop_fields: Vec::new(),
            screen_pop_url: None,
        }
    }
}

/// A skill with a level, as required by a call or held by an agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkillLevel {
    pub skill: SkillId,
    pub level: u8,
}

impl SkillLevel {
    pub fn new(skill: impl Into<String>, level: u8) -> SkillLevel {
        SkillLevel {
            skill: SkillId::new(skill),
            level,
        }
    }
}
