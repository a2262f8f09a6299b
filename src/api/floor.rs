//! `POST /api/floor/…`: a supervisor (in scope) or an admin controls the floor.
//!
//! - `agents/{agent}/pause` `{reason, why}`, `…/ready` `{why}`, `…/logout` `{why}`: force
//!   an agent's state (a pause takes a reason of `[acd] pause_reasons`).
//! - `calls/{protocol}/assign` `{agent, why}`: offer a waiting call to that agent now
//!   (refused unless the agent is available).
//! - `queues/{queue}/close` `{why}`, `…/open` `{why}`: close a queue on top of its schedule
//!   (new callers go where the queue sends them after hours), or give it back to its
//!   schedule; `…/priority` `{priority, why}` (0–255, higher first).
//!
//! `why` (1–500 characters) is required: every command, done or refused by the ACD, goes
//! to the audit log with who, what and why (action `floor`); the agent's state change is
//! also in the agent log, as any other. A supervisor acts on agents configured in, calls
//! waiting in, and queues of their scope; anything else is 403 and audited as denied.
//! Answers: 204 done; 400 bad input; 403; 404 unknown agent, call or queue; 409 refused
//! by the ACD with its reason (`{"error": …}`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Json, Router};
use serde::Deserialize;

use super::ApiState;
use crate::acd::{AcdError, AgentId, CallId, QueueId};
use crate::floor::acd::{AgentCommand, FloorCommand};
use crate::users::{Principal, Role};

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

/// The reason given, as one line of the audit log; `None` when missing or too long.
fn why(body: &Body) -> Option<String> {
    let why = body.why.as_deref().unwrap_or("").trim();
    if why.is_empty() || why.chars().count() > 500 {
        return None;
    }
    Some(why.replace(['\n', '\r'], " "))
}

fn no_why() -> Response {
    answer(
        StatusCode::BAD_REQUEST,
        "why is required (1-500 characters)",
    )
}

/// Whether `who` may act on agent `agent` (configured in a queue of their scope).
fn agent_in_scope(state: &ApiState, who: &Principal, agent: &str) -> bool {
    who.role == Role::Admin
        || state
            .exchange
            .config()
            .agents
            .iter()
            .find(|a| a.id == agent)
            .is_some_and(|a| a.queues.iter().any(|q| who.sees_queue(q)))
}

async fn audit(state: &ApiState, who: &Principal, target: &str, detail: &str) {
    state
        .auth
        .sessions
        .accounts()
        .audit()
        .record(&who.user, "floor", target, detail)
        .await;
}

async fn denied(state: &ApiState, who: &Principal, target: &str, why: &str) -> Response {
    super::auth::record_denied(&state.auth, who, target, why).await;
    answer(StatusCode::FORBIDDEN, "outside your scope")
}

/// The ACD's verdict as an answer, audited either way.
async fn verdict(
    state: &ApiState,
    who: &Principal,
    target: &str,
    detail: &str,
    r: Option<Result<(), String>>,
) -> Response {
    match r {
        None => answer(StatusCode::SERVICE_UNAVAILABLE, "the ACD is not running"),
        Some(Ok(())) => {
            audit(state, who, target, detail).await;
            StatusCode::NO_CONTENT.into_response()
        }
        Some(Err(e)) => {
            audit(state, who, target, &format!("{detail}; refused: {e}")).await;
            answer(StatusCode::CONFLICT, &e)
        }
    }
}

async fn agent(
    State(state): State<ApiState>,
    Extension(who): Extension<Principal>,
    Path((agent, action)): Path<(String, String)>,
    Json(body): Json<Body>,
) -> Response {
    let target = format!("agent {agent} {action}");
    let Some(why) = why(&body) else {
        return no_why();
    };
    let command = match (action.as_str(), body.reason.as_deref()) {
        ("pause", Some(reason)) if !reason.trim().is_empty() => AgentCommand::Pause {
            reason: reason.trim().to_owned(),
        },
        ("pause", _) => return answer(StatusCode::BAD_REQUEST, "a pause needs a reason"),
        ("ready", _) => AgentCommand::Ready,
        ("logout", _) => AgentCommand::Logout,
        _ => return answer(StatusCode::NOT_FOUND, "unknown action"),
    };
    if !state.exchange.config().agents.iter().any(|a| a.id == agent) {
        return answer(StatusCode::NOT_FOUND, "no such agent");
    }
    if !agent_in_scope(&state, &who, &agent) {
        return denied(
            &state,
            &who,
            &target,
            "the agent is in no queue of the user's scope",
        )
        .await;
    }
    let Some(acd) = state.exchange.acd.as_ref() else {
        return answer(StatusCode::NOT_FOUND, "no ACD queues are configured");
    };
    let detail = match &command {
        AgentCommand::Pause { reason } => format!("reason: {reason}; why: {why}"),
        _ => format!("why: {why}"),
    };
    let r = acd.agent(AgentId::new(agent.as_str()), command).await;
    let r = match r {
        Err(e) if e == "the ACD is not running" => None,
        r => Some(r),
    };
    verdict(&state, &who, &target, &detail, r).await
}

