//! `[mail]`: where and when report mails go, and the rules a valid section follows.
//! Pure: the password is only named here (environment variable or file) and read by
//! `mail` at start.

use std::net::IpAddr;
use std::path::PathBuf;

use serde::Deserialize;

use crate::export::Format;
use crate::schedule::{HolidaySpec, Schedule, ScheduleSpec};

#[derive(Debug, thiserror::Error)]
pub enum MailInvalid {
    #[error("mail.daily_at: {0:?} is not a local time like \"07:00\"")]
    DailyAt(String),
    #[error(
        "mail.monthly_business_day must be 1 to 5 (the monthly report is due by the 5th business day), not {0}"
    )]
    MonthlyDay(u8),
    #[error("mail.holidays: {0}")]
    Holidays(#[from] crate::schedule::ScheduleError),
    #[error("mail.{field}: {value:?} is not an e-mail address")]
    Address { field: &'static str, value: String },
    #[error("mail.to: at least one recipient is needed")]
    NoRecipient,
    #[error("mail.formats: {0:?} is not one of xlsx, ods, csv (and the list may not be empty)")]
    Format(String),
    #[error(
        "mail.tls = \"none\" is only allowed for a server on this machine (127.0.0.1, ::1, localhost): the password and the reports would cross the network in clear"
    )]
    PlainNotLocal,
    #[error("mail: give user together with one of password_env or password_file (not both)")]
    Credentials,
    #[error("mail.retries: at most 20, and mail.retry_secs at least 1")]
    Retries,
}

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Plain connection upgraded with STARTTLS, which must succeed (port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No TLS: only to a relay on this machine.
    None,
}

/// `[mail]`: where and when report mails go.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailSettings {
    /// SMTP server host name (checked against its TLS certificate) or address.
    pub server: String,
    /// Default: 587 for starttls, 465 for tls, 25 for none.
    pub port: Option<u16>,
    #[serde(default)]
    pub tls: TlsMode,
    pub user: Option<String>,
    /// Name of the environment variable holding the SMTP password.
    pub password_env: Option<String>,
    /// File holding the SMTP password (one line; trailing newline ignored).
    pub password_file: Option<PathBuf>,
    /// PEM file of an extra certificate authority to trust (an institution's own CA).
    pub ca_file: Option<PathBuf>,
    /// Sender, e.g. "Atende <relatorios@instituto.gov.br>".
    pub from: String,
    pub to: Vec<String>,
    /// Local time (the server's `timezone`) the daily report of the day before goes.
    #[serde(default = "default_daily_at")]
    pub daily_at: String,
    /// The monthly report goes on this business day of the next month (1–5).
    #[serde(default = "default_monthly_day")]
    pub monthly_business_day: u8,
    /// Days that are not business days besides weekends.
    #[serde(default)]
    pub holidays: HolidaySpec,
    /// Files attached to each mail.
    #[serde(default = "default_formats")]
    pub formats: Vec<String>,
    /// Attempts after the first failed one, waiting `retry_secs`, then doubling.
    #[serde(default = "default_retries")]
    pub retries: u32,
    #[serde(default = "default_retry_secs")]
    pub retry_secs: u64,
}

fn default_daily_at() -> String {
    "07:00".into()
}
fn default_monthly_day() -> u8 {
    2
}
fn default_formats() -> Vec<String> {
    vec!["xlsx".into(), "ods".into()]
}
fn default_retries() -> u32 {
    6
}
fn default_retry_secs() -> u64 {
    60
}

impl MailSettings {
    /// Every rule beyond the syntax; pure (no environment, files or sockets).
    pub fn check(&self, time_zone: &str) -> Result<(), MailInvalid> {
        self.daily_at_time()?;
        if !(1..=5).contains(&self.monthly_business_day) {
            return Err(MailInvalid::MonthlyDay(self.monthly_business_day));
        }
        Schedule::compile(&ScheduleSpec {
            timezone: time_zone.to_owned(),
            weekly: Default::default(),
            holidays: self.holidays.clone(),
        })?;
        self.addresses()?;
        self.file_formats()?;
        if self.tls == TlsMode::None && !is_local(&self.server) {
            return Err(MailInvalid::PlainNotLocal);
        }
        match (&self.user, &self.password_env, &self.password_file) {
            (None, None, None) | (Some(_), Some(_), None) | (Some(_), None, Some(_)) => {}
            _ => return Err(MailInvalid::Credentials),
        }
        if self.retries > 20 || self.retry_secs == 0 {
            return Err(MailInvalid::Retries);
        }
        Ok(())
    }

