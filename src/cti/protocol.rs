//! The CTI protocol v1 on the wire: every message a desktop sends or receives, as serde
//! types, and the JSON Schema generated from them (`docs/cti.schema.json`).
//!
//! Pure data; no IO. The contract these types implement is written up in `docs/cti.md`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The protocol version in every envelope.
pub const VERSION: u8 = 1;

/// What the server sends: `{"v":1,"seq":N,"type":"…",…}`. `seq` counts from 1 per
/// connection, gapless over every server message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ServerFrame {
    pub v: u8,
    pub seq: u64,
    #[serde(flatten)]
    pub message: ServerMessage,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    Welcome(Welcome),
    Snapshot(Snapshot),
    /// A resume worked: the `replayed` messages the client had missed follow with their
    /// original `seq`.
    Resumed {
        replayed: u64,
    },
    /// The client's state can no longer be patched: drop it; a `snapshot` follows.
    ResyncRequired {
        reason: ResyncReason,
    },
    Heartbeat {
        server_time_ms: i64,
    },
    Reply(Reply),
    /// A malformed client message (not a command's failure: those get a `reply`).
    Error(ProtocolError),
    AgentState(AgentStateBody),
    CallOffered {
        call: OfferedCall,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        command_id: Option<String>,
    },
    CallAnswered(CallUpdate),
    CallHeld(CallUpdate),
    CallResumed(CallUpdate),
    CallTransferred(CallUpdate),
    CallEnded(CallEnded),
    CallMissed(CallMissed),
    WrapUp(WrapUp),
    QueueStats(QueueStats),
    Figures(Figures),
    Registered(Registered),
    /// Supervisors monitor the agent's call (issue 20): `mode` is the strongest mode still
    /// attached (barge > whisper > listen; to the agent `listen` only with `[cti]
    /// show_listen`), `null` once none is. Several supervisors may attach: one leaving
    /// leaves the others' mode. To the monitored agent and the supervisors of the queue.
    Monitoring(MonitoringBody),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MonitoringBody {
    pub protocol: String,
    pub version: u64,
    pub agent: Option<String>,
    /// `listen`, `whisper`, `barge`: the strongest attached; absent once none is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Welcome {
    /// Quote it in `hello.resume.connection` after a reconnect.
    pub connection: String,
    /// For the client's clock skew: timers tick from server times.
    pub server_time_ms: i64,
    pub resume_window_secs: u64,
    pub heartbeat_secs: u64,
    pub user: String,
    pub role: Role,
    /// The ACD agent this desktop controls, if the user is one.
    pub agent: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Snapshot {
    /// The `seq` of this snapshot: every later message applies on top of it.
    pub as_of_seq: u64,
    /// The connection's own agent.
    pub agent: Option<AgentStateBody>,
    /// Every agent the user may see (a supervisor's team; an agent sees only themself).
    pub agents: Vec<AgentStateBody>,
    /// Live calls the user may see.
    pub calls: Vec<Call>,
    pub queues: Vec<QueueStats>,
    pub figures: Option<Figures>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResyncReason {
    /// The server could not deliver every event in time (slow socket or overload).
    Lagged,
    /// The resume came too late or from too far back.
    ResumeExpired,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Reply {
    pub id: String,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ReplyError>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ReplyError {
    pub code: ErrorCode,
    /// For the operator, in Brazilian Portuguese.
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    NotAllowed,
    UnknownCommand,
    BadArgs,
    InvalidState,
    NotFound,
    Unavailable,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProtocolError {
    pub code: ProtocolErrorCode,
    pub message: String,
    /// The command id, when the message was a command with a reused id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProtocolErrorCode {
    /// Not JSON, not a known message type, or a missing field.
    Malformed,
    /// `v` is not 1.
    UnsupportedVersion,
    /// A command id already used on this connection (it got its one reply then).
    DuplicateId,
    /// `hello` after the first message.
    LateHello,
}

/// An agent after a change: the whole state, replace what you had if `version` is newer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AgentStateBody {
    pub agent: String,
    pub version: u64,
    pub state: AgentState,
    pub reason: Option<String>,
    pub since_ms: i64,
    pub queues: Vec<String>,
    /// The protocol of the call ringing, in talk or in wrap-up.
    pub call: Option<String>,
    /// What the agent becomes when the call or wrap-up ends.
    pub next_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_id: Option<String>,
}

/// A call offered to the agent, with the screen-pop data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OfferedCall {
    pub protocol: String,
    pub version: u64,
    /// The caller's number, or "restrito" when they asked for privacy.
    pub caller: String,
    /// The number the caller dialled.
    pub did: String,
    pub queue: Option<String>,
    pub waited_ms: u64,
    /// What the IVR collected, limited to the queue's whitelist.
    pub ivr: BTreeMap<String, String>,
    /// Earlier calls from the same number.
    pub history: Vec<HistoryEntry>,
    /// The queue's screen-pop URL template, filled.
    pub url: Option<String>,
    /// Set when another agent transferred the call here (blind, or the consultation of
    /// an attended transfer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer: Option<TransferOrigin>,
}

/// Where a transferred call comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TransferOrigin {
    /// The agent who transferred it.
    pub from: String,
    pub mode: TransferMode,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HistoryEntry {
    pub protocol: String,
    pub at_ms: i64,
    pub disposition: Option<String>,
    pub note: Option<String>,
}

/// A live call as the snapshot lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Call {
    pub protocol: String,
    pub version: u64,
    pub state: CallState,
    pub agent: Option<String>,
    pub queue: Option<String>,
    pub caller: String,
    pub did: String,
    /// When the call reached atende.
    pub since_ms: i64,
    /// Supervisors monitoring the call: the mode the last `monitoring` event would have
    /// told you (the strongest attached; to the agent `listen` only with `[cti]
    /// show_listen`), so a desktop that reconnects shows the badge; absent when none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitoring: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CallState {
    /// In the IVR or waiting in a queue.
    Waiting,
    Ringing,
    Talking,
    Held,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CallUpdate {
    pub protocol: String,
    pub version: u64,
    pub agent: Option<String>,
    /// Who held, resumed or transferred (`caller`, `agent`, `system`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// Where a transfer went.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CallEnded {
    pub protocol: String,
    pub version: u64,
    pub agent: Option<String>,
    pub by: String,
    pub cause: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CallMissed {
    pub protocol: String,
    pub version: u64,
    pub agent: String,
    pub reason: MissReason,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MissReason {
    NoAnswer,
    Rejected,
    CallerAbandoned,
    Cancelled,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WrapUp {
    pub agent: String,
    pub protocol: String,
    /// When wrap-up ends on its own; `null` while it lasts until `end_wrap_up`.
    pub until_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct QueueStats {
    pub queue: String,
    pub version: u64,
    pub waiting: usize,
    pub oldest_since_ms: Option<i64>,
    pub staffed: usize,
    pub available: usize,
    /// Taking callers now (its schedule, and no supervisor closed it).
    #[serde(default = "open_default")]
    pub open: bool,
    /// Closed by a supervisor until one reopens it (outlives restarts).
    #[serde(default)]
    pub closed_by_hand: bool,
    /// The priority a supervisor gave every caller of the queue; `null`: their own.
    #[serde(default)]
    pub priority: Option<u8>,
}

fn open_default() -> bool {
    true
}

/// Today's figures; the keys are documented in `docs/cti.md`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Figures {
    pub own: BTreeMap<String, serde_json::Value>,
    pub group: BTreeMap<String, serde_json::Value>,
    pub targets: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Registered {
    pub protocol: String,
    pub code: String,
    pub note: String,
    pub command_id: String,
}

/// What a desktop sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// The first message (optional): resume a connection or start afresh.
    Hello {
        v: u8,
        #[serde(default)]
        resume: Option<ResumeFrom>,
    },
    Command {
        v: u8,
        id: String,
        /// One of the names of `Command`.
        command: String,
        #[serde(default)]
        args: serde_json::Value,
    },
    SnapshotRequest {
        v: u8,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ResumeFrom {
    pub connection: String,
    pub last_seq: u64,
}

/// A command with its arguments (`command` and `args` of a `command` message).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "command", content = "args", rename_all = "snake_case")]
pub enum Command {
    Login {
        #[serde(default)]
        queues: Option<Vec<String>>,
    },
    Logout {},
    Ready {},
    Pause {
        reason: String,
    },
    NextState {
        state: NextState,
        #[serde(default)]
        reason: Option<String>,
    },
    EndWrapUp {},
    Answer {},
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
    /// The attended transfer's target (who answered) takes the agent's place.
    CompleteTransfer {
        protocol: String,
    },
    /// The attended transfer is called off: the caller is back with the agent.
    CancelTransfer {
        protocol: String,
    },
    Call {
        number: String,
    },
    ScheduleCallback {
        protocol: String,
        at_ms: i64,
        #[serde(default)]
        number: Option<String>,
    },
    Register {
        protocol: String,
        code: String,
        #[serde(default)]
        note: String,
    },
    /// A supervisor (in scope) or admin forces an agent's state; `reason` for a pause.
    ForceState {
        agent: String,
        state: NextState,
        #[serde(default)]
        reason: Option<String>,
        why: String,
    },
    /// A supervisor offers a waiting call to an available agent now.
    AssignCall {
        protocol: String,
        agent: String,
        why: String,
    },
    /// A supervisor closes a queue, gives it back to its schedule, or sets its priority.
    QueueControl {
        queue: String,
        action: QueueAction,
        #[serde(default)]
        priority: Option<u8>,
        why: String,
    },
}

/// What `queue_control` does to a queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum QueueAction {
    Close,
    Open,
    Priority,
}

/// Every command name, for telling an unknown command from bad arguments.
pub const COMMANDS: &[&str] = &[
    "login",
    "logout",
    "ready",
    "pause",
    "next_state",
    "end_wrap_up",
    "answer",
    "hang_up",
    "hold",
    "resume",
    "dtmf",
    "transfer",
    "complete_transfer",
    "cancel_transfer",
    "call",
    "schedule_callback",
    "register",
    "force_state",
    "assign_call",
    "queue_control",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NextState {
    Available,
    Paused,
    LoggedOut,
}

/// Exactly one of: `{"agent": id}`, `{"queue": id}`, `{"number": digits}`, or `"survey"`
/// (the caller goes to the call's satisfaction survey: the agent's part ends; blind only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TransferTarget {
    Agent(String),
    Queue(String),
    Number(String),
    Survey,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TransferMode {
    Blind,
    Attended,
}

/// An agent's state (`crate::bus::AgentState` on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AgentState {
    LoggedOut,
    Available,
    Ringing,
    OnCall,
    WrapUp,
    Paused,
}

impl From<crate::bus::AgentState> for AgentState {
    fn from(s: crate::bus::AgentState) -> AgentState {
        use crate::bus::AgentState as B;
        match s {
            B::LoggedOut => AgentState::LoggedOut,
            B::Available => AgentState::Available,
            B::Ringing => AgentState::Ringing,
            B::OnCall => AgentState::OnCall,
            B::WrapUp => AgentState::WrapUp,
            B::Paused => AgentState::Paused,
        }
    }
}

/// A user's role (`crate::users::Role` on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Agent,
    Supervisor,
    Admin,
    Auditor,
    Wallboard,
}

impl From<crate::users::Role> for Role {
    fn from(r: crate::users::Role) -> Role {
        use crate::users::Role as U;
        match r {
            U::Agent => Role::Agent,
            U::Supervisor => Role::Supervisor,
            U::Admin => Role::Admin,
            U::Auditor => Role::Auditor,
            U::Wallboard => Role::Wallboard,
        }
    }
}

/// Why a command message could not become a `Command`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandParseError {
    #[error("unknown command {0:?}")]
    Unknown(String),
    #[error("bad arguments: {0}")]
    BadArgs(String),
}

impl Command {
    /// Reads `command` and `args` of a command message.
    pub fn parse(name: &str, args: serde_json::Value) -> Result<Command, CommandParseError> {
        if !COMMANDS.contains(&name) {
            return Err(CommandParseError::Unknown(name.to_owned()));
        }
        let args = match args {
            serde_json::Value::Null => serde_json::Value::Object(Default::default()),
            other => other,
        };
        serde_json::from_value(serde_json::json!({ "command": name, "args": args }))
            .map_err(|e| CommandParseError::BadArgs(e.to_string()))
    }
}

/// Every message of the protocol, for the schema: a frame from the server, a message
/// from the client, or the `command` + `args` part of a command.
#[derive(JsonSchema)]
#[serde(untagged)]
#[schemars(title = "atende CTI protocol v1")]
#[allow(dead_code, clippy::large_enum_variant)] // exists for its schema only
enum CtiMessage {
    FromServer(ServerFrame),
    FromClient(ClientMessage),
    CommandArgs(Command),
}

/// The JSON Schema of every message, pretty-printed (what `docs/cti.schema.json` holds).
pub fn schema_json() -> String {
    let schema = schemars::schema_for!(CtiMessage);
    // Serializing a schema (a JSON value) cannot fail.
    serde_json::to_string_pretty(&schema).unwrap_or_default() + "\n"
}

impl ServerMessage {
    /// Marks an event as caused by the command `id` (events only; replies carry the id
    /// already).
    pub fn set_command_id(&mut self, id: &str) {
        let slot = match self {
            ServerMessage::AgentState(b) => &mut b.command_id,
            ServerMessage::CallOffered { command_id, .. } => command_id,
            ServerMessage::CallAnswered(u)
            | ServerMessage::CallHeld(u)
            | ServerMessage::CallResumed(u)
            | ServerMessage::CallTransferred(u) => &mut u.command_id,
            ServerMessage::CallEnded(e) => &mut e.command_id,
            ServerMessage::CallMissed(m) => &mut m.command_id,
            _ => return,
        };
        *slot = Some(id.to_owned());
    }

    /// The entity an event is about and its version after the change, for matching it
    /// with the command that caused it.
    pub fn entity(&self) -> Option<(Entity, u64)> {
        match self {
            ServerMessage::AgentState(b) => Some((Entity::Agent(b.agent.clone()), b.version)),
            ServerMessage::CallOffered { call, .. } => {
                Some((Entity::Call(call.protocol.clone()), call.version))
            }
            ServerMessage::CallAnswered(u)
            | ServerMessage::CallHeld(u)
            | ServerMessage::CallResumed(u)
            | ServerMessage::CallTransferred(u) => {
                Some((Entity::Call(u.protocol.clone()), u.version))
            }
            ServerMessage::CallEnded(e) => Some((Entity::Call(e.protocol.clone()), e.version)),
            ServerMessage::CallMissed(m) => Some((Entity::Call(m.protocol.clone()), m.version)),
            _ => None,
        }
    }
}

/// What a command acts on and an event is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Entity {
    Agent(String),
    Call(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse_and_tell_unknown_from_bad_args() {
        assert_eq!(
            Command::parse("pause", serde_json::json!({"reason": "almoço"})),
            Ok(Command::Pause {
                reason: "almoço".into()
            })
        );
        assert_eq!(
            Command::parse("ready", serde_json::Value::Null),
            Ok(Command::Ready {})
        );
        assert_eq!(
            Command::parse(
                "transfer",
                serde_json::json!({"protocol": "p", "to": {"queue": "geral"}, "mode": "blind"})
            ),
            Ok(Command::Transfer {
                protocol: "p".into(),
                to: TransferTarget::Queue("geral".into()),
                mode: TransferMode::Blind
            })
        );
        assert_eq!(
            Command::parse(
                "transfer",
                serde_json::json!({"protocol": "p", "to": "survey", "mode": "blind"})
            ),
            Ok(Command::Transfer {
                protocol: "p".into(),
                to: TransferTarget::Survey,
                mode: TransferMode::Blind
            })
        );
        assert!(matches!(
            Command::parse("fly", serde_json::json!({})),
            Err(CommandParseError::Unknown(_))
        ));
        assert!(matches!(
            Command::parse("pause", serde_json::json!({})),
            Err(CommandParseError::BadArgs(_))
        ));
    }

    #[test]
    fn a_frame_has_the_envelope_of_the_contract() {
        let frame = ServerFrame {
            v: VERSION,
            seq: 7,
            message: ServerMessage::Heartbeat { server_time_ms: 5 },
        };
        let json = serde_json::to_value(&frame).expect("serializes");
        assert_eq!(
            json,
            serde_json::json!({"v": 1, "seq": 7, "type": "heartbeat", "server_time_ms": 5})
        );
        let back: ServerFrame = serde_json::from_value(json).expect("reads back");
        assert_eq!(back, frame);
    }

    #[test]
    fn the_committed_schema_is_the_generated_one() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/cti.schema.json");
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        if std::env::var_os("ATENDE_WRITE_SCHEMA").is_some() {
            std::fs::write(path, schema_json()).expect("write the schema");
            return;
        }
        assert!(
            committed == schema_json(),
            "docs/cti.schema.json is stale: run ATENDE_WRITE_SCHEMA=1 cargo test --lib cti::protocol"
        );
    }
}
