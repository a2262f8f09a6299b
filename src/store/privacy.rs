//! Which calls' callers asked for privacy (`restricted` in their `offered` event), so the
//! API can mask their numbers while the record keeps them. Read-only.

use std::collections::HashSet;

use super::{Store, StoreError};

/// Protocols per query: far below SQLite's and PostgreSQL's parameter limits.
const PER_QUERY: usize = 500;

impl Store {
    /// The protocols among `protocols` whose caller is restricted.
    pub async fn restricted_among(
        &self,
        protocols: &[&str],
    ) -> Result<HashSet<String>, StoreError> {
        let mut out = HashSet::new();
        for chunk in protocols.chunks(PER_QUERY) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            // The event's JSON is written compact by serde_json: the flag reads exactly so.
            let sql = format!(
                "SELECT protocol FROM call_events WHERE protocol IN ({}) AND kind = 'offered' \
                 AND detail LIKE '%\"restricted\":true%'",
                marks.join(", ")
            );
            let rows: Vec<String> = on_pool!(self, pool => {
                let mut q = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.clone()));
                for p in chunk {
                    q = q.bind(*p);
                }
                q.fetch_all(pool).await?
            });
            out.extend(rows);
        }
        Ok(out)
    }
}
