//! What goes into the engine (`Input`), what comes out (`Output`), and the log entry the
//! engine writes for every state change and decision (`AcdEvent`, serde, for the event log).
//!
//! Pure data. Times in the log are durations in milliseconds; the shell stamps each entry
//! with the wall time it passed in `Now`. Caller numbers never appear in `AcdEvent`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::config::{Destination, SkillLevel};
use super::ids::{AgentId, CallId, CallerNumber, QueueId};

/// A call joining a queue (from the IVR, or an operator transfer).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewCall {
    pub call: CallId,
    pub queue: QueueId,
    /// Higher goes first (e.g. the dedicated line for hearing-impaired callers).
    #[serde(default)]
    pub priority: u8,
    /// Skills the answering agent needs, with the minimum level of each.
    #[serde(default)]
    pub skills: Vec<SkillLevel>,
    pub a_number: CallerNumber,
    /// Data for the screen pop, handed back when a callback starts.
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
}

/// One queue an agent serves, with the tier (1 = first to be offered; Asterisk's penalty).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    pub queue: QueueId,
    #[serde(default = "first_tier")]
    pub tier: u8,
}

fn first_tier() -> u8 {
    1
}

impl Membership {
    pub fn new(queue: impl Into<String>, tier: u8) -> Membership {
        Membership {
            queue: QueueId::new(queue),
            tier,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentLogin {
    pub agent: AgentId,
    pub memberships: Vec<Membership>,
    #[serde(default)]
    pub skills: Vec<SkillLevel>,
    /// Straight to available; otherwise paused with reason "login".
    #[serde(default)]
    pub ready: bool,
}

/// A pause only the system sets (never an agent): the desktop stayed disconnected past
/// the grace period, or the agent let an offer ring out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SystemPause {
    Disconnected,
    NoAnswer,
}

impl SystemPause {
    /// The reason as agent states and the agent log show it.
    pub fn reason(self) -> &'static str {
        match self {
            SystemPause::Disconnected => super::config::PAUSE_DISCONNECTED,
            SystemPause::NoAnswer => super::config::PAUSE_NO_ANSWER,
        }
    }

    /// The system pause a stored reason names (restoring an agent after a restart).
    pub fn from_reason(reason: &str) -> Option<SystemPause> {
        [SystemPause::Disconnected, SystemPause::NoAnswer]
            .into_iter()
            .find(|p| p.reason() == reason)
    }
}

/// What an agent on a call or in wrap-up becomes when the call and wrap-up end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum NextState {
    Available,
    Paused { reason: String },
    LoggedOut,
}

impl std::fmt::Display for NextState {
    /// `available`, `paused:<reason>` or `logged_out` (the bus's `next_state`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NextState::Available => f.write_str("available"),
            NextState::Paused { reason } => write!(f, "paused:{reason}"),
            NextState::LoggedOut => f.write_str("logged_out"),
        }
    }
}

/// A callback for a time the citizen asked for, set by the agent on (or after) the call:
/// a new entry in the engine, not a waiting call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduledCallback {
    /// The callback's own id (the shell picks one no call in the engine uses).
    pub call: CallId,
    pub queue: QueueId,
    pub number: CallerNumber,
    /// Not offered to an agent before this time (nor while the queue is closed).
    #[serde(with = "crate::acd::ids::wall")]
    pub at: jiff::Timestamp,
    #[serde(default)]
    pub priority: u8,
    #[serde(default)]
    pub skills: Vec<SkillLevel>,
    /// The screen-pop data of the call it came from.
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
}

/// How the attempt to reach a citizen for a callback ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallbackOutcome {
    Connected,
    NoAnswer,
    Busy,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "input", rename_all = "snake_case")]
pub enum Input {
    Enqueue(NewCall),
    AgentLogin(AgentLogin),
    AgentReady {
        agent: AgentId,
    },
    /// The agent picks a pause: a configured reason (or "login"), never a system one.
    AgentPause {
        agent: AgentId,
        reason: String,
    },
    /// The system pauses an agent (a desktop gone past its grace period).
    SystemPause {
        agent: AgentId,
        reason: SystemPause,
    },
    /// What the agent on a call or in wrap-up becomes when they end.
    NextState {
        agent: AgentId,
        next: NextState,
    },
    AgentLogout {
        agent: AgentId,
    },
    /// The agent ended manual wrap-up on the CTI screen.
    WrapUpEnded {
        agent: AgentId,
    },
    OfferAnswered {
        call: CallId,
        agent: AgentId,
    },
    /// The agent declined (busy/decline from the phone or the CTI button).
    OfferRejected {
        call: CallId,
        agent: AgentId,
    },
    /// The phone gave up ringing before the engine's ring timeout did.
    OfferNotAnswered {
        call: CallId,
        agent: AgentId,
    },
    /// The call is over: the caller left (abandon while waiting) or the talk ended.
    Hangup {
        call: CallId,
    },
    /// A call comes straight to this available agent (a transfer, not an offer): they
    /// are busy with it, and offered nothing, until `DirectEnded`.
    DirectCall {
        agent: AgentId,
        call: CallId,
    },
    /// The direct call ended for this agent (talk over, or never answered).
    DirectEnded {
        agent: AgentId,
        call: CallId,
    },
    /// The caller asked to be called back (`number` absent = the A-number).
    CallbackRequested {
        call: CallId,
        number: Option<CallerNumber>,
        keep_place: bool,
        #[serde(default, with = "crate::acd::ids::wall::option")]
        not_before: Option<jiff::Timestamp>,
    },
    /// After `StartCallback` and the agent answering: how dialling the citizen went.
    CallbackResult {
        call: CallId,
        outcome: CallbackOutcome,
    },
    /// An agent schedules a callback for a time the citizen asked for.
    ScheduleCallback(ScheduledCallback),
    /// A supervisor sends a waiting call to this agent (who must be available).
    AssignCall {
        call: CallId,
        agent: AgentId,
    },
    /// A supervisor closes a queue on top of its schedule, or gives it back to it.
    SetQueueClosed {
        queue: QueueId,
        closed: bool,
    },
    /// A supervisor sets the priority of every caller waiting in or joining a queue
    /// (`None`: lifts it, callers who join from now on keep their own).
    SetQueuePriority {
        queue: QueueId,
        priority: Option<u8>,
    },
}

