//! The per-call state machine of the demo service, pure (sans-IO).
//!
//! Inputs (what happened, with the time) go in through `handle`; the actions to carry out
//! come out of `poll_action`, then `next_timeout` tells when to call `handle_timeout`.
//! It never reads the clock, touches a socket or the database: the call's actor does.
//!
//! ```text
//!   Answered ──welcome prompt──▶ Welcome ──prompt finished──▶ Ringing ──agent answers──▶ Bridged
//!                                   │                          │  ▲ no contact / all failed:   │
//!                                   │                          │  └─ retry every 5 s           │
//!                                   ▼                          ▼  ring timeout → hang up       ▼
//!                                 Ended ◀──────── caller or agent hangs up, RTP timeout ──── Ended
//! ```
//! A *routed* call (`CallMachine::routed`, IVR services) has no welcome and no ring list:
//! after answer it waits in `Routing` while the shell's IVR and ACD drivers own the
//! caller's media, and rings every agent it is offered (`Offer`; a ring-all queue offers
//! several at once). Each offer ends on its own: the first agent to answer wins and every
//! other leg is cancelled; an agent whose legs all failed is reported (`OfferFailed`) and
//! the others keep ringing; `CancelOffer` withdraws one agent's legs only.
//!
//! ```text
//!   Answered ─▶ Routing ──Offer(agent)──▶ Ringing ──agent answers──▶ Bridged (OfferAnswered)
//!                  ▲           Offer(another) ─┘ │ the last offer failed or was cancelled,
//!                  └──────── OfferFailed ◀───────┘ ring timeout
//! ```
//! A call with a satisfaction survey (`set_survey`) does not end when the agent hangs up
//! (or sends the caller to the survey, `ToSurvey`): it goes to `Survey`, logging
//! `SurveyStarted` (talk ends there), and the shell's survey has the caller until it
//! releases the call or the caller hangs up (`EndSurvey` first, so the survey's last
//! entry comes before the hang-up).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::events::{EventKind, Party};

/// An outbound leg towards one agent contact, numbered by the actor.
pub type LegId = u32;

/// How long to wait before ringing again when nobody could be rung.
pub const RING_RETRY: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// The caller's leg is answered and its media runs.
    Answered,
    PromptFinished,
    /// The actor started ringing these legs (zero when no agent phone is registered).
    RingStarted {
        legs: Vec<(LegId, String, String)>,
    },
    AgentAnswered {
        leg: LegId,
    },
    AgentFailed {
        leg: LegId,
        sip_status: u16,
        reason: String,
    },
    CallerHungUp,
    /// The caller hung up giving a cause (a gateway's Q.850 `Reason`).
    CallerCleared {
        cause: String,
    },
    AgentHungUp {
        leg: LegId,
    },
    Hold {
        by: Party,
        on: bool,
    },
    Dtmf {
        digit: char,
        via: &'static str,
    },
    RtpTimeout {
        party: Party,
    },
    /// Routed calls: ring this agent's phones (`ring_timeout`: give up after it; `None`
    /// when the ACD keeps the time itself).
    Offer {
        agent: String,
        ring_timeout: Option<Duration>,
    },
    /// Routed calls: stop ringing this agent (the ACD withdrew the offer).
    CancelOffer {
        agent: String,
    },
    /// The shell ends the call (IVR served it, a queue hung it up).
    Release {
        cause: String,
    },
    /// A blind transfer while bridged: the agent's leg is hung up and the call goes back
    /// to `Routing` (the shell then queues it or rings the target); `to` is logged.
    TransferAway {
        to: String,
    },
    /// An attended transfer completes: the consulted agent's answered leg takes the
    /// bridged agent's place (whose leg is hung up); `to` is logged, not blind.
    TransferTo {
        leg: LegId,
        agent: String,
        to: String,
    },
    /// While bridged: the agent sends the caller to the call's survey (their leg is hung
    /// up). Ignored without a survey (`set_survey`).
    ToSurvey,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Append to the call's event log.
    Log(EventKind),
    PlayWelcome,
    PlayHoldMusic,
    /// Ring every registered phone of the service's agents not already ringing.
    RingAgents,
    CancelLeg(LegId),
    Bridge(LegId),
    Unbridge,
    /// Stop/resume sending media to a party that holds (sendonly/inactive).
    Sending {
        to: Party,
        enabled: bool,
    },
    HangUpAgent(LegId),
    HangUpCaller,
    /// Finalize the recording and release media.
    FinishMedia,
    /// Routed calls: ring every registered phone of this agent.
    RingAgent(String),
    /// Routed calls: the offered agent answered (the call is bridged).
    OfferAnswered {
        agent: String,
    },
    /// Routed calls: the offer failed; `rejected` when the phone declined (4xx/6xx other
    /// than a timeout), otherwise not answered. The call is back in `Routing`.
    OfferFailed {
        agent: String,
        rejected: bool,
    },
    /// The caller is put to survey `survey` about `agent` (already logged).
    StartSurvey {
        survey: String,
        agent: String,
    },
    /// The call ends while the survey has the caller: it records where it stopped.
    EndSurvey,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    RingTimeout,
    RingRetry,
}

