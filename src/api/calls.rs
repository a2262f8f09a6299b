//! `/api/calls`: call records of a period, one call's events, its recording.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use tracing::warn;

use super::{ApiError, ApiState};
use crate::media::recording::wav;
use crate::store::protocol::Protocol;

pub fn router() -> Router<ApiState> {
    Router::new()
        .route("/calls", get(list_calls))
        .route("/calls/{protocol}", get(call_detail))
        .route("/calls/{protocol}/recording", get(recording))
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

#[derive(Debug, Deserialize)]
struct Download {
    /// `pcm16`: the audio converted to 16-bit PCM, for players without A-law. Absent: the
    /// file as stored, the bytes its recorded SHA-256 covers.
    format: Option<String>,
}

async fn recording(
    State(state): State<ApiState>,
    Path(protocol): Path<String>,
    Query(download): Query<Download>,
) -> Result<Response, ApiError> {
    let protocol = parse_protocol(&protocol)?;
    let convert = match download.format.as_deref() {
        None | Some("stored") => false,
        Some("pcm16") => true,
        Some(_) => return Err(ApiError::BadRequest("format is pcm16 or stored")),
    };
    let path = state.exchange.recording_path(&protocol);
    let headers = [
        (header::CONTENT_TYPE, "audio/wav".to_owned()),
        (
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{protocol}.wav\""),
        ),
    ];
    if convert {
        let bytes = tokio::fs::read(&path)
            .await
            .map_err(|_| ApiError::NoRecording)?;
        let pcm =
            tokio::task::spawn_blocking(move || wav::decode(&bytes).map(|d| wav::to_pcm16(&d)))
                .await
                .map_err(|_| ApiError::UnreadableRecording)?
                .map_err(|e| {
                    warn!(path = %path.display(), error = %e, "a recording could not be converted");
                    ApiError::UnreadableRecording
                })?;
        return Ok((headers, pcm).into_response());
    }
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(|_| ApiError::NoRecording)?;
    let stream = tokio_util::io::ReaderStream::new(file);
    Ok((headers, Body::from_stream(stream)).into_response())
}
