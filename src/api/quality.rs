//! `/api/quality/…`: quality monitoring (IMQ) — the month's sample, the forms, the
//! evaluations and the scores that follow; and `/api/contract/{month}`, the contract panel.
//!
//! Admins, supervisors and auditors may read (the role check is in `mod.rs`); drawing and
//! evaluating are for supervisors and admins, new form versions for admins. A supervisor
//! sees and evaluates only sampled calls that went through a queue of their scope.
//! Every draw, form version and evaluation is written to the audit log before it is
//! answered; an action the log cannot record is refused.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use super::ApiState;

mod evaluation;
mod panel;
mod sample;

use crate::contract::{self, KpiId, Kpis, Unit};
use crate::quality::score::summary;
use crate::quality::{Criterion, Evaluation, Form, Month};
use crate::store::StoreError;
use crate::store::quality::{SampleCall, SampleRun};
use crate::users::{Principal, Role};
use evaluation::submit;
use panel::contract_panel;
pub(crate) use panel::panel_table;
use sample::draw_sample;

#[derive(Debug, thiserror::Error)]
pub enum QualityError {
    #[error("your role may not do this")]
    Forbidden,
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(&'static str),
    #[error("database unavailable")]
    Database,
    #[error("the contract settings are invalid: {0}")]
    Contract(String),
}

impl IntoResponse for QualityError {
    fn into_response(self) -> Response {
        let status = match self {
            QualityError::Forbidden => StatusCode::FORBIDDEN,
            QualityError::BadRequest(_) => StatusCode::BAD_REQUEST,
            QualityError::NotFound(_) => StatusCode::NOT_FOUND,
            QualityError::Conflict(_) => StatusCode::CONFLICT,
            QualityError::Database => StatusCode::SERVICE_UNAVAILABLE,
            QualityError::Contract(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        (
            status,
            Json(serde_json::json!({ "error": self.to_string() })),
        )
            .into_response()
    }
}

fn db(e: StoreError) -> QualityError {
    warn!(error = %e, "quality monitoring: database statement failed");
    QualityError::Database
}

pub fn router() -> Router<ApiState> {
    Router::new()
        .route("/quality/forms", get(list_forms).post(new_form))
        .route("/quality/months/{month}", get(month_view))
        .route("/quality/months/{month}/sample", post(draw_sample))
        .route("/quality/evaluations", post(submit))
        .route("/contract/{month}", get(contract_panel))
}

/// A fresh draw seed: 32 random bytes from the OS-seeded generator, hex.
fn new_seed() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

fn parse_month(s: &str) -> Result<Month, QualityError> {
    s.parse()
        .map_err(|e: &str| QualityError::BadRequest(e.to_owned()))
}

fn tz(state: &ApiState) -> jiff::tz::TimeZone {
    let config = state.exchange.config();
    jiff::tz::TimeZone::get(&config.timezone).unwrap_or(jiff::tz::TimeZone::UTC)
}

/// Refuses auditors (read-only) and, for `admin_only`, supervisors; the refusal is audited.
async fn may_write(
    state: &ApiState,
    who: &Principal,
    target: &str,
    admin_only: bool,
) -> Result<(), QualityError> {
    let ok = match who.role {
        Role::Admin => true,
        Role::Supervisor => !admin_only,
        _ => false,
    };
    if ok {
        return Ok(());
    }
    super::auth::record_denied(&state.auth, who, target, "read-only for this role").await;
    Err(QualityError::Forbidden)
}

/// Writes an audit entry, refusing the action when the log cannot record it.
async fn audited(
    state: &ApiState,
    who: &Principal,
    action: &str,
    target: &str,
    detail: &str,
) -> Result<(), QualityError> {
    state
        .auth
        .sessions
        .accounts()
        .audit()
        .try_record(&who.user, action, target, detail)
        .await
        .map_err(|e| {
            warn!(error = %e, action, "cannot audit a quality action; refused");
            QualityError::Database
        })
}

fn sees(who: &Principal, call: &SampleCall) -> bool {
    match who.role {
        Role::Admin | Role::Auditor => true,
        _ => call.queue.as_deref().is_some_and(|q| who.sees_queue(q)),
    }
}

async fn list_forms(State(state): State<ApiState>) -> Result<Json<Vec<Form>>, QualityError> {
    state
        .store
        .quality_seed_default_form(now_ms())
        .await
        .map_err(db)?;
    Ok(Json(state.store.quality_forms().await.map_err(db)?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewForm {
    id: String,
    title: String,
    criteria: Vec<Criterion>,
}

async fn new_form(
    State(state): State<ApiState>,
    Extension(who): Extension<Principal>,
    Json(body): Json<NewForm>,
) -> Result<impl IntoResponse, QualityError> {
    may_write(&state, &who, "POST /api/quality/forms", true).await?;
    let mut form = Form {
        id: body.id,
        version: 0,
        title: body.title,
        criteria: body.criteria,
    };
    form.validate()
        .map_err(|e| QualityError::BadRequest(e.to_string()))?;
    state
        .store
        .quality_seed_default_form(now_ms())
        .await
        .map_err(db)?;
    let detail = serde_json::to_string(&form.criteria).unwrap_or_default();
    audited(&state, &who, "quality.form", &form.id, &detail).await?;
    form.version = state
        .store
        .quality_insert_form(&form, &who.user, now_ms())
        .await
        .map_err(db)?;
    info!(form = %form.id, version = form.version, user = %who.user, "quality form version added");
    Ok((StatusCode::CREATED, Json(form)))
}

/// One sampled call as the page shows it.
#[derive(Debug, Serialize)]
struct CallView {
    #[serde(flatten)]
    call: SampleCall,
    /// The call's score in hundredths of a point, when evaluated.
    score: Option<u32>,
    evaluations: Vec<Evaluation>,
}

#[derive(Debug, Serialize)]
struct Score {
    numerator: u64,
    denominator: u64,
    /// e.g. "77,50 %", "—" when nothing was evaluated.
    value: String,
}

fn score(m: contract::Measured) -> Score {
    let value = if m.denominator == 0 {
        "—".to_owned()
    } else {
        Unit::PercentFromHundredths
            .show(Unit::PercentFromHundredths.display_milli(m, contract::Direction::HigherIsBetter))
    };
    Score {
        numerator: m.numerator,
        denominator: m.denominator,
        value,
    }
}

#[derive(Debug, Serialize)]
struct AgentView {
    agent: String,
    score: Score,
}

#[derive(Debug, Serialize)]
struct MonthView {
    month: String,
    sample_per_agent: u32,
    min_talk_secs: u32,
    sample: Option<SampleRun>,
    calls: Vec<CallView>,
    /// The month's IMQ over the calls this user may see (all of them for admins and
    /// auditors: the contract's figure).
    imq: Score,
    agents: Vec<AgentView>,
    /// The IMQ's line of the contract panel (target, band, discount).
    imq_row: Option<contract::PanelRow>,
}

async fn month_view(
    State(state): State<ApiState>,
    Extension(who): Extension<Principal>,
    Path(month): Path<String>,
) -> Result<Json<MonthView>, QualityError> {
    let month = parse_month(&month)?;
    let key = month.to_string();
    let config = state.exchange.config();
    let sample = state.store.quality_sample(&key).await.map_err(db)?;
    let (run, calls) = match sample {
        Some((run, calls)) => (Some(run), calls),
        None => (None, Vec::new()),
    };
    let calls: Vec<SampleCall> = calls.into_iter().filter(|c| sees(&who, c)).collect();
    let evals: Vec<Evaluation> = state
        .store
        .quality_evaluations(&key)
        .await
        .map_err(db)?
        .into_iter()
        .filter(|e| calls.iter().any(|c| c.protocol == e.protocol))
        .collect();
    let s = summary(&evals);
    let imq_row = match config.contract.contract() {
        Ok(c) => {
            let kpis = Kpis {
                imq: Some(s.imq),
                ..Kpis::default()
            };
            contract::panel(&c, month.first_day(), &kpis)
                .rows
                .into_iter()
                .find(|r| r.kpi == KpiId::Imq)
        }
        Err(_) => None,
    };
    let calls = calls
        .into_iter()
        .map(|call| CallView {
            score: s.calls.get(&call.protocol).copied(),
            evaluations: evals
                .iter()
                .filter(|e| e.protocol == call.protocol)
                .cloned()
                .collect(),
            call,
        })
        .collect();
    Ok(Json(MonthView {
        month: key,
        sample_per_agent: config.quality.sample_per_agent,
        min_talk_secs: config.quality.min_talk_secs,
        sample: run,
        calls,
        imq: score(s.imq),
        agents: s
            .agents
            .into_iter()
            .map(|a| AgentView {
                agent: a.agent,
                score: score(a.measured),
            })
            .collect(),
        imq_row,
    }))
}

#[cfg(test)]
#[path = "quality_tests.rs"]
mod tests;
