//! Matching calls and agents: the strategies, the availability indexes, and the offer.
//!
//! Two questions, both answered from the front of ordered sets:
//! - a call became routable: which available member of its queue takes it (strategy
//!   order within the lowest tier allowed, skills checked against the rarest skill's
//!   index);
//! - an agent became routable: which call, over all the agent's queues, is the
//!   highest-priority, longest-waiting one the agent can take (one head per bucket).

use std::time::Duration;

use super::agent::AgentState;
use super::call::CallState;
use super::config::{MAX_PROFICIENCY, Strategy};
use super::engine::Engine;
use super::event::{AcdEvent, Output};
use super::queue::{AvailKey, CallKey, Class, SkillIdx};
use super::timers::{AgentIdx, CallIdx, CallTimer, QueueIdx};

/// An agent's place in one queue: the queue, its availability key, its per-skill keys.
type IndexKeys = (QueueIdx, AvailKey, Vec<(SkillIdx, AvailKey)>);

impl Engine {
    fn avail_key(&self, qi: QueueIdx, a: AgentIdx) -> Option<AvailKey> {
        let agent = &self.agents[a as usize];
        let m = agent.member(qi)?;
        let idle = agent.idle_since.0;
        let (metric, tie) = match self.queues[qi as usize].strategy() {
            Strategy::LongestIdle | Strategy::RingAll | Strategy::Skills => (idle, 0),
            Strategy::FewestCalls => (agent.calls_answered as i64, idle),
            Strategy::RoundRobin => (m.last_offered as i64, idle),
        };
        Some((m.tier, metric, tie, a))
    }

    fn skill_key(&self, qi: QueueIdx, a: AgentIdx, level: u8, base: AvailKey) -> AvailKey {
        match self.queues[qi as usize].strategy() {
            Strategy::Skills => (
                base.0,
                i64::from(MAX_PROFICIENCY - level.min(MAX_PROFICIENCY)),
                self.agents[a as usize].idle_since.0,
                a,
            ),
            _ => base,
        }
    }

    /// Put a routable agent in the indexes of every queue they serve.
    pub(super) fn index_agent(&mut self, a: AgentIdx) {
        if self.agents[a as usize].indexed || !self.agents[a as usize].routable() {
            return;
        }
        for (qi, key, skill_keys) in self.index_keys(a) {
            let q = &mut self.queues[qi as usize];
            q.available.insert(key);
            for (s, k) in skill_keys {
                q.by_skill.entry(s).or_default().insert(k);
            }
        }
        self.agents[a as usize].indexed = true;
    }

    /// Take an agent out of the indexes, before anything in its keys changes.
    pub(super) fn unindex_agent(&mut self, a: AgentIdx) {
        if !self.agents[a as usize].indexed {
            return;
        }
        for (qi, key, skill_keys) in self.index_keys(a) {
            let q = &mut self.queues[qi as usize];
            q.available.remove(&key);
            for (s, k) in skill_keys {
                if let Some(set) = q.by_skill.get_mut(&s) {
                    set.remove(&k);
                }
            }
        }
        self.agents[a as usize].indexed = false;
    }

    /// Where an agent sits in each of its queues' indexes: the availability key, and the
    /// key under each of its skills. Indexing and unindexing must agree on these exactly.
    fn index_keys(&self, a: AgentIdx) -> Vec<IndexKeys> {
        let agent = &self.agents[a as usize];
        agent
            .members
            .iter()
            .filter_map(|m| {
                let key = self.avail_key(m.queue, a)?;
                let skills = agent
                    .skills
                    .iter()
                    .map(|(s, l)| (*s, self.skill_key(m.queue, a, *l, key)))
                    .collect();
                Some((m.queue, key, skills))
            })
            .collect()
    }

    /// The members to offer a waiting call to: one, or every eligible one for ring-all.
    pub(super) fn find_agents_for(&self, c: CallIdx) -> Vec<AgentIdx> {
        let call = self.c(c);
        let q = &self.queues[call.queue as usize];
        let class = call.class();
        if class.callback && !q.open {
            return Vec::new();
        }
        // A callback reserves one agent, whatever the strategy.
        let ring_all = q.strategy() == Strategy::RingAll && !class.callback;
        let in_tier = |k: &AvailKey| class.admits_tier(k.0);
        if class.skills.is_empty() {
            let it = q.available.iter().take_while(|k| in_tier(k)).map(|k| k.3);
            return if ring_all {
                it.collect()
            } else {
                it.take(1).collect()
            };
        }
        // Walk the index of the rarest required skill.
        let mut rarest = None;
        for (s, _) in &class.skills {
            match q.by_skill.get(s) {
                Some(set) if !set.is_empty() => {
                    if rarest.is_none_or(|(_, n)| set.len() < n) {
                        rarest = Some((set, set.len()));
                    }
                }
                _ => return Vec::new(),
            }
        }
        let Some((set, _)) = rarest else {
            return Vec::new();
        };
        let fits = |a: AgentIdx| self.agents[a as usize].satisfies(&class.skills);
        let candidates = set.iter().take_while(|k| in_tier(k));
        match q.strategy() {
            Strategy::RingAll if ring_all => candidates.map(|k| k.3).filter(|a| fits(*a)).collect(),
            Strategy::Skills => self.best_skill_match(candidates, &class),
            _ => candidates
                .map(|k| k.3)
                .find(|a| fits(*a))
                .into_iter()
                .collect(),
        }
    }

