//! The live projector's memory: one compact fold per open call (`CallFold`: the fact's
//! fields and a few open clocks, never the entries) and the sums of the intervals being
//! touched, so a pass projects the bus's entries without reading the call log back and
//! writes what changed — facts, agents' parts, interval rows, the watermark — in one
//! transaction.
//!
//! Limits: a call the pass has not seen open (a restart, a late registration hours after
//! the call, an after-call work change once the call left memory) is read back from the
//! store once — its stored fact and its log, merged with the bus's entries. The event
//! writer is flushed only when that merged log has a hole (an entry still queued in the
//! writer); otherwise nothing waits for it. An ended call leaves memory at once, or once
//! its recording's last entry came (at most `GRACE_MS`). An interval whose maximum cannot be undone (`SlotStats::replace`)
//! is recomputed from its facts, the way the rebuild does. `catch_up`/`rebuild` write
//! the same tables from the logs: the live state must be dropped (`clear`) after them.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{Hash, Hasher};

use tracing::warn;

use super::StoreError;
use super::event::CallEvent;
use super::event_log::EventLogHandle;
use super::reports::ALL_QUEUES;
use super::reports_pass::FactWrite;
use super::reports_projector::{Projector, WM_CALLS};
use crate::reports::{CallFact, CallFold, LogEntry, SlotKey, SlotStats};

/// How long an ended call's fold stays at most for its recording's last entry (which
/// comes once the writer closed the file, usually well within a second).
const GRACE_MS: i64 = 10_000;
/// Intervals whose sums stay in memory (the most recently touched).
const SLOTS_KEPT: usize = 8;

/// What one pass (or a run of passes) cost, counted: the figures the performance notes
/// quote (statements and rows per call do not depend on the machine's load).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PassCounts {
    /// SQL statements executed (reads and writes, `BEGIN`/`COMMIT` not counted).
    pub statements: u64,
    /// Rows inserted, updated or deleted.
    pub rows_written: u64,
    /// Call logs read back from the store.
    pub logs_read: u64,
    /// Times the pass waited for the event writer.
    pub flushes: u64,
    /// Facts written.
    pub facts_written: u64,
}

/// What the stored projection holds for one call.
#[derive(Debug, Clone)]
struct Counted {
    slot: i64,
    queue: Option<String>,
    stats: SlotStats,
    fact_hash: u64,
    agents_hash: u64,
}

#[derive(Debug)]
struct Open {
    fold: CallFold,
    acw_ms: i64,
    stored: Option<Counted>,
    /// Entries that came before one they follow (two tasks log for a call).
    ahead: Vec<LogEntry>,
    /// When (pass time) the call was seen ended.
    ended_at_ms: Option<i64>,
}

/// One interval's rows: their sums and how many facts each row counts.
#[derive(Debug, Default)]
struct Sums {
    rows: BTreeMap<String, (u64, SlotStats)>,
    touched: u64,
}

/// The live projector's state (see the module's doc).
#[derive(Debug)]
pub struct Live {
    p: Projector,
    open: HashMap<String, Open>,
    slots: HashMap<i64, Sums>,
    passes: u64,
    /// Until the first pass after a (re)start is done, a call's first entry on the bus
    /// may already be projected by the catch-up: look the call up in the store.
    warm: bool,
    pub counts: PassCounts,
}

fn hash_of<T: Hash + ?Sized>(v: &T) -> u64 {
    let mut h = DefaultHasher::new();
    v.hash(&mut h);
    h.finish()
}

fn agents_hash(f: &CallFact) -> u64 {
    let mut h = DefaultHasher::new();
    for a in &f.agents {
        (&a.agent, a.answered_ms, a.talk_ms).hash(&mut h);
    }
    h.finish()
}

impl Live {
    pub fn new(p: Projector) -> Live {
        Live {
            p,
            open: HashMap::new(),
            slots: HashMap::new(),
            passes: 0,
            warm: false,
            counts: PassCounts::default(),
        }
    }

