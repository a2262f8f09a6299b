//! `POST /api/floor/…`: a supervisor (in scope) or an admin controls the floor
//! (`crate::floor::control`, shared with the CTI's supervisor commands).
//!
//! - `agents/{agent}/pause` `{reason, why}`, `…/ready` `{why}`, `…/logout` `{why}`: force
//!   an agent's state (a pause takes a reason of `[acd] pause_reasons`).
//! - `calls/{protocol}/assign` `{agent, why}`: offer a waiting call to that agent now
//!   (refused unless the agent is available).
//! - `queues/{queue}/close` `{why}`, `…/open` `{why}`: close a queue on top of its schedule
//!   (new callers go where the queue sends them after hours), or give it back to its
//!   schedule; `…/priority` `{priority, why}` (0–255, higher first), `…/lift_priority`
//!   `{why}` (callers who join from then on keep their own). Both kinds of override are
//!   kept in the database and outlive a restart until lifted (`floor::overrides`).
//!
//! Answers: 204 done; 400 bad input (`why` missing: 1–500 characters); 403 outside the
//! scope (audited as denied); 404 unknown agent, call or queue; 409 refused by the ACD
//! with its reason (`{"error": …}`), audited like a success.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Json, Router};
use serde::Deserialize;

use super::ApiState;
use crate::floor::control::{self, ControlError, ForcedState, Order, QueueOrder};
use crate::users::Principal;

pub fn router() -> Router<ApiState> {
    Router::new()
        .route("/floor/agents/{agent}/{action}", post(agent))
        .route("/floor/calls/{protocol}/assign", post(assign))
        .route("/floor/queues/{queue}/{action}", post(queue))
}

#[derive(Debug, Deserialize)]
struct Body {
    why: Option<String>,
    reason: Option<String>,
    agent: Option<String>,
    priority: Option<u8>,
}

fn answer(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

async fn run(state: &ApiState, who: &Principal, order: Order, why: Option<&str>) -> Response {
    let audit = state.auth.sessions.accounts().audit();
    match control::run(&state.exchange, audit, who, order, why).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => {
            let status = match &e {
                ControlError::NoWhy => StatusCode::BAD_REQUEST,
                ControlError::Forbidden => StatusCode::FORBIDDEN,
                ControlError::NotFound(_) => StatusCode::NOT_FOUND,
                ControlError::Refused(_) => StatusCode::CONFLICT,
                ControlError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            };
            answer(status, &e.to_string())
        }
    }
}

async fn agent(
    State(state): State<ApiState>,
    Extension(who): Extension<Principal>,
    Path((agent, action)): Path<(String, String)>,
    Json(body): Json<Body>,
) -> Response {
    let state_ = match (action.as_str(), body.reason.as_deref().map(str::trim)) {
        ("pause", Some(reason)) if !reason.is_empty() => ForcedState::Paused {
            reason: reason.to_owned(),
        },
        ("pause", _) => return answer(StatusCode::BAD_REQUEST, "a pause needs a reason"),
        ("ready", _) => ForcedState::Available,
        ("logout", _) => ForcedState::LoggedOut,
        _ => return answer(StatusCode::NOT_FOUND, "unknown action"),
    };
    let order = Order::Agent {
        agent,
        state: state_,
    };
    run(&state, &who, order, body.why.as_deref()).await
}

async fn assign(
    State(state): State<ApiState>,
    Extension(who): Extension<Principal>,
    Path(protocol): Path<String>,
    Json(body): Json<Body>,
) -> Response {
    let Some(agent) = body.agent.clone().filter(|a| !a.is_empty()) else {
        return answer(StatusCode::BAD_REQUEST, "agent is required");
    };
    let order = Order::Assign { protocol, agent };
    run(&state, &who, order, body.why.as_deref()).await
}

async fn queue(
    State(state): State<ApiState>,
    Extension(who): Extension<Principal>,
    Path((queue, action)): Path<(String, String)>,
    Json(body): Json<Body>,
) -> Response {
    let order = match (action.as_str(), body.priority) {
        ("close", _) => QueueOrder::Close,
        ("open", _) => QueueOrder::Open,
        ("priority", Some(p)) => QueueOrder::Priority(p),
        ("priority", None) => {
            return answer(StatusCode::BAD_REQUEST, "priority (0-255) is required");
        }
        ("lift_priority", _) => QueueOrder::LiftPriority,
        _ => return answer(StatusCode::NOT_FOUND, "unknown action"),
    };
    run(
        &state,
        &who,
        Order::Queue { queue, order },
        body.why.as_deref(),
    )
    .await
}
