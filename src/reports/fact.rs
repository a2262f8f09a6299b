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
    /// Not a citizen's call offered to the floor, left out of every count: an agent-to-agent
    /// call (service `internal`) or an agent's own outside call (service `outbound`).
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
#[derive(Debug, Clone, Copy)]
enum Leave {
    Abandoned,
    Routed(RouteReason),
    Callback,
}

/// How the IVR ended, as far as the outcome cares (no strings kept per open call).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IvrEnd {
    ServedByIvr,
    Transferred,
    Abandoned,
    Other,
}

/// One call's projection so far: the fact's fields plus the few open clocks the outcome
/// needs. Entries go in by `seq` (`apply`); `fact` reads the projection at any point, so
/// the live projector keeps one of these per open call instead of its entries, and
/// `project` (the rebuild) is the same fold over the whole log.
#[derive(Debug, Clone)]
pub struct CallFold {
    f: CallFact,
    /// The next `seq` the fold expects (entries below it are in).
    next_seq: u32,
    started: bool,
    accepted: bool,
    first_queue: Option<i64>,
    last_enter: Option<i64>,
    last_leave: Option<(i64, Leave)>,
    acd_answer: Option<i64>,
    first_bridge: Option<i64>,
    ivr_open: Option<i64>,
    ivr_end: Option<IvrEnd>,
    /// Index into `f.agents` of the agent talking, and since when.
    talk_open: Option<(usize, i64)>,
    hold_open: Option<i64>,
    hung_by: Option<Party>,
    /// A recording started and has not been finalized (or failed) yet.
    recording_open: bool,
}

impl CallFold {
    pub fn new(protocol: &str) -> CallFold {
        CallFold {
            f: CallFact {
                protocol: protocol.to_owned(),
                arrived_ms: 0,
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
                acw_ms: 0,
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
            },
            next_seq: 0,
            started: false,
            accepted: false,
            first_queue: None,
            last_enter: None,
            last_leave: None,
            acd_answer: None,
            first_bridge: None,
            ivr_open: None,
            ivr_end: None,
            talk_open: None,
            hold_open: None,
            hung_by: None,
            recording_open: false,
        }
    }

    /// Whether the call's recording has started and not yet ended (its last entry is
    /// still to come, usually just after the hang-up).
    pub fn awaits_recording(&self) -> bool {
        self.recording_open
    }

    /// The `seq` the next entry must have to be applied in order.
    pub fn next_seq(&self) -> u32 {
        self.next_seq
    }

    /// Whether the call has hung up (only late attributes can change it now).
    pub fn ended(&self) -> bool {
        self.f.ended_ms.is_some()
    }

    fn close_talk(&mut self, at: i64) {
        if let Some((i, from)) = self.talk_open.take() {
            let ms = (at - from).max(0);
            self.f.talk_ms += ms;
            if let Some(a) = self.f.agents.get_mut(i) {
                a.talk_ms += ms;
            }
        }
    }

    fn open_talk(&mut self, agent: &str, at: i64) {
        let i = match self.f.agents.iter().position(|a| a.agent == agent) {
            Some(i) => i,
            None => {
                self.f.agents.push(AgentPart {
                    agent: agent.to_owned(),
                    answered_ms: at,
                    talk_ms: 0,
                });
                self.f.agents.len() - 1
            }
        };
        self.talk_open = Some((i, at));
    }

    fn close_ivr(&mut self, at: i64) {
        if let Some(from) = self.ivr_open.take() {
            self.f.ivr_ms += (at - from).max(0);
        }
    }

    fn close_hold(&mut self, at: i64) {
        if let Some(from) = self.hold_open.take() {
            self.f.hold_ms += (at - from).max(0);
        }
    }

