//! The per-call list: key-set pages of the calls of a period (with the list's filters and a
//! supervisor's queue scope in SQL), each call's row as the page and the files show it
//! (caller's number masked by role), and the typed table the exports write. A call whose
//! stored record cannot be parsed keeps its place, marked unreadable; a page's end is
//! counted on the rows read. Re-exported by `reports_read`, whose other reports it shares
//! the context and period checks with.

use serde::Serialize;

use super::Store;
use super::reports::FactFilter;
use super::reports_read::{PeriodError, ReadError, ReportContext, check_period};
use crate::reports::report::Period;
use crate::reports::table::{Cell, Table, definition_notes};
use crate::reports::{CallFact, Definitions, Outcome, Slotter};

/// How a restricted caller's number is shown (as everywhere else in atende).
const RESTRICTED: &str = "restrito";

/// How a caller's number is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberView {
    /// As stored (admin, auditor).
    Full,
    /// The last four digits only (supervisors).
    LastFour,
}

/// One line of the per-call list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallRow {
    pub protocol: String,
    pub date: String,
    /// Local arrival time, `HH:MM:SS`.
    pub time: String,
    pub weekday: String,
    pub arrived_ms: i64,
    pub agent: Option<String>,
    pub agents: Vec<String>,
    pub caller: String,
    pub queue: Option<String>,
    pub ivr_ms: i64,
    pub wait_ms: i64,
    pub talk_ms: i64,
    pub hold_ms: i64,
    pub after_call_ms: i64,
    pub total_ms: i64,
    pub outcome: Outcome,
    pub outcome_label: String,
    pub subcode: Option<String>,
    pub transfers: u32,
    pub survey_score: Option<u8>,
    pub registered: bool,
    pub hangup_by: Option<String>,
    /// `/api/calls/{protocol}/recording` when there is one (served by role, audited).
    pub recording: Option<String>,
}

/// A page of the per-call list and the key of the next one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallPage {
    pub definitions: Definitions,
    pub period: Period,
    pub calls: Vec<CallRow>,
    /// Calls of this page whose stored record could not be read (logged with their
    /// protocol): listed, never dropped silently, and shown in the table and the files as a
    /// row marked `UNREADABLE_LABEL`.
    pub unreadable: Vec<UnreadableCall>,
    /// Pass as `after` for the next page; `None` on the last page. Set from the rows read,
    /// so an unreadable row never makes a full page look like the last one.
    pub next: Option<String>,
}

/// A call in the list whose stored record could not be parsed: what the key says of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UnreadableCall {
    pub protocol: String,
    pub arrived_ms: i64,
    pub date: String,
    /// Local arrival time, `HH:MM:SS`.
    pub time: String,
}

/// The outcome column of an unreadable call's row in the table and the files.
pub const UNREADABLE_LABEL: &str = "registro ilegível (dados omitidos)";

fn mask(number: &str, restricted: bool, view: NumberView) -> String {
    if restricted {
        return RESTRICTED.to_owned();
    }
    match view {
        NumberView::Full => number.to_owned(),
        NumberView::LastFour => {
            let n = number.chars().count();
            let tail: String = number.chars().skip(n.saturating_sub(4)).collect();
            format!("{}{tail}", "•".repeat(n.saturating_sub(4)))
        }
    }
}

/// The local date and `HH:MM:SS` of an instant.
fn local_date_time(ms: i64, slotter: &Slotter) -> (String, String) {
    let time = jiff::Timestamp::from_millisecond(ms)
        .map(|t| {
            t.to_zoned_datetime(slotter.time_zone().clone())
                .strftime("%H:%M:%S")
                .to_string()
        })
        .unwrap_or_default();
    (slotter.date(ms), time)
}

fn call_row(f: CallFact, slotter: &Slotter, view: NumberView) -> CallRow {
    let (date, time) = local_date_time(f.arrived_ms, slotter);
    CallRow {
        weekday: Slotter::weekday_pt(&date).to_owned(),
        agent: f.first_agent().map(str::to_owned),
        agents: f.agents.iter().map(|a| a.agent.clone()).collect(),
        caller: mask(&f.a_number, f.restricted, view),
        after_call_ms: f.acw_ms,
        total_ms: f.total_ms(),
        outcome_label: f.outcome.label_pt().to_owned(),
        recording: f
            .recording
            .as_ref()
            .filter(|_| !f.recording_failed)
            .map(|_| format!("/api/calls/{}/recording", f.protocol)),
        date,
        time,
        protocol: f.protocol,
        arrived_ms: f.arrived_ms,
        queue: f.queue,
        ivr_ms: f.ivr_ms,
        wait_ms: f.wait_ms,
        talk_ms: f.talk_ms,
        hold_ms: f.hold_ms,
        outcome: f.outcome,
        subcode: f.subcode,
        transfers: f.transfers,
        survey_score: f.survey_score,
        registered: f.registered,
        hangup_by: f.hangup_by,
    }
}

/// Filters of the per-call list (local days, inclusive).
#[derive(Debug, Clone, Default)]
pub struct CallQuery {
    pub from: String,
    pub to: String,
    pub outcome: Option<Outcome>,
    pub queue: Option<String>,
    pub agent: Option<String>,
    /// `arrived_ms:protocol` from the previous page.
    pub after: Option<String>,
    pub limit: i64,
}

