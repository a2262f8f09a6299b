//! The reports beyond the interval ones, read from the store and shaped as typed tables
//! (`reports::table`) for the page and the downloads: the IVR (visits and abandons per
//! node, calls the IVR served, presses of 0 — from `ivr_stats`), the satisfaction survey
//! (`reports::survey_results` over the calls' survey entries), the quality-monitoring
//! evaluations of a month, and the agents × days grid of calls answered.
//!
//! Read-only. Periods are local days (the reporting zone); a call belongs to the day it
//! arrived. Limits: the survey entries of a period are read at once (a month's surveys
//! are tens of thousands of small rows).

use std::collections::BTreeMap;

use serde::Serialize;

use super::event::EventKind;
use super::ivr_stats::IvrStats;
use super::reports::AgentDayRow;
use super::{Store, StoreError};
use crate::quality::Evaluation;
use crate::quality::score::Summary;
use crate::reports::kpi::Ratio;
use crate::reports::survey_results::{self, SurveyResults};
use crate::reports::table::{Cell, Kind, Table};

impl Store {
    /// The survey results of the calls that started in `[from_ms, to_ms)`.
    pub async fn survey_results(
        &self,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<SurveyResults, StoreError> {
        let rows: Vec<(String, i64, String)> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT e.protocol, e.seq, e.detail FROM call_events e \
                 JOIN calls c ON c.protocol = e.protocol \
                 WHERE e.kind IN ('survey_started', 'survey_answered') \
                 AND c.started_at_ms >= $1 AND c.started_at_ms < $2 \
                 ORDER BY e.protocol, e.seq",
            )
            .bind(from_ms)
            .bind(to_ms)
            .fetch_all(pool)
            .await?
        });
        let mut entries = Vec::with_capacity(rows.len());
        for (protocol, seq, detail) in rows {
            let kind: EventKind =
                serde_json::from_str(&detail).map_err(|source| StoreError::BadDetail {
                    protocol: protocol.clone(),
                    seq,
                    source,
                })?;
            entries.push((protocol, kind));
        }
        Ok(survey_results::fold(
            entries.iter().map(|(p, k)| (p.as_str(), k)),
        ))
    }
}

fn pct(r: &Ratio) -> Cell {
    r.percent.map_or(Cell::Empty, Cell::Percent)
}

/// The IVR report: one row per node (visits, abandons, timeouts, invalid keys), then the
/// calls' totals.
pub fn ivr_table(s: &IvrStats) -> Table {
    use Kind::*;
    let mut t = Table::new(
        "Relatório da URA",
        &[
            ("flow", "Fluxo", Text),
            ("node", "Nó", Text),
            ("kind", "Tipo", Text),
            ("visits", "Visitas", Count),
            ("abandons", "Abandonos", Count),
            ("abandon_rate", "Abandono (%)", Percent),
            ("timeouts", "Sem digitação", Count),
            ("invalid", "Opção inválida", Count),
            ("zero", "Tecla 0", Count),
        ],
    );
    for n in &s.nodes {
        t.rows.push(vec![
            Cell::Text(n.flow.clone()),
            Cell::Text(n.node.clone()),
            Cell::Text(n.kind.clone()),
            Cell::Count(n.entries),
            Cell::Count(n.hang_ups),
            pct(&Ratio::of(n.hang_ups, n.entries)),
            Cell::Count(n.timeouts),
            Cell::Count(n.invalid_inputs),
            Cell::Count(n.exits.get("0").copied().unwrap_or(0)),
        ]);
    }
    let sum = |f: fn(&crate::store::ivr_stats::NodeStats) -> u64| s.nodes.iter().map(f).sum();
    t.rows.push(vec![
        Cell::Text("Total".into()),
        Cell::Text(String::new()),
        Cell::Text(String::new()),
        Cell::Count(s.calls),
        Cell::Count(s.abandoned_in_ivr),
        pct(&Ratio::of(s.abandoned_in_ivr, s.calls)),
        Cell::Count(sum(|n| n.timeouts)),
        Cell::Count(sum(|n| n.invalid_inputs)),
        Cell::Count(s.pressed_zero),
    ]);
    t.notes.push(format!(
        "Chamadas na URA: {}; atendidas pela URA: {}; abandonadas na URA: {}; encaminhadas a fila: {}; transferidas: {}",
        s.calls, s.served_by_ivr, s.abandoned_in_ivr, s.queued, s.transferred
    ));
    t.notes.push(format!(
        "Tecla 0 (pediram atendente): {} chamadas, {} delas chegaram a uma fila ou transferência",
        s.pressed_zero, s.pressed_zero_reached_human
    ));
    t.notes
        .push("Linha Total: visitas = chamadas que entraram na URA; tecla 0 = chamadas".into());
    t
}

