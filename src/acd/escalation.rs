//! A waiting call's timers: escalation steps, max wait, position and estimated-wait
//! announcements, periodic messages, the ring timeout; and a queue's opening hours
//! changing (callbacks wait for opening, `drain_on_close` sends waiting calls away).

use std::time::Duration;

use super::call::CallState;
use super::config::{Destination, Escalation};
use super::engine::Engine;
use super::event::{AcdEvent, Output, RouteReason};
use super::timers::{CallIdx, CallTimer, QueueIdx};

impl Engine {
    pub(super) fn call_timer(&mut self, c: CallIdx, kind: CallTimer) {
        let waiting = self.c(c).state == CallState::Waiting;
        let qi = self.c(c).queue;
        match kind {
            CallTimer::Ring => {
                if let CallState::Offered { agents, .. } = self.c(c).state.clone() {
                    for a in agents {
                        self.drop_offer(c, a, false, true);
                    }
                }
            }
            CallTimer::Escalation if waiting => self.escalate(c),
            CallTimer::Escalation => self.c_mut(c).escalation_due = true,
            CallTimer::MaxWait if waiting => {
                let dest = self.queues[qi as usize]
                    .cfg
                    .max_wait
                    .as_ref()
                    .map(|l| l.destination.clone());
                if let Some(dest) = dest {
                    self.route_out(c, dest, RouteReason::MaxWait);
                }
            }
            CallTimer::MaxWait => self.c_mut(c).max_wait_due = true,
            CallTimer::Announce => {
                let Some(cfg) = self.queues[qi as usize].cfg.announcements else {
                    return;
                };
                if waiting {
                    let q = &self.queues[qi as usize];
                    let position = q.position_capped(&self.c(c).key(c), cfg.position_cap);
                    let estimated_wait_secs = (q.staffed > 0 && q.aht.samples > 0)
                        .then(|| (position as f64 * q.aht.secs / q.staffed as f64).ceil() as u64);
                    let call = self.c(c).id.clone();
                    self.emit(Output::Announce {
                        call,
                        position,
                        position_cap: cfg.position_cap,
                        estimated_wait_secs,
                    });
                }
                self.set_call_timer(c, kind, Duration::from_secs(cfg.every_secs.max(1)));
            }
            CallTimer::Message => {
                let Some(m) = self.queues[qi as usize].cfg.periodic_message.clone() else {
                    return;
                };
                if waiting {
                    let call = self.c(c).id.clone();
                    self.emit(Output::PlayMessage {
                        call,
                        prompt: m.prompt,
                    });
                }
                self.set_call_timer(c, kind, Duration::from_secs(m.every_secs.max(1)));
            }
            CallTimer::CallbackDue => self.callback_due(c),
        }
    }

    /// Apply every escalation step whose time has come, then arm the next one.
    pub(super) fn escalate(&mut self, c: CallIdx) {
        let qi = self.c(c).queue;
        let in_queue = self.now.tick.since(self.c(c).entered_queue);
        loop {
            let step = self.c(c).next_step;
            let Some(rule) = self.queues[qi as usize].cfg.escalation.get(step).cloned() else {
                return;
            };
            let due = Duration::from_secs(rule.after_secs);
            if due > in_queue {
                return self.set_call_timer(c, CallTimer::Escalation, due - in_queue);
            }
            self.c_mut(c).next_step = step + 1;
            let (call, queue) = (self.c(c).id.clone(), self.queues[qi as usize].id.clone());
            self.log(AcdEvent::Escalated { call, queue, step });
            match rule.action {
                Escalation::Overflow { queue } => {
                    return self.route_out(
                        c,
                        Destination::Queue { queue },
                        RouteReason::Escalation,
                    );
                }
                Escalation::SendTo { destination } => {
                    return self.route_out(c, destination, RouteReason::Escalation);
                }
                Escalation::OfferCallback => {
                    let call = self.c(c).id.clone();
                    self.emit(Output::OfferCallback { call });
                }
                widen => {
                    let (class, key) = (self.c(c).class(), self.c(c).key(c));
                    self.queues[qi as usize].remove_call(&class, &key);
                    let call = self.c_mut(c);
                    match widen {
                        Escalation::LowerProficiency { by } => {
                            call.lowered = call.lowered.saturating_add(by)
                        }
                        Escalation::AnySkill => call.any_skill = true,
                        _ => {
                            if call.max_tier != 0 {
                                call.max_tier = call.max_tier.saturating_add(1);
                            }
                        }
                    }
                    let class = self.c(c).class();
                    self.queues[qi as usize].insert_call(class, key);
                    self.route_call(c);
                    if self
                        .c_opt(c)
                        .is_none_or(|call| call.state != CallState::Waiting)
                    {
                        return;
                    }
                }
            }
        }
    }

    pub(super) fn schedule_boundary(&mut self, qi: QueueIdx) {
        let open = !self.queues[qi as usize].closed_by_hand
            && self.queues[qi as usize].schedule.is_open(self.now.wall);
        let was = self.queues[qi as usize].open;
        self.queues[qi as usize].open = open;
        self.arm_schedule(qi);
        if open == was {
            return;
        }
        let queue = self.queues[qi as usize].id.clone();
        if open {
            self.log(AcdEvent::QueueOpened { queue });
            // Callbacks wait for opening hours: offer them to whoever is free.
            let callbacks: Vec<CallIdx> = self.queues[qi as usize]
                .buckets
                .iter()
                .filter(|b| b.class.callback)
                .flat_map(|b| b.calls.iter().map(|k| k.call))
                .collect();
            for c in callbacks {
                if self.queues[qi as usize].available.is_empty() {
                    break;
                }
                self.route_call(c);
            }
        } else {
            self.log(AcdEvent::QueueClosed { queue });
            if self.queues[qi as usize].cfg.drain_on_close {
                let dest = self.queues[qi as usize].cfg.closed.clone();
                let voice: Vec<CallIdx> = self.queues[qi as usize]
                    .buckets
                    .iter()
                    .filter(|b| !b.class.callback)
                    .flat_map(|b| b.calls.iter().map(|k| k.call))
                    .collect();
                for c in voice {
                    self.route_out(c, dest.clone(), RouteReason::Closed);
                }
            }
        }
    }
}
