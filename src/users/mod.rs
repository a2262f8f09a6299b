//! Users of the web pages and the CTI: who they are, their role and their scope.
//!
//! Only the vocabulary lives here for now (`Role`, `Principal`); accounts, password
//! hashes and sessions are built on it.

use serde::{Deserialize, Serialize};

/// What a user may do. An auditor only reads (reports, recordings, the audit log).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Agent,
    Supervisor,
    Admin,
    Auditor,
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
    /// The session this principal came from (to revoke or expire it).
    pub session: String,
}
