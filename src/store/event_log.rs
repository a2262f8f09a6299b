//! The event writer: one task that owns every write to the call log, so calls never wait
//! for the database and no call record is lost.
//!
//! ```text
//!  record() ──try_send──▶ channel ──▶ pending (batch / backlog) ──▶ one transaction
//!     │ full                              │ over backlog_max            per batch
//!     ▼                                   ▼
//!  spill journal (JSONL) ◀────────────────┘   replayed once the database accepts writes
//! ```
//!
//! States: *up* — events are written in batches of `batch_max` or every `batch_window`;
//! *down* — a write failed: the batch and later events wait in `pending` (bounded by
//! `backlog_max`, beyond which they go to the journal), `db_available` is false, and the
//! batch is retried with exponential backoff; the first successful write returns to *up*.
//! Each change of state is logged once. `flush` waits until everything recorded before it
//! is committed — or, if the database is still down after one more try, is in the journal
//! (synced), so shutdown never hangs on a dead database and never drops events.
//!
//! The writer has a database connection of its own (`Store::own_pool`), outside the pool
//! every reader shares: a storm of reads (a thousand desktops, a report) can make a page
//! wait, never a call's log.
//!
//! Limits: replaying a large journal holds up new events meanwhile (they queue in the
//! channel, and spill again if it fills); a journal that cannot be written either (disk
//! full) is the one case events are lost, each counted in `lost` and logged with its JSON.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tracing::{error, info, warn};

use super::event::CallEvent;
use super::spill::Spill;
use super::{Store, StoreError};

#[derive(Debug, Clone)]
pub struct EventLogConfig {
    /// The spill journal, in the data directory.
    pub spill_path: PathBuf,
    /// Events per transaction.
    pub batch_max: usize,
    /// How long the first event of a batch may wait for others.
    pub batch_window: Duration,
    /// Events held in memory while the database is down; beyond it they are spilled.
    pub backlog_max: usize,
    /// Events queued between `record` and the writer before `record` spills.
    pub channel_capacity: usize,
    /// First and longest wait between retries while the database is down.
    pub retry_min: Duration,
    pub retry_max: Duration,
}

impl Default for EventLogConfig {
    fn default() -> Self {
        EventLogConfig {
            spill_path: PathBuf::from("data/events-spill.jsonl"),
            batch_max: 500,
            batch_window: Duration::from_millis(20),
            backlog_max: 100_000,
            channel_capacity: 65_536,
            retry_min: Duration::from_millis(100),
            retry_max: Duration::from_secs(5),
        }
    }
}

/// Counters and gauges for `/metrics` and `/healthz`.
#[derive(Debug)]
pub struct Stats {
    events_written: AtomicU64,
    backlog_len: AtomicU64,
    spilled: AtomicU64,
    lost: AtomicU64,
    db_available: AtomicBool,
}

impl Stats {
    /// Events committed to the database (a replayed duplicate counts again).
    pub fn events_written(&self) -> u64 {
        self.events_written.load(Ordering::Relaxed)
    }
    /// Events held in memory waiting for the database.
    pub fn backlog_len(&self) -> u64 {
        self.backlog_len.load(Ordering::Relaxed)
    }
    /// Events written to the spill journal.
    pub fn spilled(&self) -> u64 {
        self.spilled.load(Ordering::Relaxed)
    }
    /// Events that could be neither written nor spilled (each one is logged).
    pub fn lost(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }
    /// False while the database refuses writes (the alarm).
    pub fn db_available(&self) -> bool {
        self.db_available.load(Ordering::Relaxed)
    }
}

enum Msg {
    Event(CallEvent),
    Flush(oneshot::Sender<()>),
    /// `record` spilled: look at the journal once idle.
    Spilled,
}

/// Cheap to clone; every clone feeds the same writer.
#[derive(Clone)]
pub struct EventLogHandle {
    tx: mpsc::Sender<Msg>,
    stats: Arc<Stats>,
    spill: Arc<Spill>,
    health: watch::Receiver<bool>,
}

pub struct EventLog;

