//! `[cti]`: the CTI websocket's resume window and disconnect grace (`crate::cti`).

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
    /// Whether the monitored agent's desktop is told a supervisor listens (whisper and
    /// barge are always shown: the agent hears them). Off: listening is silent.
    #[serde(default)]
    pub show_listen: bool,
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
            show_listen: false,
        }
    }
}
