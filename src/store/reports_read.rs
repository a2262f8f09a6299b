//! Reading the reports: the day in intervals, any period by day, the per-call list (in
//! `reports_calls`, re-exported here), agent production, and today's figures for the
//! wallboard — all from the projection, with the same code, so the live figures and the
//! reports cannot disagree. Typed results for the JSON API and the exports (`src/export`);
//! the caller decides who may see what (queue scope, masking of caller numbers) and
//! passes it in.

use std::collections::BTreeMap;

use serde::Serialize;

use super::reports::{ALL_QUEUES, AgentDayRow};
pub use super::reports_calls::{
    CallPage, CallQuery, CallRow, NumberView, UNREADABLE_LABEL, UnreadableCall, call_page,
    calls_table,
};
use super::{Store, StoreError};
use crate::reports::report::{Period, Report, SlotRow, by_day, by_interval};
use crate::reports::table::{Cell, Table, definition_notes};
use crate::reports::{Definitions, SlotStats, Slotter};

/// Longest period a report covers (tender: any period up to a year).
pub const MAX_DAYS: i64 = 366;

/// Which queues a report sums.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Queues {
    /// Every call (the overall rows).
    All,
    /// The calls whose last queue is one of these (a queue, or a supervisor's scope).
    Only(Vec<String>),
}

impl Queues {
    fn label(&self) -> String {
        match self {
            Queues::All => ALL_QUEUES.to_owned(),
            Queues::Only(q) => q.join(","),
        }
    }
}

/// What a report needs besides the store: the definitions in force and their zone.
#[derive(Debug, Clone)]
pub struct ReportContext {
    pub definitions: Definitions,
    pub slotter: Slotter,
}

impl ReportContext {
    /// From the running config: `[reports]` and the reporting zone.
    pub fn for_config(config: &crate::config::Config) -> Result<ReportContext, String> {
        let definitions = config.reports.in_force(&config.timezone);
        let slotter = Slotter::named(definitions.timezone.as_deref().unwrap_or("UTC"))?;
        Ok(ReportContext {
            definitions,
            slotter,
        })
    }

    pub(super) fn period(&self, from: &str, to: &str) -> Period {
        Period {
            from: from.to_owned(),
            to: to.to_owned(),
            timezone: self.definitions.timezone.clone().unwrap_or_default(),
        }
    }
}

