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
//! Once the IVR and ACD land, they decide where a call goes; this machine keeps the legs.

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
    Ringing,
    Bridged { leg: LegId, agent: String },
    Ended,
}

#[derive(Debug)]
pub struct CallMachine {
    state: State,
    ring_timeout: Duration,
    ringing: Vec<(LegId, String)>,
    timers: Vec<(Timer, Instant)>,
    actions: VecDeque<Action>,
}

impl CallMachine {
    pub fn new(ring_timeout: Duration) -> Self {
        CallMachine {
            state: State::Answering,
            ring_timeout,
            ringing: Vec::new(),
            timers: Vec::new(),
            actions: VecDeque::new(),
        }
    }

    pub fn is_ended(&self) -> bool {
        self.state == State::Ended
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
            Input::Answered => {
                self.emit(Action::Log(EventKind::Answered));
                self.emit(Action::PlayWelcome);
                self.state = State::Welcome;
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
                        agent,
                        sip_status,
                        reason,
                    }));
                }
                if self.state == State::Ringing {
                    self.retry_if_idle(now);
                }
            }
            Input::CallerHungUp => self.end(Party::Caller, "normal_clearing", None),
            Input::AgentHungUp { leg } => match &self.state {
                State::Bridged { leg: l, .. } if *l == leg => {
                    self.emit(Action::HangUpCaller);
                    self.end(Party::Agent, "normal_clearing", None);
                }
                _ => {}
            },
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
                Timer::RingTimeout if self.state == State::Ringing => {
                    self.emit(Action::HangUpCaller);
                    self.end(Party::System, "no_answer", Some(480));
                }
                _ => {}
            }
        }
    }

    fn retry_if_idle(&mut self, now: Instant) {
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

    fn end(&mut self, by: Party, cause: &str, sip_status: Option<u16>) {
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
mod tests {
    use super::*;

    fn drain(m: &mut CallMachine) -> Vec<Action> {
        std::iter::from_fn(|| m.poll_action()).collect()
    }

    fn ringing_call(t0: Instant) -> CallMachine {
        let mut m = CallMachine::new(Duration::from_secs(30));
        m.handle(t0, Input::Answered);
        m.handle(t0, Input::PromptFinished);
        m.handle(
            t0,
            Input::RingStarted {
                legs: vec![
                    (1, "1001".into(), "sip:1001@127.0.0.1:5070".into()),
                    (2, "1002".into(), "sip:1002@127.0.0.1:5072".into()),
                ],
            },
        );
        drain(&mut m);
        m
    }

    #[test]
    fn welcome_then_hold_music_while_agents_ring() {
        let t0 = Instant::now();
        let mut m = CallMachine::new(Duration::from_secs(30));
        m.handle(t0, Input::Answered);
        assert_eq!(
            drain(&mut m),
            vec![Action::Log(EventKind::Answered), Action::PlayWelcome]
        );
        m.handle(t0, Input::PromptFinished);
        assert_eq!(
            drain(&mut m),
            vec![Action::PlayHoldMusic, Action::RingAgents]
        );
        assert_eq!(m.next_timeout(), Some(t0 + Duration::from_secs(30)));
    }

    #[test]
    fn first_agent_to_answer_is_bridged_and_the_others_cancelled() {
        let t0 = Instant::now();
        let mut m = ringing_call(t0);
        m.handle(t0, Input::AgentAnswered { leg: 2 });
        let a = drain(&mut m);
        assert_eq!(a[0], Action::CancelLeg(1));
        assert!(a.contains(&Action::Bridge(2)));
        assert!(a.contains(&Action::Log(EventKind::AgentAnswered {
            agent: "1002".into()
        })));
        assert_eq!(m.next_timeout(), None);
        // A late answer from the cancelled leg is hung up.
        m.handle(t0, Input::AgentAnswered { leg: 1 });
        assert_eq!(drain(&mut m), vec![Action::HangUpAgent(1)]);
    }

    #[test]
    fn agent_hangup_clears_the_caller_and_finishes_the_recording() {
        let t0 = Instant::now();
        let mut m = ringing_call(t0);
        m.handle(t0, Input::AgentAnswered { leg: 1 });
        drain(&mut m);
        m.handle(t0, Input::AgentHungUp { leg: 1 });
        let a = drain(&mut m);
        assert_eq!(a[0], Action::HangUpCaller);
        assert!(a.contains(&Action::FinishMedia));
        assert!(a.contains(&Action::Log(EventKind::HungUp {
            by: Party::Agent,
            cause: "normal_clearing".into(),
            sip_status: None
        })));
        assert!(m.is_ended());
    }

    #[test]
    fn caller_hangup_while_ringing_cancels_every_leg() {
        let t0 = Instant::now();
        let mut m = ringing_call(t0);
        m.handle(t0, Input::CallerHungUp);
        let a = drain(&mut m);
        assert_eq!(&a[..2], &[Action::CancelLeg(1), Action::CancelLeg(2)]);
        assert!(a.contains(&Action::FinishMedia));
    }

    #[test]
    fn nobody_registered_retries_then_times_out_with_480() {
        let t0 = Instant::now();
        let mut m = CallMachine::new(Duration::from_secs(12));
        m.handle(t0, Input::Answered);
        m.handle(t0, Input::PromptFinished);
        m.handle(t0, Input::RingStarted { legs: vec![] });
        drain(&mut m);
        assert_eq!(m.next_timeout(), Some(t0 + RING_RETRY));
        m.handle_timeout(t0 + RING_RETRY);
        assert_eq!(drain(&mut m), vec![Action::RingAgents]);
        m.handle(t0 + RING_RETRY, Input::RingStarted { legs: vec![] });
        m.handle_timeout(t0 + Duration::from_secs(12));
        let a = drain(&mut m);
        assert_eq!(a[0], Action::HangUpCaller);
        assert!(a.contains(&Action::Log(EventKind::HungUp {
            by: Party::System,
            cause: "no_answer".into(),
            sip_status: Some(480)
        })));
    }

    #[test]
    fn all_agents_declining_schedules_a_retry() {
        let t0 = Instant::now();
        let mut m = ringing_call(t0);
        for leg in [1, 2] {
            m.handle(
                t0,
                Input::AgentFailed {
                    leg,
                    sip_status: 486,
                    reason: "busy".into(),
                },
            );
        }
        let a = drain(&mut m);
        assert_eq!(a.len(), 2, "both failures logged: {a:?}");
        assert_eq!(m.next_timeout(), Some(t0 + RING_RETRY));
    }

    #[test]
    fn agent_hold_plays_music_and_resume_rebridges() {
        let t0 = Instant::now();
        let mut m = ringing_call(t0);
        m.handle(t0, Input::AgentAnswered { leg: 1 });
        drain(&mut m);
        m.handle(
            t0,
            Input::Hold {
                by: Party::Agent,
                on: true,
            },
        );
        let a = drain(&mut m);
        assert!(a.contains(&Action::Unbridge) && a.contains(&Action::PlayHoldMusic));
        m.handle(
            t0,
            Input::Hold {
                by: Party::Agent,
                on: false,
            },
        );
        assert!(drain(&mut m).contains(&Action::Bridge(1)));
    }
}
