//! Stored records a test reaches into directly: the server's database URL, and a call's
//! stored record damaged on purpose (what a half-written row looks like to the reports).

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
