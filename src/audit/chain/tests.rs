//! The audit chain's walks: the incremental step from a checkpoint, what it cannot see
//! (a change before the checkpoint: only a full walk finds it), and the kept verification.

use super::*;
use crate::audit::Audit;
use crate::store::testing::sqlite_db;

async fn tamper(url: &str, sql: &str) {
    let pool = sqlx::SqlitePool::connect(url).await.expect("sqlite");
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&pool)
        .await
        .expect("tamper");
}

async fn append(audit: &Audit, n: usize, tag: &str) {
    for i in 0..n {
        audit
            .try_record("ana", "login", "ana", &format!("{tag} {i}"))
            .await
            .expect("appended");
    }
}

#[tokio::test]
async fn the_incremental_step_chains_on_from_the_checkpoint() {
    let db = sqlite_db().await;
    let audit = Audit::new(db.store.clone());
    append(&audit, 3, "a").await;
    let (v, cp) = walk(&db.store, Checkpoint::genesis()).await.unwrap();
    assert_eq!((v.rows, v.ok), (3, true));
    let cp = cp.expect("a checkpoint");
    assert_eq!((cp.id, cp.rows), (3, 3));

    // Nothing appended: the checkpoint stays, the count too.
    let (v, same) = walk(&db.store, cp.clone()).await.unwrap();
    assert_eq!((v.rows, v.ok), (3, true));
    assert_eq!(same.as_ref(), Some(&cp));

    // Appended after the check: only the new entries are read, counted from genesis.
    append(&audit, 2, "b").await;
    let (v, next) = walk(&db.store, cp.clone()).await.unwrap();
    assert_eq!((v.rows, v.ok, v.broken_at), (5, true, None));
    assert_eq!(next.map(|c| c.id), Some(5));

    // A change after the checkpoint is found by the incremental step.
    tamper(&db.url, "UPDATE audit_log SET detail = 'x' WHERE id = 4").await;
    let (v, next) = walk(&db.store, cp.clone()).await.unwrap();
    assert_eq!((v.ok, v.broken_at), (false, Some(4)));
    assert!(next.is_none(), "no checkpoint past a break");
}

#[tokio::test]
async fn a_change_before_the_checkpoint_is_found_by_the_full_walk_only() {
    let db = sqlite_db().await;
    let audit = Audit::new(db.store.clone());
    append(&audit, 4, "a").await;
    let (_, cp) = walk(&db.store, Checkpoint::genesis()).await.unwrap();
    let cp = cp.expect("a checkpoint");
    append(&audit, 2, "b").await;
    tamper(&db.url, "UPDATE audit_log SET detail = 'x' WHERE id = 2").await;
    // By design the incremental step reads only what came after the checkpoint: it does
    // not see the change (the periodic check is incremental; start and on demand are full).
    let (v, _) = walk(&db.store, cp).await.unwrap();
    assert!(v.ok);
    let (v, _) = walk(&db.store, Checkpoint::genesis()).await.unwrap();
    assert_eq!((v.rows, v.ok, v.broken_at), (2, false, Some(2)));
}

#[tokio::test]
async fn the_watch_keeps_the_start_walk_and_verifies_on_demand() {
    let db = sqlite_db().await;
    let audit = Audit::new(db.store.clone());
    append(&audit, 3, "a").await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen_by = seen.clone();
    let cancel = CancellationToken::new();
    audit.watch_chain(
        move |c| seen_by.lock().unwrap().push(c.clone()),
        cancel.clone(),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let first = loop {
        if let Some(c) = audit.kept_check() {
            break c;
        }
        assert!(Instant::now() < deadline, "the start-up walk did not end");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!((first.rows, first.ok, first.full), (3, true, true));

    // Changed: the kept result says nothing until a walk; the on-demand one finds it.
    tamper(&db.url, "UPDATE audit_log SET detail = 'x' WHERE id = 1").await;
    assert_eq!(audit.kept_check(), Some(first.clone()));
    // Two requests at once get one walk's result.
    let (a, b) = tokio::join!(audit.verify_now(), audit.verify_now());
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!((a.ok, a.broken_at, a.full), (false, Some(1), true));
    assert_eq!(b.broken_at, Some(1));
    assert_eq!(audit.kept_check().and_then(|c| c.broken_at), Some(1));
    let reports = seen.lock().unwrap().clone();
    assert!(reports.len() >= 2 && reports.len() <= 3, "{reports:?}");
    assert_eq!(reports[0].broken_at, None);
    assert_eq!(reports.last().and_then(|c| c.broken_at), Some(1));
    cancel.cancel();
}
