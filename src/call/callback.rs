//! One callback attempt, pure (sans-IO): ring the agent the ACD reserved, tell them a
//! callback is starting, dial the citizen through the outbound trunk, bridge, and report
//! every turn to the ACD.
//!
//! ```text
//!   RingingAgent ──agent answers──▶ Briefing ──cue ends──▶ DialingCitizen ──answers──▶ Connected
//!     │ rejected / failed /            │ agent leaves          │ busy, no answer, fails:     │
//!     │ offer withdrawn                ▼                       ▼ "could not reach" cue       │
//!     └────────────────────────────▶ Ended ◀── cue ends ── Telling ◀──┘        either hangs up
//! ```
//! A stop (`Input::Shutdown`) ends any state with cause `server_shutdown` and reports
//! nothing to the ACD: the callback stays pending and the attempt is not counted.
//! The citizen is the recording's left channel (`Party::Caller`), as the caller of an
//! inbound call is. Inputs come with the time; the attempt never reads the clock.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::acd::CallbackOutcome;
use crate::events::{EventKind, Party};

#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    AgentAnswered,
    /// The agent's phones gave a final failure (or none could be rung).
    AgentFailed {
        sip_status: u16,
        reason: String,
    },
    /// The ACD took the offer back (its ring timeout, the agent paused or logged out).
    OfferWithdrawn,
    /// The cue playing to the agent ended.
    CueFinished,
    CitizenAnswered,
    CitizenFailed {
        sip_status: u16,
        reason: String,
    },
    AgentHungUp,
    CitizenHungUp,
    /// The server is stopping: every leg is ended with cause `server_shutdown` and the ACD
    /// hears nothing, so the callback stays pending (this attempt is not counted).
    Shutdown,
    /// The agent (from the desktop) puts the citizen on hold (hold music) or takes them
    /// off it; only while connected (the shell checks).
    Hold {
        on: bool,
    },
    /// An operator ends the call (the desktop's hang-up): every leg is ended.
    OperatorHangUp,
}

/// What the ACD hears about the attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    OfferAnswered,
    OfferRejected,
    OfferNotAnswered,
    Result(CallbackOutcome),
    /// The conversation ended.
    Hangup,
}

/// A cue for the agent's ear only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cue {
    /// "Retorno de ligação: aguarde enquanto chamamos o cidadão."
    Starting,
    /// "Não foi possível falar com o cidadão."
    Unreachable,
}

impl Cue {
    /// The prompt the agent hears for this cue.
    pub fn prompt(self) -> &'static str {
        match self {
            Cue::Starting => "pt-BR/agente/retorno-inicio",
            Cue::Unreachable => "pt-BR/agente/retorno-falhou",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    CancelAgent,
    HangUpAgent,
    PlayToAgent(Cue),
    DialCitizen,
    CancelCitizen,
    HangUpCitizen,
    Bridge,
    /// Stop relaying (the citizen is put on hold).
    Unbridge,
    /// Hold music to the citizen, looped, until `Bridge`.
    PlayHoldMusic,
    Report(Report),
    Log(EventKind),
    /// Close the media; the recording is finalized.
    FinishMedia,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    RingingAgent,
    Briefing,
    DialingCitizen { until: Instant },
    Connected,
    Telling { outcome: CallbackOutcome },
    Ended,
}

/// Rejections a person made (busy, decline), as opposed to a phone ringing out.
fn is_refusal(sip_status: u16) -> bool {
    matches!(sip_status, 486 | 600 | 603)
}

fn citizen_outcome(sip_status: u16) -> CallbackOutcome {
    match sip_status {
        486 | 600 | 603 => CallbackOutcome::Busy,
        408 | 480 | 487 => CallbackOutcome::NoAnswer,
        _ => CallbackOutcome::Failed,
    }
}

fn outcome_cause(o: CallbackOutcome) -> &'static str {
    match o {
        CallbackOutcome::Connected => "normal_clearing",
        CallbackOutcome::NoAnswer => "citizen_no_answer",
        CallbackOutcome::Busy => "citizen_busy",
        CallbackOutcome::Failed => "citizen_unreachable",
    }
}

