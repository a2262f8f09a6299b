//! Additive per-interval statistics: counts, sums and maxima only, so any roll-up
//! (intervals → day → month, queues → overall) is a merge and no average is ever
//! averaged. `Kpis` are computed from a merged value.

use serde::{Deserialize, Serialize};

use super::fact::{CallFact, Outcome};

/// One interval's (or any period's) counters. Field names are the report's columns.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SlotStats {
    /// Oferecidas: every inbound call that arrived.
    pub offered: u64,
    pub not_received: u64,
    /// Atendidas pela URA.
    pub ivr_served: u64,
    pub ivr_abandon: u64,
    /// Answered by a human with wait ≤ threshold, and beyond it.
    pub answered_within: u64,
    pub answered_beyond: u64,
    /// Abandoned in queue with wait ≤ threshold, and beyond it.
    pub queue_abandon_within: u64,
    pub queue_abandon_beyond: u64,
    pub lost: u64,
    pub in_progress: u64,
    /// Calls that entered a queue.
    pub queued: u64,
    /// Sums over human-answered calls.
    pub talk_ms: i64,
    pub hold_ms: i64,
    pub acw_ms: i64,
    pub wait_answered_ms: i64,
    /// Sum of waits of queue abandons.
    pub wait_abandon_ms: i64,
    /// Sum of waits of every queued call.
    pub wait_all_ms: i64,
    /// Sum of IVR time of every call.
    pub ivr_ms: i64,
    pub talk_max_ms: i64,
    /// Longest wait of any queued call that is over.
    pub wait_max_ms: i64,
    pub wait_max_answered_ms: i64,
    /// Human-answered calls with at least one registration.
    pub registered: u64,
    /// Valid ISA answers and how many were 4 or 5.
    pub survey_answers: u64,
    pub survey_top2: u64,
}

impl SlotStats {
    /// Counts one call; `threshold_ms` is the inclusive "within" limit.
    pub fn add(&mut self, f: &CallFact, threshold_ms: i64) {
        if f.callback_leg || f.internal {
            return;
        }
        self.offered += 1;
        self.ivr_ms += f.ivr_ms;
        let within = f.wait_ms <= threshold_ms;
        if f.queued && f.outcome != Outcome::InProgress {
            self.queued += 1;
            self.wait_all_ms += f.wait_ms;
            self.wait_max_ms = self.wait_max_ms.max(f.wait_ms);
        }
        match f.outcome {
            Outcome::InProgress => self.in_progress += 1,
            Outcome::NotReceived => self.not_received += 1,
            Outcome::IvrServed => self.ivr_served += 1,
            Outcome::IvrAbandon => self.ivr_abandon += 1,
            Outcome::Lost => self.lost += 1,
            Outcome::QueueAbandon => {
                if within {
                    self.queue_abandon_within += 1;
                } else {
                    self.queue_abandon_beyond += 1;
                }
                self.wait_abandon_ms += f.wait_ms;
            }
            Outcome::HumanAnswered => {
                if within {
                    self.answered_within += 1;
                } else {
                    self.answered_beyond += 1;
                }
                self.talk_ms += f.talk_ms;
                self.hold_ms += f.hold_ms;
                self.acw_ms += f.acw_ms;
                self.wait_answered_ms += f.wait_ms;
                self.talk_max_ms = self.talk_max_ms.max(f.talk_ms);
                self.wait_max_answered_ms = self.wait_max_answered_ms.max(f.wait_ms);
                if f.registered {
                    self.registered += 1;
                }
            }
        }
        self.survey_answers += u64::from(f.survey_answers);
        self.survey_top2 += u64::from(f.survey_top2);
    }

    /// One call's contribution to its interval's row.
    pub fn of(f: &CallFact, threshold_ms: i64) -> SlotStats {
        let mut s = SlotStats::default();
        s.add(f, threshold_ms);
        s
    }

