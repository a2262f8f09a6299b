//! `/api/prompts`: the prompt library calls play from — list, upload (any common WAV,
//! converted to 8 kHz mono 16-bit), replace, delete.
//!
//! ```text
//! GET    /api/prompts          {prompts: [{name, duration_ms, size_bytes, referenced_by}],
//!                               total_duration_ms}
//! PUT    /api/prompts/{name…}  body: a WAV file → 201 (new) / 200 (replaced) {prompt}
//!                               400 not a WAV / truncated / A-law / empty / bad name
//! DELETE /api/prompts/{name…}  200 | 404 | 409 {error, flows} while a running flow (or the
//!                               emergency switch) uses it
//! ```
//!
//! Decoding and resampling run on the blocking pool; the library writes the file
//! atomically and swaps it in memory, so the next call hears it. Deleting is checked
//! against the running flow set only: a flow set that still names a deleted prompt will
//! be refused at its next reload, which is what `atende ivr check` reports too.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use super::IvrAdmin;
use crate::ivr::FlowSet;
use crate::media::prompt::{Prompt, PromptError, check_name};

/// Largest upload: 100 MiB holds over 9 minutes of 48 kHz 16-bit stereo, far beyond the
/// tender's 4 minutes of announcements; bigger files are best converted before upload.
pub const MAX_UPLOAD_BYTES: usize = 100 * 1024 * 1024;

pub fn router<S: Clone + Send + Sync + 'static>(admin: IvrAdmin) -> Router<S> {
    Router::new()
        .route("/prompts", get(list))
        .route(
            "/prompts/{*name}",
            axum::routing::put(upload)
                .delete(delete)
                .layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES)),
        )
        .with_state(admin)
}

#[derive(Debug, thiserror::Error)]
pub enum PromptApiError {
    #[error("{0}")]
    BadUpload(String),
    #[error("no prompt {0:?}")]
    NotFound(String),
    #[error("prompt {name:?} is in use by {}", .users.join(", "))]
    InUse { name: String, users: Vec<String> },
    #[error("the prompt could not be stored")]
    Storage,
}

impl IntoResponse for PromptApiError {
    fn into_response(self) -> Response {
        let message = self.to_string();
        let (status, body) = match self {
            PromptApiError::BadUpload(_) => (
                StatusCode::BAD_REQUEST,
                serde_json::json!({ "error": message }),
            ),
            PromptApiError::NotFound(_) => (
                StatusCode::NOT_FOUND,
                serde_json::json!({ "error": message }),
            ),
            PromptApiError::InUse { users, .. } => (
                StatusCode::CONFLICT,
                serde_json::json!({ "error": message, "flows": users }),
            ),
            PromptApiError::Storage => (
                StatusCode::INTERNAL_SERVER_ERROR,
                serde_json::json!({ "error": message }),
            ),
        };
        (status, Json(body)).into_response()
    }
}

impl From<PromptError> for PromptApiError {
    fn from(e: PromptError) -> Self {
        match e {
            PromptError::Unsupported { .. }
            | PromptError::Invalid { .. }
            | PromptError::BadFormat { .. }
            | PromptError::Truncated { .. }
            | PromptError::Empty { .. }
            | PromptError::BadName(_) => PromptApiError::BadUpload(e.to_string()),
            PromptError::NotFound(name) => PromptApiError::NotFound(name),
            PromptError::Io { .. } | PromptError::NoDirectory => {
                warn!(error = %e, "storing a prompt failed");
                PromptApiError::Storage
            }
        }
    }
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct PromptInfo {
    pub name: String,
    pub duration_ms: u64,
    /// Size of the stored file (8 kHz mono 16-bit unless it was placed there by hand).
    pub size_bytes: u64,
    /// Flows of the running set that play it.
    pub referenced_by: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct PromptList {
    pub prompts: Vec<PromptInfo>,
    pub total_duration_ms: u64,
}

/// The flows of `set` that name `prompt`, sorted.
fn users(set: &FlowSet, prompt: &str) -> Vec<String> {
    let mut v: Vec<String> = set
        .flows()
        .iter()
        .filter(|f| {
            f.nodes
                .iter()
                .any(|n| n.kind.prompts().iter().any(|p| p.as_str() == prompt))
        })
        .map(|f| f.name.clone())
        .collect();
    v.sort();
    v
}

fn info_of(a: &IvrAdmin, set: &FlowSet, p: &Prompt) -> PromptInfo {
    let on_disk = a
        .prompts
        .dir()
        .and_then(|d| std::fs::metadata(d.join(format!("{}.wav", p.name))).ok())
        .map(|m| m.len());
    PromptInfo {
        name: p.name.clone(),
        duration_ms: p.duration_ms(),
        size_bytes: on_disk.unwrap_or(44 + 2 * p.samples.len() as u64),
        referenced_by: users(set, &p.name),
    }
}

async fn list(State(a): State<IvrAdmin>) -> Json<PromptList> {
    let set = a.flows.current();
    let prompts: Vec<PromptInfo> = a
        .prompts
        .list()
        .iter()
        .map(|p| info_of(&a, &set, p))
        .collect();
    let total_duration_ms = prompts.iter().map(|p| p.duration_ms).sum();
    Json(PromptList {
        prompts,
        total_duration_ms,
    })
}

async fn upload(
    State(a): State<IvrAdmin>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<PromptInfo>), PromptApiError> {
    let name = name.strip_suffix(".wav").unwrap_or(&name).to_owned();
    if let Err(e) = check_name(&name) {
        warn!(prompt = %name, error = %e, "prompt upload refused");
        return Err(e.into());
    }
    let (lib, n, size) = (a.prompts.clone(), name.clone(), body.len());
    let stored = tokio::task::spawn_blocking(move || {
        let prompt = Prompt::from_wav_bytes(&n, &body)?;
        let replaced = lib.get(&n).is_some();
        lib.save(prompt.clone())?;
        Ok::<_, PromptError>((prompt, replaced))
    })
    .await
    .map_err(|e| {
        warn!(error = %e, "prompt conversion task failed");
        PromptApiError::Storage
    })?;
    let (prompt, replaced) = match stored {
        Ok(ok) => ok,
        Err(e) => {
            warn!(prompt = %name, bytes = size, error = %e, "prompt upload refused");
            return Err(e.into());
        }
    };
    info!(
        prompt = %name,
        bytes = size,
        duration_ms = prompt.duration_ms(),
        replaced,
        "prompt stored: the next call hears it"
    );
    let status = if replaced {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let set = a.flows.current();
    Ok((status, Json(info_of(&a, &set, &prompt))))
}

async fn delete(
    State(a): State<IvrAdmin>,
    Path(name): Path<String>,
) -> Result<Json<serde_json::Value>, PromptApiError> {
    check_name(&name)?;
    let mut users = users(&a.flows.current(), &name);
    if a.announcements.emergency().as_deref() == Some(name.as_str()) {
        users.push("the emergency announcement".to_owned());
    }
    if let Some(in_use) = &a.in_use {
        for u in (in_use.0)(&name) {
            if !users.contains(&u) {
                users.push(u);
            }
        }
    }
    if !users.is_empty() {
        warn!(prompt = %name, users = ?users, "prompt deletion refused: in use");
        return Err(PromptApiError::InUse { name, users });
    }
    let lib = a.prompts.clone();
    let n = name.clone();
    tokio::task::spawn_blocking(move || lib.delete(&n))
        .await
        .map_err(|_| PromptApiError::Storage)??;
    info!(prompt = %name, "prompt deleted");
    Ok(Json(serde_json::json!({ "deleted": name })))
}