    /// Forgets everything held: after a catch-up or rebuild wrote the tables directly.
    pub fn clear(&mut self) {
        self.open.clear();
        self.slots.clear();
        self.warm = false;
    }

    /// Calls held in memory (open, or ended within the grace).
    pub fn calls_held(&self) -> usize {
        self.open.len()
    }

    /// Whether a call is held in memory.
    pub fn holds(&self, protocol: &str) -> bool {
        self.open.contains_key(protocol)
    }

    /// Bytes held for the calls in memory, estimated from what they own (the fold's
    /// strings and agents, the counted contribution), for the performance notes.
    pub fn bytes_held(&self) -> usize {
        self.open
            .iter()
            .map(|(k, o)| {
                let f = o.fold.fact(0);
                std::mem::size_of::<Open>()
                    + k.capacity()
                    + f.protocol.capacity()
                    + f.a_number.capacity()
                    + f.service.capacity()
                    + f.queue.as_ref().map_or(0, String::capacity)
                    + f.recording.as_ref().map_or(0, String::capacity)
                    + f.hangup_by.as_ref().map_or(0, String::capacity)
                    + f.hangup_cause.as_ref().map_or(0, String::capacity)
                    + f.agents.capacity() * std::mem::size_of::<crate::reports::fact::AgentPart>()
                    + f.agents.iter().map(|a| a.agent.capacity()).sum::<usize>()
                    + o.stored.as_ref().map_or(0, |c| {
                        std::mem::size_of::<Counted>()
                            + c.queue.as_ref().map_or(0, String::capacity)
                    })
            })
            .sum()
    }