/// Why a call stopped waiting in the engine's queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DequeueReason {
    Answered,
    Abandoned,
    /// The caller's leg may hang up after the confirmation prompt.
    CallbackRegistered,
    Routed,
}

/// Why a call was sent to a destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteReason {
    Closed,
    MaxWait,
    MaxLength,
    Escalation,
    /// Too many overflows in a row (a loop in the configuration).
    OverflowLoop,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "output", rename_all = "snake_case")]
pub enum Output {
    /// Ring the agent's phone(s) with this call.
    Offer {
        call: CallId,
        agent: AgentId,
        queue: QueueId,
    },
    /// Stop ringing this agent with this call.
    CancelOffer {
        call: CallId,
        agent: AgentId,
    },
    /// Tell the caller their place and, once handle times are known, the expected wait.
    Announce {
        call: CallId,
        /// 1 = next; `position_cap + 1` means "more than the cap".
        position: usize,
        /// The queue's `announcements.position_cap`, so the shell can say "more than".
        position_cap: usize,
        estimated_wait_secs: Option<u64>,
    },
    PlayMessage {
        call: CallId,
        prompt: String,
    },
    /// The call moved to another queue (music and announcements may differ).
    Overflow {
        call: CallId,
        from: QueueId,
        to: QueueId,
    },
    /// Ask the caller whether they want a callback (answer with `CallbackRequested`).
    OfferCallback {
        call: CallId,
    },
    /// Send the call out of the ACD; it has been dequeued.
    RouteTo {
        call: CallId,
        destination: Destination,
        reason: RouteReason,
    },
    Dequeue {
        call: CallId,
        reason: DequeueReason,
    },
    /// An agent is reserved for this callback: call the agent first, then the citizen.
    StartCallback {
        call: CallId,
        agent: AgentId,
        number: CallerNumber,
        attempt: u32,
        variables: BTreeMap<String, String>,
    },
    /// Append to the event log.
    Log(AcdEvent),
}

/// An agent's state as the wallboard and the log show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum AgentStatus {
    LoggedOut,
    Available,
    Ringing { call: CallId },
    OnCall { call: CallId },
    WrapUp,
    Paused { reason: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelReason {
    CallerHungUp,
    AnsweredElsewhere,
    AgentPaused,
    AgentLoggedOut,
    CallbackRequested,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AcdEvent {
    QueueEntered {
        call: CallId,
        queue: QueueId,
        position: usize,
        priority: u8,
    },
    Offered {
        call: CallId,
        agent: AgentId,
        queue: QueueId,
        waited_ms: u64,
    },
    OfferCancelled {
        call: CallId,
        agent: AgentId,
        reason: CancelReason,
    },
    OfferRejected {
        call: CallId,
        agent: AgentId,
    },
    RingNoAnswer {
        call: CallId,
        agent: AgentId,
        rang_ms: u64,
    },
    Answered {
        call: CallId,
        agent: AgentId,
        queue: QueueId,
        waited_ms: u64,
    },
    Abandoned {
        call: CallId,
        queue: QueueId,
        waited_ms: u64,
    },
    Escalated {
        call: CallId,
        queue: QueueId,
        step: usize,
    },
    Overflowed {
        call: CallId,
        from: QueueId,
        to: QueueId,
        waited_ms: u64,
    },
    Routed {
        call: CallId,
        queue: QueueId,
        destination: Destination,
        reason: RouteReason,
        waited_ms: u64,
    },
    CallEnded {
        call: CallId,
        agent: AgentId,
        talk_ms: u64,
    },
    CallbackRequested {
        call: CallId,
        queue: QueueId,
        waited_ms: u64,
        typed_number: bool,
    },
    CallbackStarted {
        call: CallId,
        agent: AgentId,
        attempt: u32,
    },
    CallbackAttemptFailed {
        call: CallId,
        agent: AgentId,
        attempt: u32,
        outcome: CallbackOutcome,
    },
    CallbackCompleted {
        call: CallId,
        agent: AgentId,
        talk_ms: u64,
    },
    CallbackGaveUp {
        call: CallId,
        queue: QueueId,
        attempts: u32,
    },
    AgentStateChanged {
        agent: AgentId,
        from: AgentStatus,
        to: AgentStatus,
        in_previous_ms: u64,
    },
    QueueOpened {
        queue: QueueId,
    },
    QueueClosed {
        queue: QueueId,
    },
}
