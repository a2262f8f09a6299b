//! What the CTI hub knows of the contact center, built from the bus alone: agents, queue
//! figures and live calls; how each bus `Change` becomes CTI events, each addressed to an
//! audience; and who may see what.
//!
//! Pure: no IO, no clock. Keeps only live calls (and, per agent, the last few ended ones
//! so a disposition can still be registered); nothing grows with the day's traffic.

use std::collections::{BTreeMap, HashMap, VecDeque};

use crate::acd::event::{AcdEvent, CancelReason};
use crate::bus::{AgentChange, AgentState, Change, QueueChange};
use crate::events::{EventKind, Party};
use crate::users::{Principal, Role};

use super::backend::{InitialState, PopRequest, ScreenPop};
use monitors::{Monitors, monitoring};

mod monitors;
use super::protocol::{
    AgentStateBody, Call, CallEnded, CallMissed, CallState, CallUpdate, MissReason, OfferedCall,
    QueueStats, ServerMessage, Snapshot, TransferMode, TransferOrigin, WrapUp,
};

/// Ended calls remembered per agent for `register`.
const RECENT_PER_AGENT: usize = 20;

/// What the caller's number is shown as when they asked for privacy.
pub const RESTRICTED: &str = "restrito";

/// Who an event is for (checked against each connection's principal at delivery).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    /// An agent's own state: the agent, and supervisors of any queue the agent serves.
    Agent {
        agent: String,
        queues: Vec<String>,
    },
    /// A call: the agent it is offered or bridged to, and supervisors of its queue.
    Call {
        agent: Option<String>,
        queue: Option<String>,
    },
    Queue(String),
}

/// An event with its audience.
#[derive(Debug, Clone, PartialEq)]
pub struct Addressed {
    pub audience: Audience,
    pub message: ServerMessage,
}

#[derive(Debug, Clone, PartialEq)]
struct LiveCall {
    version: u64,
    caller: String,
    did: String,
    queue: Option<String>,
    agent: Option<String>,
    state: CallState,
    since_ms: i64,
    /// The agent the call was last offered to (one `call_offered` per offer).
    offered_to: Option<String>,
    answered: bool,
    /// The screen-pop data of the first offer, shown again to whoever the call is
    /// transferred to (the ACD's offer context is gone by then).
    pop: Option<ScreenPop>,
    /// The ACD's wait before the first offer.
    waited_ms: Option<u64>,
    /// The last transfer, shown on the next offer.
    transfer: Option<TransferOrigin>,
    /// The supervisors monitoring the call (issue 20).
    monitors: Monitors,
}

#[derive(Debug, Default)]
pub struct View {
    agents: BTreeMap<String, AgentChange>,
    queues: BTreeMap<String, QueueChange>,
    calls: HashMap<String, LiveCall>,
    recent: HashMap<String, VecDeque<String>>,
}

/// Whether `who` may see events for `audience`. An agent is seen by themself and by
/// supervisors whose scope covers them (`Principal::sees_agent`: a team's supervisor sees
/// the team's agents, not another team's who serve the same queue); a call by its agent,
/// by supervisors of its queue and by supervisors of its agent's team (every call for an
/// admin or auditor without a scope).
pub fn visible(who: &Principal, audience: &Audience) -> bool {
    let own = |agent: &str| who.agent.as_deref() == Some(agent);
    let in_scope = |queue: &str| match who.role {
        Role::Admin | Role::Auditor | Role::Wallboard => {
            who.queues.is_empty() || who.queues.iter().any(|q| q == queue)
        }
        Role::Supervisor | Role::Agent => who.queues.iter().any(|q| q == queue),
    };
    let supervises = matches!(
        who.role,
        Role::Supervisor | Role::Admin | Role::Auditor | Role::Wallboard
    );
    let team_agent = |agent: &str| !who.teams.is_empty() && who.agents.iter().any(|a| a == agent);
    // An admin, auditor or wallboard without a scope sees every call, also one that rang
    // an agent straight from a service (no queue).
    let unscoped = matches!(who.role, Role::Admin | Role::Auditor | Role::Wallboard)
        && who.queues.is_empty()
        && who.teams.is_empty();
    match audience {
        Audience::Agent { agent, queues } => who.sees_agent(agent, queues),
        Audience::Call { agent, queue } => {
            agent.as_deref().is_some_and(own)
                || unscoped
                || (supervises
                    && (queue.as_deref().is_some_and(in_scope)
                        || agent.as_deref().is_some_and(team_agent)))
        }
        Audience::Queue(queue) => in_scope(queue),
    }
}

