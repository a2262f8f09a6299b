//! A call's way through the queues: joining, abandoning, being answered, ringing out,
//! escalation, announcements, overflow, leaving for a destination, opening hours.

use std::time::Duration;

use super::AcdError;
use super::agent::AgentState;
use super::call::{Call, CallState};
use super::config::{Destination, PAUSE_NO_ANSWER, Strategy};
use super::engine::Engine;
use super::event::{AcdEvent, CancelReason, DequeueReason, NewCall, Output, RouteReason};
use super::ids::{AgentId, CallId};
use super::timers::{AgentIdx, CALL_TIMERS, CallIdx, CallTimer, QueueIdx};

/// Overflows in a row before the engine calls it a configuration loop.
const MAX_HOPS: u8 = 8;

impl Engine {
    pub(super) fn enqueue(&mut self, nc: NewCall) -> Result<(), AcdError> {
        if self.call_ids.contains_key(&nc.call) {
            return Err(AcdError::DuplicateCall(nc.call));
        }
        let qi = self.queue_idx(&nc.queue)?;
        let mut skills = Vec::with_capacity(nc.skills.len());
        for s in &nc.skills {
            skills.push(self.skill(&s.skill, s.level)?);
        }
        skills.sort_unstable();
        skills.dedup_by_key(|(s, _)| *s);
        let now = self.now;
        let seq = self.next_seq();
        let call = Call {
            id: nc.call,
            queue: qi,
            priority: nc.priority,
            skills,
            lowered: 0,
            any_skill: false,
            max_tier: 0,
            place: now.tick,
            first_enqueued: now.tick,
            enqueued_wall: now.wall,
            entered_queue: now.tick,
            seq,
            a_number: nc.a_number,
            variables: nc.variables,
            state: CallState::Waiting,
            next_step: 0,
            escalation_due: false,
            max_wait_due: false,
            hops: 0,
            callback: None,
            timers: [None; CALL_TIMERS],
        };
        let c = self.insert_call(call);
        self.join_queue(c, qi, None);
        Ok(())
    }

    /// Put a voice call in a queue (first time or overflow): closed and full queues send
    /// it on; otherwise it waits with the queue's timers and is offered if it can be.
    fn join_queue(&mut self, c: CallIdx, qi: QueueIdx, from: Option<QueueIdx>) {
        let q = &self.queues[qi as usize];
        let refusal = if !q.open {
            Some((q.cfg.closed.clone(), RouteReason::Closed))
        } else {
            q.cfg
                .max_length
                .as_ref()
                .filter(|l| q.voice_calls >= l.calls)
                .map(|l| (l.destination.clone(), RouteReason::MaxLength))
        };
        let start_tier = q.cfg.start_tier;
        let priority = q.priority;
        {
            let now = self.now.tick;
            let call = self.c_mut(c);
            if let Some(p) = priority {
                call.priority = p;
            }
            call.queue = qi;
            call.entered_queue = now;
            call.next_step = 0;
            call.lowered = 0;
            call.any_skill = false;
            call.max_tier = start_tier;
            call.escalation_due = false;
            call.max_wait_due = false;
            call.state = CallState::Leaving;
        }
        if let Some(from) = from {
            let (call, from_id, to) = (
                self.c(c).id.clone(),
                self.queues[from as usize].id.clone(),
                self.queues[qi as usize].id.clone(),
            );
            let waited_ms = self.waited_ms(c);
            self.emit(Output::Overflow {
                call: call.clone(),
                from: from_id.clone(),
                to: to.clone(),
            });
            self.log(AcdEvent::Overflowed {
                call,
                from: from_id,
                to,
                waited_ms,
            });
        }
        if let Some((dest, reason)) = refusal {
            self.route_out(c, dest, reason);
            return;
        }
        self.queues[qi as usize].voice_calls += 1;
        self.c_mut(c).state = CallState::Waiting;
        let (class, key) = (self.c(c).class(), self.c(c).key(c));
        self.queues[qi as usize].insert_call(class, key);
        let position = self.queues[qi as usize].position_entering(&key);
        let event = AcdEvent::QueueEntered {
            call: self.c(c).id.clone(),
            queue: self.queues[qi as usize].id.clone(),
            position,
            priority: self.c(c).priority,
        };
        self.log(event);
        self.arm_queue_timers(c);
        self.route_call(c);
    }

