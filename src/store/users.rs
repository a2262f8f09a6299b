//! The operators' tables: `users` (accounts) and `sessions` (server-side, found by the
//! sha256 of the cookie). Statements only; what they mean is `crate::users`' business.
//! Never on a call's path: a login, a page request, a CLI command, and the CTI hub's one
//! check of every connected desktop's session per heartbeat (`sessions_with_users`,
//! `touch_sessions`: one statement each for any number of sessions, the list passed as
//! one parameter — a JSON array for SQLite's `json_each`, a `text[]` for PostgreSQL).

use super::{Db, Store, StoreError};

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

    /// The sessions among `id_hashes` still stored, each with its account (a session whose
    /// account is gone is left out, as one not stored): one statement however many.
    pub async fn sessions_with_users(
        &self,
        id_hashes: &[String],
    ) -> Result<Vec<(String, SessionRow, UserRow)>, StoreError> {
        type Raw = (
            String,
            i64,
            i64,
            String,
            String,
            String,
            Option<String>,
            String,
            bool,
            String,
        );
        // The same statement for both; only how the list is passed differs.
        macro_rules! select {
            ($list:literal) => {
                concat!(
                    "SELECT s.id_hash, s.created_at_ms, s.last_seen_ms, u.name, u.display_name, ",
                    "u.role, u.agent, u.queues, u.disabled, u.teams ",
                    "FROM sessions s JOIN users u ON u.name = s.user_name WHERE s.id_hash ",
                    $list
                )
            };
        }
        if id_hashes.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<Raw> = match &self.db {
            Db::Sqlite(pool) => {
                let list = serde_json::to_string(id_hashes).unwrap_or_else(|_| "[]".into());
                sqlx::query_as(select!("IN (SELECT value FROM json_each($1))"))
                    .bind(list)
                    .fetch_all(pool)
                    .await?
            }
            Db::Postgres(pool) => {
                sqlx::query_as(select!("= ANY($1)"))
                    .bind(id_hashes)
                    .fetch_all(pool)
                    .await?
            }
        };
        Ok(rows
            .into_iter()
            .map(|r| {
                let session = SessionRow {
                    user_name: r.3.clone(),
                    created_at_ms: r.1,
                    last_seen_ms: r.2,
                };
                let user = decode((r.3, r.4, r.5, r.6, r.7, r.8, String::new(), r.9));
                (r.0, session, user)
            })
            .collect())
    }

    /// Sets the idle clock of every session in `id_hashes` to `at_ms`: one statement.
    pub async fn touch_sessions(
        &self,
        id_hashes: &[String],
        at_ms: i64,
    ) -> Result<u64, StoreError> {
        if id_hashes.is_empty() {
            return Ok(0);
        }
        let n = match &self.db {
            Db::Sqlite(pool) => {
                let list = serde_json::to_string(id_hashes).unwrap_or_else(|_| "[]".into());
                sqlx::query(
                    "UPDATE sessions SET last_seen_ms = $1 \
                     WHERE id_hash IN (SELECT value FROM json_each($2))",
                )
                .bind(at_ms)
                .bind(list)
                .execute(pool)
                .await?
                .rows_affected()
            }
            Db::Postgres(pool) => {
                sqlx::query("UPDATE sessions SET last_seen_ms = $1 WHERE id_hash = ANY($2)")
                    .bind(at_ms)
                    .bind(id_hashes)
                    .execute(pool)
                    .await?
                    .rows_affected()
            }
        };
        Ok(n)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::{TestDb, both_backends};

    fn user(name: &str, disabled: bool) -> UserRow {
        UserRow {
            name: name.into(),
            display_name: name.to_uppercase(),
            role: "supervisor".into(),
            agent: None,
            queues: vec!["sac".into()],
            teams: vec!["manha".into()],
            disabled,
            password_hash: "not read back by the session check".into(),
        }
    }

    /// Many sessions read and touched with one statement each, on both databases.
    async fn sessions_together(db: TestDb) {
        let store = db.store;
        assert!(store.insert_user(&user("ana", false), 1).await.unwrap());
        assert!(store.insert_user(&user("bia", true), 1).await.unwrap());
        let hashes: Vec<String> = (0..300).map(|i| format!("h{i:03}")).collect();
        for (i, h) in hashes.iter().enumerate() {
            let who = if i % 3 == 0 { "bia" } else { "ana" };
            store
                .insert_session(h, who, 1_000 + i as i64)
                .await
                .unwrap();
        }
        // A session of an account that no longer exists is left out, like an unknown one.
        store.insert_session("orphan", "nobody", 5).await.unwrap();
        let mut asked: Vec<String> = hashes.iter().step_by(2).cloned().collect();
        asked.push("unknown".into());
        asked.push("orphan".into());
        let mut rows = store.sessions_with_users(&asked).await.unwrap();
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(rows.len(), 150);
        let (hash, session, account) = &rows[1];
        assert_eq!(hash, "h002");
        assert_eq!(
            (session.user_name.as_str(), session.created_at_ms),
            ("ana", 1_002)
        );
        assert_eq!(account.queues, vec!["sac".to_owned()]);
        assert_eq!(account.teams, vec!["manha".to_owned()]);
        assert!(!account.disabled);
        assert!(rows[0].2.disabled, "h000 is bia's");

        let touched = store.touch_sessions(&asked, 99_000).await.unwrap();
        assert_eq!(touched, 151, "150 asked and stored, and the orphan");
        let h2 = store.session("h002").await.unwrap().expect("stored");
        assert_eq!(h2.last_seen_ms, 99_000);
        let h1 = store.session("h001").await.unwrap().expect("stored");
        assert_eq!(h1.last_seen_ms, 1_001, "not asked, not touched");
        assert!(store.sessions_with_users(&[]).await.unwrap().is_empty());
        assert_eq!(store.touch_sessions(&[], 1).await.unwrap(), 0);
    }

    both_backends!(many_sessions_are_checked_with_one_read, sessions_together);
}
