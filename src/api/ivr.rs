//! `/api/ivr`: what the IVR runs now, reloading it, the emergency announcement switch and
//! the IVR statistics.
//!
//! ```text
//! GET    /api/ivr                 version, flows, entry rules, emergency
//! POST   /api/ivr/reload          200 {version} | 422 {error, version, errors: [...]}
//! GET    /api/ivr/emergency       {prompt: "pt-BR/…" | null}
//! PUT    /api/ivr/emergency       {prompt}: 200, or 400 if not in the prompt library
//! DELETE /api/ivr/emergency       200 {prompt: null}
//! GET    /api/ivr/stats?from=&to= per-node and per-call IVR statistics (ms since epoch)
//! ```
//!
//! A reload reads files, so it runs on the blocking pool; the running set is swapped
//! only when the new one passes every check (`LiveFlows::reload`).

use std::path::Path;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tracing::{error, info, warn};

use super::IvrAdmin;
use crate::ivr::error::CheckErrors;
use crate::ivr::watch::reload_logged;
use crate::media::prompt::check_name;
use crate::store::ivr_stats::IvrStats;

pub fn router<S: Clone + Send + Sync + 'static>(admin: IvrAdmin) -> Router<S> {
    Router::new()
        .route("/ivr", get(summary))
        .route("/ivr/reload", post(reload))
        .route(
            "/ivr/emergency",
            get(get_emergency)
                .put(put_emergency)
                .delete(delete_emergency),
        )
        .route("/ivr/stats", get(stats))
        .with_state(admin)
}

#[derive(Debug, thiserror::Error)]
pub enum IvrApiError {
    #[error("the flow set was refused; the running version {version} stays")]
    Refused {
        version: u64,
        errors: Vec<ProblemJson>,
    },
    #[error("prompt {0:?} is not in the prompt library")]
    UnknownPrompt(String),
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    #[error("the reload could not run")]
    ReloadFailed,
    #[error("database unavailable")]
    Database,
}

/// One refused-flow problem, as JSON.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct ProblemJson {
    /// Relative to the flows directory.
    pub file: String,
    /// 1-based; 0 when about the whole file.
    pub line: u64,
    pub node: Option<String>,
    pub problem: String,
}

