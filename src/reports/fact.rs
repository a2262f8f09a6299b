//! One call's event log → one `CallFact`: its single outcome, its clocks (IVR, queue wait,
//! talk, hold, after-call, line), its agents, queue, registration, survey and recording.
//!
//! The rules are `docs/reports.md` §1–2. Entries may come in any order and twice (a replayed
//! spill batch): they are sorted by `seq` and duplicates dropped first. Pure: the after-call
//! work comes in as a number, summed from the agent log by `agent_time`.

use serde::{Deserialize, Serialize};

use crate::acd::event::{AcdEvent, RouteReason};
use crate::events::{EventKind, Party};
use crate::ivr::IvrEvent;
use crate::ivr::io::Outcome as IvrOutcome;

/// One entry of a call's log, as the projector reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    pub seq: u32,
    pub at_ms: i64,
    pub kind: EventKind,
}

/// The one outcome of a call (`docs/reports.md` §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    InProgress,
    NotReceived,
    IvrServed,
    IvrAbandon,
    HumanAnswered,
    QueueAbandon,
    Lost,
}

impl Outcome {
    pub const ALL: [Outcome; 7] = [
        Outcome::InProgress,
        Outcome::NotReceived,
        Outcome::IvrServed,
        Outcome::IvrAbandon,
        Outcome::HumanAnswered,
        Outcome::QueueAbandon,
        Outcome::Lost,
    ];

    /// The stored and API name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::InProgress => "in_progress",
            Outcome::NotReceived => "not_received",
            Outcome::IvrServed => "ivr_served",
            Outcome::IvrAbandon => "ivr_abandon",
            Outcome::HumanAnswered => "human_answered",
            Outcome::QueueAbandon => "queue_abandon",
            Outcome::Lost => "lost",
        }
    }

    pub fn parse(s: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == s)
    }

    /// What users read (pt-BR).
    pub fn label_pt(self) -> &'static str {
        match self {
            Outcome::InProgress => "em andamento",
            Outcome::NotReceived => "não recebida",
            Outcome::IvrServed => "atendida pela URA",
            Outcome::IvrAbandon => "abandonada na URA",
            Outcome::HumanAnswered => "atendida",
            Outcome::QueueAbandon => "abandonada na fila",
            Outcome::Lost => "perdida",
        }
    }
}

/// One agent's part in a call: talk time credited to them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentPart {
    pub agent: String,
    /// When this agent first talked to the caller (UTC ms).
    pub answered_ms: i64,
    pub talk_ms: i64,
}

/// The per-call summary: one row of `call_facts`, one line of the per-call list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallFact {
    pub protocol: String,
    /// `offered` (UTC ms): the anchor of interval and day attribution.
    pub arrived_ms: i64,
    /// `hung_up` (UTC ms); `None` while in progress.
    pub ended_ms: Option<i64>,
    pub outcome: Outcome,
    /// Why a call was lost (`closed`, `max_wait`, `max_length`, `escalation`,
    /// `overflow_loop`, `callback`, `error`), how the IVR served it (`transferred`), or
    /// why it was refused at admission (`draining`, `capacity`, `no_media_port`, `offer`).
    pub subcode: Option<String>,
    /// The service (DID) the call came in on.
    pub service: String,
    /// The last queue the call was in.
    pub queue: Option<String>,
    /// The caller's number as stored: personal data, masked by the API by role.
    pub a_number: String,
    /// The caller asked for privacy: never shown.
    pub restricted: bool,
    /// A callback's own outbound leg: not an offered call, left out of every count.
    pub callback_leg: bool,
    /// An agent-to-agent call (service `internal`): not a citizen's, left out of every count.
    #[serde(default)]
    pub internal: bool,
    pub queued: bool,
    pub ivr_ms: i64,
    pub wait_ms: i64,
    pub talk_ms: i64,
    pub hold_ms: i64,
    /// After-call work of the agents, from the agent log.
    pub acw_ms: i64,
    /// `hung_up − offered`.
    pub line_ms: i64,
    pub agents: Vec<AgentPart>,
    pub transfers: u32,
    pub hangup_by: Option<String>,
    pub hangup_cause: Option<String>,
    /// At least one registration (IAR counts it once).
    pub registered: bool,
    /// Valid answers (1–5) to ISA questions, and how many were 4 or 5.
    pub survey_answers: u32,
    pub survey_top2: u32,
    /// The first valid ISA answer (the per-call list's column).
    pub survey_score: Option<u8>,
    pub recording: Option<String>,
    pub recording_failed: bool,
}

impl CallFact {
    /// Total for the per-call list: line + after-call work.
    pub fn total_ms(&self) -> i64 {
        self.line_ms + self.acw_ms
    }

    pub fn first_agent(&self) -> Option<&str> {
        self.agents.first().map(|a| a.agent.as_str())
    }
}

fn party_str(p: Party) -> &'static str {
    match p {
        Party::Caller => "caller",
        Party::Agent => "agent",
        Party::System => "system",
    }
}

