//! `[wallboard]`: the thresholds that colour the live wallboard (`web/painel`): service
//! level under target, a caller waiting too long, too few agents ready. Read at every
//! request, so a config reload applies at the page's next refresh.

use serde::{Deserialize, Serialize};

/// `[wallboard]` in the config file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WallboardSettings {
    /// Service level (percent) under which the NS figures turn red.
    #[serde(default = "default_service_level")]
    pub service_level_min_percent: f64,
    /// A caller waiting longer than this (seconds) is shown in red, as is the longest wait.
    #[serde(default = "default_wait_alert")]
    pub wait_alert_secs: u64,
    /// Fewer agents ready than this (in the queues shown) turns the count red.
    #[serde(default = "default_min_ready")]
    pub min_ready_agents: u32,
}

fn default_service_level() -> f64 {
    90.0
}

fn default_wait_alert() -> u64 {
    30
}

fn default_min_ready() -> u32 {
    1
}

impl Default for WallboardSettings {
    fn default() -> WallboardSettings {
        WallboardSettings {
            service_level_min_percent: default_service_level(),
            wait_alert_secs: default_wait_alert(),
            min_ready_agents: default_min_ready(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WallboardInvalid {
    #[error("wallboard.service_level_min_percent must be between 0 and 100 (got {0})")]
    ServiceLevel(f64),
    #[error("wallboard.wait_alert_secs must be at least 1")]
    WaitAlert,
}

impl WallboardSettings {
    pub fn check(&self) -> Result<(), WallboardInvalid> {
        let p = self.service_level_min_percent;
        if !(0.0..=100.0).contains(&p) {
            return Err(WallboardInvalid::ServiceLevel(p));
        }
        if self.wait_alert_secs == 0 {
            return Err(WallboardInvalid::WaitAlert);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_out_of_range_are_refused() {
        assert!(WallboardSettings::default().check().is_ok());
        let mut s = WallboardSettings {
            service_level_min_percent: 120.0,
            ..Default::default()
        };
        assert!(matches!(s.check(), Err(WallboardInvalid::ServiceLevel(_))));
        s.service_level_min_percent = 80.0;
        s.wait_alert_secs = 0;
        assert_eq!(s.check(), Err(WallboardInvalid::WaitAlert));
    }
}
