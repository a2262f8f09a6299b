//! `/api/agents…` and `/api/queues`: what the wallboard shows (every agent's state and
//! time in it, each queue's waiting calls and staffing) from the ACD actor, and an
//! agent's stored state changes over a period (login, pauses with reasons, calls; a
//! change a supervisor forced says by whom and why).
//! A supervisor sees the queues of their scope, their teams' agents and the agents
//! configured in their own queues.

use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};
use tracing::warn;

use super::{ApiError, ApiState};
use crate::floor::acd::{AcdStatus, AgentView};
use crate::users::Principal;

pub fn router() -> Router<ApiState> {
    Router::new()
        .route("/agents", get(agents))
        .route("/agents/{agent}/events", get(agent_events))
        .route("/queues", get(queues))
}

/// An agent on the wallboard: the ACD's view plus the name from the config.
#[derive(Debug, Serialize)]
struct Agent {
    name: String,
    #[serde(flatten)]
    view: AgentView,
}

async fn status(state: &ApiState) -> Result<AcdStatus, ApiError> {
    let acd = state.exchange.acd.as_ref().ok_or(ApiError::NoAcd)?;
    acd.status().await.ok_or(ApiError::NoAcd)
}

/// Whether `who` may see agent `agent`: one of their teams' agents, or one configured in
/// a queue of their scope (`Principal::sees_agent`).
fn sees_agent(state: &ApiState, who: &Principal, agent: &str) -> bool {
    let config = state.exchange.config();
    let serves = config
        .agents
        .iter()
        .find(|a| a.id == agent)
        .map_or(&[][..], |a| a.queues.as_slice());
    who.sees_agent(agent, serves)
}

async fn agents(
    State(state): State<ApiState>,
    Extension(who): Extension<Principal>,
) -> Result<impl IntoResponse, ApiError> {
    let status = status(&state).await?;
    let config = state.exchange.config();
    let agents: Vec<Agent> = status
        .agents
        .into_iter()
        .filter(|v| sees_agent(&state, &who, &v.agent))
        .map(|view| Agent {
            name: config
                .agents
                .iter()
                .find(|a| a.id == view.agent)
                .map(|a| a.name.clone())
                .unwrap_or_default(),
            view,
        })
        .collect();
    Ok(Json(agents))
}

async fn queues(
    State(state): State<ApiState>,
    Extension(who): Extension<Principal>,
) -> Result<impl IntoResponse, ApiError> {
    let mut queues = status(&state).await?.queues;
    queues.retain(|q| who.sees_queue(q.queue.as_str()));
    Ok(Json(queues))
}

/// A row of an agent's history: the stored change, and for a change a supervisor forced
/// how the pages say it ("pausa (lanche) forçada por sup: reunião").
#[derive(Debug, Serialize)]
struct HistoryRow {
    #[serde(flatten)]
    event: crate::store::agent_log::AgentEvent,
    #[serde(skip_serializing_if = "Option::is_none")]
    forced: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Period {
    /// Milliseconds since the Unix epoch; `from` inclusive, `to` exclusive.
    from: Option<i64>,
    to: Option<i64>,
    limit: Option<i64>,
}

async fn agent_events(
    State(state): State<ApiState>,
    Extension(who): Extension<Principal>,
    Path(agent): Path<String>,
    Query(p): Query<Period>,
) -> Result<impl IntoResponse, ApiError> {
    if !state.exchange.config().agents.iter().any(|a| a.id == agent) {
        return Err(ApiError::UnknownAgent);
    }
    if !sees_agent(&state, &who, &agent) {
        let target = format!("GET /api/agents/{agent}/events");
        let why = "the agent is not in the user's scope (teams, queues)";
        super::auth::record_denied(&state.auth, &who, &target, why).await;
        return Err(ApiError::Forbidden);
    }
    let (from, to) = (p.from.unwrap_or(0), p.to.unwrap_or(i64::MAX));
    if from > to {
        return Err(ApiError::BadRequest("from is after to"));
    }
    let limit = p.limit.unwrap_or(1000).clamp(1, 10_000);
    let events = state
        .store
        .agent_events(Some(&agent), from, to, limit)
        .await
        .map_err(|e| {
            warn!(error = %e, "reading agent events failed");
            ApiError::Database
        })?;
    let rows: Vec<HistoryRow> = events
        .into_iter()
        .map(|event| HistoryRow {
            forced: event.forced_label(),
            event,
        })
        .collect();
    Ok(Json(rows))
}