/// The quality-monitoring results of a month: every evaluation that counts (not revised),
/// then each agent's score and the month's IMQ.
pub fn quality_table(month: &str, evals: &[Evaluation], s: &Summary) -> Table {
    use Kind::*;
    let mut t = Table::new(
        "Monitoria de qualidade",
        &[
            ("line", "Linha", Text),
            ("protocol", "Protocolo", Text),
            ("agent", "Atendente", Text),
            ("evaluator", "Monitor", Text),
            ("form", "Formulário", Text),
            ("grades", "Notas por critério", Text),
            ("score", "Nota (%)", Percent),
            ("calls", "Ligações avaliadas", Count),
        ],
    );
    let current = crate::quality::score::current(evals);
    for e in &current {
        let grades = e
            .grades
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join("; ");
        t.rows.push(vec![
            Cell::Text("Avaliação".into()),
            Cell::Text(e.protocol.clone()),
            Cell::Text(e.agent.clone()),
            Cell::Text(e.evaluator.clone()),
            Cell::Text(format!("{} v{}", e.form_id, e.form_version)),
            Cell::Text(grades),
            Cell::Percent(f64::from(e.score) / 100.0),
            Cell::Empty,
        ]);
    }
    let mean = |m: &crate::contract::Measured| {
        if m.denominator == 0 {
            Cell::Empty
        } else {
            Cell::Percent(m.numerator as f64 / 100.0 / m.denominator as f64)
        }
    };
    for a in &s.agents {
        t.rows.push(vec![
            Cell::Text("Atendente".into()),
            Cell::Empty,
            Cell::Text(a.agent.clone()),
            Cell::Empty,
            Cell::Empty,
            Cell::Empty,
            mean(&a.measured),
            Cell::Count(a.measured.denominator),
        ]);
    }
    t.rows.push(vec![
        Cell::Text("IMQ do mês".into()),
        Cell::Empty,
        Cell::Empty,
        Cell::Empty,
        Cell::Empty,
        Cell::Empty,
        mean(&s.imq),
        Cell::Count(s.imq.denominator),
    ]);
    t.notes.push(format!("Mês: {month}"));
    t.notes.push(
        "IMQ: média das notas das ligações avaliadas (nota da ligação: média das suas avaliações vigentes)".into(),
    );
    t
}

/// The agents × days grid of calls answered.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentDays {
    pub from: String,
    pub to: String,
    pub days: Vec<String>,
    pub agents: Vec<AgentDaysRow>,
    /// Per day, every agent's calls.
    pub totals: Vec<u64>,
    pub total: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentDaysRow {
    pub agent: String,
    /// Calls answered on each of `days`.
    pub calls: Vec<u64>,
    pub total: u64,
}

/// Every day of `[from, to]` (valid `YYYY-MM-DD`, checked by the caller) as a column, every
/// agent with a call as a row.
pub fn agent_days(from: &str, to: &str, rows: &[AgentDayRow]) -> AgentDays {
    let mut days = Vec::new();
    if let (Ok(mut d), Ok(end)) = (
        from.parse::<jiff::civil::Date>(),
        to.parse::<jiff::civil::Date>(),
    ) {
        while d <= end && days.len() <= 366 {
            days.push(d.to_string());
            match d.tomorrow() {
                Ok(next) => d = next,
                Err(_) => break,
            }
        }
    }
    let column: BTreeMap<&str, usize> = days
        .iter()
        .enumerate()
        .map(|(i, d)| (d.as_str(), i))
        .collect();
    let mut agents: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for r in rows {
        if let Some(&i) = column.get(r.date.as_str()) {
            agents
                .entry(r.agent.as_str())
                .or_insert_with(|| vec![0; days.len()])[i] += r.calls;
        }
    }
    let mut totals = vec![0; days.len()];
    let agents: Vec<AgentDaysRow> = agents
        .into_iter()
        .map(|(agent, calls)| {
            for (t, c) in totals.iter_mut().zip(&calls) {
                *t += c;
            }
            AgentDaysRow {
                agent: agent.to_owned(),
                total: calls.iter().sum(),
                calls,
            }
        })
        .collect();
    AgentDays {
        from: from.to_owned(),
        to: to.to_owned(),
        total: totals.iter().sum(),
        days,
        agents,
        totals,
    }
}

/// The grid as a table: a column per day (`dd/mm`), the agent's total last.
pub fn agent_days_table(g: &AgentDays) -> Table {
    let labels: Vec<String> = g
        .days
        .iter()
        .map(|d| format!("{}/{}", &d[8..10], &d[5..7]))
        .collect();
    let mut columns: Vec<(&str, &str, Kind)> = vec![("agent", "Atendente", Kind::Text)];
    columns.extend(
        g.days
            .iter()
            .zip(&labels)
            .map(|(d, l)| (d.as_str(), l.as_str(), Kind::Count)),
    );
    columns.push(("total", "Total", Kind::Count));
    let mut t = Table::new("Chamadas atendidas por atendente e dia", &columns);
    for a in &g.agents {
        let mut row = vec![Cell::Text(a.agent.clone())];
        row.extend(a.calls.iter().map(|c| Cell::Count(*c)));
        row.push(Cell::Count(a.total));
        t.rows.push(row);
    }
    let mut row = vec![Cell::Text("Total".into())];
    row.extend(g.totals.iter().map(|c| Cell::Count(*c)));
    row.push(Cell::Count(g.total));
    t.rows.push(row);
    t.notes.push(format!("Período: {} a {}", g.from, g.to));
    t.notes
        .push("Uma chamada transferida conta para cada atendente que falou com o cidadão".into());
    t
}

#[cfg(test)]
mod tests;
