//! Sending a raise or a clear: by e-mail to `[mail]`'s recipients and by webhook (HTTP POST
//! of JSON), each on its own queue so a slow SMTP server does not hold a webhook back, and
//! each in order (a clear never overtakes its raise). Each notice is stored
//! (`alarm_notices`) when the alarm changes and marked after each attempt, so a notice not
//! yet sent when the server stops is sent after the restart, once. A failed attempt is
//! retried with a doubling wait; after the last one the notice is given up with an ERROR
//! line and `atende_alarm_notices_failed_total`. The settings are read from the running
//! config at each attempt, so a reload applies to the next one.
//!
//! Each channel's task is the only writer of its rows, and an attempt runs beside it, so a
//! new notice is stored at once even while a slow webhook is tried. A notice that cannot be
//! stored (the database does not answer: the `database_down` raise) is sent from memory
//! all the same, and written as soon as the database answers again, before any later
//! notice of its channel (so ids keep the order), in the state it reached: sent once,
//! never again after a restart. Sent and skipped rows are pruned after
//! `alarm_notices::RETENTION_DAYS`, at start and then daily (`Pruner`).
//!
//! Limits: a notice not yet written when the server stops (the database never answered
//! again before the stop) is lost if it was not sent yet, and leaves no row if it was; a
//! notice sent just before a stop whose mark could not be written is sent again after the
//! restart.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

use super::rules::{AlarmId, Transition};
use crate::floor::Floor;
use crate::store::Store;
use crate::store::alarm_notices::{NewNotice, NoticeState, RETENTION_DAYS, StoredNotice};

/// Attempts per notice and channel (the first and the retries).
const ATTEMPTS: u32 = 6;
/// Wait before the first retry; doubles after each. Also the pace at which notices not yet
/// written (or stored ones not yet read) are tried again while the database is down.
const FIRST_WAIT: Duration = Duration::from_secs(2);
/// The longest wait between two attempts.
const LONGEST_WAIT: Duration = Duration::from_secs(300);
/// One webhook request's time limit.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);
const DAY_MS: i64 = 86_400_000;

/// The two queues.
pub(super) struct Notifier {
    mail: mpsc::UnboundedSender<Incoming>,
    webhook: mpsc::UnboundedSender<Incoming>,
}

/// A new notice for a channel's task; `stored` answers once it is written (or could not be).
struct Incoming {
    t: Transition,
    stored: oneshot::Sender<()>,
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
    /// Its row; `None` while the database did not answer (written when it does).
    id: Option<i64>,
    t: Transition,
    /// Attempts made so far (also before a restart).
    attempts: u32,
    next_attempt_at_ms: i64,
    last_error: Option<String>,
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
            last_error: None,
        })
    }

    fn row(&self, channel: Channel, state: NoticeState) -> NewNotice<'_> {
        NewNotice {
            channel: channel.name(),
            alarm: self.t.alarm.name(),
            raised: self.t.raised,
            at_ms: self.t.at_ms,
            detail: &self.t.detail,
            state,
            attempts: self.attempts,
            last_error: self.last_error.as_deref(),
        }
    }
}

impl Notifier {
    pub(super) fn start(floor: Arc<Floor>, store: Store) -> Notifier {
        let (mail, mail_rx) = mpsc::unbounded_channel();
        let (webhook, webhook_rx) = mpsc::unbounded_channel();
        tokio::spawn(Outbox::new(floor.clone(), store.clone(), Channel::Mail).run(mail_rx));
        tokio::spawn(Outbox::new(floor, store, Channel::Webhook).run(webhook_rx));
        Notifier { mail, webhook }
    }

    /// Hands the notice to each channel and waits until each has stored it (or found the
    /// database down), so it is written before the alarm's state.
    pub(super) async fn send(&self, t: &Transition) {
        for queue in [&self.mail, &self.webhook] {
            let (stored, written) = oneshot::channel();
            let incoming = Incoming {
                t: t.clone(),
                stored,
            };
            // A closed queue means the task ended with the runtime: nothing left to send to.
            if queue.send(incoming).is_ok() {
                let _ = written.await;
            }
        }
    }
}

/// Prunes the finished notices older than `RETENTION_DAYS`: at the first check, then once a
/// day (after a failure, at the next check).
#[derive(Default)]
pub(super) struct Pruner {
    last_ms: Option<i64>,
}

impl Pruner {
    pub(super) async fn run_if_due(&mut self, store: &Store, now_ms: i64) {
        if self.last_ms.is_some_and(|last| now_ms - last < DAY_MS) {
            return;
        }
        match store
            .alarm_notices_prune(now_ms - RETENTION_DAYS * DAY_MS)
            .await
        {
            Ok(deleted) => {
                self.last_ms = Some(now_ms);
                if deleted > 0 {
                    info!(
                        deleted,
                        days = RETENTION_DAYS,
                        "alarm notices sent before the retention pruned"
                    );
                }
            }
            // The database is down (its own alarm says so): tried again at the next check.
            Err(e) => warn!(error = %e, "alarm notices not pruned; tried again at the next check"),
        }
    }
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2)
}

