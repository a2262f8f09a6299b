//! Agent inputs: login (settings follow the login), ready, pause with a reason, logout,
//! wrap-up, and the timers that end wrap-up or a reject delay. See `agent.rs` for the
//! state diagram.

use std::time::Duration;

use super::AcdError;
use super::agent::{Agent, AgentState, Member, Pending};
use super::call::CallState;
use super::config::SYSTEM_PAUSE_REASONS;
use super::config::WrapUp;
use super::engine::Engine;
use super::event::{AcdEvent, AgentLogin, CancelReason, NextState, Output, SystemPause};
use super::ids::{AgentId, CallId};
use super::timers::{AgentIdx, CallIdx, CallTimer, QueueIdx};

impl Engine {
    pub(super) fn login(&mut self, l: AgentLogin) -> Result<(), AcdError> {
        // Validate everything before changing anything.
        let mut members: Vec<Member> = Vec::new();
        for m in &l.memberships {
            let queue = self.queue_idx(&m.queue)?;
            if members.iter().all(|x| x.queue != queue) {
                members.push(Member {
                    queue,
                    tier: m.tier.max(1),
                    last_offered: 0,
                });
            }
        }
        let mut skills = Vec::new();
        for s in &l.skills {
            skills.push(self.skill(&s.skill, s.level)?);
        }
        skills.sort_unstable();
        skills.dedup_by_key(|(s, _)| *s);
        let now = self.now.tick;
        let a = match self.agent_ids.get(&l.agent) {
            Some(&a) => {
                let state = &self.agents[a as usize].state;
                if matches!(
                    state,
                    AgentState::Ringing(_) | AgentState::OnCall(_) | AgentState::Direct(_)
                ) {
                    return Err(AcdError::AgentBusy(l.agent));
                }
                a
            }
            None => {
                let a =
                    AgentIdx::try_from(self.agents.len()).map_err(|_| AcdError::TooManyAgents)?;
                self.agents.push(Agent::new(l.agent.clone(), now));
                self.agent_ids.insert(l.agent.clone(), a);
                a
            }
        };
        self.unindex_agent(a);
        self.cancel_agent_timer(a);
        self.set_members(a, members);
        let agent = &mut self.agents[a as usize];
        if agent.state == AgentState::LoggedOut {
            agent.calls_answered = 0;
        }
        agent.skills = skills;
        agent.pending = None;
        agent.blocked = false;
        let target = if l.ready {
            if agent.state != AgentState::Available {
                agent.idle_since = now;
            }
            AgentState::Available
        } else {
            AgentState::Paused("login".to_string())
        };
        self.set_agent_state(a, target);
        self.route_agent(a);
        Ok(())
    }

    /// Gives agent `a` its new queue memberships, moving its staffed counts from the old
    /// queues to the new ones when it is staffed.
    pub(super) fn set_members(&mut self, a: AgentIdx, members: Vec<Member>) {
        if self.agents[a as usize].state.staffed() {
            for m in &self.agents[a as usize].members {
                let q = &mut self.queues[m.queue as usize];
                q.staffed = q.staffed.saturating_sub(1);
            }
            for m in &members {
                self.queues[m.queue as usize].staffed += 1;
            }
        }
        self.agents[a as usize].members = members;
    }

    pub(super) fn logged_in(&self, id: &AgentId) -> Result<AgentIdx, AcdError> {
        let a = self.agent_idx(id)?;
        if self.agents[a as usize].state == AgentState::LoggedOut {
            return Err(AcdError::NotLoggedIn(id.clone()));
        }
        Ok(a)
    }

    pub(super) fn ready(&mut self, id: &AgentId) -> Result<(), AcdError> {
        let a = self.logged_in(id)?;
        match self.agents[a as usize].state.clone() {
            AgentState::Paused(_) => {
                self.agents[a as usize].idle_since = self.now.tick;
                self.set_agent_state(a, AgentState::Available);
                self.route_agent(a);
            }
            AgentState::WrapUp(_) => self.after_call(a),
            AgentState::Ringing(_) | AgentState::OnCall(_) | AgentState::Direct(_) => {
                self.agents[a as usize].pending = None;
            }
            AgentState::Available | AgentState::LoggedOut => {}
        }
        Ok(())
    }