    /// Applies the next entry (the caller keeps `seq` order and drops duplicates).
    pub fn apply(&mut self, e: &LogEntry) {
        self.next_seq = self.next_seq.max(e.seq.saturating_add(1));
        let at = e.at_ms;
        if !self.started {
            self.started = true;
            self.f.arrived_ms = at;
        }
        if self.f.ended_ms.is_some() {
            // After the hang-up only late attributes count (registration, survey,
            // recording, the ACD's bookkeeping).
            match &e.kind {
                EventKind::Registered { .. }
                | EventKind::SurveyAnswered { .. }
                | EventKind::RecordingFinalized { .. }
                | EventKind::RecordingFailed { .. } => {}
                _ => return,
            }
        }
        match &e.kind {
            EventKind::Offered {
                a_number,
                service,
                restricted,
                ..
            } => {
                let f = &mut self.f;
                f.arrived_ms = at;
                f.a_number = a_number.clone();
                f.service = service.clone();
                f.internal = service == crate::events::INTERNAL_SERVICE
                    || service == crate::events::OUTBOUND_SERVICE;
                f.restricted = *restricted;
            }
            EventKind::Answered => self.accepted = true,
            EventKind::CallbackAttempt { callback, .. } if *callback == self.f.protocol => {
                self.f.callback_leg = true;
            }
            EventKind::Ivr { event } => {
                self.accepted = true;
                match event {
                    IvrEvent::FlowStarted { .. } if self.ivr_open.is_none() => {
                        self.ivr_open = Some(at)
                    }
                    IvrEvent::Finished { outcome } => {
                        self.close_ivr(at);
                        self.ivr_end = Some(match outcome {
                            IvrOutcome::ServedByIvr => IvrEnd::ServedByIvr,
                            IvrOutcome::Transferred { .. } => IvrEnd::Transferred,
                            IvrOutcome::Abandoned => IvrEnd::Abandoned,
                            IvrOutcome::Queued { .. } => IvrEnd::Other,
                        });
                    }
                    IvrEvent::HungUpIn { .. } => {
                        self.close_ivr(at);
                        self.ivr_end = Some(IvrEnd::Abandoned);
                    }
                    _ => {}
                }
            }
            EventKind::Acd { event } => {
                self.accepted = true;
                match event {
                    AcdEvent::QueueEntered { queue, .. } => {
                        self.close_ivr(at);
                        self.f.queued = true;
                        self.first_queue.get_or_insert(at);
                        self.last_enter = Some(at);
                        set_queue(&mut self.f.queue, queue.as_str());
                    }
                    AcdEvent::Overflowed { to, .. } => set_queue(&mut self.f.queue, to.as_str()),
                    AcdEvent::Answered { queue, .. } => {
                        self.acd_answer.get_or_insert(at);
                        set_queue(&mut self.f.queue, queue.as_str());
                    }
                    AcdEvent::Abandoned { .. } => self.last_leave = Some((at, Leave::Abandoned)),
                    AcdEvent::Routed { reason, .. } => {
                        self.last_leave = Some((at, Leave::Routed(*reason)));
                    }
                    AcdEvent::CallbackRequested { .. } => {
                        self.last_leave = Some((at, Leave::Callback))
                    }
                    _ => {}
                }
            }
            EventKind::Bridged { agent } => {
                self.accepted = true;
                self.first_bridge.get_or_insert(at);
                match self.talk_open {
                    Some((i, _)) if self.f.agents.get(i).is_some_and(|a| a.agent == *agent) => {}
                    Some(_) => {
                        self.close_talk(at);
                        self.open_talk(agent, at);
                    }
                    None => self.open_talk(agent, at),
                }
            }
            EventKind::Held { .. } => {
                self.hold_open.get_or_insert(at);
            }
            EventKind::Resumed { .. } => self.close_hold(at),
            EventKind::Transferred { to, blind, .. } => {
                self.f.transfers += 1;
                self.close_hold(at);
                self.close_talk(at);
                // An attended transfer hands the caller straight to the consulted agent.
                if !*blind && let Some(agent) = to.strip_prefix("agent:") {
                    self.open_talk(agent, at);
                }
            }
            EventKind::SurveyStarted { .. } => {
                self.close_hold(at);
                self.close_talk(at);
            }
            EventKind::HungUp { by, cause, .. } => {
                self.close_hold(at);
                self.close_ivr(at);
                self.close_talk(at);
                let f = &mut self.f;
                f.ended_ms = Some(at);
                f.hangup_by = Some(party_str(*by).to_owned());
                f.hangup_cause = Some(cause.clone());
                self.hung_by = Some(*by);
            }
            EventKind::Registered { .. } => self.f.registered = true,
            EventKind::SurveyAnswered {
                score: Some(s),
                isa: true,
                ..
            } if (1..=5).contains(s) => {
                let f = &mut self.f;
                f.survey_answers += 1;
                if *s >= 4 {
                    f.survey_top2 += 1;
                }
                f.survey_score.get_or_insert(*s);
            }
            EventKind::RecordingStarted { path } => {
                self.recording_open = true;
                if self.f.recording.is_none() {
                    self.f.recording = Some(path.clone());
                }
            }
            EventKind::RecordingFinalized { path, .. } => {
                self.recording_open = false;
                if self.f.recording.as_deref() != Some(path.as_str()) {
                    self.f.recording = Some(path.clone());
                }
            }
            EventKind::RecordingFailed { .. } => {
                self.recording_open = false;
                self.f.recording_failed = true;
            }
            _ => {}
        }
    }

