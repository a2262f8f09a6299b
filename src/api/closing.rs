//! Closed months over HTTP (`crate::closing`):
//!
//! - `POST /api/reports/close` `{"month": "YYYY-MM", "reason": "…"}` — an admin closes a
//!   past month, or revises a closed one whose figures changed (a new revision); the
//!   answer is the newest revision and whether one was written now.
//! - `GET /api/reports/closures?month=YYYY-MM` — every revision of a month (who, why,
//!   when, hash), for admins, auditors and supervisors.
//!
//! And the frozen copy that `/api/reports/month` and `/api/contract/{month}` serve for a
//! closed month, with its `closed` block ("fechado em …, hash …").

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::Value;
use tracing::warn;

use super::reports::{download, report_header};
use super::{ApiError, ApiState};
use crate::closing::{self, CloseError};
use crate::reports::table::report_table;
use crate::store::reports_read::{Queues, ReportContext};
use crate::users::{Principal, Role};

pub fn router() -> Router<ApiState> {
    Router::new()
        .route("/reports/close", post(close))
        .route("/reports/closures", get(closures))
}

#[derive(Debug, Deserialize)]
struct CloseBody {
    month: String,
    #[serde(default)]
    reason: Option<String>,
}

fn close_error(e: CloseError) -> Response {
    let status = match e {
        CloseError::BadMonth | CloseError::NotEnded(_) => axum::http::StatusCode::BAD_REQUEST,
        CloseError::Busy(_) => axum::http::StatusCode::CONFLICT,
        CloseError::Zone(_) | CloseError::Read(_) | CloseError::Store(_) => {
            warn!(error = %e, "reports: closing a month failed");
            axum::http::StatusCode::SERVICE_UNAVAILABLE
        }
    };
    (status, Json(serde_json::json!({ "error": e.to_string() }))).into_response()
}

async fn close(
    State(state): State<ApiState>,
    Extension(who): Extension<Principal>,
    Json(body): Json<CloseBody>,
) -> Response {
    if who.role != Role::Admin {
        return ApiError::Forbidden.into_response();
    }
    let config = state.exchange.config();
    let audit = state.auth.sessions.accounts().audit().clone();
    let why = body
        .reason
        .filter(|r| !r.trim().is_empty())
        .unwrap_or_else(|| "fechamento".to_owned());
    let now = jiff::Timestamp::now().as_millisecond();
    match closing::close(
        &config,
        &state.store,
        &audit,
        &body.month,
        &who.user,
        &why,
        now,
    )
    .await
    {
        Ok(c) => Json(serde_json::json!({
            "month": c.revision.month,
            "revision": c.revision,
            "written": c.written,
        }))
        .into_response(),
        Err(e) => close_error(e),
    }
}

#[derive(Debug, Deserialize)]
struct ClosuresQuery {
    month: String,
}

async fn closures(
    State(state): State<ApiState>,
    Query(q): Query<ClosuresQuery>,
) -> Result<Json<Value>, ApiError> {
    let revisions = state.store.month_revisions(&q.month).await.map_err(|e| {
        warn!(error = %e, "reports: reading closures failed");
        ApiError::Database
    })?;
    let zone = state.exchange.config().timezone.clone();
    Ok(Json(serde_json::json!({
        "month": q.month,
        "closed": !revisions.is_empty(),
        "current": closing::closed_block(&revisions, &zone),
        "revisions": revisions,
    })))
}

/// The frozen month report of `queues` when `month` is closed (`None`: open, or one of
/// the queues was configured after the close), shaped as asked. A sum of several queues
/// is summed from their frozen figures (`closing::frozen_sum`).
pub(super) async fn frozen_month(
    state: &ApiState,
    cx: &ReportContext,
    month: &str,
    queues: &Queues,
    shape: super::reports::Shape,
    stem: &str,
) -> Result<Option<Response>, ApiError> {
    let Some((content, revisions)) = closing::frozen(&state.store, month).await.map_err(|e| {
        warn!(error = %e, "reports: reading a closed month failed");
        ApiError::Database
    })?
    else {
        return Ok(None);
    };
    let report = match queues {
        Queues::All => content.get("report").cloned(),
        Queues::Only(list) if list.len() == 1 => {
            content.get("queues").and_then(|q| q.get(&list[0])).cloned()
        }
        Queues::Only(list) => {
            closing::frozen_sum(&content, list).and_then(|r| serde_json::to_value(r).ok())
        }
    };
    let Some(mut report) = report else {
        return Ok(None);
    };
    let zone = cx.definitions.timezone.as_deref().unwrap_or("UTC");
    let closed = closing::closed_block(&revisions, zone);
    let label = closed["label"].as_str().unwrap_or_default().to_owned();
    let title = "Relatório mensal por dia";
    Ok(Some(match shape {
        super::reports::Shape::Report => {
            report["closed"] = closed;
            Json(report).into_response()
        }
        other => {
            let r = closing::typed_report(report).ok_or(ApiError::Database)?;
            let mut table = report_table(&r, title);
            table.notes.push(label.clone());
            match other {
                super::reports::Shape::File(format) => {
                    let mut head = report_header(cx, &r.period.from, &r.period.to, false);
                    head.notes.push(("Fechamento".to_owned(), label));
                    download(&table, head, format, stem).await
                }
                _ => Json(table).into_response(),
            }
        }
    }))
}

/// The frozen contract panel of `month` and its `closed` block; `None` while the month
/// is open or when its closed copy has no panel.
pub(super) async fn frozen_panel(
    state: &ApiState,
    month: &str,
) -> Result<Option<(Value, Value)>, ApiError> {
    let Some((content, revisions)) = closing::frozen(&state.store, month).await.map_err(|e| {
        warn!(error = %e, "contract panel: reading a closed month failed");
        ApiError::Database
    })?
    else {
        return Ok(None);
    };
    let Some(panel) = content.get("contract").filter(|p| !p.is_null()).cloned() else {
        return Ok(None);
    };
    let zone = state.exchange.config().timezone.clone();
    Ok(Some((panel, closing::closed_block(&revisions, &zone))))
}

#[cfg(test)]
mod mail_tests {
    //! The monthly report mail (`mail::ProjectorReports`) with the API's converters.

    use std::sync::Arc;

    use crate::config::Config;
    use crate::export::Cell;
    use crate::mail::{Job, ProjectorReports, ReportSource};
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
            to_file: crate::api::report_table::from_table,
            panel_table: crate::api::quality::panel_table,
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