fn route_subcode(r: RouteReason) -> &'static str {
    match r {
        RouteReason::Closed => "closed",
        RouteReason::MaxWait => "max_wait",
        RouteReason::MaxLength => "max_length",
        RouteReason::Escalation => "escalation",
        RouteReason::OverflowLoop => "overflow_loop",
    }
}

/// How the last queue stint ended.
#[derive(Clone, Copy)]
enum Leave {
    Abandoned,
    Routed(RouteReason),
    Callback,
}

/// Projects one call. `after_call_ms` is the after-call work the agent log gave it.
pub fn project(protocol: &str, entries: &[LogEntry], after_call_ms: i64) -> CallFact {
    let mut log: Vec<&LogEntry> = entries.iter().collect();
    log.sort_by_key(|e| e.seq);
    log.dedup_by_key(|e| e.seq);

    let mut f = CallFact {
        protocol: protocol.to_owned(),
        arrived_ms: log.first().map(|e| e.at_ms).unwrap_or(0),
        ended_ms: None,
        outcome: Outcome::InProgress,
        subcode: None,
        service: String::new(),
        queue: None,
        a_number: String::new(),
        restricted: false,
        callback_leg: false,
        internal: false,
        queued: false,
        ivr_ms: 0,
        wait_ms: 0,
        talk_ms: 0,
        hold_ms: 0,
        acw_ms: after_call_ms.max(0),
        line_ms: 0,
        agents: Vec::new(),
        transfers: 0,
        hangup_by: None,
        hangup_cause: None,
        registered: false,
        survey_answers: 0,
        survey_top2: 0,
        survey_score: None,
        recording: None,
        recording_failed: false,
    };
    let mut accepted = false;
    let mut first_queue: Option<i64> = None;
    let mut last_enter: Option<i64> = None;
    let mut last_leave: Option<(i64, Leave)> = None;
    let mut acd_answer: Option<i64> = None;
    let mut first_bridge: Option<i64> = None;
    let mut ivr_open: Option<i64> = None;
    let mut ivr_end: Option<IvrOutcome> = None;
    let mut talk_open: Option<(String, i64)> = None;
    let mut hold_open: Option<i64> = None;
    let mut hung_by: Option<Party> = None;

    let close_talk = |open: &mut Option<(String, i64)>, at: i64, f: &mut CallFact| {
        if let Some((agent, from)) = open.take() {
            let ms = (at - from).max(0);
            f.talk_ms += ms;
            match f.agents.iter_mut().find(|a| a.agent == agent) {
                Some(a) => a.talk_ms += ms,
                None => f.agents.push(AgentPart {
                    agent,
                    answered_ms: from,
                    talk_ms: ms,
                }),
            }
        }
    };
    let open_talk = |open: &mut Option<(String, i64)>, agent: &str, at: i64, f: &mut CallFact| {
        if !f.agents.iter().any(|a| a.agent == agent) {
            f.agents.push(AgentPart {
                agent: agent.to_owned(),
                answered_ms: at,
                talk_ms: 0,
            });
        }
        *open = Some((agent.to_owned(), at));
    };

    for e in &log {
        let at = e.at_ms;
        if f.ended_ms.is_some() {
            // After the hang-up only late attributes count (registration, survey,
            // recording, the ACD's bookkeeping).
            match &e.kind {
                EventKind::Registered { .. }
                | EventKind::SurveyAnswered { .. }
                | EventKind::RecordingFinalized { .. }
                | EventKind::RecordingFailed { .. } => {}
                _ => continue,
            }
        }
        match &e.kind {
            EventKind::Offered {
                a_number,
                service,
                restricted,
                ..
            } => {
                f.arrived_ms = at;
                f.a_number = a_number.clone();
                f.service = service.clone();
                f.internal = service == crate::events::INTERNAL_SERVICE;
                f.restricted = *restricted;
            }
            EventKind::Answered => accepted = true,
            EventKind::CallbackAttempt { callback, .. } if callback == protocol => {
                f.callback_leg = true;
            }
            EventKind::Ivr { event } => {
                accepted = true;
                match event {
                    IvrEvent::FlowStarted { .. } if ivr_open.is_none() => ivr_open = Some(at),
                    IvrEvent::Finished { outcome } => {
                        if let Some(from) = ivr_open.take() {
                            f.ivr_ms += (at - from).max(0);
                        }
                        ivr_end = Some(outcome.clone());
                    }
                    IvrEvent::HungUpIn { .. } => {
                        if let Some(from) = ivr_open.take() {
                            f.ivr_ms += (at - from).max(0);
                        }
                        ivr_end = Some(IvrOutcome::Abandoned);
                    }
                    _ => {}
                }
            }
            EventKind::Acd { event } => {
                accepted = true;
                match event {
                    AcdEvent::QueueEntered { queue, .. } => {
                        if let Some(from) = ivr_open.take() {
                            f.ivr_ms += (at - from).max(0);
                        }
                        f.queued = true;
                        first_queue.get_or_insert(at);
                        last_enter = Some(at);
                        f.queue = Some(queue.to_string());
                    }
                    AcdEvent::Overflowed { to, .. } => f.queue = Some(to.to_string()),
                    AcdEvent::Answered { queue, .. } => {
                        acd_answer.get_or_insert(at);
                        f.queue = Some(queue.to_string());
                    }
                    AcdEvent::Abandoned { .. } => last_leave = Some((at, Leave::Abandoned)),
                    AcdEvent::Routed { reason, .. } => {
                        last_leave = Some((at, Leave::Routed(*reason)));
                    }
                    AcdEvent::CallbackRequested { .. } => last_leave = Some((at, Leave::Callback)),
                    _ => {}
                }
            }
            EventKind::Bridged { agent } => {
                accepted = true;
                first_bridge.get_or_insert(at);
                match &talk_open {
                    Some((a, _)) if a == agent => {}
                    Some(_) => {
                        close_talk(&mut talk_open, at, &mut f);
                        open_talk(&mut talk_open, agent, at, &mut f);
                    }
                    None => open_talk(&mut talk_open, agent, at, &mut f),
                }
            }
            EventKind::Held { .. } => {
                hold_open.get_or_insert(at);
            }
            EventKind::Resumed { .. } => {
                if let Some(from) = hold_open.take() {
                    f.hold_ms += (at - from).max(0);
                }
            }
            EventKind::Transferred { to, blind, .. } => {
                f.transfers += 1;
                if let Some(from) = hold_open.take() {
                    f.hold_ms += (at - from).max(0);
                }
                close_talk(&mut talk_open, at, &mut f);
                // An attended transfer hands the caller straight to the consulted agent.
                if !*blind && let Some(agent) = to.strip_prefix("agent:") {
                    open_talk(&mut talk_open, agent, at, &mut f);
                }
            }
            EventKind::SurveyStarted { .. } => {
                if let Some(from) = hold_open.take() {
                    f.hold_ms += (at - from).max(0);
                }
                close_talk(&mut talk_open, at, &mut f);
            }
            EventKind::HungUp { by, cause, .. } => {
                if let Some(from) = hold_open.take() {
                    f.hold_ms += (at - from).max(0);
                }
                if let Some(from) = ivr_open.take() {
                    f.ivr_ms += (at - from).max(0);
                }
                close_talk(&mut talk_open, at, &mut f);
                f.ended_ms = Some(at);
                f.hangup_by = Some(party_str(*by).to_owned());
                f.hangup_cause = Some(cause.clone());
                hung_by = Some(*by);
            }
            EventKind::Registered { .. } => f.registered = true,
            EventKind::SurveyAnswered {
                score: Some(s),
                isa: true,
                ..
            } if (1..=5).contains(s) => {
                f.survey_answers += 1;
                if *s >= 4 {
                    f.survey_top2 += 1;
                }
                f.survey_score.get_or_insert(*s);
            }
            EventKind::RecordingStarted { path } if f.recording.is_none() => {
                f.recording = Some(path.clone());
            }
            EventKind::RecordingFinalized { path, .. } => f.recording = Some(path.clone()),
            EventKind::RecordingFailed { .. } => f.recording_failed = true,
            _ => {}
        }
    }

    let Some(end) = f.ended_ms else {
        // Still going: the clocks so far, no outcome.
        return f;
    };
    f.line_ms = (end - f.arrived_ms).max(0);
    let answer = acd_answer.or(first_bridge);
    if let Some(t_ans) = answer {
        f.outcome = Outcome::HumanAnswered;
        f.wait_ms = match first_queue {
            Some(t_q) if t_q <= t_ans => t_ans - t_q,
            _ => 0,
        };
    } else if !accepted {
        f.outcome = Outcome::NotReceived;
        // A call refused at admission says why (`refused_capacity` → `capacity`).
        f.subcode = f
            .hangup_cause
            .as_deref()
            .and_then(|c| c.strip_prefix("refused_"))
            .map(str::to_owned);
    } else if let (Some(t_q), Some(enter)) = (first_queue, last_enter) {
        let (exit, leave) = match last_leave {
            Some((at, how)) if at >= enter => (at, Some(how)),
            _ => (end, None),
        };
        f.wait_ms = (exit - t_q).max(0);
        (f.outcome, f.subcode) = match leave {
            Some(Leave::Abandoned) => (Outcome::QueueAbandon, None),
            Some(Leave::Routed(r)) => (Outcome::Lost, Some(route_subcode(r).to_owned())),
            Some(Leave::Callback) => (Outcome::Lost, Some("callback".to_owned())),
            None if hung_by == Some(Party::Caller) => (Outcome::QueueAbandon, None),
            None => (Outcome::Lost, Some("error".to_owned())),
        };
    } else {
        (f.outcome, f.subcode) = match ivr_end {
            Some(IvrOutcome::ServedByIvr) => (Outcome::IvrServed, None),
            Some(IvrOutcome::Transferred { .. }) => {
                (Outcome::IvrServed, Some("transferred".to_owned()))
            }
            Some(IvrOutcome::Abandoned) => (Outcome::IvrAbandon, None),
            _ if hung_by == Some(Party::Caller) => (Outcome::IvrAbandon, None),
            _ => (Outcome::Lost, Some("error".to_owned())),
        };
    }
    f
}
