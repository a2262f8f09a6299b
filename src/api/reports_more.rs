//! `/api/reports/…` beyond the interval reports (`store::reports_more`):
//!
//! - `GET /api/reports/ivr?from=&to=` — visits and abandons per IVR node, calls the IVR
//!   served, presses of 0.
//! - `GET /api/reports/survey?month=YYYY-MM` — the survey's answers 1–5 per question,
//!   response rate, ISA per agent and of the month.
//! - `GET /api/reports/quality?month=YYYY-MM` — the month's quality-monitoring
//!   evaluations, each agent's score and the IMQ.
//! - `GET /api/reports/agents/daily?from=&to=` — agents × days, calls answered.
//!
//! Each answers its JSON, or with `format=table` the typed table, or with
//! `format=xlsx|ods|csv` that table as a file (the same converter as the other reports).
//! Roles as `/api/reports` (admin, auditor, supervisor); a supervisor sees the agents of
//! their queues' and the evaluated calls of their queues only. The IVR report is the
//! whole IVR's (calls meet it before any queue).

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};
use tracing::warn;

use super::reports::{download, report_header};
use super::{ApiError, ApiState};
use crate::export::Format;
use crate::reports::table::Table;
use crate::store::StoreError;
use crate::store::reports_more::{self as more};
use crate::store::reports_read::{self, ReportContext};
use crate::users::{Principal, Role};

pub fn router() -> Router<ApiState> {
    Router::new()
        .route("/reports/ivr", get(ivr))
        .route("/reports/survey", get(survey))
        .route("/reports/quality", get(quality))
        .route("/reports/agents/daily", get(agents_daily))
}

#[derive(Debug, Deserialize)]
struct Params {
    month: Option<String>,
    from: Option<String>,
    to: Option<String>,
    format: Option<String>,
}

enum Shape {
    Json,
    Table,
    File(Format),
}

impl Params {
    fn shape(&self) -> Result<Shape, ApiError> {
        match self.format.as_deref() {
            None | Some("report") => Ok(Shape::Json),
            Some("table") => Ok(Shape::Table),
            Some(f) => Format::parse(f)
                .map(Shape::File)
                .ok_or(ApiError::BadRequest(
                    "format is report, table, xlsx, ods or csv",
                )),
        }
    }

    /// `[from, to]` from `from`/`to` or from `month`.
    fn period(&self) -> Result<(String, String), ApiError> {
        let (from, to) = match (&self.month, &self.from) {
            (Some(m), _) => reports_read::month_bounds(m)
                .map_err(|_| ApiError::BadRequest("month is YYYY-MM"))?,
            (None, Some(f)) => (f.clone(), self.to.clone().unwrap_or_else(|| f.clone())),
            (None, None) => {
                return Err(ApiError::BadRequest(
                    "give month (YYYY-MM) or from and to (YYYY-MM-DD)",
                ));
            }
        };
        reports_read::check_period(&from, &to).map_err(|e| match e {
            reports_read::PeriodError::BadDate => ApiError::BadRequest("dates are YYYY-MM-DD"),
            reports_read::PeriodError::Reversed => {
                ApiError::BadRequest("the period ends before it starts")
            }
            reports_read::PeriodError::TooLong => {
                ApiError::BadRequest("a period covers at most 366 days")
            }
        })?;
        Ok((from, to))
    }
}

fn context(state: &ApiState) -> Result<ReportContext, ApiError> {
    ReportContext::for_config(&state.exchange.config()).map_err(|e| {
        warn!(error = %e, "reports: no reporting time zone");
        ApiError::Database
    })
}

fn db(e: StoreError) -> ApiError {
    warn!(error = %e, "reports: reading failed");
    ApiError::Database
}

/// UTC ms bounds of local days `[from, to]`.
fn bounds(cx: &ReportContext, from: &str, to: &str) -> Result<(i64, i64), ApiError> {
    let start = cx.slotter.day_bounds_ms(from).map(|b| b.0);
    let end = cx.slotter.day_bounds_ms(to).map(|b| b.1);
    start
        .zip(end)
        .ok_or(ApiError::BadRequest("dates are YYYY-MM-DD"))
}

