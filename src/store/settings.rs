//! Operator switches kept across restarts: a small key → text table.
//!
//! Written when an operator flips a switch (rare), read once at start-up; never on a call's
//! path. Keys are constants here so a typo cannot create a second switch.

use super::{Store, StoreError};

/// The emergency announcement's prompt name; absent when the switch is off.
pub const EMERGENCY_PROMPT: &str = "ivr.emergency_prompt";
/// The ACD's pending callbacks (`acd::CallbackSnapshot` as JSON), rewritten whenever the
/// list changes, so a restart calls every citizen back who asked for it.
pub const ACD_CALLBACKS: &str = "acd.callbacks";
/// Which phone each agent logged in from with `*45` (`floor::hot_desk`, JSON), rewritten
/// at every login and logout there, so a restart keeps agents at their desks.
pub const HOT_DESK_SEATS: &str = "agents.hot_desk_seats";

impl Store {
    pub async fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        let v: Option<String> = on_pool!(self, pool => {
            sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
                .bind(key)
                .fetch_optional(pool)
                .await?
        });
        Ok(v)
    }

    /// Sets (`Some`) or removes (`None`) a setting.
    pub async fn set_setting(
        &self,
        key: &str,
        value: Option<&str>,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        match value {
            Some(v) => on_pool!(self, pool => {
                sqlx::query(
                    "INSERT INTO settings (key, value, updated_at_ms) VALUES ($1, $2, $3) \
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value, \
                     updated_at_ms = excluded.updated_at_ms",
                )
                .bind(key)
                .bind(v)
                .bind(at_ms)
                .execute(pool)
                .await?;
            }),
            None => on_pool!(self, pool => {
                sqlx::query("DELETE FROM settings WHERE key = $1")
                    .bind(key)
                    .execute(pool)
                    .await?;
            }),
        }
        Ok(())
    }
}

/// Starts a task that stores every value sent into the returned sender under `key` (the
/// latest one wins: a value replaced before it was written is skipped). For state kept
/// across restarts as JSON: the ACD's pending callbacks, the hot-desk seats. A failed
/// write is logged with `what` and retried at the next change.
pub fn spawn_saver(
    store: Store,
    key: &'static str,
    what: &'static str,
) -> tokio::sync::watch::Sender<String> {
    let (tx, mut rx) = tokio::sync::watch::channel(String::new());
    tokio::spawn(async move {
        while rx.changed().await.is_ok() {
            let json = rx.borrow_and_update().clone();
            let at_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0);
            if let Err(e) = store.set_setting(key, Some(&json), at_ms).await {
                tracing::error!(error = %e, what, "cannot save; retried at the next change");
            }
        }
        tracing::warn!(what, "saver stopped");
    });
    tx
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::{TestDb, both_backends};

    async fn survives_a_reconnect(db: TestDb) {
        let store = db.store;
        assert_eq!(store.setting(EMERGENCY_PROMPT).await.unwrap(), None);
        store
            .set_setting(EMERGENCY_PROMPT, Some("pt-BR/a"), 1)
            .await
            .unwrap();
        store
            .set_setting(EMERGENCY_PROMPT, Some("pt-BR/b"), 2)
            .await
            .unwrap();
        store.close().await;
        let again = Store::connect(&db.url).await.unwrap();
        assert_eq!(
            again.setting(EMERGENCY_PROMPT).await.unwrap().as_deref(),
            Some("pt-BR/b")
        );
        again.set_setting(EMERGENCY_PROMPT, None, 3).await.unwrap();
        assert_eq!(again.setting(EMERGENCY_PROMPT).await.unwrap(), None);
    }

    both_backends!(
        a_setting_survives_a_reconnect_and_can_be_removed,
        survives_a_reconnect
    );
}
