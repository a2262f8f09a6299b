//! The HTTP API (axum): health, Prometheus metrics, call records and recordings.
//!
//! `/healthz` and `/metrics` are open (probes and scrapers); everything under `/api` needs
//! `Authorization: Bearer <http.admin_token>` until the CTI issue brings users and roles.
//! Errors are typed and mapped to status codes without leaking internals.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use tracing::warn;

use crate::sip::exchange::Exchange;
use crate::store::Store;
use crate::store::protocol::Protocol;

#[derive(Clone)]
pub struct ApiState {
    pub exchange: Arc<Exchange>,
    pub store: Store,
    pub token: Arc<str>,
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
    #[error("database unavailable")]
    Database,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match self {
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::NotFound | ApiError::NoRecording => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Database => StatusCode::SERVICE_UNAVAILABLE,
        };
        (
            status,
            Json(serde_json::json!({ "error": self.to_string() })),
        )
            .into_response()
    }
}

pub fn router(state: ApiState) -> Router {
    let api = Router::new()
        .route("/calls", get(list_calls))
        .route("/calls/{protocol}", get(call_detail))
        .route("/calls/{protocol}/recording", get(recording))
        .layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .nest("/api", api)
        .with_state(state)
}

async fn require_token(
    State(state): State<ApiState>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let ok: bool = subtle::ConstantTimeEq::ct_eq(given.as_bytes(), state.token.as_bytes()).into();
    if !ok {
        warn!(path = %req.uri().path(), "API request with a missing or wrong token");
        return Err(ApiError::Unauthorized);
    }
    Ok(next.run(req).await)
}

async fn healthz(State(state): State<ApiState>) -> impl IntoResponse {
    let db = state.exchange.event_log.stats().db_available();
    let status = if db {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(serde_json::json!({
            "status": if db { "ok" } else { "degraded" },
            "database": db,
            "active_calls": state.exchange.active_calls(),
        })),
    )
}

async fn metrics(State(state): State<ApiState>) -> impl IntoResponse {
    let ex = &state.exchange;
    let m = &ex.media_stats;
    let c = &ex.counters;
    let log = ex.event_log.stats();
    let mut out = String::with_capacity(2048);
    let mut metric = |name: &str, kind: &str, help: &str, value: u64| {
        let _ = write!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
        );
    };
    metric(
        "atende_active_calls",
        "gauge",
        "Calls in progress.",
        ex.active_calls() as u64,
    );
    metric(
        "atende_calls_offered_total",
        "counter",
        "INVITEs received for new calls.",
        c.offered.load(Ordering::Relaxed),
    );
    metric(
        "atende_calls_rejected_total",
        "counter",
        "New calls refused before answer.",
        c.rejected.load(Ordering::Relaxed),
    );
    metric(
        "atende_registrations",
        "gauge",
        "Live agent phone registrations.",
        ex.registrar.registrations() as u64,
    );
    metric(
        "atende_rtp_packets_received_total",
        "counter",
        "RTP packets received.",
        m.packets_in.load(Ordering::Relaxed),
    );
    metric(
        "atende_rtp_packets_sent_total",
        "counter",
        "RTP packets sent.",
        m.packets_out.load(Ordering::Relaxed),
    );
    metric(
        "atende_rtp_packets_dropped_total",
        "counter",
        "RTP packets not sent (socket full).",
        m.packets_dropped.load(Ordering::Relaxed),
    );
    metric(
        "atende_rtp_packets_invalid_total",
        "counter",
        "Datagrams on RTP ports that were not RTP.",
        m.packets_invalid.load(Ordering::Relaxed),
    );
    metric(
        "atende_recording_errors_total",
        "counter",
        "Recordings that failed (disk full, unwritable).",
        ex.recordings.error_count(),
    );
    metric(
        "atende_event_log_backlog",
        "gauge",
        "Call events waiting for the database.",
        log.backlog_len(),
    );
    metric(
        "atende_event_log_written_total",
        "counter",
        "Call events written.",
        log.events_written(),
    );
    metric(
        "atende_event_log_spilled_total",
        "counter",
        "Call events spilled to the local journal.",
        log.spilled(),
    );
    metric(
        "atende_database_up",
        "gauge",
        "1 when the database accepts writes.",
        u64::from(log.db_available()),
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}

#[derive(Debug, Deserialize)]
struct Period {
    /// Milliseconds since the Unix epoch, inclusive.
    from: Option<i64>,
    to: Option<i64>,
    limit: Option<i64>,
}

async fn list_calls(
    State(state): State<ApiState>,
    Query(p): Query<Period>,
) -> Result<impl IntoResponse, ApiError> {
    let from = p.from.unwrap_or(0);
    let to = p.to.unwrap_or(i64::MAX);
    if from > to {
        return Err(ApiError::BadRequest("from is after to"));
    }
    let limit = p.limit.unwrap_or(1000).clamp(1, 10_000);
    let calls = state.store.list_calls(from, to, limit).await.map_err(|e| {
        warn!(error = %e, "listing calls failed");
        ApiError::Database
    })?;
    Ok(Json(calls))
}

fn parse_protocol(s: &str) -> Result<Protocol, ApiError> {
    s.parse()
        .map_err(|_| ApiError::BadRequest("malformed protocol number"))
}

async fn call_detail(
    State(state): State<ApiState>,
    Path(protocol): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let protocol = parse_protocol(&protocol)?;
    let detail = state
        .store
        .call_detail(&protocol)
        .await
        .map_err(|e| {
            warn!(error = %e, "reading a call failed");
            ApiError::Database
        })?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(detail))
}

async fn recording(
    State(state): State<ApiState>,
    Path(protocol): Path<String>,
) -> Result<Response, ApiError> {
    let protocol = parse_protocol(&protocol)?;
    let path = state.exchange.recording_path(&protocol);
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(|_| ApiError::NoRecording)?;
    let stream = tokio_util::io::ReaderStream::new(file);
    Ok((
        [
            (header::CONTENT_TYPE, "audio/wav".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{protocol}.wav\""),
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}