async fn answer<T: Serialize>(
    value: T,
    table: impl FnOnce(&T) -> Table,
    shape: Shape,
    cx: &ReportContext,
    (from, to): (&str, &str),
    stem: String,
) -> Response {
    match shape {
        Shape::Json => Json(value).into_response(),
        Shape::Table => Json(table(&value)).into_response(),
        Shape::File(format) => {
            download(
                &table(&value),
                report_header(cx, from, to, false),
                format,
                &stem,
            )
            .await
        }
    }
}

/// The agents a supervisor may see: those configured in a queue of their scope.
fn visible_agents(state: &ApiState, who: &Principal) -> Option<Vec<String>> {
    (who.role == Role::Supervisor).then(|| {
        state
            .exchange
            .config()
            .agents
            .iter()
            .filter(|a| a.queues.iter().any(|q| who.sees_queue(q)))
            .map(|a| a.id.clone())
            .collect()
    })
}

async fn ivr(State(state): State<ApiState>, Query(p): Query<Params>) -> Result<Response, ApiError> {
    let cx = context(&state)?;
    let (from, to) = p.period()?;
    let shape = p.shape()?;
    let (start, end) = bounds(&cx, &from, &to)?;
    let stats = state.store.ivr_stats(start, end).await.map_err(db)?;
    let stem = format!("relatorio-ura-{from}-a-{to}");
    Ok(answer(stats, more::ivr_table, shape, &cx, (&from, &to), stem).await)
}

async fn survey(
    State(state): State<ApiState>,
    Extension(who): Extension<Principal>,
    Query(p): Query<Params>,
) -> Result<Response, ApiError> {
    let cx = context(&state)?;
    let (from, to) = p.period()?;
    let shape = p.shape()?;
    let (start, end) = bounds(&cx, &from, &to)?;
    let mut r = state.store.survey_results(start, end).await.map_err(db)?;
    if let Some(agents) = visible_agents(&state, &who) {
        r.agents.retain(|a| agents.contains(&a.agent));
    }
    let stem = format!("relatorio-pesquisa-{from}-a-{to}");
    Ok(answer(
        r,
        crate::reports::survey_results::table,
        shape,
        &cx,
        (&from, &to),
        stem,
    )
    .await)
}

#[derive(Serialize)]
struct QualityResults {
    month: String,
    evaluations: Vec<crate::quality::Evaluation>,
    summary: crate::quality::score::Summary,
}

async fn quality(
    State(state): State<ApiState>,
    Extension(who): Extension<Principal>,
    Query(p): Query<Params>,
) -> Result<Response, ApiError> {
    let cx = context(&state)?;
    let month = p
        .month
        .clone()
        .ok_or(ApiError::BadRequest("month is required (YYYY-MM)"))?;
    let (from, to) = p.period()?;
    let shape = p.shape()?;
    let mut evaluations = state.store.quality_evaluations(&month).await.map_err(db)?;
    if who.role == Role::Supervisor {
        // Only the sampled calls that went through a queue of their scope.
        let calls = match state.store.quality_sample(&month).await.map_err(db)? {
            Some((_, calls)) => calls,
            None => Vec::new(),
        };
        evaluations.retain(|e| {
            calls.iter().any(|c| {
                c.protocol == e.protocol && c.queue.as_deref().is_some_and(|q| who.sees_queue(q))
            })
        });
    }
    let summary = crate::quality::score::summary(&evaluations);
    let r = QualityResults {
        month: month.clone(),
        evaluations,
        summary,
    };
    let table = |r: &QualityResults| more::quality_table(&r.month, &r.evaluations, &r.summary);
    let stem = format!("relatorio-monitoria-{month}");
    Ok(answer(r, table, shape, &cx, (&from, &to), stem).await)
}

async fn agents_daily(
    State(state): State<ApiState>,
    Extension(who): Extension<Principal>,
    Query(p): Query<Params>,
) -> Result<Response, ApiError> {
    let cx = context(&state)?;
    let (from, to) = p.period()?;
    let shape = p.shape()?;
    let mut rows = state.store.agent_days(&from, &to, None).await.map_err(db)?;
    if let Some(agents) = visible_agents(&state, &who) {
        rows.retain(|r| agents.contains(&r.agent));
    }
    let grid = more::agent_days(&from, &to, &rows);
    let stem = format!("relatorio-atendentes-por-dia-{from}-a-{to}");
    Ok(answer(grid, more::agent_days_table, shape, &cx, (&from, &to), stem).await)
}
