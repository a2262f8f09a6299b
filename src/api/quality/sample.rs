//! `POST /api/quality/months/{month}/sample`: the month's sample drawn once, from a fresh
//! random seed over the month's eligible calls; the seed and the candidates' digest are
//! audited so anyone can redo the draw (`quality::sample`). A second draw is refused.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::{Extension, Json};
use tracing::info;

use super::{QualityError, audited, db, may_write, new_seed, now_ms, parse_month, tz};
use crate::api::ApiState;
use crate::quality::sample::{candidates_digest, draw};
use crate::store::quality::SampleRun;
use crate::users::Principal;

pub(super) async fn draw_sample(
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