    pub(super) fn pause(&mut self, id: &AgentId, reason: String) -> Result<(), AcdError> {
        if SYSTEM_PAUSE_REASONS.contains(&reason.as_str()) {
            return Err(AcdError::SystemPauseReason(reason));
        }
        if !self.pause_reason_known(&reason) {
            return Err(AcdError::UnknownPauseReason(reason));
        }
        self.pause_now(id, reason)
    }

    /// A pause the system decides: like an agent's, with a reason no agent may pick.
    pub(super) fn system_pause(
        &mut self,
        id: &AgentId,
        reason: SystemPause,
    ) -> Result<(), AcdError> {
        self.pause_now(id, reason.reason().to_string())
    }

    /// On a call: paused when it (and wrap-up) ends. Ringing: the offer goes to someone
    /// else. Otherwise paused at once (ending wrap-up).
    fn pause_now(&mut self, id: &AgentId, reason: String) -> Result<(), AcdError> {
        let a = self.logged_in(id)?;
        match self.agents[a as usize].state.clone() {
            AgentState::OnCall(_) | AgentState::Direct(_) => {
                self.agents[a as usize].pending = Some(Pending::Pause(reason));
            }
            AgentState::Ringing(c) => {
                self.withdraw(c, a, CancelReason::AgentPaused);
                self.set_agent_state(a, AgentState::Paused(reason));
            }
            _ => {
                self.unindex_agent(a);
                self.cancel_agent_timer(a);
                self.agents[a as usize].blocked = false;
                self.set_agent_state(a, AgentState::Paused(reason));
            }
        }
        Ok(())
    }

    pub(super) fn logout(&mut self, id: &AgentId) -> Result<(), AcdError> {
        let a = self.agent_idx(id)?;
        match self.agents[a as usize].state.clone() {
            AgentState::LoggedOut => {}
            AgentState::OnCall(_) | AgentState::Direct(_) => {
                self.agents[a as usize].pending = Some(Pending::Logout)
            }
            AgentState::Ringing(c) => {
                self.withdraw(c, a, CancelReason::AgentLoggedOut);
                self.set_agent_state(a, AgentState::LoggedOut);
            }
            _ => {
                self.unindex_agent(a);
                self.cancel_agent_timer(a);
                self.agents[a as usize].blocked = false;
                self.set_agent_state(a, AgentState::LoggedOut);
            }
        }
        Ok(())
    }

    /// Records what the agent becomes when the call and wrap-up end; only on a call or in
    /// wrap-up (otherwise the agent just changes state now).
    pub(super) fn set_next_state(&mut self, id: &AgentId, next: NextState) -> Result<(), AcdError> {
        let a = self.logged_in(id)?;
        let state = &self.agents[a as usize].state;
        if !matches!(state, AgentState::OnCall(_) | AgentState::WrapUp(_)) {
            let state = self.status_of(state);
            return Err(AcdError::NoCallToFollow {
                agent: id.clone(),
                state,
            });
        }
        let pending = match next {
            NextState::Available => Pending::Available,
            NextState::LoggedOut => Pending::Logout,
            NextState::Paused { reason } => {
                if SYSTEM_PAUSE_REASONS.contains(&reason.as_str()) {
                    return Err(AcdError::SystemPauseReason(reason));
                }
                if !self.pause_reason_known(&reason) {
                    return Err(AcdError::UnknownPauseReason(reason));
                }
                Pending::Pause(reason)
            }
        };
        self.agents[a as usize].pending = Some(pending);
        Ok(())
    }

    /// What the agent asked to become when the call or wrap-up ends, if anything.
    pub fn next_state(&self, id: &AgentId) -> Option<NextState> {
        let a = *self.agent_ids.get(id)?;
        Some(match self.agents[a as usize].pending.as_ref()? {
            Pending::Available => NextState::Available,
            Pending::Pause(r) => NextState::Paused { reason: r.clone() },
            Pending::Logout => NextState::LoggedOut,
        })
    }

