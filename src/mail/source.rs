//! Where a report mail's tables come from.
//!
//! The projector (the contract's day and month reports) implements `ReportSource`; until
//! it does, `CallList` gives the period's calls straight from the call log's summary rows,
//! with the caller's number masked (a mail leaves the system: LGPD).

use std::future::Future;
use std::pin::Pin;

use jiff::civil::DateTime;
use jiff::tz::TimeZone;

use super::Job;
use crate::export::{Cell, Column, Header, Kind, Report, Row, Status};
use crate::store::Store;

/// The tables of one mail: each becomes one file per configured format.
pub type Tables = Vec<(Report, Vec<Row>)>;
/// A source's failure; the mail is retried later.
pub type SourceError = Box<dyn std::error::Error + Send + Sync>;

pub trait ReportSource: Send + Sync {
    /// The tables of `job`'s mail, headed as made at `generated_at` (local time).
    fn tables(
        &self,
        job: Job,
        generated_at: DateTime,
    ) -> Pin<Box<dyn Future<Output = Result<Tables, SourceError>> + Send + '_>>;
}

/// Calls per mail at most (a month at the tender's volume is ≈ 300 k).
const MAX_CALLS: i64 = 2_000_000;

/// The period's calls from the call log (`calls` summary rows), one row each.
pub struct CallList {
    pub store: Store,
    pub time_zone: TimeZone,
    pub time_zone_name: String,
}

impl ReportSource for CallList {
    fn tables(
        &self,
        job: Job,
        generated_at: DateTime,
    ) -> Pin<Box<dyn Future<Output = Result<Tables, SourceError>> + Send + '_>> {
        Box::pin(async move {
            let (first, last) = job.period();
            let start = first.to_zoned_datetime(self.time_zone.clone())?.timestamp();
            let end = last
                .tomorrow()?
                .to_zoned_datetime(self.time_zone.clone())?
                .timestamp();
            let calls = self
                .store
                .list_calls(start.as_millisecond(), end.as_millisecond(), MAX_CALLS)
                .await?;
            let rows: Vec<Row> = calls
                .iter()
                .map(|c| {
                    let local = |ms: Option<i64>| {
                        ms.and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
                            .map(|t| self.time_zone.to_datetime(t))
                    };
                    let span = |from: Option<i64>, to: Option<i64>| match (from, to) {
                        (Some(a), Some(b)) if b >= a => Cell::Duration((b - a) as u64),
                        _ => Cell::Empty,
                    };
                    let text = |s: &Option<String>| s.clone().map_or(Cell::Empty, Cell::Text);
                    let arrival = local(c.started_at_ms);
                    vec![
                        arrival.map_or(Cell::Empty, |t| Cell::Date(t.date())),
                        arrival.map_or(Cell::Empty, Cell::DateTime),
                        arrival.map_or(Cell::Empty, |t| Cell::Text(weekday(t.date()).into())),
                        Cell::Text(c.protocol.to_string()),
                        text(&c.service),
                        c.a_number
                            .as_deref()
                            .map_or(Cell::Empty, |n| Cell::Text(mask(n))),
                        text(&c.agent),
                        span(c.started_at_ms, c.answered_at_ms),
                        span(c.answered_at_ms, c.ended_at_ms),
                        span(c.started_at_ms, c.ended_at_ms),
                        c.hangup_by
                            .as_deref()
                            .map_or(Cell::Empty, |b| Cell::Text(hangup_by(b).into())),
                        text(&c.hangup_cause),
                    ]
                })
                .collect();
            let report = Report {
                header: Header {
                    title: format!("Lista de chamadas — {}", job.subject()),
                    period: (first, last),
                    time_zone: self.time_zone_name.clone(),
                    threshold_ms: 30_000,
                    // The projector freezes closed months; the raw list never claims to.
                    status: Status::Provisional,
                    definitions_version: "lista do registro de chamadas (sem indicadores)".into(),
                    generated_at,
                    notes: vec![(
                        "Origem".into(),
                        "número mascarado (LGPD): só os 4 últimos dígitos".into(),
                    )],
                },
                columns: vec![
                    Column::new("Data", Kind::Date),
                    Column::new("Chegada", Kind::DateTime),
                    Column::new("Dia da semana", Kind::Text),
                    Column::new("Protocolo", Kind::Text),
                    Column::new("Serviço", Kind::Text),
                    Column::new("Origem", Kind::Text),
                    Column::new("Atendente", Kind::Text),
                    Column::new("Até o atendimento", Kind::Duration),
                    Column::new("Conversa", Kind::Duration),
                    Column::new("Total", Kind::Duration),
                    Column::new("Encerrada por", Kind::Text),
                    Column::new("Causa", Kind::Text),
                ],
                sheet: "Chamadas".into(),
            };
            Ok::<Tables, SourceError>(vec![(report, rows)])
        })
    }
}

/// Only the last four digits: enough for a manager to recognise a call, not to call back.
fn mask(number: &str) -> String {
    let digits: Vec<char> = number.chars().filter(|c| c.is_ascii_digit()).collect();
    let keep = digits.len().saturating_sub(4);
    digits
        .iter()
        .enumerate()
        .map(|(i, &c)| if i < keep { '•' } else { c })
        .collect()
}

fn weekday(d: jiff::civil::Date) -> &'static str {
    use jiff::civil::Weekday::*;
    match d.weekday() {
        Monday => "segunda-feira",
        Tuesday => "terça-feira",
        Wednesday => "quarta-feira",
        Thursday => "quinta-feira",
        Friday => "sexta-feira",
        Saturday => "sábado",
        Sunday => "domingo",
    }
}

fn hangup_by(by: &str) -> &str {
    match by {
        "caller" => "cidadão",
        "agent" => "atendente",
        "system" => "sistema",
        other => other,
    }
}