    /// One pass: the bus's entries (in the order received), the calls whose after-call
    /// work may have changed, the call log's last id at the start of the gathering (the
    /// watermark) and the pass's wall time.
    pub async fn pass(
        &mut self,
        events: Vec<CallEvent>,
        acw_calls: &BTreeSet<String>,
        upto: Option<i64>,
        now_ms: i64,
        log: Option<&EventLogHandle>,
    ) -> Result<(), StoreError> {
        self.passes += 1;
        let mut by_call: BTreeMap<String, Vec<LogEntry>> = BTreeMap::new();
        for ev in events {
            by_call
                .entry(ev.protocol.to_string())
                .or_default()
                .push(LogEntry {
                    seq: ev.seq,
                    at_ms: ev.at_ms,
                    kind: ev.kind,
                });
        }
        for c in acw_calls {
            by_call.entry(c.clone()).or_default();
        }
        let mut writes = Vec::new();
        let mut dirty = BTreeSet::new();
        let mut inexact = BTreeSet::new();
        for (protocol, mut entries) in by_call {
            entries.sort_by_key(|e| e.seq);
            // A call read back has its after-call work read with it.
            let mut acw_changed = acw_calls.contains(&protocol);
            let mut open = match self.open.remove(&protocol) {
                Some(mut o) => {
                    feed(&mut o, entries);
                    o
                }
                None if entries.is_empty() => {
                    // Only the agent log named it: read the call back only if its
                    // after-call work really changed.
                    self.counts.statements += 2;
                    let store = self.p.store();
                    let acw = store.after_call_ms(&protocol).await?;
                    if let Some((_, f)) = store.stored_fact(&protocol).await?
                        && f.acw_ms == acw.max(0)
                    {
                        continue;
                    }
                    acw_changed = false;
                    self.load(&protocol, entries, log).await?
                }
                None => {
                    let fresh = self.warm && entries.first().is_some_and(|e| e.seq == 0);
                    if fresh {
                        let mut o = Open {
                            fold: CallFold::new(&protocol),
                            acw_ms: 0,
                            stored: None,
                            ahead: Vec::new(),
                            ended_at_ms: None,
                        };
                        feed(&mut o, entries);
                        o
                    } else {
                        acw_changed = false;
                        self.load(&protocol, entries, log).await?
                    }
                }
            };
            if !open.ahead.is_empty() {
                // A hole the pass could not fill: the entry is in the store or queued
                // for it.
                let ahead = std::mem::take(&mut open.ahead);
                let reloaded = self.load(&protocol, ahead, log).await?;
                open.fold = reloaded.fold;
            }
            if open.fold.next_seq() == 0 {
                // No entry at all (an agent log naming a call the log does not have).
                continue;
            }
            if acw_changed {
                self.counts.statements += 1;
                open.acw_ms = self.p.store().after_call_ms(&protocol).await?;
            }
            let fact = open.fold.fact(open.acw_ms);
            if fact.ended_ms.is_some() && open.ended_at_ms.is_none() {
                open.ended_at_ms = Some(now_ms);
            }
            let json = serde_json::to_string(&fact).unwrap_or_default();
            let slot = self.p.slotter().slot(fact.arrived_ms);
            let counted = Counted {
                slot: slot.start_ms,
                queue: fact.queue.clone(),
                stats: SlotStats::of(&fact, self.p.threshold_ms()),
                fact_hash: hash_of(json.as_str()),
                agents_hash: agents_hash(&fact),
            };
            let old = open.stored.take();
            if let Some(o) = &old
                && o.fact_hash == counted.fact_hash
                && o.slot == counted.slot
            {
                open.stored = old;
                self.open.insert(protocol, open);
                continue;
            }
            for s in old.iter().map(|o| o.slot).chain([counted.slot]) {
                self.ensure_slot(s).await?;
                dirty.insert(s);
            }
            if !self.count(old.as_ref(), Some(&counted)) {
                inexact.extend(old.iter().map(|o| o.slot).chain([counted.slot]));
            }
            writes.push(FactWrite {
                agents: old.as_ref().map(|o| o.agents_hash) != Some(counted.agents_hash),
                fact,
                json,
                slot,
            });
            open.stored = Some(counted);
            self.open.insert(protocol, open);
        }
        let slot_rows: Vec<(SlotKey, Vec<(String, SlotStats)>)> = dirty
            .iter()
            .map(|&s| {
                let rows = self.slots.get(&s).map_or_else(Vec::new, |sums| {
                    sums.rows
                        .iter()
                        .filter(|(_, (n, _))| *n > 0)
                        .map(|(q, (_, st))| (q.clone(), st.clone()))
                        .collect()
                });
                (self.p.slotter().slot(s), rows)
            })
            .collect();
        if !writes.is_empty() || !slot_rows.is_empty() || upto.is_some() {
            let (st, rows) = self
                .p
                .store()
                .write_pass(&writes, &slot_rows, upto.map(|id| (WM_CALLS, id)))
                .await?;
            self.counts.statements += st;
            self.counts.rows_written += rows;
            self.counts.facts_written += writes.len() as u64;
        }
        if !inexact.is_empty() {
            warn!(
                slots = inexact.len(),
                "reports: an interval's maximum went down; recomputing it from its facts"
            );
            self.p.recompute_slots(&inexact).await?;
            for s in inexact {
                self.slots.remove(&s);
            }
        }
        self.warm = true;
        self.evict(now_ms);
        Ok(())
    }

    /// Reads a call the pass has not held: its stored fact and log, with `extra` entries
    /// from the bus; flushes the event writer once if the log has a hole.
    async fn load(
        &mut self,
        protocol: &str,
        extra: Vec<LogEntry>,
        log: Option<&EventLogHandle>,
    ) -> Result<Open, StoreError> {
        let store = self.p.store().clone();
        self.counts.statements += 3;
        let stored = store.stored_fact(protocol).await?;
        let acw_ms = store.after_call_ms(protocol).await?;
        let mut entries = store.call_log(protocol).await?;
        self.counts.logs_read += 1;
        let merged = |mut entries: Vec<LogEntry>, extra: &[LogEntry]| {
            entries.extend(extra.iter().cloned());
            entries.sort_by_key(|e| e.seq);
            entries.dedup_by_key(|e| e.seq);
            entries
        };
        entries = merged(entries, &extra);
        let holed = entries.iter().enumerate().any(|(i, e)| e.seq as usize != i);
        if holed && let Some(log) = log {
            log.flush().await;
            self.counts.flushes += 1;
            self.counts.statements += 1;
            self.counts.logs_read += 1;
            entries = merged(store.call_log(protocol).await?, &extra);
        }
        let mut fold = CallFold::new(protocol);
        for e in &entries {
            fold.apply(e);
        }
        let threshold = self.p.threshold_ms();
        let stored = stored.map(|(slot, f)| Counted {
            slot,
            queue: f.queue.clone(),
            stats: SlotStats::of(&f, threshold),
            fact_hash: hash_of(serde_json::to_string(&f).unwrap_or_default().as_str()),
            agents_hash: agents_hash(&f),
        });
        Ok(Open {
            fold,
            acw_ms,
            stored,
            ahead: Vec::new(),
            ended_at_ms: None,
        })
    }

