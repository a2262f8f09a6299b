//! The ACD engine: one owner of every queue, agent and waiting call, sans-IO.
//!
//! The shell feeds `handle_input(now, input)` and `handle_timeout(now)`, then drains
//! `poll_output()` until `None` and sleeps until `next_timeout()`. The engine never reads
//! a clock, never does IO and never panics on input: a bad input returns `AcdError` and
//! changes nothing. Decisions are taken the moment something changes (a call joins, an
//! agent frees up, a call widens), so an available agent never idles while a call they
//! can take waits, and nobody polls (unlike app_queue.c's `is_our_turn()` loop).

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use super::AcdError;
use super::agent::{self, Agent, AgentState};
use super::call::Call;
use super::config::{Destination, EngineConfig, Escalation, MAX_PROFICIENCY, SYSTEM_PAUSE_REASONS};
use super::event::{AcdEvent, AgentStatus, Input, Output};
use super::ids::{AgentId, CallId, Now, QueueId, SkillId, Tick};
use super::queue::{Queue, SkillIdx};
use super::timers::{AgentIdx, CallIdx, CallTimer, QueueIdx, Timer, Timers};
use crate::schedule::Schedule;

/// A queue as the wallboard shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct QueueStatus {
    pub queue: QueueId,
    pub open: bool,
    /// Members waiting for an agent (voice and due callbacks), not counting those ringing.
    pub waiting: usize,
    pub voice_calls: usize,
    pub staffed: usize,
    pub available: usize,
    pub aht_secs: f64,
    /// Closed by a supervisor on top of its schedule (`open` is then false).
    pub closed_by_hand: bool,
    /// The priority a supervisor gave every caller of the queue.
    pub priority: Option<u8>,
}

#[derive(Debug)]
pub struct Engine {
    pub(super) queues: Vec<Queue>,
    pub(super) queue_ids: HashMap<QueueId, QueueIdx>,
    pub(super) skill_ids: HashMap<SkillId, SkillIdx>,
    pub(super) skill_names: Vec<SkillId>,
    pub(super) agents: Vec<Agent>,
    pub(super) agent_ids: HashMap<AgentId, AgentIdx>,
    pub(super) calls: Vec<Option<Call>>,
    pub(super) free_calls: Vec<CallIdx>,
    pub(super) call_ids: HashMap<CallId, CallIdx>,
    pub(super) pause_reasons: HashSet<String>,
    pub(super) timers: Timers,
    pub(super) out: VecDeque<Output>,
    pub(super) seq: u64,
    pub(super) now: Now,
}

impl Engine {
    /// Validates the configuration, compiles opening hours and opens the queues that are
    /// open at `now`.
    pub fn new(config: EngineConfig, now: Now) -> Result<Engine, AcdError> {
        let mut queues = Vec::new();
        let mut queue_ids = HashMap::new();
        for qc in config.queues {
            if queue_ids.contains_key(&qc.id) {
                return Err(AcdError::DuplicateQueue(qc.id));
            }
            let schedule = match &qc.schedule {
                Some(spec) => Schedule::compile(spec).map_err(|source| AcdError::Schedule {
                    queue: qc.id.clone(),
                    source,
                })?,
                None => Schedule::always_open(),
            };
            let idx = QueueIdx::try_from(queues.len()).map_err(|_| AcdError::TooManyQueues)?;
            queue_ids.insert(qc.id.clone(), idx);
            queues.push(Queue::new(qc, schedule));
        }
        // Every queue named in a destination or an overflow must exist.
        for q in &queues {
            let mut targets: Vec<&Destination> = vec![&q.cfg.closed];
            targets.extend(q.cfg.max_wait.as_ref().map(|l| &l.destination));
            targets.extend(q.cfg.max_length.as_ref().map(|l| &l.destination));
            let mut overflow = Vec::new();
            for step in &q.cfg.escalation {
                match &step.action {
                    Escalation::SendTo { destination } => targets.push(destination),
                    Escalation::Overflow { queue } => overflow.push(queue),
                    _ => {}
                }
            }
            for t in targets {
                if let Destination::Queue { queue } = t {
                    overflow.push(queue);
                }
            }
            if let Some(bad) = overflow.into_iter().find(|t| !queue_ids.contains_key(*t)) {
                return Err(AcdError::UnknownTarget {
                    queue: q.id.clone(),
                    target: bad.clone(),
                });
            }
        }
        for q in &mut queues {
            q.cfg.escalation.sort_by_key(|s| s.after_secs);
        }
        let pause_reasons = agent_pause_reasons(config.pause_reasons);
        let mut engine = Engine {
            queues,
            queue_ids,
            skill_ids: HashMap::new(),
            skill_names: Vec::new(),
            agents: Vec::new(),
            agent_ids: HashMap::new(),
            calls: Vec::new(),
            free_calls: Vec::new(),
            call_ids: HashMap::new(),
            pause_reasons,
            timers: Timers::default(),
            out: VecDeque::new(),
            seq: 0,
            now,
        };
        for qi in 0..engine.queues.len() {
            let qi = qi as QueueIdx;
            let open = engine.queues[qi as usize].schedule.is_open(now.wall);
            engine.queues[qi as usize].open = open;
            engine.arm_schedule(qi);
        }
        Ok(engine)
    }

