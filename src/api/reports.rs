//! `/api/reports…`: the contract's reports as JSON, read-only (`store::reports_read`).
//!
//! - `GET /api/reports/day?date=YYYY-MM-DD[&queue=|&team=]` — the day in 30-minute intervals.
//! - `GET /api/reports/month?month=YYYY-MM[&queue=|&team=]` — the month by day.
//! - `GET /api/reports/period?from=&to=[&queue=|&team=]` — any period up to a year, by day.
//! - `GET /api/reports/today[?queue=|?team=]` — today's figures (the wallboard's), same code.
//!   A team (`[teams.KEY]`) sums its queues; one may pick one's own teams (every team
//!   when one sees every queue), as on the wallboard (`team_filter`).
//! - `GET /api/reports/calls?from=&to=[&outcome=&queue=&agent=&after=&limit=]` — the
//!   per-call list, key-set paged (`next` → `after`); as a file, unpaged (`calls_export`).
//! - `GET /api/reports/agents?from=&to=[&agent=]` — agent production per day, with totals.
//!
//! `format=table` returns the same report as a typed table (`reports::table`: columns with
//! pt-BR labels and kinds, typed cells, the definitions as notes) for pages and exports;
//! `format=xlsx|ods|csv` downloads that very table as a file (`api::report_table::from_table`) named
//! in Portuguese (`relatorio-diario-2026-12-07.xlsx`). `/today` has no download.
//!
//! Roles (set in `api::router`): admin, auditor, supervisor; an agent is refused. A
//! supervisor sees the queues of their scope only (their sum when no queue is named) and
//! callers' numbers with the last four digits only; restricted callers are never shown.
//! Every response carries the definitions in force and its period.

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde::Deserialize;
use tracing::warn;

use super::{ApiError, ApiState};
use crate::export::{self, Format, Header, Status};
use crate::reports::Outcome;
use crate::reports::report::Report;
use crate::reports::table::{Table, report_table};
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
        .merge(super::closing::router())
}

#[derive(Debug, Deserialize)]
struct Params {
    date: Option<String>,
    month: Option<String>,
    from: Option<String>,
    to: Option<String>,
    queue: Option<String>,
    /// A team (`[teams.KEY]`): the sum of its queues.
    team: Option<String>,
    outcome: Option<String>,
    agent: Option<String>,
    after: Option<String>,
    limit: Option<i64>,
    /// `table`: the typed table (`reports::table`) instead of the report's own shape.
    format: Option<String>,
}

/// What a report endpoint answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shape {
    Report,
    Table,
    File(Format),
}

impl Params {
    fn shape(&self) -> Result<Shape, ApiError> {
        match self.format.as_deref() {
            None | Some("report") => Ok(Shape::Report),
            Some("table") => Ok(Shape::Table),
            Some(f) => Format::parse(f)
                .map(Shape::File)
                .ok_or(ApiError::BadRequest(
                    "format is report, table, xlsx, ods or csv",
                )),
        }
    }
}

/// The report as JSON, its typed table, or the table as a file named `stem`.
async fn shaped(r: Report, shape: Shape, title: &str, cx: &ReportContext, stem: &str) -> Response {
    match shape {
        Shape::Report => Json(r).into_response(),
        Shape::Table => Json(report_table(&r, title)).into_response(),
        Shape::File(format) => {
            let head = report_header(cx, &r.period.from, &r.period.to, r.provisional);
            download(&report_table(&r, title), head, format, stem).await
        }
    }
}

