//! The messages between the ACD actor and the rest of the server: what call actors and
//! feature codes ask (`AcdRequest`, through `AcdHandle`), what the ACD tells a call
//! (`AcdNotice`), and the wallboard's view of agents and queues (`AcdStatus`).

use tokio::sync::{mpsc, oneshot};

use crate::acd::{
    AgentId, CallId, CallbackOutcome, DequeueReason, Destination, NewCall, QueueId, RouteReason,
};
use crate::floor::call_log::CallLog;

/// What the ACD tells a call actor.
#[derive(Debug, Clone, PartialEq)]
pub enum AcdNotice {
    /// Ring this agent's phones.
    Offer {
        agent: AgentId,
        queue: QueueId,
    },
    /// Stop ringing (ring timeout, caller gone elsewhere, agent paused).
    CancelOffer {
        agent: AgentId,
    },
    /// Tell the caller their place and the estimated wait (`position` beyond
    /// `position_cap`: "more than" the cap).
    Announce {
        position: usize,
        position_cap: usize,
        estimated_wait_secs: Option<u64>,
    },
    PlayMessage {
        prompt: String,
    },
    /// The call left the ACD for this destination.
    RouteTo {
        destination: Destination,
        reason: RouteReason,
    },
    Dequeued {
        reason: DequeueReason,
    },
    /// Invite the caller to press the queue's callback key.
    OfferCallback,
    /// The engine could not take the caller's callback request.
    CallbackRefused,
    /// The call moved to another queue: its settings (the callback key) now apply.
    Overflowed {
        queue: QueueId,
    },
    /// The engine refused to queue the call (a queue the flows name is not configured);
    /// the call is not in the ACD.
    EnqueueRefused {
        queue: QueueId,
    },
}

/// A call's end of its ACD notices. Boxed because a tokio channel allocates its first
/// block of 32 messages when made: 32 pointers (256 bytes) per call instead of 32
/// notices (1.5 KB), for a handful of notices in a call's life.
pub type NoticeSender = mpsc::Sender<Box<AcdNotice>>;
pub type NoticeReceiver = mpsc::Receiver<Box<AcdNotice>>;

/// What a supervisor may change on the floor besides agents' states (see
/// `acd::floor_control`).
#[derive(Debug, Clone, PartialEq)]
pub enum FloorCommand {
    /// Offer this waiting call to this (available) agent now.
    Assign { call: CallId, agent: AgentId },
    /// Close the queue on top of its schedule, or give it back to its schedule.
    SetClosed { queue: QueueId, closed: bool },
    /// The priority of every caller waiting in or joining the queue (`None`: lifted).
    SetPriority {
        queue: QueueId,
        priority: Option<u8>,
    },
}

/// Who forced an agent's state change, and why (control of the floor).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForcedBy {
    pub user: String,
    pub why: String,
}

/// An agent's own command (feature code or start-up).
#[derive(Debug, Clone, PartialEq)]
pub enum AgentCommand {
    Login {
        agent: AgentId,
        ready: bool,
    },
    /// Log in to only some of the agent's configured queues (the CTI's `login {queues}`);
    /// a config reload gives the agent all of them again.
    LoginTo {
        agent: AgentId,
        ready: bool,
        queues: Vec<String>,
    },
    Logout,
    Pause {
        reason: String,
    },
    Ready,
    /// What to become when the call and wrap-up end (the CTI's `next_state`).
    NextState {
        next: crate::acd::NextState,
    },
    /// End manual wrap-up now (the CTI's `end_wrap_up`).
    EndWrapUp,
    /// A pause the system decides (a desktop gone past its grace time).
    SystemPause {
        reason: crate::acd::SystemPause,
    },
}

/// What the engine knew of a call when it was offered: the caller's number and the IVR's
/// variables (the screen-pop's source).
#[derive(Clone, PartialEq, Eq)]
pub struct OfferContext {
    pub caller: String,
    pub variables: std::collections::BTreeMap<String, String>,
}

