//! `/api/calls`: call records of a period, one call's events, its recording.
//!
//! A supervisor sees only calls that passed through a queue of their scope; admins and
//! auditors see every call (the role check itself is in `router` in `mod.rs`). Every
//! recording play or download is written to the audit log before a byte is sent.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tracing::warn;

use super::{ApiError, ApiState};
use crate::floor::RESTRICTED;
use crate::media::recording::wav;
use crate::store::protocol::Protocol;
use crate::store::query::CallDetail;
use crate::users::{Principal, Role};

pub(super) const OUT_OF_SCOPE: &str = "the call went through no queue of the user's scope";

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
    Extension(who): Extension<Principal>,
    Query(p): Query<Period>,
) -> Result<impl IntoResponse, ApiError> {
    let from = p.from.unwrap_or(0);
    let to = p.to.unwrap_or(i64::MAX);
    if from > to {
        return Err(ApiError::BadRequest("from is after to"));
    }
    let limit = p.limit.unwrap_or(1000).clamp(1, 10_000);
    let mut calls = state.store.list_calls(from, to, limit).await.map_err(|e| {
        warn!(error = %e, "listing calls failed");
        ApiError::Database
    })?;
    let protocols: Vec<&str> = calls.iter().map(|c| c.protocol.as_str()).collect();
    let restricted = state
        .store
        .restricted_among(&protocols)
        .await
        .map_err(|e| {
            warn!(error = %e, "reading callers' privacy failed");
            ApiError::Database
        })?;
    for c in calls.iter_mut() {
        if restricted.contains(c.protocol.as_str()) {
            c.a_number = Some(RESTRICTED.to_owned());
        }
    }
    if who.role == Role::Supervisor {
        // Scope is per queue, which only the call's events name: read them per call
        // (bounded by `limit`; this list is a report, not a hot path).
        let mut kept = Vec::with_capacity(calls.len());
        for c in calls {
            if in_scope(&state, &who, &c.protocol).await? {
                kept.push(c);
            }
        }
        calls = kept;
    }
    Ok(Json(calls))
}

