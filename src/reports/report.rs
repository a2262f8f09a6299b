//! Report shapes over stored interval rows: the day in 30-minute intervals, a period by
//! day, TMA per hour. Typed and serde so the web page, the JSON API and the exports
//! (`src/export`) read the same thing; every report carries the definitions in force and
//! its period. Totals are merges of the rows' counters, never means of their indices.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::definitions::Definitions;
use super::kpi::{Kpis, Mean};
use super::slot::Slotter;
use super::stats::SlotStats;

/// The period a report covers, in local days, inclusive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Period {
    pub from: String,
    pub to: String,
    pub timezone: String,
}

/// One row: an interval or a day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// `09:30–10:00` for an interval, `2026-12-07` for a day, `total` for the total.
    pub label: String,
    pub date: String,
    /// The interval's index in its day (intervals only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<i64>,
    /// The interval's start, UTC ms (intervals only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_ms: Option<i64>,
    pub stats: SlotStats,
    pub kpis: Kpis,
}

/// TMA of one local hour (tender §p II: TMA by hour, day and month).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HourTma {
    pub hour: i8,
    pub tma: Mean,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub definitions: Definitions,
    pub period: Period,
    /// The queue, or `*` for every queue.
    pub queue: String,
    pub rows: Vec<Row>,
    pub total: Row,
    pub tma_by_hour: Vec<HourTma>,
    /// Calls still in progress are counted: the figures may still change.
    pub provisional: bool,
}

/// A stored interval: start (UTC ms), local date, index, counters.
pub type SlotRow = (i64, String, i64, SlotStats);

fn row(
    label: String,
    date: String,
    index: Option<i64>,
    start_ms: Option<i64>,
    stats: SlotStats,
    d: &Definitions,
) -> Row {
    let kpis = Kpis::from_stats(&stats, d);
    Row {
        label,
        date,
        index,
        start_ms,
        stats,
        kpis,
    }
}

fn tma_by_hour(slots: &[SlotRow], slotter: &Slotter, d: &Definitions) -> Vec<HourTma> {
    let mut hours: BTreeMap<i8, SlotStats> = BTreeMap::new();
    for (start, _, _, s) in slots {
        hours.entry(slotter.hour(*start)).or_default().merge(s);
    }
    hours
        .into_iter()
        .map(|(hour, s)| HourTma {
            hour,
            tma: Kpis::from_stats(&s, d).tma,
        })
        .collect()
}

fn finish(
    rows: Vec<Row>,
    slots: &[SlotRow],
    period: Period,
    queue: &str,
    slotter: &Slotter,
    d: &Definitions,
) -> Report {
    let mut total = SlotStats::default();
    for r in &rows {
        total.merge(&r.stats);
    }
    Report {
        definitions: d.clone(),
        provisional: total.in_progress > 0,
        total: row("total".into(), String::new(), None, None, total, d),
        tma_by_hour: tma_by_hour(slots, slotter, d),
        period,
        queue: queue.to_owned(),
        rows,
    }
}

/// One row per stored interval (intervals without calls are absent).
pub fn by_interval(
    slots: &[SlotRow],
    period: Period,
    queue: &str,
    slotter: &Slotter,
    d: &Definitions,
) -> Report {
    let rows = slots
        .iter()
        .map(|(start, date, index, s)| {
            row(
                slotter.label(*start),
                date.clone(),
                Some(*index),
                Some(*start),
                s.clone(),
                d,
            )
        })
        .collect();
    finish(rows, slots, period, queue, slotter, d)
}

/// One row per local day with calls.
pub fn by_day(
    slots: &[SlotRow],
    period: Period,
    queue: &str,
    slotter: &Slotter,
    d: &Definitions,
) -> Report {
    let mut days: BTreeMap<String, SlotStats> = BTreeMap::new();
    for (_, date, _, s) in slots {
        days.entry(date.clone()).or_default().merge(s);
    }
    let rows = days
        .into_iter()
        .map(|(date, s)| row(date.clone(), date, None, None, s, d))
        .collect();
    finish(rows, slots, period, queue, slotter, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_merge_counters_and_days_sum_their_intervals() {
        let sp = Slotter::named("America/Sao_Paulo").expect("tz");
        let a = SlotStats {
            offered: 1,
            answered_within: 1,
            talk_ms: 100_000,
            ..SlotStats::default()
        };
        let b = SlotStats {
            offered: 3,
            answered_beyond: 3,
            talk_ms: 300_000,
            ..SlotStats::default()
        };
        let nine = sp.day_start_ms("2026-12-07").expect("day") + 18 * 1_800_000;
        let slots = vec![
            (nine, "2026-12-07".to_owned(), 18, a),
            (nine + 1_800_000, "2026-12-07".to_owned(), 19, b),
        ];
        let period = Period {
            from: "2026-12-07".into(),
            to: "2026-12-07".into(),
            timezone: "America/Sao_Paulo".into(),
        };
        let d = Definitions::default();
        let r = by_interval(&slots, period.clone(), "*", &sp, &d);
        assert_eq!(r.rows.len(), 2);
        assert_eq!(r.rows[0].label, "09:00–09:30");
        assert_eq!(r.total.kpis.ns.percent, Some(25.0));
        assert_eq!(r.tma_by_hour.len(), 1);
        assert_eq!(r.tma_by_hour[0].tma.seconds, Some(100.0));
        let m = by_day(&slots, period, "*", &sp, &d);
        assert_eq!(m.rows.len(), 1);
        assert_eq!(m.rows[0].stats, r.total.stats);
    }
}