    /// Feed one input. Timers due by `now` fire first, so a late `handle_timeout` cannot
    /// reorder decisions.
    pub fn handle_input(&mut self, now: Now, input: Input) -> Result<(), AcdError> {
        self.handle_timeout(now);
        match input {
            Input::Enqueue(call) => self.enqueue(call),
            Input::AgentLogin(login) => self.login(login),
            Input::AgentReady { agent } => self.ready(&agent),
            Input::AgentPause { agent, reason } => self.pause(&agent, reason),
            Input::SystemPause { agent, reason } => self.system_pause(&agent, reason),
            Input::NextState { agent, next } => self.set_next_state(&agent, next),
            Input::AgentLogout { agent } => self.logout(&agent),
            Input::WrapUpEnded { agent } => self.wrap_up_ended(&agent),
            Input::OfferAnswered { call, agent } => self.offer_answered(&call, &agent),
            Input::OfferRejected { call, agent } => self.offer_failed(&call, &agent, true),
            Input::OfferNotAnswered { call, agent } => self.offer_failed(&call, &agent, false),
            Input::Hangup { call } => self.hangup(&call),
            Input::DirectCall { agent, call } => self.direct_call(&agent, call),
            Input::DirectEnded { agent, call } => self.direct_ended(&agent, &call),
            Input::CallbackRequested {
                call,
                number,
                keep_place,
                not_before,
            } => self.callback_requested(&call, number, keep_place, not_before),
            Input::CallbackResult { call, outcome } => self.callback_result(&call, outcome),
            Input::ScheduleCallback(cb) => self.schedule_requested_callback(cb),
            Input::AssignCall { call, agent } => self.assign(&call, &agent),
            Input::SetQueueClosed { queue, closed } => self.set_closed(&queue, closed),
            Input::SetQueuePriority { queue, priority } => self.set_priority(&queue, priority),
        }
    }

