//! Closed months' frozen figures (`month_closures`): append-only revisions, read by the
//! month report and the contract panel, written by `closing`. Never on a call's path.

use serde::Serialize;

use super::{Store, StoreError};

/// One revision of a closed month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct MonthRevision {
    pub month: String,
    pub revision: i64,
    pub closed_at_ms: i64,
    pub closed_by: String,
    pub reason: String,
    pub sha256: String,
    /// The canonical JSON the hash is over (left out of listings).
    #[serde(skip)]
    pub content: String,
}

impl Store {
    /// Every revision of `month`, oldest first (empty: the month is open).
    pub async fn month_revisions(&self, month: &str) -> Result<Vec<MonthRevision>, StoreError> {
        Ok(on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT month, revision, closed_at_ms, closed_by, reason, sha256, content \
                 FROM month_closures WHERE month = $1 ORDER BY revision",
            )
            .bind(month)
            .fetch_all(pool)
            .await?
        }))
    }

    /// The months with at least one revision, oldest first.
    pub async fn closed_months(&self) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String,)> = on_pool!(self, pool => {
            sqlx::query_as("SELECT DISTINCT month FROM month_closures ORDER BY month")
                .fetch_all(pool)
                .await?
        });
        Ok(rows.into_iter().map(|(m,)| m).collect())
    }

    /// Appends `r`; false when that revision number was taken meanwhile (another process
    /// closed or revised the month first).
    pub async fn append_month_revision(&self, r: &MonthRevision) -> Result<bool, StoreError> {
        let done = on_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO month_closures \
                 (month, revision, closed_at_ms, closed_by, reason, sha256, content) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (month, revision) DO NOTHING",
            )
            .bind(&r.month)
            .bind(r.revision)
            .bind(r.closed_at_ms)
            .bind(&r.closed_by)
            .bind(&r.reason)
            .bind(&r.sha256)
            .bind(&r.content)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(done == 1)
    }
}
