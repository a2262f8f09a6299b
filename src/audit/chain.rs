//! The kept verification of the audit log's hash chain: one actor per server walks the
//! chain at start (in the background: start-up does not wait), then every `CHECK_EVERY`,
//! and on demand; it keeps the last result in memory for `GET /api/audit` and reports each
//! result to the alarms (`audit_chain_broken`).
//!
//! A walk reads the log in pages (`PAGE` rows), so memory stays bounded at any size.
//! The periodic check is incremental: it chains the entries appended since the last
//! verified `Checkpoint` (id, hash) and does not re-read older ones, so a row changed
//! *before* the checkpoint is NOT found by it; the full walks (at start and on demand,
//! `POST /api/audit/verify`) read from genesis and find it. After a broken result the
//! periodic check walks in full again (there is no good checkpoint to resume from), so a
//! repaired chain is seen and its alarm cleared.
//!
//! On-demand walks are one at a time: a request arriving while a full walk runs gets that
//! walk's result; one arriving during an incremental check waits for a full walk after it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::{GENESIS, Verified, chain_hash};
use crate::store::{Store, StoreError};

/// How often the kept verification is refreshed (incrementally) after the start-up walk.
pub const CHECK_EVERY: Duration = Duration::from_secs(3600);
/// After a walk the database did not answer, the next one is this soon (not an hour away).
const RETRY_AFTER_ERROR: Duration = Duration::from_secs(60);
/// Rows read per query of a walk.
const PAGE: i64 = 1000;

/// The last verified entry: an incremental walk chains on from here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Its id (0: before the first entry).
    pub id: i64,
    pub hash: String,
    /// Entries up to and including it.
    pub rows: u64,
}

impl Checkpoint {
    pub fn genesis() -> Checkpoint {
        Checkpoint {
            id: 0,
            hash: GENESIS.to_owned(),
            rows: 0,
        }
    }
}

/// Walks the entries after `from`, each chained to the one before (the first to `from`).
/// Returns what was found (rows counted from genesis) and, when the chain holds, the new
/// checkpoint (the last entry read, or `from` when nothing was appended).
pub async fn walk(
    store: &Store,
    from: Checkpoint,
) -> Result<(Verified, Option<Checkpoint>), StoreError> {
    let mut at = from;
    loop {
        let page = store.audit_rows(at.id, PAGE).await?;
        if page.is_empty() {
            let v = Verified {
                rows: at.rows,
                ok: true,
                broken_at: None,
            };
            return Ok((v, Some(at)));
        }
        for r in page {
            let expect = chain_hash(&at.hash, r.at_ms, &r.actor, &r.action, &r.target, &r.detail);
            if r.prev_hash != at.hash || r.hash != expect {
                let v = Verified {
                    rows: at.rows + 1,
                    ok: false,
                    broken_at: Some(r.id),
                };
                return Ok((v, None));
            }
            at = Checkpoint {
                id: r.id,
                hash: r.hash,
                rows: at.rows + 1,
            };
        }
    }
}

/// One kept result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainCheck {
    /// Entries verified (from genesis, counting those of earlier walks for an incremental).
    pub rows: u64,
    pub ok: bool,
    /// The id of the first entry that does not chain (changed, or its predecessor deleted).
    pub broken_at: Option<i64>,
    /// When the walk finished (UTC ms).
    pub checked_at_ms: i64,
    /// How long it took.
    pub took_ms: u64,
    /// Walked from genesis (false: from the last checkpoint only).
    pub full: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    #[error("the audit log could not be read: {0}")]
    Store(String),
    #[error("the audit chain check is not running")]
    NotRunning,
}

/// A way to the running check: its last result and on-demand full walks.
#[derive(Debug, Clone)]
pub struct ChainWatch {
    last: Arc<Mutex<Option<ChainCheck>>>,
    requests: mpsc::Sender<Reply>,
}

type Reply = oneshot::Sender<Result<ChainCheck, String>>;

