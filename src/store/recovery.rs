//! The queries start-up recovery needs: which calls a crash may have left unfinished.
//! The decision what each one lacks is the caller's (`lifecycle::recovery`), from the
//! call's events.

use super::protocol::Protocol;
use super::{Store, StoreError};

/// How far before the last call ended a call may still be waiting for its recording's
/// seal: finalizing takes milliseconds to seconds, so a minute is generous.
const SEAL_WINDOW_MS: i64 = 60_000;

impl Store {
    /// Calls with no end, and calls ended within a minute of the last one ended whose
    /// recording has no checksum (killed while it was being sealed). Both walk the
    /// `calls_ended_at_ms` index.
    pub async fn unfinished_calls(&self) -> Result<Vec<Protocol>, StoreError> {
        let rows: Vec<String> = on_pool!(self, pool => {
            sqlx::query_scalar(
                "SELECT protocol FROM calls WHERE ended_at_ms IS NULL \
                 UNION SELECT protocol FROM calls WHERE recording_sha256 IS NULL \
                 AND ended_at_ms >= (SELECT MAX(ended_at_ms) FROM calls) - $1",
            )
            .bind(SEAL_WINDOW_MS)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|p| p.parse().map_err(StoreError::from))
            .collect()
    }
}
