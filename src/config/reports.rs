//! `[reports]`: the definitions in force — the version of the rules in `docs/reports.md`
//! and the settings that pick a reading where the tender is ambiguous. Printed on every
//! report so a figure can be traced to the rule that made it (`crate::reports`).

use serde::{Deserialize, Serialize};

/// Bumped whenever a rule in `docs/reports.md` changes what a figure means.
pub const DEFINITIONS_VERSION: &str = "2026-12-07.1";

/// The tender's threshold ("em até 30 segundos"), inclusive, in milliseconds.
pub const DEFAULT_THRESHOLD_MS: i64 = 30_000;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DefinitionsError {
    #[error("[reports] threshold_ms must be between 1 and 3600000, not {0}")]
    Threshold(i64),
    #[error("[reports] timezone {0:?} is not a known IANA time zone")]
    TimeZone(String),
}

/// `[reports]` in the config file, and the definitions block of every report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Definitions {
    /// The rules' version (`DEFINITIONS_VERSION`); not a setting, filled in on output.
    #[serde(default = "version", skip_deserializing)]
    pub version: String,
    /// The reporting time zone (IANA); absent = the server's `timezone`.
    #[serde(default)]
    pub timezone: Option<String>,
    /// "Within the threshold" means wait ≤ this many milliseconds.
    #[serde(default = "threshold")]
    pub threshold_ms: i64,
    /// NS's denominator adds the calls abandoned in the IVR (the tender's literal
    /// "Chamadas Abandonadas"); default false: only queue abandons.
    #[serde(default)]
    pub ns_counts_ivr_abandons: bool,
    /// TMA adds after-call work to talk time; default false (the conversation only).
    #[serde(default)]
    pub tma_includes_after_call: bool,
}

fn version() -> String {
    DEFINITIONS_VERSION.to_owned()
}

fn threshold() -> i64 {
    DEFAULT_THRESHOLD_MS
}

impl Default for Definitions {
    fn default() -> Definitions {
        Definitions {
            version: version(),
            timezone: None,
            threshold_ms: DEFAULT_THRESHOLD_MS,
            ns_counts_ivr_abandons: false,
            tma_includes_after_call: false,
        }
    }
}

impl Definitions {
    /// Refuses settings that cannot work (the config check calls it).
    pub fn check(&self) -> Result<(), DefinitionsError> {
        if !(1..=3_600_000).contains(&self.threshold_ms) {
            return Err(DefinitionsError::Threshold(self.threshold_ms));
        }
        if let Some(tz) = &self.timezone
            && jiff::tz::TimeZone::get(tz).is_err()
        {
            return Err(DefinitionsError::TimeZone(tz.clone()));
        }
        Ok(())
    }

    /// These definitions with the reporting zone resolved (`server_tz` when unset) and
    /// the version stamped: what reports print.
    pub fn in_force(&self, server_tz: &str) -> Definitions {
        Definitions {
            version: version(),
            timezone: Some(
                self.timezone
                    .clone()
                    .unwrap_or_else(|| server_tz.to_owned()),
            ),
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_tenders_reading_and_bad_values_are_refused() {
        let d: Definitions = toml::from_str("").expect("empty section");
        assert_eq!(d, Definitions::default());
        assert_eq!(d.threshold_ms, 30_000);
        assert!(!d.ns_counts_ivr_abandons && !d.tma_includes_after_call);
        assert_eq!(d.check(), Ok(()));
        let bad: Definitions = toml::from_str("threshold_ms = 0").expect("parses");
        assert_eq!(bad.check(), Err(DefinitionsError::Threshold(0)));
        let tz: Definitions = toml::from_str("timezone = \"Mars/Olympus\"").expect("parses");
        assert!(matches!(tz.check(), Err(DefinitionsError::TimeZone(_))));
        assert!(
            toml::from_str::<Definitions>("tresh = 1").is_err(),
            "unknown key"
        );
        let shown = Definitions::default().in_force("America/Sao_Paulo");
        assert_eq!(shown.timezone.as_deref(), Some("America/Sao_Paulo"));
        assert_eq!(shown.version, DEFINITIONS_VERSION);
    }
}
