//! One queue's live state: its waiting members sorted into buckets by what they need
//! (skills, tier, voice or callback), the index of its available agents in strategy
//! order, its opening state and its running handle-time estimate.
//!
//! Every lookup is a B-tree walk from the front: the engine never scans all calls or all
//! agents to make a decision. Positions for announcements walk at most `position_cap`.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap};

use super::config::{QueueConfig, Strategy};
use super::ids::{QueueId, Tick};
use super::timers::{AgentIdx, CallIdx, TimerKey};
use crate::schedule::Schedule;

pub(super) type SkillIdx = u16;

/// What a waiting call needs from an agent. Calls with equal needs share a bucket, so an
/// agent looks at one head per bucket instead of at every call.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct Class {
    /// (skill, minimum level), sorted by skill; empty = any member.
    pub skills: Vec<(SkillIdx, u8)>,
    /// Highest member tier allowed; 0 = every tier.
    pub max_tier: u8,
    pub callback: bool,
}

impl Class {
    pub fn admits_tier(&self, tier: u8) -> bool {
        self.max_tier == 0 || tier <= self.max_tier
    }
}

/// A call's place in line: higher priority first, then the older, then arrival order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct CallKey {
    pub priority: Reverse<u8>,
    pub since: Tick,
    pub seq: u64,
    pub call: CallIdx,
}

/// An available member's place in a queue's index: lower tier first, then the strategy's
/// metric (lowest first, like Asterisk), then a tie-break, then the agent.
pub(super) type AvailKey = (u8, i64, i64, AgentIdx);

#[derive(Debug)]
pub(super) struct Bucket {
    pub class: Class,
    pub calls: BTreeSet<CallKey>,
}

/// Running average handle time for estimated-wait announcements: a plain mean over the
/// first calls, then an exponential average that follows the day's changes.
#[derive(Debug, Clone, Copy)]
pub(super) struct AhtEstimate {
    pub secs: f64,
    pub samples: u64,
}

impl AhtEstimate {
    pub fn add(&mut self, secs: f64) {
        self.samples += 1;
        let weight = (1.0 / self.samples as f64).max(0.05);
        self.secs += (secs - self.secs) * weight;
    }
}

#[derive(Debug)]
pub(super) struct Queue {
    pub id: QueueId,
    pub cfg: QueueConfig,
    pub schedule: Schedule,
    pub open: bool,
    /// Closed by a supervisor on top of the schedule (`Input::SetQueueClosed`).
    pub closed_by_hand: bool,
    /// The priority a supervisor gave every caller of this queue (`SetQueuePriority`).
    pub priority: Option<u8>,
    pub schedule_timer: Option<TimerKey>,
    pub buckets: Vec<Bucket>,
    /// Voice calls waiting or ringing an agent (what `max_length` limits).
    pub voice_calls: usize,
    pub available: BTreeSet<AvailKey>,
    /// Available members holding each skill (any level). For `Strategy::Skills` ordered by
    /// level, highest first, instead of the strategy metric.
    pub by_skill: HashMap<SkillIdx, BTreeSet<AvailKey>>,
    /// Members logged in and not paused (available, ringing, on a call or in wrap-up).
    pub staffed: usize,
    pub aht: AhtEstimate,
    /// Counts offers from this queue, for round-robin.
    pub offer_seq: u64,
}

impl Queue {
    pub fn new(cfg: QueueConfig, schedule: Schedule) -> Queue {
        let aht = AhtEstimate {
            secs: cfg.initial_aht_secs as f64,
            samples: 0,
        };
        Queue {
            id: cfg.id.clone(),
            cfg,
            schedule,
            open: true,
            closed_by_hand: false,
            priority: None,
            schedule_timer: None,
            buckets: Vec::new(),
            voice_calls: 0,
            available: BTreeSet::new(),
            by_skill: HashMap::new(),
            staffed: 0,
            aht,
            offer_seq: 0,
        }
    }