/// The header block of a downloaded report: its period, zone and definitions.
pub(crate) fn report_header(cx: &ReportContext, from: &str, to: &str, provisional: bool) -> Header {
    let tz = cx.definitions.timezone.as_deref().unwrap_or("UTC");
    let zone = jiff::tz::TimeZone::get(tz).unwrap_or(jiff::tz::TimeZone::UTC);
    let now = zone.to_datetime(jiff::Timestamp::now());
    let day = |s: &str| s.parse::<jiff::civil::Date>().unwrap_or(now.date());
    Header {
        title: String::new(),
        period: (day(from), day(to)),
        time_zone: tz.to_owned(),
        threshold_ms: u64::try_from(cx.definitions.threshold_ms).unwrap_or(0),
        // A period that reaches today may still change; the report says when it knows.
        status: if provisional || day(to) >= now.date() {
            Status::Provisional
        } else {
            Status::Closed
        },
        definitions_version: cx.definitions.version.clone(),
        generated_at: now,
        notes: Vec::new(),
    }
}

/// Writes `table` as a `format` file and streams it as `stem.ext`. The file is written to
/// a private temporary path off the async threads, opened, and unlinked at once: the open
/// handle keeps it readable while it streams, and nothing is left behind.
pub(crate) async fn download(
    table: &Table,
    header: Header,
    format: Format,
    stem: &str,
) -> Response {
    let (report, rows) = super::report_table::from_table(table, header, &table.title);
    let path = std::env::temp_dir().join(format!(
        "atende-download-{}-{}.{}",
        std::process::id(),
        rand::random::<u64>(),
        format.extension()
    ));
    let file = tokio::task::spawn_blocking(move || {
        let done = export::write(format, &report, rows, &path)
            .map_err(|e| e.to_string())
            .and_then(|_| std::fs::File::open(&path).map_err(|e| e.to_string()));
        let _ = std::fs::remove_file(&path);
        done
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|r| r);
    let file = match file {
        Ok(f) => tokio::fs::File::from_std(f),
        Err(e) => {
            warn!(error = %e, "reports: writing a download failed");
            return ApiError::Database.into_response();
        }
    };
    // The name is ASCII by construction (`relatorio-…`), so it needs no quoting rules.
    let headers = [
        (header::CONTENT_TYPE, format.mime_type().to_owned()),
        (
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{stem}.{}\"", format.extension()),
        ),
    ];
    (
        headers,
        Body::from_stream(tokio_util::io::ReaderStream::new(file)),
    )
        .into_response()
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

/// The teams `who` may pick in a filter: a scoped user's own, every team for an admin or
/// auditor (or wallboard) who sees every queue. Key and team, in key order.
pub(super) fn team_filter<'c>(
    who: &Principal,
    config: &'c crate::config::Config,
) -> Vec<(&'c String, &'c crate::config::teams::TeamConfig)> {
    let every = (matches!(who.role, Role::Admin | Role::Auditor)
        || (who.role == Role::Wallboard && who.queues.is_empty()))
        && who.teams.is_empty();
    config
        .teams
        .iter()
        .filter(|(key, _)| every || who.teams.contains(key))
        .collect()
}

