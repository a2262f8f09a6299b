//! `/api/calls/{protocol}/registrations`: an agent registers what a call was about (a
//! disposition code and a note) and anyone allowed to read the call lists them;
//! `/api/dispositions` and `/api/pause_reasons`: the lists the desktop offers.
//!
//! The agent comes in the request body for now; once sessions exist it must be the
//! session's agent (never a field a client chooses). The decision is
//! `registration::check`'s; this file gathers the facts and stores the result.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use tracing::{info, warn};

use super::ApiState;
use crate::registration::{Limits, Refused, Registration};
use crate::store::protocol::Protocol;
use crate::store::registration::RegisterError;

pub fn router() -> Router<ApiState> {
    Router::new()
        .route("/calls/{protocol}/registrations", get(list).post(register))
        .route("/dispositions", get(dispositions))
        .route("/pause_reasons", get(pause_reasons))
}

#[derive(Debug, thiserror::Error)]
enum RegistrationError {
    #[error("malformed protocol number")]
    BadProtocol,
    #[error("no such call")]
    NotFound,
    #[error("database unavailable")]
    Database,
    #[error("{0}")]
    Refused(Refused),
}

impl IntoResponse for RegistrationError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            RegistrationError::BadProtocol => (StatusCode::BAD_REQUEST, "bad_args"),
            RegistrationError::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            RegistrationError::Database => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            RegistrationError::Refused(r) => (
                match r {
                    Refused::NotYourCall => StatusCode::FORBIDDEN,
                    Refused::WindowClosed => StatusCode::CONFLICT,
                    _ => StatusCode::UNPROCESSABLE_ENTITY,
                },
                r.code(),
            ),
        };
        (
            status,
            Json(serde_json::json!({ "error": self.to_string(), "code": code })),
        )
            .into_response()
    }
}

fn parse_protocol(s: &str) -> Result<Protocol, RegistrationError> {
    s.parse().map_err(|_| RegistrationError::BadProtocol)
}

fn database(e: crate::store::StoreError) -> RegistrationError {
    warn!(error = %e, "registrations: the call log is unreadable");
    RegistrationError::Database
}

#[derive(Debug, Deserialize)]
struct Body {
    /// Until sessions: the agent registering (the integrator takes it from the session).
    agent: String,
    #[serde(flatten)]
    registration: Registration,
}

async fn register(
    State(state): State<ApiState>,
    Path(protocol): Path<String>,
    Json(body): Json<Body>,
) -> Result<impl IntoResponse, RegistrationError> {
    let protocol = parse_protocol(&protocol)?;
    let config = state.exchange.config();
    let now_ms = jiff::Timestamp::now().as_millisecond();
    let event = state
        .store
        .register_call(
            &protocol,
            &body.agent,
            &body.registration,
            &config.dispositions,
            Limits::from_config(&config.acd),
            now_ms,
        )
        .await
        .map_err(|e| match e {
            RegisterError::UnknownCall => RegistrationError::NotFound,
            RegisterError::Store(e) => database(e),
            RegisterError::Refused(r) => {
                // The note is the citizen's business: never logged.
                info!(%protocol, agent = %body.agent, code = %body.registration.code, refused = %r, "registration refused");
                RegistrationError::Refused(r)
            }
        })?;
    info!(%protocol, agent = %body.agent, code = %body.registration.code, "call registered");
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({
            "protocol": protocol.as_str(),
            "seq": event.seq,
            "at_ms": event.at_ms,
            "registration": event.kind,
        })),
    ))
}

async fn list(
    State(state): State<ApiState>,
    Path(protocol): Path<String>,
) -> Result<impl IntoResponse, RegistrationError> {
    let protocol = parse_protocol(&protocol)?;
    let regs = state
        .store
        .registrations(&protocol)
        .await
        .map_err(database)?;
    Ok(Json(regs))
}

async fn dispositions(State(state): State<ApiState>) -> impl IntoResponse {
    Json(state.exchange.config().dispositions.clone())
}

async fn pause_reasons(State(state): State<ApiState>) -> impl IntoResponse {
    Json(state.exchange.config().acd.pause_reasons())
}