    fn arm_queue_timers(&mut self, c: CallIdx) {
        let cfg = &self.queues[self.c(c).queue as usize].cfg;
        let step = cfg.escalation.first().map(|s| s.after_secs);
        let max_wait = cfg.max_wait.as_ref().map(|l| l.secs);
        let announce = cfg.announcements.map(|a| a.first_after_secs);
        let message = cfg.periodic_message.as_ref().map(|m| m.every_secs);
        for (kind, secs) in [
            (CallTimer::Escalation, step),
            (CallTimer::MaxWait, max_wait),
            (CallTimer::Announce, announce),
            (CallTimer::Message, message),
        ] {
            match secs {
                Some(s) => self.set_call_timer(c, kind, Duration::from_secs(s)),
                None => self.cancel_call_timer(c, kind),
            }
        }
    }

    fn cancel_queue_timers(&mut self, c: CallIdx) {
        for kind in [
            CallTimer::Escalation,
            CallTimer::MaxWait,
            CallTimer::Announce,
            CallTimer::Message,
        ] {
            self.cancel_call_timer(c, kind);
        }
    }

    pub(super) fn waited_ms(&self, c: CallIdx) -> u64 {
        self.now.tick.since(self.c(c).first_enqueued).as_millis() as u64
    }

    /// Remove a call from wherever it waits or rings (offers are cancelled and their
    /// agents freed), leaving it in no queue structure.
    pub(super) fn detach(&mut self, c: CallIdx, reason: CancelReason) {
        let (qi, class, key, state) = {
            let call = self.c(c);
            (call.queue, call.class(), call.key(c), call.state.clone())
        };
        let was_in_queue = matches!(state, CallState::Waiting | CallState::Offered { .. });
        match state {
            CallState::Waiting => {
                self.queues[qi as usize].remove_call(&class, &key);
            }
            CallState::Offered { agents, .. } => {
                self.cancel_call_timer(c, CallTimer::Ring);
                let call_id = self.c(c).id.clone();
                for a in agents {
                    let agent = self.agents[a as usize].id.clone();
                    self.emit(Output::CancelOffer {
                        call: call_id.clone(),
                        agent: agent.clone(),
                    });
                    self.log(AcdEvent::OfferCancelled {
                        call: call_id.clone(),
                        agent,
                        reason,
                    });
                    // Not the agent's doing: they keep their idle time.
                    self.set_agent_state(a, AgentState::Available);
                    self.route_agent(a);
                }
            }
            _ => {}
        }
        if self.c(c).callback.is_none() && was_in_queue {
            let q = &mut self.queues[qi as usize];
            q.voice_calls = q.voice_calls.saturating_sub(1);
        }
        self.cancel_queue_timers(c);
        let call = self.c_mut(c);
        call.state = CallState::Leaving;
        // Decisions postponed while an agent rang belong to the queue being left.
        call.escalation_due = false;
        call.max_wait_due = false;
    }

    /// Send a call out of the ACD (or to another queue).
    pub(super) fn route_out(&mut self, c: CallIdx, dest: Destination, reason: RouteReason) {
        let from = self.c(c).queue;
        let in_queue = matches!(
            self.c(c).state,
            CallState::Waiting | CallState::Offered { .. }
        );
        if in_queue {
            self.detach(c, CancelReason::AnsweredElsewhere);
        }
        if let Destination::Queue { queue } = &dest {
            let hops = self.c(c).hops;
            if hops < MAX_HOPS
                && let Ok(to) = self.queue_idx(queue)
            {
                self.c_mut(c).hops = hops + 1;
                self.join_queue(c, to, Some(from));
                return;
            }
            let dest = Destination::Hangup;
            return self.leave(c, dest, RouteReason::OverflowLoop);
        }
        self.leave(c, dest, reason);
    }

