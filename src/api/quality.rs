//! `/api/quality/…`: quality monitoring (IMQ) — the month's sample, the forms, the
//! evaluations and the scores that follow; and `/api/contract/{month}`, the contract panel.
//!
//! Admins, supervisors and auditors may read (the role check is in `mod.rs`); drawing and
//! evaluating are for supervisors and admins, new form versions for admins. A supervisor
//! sees and evaluates only sampled calls that went through a queue of their scope.
//! Every draw, form version and evaluation is written to the audit log before it is
//! answered; an action the log cannot record is refused.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use super::ApiState;
use crate::contract::{self, KpiId, Kpis, Unit};
use crate::quality::form::DEFAULT_FORM;
use crate::quality::sample::{candidates_digest, draw};
use crate::quality::score::{current, summary};
use crate::quality::{Criterion, Evaluation, Form, Month};
use crate::reports::table::{Cell as TCell, Table};
use crate::store::StoreError;
use crate::store::quality::{EvaluationRefused, NewEvaluation, SampleCall, SampleRun};
use crate::store::reports_read::{self, Queues, ReportContext};
use crate::users::{Principal, Role};

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

async fn draw_sample(
    State(state): State<ApiState>,
    Extension(who): Extension<Principal>,
    Path(month): Path<String>,
) -> Result<impl IntoResponse, QualityError> {
    let month = parse_month(&month)?;
    let key = month.to_string();
    may_write(
        &state,
        &who,
        &format!("POST /api/quality/months/{key}/sample"),
        false,
    )
    .await?;
    let settings = state.exchange.config().quality.clone();
    let (from, to) = month
        .bounds_ms(&tz(&state))
        .ok_or(QualityError::BadRequest("month out of range".into()))?;
    if from > now_ms() {
        return Err(QualityError::BadRequest(
            "the month has not started yet".into(),
        ));
    }
    if state
        .store
        .quality_sample(&key)
        .await
        .map_err(db)?
        .is_some()
    {
        return Err(QualityError::Conflict(
            "this month's sample was already drawn",
        ));
    }
    let min_talk_ms = i64::from(settings.min_talk_secs) * 1000;
    let candidates = state
        .store
        .quality_candidates(from, to, min_talk_ms)
        .await
        .map_err(db)?;
    let seed = new_seed();
    let per_agent = settings.sample_per_agent as usize;
    let picks = draw(&seed, &candidates, per_agent);
    let run = SampleRun {
        month: key.clone(),
        seed,
        per_agent: i64::from(settings.sample_per_agent),
        min_talk_ms,
        candidates: i64::try_from(candidates.len()).unwrap_or(i64::MAX),
        candidates_sha256: candidates_digest(&candidates),
        drawn_at_ms: now_ms(),
        drawn_by: who.user.clone(),
    };
    let detail = format!(
        "seed={} per_agent={} min_talk_ms={} candidates={} candidates_sha256={} picked={}",
        run.seed,
        run.per_agent,
        run.min_talk_ms,
        run.candidates,
        run.candidates_sha256,
        picks.len()
    );
    audited(&state, &who, "quality.draw", &key, &detail).await?;
    if !state
        .store
        .quality_insert_sample(&run, &picks)
        .await
        .map_err(db)?
    {
        return Err(QualityError::Conflict(
            "this month's sample was already drawn",
        ));
    }
    info!(month = %key, picked = picks.len(), candidates = candidates.len(), user = %who.user, "quality sample drawn");
    Ok((StatusCode::CREATED, Json(run)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Submission {
    month: String,
    protocol: String,
    /// The form and version; absent = the default form's newest version (a revision
    /// always uses the form of the evaluation it corrects).
    form_id: Option<String>,
    form_version: Option<u32>,
    grades: BTreeMap<String, u32>,
    #[serde(default)]
    note: String,
    /// The evaluation this one corrects (then a note saying why is required).
    revises: Option<i64>,
}

#[derive(Debug, Serialize)]
struct Submitted {
    id: i64,
    /// Hundredths of a point.
    score: u32,
    revises: Option<i64>,
}

const NOTE_MAX_CHARS: usize = 2000;

async fn submit(
    State(state): State<ApiState>,
    Extension(who): Extension<Principal>,
    Json(body): Json<Submission>,
) -> Result<impl IntoResponse, QualityError> {
    let month = parse_month(&body.month)?.to_string();
    may_write(&state, &who, "POST /api/quality/evaluations", false).await?;
    if body.note.chars().count() > NOTE_MAX_CHARS {
        return Err(QualityError::BadRequest(format!(
            "the note is longer than {NOTE_MAX_CHARS} characters"
        )));
    }
    let (_, calls) = state
        .store
        .quality_sample(&month)
        .await
        .map_err(db)?
        .ok_or(QualityError::NotFound("this month's sample was not drawn"))?;
    let call = calls
        .into_iter()
        .find(|c| c.protocol == body.protocol)
        .ok_or(QualityError::NotFound(
            "the call is not in this month's sample",
        ))?;
    if !sees(&who, &call) {
        let target = format!("quality evaluation of {}", call.protocol);
        super::auth::record_denied(&state.auth, &who, &target, "call outside the user's queues")
            .await;
        return Err(QualityError::Forbidden);
    }
    state
        .store
        .quality_seed_default_form(now_ms())
        .await
        .map_err(db)?;
    let forms = state.store.quality_forms().await.map_err(db)?;
    let (form_id, version) = match body.revises {
        Some(id) => {
            let old = state
                .store
                .quality_evaluation(id)
                .await
                .map_err(db)?
                .filter(|e| e.protocol == call.protocol && e.month == month)
                .ok_or(QualityError::NotFound("no such evaluation of this call"))?;
            if old.evaluator != who.user && who.role != Role::Admin {
                let target = format!("quality evaluation {id}");
                super::auth::record_denied(
                    &state.auth,
                    &who,
                    &target,
                    "only its evaluator or an admin corrects an evaluation",
                )
                .await;
                return Err(QualityError::Forbidden);
            }
            if body.note.trim().is_empty() {
                return Err(QualityError::BadRequest(
                    "a revision needs a note saying why".into(),
                ));
            }
            (old.form_id, Some(old.form_version))
        }
        None => (
            body.form_id.unwrap_or_else(|| DEFAULT_FORM.to_owned()),
            body.form_version,
        ),
    };
    let form = forms
        .iter()
        .filter(|f| f.id == form_id)
        .filter(|f| version.is_none_or(|v| f.version == v))
        .max_by_key(|f| f.version)
        .ok_or(QualityError::NotFound("no such form"))?;
    let score = form
        .score(&body.grades)
        .map_err(|e| QualityError::BadRequest(e.to_string()))?;
    // One first evaluation per evaluator, call and form (any version): checked here for
    // a clear answer, and by the database's unique index against races.
    let existing = state.store.quality_evaluations(&month).await.map_err(db)?;
    if body.revises.is_none()
        && existing.iter().any(|e| {
            e.protocol == call.protocol
                && e.form_id == form.id
                && e.evaluator == who.user
                && e.revises.is_none()
        })
    {
        return Err(QualityError::Conflict(
            "you already evaluated this call with this form: submit a revision",
        ));
    }
    if let Some(id) = body.revises
        && current(&existing).iter().all(|e| e.id != id)
    {
        return Err(QualityError::Conflict(
            "that evaluation was already revised: revise the newest one",
        ));
    }
    let action = if body.revises.is_some() {
        "quality.revise"
    } else {
        "quality.evaluate"
    };
    let detail = serde_json::json!({
        "month": month,
        "form": form.id,
        "version": form.version,
        "grades": body.grades,
        "score": score,
        "revises": body.revises,
        "note": body.note,
    })
    .to_string();
    audited(&state, &who, action, &call.protocol, &detail).await?;
    let new = NewEvaluation {
        month: &month,
        protocol: &call.protocol,
        agent: &call.agent,
        form,
        evaluator: &who.user,
        grades: &body.grades,
        score,
        note: &body.note,
        revises: body.revises,
        at_ms: now_ms(),
    };
    match state
        .store
        .quality_insert_evaluation(&new)
        .await
        .map_err(db)?
    {
        Ok(id) => {
            info!(protocol = %call.protocol, id, score, user = %who.user, action, "quality evaluation stored");
            Ok((
                StatusCode::CREATED,
                Json(Submitted {
                    id,
                    score,
                    revises: body.revises,
                }),
            ))
        }
        Err(EvaluationRefused::Duplicate) => Err(QualityError::Conflict(
            "this evaluation already exists or was already revised",
        )),
    }
}

/// The contract panel of `month`: NS, TAB, TMA, TME, IAR and ISA from the projector's
/// month report (the very figures of `/api/reports/month`, all queues), IMQ from quality
/// monitoring. `format=xlsx|ods|csv` downloads it (`painel-contrato-2026-12.xlsx`).
async fn contract_panel(
    State(state): State<ApiState>,
    Path(month): Path<String>,
    Query(q): Query<PanelParams>,
) -> Result<Response, QualityError> {
    let month = parse_month(&month)?;
    let download =
        match q.format.as_deref() {
            None | Some("json") => None,
            Some(f) => Some(crate::export::Format::parse(f).ok_or_else(|| {
                QualityError::BadRequest("format is json, xlsx, ods or csv".into())
            })?),
        };
    // A closed month's panel is its frozen copy; a download of it is made only while
    // the live figures are that copy (else an admin's revision is due first).
    let frozen = super::closing::frozen_panel(&state, &month.to_string())
        .await
        .map_err(|_| QualityError::Database)?;
    if let (Some((mut stored, closed)), None) = (frozen.clone(), download) {
        stored["closed"] = closed;
        return Ok(Json(stored).into_response());
    }
    let (panel, cx, (from, to)) = month_panel(&state, month).await?;
    let mut closed_note = None;
    if let Some((stored, closed)) = frozen {
        if serde_json::to_value(&panel).ok().as_ref() != Some(&stored) {
            return Err(QualityError::Conflict(
                "the month is closed and its figures changed since: a revision is due (POST /api/reports/close)",
            ));
        }
        closed_note = closed["label"].as_str().map(str::to_owned);
    }
    Ok(match download {
        None => Json(panel).into_response(),
        Some(format) => {
            let mut head = super::reports::report_header(&cx, &from, &to, false);
            head.notes
                .extend(closed_note.map(|l| ("Fechamento".to_owned(), l)));
            let stem = format!("painel-contrato-{}", panel.month);
            super::reports::download(&panel_table(&panel), head, format, &stem).await
        }
    })
}

#[derive(Debug, Deserialize)]
struct PanelParams {
    format: Option<String>,
}

/// The contract panel of `month` with the report context and the month's first and last
/// day. The figures are the whole operation's, not a supervisor's scope.
pub(crate) async fn month_panel(
    state: &ApiState,
    month: Month,
) -> Result<(contract::Panel, ReportContext, (String, String)), QualityError> {
    let config = state.exchange.config();
    let contract = config
        .contract
        .contract()
        .map_err(|e| QualityError::Contract(e.to_string()))?;
    let key = month.to_string();
    let cx = ReportContext::for_config(&config).map_err(|e| {
        warn!(error = %e, "contract panel: no reporting time zone");
        QualityError::Database
    })?;
    let (from, to) = reports_read::month_bounds(&key)
        .map_err(|_| QualityError::BadRequest("month is YYYY-MM".into()))?;
    let report = reports_read::period_report(&state.store, &cx, &from, &to, &Queues::All)
        .await
        .map_err(|e| {
            warn!(error = %e, "contract panel: reading the month report failed");
            QualityError::Database
        })?;
    let evals = state.store.quality_evaluations(&key).await.map_err(db)?;
    let kpis = Kpis {
        imq: Some(summary(&evals).imq),
        ..report.total.kpis.contract_kpis()
    };
    let panel = contract::panel(&contract, month.first_day(), &kpis);
    Ok((panel, cx, (from, to)))
}

/// The panel as a typed table (for downloads and the monthly e-mail): one line per KPI
/// and the total discount.
pub(crate) fn panel_table(panel: &contract::Panel) -> Table {
    use crate::reports::table::Kind::*;
    let mut t = Table::new(
        "Painel do contrato",
        &[
            ("kpi", "Indicador", Text),
            ("label", "Nome", Text),
            ("numerator", "Numerador", Count),
            ("denominator", "Denominador", Count),
            ("value", "Valor", Text),
            ("target", "Meta", Text),
            ("met", "Meta cumprida", Text),
            ("band", "Faixa", Text),
            ("discount", "Desconto (%)", Percent),
            ("discount_value", "Desconto (R$)", Text),
        ],
    );
    let count = |v: Option<u64>| v.map(TCell::Count).unwrap_or(TCell::Empty);
    t.rows = panel
        .rows
        .iter()
        .map(|r| {
            vec![
                TCell::Text(r.kpi.code().to_owned()),
                TCell::Text(r.label.to_owned()),
                count(r.numerator),
                count(r.denominator),
                TCell::Text(r.value.clone()),
                TCell::Text(r.target.clone()),
                TCell::Text(
                    match r.met {
                        Some(true) => "sim",
                        Some(false) => "não",
                        None => "—",
                    }
                    .to_owned(),
                ),
                r.band.clone().map(TCell::Text).unwrap_or(TCell::Empty),
                TCell::Percent(f64::from(r.discount_bp) / 100.0),
                TCell::Text(contract::show_reais(r.discount_cents)),
            ]
        })
        .collect();
    t.rows.push(vec![
        TCell::Text("Total".to_owned()),
        TCell::Empty,
        TCell::Empty,
        TCell::Empty,
        TCell::Empty,
        TCell::Empty,
        TCell::Empty,
        TCell::Empty,
        TCell::Percent(f64::from(panel.total_discount_bp) / 100.0),
        TCell::Text(contract::show_reais(panel.total_discount_cents)),
    ]);
    t.notes = vec![
        format!("Mês: {}", panel.month),
        format!("Fatura: {}", contract::show_reais(panel.invoice_cents)),
    ];
    if panel.adaptation {
        t.notes
            .push("Período de adaptação: sem desconto neste mês".to_owned());
    }
    t
}

#[cfg(test)]
#[path = "quality_tests.rs"]
mod tests;