impl IntoResponse for IvrApiError {
    fn into_response(self) -> Response {
        let message = self.to_string();
        match self {
            IvrApiError::Refused { version, errors } => {
                let body = serde_json::json!({
                    "error": message,
                    "version": version,
                    "errors": errors,
                });
                (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response()
            }
            other => {
                let status = match other {
                    IvrApiError::UnknownPrompt(_) | IvrApiError::BadRequest(_) => {
                        StatusCode::BAD_REQUEST
                    }
                    IvrApiError::Database => StatusCode::SERVICE_UNAVAILABLE,
                    _ => StatusCode::INTERNAL_SERVER_ERROR,
                };
                (status, Json(serde_json::json!({ "error": message }))).into_response()
            }
        }
    }
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct IvrSummary {
    pub version: u64,
    pub default_flow: String,
    pub fallback_queue: String,
    pub flows: Vec<FlowSummary>,
    pub routes: Vec<RouteSummary>,
    /// The emergency announcement every new call hears first, if on.
    pub emergency: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct FlowSummary {
    pub name: String,
    pub file: String,
    pub start: String,
    pub nodes: usize,
}

/// An entry rule: calls to one of `did` from a number starting with one of `ani_prefix`
/// (an empty list matches any) go to `flow`.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct RouteSummary {
    pub name: String,
    pub did: Vec<String>,
    pub ani_prefix: Vec<String>,
    pub flow: String,
    pub priority_boost: i32,
}

fn relative(dir: &Path, file: &Path) -> String {
    file.strip_prefix(dir).unwrap_or(file).display().to_string()
}

async fn summary(State(a): State<IvrAdmin>) -> Json<IvrSummary> {
    // Version first: a reload between the two reads shows the older number, never a
    // version newer than the set described.
    let version = a.flows.version();
    let set = a.flows.current();
    let dir = a.flows.dir();
    let flows = set
        .flows()
        .iter()
        .map(|f| FlowSummary {
            name: f.name.clone(),
            file: relative(dir, &f.file),
            start: f
                .nodes
                .get(f.start)
                .map(|n| n.name.clone())
                .unwrap_or_default(),
            nodes: f.nodes.len(),
        })
        .collect();
    let routes = set
        .routes()
        .iter()
        .map(|r| RouteSummary {
            name: r.name.clone(),
            did: r.did.clone(),
            ani_prefix: r.ani_prefix.clone(),
            flow: set.flow(r.flow).name.clone(),
            priority_boost: r.priority_boost,
        })
        .collect();
    Json(IvrSummary {
        version,
        default_flow: set.flow(set.default_flow()).name.clone(),
        fallback_queue: set.fallback_queue().to_owned(),
        flows,
        routes,
        emergency: a.announcements.emergency(),
    })
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Reloaded {
    pub version: u64,
    pub flows: usize,
}

async fn reload(State(a): State<IvrAdmin>) -> Result<Json<Reloaded>, IvrApiError> {
    let flows = a.flows.clone();
    let result = tokio::task::spawn_blocking(move || reload_logged(&flows, "api"))
        .await
        .map_err(|e| {
            warn!(error = %e, "IVR reload task failed");
            IvrApiError::ReloadFailed
        })?;
    match result {
        Ok(version) => Ok(Json(Reloaded {
            version,
            flows: a.flows.current().flows().len(),
        })),
        Err(errors) => Err(IvrApiError::Refused {
            version: a.flows.version(),
            errors: problems(a.flows.dir(), &errors),
        }),
    }
}

/// The problems with file names relative to the flows directory (in the text too: YAML
/// errors quote the path), so the answer shows no server paths.
fn problems(dir: &Path, errors: &CheckErrors) -> Vec<ProblemJson> {
    let prefix = format!("{}/", dir.display());
    errors
        .0
        .iter()
        .map(|e| ProblemJson {
            file: relative(dir, &e.file),
            line: e.line,
            node: e.node.clone(),
            problem: e.problem.to_string().replace(&prefix, ""),
        })
        .collect()
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Emergency {
    pub prompt: Option<String>,
}

async fn get_emergency(State(a): State<IvrAdmin>) -> Json<Emergency> {
    Json(Emergency {
        prompt: a.announcements.emergency(),
    })
}

#[derive(Debug, Deserialize)]
pub struct SetEmergency {
    pub prompt: String,
}

async fn put_emergency(
    State(a): State<IvrAdmin>,
    body: Result<Json<SetEmergency>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Emergency>, IvrApiError> {
    let Json(req) = body.map_err(|_| IvrApiError::BadRequest("expected {\"prompt\": \"…\"}"))?;
    if check_name(&req.prompt).is_err() || a.prompts.get(&req.prompt).is_none() {
        warn!(prompt = %req.prompt, "emergency announcement refused: no such prompt");
        return Err(IvrApiError::UnknownPrompt(req.prompt));
    }
    warn!(prompt = %req.prompt, "emergency announcement ON: every new call hears it first");
    a.announcements.set_emergency(Some(req.prompt.clone()));
    persist_emergency(&a, Some(&req.prompt)).await;
    Ok(Json(Emergency {
        prompt: Some(req.prompt),
    }))
}

async fn delete_emergency(State(a): State<IvrAdmin>) -> Json<Emergency> {
    if let Some(was) = a.announcements.emergency() {
        info!(prompt = %was, "emergency announcement OFF");
    }
    a.announcements.set_emergency(None);
    persist_emergency(&a, None).await;
    Json(Emergency { prompt: None })
}

/// Keeps the switch across restarts. It already took effect in memory: a database outage
/// must not delay an emergency announcement, so a failed write is logged, not refused.
async fn persist_emergency(a: &IvrAdmin, prompt: Option<&str>) {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    if let Err(e) = a
        .store
        .set_setting(crate::store::settings::EMERGENCY_PROMPT, prompt, now_ms)
        .await
    {
        error!(error = %e, "emergency announcement switched, but not saved: a restart loses it");
    }
}

#[derive(Debug, Deserialize)]
pub struct Period {
    /// Calls started at or after, ms since the Unix epoch (default: all).
    pub from: Option<i64>,
    /// Calls started before (default: all).
    pub to: Option<i64>,
}

async fn stats(
    State(a): State<IvrAdmin>,
    q: Result<Query<Period>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<IvrStats>, IvrApiError> {
    let Query(p) = q.map_err(|_| IvrApiError::BadRequest("from and to are ms since the epoch"))?;
    let (from, to) = (p.from.unwrap_or(0), p.to.unwrap_or(i64::MAX));
    if from > to {
        return Err(IvrApiError::BadRequest("from is after to"));
    }
    let stats = a.store.ivr_stats(from, to).await.map_err(|e| {
        warn!(error = %e, "IVR statistics query failed");
        IvrApiError::Database
    })?;
    Ok(Json(stats))
}
