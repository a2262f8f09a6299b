//! Agents' state changes in SQL (`agent_events`): every login, ring, call, wrap-up,
//! pause (with its reason) and logout, with the time spent in the state left. Agent
//! production reports and the time-in-state figures are computed from it. A change a
//! supervisor forced carries who forced it and why (`forced_by`, `forced_why`).
//!
//! One writer task takes entries from a bounded channel and inserts them in batches (one
//! transaction each). While the database is down it keeps what it could not write, up to
//! `MAX_PENDING`, and retries every second; beyond that the oldest entries are dropped
//! with an error line and counted (`lost`), never silently. Rates are a few entries per
//! call, far below the call event log's, so no spill journal here. Like the event writer,
//! it has a database connection of its own (`Store::own_pool`): a burst of report or
//! figure reads on the shared pool cannot hold back an agent's state change.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tracing::{error, warn};

use super::{Store, StoreError};

/// Entries kept in memory while the database is unreachable.
const MAX_PENDING: usize = 100_000;
/// Entries per transaction.
const BATCH: usize = 500;
const RETRY: Duration = Duration::from_secs(1);

/// One state change, as stored and as the API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct AgentEvent {
    pub agent: String,
    pub at_ms: i64,
    /// `logged_out`, `available`, `ringing`, `on_call`, `wrap_up` or `paused`.
    pub from_state: String,
    pub to_state: String,
    /// The pause reason of a `paused` state.
    pub reason: Option<String>,
    /// The call (protocol) of a `ringing` or `on_call` state.
    pub call: Option<String>,
    pub in_previous_ms: i64,
    /// The user who forced this change (control of the floor); `None` when the agent or
    /// the system changed state.
    pub forced_by: Option<String>,
    /// The why that user gave.
    pub forced_why: Option<String>,
}

impl AgentEvent {
    /// How the agent's history and the production report name a forced change, in
    /// Brazilian Portuguese ("pausa forçada por sup: reunião"); `None` when not forced.
    pub fn forced_label(&self) -> Option<String> {
        Some(forced_label(
            &self.to_state,
            self.reason.as_deref(),
            self.forced_by.as_deref()?,
            self.forced_why.as_deref().unwrap_or(""),
        ))
    }
}

/// "pausa forçada por sup: reunião", "disponível forçado por …", "logout forçado por …".
pub fn forced_label(to_state: &str, reason: Option<&str>, by: &str, why: &str) -> String {
    let what = match (to_state, reason) {
        ("paused", Some(r)) => format!("pausa ({r}) forçada"),
        ("paused", None) => "pausa forçada".to_owned(),
        ("available", _) => "disponível forçado".to_owned(),
        ("logged_out", _) => "logout forçado".to_owned(),
        (other, _) => format!("{other} forçado"),
    };
    format!("{what} por {by}: {why}")
}

/// A forced change as the production report lists it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ForcedChange {
    pub agent: String,
    pub at_ms: i64,
    pub to_state: String,
    pub reason: Option<String>,
    pub forced_by: String,
    pub forced_why: Option<String>,
}

impl ForcedChange {
    pub fn label(&self) -> String {
        forced_label(
            &self.to_state,
            self.reason.as_deref(),
            &self.forced_by,
            self.forced_why.as_deref().unwrap_or(""),
        )
    }
}

