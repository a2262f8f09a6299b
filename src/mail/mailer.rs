//! The mail task: sleeps until a mail is due (or a retry), sends it, stores the outcome.
//!
//! ```text
//!   (none) ──send ok──────────────▶ sent
//!     │                              ▲
//!     └─send failed─▶ pending ──ok───┘
//!                      │  └─failed, retries left─▶ pending (next attempt later)
//!                      └─failed, last retry──────▶ failed  (ERROR log + counter: alarm)
//! ```
//!
//! The state is stored after every attempt, so a restart picks up where it was. A crash
//! between the SMTP server's acceptance and the store's write sends that mail again on
//! restart (at least once): its Message-ID is the same, so mail systems can recognise it.
//! The task also wakes every `RECHECK` in case the wall clock jumped.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::send::Smtp;
use super::{
    FAILED_TOTAL, Job, MailError, MailSettings, Plan, RETRIES_TOTAL, ReportSource, Retry,
    SENT_TOTAL,
};
use crate::export::Format;
use crate::store::Store;
use crate::store::mail::{MailJob, MailState};

/// The settings key holding when mail was first enabled (ms): nothing due before it is sent.
const SINCE_KEY: &str = "mail.since_ms";
/// Longest sleep between two looks at the plan (the wall clock may jump).
const RECHECK: Duration = Duration::from_secs(300);
/// Wait after the database could not be read before looking again.
const STORE_RETRY: Duration = Duration::from_secs(30);

struct Mailer {
    plan: Plan,
    retry: Retry,
    smtp: Smtp,
    formats: Vec<Format>,
    store: Store,
    source: Arc<dyn ReportSource>,
    tz: TimeZone,
    time_zone_name: String,
    server: String,
}

/// Starts the mail task; fails at once if the settings or the password are wrong.
pub fn spawn(
    settings: &MailSettings,
    time_zone: &str,
    store: Store,
    source: Arc<dyn ReportSource>,
    cancel: CancellationToken,
) -> Result<tokio::task::JoinHandle<()>, MailError> {
    settings.check(time_zone)?;
    let tz = TimeZone::get(time_zone)
        .map_err(|_| MailError::Plan(super::PlanError::TimeZone(time_zone.to_owned())))?;
    let mailer = Mailer {
        plan: super::plan(settings, time_zone)?,
        retry: super::retry(settings),
        smtp: Smtp::new(settings)?,
        formats: settings.file_formats()?,
        store,
        source,
        tz,
        time_zone_name: time_zone.to_owned(),
        server: format!("{}:{}", settings.server, settings.port()),
    };
    info!(
        server = %mailer.server,
        recipients = settings.to.len(),
        daily_at = %settings.daily_at,
        monthly_business_day = settings.monthly_business_day,
        "report mail on"
    );
    Ok(tokio::spawn(async move { mailer.run(cancel).await }))
}

