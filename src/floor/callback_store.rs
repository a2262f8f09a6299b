//! Pending callbacks across restarts: loads the list the ACD saved (settings key
//! `acd.callbacks`) with a resumed event log for each call, and saves the latest list the
//! ACD actor hands over. A citizen who asked to be called back is called back after a
//! restart, at their place in line.
//!
//! Saving runs in its own task off the ACD actor (a database write per change, the latest
//! only when changes come faster). A failed save is logged and retried with the next
//! change; a failed load starts with no callbacks and says so loudly.

use tokio::sync::watch;
use tracing::info;

use crate::acd::{CallId, CallbackSnapshot};
use crate::bus::Bus;
use crate::floor::call_log::CallLog;
use crate::store::settings::ACD_CALLBACKS;
use crate::store::{Store, StoreError};

/// How far a resumed log's numbering jumps past the last stored entry: events still in
/// the spill journal at the restart keep their own numbers below it.
pub(crate) const RESUME_GAP: u32 = 1000;

#[derive(Debug, thiserror::Error)]
pub enum CallbackStoreError {
    #[error("reading saved callbacks: {0}")]
    Store(#[from] StoreError),
    #[error("saved callbacks are not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("saved callback has a malformed protocol {0:?}")]
    Protocol(String),
}

/// Restored callbacks ready for `floor::acd::AcdShell::restored`.
pub type Restored = (CallbackSnapshot, Vec<(CallId, CallLog)>);

/// The saved callbacks, each with its call's log resumed after its last event.
pub async fn load(store: &Store, bus: &Bus) -> Result<Option<Restored>, CallbackStoreError> {
    let Some(json) = store.setting(ACD_CALLBACKS).await? else {
        return Ok(None);
    };
    let snapshot: CallbackSnapshot = serde_json::from_str(&json)?;
    let mut logs = Vec::with_capacity(snapshot.callbacks.len());
    for r in &snapshot.callbacks {
        let protocol = r
            .call
            .as_str()
            .parse()
            .map_err(|_| CallbackStoreError::Protocol(r.call.to_string()))?;
        let next = store.next_event_seq(&protocol).await?;
        let seq = if next == 0 {
            0
        } else {
            next.saturating_add(RESUME_GAP)
        };
        logs.push((r.call.clone(), CallLog::resume(bus.clone(), protocol, seq)));
    }
    info!(
        callbacks = snapshot.callbacks.len(),
        "saved callbacks loaded"
    );
    Ok(Some((snapshot, logs)))
}

/// Starts the saver; the ACD actor sends every new list (JSON) into the returned sender.
pub fn spawn_saver(store: Store) -> watch::Sender<String> {
    crate::store::settings::spawn_saver(store, ACD_CALLBACKS, "pending callbacks")
}
