//! Accounts in the database: add, change, disable, list, check a password; seeding from
//! the config's `[[users]]` (only names absent from the database, so a password changed
//! later is never reset by a restart). Passwords are argon2id PHC strings, hashed and
//! checked by `super::password` (a bounded number at a time).
//! Every change is written to the audit log with the actor who made it.

use serde::{Deserialize, Serialize};
use tracing::info;

use super::Role;
use crate::audit::Audit;
use crate::store::users::UserRow;
use crate::store::{Store, StoreError};

/// Shortest password accepted for a new or changed password.
pub const MIN_PASSWORD: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("user name {0:?}: use 1 to 64 of a-z, 0-9, '.', '_', '-'")]
    BadName(String),
    #[error("the password must have at least {MIN_PASSWORD} characters")]
    ShortPassword,
    #[error("a user with role agent needs the ACD agent it is (--agent)")]
    AgentWithoutAgent,
    #[error("user {0:?} already exists")]
    Exists(String),
    #[error("no user {0:?}")]
    NoSuchUser(String),
    #[error("password_hash of user {0:?} is not an argon2 PHC string")]
    BadHash(String),
    #[error("cannot hash the password")]
    Hash,
    /// Too many password checks wait already (`super::password::MAX_WAITING`).
    #[error("too many logins at once; try again in a few seconds")]
    Busy,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An account as shown to admins and the user (never the hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Account {
    pub name: String,
    pub display_name: String,
    pub role: Role,
    pub agent: Option<String>,
    pub queues: Vec<String>,
    /// Teams (`[teams.NAME]` keys) the scope covers.
    pub teams: Vec<String>,
    pub disabled: bool,
}

/// A new account with its password in clear (hashed before it is stored).
#[derive(Debug, Clone, Deserialize)]
pub struct NewAccount {
    pub name: String,
    #[serde(default)]
    pub display_name: Option<String>,
    pub role: Role,
    #[serde(default)]
    pub agent: Option<String>,
    #[serde(default)]
    pub queues: Vec<String>,
    #[serde(default)]
    pub teams: Vec<String>,
    pub password: String,
}

/// A change to an account; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountChange {
    pub display_name: Option<String>,
    pub role: Option<Role>,
    pub agent: Option<String>,
    pub queues: Option<Vec<String>>,
    pub teams: Option<Vec<String>>,
    pub disabled: Option<bool>,
    pub password: Option<String>,
}

pub use crate::config::users::{UserSeed, is_argon2_phc};

pub fn check_name(name: &str) -> Result<(), AccountError> {
    if crate::config::users::name_ok(name) {
        Ok(())
    } else {
        Err(AccountError::BadName(name.to_owned()))
    }
}

/// Hashes `password` into a PHC string (argon2id, default parameters, random salt), once
/// a hasher is free (`super::password`).
pub async fn hash_password(password: String) -> Result<String, AccountError> {
    if password.chars().count() < MIN_PASSWORD {
        return Err(AccountError::ShortPassword);
    }
    super::password::hash(password).await
}

/// Whether `password` matches `phc` (false for a malformed hash); `Busy` when too many
/// checks wait already.
pub async fn password_matches(password: String, phc: String) -> Result<bool, AccountError> {
    super::password::matches(password, phc).await
}

/// A hash of a password nobody has, checked when the user does not exist so that a wrong
/// name costs the same time as a wrong password.
const DECOY: &str = "$argon2id$v=19$m=19456,t=2,p=1$qBVSijpv2sC7AoIzO4d1eQ$qX6phnoYKh/YjWAPz31SgsVFdvCUABnk/8RYeM7/PEo";