    pub(super) fn wrap_up_ended(&mut self, id: &AgentId) -> Result<(), AcdError> {
        let a = self.logged_in(id)?;
        if !matches!(self.agents[a as usize].state, AgentState::WrapUp(_)) {
            let state = self.status_of(&self.agents[a as usize].state);
            return Err(AcdError::NotInWrapUp {
                agent: id.clone(),
                state,
            });
        }
        self.after_call(a);
        Ok(())
    }

    /// A call straight to agent `id` (a transfer): only an available agent takes one.
    pub(super) fn direct_call(&mut self, id: &AgentId, call: CallId) -> Result<(), AcdError> {
        let a = self.logged_in(id)?;
        if self.agents[a as usize].state != AgentState::Available {
            return Err(AcdError::AgentBusy(id.clone()));
        }
        self.unindex_agent(a);
        self.cancel_agent_timer(a);
        self.agents[a as usize].blocked = false;
        self.set_agent_state(a, AgentState::Direct(call));
        Ok(())
    }

    /// The direct call `call` ended for agent `id`: no wrap-up (no queue's setting
    /// applies), what they asked for meanwhile, else available.
    pub(super) fn direct_ended(&mut self, id: &AgentId, call: &CallId) -> Result<(), AcdError> {
        let a = self.agent_idx(id)?;
        if self.agents[a as usize].state != AgentState::Direct(call.clone()) {
            return Err(AcdError::UnknownCall(call.clone()));
        }
        self.after_call(a);
        Ok(())
    }

    /// The ringing agent leaves an offer (paused or logged out while ringing).
    fn withdraw(&mut self, c: CallIdx, a: AgentIdx, reason: CancelReason) {
        let CallState::Offered { mut agents, since } = self.c(c).state.clone() else {
            return;
        };
        agents.retain(|x| *x != a);
        let (call, agent) = (self.c(c).id.clone(), self.agents[a as usize].id.clone());
        self.emit(Output::CancelOffer {
            call: call.clone(),
            agent: agent.clone(),
        });
        self.log(AcdEvent::OfferCancelled {
            call,
            agent,
            reason,
        });
        let empty = agents.is_empty();
        self.c_mut(c).state = CallState::Offered { agents, since };
        if empty {
            self.cancel_call_timer(c, CallTimer::Ring);
            self.c_mut(c).state = CallState::Waiting;
            let (qi, class, key) = (self.c(c).queue, self.c(c).class(), self.c(c).key(c));
            self.queues[qi as usize].insert_call(class, key);
            // The ringing agent is in no index, so someone else gets it (or it waits).
            self.route_call(c);
        }
    }

    /// The talk ended: after-call work per the queue's setting.
    pub(super) fn start_wrap_up(&mut self, a: AgentIdx, qi: QueueIdx) {
        match self.queues[qi as usize].cfg.wrap_up {
            WrapUp::Auto { secs: 0 } => self.after_call(a),
            WrapUp::Auto { secs } => {
                self.set_agent_state(a, AgentState::WrapUp(qi));
                self.set_agent_timer(a, Duration::from_secs(secs));
            }
            WrapUp::Manual { max_secs } => {
                self.set_agent_state(a, AgentState::WrapUp(qi));
                match max_secs {
                    Some(s) => self.set_agent_timer(a, Duration::from_secs(s)),
                    None => self.cancel_agent_timer(a),
                }
            }
        }
    }

    /// Wrap-up is over (or there was none): apply what the agent asked for meanwhile,
    /// otherwise available and routed at once.
    pub(super) fn after_call(&mut self, a: AgentIdx) {
        self.cancel_agent_timer(a);
        match self.agents[a as usize].pending.take() {
            Some(Pending::Pause(r)) => self.set_agent_state(a, AgentState::Paused(r)),
            Some(Pending::Logout) => self.set_agent_state(a, AgentState::LoggedOut),
            Some(Pending::Available) | None => {
                self.agents[a as usize].idle_since = self.now.tick;
                self.set_agent_state(a, AgentState::Available);
                self.route_agent(a);
            }
        }
    }

    pub(super) fn agent_timer(&mut self, a: AgentIdx) {
        match self.agents[a as usize].state {
            AgentState::WrapUp(_) => self.after_call(a),
            AgentState::Available if self.agents[a as usize].blocked => {
                self.agents[a as usize].blocked = false;
                self.route_agent(a);
            }
            _ => {}
        }
    }
}