impl Mailer {
    async fn run(self, cancel: CancellationToken) {
        let since = loop {
            match self.since().await {
                Ok(since) => break since,
                Err(e) => {
                    warn!(error = %e, "report mail: cannot read its start mark; trying again");
                    tokio::select! {
                        _ = cancel.cancelled() => return,
                        _ = tokio::time::sleep(STORE_RETRY) => {}
                    }
                }
            }
        };
        let mut first = true;
        loop {
            let now = Timestamp::now();
            let mut wake = self.plan.next_due_after(now);
            for job in self.plan.due(since, now) {
                if let Some(at) = self.work(job, now).await {
                    wake = wake.min(at);
                }
            }
            if std::mem::take(&mut first) {
                info!(next = %wake, "report mail: up to date");
            }
            let wait = wake
                .duration_since(Timestamp::now())
                .try_into()
                .unwrap_or(Duration::ZERO)
                .min(RECHECK);
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// When mail was first enabled; stored the first time.
    async fn since(&self) -> Result<Timestamp, crate::store::StoreError> {
        if let Some(ms) = self
            .store
            .setting(SINCE_KEY)
            .await?
            .and_then(|v| v.parse::<i64>().ok())
            .and_then(|ms| Timestamp::from_millisecond(ms).ok())
        {
            return Ok(ms);
        }
        let now = Timestamp::now();
        let ms = now.as_millisecond();
        self.store
            .set_setting(SINCE_KEY, Some(&ms.to_string()), ms)
            .await?;
        Ok(now)
    }

    /// Sends `job` unless it was sent, given up, or waits for a later retry; returns when
    /// to look at it again.
    async fn work(&self, job: Job, now: Timestamp) -> Option<Timestamp> {
        let key = job.key();
        let stored = match self.store.mail_job(&key).await {
            Ok(s) => s,
            Err(e) => {
                warn!(job = %key, error = %e, "report mail: cannot read its state; trying later");
                return now.checked_add(STORE_RETRY).ok();
            }
        };
        let failures = match &stored {
            Some(MailJob {
                state: MailState::Sent | MailState::Failed,
                ..
            }) => return None,
            Some(MailJob {
                state: MailState::Pending { next_attempt_at_ms },
                ..
            }) if *next_attempt_at_ms > now.as_millisecond() => {
                return Timestamp::from_millisecond(*next_attempt_at_ms).ok();
            }
            Some(j) => j.attempts,
            None => 0,
        };
        let result = self.attempt(job).await;
        let at = Timestamp::now();
        let (state, last_error, wake) = match result {
            Ok(()) => {
                SENT_TOTAL.fetch_add(1, Ordering::Relaxed);
                info!(job = %key, server = %self.server, "report mail sent");
                (MailState::Sent, None, None)
            }
            Err(e) => match self.retry.next_attempt(failures + 1, at) {
                Some(next) => {
                    RETRIES_TOTAL.fetch_add(1, Ordering::Relaxed);
                    warn!(job = %key, server = %self.server, error = %e, next_attempt = %next, "report mail failed; will retry");
                    (
                        MailState::Pending {
                            next_attempt_at_ms: next.as_millisecond(),
                        },
                        Some(e),
                        Some(next),
                    )
                }
                None => {
                    FAILED_TOTAL.fetch_add(1, Ordering::Relaxed);
                    error!(job = %key, server = %self.server, error = %e, attempts = failures + 1, "ALARM: report mail given up after its last retry");
                    (MailState::Failed, Some(e), None)
                }
            },
        };
        let record = MailJob {
            job: key.clone(),
            state,
            attempts: failures + 1,
            last_error,
        };
        if let Err(e) = self.store.set_mail_job(&record, at.as_millisecond()).await {
            error!(job = %key, error = %e, "report mail: its state could not be stored (a restart may repeat it)");
        }
        wake
    }

    /// Builds the files in a temporary folder and sends them.
    async fn attempt(&self, job: Job) -> Result<(), String> {
        let generated_at = self.tz.to_datetime(Timestamp::now());
        let tables = self
            .source
            .tables(job, generated_at)
            .await
            .map_err(|e| format!("report data: {e}"))?;
        let dir = tempfile_dir().map_err(|e| format!("temporary folder: {e}"))?;
        let formats = self.formats.clone();
        let folder = dir.path().to_owned();
        let stem = file_stem(job);
        let files = tokio::task::spawn_blocking(move || {
            let mut files: Vec<(PathBuf, Format)> = Vec::new();
            for (i, (report, rows)) in tables.iter().enumerate() {
                for &format in &formats {
                    let name = if i == 0 {
                        format!("{stem}.{}", format.extension())
                    } else {
                        format!("{stem}-{}.{}", i + 1, format.extension())
                    };
                    let path = folder.join(name);
                    crate::export::write(format, report, rows.iter().cloned(), &path)
                        .map_err(|e| e.to_string())?;
                    files.push((path, format));
                }
            }
            Ok::<_, String>(files)
        })
        .await
        .map_err(|e| format!("writing the files: {e}"))??;
        let body = body(job, &self.time_zone_name, &files);
        self.smtp
            .send(job, &body, &files)
            .await
            .map_err(|e| e.to_string())
    }
}

/// A private temporary folder, removed when dropped.
fn tempfile_dir() -> std::io::Result<TempDir> {
    let path = std::env::temp_dir().join(format!(
        "atende-mail-{}-{}",
        std::process::id(),
        rand::random::<u64>()
    ));
    std::fs::create_dir(&path)?;
    Ok(TempDir(path))
}

struct TempDir(PathBuf);

impl TempDir {
    fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `relatorio-diario-2026-12-06`, `relatorio-mensal-2026-11`.
fn file_stem(job: Job) -> String {
    match job {
        Job::Daily(d) => format!("relatorio-diario-{d}"),
        Job::Monthly(d) => format!("relatorio-mensal-{:04}-{:02}", d.year(), d.month()),
    }
}

fn body(job: Job, time_zone: &str, files: &[(PathBuf, Format)]) -> String {
    let (first, last) = job.period();
    let period = if first == last {
        crate::export::format_date(first)
    } else {
        format!(
            "{} a {}",
            crate::export::format_date(first),
            crate::export::format_date(last)
        )
    };
    let names: Vec<String> = files
        .iter()
        .filter_map(|(p, _)| p.file_name().map(|n| format!("- {}", n.to_string_lossy())))
        .collect();
    format!(
        "{}.\n\nPeríodo: {period} (fuso horário {time_zone}).\nArquivos anexos:\n{}\n\nMensagem automática do atende.\n",
        job.subject(),
        names.join("\n")
    )
}