    fn leave(&mut self, c: CallIdx, destination: Destination, reason: RouteReason) {
        let call = self.c(c).id.clone();
        let queue = self.queues[self.c(c).queue as usize].id.clone();
        let waited_ms = self.waited_ms(c);
        self.emit(Output::RouteTo {
            call: call.clone(),
            destination: destination.clone(),
            reason,
        });
        self.emit(Output::Dequeue {
            call: call.clone(),
            reason: DequeueReason::Routed,
        });
        self.log(AcdEvent::Routed {
            call,
            queue,
            destination,
            reason,
            waited_ms,
        });
        self.free_call(c);
    }

    pub(super) fn hangup(&mut self, id: &CallId) -> Result<(), AcdError> {
        let c = self.call_idx(id)?;
        let state = self.c(c).state.clone();
        let is_callback = self.c(c).callback.is_some();
        match state {
            CallState::Connected { agent, since } => {
                let talk = self.now.tick.since(since);
                let qi = self.c(c).queue;
                let q = &mut self.queues[qi as usize];
                let wrap = match q.cfg.wrap_up {
                    super::config::WrapUp::Auto { secs } => secs as f64,
                    super::config::WrapUp::Manual { .. } => 0.0,
                };
                q.aht.add(talk.as_secs_f64() + wrap);
                let agent_id = self.agents[agent as usize].id.clone();
                let talk_ms = talk.as_millis() as u64;
                self.log(if is_callback {
                    AcdEvent::CallbackCompleted {
                        call: id.clone(),
                        agent: agent_id,
                        talk_ms,
                    }
                } else {
                    AcdEvent::CallEnded {
                        call: id.clone(),
                        agent: agent_id,
                        talk_ms,
                    }
                });
                self.start_wrap_up(agent, qi);
                self.free_call(c);
            }
            CallState::Dialing { .. } => {
                // The shell lost the citizen leg before reporting: a failed attempt.
                return self.callback_result(id, super::event::CallbackOutcome::Failed);
            }
            _ if is_callback => {
                // The shell withdraws a pending callback (the citizen got through).
                self.detach(c, CancelReason::CallerHungUp);
                let attempts = self.c(c).callback.as_ref().map_or(0, |cb| cb.attempts);
                let queue = self.queues[self.c(c).queue as usize].id.clone();
                self.log(AcdEvent::CallbackGaveUp {
                    call: id.clone(),
                    queue,
                    attempts,
                });
                self.free_call(c);
            }
            _ => {
                let waited_ms = self.waited_ms(c);
                self.detach(c, CancelReason::CallerHungUp);
                let queue = self.queues[self.c(c).queue as usize].id.clone();
                self.emit(Output::Dequeue {
                    call: id.clone(),
                    reason: DequeueReason::Abandoned,
                });
                self.log(AcdEvent::Abandoned {
                    call: id.clone(),
                    queue,
                    waited_ms,
                });
                self.free_call(c);
            }
        }
        Ok(())
    }

    fn offered_pair(
        &self,
        call: &CallId,
        agent: &AgentId,
    ) -> Result<(CallIdx, AgentIdx), AcdError> {
        let c = self.call_idx(call)?;
        let a = self.agent_idx(agent)?;
        if !self.c(c).offered_to(a) {
            return Err(AcdError::NoSuchOffer {
                call: call.clone(),
                agent: agent.clone(),
            });
        }
        Ok((c, a))
    }

