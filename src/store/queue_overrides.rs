//! A supervisor's queue overrides in SQL (`queue_overrides`): which queues are closed by
//! hand and which have a priority given, one row per queue with an override in force.
//! The ACD writes the whole set whenever it changes (one transaction) and reads it back
//! at start; who did what and why is the audit log's, not this table's.

use super::{Store, StoreError};

/// One queue's overrides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueOverride {
    pub queue: String,
    pub closed_by_hand: bool,
    pub priority: Option<u8>,
}

impl Store {
    /// The overrides in force, by queue name.
    pub async fn queue_overrides(&self) -> Result<Vec<QueueOverride>, StoreError> {
        let rows: Vec<(String, bool, Option<i32>)> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT queue, closed_by_hand, priority FROM queue_overrides ORDER BY queue",
            )
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(queue, closed_by_hand, priority)| QueueOverride {
                queue,
                closed_by_hand,
                // Written from a u8; anything else is not ours: no priority.
                priority: priority.and_then(|p| u8::try_from(p).ok()),
            })
            .collect())
    }

    /// Replaces the stored set with `overrides` (queues without one are left out).
    pub async fn put_queue_overrides(
        &self,
        overrides: &[QueueOverride],
        at_ms: i64,
    ) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM queue_overrides")
                .execute(&mut *tx)
                .await?;
            for o in overrides {
                sqlx::query(
                    "INSERT INTO queue_overrides (queue, closed_by_hand, priority, saved_at_ms) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(&o.queue)
                .bind(o.closed_by_hand)
                .bind(o.priority.map(i32::from))
                .bind(at_ms)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::{TestDb, both_backends};

    both_backends!(the_set_is_replaced_whole, replaced);
    async fn replaced(db: TestDb) {
        let s = &db.store;
        assert_eq!(s.queue_overrides().await.expect("read"), vec![]);
        let closed = QueueOverride {
            queue: "pericia".into(),
            closed_by_hand: true,
            priority: None,
        };
        let prio = QueueOverride {
            queue: "geral".into(),
            closed_by_hand: false,
            priority: Some(255),
        };
        s.put_queue_overrides(&[closed.clone(), prio.clone()], 1)
            .await
            .expect("write");
        assert_eq!(
            s.queue_overrides().await.expect("read"),
            vec![prio.clone(), closed]
        );
        s.put_queue_overrides(std::slice::from_ref(&prio), 2)
            .await
            .expect("write");
        assert_eq!(s.queue_overrides().await.expect("read"), vec![prio]);
    }
}
