//! Alarm notices still to send (`alarm_notices`): one row per raise or clear and channel,
//! written when the alarm changes and updated after each attempt, so a restart sends what
//! was pending exactly once. A handful of rows a day; never on a call's path.

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

/// A new notice: the channel (`mail`, `webhook`) and the transition it tells.
pub struct NewNotice<'a> {
    pub channel: &'a str,
    pub alarm: &'a str,
    pub raised: bool,
    pub at_ms: i64,
    pub detail: &'a str,
}

impl Store {
    /// Stores a notice as pending (to be tried now); returns its id.
    pub async fn alarm_notice_add(
        &self,
        n: &NewNotice<'_>,
        now_ms: i64,
    ) -> Result<i64, StoreError> {
        let id: i64 = on_pool!(self, pool => {
            sqlx::query_scalar(
                "INSERT INTO alarm_notices (channel, alarm, raised, at_ms, detail, state, attempts, \
                 next_attempt_at_ms, last_error, updated_at_ms) \
                 VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, NULL, $6) RETURNING id",
            )
            .bind(n.channel)
            .bind(n.alarm)
            .bind(i64::from(n.raised))
            .bind(n.at_ms)
            .bind(n.detail)
            .bind(now_ms)
            .fetch_one(pool)
            .await?
        });
        Ok(id)
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
        let (state, next) = match state {
            NoticeState::Pending { next_attempt_at_ms } => ("pending", next_attempt_at_ms),
            NoticeState::Sent => ("sent", now_ms),
            NoticeState::Skipped => ("skipped", now_ms),
            NoticeState::Failed => ("failed", now_ms),
        };
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
