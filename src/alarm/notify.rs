//! Sending a raise or a clear: by e-mail to `[mail]`'s recipients and by webhook (HTTP POST
//! of JSON), each on its own queue so a slow SMTP server does not hold a webhook back, and
//! each in order (a clear never overtakes its raise). Each notice is stored
//! (`alarm_notices`) when the alarm changes and marked after each attempt, so a notice not
//! yet sent when the server stops is sent after the restart, once. A failed attempt is
//! retried with a doubling wait; after the last one the notice is given up with an ERROR
//! line and `atende_alarm_notices_failed_total`. The settings are read from the running
//! config at each attempt, so a reload applies to the next one.
//!
//! Limits: a notice of a moment the database did not answer (the `database_down` raise)
//! is kept in memory only and is lost if the server stops before sending it; a notice sent
//! just before a stop whose mark could not be written is sent again after the restart.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::mpsc;
use tracing::{error, info, warn};

use super::rules::{AlarmId, Transition};
use crate::floor::Floor;
use crate::store::Store;
use crate::store::alarm_notices::{NewNotice, NoticeState, StoredNotice};

/// Attempts per notice and channel (the first and the retries).
const ATTEMPTS: u32 = 6;
/// Wait before the first retry; doubles after each.
const FIRST_WAIT: Duration = Duration::from_secs(2);
/// The longest wait between two attempts.
const LONGEST_WAIT: Duration = Duration::from_secs(300);
/// One webhook request's time limit.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// The two queues.
pub(super) struct Notifier {
    store: Store,
    mail: mpsc::UnboundedSender<Pending>,
    webhook: mpsc::UnboundedSender<Pending>,
}

#[derive(Clone, Copy)]
enum Channel {
    Mail,
    Webhook,
}

impl Channel {
    fn name(self) -> &'static str {
        match self {
            Channel::Mail => "mail",
            Channel::Webhook => "webhook",
        }
    }
}

/// A notice waiting for its turn on one channel.
struct Pending {
    /// Its row; `None` when the database did not answer (kept in memory only).
    id: Option<i64>,
    t: Transition,
    /// Attempts made so far (also before a restart).
    attempts: u32,
    next_attempt_at_ms: i64,
}

impl Pending {
    fn stored(n: StoredNotice) -> Option<Pending> {
        let Some(alarm) = AlarmId::from_name(&n.alarm) else {
            warn!(
                alarm = n.alarm,
                id = n.id,
                "alarm notice of an unknown alarm; skipped"
            );
            return None;
        };
        Some(Pending {
            id: Some(n.id),
            t: Transition {
                alarm,
                raised: n.raised,
                at_ms: n.at_ms,
                detail: n.detail,
            },
            attempts: u32::try_from(n.attempts).unwrap_or(0),
            next_attempt_at_ms: n.next_attempt_at_ms,
        })
    }
}

impl Notifier {
    pub(super) fn start(floor: Arc<Floor>, store: Store) -> Notifier {
        let (mail, mail_rx) = mpsc::unbounded_channel();
        let (webhook, webhook_rx) = mpsc::unbounded_channel();
        tokio::spawn(run(floor.clone(), store.clone(), Channel::Mail, mail_rx));
        tokio::spawn(run(floor, store.clone(), Channel::Webhook, webhook_rx));
        Notifier {
            store,
            mail,
            webhook,
        }
    }

