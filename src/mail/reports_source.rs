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
use crate::config::Config;
use crate::contract::Kpis;
use crate::export::{Header, Row, Status};
use crate::quality::score::summary;
use crate::reports::report::Report;
use crate::reports::table::{Table, report_table};
use crate::store::Store;
use crate::store::reports_read::{self, CallQuery, NumberView, Queues, ReportContext};

/// A typed table as an export report and its rows, under a header (the API's own
/// converter, handed in so mail does not depend on the HTTP layer).
pub type ToFile = fn(&Table, Header, &str) -> (crate::export::Report, Vec<Row>);
/// The contract panel as a typed table (the API's, handed in likewise).
pub type PanelTable = fn(&crate::contract::Panel) -> Table;

/// The projector's reports as mail tables.
pub struct ProjectorReports {
    pub store: Store,
    pub config: Arc<Config>,
    pub to_file: ToFile,
    pub panel_table: PanelTable,
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
            let from_table = self.to_file;
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
                        let t = (self.panel_table)(&panel);
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
