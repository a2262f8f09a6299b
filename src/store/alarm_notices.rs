//! Alarm notices (`alarm_notices`): one row per raise or clear and channel, written when
//! the alarm changes (or, for a notice of a moment the database did not answer, as soon as
//! it answers again) and updated after each attempt, so a restart sends what was pending
//! exactly once. A handful of rows a day; never on a call's path. Finished rows (sent, or
//! skipped because the channel was off) are pruned after `RETENTION_DAYS`.

use super::{Store, StoreError};

/// A notice's stored state after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeState {
    /// To be tried (again) at this instant (ms since the Unix epoch).
    Pending {
        next_attempt_at_ms: i64,
    },
    Sent,
    /// The channel was not configured when the notice's turn came.
    Skipped,
    /// Given up after the last retry.
    Failed,
}

/// A pending notice as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredNotice {
    pub id: i64,
    /// The alarm's name (`AlarmId::name`).
    pub alarm: String,
    pub raised: bool,
    pub at_ms: i64,
    pub detail: String,
    pub attempts: i64,
    pub next_attempt_at_ms: i64,
}

/// A new notice: the channel (`mail`, `webhook`), the transition it tells, and where it
/// stands (a new one is `Pending` with no attempt; one written late may be sent already).
pub struct NewNotice<'a> {
    pub channel: &'a str,
    pub alarm: &'a str,
    pub raised: bool,
    pub at_ms: i64,
    pub detail: &'a str,
    pub state: NoticeState,
    pub attempts: u32,
    pub last_error: Option<&'a str>,
}

/// Days a sent (or skipped) notice is kept before it is pruned. A constant, not a setting:
/// the rows are the alarms' delivery history, which nobody needs to keep for longer.
pub const RETENTION_DAYS: i64 = 90;

impl NoticeState {
    /// The stored `state` and `next_attempt_at_ms` (`now_ms` when finished).
    fn columns(self, now_ms: i64) -> (&'static str, i64) {
        match self {
            NoticeState::Pending { next_attempt_at_ms } => ("pending", next_attempt_at_ms),
            NoticeState::Sent => ("sent", now_ms),
            NoticeState::Skipped => ("skipped", now_ms),
            NoticeState::Failed => ("failed", now_ms),
        }
    }
}

impl Store {
    /// Stores a notice in its state; returns its id.
    pub async fn alarm_notice_add(
        &self,
        n: &NewNotice<'_>,
        now_ms: i64,
    ) -> Result<i64, StoreError> {
        let (state, next) = n.state.columns(now_ms);
        let id: i64 = on_pool!(self, pool => {
            sqlx::query_scalar(
                "INSERT INTO alarm_notices (channel, alarm, raised, at_ms, detail, state, attempts, \
                 next_attempt_at_ms, last_error, updated_at_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
            )
            .bind(n.channel)
            .bind(n.alarm)
            .bind(i64::from(n.raised))
            .bind(n.at_ms)
            .bind(n.detail)
            .bind(state)
            .bind(i64::from(n.attempts))
            .bind(next)
            .bind(n.last_error)
            .bind(now_ms)
            .fetch_one(pool)
            .await?
        });
        Ok(id)
    }

    /// Deletes the notices sent or skipped before `before_ms` (their last update); never a
    /// pending one, nor one given up (`failed`: kept as the trace of a notice that never
    /// arrived). Returns how many were deleted.
    pub async fn alarm_notices_prune(&self, before_ms: i64) -> Result<u64, StoreError> {
        let deleted = on_pool!(self, pool => {
            sqlx::query(
                "DELETE FROM alarm_notices WHERE state IN ('sent', 'skipped') \
                 AND updated_at_ms < $1",
            )
            .bind(before_ms)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(deleted)
    }

    /// The pending notices of `channel`, oldest first (the order they are sent in).
    pub async fn alarm_notices_pending(
        &self,
        channel: &str,
    ) -> Result<Vec<StoredNotice>, StoreError> {
        let rows: Vec<(i64, String, i64, i64, String, i64, i64)> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, alarm, raised, at_ms, detail, attempts, next_attempt_at_ms \
                 FROM alarm_notices WHERE channel = $1 AND state = 'pending' ORDER BY id",
            )
            .bind(channel)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(
                |(id, alarm, raised, at_ms, detail, attempts, next_attempt_at_ms)| StoredNotice {
                    id,
                    alarm,
                    raised: raised != 0,
                    at_ms,
                    detail,
                    attempts,
                    next_attempt_at_ms,
                },
            )
            .collect())
    }

    /// Records an attempt's result.
    pub async fn alarm_notice_set(
        &self,
        id: i64,
        state: NoticeState,
        attempts: u32,
        last_error: Option<&str>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let (state, next) = state.columns(now_ms);
        on_pool!(self, pool => {
            sqlx::query(
                "UPDATE alarm_notices SET state = $2, attempts = $3, next_attempt_at_ms = $4, \
                 last_error = $5, updated_at_ms = $6 WHERE id = $1",
            )
            .bind(id)
            .bind(state)
            .bind(i64::from(attempts))
            .bind(next)
            .bind(last_error)
            .bind(now_ms)
            .execute(pool)
            .await?;
        });
        Ok(())
    }
}

#[cfg(test)]
impl NewNotice<'static> {
    /// A webhook `disk_low` raise in `state`, tried once (tests).
    pub(crate) fn test_row(state: NoticeState) -> NewNotice<'static> {
        NewNotice {
            channel: "webhook",
            alarm: "disk_low",
            raised: true,
            at_ms: 0,
            detail: "x",
            state,
            attempts: 1,
            last_error: None,
        }
    }
}

#[cfg(test)]
impl Store {
    /// Every notice's state, in id order (tests).
    pub(crate) async fn alarm_notice_states(&self) -> Vec<String> {
        on_pool!(self, pool => {
            sqlx::query_scalar("SELECT state FROM alarm_notices ORDER BY id")
                .fetch_all(pool)
                .await
                .expect("notices read")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::{TestDb, both_backends};

    const DAY_MS: i64 = 86_400_000;

    both_backends!(
        only_finished_notices_older_than_the_retention_are_pruned,
        prune
    );
    async fn prune(db: TestDb) {
        let now = 1_796_115_600_000;
        let old = now - (RETENTION_DAYS + 1) * DAY_MS;
        let rows = [
            (NoticeState::Sent, old),
            (NoticeState::Skipped, old),
            (NoticeState::Failed, old),
            (
                NoticeState::Pending {
                    next_attempt_at_ms: old,
                },
                old,
            ),
            (NoticeState::Sent, now - DAY_MS),
        ];
        for (state, at) in rows {
            let n = NewNotice::test_row(state);
            db.store.alarm_notice_add(&n, at).await.expect("stored");
        }
        let deleted = db
            .store
            .alarm_notices_prune(now - RETENTION_DAYS * DAY_MS)
            .await
            .expect("pruned");
        assert_eq!(deleted, 2);
        let left = db.store.alarm_notice_states().await;
        // The old failed and pending ones stay, and the recent sent one.
        assert_eq!(left, ["failed", "pending", "sent"]);
        let pending = db
            .store
            .alarm_notices_pending("webhook")
            .await
            .expect("read");
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].next_attempt_at_ms, old);
    }
}