impl Store {
    pub async fn write_agent_events(&self, events: &[AgentEvent]) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for e in events {
                sqlx::query(
                    "INSERT INTO agent_events (agent, at_ms, from_state, to_state, reason, call, \
                     in_previous_ms, forced_by, forced_why) VALUES ($1, $2, $3, $4, $5, $6, $7, \
                     $8, $9)",
                )
                .bind(&e.agent)
                .bind(e.at_ms)
                .bind(&e.from_state)
                .bind(&e.to_state)
                .bind(&e.reason)
                .bind(&e.call)
                .bind(e.in_previous_ms)
                .bind(&e.forced_by)
                .bind(&e.forced_why)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Each agent's last logged state (state name and pause reason), for agents that have
    /// one: what the ACD restores at start-up. One indexed lookup per agent.
    pub async fn last_agent_states(
        &self,
        agents: &[&str],
    ) -> Result<Vec<(String, String, Option<String>)>, StoreError> {
        let mut out = Vec::new();
        for agent in agents {
            let row: Option<(String, Option<String>)> = on_pool!(self, pool => {
                sqlx::query_as(
                    "SELECT to_state, reason FROM agent_events WHERE agent = $1 \
                     ORDER BY at_ms DESC, id DESC LIMIT 1",
                )
                .bind(agent)
                .fetch_optional(pool)
                .await?
            });
            if let Some((state, reason)) = row {
                out.push(((*agent).to_owned(), state, reason));
            }
        }
        Ok(out)
    }

    /// State changes in `[from_ms, to_ms)`, of one agent or all, oldest first.
    pub async fn agent_events(
        &self,
        agent: Option<&str>,
        from_ms: i64,
        to_ms: i64,
        limit: i64,
    ) -> Result<Vec<AgentEvent>, StoreError> {
        let rows = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT agent, at_ms, from_state, to_state, reason, call, in_previous_ms, \
                 forced_by, forced_why FROM agent_events WHERE ($1 IS NULL OR agent = $1) AND at_ms >= $2 \
                 AND at_ms < $3 ORDER BY at_ms, id LIMIT $4",
            )
            .bind(agent)
            .bind(from_ms)
            .bind(to_ms)
            .bind(limit.max(0))
            .fetch_all(pool)
            .await?
        });
        Ok(rows)
    }

    /// The forced changes in `[from_ms, to_ms)`, of one agent or all, oldest first (the
    /// partial index `agent_events_forced_at` keeps this off the bulk of the log).
    pub async fn forced_changes(
        &self,
        agent: Option<&str>,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<ForcedChange>, StoreError> {
        let rows = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT agent, at_ms, to_state, reason, forced_by, forced_why FROM agent_events \
                 WHERE forced_by IS NOT NULL AND at_ms >= $1 AND at_ms < $2 \
                 AND ($3 IS NULL OR agent = $3) ORDER BY at_ms, id",
            )
            .bind(from_ms)
            .bind(to_ms)
            .bind(agent)
            .fetch_all(pool)
            .await?
        });
        Ok(rows)
    }
}

/// The ACD's side of the agent log. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AgentLog {
    tx: mpsc::Sender<Msg>,
    lost: Arc<AtomicU64>,
}

#[derive(Debug)]
enum Msg {
    Event(AgentEvent),
    /// Answered once everything queued before it is written.
    Flush(oneshot::Sender<()>),
}

impl AgentLog {
    pub fn spawn(store: Store) -> AgentLog {
        let (tx, rx) = mpsc::channel(4096);
        let lost = Arc::new(AtomicU64::new(0));
        // One connection: the writer runs one transaction at a time.
        tokio::spawn(write_loop(store.own_pool(1), rx, lost.clone()));
        AgentLog { tx, lost }
    }

    /// Queues an entry; never blocks the ACD. A full queue loses the entry, loudly.
    pub fn record(&self, event: AgentEvent) {
        if self.tx.try_send(Msg::Event(event)).is_err() {
            self.lost.fetch_add(1, Ordering::Relaxed);
            error!("agent log queue full: a state change was not stored");
        }
    }

    /// Waits until every entry recorded before it is written (a clean stop); while the
    /// database is down this waits too, so callers bound it.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Msg::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// Entries that could not be kept (queue or retry buffer full).
    pub fn lost(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }
}

