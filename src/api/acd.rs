//! `/api/agents…` and `/api/queues`: what the wallboard shows (every agent's state and
//! time in it, each queue's waiting calls and staffing) from the ACD actor, and an
//! agent's stored state changes over a period (login, pauses with reasons, calls).

use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tracing::warn;

use super::{ApiError, ApiState};
use crate::floor::acd::{AcdStatus, AgentView};

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

async fn agents(State(state): State<ApiState>) -> Result<impl IntoResponse, ApiError> {
    let status = status(&state).await?;
    let config = state.exchange.config();
    let agents: Vec<Agent> = status
        .agents
        .into_iter()
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

async fn queues(State(state): State<ApiState>) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(status(&state).await?.queues))
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
    Path(agent): Path<String>,
    Query(p): Query<Period>,
) -> Result<impl IntoResponse, ApiError> {
    if !state.exchange.config().agents.iter().any(|a| a.id == agent) {
        return Err(ApiError::UnknownAgent);
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
    Ok(Json(events))
}
