//! The audit log: who did what to what, append-only and hash-chained, so a changed or
//! deleted row is found by `verify` (and `atende audit verify`, `POST /api/audit/verify`);
//! `chain` keeps the server's last verification (`GET /api/audit`) and refreshes it.
//!
//! Each entry's hash is sha256 over the previous entry's hash and the entry's content;
//! the first entry chains from `GENESIS`. Limits: deleting the newest rows (a truncated
//! tail) leaves a valid chain; keep copies of the head elsewhere if that matters.
//! Writing an entry is a database statement: never called on a call's media path.

use std::sync::{Arc, OnceLock};

use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;
use tracing::error;

use crate::store::audit::{AuditRow, NewAudit};
use crate::store::{Store, StoreError};

pub mod chain;

use self::chain::{ChainCheck, ChainError, ChainWatch};

/// What the first entry chains from.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// How many times an append is retried when another process appended first.
const APPEND_TRIES: usize = 5;

/// Appends entries to the audit log. Cheap to clone; one per process is enough.
#[derive(Clone, Debug)]
pub struct Audit {
    store: Store,
    /// Serialises this process's appends (read head, append) so they chain in order.
    order: Arc<Mutex<()>>,
    /// The server's kept verification, once started (`watch_chain`); none in CLI commands.
    chain: Arc<OnceLock<ChainWatch>>,
}

/// What `verify` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verified {
    /// Entries read.
    pub rows: u64,
    /// Whether every entry chains to the one before it.
    pub ok: bool,
    /// The id of the first entry that does not (changed, or its predecessor deleted).
    pub broken_at: Option<i64>,
}

/// The hash of an entry with this content after `prev`.
pub fn chain_hash(
    prev: &str,
    at_ms: i64,
    actor: &str,
    action: &str,
    target: &str,
    detail: &str,
) -> String {
    // JSON keeps field boundaries unambiguous ("a|b" + "c" ≠ "a" + "b|c").
    let content = serde_json::json!([at_ms, actor, action, target, detail]).to_string();
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    h.update(b"\n");
    h.update(content.as_bytes());
    hex::encode(h.finalize())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Audit {
    pub fn new(store: Store) -> Audit {
        Audit {
            store,
            order: Arc::new(Mutex::new(())),
            chain: Arc::new(OnceLock::new()),
        }
    }

    /// Records one entry. A failure is logged (the action it describes already happened
    /// and is not undone); callers that must not proceed unaudited use `try_record`.
    pub async fn record(&self, actor: &str, action: &str, target: &str, detail: &str) {
        if let Err(e) = self.try_record(actor, action, target, detail).await {
            error!(error = %e, actor, action, "cannot write the audit log");
        }
    }

    pub async fn try_record(
        &self,
        actor: &str,
        action: &str,
        target: &str,
        detail: &str,
    ) -> Result<(), StoreError> {
        let _order = self.order.lock().await;
        let at_ms = now_ms();
        let mut last = None;
        for _ in 0..APPEND_TRIES {
            let prev = self
                .store
                .audit_head()
                .await?
                .unwrap_or_else(|| GENESIS.to_owned());
            let hash = chain_hash(&prev, at_ms, actor, action, target, detail);
            let entry = NewAudit {
                at_ms,
                actor,
                action,
                target,
                detail,
                prev_hash: &prev,
                hash: &hash,
            };
            match self.store.append_audit(&entry).await {
                Ok(()) => return Ok(()),
                // Another process (a CLI command) took this head: chain after its entry.
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or(StoreError::Query(sqlx::Error::RowNotFound)))
    }

    /// Walks the whole log checking every link.
    pub async fn verify(&self) -> Result<Verified, StoreError> {
        verify(&self.store).await
    }

    /// Starts the kept verification (a full walk now, in the background, then every
    /// `chain::CHECK_EVERY`); each result also goes to `report`. Once per server: a second
    /// call keeps the first.
    pub fn watch_chain(
        &self,
        report: impl Fn(&ChainCheck) + Send + 'static,
        cancel: tokio_util::sync::CancellationToken,
    ) {
        self.chain
            .get_or_init(|| ChainWatch::spawn(self.store.clone(), report, cancel));
    }

    /// The last kept verification; None before the first walk ended (or when not watched).
    pub fn kept_check(&self) -> Option<ChainCheck> {
        self.chain.get().and_then(ChainWatch::last)
    }

    /// A full walk now (joining one already running), kept as the last result. Without
    /// a kept verification (not a server) the walk is done here and kept nowhere.
    pub async fn verify_now(&self) -> Result<ChainCheck, ChainError> {
        match self.chain.get() {
            Some(watch) => watch.verify_now().await,
            None => chain::timed_walk(self.store.clone(), chain::Checkpoint::genesis())
                .await
                .0
                .map_err(ChainError::Store),
        }
    }

    /// The newest `limit` entries, newest first.
    pub async fn latest(&self, limit: i64) -> Result<Vec<AuditRow>, StoreError> {
        self.store.audit_latest(limit).await
    }
}

/// Checks that every entry's hash is its content chained to the previous entry's hash.
pub async fn verify(store: &Store) -> Result<Verified, StoreError> {
    Ok(chain::walk(store, chain::Checkpoint::genesis()).await?.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_covers_every_field_and_the_previous_hash() {
        let base = chain_hash(GENESIS, 1, "ana", "login", "ana", "");
        assert_eq!(base.len(), 64);
        for other in [
            chain_hash("x", 1, "ana", "login", "ana", ""),
            chain_hash(GENESIS, 2, "ana", "login", "ana", ""),
            chain_hash(GENESIS, 1, "bia", "login", "ana", ""),
            chain_hash(GENESIS, 1, "ana", "logout", "ana", ""),
            chain_hash(GENESIS, 1, "ana", "login", "bia", ""),
            chain_hash(GENESIS, 1, "ana", "login", "ana", "x"),
            chain_hash(GENESIS, 1, "an", "alogin", "ana", ""),
        ] {
            assert_ne!(base, other);
        }
    }
}
