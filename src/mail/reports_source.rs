//! The report mails' tables from the projector's reports — the very functions the JSON
//! API and its downloads use (`store::reports_read`, `reports::table`):
//!
//! - daily: the day in 30-minute intervals, then the day's per-call list;
//! - monthly: the month by day (a closed month's frozen copy, `crate::closing`), then the
//!   contract panel.
//!
//! Callers' numbers are masked to their last four digits (a mail leaves the system: LGPD).
//! Limits: the config is the one the server started with (a reload's `[contract]` reaches
//! the mails after a restart); a day's list is built in memory (the monthly mail carries no
//! per-call list: a month's is the download's, `/api/reports/calls?format=`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use jiff::civil::DateTime;

use super::Job;
use super::source::{ReportSource, SourceError, Tables};
use crate::api::report_table::from_table;
use crate::config::Config;
use crate::contract::Kpis;
use crate::export::{Header, Status};
use crate::quality::score::summary;
use crate::reports::report::Report;
use crate::reports::table::report_table;
use crate::store::Store;
use crate::store::reports_read::{self, CallQuery, NumberView, Queues, ReportContext};

/// The projector's reports as mail tables.
pub struct ProjectorReports {
    pub store: Store,
    pub config: Arc<Config>,
}

impl ReportSource for ProjectorReports {
    fn tables(
        &self,
        job: Job,
        generated_at: DateTime,
    ) -> Pin<Box<dyn Future<Output = Result<Tables, SourceError>> + Send + '_>> {
        Box::pin(async move {
            let cx = ReportContext::for_config(&self.config).map_err(SourceError::from)?;
            let (first, last) = job.period();
            let (from, to) = (first.to_string(), last.to_string());
            let header = |status: Status, notes: Vec<(String, String)>| Header {
                title: String::new(),
                period: (first, last),
                time_zone: cx.definitions.timezone.clone().unwrap_or_default(),
                threshold_ms: u64::try_from(cx.definitions.threshold_ms).unwrap_or(0),
                status,
                definitions_version: cx.definitions.version.clone(),
                generated_at,
                notes,
            };
            let past = if last < generated_at.date() {
                Status::Closed
            } else {
                Status::Provisional
            };
            let masked = vec![(
                "Origem".to_owned(),
                "número mascarado (LGPD): só os 4 últimos dígitos".to_owned(),
            )];
            let mut tables = Tables::new();
            match job {
                Job::Daily(_) => {
                    let r = reports_read::day_report(&self.store, &cx, &from, &Queues::All).await?;
                    let t = report_table(&r, "Relatório diário por intervalo");
                    tables.push(from_table(&t, header(past, vec![]), "Intervalos"));
                    let (mut rows, mut table) = (Vec::new(), None);
                    let mut query = CallQuery {
                        from: from.clone(),
                        to: to.clone(),
                        outcome: None,
                        queue: None,
                        agent: None,
                        after: None,
                        limit: 1000,
                    };
                    loop {
                        let page = reports_read::call_page(
                            &self.store,
                            &cx,
                            &query,
                            None,
                            NumberView::LastFour,
                        )
                        .await?;
                        let t = reports_read::calls_table(&page);
                        let (report, page_rows) =
                            from_table(&t, header(past, masked.clone()), "Chamadas");
                        rows.extend(page_rows);
                        table.get_or_insert(report);
                        match page.next {
                            Some(next) => query.after = Some(next),
                            None => break,
                        }
                    }
                    if let Some(report) = table {
                        tables.push((report, rows));
                    }
                }
                Job::Monthly(_) => {
                    let month = format!("{:04}-{:02}", first.year(), first.month());
                    let (r, note) = match crate::closing::frozen(&self.store, &month).await? {
                        Some((content, revisions)) => {
                            let zone = cx.definitions.timezone.as_deref().unwrap_or("UTC");
                            let label = crate::closing::closed_block(&revisions, zone)["label"]
                                .as_str()
                                .unwrap_or_default()
                                .to_owned();
                            (frozen_report(content)?, Some(label))
                        }
                        None => (
                            reports_read::period_report(&self.store, &cx, &from, &to, &Queues::All)
                                .await?,
                            None,
                        ),
                    };
                    let status = if note.is_some() { Status::Closed } else { past };
                    let notes: Vec<(String, String)> = note
                        .into_iter()
                        .map(|l| ("Fechamento".to_owned(), l))
                        .collect();
                    let t = report_table(&r, "Relatório mensal por dia");
                    tables.push(from_table(&t, header(status, notes.clone()), "Mensal"));
                    if let Ok(contract) = self.config.contract.contract() {
                        let evals = self.store.quality_evaluations(&month).await?;
                        let kpis = Kpis {
                            imq: Some(summary(&evals).imq),
                            ..r.total.kpis.contract_kpis()
                        };
                        let panel = crate::contract::panel(&contract, first, &kpis);
                        let t = crate::api::quality::panel_table(&panel);
                        tables.push(from_table(&t, header(status, notes), "Painel"));
                    }
                }
            }
            Ok::<Tables, SourceError>(tables)
        })
    }
}