#[derive(Debug, Clone, PartialEq)]
enum State {
    Answering,
    Welcome,
    /// Routed: the IVR or a queue has the caller.
    Routing,
    Ringing,
    Bridged {
        leg: LegId,
        agent: String,
    },
    /// The agent's part is over; the survey has the caller.
    Survey,
    Ended,
}

/// Routed calls: one agent being offered the call.
#[derive(Debug)]
struct Offer {
    agent: String,
    /// A leg declined (4xx/6xx other than a timeout): reported as a rejection.
    rejected: bool,
    /// `RingAgent` went out and its `RingStarted` has not come back yet.
    starting: bool,
}

#[derive(Debug)]
pub struct CallMachine {
    state: State,
    ring_timeout: Duration,
    ringing: Vec<(LegId, String)>,
    timers: Vec<(Timer, Instant)>,
    actions: VecDeque<Action>,
    routed: bool,
    /// Routed calls: the agents being offered the call, in offer order.
    offers: Vec<Offer>,
    /// The survey the caller is put to when the agent's part ends.
    survey: Option<String>,
}

impl CallMachine {
    pub fn new(ring_timeout: Duration) -> Self {
        CallMachine {
            state: State::Answering,
            ring_timeout,
            ringing: Vec::new(),
            timers: Vec::new(),
            actions: VecDeque::new(),
            routed: false,
            offers: Vec::new(),
            survey: None,
        }
    }

    /// A call whose way is decided by the IVR and ACD drivers.
    pub fn routed() -> Self {
        let mut m = CallMachine::new(Duration::ZERO);
        m.routed = true;
        m
    }

    /// Whether the IVR or a queue has the caller (no agent ringing or talking).
    pub fn is_routing(&self) -> bool {
        self.state == State::Routing
    }

    /// The agent the caller talks to, while bridged.
    pub fn bridged_agent(&self) -> Option<&str> {
        match &self.state {
            State::Bridged { agent, .. } => Some(agent),
            _ => None,
        }
    }

    /// The agent leg the caller talks to, while bridged.
    pub fn bridged_leg(&self) -> Option<LegId> {
        match &self.state {
            State::Bridged { leg, .. } => Some(*leg),
            _ => None,
        }
    }

    /// The survey the caller goes to when the agent's part ends (`None`: the call ends).
    pub fn set_survey(&mut self, survey: Option<String>) {
        self.survey = survey;
    }

    pub fn survey(&self) -> Option<&str> {
        self.survey.as_deref()
    }

    /// Whether the survey has the caller.
    pub fn in_survey(&self) -> bool {
        self.state == State::Survey
    }

    pub fn is_ended(&self) -> bool {
        self.state == State::Ended
    }

    /// Whether a leg towards this agent is still ringing (the shell rings them once).
    pub fn is_ringing(&self, agent: &str) -> bool {
        self.ringing.iter().any(|(_, a)| a == agent)
    }

