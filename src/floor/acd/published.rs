//! The ACD actor's side of the bus: every agent state change is published as the whole
//! `AgentChange` with that agent's next version, and every change of a queue's figures
//! (waiting, oldest, staffed, available, open, a supervisor's close and priority) as a
//! `QueueChange` with that queue's next version. Queue figures are compared after each
//! batch of engine outputs, so a change is published once, however many inputs led to
//! it; nothing polls.

use std::collections::HashMap;

use super::{AcdActor, AcdSnapshot, status_parts};
use crate::acd::{AgentId, AgentStatus, QueueId, Tick};
use crate::bus::{AgentChange, AgentState, Change, QueueChange};

/// The last change published per agent and per queue (their versions count on).
#[derive(Debug, Default)]
pub(super) struct Versions {
    agents: HashMap<AgentId, AgentChange>,
    /// The figures last published, with the tick the oldest caller took their place.
    queues: HashMap<QueueId, (QueueChange, Option<Tick>)>,
}

fn state_of(s: &AgentStatus) -> AgentState {
    match s {
        AgentStatus::LoggedOut => AgentState::LoggedOut,
        AgentStatus::Available => AgentState::Available,
        AgentStatus::Ringing { .. } => AgentState::Ringing,
        AgentStatus::OnCall { .. } => AgentState::OnCall,
        AgentStatus::WrapUp => AgentState::WrapUp,
        AgentStatus::Paused { .. } => AgentState::Paused,
    }
}

impl AcdActor {
    /// Publishes `agent`'s new state `to`, begun now.
    pub(super) fn publish_agent(&mut self, agent: &AgentId, to: &AgentStatus) {
        let Some(bus) = &self.bus else {
            return;
        };
        let version = self.versions.agents.get(agent).map_or(1, |a| a.version + 1);
        let (_, reason, call) = status_parts(to);
        let state = state_of(to);
        // The call in wrap-up is the one the agent last talked on.
        let call = match (&call, state) {
            (None, AgentState::WrapUp) => self.last_offer.get(agent).map(|c| c.to_string()),
            _ => call,
        };
        // The engine's memberships: all the agent's queues, or those they logged in to.
        let queues = match state {
            AgentState::LoggedOut => Vec::new(),
            _ => self
                .engine
                .agent_queues(agent)
                .map(|qs| qs.iter().map(ToString::to_string).collect())
                .unwrap_or_default(),
        };
        let change = AgentChange {
            agent: agent.to_string(),
            version,
            state,
            reason,
            call,
            since_ms: jiff::Timestamp::now().as_millisecond(),
            queues,
            next_state: self.engine.next_state(agent).map(|n| n.to_string()),
        };
        self.versions.agents.insert(agent.clone(), change.clone());
        bus.publish(Change::Agent(change));
    }

    /// Publishes `agent` again with a new version when something but the state changed
    /// (the next state asked for); the state and its start stay as published.
    pub(super) fn republish_agent(&mut self, agent: &AgentId) {
        let Some(bus) = &self.bus else {
            return;
        };
        let Some(last) = self.versions.agents.get(agent) else {
            return;
        };
        let change = AgentChange {
            version: last.version + 1,
            next_state: self.engine.next_state(agent).map(|n| n.to_string()),
            ..last.clone()
        };
        self.versions.agents.insert(agent.clone(), change.clone());
        bus.publish(Change::Agent(change));
    }

    /// Every configured agent and queue as last published, "as of" the bus sequence
    /// now: changes after it have a higher `seq` (an agent never changed since the start
    /// is logged out at version 0).
    pub(super) fn snapshot(&self) -> AcdSnapshot {
        let agents = self
            .agent_order
            .iter()
            .map(|id| {
                self.versions
                    .agents
                    .get(id)
                    .cloned()
                    .unwrap_or_else(|| AgentChange {
                        agent: id.to_string(),
                        version: 0,
                        state: AgentState::LoggedOut,
                        reason: None,
                        call: None,
                        since_ms: 0,
                        queues: Vec::new(),
                        next_state: None,
                    })
            })
            .collect();
        let queues = self
            .queue_order
            .iter()
            .filter_map(|q| self.versions.queues.get(q).map(|(c, _)| c.clone()))
            .collect();
        AcdSnapshot {
            as_of_seq: self.bus.as_ref().map_or(0, |b| b.last_seq()),
            epoch: self.bus.as_ref().map_or(0, |b| b.epoch()),
            agents,
            queues,
        }
    }

    /// Publishes every queue whose figures changed since last published.
    pub(super) fn publish_queues(&mut self) {
        let Some(bus) = &self.bus else {
            return;
        };
        let now = self.now();
        let now_ms = now.wall.as_millisecond();
        for id in &self.queue_order {
            let Some(s) = self.engine.queue_status(id) else {
                continue;
            };
            let oldest = self.engine.oldest_since(id);
            let last = self.versions.queues.get(id);
            let unchanged = last.is_some_and(|(l, tick)| {
                l.open == s.open
                    && l.waiting == s.waiting
                    && l.staffed == s.staffed
                    && l.available == s.available
                    && l.closed_by_hand == s.closed_by_hand
                    && l.priority == s.priority
                    && *tick == oldest
            });
            if unchanged {
                continue;
            }
            let oldest_since_ms = oldest.map(|since| {
                now_ms - i64::try_from(now.tick.since(since).as_millis()).unwrap_or(0)
            });
            let change = QueueChange {
                queue: id.to_string(),
                version: last.map_or(1, |(l, _)| l.version + 1),
                open: s.open,
                waiting: s.waiting,
                oldest_since_ms,
                staffed: s.staffed,
                available: s.available,
                closed_by_hand: s.closed_by_hand,
                priority: s.priority,
            };
            self.versions
                .queues
                .insert(id.clone(), (change.clone(), oldest));
            bus.publish(Change::Queue(change));
        }
    }
}