#[derive(Debug)]
pub struct CallbackAttempt {
    state: State,
    agent: String,
    citizen_ring: Duration,
    actions: VecDeque<Action>,
}

impl CallbackAttempt {
    /// An attempt whose agent is being rung (the shell started ringing); the citizen's
    /// phone rings at most `citizen_ring` before the attempt counts as not answered.
    pub fn new(agent: impl Into<String>, citizen_ring: Duration) -> CallbackAttempt {
        CallbackAttempt {
            state: State::RingingAgent,
            agent: agent.into(),
            citizen_ring,
            actions: VecDeque::new(),
        }
    }

    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    pub fn is_ended(&self) -> bool {
        self.state == State::Ended
    }

    /// Whether the two parties talk (for the shell's hold handling and logs).
    pub fn is_connected(&self) -> bool {
        self.state == State::Connected
    }

    pub fn next_timeout(&self) -> Option<Instant> {
        match self.state {
            State::DialingCitizen { until } => Some(until),
            _ => None,
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if let State::DialingCitizen { until } = self.state
            && now >= until
        {
            self.push(Action::CancelCitizen);
            self.push(Action::Log(EventKind::CitizenFailed {
                sip_status: 408,
                reason: "ring timeout".into(),
            }));
            self.not_reached(CallbackOutcome::NoAnswer);
        }
    }

    pub fn handle(&mut self, now: Instant, input: Input) {
        use Input::*;
        match (self.state, input) {
            (State::RingingAgent, AgentAnswered) => {
                self.push(Action::Report(Report::OfferAnswered));
                self.push(Action::Log(EventKind::AgentAnswered {
                    agent: self.agent.clone(),
                }));
                self.push(Action::PlayToAgent(Cue::Starting));
                self.state = State::Briefing;
            }
            (State::RingingAgent, AgentFailed { sip_status, reason }) => {
                self.push(Action::Report(if is_refusal(sip_status) {
                    Report::OfferRejected
                } else {
                    Report::OfferNotAnswered
                }));
                self.push(Action::Log(EventKind::AgentFailed {
                    agent: self.agent.clone(),
                    sip_status,
                    reason,
                }));
                self.end(Party::Agent, "agent_unavailable", Some(sip_status));
            }
            (State::RingingAgent, OfferWithdrawn) => {
                self.push(Action::CancelAgent);
                self.end(Party::System, "agent_no_answer", None);
            }
            (State::Briefing, CueFinished) => {
                self.push(Action::DialCitizen);
                self.state = State::DialingCitizen {
                    until: now + self.citizen_ring,
                };
            }
            (State::Briefing | State::DialingCitizen { .. }, AgentHungUp) => {
                if matches!(self.state, State::DialingCitizen { .. }) {
                    self.push(Action::CancelCitizen);
                }
                self.push(Action::Report(Report::Result(CallbackOutcome::Failed)));
                self.end(Party::Agent, "agent_left", None);
            }
            (State::DialingCitizen { .. }, CitizenAnswered) => {
                self.push(Action::Bridge);
                self.push(Action::Report(Report::Result(CallbackOutcome::Connected)));
                self.push(Action::Log(EventKind::Answered));
                self.push(Action::Log(EventKind::Bridged {
                    agent: self.agent.clone(),
                }));
                self.state = State::Connected;
            }
            (State::DialingCitizen { .. }, CitizenFailed { sip_status, reason }) => {
                self.push(Action::Log(EventKind::CitizenFailed { sip_status, reason }));
                self.not_reached(citizen_outcome(sip_status));
            }
            (State::Telling { outcome }, CueFinished) => {
                self.push(Action::HangUpAgent);
                self.end(Party::System, outcome_cause(outcome), None);
            }
            (State::Telling { outcome }, AgentHungUp) => {
                self.end(Party::Agent, outcome_cause(outcome), None)
            }
            (State::Connected, AgentHungUp) => {
                self.push(Action::HangUpCitizen);
                self.push(Action::Report(Report::Hangup));
                self.end(Party::Agent, "normal_clearing", None);
            }
            (State::Connected, CitizenHungUp) => {
                self.push(Action::HangUpAgent);
                self.push(Action::Report(Report::Hangup));
                self.end(Party::Caller, "normal_clearing", None);
            }
            (State::Connected, Hold { on }) => {
                if on {
                    self.push(Action::Log(EventKind::Held { by: Party::Agent }));
                    self.push(Action::Unbridge);
                    self.push(Action::PlayHoldMusic);
                } else {
                    self.push(Action::Log(EventKind::Resumed { by: Party::Agent }));
                    self.push(Action::Bridge);
                }
            }
            (State::Connected, OperatorHangUp) => {
                self.push(Action::HangUpCitizen);
                self.push(Action::HangUpAgent);
                self.push(Action::Report(Report::Hangup));
                self.end(Party::System, "operator_hang_up", None);
            }
            (State::RingingAgent, OperatorHangUp) => {
                self.push(Action::CancelAgent);
                self.push(Action::Report(Report::OfferRejected));
                self.end(Party::System, "operator_hang_up", None);
            }
            (State::Briefing | State::DialingCitizen { .. }, OperatorHangUp) => {
                if matches!(self.state, State::DialingCitizen { .. }) {
                    self.push(Action::CancelCitizen);
                }
                self.push(Action::HangUpAgent);
                self.push(Action::Report(Report::Result(CallbackOutcome::Failed)));
                self.end(Party::System, "operator_hang_up", None);
            }
            (State::Telling { .. }, OperatorHangUp) => {
                self.push(Action::HangUpAgent);
                self.end(Party::System, "operator_hang_up", None);
            }
            (State::Ended, Shutdown) => {}
            (state, Shutdown) => {
                match state {
                    State::RingingAgent => self.push(Action::CancelAgent),
                    State::DialingCitizen { .. } => {
                        self.push(Action::CancelCitizen);
                        self.push(Action::HangUpAgent);
                    }
                    State::Connected => {
                        self.push(Action::HangUpCitizen);
                        self.push(Action::HangUpAgent);
                    }
                    _ => self.push(Action::HangUpAgent),
                }
                self.end(Party::System, "server_shutdown", None);
            }
            // Late news: the 487 of a leg we cancelled, a withdrawal after the answer.
            _ => {}
        }
    }

    /// The citizen was not reached: the ACD hears the outcome, the agent the cue.
    fn not_reached(&mut self, outcome: CallbackOutcome) {
        self.push(Action::Report(Report::Result(outcome)));
        self.push(Action::PlayToAgent(Cue::Unreachable));
        self.state = State::Telling { outcome };
    }

    fn end(&mut self, by: Party, cause: &str, sip_status: Option<u16>) {
        self.push(Action::Log(EventKind::HungUp {
            by,
            cause: cause.into(),
            sip_status,
        }));
        self.push(Action::FinishMedia);
        self.state = State::Ended;
    }

    fn push(&mut self, a: Action) {
        self.actions.push_back(a);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(m: &mut CallbackAttempt) -> Vec<Action> {
        std::iter::from_fn(|| m.poll_action()).collect()
    }

    fn reports(actions: &[Action]) -> Vec<Report> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Report(r) => Some(*r),
                _ => None,
            })
            .collect()
    }

    fn hangup_cause(actions: &[Action]) -> Option<(Party, String)> {
        actions.iter().find_map(|a| match a {
            Action::Log(EventKind::HungUp { by, cause, .. }) => Some((*by, cause.clone())),
            _ => None,
        })
    }

    fn reached_citizen(t0: Instant) -> CallbackAttempt {
        let mut m = CallbackAttempt::new("1001", Duration::from_secs(30));
        m.handle(t0, Input::AgentAnswered);
        m.handle(t0, Input::CueFinished);
        drain(&mut m);
        m
    }

    #[test]
    fn held_resumed_and_hung_up_by_an_operator() {
        let t0 = Instant::now();
        let mut m = reached_citizen(t0);
        m.handle(t0, Input::CitizenAnswered);
        drain(&mut m);
        m.handle(t0, Input::Hold { on: true });
        assert_eq!(
            drain(&mut m),
            vec![
                Action::Log(EventKind::Held { by: Party::Agent }),
                Action::Unbridge,
                Action::PlayHoldMusic
            ]
        );
        m.handle(t0, Input::Hold { on: false });
        assert_eq!(
            drain(&mut m),
            vec![
                Action::Log(EventKind::Resumed { by: Party::Agent }),
                Action::Bridge
            ]
        );
        m.handle(t0, Input::OperatorHangUp);
        let a = drain(&mut m);
        assert!(a.contains(&Action::HangUpCitizen) && a.contains(&Action::HangUpAgent));
        assert_eq!(reports(&a), vec![Report::Hangup]);
        assert_eq!(
            hangup_cause(&a),
            Some((Party::System, "operator_hang_up".into()))
        );
        assert!(m.is_ended());
    }

    #[test]
    fn agent_then_citizen_then_bridge_then_hangup() {
        let t0 = Instant::now();
        let mut m = CallbackAttempt::new("1001", Duration::from_secs(30));
        m.handle(t0, Input::AgentAnswered);
        let a = drain(&mut m);
        assert_eq!(reports(&a), vec![Report::OfferAnswered]);
        assert!(a.contains(&Action::PlayToAgent(Cue::Starting)));
        assert!(
            !a.contains(&Action::DialCitizen),
            "the agent hears the cue first"
        );
        m.handle(t0, Input::CueFinished);
        assert_eq!(drain(&mut m), vec![Action::DialCitizen]);
        assert_eq!(m.next_timeout(), Some(t0 + Duration::from_secs(30)));
        m.handle(t0, Input::CitizenAnswered);
        let a = drain(&mut m);
        assert_eq!(a[0], Action::Bridge);
        assert_eq!(
            reports(&a),
            vec![Report::Result(CallbackOutcome::Connected)]
        );
        assert!(m.is_connected());
        assert_eq!(m.next_timeout(), None);
        m.handle(t0, Input::CitizenHungUp);
        let a = drain(&mut m);
        assert!(a.contains(&Action::HangUpAgent));
        assert_eq!(reports(&a), vec![Report::Hangup]);
        assert_eq!(
            hangup_cause(&a),
            Some((Party::Caller, "normal_clearing".into()))
        );
        assert_eq!(a.last(), Some(&Action::FinishMedia));
        assert!(m.is_ended());
    }

    #[test]
    fn a_stop_ends_every_leg_and_tells_the_acd_nothing() {
        let t0 = Instant::now();
        let cases: [(CallbackAttempt, &[Action]); 3] = [
            (
                CallbackAttempt::new("1001", Duration::from_secs(30)),
                &[Action::CancelAgent],
            ),
            (
                reached_citizen(t0),
                &[Action::CancelCitizen, Action::HangUpAgent],
            ),
            (
                {
                    let mut m = reached_citizen(t0);
                    m.handle(t0, Input::CitizenAnswered);
                    drain(&mut m);
                    m
                },
                &[Action::HangUpCitizen, Action::HangUpAgent],
            ),
        ];
        for (mut m, legs) in cases {
            m.handle(t0, Input::Shutdown);
            let a = drain(&mut m);
            assert_eq!(&a[..legs.len()], legs, "{a:?}");
            assert_eq!(reports(&a), vec![], "the callback stays pending");
            assert_eq!(
                hangup_cause(&a),
                Some((Party::System, "server_shutdown".into()))
            );
            assert_eq!(a.last(), Some(&Action::FinishMedia));
            assert!(m.is_ended());
            m.handle(t0, Input::Shutdown);
            assert_eq!(drain(&mut m), vec![], "ended once");
        }
    }

    #[test]
    fn the_agent_hanging_up_ends_the_citizen_leg() {
        let t0 = Instant::now();
        let mut m = reached_citizen(t0);
        m.handle(t0, Input::CitizenAnswered);
        drain(&mut m);
        m.handle(t0, Input::AgentHungUp);
        let a = drain(&mut m);
        assert!(a.contains(&Action::HangUpCitizen));
        assert_eq!(hangup_cause(&a).map(|c| c.0), Some(Party::Agent));
    }

    #[test]
    fn citizen_busy_or_silent_is_reported_and_the_agent_told() {
        let t0 = Instant::now();
        for (status, outcome) in [
            (486, CallbackOutcome::Busy),
            (603, CallbackOutcome::Busy),
            (480, CallbackOutcome::NoAnswer),
            (503, CallbackOutcome::Failed),
        ] {
            let mut m = reached_citizen(t0);
            m.handle(
                t0,
                Input::CitizenFailed {
                    sip_status: status,
                    reason: "x".into(),
                },
            );
            let a = drain(&mut m);
            assert_eq!(reports(&a), vec![Report::Result(outcome)], "{status}");
            assert!(a.contains(&Action::PlayToAgent(Cue::Unreachable)));
            assert!(!m.is_ended(), "the agent hears why first");
            m.handle(t0, Input::CueFinished);
            let a = drain(&mut m);
            assert!(a.contains(&Action::HangUpAgent));
            assert!(m.is_ended());
        }
    }

    #[test]
    fn citizen_ring_timeout_cancels_and_counts_as_no_answer() {
        let t0 = Instant::now();
        let mut m = reached_citizen(t0);
        m.handle_timeout(t0 + Duration::from_secs(29));
        assert!(drain(&mut m).is_empty());
        m.handle_timeout(t0 + Duration::from_secs(30));
        let a = drain(&mut m);
        assert_eq!(a[0], Action::CancelCitizen);
        assert_eq!(reports(&a), vec![Report::Result(CallbackOutcome::NoAnswer)]);
        // The 487 of the cancelled leg is no news.
        m.handle(
            t0,
            Input::CitizenFailed {
                sip_status: 487,
                reason: "cancelled".into(),
            },
        );
        assert!(reports(&drain(&mut m)).is_empty());
    }

    #[test]
    fn agent_refusal_and_ring_out_are_told_apart() {
        let t0 = Instant::now();
        let mut m = CallbackAttempt::new("1001", Duration::from_secs(30));
        m.handle(
            t0,
            Input::AgentFailed {
                sip_status: 486,
                reason: "Busy Here".into(),
            },
        );
        assert_eq!(reports(&drain(&mut m)), vec![Report::OfferRejected]);
        assert!(m.is_ended());
        let mut m = CallbackAttempt::new("1001", Duration::from_secs(30));
        m.handle(
            t0,
            Input::AgentFailed {
                sip_status: 408,
                reason: "timeout".into(),
            },
        );
        assert_eq!(reports(&drain(&mut m)), vec![Report::OfferNotAnswered]);
    }

    #[test]
    fn a_withdrawn_offer_cancels_the_agent_without_a_report() {
        let t0 = Instant::now();
        let mut m = CallbackAttempt::new("1001", Duration::from_secs(30));
        m.handle(t0, Input::OfferWithdrawn);
        let a = drain(&mut m);
        assert_eq!(a[0], Action::CancelAgent);
        assert!(
            reports(&a).is_empty(),
            "the ACD decided it; nothing to tell"
        );
        assert!(m.is_ended());
    }

    #[test]
    fn agent_leaving_before_the_citizen_answers_fails_the_attempt() {
        let t0 = Instant::now();
        let mut m = reached_citizen(t0);
        m.handle(t0, Input::AgentHungUp);
        let a = drain(&mut m);
        assert_eq!(a[0], Action::CancelCitizen);
        assert_eq!(reports(&a), vec![Report::Result(CallbackOutcome::Failed)]);
        assert!(m.is_ended());
    }
}
