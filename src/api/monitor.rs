//! `/api/calls/{protocol}/monitor` (issue 20): a supervisor listens to, whispers to or
//! barges into a live call. `POST {mode}` rings the supervisor's phone (the account in
//! the user's `agent` field, `[[users]] agent = "…"`; auto-answer asked) and attaches it;
//! `PATCH {mode}` switches mode; `DELETE` stops.
//!
//! Rules: supervisors and admins only (an agent gets 403 from the role check in
//! `mod.rs`); a supervisor only on calls of their scope (a queue of theirs, as for the
//! call's record); every start, switch, stop and refusal goes to the audit log, the
//! request before it is carried out (a request the log cannot take is refused).

use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Json, Router};
use serde::Deserialize;
use tracing::warn;

use super::calls::{OUT_OF_SCOPE, in_scope, parse_protocol};
use super::{ApiError, ApiState};
use crate::events::MonitorMode;
use crate::floor::calls::{CallCommand, CommandError};
use crate::users::Principal;

pub fn router() -> Router<ApiState> {
    Router::new().route(
        "/calls/{protocol}/monitor",
        post(start).patch(switch).delete(stop),
    )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModeBody {
    mode: MonitorMode,
}

async fn start(
    state: State<ApiState>,
    who: Extension<Principal>,
    Path(protocol): Path<String>,
    Json(body): Json<ModeBody>,
) -> Result<Response, ApiError> {
    let Some(phone) = who.agent.clone() else {
        return Ok(refuse(
            StatusCode::BAD_REQUEST,
            "no phone is linked to this user (the user's `agent` account)",
        ));
    };
    let command = CallCommand::Monitor {
        supervisor: who.user.clone(),
        phone,
        mode: body.mode,
    };
    act(
        state,
        who,
        protocol,
        Method::POST,
        "monitor.start",
        body.mode.as_str(),
        command,
    )
    .await
}

async fn switch(
    state: State<ApiState>,
    who: Extension<Principal>,
    Path(protocol): Path<String>,
    Json(body): Json<ModeBody>,
) -> Result<Response, ApiError> {
    let command = CallCommand::MonitorMode {
        supervisor: who.user.clone(),
        mode: body.mode,
    };
    act(
        state,
        who,
        protocol,
        Method::PATCH,
        "monitor.mode",
        body.mode.as_str(),
        command,
    )
    .await
}

async fn stop(
    state: State<ApiState>,
    who: Extension<Principal>,
    Path(protocol): Path<String>,
) -> Result<Response, ApiError> {
    let command = CallCommand::StopMonitor {
        supervisor: who.user.clone(),
    };
    act(
        state,
        who,
        protocol,
        Method::DELETE,
        "monitor.stop",
        "",
        command,
    )
    .await
}

/// Checks scope, audits, and sends `command` to the live call.
async fn act(
    State(state): State<ApiState>,
    Extension(who): Extension<Principal>,
    protocol: String,
    method: Method,
    action: &str,
    mode: &str,
    command: CallCommand,
) -> Result<Response, ApiError> {
    let protocol = parse_protocol(&protocol)?;
    if !in_scope(&state, &who, &protocol).await? {
        let target = format!("{method} /api/calls/{protocol}/monitor");
        super::auth::record_denied(&state.auth, &who, &target, OUT_OF_SCOPE).await;
        return Err(ApiError::Forbidden);
    }
    let audited = state
        .auth
        .sessions
        .accounts()
        .audit()
        .try_record(
            &who.user,
            action,
            &protocol.to_string(),
            &format!("role={} mode={mode}", who.role),
        )
        .await;
    if let Err(e) = audited {
        warn!(error = %e, "cannot audit a monitoring request; refused");
        return Err(ApiError::Database);
    }
    let result = state
        .exchange
        .calls
        .command(&protocol.to_string(), command)
        .await;
    Ok(match result {
        Ok(()) => (
            StatusCode::ACCEPTED,
            Json(serde_json::json!({ "protocol": protocol.to_string(), "mode": mode })),
        )
            .into_response(),
        Err(CommandError::UnknownCall) => {
            refuse(StatusCode::NOT_FOUND, "no live call with this protocol")
        }
        Err(e) => {
            // The refusal is audited too: the request above says what was asked.
            state
                .auth
                .sessions
                .accounts()
                .audit()
                .record(
                    &who.user,
                    "monitor.refused",
                    &protocol.to_string(),
                    &e.to_string(),
                )
                .await;
            refuse(StatusCode::CONFLICT, &e.to_string())
        }
    })
}

fn refuse(status: StatusCode, why: &str) -> Response {
    (status, Json(serde_json::json!({ "error": why }))).into_response()
}