    /// `daily_at` as a local time of day.
    pub fn daily_at_time(&self) -> Result<jiff::civil::Time, MailInvalid> {
        self.daily_at
            .parse()
            .map_err(|_| MailInvalid::DailyAt(self.daily_at.clone()))
    }

    fn addresses(&self) -> Result<(), MailInvalid> {
        mailbox("from", &self.from)?;
        if self.to.is_empty() {
            return Err(MailInvalid::NoRecipient);
        }
        for to in &self.to {
            mailbox("to", to)?;
        }
        Ok(())
    }

    pub fn file_formats(&self) -> Result<Vec<Format>, MailInvalid> {
        if self.formats.is_empty() {
            return Err(MailInvalid::Format(String::new()));
        }
        self.formats
            .iter()
            .map(|f| Format::parse(f).ok_or_else(|| MailInvalid::Format(f.clone())))
            .collect()
    }

    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.tls {
            TlsMode::Starttls => 587,
            TlsMode::Tls => 465,
            TlsMode::None => 25,
        })
    }
}

/// An address as lettre parses it ("Name <a@b>" or "a@b").
pub fn mailbox(field: &'static str, value: &str) -> Result<lettre::message::Mailbox, MailInvalid> {
    value.parse().map_err(|_| MailInvalid::Address {
        field,
        value: value.to_owned(),
    })
}

fn is_local(server: &str) -> bool {
    server.eq_ignore_ascii_case("localhost")
        || server
            .trim_matches(['[', ']'])
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(extra: &str) -> Result<MailSettings, toml::de::Error> {
        toml::from_str(&format!(
            "server = \"smtp.instituto.test\"\nfrom = \"Atende <r@i.test>\"\nto = [\"g@i.test\"]\n{extra}"
        ))
    }

    fn check(extra: &str) -> Result<(), MailInvalid> {
        settings(extra)
            .expect("valid TOML")
            .check("America/Sao_Paulo")
    }

    #[test]
    fn defaults_are_starttls_on_587_at_seven_with_xlsx_and_ods() {
        let s = settings("").unwrap();
        assert!(check("").is_ok());
        assert_eq!((s.tls, s.port()), (TlsMode::Starttls, 587));
        assert_eq!(s.daily_at_time().unwrap(), jiff::civil::time(7, 0, 0, 0));
        assert_eq!(s.file_formats().unwrap(), [Format::Xlsx, Format::Ods]);
        assert_eq!(settings("tls = \"tls\"").unwrap().port(), 465);
    }

    #[test]
    fn each_bad_setting_is_named() {
        let err = |extra: &str| check(extra).expect_err(extra).to_string();
        assert!(err("daily_at = \"7h\"").contains("mail.daily_at"));
        assert!(err("monthly_business_day = 6").contains("monthly_business_day"));
        assert!(err("formats = [\"pdf\"]").contains("mail.formats"));
        assert!(err("tls = \"none\"").contains("only allowed for a server on this machine"));
        assert!(err("user = \"r\"").contains("password_env or password_file"));
        assert!(
            err("user = \"r\"\npassword_env = \"A\"\npassword_file = \"/x\"").contains("not both")
        );
        assert!(err("retry_secs = 0").contains("mail.retries"));
        assert!(err("holidays = { national = \"AR\" }").contains("mail.holidays"));
        assert!(check("user = \"r\"\npassword_env = \"A\"").is_ok());
        let bad_to = settings("").map(|mut s| {
            s.to = vec!["not an address".into()];
            s.check("America/Sao_Paulo")
                .expect_err("bad address")
                .to_string()
        });
        assert!(bad_to.unwrap().contains("mail.to"));
        assert!(
            settings("password = \"x\"").is_err(),
            "no password in the file"
        );
    }
}