    /// The fact as of the entries applied, with this after-call work.
    pub fn fact(&self, after_call_ms: i64) -> CallFact {
        let mut f = self.f.clone();
        f.acw_ms = after_call_ms.max(0);
        let Some(end) = f.ended_ms else {
            // Still going: the clocks so far, no outcome.
            return f;
        };
        f.line_ms = (end - f.arrived_ms).max(0);
        let answer = self.acd_answer.or(self.first_bridge);
        if let Some(t_ans) = answer {
            f.outcome = Outcome::HumanAnswered;
            f.wait_ms = match self.first_queue {
                Some(t_q) if t_q <= t_ans => t_ans - t_q,
                _ => 0,
            };
        } else if !self.accepted {
            f.outcome = Outcome::NotReceived;
            // A call refused at admission says why (`refused_capacity` → `capacity`).
            f.subcode = f
                .hangup_cause
                .as_deref()
                .and_then(|c| c.strip_prefix("refused_"))
                .map(str::to_owned);
        } else if let (Some(t_q), Some(enter)) = (self.first_queue, self.last_enter) {
            let (exit, leave) = match self.last_leave {
                Some((at, how)) if at >= enter => (at, Some(how)),
                _ => (end, None),
            };
            f.wait_ms = (exit - t_q).max(0);
            (f.outcome, f.subcode) = match leave {
                Some(Leave::Abandoned) => (Outcome::QueueAbandon, None),
                Some(Leave::Routed(r)) => (Outcome::Lost, Some(route_subcode(r).to_owned())),
                Some(Leave::Callback) => (Outcome::Lost, Some("callback".to_owned())),
                None if self.hung_by == Some(Party::Caller) => (Outcome::QueueAbandon, None),
                None => (Outcome::Lost, Some("error".to_owned())),
            };
        } else {
            (f.outcome, f.subcode) = match self.ivr_end {
                Some(IvrEnd::ServedByIvr) => (Outcome::IvrServed, None),
                Some(IvrEnd::Transferred) => (Outcome::IvrServed, Some("transferred".to_owned())),
                Some(IvrEnd::Abandoned) => (Outcome::IvrAbandon, None),
                _ if self.hung_by == Some(Party::Caller) => (Outcome::IvrAbandon, None),
                _ => (Outcome::Lost, Some("error".to_owned())),
            };
        }
        f
    }
}

/// Sets the call's last queue, reusing its string when the queue did not change.
fn set_queue(slot: &mut Option<String>, queue: &str) {
    if slot.as_deref() != Some(queue) {
        *slot = Some(queue.to_owned());
    }
}

/// Projects one call. `after_call_ms` is the after-call work the agent log gave it.
pub fn project(protocol: &str, entries: &[LogEntry], after_call_ms: i64) -> CallFact {
    let mut log: Vec<&LogEntry> = entries.iter().collect();
    log.sort_by_key(|e| e.seq);
    log.dedup_by_key(|e| e.seq);
    let mut fold = CallFold::new(protocol);
    for e in log {
        fold.apply(e);
    }
    fold.fact(after_call_ms)
}
