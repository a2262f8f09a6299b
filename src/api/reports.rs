//! `/api/reports…`: the contract's reports as JSON, read-only (`store::reports_read`).
//!
//! - `GET /api/reports/day?date=YYYY-MM-DD[&queue=]` — the day in 30-minute intervals.
//! - `GET /api/reports/month?month=YYYY-MM[&queue=]` — the month by day.
//! - `GET /api/reports/period?from=&to=[&queue=]` — any period up to a year, by day.
//! - `GET /api/reports/today[?queue=]` — today's figures (the wallboard's), same code.
//! - `GET /api/reports/calls?from=&to=[&outcome=&queue=&agent=&after=&limit=]` — the
//!   per-call list, key-set paged (`next` → `after`).
//! - `GET /api/reports/agents?from=&to=[&agent=]` — agent production per day, with totals.
//!
//! `format=table` returns the same report as a typed table (`reports::table`: columns with
//! pt-BR labels and kinds, typed cells, the definitions as notes) for pages and exports.
//!
//! Roles (set in `api::router`): admin, auditor, supervisor; an agent is refused. A
//! supervisor sees the queues of their scope only (their sum when no queue is named) and
//! callers' numbers with the last four digits only; restricted callers are never shown.
//! Every response carries the definitions in force and its period.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde::Deserialize;
use tracing::warn;

use super::{ApiError, ApiState};
use crate::reports::Outcome;
use crate::store::reports_read::{
    self, CallQuery, NumberView, PeriodError, Queues, ReadError, ReportContext,
};
use crate::users::{Principal, Role};

pub fn router() -> Router<ApiState> {
    Router::new()
        .route("/reports/day", get(day))
        .route("/reports/month", get(month))
        .route("/reports/period", get(period))
        .route("/reports/today", get(today))
        .route("/reports/calls", get(calls))
        .route("/reports/agents", get(agents))
}

#[derive(Debug, Deserialize)]
struct Params {
    date: Option<String>,
    month: Option<String>,
    from: Option<String>,
    to: Option<String>,
    queue: Option<String>,
    outcome: Option<String>,
    agent: Option<String>,
    after: Option<String>,
    limit: Option<i64>,
    /// `table`: the typed table (`reports::table`) instead of the report's own shape.
    format: Option<String>,
}

impl Params {
    fn table(&self) -> Result<bool, ApiError> {
        match self.format.as_deref() {
            None | Some("report") => Ok(false),
            Some("table") => Ok(true),
            Some(_) => Err(ApiError::BadRequest("format is report or table")),
        }
    }
}

/// The report, or its typed table when asked for.
fn shaped(r: crate::reports::report::Report, table: bool, title: &str) -> Response {
    if table {
        Json(crate::reports::table::report_table(&r, title)).into_response()
    } else {
        Json(r).into_response()
    }
}

fn context(state: &ApiState) -> Result<ReportContext, ApiError> {
    ReportContext::for_config(&state.exchange.config()).map_err(|e| {
        warn!(error = %e, "reports: no reporting time zone");
        ApiError::Database
    })
}

fn read_error(e: ReadError) -> ApiError {
    match e {
        ReadError::Period(PeriodError::BadDate) => ApiError::BadRequest("dates are YYYY-MM-DD"),
        ReadError::Period(PeriodError::Reversed) => {
            ApiError::BadRequest("the period ends before it starts")
        }
        ReadError::Period(PeriodError::TooLong) => {
            ApiError::BadRequest("a period covers at most 366 days")
        }
        ReadError::Store(e) => {
            warn!(error = %e, "reports: reading failed");
            ApiError::Database
        }
    }
}

/// The queues `who` may sum: a named queue in their scope, or all they see.
fn queues(who: &Principal, queue: Option<&str>) -> Result<Queues, ApiError> {
    match (queue, who.role) {
        (Some(q), _) if who.sees_queue(q) => Ok(Queues::Only(vec![q.to_owned()])),
        (Some(_), _) => Err(ApiError::Forbidden),
        (None, Role::Admin | Role::Auditor) => Ok(Queues::All),
        (None, _) => Ok(Queues::Only(who.queues.clone())),
    }
}

fn need<'a>(v: &'a Option<String>, what: &'static str) -> Result<&'a str, ApiError> {
    v.as_deref().ok_or(ApiError::BadRequest(what))
}

