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
pub mod password;
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
    /// Agents the user may see and act on as a supervisor: their teams' agents and those
    /// configured in their own queues (`Config::scope`).
    pub agents: Vec<String>,
    /// The teams of the user's scope (keys of `[teams]`), for display.
    pub teams: Vec<String>,
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

    /// Whether this user may see (and, as a supervisor, act on) agent `agent`, who serves
    /// `serves` (their configured or logged-in queues): their own agent; any agent for an
    /// unscoped admin or auditor; an agent of their scope. A user with teams sees only
    /// their scope's agents (`agents`), so an agent of another team who also serves a
    /// team's queue stays out; without teams, an agent serving a queue of the scope.
    pub fn sees_agent<Q: AsRef<str>>(&self, agent: &str, serves: &[Q]) -> bool {
        if self.agent.as_deref() == Some(agent) {
            return true;
        }
        match self.role {
            Role::Agent => false,
            Role::Admin | Role::Auditor | Role::Wallboard
                if self.queues.is_empty() && self.teams.is_empty() =>
            {
                true
            }
            _ => {
                self.agents.iter().any(|a| a == agent)
                    || (self.teams.is_empty()
                        && serves
                            .iter()
                            .any(|q| self.queues.iter().any(|x| x == q.as_ref())))
            }
        }
    }
}
