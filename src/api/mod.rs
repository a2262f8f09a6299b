//! The HTTP API (axum), one router per resource, assembled here.
//!
//! - `health`: `/healthz`, `/metrics` — open (probes and scrapers).
//! - `calls`: `/api/calls…` — call records and recordings.
//! - `acd`: `/api/agents…`, `/api/queues` — the wallboard's agent and queue states, and
//!   each agent's stored state changes.
//! - `ivr`: `/api/ivr…` — running flows, reload, emergency announcement, statistics.
//! - `prompts`: `/api/prompts…` — the prompt library: list, upload, delete.
//! - `config`: `/api/config/reload` — apply the config file again without a restart.
//! - `registrations`: `/api/calls/{protocol}/registrations` (an agent registers a call),
//!   `/api/dispositions`, `/api/pause_reasons` — what the desktop offers.
//! - `screen_pop`: `/api/calls/{protocol}/screen_pop` — a call's pop rebuilt from its log.
//!
//! Everything under `/api` needs `Authorization: Bearer <http.admin_token>` until the CTI
//! issue brings users and roles. Each module has its own typed error mapped to a status
//! code and a JSON `{"error": …}` without leaking internals (paths, SQL); details go to
//! the log.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use tracing::warn;

use crate::ivr::{Announcements, LiveFlows};
use crate::media::prompt::PromptLibrary;
use crate::sip::exchange::Exchange;
use crate::store::Store;

mod acd;
mod calls;
mod config;
mod health;
pub mod ivr;
#[cfg(test)]
mod ivr_tests;
pub mod prompts;
#[cfg(test)]
mod prompts_tests;
mod registrations;
mod screen_pop;
#[cfg(test)]
mod testing;

#[derive(Clone)]
pub struct ApiState {
    pub exchange: Arc<Exchange>,
    pub store: Store,
    pub token: Arc<str>,
    /// The IVR's running flows and switches; `None` mounts no `/api/ivr` or `/api/prompts`.
    pub ivr: Option<IvrAdmin>,
}

/// What the IVR and prompt endpoints act on: the same `Arc`s the call path reads, so a
/// change here is what the next call sees.
#[derive(Clone, Debug)]
pub struct IvrAdmin {
    pub flows: Arc<LiveFlows>,
    pub announcements: Arc<Announcements>,
    pub prompts: Arc<PromptLibrary>,
    pub store: Store,
    /// Who else plays a prompt (services' music, `say` fragments, callback prompts): a
    /// deletion they would notice is refused. `None` checks flows and the switch only.
    pub in_use: Option<PromptUsers>,
}

/// The users of a prompt by name (empty when none).
pub type UsersOf = dyn Fn(&str) -> Vec<String> + Send + Sync;

/// Names the users of a prompt; shared with the prompts watcher.
#[derive(Clone)]
pub struct PromptUsers(pub Arc<UsersOf>);

impl std::fmt::Debug for PromptUsers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PromptUsers")
    }
}

impl IvrAdmin {
    /// The exchange's flows, switch and prompts; `None` when no IVR is configured.
    pub fn from_exchange(ex: &Exchange, store: &Store) -> Option<IvrAdmin> {
        Some(IvrAdmin {
            flows: ex.flows.clone()?,
            announcements: ex.announcements.clone(),
            prompts: ex.prompts.clone(),
            store: store.clone(),
            in_use: None,
        })
    }

    pub fn with_in_use(mut self, users: PromptUsers) -> IvrAdmin {
        self.in_use = Some(users);
        self
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("missing or wrong bearer token")]
    Unauthorized,
    #[error("no such call")]
    NotFound,
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    #[error("recording not available")]
    NoRecording,
    #[error("recording cannot be read as WAV")]
    UnreadableRecording,
    #[error("database unavailable")]
    Database,
    #[error("no ACD queues are configured")]
    NoAcd,
    #[error("no such agent")]
    UnknownAgent,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match self {
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::NotFound
            | ApiError::NoRecording
            | ApiError::NoAcd
            | ApiError::UnknownAgent => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Database => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::UnreadableRecording => StatusCode::INTERNAL_SERVER_ERROR,
        };
        (
            status,
            Json(serde_json::json!({ "error": self.to_string() })),
        )
            .into_response()
    }
}

pub fn router(state: ApiState) -> Router {
    let mut api = calls::router()
        .merge(acd::router())
        .merge(config::router())
        .merge(registrations::router())
        .merge(screen_pop::router());
    if let Some(admin) = state.ivr.clone() {
        api = api.merge(admin_routes(admin));
    }
    Router::new()
        .merge(health::router())
        .nest("/api", guarded(api, state.token.clone()))
        .with_state(state)
}

/// The IVR and prompt routes (relative to `/api`), with their own state.
pub fn admin_routes<S: Clone + Send + Sync + 'static>(admin: IvrAdmin) -> Router<S> {
    ivr::router(admin.clone()).merge(prompts::router(admin))
}

/// `routes` behind the admin bearer token.
pub fn guarded<S: Clone + Send + Sync + 'static>(routes: Router<S>, token: Arc<str>) -> Router<S> {
    routes.layer(middleware::from_fn_with_state(token, require_token))
}

async fn require_token(
    State(token): State<Arc<str>>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let ok: bool = subtle::ConstantTimeEq::ct_eq(given.as_bytes(), token.as_bytes()).into();
    if !ok {
        warn!(path = %req.uri().path(), "API request with a missing or wrong token");
        return Err(ApiError::Unauthorized);
    }
    Ok(next.run(req).await)
}
