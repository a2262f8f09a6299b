//! A supervisor's queue overrides across restarts: a queue closed by hand and a priority
//! given stay in force until a supervisor lifts them, whatever restarts or config reloads
//! come between.
//!
//! The ACD actor hands the whole set (read from the engine's queue status) to a saver
//! task whenever a floor command or a reload may have changed it; the task writes it to
//! `queue_overrides` off the actor (the latest set only when changes come faster,
//! retried every second while the database is down). At start the stored set is fed back
//! into the engine; an override of a queue no longer configured is dropped with a warning.

use std::time::Duration;

use tokio::sync::watch;
use tracing::{error, info, warn};

use super::AcdActor;
use crate::acd::{Input, QueueId};
use crate::store::Store;
use crate::store::queue_overrides::QueueOverride;

const RETRY: Duration = Duration::from_secs(1);

/// Starts the saver; the ACD actor sends every new set into the returned sender.
pub fn spawn_saver(store: Store) -> watch::Sender<Vec<QueueOverride>> {
    let (tx, mut rx) = watch::channel(Vec::new());
    tokio::spawn(async move {
        while rx.changed().await.is_ok() {
            loop {
                let set = rx.borrow_and_update().clone();
                let at_ms = jiff::Timestamp::now().as_millisecond();
                match store.put_queue_overrides(&set, at_ms).await {
                    Ok(()) => break,
                    Err(e) => {
                        error!(error = %e, "queue overrides not saved; retrying");
                        tokio::time::sleep(RETRY).await;
                    }
                }
            }
        }
        warn!("queue override saver stopped");
    });
    tx
}

impl AcdActor {
    /// Puts the overrides saved before the restart back in force (no save follows: the
    /// saver starts from this set).
    pub(super) fn restore_overrides(&mut self, saved: Vec<QueueOverride>) {
        for o in &saved {
            let queue = QueueId::new(o.queue.as_str());
            let mut inputs = Vec::new();
            if o.closed_by_hand {
                inputs.push(Input::SetQueueClosed {
                    queue: queue.clone(),
                    closed: true,
                });
            }
            if o.priority.is_some() {
                inputs.push(Input::SetQueuePriority {
                    queue: queue.clone(),
                    priority: o.priority,
                });
            }
            for input in inputs {
                if let Err(e) = self.input(input) {
                    warn!(queue = %o.queue, error = %e, "saved queue override dropped");
                }
            }
            info!(
                queue = %o.queue,
                closed_by_hand = o.closed_by_hand,
                priority = ?o.priority,
                "queue override restored"
            );
        }
        let now = self.overrides();
        if let Some(tx) = &self.override_saver {
            // The set in force now; the saver writes only if it differs from the stored
            // one (a dropped queue), else it waits for the next change.
            let differs = now != saved;
            tx.send_if_modified(|cur| {
                *cur = now;
                differs
            });
        }
    }

    /// Hands the set in force to the saver if it changed.
    pub(super) fn save_overrides(&mut self) {
        let now = self.overrides();
        if let Some(tx) = &self.override_saver {
            tx.send_if_modified(|cur| {
                if *cur == now {
                    return false;
                }
                *cur = now;
                true
            });
        }
    }

    /// The engine's overrides, by queue name (as the store reads them).
    fn overrides(&self) -> Vec<QueueOverride> {
        let mut set: Vec<QueueOverride> = self
            .queue_order
            .iter()
            .filter_map(|q| self.engine.queue_status(q))
            .filter(|s| s.closed_by_hand || s.priority.is_some())
            .map(|s| QueueOverride {
                queue: s.queue.to_string(),
                closed_by_hand: s.closed_by_hand,
                priority: s.priority,
            })
            .collect();
        set.sort_by(|a, b| a.queue.cmp(&b.queue));
        set
    }
}
