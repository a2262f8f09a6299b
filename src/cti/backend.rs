//! What the CTI needs from the rest of the server, as one trait: authenticate a
//! credential, run an agent's or a call's command, register a disposition, the screen-pop
//! data of an offered call, and the state the hub starts from.
//!
//! The server wires the real users, ACD, call registry and dispositions behind it; tests
//! drive the hub with a fake. Futures are boxed so the hub can hold a `dyn Backend`.

use std::future::Future;
use std::pin::Pin;

use crate::bus::{AgentChange, QueueChange};
use crate::users::Principal;

use super::protocol::{ErrorCode, Figures, HistoryEntry, NextState, TransferMode, TransferTarget};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Sessions' verdicts by session (`Principal::session`), from `Backend::revalidate_many`.
pub type Verdicts = std::collections::HashMap<String, Result<Principal, AuthError>>;

/// How a websocket proves who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// The `atende_session` cookie.
    Session(String),
    /// A one-time ticket from `POST /api/cti/ticket`.
    Ticket(String),
}

/// Why a credential was refused (close codes 4003 and 4004).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no credential")]
    Missing,
    #[error("unknown or used credential")]
    Bad,
    #[error("session expired")]
    Expired,
}

/// A refused or failed command: the reply's `error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct CommandError {
    pub code: ErrorCode,
    /// For the operator, in Brazilian Portuguese.
    pub message: String,
}

impl CommandError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> CommandError {
        CommandError {
            code,
            message: message.into(),
        }
    }
}

/// What a command changed: the entity's version after it, so the events up to it carry
/// the command's id even when they arrive after the reply.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcome {
    pub version: Option<u64>,
}

/// A command on the agent's own state (the ACD).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentCommand {
    Login {
        queues: Option<Vec<String>>,
    },
    Logout,
    Ready,
    Pause {
        reason: String,
    },
    NextState {
        state: NextState,
        reason: Option<String>,
    },
    EndWrapUp,
}

/// A command on a call the agent has (the call's owner).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallCommand {
    Answer {
        protocol: String,
    },
    HangUp {
        protocol: String,
    },
    Hold {
        protocol: String,
    },
    Resume {
        protocol: String,
    },
    Dtmf {
        protocol: String,
        digits: String,
    },
    Transfer {
        protocol: String,
        to: TransferTarget,
        mode: TransferMode,
    },
    CompleteTransfer {
        protocol: String,
    },
    CancelTransfer {
        protocol: String,
    },
    Call {
        number: String,
    },
    ScheduleCallback {
        protocol: String,
        at_ms: i64,
        number: Option<String>,
    },
}

/// A disposition for a call the agent handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub protocol: String,
    pub code: String,
    pub note: String,
}

/// The screen-pop data of a call offered to an agent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScreenPop {
    pub ivr: std::collections::BTreeMap<String, String>,
    pub history: Vec<HistoryEntry>,
    pub url: Option<String>,
}

/// The screen-pop data the hub asks for: the call, the queue it was offered from and how
/// long it waited there (for the URL template's `${waited_ms}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PopRequest {
    pub protocol: String,
    pub queue: Option<String>,
    pub waited_ms: u64,
}

/// What the hub knows before the first change: the ACD's agents and queues now.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InitialState {
    pub agents: Vec<AgentChange>,
    pub queues: Vec<QueueChange>,
}

pub trait Backend: Send + Sync + 'static {
    fn authenticate(&self, credential: Credential) -> BoxFuture<'_, Result<Principal, AuthError>>;

    /// Every session of `sessions` as it stands now (role and scope may have changed),
    /// checked together: the hub asks once per heartbeat for all connected desktops, so a
    /// server with a database answers with one read, not one per desktop. A verdict per
    /// session it could check; `None` when it could check none (database unavailable: the
    /// desktops are kept and checked again at the next heartbeat).
    fn revalidate_many(&self, sessions: Vec<String>) -> BoxFuture<'_, Option<Verdicts>>;

    fn agent_command(
        &self,
        who: Principal,
        agent: String,
        command: AgentCommand,
    ) -> BoxFuture<'_, Result<Outcome, CommandError>>;

    fn call_command(
        &self,
        who: Principal,
        agent: String,
        command: CallCommand,
    ) -> BoxFuture<'_, Result<Outcome, CommandError>>;

    /// A supervisor's control of the floor (`crate::floor::control`); `unavailable` when
    /// the server has none.
    fn floor_command(
        &self,
        who: Principal,
        order: crate::floor::control::Order,
        why: String,
    ) -> BoxFuture<'_, Result<Outcome, CommandError>> {
        let _ = (who, order, why);
        Box::pin(async {
            Err(CommandError::new(
                ErrorCode::Unavailable,
                "controle do salão indisponível",
            ))
        })
    }

    fn register(
        &self,
        who: Principal,
        agent: String,
        registration: Registration,
    ) -> BoxFuture<'_, Result<Outcome, CommandError>>;

    /// Screen-pop data for a call offered; the hub waits for it only briefly
    /// (`SCREEN_POP_WAIT`) and offers the call without it otherwise. Asked once per call:
    /// the hub shows the same data to whoever the call is transferred to.
    fn screen_pop(&self, request: PopRequest) -> BoxFuture<'_, ScreenPop>;

    fn initial_state(&self) -> BoxFuture<'_, InitialState>;

    /// Today's figures for the user (own and group), if the server keeps them.
    fn figures(&self, who: Principal) -> BoxFuture<'_, Option<Figures>>;

    /// A command the hub refused for the user's role or someone else's call: the server
    /// writes it to the audit log (a fake may ignore it).
    fn refused(&self, _who: Principal, _target: String, _why: String) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}