    /// Skills strategy: lowest tier, then highest sum of levels, then longest idle. The
    /// index is ordered by level in the walked skill, so the walk stops once no later
    /// agent could beat the best score.
    fn best_skill_match<'a>(
        &self,
        candidates: impl Iterator<Item = &'a AvailKey>,
        class: &Class,
    ) -> Vec<AgentIdx> {
        let others = u32::from(MAX_PROFICIENCY) * (class.skills.len() as u32 - 1);
        let mut best: Option<(u8, u32, i64, AgentIdx)> = None;
        for &(tier, inv_level, idle, a) in candidates {
            let level = u32::from(MAX_PROFICIENCY) - inv_level as u32;
            if let Some((bt, bs, _, _)) = best
                && (tier > bt || level + others < bs)
            {
                break;
            }
            let agent = &self.agents[a as usize];
            if !agent.satisfies(&class.skills) {
                continue;
            }
            let score = agent.score(&class.skills);
            let better = match best {
                None => true,
                Some((_, bs, bidle, _)) => score > bs || (score == bs && idle < bidle),
            };
            if better {
                best = Some((tier, score, idle, a));
            }
        }
        best.map(|b| vec![b.3]).unwrap_or_default()
    }

    /// The call a routable agent should take next, over all their queues.
    pub(super) fn find_call_for(&self, a: AgentIdx) -> Option<CallIdx> {
        let agent = &self.agents[a as usize];
        let mut best: Option<CallKey> = None;
        for m in &agent.members {
            let q = &self.queues[m.queue as usize];
            for b in &q.buckets {
                if (b.class.callback && !q.open)
                    || !b.class.admits_tier(m.tier)
                    || !agent.satisfies(&b.class.skills)
                {
                    continue;
                }
                if let Some(head) = b.calls.first()
                    && best.is_none_or(|k| *head < k)
                {
                    best = Some(*head);
                }
            }
        }
        best.map(|k| k.call)
    }

    /// A call became routable (joined, came back, widened): offer it if someone can take it.
    pub(super) fn route_call(&mut self, c: CallIdx) {
        if self.c(c).state != CallState::Waiting {
            return;
        }
        let agents = self.find_agents_for(c);
        if !agents.is_empty() {
            self.offer(c, agents);
        }
    }

    /// An agent became routable: give them the best call they can take.
    pub(super) fn route_agent(&mut self, a: AgentIdx) {
        if !self.agents[a as usize].routable() {
            return;
        }
        self.index_agent(a);
        if let Some(c) = self.find_call_for(a) {
            self.offer(c, vec![a]);
        }
    }

    /// Take a waiting call out of its bucket and ring these agents with it.
    pub(super) fn offer(&mut self, c: CallIdx, agents: Vec<AgentIdx>) {
        let now = self.now.tick;
        let (qi, class, key) = {
            let call = self.c(c);
            (call.queue, call.class(), call.key(c))
        };
        self.queues[qi as usize].remove_call(&class, &key);
        self.c_mut(c).state = CallState::Offered {
            agents: agents.clone(),
            since: now,
        };
        let ring = Duration::from_secs(self.queues[qi as usize].cfg.ring_timeout_secs);
        self.set_call_timer(c, CallTimer::Ring, ring);
        let (call_id, queue_id) = (self.c(c).id.clone(), self.queues[qi as usize].id.clone());
        let waited_ms = now.since(self.c(c).first_enqueued).as_millis() as u64;
        for a in agents {
            self.unindex_agent(a);
            let q = &mut self.queues[qi as usize];
            q.offer_seq += 1;
            let seq = q.offer_seq;
            if let Some(m) = self.agents[a as usize]
                .members
                .iter_mut()
                .find(|m| m.queue == qi)
            {
                m.last_offered = seq;
            }
            self.set_agent_state(a, AgentState::Ringing(c));
            let agent_id = self.agents[a as usize].id.clone();
            match &self.c(c).callback {
                Some(cb) => {
                    let o = Output::StartCallback {
                        call: call_id.clone(),
                        agent: agent_id.clone(),
                        number: cb.number.clone(),
                        attempt: cb.attempts + 1,
                        variables: self.c(c).variables.clone(),
                    };
                    let e = AcdEvent::CallbackStarted {
                        call: call_id.clone(),
                        agent: agent_id,
                        attempt: cb.attempts + 1,
                    };
                    self.emit(o);
                    self.log(e);
                }
                None => {
                    self.emit(Output::Offer {
                        call: call_id.clone(),
                        agent: agent_id.clone(),
                        queue: queue_id.clone(),
                    });
                    self.log(AcdEvent::Offered {
                        call: call_id.clone(),
                        agent: agent_id,
                        queue: queue_id.clone(),
                        waited_ms,
                    });
                }
            }
        }
    }
}
