//! Server-side login sessions: a random 256-bit id in the `atende_session` cookie, stored
//! only as its sha256 (a copy of the table logs nobody in), with an idle and an absolute
//! expiry; one-time CTI tickets (30 s, in memory: a restart voids them); and the
//! failed-login limiter (in memory too: a restart starts its counts afresh, which costs
//! less than a database write on every failed login; `docs/operations.md` says why).
//! Logins, failures and logouts go to the audit log.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tracing::{info, warn};

use super::Principal;
use super::accounts::{Account, Accounts};
use super::limit::Limiter;
use crate::config::Config;
use crate::store::StoreError;

/// The cookie's name.
pub const COOKIE: &str = "atende_session";
/// How long a CTI ticket may wait to be redeemed.
pub const TICKET_TTL: Duration = Duration::from_secs(30);

/// Why a request carries no usable principal.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("no session: log in first")]
    Missing,
    #[error("unknown or revoked session")]
    Bad,
    #[error("the session expired: log in again")]
    Expired,
    #[error("database unavailable")]
    Store(#[from] StoreError),
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Wrong name, wrong password or disabled account: the same answer for all three.
    #[error("wrong user or password")]
    Refused,
    #[error("too many failed logins; try again in {} s", .0.as_secs().max(1))]
    Limited(Duration),
    #[error("database unavailable")]
    Store(#[from] StoreError),
    /// Too many logins wait for a password check: refused at once, not counted as a
    /// failure.
    #[error("too many logins at once")]
    Busy,
}

/// `[http] session_idle_secs` and `session_max_secs`.
#[derive(Debug, Clone, Copy)]
pub struct SessionSettings {
    pub idle: Duration,
    pub max: Duration,
}

/// The session table, tickets and limiter. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Sessions {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    accounts: Accounts,
    settings: SessionSettings,
    tickets: Mutex<HashMap<String, (Instant, Principal)>>,
    limiter: Mutex<Limiter>,
    config: std::sync::OnceLock<ConfigSource>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// 256 random bits, hex.
fn random_id() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// What the table stores for a session id.
pub fn id_hash(session_id: &str) -> String {
    hex::encode(Sha256::digest(session_id.as_bytes()))
}

/// Where sessions read the config in force (teams change with a reload): a function so
/// that users need not know the floor that holds it.
#[derive(Clone)]
pub struct ConfigSource(pub Arc<dyn Fn() -> Option<Arc<Config>> + Send + Sync>);

impl std::fmt::Debug for ConfigSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConfigSource")
    }
}

/// The principal of account `a`, its stored scope (queues and teams) resolved against
/// `config` into the queues and agents it sees. Without a config (tools, tests) the
/// stored queues stand and teams give nothing.
fn principal_of(a: &Account, session_hash: String, config: Option<&Config>) -> Principal {
    let scope = config.map_or_else(
        || crate::config::teams::Scope {
            queues: a.queues.clone(),
            agents: Vec::new(),
        },
        |c| c.scope(&a.queues, &a.teams),
    );
    Principal {
        user: a.name.clone(),
        role: a.role,
        agent: a.agent.clone(),
        queues: scope.queues,
        agents: scope.agents,
        teams: a.teams.clone(),
        session: session_hash,
    }
}

