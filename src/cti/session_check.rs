//! The check of every connected desktop's login session: one task per hub that, once per
//! heartbeat, asks the backend about all of them together (`Backend::revalidate_many`:
//! on the server, one read of the sessions and their accounts and at most one write of
//! their idle clocks, however many desktops are connected) and tells each connection
//! whose session ended (closed 4004) or whose role or scope changed.
//!
//! Why a batched read and not revocations pushed on the bus: sessions also end outside this
//! process (`atende user disable`/`passwd` is another process writing the same database)
//! and by the clock (idle and absolute expiry, where a desktop's own activity keeps the
//! idle clock going): the database is the one place that knows them all, and one read per
//! heartbeat for the whole hub costs what one desktop's check used to. The earlier design,
//! one check per connection at its own heartbeat, put 1,000 desktops that connected
//! together in step: their reads took every pooled connection, and the call event writer
//! waited behind them.
//!
//! Bound: a session that ends is closed within one heartbeat (plus the read). A check that
//! fails or takes longer than `REVALIDATE_WAIT` changes nothing: a database blip is not a
//! logout, and the next heartbeat checks again. Each period has a random offset of up to a
//! tenth of it, so the hub's read does not fall in step with other periodic work.

use std::sync::Weak;
use std::time::Duration;

use tracing::{debug, warn};

use super::hub::{Control, Hub};

/// How long the whole check may take before it is given up until the next heartbeat.
pub(super) const REVALIDATE_WAIT: Duration = Duration::from_secs(5);

/// Runs until the hub is gone.
pub(super) async fn check(hub: Weak<Hub>) {
    loop {
        let Some(period) = hub.upgrade().map(|h| h.settings.heartbeat) else {
            return;
        };
        tokio::time::sleep(jittered(period)).await;
        let Some(hub) = hub.upgrade() else { return };
        check_once(&hub).await;
    }
}

/// `period` less up to a tenth of it, at random: never later than one heartbeat.
fn jittered(period: Duration) -> Duration {
    let tenth = period / 10;
    period - tenth.mul_f64(rand::random::<f64>())
}

/// One check of every connection's session.
async fn check_once(hub: &Hub) {
    let sessions: Vec<String> = {
        let registry = hub.registry();
        let mut sessions: Vec<String> = registry
            .conns
            .values()
            .map(|e| e.principal.session.clone())
            .collect();
        sessions.sort_unstable();
        sessions.dedup();
        sessions
    };
    if sessions.is_empty() {
        return;
    }
    let asked = sessions.len();
    let verdicts =
        match tokio::time::timeout(REVALIDATE_WAIT, hub.backend.revalidate_many(sessions)).await {
            Ok(Some(v)) => v,
            Ok(None) => return, // the backend said why
            Err(_) => {
                warn!(
                    sessions = asked,
                    "CTI session check timed out; desktops kept until the next heartbeat"
                );
                return;
            }
        };
    let mut registry = hub.registry();
    let (mut ended, mut changed) = (0usize, 0usize);
    for (id, entry) in registry.conns.iter_mut() {
        // A connection resumed meanwhile under another session is checked next time.
        let Some(verdict) = verdicts.get(&entry.principal.session) else {
            continue;
        };
        match verdict {
            Ok(p) if *p == entry.principal => {}
            Ok(p) => {
                // Remembered only once told, so a full control queue is retried next time.
                if entry
                    .control
                    .try_send(Control::Principal(Box::new(p.clone())).into())
                    .is_ok()
                {
                    entry.principal = p.clone();
                    changed += 1;
                }
            }
            Err(e) => {
                if entry
                    .control
                    .try_send(Control::SessionEnded(*e).into())
                    .is_ok()
                {
                    ended += 1;
                } else {
                    debug!(connection = %id, "CTI connection busy; session end retried next heartbeat");
                }
            }
        }
    }
    if ended + changed > 0 {
        debug!(
            sessions = asked,
            ended, changed, "CTI session check: desktops told"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jittered_period_is_never_longer_nor_much_shorter() {
        let period = Duration::from_secs(15);
        for _ in 0..1000 {
            let d = jittered(period);
            assert!(d <= period && d >= period - period / 10, "{d:?}");
        }
    }
}
