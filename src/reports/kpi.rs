//! The contract's indices, each with its numerator and denominator, computed only from
//! summed counters (`SlotStats`): never an average of percentages. An empty denominator is
//! `None` ("—"), never 0 % or 100 %. The contract panel (`src/contract`) grades these.

use serde::{Deserialize, Serialize};

use super::definitions::Definitions;
use super::stats::SlotStats;

/// A percentage with what it was made of.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Ratio {
    pub numerator: u64,
    pub denominator: u64,
    /// 100 × numerator ÷ denominator; `None` when the denominator is 0.
    pub percent: Option<f64>,
}

impl Ratio {
    pub fn of(numerator: u64, denominator: u64) -> Ratio {
        Ratio {
            numerator,
            denominator,
            percent: (denominator > 0).then(|| 100.0 * numerator as f64 / denominator as f64),
        }
    }
}

/// A mean duration with its total and count.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Mean {
    pub total_ms: i64,
    pub count: u64,
    /// total ÷ count in seconds; `None` when the count is 0.
    pub seconds: Option<f64>,
}

impl Mean {
    pub fn of(total_ms: i64, count: u64) -> Mean {
        Mean {
            total_ms,
            count,
            seconds: (count > 0).then(|| total_ms as f64 / 1000.0 / count as f64),
        }
    }
}

/// Every index of a period (`docs/reports.md` §4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Kpis {
    /// Nível de serviço: (human ≤ T + queue abandons ≤ T) ÷ (human + queue abandons
    /// [+ IVR abandons] + lost).
    pub ns: Ratio,
    /// Taxa de abandono: queue abandons > T ÷ received.
    pub tab: Ratio,
    /// Tempo médio de atendimento: talk [+ after-call] ÷ answered by a human.
    pub tma: Mean,
    /// Tempo médio de espera: wait of human-answered calls ÷ answered by a human.
    pub tme: Mean,
    /// Índice de atendimentos registrados: registered human-answered calls ÷ answered.
    pub iar: Ratio,
    /// Índice de satisfação: survey answers 4–5 ÷ valid answers.
    pub isa: Ratio,
    /// Not received ÷ offered.
    pub inr: Ratio,
    /// Lost ÷ received.
    pub ipl: Ratio,
    /// Mean wait of queue abandons (every length).
    pub time_to_abandon: Mean,
    /// Longest wait of any queued call, of answered calls, and longest talk (ms).
    pub wait_max_ms: i64,
    pub wait_max_answered_ms: i64,
    pub talk_max_ms: i64,
}

impl Kpis {
    /// The call KPIs of this total (the month report's) as the contract panel measures
    /// them: numerator and denominator as counted here; IMQ is quality monitoring's, so
    /// `None`. Here rather than in `contract`, which knows nothing of reports.
    pub fn contract_kpis(&self) -> crate::contract::Kpis {
        use crate::contract::Measured;
        let ratio = |r: &Ratio| Some(Measured::new(r.numerator, r.denominator));
        // A mean's total is never negative (durations); clamp rather than wrap if it were.
        let mean = |m: &Mean| {
            Some(Measured::new(
                u64::try_from(m.total_ms).unwrap_or(0),
                m.count,
            ))
        };
        crate::contract::Kpis {
            ns: ratio(&self.ns),
            tab: ratio(&self.tab),
            tma: mean(&self.tma),
            tme: mean(&self.tme),
            iar: ratio(&self.iar),
            isa: ratio(&self.isa),
            imq: None,
        }
    }

    pub fn from_stats(s: &SlotStats, d: &Definitions) -> Kpis {
        let human = s.human_answered();
        let ivr_ab = if d.ns_counts_ivr_abandons {
            s.ivr_abandon
        } else {
            0
        };
        let talk = if d.tma_includes_after_call {
            s.talk_ms + s.acw_ms
        } else {
            s.talk_ms
        };
        Kpis {
            ns: Ratio::of(
                s.answered_within + s.queue_abandon_within,
                human + s.queue_abandon() + ivr_ab + s.lost,
            ),
            tab: Ratio::of(s.queue_abandon_beyond, s.received()),
            tma: Mean::of(talk, human),
            tme: Mean::of(s.wait_answered_ms, human),
            iar: Ratio::of(s.registered, human),
            isa: Ratio::of(s.survey_top2, s.survey_answers),
            inr: Ratio::of(s.not_received, s.offered),
            ipl: Ratio::of(s.lost, s.received()),
            time_to_abandon: Mean::of(s.wait_abandon_ms, s.queue_abandon()),
            wait_max_ms: s.wait_max_ms,
            wait_max_answered_ms: s.wait_max_answered_ms,
            talk_max_ms: s.talk_max_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_denominators_are_none_and_ratios_come_from_sums() {
        let k = Kpis::from_stats(&SlotStats::default(), &Definitions::default());
        assert_eq!(k.ns.percent, None);
        assert_eq!(k.tma.seconds, None);
        assert_eq!(k.isa, Ratio::of(0, 0));
        // Two intervals: 1 of 1 within (100 %) and 0 of 3 (0 %): the day is 1 of 4 = 25 %,
        // not the 50 % an average of the two percentages would say.
        let a = SlotStats {
            offered: 1,
            answered_within: 1,
            ..SlotStats::default()
        };
        let b = SlotStats {
            offered: 3,
            answered_beyond: 3,
            ..SlotStats::default()
        };
        let mut day = a.clone();
        day.merge(&b);
        let k = Kpis::from_stats(&day, &Definitions::default());
        assert_eq!(k.ns, Ratio::of(1, 4));
        assert_eq!(k.ns.percent, Some(25.0));
    }

    #[test]
    fn the_settings_change_ns_and_tma_as_documented() {
        let s = SlotStats {
            offered: 4,
            answered_within: 2,
            ivr_abandon: 2,
            talk_ms: 200_000,
            acw_ms: 40_000,
            ..SlotStats::default()
        };
        let d = Definitions::default();
        let k = Kpis::from_stats(&s, &d);
        assert_eq!(k.ns, Ratio::of(2, 2));
        assert_eq!(k.tma.seconds, Some(100.0));
        let lit = Definitions {
            ns_counts_ivr_abandons: true,
            tma_includes_after_call: true,
            ..d
        };
        let k = Kpis::from_stats(&s, &lit);
        assert_eq!(k.ns, Ratio::of(2, 4));
        assert_eq!(k.tma.seconds, Some(120.0));
    }
}