    pub fn strategy(&self) -> Strategy {
        self.cfg.strategy
    }

    pub fn insert_call(&mut self, class: Class, key: CallKey) {
        match self.buckets.iter_mut().find(|b| b.class == class) {
            Some(b) => {
                b.calls.insert(key);
            }
            None => {
                let mut calls = BTreeSet::new();
                calls.insert(key);
                self.buckets.push(Bucket { class, calls });
            }
        }
    }

    /// Removes the call; empty buckets go so agents do not look at them.
    pub fn remove_call(&mut self, class: &Class, key: &CallKey) -> bool {
        let Some(i) = self.buckets.iter().position(|b| &b.class == class) else {
            return false;
        };
        let removed = self.buckets[i].calls.remove(key);
        if self.buckets[i].calls.is_empty() {
            self.buckets.swap_remove(i);
        }
        removed
    }

    pub fn waiting(&self) -> usize {
        self.buckets.iter().map(|b| b.calls.len()).sum()
    }

    /// 1-based place of a call that just joined: counts the calls behind it, which for a
    /// new call are only the lower-priority ones.
    pub fn position_entering(&self, key: &CallKey) -> usize {
        let mut ahead = 0;
        for b in &self.buckets {
            ahead += match b.calls.last() {
                None => 0,
                Some(last) if last < key => b.calls.len(),
                Some(last) if last == key => b.calls.len() - 1,
                Some(_) => b.calls.len() - b.calls.range(key..).count(),
            };
        }
        ahead + 1
    }

    /// 1-based place of a waiting call, counting at most `cap` calls ahead (the prompt
    /// then says "more than `cap`").
    pub fn position_capped(&self, key: &CallKey, cap: usize) -> usize {
        let mut ahead = 0;
        for b in &self.buckets {
            ahead += b.calls.range(..key).take(cap + 1 - ahead.min(cap)).count();
            if ahead > cap {
                return cap + 1;
            }
        }
        ahead + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(priority: u8, since: i64, seq: u64) -> CallKey {
        CallKey {
            priority: Reverse(priority),
            since: Tick(since),
            seq,
            call: seq as u32,
        }
    }

    fn class(skill: Option<u16>) -> Class {
        Class {
            skills: skill.map(|s| vec![(s, 1)]).unwrap_or_default(),
            max_tier: 0,
            callback: false,
        }
    }

    #[test]
    fn positions_count_every_bucket_and_priority() {
        let mut q = Queue::new(QueueConfig::new("q"), Schedule::always_open());
        q.insert_call(class(None), key(0, 10, 1));
        q.insert_call(class(Some(3)), key(0, 20, 2));
        q.insert_call(class(None), key(5, 30, 3));
        q.insert_call(class(None), key(0, 40, 4));
        // Call 4: behind the priority call and the two older ones.
        assert_eq!(q.position_entering(&key(0, 40, 4)), 4);
        assert_eq!(q.position_capped(&key(0, 40, 4), 100), 4);
        assert_eq!(q.position_capped(&key(0, 40, 4), 2), 3);
        // The priority call is first although it came third.
        assert_eq!(q.position_entering(&key(5, 30, 3)), 1);
        assert_eq!(q.position_capped(&key(5, 30, 3), 100), 1);
        assert_eq!(q.position_capped(&key(0, 10, 1), 100), 2);
        assert_eq!(q.waiting(), 4);
        assert!(q.remove_call(&class(Some(3)), &key(0, 20, 2)));
        assert_eq!(q.buckets.len(), 1);
    }

    #[test]
    fn aht_estimate_starts_from_real_calls_then_follows_slowly() {
        let mut a = AhtEstimate {
            secs: 300.0,
            samples: 0,
        };
        a.add(100.0);
        assert_eq!(a.secs, 100.0);
        a.add(200.0);
        assert_eq!(a.secs, 150.0);
    }
}
