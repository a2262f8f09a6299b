//! Alarms: a failed recording, a day whose recordings do not match its answered calls,
//! the last hour's service level under the contract's target, the database unreachable,
//! low disk space on the recordings' filesystem, and a broken audit hash chain (observed
//! by `crate::audit::chain`, handed in by `observe`). Each is raised once and cleared once
//! (hysteresis where a value hovers), sent by e-mail and webhook, and shown on `/metrics`
//! as `atende_alarm{name="…"} 0|1`.
//!
//! - `rules`: pure — observations and the time in, raise/clear out (tested next to it).
//! - `watch`: the actor that gathers observations, stores the state, runs on-demand checks.
//! - `notify`: the e-mail and webhook queues, stored until sent, retried with backoff.
//!
//! Limits: one instance per alarm (not per queue or per day); a notice of a moment the
//! database did not answer is sent from memory and written once the database answers
//! again: if the server stops before that, it is lost unless already sent. A restart does
//! not raise again (the state is stored) and sends what was pending. Sent notices are kept
//! `store::alarm_notices::RETENTION_DAYS` (90) days.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

mod notify;
pub mod rules;
mod watch;

pub use self::rules::{AlarmId, Alarms, Observation, Transition};
use crate::floor::Floor;
use crate::store::Store;

/// Notices given up after the last retry (`atende_alarm_notices_failed_total`).
pub static NOTICES_FAILED_TOTAL: AtomicU64 = AtomicU64::new(0);

/// The state `/metrics` shows, in `AlarmId::ALL`'s order (one server per process).
static RAISED: [AtomicBool; 6] = [const { AtomicBool::new(false) }; 6];
/// The running actor, for on-demand checks (the last started: a test may run servers one
/// after another in one process).
static ACTOR: Mutex<Option<mpsc::Sender<watch::Request>>> = Mutex::new(None);

fn publish(alarms: &Alarms) {
    for (i, id) in AlarmId::ALL.iter().enumerate() {
        RAISED[i].store(alarms.is_raised(*id), Ordering::Relaxed);
    }
}

/// Every alarm's name and whether it is raised now, for `/metrics`.
pub fn gauges() -> [(&'static str, bool); 6] {
    AlarmId::ALL.map(|id| {
        let i = AlarmId::ALL.iter().position(|a| *a == id).unwrap_or(0);
        (id.name(), RAISED[i].load(Ordering::Relaxed))
    })
}

/// Starts the alarm actor; it stops with `cancel`.
pub fn spawn(floor: Arc<Floor>, store: Store, cancel: CancellationToken) {
    let actor = watch::spawn(floor, store, cancel);
    *ACTOR.lock().unwrap_or_else(|e| e.into_inner()) = Some(actor);
}

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("alarms are not running")]
    NotRunning,
    #[error("the recordings check failed: {0}")]
    Failed(String),
}

/// Checks the recordings of `date` now (the on-demand check): the alarm follows the result.
pub async fn check_recordings(date: &str) -> Result<Observation, CheckError> {
    let actor = ACTOR
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .ok_or(CheckError::NotRunning)?;
    let (tx, rx) = oneshot::channel();
    actor
        .send(watch::Request::Recordings(date.to_owned(), tx))
        .await
        .map_err(|_| CheckError::NotRunning)?;
    rx.await
        .map_err(|_| CheckError::NotRunning)?
        .map_err(CheckError::Failed)
}

/// Hands an observation made elsewhere (the audit chain's walks) to the alarm actor: the
/// alarm follows it (raised once, cleared once). Not waiting: when the actor is not
/// running or its queue is full, the observation is dropped with a log line (the next
/// walk's observation comes).
pub fn observe(o: Observation) {
    let actor = ACTOR.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let Some(actor) = actor else {
        tracing::warn!(?o, "alarms are not running; observation dropped");
        return;
    };
    if let Err(e) = actor.try_send(watch::Request::Observe(o)) {
        tracing::warn!(error = %e, "alarms: observation dropped");
    }
}