impl ChainWatch {
    /// Starts the actor on `store` (first a full walk); it stops with `cancel`. Each result
    /// goes to `report` (the alarms).
    pub fn spawn(
        store: Store,
        report: impl Fn(&ChainCheck) + Send + 'static,
        cancel: CancellationToken,
    ) -> ChainWatch {
        let last = Arc::new(Mutex::new(None));
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(run(store, last.clone(), rx, Box::new(report), cancel));
        ChainWatch { last, requests: tx }
    }

    /// The last result; None before the first walk ended.
    pub fn last(&self) -> Option<ChainCheck> {
        self.last.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// A full walk now (or the one running), and its result.
    pub async fn verify_now(&self) -> Result<ChainCheck, ChainError> {
        let (tx, rx) = oneshot::channel();
        self.requests
            .send(tx)
            .await
            .map_err(|_| ChainError::NotRunning)?;
        match rx.await {
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) => Err(ChainError::Store(e)),
            Err(_) => Err(ChainError::NotRunning),
        }
    }
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// `walk`, timed and dated; the error as text (it is sent to every waiter).
pub(super) async fn timed_walk(
    store: Store,
    from: Checkpoint,
) -> (Result<ChainCheck, String>, Option<Checkpoint>) {
    let full = from.id == 0;
    let started = Instant::now();
    match walk(&store, from).await {
        Ok((v, next)) => {
            let check = ChainCheck {
                rows: v.rows,
                ok: v.ok,
                broken_at: v.broken_at,
                checked_at_ms: now_ms(),
                took_ms: started.elapsed().as_millis() as u64,
                full,
            };
            (Ok(check), next)
        }
        Err(e) => (Err(e.to_string()), None),
    }
}

async fn run(
    store: Store,
    last: Arc<Mutex<Option<ChainCheck>>>,
    mut requests: mpsc::Receiver<Reply>,
    report: Box<dyn Fn(&ChainCheck) + Send>,
    cancel: CancellationToken,
) {
    // None: the next walk is a full one.
    let mut checkpoint: Option<Checkpoint> = None;
    let mut waiting: Vec<Reply> = Vec::new();
    let mut full_wanted = true;
    let mut next_periodic = tokio::time::Instant::now() + CHECK_EVERY;
    loop {
        if !full_wanted && waiting.is_empty() {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep_until(next_periodic) => {}
                Some(r) = requests.recv() => {
                    waiting.push(r);
                    full_wanted = true;
                }
            }
        }
        let from = match (&checkpoint, full_wanted) {
            (Some(c), false) => c.clone(),
            _ => Checkpoint::genesis(),
        };
        let full = from.id == 0;
        full_wanted = false;
        // Those waiting now get this walk's result if it is a full one; requests arriving
        // during it join it (a full walk) or wait for the next (an incremental one).
        let mut joined = if full {
            std::mem::take(&mut waiting)
        } else {
            Vec::new()
        };
        let walking = timed_walk(store.clone(), from);
        tokio::pin!(walking);
        let (result, next) = loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                done = &mut walking => break done,
                Some(r) = requests.recv() => {
                    if full {
                        joined.push(r);
                    } else {
                        waiting.push(r);
                        full_wanted = true;
                    }
                }
            }
        };
        let wait = if result.is_ok() {
            CHECK_EVERY
        } else {
            RETRY_AFTER_ERROR
        };
        next_periodic = tokio::time::Instant::now() + wait;
        match &result {
            Ok(c) => {
                if c.ok {
                    info!(
                        rows = c.rows,
                        took_ms = c.took_ms,
                        full = c.full,
                        "audit chain verified"
                    );
                } else {
                    error!(
                        rows = c.rows,
                        broken_at = c.broken_at,
                        full = c.full,
                        "audit chain BROKEN"
                    );
                }
                checkpoint = next;
                *last.lock().unwrap_or_else(|e| e.into_inner()) = Some(c.clone());
                report(c);
            }
            // The database did not answer: the kept result stays; tried again in a minute.
            Err(e) => warn!(error = %e, "audit chain not verified"),
        }
        for r in joined {
            let _ = r.send(result.clone());
        }
    }
}

#[cfg(test)]
mod tests;