async fn write_loop(store: Store, mut rx: mpsc::Receiver<Msg>, lost: Arc<AtomicU64>) {
    let mut pending: VecDeque<AgentEvent> = VecDeque::new();
    let mut waiters: Vec<oneshot::Sender<()>> = Vec::new();
    let mut failing = false;
    fn take(m: Msg, pending: &mut VecDeque<AgentEvent>, waiters: &mut Vec<oneshot::Sender<()>>) {
        match m {
            Msg::Event(e) => pending.push_back(e),
            Msg::Flush(w) => waiters.push(w),
        }
    }
    loop {
        if pending.is_empty() {
            // Everything received is written: answer the flushes waiting for it.
            for w in waiters.drain(..) {
                let _ = w.send(());
            }
            match rx.recv().await {
                Some(m) => take(m, &mut pending, &mut waiters),
                None => return,
            }
        }
        while let Ok(m) = rx.try_recv() {
            take(m, &mut pending, &mut waiters);
        }
        if pending.is_empty() {
            continue;
        }
        if pending.len() > MAX_PENDING {
            let over = pending.len() - MAX_PENDING;
            pending.drain(..over);
            lost.fetch_add(over as u64, Ordering::Relaxed);
            error!(
                dropped = over,
                "agent log: database down too long, oldest state changes dropped"
            );
        }
        let n = pending.len().min(BATCH);
        let batch: Vec<AgentEvent> = pending.iter().take(n).cloned().collect();
        match store.write_agent_events(&batch).await {
            Ok(()) => {
                pending.drain(..n);
                if std::mem::take(&mut failing) {
                    warn!("agent log: database back, pending state changes written");
                }
            }
            Err(e) => {
                if !failing {
                    error!(error = %e, pending = pending.len(), "agent log: cannot write; retrying");
                    failing = true;
                }
                tokio::time::sleep(RETRY).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::{TestDb, both_backends};

    fn ev(agent: &str, at_ms: i64, to: &str, reason: Option<&str>) -> AgentEvent {
        AgentEvent {
            agent: agent.into(),
            at_ms,
            from_state: "available".into(),
            to_state: to.into(),
            reason: reason.map(Into::into),
            call: None,
            in_previous_ms: 1000,
            forced_by: None,
            forced_why: None,
        }
    }

    both_backends!(state_changes_are_stored_and_read_per_agent, round_trip);
    async fn round_trip(db: TestDb) {
        let log = AgentLog::spawn(db.store.clone());
        log.record(ev("1001", 10, "paused", Some("lunch")));
        log.record(ev("1002", 20, "on_call", None));
        log.record(ev("1001", 30, "available", None));
        log.flush().await;
        let got = db
            .store
            .agent_events(None, 0, i64::MAX, 100)
            .await
            .expect("query");
        assert_eq!(got.len(), 3, "flush waits for every entry before it");
        let last = db
            .store
            .last_agent_states(&["1001", "1002", "1003"])
            .await
            .expect("query");
        assert_eq!(
            last,
            vec![
                ("1001".to_owned(), "available".to_owned(), None),
                ("1002".to_owned(), "on_call".to_owned(), None),
            ]
        );
        let one = db
            .store
            .agent_events(Some("1001"), 0, i64::MAX, 100)
            .await
            .expect("query");
        assert_eq!(
            one,
            vec![
                ev("1001", 10, "paused", Some("lunch")),
                ev("1001", 30, "available", None)
            ]
        );
        let window = db
            .store
            .agent_events(None, 15, 30, 100)
            .await
            .expect("query");
        assert_eq!(window.len(), 1);
        assert_eq!(log.lost(), 0);
    }

    both_backends!(a_forced_change_keeps_who_and_why, forced);
    async fn forced(db: TestDb) {
        let log = AgentLog::spawn(db.store.clone());
        log.record(ev("1001", 10, "available", None));
        log.record(AgentEvent {
            forced_by: Some("sup".into()),
            forced_why: Some("reunião".into()),
            ..ev("1001", 20, "paused", Some("lunch"))
        });
        log.record(ev("1002", 30, "paused", Some("lunch")));
        log.flush().await;
        let all = db
            .store
            .agent_events(None, 0, i64::MAX, 100)
            .await
            .expect("query");
        let labels: Vec<Option<String>> = all.iter().map(AgentEvent::forced_label).collect();
        assert_eq!(
            labels,
            vec![
                None,
                Some("pausa (lunch) forçada por sup: reunião".into()),
                None
            ]
        );
        let forced = db
            .store
            .forced_changes(None, 0, i64::MAX)
            .await
            .expect("query");
        assert_eq!(forced.len(), 1);
        assert_eq!((forced[0].agent.as_str(), forced[0].at_ms), ("1001", 20));
        assert!(
            db.store
                .forced_changes(Some("1002"), 0, i64::MAX)
                .await
                .expect("q")
                .is_empty()
        );
        assert!(
            db.store
                .forced_changes(None, 21, i64::MAX)
                .await
                .expect("q")
                .is_empty()
        );
    }
}
