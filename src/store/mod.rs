//! The call log in SQL: connecting to SQLite (embedded, default) or PostgreSQL
//! (production), running each one's migrations, and the handful of statements the event
//! writer and the HTTP API need.
//!
//! `Store` is an enum over the two native pools rather than an `AnyPool`: each backend
//! keeps its typed connect options (SQLite's WAL, synchronous=NORMAL, busy timeout,
//! create-if-missing) and its own `migrate!` folder, and the 500 calls/s write path skips
//! Any's value conversions. Every statement is written once, in SQL both accept
//! (`$n` placeholders, `ON CONFLICT`), and `on_pool!` expands it for each pool.
//!
//! Writers go through `event_log` only; this module never buffers or retries.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

/// Runs `$body` with `$pool` bound to whichever native pool the store holds.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.db {
            $crate::store::Db::Sqlite($pool) => $body,
            $crate::store::Db::Postgres($pool) => $body,
        }
    };
}

pub mod agent_log;
pub mod alarm_notices;
pub mod audit;
pub mod closures;
pub mod event;
pub mod event_log;
pub mod ivr_stats;
pub mod mail;
pub mod privacy;
pub mod protocol;
pub mod quality;
pub mod query;
pub mod queue_overrides;
pub mod recovery;
pub mod registration;
pub mod reports;
pub mod reports_calls;
pub mod reports_live;
pub mod reports_more;
mod reports_pass;
pub mod reports_projector;
pub mod reports_read;
pub mod settings;
mod spill;
#[cfg(test)]
pub(crate) mod testing;
pub mod users;
mod write;

use protocol::{Protocol, ProtocolError};

/// How long a writer waits for a connection before treating the database as down.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);
/// How long SQLite waits for a lock held by another connection (a reader checkpointing).
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database URL scheme {scheme:?}: use sqlite://PATH or postgres://…")]
    UnsupportedUrl { scheme: String },
    #[error("cannot open the database: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database statement failed: {0}")]
    Query(#[from] sqlx::Error),
    #[error("stored protocol is malformed: {0}")]
    BadProtocol(#[from] ProtocolError),
    #[error("stored event {protocol} #{seq} has malformed detail: {source}")]
    BadDetail {
        protocol: String,
        seq: i64,
        source: serde_json::Error,
    },
    #[error("event spill journal {path}: {source}")]
    Spill {
        path: String,
        source: std::io::Error,
    },
}

/// A connection pool to the call-log database. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    db: Db,
}

#[derive(Clone, Debug)]
enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Store {
    /// Opens `sqlite://PATH` (the file is created if missing) or `postgres://…` and
    /// brings the schema up to date.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        let scheme = url.split(':').next().unwrap_or_default();
        let db = match scheme {
            "sqlite" => {
                let opts = SqliteConnectOptions::from_str(url)
                    .map_err(StoreError::Connect)?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(SQLITE_BUSY_TIMEOUT);
                let pool = SqlitePoolOptions::new()
                    .max_connections(4)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect_with(opts)
                    .await
                    .map_err(StoreError::Connect)?;
                sqlx::migrate!("./sql/sqlite").run(&pool).await?;
                Db::Sqlite(pool)
            }
            "postgres" | "postgresql" => {
                let pool = PgPoolOptions::new()
                    .max_connections(8)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect(url)
                    .await
                    .map_err(StoreError::Connect)?;
                sqlx::migrate!("./sql/postgres").run(&pool).await?;
                Db::Postgres(pool)
            }
            _ => {
                return Err(StoreError::UnsupportedUrl {
                    scheme: scheme.to_owned(),
                });
            }
        };
        Ok(Store { db })
    }

    /// The same database on a pool of its own of `connections`, opened on first use, with
    /// the same options (SQLite's WAL and busy timeout, PostgreSQL's URL): for a writer no
    /// reader may starve (the event writer). Closing `self` does not close it.
    pub(crate) fn own_pool(&self, connections: u32) -> Store {
        let db = match &self.db {
            Db::Sqlite(pool) => Db::Sqlite(
                SqlitePoolOptions::new()
                    .max_connections(connections.max(1))
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect_lazy_with((*pool.connect_options()).clone()),
            ),
            Db::Postgres(pool) => Db::Postgres(
                PgPoolOptions::new()
                    .max_connections(connections.max(1))
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect_lazy_with((*pool.connect_options()).clone()),
            ),
        };
        Store { db }
    }

    /// The greatest protocol stored, to seed `ProtocolAllocator` at start-up.
    pub async fn last_protocol(&self) -> Result<Option<Protocol>, StoreError> {
        // MAX() walks the primary key; it finds the latest day, because the date is a
        // fixed-width prefix. Within that day a widened number is longer but may compare
        // lower as a string, so the day's rows are ranked by length first.
        let max: Option<String> = on_pool!(self, pool => {
            sqlx::query_scalar("SELECT MAX(protocol) FROM calls").fetch_one(pool).await?
        });
        let Some(max) = max else { return Ok(None) };
        let day = max.get(..8).unwrap_or_default();
        let (lo, hi) = (format!("{day}-"), format!("{day}."));
        let last: Option<String> = on_pool!(self, pool => {
            sqlx::query_scalar(
                "SELECT protocol FROM calls WHERE protocol >= $1 AND protocol < $2 \
                 ORDER BY length(protocol) DESC, protocol DESC LIMIT 1",
            )
            .bind(&lo)
            .bind(&hi)
            .fetch_optional(pool)
            .await?
        });
        Ok(Some(last.unwrap_or(max).parse()?))
    }

    /// Whether the database answers, for the writer to notice it is back while idle.
    pub(crate) async fn ping(&self) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            sqlx::query("SELECT 1").execute(pool).await?;
        });
        Ok(())
    }

    /// Closes every pooled connection (tests use it to simulate a vanished database).
    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await)
    }
}