fn agent_body(a: &AgentChange) -> AgentStateBody {
    AgentStateBody {
        agent: a.agent.clone(),
        version: a.version,
        state: a.state.into(),
        reason: a.reason.clone(),
        since_ms: a.since_ms,
        queues: a.queues.clone(),
        call: a.call.clone(),
        next_state: a.next_state.clone(),
        command_id: None,
    }
}

fn queue_stats(q: &QueueChange) -> QueueStats {
    QueueStats {
        queue: q.queue.clone(),
        version: q.version,
        waiting: q.waiting,
        oldest_since_ms: q.oldest_since_ms,
        staffed: q.staffed,
        available: q.available,
        open: q.open,
        closed_by_hand: q.closed_by_hand,
        priority: q.priority,
    }
}

impl View {
    pub fn new(initial: InitialState) -> View {
        let mut view = View::default();
        for a in initial.agents {
            view.agents.insert(a.agent.clone(), a);
        }
        for q in initial.queues {
            view.queues.insert(q.queue.clone(), q);
        }
        view
    }

    /// Replaces agents and queues with a fresh initial state (after the hub lagged).
    pub fn refresh(&mut self, initial: InitialState) {
        let calls = std::mem::take(&mut self.calls);
        let recent = std::mem::take(&mut self.recent);
        *self = View::new(initial);
        self.calls = calls;
        self.recent = recent;
    }

    pub fn agent(&self, agent: &str) -> Option<&AgentChange> {
        self.agents.get(agent)
    }

    /// The call ringing at `agent`, for `answer`.
    pub fn ringing_at(&self, agent: &str) -> Option<String> {
        self.calls
            .iter()
            .find(|(_, c)| c.agent.as_deref() == Some(agent) && c.state == CallState::Ringing)
            .map(|(p, _)| p.clone())
    }

    /// Whether `protocol` is a live call of `agent`.
    pub fn has_live_call(&self, agent: &str, protocol: &str) -> bool {
        self.calls
            .get(protocol)
            .is_some_and(|c| c.agent.as_deref() == Some(agent))
    }

    /// Whether `agent` has (or recently had) `protocol`, for registering a disposition.
    pub fn handled(&self, agent: &str, protocol: &str) -> bool {
        self.has_live_call(agent, protocol)
            || self
                .recent
                .get(agent)
                .is_some_and(|r| r.iter().any(|p| p == protocol))
    }

    /// When a change offers a call to an agent whose screen-pop data the view does not
    /// hold yet: the call, its queue and how long it waited.
    pub fn needs_screen_pop(&self, change: &Change) -> Option<PopRequest> {
        let Change::Call(ev) = change else {
            return None;
        };
        let protocol = ev.protocol.to_string();
        let call = self.calls.get(&protocol);
        if call.is_some_and(|c| c.pop.is_some()) {
            return None;
        }
        let (queue, waited_ms) = match &ev.kind {
            EventKind::Acd {
                event:
                    AcdEvent::Offered {
                        queue, waited_ms, ..
                    },
            } => (Some(queue.to_string()), *waited_ms),
            EventKind::Ringing { agent, .. }
                if call.is_some_and(|c| c.offered_to.as_deref() != Some(agent)) =>
            {
                let c = call?;
                (c.queue.clone(), c.waited_ms.unwrap_or(0))
            }
            EventKind::TransferStarted { .. } => {
                let c = call?;
                (c.queue.clone(), c.waited_ms.unwrap_or(0))
            }
            _ => return None,
        };
        Some(PopRequest {
            protocol,
            queue,
            waited_ms,
        })
    }

    /// Applies one change; returns the events it makes. `pop` is the screen-pop data when
    /// the change is an offer.
    pub fn apply(&mut self, change: &Change, pop: Option<ScreenPop>) -> Vec<Addressed> {
        match change {
            Change::Agent(a) => self.apply_agent(a),
            Change::Queue(q) => {
                if self
                    .queues
                    .get(&q.queue)
                    .is_some_and(|old| old.version >= q.version)
                {
                    return vec![];
                }
                self.queues.insert(q.queue.clone(), q.clone());
                vec![Addressed {
                    audience: Audience::Queue(q.queue.clone()),
                    message: ServerMessage::QueueStats(queue_stats(q)),
                }]
            }
            Change::Call(ev) => self.apply_call(
                ev.protocol.to_string(),
                u64::from(ev.seq),
                ev.at_ms,
                &ev.kind,
                pop,
            ),
        }
    }

