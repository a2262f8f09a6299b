//! Live reconfiguration (`atende reload`): queues added, changed or retired, the pause
//! reasons replaced, and a logged-in agent's queues and skills replaced in place.
//!
//! Validated like `Engine::new` before anything changes (a refused change leaves the
//! engine as it was). A changed queue's settings apply from the next decision on: calls
//! already waiting keep the timers they were given (escalations, max wait). A retired
//! (removed) queue takes no new calls; the voice calls waiting or ringing in it leave at
//! once for its `closed` destination, as when a queue closes with `drain_on_close`; calls
//! already talking finish normally. A queue holding pending callbacks cannot be removed.
//! A retired queue keeps its slot (indexes stay valid) and is revived if it comes back.

use std::collections::HashSet;

use super::AcdError;
use super::agent::{AgentState, Member};
use super::call::CallState;
use super::config::EngineConfig;
use super::engine::Engine;
use super::event::{AgentLogin, RouteReason};
use super::ids::{Now, QueueId};
use super::timers::{AgentIdx, CallIdx, QueueIdx};

/// What a reconfiguration changed, by queue id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reconfigured {
    pub added: Vec<QueueId>,
    pub changed: Vec<QueueId>,
    pub removed: Vec<QueueId>,
}

impl Engine {
    /// Replaces the queues and pause reasons with `config`'s. Nothing changes on error.
    pub fn reconfigure(
        &mut self,
        now: Now,
        config: EngineConfig,
    ) -> Result<Reconfigured, AcdError> {
        self.handle_timeout(now);
        // The same checks as at start-up, on a throwaway engine whose compiled queues
        // (schedules, sorted escalations) are then taken over.
        let fresh = Engine::new(config, now)?;
        let keep: HashSet<&QueueId> = fresh.queues.iter().map(|q| &q.id).collect();
        let leaving: Vec<QueueIdx> = self
            .queue_ids
            .iter()
            .filter(|(id, _)| !keep.contains(id))
            .map(|(_, &qi)| qi)
            .collect();
        if let Some(&qi) = leaving.iter().find(|&&qi| self.holds_callbacks(qi)) {
            return Err(AcdError::QueueHasCallbacks(
                self.queues[qi as usize].id.clone(),
            ));
        }
        let mut report = Reconfigured::default();
        // Index keys depend on a queue's strategy: take every agent out and back in.
        let indexed: Vec<AgentIdx> = (0..self.agents.len())
            .filter(|&a| self.agents[a].indexed)
            .map(|a| a as AgentIdx)
            .collect();
        for &a in &indexed {
            self.unindex_agent(a);
        }
        for new in fresh.queues {
            let slot = match self.queue_ids.get(&new.id) {
                Some(&qi) => Some(qi),
                // A queue removed by an earlier reload and now back: its old slot.
                None => self
                    .queues
                    .iter()
                    .position(|q| q.id == new.id)
                    .map(|i| i as QueueIdx),
            };
            let qi = match slot {
                Some(qi) => {
                    let q = &mut self.queues[qi as usize];
                    if !self.queue_ids.contains_key(&new.id) {
                        report.added.push(new.id.clone());
                    } else if q.cfg != new.cfg {
                        report.changed.push(new.id.clone());
                    }
                    q.cfg = new.cfg;
                    q.schedule = new.schedule;
                    qi
                }
                None => {
                    let qi = QueueIdx::try_from(self.queues.len())
                        .map_err(|_| AcdError::TooManyQueues)?;
                    report.added.push(new.id.clone());
                    self.queues.push(new);
                    qi
                }
            };
            self.queue_ids
                .insert(self.queues[qi as usize].id.clone(), qi);
            self.schedule_boundary(qi);
        }
        for qi in leaving {
            let id = self.queues[qi as usize].id.clone();
            self.queue_ids.remove(&id);
            let q = &mut self.queues[qi as usize];
            self.timers.cancel(q.schedule_timer.take());
            let dest = q.cfg.closed.clone();
            for c in self.voice_calls_in(qi) {
                self.route_out(c, dest.clone(), RouteReason::Closed);
            }
            report.removed.push(id);
        }
        self.pause_reasons = fresh.pause_reasons;
        for a in indexed {
            self.route_agent(a);
        }
        Ok(report)
    }