    pub(super) fn offer_answered(
        &mut self,
        call: &CallId,
        agent: &AgentId,
    ) -> Result<(), AcdError> {
        let (c, a) = self.offered_pair(call, agent)?;
        let CallState::Offered { agents, .. } = self.c(c).state.clone() else {
            return Ok(());
        };
        self.cancel_call_timer(c, CallTimer::Ring);
        let is_callback = self.c(c).callback.is_some();
        let now = self.now.tick;
        self.c_mut(c).state = if is_callback {
            CallState::Dialing { agent: a }
        } else {
            CallState::Connected {
                agent: a,
                since: now,
            }
        };
        self.agents[a as usize].calls_answered += 1;
        self.set_agent_state(a, AgentState::OnCall(c));
        for other in agents.into_iter().filter(|o| *o != a) {
            let other_id = self.agents[other as usize].id.clone();
            self.emit(Output::CancelOffer {
                call: call.clone(),
                agent: other_id.clone(),
            });
            self.log(AcdEvent::OfferCancelled {
                call: call.clone(),
                agent: other_id,
                reason: CancelReason::AnsweredElsewhere,
            });
            self.set_agent_state(other, AgentState::Available);
            self.route_agent(other);
        }
        if is_callback {
            return Ok(());
        }
        let qi = self.c(c).queue;
        let q = &mut self.queues[qi as usize];
        q.voice_calls = q.voice_calls.saturating_sub(1);
        self.cancel_queue_timers(c);
        let waited_ms = self.waited_ms(c);
        let queue = self.queues[qi as usize].id.clone();
        self.emit(Output::Dequeue {
            call: call.clone(),
            reason: DequeueReason::Answered,
        });
        self.log(AcdEvent::Answered {
            call: call.clone(),
            agent: agent.clone(),
            queue,
            waited_ms,
        });
        Ok(())
    }

    /// An offer ended without an answer: rejected by the agent, or rang out.
    pub(super) fn offer_failed(
        &mut self,
        call: &CallId,
        agent: &AgentId,
        rejected: bool,
    ) -> Result<(), AcdError> {
        let (c, a) = self.offered_pair(call, agent)?;
        self.drop_offer(c, a, rejected, false);
        Ok(())
    }

    /// One agent stops ringing for a call; the call waits again when nobody rings.
    pub(super) fn drop_offer(&mut self, c: CallIdx, a: AgentIdx, rejected: bool, timed_out: bool) {
        let CallState::Offered { mut agents, since } = self.c(c).state.clone() else {
            return;
        };
        agents.retain(|x| *x != a);
        let qi = self.c(c).queue;
        let cfg = &self.queues[qi as usize].cfg;
        let pause = !rejected && cfg.pause_on_no_answer && cfg.strategy != Strategy::RingAll;
        let delay = Duration::from_secs(cfg.reject_delay_secs);
        let (call_id, agent_id) = (self.c(c).id.clone(), self.agents[a as usize].id.clone());
        if timed_out {
            self.emit(Output::CancelOffer {
                call: call_id.clone(),
                agent: agent_id.clone(),
            });
        }
        self.log(if rejected {
            AcdEvent::OfferRejected {
                call: call_id,
                agent: agent_id,
            }
        } else {
            AcdEvent::RingNoAnswer {
                call: call_id,
                agent: agent_id,
                rang_ms: self.now.tick.since(since).as_millis() as u64,
            }
        });
        let still_ringing = !agents.is_empty();
        self.c_mut(c).state = CallState::Offered { agents, since };
        if !still_ringing {
            self.cancel_call_timer(c, CallTimer::Ring);
            self.requeue(c);
        }
        if pause {
            self.set_agent_state(a, AgentState::Paused(PAUSE_NO_ANSWER.to_string()));
        } else {
            self.set_agent_state(a, AgentState::Available);
            // Others get the call first; the agent is routable again after the delay.
            self.agents[a as usize].blocked = true;
            self.set_agent_timer(a, delay);
        }
    }

    /// Back to waiting at its old place (the head for its priority), then pending
    /// escalation or max-wait decisions apply.
    pub(super) fn requeue(&mut self, c: CallIdx) {
        self.c_mut(c).state = CallState::Waiting;
        let (qi, class, key) = (self.c(c).queue, self.c(c).class(), self.c(c).key(c));
        self.queues[qi as usize].insert_call(class, key);
        if std::mem::take(&mut self.c_mut(c).max_wait_due) {
            let dest = self.queues[qi as usize]
                .cfg
                .max_wait
                .as_ref()
                .map(|l| l.destination.clone());
            if let Some(dest) = dest {
                return self.route_out(c, dest, RouteReason::MaxWait);
            }
        }
        if std::mem::take(&mut self.c_mut(c).escalation_due) {
            return self.escalate(c);
        }
        self.route_call(c);
    }

    pub(super) fn c_opt(&self, c: CallIdx) -> Option<&Call> {
        self.calls.get(c as usize).and_then(|c| c.as_ref())
    }
}
