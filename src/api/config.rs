//! `POST /api/config/reload`: reads the config file again and applies it (`crate::reload`).
//!
//! 200 `{"changes": …}` when applied; 422 `{"error", "problems": [...]}` when refused (the
//! running config stays); 409 `{"error"}` when another reload runs or the server has no
//! file to read. The audit entry (`auth::audited`) carries the change list or every
//! problem, as a SIGHUP reload's does (`reload::audit_detail`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};

use super::ApiState;
use super::auth::AuditNote;
use crate::reload::{self, ReloadError};

pub fn router() -> Router<ApiState> {
    Router::new().route("/config/reload", post(reload_config))
}

async fn reload_config(State(state): State<ApiState>) -> Response {
    let result = reload::reload(&state.exchange).await;
    let note = AuditNote(reload::audit_detail(&result));
    let mut resp = match result {
        Ok(changes) => Json(serde_json::json!({ "changes": changes })).into_response(),
        Err(ReloadError::Refused(problems)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(serde_json::json!({
                "error": "config refused; the running config is unchanged",
                "problems": problems,
            })),
        )
            .into_response(),
        Err(e) => (
            StatusCode::CONFLICT,
            Json(serde_json::json!({ "error": e.to_string() })),
        )
            .into_response(),
    };
    resp.extensions_mut().insert(note);
    resp
}