    fn apply_agent(&mut self, a: &AgentChange) -> Vec<Addressed> {
        let old = self.agents.get(&a.agent);
        if old.is_some_and(|old| old.version >= a.version) {
            return vec![];
        }
        let entered_wrap_up =
            a.state == AgentState::WrapUp && old.is_none_or(|o| o.state != AgentState::WrapUp);
        // The audience includes the queues the agent just left, so supervisors see a logout.
        let mut queues = a.queues.clone();
        if let Some(old) = old {
            for q in &old.queues {
                if !queues.contains(q) {
                    queues.push(q.clone());
                }
            }
        }
        let audience = Audience::Agent {
            agent: a.agent.clone(),
            queues,
        };
        let mut out = vec![Addressed {
            audience: audience.clone(),
            message: ServerMessage::AgentState(agent_body(a)),
        }];
        if let (true, Some(call)) = (entered_wrap_up, &a.call) {
            out.push(Addressed {
                audience,
                message: ServerMessage::WrapUp(WrapUp {
                    agent: a.agent.clone(),
                    protocol: call.clone(),
                    until_ms: None,
                }),
            });
        }
        self.agents.insert(a.agent.clone(), a.clone());
        out
    }

    fn apply_call(
        &mut self,
        protocol: String,
        version: u64,
        at_ms: i64,
        kind: &EventKind,
        pop: Option<ScreenPop>,
    ) -> Vec<Addressed> {
        if let EventKind::Offered {
            a_number,
            b_number,
            restricted,
            ..
        } = kind
        {
            self.calls.insert(
                protocol,
                LiveCall {
                    version,
                    caller: if *restricted {
                        RESTRICTED.to_owned()
                    } else {
                        a_number.clone()
                    },
                    did: b_number.clone(),
                    queue: None,
                    agent: None,
                    state: CallState::Waiting,
                    since_ms: at_ms,
                    offered_to: None,
                    answered: false,
                    pop: None,
                    waited_ms: None,
                    transfer: None,
                    monitors: Monitors::default(),
                },
            );
            return vec![];
        }
        if matches!(kind, EventKind::Registered { .. }) {
            // A disposition is numbered in its own range, far above the call's events
            // (`store::registration`): taken as the call's version it would make the rest
            // of the call (its hang-up) look stale. The `registered` reply tells the desktop.
            return vec![];
        }
        let Some(call) = self.calls.get_mut(&protocol) else {
            // A call that started before the hub did: nothing to tell about it.
            return vec![];
        };
        if call.version > version {
            return vec![];
        }
        call.version = version;
        let update = |call: &LiveCall, by: Option<String>, to: Option<String>| CallUpdate {
            protocol: protocol.clone(),
            version,
            agent: call.agent.clone(),
            by,
            to,
            command_id: None,
        };
        let audience = |call: &LiveCall| Audience::Call {
            agent: call.agent.clone(),
            queue: call.queue.clone(),
        };
        let mut out = Vec::new();
        match kind {
            EventKind::Acd { event } => match event {
                AcdEvent::QueueEntered { queue, .. } => call.queue = Some(queue.to_string()),
                AcdEvent::Overflowed { to, .. } => call.queue = Some(to.to_string()),
                AcdEvent::Offered {
                    agent,
                    queue,
                    waited_ms,
                    ..
                } => {
                    call.queue = Some(queue.to_string());
                    call.agent = Some(agent.to_string());
                    call.state = CallState::Ringing;
                    call.offered_to = Some(agent.to_string());
                    call.waited_ms.get_or_insert(*waited_ms);
                    out.push(offer(
                        call,
                        &protocol,
                        version,
                        agent.as_str(),
                        *waited_ms,
                        pop,
                    ));
                }
                AcdEvent::OfferCancelled { agent, reason, .. } => {
                    let reason = match reason {
                        CancelReason::CallerHungUp => MissReason::CallerAbandoned,
                        _ => MissReason::Cancelled,
                    };
                    out.extend(missed(call, &protocol, version, agent.as_str(), reason));
                }
                AcdEvent::OfferRejected { agent, .. } => {
                    out.extend(missed(
                        call,
                        &protocol,
                        version,
                        agent.as_str(),
                        MissReason::Rejected,
                    ));
                }
                AcdEvent::RingNoAnswer { agent, .. } => {
                    out.extend(missed(
                        call,
                        &protocol,
                        version,
                        agent.as_str(),
                        MissReason::NoAnswer,
                    ));
                }
                AcdEvent::Answered { agent, queue, .. } => {
                    call.queue = Some(queue.to_string());
                    out.extend(answered(call, agent.as_str(), update(call, None, None)));
                }
                AcdEvent::Routed { destination, .. } => {
                    let to = serde_json::to_value(destination)
                        .ok()
                        .map(|v| v.to_string());
                    out.push(Addressed {
                        audience: audience(call),
                        message: ServerMessage::CallTransferred(update(
                            call,
                            Some("system".into()),
                            to,
                        )),
                    });
                }
                _ => {}
            },
            EventKind::Ringing { agent, .. } if call.offered_to.as_deref() != Some(agent) => {
                // A call straight to an agent (not through a queue): offer it all the same.
                call.agent = Some(agent.clone());
                call.state = CallState::Ringing;
                call.offered_to = Some(agent.clone());
                let waited = call
                    .waited_ms
                    .unwrap_or_else(|| u64::try_from(at_ms - call.since_ms).unwrap_or(0));
                out.push(offer(call, &protocol, version, agent, waited, pop));
            }
            EventKind::TransferStarted { from, to } => {
                // The consultation's callee sees the caller's pop while they talk to `from`.
                call.transfer = Some(TransferOrigin {
                    from: from.clone(),
                    mode: TransferMode::Attended,
                });
                if let Some(target) = to.strip_prefix("agent:") {
                    call.offered_to = Some(target.to_owned());
                    let waited = call.waited_ms.unwrap_or(0);
                    out.push(offer(call, &protocol, version, target, waited, pop));
                }
            }
            EventKind::TransferFailed { to, .. } => {
                if let Some(target) = to.strip_prefix("agent:") {
                    out.extend(missed(
                        call,
                        &protocol,
                        version,
                        target,
                        MissReason::Cancelled,
                    ));
                }
                call.transfer = None;
            }
            EventKind::Transferred { from, to, blind } => {
                // The agent who let the call go is told where it went; the next agent's
                // offer or answer carries the origin.
                out.push(Addressed {
                    audience: Audience::Call {
                        agent: Some(from.clone()),
                        queue: call.queue.clone(),
                    },
                    message: ServerMessage::CallTransferred(CallUpdate {
                        protocol: protocol.clone(),
                        version,
                        agent: Some(from.clone()),
                        by: Some("agent".into()),
                        to: Some(to.clone()),
                        command_id: None,
                    }),
                });
                if *blind {
                    call.transfer = Some(TransferOrigin {
                        from: from.clone(),
                        mode: TransferMode::Blind,
                    });
                    if call.agent.as_deref() == Some(from.as_str()) {
                        call.agent = None;
                        call.state = CallState::Waiting;
                    }
                }
            }
            EventKind::AgentAnswered { agent } | EventKind::Bridged { agent } => {
                out.extend(answered(call, agent, update(call, None, None)));
            }
            EventKind::MonitorStarted {
                supervisor,
                mode,
                shown,
                ..
            }
            | EventKind::MonitorModeChanged {
                supervisor,
                mode,
                shown,
                ..
            } => {
                let before = call.monitors.shown();
                call.monitors.set(supervisor, *mode, *shown);
                out.extend(monitoring(call, &protocol, version, before));
            }
            EventKind::MonitorEnded { supervisor, .. } => {
                let before = call.monitors.shown();
                call.monitors.remove(supervisor);
                out.extend(monitoring(call, &protocol, version, before));
            }
            EventKind::Held { by } => {
                call.state = CallState::Held;
                out.push(Addressed {
                    audience: audience(call),
                    message: ServerMessage::CallHeld(update(
                        call,
                        Some(party_name(*by).into()),
                        None,
                    )),
                });
            }
            EventKind::Resumed { by } => {
                call.state = CallState::Talking;
                out.push(Addressed {
                    audience: audience(call),
                    message: ServerMessage::CallResumed(update(
                        call,
                        Some(party_name(*by).into()),
                        None,
                    )),
                });
            }
            EventKind::HungUp { by, cause, .. } => {
                let ended = CallEnded {
                    protocol: protocol.clone(),
                    version,
                    agent: call.agent.clone(),
                    by: party_name(*by).into(),
                    cause: cause.clone(),
                    command_id: None,
                };
                out.push(Addressed {
                    audience: audience(call),
                    message: ServerMessage::CallEnded(ended),
                });
                if let Some(agent) = call.agent.clone() {
                    let recent = self.recent.entry(agent).or_default();
                    recent.push_back(protocol.clone());
                    if recent.len() > RECENT_PER_AGENT {
                        recent.pop_front();
                    }
                }
                self.calls.remove(&protocol);
            }
            _ => {}
        }
        out
    }

