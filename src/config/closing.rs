//! `[closing]`: when a month's figures are frozen (fechamento) without an admin's explicit
//! close — its last day plus `grace_days` — so late registrations and survey answers still
//! make the closed copy.

use serde::{Deserialize, Serialize};

/// Days after a month's last day before it closes by itself, by default.
pub const DEFAULT_GRACE_DAYS: u32 = 5;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClosingSettings {
    /// A month closes by itself this many days after its last day (local, in the
    /// reporting zone); an admin may close it earlier (`atende reports close`).
    #[serde(default = "grace")]
    pub grace_days: u32,
}

fn grace() -> u32 {
    DEFAULT_GRACE_DAYS
}

impl Default for ClosingSettings {
    fn default() -> ClosingSettings {
        ClosingSettings {
            grace_days: DEFAULT_GRACE_DAYS,
        }
    }
}

impl ClosingSettings {
    /// Refuses a grace that would leave a month open past the next one's close.
    pub fn check(&self) -> Result<(), String> {
        if self.grace_days > 28 {
            return Err(format!(
                "[closing] grace_days must be between 0 and 28, not {}",
                self.grace_days
            ));
        }
        Ok(())
    }
}
