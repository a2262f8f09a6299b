//! The vocabulary of a call's event log: pure data, shared by the cores and the store.
//!
//! Kept apart from `store` so the pure call machine can name events without importing a
//! database shell. Variants only ever get added: stored logs must stay readable.

use serde::{Deserialize, Serialize};

/// The service name an agent-to-agent call is logged under (`Offered.service`): not a
/// citizen's call, so the contract's reports leave it out.
pub const INTERNAL_SERVICE: &str = "internal";

/// The service an agent's outside call (the desktop's `call`) is logged under: placed by
/// the agent, not a citizen's call offered to the floor, so the reports leave it out too.
pub const OUTBOUND_SERVICE: &str = "outbound";

/// How a supervisor monitors a call (issue 20); defined with the pure who-hears-whom
/// table it selects a row of.
pub use crate::media::monitor::MonitorMode;

/// Who did something to a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Party {
    Caller,
    Agent,
    System,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventKind {
    Offered {
        call_id: String,
        a_number: String,
        b_number: String,
        service: String,
        source: String,
        /// The caller asked for privacy (`Privacy: id`): `a_number` is kept but must be
        /// shown as restricted (API, CTI, reports).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        restricted: bool,
    },
    Answered,
    PromptPlayed {
        prompt: String,
    },
    Dtmf {
        digit: char,
        via: String,
    },
    Ringing {
        agent: String,
        contact: String,
    },
    AgentFailed {
        agent: String,
        sip_status: u16,
        reason: String,
    },
    AgentAnswered {
        agent: String,
    },
    Bridged {
        agent: String,
    },
    Held {
        by: Party,
    },
    Resumed {
        by: Party,
    },
    /// The caller was sent on from `from` (the agent they talked to) to `to`
    /// (`agent:<id>`, `queue:<id>` or `number`); the call and its recording go on.
    Transferred {
        from: String,
        to: String,
        blind: bool,
    },
    /// An attended transfer began: the caller waits on hold while `to` (`agent:<id>`) is
    /// rung for `from` to consult.
    TransferStarted {
        from: String,
        to: String,
    },
    /// An attended transfer did not happen (`reason`: `cancelled`, `not_answered`,
    /// `target_hung_up`); the caller is back with `from`, on the same recording.
    TransferFailed {
        from: String,
        to: String,
        reason: String,
    },
    HungUp {
        by: Party,
        cause: String,
        sip_status: Option<u16>,
    },
    RecordingStarted {
        path: String,
    },
    RecordingFinalized {
        path: String,
        duration_ms: i64,
        sha256: String,
    },
    RecordingFailed {
        path: String,
        error: String,
    },
    /// A step of the IVR (node entered, option chosen, timeout, outcome); the IVR
    /// statistics are computed from these.
    Ivr {
        event: crate::ivr::IvrEvent,
    },
    /// A decision or state change of the ACD about this call (queued, offered, answered
    /// after N s, abandoned, overflowed, callback).
    Acd {
        event: crate::acd::event::AcdEvent,
    },
    /// Links a callback's own call (`callback`) and the call that asked for it
    /// (`original`); written in both logs.
    CallbackAttempt {
        original: String,
        callback: String,
        attempt: u32,
    },
    /// A callback rings the citizen through the outbound trunk.
    CitizenDialled {
        target: String,
    },
    CitizenFailed {
        sip_status: u16,
        reason: String,
    },
    /// The agent who answered registered what the call was about: a configured
    /// disposition code and a free-text note (the IAR KPI counts calls with one). Written
    /// by the store with `seq` from `REGISTRATION_SEQ_BASE` on (see `store::registration`),
    /// so it never takes a number the call's own log is about to use.
    Registered {
        agent: String,
        code: String,
        note: String,
    },
    /// The agent's part ended and the caller was put to the satisfaction survey
    /// `survey` (the call's talk time stops here; the survey is not talk). `agent` is the
    /// agent the answers are about (the last one who talked to the caller).
    SurveyStarted {
        survey: String,
        agent: Option<String>,
    },
    /// One survey question asked of the caller. `score` is the valid key pressed (1–5);
    /// `None` when there was no valid answer after the retries, with `reason` saying why
    /// (`timeout`, `invalid`, `hung_up`). `isa` says whether the question counts for the
    /// ISA KPI. One event per question asked, in the order asked.
    SurveyAnswered {
        survey: String,
        question: String,
        agent: Option<String>,
        score: Option<u8>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        isa: bool,
    },
    /// A supervisor (`supervisor`, a user name) began monitoring the call from the phone
    /// of account `phone`, in `mode`.
    MonitorStarted {
        supervisor: String,
        phone: String,
        mode: MonitorMode,
        /// Whether the agent's desktop was told (`[cti] show_listen` for listen).
        #[serde(default)]
        shown: bool,
    },
    /// A supervisor switched mode (`via`: `api` or `keypad`).
    MonitorModeChanged {
        supervisor: String,
        mode: MonitorMode,
        via: String,
        /// Whether the agent's desktop was told.
        #[serde(default)]
        shown: bool,
    },
    /// A supervisor's monitoring ended (`reason`: `stopped`, `supervisor_hung_up`,
    /// `not_answered`, `transferred`, `call_ended`, `held_by_transfer`).
    MonitorEnded {
        supervisor: String,
        reason: String,
    },
    /// The supervisors' track of this call, closed: a stereo file next to the recording
    /// (left: what the supervisors said, whisper included; right: what the agent heard).
    MonitorTrackFinalized {
        path: String,
        duration_ms: i64,
        sha256: String,
    },
}

impl EventKind {
    /// The snake_case name stored in the `kind` column.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Offered { .. } => "offered",
            EventKind::Answered => "answered",
            EventKind::PromptPlayed { .. } => "prompt_played",
            EventKind::Dtmf { .. } => "dtmf",
            EventKind::Ringing { .. } => "ringing",
            EventKind::AgentFailed { .. } => "agent_failed",
            EventKind::AgentAnswered { .. } => "agent_answered",
            EventKind::Bridged { .. } => "bridged",
            EventKind::Held { .. } => "held",
            EventKind::Resumed { .. } => "resumed",
            EventKind::Transferred { .. } => "transferred",
            EventKind::TransferStarted { .. } => "transfer_started",
            EventKind::TransferFailed { .. } => "transfer_failed",
            EventKind::HungUp { .. } => "hung_up",
            EventKind::RecordingStarted { .. } => "recording_started",
            EventKind::RecordingFinalized { .. } => "recording_finalized",
            EventKind::RecordingFailed { .. } => "recording_failed",
            EventKind::Ivr { .. } => "ivr",
            EventKind::Acd { .. } => "acd",
            EventKind::CallbackAttempt { .. } => "callback_attempt",
            EventKind::CitizenDialled { .. } => "citizen_dialled",
            EventKind::CitizenFailed { .. } => "citizen_failed",
            EventKind::Registered { .. } => "registered",
            EventKind::SurveyStarted { .. } => "survey_started",
            EventKind::SurveyAnswered { .. } => "survey_answered",
            EventKind::MonitorStarted { .. } => "monitor_started",
            EventKind::MonitorModeChanged { .. } => "monitor_mode_changed",
            EventKind::MonitorEnded { .. } => "monitor_ended",
            EventKind::MonitorTrackFinalized { .. } => "monitor_track_finalized",
        }
    }
}
