//! Control of the floor by a supervisor: a waiting call sent to a chosen agent, a queue
//! closed for an emergency (and reopened to its schedule), a queue's priority changed.
//!
//! - `assign` offers a waiting call to one agent now, whatever their queues and skills,
//!   if they are available (else refused with why); the offer then runs as any other
//!   (ring timeout, answer, ring-no-answer back to the head of the line).
//! - `set_closed` closes a queue on top of its schedule: new callers follow the queue's
//!   `closed` destination exactly as after hours, and `drain_on_close` applies. Reopening
//!   gives the queue back to its schedule (an emergency close never opens a queue out of
//!   hours).
//! - `set_priority` gives every caller waiting in the queue, and every one who joins it
//!   later, that priority instead of their own: agents who serve several queues take the
//!   higher-priority queue's callers first. Lifting it (`None`) lets callers who join from
//!   then on keep their own; those already waiting keep the one they were given.
//!
//! A hand close and a priority survive a config reload (the queue keeps its place). The
//! engine keeps no state across a restart: the ACD actor saves the overrides
//! (`queue_status`'s `closed_by_hand`, `priority`) and feeds them back at start.

use super::AcdError;
use super::call::CallState;
use super::engine::Engine;
use super::ids::{AgentId, CallId, QueueId};
use super::timers::CallIdx;

impl Engine {
    /// The queue a call waits in (or is being offered from); `None` when not in the ACD.
    pub fn call_queue(&self, call: &CallId) -> Option<QueueId> {
        let c = *self.call_ids.get(call)?;
        Some(self.queues[self.c(c).queue as usize].id.clone())
    }

    pub(super) fn assign(&mut self, call: &CallId, agent: &AgentId) -> Result<(), AcdError> {
        let c = *self
            .call_ids
            .get(call)
            .ok_or_else(|| AcdError::UnknownCall(call.clone()))?;
        if self.c(c).state != CallState::Waiting {
            return Err(AcdError::NotWaiting(call.clone()));
        }
        let a = self.logged_in(agent)?;
        if !self.agents[a as usize].routable() {
            return Err(AcdError::AgentNotReady(agent.clone()));
        }
        self.offer(c, vec![a]);
        Ok(())
    }

    pub(super) fn set_closed(&mut self, queue: &QueueId, closed: bool) -> Result<(), AcdError> {
        let qi = self.queue_idx(queue)?;
        self.queues[qi as usize].closed_by_hand = closed;
        self.schedule_boundary(qi);
        Ok(())
    }