    /// The snapshot `who` may see (its `as_of_seq` is filled by the connection).
    pub fn snapshot(&self, who: &Principal) -> Snapshot {
        let agent = who
            .agent
            .as_deref()
            .and_then(|a| self.agents.get(a))
            .map(agent_body);
        let agents = self
            .agents
            .values()
            .filter(|a| {
                visible(
                    who,
                    &Audience::Agent {
                        agent: a.agent.clone(),
                        queues: a.queues.clone(),
                    },
                )
            })
            .map(agent_body)
            .collect();
        let mut calls: Vec<Call> = self
            .calls
            .iter()
            .filter(|(_, c)| {
                visible(
                    who,
                    &Audience::Call {
                        agent: c.agent.clone(),
                        queue: c.queue.clone(),
                    },
                )
            })
            .map(|(p, c)| Call {
                protocol: p.clone(),
                version: c.version,
                state: c.state,
                agent: c.agent.clone(),
                queue: c.queue.clone(),
                caller: c.caller.clone(),
                did: c.did.clone(),
                since_ms: c.since_ms,
                monitoring: monitors::seen_by(c, who).map(|m| m.as_str().to_owned()),
            })
            .collect();
        calls.sort_by(|a, b| a.protocol.cmp(&b.protocol));
        let queues = self
            .queues
            .values()
            .filter(|q| visible(who, &Audience::Queue(q.queue.clone())))
            .map(queue_stats)
            .collect();
        Snapshot {
            as_of_seq: 0,
            agent,
            agents,
            calls,
            queues,
            figures: None,
        }
    }
}

