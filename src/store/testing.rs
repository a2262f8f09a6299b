//! Test helpers shared by the store's modules: one test body run against a fresh SQLite
//! file and a fresh PostgreSQL database, and short constructors for events.

use crate::store::Store;
use crate::store::event::{CallEvent, EventKind};
use crate::testkit;

/// A fresh database and a private directory (for spill journals) for one test.
pub(crate) struct TestDb {
    pub store: Store,
    pub url: String,
    pub dir: tempfile::TempDir,
}

pub(crate) async fn sqlite_db() -> TestDb {
    let dir = tempfile::tempdir().expect("temp dir for a test database");
    let url = testkit::fresh_sqlite_url(dir.path());
    let store = Store::connect(&url).await.expect("SQLite opens");
    TestDb { store, url, dir }
}

pub(crate) async fn pg_db() -> TestDb {
    let dir = tempfile::tempdir().expect("temp dir for a test");
    let url = tokio::task::spawn_blocking(testkit::fresh_pg_database)
        .await
        .expect("provisioning PostgreSQL does not panic");
    let store = Store::connect(&url).await.expect("PostgreSQL connects");
    TestDb { store, url, dir }
}

/// Declares `mod $name { fn sqlite(); fn postgres(); }`, both running `$body(TestDb)`.
macro_rules! both_backends {
    ($name:ident, $body:ident) => {
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$body($crate::store::testing::sqlite_db().await).await
            }
            #[tokio::test]
            async fn postgres() {
                super::$body($crate::store::testing::pg_db().await).await
            }
        }
    };
}
pub(crate) use both_backends;

pub(crate) fn event(protocol: &str, seq: u32, at_ms: i64, kind: EventKind) -> CallEvent {
    CallEvent {
        protocol: protocol.parse().expect("valid protocol in test"),
        seq,
        at_ms,
        kind,
    }
}

pub(crate) fn offered(call_id: &str) -> EventKind {
    EventKind::Offered {
        call_id: call_id.into(),
        a_number: "1133334444".into(),
        b_number: "08000000000".into(),
        service: "sac".into(),
        source: "trunk:gw1".into(),
        restricted: false,
    }
}

impl Store {
    /// Rows in `call_events` and in `calls`.
    pub(crate) async fn count_rows(&self) -> (i64, i64) {
        on_pool!(self, pool => {
            let events: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM call_events")
                .fetch_one(pool)
                .await
                .expect("counting events");
            let calls: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM calls")
                .fetch_one(pool)
                .await
                .expect("counting calls");
            (events, calls)
        })
    }
}
