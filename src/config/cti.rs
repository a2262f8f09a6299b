//! `[cti]`: the CTI websocket's resume window and disconnect grace time (read by
//! `crate::cti`; kept here so the config does not import the CTI).

use serde::Deserialize;

/// `[cti]` in the config file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CtiSettings {
    /// How long a dropped connection can be resumed (its missed messages replayed).
    #[serde(default = "default_resume_window")]
    pub resume_window_secs: u64,
    /// How long an available agent's desktop may stay disconnected before the agent is
    /// paused with reason `disconnected`.
    #[serde(default = "default_disconnect_grace")]
    pub disconnect_grace_secs: u64,
}

fn default_resume_window() -> u64 {
    60
}

fn default_disconnect_grace() -> u64 {
    30
}

impl Default for CtiSettings {
    fn default() -> CtiSettings {
        CtiSettings {
            resume_window_secs: default_resume_window(),
            disconnect_grace_secs: default_disconnect_grace(),
        }
    }
}
