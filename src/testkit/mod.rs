//! Test support shared by unit and end-to-end tests: databases that need no manual
//! setup. Hidden from the docs; not part of atende's interface.

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

pub mod pg;

pub use pg::{fresh_pg_database, pg_url};

/// A URL for a new SQLite database file in `dir` (created on first connect).
pub fn fresh_sqlite_url(dir: &Path) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("sqlite://{}/atende-{n}.db", dir.display())
}
