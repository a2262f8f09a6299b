//! The call machine while agents ring: offers made and withdrawn (routed calls), legs
//! started, failed and answered, the retry when nobody could be rung. Pure, like the
//! rest of the machine: the time comes in as `now`.

use std::time::{Duration, Instant};

use super::{Action, CallMachine, LegId, Offer, RING_RETRY, State, Timer};
use crate::events::EventKind;

impl CallMachine {
    /// Routed calls: ring `agent`'s phones too (a ring-all queue offers several).
    pub(super) fn offer(&mut self, now: Instant, agent: String, ring_timeout: Option<Duration>) {
        let taking = self.state == State::Routing || (self.state == State::Ringing && self.routed);
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

    /// Routed calls: stop ringing `agent` (the ACD withdrew the offer).
    pub(super) fn cancel_offer(&mut self, agent: String) {
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

    /// The actor started ringing these legs (zero when no agent phone is registered).
    pub(super) fn ring_started(&mut self, now: Instant, legs: Vec<(LegId, String, String)>) {
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

    /// A ringing leg's final failure: logged, and its offer ends if it was the last.
    pub(super) fn agent_failed(
        &mut self,
        now: Instant,
        leg: LegId,
        sip_status: u16,
        reason: String,
    ) {
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

    /// Routed calls: an offer whose legs all ended (or that got none) failed; the call
    /// goes back to `Routing` once no offer is left.
    pub(super) fn offer_done_if_silent(&mut self, agent: &str) {
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

    pub(super) fn retry_if_idle(&mut self, now: Instant) {
        if self.routed {
            return;
        }
        if self.state == State::Ringing && self.ringing.is_empty() {
            self.set_timer(Timer::RingRetry, now + RING_RETRY);
        }
    }

    pub(super) fn agent_answered(&mut self, leg: LegId) {
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
}
