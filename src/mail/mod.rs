//! Report e-mail: the previous day's report every morning and the month's by its Nth
//! business day, sent over SMTP (STARTTLS or TLS, rustls) with the report files attached.
//!
//! - `plan`: pure — which mails are due at an instant, and when a failed one is retried.
//! - `source`: where the tables come from (`ReportSource`; the projector implements it,
//!   `CallList` is the interim list straight from the call log).
//! - `send`: the message (pt-BR text, attachments) and the SMTP transport (lettre).
//! - `mailer`: the task that wakes when a mail is due, sends it, and stores its state
//!   (`mail_jobs`), so a restart neither loses nor repeats a mail.
//!
//! The `[mail]` settings are checked with the rest of the config (`check`); the password
//! is read at start from an environment variable or a file, and never logged. Limits: the
//! files are attached (no download link), a whole report is built in memory before it is
//! written (fine for a day; a month's per-call list is the projector's to page).

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use serde::Deserialize;

use crate::export::Format;
use crate::schedule::HolidaySpec;

mod mailer;
pub mod plan;
mod send;
pub mod source;

pub use mailer::spawn;
pub use plan::{Job, Plan, PlanError, Retry};
pub use source::{CallList, ReportSource, SourceError, Tables};

/// Report mails accepted by the SMTP server (`atende_mail_sent_total`).
pub static SENT_TOTAL: AtomicU64 = AtomicU64::new(0);
/// Failed attempts that will be retried (`atende_mail_retries_total`).
pub static RETRIES_TOTAL: AtomicU64 = AtomicU64::new(0);
/// Mails given up after the last retry: each one an alarm (`atende_mail_failed_total`).
pub static FAILED_TOTAL: AtomicU64 = AtomicU64::new(0);

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("mail: {0}")]
    Plan(#[from] PlanError),
    #[error("mail.daily_at: {0:?} is not a local time like \"07:00\"")]
    DailyAt(String),
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
    #[error("mail.password_env: the environment variable {0} is not set")]
    PasswordEnv(String),
    #[error("mail.password_file: cannot read {path}: {source}")]
    PasswordFile {
        path: String,
        source: std::io::Error,
    },
    #[error("mail.ca_file: cannot read {path}: {source}")]
    CaFile {
        path: String,
        source: std::io::Error,
    },
    #[error("mail.server: {0}")]
    Transport(String),
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
    pub fn check(&self, time_zone: &str) -> Result<(), MailError> {
        self.plan(time_zone)?;
        self.addresses()?;
        self.file_formats()?;
        if self.tls == TlsMode::None && !is_local(&self.server) {
            return Err(MailError::PlainNotLocal);
        }
        match (&self.user, &self.password_env, &self.password_file) {
            (None, None, None) | (Some(_), Some(_), None) | (Some(_), None, Some(_)) => {}
            _ => return Err(MailError::Credentials),
        }
        if self.retries > 20 || self.retry_secs == 0 {
            return Err(MailError::Retries);
        }
        Ok(())
    }

    pub fn plan(&self, time_zone: &str) -> Result<Plan, MailError> {
        let at: jiff::civil::Time = self
            .daily_at
            .parse()
            .map_err(|_| MailError::DailyAt(self.daily_at.clone()))?;
        Ok(Plan::new(
            time_zone,
            at,
            self.monthly_business_day,
            &self.holidays,
        )?)
    }

    pub fn retry(&self) -> Retry {
        Retry {
            retries: self.retries,
            first_wait: Duration::from_secs(self.retry_secs),
        }
    }

    fn addresses(&self) -> Result<(), MailError> {
        send::mailbox("from", &self.from)?;
        if self.to.is_empty() {
            return Err(MailError::NoRecipient);
        }
        for to in &self.to {
            send::mailbox("to", to)?;
        }
        Ok(())
    }

    pub fn file_formats(&self) -> Result<Vec<Format>, MailError> {
        if self.formats.is_empty() {
            return Err(MailError::Format(String::new()));
        }
        self.formats
            .iter()
            .map(|f| Format::parse(f).ok_or_else(|| MailError::Format(f.clone())))
            .collect()
    }

    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.tls {
            TlsMode::Starttls => 587,
            TlsMode::Tls => 465,
            TlsMode::None => 25,
        })
    }

    /// The SMTP password, read now from the environment or the file.
    fn password(&self) -> Result<Option<String>, MailError> {
        if let Some(var) = &self.password_env {
            return std::env::var(var)
                .map(Some)
                .map_err(|_| MailError::PasswordEnv(var.clone()));
        }
        if let Some(path) = &self.password_file {
            let text = std::fs::read_to_string(path).map_err(|source| MailError::PasswordFile {
                path: path.display().to_string(),
                source,
            })?;
            return Ok(Some(text.trim_end_matches(['\r', '\n']).to_owned()));
        }
        Ok(None)
    }
}

fn is_local(server: &str) -> bool {
    server.eq_ignore_ascii_case("localhost")
        || server
            .trim_matches(['[', ']'])
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}
