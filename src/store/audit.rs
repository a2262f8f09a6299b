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

/// Which entries a page of the audit log holds: every field narrows, an empty or absent
/// one does not.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Exact action (`login`, `user.add`, `denied`…); empty: any.
    pub action: String,
    /// Exact actor or target (a user is either who did it or whom it was done to);
    /// empty: anyone.
    pub user: String,
    /// Entries at or after this instant (UTC ms).
    pub from_ms: Option<i64>,
    /// Entries before this instant (UTC ms).
    pub to_ms: Option<i64>,
    /// Entries older than this id (the next page of a newest-first listing).
    pub before: Option<i64>,
}

impl Store {
    /// The newest `limit` entries that pass `f`, newest first.
    pub async fn audit_page(
        &self,
        f: &AuditFilter,
        limit: i64,
    ) -> Result<Vec<AuditRow>, StoreError> {
        // Sentinels rather than `$n IS NULL`: PostgreSQL must know every parameter's type.
        let rows: Vec<Raw> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, at_ms, actor, action, target, detail, prev_hash, hash \
                 FROM audit_log \
                 WHERE ($1 = '' OR action = $1) \
                   AND ($2 = '' OR actor = $2 OR target = $2) \
                   AND at_ms >= $3 AND at_ms < $4 AND id < $5 \
                 ORDER BY id DESC LIMIT $6",
            )
            .bind(&f.action)
            .bind(&f.user)
            .bind(f.from_ms.unwrap_or(i64::MIN))
            .bind(f.to_ms.unwrap_or(i64::MAX))
            .bind(f.before.unwrap_or(i64::MAX))
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().map(decode).collect())
    }

    /// Each actor's newest entry with `action` (UTC ms): with `login`, every user's last
    /// login.
    pub async fn audit_last_by_actor(
        &self,
        action: &str,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let rows: Vec<(String, i64)> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT actor, MAX(at_ms) FROM audit_log WHERE action = $1 GROUP BY actor",
            )
            .bind(action)
            .fetch_all(pool)
            .await?
        });
        Ok(rows)
    }
}
