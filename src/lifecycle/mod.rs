//! The server's life around its calls: the clean stop (drain) and, in `recovery`, the
//! start after a crash.
//!
//! Drain: `start_drain` flips one switch that every call actor watches (`draining`): new
//! INVITEs get 503 with Retry-After, and each call in progress is released by the system
//! with cause `server_shutdown` (BYE to the caller and to a bridged agent, recording
//! sealed). The work a call leaves behind when its actor ends (BYE transactions, the
//! recording's seal and its `recording_finalized` event) runs in tasks counted by `Busy`
//! guards, so `wait_idle` returns once the last of them is done — or the caller's bound
//! runs out, and the count says what was left unfinished.
//!
//! Callback attempts (`sip::callback`) are counted the same way and end with
//! `server_shutdown` too; the dialler starts none once the stop has begun.
//!
//! Limits: only calls and the tasks they spawn through `spawn` are counted; the
//! pending-callback saver is not. A callback in progress is on the list since its
//! request, so it survives; only a save still in flight at exit (a request in the last
//! instant) could be missed.

pub mod recovery;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// The drain switch and the count of calls and call tasks still running. One per server,
/// on the `Exchange`.
#[derive(Debug)]
pub struct Lifecycle {
    draining: CancellationToken,
    busy: watch::Sender<usize>,
    recovered: AtomicU64,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Lifecycle {
            draining: CancellationToken::new(),
            busy: watch::Sender::new(0),
            recovered: AtomicU64::new(0),
        }
    }
}

/// Counts one call or call task while it lives.
#[derive(Debug)]
pub struct Busy(watch::Sender<usize>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

impl Lifecycle {
    /// True once the server is stopping: new calls are refused.
    pub fn is_draining(&self) -> bool {
        self.draining.is_cancelled()
    }

    /// Completes when the stop begins (at once if it already has).
    pub async fn drain_started(&self) {
        self.draining.cancelled().await
    }

    /// Refuse new calls and end every call in progress.
    pub fn start_drain(&self) {
        self.draining.cancel();
    }

    /// A guard counting one call (or call task) until dropped.
    pub fn busy(&self) -> Busy {
        self.busy.send_modify(|n| *n += 1);
        Busy(self.busy.clone())
    }

    /// Runs `fut` as a task the drain waits for.
    pub fn spawn<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let guard = self.busy();
        tokio::spawn(async move {
            fut.await;
            drop(guard);
        });
    }

    /// Calls and call tasks still running.
    pub fn busy_count(&self) -> usize {
        *self.busy.borrow()
    }

    /// Waits until nothing counted is running, at most `bound`; returns what is left.
    pub async fn wait_idle(&self, bound: Duration) -> usize {
        let mut rx = self.busy.subscribe();
        let _ = tokio::time::timeout(bound, rx.wait_for(|n| *n == 0)).await;
        self.busy_count()
    }

    /// Calls closed at start-up that a crash had left unfinished (for /metrics).
    pub fn recovered_calls(&self) -> u64 {
        self.recovered.load(Ordering::Relaxed)
    }

    pub(crate) fn set_recovered_calls(&self, n: u64) {
        self.recovered.store(n, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waits_for_every_task_and_reports_what_is_left() {
        let life = Lifecycle::default();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        life.spawn(async move {
            let _ = rx.await;
        });
        let call = life.busy();
        assert_eq!(life.busy_count(), 2);
        assert_eq!(life.wait_idle(Duration::from_millis(20)).await, 2);
        drop(call);
        let _ = tx.send(());
        assert_eq!(life.wait_idle(Duration::from_secs(5)).await, 0);
        assert!(!life.is_draining());
        life.start_drain();
        life.drain_started().await;
        assert!(life.is_draining());
    }
}