/// A page of the per-call list, oldest first.
pub async fn call_page(
    store: &Store,
    cx: &ReportContext,
    q: &CallQuery,
    scope: Option<Vec<String>>,
    view: NumberView,
) -> Result<CallPage, ReadError> {
    check_period(&q.from, &q.to)?;
    let from_ms = cx
        .slotter
        .day_start_ms(&q.from)
        .ok_or(PeriodError::BadDate)?;
    let (_, to_ms) = cx
        .slotter
        .day_bounds_ms(&q.to)
        .ok_or(PeriodError::BadDate)?;
    let after = match &q.after {
        Some(a) => {
            let (ms, p) = a.split_once(':').ok_or(PeriodError::BadDate)?;
            Some((ms.parse().map_err(|_| PeriodError::BadDate)?, p.to_owned()))
        }
        None => None,
    };
    let limit = q.limit.clamp(1, 1000);
    let page = store
        .fact_page(&FactFilter {
            from_ms,
            to_ms,
            outcome: q.outcome.map(|o| o.as_str().to_owned()),
            queue: q.queue.clone(),
            agent: q.agent.clone(),
            scope,
            after,
            limit,
        })
        .await?;
    let next = page.next(limit).map(|(ms, p)| format!("{ms}:{p}"));
    Ok(CallPage {
        definitions: cx.definitions.clone(),
        period: cx.period(&q.from, &q.to),
        calls: page
            .facts
            .into_iter()
            .map(|f| call_row(f, &cx.slotter, view))
            .collect(),
        unreadable: page
            .unreadable
            .into_iter()
            .map(|(arrived_ms, protocol)| {
                let (date, time) = local_date_time(arrived_ms, &cx.slotter);
                UnreadableCall {
                    protocol,
                    arrived_ms,
                    date,
                    time,
                }
            })
            .collect(),
        next,
    })
}

/// The per-call list as a typed table (for the exports), with the definitions as notes.
pub fn calls_table(page: &CallPage) -> Table {
    use crate::reports::table::Kind::*;
    let mut t = Table::new(
        "Lista de chamadas",
        &[
            ("date", "Data", Date),
            ("time", "Hora", Time),
            ("weekday", "Dia da semana", Text),
            ("protocol", "Protocolo", Text),
            ("agent", "Atendente", Text),
            ("caller", "Número do chamador", Text),
            ("queue", "Fila", Text),
            ("ivr", "Tempo de URA", Duration),
            ("wait", "Tempo de fila", Duration),
            ("talk", "Tempo de conversa", Duration),
            ("after_call", "Pós-atendimento", Duration),
            ("total", "Tempo total", Duration),
            ("outcome", "Resultado", Text),
            ("survey", "Nota da pesquisa", Count),
            ("registered", "Registrada", Text),
            ("recording", "Gravação", Text),
        ],
    );
    let text = |s: &Option<String>| s.clone().map(Cell::Text).unwrap_or(Cell::Empty);
    let mut rows: Vec<(i64, &str, Vec<Cell>)> = page
        .calls
        .iter()
        .map(|c| {
            let cells = vec![
                Cell::Date(c.date.clone()),
                Cell::Time(c.time.clone()),
                Cell::Text(c.weekday.clone()),
                Cell::Text(c.protocol.clone()),
                text(&c.agent),
                Cell::Text(c.caller.clone()),
                text(&c.queue),
                Cell::DurationMs(c.ivr_ms),
                Cell::DurationMs(c.wait_ms),
                Cell::DurationMs(c.talk_ms),
                Cell::DurationMs(c.after_call_ms),
                Cell::DurationMs(c.total_ms),
                Cell::Text(c.outcome_label.clone()),
                c.survey_score
                    .map(|s| Cell::Count(u64::from(s)))
                    .unwrap_or(Cell::Empty),
                Cell::Text(if c.registered { "sim" } else { "não" }.to_owned()),
                text(&c.recording),
            ];
            (c.arrived_ms, c.protocol.as_str(), cells)
        })
        .collect();
    // An unreadable call keeps its place in the list: its key's date, time and protocol,
    // the marker in the outcome column, nothing else (nothing else is known).
    for u in &page.unreadable {
        let mut cells = vec![Cell::Empty; t.columns.len()];
        for (key, cell) in [
            ("date", Cell::Date(u.date.clone())),
            ("time", Cell::Time(u.time.clone())),
            (
                "weekday",
                Cell::Text(Slotter::weekday_pt(&u.date).to_owned()),
            ),
            ("protocol", Cell::Text(u.protocol.clone())),
            ("outcome", Cell::Text(UNREADABLE_LABEL.to_owned())),
        ] {
            if let Some(i) = t.columns.iter().position(|c| c.key == key) {
                cells[i] = cell;
            }
        }
        rows.push((u.arrived_ms, u.protocol.as_str(), cells));
    }
    rows.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    t.rows = rows.into_iter().map(|(_, _, cells)| cells).collect();
    t.notes = definition_notes(&page.definitions);

    t.notes.push(format!(
        "Período: {} a {}",
        page.period.from, page.period.to
    ));
    t
}