/// The queues `who` may sum: a named queue in their scope, a team of theirs (its queues),
/// or all they see.
fn queues(state: &ApiState, who: &Principal, p: &Params) -> Result<Queues, ApiError> {
    if let Some(team) = p.team.as_deref() {
        if p.queue.is_some() {
            return Err(ApiError::BadRequest("a queue or a team, not both"));
        }
        let config = state.exchange.config();
        return team_filter(who, &config)
            .into_iter()
            .find(|(key, _)| key.as_str() == team)
            .map(|(_, t)| Queues::Only(t.queues.clone()))
            .ok_or(ApiError::Forbidden);
    }
    match (p.queue.as_deref(), who.role) {
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
    let q = queues(&state, &who, &p)?;
    let shape = p.shape()?;
    let r = reports_read::day_report(&state.store, &cx, date, &q)
        .await
        .map_err(read_error)?;
    let stem = format!("relatorio-diario-{date}");
    Ok(shaped(r, shape, "Relatório diário por intervalo", &cx, &stem).await)
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
    let q = queues(&state, &who, &p)?;
    let shape = p.shape()?;
    let stem = format!("relatorio-mensal-{month}");
    // A closed month is served from its frozen copy, never recomputed.
    if let Some(frozen) = super::closing::frozen_month(&state, &cx, month, &q, shape, &stem).await?
    {
        return Ok(frozen);
    }
    let r = reports_read::period_report(&state.store, &cx, &from, &to, &q)
        .await
        .map_err(read_error)?;
    Ok(shaped(r, shape, "Relatório mensal por dia", &cx, &stem).await)
}

async fn period(
    State(state): State<ApiState>,
    Extension(who): Extension<Principal>,
    Query(p): Query<Params>,
) -> Result<impl IntoResponse, ApiError> {
    let cx = context(&state)?;
    let from = need(&p.from, "from is required (YYYY-MM-DD)")?;
    let to = need(&p.to, "to is required (YYYY-MM-DD)")?;
    let q = queues(&state, &who, &p)?;
    let shape = p.shape()?;
    let r = reports_read::period_report(&state.store, &cx, from, to, &q)
        .await
        .map_err(read_error)?;
    let stem = format!("relatorio-periodo-{from}-a-{to}");
    Ok(shaped(r, shape, "Relatório do período por dia", &cx, &stem).await)
}

async fn today(
    State(state): State<ApiState>,
    Extension(who): Extension<Principal>,
    Query(p): Query<Params>,
) -> Result<impl IntoResponse, ApiError> {
    let cx = context(&state)?;
    let q = queues(&state, &who, &p)?;
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
    if p.team.is_some() {
        // Refused rather than ignored: a list that looks filtered but is not.
        return Err(ApiError::BadRequest("team filters the summed reports only"));
    }
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
    let shape = p.shape()?;
    if let Shape::File(format) = shape {
        // A file holds the whole period, read page by page (`calls_export`).
        let head = report_header(&cx, from, to, false);
        let stem = format!("relatorio-chamadas-{from}-a-{to}");
        return super::calls_export::download_all(
            &state.store,
            &cx,
            query,
            scope,
            view,
            head,
            format,
            &stem,
        )
        .await;
    }
    let page = reports_read::call_page(&state.store, &cx, &query, scope, view)
        .await
        .map_err(read_error)?;
    Ok(match shape {
        Shape::Report => Json(page).into_response(),
        Shape::Table => Json(reports_read::calls_table(&page)).into_response(),
        // Answered above, unpaged.
        Shape::File(_) => ApiError::BadRequest("format").into_response(),
    })
}

async fn agents(
    State(state): State<ApiState>,
    Extension(who): Extension<Principal>,
    Query(p): Query<Params>,
) -> Result<impl IntoResponse, ApiError> {
    let cx = context(&state)?;
    if p.team.is_some() {
        // Refused rather than ignored: a list that looks filtered but is not.
        return Err(ApiError::BadRequest("team filters the summed reports only"));
    }
    let from = need(&p.from, "from is required (YYYY-MM-DD)")?;
    let to = p.to.as_deref().unwrap_or(from);
    let mut r = reports_read::agent_report(&state.store, &cx, from, to, p.agent.as_deref())
        .await
        .map_err(read_error)?;
    if who.role == Role::Supervisor {
        // A supervisor sees the agents of their scope: their teams' and those configured
        // in a queue of their scope.
        let config = state.exchange.config();
        let visible: Vec<&str> = config
            .agents
            .iter()
            .filter(|a| who.sees_agent(&a.id, &a.queues))
            .map(|a| a.id.as_str())
            .collect();
        r.rows.retain(|row| visible.contains(&row.agent.as_str()));
    }
    Ok(match p.shape()? {
        Shape::Report => Json(r).into_response(),
        Shape::Table => Json(reports_read::agents_table(&r)).into_response(),
        Shape::File(format) => {
            let head = report_header(&cx, from, to, false);
            let stem = format!("relatorio-atendentes-{from}-a-{to}");
            download(&reports_read::agents_table(&r), head, format, &stem).await
        }
    })
}
