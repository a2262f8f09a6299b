//! The HTTP API (axum), one router per resource, assembled here.
//!
//! - `health`: `/healthz`, `/metrics` — open (probes and scrapers).
//! - `alarms`: `/api/alarms…` — raised alarms, on-demand recordings check (supervisor, admin).
//! - `calls`: `/api/calls…` — call records and recordings.
//! - `monitor`: `/api/calls/{protocol}/monitor` — listen, whisper, barge (supervisors).
//! - `acd`: `/api/agents…`, `/api/queues` — the wallboard's agent and queue states, and
//!   each agent's stored state changes.
//! - `ivr`: `/api/ivr…` — running flows, reload, emergency announcement, statistics.
//! - `prompts`: `/api/prompts…` — the prompt library: list, upload, delete.
//! - `config`: `/api/config/reload` — apply the config file again without a restart.
//! - `pages`: `/` (login), `/desktop/` and the other bundled pages, open (no data).
//! - `with_cti` adds `/api/cti`, the CTI websocket (`crate::cti`), outside the token guard.
//! - `auth`: `/api/login`, `/api/logout`, `/api/me`, `/api/cti/ticket`, and the session
//!   and role layers; `users`: `/api/users…` (admins) and `/api/audit` (admins, auditors).
//! - `registrations`: `/api/calls/{protocol}/registrations` (an agent registers a call),
//!   `/api/dispositions`, `/api/pause_reasons` — what the desktop offers.
//! - `screen_pop`: `/api/calls/{protocol}/screen_pop` — a call's pop rebuilt from its log.
//! - `quality`: `/api/quality/…` (IMQ sample, forms, evaluations) and `/api/contract/{month}`
//!   (the contract panel) — admins, auditors (read-only) and supervisors (in scope).
//! - `reports`: `/api/reports/…` — the contract's reports (day, month, period, today,
//!   per-call list, agent production), read-only, for admin, auditor and supervisor;
//!   `reports_more`: the IVR, survey, quality and agents-by-day reports, same roles.
//! - `floor`: `POST /api/floor/…` — a supervisor (in scope) or admin forces an agent's
//!   pause, ready or logout, sends a waiting call to an agent, closes/opens a queue or
//!   sets its priority; audited with the reason given.
//! - `wallboard`: `/api/wallboard` — today's figures, agents' production and callers not
//!   called back for the wallboard page; admin, auditor, supervisor and the TV's
//!   `wallboard` role (which may see nothing else but `/api/me` and the CTI, read-only).
//!
//! Everything under `/api` but `/api/login` needs a session (the `atende_session` cookie)
//! and a role: admin for config, IVR, prompts and users; supervisor or admin for the live
//! ACD; admin, auditor or supervisor (in scope) for call records and recordings; admin or
//! auditor for the audit log. Each module has its own typed error mapped to a status
//! code and a JSON `{"error": …}` without leaking internals (paths, SQL); details go to
//! the log.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};

use crate::floor::Floor;
use crate::ivr::{Announcements, LiveFlows};
use crate::media::prompt::PromptLibrary;
use crate::store::Store;
use crate::users::Role;

pub use auth::{Auth, guarded};

mod acd;
mod alarms;
pub mod auth;
mod calls;
mod calls_export;
mod closing;
mod config;
mod floor;
mod health;
pub mod ivr;
#[cfg(test)]
mod ivr_tests;
mod monitor;
mod pages;
pub mod prompts;
#[cfg(test)]
mod prompts_tests;
pub(crate) mod quality;
mod registrations;
pub(crate) mod report_table;
mod reports;
mod reports_more;
mod screen_pop;
pub mod serve;
#[cfg(test)]
mod testing;
mod users;
mod wallboard;

#[derive(Clone)]
pub struct ApiState {
    /// The floor (agents, queues, live calls, config); the name is kept from when it was
    /// the SIP exchange.
    pub exchange: Arc<Floor>,
    pub store: Store,
    pub auth: Auth,
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
    pub fn from_exchange(ex: &Floor, store: &Store) -> Option<IvrAdmin> {
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
    #[error("your role may not see this")]
    Forbidden,
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
            ApiError::Forbidden => StatusCode::FORBIDDEN,
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
    let auth = state.auth.clone();
    let mut admin = config::router();
    if let Some(ivr) = state.ivr.clone() {
        admin = admin.merge(admin_routes(ivr));
    }
    let protected = Router::new()
        .merge(auth::require(
            auth::audited(admin, &auth),
            &auth,
            &[Role::Admin],
        ))
        .merge(auth::require(
            acd::router().merge(alarms::router()),
            &auth,
            &[Role::Supervisor, Role::Admin],
        ))
        .merge(auth::require(
            calls::router(),
            &auth,
            &[Role::Admin, Role::Auditor, Role::Supervisor],
        ))
        .merge(auth::require(
            monitor::router(),
            &auth,
            &[Role::Supervisor, Role::Admin],
        ))
        .merge(auth::require(
            reports::router(),
            &auth,
            &[Role::Admin, Role::Auditor, Role::Supervisor],
        ))
        .merge(auth::require(
            registrations::router(),
            &auth,
            &[Role::Agent, Role::Supervisor, Role::Admin, Role::Auditor],
        ))
        .merge(auth::require(
            registrations::read_router().merge(screen_pop::router()),
            &auth,
            &[Role::Admin, Role::Auditor, Role::Supervisor],
        ))
        .merge(auth::require(
            floor::router(),
            &auth,
            &[Role::Supervisor, Role::Admin],
        ))
        .merge(auth::require(
            wallboard::router(),
            &auth,
            &[
                Role::Admin,
                Role::Auditor,
                Role::Supervisor,
                Role::Wallboard,
            ],
        ))
        .merge(auth::require(
            quality::router(),
            &auth,
            &[Role::Admin, Role::Auditor, Role::Supervisor],
        ))
        .merge(auth::require(
            reports_more::router(),
            &auth,
            &[Role::Admin, Role::Auditor, Role::Supervisor],
        ))
        .merge(auth::session_routes(auth.clone()))
        .merge(users::routes(auth.clone()));
    Router::new()
        .merge(health::router())
        .merge(pages::router())
        .nest(
            "/api",
            auth::login_routes(auth.clone()).merge(auth::authenticated(protected, &auth)),
        )
        .with_state(state)
}

/// `router` plus the CTI websocket `GET /api/cti`, which authenticates on its own (session
/// cookie and Origin, or a one-time ticket) instead of the admin bearer token.
pub fn with_cti(router: Router, hub: Arc<crate::cti::Hub>) -> Router {
    router.merge(crate::cti::routes(hub))
}

/// The IVR and prompt routes (relative to `/api`), with their own state.
pub fn admin_routes<S: Clone + Send + Sync + 'static>(admin: IvrAdmin) -> Router<S> {
    ivr::router(admin.clone()).merge(prompts::router(admin))
}
