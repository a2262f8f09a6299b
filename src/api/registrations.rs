//! `/api/calls/{protocol}/registrations`: an agent registers what a call was about (a
//! disposition code and a note) and anyone allowed to read the call lists them;
//! `/api/dispositions` and `/api/pause_reasons`: the lists the desktop offers.
//!
//! The registering agent is the session's (an agent user's linked ACD agent), never a
//! field a client chooses; the stored event is published on the bus so desktops see it.
//! The decision is `registration::check`'s; this file gathers the facts and stores it.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use tracing::{info, warn};

use super::ApiState;
use crate::registration::{Limits, Refused, Registration};
use crate::store::protocol::Protocol;
use crate::store::registration::RegisterError;
use crate::users::Principal;

/// What every logged-in user may use: registering (agents only, checked here) and the
/// lists the desktop offers.
pub fn router() -> Router<ApiState> {
    Router::new()
        .route("/calls/{protocol}/registrations", post(register))
        .route("/dispositions", get(dispositions))
        .route("/pause_reasons", get(pause_reasons))
}

/// Reading a call's registrations: the roles that read call records.
pub fn read_router() -> Router<ApiState> {
    Router::new().route("/calls/{protocol}/registrations", get(list))
}

#[derive(Debug, thiserror::Error)]
enum RegistrationError {
    #[error("malformed protocol number")]
    BadProtocol,
    #[error("no such call")]
    NotFound,
    #[error("database unavailable")]
    Database,
    #[error("only an agent registers calls")]
    NotAnAgent,
    #[error("{0}")]
    Refused(Refused),
}

impl IntoResponse for RegistrationError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            RegistrationError::BadProtocol => (StatusCode::BAD_REQUEST, "bad_args"),
            RegistrationError::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            RegistrationError::NotAnAgent => (StatusCode::FORBIDDEN, "not_allowed"),
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

async fn register(
    State(state): State<ApiState>,
    Extension(who): Extension<Principal>,
    Path(protocol): Path<String>,
    Json(registration): Json<Registration>,
) -> Result<impl IntoResponse, RegistrationError> {
    let protocol = parse_protocol(&protocol)?;
    let agent = who.agent.clone().ok_or(RegistrationError::NotAnAgent)?;
    let config = state.exchange.config();
    let now_ms = jiff::Timestamp::now().as_millisecond();
    let event = state
        .store
        .register_call(
            &protocol,
            &agent,
            &registration,
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
                info!(%protocol, agent = %agent, code = %registration.code, refused = %r, "registration refused");
                RegistrationError::Refused(r)
            }
        })?;
    info!(%protocol, agent = %agent, code = %registration.code, "call registered");
    // The store already has it; the event log writer's second insert of the same
    // (protocol, seq) is a no-op, and desktops learn of it from the bus.
    state
        .exchange
        .bus
        .publish(crate::bus::Change::Call(event.clone()));
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