    pub(super) fn set_priority(
        &mut self,
        queue: &QueueId,
        priority: Option<u8>,
    ) -> Result<(), AcdError> {
        let qi = self.queue_idx(queue)?;
        self.queues[qi as usize].priority = priority;
        let Some(priority) = priority else {
            return Ok(());
        };
        let waiting: Vec<CallIdx> = self.queues[qi as usize]
            .buckets
            .iter()
            .flat_map(|b| b.calls.iter().map(|k| k.call))
            .collect();
        for c in waiting {
            let (class, key) = (self.c(c).class(), self.c(c).key(c));
            self.queues[qi as usize].remove_call(&class, &key);
            self.c_mut(c).priority = priority;
            let key = self.c(c).key(c);
            self.queues[qi as usize].insert_call(class, key);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::Harness;
    use super::super::*;

    fn assign(h: &mut Harness, call: &str, agent: &str) -> Result<(), AcdError> {
        h.input(Input::AssignCall {
            call: call.into(),
            agent: agent.into(),
        })
    }

    #[test]
    fn a_waiting_call_goes_to_the_chosen_agent_only_if_ready() {
        let mut h = Harness::new(vec![QueueConfig::new("q"), QueueConfig::new("other")]);
        h.login("a1", &[("q", 1)], &[]);
        h.login("a2", &[("other", 1)], &[]);
        h.ok(Input::AgentPause {
            agent: "a1".into(),
            reason: "lunch".into(),
        });
        h.call("c1", "q", 0, &[]);
        assert_eq!(h.offers(), vec![], "nobody of q is ready");
        assert!(matches!(
            assign(&mut h, "c1", "a1"),
            Err(AcdError::AgentNotReady(_))
        ));
        assert!(matches!(
            assign(&mut h, "nope", "a2"),
            Err(AcdError::UnknownCall(_))
        ));
        assert!(matches!(
            assign(&mut h, "c1", "ghost"),
            Err(AcdError::UnknownAgent(_))
        ));
        assign(&mut h, "c1", "a2").expect("a2 is available");
        assert_eq!(h.offers(), vec![("c1".to_owned(), "a2".to_owned())]);
        assert!(
            matches!(assign(&mut h, "c1", "a2"), Err(AcdError::NotWaiting(_))),
            "already ringing"
        );
        h.answer("c1", "a2");
        assert_eq!(h.status("a2"), AgentStatus::OnCall { call: "c1".into() });
    }

    #[test]
    fn a_queue_closed_by_hand_routes_new_callers_like_after_hours_until_reopened() {
        let mut h = Harness::new(vec![QueueConfig::new("q")]);
        h.ok(Input::SetQueueClosed {
            queue: "q".into(),
            closed: true,
        });
        let out = h.take();
        assert!(out.contains(&Output::Log(AcdEvent::QueueClosed { queue: "q".into() })));
        h.call("c1", "q", 0, &[]);
        let out = h.take();
        assert!(
            out.iter().any(|o| matches!(
                o,
                Output::RouteTo { call, reason: RouteReason::Closed, .. } if call.as_str() == "c1"
            )),
            "{out:?}"
        );
        h.ok(Input::SetQueueClosed {
            queue: "q".into(),
            closed: false,
        });
        assert!(
            h.take()
                .contains(&Output::Log(AcdEvent::QueueOpened { queue: "q".into() }))
        );
        h.login("a1", &[("q", 1)], &[]);
        h.call("c2", "q", 0, &[]);
        assert_eq!(h.offers(), vec![("c2".to_owned(), "a1".to_owned())]);
        assert!(
            h.input(Input::SetQueueClosed {
                queue: "nope".into(),
                closed: true
            })
            .is_err()
        );
    }

    #[test]
    fn a_queue_given_priority_is_served_first_by_agents_of_both() {
        let mut h = Harness::new(vec![QueueConfig::new("a"), QueueConfig::new("b")]);
        h.login("x", &[("a", 1), ("b", 1)], &[]);
        h.ok(Input::AgentPause {
            agent: "x".into(),
            reason: "lunch".into(),
        });
        h.call("old", "a", 0, &[]);
        h.advance(5);
        h.call("new", "b", 0, &[]);
        h.ok(Input::SetQueuePriority {
            queue: "b".into(),
            priority: Some(9),
        });
        let b = h.engine.queue_status(&"b".into()).expect("b");
        assert_eq!((b.priority, b.closed_by_hand), (Some(9), false));
        h.ok(Input::AgentReady { agent: "x".into() });
        assert_eq!(
            h.offers(),
            vec![("new".to_owned(), "x".to_owned())],
            "b's caller first although a's waited longer"
        );
    }

    #[test]
    fn a_lifted_priority_lets_new_callers_keep_their_own() {
        let mut h = Harness::new(vec![QueueConfig::new("a"), QueueConfig::new("b")]);
        h.login("x", &[("a", 1), ("b", 1)], &[]);
        h.ok(Input::AgentPause {
            agent: "x".into(),
            reason: "lunch".into(),
        });
        h.ok(Input::SetQueuePriority {
            queue: "b".into(),
            priority: Some(9),
        });
        h.ok(Input::SetQueuePriority {
            queue: "b".into(),
            priority: None,
        });
        assert_eq!(
            h.engine.queue_status(&"b".into()).expect("b").priority,
            None
        );
        h.call("old", "a", 0, &[]);
        h.advance(5);
        h.call("new", "b", 0, &[]);
        h.ok(Input::AgentReady { agent: "x".into() });
        assert_eq!(
            h.offers(),
            vec![("old".to_owned(), "x".to_owned())],
            "the longest wait first again"
        );
    }
}
