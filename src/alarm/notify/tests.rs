//! The pruning of sent notices: at the first check, then once a day, on both databases.

use super::*;
use crate::store::testing::{TestDb, both_backends};

async fn sent_notice(store: &Store, updated_ms: i64) {
    let n = NewNotice::test_row(NoticeState::Sent);
    store
        .alarm_notice_add(&n, updated_ms)
        .await
        .expect("stored");
}

async fn count(store: &Store) -> usize {
    store.alarm_notice_states().await.len()
}

both_backends!(
    old_sent_notices_are_pruned_at_start_and_then_daily,
    prune_daily
);
async fn prune_daily(db: TestDb) {
    let now = 1_796_115_600_000;
    let old = now - (RETENTION_DAYS + 1) * DAY_MS;
    sent_notice(&db.store, old).await;
    sent_notice(&db.store, now).await;
    let mut pruner = Pruner::default();
    // The first check prunes.
    pruner.run_if_due(&db.store, now).await;
    assert_eq!(count(&db.store).await, 1);
    // An hour later, not again: a row that became old since is still there.
    sent_notice(&db.store, old).await;
    pruner.run_if_due(&db.store, now + 3_600_000).await;
    assert_eq!(count(&db.store).await, 2);
    // A day later, it is pruned.
    pruner.run_if_due(&db.store, now + DAY_MS).await;
    assert_eq!(count(&db.store).await, 1);
}