impl EventLog {
    /// Starts the writer task (on the current tokio runtime). Whatever an earlier run
    /// left in the spill journal is written first.
    pub async fn spawn(store: Store, cfg: EventLogConfig) -> Result<EventLogHandle, StoreError> {
        let spill = Spill::open(cfg.spill_path.clone()).map_err(|source| StoreError::Spill {
            path: cfg.spill_path.display().to_string(),
            source,
        })?;
        let spill = Arc::new(spill);
        let stats = Arc::new(Stats {
            events_written: AtomicU64::new(0),
            backlog_len: AtomicU64::new(0),
            spilled: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            db_available: AtomicBool::new(true),
        });
        let (tx, rx) = mpsc::channel(cfg.channel_capacity.max(1));
        let (health_tx, health) = watch::channel(true);
        let writer = Writer {
            // One connection: the writer runs one transaction at a time.
            store: store.own_pool(1),
            rx,
            stats: stats.clone(),
            spill: spill.clone(),
            health: health_tx,
            pending: VecDeque::new(),
            batch_due: None,
            retry: None,
            replay: None,
            waiters: Vec::new(),
            cfg,
        };
        tokio::spawn(writer.run());
        Ok(EventLogHandle {
            tx,
            stats,
            spill,
            health,
        })
    }
}

impl EventLogHandle {
    /// Queues an event; never blocks and never drops it (a full queue spills to disk).
    pub fn record(&self, ev: CallEvent) {
        let msg = match self.tx.try_send(Msg::Event(ev)) {
            Ok(()) => return,
            Err(mpsc::error::TrySendError::Full(m) | mpsc::error::TrySendError::Closed(m)) => m,
        };
        if let Msg::Event(ev) = msg {
            spill(&self.spill, &self.stats, std::slice::from_ref(&ev), false);
            // If the writer already went idle it would not look at the journal.
            let _ = self.tx.try_send(Msg::Spilled);
        }
    }

    /// Waits until every event recorded before this call is committed, or — if the
    /// database is down — safely in the spill journal.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Msg::Flush(tx)).await.is_ok() {
            // An error means the writer stopped; it spills what it holds when it does.
            let _ = rx.await;
        }
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Follows `db_available`, for alarms that want to react to changes.
    pub fn db_available_watch(&self) -> watch::Receiver<bool> {
        self.health.clone()
    }
}

/// Appends to the journal, counting; events it cannot take are logged one by one.
fn spill(journal: &Spill, stats: &Stats, events: &[CallEvent], sync: bool) {
    if events.is_empty() {
        return;
    }
    match journal.append(events, sync) {
        Ok(n) => {
            stats.spilled.fetch_add(n, Ordering::Relaxed);
        }
        Err(e) => {
            stats.lost.fetch_add(events.len() as u64, Ordering::Relaxed);
            for ev in events {
                let line = serde_json::to_string(ev).unwrap_or_default();
                error!(path = %journal.path().display(), error = %e, event = %line,
                       "call event LOST: the database and the spill journal both refused it");
            }
        }
    }
}

/// Progress through the replay file.
struct Replay {
    offset: u64,
    at_end: bool,
}

struct Writer {
    store: Store,
    cfg: EventLogConfig,
    rx: mpsc::Receiver<Msg>,
    stats: Arc<Stats>,
    spill: Arc<Spill>,
    health: watch::Sender<bool>,
    /// Received, not yet committed: the current batch, or the backlog while down.
    pending: VecDeque<CallEvent>,
    /// When the current (partial) batch must be written.
    batch_due: Option<Instant>,
    /// While down: when to retry, and the backoff step that led there.
    retry: Option<(Instant, Duration)>,
    /// Set while events read from the replay file are in `pending`.
    replay: Option<Replay>,
    waiters: Vec<oneshot::Sender<()>>,
}

impl Writer {
    async fn run(mut self) {
        self.drain().await;
        loop {
            let wake = self.retry.map(|(at, _)| at).or(self.batch_due);
            let msg = match wake {
                Some(at) => tokio::select! {
                    m = self.rx.recv() => Some(m),
                    () = tokio::time::sleep_until(at) => None,
                },
                None => Some(self.rx.recv().await),
            };
            match msg {
                None => self.drain().await,
                Some(Some(Msg::Event(ev))) => {
                    self.push(ev);
                    if self.retry.is_none() {
                        if self.pending.len() >= self.cfg.batch_max {
                            self.drain().await;
                        } else if self.batch_due.is_none() {
                            self.batch_due = Some(Instant::now() + self.cfg.batch_window);
                        }
                    }
                }
                Some(Some(Msg::Spilled)) => {
                    if self.retry.is_none() && self.pending.is_empty() {
                        self.drain().await;
                    }
                }
                Some(Some(Msg::Flush(done))) => {
                    self.waiters.push(done);
                    self.flush().await;
                }
                Some(None) => {
                    self.flush().await;
                    return;
                }
            }
        }
    }