    /// Replaces a logged-in agent's queues and skills, keeping their state (a call in
    /// progress goes on). `Ok(false)`: the agent is not logged in, nothing to change.
    pub fn update_agent(&mut self, now: Now, l: AgentLogin) -> Result<bool, AcdError> {
        self.handle_timeout(now);
        let Some(&a) = self.agent_ids.get(&l.agent) else {
            return Ok(false);
        };
        if self.agents[a as usize].state == AgentState::LoggedOut {
            return Ok(false);
        }
        let mut members: Vec<Member> = Vec::new();
        for m in &l.memberships {
            let queue = self.queue_idx(&m.queue)?;
            if members.iter().all(|x| x.queue != queue) {
                let last_offered = self.agents[a as usize]
                    .member(queue)
                    .map_or(0, |old| old.last_offered);
                members.push(Member {
                    queue,
                    tier: m.tier.max(1),
                    last_offered,
                });
            }
        }
        let mut skills = Vec::new();
        for s in &l.skills {
            skills.push(self.skill(&s.skill, s.level)?);
        }
        skills.sort_unstable();
        skills.dedup_by_key(|(s, _)| *s);
        self.unindex_agent(a);
        self.set_members(a, members);
        self.agents[a as usize].skills = skills;
        self.route_agent(a);
        Ok(true)
    }

    fn holds_callbacks(&self, qi: QueueIdx) -> bool {
        self.calls
            .iter()
            .flatten()
            .any(|c| c.queue == qi && c.callback.is_some())
    }