/// Every queue a call's events name (ACD events carry `queue`).
fn queues_of(detail: &CallDetail) -> Vec<String> {
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(o) => {
                for (k, x) in o {
                    match (k.as_str(), x) {
                        ("queue", serde_json::Value::String(q)) => out.push(q.clone()),
                        _ => walk(x, out),
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for e in &detail.events {
        walk(&e.detail, &mut out);
    }
    out
}

/// Whether `who` may see the call `protocol` (supervisors: through a queue of theirs).
pub(super) async fn in_scope(
    state: &ApiState,
    who: &Principal,
    protocol: &Protocol,
) -> Result<bool, ApiError> {
    if who.role != Role::Supervisor {
        return Ok(true);
    }
    let detail = state.store.call_detail(protocol).await.map_err(|e| {
        warn!(error = %e, "reading a call failed");
        ApiError::Database
    })?;
    Ok(detail.is_some_and(|d| queues_of(&d).iter().any(|q| who.sees_queue(q))))
}

pub(super) fn parse_protocol(s: &str) -> Result<Protocol, ApiError> {
    s.parse()
        .map_err(|_| ApiError::BadRequest("malformed protocol number"))
}

async fn call_detail(
    State(state): State<ApiState>,
    Extension(who): Extension<Principal>,
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
    if who.role == Role::Supervisor && !queues_of(&detail).iter().any(|q| who.sees_queue(q)) {
        let target = format!("GET /api/calls/{protocol}");
        super::auth::record_denied(&state.auth, &who, &target, OUT_OF_SCOPE).await;
        return Err(ApiError::Forbidden);
    }
    Ok(Json(mask_restricted(detail)))
}

/// A call whose caller asked for privacy shows `restrito` wherever its number appears
/// (summary, the offered event, IVR and ACD events); the stored record keeps it.
fn mask_restricted(mut detail: CallDetail) -> CallDetail {
    let offered = detail.events.iter().find(|e| e.kind == "offered");
    let Some(number) = offered
        .filter(|e| e.detail["restricted"] == serde_json::Value::Bool(true))
        .and_then(|e| e.detail["a_number"].as_str())
        .map(str::to_owned)
    else {
        return detail;
    };
    detail.summary.a_number = Some(RESTRICTED.to_owned());
    if number.is_empty() {
        return detail;
    }
    for e in detail.events.iter_mut() {
        mask_value(&mut e.detail, &number);
    }
    detail
}

fn mask_value(v: &mut serde_json::Value, number: &str) {
    match v {
        serde_json::Value::String(s) if s.contains(number) => {
            *s = s.replace(number, RESTRICTED);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(|x| mask_value(x, number)),
        serde_json::Value::Object(o) => o.values_mut().for_each(|x| mask_value(x, number)),
        _ => {}
    }
}

#[derive(Debug, Deserialize)]
struct Download {
    /// `pcm16`: the audio converted to 16-bit PCM, for players without A-law. Absent: the
    /// file as stored, the bytes its recorded SHA-256 covers.
    format: Option<String>,
    /// `true`: played in the page (audited as `recording.play`, served inline); else a
    /// download (`recording.download`).
    #[serde(default)]
    play: bool,
}

async fn recording(
    State(state): State<ApiState>,
    Extension(who): Extension<Principal>,
    Path(protocol): Path<String>,
    Query(download): Query<Download>,
) -> Result<Response, ApiError> {
    let protocol = parse_protocol(&protocol)?;
    let convert = match download.format.as_deref() {
        None | Some("stored") => false,
        Some("pcm16") => true,
        Some(_) => return Err(ApiError::BadRequest("format is pcm16 or stored")),
    };
    if !in_scope(&state, &who, &protocol).await? {
        let target = format!("GET /api/calls/{protocol}/recording");
        super::auth::record_denied(&state.auth, &who, &target, OUT_OF_SCOPE).await;
        return Err(ApiError::Forbidden);
    }
    let path = state.exchange.recording_path(&protocol);
    if !tokio::fs::try_exists(&path).await.unwrap_or(false) {
        return Err(ApiError::NoRecording);
    }
    let action = if download.play {
        "recording.play"
    } else {
        "recording.download"
    };
    // Audited before the first byte: an access the log cannot record is refused.
    let audited = state
        .auth
        .sessions
        .accounts()
        .audit()
        .try_record(
            &who.user,
            action,
            &protocol.to_string(),
            &format!(
                "role={} format={}",
                who.role,
                if convert { "pcm16" } else { "stored" }
            ),
        )
        .await;
    if let Err(e) = audited {
        warn!(error = %e, "cannot audit a recording access; refused");
        return Err(ApiError::Database);
    }
    let disposition = if download.play {
        "inline"
    } else {
        "attachment"
    };
    let headers = [
        (header::CONTENT_TYPE, "audio/wav".to_owned()),
        (
            header::CONTENT_DISPOSITION,
            format!("{disposition}; filename=\"{protocol}.wav\""),
        ),
    ];
    if convert {
        return pcm16_download(path, headers).await;
    }
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(|_| ApiError::NoRecording)?;
    let stream = tokio_util::io::ReaderStream::new(file);
    Ok((headers, Body::from_stream(stream)).into_response())
}

/// Bytes of stored audio converted per piece: 64 KB of A-law, 2 s of a stereo call.
const PIECE: usize = 64 * 1024;

/// Streams the recording at `path` converted to 16-bit PCM (`pcm16_reader`).
async fn pcm16_download(
    path: std::path::PathBuf,
    headers: [(header::HeaderName, String); 2],
) -> Result<Response, ApiError> {
    let (len, rx) = pcm16_reader(path).await?;
    let length = (header::CONTENT_LENGTH, len.to_string());
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(rx));
    Ok((headers, [length], body).into_response())
}

/// The recording at `path` converted to 16-bit PCM, produced a piece at a time by a task
/// of its own: a call of hours needs no more memory than one piece (a whole-file
/// conversion held the file and twice its size in PCM, 170 MB for an hour). Returns the
/// WAV's length, known from the header, so that a response can carry it and a client sees
/// a transfer cut short by a read error.
async fn pcm16_reader(
    path: std::path::PathBuf,
) -> Result<(u64, tokio::io::DuplexStream), ApiError> {
    let mut file = tokio::fs::File::open(&path)
        .await
        .map_err(|_| ApiError::NoRecording)?;
    let unreadable = |e: &dyn std::fmt::Display| {
        warn!(path = %path.display(), error = %e, "a recording could not be converted");
        ApiError::UnreadableRecording
    };
    let file_len = file.metadata().await.map_err(|e| unreadable(&e))?.len();
    let mut head = vec![0u8; PIECE.min(file_len as usize)];
    file.read_exact(&mut head)
        .await
        .map_err(|e| unreadable(&e))?;
    let layout = wav::layout(&head).map_err(|e| unreadable(&e))?;
    let frames = layout.frames(file_len);
    let out_data = frames * u64::from(layout.channels.max(1)) * 2;
    let Ok(out_data32) = u32::try_from(out_data) else {
        return Err(unreadable(&"too long for a 16-bit PCM WAV"));
    };
    file.seek(std::io::SeekFrom::Start(layout.data_at))
        .await
        .map_err(|e| unreadable(&e))?;
    let (mut tx, rx) = tokio::io::duplex(2 * PIECE);
    let header_bytes = wav::pcm16_header(layout.channels, layout.sample_rate, out_data32);
    tokio::spawn(async move {
        let mut left = frames * layout.frame_bytes();
        let mut piece = vec![0u8; PIECE];
        let mut pcm = Vec::with_capacity(2 * PIECE);
        let result: std::io::Result<()> = async {
            tx.write_all(&header_bytes).await?;
            while left > 0 {
                let want = piece.len().min(left as usize);
                file.read_exact(&mut piece[..want]).await?;
                pcm.clear();
                wav::append_pcm16(layout.format, &piece[..want], &mut pcm);
                tx.write_all(&pcm).await?;
                left -= want as u64;
            }
            tx.shutdown().await
        }
        .await;
        // A client that hangs up mid-download ends it here too (the pipe is closed).
        if let Err(e) = result {
            warn!(path = %path.display(), error = %e, "a PCM download ended early");
        }
    });
    Ok((44 + out_data, rx))
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt;

    use super::*;
    use crate::media::recording::RecordingFormat;

    #[test]
    fn a_restricted_callers_number_is_masked_everywhere_it_is_shown() {
        use crate::store::query::{CallSummary, StoredEvent};
        let ev = |kind: &str, detail: serde_json::Value| StoredEvent {
            seq: 0,
            at_ms: 0,
            kind: kind.into(),
            detail,
        };
        let summary = CallSummary {
            protocol: "20260101-000001".parse().unwrap(),
            call_id: None,
            a_number: Some("2733334444".into()),
            b_number: Some("4000".into()),
            service: None,
            started_at_ms: None,
            answered_at_ms: None,
            ended_at_ms: None,
            agent: None,
            hangup_by: None,
            hangup_cause: None,
            sip_status: None,
            recording_path: None,
            recording_sha256: None,
            recording_duration_ms: None,
        };
        let offered = serde_json::json!({"kind": "offered", "a_number": "2733334444",
            "b_number": "4000", "restricted": true});
        let ivr = serde_json::json!({"kind": "ivr", "vars": ["ani=2733334444", 7]});
        let detail = CallDetail {
            summary: summary.clone(),
            events: vec![ev("offered", offered.clone()), ev("ivr", ivr.clone())],
        };
        let shown = serde_json::to_string(&mask_restricted(detail)).unwrap();
        assert!(!shown.contains("2733334444"), "{shown}");
        assert!(shown.contains("\"b_number\":\"4000\""), "{shown}");
        // Not restricted: shown as stored.
        let mut open = offered;
        open["restricted"] = serde_json::Value::Bool(false);
        let detail = CallDetail {
            summary,
            events: vec![ev("offered", open), ev("ivr", ivr)],
        };
        let shown = serde_json::to_string(&mask_restricted(detail)).unwrap();
        assert_eq!(shown.matches("2733334444").count(), 3, "{shown}");
    }

    async fn converted(path: &std::path::Path) -> (u64, Vec<u8>) {
        let (len, mut rx) = pcm16_reader(path.to_owned()).await.expect("convertible");
        let mut out = Vec::new();
        rx.read_to_end(&mut out).await.unwrap();
        (len, out)
    }

    #[tokio::test]
    async fn a_long_recording_converts_piece_by_piece_to_the_same_audio() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("long.wav");
        // 20 s of stereo A-law (five whole pieces) and one frame more, every code value.
        let frames = 160_001u64;
        let mut file = RecordingFormat::Alaw.header(frames).to_vec();
        file.extend((0..frames * 2).map(|i| (i * 7 % 256) as u8));
        std::fs::write(&path, &file).unwrap();
        let (len, out) = converted(&path).await;
        assert_eq!(len, out.len() as u64);
        assert_eq!(out, wav::to_pcm16(&wav::decode(&file).unwrap()));
    }

    #[tokio::test]
    async fn a_file_cut_short_converts_what_it_holds() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cut.wav");
        // The header claims 10 s; the file holds 3 frames and half of a fourth.
        let mut file = RecordingFormat::Alaw.header(80_000).to_vec();
        file.extend_from_slice(&[0x55, 0x2A, 0xD5, 0xAA, 0x10, 0x20, 0x33]);
        std::fs::write(&path, &file).unwrap();
        let (len, out) = converted(&path).await;
        assert_eq!(len, 44 + 3 * 4);
        let back = wav::decode(&out).unwrap();
        assert_eq!(back.samples, wav::decode(&file).unwrap().samples);
        assert_eq!(back.samples.len(), 6);
    }

    #[tokio::test]
    async fn what_is_not_a_recording_is_refused_and_a_missing_one_is_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.wav");
        std::fs::write(&junk, b"OggS not a wav").unwrap();
        assert!(matches!(
            pcm16_reader(junk).await,
            Err(ApiError::UnreadableRecording)
        ));
        assert!(matches!(
            pcm16_reader(dir.path().join("none.wav")).await,
            Err(ApiError::NoRecording)
        ));
    }
}