/// A bad period or filter, for a 400.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PeriodError {
    #[error("dates are YYYY-MM-DD (months YYYY-MM)")]
    BadDate,
    #[error("the period ends before it starts")]
    Reversed,
    #[error("a period covers at most 366 days")]
    TooLong,
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Period(#[from] PeriodError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Checks `[from, to]` (local days, inclusive).
pub fn check_period(from: &str, to: &str) -> Result<(), PeriodError> {
    let f: jiff::civil::Date = from.parse().map_err(|_| PeriodError::BadDate)?;
    let t: jiff::civil::Date = to.parse().map_err(|_| PeriodError::BadDate)?;
    if t < f {
        return Err(PeriodError::Reversed);
    }
    let days = (t - f).get_days();
    if i64::from(days) >= MAX_DAYS {
        return Err(PeriodError::TooLong);
    }
    Ok(())
}

/// The first and last day of month `YYYY-MM`.
pub fn month_bounds(month: &str) -> Result<(String, String), PeriodError> {
    let first: jiff::civil::Date = format!("{month}-01")
        .parse()
        .map_err(|_| PeriodError::BadDate)?;
    Ok((first.to_string(), first.last_of_month().to_string()))
}

async fn slots(
    store: &Store,
    from: &str,
    to: &str,
    queues: &Queues,
) -> Result<Vec<SlotRow>, StoreError> {
    match queues {
        Queues::All => store.slot_rows(from, to, ALL_QUEUES).await,
        Queues::Only(list) => {
            let mut merged: BTreeMap<i64, (String, i64, SlotStats)> = BTreeMap::new();
            for q in list {
                for (start, date, index, s) in store.slot_rows(from, to, q).await? {
                    merged
                        .entry(start)
                        .or_insert_with(|| (date, index, SlotStats::default()))
                        .2
                        .merge(&s);
                }
            }
            Ok(merged
                .into_iter()
                .map(|(start, (date, index, s))| (start, date, index, s))
                .collect())
        }
    }
}

/// One local day in 30-minute intervals, with its total and TMA per hour.
pub async fn day_report(
    store: &Store,
    cx: &ReportContext,
    date: &str,
    queues: &Queues,
) -> Result<Report, ReadError> {
    check_period(date, date)?;
    let rows = slots(store, date, date, queues).await?;
    Ok(by_interval(
        &rows,
        cx.period(date, date),
        &queues.label(),
        &cx.slotter,
        &cx.definitions,
    ))
}

/// Local days `[from, to]` one row per day (a month, or any period up to a year).
pub async fn period_report(
    store: &Store,
    cx: &ReportContext,
    from: &str,
    to: &str,
    queues: &Queues,
) -> Result<Report, ReadError> {
    check_period(from, to)?;
    let rows = slots(store, from, to, queues).await?;
    Ok(by_day(
        &rows,
        cx.period(from, to),
        &queues.label(),
        &cx.slotter,
        &cx.definitions,
    ))
}

/// Today's figures (the wallboard): the same day report, for the local day of `now_ms`.
pub async fn today(
    store: &Store,
    cx: &ReportContext,
    now_ms: i64,
    queues: &Queues,
) -> Result<Report, ReadError> {
    let date = cx.slotter.date(now_ms);
    day_report(store, cx, &date, queues).await
}

/// One agent's production on one day (or, with `date` = `total`, the period).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AgentProduction {
    pub agent: String,
    pub date: String,
    /// Calls this agent talked to (a transferred call counts for each agent).
    pub calls: u64,
    pub talk_ms: i64,
    pub talk_max_ms: i64,
    /// Mean talk in seconds; `None` without calls.
    pub talk_mean_s: Option<f64>,
    /// Logged in (every state but logged out), cut at day borders.
    pub logged_ms: i64,
    pub pause_ms: i64,
    pub pause_by_reason: BTreeMap<String, i64>,
    pub after_call_ms: i64,
    pub first_login_ms: Option<i64>,
    pub last_logout_ms: Option<i64>,
    /// The state changes a supervisor forced, oldest first ("pausa (lanche) forçada por
    /// sup: reunião"); their time counts as any other (a forced pause is pause).
    pub forced: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentReport {
    pub definitions: Definitions,
    pub period: Period,
    /// Per agent per day, then one `total` row per agent.
    pub rows: Vec<AgentProduction>,
}

/// Agent production per day over `[from, to]`, with a total row per agent.
pub async fn agent_report(
    store: &Store,
    cx: &ReportContext,
    from: &str,
    to: &str,
    agent: Option<&str>,
) -> Result<AgentReport, ReadError> {
    check_period(from, to)?;
    let mut rows: BTreeMap<(String, String), AgentProduction> = BTreeMap::new();
    let entry = |rows: &mut BTreeMap<(String, String), AgentProduction>, a: &str, d: &str| {
        rows.entry((a.to_owned(), d.to_owned()))
            .or_insert_with(|| AgentProduction {
                agent: a.to_owned(),
                date: d.to_owned(),
                ..AgentProduction::default()
            })
            .clone()
    };
    for AgentDayRow {
        agent: a,
        date,
        calls,
        talk_ms,
        talk_max_ms,
    } in store.agent_days(from, to, agent).await?
    {
        let mut r = entry(&mut rows, &a, &date);
        r.calls = calls;
        r.talk_ms = talk_ms;
        r.talk_max_ms = talk_max_ms;
        rows.insert((a, date), r);
    }
    for (a, date, state, reason, ms) in store.agent_time(from, to, agent).await? {
        let mut r = entry(&mut rows, &a, &date);
        r.logged_ms += ms;
        match state.as_str() {
            "paused" => {
                r.pause_ms += ms;
                *r.pause_by_reason.entry(reason).or_default() += ms;
            }
            "wrap_up" => r.after_call_ms += ms,
            _ => {}
        }
        rows.insert((a, date), r);
    }
    if let (Some((start, _)), Some((_, end))) =
        (cx.slotter.day_bounds_ms(from), cx.slotter.day_bounds_ms(to))
    {
        for f in store.forced_changes(agent, start, end).await? {
            let date = cx.slotter.date(f.at_ms);
            let mut r = entry(&mut rows, &f.agent, &date);
            r.forced.push(f.label());
            rows.insert((f.agent.clone(), date), r);
        }
    }
    let mut out = Vec::new();
    let mut total: Option<AgentProduction> = None;
    for ((a, date), mut r) in rows {
        if let Some((start, end)) = cx.slotter.day_bounds_ms(&date) {
            (r.first_login_ms, r.last_logout_ms) = store.agent_login_span(&a, start, end).await?;
        }
        r.talk_mean_s = (r.calls > 0).then(|| r.talk_ms as f64 / 1000.0 / r.calls as f64);
        if total.as_ref().is_some_and(|t| t.agent != a) {
            out.extend(total.take());
        }
        let t = total.get_or_insert_with(|| AgentProduction {
            agent: a.clone(),
            date: "total".into(),
            ..AgentProduction::default()
        });
        t.calls += r.calls;
        t.talk_ms += r.talk_ms;
        t.talk_max_ms = t.talk_max_ms.max(r.talk_max_ms);
        t.logged_ms += r.logged_ms;
        t.pause_ms += r.pause_ms;
        t.after_call_ms += r.after_call_ms;
        for (k, v) in &r.pause_by_reason {
            *t.pause_by_reason.entry(k.clone()).or_default() += v;
        }
        t.forced.extend(r.forced.iter().cloned());
        t.first_login_ms = t.first_login_ms.or(r.first_login_ms);
        t.last_logout_ms = r.last_logout_ms.or(t.last_logout_ms);
        t.talk_mean_s = (t.calls > 0).then(|| t.talk_ms as f64 / 1000.0 / t.calls as f64);
        out.push(r);
    }
    out.extend(total);
    Ok(AgentReport {
        definitions: cx.definitions.clone(),
        period: cx.period(from, to),
        rows: out,
    })
}

/// Agent production as a typed table (pauses by reason in one text column).
pub fn agents_table(r: &AgentReport) -> Table {
    use crate::reports::table::Kind::*;
    let mut t = Table::new(
        "Produção por atendente",
        &[
            ("agent", "Atendente", Text),
            ("date", "Data", Text),
            ("calls", "Chamadas atendidas", Count),
            ("talk", "Tempo de conversa", Duration),
            ("talk_mean", "Conversa média", Duration),
            ("talk_max", "Conversa mais longa", Duration),
            ("first_login", "Primeiro login (UTC ms)", Count),
            ("last_logout", "Último logout (UTC ms)", Count),
            ("logged", "Tempo logado", Duration),
            ("pause", "Pausa total", Duration),
            ("pause_by_reason", "Pausas por motivo", Text),
            ("after_call", "Pós-atendimento", Duration),
            ("forced", "Mudanças forçadas", Text),
        ],
    );
    let ms = |v: Option<i64>| {
        v.and_then(|x| u64::try_from(x).ok())
            .map(Cell::Count)
            .unwrap_or(Cell::Empty)
    };
    t.rows = r
        .rows
        .iter()
        .map(|a| {
            vec![
                Cell::Text(a.agent.clone()),
                Cell::Text(a.date.clone()),
                Cell::Count(a.calls),
                Cell::DurationMs(a.talk_ms),
                a.talk_mean_s
                    .map(|s| Cell::DurationMs((s * 1000.0).round() as i64))
                    .unwrap_or(Cell::Empty),
                Cell::DurationMs(a.talk_max_ms),
                ms(a.first_login_ms),
                ms(a.last_logout_ms),
                Cell::DurationMs(a.logged_ms),
                Cell::DurationMs(a.pause_ms),
                Cell::Text(
                    a.pause_by_reason
                        .iter()
                        .map(|(k, v)| format!("{k}: {} s", v / 1000))
                        .collect::<Vec<_>>()
                        .join("; "),
                ),
                Cell::DurationMs(a.after_call_ms),
                Cell::Text(a.forced.join("; ")),
            ]
        })
        .collect();
    t.notes = definition_notes(&r.definitions);
    t.notes
        .push(format!("Período: {} a {}", r.period.from, r.period.to));
    t
}
