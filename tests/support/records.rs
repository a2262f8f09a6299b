//! Stored records a test reaches into directly: the server's database URL, plain SQL run
//! behind the server's back, and a call's stored record damaged on purpose (what a half-written row looks like to the reports).

use super::Server;

/// The server's database URL, from its config.
pub fn database_url(server: &Server) -> String {
    let config = std::fs::read_to_string(server.dir.path().join("atende.toml")).expect("config");
    config
        .lines()
        .find_map(|l| l.strip_prefix("url = \""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("database url")
        .to_owned()
}

/// Runs `sql` on the database at `url`, as someone with database access would (a row
/// changed or deleted behind the server's back).
pub fn run_sql(url: &str, sql: &str) {
    let (url, sql) = (url.to_owned(), sqlx::AssertSqlSafe(sql.to_owned()));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        if url.starts_with("sqlite:") {
            let pool = sqlx::SqlitePool::connect(&url).await.expect("sqlite");
            sqlx::raw_sql(sql).execute(&pool).await.expect("sql run");
        } else {
            let pool = sqlx::PgPool::connect(&url).await.expect("postgres");
            sqlx::raw_sql(sql).execute(&pool).await.expect("sql run");
        }
    });
}

/// Overwrites one call's stored record with a half-written JSON (a damaged row).
pub fn damage_call_record(server: &Server, protocol: &str) {
    let url = database_url(server);
    let sql = "UPDATE call_facts SET fact = '{\"protocol\": \"2026' WHERE protocol = $1";
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let changed = rt.block_on(async {
        if url.starts_with("sqlite:") {
            let pool = sqlx::SqlitePool::connect(&url).await.expect("sqlite");
            let done = sqlx::query(sql).bind(protocol).execute(&pool).await;
            done.expect("record damaged").rows_affected()
        } else {
            let pool = sqlx::PgPool::connect(&url).await.expect("postgres");
            let done = sqlx::query(sql).bind(protocol).execute(&pool).await;
            done.expect("record damaged").rows_affected()
        }
    });
    assert_eq!(changed, 1, "{protocol}'s record is there to damage");
}