    /// The legs still ringing towards this agent (their phones), for a remote answer.
    pub fn ringing_legs(&self, agent: &str) -> Vec<LegId> {
        self.ringing
            .iter()
            .filter(|(_, a)| a == agent)
            .map(|(l, _)| *l)
            .collect()
    }

    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    pub fn next_timeout(&self) -> Option<Instant> {
        self.timers.iter().map(|(_, at)| *at).min()
    }

    fn emit(&mut self, a: Action) {
        self.actions.push_back(a);
    }

    fn set_timer(&mut self, t: Timer, at: Instant) {
        self.timers.retain(|(k, _)| *k != t);
        self.timers.push((t, at));
    }

    fn clear_timer(&mut self, t: Timer) {
        self.timers.retain(|(k, _)| *k != t);
    }

    pub fn handle(&mut self, now: Instant, input: Input) {
        if self.state == State::Ended {
            // Late news about a finished call (a leg answering after the caller left).
            if let Input::AgentAnswered { leg } = input {
                self.emit(Action::HangUpAgent(leg));
            }
            return;
        }
        match input {
            Input::Answered if self.routed => {
                self.emit(Action::Log(EventKind::Answered));
                self.state = State::Routing;
            }
            Input::Answered => {
                self.emit(Action::Log(EventKind::Answered));
                self.emit(Action::PlayWelcome);
                self.state = State::Welcome;
            }
            Input::Offer {
                agent,
                ring_timeout,
            } => {
                let taking =
                    self.state == State::Routing || (self.state == State::Ringing && self.routed);
                if !taking || self.offers.iter().any(|o| o.agent == agent) {
                    return;
                }
                self.state = State::Ringing;
                self.offers.push(Offer {
                    agent: agent.clone(),
                    rejected: false,
                    starting: true,
                });
                if let Some(t) = ring_timeout {
                    self.set_timer(Timer::RingTimeout, now + t);
                }
                self.emit(Action::RingAgent(agent));
            }
            Input::CancelOffer { agent } => {
                if self.state == State::Ringing && self.routed {
                    self.offers.retain(|o| o.agent != agent);
                    let (cancel, keep) = std::mem::take(&mut self.ringing)
                        .into_iter()
                        .partition(|(_, a)| *a == agent);
                    self.ringing = keep;
                    for (leg, _) in cancel {
                        self.emit(Action::CancelLeg(leg));
                    }
                    if self.offers.is_empty() {
                        self.clear_timer(Timer::RingTimeout);
                        self.state = State::Routing;
                    }
                }
            }
            Input::TransferAway { to } => {
                let State::Bridged { leg, agent } = &self.state else {
                    return;
                };
                let (leg, from) = (*leg, agent.clone());
                self.emit(Action::Unbridge);
                // Whoever takes the caller next must be sent to, held or not before.
                self.emit(Action::Sending {
                    to: Party::Agent,
                    enabled: true,
                });
                self.emit(Action::HangUpAgent(leg));
                self.emit(Action::Log(EventKind::Transferred {
                    from,
                    to,
                    blind: true,
                }));
                self.offers.clear();
                self.routed = true;
                self.state = State::Routing;
            }
            Input::TransferTo { leg, agent, to } => {
                let State::Bridged {
                    leg: old,
                    agent: from,
                } = &self.state
                else {
                    return;
                };
                let (old, from) = (*old, from.clone());
                self.emit(Action::HangUpAgent(old));
                self.emit(Action::Log(EventKind::Transferred {
                    from,
                    to,
                    blind: false,
                }));
                self.emit(Action::Sending {
                    to: Party::Agent,
                    enabled: true,
                });
                self.emit(Action::Bridge(leg));
                self.emit(Action::Log(EventKind::Bridged {
                    agent: agent.clone(),
                }));
                self.state = State::Bridged { leg, agent };
            }
            Input::Release { cause } => {
                self.emit(Action::HangUpCaller);
                self.end(Party::System, &cause, None);
            }
            Input::PromptFinished if self.state == State::Welcome => {
                self.state = State::Ringing;
                self.emit(Action::PlayHoldMusic);
                self.emit(Action::RingAgents);
                self.set_timer(Timer::RingTimeout, now + self.ring_timeout);
            }
            Input::PromptFinished => {}
            Input::RingStarted { legs } => {
                for (leg, agent, contact) in legs {
                    self.emit(Action::Log(EventKind::Ringing {
                        agent: agent.clone(),
                        contact,
                    }));
                    self.ringing.push((leg, agent));
                }
                // The shell answers each `RingAgent` in order: this is the oldest one's.
                if let Some(o) = self.offers.iter_mut().find(|o| o.starting) {
                    o.starting = false;
                    let agent = o.agent.clone();
                    self.offer_done_if_silent(&agent);
                }
                self.retry_if_idle(now);
            }
            Input::AgentAnswered { leg } => self.agent_answered(leg),
            Input::AgentFailed {
                leg,
                sip_status,
                reason,
            } => {
                if let Some(i) = self.ringing.iter().position(|(l, _)| *l == leg) {
                    let (_, agent) = self.ringing.remove(i);
                    self.emit(Action::Log(EventKind::AgentFailed {
                        agent: agent.clone(),
                        sip_status,
                        reason,
                    }));
                    if let Some(o) = self.offers.iter_mut().find(|o| o.agent == agent)
                        && !matches!(sip_status, 408 | 480 | 487)
                    {
                        o.rejected = true;
                    }
                    self.offer_done_if_silent(&agent);
                }
                if self.state == State::Ringing {
                    self.retry_if_idle(now);
                }
            }
            Input::CallerHungUp => self.end(Party::Caller, "normal_clearing", None),
            Input::CallerCleared { cause } => self.end(Party::Caller, &cause, None),
            Input::AgentHungUp { leg } => match &self.state {
                State::Bridged { leg: l, .. } if *l == leg && self.survey.is_some() => {
                    self.put_to_survey(false);
                }
                State::Bridged { leg: l, .. } if *l == leg => {
                    self.emit(Action::HangUpCaller);
                    self.end(Party::Agent, "normal_clearing", None);
                }
                _ => {}
            },
            Input::ToSurvey => {
                if matches!(self.state, State::Bridged { .. }) && self.survey.is_some() {
                    self.put_to_survey(true);
                }
            }
            Input::Hold { by, on } => self.hold(by, on),
            Input::Dtmf { digit, via } => self.emit(Action::Log(EventKind::Dtmf {
                digit,
                via: via.to_owned(),
            })),
            Input::RtpTimeout { party } => {
                if let State::Bridged { leg, .. } = self.state {
                    self.emit(Action::HangUpAgent(leg));
                }
                self.emit(Action::HangUpCaller);
                self.end(party, "rtp_timeout", None);
            }
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<Timer> = self
            .timers
            .iter()
            .filter(|(_, at)| *at <= now)
            .map(|(t, _)| *t)
            .collect();
        for t in due {
            self.clear_timer(t);
            match t {
                Timer::RingRetry if self.state == State::Ringing => self.emit(Action::RingAgents),
                Timer::RingTimeout if self.state == State::Ringing && self.routed => {
                    for (leg, _) in std::mem::take(&mut self.ringing) {
                        self.emit(Action::CancelLeg(leg));
                    }
                    for o in std::mem::take(&mut self.offers) {
                        self.emit(Action::OfferFailed {
                            agent: o.agent,
                            rejected: o.rejected,
                        });
                    }
                    self.state = State::Routing;
                }
                Timer::RingTimeout if self.state == State::Ringing => {
                    self.emit(Action::HangUpCaller);
                    self.end(Party::System, "no_answer", Some(480));
                }
                _ => {}
            }
        }
    }

    /// Routed calls: an offer whose legs all ended (or that got none) failed; the call
    /// goes back to `Routing` once no offer is left.
    fn offer_done_if_silent(&mut self, agent: &str) {
        if !self.routed || self.state != State::Ringing || self.is_ringing(agent) {
            return;
        }
        let Some(i) = self
            .offers
            .iter()
            .position(|o| o.agent == agent && !o.starting)
        else {
            return;
        };
        let o = self.offers.remove(i);
        self.emit(Action::OfferFailed {
            agent: o.agent,
            rejected: o.rejected,
        });
        if self.offers.is_empty() {
            self.clear_timer(Timer::RingTimeout);
            self.state = State::Routing;
        }
    }

    fn retry_if_idle(&mut self, now: Instant) {
        if self.routed {
            return;
        }
        if self.state == State::Ringing && self.ringing.is_empty() {
            self.set_timer(Timer::RingRetry, now + RING_RETRY);
        }
    }

    fn agent_answered(&mut self, leg: LegId) {
        if self.state != State::Ringing {
            self.emit(Action::HangUpAgent(leg));
            return;
        }
        let Some(i) = self.ringing.iter().position(|(l, _)| *l == leg) else {
            self.emit(Action::HangUpAgent(leg));
            return;
        };
        let (_, agent) = self.ringing.remove(i);
        for (other, _) in std::mem::take(&mut self.ringing) {
            self.emit(Action::CancelLeg(other));
        }
        self.clear_timer(Timer::RingTimeout);
        self.clear_timer(Timer::RingRetry);
        self.emit(Action::Log(EventKind::AgentAnswered {
            agent: agent.clone(),
        }));
        self.emit(Action::Bridge(leg));
        self.emit(Action::Log(EventKind::Bridged {
            agent: agent.clone(),
        }));
        // The other offers end with the ACD's own cancels (it learns the winner).
        if self.offers.iter().any(|o| o.agent == agent) {
            self.offers.clear();
            self.emit(Action::OfferAnswered {
                agent: agent.clone(),
            });
        }
        self.state = State::Bridged { leg, agent };
    }

    fn hold(&mut self, by: Party, on: bool) {
        self.emit(Action::Log(if on {
            EventKind::Held { by }
        } else {
            EventKind::Resumed { by }
        }));
        match by {
            Party::Agent if matches!(self.state, State::Bridged { .. }) => {
                if on {
                    self.emit(Action::Unbridge);
                    self.emit(Action::Sending {
                        to: Party::Agent,
                        enabled: false,
                    });
                    self.emit(Action::PlayHoldMusic);
                } else if let State::Bridged { leg, .. } = self.state {
                    self.emit(Action::Sending {
                        to: Party::Agent,
                        enabled: true,
                    });
                    self.emit(Action::Bridge(leg));
                }
            }
            Party::Caller => self.emit(Action::Sending {
                to: Party::Caller,
                enabled: !on,
            }),
            _ => {}
        }
    }

    /// From `Bridged`: the agent's part ends, the survey takes the caller.
    fn put_to_survey(&mut self, hang_up_agent: bool) {
        let (State::Bridged { leg, agent }, Some(survey)) = (&self.state, &self.survey) else {
            return;
        };
        let (leg, agent, survey) = (*leg, agent.clone(), survey.clone());
        self.emit(Action::Unbridge);
        if hang_up_agent {
            self.emit(Action::HangUpAgent(leg));
        }
        self.emit(Action::Log(EventKind::SurveyStarted {
            survey: survey.clone(),
            agent: Some(agent.clone()),
        }));
        self.emit(Action::StartSurvey { survey, agent });
        self.state = State::Survey;
    }

    fn end(&mut self, by: Party, cause: &str, sip_status: Option<u16>) {
        if self.state == State::Survey {
            self.emit(Action::EndSurvey);
        }
        for (leg, _) in std::mem::take(&mut self.ringing) {
            self.emit(Action::CancelLeg(leg));
        }
        if let (true, State::Bridged { leg, .. }) = (by != Party::Agent, &self.state) {
            let leg = *leg;
            self.emit(Action::HangUpAgent(leg));
        }
        self.timers.clear();
        self.emit(Action::FinishMedia);
        self.emit(Action::Log(EventKind::HungUp {
            by,
            cause: cause.to_owned(),
            sip_status,
        }));
        self.state = State::Ended;
    }
}

#[cfg(test)]
#[path = "machine_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "machine_survey_tests.rs"]
mod survey_tests;
