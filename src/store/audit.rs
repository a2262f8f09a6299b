//! The audit log table: appended to, read in order; never updated or deleted from here.
//! Chaining and verification are `crate::audit`'s business.

use super::{Store, StoreError};

/// One stored audit entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditRow {
    pub id: i64,
    pub at_ms: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

type Raw = (i64, i64, String, String, String, String, String, String);

fn decode(r: Raw) -> AuditRow {
    AuditRow {
        id: r.0,
        at_ms: r.1,
        actor: r.2,
        action: r.3,
        target: r.4,
        detail: r.5,
        prev_hash: r.6,
        hash: r.7,
    }
}

/// What one new entry says (the chain fields are computed by the caller).
pub struct NewAudit<'a> {
    pub at_ms: i64,
    pub actor: &'a str,
    pub action: &'a str,
    pub target: &'a str,
    pub detail: &'a str,
    pub prev_hash: &'a str,
    pub hash: &'a str,
}

impl Store {
    /// The hash of the newest entry (`None` for an empty log).
    pub async fn audit_head(&self) -> Result<Option<String>, StoreError> {
        let h: Option<String> = on_pool!(self, pool => {
            sqlx::query_scalar("SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1")
                .fetch_optional(pool)
                .await?
        });
        Ok(h)
    }

    /// Appends one entry; fails (unique `prev_hash`) when another writer appended first.
    pub async fn append_audit(&self, e: &NewAudit<'_>) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO audit_log (at_ms, actor, action, target, detail, prev_hash, hash) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(e.at_ms)
            .bind(e.actor)
            .bind(e.action)
            .bind(e.target)
            .bind(e.detail)
            .bind(e.prev_hash)
            .bind(e.hash)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Entries with `id > after`, oldest first, at most `limit`.
    pub async fn audit_rows(&self, after: i64, limit: i64) -> Result<Vec<AuditRow>, StoreError> {
        let rows: Vec<Raw> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, at_ms, actor, action, target, detail, prev_hash, hash \
                 FROM audit_log WHERE id > $1 ORDER BY id LIMIT $2",
            )
            .bind(after).bind(limit).fetch_all(pool).await?
        });
        Ok(rows.into_iter().map(decode).collect())
    }

    /// The newest `limit` entries, newest first.
    pub async fn audit_latest(&self, limit: i64) -> Result<Vec<AuditRow>, StoreError> {
        let rows: Vec<Raw> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, at_ms, actor, action, target, detail, prev_hash, hash \
                 FROM audit_log ORDER BY id DESC LIMIT $1",
            )
            .bind(limit).fetch_all(pool).await?
        });
        Ok(rows.into_iter().map(decode).collect())
    }
}