    /// Loads an interval's sums from its stored rows, unless held.
    async fn ensure_slot(&mut self, start: i64) -> Result<(), StoreError> {
        let passes = self.passes;
        if let Some(s) = self.slots.get_mut(&start) {
            s.touched = passes;
            return Ok(());
        }
        self.counts.statements += 2;
        let rows = self.p.store().slot_sums(start).await?;
        self.slots.insert(
            start,
            Sums {
                rows: rows.into_iter().map(|(q, n, s)| (q, (n, s))).collect(),
                touched: passes,
            },
        );
        Ok(())
    }

    /// Moves a call's contribution from `old` to `new`; false if a maximum is inexact.
    fn count(&mut self, old: Option<&Counted>, new: Option<&Counted>) -> bool {
        // Each affected row with the call's old and new contribution to it.
        type Change<'a> = (Option<&'a SlotStats>, Option<&'a SlotStats>);
        let mut rows: BTreeMap<(i64, String), Change> = BTreeMap::new();
        for c in old.iter() {
            for q in std::iter::once(ALL_QUEUES).chain(c.queue.as_deref()) {
                rows.entry((c.slot, q.to_owned())).or_default().0 = Some(&c.stats);
            }
        }
        for c in new.iter() {
            for q in std::iter::once(ALL_QUEUES).chain(c.queue.as_deref()) {
                rows.entry((c.slot, q.to_owned())).or_default().1 = Some(&c.stats);
            }
        }
        let mut exact = true;
        for ((slot, q), (o, n)) in rows {
            let Some(sums) = self.slots.get_mut(&slot) else {
                continue;
            };
            let row = sums.rows.entry(q).or_default();
            if o.is_some() {
                row.0 = row.0.saturating_sub(1);
            }
            if n.is_some() {
                row.0 += 1;
            }
            exact &= row.1.replace(o, n);
            if row.0 == 0 {
                row.1 = SlotStats::default();
            }
        }
        exact
    }

    fn evict(&mut self, now_ms: i64) {
        // An ended call whose recording is closed has nothing more to come but late
        // registrations and surveys, rare enough to read back.
        self.open.retain(|_, o| {
            o.ended_at_ms
                .is_none_or(|at| o.fold.awaits_recording() && now_ms - at < GRACE_MS)
        });
        if self.slots.len() > SLOTS_KEPT {
            let mut by_age: Vec<(u64, i64)> =
                self.slots.iter().map(|(k, s)| (s.touched, *k)).collect();
            by_age.sort_unstable();
            for (_, k) in by_age.into_iter().take(self.slots.len() - SLOTS_KEPT) {
                self.slots.remove(&k);
            }
        }
    }
}

/// Applies entries in `seq` order: duplicates dropped, early ones held until the missing
/// entry comes.
fn feed(o: &mut Open, entries: Vec<LogEntry>) {
    o.ahead.extend(entries);
    o.ahead.sort_by_key(|e| e.seq);
    let mut rest = Vec::new();
    for e in std::mem::take(&mut o.ahead) {
        if e.seq < o.fold.next_seq() {
            continue;
        }
        if e.seq == o.fold.next_seq() {
            o.fold.apply(&e);
        } else {
            rest.push(e);
        }
    }
    o.ahead = rest;
}

#[cfg(test)]
#[path = "reports_live_tests.rs"]
mod tests;
