//! The call machine while the caller talks to an agent: hold on either side, blind and
//! attended transfers, and handing the caller to the survey when the agent's part ends.
//! Pure, like the rest of the machine.

use super::{Action, CallMachine, LegId, State};
use crate::events::{EventKind, Party};

impl CallMachine {
    /// A blind transfer: the agent's leg is hung up and the call goes back to `Routing`.
    pub(super) fn transfer_away(&mut self, to: String) {
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

    /// An attended transfer completes: the consulted agent's leg takes the bridged one's place.
    pub(super) fn transfer_to(&mut self, leg: LegId, agent: String, to: String) {
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

    pub(super) fn hold(&mut self, by: Party, on: bool) {
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
    pub(super) fn put_to_survey(&mut self, hang_up_agent: bool) {
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
}