    /// Replaces one call's earlier contribution `old` by `new` (either may be absent: the
    /// call was not or is no longer in this row). Sums are exact; a maximum is exact
    /// unless the call held it and its new value is smaller, which cannot be undone
    /// without the other calls: then it returns false and the caller recomputes the row
    /// from its facts. (A call's waits and talk only grow while it is open and do not
    /// change after its end, so the live projector practically never hits that case.)
    pub fn replace(&mut self, old: Option<&SlotStats>, new: Option<&SlotStats>) -> bool {
        let zero = SlotStats::default();
        let o = old.unwrap_or(&zero);
        let n = new.unwrap_or(&zero);
        macro_rules! count {
            ($($f:ident),*) => {$(
                self.$f = self.$f.saturating_sub(o.$f) + n.$f;
            )*};
        }
        macro_rules! sum {
            ($($f:ident),*) => {$(
                self.$f = self.$f - o.$f + n.$f;
            )*};
        }
        count!(
            offered,
            not_received,
            ivr_served,
            ivr_abandon,
            answered_within,
            answered_beyond,
            queue_abandon_within,
            queue_abandon_beyond,
            lost,
            in_progress,
            queued,
            registered,
            survey_answers,
            survey_top2
        );
        sum!(
            talk_ms,
            hold_ms,
            acw_ms,
            wait_answered_ms,
            wait_abandon_ms,
            wait_all_ms,
            ivr_ms
        );
        let mut exact = true;
        for (m, o, n) in [
            (&mut self.talk_max_ms, o.talk_max_ms, n.talk_max_ms),
            (&mut self.wait_max_ms, o.wait_max_ms, n.wait_max_ms),
            (
                &mut self.wait_max_answered_ms,
                o.wait_max_answered_ms,
                n.wait_max_answered_ms,
            ),
        ] {
            if n >= o || o < *m {
                *m = (*m).max(n);
            } else {
                exact = false;
            }
        }
        exact
    }

    /// Adds another period's counters (sums add, maxima take the larger).
    pub fn merge(&mut self, o: &SlotStats) {
        self.offered += o.offered;
        self.not_received += o.not_received;
        self.ivr_served += o.ivr_served;
        self.ivr_abandon += o.ivr_abandon;
        self.answered_within += o.answered_within;
        self.answered_beyond += o.answered_beyond;
        self.queue_abandon_within += o.queue_abandon_within;
        self.queue_abandon_beyond += o.queue_abandon_beyond;
        self.lost += o.lost;
        self.in_progress += o.in_progress;
        self.queued += o.queued;
        self.talk_ms += o.talk_ms;
        self.hold_ms += o.hold_ms;
        self.acw_ms += o.acw_ms;
        self.wait_answered_ms += o.wait_answered_ms;
        self.wait_abandon_ms += o.wait_abandon_ms;
        self.wait_all_ms += o.wait_all_ms;
        self.ivr_ms += o.ivr_ms;
        self.talk_max_ms = self.talk_max_ms.max(o.talk_max_ms);
        self.wait_max_ms = self.wait_max_ms.max(o.wait_max_ms);
        self.wait_max_answered_ms = self.wait_max_answered_ms.max(o.wait_max_answered_ms);
        self.registered += o.registered;
        self.survey_answers += o.survey_answers;
        self.survey_top2 += o.survey_top2;
    }

    /// Recebidas: offered − not received.
    pub fn received(&self) -> u64 {
        self.offered - self.not_received
    }

    pub fn human_answered(&self) -> u64 {
        self.answered_within + self.answered_beyond
    }

    /// Atendidas: by the IVR or by a human.
    pub fn answered(&self) -> u64 {
        self.ivr_served + self.human_answered()
    }

    pub fn queue_abandon(&self) -> u64 {
        self.queue_abandon_within + self.queue_abandon_beyond
    }

    /// Abandonadas: in the IVR or in queue.
    pub fn abandoned(&self) -> u64 {
        self.ivr_abandon + self.queue_abandon()
    }

    /// The identities of `docs/reports.md` §1 (tests and the projector check them).
    pub fn consistent(&self) -> bool {
        self.offered >= self.not_received
            && self.received()
                == self.ivr_served
                    + self.ivr_abandon
                    + self.human_answered()
                    + self.queue_abandon()
                    + self.lost
                    + self.in_progress
            && self.registered <= self.human_answered()
            && self.survey_top2 <= self.survey_answers
    }
}
