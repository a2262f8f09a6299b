//! The contract's KPIs over an interval, with the requirements' formulas (the tender,
//! items 4.1.5 n-p):
//!
//! - **NS** (`service_level`) = (answered within 30 s + abandoned in queue within 30 s)
//!   ÷ (answered + abandoned + lost). "Within" means at most 30 s. With callers who never
//!   abandon this is exactly Erlang C's service level, the share answered within 30 s.
//! - **TAB** (`abandon_rate`) = abandoned in queue after more than 30 s ÷ offered.
//! - **TME** (`asa_seconds`) = total queue wait of answered calls ÷ answered.
//! - **TMA** (`aht_seconds`) = total talk time ÷ answered.
//! - occupancy = agent time on calls ÷ agent time staffed.
//!
//! "Lost" are calls the ACD sent away (closed, max wait, max length): none in a
//! simulation without such limits.

use serde::Serialize;

/// The threshold of NS and TAB.
pub const THRESHOLD_MS: u64 = 30_000;

/// Raw counts and sums for one interval (calls counted in the interval they arrived).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Tally {
    pub offered: u64,
    pub answered: u64,
    pub answered_within: u64,
    pub abandoned: u64,
    pub abandoned_within: u64,
    pub lost: u64,
    pub wait_answered_ms: u64,
    pub talk_ms: u64,
    pub busy_secs: f64,
    pub staffed_secs: f64,
}

impl Tally {
    pub fn answered(&mut self, waited_ms: u64) {
        self.answered += 1;
        self.wait_answered_ms += waited_ms;
        if waited_ms <= THRESHOLD_MS {
            self.answered_within += 1;
        }
    }

    pub fn abandoned(&mut self, waited_ms: u64) {
        self.abandoned += 1;
        if waited_ms <= THRESHOLD_MS {
            self.abandoned_within += 1;
        }
    }

    pub fn add(&mut self, o: &Tally) {
        self.offered += o.offered;
        self.answered += o.answered;
        self.answered_within += o.answered_within;
        self.abandoned += o.abandoned;
        self.abandoned_within += o.abandoned_within;
        self.lost += o.lost;
        self.wait_answered_ms += o.wait_answered_ms;
        self.talk_ms += o.talk_ms;
        self.busy_secs += o.busy_secs;
        self.staffed_secs += o.staffed_secs;
    }

    pub fn report(&self, label: String) -> Kpis {
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
        let answered = self.answered as f64;
        Kpis {
            label,
            offered: self.offered,
            answered: self.answered,
            answered_within_30s: self.answered_within,
            abandoned: self.abandoned,
            abandoned_within_30s: self.abandoned_within,
            lost: self.lost,
            service_level: ratio(
                (self.answered_within + self.abandoned_within) as f64,
                (self.answered + self.abandoned + self.lost) as f64,
            ),
            abandon_rate: ratio(
                (self.abandoned - self.abandoned_within) as f64,
                self.offered as f64,
            ),
            asa_seconds: ratio(self.wait_answered_ms as f64 / 1000.0, answered),
            aht_seconds: ratio(self.talk_ms as f64 / 1000.0, answered),
            occupancy: ratio(self.busy_secs, self.staffed_secs),
        }
    }
}

/// What the simulator prints, per interval and overall. Rates are fractions (0.9 = 90 %).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Kpis {
    pub label: String,
    pub offered: u64,
    pub answered: u64,
    pub answered_within_30s: u64,
    pub abandoned: u64,
    pub abandoned_within_30s: u64,
    pub lost: u64,
    /// NS, the requirements' formula (see the module header).
    pub service_level: f64,
    /// TAB: abandoned after more than 30 s ÷ offered.
    pub abandon_rate: f64,
    pub asa_seconds: f64,
    pub aht_seconds: f64,
    pub occupancy: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 10 offered: 6 answered (4 within 30 s, waits 0+10+20+30+40+60 = 160 s, talk 6×300 s),
    /// 3 abandoned (1 at 15 s, 2 after 30 s), 1 lost.
    #[test]
    fn kpis_match_the_hand_computation() {
        let mut t = Tally {
            offered: 10,
            lost: 1,
            talk_ms: 6 * 300_000,
            busy_secs: 1800.0,
            staffed_secs: 3600.0,
            ..Tally::default()
        };
        for w in [0, 10_000, 20_000, 30_000, 40_000, 60_000] {
            t.answered(w);
        }
        for w in [15_000, 31_000, 90_000] {
            t.abandoned(w);
        }
        let k = t.report("x".into());
        // NS = (4 + 1) / (6 + 3 + 1) = 50 %.
        assert_eq!(k.service_level, 0.5);
        // TAB = 2 / 10.
        assert_eq!(k.abandon_rate, 0.2);
        assert!((k.asa_seconds - 160.0 / 6.0).abs() < 1e-9);
        assert_eq!(k.aht_seconds, 300.0);
        assert_eq!(k.occupancy, 0.5);
    }
}