fn missed(
    call: &mut LiveCall,
    protocol: &str,
    version: u64,
    agent: &str,
    reason: MissReason,
) -> Option<Addressed> {
    if call.offered_to.as_deref() != Some(agent) {
        return None;
    }
    call.offered_to = None;
    if call.agent.as_deref() == Some(agent) && !call.answered {
        call.agent = None;
        call.state = CallState::Waiting;
    }
    Some(Addressed {
        audience: Audience::Call {
            agent: Some(agent.to_owned()),
            queue: call.queue.clone(),
        },
        message: ServerMessage::CallMissed(CallMissed {
            protocol: protocol.to_owned(),
            version,
            agent: agent.to_owned(),
            reason,
            command_id: None,
        }),
    })
}

/// The `call_offered` of `call` to `agent`, with the screen-pop data: `pop` when the
/// backend just gave it (kept for later offers), else what the call already holds.
fn offer(
    call: &mut LiveCall,
    protocol: &str,
    version: u64,
    agent: &str,
    waited_ms: u64,
    pop: Option<ScreenPop>,
) -> Addressed {
    if pop.is_some() {
        call.pop = pop;
    }
    let pop = call.pop.clone().unwrap_or_default();
    Addressed {
        audience: Audience::Call {
            agent: Some(agent.to_owned()),
            queue: call.queue.clone(),
        },
        message: ServerMessage::CallOffered {
            call: OfferedCall {
                protocol: protocol.to_owned(),
                version,
                caller: call.caller.clone(),
                did: call.did.clone(),
                queue: call.queue.clone(),
                waited_ms,
                ivr: pop.ivr,
                history: pop.history,
                url: pop.url,
                transfer: call.transfer.clone(),
            },
            command_id: None,
        },
    }
}

/// A party's name as calls are stored (`crate::store::event::party_name`).
fn party_name(p: Party) -> &'static str {
    match p {
        Party::Caller => "caller",
        Party::Agent => "agent",
        Party::System => "system",
    }
}

/// The first of the answer signals (ACD answered, agent answered, bridged) makes the one
/// `call_answered`.
fn answered(call: &mut LiveCall, agent: &str, mut update: CallUpdate) -> Option<Addressed> {
    // Once per agent: a transfer's callee gets their own.
    if call.agent.as_deref() == Some(agent)
        && matches!(call.state, CallState::Talking | CallState::Held)
    {
        return None;
    }
    call.agent = Some(agent.to_owned());
    call.answered = true;
    call.state = CallState::Talking;
    update.agent = Some(agent.to_owned());
    Some(Addressed {
        audience: Audience::Call {
            agent: Some(agent.to_owned()),
            queue: call.queue.clone(),
        },
        message: ServerMessage::CallAnswered(update),
    })
}

#[cfg(test)]
#[path = "view_tests.rs"]
mod tests;