    /// Voice calls waiting or ringing in a queue.
    fn voice_calls_in(&self, qi: QueueIdx) -> Vec<CallIdx> {
        self.calls
            .iter()
            .enumerate()
            .filter_map(|(i, c)| Some((i as CallIdx, c.as_ref()?)))
            .filter(|(_, c)| {
                c.queue == qi
                    && c.callback.is_none()
                    && matches!(c.state, CallState::Waiting | CallState::Offered { .. })
            })
            .map(|(i, _)| i)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acd::{
        AcdEvent, AgentStatus, CallId, Destination, Input, Membership, NewCall, Output,
        QueueConfig, Tick,
    };

    fn now(ms: i64) -> Now {
        Now::new(
            Tick(ms),
            jiff::Timestamp::from_millisecond(1_700_000_000_000 + ms).unwrap(),
        )
    }

    fn config(queues: &[&str]) -> EngineConfig {
        EngineConfig {
            queues: queues.iter().map(|q| QueueConfig::new(*q)).collect(),
            pause_reasons: vec!["lunch".into()],
        }
    }

    fn login(agent: &str, queues: &[&str]) -> AgentLogin {
        AgentLogin {
            agent: agent.into(),
            memberships: queues.iter().map(|q| Membership::new(*q, 1)).collect(),
            skills: vec![],
            ready: true,
        }
    }

    fn outputs(e: &mut Engine) -> Vec<Output> {
        std::iter::from_fn(|| e.poll_output()).collect()
    }

    fn call(id: &str, queue: &str) -> NewCall {
        serde_json::from_value(
            serde_json::json!({ "call": id, "queue": queue, "a_number": "5561999990000" }),
        )
        .expect("a new call")
    }

    #[test]
    fn an_added_queue_takes_calls_and_an_updated_agent_serves_it() {
        let mut e = Engine::new(config(&["a"]), now(0)).unwrap();
        e.handle_input(now(0), Input::AgentLogin(login("1001", &["a"])))
            .unwrap();
        assert!(matches!(
            e.handle_input(now(1), Input::Enqueue(call("c1", "b"))),
            Err(AcdError::UnknownQueue(_))
        ));
        let r = e.reconfigure(now(2), config(&["a", "b"])).unwrap();
        assert_eq!(r.added, [QueueId::new("b")]);
        assert!(r.changed.is_empty() && r.removed.is_empty());
        assert!(e.update_agent(now(3), login("1001", &["b"])).unwrap());
        outputs(&mut e);
        e.handle_input(now(4), Input::Enqueue(call("c1", "b")))
            .unwrap();
        let offered = outputs(&mut e)
            .into_iter()
            .any(|o| matches!(o, Output::Offer { agent, .. } if agent.as_str() == "1001"));
        assert!(offered, "the agent now serving b is offered its call");
        assert_eq!(e.queue_status(&QueueId::new("a")).unwrap().staffed, 0);
        assert_eq!(e.queue_status(&QueueId::new("b")).unwrap().staffed, 1);
    }

    #[test]
    fn a_removed_queue_sends_its_waiting_calls_to_its_closed_destination() {
        let mut e = Engine::new(config(&["a", "b"]), now(0)).unwrap();
        e.handle_input(now(1), Input::Enqueue(call("c1", "b")))
            .unwrap();
        outputs(&mut e);
        let r = e.reconfigure(now(2), config(&["a"])).unwrap();
        assert_eq!(r.removed, [QueueId::new("b")]);
        let out = outputs(&mut e);
        assert!(
            out.iter().any(
                |o| matches!(o, Output::RouteTo { call, reason: RouteReason::Closed, destination }
                if call == &CallId::new("c1") && *destination == QueueConfig::new("b").closed)
            ),
            "{out:?}"
        );
        assert!(e.queue_status(&QueueId::new("b")).is_none());
        assert!(matches!(
            e.handle_input(now(3), Input::Enqueue(call("c2", "b"))),
            Err(AcdError::UnknownQueue(_))
        ));
        // Back again: the old slot, open for calls.
        let r = e.reconfigure(now(4), config(&["a", "b"])).unwrap();
        assert_eq!(r.added, [QueueId::new("b")]);
        e.handle_input(now(5), Input::Enqueue(call("c2", "b")))
            .unwrap();
    }

    #[test]
    fn an_invalid_config_changes_nothing() {
        let mut e = Engine::new(config(&["a"]), now(0)).unwrap();
        let mut bad = config(&["a", "b"]);
        bad.queues[1].closed = Destination::Queue {
            queue: QueueId::new("nope"),
        };
        assert!(e.reconfigure(now(1), bad).is_err());
        assert!(e.queue_status(&QueueId::new("b")).is_none());
        e.handle_input(now(2), Input::Enqueue(call("c1", "a")))
            .unwrap();
    }

    #[test]
    fn an_agent_on_a_call_keeps_it_when_their_queues_change() {
        let mut e = Engine::new(config(&["a", "b"]), now(0)).unwrap();
        e.handle_input(now(0), Input::AgentLogin(login("1001", &["a"])))
            .unwrap();
        e.handle_input(now(1), Input::Enqueue(call("c1", "a")))
            .unwrap();
        e.handle_input(
            now(2),
            Input::OfferAnswered {
                call: CallId::new("c1"),
                agent: "1001".into(),
            },
        )
        .unwrap();
        assert!(e.update_agent(now(3), login("1001", &["b"])).unwrap());
        let (status, _) = e.agent_status(&"1001".into()).unwrap();
        assert!(matches!(status, AgentStatus::OnCall { .. }), "{status:?}");
        // Logged out after the call (what a reload removing the agent does).
        e.handle_input(
            now(4),
            Input::AgentLogout {
                agent: "1001".into(),
            },
        )
        .unwrap();
        outputs(&mut e);
        e.handle_input(
            now(5),
            Input::Hangup {
                call: CallId::new("c1"),
            },
        )
        .unwrap();
        let out = outputs(&mut e);
        assert!(
            out.iter().any(|o| matches!(
                o,
                Output::Log(AcdEvent::AgentStateChanged {
                    to: AgentStatus::LoggedOut,
                    ..
                })
            )),
            "{out:?}"
        );
        assert!(!e.update_agent(now(6), login("1001", &["a"])).unwrap());
    }
}