/// The wait after `attempts` failed attempts.
fn backoff(attempts: u32) -> Duration {
    FIRST_WAIT
        .saturating_mul(1 << attempts.saturating_sub(1).min(16))
        .min(LONGEST_WAIT)
}

/// One channel's queue and the notices it could not write yet.
struct Outbox {
    floor: Arc<Floor>,
    store: Store,
    channel: Channel,
    client: Option<reqwest::Client>,
    /// To send, in order: the notices stored before a restart first, then the new ones. The
    /// head is retried until sent or given up.
    queue: VecDeque<Pending>,
    /// Finished (sent, skipped, given up) before they could be written, oldest first.
    /// Together with the queue's notices without an id, these are the unwritten ones; all
    /// of them came before any notice written since, and are written first.
    finished_unwritten: VecDeque<(Pending, NoticeState)>,
    /// When the unwritten notices are tried again.
    write_again_at_ms: i64,
    /// Ids sent or given up here: a stored notice read back after it was queued is not
    /// sent twice.
    done: HashSet<i64>,
    /// The attempt on the queue's head, running beside the queue.
    in_flight: Option<JoinHandle<Result<bool, String>>>,
}

impl Outbox {
    fn new(floor: Arc<Floor>, store: Store, channel: Channel) -> Outbox {
        // reqwest is built without a TLS provider of its own (as the IVR's client).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(WEBHOOK_TIMEOUT)
            .build()
            .ok();
        Outbox {
            floor,
            store,
            channel,
            client,
            queue: VecDeque::new(),
            finished_unwritten: VecDeque::new(),
            write_again_at_ms: 0,
            done: HashSet::new(),
            in_flight: None,
        }
    }

