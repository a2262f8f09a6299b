//! `POST /api/quality/evaluations`: a supervisor's or admin's evaluation of a sampled
//! call, or a revision of one (with a note saying why). One first evaluation per
//! evaluator, call and form; each is audited before it is stored.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use tracing::info;

use super::{QualityError, audited, db, may_write, now_ms, parse_month, sees};
use crate::api::ApiState;
use crate::quality::form::DEFAULT_FORM;
use crate::quality::score::current;
use crate::store::quality::{EvaluationRefused, NewEvaluation};
use crate::users::{Principal, Role};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Submission {
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

pub(super) async fn submit(
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
        crate::api::auth::record_denied(
            &state.auth,
            &who,
            &target,
            "call outside the user's queues",
        )
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
                crate::api::auth::record_denied(
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
