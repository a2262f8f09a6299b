//! Test-only consistency check of the engine's structures, run after every step of the
//! property tests. It may scan everything: it is the slow, obvious definition of what
//! the fast indexes must agree with.

use super::agent::AgentState;
use super::call::CallState;
use super::engine::Engine;

impl Engine {
    pub(super) fn check_invariants(&self) -> Result<(), String> {
        let mut in_buckets = 0;
        for (qi, q) in self.queues.iter().enumerate() {
            for b in &q.buckets {
                if b.calls.is_empty() {
                    return Err(format!("queue {} keeps an empty bucket", q.id));
                }
                for k in &b.calls {
                    in_buckets += 1;
                    let call = self
                        .c_opt(k.call)
                        .ok_or_else(|| format!("bucket holds freed call {}", k.call))?;
                    if call.state != CallState::Waiting
                        || call.queue as usize != qi
                        || call.class() != b.class
                        || call.key(k.call) != *k
                    {
                        return Err(format!("call {} misfiled ({:?})", call.id, call.state));
                    }
                }
            }
            let voice = self
                .call_ids
                .values()
                .filter(|&&c| {
                    let call = self.c(c);
                    call.queue as usize == qi
                        && call.callback.is_none()
                        && matches!(call.state, CallState::Waiting | CallState::Offered { .. })
                })
                .count();
            if voice != q.voice_calls {
                return Err(format!(
                    "queue {}: voice_calls {} but {voice}",
                    q.id, q.voice_calls
                ));
            }
            let routable = self
                .agents
                .iter()
                .filter(|a| a.routable() && a.member(qi as u16).is_some())
                .count();
            if routable != q.available.len() {
                return Err(format!(
                    "queue {}: {} indexed, {routable} routable",
                    q.id,
                    q.available.len()
                ));
            }
            let staffed = self
                .agents
                .iter()
                .filter(|a| a.state.staffed() && a.member(qi as u16).is_some())
                .count();
            if staffed != q.staffed {
                return Err(format!(
                    "queue {}: staffed {} but {staffed}",
                    q.id, q.staffed
                ));
            }
        }
        let waiting = self
            .call_ids
            .values()
            .filter(|&&c| self.c(c).state == CallState::Waiting)
            .count();
        if waiting != in_buckets {
            return Err(format!(
                "{waiting} waiting calls but {in_buckets} in buckets"
            ));
        }
        for (id, &c) in &self.call_ids {
            let call = self.c(c);
            if &call.id != id {
                return Err(format!("call id map points {id} at {}", call.id));
            }
            if let CallState::Offered { agents, .. } = &call.state {
                if agents.is_empty() {
                    return Err(format!("call {id} offered to nobody"));
                }
                for a in agents {
                    if self.agents[*a as usize].state != AgentState::Ringing(c) {
                        return Err(format!("call {id} offered to a non-ringing agent"));
                    }
                }
            }
        }
        for (ai, a) in self.agents.iter().enumerate() {
            if a.indexed != a.routable() {
                return Err(format!(
                    "agent {} indexed={} routable={}",
                    a.id,
                    a.indexed,
                    a.routable()
                ));
            }
            match &a.state {
                AgentState::Ringing(c) => {
                    let ok = self
                        .c_opt(*c)
                        .is_some_and(|call| call.offered_to(ai as u32));
                    if !ok {
                        return Err(format!(
                            "agent {} rings for a call not offered to them",
                            a.id
                        ));
                    }
                }
                AgentState::OnCall(c) => {
                    let ok = self.c_opt(*c).is_some_and(|call| {
                        matches!(call.state,
                            CallState::Connected { agent, .. } | CallState::Dialing { agent }
                            if agent == ai as u32)
                    });
                    if !ok {
                        return Err(format!("agent {} on a call that is not theirs", a.id));
                    }
                }
                _ => {}
            }
            if a.routable() {
                // The obvious definition, independent of buckets and indexes.
                for &c in self.call_ids.values() {
                    let call = self.c(c);
                    if call.state != CallState::Waiting {
                        continue;
                    }
                    let q = &self.queues[call.queue as usize];
                    let class = call.class();
                    let eligible = a
                        .member(call.queue)
                        .is_some_and(|m| class.admits_tier(m.tier))
                        && a.satisfies(&class.skills)
                        && (call.callback.is_none() || q.open);
                    if eligible {
                        return Err(format!("agent {} idles while {} waits", a.id, call.id));
                    }
                }
            }
            if a.routable()
                && let Some(c) = self.find_call_for(ai as u32)
            {
                return Err(format!(
                    "agent {} is available while call {} they can take waits",
                    a.id,
                    self.c(c).id
                ));
            }
        }
        Ok(())
    }
}