    /// Fire every timer due by `now`.
    pub fn handle_timeout(&mut self, now: Now) {
        if now.tick > self.now.tick {
            self.now = now;
        } else {
            // Time never runs backwards for the engine; keep the wall clock fresh.
            self.now.wall = now.wall;
        }
        while let Some((key, timer)) = self.timers.pop_due(self.now.tick) {
            match timer {
                Timer::Call { call, kind } => {
                    let live = self.calls.get_mut(call as usize).and_then(|c| c.as_mut());
                    if let Some(c) = live
                        && c.timers[kind as usize] == Some(key)
                    {
                        c.timers[kind as usize] = None;
                        self.call_timer(call, kind);
                    }
                }
                Timer::Agent { agent } => {
                    if self.agents[agent as usize].timer == Some(key) {
                        self.agents[agent as usize].timer = None;
                        self.agent_timer(agent);
                    }
                }
                Timer::Queue { queue } => {
                    if self.queues[queue as usize].schedule_timer == Some(key) {
                        self.queues[queue as usize].schedule_timer = None;
                        self.schedule_boundary(queue);
                    }
                }
            }
        }
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    pub fn next_timeout(&self) -> Option<Tick> {
        self.timers.next()
    }

    pub fn queue_status(&self, queue: &QueueId) -> Option<QueueStatus> {
        let q = &self.queues[*self.queue_ids.get(queue)? as usize];
        Some(QueueStatus {
            queue: q.id.clone(),
            open: q.open,
            waiting: q.waiting(),
            voice_calls: q.voice_calls,
            staffed: q.staffed,
            available: q.available.len(),
            aht_secs: q.aht.secs,
            closed_by_hand: q.closed_by_hand,
            priority: q.priority,
        })
    }

    /// When the longest-waiting member of `queue` took its place (a callback that kept
    /// its place carries it over).
    pub fn oldest_since(&self, queue: &QueueId) -> Option<Tick> {
        let q = &self.queues[*self.queue_ids.get(queue)? as usize];
        q.buckets
            .iter()
            .flat_map(|b| b.calls.iter().map(|k| k.since))
            .min()
    }

    /// The queues an agent is logged in to now (all of theirs, or those they chose).
    pub fn agent_queues(&self, agent: &AgentId) -> Option<Vec<QueueId>> {
        let a = &self.agents[*self.agent_ids.get(agent)? as usize];
        Some(
            a.members
                .iter()
                .map(|m| self.queues[m.queue as usize].id.clone())
                .collect(),
        )
    }

    /// An agent's state and how long they have been in it.
    pub fn agent_status(&self, agent: &AgentId) -> Option<(AgentStatus, Duration)> {
        let a = &self.agents[*self.agent_ids.get(agent)? as usize];
        Some((self.status_of(&a.state), a.time_in_state(self.now.tick)))
    }

    /// The caller's number and the IVR's variables of a call the engine holds: what the
    /// shell needs for the screen-pop when `Output::Offer` names the call.
    pub fn offer_context(
        &self,
        call: &CallId,
    ) -> Option<(
        &super::ids::CallerNumber,
        &std::collections::BTreeMap<String, String>,
    )> {
        let c = self.c(*self.call_ids.get(call)?);
        Some((&c.a_number, &c.variables))
    }

    /// Calls the engine holds (waiting, ringing, talking or pending callback).
    pub fn calls_in_progress(&self) -> usize {
        self.call_ids.len()
    }

    // ---- helpers shared by the other files ----

    pub(super) fn emit(&mut self, o: Output) {
        self.out.push_back(o);
    }

    pub(super) fn log(&mut self, e: AcdEvent) {
        self.out.push_back(Output::Log(e));
    }

    /// Internal invariant: indexes held by the engine point at live calls.
    pub(super) fn c(&self, idx: CallIdx) -> &Call {
        self.calls[idx as usize]
            .as_ref()
            .expect("engine holds only live call indexes")
    }

    pub(super) fn c_mut(&mut self, idx: CallIdx) -> &mut Call {
        self.calls[idx as usize]
            .as_mut()
            .expect("engine holds only live call indexes")
    }

    pub(super) fn call_idx(&self, id: &CallId) -> Result<CallIdx, AcdError> {
        self.call_ids
            .get(id)
            .copied()
            .ok_or_else(|| AcdError::UnknownCall(id.clone()))
    }

    pub(super) fn agent_idx(&self, id: &AgentId) -> Result<AgentIdx, AcdError> {
        self.agent_ids
            .get(id)
            .copied()
            .ok_or_else(|| AcdError::UnknownAgent(id.clone()))
    }

    pub(super) fn queue_idx(&self, id: &QueueId) -> Result<QueueIdx, AcdError> {
        self.queue_ids
            .get(id)
            .copied()
            .ok_or_else(|| AcdError::UnknownQueue(id.clone()))
    }

    pub(super) fn skill(&mut self, id: &SkillId, level: u8) -> Result<(SkillIdx, u8), AcdError> {
        if level == 0 || level > MAX_PROFICIENCY {
            return Err(AcdError::BadProficiency {
                skill: id.clone(),
                level,
            });
        }
        if let Some(s) = self.skill_ids.get(id) {
            return Ok((*s, level));
        }
        let s = SkillIdx::try_from(self.skill_ids.len()).map_err(|_| AcdError::TooManySkills)?;
        self.skill_ids.insert(id.clone(), s);
        self.skill_names.push(id.clone());
        Ok((s, level))
    }

    pub(super) fn insert_call(&mut self, call: Call) -> CallIdx {
        let id = call.id.clone();
        let idx = match self.free_calls.pop() {
            Some(i) => {
                self.calls[i as usize] = Some(call);
                i
            }
            None => {
                self.calls.push(Some(call));
                (self.calls.len() - 1) as CallIdx
            }
        };
        self.call_ids.insert(id, idx);
        idx
    }

    /// Forget a call: its timers go with it.
    pub(super) fn free_call(&mut self, idx: CallIdx) {
        if let Some(call) = self.calls[idx as usize].take() {
            for t in call.timers {
                self.timers.cancel(t);
            }
            self.call_ids.remove(&call.id);
            self.free_calls.push(idx);
        }
    }

    pub(super) fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    pub(super) fn status_of(&self, s: &AgentState) -> AgentStatus {
        agent::status(s, |c| {
            self.calls[c as usize]
                .as_ref()
                .map(|c| c.id.clone())
                .unwrap_or_else(|| CallId::new("?"))
        })
    }

    /// The one place an agent's state changes: logs it with the time spent in the old
    /// state and keeps the queues' staffed counts.
    pub(super) fn set_agent_state(&mut self, a: AgentIdx, to: AgentState) {
        let now = self.now.tick;
        let agent = &self.agents[a as usize];
        let from = agent.state.clone();
        if from == to {
            return;
        }
        let in_previous_ms = agent.time_in_state(now).as_millis() as u64;
        let delta: isize = match (from.staffed(), to.staffed()) {
            (false, true) => 1,
            (true, false) => -1,
            _ => 0,
        };
        if delta != 0 {
            for m in &agent.members {
                let q = &mut self.queues[m.queue as usize];
                q.staffed = q.staffed.saturating_add_signed(delta);
            }
        }
        let event = AcdEvent::AgentStateChanged {
            agent: agent.id.clone(),
            from: self.status_of(&from),
            to: self.status_of(&to),
            in_previous_ms,
        };
        let agent = &mut self.agents[a as usize];
        agent.state = to;
        agent.since = now;
        self.log(event);
    }

    pub(super) fn set_call_timer(&mut self, c: CallIdx, kind: CallTimer, after: Duration) {
        let at = self.now.tick.plus(after);
        let old = self.c_mut(c).take_timer(kind);
        self.timers.cancel(old);
        let key = self.timers.set(at, Timer::Call { call: c, kind });
        self.c_mut(c).timers[kind as usize] = Some(key);
    }

    pub(super) fn cancel_call_timer(&mut self, c: CallIdx, kind: CallTimer) {
        let old = self.c_mut(c).take_timer(kind);
        self.timers.cancel(old);
    }

    pub(super) fn set_agent_timer(&mut self, a: AgentIdx, after: Duration) {
        let at = self.now.tick.plus(after);
        let old = self.agents[a as usize].timer.take();
        self.timers.cancel(old);
        let key = self.timers.set(at, Timer::Agent { agent: a });
        self.agents[a as usize].timer = Some(key);
    }

    pub(super) fn cancel_agent_timer(&mut self, a: AgentIdx) {
        let old = self.agents[a as usize].timer.take();
        self.timers.cancel(old);
    }

    /// Arm the timer for the queue's next open/close boundary.
    pub(super) fn arm_schedule(&mut self, qi: QueueIdx) {
        let now = self.now;
        let q = &mut self.queues[qi as usize];
        self.timers.cancel(q.schedule_timer.take());
        if let Some(at) = q.schedule.next_change(now.wall) {
            // At least a millisecond ahead so a boundary equal to `now` cannot spin.
            let tick = now.tick_at(at).max(Tick(now.tick.0 + 1));
            q.schedule_timer = Some(self.timers.set(tick, Timer::Queue { queue: qi }));
        }
    }

    pub(super) fn pause_reason_known(&self, reason: &str) -> bool {
        self.pause_reasons.contains(reason)
    }
}

/// The reasons an agent may pause with: the configured ones and "login", never a system
/// reason (those come only through `Input::SystemPause`, even if a config lists them).
pub(super) fn agent_pause_reasons(configured: Vec<String>) -> HashSet<String> {
    let mut reasons: HashSet<String> = configured.into_iter().collect();
    reasons.insert("login".to_string());
    for r in SYSTEM_PAUSE_REASONS {
        reasons.remove(r);
    }
    reasons
}
