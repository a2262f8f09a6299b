//! Users of the web pages and the CTI: who they are, their role and their scope.
//!
//! - `Role`, `Principal`: what every permission check sees.
//! - `accounts`: the accounts in the database (argon2 PHC password hashes), the seeding of
//!   the config's `[[users]]`, and the changes the CLI and `/api/users` make.
//! - `sessions`: server-side login sessions, one-time CTI tickets, and the failed-login
//!   limiter.

use serde::Serialize;

pub mod accounts;
pub mod cli;
pub mod limit;
pub mod sessions;

pub use accounts::{Account, AccountError, Accounts, NewAccount};
pub use sessions::{AuthError, LoginError, SessionSettings, Sessions};

pub use crate::config::users::Role;

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A logged-in user as every permission check sees them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Principal {
    pub user: String,
    pub role: Role,
    /// The ACD agent an agent user is linked to.
    pub agent: Option<String>,
    /// Queues (directly or through teams) the user may see and act on; empty for an
    /// admin or auditor means every queue.
    pub queues: Vec<String>,
    /// The session this principal came from: the sha256 of its cookie value (never the
    /// value itself, so a principal logged or serialised logs nobody in); check it again
    /// with `Sessions::still_valid`.
    pub session: String,
}

impl Principal {
    /// Whether this user may see queue `queue`'s calls and people: admins and auditors
    /// see every queue, a wallboard listing no queue too, others only those in their scope.
    pub fn sees_queue(&self, queue: &str) -> bool {
        matches!(self.role, Role::Admin | Role::Auditor)
            || (self.role == Role::Wallboard && self.queues.is_empty())
            || self.queues.iter().any(|q| q == queue)
    }
}