/// A closed month's frozen report, typed, with the definitions' version it was frozen with.
fn frozen_report(mut content: serde_json::Value) -> Result<Report, SourceError> {
    let mut report = content
        .get_mut("report")
        .map(serde_json::Value::take)
        .ok_or("a closed month without its report")?;
    let version = report
        .get_mut("definitions")
        .and_then(|d| d.as_object_mut())
        .and_then(|d| d.remove("version"));
    let mut r: Report = serde_json::from_value(report)?;
    if let Some(serde_json::Value::String(v)) = version {
        r.definitions.version = v;
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::Cell;
    use crate::reports::golden_tests::day;
    use crate::reports::{Definitions, Slotter};
    use crate::store::event::CallEvent;
    use crate::store::reports_projector::Projector;
    use crate::store::testing::{TestDb, both_backends};

    both_backends!(the_monthly_mail_is_the_month_report_and_the_panel, monthly);
    async fn monthly(db: TestDb) {
        let config = Config::parse(include_str!("../../config/atende.toml")).expect("shipped");
        let mut events = Vec::new();
        for (i, (fx, _)) in day().into_iter().enumerate() {
            for e in fx.log {
                events.push(CallEvent {
                    protocol: format!("20261207-{:06}", i + 1).parse().expect("protocol"),
                    seq: e.seq,
                    at_ms: e.at_ms,
                    kind: e.kind,
                });
            }
        }
        db.store.write_batch(&events).await.expect("events");
        Projector::new(
            db.store.clone(),
            &Definitions::default(),
            Slotter::named("America/Sao_Paulo").expect("tz"),
        )
        .catch_up()
        .await
        .expect("projected");
        let source = ProjectorReports {
            store: db.store.clone(),
            config: Arc::new(config),
        };
        let month = jiff::civil::date(2026, 12, 1);
        let at = jiff::civil::date(2027, 1, 7).at(7, 0, 0, 0);
        let tables = source
            .tables(Job::Monthly(month), at)
            .await
            .expect("tables");
        assert_eq!(tables.len(), 2, "the month by day, then the contract panel");
        let (report, rows) = &tables[0];
        assert_eq!(report.header.title, "Relatório mensal por dia");
        let total = rows.last().expect("total row");
        let offered = report
            .columns
            .iter()
            .position(|c| c.title == "Oferecidas")
            .expect("offered column");
        // The golden day's 13 calls (hand-computed in `reports::golden_tests`).
        assert_eq!(total[offered], Cell::Integer(13));
        assert_eq!(total[0], Cell::Text("Total".into()));
        let (panel, panel_rows) = &tables[1];
        assert!(
            panel.header.title.contains("Painel"),
            "{}",
            panel.header.title
        );
        assert_eq!(
            panel_rows.len(),
            8,
            "NS TAB TMA TME IAR ISA IMQ and the total"
        );
    }
}
