//! The operators' tables: `users` (accounts) and `sessions` (server-side, found by the
//! sha256 of the cookie). Statements only; what they mean is `crate::users`' business.
//! Never on a call's path: a login, a page request, a CLI command.

use super::{Store, StoreError};

/// One account row as stored (`queues` and `teams` decoded from their JSON arrays).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    pub name: String,
    pub display_name: String,
    pub role: String,
    pub agent: Option<String>,
    pub queues: Vec<String>,
    pub teams: Vec<String>,
    pub disabled: bool,
    pub password_hash: String,
}

/// A stored session: whose it is and its two clocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub user_name: String,
    pub created_at_ms: i64,
    pub last_seen_ms: i64,
}

type RawUser = (
    String,
    String,
    String,
    Option<String>,
    String,
    bool,
    String,
    String,
);

fn decode(r: RawUser) -> UserRow {
    UserRow {
        name: r.0,
        display_name: r.1,
        role: r.2,
        agent: r.3,
        // Written only by `insert_user`/`update_user` as a JSON array.
        queues: serde_json::from_str(&r.4).unwrap_or_default(),
        disabled: r.5,
        password_hash: r.6,
        teams: serde_json::from_str(&r.7).unwrap_or_default(),
    }
}

impl Store {
    pub async fn user(&self, name: &str) -> Result<Option<UserRow>, StoreError> {
        let row: Option<RawUser> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT name, display_name, role, agent, queues, disabled, password_hash, \
                 teams FROM users WHERE name = $1",
            )
            .bind(name).fetch_optional(pool).await?
        });
        Ok(row.map(decode))
    }

    pub async fn users(&self) -> Result<Vec<UserRow>, StoreError> {
        let rows: Vec<RawUser> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT name, display_name, role, agent, queues, disabled, password_hash, \
                 teams FROM users ORDER BY name",
            )
            .fetch_all(pool).await?
        });
        Ok(rows.into_iter().map(decode).collect())
    }

    /// Adds `u`; `false` (nothing written) when the name is taken.
    pub async fn insert_user(&self, u: &UserRow, at_ms: i64) -> Result<bool, StoreError> {
        let queues = serde_json::to_string(&u.queues).unwrap_or_else(|_| "[]".into());
        let teams = serde_json::to_string(&u.teams).unwrap_or_else(|_| "[]".into());
        let done = on_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO users (name, display_name, role, agent, queues, disabled, \
                 password_hash, created_at_ms, updated_at_ms, teams) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9) ON CONFLICT (name) DO NOTHING",
            )
            .bind(&u.name)
            .bind(&u.display_name)
            .bind(&u.role)
            .bind(&u.agent)
            .bind(&queues)
            .bind(u.disabled)
            .bind(&u.password_hash)
            .bind(at_ms)
            .bind(&teams)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(done == 1)
    }

    /// Rewrites every field of the account named `u.name`; `false` when there is none.
    pub async fn update_user(&self, u: &UserRow, at_ms: i64) -> Result<bool, StoreError> {
        let queues = serde_json::to_string(&u.queues).unwrap_or_else(|_| "[]".into());
        let teams = serde_json::to_string(&u.teams).unwrap_or_else(|_| "[]".into());
        let done = on_pool!(self, pool => {
            sqlx::query(
                "UPDATE users SET display_name = $2, role = $3, agent = $4, queues = $5, \
                 disabled = $6, password_hash = $7, updated_at_ms = $8, teams = $9 \
                 WHERE name = $1",
            )
            .bind(&u.name)
            .bind(&u.display_name)
            .bind(&u.role)
            .bind(&u.agent)
            .bind(&queues)
            .bind(u.disabled)
            .bind(&u.password_hash)
            .bind(at_ms)
            .bind(&teams)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(done == 1)
    }

    pub async fn insert_session(
        &self,
        id_hash: &str,
        user: &str,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO sessions (id_hash, user_name, created_at_ms, last_seen_ms) \
                 VALUES ($1, $2, $3, $3)",
            )
            .bind(id_hash)
            .bind(user)
            .bind(at_ms)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    pub async fn session(&self, id_hash: &str) -> Result<Option<SessionRow>, StoreError> {
        let row: Option<(String, i64, i64)> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT user_name, created_at_ms, last_seen_ms FROM sessions WHERE id_hash = $1",
            )
            .bind(id_hash)
            .fetch_optional(pool)
            .await?
        });
        Ok(
            row.map(|(user_name, created_at_ms, last_seen_ms)| SessionRow {
                user_name,
                created_at_ms,
                last_seen_ms,
            }),
        )
    }

    pub async fn touch_session(&self, id_hash: &str, at_ms: i64) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            sqlx::query("UPDATE sessions SET last_seen_ms = $2 WHERE id_hash = $1")
                .bind(id_hash)
                .bind(at_ms)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    pub async fn delete_session(&self, id_hash: &str) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
                .bind(id_hash)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Revokes every session of `user`; how many there were.
    pub async fn delete_sessions_of(&self, user: &str) -> Result<u64, StoreError> {
        let n = on_pool!(self, pool => {
            sqlx::query("DELETE FROM sessions WHERE user_name = $1")
                .bind(user)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(n)
    }

    /// Drops sessions idle since before `idle_before` or created before `created_before`.
    pub async fn delete_expired_sessions(
        &self,
        idle_before: i64,
        created_before: i64,
    ) -> Result<u64, StoreError> {
        let n = on_pool!(self, pool => {
            sqlx::query("DELETE FROM sessions WHERE last_seen_ms < $1 OR created_at_ms < $2")
                .bind(idle_before)
                .bind(created_before)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(n)
    }
}
