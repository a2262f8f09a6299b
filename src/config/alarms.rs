//! `[alarms]`: how often the alarms are checked, the disk threshold, and where a raise or
//! a clear is sent (the `[mail]` recipients and/or a webhook). Absent = no alarms sent
//! (the `/metrics` gauges still follow them). Every field can change with a reload.

use serde::Deserialize;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AlarmsInvalid {
    #[error("alarms.check_secs must be 1 to 3600, not {0}")]
    CheckSecs(u64),
    #[error("alarms.email = true needs a [mail] section (its server and recipients)")]
    EmailWithoutMail,
    #[error("alarms.webhook_url: {0:?} is not an http:// or https:// URL")]
    Webhook(String),
    #[error("alarms: give email = true or a webhook_url (or remove [alarms])")]
    Nowhere,
    #[error("alarms.service_level_min_calls must be 1 to 100000, not {0}")]
    MinCalls(u64),
}

/// `[alarms]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlarmSettings {
    /// Seconds between two checks (database probe, disk space, recorder, last hour's NS).
    #[serde(default = "default_check_secs")]
    pub check_secs: u64,
    /// Raise `disk_low` when the recordings' filesystem has less free space than this
    /// (MB); it clears above the threshold plus 10 %. 0 = not watched.
    #[serde(default = "default_disk_min_free_mb")]
    pub disk_min_free_mb: u64,
    /// Send raises and clears to `[mail]`'s recipients.
    #[serde(default)]
    pub email: bool,
    /// POST each raise and clear as JSON here (retried with backoff).
    pub webhook_url: Option<String>,
    /// The service-level alarm judges the last hour only when it holds at least this many
    /// calls in NS's denominator (fewer say nothing either way).
    #[serde(default = "default_service_level_min_calls")]
    pub service_level_min_calls: u64,
}

/// `service_level_min_calls` when not given.
pub const DEFAULT_SERVICE_LEVEL_MIN_CALLS: u64 = 10;

fn default_check_secs() -> u64 {
    30
}
fn default_disk_min_free_mb() -> u64 {
    2048
}
fn default_service_level_min_calls() -> u64 {
    DEFAULT_SERVICE_LEVEL_MIN_CALLS
}

impl AlarmSettings {
    pub fn check(&self, has_mail: bool) -> Result<(), AlarmsInvalid> {
        if !(1..=3600).contains(&self.check_secs) {
            return Err(AlarmsInvalid::CheckSecs(self.check_secs));
        }
        if !(1..=100_000).contains(&self.service_level_min_calls) {
            return Err(AlarmsInvalid::MinCalls(self.service_level_min_calls));
        }
        if self.email && !has_mail {
            return Err(AlarmsInvalid::EmailWithoutMail);
        }
        if let Some(url) = &self.webhook_url {
            let ok = reqwest::Url::parse(url)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
            if !ok {
                return Err(AlarmsInvalid::Webhook(url.clone()));
            }
        }
        if !self.email && self.webhook_url.is_none() {
            return Err(AlarmsInvalid::Nowhere);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> AlarmSettings {
        toml::from_str(text).expect("valid toml")
    }

    #[test]
    fn defaults_and_refusals() {
        let a = parse("email = true");
        assert_eq!((a.check_secs, a.disk_min_free_mb), (30, 2048));
        assert_eq!(a.service_level_min_calls, 10);
        assert_eq!(
            parse("email = true\nservice_level_min_calls = 0").check(true),
            Err(AlarmsInvalid::MinCalls(0))
        );
        assert_eq!(a.check(true), Ok(()));
        assert_eq!(a.check(false), Err(AlarmsInvalid::EmailWithoutMail));
        assert_eq!(parse("").check(true), Err(AlarmsInvalid::Nowhere));
        assert_eq!(
            parse("email = true\ncheck_secs = 0").check(true),
            Err(AlarmsInvalid::CheckSecs(0))
        );
        assert!(matches!(
            parse("webhook_url = \"ftp://x/y\"").check(false),
            Err(AlarmsInvalid::Webhook(_))
        ));
        assert_eq!(
            parse("webhook_url = \"http://127.0.0.1:9/hook\"").check(false),
            Ok(())
        );
        assert!(toml::from_str::<AlarmSettings>("emial = true").is_err());
    }
}