    fn push(&mut self, ev: CallEvent) {
        if self.pending.len() >= self.cfg.backlog_max {
            spill(&self.spill, &self.stats, std::slice::from_ref(&ev), false);
        } else {
            self.pending.push_back(ev);
        }
        self.gauge();
    }

    fn gauge(&self) {
        self.stats
            .backlog_len
            .store(self.pending.len() as u64, Ordering::Relaxed);
    }

    /// Writes everything pending, then anything waiting in the journal. Stops at the
    /// first failure (the database is down) and leaves the rest pending.
    async fn drain(&mut self) {
        self.batch_due = None;
        let mut rotated = false;
        loop {
            if self.pending.is_empty() && !self.refill(&mut rotated) {
                break;
            }
            if self.pending.is_empty() {
                continue;
            }
            let n = self.pending.len().min(self.cfg.batch_max.max(1));
            let batch = &self.pending.make_contiguous()[..n];
            match self.store.write_batch(batch).await {
                Ok(()) => {
                    self.pending.drain(..n);
                    self.stats
                        .events_written
                        .fetch_add(n as u64, Ordering::Relaxed);
                    self.gauge();
                    self.up();
                }
                Err(e) => {
                    self.down(&e);
                    return;
                }
            }
        }
        // Nothing to write: if we are down, ask the database directly whether it is back.
        if self.retry.is_some() {
            match self.store.ping().await {
                Ok(()) => self.up(),
                Err(e) => {
                    self.down(&e);
                    return;
                }
            }
        }
        for w in self.waiters.drain(..) {
            let _ = w.send(());
        }
    }

    /// With `pending` empty: closes a finished replay and loads the next chunk of the
    /// journal, rotating it at most once per drain so a steady stream of spills cannot
    /// keep the writer from its channel. False when there is nothing more to load.
    fn refill(&mut self, rotated: &mut bool) -> bool {
        if let Some(Replay { at_end: true, .. }) = self.replay {
            if let Err(e) = self.spill.remove_replay() {
                warn!(error = %e, "cannot remove the replayed spill journal; it will be replayed again");
            }
            self.replay = None;
        }
        if self.replay.is_none() {
            let start = self.spill.replay_pending()
                || (!*rotated && {
                    *rotated = true;
                    self.spill.rotate().unwrap_or_else(|e| {
                        warn!(error = %e, "cannot rotate the spill journal for replay");
                        false
                    })
                });
            if !start {
                return false;
            }
            self.replay = Some(Replay {
                offset: 0,
                at_end: false,
            });
        }
        let offset = self.replay.as_ref().map_or(0, |r| r.offset);
        match self.spill.read_replay(offset, self.cfg.backlog_max.max(1)) {
            Ok(chunk) => {
                if offset == 0 {
                    info!(path = %self.spill.path().display(), "replaying spilled call events");
                }
                self.stats
                    .lost
                    .fetch_add(chunk.unreadable, Ordering::Relaxed);
                self.replay = Some(Replay {
                    offset: chunk.next_offset,
                    at_end: chunk.at_end,
                });
                self.pending.extend(chunk.events);
                self.gauge();
                true
            }
            Err(e) => {
                error!(path = %self.spill.path().display(), error = %e,
                       "cannot read the spilled call events; they stay on disk for the next start");
                self.replay = None;
                false
            }
        }
    }

    async fn flush(&mut self) {
        self.drain().await;
        if self.pending.is_empty() {
            return;
        }
        // Still down: the journal is the durable place. The replay file (if any) keeps
        // its place: what was read from it is now also in the journal.
        let held: Vec<CallEvent> = self.pending.drain(..).collect();
        spill(&self.spill, &self.stats, &held, true);
        warn!(
            events = held.len(),
            "database unavailable at flush: events spilled to the journal"
        );
        self.gauge();
        for w in self.waiters.drain(..) {
            let _ = w.send(());
        }
    }

    fn down(&mut self, e: &StoreError) {
        let step = match self.retry {
            None => {
                warn!(error = %e, backlog = self.pending.len(),
                      "database unavailable: holding call events and retrying");
                self.stats.db_available.store(false, Ordering::Relaxed);
                self.health.send_replace(false);
                self.cfg.retry_min
            }
            Some((_, step)) => (step * 2).min(self.cfg.retry_max),
        };
        self.retry = Some((Instant::now() + step, step));
    }

    fn up(&mut self) {
        if self.retry.take().is_some() {
            info!(
                backlog = self.pending.len(),
                "database available again: writing held call events"
            );
            self.stats.db_available.store(true, Ordering::Relaxed);
            self.health.send_replace(true);
        }
    }
}

#[cfg(test)]
mod tests;