impl Sessions {
    pub fn new(accounts: Accounts, settings: SessionSettings) -> Sessions {
        Sessions {
            inner: Arc::new(Inner {
                accounts,
                settings,
                tickets: Mutex::new(HashMap::new()),
                limiter: Mutex::new(Limiter::default()),
                config: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Resolves users' teams against the config `source` gives (set once, at start).
    pub fn follow_config(&self, source: ConfigSource) {
        let _ = self.inner.config.set(source);
    }

    /// The config in force, when the server gave one (`follow_config`).
    pub fn config(&self) -> Option<Arc<Config>> {
        self.inner.config.get().and_then(|s| (s.0)())
    }

    /// Account `a`'s principal under the config in force; `session_hash` is empty for one
    /// that came from no session (a supervisor's phone dialling a monitoring code).
    pub fn principal_of(&self, a: &Account, session_hash: String) -> Principal {
        principal_of(a, session_hash, self.config().as_deref())
    }

    pub fn accounts(&self) -> &Accounts {
        &self.inner.accounts
    }

    pub fn settings(&self) -> SessionSettings {
        self.inner.settings
    }

    /// Checks `user`'s `password` and opens a session: (cookie value, principal).
    pub async fn login(
        &self,
        user: &str,
        password: &str,
        source: IpAddr,
    ) -> Result<(String, Principal), LoginError> {
        let audit = self.inner.accounts.audit();
        // The name is echoed into the log and audit only bounded: it is whatever was typed.
        let shown: String = user.chars().take(64).collect();
        let wait = self.limiter().wait(user, source, Instant::now());
        if let Some(wait) = wait {
            warn!(user = %shown, %source, "login refused: too many failures");
            audit
                .record(&shown, "login.limited", &shown, &format!("source={source}"))
                .await;
            return Err(LoginError::Limited(wait));
        }
        let account = self
            .inner
            .accounts
            .check_password(user, password)
            .await
            .map_err(|e| match e {
                super::AccountError::Store(s) => LoginError::Store(s),
                super::AccountError::Busy => LoginError::Busy,
                _ => LoginError::Refused,
            })?;
        let Some(account) = account else {
            self.limiter().failed(user, source, Instant::now());
            warn!(user = %shown, %source, "failed login");
            audit
                .record(&shown, "login.failed", &shown, &format!("source={source}"))
                .await;
            return Err(LoginError::Refused);
        };
        self.limiter().succeeded(user);
        let id = random_id();
        let hash = id_hash(&id);
        self.inner
            .accounts
            .store()
            .insert_session(&hash, &account.name, now_ms())
            .await?;
        info!(user = %account.name, role = %account.role, %source, "login");
        audit
            .record(
                &account.name,
                "login",
                &account.name,
                &format!("source={source}"),
            )
            .await;
        Ok((id, self.principal_of(&account, hash)))
    }

    /// Ends the session `session_id` (the cookie value).
    pub async fn logout(&self, p: &Principal) -> Result<(), StoreError> {
        self.inner
            .accounts
            .store()
            .delete_session(&p.session)
            .await?;
        self.inner
            .accounts
            .audit()
            .record(&p.user, "logout", &p.user, "")
            .await;
        Ok(())
    }

    /// The user behind the cookie value `session_id`, as of now (a role changed since the
    /// login is seen at once); refreshes the idle clock.
    pub async fn principal(&self, session_id: &str) -> Result<Principal, AuthError> {
        if session_id.is_empty() {
            return Err(AuthError::Missing);
        }
        self.by_hash(id_hash(session_id)).await
    }

    /// Whether the session `p` came from is still open (for long-lived connections such
    /// as the CTI websocket, which check it again from time to time).
    pub async fn still_valid(&self, p: &Principal) -> Result<Principal, AuthError> {
        self.by_hash(p.session.clone()).await
    }

    /// Whether each of the sessions `hashes` is still open, checked together: one read of
    /// the sessions and their accounts, and one write of the idle clock for those due
    /// (the rule of `by_hash`), however many there are. For the CTI hub, which checks every
    /// connected desktop once per heartbeat. A session absent from the answer's map was
    /// not asked for; `Err` only when the database did not answer.
    pub async fn still_valid_many(
        &self,
        hashes: &[String],
    ) -> Result<HashMap<String, Result<Principal, AuthError>>, StoreError> {
        let store = self.inner.accounts.store();
        let rows = store.sessions_with_users(hashes).await?;
        let now = now_ms();
        let s = self.inner.settings;
        let idle_ms = s.idle.as_millis() as i64;
        let max_ms = s.max.as_millis() as i64;
        let config = self.config();
        let mut out: HashMap<String, Result<Principal, AuthError>> = hashes
            .iter()
            .map(|h| (h.clone(), Err(AuthError::Bad)))
            .collect();
        let mut due = Vec::new();
        for (hash, session, user) in rows {
            let verdict =
                if now - session.last_seen_ms > idle_ms || now - session.created_at_ms > max_ms {
                    // Left for the sweep to delete: expiry is checked at every use anyway.
                    Err(AuthError::Expired)
                } else {
                    let account = super::accounts::to_account(&user);
                    if account.disabled {
                        Err(AuthError::Bad)
                    } else {
                        if now - session.last_seen_ms > (idle_ms / 4).min(30_000) {
                            due.push(hash.clone());
                        }
                        Ok(principal_of(&account, hash.clone(), config.as_deref()))
                    }
                };
            out.insert(hash, verdict);
        }
        store.touch_sessions(&due, now).await?;
        Ok(out)
    }

    async fn by_hash(&self, hash: String) -> Result<Principal, AuthError> {
        let store = self.inner.accounts.store();
        let row = store.session(&hash).await?.ok_or(AuthError::Bad)?;
        let now = now_ms();
        let s = self.inner.settings;
        let idle_ms = s.idle.as_millis() as i64;
        if now - row.last_seen_ms > idle_ms || now - row.created_at_ms > s.max.as_millis() as i64 {
            store.delete_session(&hash).await?;
            return Err(AuthError::Expired);
        }
        let account = self
            .inner
            .accounts
            .get(&row.user_name)
            .await
            .map_err(|e| match e {
                super::AccountError::Store(s) => AuthError::Store(s),
                _ => AuthError::Bad,
            })?
            .filter(|a| !a.disabled)
            .ok_or(AuthError::Bad)?;
        // Write the idle clock at most every quarter of the idle time (and 30 s), not at
        // every request.
        if now - row.last_seen_ms > (idle_ms / 4).min(30_000) {
            store.touch_session(&hash, now).await?;
        }
        Ok(self.principal_of(&account, hash))
    }

    /// A one-time ticket for the CTI websocket, valid `TICKET_TTL`.
    pub fn ticket(&self, p: &Principal) -> String {
        let ticket = random_id();
        let now = Instant::now();
        let mut t = self.tickets();
        t.retain(|_, (at, _)| now.duration_since(*at) < TICKET_TTL);
        t.insert(ticket.clone(), (now, p.clone()));
        ticket
    }

    /// Spends `ticket`: the principal it was issued to, if it is fresh and its session
    /// still open. A ticket works once.
    pub async fn redeem_ticket(&self, ticket: &str) -> Result<Principal, AuthError> {
        if ticket.is_empty() {
            return Err(AuthError::Missing);
        }
        let (at, p) = self.tickets().remove(ticket).ok_or(AuthError::Bad)?;
        if at.elapsed() >= TICKET_TTL {
            return Err(AuthError::Expired);
        }
        self.still_valid(&p).await
    }

    /// Drops expired sessions (called from time to time; expiry is checked at use anyway).
    pub async fn sweep(&self) -> Result<u64, StoreError> {
        let now = now_ms();
        let s = self.inner.settings;
        self.inner
            .accounts
            .store()
            .delete_expired_sessions(
                now - s.idle.as_millis() as i64,
                now - s.max.as_millis() as i64,
            )
            .await
    }

    fn limiter(&self) -> std::sync::MutexGuard<'_, Limiter> {
        // A poisoned lock only means a panic mid-count; the counts stay usable.
        self.inner.limiter.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn tickets(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, Principal)>> {
        self.inner.tickets.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The session id in a `Cookie` header value, if any.
pub fn from_cookie_header(header: &str) -> Option<&str> {
    header
        .split(';')
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.trim())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::users::{NewAccount, Role};

    async fn sessions(dir: &std::path::Path) -> Sessions {
        let store = crate::store::Store::connect(&crate::testkit::fresh_sqlite_url(dir))
            .await
            .expect("SQLite opens");
        let accounts = Accounts::new(store.clone(), crate::audit::Audit::new(store));
        accounts
            .add(
                "test",
                NewAccount {
                    name: "ana".into(),
                    display_name: None,
                    role: Role::Agent,
                    agent: Some("1001".into()),
                    queues: vec!["geral".into()],
                    teams: Vec::new(),
                    password: "senha-da-ana".into(),
                },
            )
            .await
            .expect("added");
        Sessions::new(
            accounts,
            SessionSettings {
                idle: Duration::from_secs(600),
                max: Duration::from_secs(3600),
            },
        )
    }

    #[tokio::test]
    async fn a_ticket_works_once_and_only_while_its_session_is_open() {
        let dir = tempfile::tempdir().expect("tmp");
        let s = sessions(dir.path()).await;
        let ip = IpAddr::from([127, 0, 0, 1]);
        let (cookie, p) = s.login("ana", "senha-da-ana", ip).await.expect("login");
        assert_eq!(p.agent.as_deref(), Some("1001"));
        assert_eq!(s.principal(&cookie).await.expect("open").user, "ana");
        assert!(matches!(s.principal("").await, Err(AuthError::Missing)));
        assert!(matches!(s.principal("nope").await, Err(AuthError::Bad)));

        let ticket = s.ticket(&p);
        let redeemed = s.redeem_ticket(&ticket).await.expect("first use");
        assert_eq!(
            (redeemed.user.as_str(), redeemed.role),
            ("ana", Role::Agent)
        );
        assert!(matches!(
            s.redeem_ticket(&ticket).await,
            Err(AuthError::Bad)
        ));
        assert!(matches!(s.redeem_ticket("").await, Err(AuthError::Missing)));

        let ticket = s.ticket(&p);
        s.logout(&p).await.expect("logout");
        assert!(matches!(
            s.redeem_ticket(&ticket).await,
            Err(AuthError::Bad)
        ));
        assert!(matches!(s.principal(&cookie).await, Err(AuthError::Bad)));
        assert!(matches!(
            s.login("ana", "errada-errada", ip).await,
            Err(LoginError::Refused)
        ));
    }

    #[tokio::test]
    async fn sessions_checked_together_tell_the_open_from_the_ended() {
        let dir = tempfile::tempdir().expect("tmp");
        let s = sessions(dir.path()).await;
        let ip = IpAddr::from([127, 0, 0, 1]);
        let mut open = Vec::new();
        for _ in 0..3 {
            open.push(s.login("ana", "senha-da-ana", ip).await.expect("login").1);
        }
        s.logout(&open[1]).await.expect("logout");
        let asked: Vec<String> = open.iter().map(|p| p.session.clone()).collect();
        let verdicts = s.still_valid_many(&asked).await.expect("read");
        assert_eq!(verdicts.len(), 3);
        assert_eq!(
            verdicts[&asked[0]].as_ref().map(|p| p.agent.clone()).ok(),
            Some(Some("1001".into()))
        );
        assert!(matches!(verdicts[&asked[1]], Err(AuthError::Bad)));
        assert!(verdicts[&asked[2]].is_ok());
        s.accounts()
            .store()
            .touch_sessions(&asked[2..], 0)
            .await
            .expect("aged");
        let verdicts = s.still_valid_many(&asked[2..]).await.expect("read");
        assert!(matches!(verdicts[&asked[2]], Err(AuthError::Expired)));
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        assert_eq!(
            from_cookie_header("a=1; atende_session=abc ; b=2"),
            Some("abc")
        );
        assert_eq!(from_cookie_header("atende_sessionx=1"), None);
    }
}