async fn assign(
    State(state): State<ApiState>,
    Extension(who): Extension<Principal>,
    Path(protocol): Path<String>,
    Json(body): Json<Body>,
) -> Response {
    let Some(why) = why(&body) else {
        return no_why();
    };
    let Some(agent) = body.agent.as_deref().filter(|a| !a.is_empty()) else {
        return answer(StatusCode::BAD_REQUEST, "agent is required");
    };
    let target = format!("call {protocol} assign {agent}");
    let Some(acd) = state.exchange.acd.as_ref() else {
        return answer(StatusCode::NOT_FOUND, "no ACD queues are configured");
    };
    let call = CallId::new(protocol.as_str());
    let Some(queue) = acd.call_queue(call.clone()).await else {
        return answer(StatusCode::NOT_FOUND, "no such call in the queues");
    };
    if !who.sees_queue(queue.as_str()) || !agent_in_scope(&state, &who, agent) {
        return denied(
            &state,
            &who,
            &target,
            "the call or the agent is outside the user's scope",
        )
        .await;
    }
    let r = acd
        .floor(FloorCommand::Assign {
            call,
            agent: AgentId::new(agent),
        })
        .await;
    acd_verdict(&state, &who, &target, &format!("why: {why}"), r).await
}

async fn acd_verdict(
    state: &ApiState,
    who: &Principal,
    target: &str,
    detail: &str,
    r: Option<Result<(), AcdError>>,
) -> Response {
    match r {
        Some(Err(
            e @ (AcdError::UnknownAgent(_) | AcdError::UnknownCall(_) | AcdError::UnknownQueue(_)),
        )) => answer(StatusCode::NOT_FOUND, &e.to_string()),
        r => {
            verdict(
                state,
                who,
                target,
                detail,
                r.map(|r| r.map_err(|e| e.to_string())),
            )
            .await
        }
    }
}

async fn queue(
    State(state): State<ApiState>,
    Extension(who): Extension<Principal>,
    Path((queue, action)): Path<(String, String)>,
    Json(body): Json<Body>,
) -> Response {
    let target = format!("queue {queue} {action}");
    let Some(why) = why(&body) else {
        return no_why();
    };
    let id = QueueId::new(queue.as_str());
    let (command, detail) = match (action.as_str(), body.priority) {
        ("close", _) => (
            FloorCommand::SetClosed {
                queue: id,
                closed: true,
            },
            format!("why: {why}"),
        ),
        ("open", _) => (
            FloorCommand::SetClosed {
                queue: id,
                closed: false,
            },
            format!("why: {why}"),
        ),
        ("priority", Some(p)) => (
            FloorCommand::SetPriority {
                queue: id,
                priority: p,
            },
            format!("priority: {p}; why: {why}"),
        ),
        ("priority", None) => {
            return answer(StatusCode::BAD_REQUEST, "priority (0-255) is required");
        }
        _ => return answer(StatusCode::NOT_FOUND, "unknown action"),
    };
    if !state
        .exchange
        .config()
        .queues
        .iter()
        .any(|q| q.id.as_str() == queue)
    {
        return answer(StatusCode::NOT_FOUND, "no such queue");
    }
    if !who.sees_queue(&queue) {
        return denied(
            &state,
            &who,
            &target,
            "the queue is outside the user's scope",
        )
        .await;
    }
    let Some(acd) = state.exchange.acd.as_ref() else {
        return answer(StatusCode::NOT_FOUND, "no ACD queues are configured");
    };
    let r = acd.floor(command).await;
    acd_verdict(&state, &who, &target, &detail, r).await
}