async fn day(
    State(state): State<ApiState>,
    Extension(who): Extension<Principal>,
    Query(p): Query<Params>,
) -> Result<impl IntoResponse, ApiError> {
    let cx = context(&state)?;
    let date = need(&p.date, "date is required (YYYY-MM-DD)")?;
    let q = queues(&who, p.queue.as_deref())?;
    let table = p.table()?;
    let r = reports_read::day_report(&state.store, &cx, date, &q)
        .await
        .map_err(read_error)?;
    Ok(shaped(r, table, "Relatório diário por intervalo"))
}

async fn month(
    State(state): State<ApiState>,
    Extension(who): Extension<Principal>,
    Query(p): Query<Params>,
) -> Result<impl IntoResponse, ApiError> {
    let cx = context(&state)?;
    let month = need(&p.month, "month is required (YYYY-MM)")?;
    let (from, to) =
        reports_read::month_bounds(month).map_err(|_| ApiError::BadRequest("month is YYYY-MM"))?;
    let q = queues(&who, p.queue.as_deref())?;
    let table = p.table()?;
    let r = reports_read::period_report(&state.store, &cx, &from, &to, &q)
        .await
        .map_err(read_error)?;
    Ok(shaped(r, table, "Relatório mensal por dia"))
}

async fn period(
    State(state): State<ApiState>,
    Extension(who): Extension<Principal>,
    Query(p): Query<Params>,
) -> Result<impl IntoResponse, ApiError> {
    let cx = context(&state)?;
    let from = need(&p.from, "from is required (YYYY-MM-DD)")?;
    let to = need(&p.to, "to is required (YYYY-MM-DD)")?;
    let q = queues(&who, p.queue.as_deref())?;
    let table = p.table()?;
    let r = reports_read::period_report(&state.store, &cx, from, to, &q)
        .await
        .map_err(read_error)?;
    Ok(shaped(r, table, "Relatório do período por dia"))
}

async fn today(
    State(state): State<ApiState>,
    Extension(who): Extension<Principal>,
    Query(p): Query<Params>,
) -> Result<impl IntoResponse, ApiError> {
    let cx = context(&state)?;
    let q = queues(&who, p.queue.as_deref())?;
    let now = jiff::Timestamp::now().as_millisecond();
    let r = reports_read::today(&state.store, &cx, now, &q)
        .await
        .map_err(read_error)?;
    Ok(Json(r))
}

async fn calls(
    State(state): State<ApiState>,
    Extension(who): Extension<Principal>,
    Query(p): Query<Params>,
) -> Result<impl IntoResponse, ApiError> {
    let cx = context(&state)?;
    let from = need(&p.from, "from is required (YYYY-MM-DD)")?;
    let to = p.to.as_deref().unwrap_or(from);
    let outcome = match p.outcome.as_deref() {
        Some(o) => Some(Outcome::parse(o).ok_or(ApiError::BadRequest("unknown outcome"))?),
        None => None,
    };
    if let Some(q) = p.queue.as_deref()
        && !who.sees_queue(q)
    {
        return Err(ApiError::Forbidden);
    }
    let (scope, view) = match who.role {
        Role::Admin | Role::Auditor => (None, NumberView::Full),
        _ => (Some(who.queues.clone()), NumberView::LastFour),
    };
    let query = CallQuery {
        from: from.to_owned(),
        to: to.to_owned(),
        outcome,
        queue: p.queue.clone(),
        agent: p.agent.clone(),
        after: p.after.clone(),
        limit: p.limit.unwrap_or(200),
    };
    let table = p.table()?;
    let page = reports_read::call_page(&state.store, &cx, &query, scope, view)
        .await
        .map_err(read_error)?;
    Ok(if table {
        Json(reports_read::calls_table(&page)).into_response()
    } else {
        Json(page).into_response()
    })
}

async fn agents(
    State(state): State<ApiState>,
    Extension(who): Extension<Principal>,
    Query(p): Query<Params>,
) -> Result<impl IntoResponse, ApiError> {
    let cx = context(&state)?;
    let from = need(&p.from, "from is required (YYYY-MM-DD)")?;
    let to = p.to.as_deref().unwrap_or(from);
    let mut r = reports_read::agent_report(&state.store, &cx, from, to, p.agent.as_deref())
        .await
        .map_err(read_error)?;
    if who.role == Role::Supervisor {
        // A supervisor sees the agents configured in a queue of their scope.
        let config = state.exchange.config();
        let visible: Vec<&str> = config
            .agents
            .iter()
            .filter(|a| a.queues.iter().any(|q| who.sees_queue(q)))
            .map(|a| a.id.as_str())
            .collect();
        r.rows.retain(|row| visible.contains(&row.agent.as_str()));
    }
    Ok(if p.table()? {
        Json(reports_read::agents_table(&r)).into_response()
    } else {
        Json(r).into_response()
    })
}
