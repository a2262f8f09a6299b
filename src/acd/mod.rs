//! The ACD (DAC): queues, agents and routing decisions, plus the staffing tools.
//!
//! `Engine` is pure and deterministic (sans-IO, str0m style): the shell passes every
//! input with `Now` (a monotonic `Tick` and the wall time), drains `poll_output()` and
//! wakes at `next_timeout()`. It owns every queue, agent and waiting call of the server,
//! so no lock and no "pending members" set is needed to stop two queues ringing one agent.
//! It must not import tokio, sqlx or the sip/media/store/api shells, and never reads the
//! clock or a random source: `sim` drives the very same engine in virtual time.
//!
//! Files: `engine` (the owner, inputs, timers), `routing` (strategies, indexes, offers),
//! `flow` (a call's way through queues), `escalation` (a waiting call's timers), `agents` and `agent` (agent states),
//! `callback` (callbacks and their snapshot), `reconfigure` (live config changes), `queue`, `call`, `timers` (data),
//! `config`, `event`, `ids` (the vocabulary); `erlang`, `sim`, `profile`, `kpi`, `cli`
//! (dimensioning).
//!
//! Measured in release on 2 shared cores: `benches/acd.rs` (10,000 agents, 100 queues,
//! 50,000 waiting) routes an agent freeing up in p99 13.8 µs (168,000 decisions/s);
//! `atende acd simulate` runs 4,000 calls/hour for 8 h (32,000 calls) in 0.07 s and
//! agrees with Erlang C within 0.6 percentage points over 240,000 calls.

mod agent;
mod agents;
mod call;
mod callback;
pub mod cli;
pub mod config;
mod engine;
pub mod erlang;
mod escalation;
pub mod event;
mod floor_control;
mod flow;
pub mod ids;
pub mod kpi;
pub mod profile;
mod queue;
mod reconfigure;
mod routing;
pub mod sim;
mod timers;

#[cfg(test)]
mod invariants;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_direct;
#[cfg(test)]
mod tests_flow;
#[cfg(test)]
mod tests_next;

pub use callback::{CallbackRecord, CallbackSnapshot, SNAPSHOT_VERSION};
pub use config::{
    Announcements, CallbackPolicy, Destination, EngineConfig, Escalation, EscalationStep,
    LengthLimit, PeriodicMessage, QueueConfig, SkillLevel, Strategy, WaitLimit, WrapUp,
};
pub use engine::{Engine, QueueStatus};
pub use event::{
    AcdEvent, AgentLogin, AgentStatus, CallbackOutcome, CancelReason, DequeueReason, Input,
    Membership, NewCall, NextState, Output, RouteReason, ScheduledCallback, SystemPause,
};
pub use ids::{AgentId, CallId, CallerNumber, Now, QueueId, SkillId, Tick};
pub use reconfigure::Reconfigured;

/// Why the engine refused an input or a configuration. A refused input changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum AcdError {
    #[error("queue {0} is configured twice")]
    DuplicateQueue(QueueId),
    #[error("queue {queue} sends calls to queue {target}, which does not exist")]
    UnknownTarget { queue: QueueId, target: QueueId },
    #[error("queue {queue}: opening hours: {source}")]
    Schedule {
        queue: QueueId,
        source: crate::schedule::ScheduleError,
    },
    #[error("too many queues (at most 65536)")]
    TooManyQueues,
    #[error("too many distinct skills (at most 65536)")]
    TooManySkills,
    #[error("too many agents")]
    TooManyAgents,
    #[error("unknown queue {0}")]
    UnknownQueue(QueueId),
    #[error("unknown agent {0}")]
    UnknownAgent(AgentId),
    #[error("unknown call {0}")]
    UnknownCall(CallId),
    #[error("call {0} is already in the ACD")]
    DuplicateCall(CallId),
    #[error("skill {skill}: level {level} is outside 1..=10")]
    BadProficiency { skill: SkillId, level: u8 },
    #[error("agent {0} is not logged in")]
    NotLoggedIn(AgentId),
    #[error("agent {0} is ringing or on a call")]
    AgentBusy(AgentId),
    #[error("unknown pause reason {0:?}")]
    UnknownPauseReason(String),
    #[error("pause reason {0:?} is set by the system only")]
    SystemPauseReason(String),
    #[error("agent {agent} is neither on a call nor in wrap-up ({state:?})")]
    NoCallToFollow { agent: AgentId, state: AgentStatus },
    #[error("callback {call}: the time asked for has already passed")]
    CallbackInThePast { call: CallId },
    #[error("agent {agent} is not in wrap-up ({state:?})")]
    NotInWrapUp { agent: AgentId, state: AgentStatus },
    #[error("call {call} is not being offered to agent {agent}")]
    NoSuchOffer { call: CallId, agent: AgentId },
    #[error("call {0} is not waiting in a queue")]
    NotWaiting(CallId),
    #[error("agent {0} is not available (paused, in wrap-up, ringing or on a call)")]
    AgentNotReady(AgentId),
    #[error("call {0} has no number to call back")]
    NoCallbackNumber(CallId),
    #[error("callback {0} is not dialling the citizen")]
    NotDialing(CallId),
    #[error("callback snapshot version {0} is not supported")]
    SnapshotVersion(u32),
    #[error("queue {0} holds pending callbacks and cannot be removed")]
    QueueHasCallbacks(QueueId),
}
