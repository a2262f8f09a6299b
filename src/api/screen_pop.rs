//! `GET /api/calls/{protocol}/screen_pop`: the screen-pop of a call rebuilt from its log,
//! for a desktop that reloads during the call or the agent a call was transferred to.
//! What the IVR collected is not in the log (personal data is never stored there), so
//! `ivr` is empty here and URL fields from it are blank: the live pop the call actor
//! sends on offer carries them.

use axum::extract::{Path, State};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use tracing::warn;

use super::{ApiError, ApiState};
use crate::acd::QueueConfig;
use crate::screen_pop::{PopSource, ScreenPop};
use crate::store::event::EventKind;
use crate::store::protocol::Protocol;

pub fn router() -> Router<ApiState> {
    Router::new().route("/calls/{protocol}/screen_pop", get(screen_pop))
}

async fn screen_pop(
    State(state): State<ApiState>,
    Path(protocol): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let protocol: Protocol = protocol
        .parse()
        .map_err(|_| ApiError::BadRequest("malformed protocol number"))?;
    let detail = state
        .store
        .call_detail(&protocol)
        .await
        .map_err(|e| {
            warn!(error = %e, "reading a call for its screen-pop failed");
            ApiError::Database
        })?
        .ok_or(ApiError::NotFound)?;
    let source = detail
        .events
        .iter()
        .filter(|e| e.kind == "offered")
        .find_map(|e| serde_json::from_value::<EventKind>(e.detail.clone()).ok())
        .and_then(|k| PopSource::from_offered(protocol.clone(), &k, Default::default()))
        .ok_or(ApiError::NotFound)?;
    // The latest ACD offer names the queue and the wait (after an overflow, the last).
    let offer = detail
        .events
        .iter()
        .rfind(|e| e.kind == "acd" && e.detail["event"]["kind"] == "offered")
        .map(|e| &e.detail["event"]);
    let queue = offer.and_then(|o| o["queue"].as_str()).unwrap_or_default();
    let waited_ms = offer.and_then(|o| o["waited_ms"].as_u64()).unwrap_or(0);
    let config = state.exchange.config();
    let queue = config
        .queues
        .iter()
        .find(|q| q.id.as_str() == queue)
        .cloned()
        .unwrap_or_else(|| QueueConfig::new(queue));
    let pop = ScreenPop::build(
        &state.store,
        &source,
        &queue,
        waited_ms,
        config.acd.screen_pop_history,
        &config.dispositions,
    )
    .await;
    Ok(Json(pop))
}
