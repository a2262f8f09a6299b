//! Callbacks: the caller leaves a number and keeps their place; when their turn comes the
//! engine reserves an agent and says "call the agent, then the citizen"; failed attempts
//! retry up to the queue's limit. Callbacks wait for opening hours.
//!
//! The list is exported as a serde `CallbackSnapshot` (wall-clock times, so it means the
//! same after a restart) and restored with `restore_callbacks`; the shell persists it
//! whenever a `Log(Callback…)` event comes out.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::AcdError;
use super::call::{Call, CallState, CallbackInfo};
use super::config::SkillLevel;
use super::engine::Engine;
use super::event::{
    AcdEvent, CallbackOutcome, CancelReason, DequeueReason, Output, ScheduledCallback,
};
use super::ids::{CallId, CallerNumber, Now, QueueId, SkillId};
use super::timers::{CALL_TIMERS, CallIdx, CallTimer};

pub const SNAPSHOT_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallbackSnapshot {
    pub version: u32,
    pub callbacks: Vec<CallbackRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallbackRecord {
    pub call: CallId,
    pub queue: QueueId,
    pub number: CallerNumber,
    pub typed_number: bool,
    pub priority: u8,
    pub skills: Vec<SkillLevel>,
    pub variables: BTreeMap<String, String>,
    /// When the call first joined a queue (for "answered after" figures).
    #[serde(with = "crate::acd::ids::wall")]
    pub enqueued_at: jiff::Timestamp,
    /// The place in line, as a time: earlier goes first.
    #[serde(with = "crate::acd::ids::wall")]
    pub place_at: jiff::Timestamp,
    #[serde(with = "crate::acd::ids::wall")]
    pub requested_at: jiff::Timestamp,
    pub attempts: u32,
    /// Not to be offered before this time (a requested time or the next retry).
    #[serde(default, with = "crate::acd::ids::wall::option")]
    pub due_at: Option<jiff::Timestamp>,
    /// When due, join at `place_at` (a retry) rather than at the due time (a requested time).
    pub keep_place_when_due: bool,
}

impl Engine {
    pub(super) fn callback_requested(
        &mut self,
        id: &CallId,
        number: Option<CallerNumber>,
        keep_place: bool,
        not_before: Option<jiff::Timestamp>,
    ) -> Result<(), AcdError> {
        let c = self.call_idx(id)?;
        let call = self.c(c);
        if call.callback.is_some()
            || !matches!(call.state, CallState::Waiting | CallState::Offered { .. })
        {
            return Err(AcdError::NotWaiting(id.clone()));
        }
        let typed = number.as_ref().is_some_and(|n| !n.is_empty());
        let number = number
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| call.a_number.clone());
        if number.is_empty() {
            return Err(AcdError::NoCallbackNumber(id.clone()));
        }
        let waited_ms = self.waited_ms(c);
        self.detach(c, CancelReason::CallbackRequested);
        let now = self.now;
        let call = self.c_mut(c);
        call.callback = Some(CallbackInfo {
            number,
            typed,
            attempts: 0,
            requested_wall: now.wall,
            due_wall: None,
            keep_place_when_due: true,
        });
        if !keep_place {
            call.place = now.tick;
        }
        let queue = self.queues[self.c(c).queue as usize].id.clone();
        self.emit(Output::Dequeue {
            call: id.clone(),
            reason: DequeueReason::CallbackRegistered,
        });
        self.log(AcdEvent::CallbackRequested {
            call: id.clone(),
            queue,
            waited_ms,
            typed_number: typed,
        });
        match not_before.filter(|t| *t > now.wall) {
            Some(at) => self.schedule_callback(c, at, false),
            None => self.callback_waits(c),
        }
        Ok(())
    }

    /// A callback the citizen asked for at a time (set by the agent on the call): a new
    /// entry that waits, unseen by agents, until `at`, then joins the queue's callbacks
    /// at that time's place. Its attempts and retries follow the queue's policy.
    pub(super) fn schedule_requested_callback(
        &mut self,
        cb: ScheduledCallback,
    ) -> Result<(), AcdError> {
        if self.call_ids.contains_key(&cb.call) {
            return Err(AcdError::DuplicateCall(cb.call));
        }
        if cb.number.is_empty() {
            return Err(AcdError::NoCallbackNumber(cb.call));
        }
        let now = self.now;
        if cb.at <= now.wall {
            return Err(AcdError::CallbackInThePast { call: cb.call });
        }
        let qi = self.queue_idx(&cb.queue)?;
        let mut skills = Vec::new();
        for s in &cb.skills {
            skills.push(self.skill(&s.skill, s.level)?);
        }
        skills.sort_unstable();
        skills.dedup_by_key(|(s, _)| *s);
        let seq = self.next_seq();
        let at = now.tick_at(cb.at);
        let call = Call {
            id: cb.call.clone(),
            queue: qi,
            priority: cb.priority,
            skills,
            lowered: 0,
            any_skill: false,
            max_tier: self.queues[qi as usize].cfg.start_tier,
            place: at,
            first_enqueued: now.tick,
            enqueued_wall: now.wall,
            entered_queue: now.tick,
            seq,
            a_number: cb.number.clone(),
            variables: cb.variables,
            state: CallState::Scheduled,
            next_step: 0,
            escalation_due: false,
            max_wait_due: false,
            hops: 0,
            callback: Some(CallbackInfo {
                number: cb.number,
                typed: true,
                attempts: 0,
                requested_wall: now.wall,
                due_wall: None,
                keep_place_when_due: false,
            }),
            timers: [None; CALL_TIMERS],
        };
        let c = self.insert_call(call);
        self.log(AcdEvent::CallbackRequested {
            call: cb.call,
            queue: cb.queue,
            waited_ms: 0,
            typed_number: true,
        });
        self.schedule_callback(c, cb.at, false);
        Ok(())
    }

    fn schedule_callback(&mut self, c: CallIdx, at: jiff::Timestamp, keep_place: bool) {
        let after = self.now.tick_at(at).since(self.now.tick);
        let call = self.c_mut(c);
        call.state = CallState::Scheduled;
        if let Some(cb) = call.callback.as_mut() {
            cb.due_wall = Some(at);
            cb.keep_place_when_due = keep_place;
        }
        self.set_call_timer(c, CallTimer::CallbackDue, after);
    }

    /// Into the queue's callback bucket; offered now if the queue is open and someone free.
    fn callback_waits(&mut self, c: CallIdx) {
        let call = self.c_mut(c);
        call.state = CallState::Waiting;
        if let Some(cb) = call.callback.as_mut() {
            cb.due_wall = None;
        }
        let (qi, class, key) = (self.c(c).queue, self.c(c).class(), self.c(c).key(c));
        self.queues[qi as usize].insert_call(class, key);
        self.route_call(c);
    }

    pub(super) fn callback_due(&mut self, c: CallIdx) {
        if self.c(c).state != CallState::Scheduled {
            return;
        }
        let keep = self
            .c(c)
            .callback
            .as_ref()
            .is_none_or(|cb| cb.keep_place_when_due);
        if !keep {
            let now = self.now.tick;
            self.c_mut(c).place = now;
        }
        self.callback_waits(c);
    }

    pub(super) fn callback_result(
        &mut self,
        id: &CallId,
        outcome: CallbackOutcome,
    ) -> Result<(), AcdError> {
        let c = self.call_idx(id)?;
        let CallState::Dialing { agent } = self.c(c).state else {
            return Err(AcdError::NotDialing(id.clone()));
        };
        if outcome == CallbackOutcome::Connected {
            let since = self.now.tick;
            self.c_mut(c).state = CallState::Connected { agent, since };
            return Ok(());
        }
        let qi = self.c(c).queue;
        let policy = self.queues[qi as usize].cfg.callback;
        let attempts = {
            let call = self.c_mut(c);
            let cb = call
                .callback
                .as_mut()
                .ok_or_else(|| AcdError::NotDialing(id.clone()))?;
            cb.attempts += 1;
            cb.attempts
        };
        let agent_id = self.agents[agent as usize].id.clone();
        self.log(AcdEvent::CallbackAttemptFailed {
            call: id.clone(),
            agent: agent_id,
            attempt: attempts,
            outcome,
        });
        if attempts >= policy.max_attempts {
            let queue = self.queues[qi as usize].id.clone();
            self.log(AcdEvent::CallbackGaveUp {
                call: id.clone(),
                queue,
                attempts,
            });
            self.c_mut(c).state = CallState::Leaving;
            self.after_call(agent);
            self.free_call(c);
        } else {
            let at = self.now.wall_at(
                self.now
                    .tick
                    .plus(Duration::from_secs(policy.retry_after_secs)),
            );
            self.schedule_callback(c, at, true);
            self.after_call(agent);
        }
        Ok(())
    }

    /// Every callback not yet served, in line order, for the shell to persist. A callback
    /// being dialled or talking is listed too (with the attempts counted before it): it
    /// leaves the list only when completed or given up, so a stop or a crash in the middle
    /// of an attempt leaves it pending for the next start, that attempt not counted.
    pub fn callback_snapshot(&self) -> CallbackSnapshot {
        let now = self.now;
        let names: &[SkillId] = &self.skill_names;
        let mut list: Vec<(&Call, CallIdx)> = self
            .call_ids
            .values()
            .map(|&c| (self.c(c), c))
            .filter(|(call, _)| call.callback.is_some())
            .collect();
        list.sort_by_key(|(call, c)| call.key(*c));
        let callbacks = list
            .into_iter()
            .filter_map(|(call, _)| {
                let cb = call.callback.as_ref()?;
                Some(CallbackRecord {
                    call: call.id.clone(),
                    queue: self.queues[call.queue as usize].id.clone(),
                    number: cb.number.clone(),
                    typed_number: cb.typed,
                    priority: call.priority,
                    skills: call
                        .skills
                        .iter()
                        .map(|(s, l)| SkillLevel {
                            skill: names[*s as usize].clone(),
                            level: *l,
                        })
                        .collect(),
                    variables: call.variables.clone(),
                    enqueued_at: call.enqueued_wall,
                    place_at: now.wall_at(call.place),
                    requested_at: cb.requested_wall,
                    attempts: cb.attempts,
                    due_at: cb.due_wall,
                    keep_place_when_due: cb.keep_place_when_due,
                })
            })
            .collect();
        CallbackSnapshot {
            version: SNAPSHOT_VERSION,
            callbacks,
        }
    }

    /// Bring back callbacks saved by `callback_snapshot` (after a restart). Callbacks whose
    /// call id the engine already holds are skipped. Returns how many were restored.
    pub fn restore_callbacks(
        &mut self,
        now: Now,
        snapshot: CallbackSnapshot,
    ) -> Result<usize, AcdError> {
        if snapshot.version != SNAPSHOT_VERSION {
            return Err(AcdError::SnapshotVersion(snapshot.version));
        }
        self.handle_timeout(now);
        // Check every record first so a bad one changes nothing.
        let mut ready = Vec::new();
        for r in snapshot.callbacks {
            let qi = self.queue_idx(&r.queue)?;
            let mut skills = Vec::new();
            for s in &r.skills {
                skills.push(self.skill(&s.skill, s.level)?);
            }
            skills.sort_unstable();
            skills.dedup_by_key(|(s, _)| *s);
            ready.push((r, qi, skills));
        }
        let mut restored = 0;
        for (r, qi, skills) in ready {
            if self.call_ids.contains_key(&r.call) {
                continue;
            }
            let now = self.now;
            let seq = self.next_seq();
            let call = Call {
                id: r.call,
                queue: qi,
                priority: r.priority,
                skills,
                lowered: 0,
                any_skill: false,
                max_tier: self.queues[qi as usize].cfg.start_tier,
                place: now.tick_at(r.place_at),
                first_enqueued: now.tick_at(r.enqueued_at),
                enqueued_wall: r.enqueued_at,
                entered_queue: now.tick,
                seq,
                a_number: r.number.clone(),
                variables: r.variables,
                state: CallState::Scheduled,
                next_step: 0,
                escalation_due: false,
                max_wait_due: false,
                hops: 0,
                callback: Some(CallbackInfo {
                    number: r.number,
                    typed: r.typed_number,
                    attempts: r.attempts,
                    requested_wall: r.requested_at,
                    due_wall: None,
                    keep_place_when_due: r.keep_place_when_due,
                }),
                timers: [None; CALL_TIMERS],
            };
            let c = self.insert_call(call);
            match r.due_at.filter(|t| *t > now.wall) {
                Some(at) => self.schedule_callback(c, at, r.keep_place_when_due),
                None => self.callback_due(c),
            }
            restored += 1;
        }
        Ok(restored)
    }
}