    /// Stores the notice for each channel, then queues it.
    pub(super) async fn send(&self, t: &Transition) {
        let now = now_ms();
        for (channel, queue) in [
            (Channel::Mail, &self.mail),
            (Channel::Webhook, &self.webhook),
        ] {
            let notice = NewNotice {
                channel: channel.name(),
                alarm: t.alarm.name(),
                raised: t.raised,
                at_ms: t.at_ms,
                detail: &t.detail,
            };
            let id = match self.store.alarm_notice_add(&notice, now).await {
                Ok(id) => Some(id),
                Err(e) => {
                    warn!(alarm = t.alarm.name(), channel = channel.name(), error = %e, "alarm notice not stored; kept in memory until sent");
                    None
                }
            };
            // A closed queue means the task ended with the runtime: nothing left to send to.
            let _ = queue.send(Pending {
                id,
                t: t.clone(),
                attempts: 0,
                next_attempt_at_ms: now,
            });
        }
    }
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// The wait after `attempts` failed attempts.
fn backoff(attempts: u32) -> Duration {
    FIRST_WAIT
        .saturating_mul(1 << attempts.saturating_sub(1).min(16))
        .min(LONGEST_WAIT)
}

/// One channel's queue: the notices stored before a restart first, then the new ones, in
/// order; the head is retried until sent or given up.
async fn run(
    floor: Arc<Floor>,
    store: Store,
    channel: Channel,
    mut rx: mpsc::UnboundedReceiver<Pending>,
) {
    // reqwest is built without a TLS provider of its own (as the IVR's client).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .timeout(WEBHOOK_TIMEOUT)
        .build()
        .ok();
    let mut queue: VecDeque<Pending> = VecDeque::new();
    // Ids sent or given up here: a stored notice read back after it was queued is not
    // sent twice.
    let mut done: HashSet<i64> = HashSet::new();
    let (mut loaded, mut load_warned) = (false, false);
    loop {
        if !loaded {
            match store.alarm_notices_pending(channel.name()).await {
                Ok(rows) => {
                    loaded = true;
                    let queued: HashSet<i64> = queue.iter().filter_map(|p| p.id).collect();
                    let earlier: Vec<Pending> = rows
                        .into_iter()
                        .filter(|n| !queued.contains(&n.id) && !done.contains(&n.id))
                        .filter_map(Pending::stored)
                        .collect();
                    if !earlier.is_empty() {
                        info!(
                            channel = channel.name(),
                            count = earlier.len(),
                            "alarm notices from before the restart queued"
                        );
                    }
                    for p in earlier.into_iter().rev() {
                        queue.push_front(p);
                    }
                }
                // Said once: the database is down, which its own alarm tells.
                Err(e) if !load_warned => {
                    load_warned = true;
                    warn!(channel = channel.name(), error = %e, "alarm notices of before the restart not read yet; tried again every 2 s")
                }
                Err(_) => {}
            }
        }
        let wait = match queue.front() {
            Some(p) => Some(Duration::from_millis(
                u64::try_from(p.next_attempt_at_ms - now_ms()).unwrap_or(0),
            )),
            // The stored notices are read again once the database answers.
            None if !loaded => Some(FIRST_WAIT),
            None => None,
        };
        let sleep = async {
            match wait {
                Some(w) => tokio::time::sleep(w).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            next = rx.recv() => {
                let Some(p) = next else { return };
                let known = p.id.is_some_and(|id| done.contains(&id) || queue.iter().any(|q| q.id == Some(id)));
                if !known {
                    queue.push_back(p);
                }
                continue;
            }
            () = sleep => {}
        }
        let Some(p) = queue.front_mut() else { continue };
        if p.next_attempt_at_ms > now_ms() {
            continue;
        }
        let result = match channel {
            Channel::Mail => mail(&floor, &p.t).await,
            Channel::Webhook => webhook(&floor, client.as_ref(), &p.t).await,
        };
        p.attempts += 1;
        let (state, error) = match result {
            Ok(sent) => {
                if sent {
                    info!(
                        alarm = p.t.alarm.name(),
                        raised = p.t.raised,
                        channel = channel.name(),
                        "alarm notice sent"
                    );
                }
                (
                    if sent {
                        NoticeState::Sent
                    } else {
                        NoticeState::Skipped
                    },
                    None,
                )
            }
            Err(e) if p.attempts < ATTEMPTS => {
                warn!(alarm = p.t.alarm.name(), channel = channel.name(), attempt = p.attempts, error = %e, "alarm notice failed; retrying");
                p.next_attempt_at_ms = now_ms()
                    + i64::try_from(backoff(p.attempts).as_millis()).unwrap_or(i64::MAX / 2);
                (
                    NoticeState::Pending {
                        next_attempt_at_ms: p.next_attempt_at_ms,
                    },
                    Some(e),
                )
            }
            Err(e) => {
                super::NOTICES_FAILED_TOTAL.fetch_add(1, Ordering::Relaxed);
                error!(alarm = p.t.alarm.name(), raised = p.t.raised, channel = channel.name(), error = %e, "alarm notice given up after the last retry");
                (NoticeState::Failed, Some(e))
            }
        };
        if let Some(id) = p.id
            && let Err(e) = store
                .alarm_notice_set(id, state, p.attempts, error.as_deref(), now_ms())
                .await
        {
            warn!(alarm = p.t.alarm.name(), channel = channel.name(), error = %e, "alarm notice's state not stored");
        }
        if !matches!(state, NoticeState::Pending { .. }) {
            if let Some(id) = p.id {
                done.insert(id);
            }
            queue.pop_front();
        }
    }
}

fn subject(t: &Transition) -> String {
    if t.raised {
        format!("[atende] ALARME: {}", t.alarm.label())
    } else {
        format!("[atende] Normalizado: {}", t.alarm.label())
    }
}

fn when(t: &Transition) -> String {
    jiff::Timestamp::from_millisecond(t.at_ms)
        .map(|ts| ts.to_string())
        .unwrap_or_default()
}

/// `Ok(false)`: this channel is not configured now.
async fn mail(floor: &Floor, t: &Transition) -> Result<bool, String> {
    let config = floor.config();
    let (Some(alarms), Some(mail)) = (&config.alarms, &config.mail) else {
        return Ok(false);
    };
    if !alarms.email {
        return Ok(false);
    }
    let smtp = crate::mail::Smtp::new(mail).map_err(|e| e.to_string())?;
    let state = if t.raised { "levantado" } else { "normalizado" };
    let body = format!(
        "Alarme {state}: {}\nAlarme: {}\nQuando: {}\nDetalhe: {}\n",
        t.alarm.label(),
        t.alarm.name(),
        when(t),
        t.detail
    );
    smtp.send_text(&subject(t), &body)
        .await
        .map_err(|e| e.to_string())?;
    Ok(true)
}

async fn webhook(
    floor: &Floor,
    client: Option<&reqwest::Client>,
    t: &Transition,
) -> Result<bool, String> {
    let config = floor.config();
    let Some(url) = config.alarms.as_ref().and_then(|a| a.webhook_url.clone()) else {
        return Ok(false);
    };
    let client = client.ok_or("no HTTP client (TLS provider failed to start)")?;
    let body = serde_json::json!({
        "alarm": t.alarm.name(),
        "label": t.alarm.label(),
        "state": if t.raised { "raised" } else { "cleared" },
        "at": when(t),
        "at_ms": t.at_ms,
        "detail": t.detail,
    });
    let response = client
        .post(&url)
        .json(&body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("the webhook answered {}", response.status()));
    }
    Ok(true)
}
