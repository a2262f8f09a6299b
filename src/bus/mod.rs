//! The one in-process bus: every change of a call, an agent or a queue is published here
//! once, as a typed `Change` carrying its entity's version, and stamped with a gapless
//! bus-wide sequence number.
//!
//! Subscribers: the event log writer (durable: a call's entries go to the store before
//! they are broadcast, so a lagging live reader can never cost a stored event), the CTI
//! hub, live statistics and metrics (live: a `broadcast` receiver; one that falls behind
//! gets `Lagged` and must take a fresh snapshot instead of slowing the publisher down).
//! Publishing never awaits and never blocks on a reader: a call is never slowed by one.
//!
//! Versions: the owner of an entity numbers its changes (a call's log `seq`, the ACD
//! actor's per-agent and per-queue counters), so a reader that sees a change twice, or
//! one older than its snapshot, can drop it.

use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::broadcast;

use crate::store::event::CallEvent;
use crate::store::event_log::EventLogHandle;

/// How many changes a live subscriber may fall behind before it is told it lagged.
pub const LIVE_CAPACITY: usize = 16_384;

/// An agent's state as the ACD actor sees it after a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentState {
    LoggedOut,
    Available,
    Ringing,
    OnCall,
    WrapUp,
    Paused,
}

/// The whole of an agent after a change (state transfer, not a delta: a reader needs only
/// the last one it saw).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentChange {
    pub agent: String,
    /// Counts this agent's changes from 1 (per run of the server; see `epoch` on `Published`).
    pub version: u64,
    pub state: AgentState,
    /// Pause reason while paused.
    pub reason: Option<String>,
    /// The protocol of the call ringing, in talk or in wrap-up.
    pub call: Option<String>,
    /// Wall time (ms since the Unix epoch) the current state began.
    pub since_ms: i64,
    /// Queues the agent is logged in to.
    pub queues: Vec<String>,
    /// What the agent asked to become when the call or wrap-up ends (`available`,
    /// `paused:<reason>`, `logged_out`).
    pub next_state: Option<String>,
}

/// A queue's live figures after a change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueChange {
    pub queue: String,
    pub version: u64,
    pub open: bool,
    pub waiting: usize,
    /// Wall time (ms) the longest-waiting caller entered the queue.
    pub oldest_since_ms: Option<i64>,
    pub staffed: usize,
    pub available: usize,
    /// Closed by a supervisor on top of its schedule (until one reopens it).
    pub closed_by_hand: bool,
    /// The priority a supervisor gave every caller of the queue.
    pub priority: Option<u8>,
}

/// One change. A call's change is an entry of its event log: its `seq` is its version.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "entity", rename_all = "snake_case")]
pub enum Change {
    Call(CallEvent),
    Agent(AgentChange),
    Queue(QueueChange),
}

/// A change as subscribers receive it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Published {
    /// Gapless from 1 for this run of the server.
    pub seq: u64,
    /// Random per run: versions and `seq` restart with the server, so a reader that kept
    /// numbers from an earlier run knows they no longer compare.
    pub epoch: u64,
    pub change: Change,
}

/// The publishing side, shared by every owner of state.
#[derive(Clone)]
pub struct Bus {
    inner: Arc<Inner>,
}

struct Inner {
    /// Held only for the sequence increment and the broadcast send (no await inside), so
    /// subscribers see `seq` in order.
    seq: Mutex<u64>,
    epoch: u64,
    live: broadcast::Sender<Arc<Published>>,
    /// The durable subscriber: the event log writer.
    events: Option<EventLogHandle>,
}

impl Bus {
    /// A bus whose call changes are stored by `events` (`None` only in tests of readers).
    pub fn new(events: Option<EventLogHandle>) -> Bus {
        let (live, _) = broadcast::channel(LIVE_CAPACITY);
        let epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        Bus {
            inner: Arc::new(Inner {
                seq: Mutex::new(0),
                epoch,
                live,
                events,
            }),
        }
    }

    /// Publishes one change: a call's entry is handed to the event log first.
    pub fn publish(&self, change: Change) {
        if let (Change::Call(ev), Some(events)) = (&change, &self.inner.events) {
            events.record(ev.clone());
        }
        let mut seq = self.inner.seq.lock().unwrap_or_else(|e| e.into_inner());
        *seq += 1;
        let published = Arc::new(Published {
            seq: *seq,
            epoch: self.inner.epoch,
            change,
        });
        // No live subscriber is not an error: the store already has what matters.
        let _ = self.inner.live.send(published);
    }

    /// A live subscription from the next change on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Published>> {
        self.inner.live.subscribe()
    }

    /// The last sequence number published (a snapshot taken now is "as of" it).
    pub fn last_seq(&self) -> u64 {
        *self.inner.seq.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn epoch(&self) -> u64 {
        self.inner.epoch
    }

    /// The event log this bus stores call changes in.
    pub fn event_log(&self) -> Option<&EventLogHandle> {
        self.inner.events.as_ref()
    }
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus")
            .field("epoch", &self.inner.epoch)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(v: u64) -> Change {
        Change::Agent(AgentChange {
            agent: "1001".into(),
            version: v,
            state: AgentState::Available,
            reason: None,
            call: None,
            since_ms: 0,
            queues: vec![],
            next_state: None,
        })
    }

    #[tokio::test]
    async fn subscribers_get_every_change_in_order_with_gapless_seq() {
        let bus = Bus::new(None);
        let mut a = bus.subscribe();
        let mut b = bus.subscribe();
        for v in 1..=3 {
            bus.publish(agent(v));
        }
        for rx in [&mut a, &mut b] {
            for want in 1..=3u64 {
                let p = rx.recv().await.expect("published");
                assert_eq!(p.seq, want);
                assert_eq!(p.change, agent(want));
            }
        }
        assert_eq!(bus.last_seq(), 3);
    }

    #[tokio::test]
    async fn a_reader_that_falls_behind_is_told_so_and_the_publisher_never_waits() {
        let bus = Bus::new(None);
        let mut slow = bus.subscribe();
        for v in 0..(LIVE_CAPACITY as u64 + 10) {
            bus.publish(agent(v));
        }
        assert!(matches!(
            slow.recv().await,
            Err(broadcast::error::RecvError::Lagged(10))
        ));
    }
}
