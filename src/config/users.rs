//! `[[users]]` of the config and the roles a user can have: the vocabulary `crate::users`
//! builds accounts and sessions on, kept here so the config can check it without
//! depending on the accounts' shell (which audits and stores).

use argon2::password_hash::phc::PasswordHash;
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

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
            Role::Auditor => "auditor",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "agent" => Some(Role::Agent),
            "supervisor" => Some(Role::Supervisor),
            "admin" => Some(Role::Admin),
            "auditor" => Some(Role::Auditor),
            _ => None,
        }
    }
}

/// A `[[users]]` entry of the config: seeded when the name is not in the database.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSeed {
    pub name: String,
    #[serde(default)]
    pub display_name: Option<String>,
    pub role: Role,
    #[serde(default)]
    pub agent: Option<String>,
    #[serde(default)]
    pub queues: Vec<String>,
    /// Teams (`[teams.NAME]`) the user's scope covers, with their agents and queues.
    #[serde(default)]
    pub teams: Vec<String>,
    /// argon2 PHC string (`atende user hash` prints one).
    pub password_hash: String,
}

/// A user name: 1–64 of a-z, 0-9, `.`, `_`, `-`.
pub fn name_ok(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

/// Whether `phc` is an argon2 PHC string (for the config check).
pub fn is_argon2_phc(phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| h.algorithm.as_str().starts_with("argon2"))
}