impl std::fmt::Debug for OfferContext {
    /// Personal data (the number, a CPF typed in the IVR) stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OfferContext")
            .field(
                "caller",
                &crate::acd::CallerNumber::new(self.caller.as_str()),
            )
            .field("variables", &self.variables.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[derive(Debug)]
pub enum AcdRequest {
    /// A supervisor's control of the floor (`api::floor`); the engine's verdict back.
    Floor {
        command: FloorCommand,
        reply: oneshot::Sender<Result<(), crate::acd::AcdError>>,
    },
    /// The queue a call is in (for a supervisor's scope check).
    CallQueue {
        call: CallId,
        reply: oneshot::Sender<Option<QueueId>>,
    },
    Enqueue {
        call: NewCall,
        log: CallLog,
        notices: NoticeSender,
    },
    /// The caller hung up (abandon while waiting) or the talk ended.
    Hangup {
        call: CallId,
    },
    OfferAnswered {
        call: CallId,
        agent: AgentId,
    },
    OfferRejected {
        call: CallId,
        agent: AgentId,
    },
    OfferNotAnswered {
        call: CallId,
        agent: AgentId,
    },
    /// A transfer straight to this agent: they are busy with `call` (offered nothing)
    /// until `DirectEnded`; refused unless they are available.
    DirectCall {
        agent: AgentId,
        call: CallId,
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// The direct call ended for the agent (talk over, or never answered).
    DirectEnded {
        agent: AgentId,
        call: CallId,
    },
    /// The caller confirmed a callback (`number` absent = their A-number).
    CallbackRequested {
        call: CallId,
        number: Option<String>,
    },
    /// How dialling the citizen of a started callback went.
    CallbackResult {
        call: CallId,
        outcome: CallbackOutcome,
    },
    /// An agent calls an outside number (the CTI's `call`): their phone first, then the
    /// number through `[outbound]`; `call` is the new call's id, `log` its log.
    AgentCall {
        agent: AgentId,
        call: CallId,
        number: crate::acd::CallerNumber,
        log: CallLog,
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// A callback for a time the citizen asked for (the CTI's `schedule_callback`): a new
    /// entry with its own log, started like any callback when due.
    ScheduleCallback {
        callback: crate::acd::ScheduledCallback,
        log: CallLog,
        reply: oneshot::Sender<Result<(), String>>,
    },
    Agent {
        agent: AgentId,
        command: AgentCommand,
        /// Set when a supervisor forces the change: the agent log's row says who and why.
        forced: Option<ForcedBy>,
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// The caller and IVR variables of a call the engine holds (`None`: not there).
    OfferContext {
        call: CallId,
        reply: oneshot::Sender<Option<OfferContext>>,
    },
    /// What the wallboard shows: every configured agent and queue, now.
    Status {
        reply: oneshot::Sender<AcdStatus>,
    },
    /// Agents and queues as last published on the bus, with the bus sequence they are
    /// "as of" (the CTI's snapshot).
    Snapshot {
        reply: oneshot::Sender<AcdSnapshot>,
    },
    /// A reloaded config's queues and agents (`crate::reload`); refused whole or applied.
    Reconfigure {
        config: crate::acd::EngineConfig,
        agents: Vec<crate::config::AgentConfig>,
        reply: oneshot::Sender<Result<(), String>>,
    },
}

/// One agent as the wallboard shows them.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AgentView {
    pub agent: String,
    /// `logged_out`, `available`, `ringing`, `on_call`, `wrap_up` or `paused`.
    pub state: &'static str,
    pub reason: Option<String>,
    pub call: Option<String>,
    /// Time in the current state (0 for an agent who never logged in).
    pub in_state_ms: u64,
}

/// Every configured agent and queue as last published on the bus (`crate::bus`):
/// a reader applies bus changes with `seq > as_of_seq` (same `epoch`) on top, dropping
/// any whose version is not newer than the entity's here.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AcdSnapshot {
    pub as_of_seq: u64,
    pub epoch: u64,
    pub agents: Vec<crate::bus::AgentChange>,
    pub queues: Vec<crate::bus::QueueChange>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AcdStatus {
    pub agents: Vec<AgentView>,
    pub queues: Vec<crate::acd::QueueStatus>,
}

/// The call actors' and feature codes' side of the ACD actor.
#[derive(Debug, Clone)]
pub struct AcdHandle {
    pub(super) tx: mpsc::Sender<AcdRequest>,
}

impl AcdHandle {
    /// Sends a request; `false` when the ACD actor is gone (server shutting down).
    pub async fn send(&self, r: AcdRequest) -> bool {
        self.tx.send(r).await.is_ok()
    }

    /// The state of every agent and queue; `None` when the ACD actor is gone.
    pub async fn status(&self) -> Option<AcdStatus> {
        let (reply, rx) = oneshot::channel();
        if !self.send(AcdRequest::Status { reply }).await {
            return None;
        }
        rx.await.ok()
    }

    /// Agents and queues as last published, as of a bus sequence; `None` when the ACD
    /// actor is gone.
    pub async fn snapshot(&self) -> Option<AcdSnapshot> {
        let (reply, rx) = oneshot::channel();
        if !self.send(AcdRequest::Snapshot { reply }).await {
            return None;
        }
        rx.await.ok()
    }

    /// Applies a reloaded config's queues and agents; `Err` (nothing changed) says why not.
    pub async fn reconfigure(
        &self,
        config: crate::acd::EngineConfig,
        agents: Vec<crate::config::AgentConfig>,
    ) -> Result<(), String> {
        let (reply, rx) = oneshot::channel();
        if !self
            .send(AcdRequest::Reconfigure {
                config,
                agents,
                reply,
            })
            .await
        {
            return Err("the ACD is not running".into());
        }
        rx.await
            .unwrap_or_else(|_| Err("the ACD is not running".into()))
    }

    /// The caller and IVR variables of `call` as queued; `None` when the engine no
    /// longer holds it or the ACD actor is gone.
    pub async fn offer_context(&self, call: CallId) -> Option<OfferContext> {
        let (reply, rx) = oneshot::channel();
        if !self.send(AcdRequest::OfferContext { call, reply }).await {
            return None;
        }
        rx.await.ok().flatten()
    }

    /// Places `agent`'s call to an outside `number` under the new call `call`.
    pub async fn agent_call(
        &self,
        agent: AgentId,
        call: CallId,
        number: crate::acd::CallerNumber,
        log: CallLog,
    ) -> Result<(), String> {
        let (reply, rx) = oneshot::channel();
        if !self
            .send(AcdRequest::AgentCall {
                agent,
                call,
                number,
                log,
                reply,
            })
            .await
        {
            return Err("the ACD is not running".into());
        }
        rx.await
            .unwrap_or_else(|_| Err("the ACD is not running".into()))
    }

    /// Schedules a callback the citizen asked for at a time; `log` is the new entry's.
    pub async fn schedule_callback(
        &self,
        callback: crate::acd::ScheduledCallback,
        log: CallLog,
    ) -> Result<(), String> {
        let (reply, rx) = oneshot::channel();
        if !self
            .send(AcdRequest::ScheduleCallback {
                callback,
                log,
                reply,
            })
            .await
        {
            return Err("the ACD is not running".into());
        }
        rx.await
            .unwrap_or_else(|_| Err("the ACD is not running".into()))
    }

    /// Makes `agent` busy with the direct call `call`, if they are available.
    pub async fn direct_call(&self, agent: AgentId, call: CallId) -> Result<(), String> {
        let (reply, rx) = oneshot::channel();
        if !self
            .send(AcdRequest::DirectCall { agent, call, reply })
            .await
        {
            return Err("the ACD is not running".into());
        }
        rx.await
            .unwrap_or_else(|_| Err("the ACD is not running".into()))
    }

    /// Runs a supervisor's floor command; `None` when the ACD is not running.
    pub async fn floor(&self, command: FloorCommand) -> Option<Result<(), crate::acd::AcdError>> {
        let (reply, rx) = oneshot::channel();
        if !self.send(AcdRequest::Floor { command, reply }).await {
            return None;
        }
        rx.await.ok()
    }

    /// The queue `call` is in; `None` when it is not in the ACD (or the ACD is down).
    pub async fn call_queue(&self, call: CallId) -> Option<QueueId> {
        let (reply, rx) = oneshot::channel();
        if !self.send(AcdRequest::CallQueue { call, reply }).await {
            return None;
        }
        rx.await.ok().flatten()
    }

    /// Runs an agent command and waits for the engine's verdict.
    pub async fn agent(&self, agent: AgentId, command: AgentCommand) -> Result<(), String> {
        self.agent_as(agent, command, None).await
    }

    /// `command` forced by a supervisor: the state change it makes (now, or when the
    /// agent's call ends) is logged with who and why.
    pub async fn agent_forced(
        &self,
        agent: AgentId,
        command: AgentCommand,
        by: ForcedBy,
    ) -> Result<(), String> {
        self.agent_as(agent, command, Some(by)).await
    }

    async fn agent_as(
        &self,
        agent: AgentId,
        command: AgentCommand,
        forced: Option<ForcedBy>,
    ) -> Result<(), String> {
        let (reply, rx) = oneshot::channel();
        if !self
            .send(AcdRequest::Agent {
                agent,
                command,
                forced,
                reply,
            })
            .await
        {
            return Err("the ACD is not running".into());
        }
        rx.await
            .unwrap_or_else(|_| Err("the ACD is not running".into()))
    }
}