    fn unwritten(&self) -> bool {
        !self.finished_unwritten.is_empty() || self.queue.iter().any(|p| p.id.is_none())
    }

    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Incoming>) {
        let (mut loaded, mut load_warned) = (false, false);
        loop {
            // Not while an attempt runs: the stored notices go to the queue's front.
            if !loaded && self.in_flight.is_none() {
                match self.load().await {
                    Ok(()) => loaded = true,
                    // Said once: the database is down, which its own alarm tells.
                    Err(e) if !load_warned => {
                        load_warned = true;
                        warn!(channel = self.channel.name(), error = %e, "alarm notices of before the restart not read yet; tried again every 2 s")
                    }
                    Err(_) => {}
                }
            }
            if self.unwritten() && self.write_again_at_ms <= now_ms() {
                self.write_unwritten().await;
            }
            let now = now_ms();
            // The head's next attempt (unless one runs), the unwritten notices' next write,
            // and, until the stored notices are read, the next try at reading them.
            let head = match (&self.in_flight, self.queue.front()) {
                (None, Some(p)) => Some(p.next_attempt_at_ms),
                _ => None,
            };
            let wake = [
                head,
                self.unwritten().then_some(self.write_again_at_ms),
                (!loaded).then_some(now + millis(FIRST_WAIT)),
            ]
            .into_iter()
            .flatten()
            .min();
            let sleep = async {
                match wake {
                    Some(at) => {
                        let ms = u64::try_from(at - now).unwrap_or(0);
                        tokio::time::sleep(Duration::from_millis(ms)).await
                    }
                    None => std::future::pending().await,
                }
            };
            let attempt = async {
                match self.in_flight.as_mut() {
                    Some(handle) => handle.await.unwrap_or_else(|e| Err(e.to_string())),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                next = rx.recv() => {
                    let Some(incoming) = next else { return };
                    self.take(incoming).await;
                }
                result = attempt => {
                    self.in_flight = None;
                    self.finish_attempt(result).await;
                }
                () = sleep => {
                    self.start_attempt();
                }
            }
        }
    }

    /// Queues the notices stored before a restart (not yet known here) ahead of the rest.
    async fn load(&mut self) -> Result<(), crate::store::StoreError> {
        let rows = self
            .store
            .alarm_notices_pending(self.channel.name())
            .await?;
        let queued: HashSet<i64> = self.queue.iter().filter_map(|p| p.id).collect();
        let earlier: Vec<Pending> = rows
            .into_iter()
            .filter(|n| !queued.contains(&n.id) && !self.done.contains(&n.id))
            .filter_map(Pending::stored)
            .collect();
        if !earlier.is_empty() {
            info!(
                channel = self.channel.name(),
                count = earlier.len(),
                "alarm notices from before the restart queued"
            );
        }
        for p in earlier.into_iter().rev() {
            self.queue.push_front(p);
        }
        Ok(())
    }

    /// Stores a new notice (after the unwritten ones, or not at all while they cannot be
    /// written: ids keep the order), answers, and queues it.
    async fn take(&mut self, incoming: Incoming) {
        let now = now_ms();
        let mut p = Pending {
            id: None,
            t: incoming.t,
            attempts: 0,
            next_attempt_at_ms: now,
            last_error: None,
        };
        if !self.unwritten() || self.write_unwritten().await {
            let row = p.row(
                self.channel,
                NoticeState::Pending {
                    next_attempt_at_ms: now,
                },
            );
            match self.store.alarm_notice_add(&row, now).await {
                Ok(id) => p.id = Some(id),
                Err(e) => {
                    self.write_again_at_ms = now + millis(FIRST_WAIT);
                    warn!(alarm = p.t.alarm.name(), channel = self.channel.name(), error = %e, "alarm notice not stored; sent from memory and written when the database answers")
                }
            }
        }
        let _ = incoming.stored.send(());
        self.queue.push_back(p);
    }

    /// Writes the unwritten notices, oldest first, each in the state it reached; stops at
    /// the first failure. Whether none is left.
    async fn write_unwritten(&mut self) -> bool {
        let now = now_ms();
        let mut written = 0;
        while let Some((p, state)) = self.finished_unwritten.front() {
            match self
                .store
                .alarm_notice_add(&p.row(self.channel, *state), now)
                .await
            {
                Ok(id) => {
                    self.done.insert(id);
                    self.finished_unwritten.pop_front();
                    written += 1;
                }
                Err(_) => {
                    self.write_again_at_ms = now + millis(FIRST_WAIT);
                    return false;
                }
            }
        }
        for i in 0..self.queue.len() {
            let p = &self.queue[i];
            if p.id.is_some() {
                continue;
            }
            let state = NoticeState::Pending {
                next_attempt_at_ms: p.next_attempt_at_ms,
            };
            match self
                .store
                .alarm_notice_add(&p.row(self.channel, state), now)
                .await
            {
                Ok(id) => {
                    self.queue[i].id = Some(id);
                    written += 1;
                }
                Err(_) => {
                    self.write_again_at_ms = now + millis(FIRST_WAIT);
                    return false;
                }
            }
        }
        if written > 0 {
            info!(
                channel = self.channel.name(),
                written, "alarm notices of a database outage written"
            );
        }
        true
    }

    /// Starts the attempt on the queue's head if it is due.
    fn start_attempt(&mut self) {
        if self.in_flight.is_some() {
            return;
        }
        let Some(p) = self.queue.front() else { return };
        if p.next_attempt_at_ms > now_ms() {
            return;
        }
        let (floor, t) = (self.floor.clone(), p.t.clone());
        self.in_flight = Some(match self.channel {
            Channel::Mail => tokio::spawn(async move { mail(&floor, &t).await }),
            Channel::Webhook => {
                let client = self.client.clone();
                tokio::spawn(async move { webhook(&floor, client.as_ref(), &t).await })
            }
        });
    }

    /// Records the head's attempt: sent, skipped, to retry, or given up.
    async fn finish_attempt(&mut self, result: Result<bool, String>) {
        let channel = self.channel.name();
        let Some(p) = self.queue.front_mut() else {
            return;
        };
        p.attempts += 1;
        let state = match result {
            Ok(sent) => {
                p.last_error = None;
                if sent {
                    info!(
                        alarm = p.t.alarm.name(),
                        raised = p.t.raised,
                        channel,
                        "alarm notice sent"
                    );
                    NoticeState::Sent
                } else {
                    NoticeState::Skipped
                }
            }
            Err(e) if p.attempts < ATTEMPTS => {
                warn!(alarm = p.t.alarm.name(), channel, attempt = p.attempts, error = %e, "alarm notice failed; retrying");
                p.next_attempt_at_ms = now_ms() + millis(backoff(p.attempts));
                p.last_error = Some(e);
                NoticeState::Pending {
                    next_attempt_at_ms: p.next_attempt_at_ms,
                }
            }
            Err(e) => {
                super::NOTICES_FAILED_TOTAL.fetch_add(1, Ordering::Relaxed);
                error!(alarm = p.t.alarm.name(), raised = p.t.raised, channel, error = %e, "alarm notice given up after the last retry");
                p.last_error = Some(e);
                NoticeState::Failed
            }
        };
        if let Some(id) = p.id
            && let Err(e) = self
                .store
                .alarm_notice_set(id, state, p.attempts, p.last_error.as_deref(), now_ms())
                .await
        {
            warn!(alarm = p.t.alarm.name(), channel, error = %e, "alarm notice's state not stored");
        }
        if matches!(state, NoticeState::Pending { .. }) {
            return;
        }
        let Some(p) = self.queue.pop_front() else {
            return;
        };
        match p.id {
            Some(id) => {
                self.done.insert(id);
            }
            // Written, in this state, when the database answers.
            None => self.finished_unwritten.push_back((p, state)),
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

#[cfg(test)]
mod tests;
