//! Sending a raise or a clear: by e-mail to `[mail]`'s recipients and by webhook (HTTP POST
//! of JSON), each on its own queue so a slow SMTP server does not hold a webhook back, and
//! each in order (a clear never overtakes its raise). A failed attempt is retried with a
//! doubling wait; after the last one the notice is given up with an ERROR line and
//! `atende_alarm_notices_failed_total`. The settings are read from the running config at
//! each notice, so a reload applies to the next one. Limits: queued notices live in memory
//! (a restart drops those not yet sent; the alarm's state itself is stored).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::mpsc;
use tracing::{error, info, warn};

use super::rules::Transition;
use crate::floor::Floor;

/// Attempts per notice and channel (the first and the retries).
const ATTEMPTS: u32 = 6;
/// Wait before the first retry; doubles after each.
const FIRST_WAIT: Duration = Duration::from_secs(2);
/// One webhook request's time limit.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// The two queues.
pub(super) struct Notifier {
    mail: mpsc::UnboundedSender<Transition>,
    webhook: mpsc::UnboundedSender<Transition>,
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

impl Notifier {
    pub(super) fn start(floor: Arc<Floor>) -> Notifier {
        let (mail, mail_rx) = mpsc::unbounded_channel();
        let (webhook, webhook_rx) = mpsc::unbounded_channel();
        tokio::spawn(run(floor.clone(), Channel::Mail, mail_rx));
        tokio::spawn(run(floor, Channel::Webhook, webhook_rx));
        Notifier { mail, webhook }
    }

    pub(super) fn send(&self, t: &Transition) {
        // A closed queue means the task ended with the runtime: nothing left to send to.
        let _ = self.mail.send(t.clone());
        let _ = self.webhook.send(t.clone());
    }
}

async fn run(floor: Arc<Floor>, channel: Channel, mut rx: mpsc::UnboundedReceiver<Transition>) {
    // reqwest is built without a TLS provider of its own (as the IVR's client).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .timeout(WEBHOOK_TIMEOUT)
        .build()
        .ok();
    while let Some(t) = rx.recv().await {
        let mut wait = FIRST_WAIT;
        for attempt in 1..=ATTEMPTS {
            let result = match channel {
                Channel::Mail => mail(&floor, &t).await,
                Channel::Webhook => webhook(&floor, client.as_ref(), &t).await,
            };
            match result {
                Ok(false) => break,
                Ok(true) => {
                    info!(
                        alarm = t.alarm.name(),
                        raised = t.raised,
                        channel = channel.name(),
                        "alarm notice sent"
                    );
                    break;
                }
                Err(e) if attempt < ATTEMPTS => {
                    warn!(alarm = t.alarm.name(), channel = channel.name(), attempt, error = %e, "alarm notice failed; retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(300));
                }
                Err(e) => {
                    super::NOTICES_FAILED_TOTAL.fetch_add(1, Ordering::Relaxed);
                    error!(alarm = t.alarm.name(), raised = t.raised, channel = channel.name(), error = %e, "alarm notice given up after the last retry");
                }
            }
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
