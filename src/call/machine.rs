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
//!
//! Here: the states, the dispatch of inputs and the timers. What goes in and out is
//! `messages`; offers and ringing legs, `ringing`; hold, transfers and the survey hand-off,
//! `bridged`. Like this file, they import nothing from the shells.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::events::{EventKind, Party};

mod bridged;
mod messages;
mod ringing;

pub use messages::{Action, Input};

/// An outbound leg towards one agent contact, numbered by the actor.
pub type LegId = u32;

/// How long to wait before ringing again when nobody could be rung.
pub const RING_RETRY: Duration = Duration::from_secs(5);

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
            } => self.offer(now, agent, ring_timeout),
            Input::CancelOffer { agent } => self.cancel_offer(agent),
            Input::TransferAway { to } => self.transfer_away(to),
            Input::TransferTo { leg, agent, to } => self.transfer_to(leg, agent, to),
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
            Input::RingStarted { legs } => self.ring_started(now, legs),
            Input::AgentAnswered { leg } => self.agent_answered(leg),
            Input::AgentFailed {
                leg,
                sip_status,
                reason,
            } => self.agent_failed(now, leg, sip_status, reason),
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