pub(super) fn to_account(r: &UserRow) -> Account {
    Account {
        name: r.name.clone(),
        display_name: r.display_name.clone(),
        // Written only through `Role::as_str`; an unknown text disables the account.
        role: Role::parse(&r.role).unwrap_or(Role::Auditor),
        agent: r.agent.clone(),
        queues: r.queues.clone(),
        teams: r.teams.clone(),
        disabled: r.disabled || Role::parse(&r.role).is_none(),
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The accounts table and its audited changes. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Accounts {
    store: Store,
    audit: Audit,
}

impl Accounts {
    pub fn new(store: Store, audit: Audit) -> Accounts {
        Accounts { store, audit }
    }

    pub fn audit(&self) -> &Audit {
        &self.audit
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub async fn list(&self) -> Result<Vec<Account>, AccountError> {
        Ok(self.store.users().await?.iter().map(to_account).collect())
    }

    pub async fn get(&self, name: &str) -> Result<Option<Account>, AccountError> {
        Ok(self.store.user(name).await?.as_ref().map(to_account))
    }

    /// The enabled account `name` if `password` is its password. The same `None` for an
    /// unknown name, a disabled account or a wrong password.
    pub async fn check_password(
        &self,
        name: &str,
        password: &str,
    ) -> Result<Option<Account>, AccountError> {
        let row = self.store.user(name).await?;
        let phc = row
            .as_ref()
            .map_or(DECOY.to_owned(), |r| r.password_hash.clone());
        let matches = password_matches(password.to_owned(), phc).await?;
        Ok(row
            .as_ref()
            .map(to_account)
            .filter(|a| matches && !a.disabled))
    }

    pub async fn add(&self, actor: &str, new: NewAccount) -> Result<Account, AccountError> {
        check_name(&new.name)?;
        if new.role == Role::Agent && new.agent.is_none() {
            return Err(AccountError::AgentWithoutAgent);
        }
        let hash = hash_password(new.password).await?;
        let row = UserRow {
            display_name: new.display_name.unwrap_or_else(|| new.name.clone()),
            name: new.name,
            role: new.role.as_str().to_owned(),
            agent: new.agent,
            queues: new.queues,
            teams: new.teams,
            disabled: false,
            password_hash: hash,
        };
        if !self.store.insert_user(&row, now_ms()).await? {
            return Err(AccountError::Exists(row.name));
        }
        let account = to_account(&row);
        self.audit
            .record(actor, "user.add", &row.name, &describe(&account))
            .await;
        Ok(account)
    }

    /// Applies `change`; a changed role, scope or agent, a disabled account or a new
    /// password revokes the user's sessions (they log in again under the new terms).
    pub async fn change(
        &self,
        actor: &str,
        name: &str,
        change: AccountChange,
    ) -> Result<Account, AccountError> {
        let mut row = self
            .store
            .user(name)
            .await?
            .ok_or_else(|| AccountError::NoSuchUser(name.to_owned()))?;
        let before = to_account(&row);
        if let Some(d) = change.display_name {
            row.display_name = d;
        }
        if let Some(r) = change.role {
            row.role = r.as_str().to_owned();
        }
        if let Some(a) = change.agent {
            row.agent = (!a.is_empty()).then_some(a);
        }
        if let Some(q) = change.queues {
            row.queues = q;
        }
        if let Some(t) = change.teams {
            row.teams = t;
        }
        if let Some(d) = change.disabled {
            row.disabled = d;
        }
        let new_password = change.password.is_some();
        if let Some(p) = change.password {
            row.password_hash = hash_password(p).await?;
        }
        let after = to_account(&row);
        if after.role == Role::Agent && after.agent.is_none() {
            return Err(AccountError::AgentWithoutAgent);
        }
        if !self.store.update_user(&row, now_ms()).await? {
            return Err(AccountError::NoSuchUser(name.to_owned()));
        }
        let revoke = new_password
            || after.disabled
            || after.role != before.role
            || after.queues != before.queues
            || after.teams != before.teams
            || after.agent != before.agent;
        let mut detail = describe(&after);
        if new_password {
            detail.push_str(" password=changed");
        }
        if revoke {
            let n = self.store.delete_sessions_of(name).await?;
            detail.push_str(&format!(" sessions_revoked={n}"));
        }
        let action = if after.disabled && !before.disabled {
            "user.disable"
        } else if before.disabled && !after.disabled {
            "user.enable"
        } else if after.role != before.role {
            "user.role"
        } else {
            "user.change"
        };
        self.audit.record(actor, action, name, &detail).await;
        Ok(after)
    }

    /// Adds every seed whose name is not in the database yet; how many were added.
    pub async fn seed(&self, seeds: &[UserSeed]) -> Result<usize, AccountError> {
        let mut added = 0;
        for s in seeds {
            let row = UserRow {
                name: s.name.clone(),
                display_name: s.display_name.clone().unwrap_or_else(|| s.name.clone()),
                role: s.role.as_str().to_owned(),
                agent: s.agent.clone(),
                queues: s.queues.clone(),
                teams: s.teams.clone(),
                disabled: false,
                password_hash: s.password_hash.clone(),
            };
            if self.store.insert_user(&row, now_ms()).await? {
                added += 1;
                info!(user = %s.name, role = %s.role, "user added from the config");
                self.audit
                    .record("config", "user.add", &s.name, &describe(&to_account(&row)))
                    .await;
            }
        }
        Ok(added)
    }
}

fn describe(a: &Account) -> String {
    format!(
        "role={} agent={} queues={} teams={} disabled={}",
        a.role,
        a.agent.as_deref().unwrap_or("-"),
        a.queues.join(","),
        a.teams.join(","),
        a.disabled
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_password_hashes_to_a_phc_string_that_checks() {
        let phc = hash_password("segredo-123".into()).await.expect("hash");
        assert!(is_argon2_phc(&phc), "{phc}");
        assert!(
            password_matches("segredo-123".into(), phc.clone())
                .await
                .expect("check")
        );
        assert!(
            !password_matches("segredo-124".into(), phc)
                .await
                .expect("check")
        );
        assert!(is_argon2_phc(DECOY));
        assert!(matches!(
            hash_password("curta".into()).await,
            Err(AccountError::ShortPassword)
        ));
    }

    #[test]
    fn names_are_plain() {
        assert!(check_name("ana.souza_2").is_ok());
        for bad in ["", "Ana", "ana souza", "ana@x", &"a".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
