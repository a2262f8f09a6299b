//! Report mails' state (`mail_jobs`): read before a mail is tried, written after each
//! attempt. One row per mail; never on a call's path.

use super::{Store, StoreError};

/// A mail's stored state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailState {
    /// To be tried (again) at this instant (ms since the Unix epoch).
    Pending {
        next_attempt_at_ms: i64,
    },
    Sent,
    /// Given up after the last retry.
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailJob {
    pub job: String,
    pub state: MailState,
    pub attempts: u32,
    pub last_error: Option<String>,
}

#[derive(sqlx::FromRow)]
struct Row {
    job: String,
    state: String,
    attempts: i64,
    next_attempt_at_ms: Option<i64>,
    last_error: Option<String>,
}

impl Store {
    pub async fn mail_job(&self, job: &str) -> Result<Option<MailJob>, StoreError> {
        let row: Option<Row> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT job, state, attempts, next_attempt_at_ms, last_error \
                 FROM mail_jobs WHERE job = $1",
            )
            .bind(job)
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(|r| MailJob {
            state: match r.state.as_str() {
                "sent" => MailState::Sent,
                "failed" => MailState::Failed,
                _ => MailState::Pending {
                    next_attempt_at_ms: r.next_attempt_at_ms.unwrap_or(0),
                },
            },
            job: r.job,
            attempts: r.attempts.clamp(0, u32::MAX as i64) as u32,
            last_error: r.last_error,
        }))
    }

    pub async fn set_mail_job(&self, job: &MailJob, at_ms: i64) -> Result<(), StoreError> {
        let (state, next) = match job.state {
            MailState::Pending { next_attempt_at_ms } => ("pending", Some(next_attempt_at_ms)),
            MailState::Sent => ("sent", None),
            MailState::Failed => ("failed", None),
        };
        on_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO mail_jobs (job, state, attempts, next_attempt_at_ms, last_error, updated_at_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (job) DO UPDATE SET state = excluded.state, attempts = excluded.attempts, \
                 next_attempt_at_ms = excluded.next_attempt_at_ms, last_error = excluded.last_error, \
                 updated_at_ms = excluded.updated_at_ms",
            )
            .bind(&job.job)
            .bind(state)
            .bind(job.attempts as i64)
            .bind(next)
            .bind(&job.last_error)
            .bind(at_ms)
            .execute(pool)
            .await?;
        });
        Ok(())
    }
}
