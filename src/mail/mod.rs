//! Report e-mail: the previous day's report every morning and the month's by its Nth
//! business day, sent over SMTP (STARTTLS or TLS, rustls) with the report files attached.
//!
//! - `plan`: pure — which mails are due at an instant, and when a failed one is retried.
//! - `source`: where the tables come from (`ReportSource`); `reports_source` is the
//!   projector's reports (what the server sends); `CallList`, the call log's raw list,
//!   stays for a caller that wants the list alone.
//! - `send`: the message (pt-BR text, attachments) and the SMTP transport (lettre).
//! - `mailer`: the task that wakes when a mail is due, sends it, and stores its state
//!   (`mail_jobs`), so a restart neither loses nor repeats a mail.
//!
//! The `[mail]` settings are checked with the rest of the config (`check`); the password
//! is read at start from an environment variable or a file, and never logged. Limits: the
//! files are attached (no download link), a whole report is built in memory before it is
//! written (fine for a day; a month's per-call list is the projector's to page).

use std::sync::atomic::AtomicU64;
use std::time::Duration;

pub use crate::config::mail::{MailInvalid, MailSettings, TlsMode};

mod mailer;
pub mod plan;
pub mod reports_source;
mod send;
pub mod source;

pub use mailer::spawn;
pub use plan::{Job, Plan, PlanError, Retry};
pub use reports_source::ProjectorReports;
pub use source::{CallList, ReportSource, SourceError, Tables};

/// Report mails accepted by the SMTP server (`atende_mail_sent_total`).
pub static SENT_TOTAL: AtomicU64 = AtomicU64::new(0);
/// Failed attempts that will be retried (`atende_mail_retries_total`).
pub static RETRIES_TOTAL: AtomicU64 = AtomicU64::new(0);
/// Mails given up after the last retry: each one an alarm (`atende_mail_failed_total`).
pub static FAILED_TOTAL: AtomicU64 = AtomicU64::new(0);

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error(transparent)]
    Invalid(#[from] MailInvalid),
    #[error("mail: {0}")]
    Plan(#[from] PlanError),
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

/// The schedule `settings` describe, in the server's time zone.
pub fn plan(settings: &MailSettings, time_zone: &str) -> Result<Plan, MailError> {
    Ok(Plan::new(
        time_zone,
        settings.daily_at_time()?,
        settings.monthly_business_day,
        &settings.holidays,
    )?)
}

pub fn retry(settings: &MailSettings) -> Retry {
    Retry {
        retries: settings.retries,
        first_wait: Duration::from_secs(settings.retry_secs),
    }
}

/// The SMTP password, read now from the environment or the file.
fn password(settings: &MailSettings) -> Result<Option<String>, MailError> {
    if let Some(var) = &settings.password_env {
        return std::env::var(var)
            .map(Some)
            .map_err(|_| MailError::PasswordEnv(var.clone()));
    }
    if let Some(path) = &settings.password_file {
        let text = std::fs::read_to_string(path).map_err(|source| MailError::PasswordFile {
            path: path.display().to_string(),
            source,
        })?;
        return Ok(Some(text.trim_end_matches(['\r', '\n']).to_owned()));
    }
    Ok(None)
}
