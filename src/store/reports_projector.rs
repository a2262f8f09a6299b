//! The projector: keeps the reports' tables (`store::reports`) in step with the call and
//! agent logs, incrementally, and rebuilds them from the logs on demand — with the same
//! functions, so a rebuild gives exactly the incremental numbers.
//!
//! The live task (`crate::projector`) calls `project_calls` with the protocols the bus
//! names and `tail_agents` when agents change; only the intervals whose calls changed are
//! recomputed. `catch_up` reads the logs after the watermarks (the last ids projected),
//! re-reading a margin of call events before the call watermark because PostgreSQL may
//! commit ids out of order.

use std::collections::{BTreeMap, BTreeSet};

use tracing::{info, warn};

use super::reports::ALL_QUEUES;
use super::{Store, StoreError};
use crate::reports::slot::SLOT_MS;
use crate::reports::{DEFINITIONS_VERSION, Definitions, SlotStats, Slotter, agent_slices, project};

/// Rows read per page when tailing or rebuilding.
const PAGE: i64 = 5000;
/// Call events re-read before the watermark at catch-up (ids committed out of order).
const CATCH_UP_MARGIN: i64 = 1000;
/// Agent log entries read before an interval (its open state and the call of a wrap-up).
const AGENT_LOOKBACK: i64 = 3;
pub(crate) const WM_CALLS: &str = "calls";
const WM_AGENTS: &str = "agents";
/// The `settings` key holding what the stored projection was computed with.
const BASIS_KEY: &str = "reports.projection";

/// The projection's logic over a store: what the live task and the rebuild both run.
#[derive(Debug, Clone)]
pub struct Projector {
    store: Store,
    threshold_ms: i64,
    slotter: Slotter,
    /// What the stored projection depends on: rules version, threshold, zone.
    basis: String,
}

impl Projector {
    pub fn new(store: Store, defs: &Definitions, slotter: Slotter) -> Projector {
        let zone = slotter.time_zone().iana_name().unwrap_or("UTC");
        Projector {
            basis: format!(
                "{DEFINITIONS_VERSION} threshold_ms={} timezone={zone}",
                defs.threshold_ms
            ),
            store,
            threshold_ms: defs.threshold_ms,
            slotter,
        }
    }

    /// The store it writes to.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The reporting zone's interval keys.
    pub fn slotter(&self) -> &Slotter {
        &self.slotter
    }

    /// The "within" limit of waits (ms).
    pub fn threshold_ms(&self) -> i64 {
        self.threshold_ms
    }

    /// The projector a config asks for: its `[reports]` definitions and reporting zone.
    pub fn for_config(store: Store, config: &crate::config::Config) -> Result<Projector, String> {
        let defs = config.reports.in_force(&config.timezone);
        let slotter = Slotter::named(defs.timezone.as_deref().unwrap_or("UTC"))?;
        Ok(Projector::new(store, &defs, slotter))
    }

    /// Re-projects these calls from their stored logs and recomputes the intervals they
    /// were and are in.
    pub async fn project_calls(&self, protocols: &BTreeSet<String>) -> Result<(), StoreError> {
        let mut dirty = BTreeSet::new();
        for p in protocols {
            let log = self.store.call_log(p).await?;
            if log.is_empty() {
                continue;
            }
            let acw = self.store.after_call_ms(p).await?;
            let fact = project(p, &log, acw);
            let slot = self.slotter.slot(fact.arrived_ms);
            if let Some(old) = self.store.fact_slot(p).await? {
                dirty.insert(old);
            }
            dirty.insert(slot.start_ms);
            self.store.put_fact(&fact, &slot).await?;
        }
        self.recompute_slots(&dirty).await
    }

    /// Recomputes intervals from their calls' facts: overall and per queue.
    pub async fn recompute_slots(&self, slots: &BTreeSet<i64>) -> Result<(), StoreError> {
        for &start in slots {
            let facts = self.store.facts_in_slot(start).await?;
            let mut rows: BTreeMap<String, SlotStats> = BTreeMap::new();
            for f in &facts {
                rows.entry(ALL_QUEUES.to_owned())
                    .or_default()
                    .add(f, self.threshold_ms);
                if let Some(q) = &f.queue {
                    rows.entry(q.clone()).or_default().add(f, self.threshold_ms);
                }
            }
            let rows: Vec<(String, SlotStats)> = rows.into_iter().collect();
            if let Some((_, all)) = rows.iter().find(|(q, _)| q == ALL_QUEUES)
                && !all.consistent()
            {
                warn!(
                    slot = start,
                    "reports: an interval breaks the outcome identities"
                );
            }
            self.store
                .put_slot(&self.slotter.slot(start), &rows)
                .await?;
        }
        Ok(())
    }

    /// Recomputes an agent's time from interval `from_ms` on; returns the calls whose
    /// after-call work may have changed.
    async fn project_agent_from(
        &self,
        agent: &str,
        from_ms: i64,
    ) -> Result<BTreeSet<String>, StoreError> {
        let from_slot = from_ms.div_euclid(SLOT_MS) * SLOT_MS;
        let entries = self
            .store
            .agent_entries_from(agent, from_slot, AGENT_LOOKBACK)
            .await?;
        let (slices, after) = agent_slices(&entries, &self.slotter);
        self.store
            .put_agent_time(agent, from_slot, &slices, &after)
            .await?;
        Ok(entries.iter().filter_map(|e| e.call.clone()).collect())
    }

    /// Projects the agent log after its watermark; returns calls to re-project.
    pub async fn tail_agents(&self) -> Result<BTreeSet<String>, StoreError> {
        let mut calls = BTreeSet::new();
        loop {
            let wm = self.store.report_watermark(WM_AGENTS).await?;
            let rows = self.store.agent_events_after(wm, PAGE).await?;
            let Some(&(last, _, _)) = rows.last() else {
                return Ok(calls);
            };
            let mut earliest: BTreeMap<String, i64> = BTreeMap::new();
            for (_, agent, at) in &rows {
                let e = earliest.entry(agent.clone()).or_insert(*at);
                *e = (*e).min(*at);
            }
            for (agent, at) in earliest {
                // The interval of the state that the new entry closed: the one before it.
                let prev = self
                    .store
                    .agent_entries_from(&agent, at, 1)
                    .await?
                    .first()
                    .map(|e| e.at_ms.min(at))
                    .unwrap_or(at);
                calls.extend(self.project_agent_from(&agent, prev).await?);
            }
            self.store.set_report_watermark(WM_AGENTS, last).await?;
        }
    }

    /// Projects every call with an event after the call watermark (less the margin).
    async fn tail_calls(&self, margin: i64) -> Result<(), StoreError> {
        let mut after = (self.store.report_watermark(WM_CALLS).await? - margin).max(0);
        loop {
            let rows = self.store.call_events_after(after, PAGE).await?;
            let Some(&(last, _)) = rows.last() else {
                return Ok(());
            };
            let protocols: BTreeSet<String> = rows.into_iter().map(|(_, p)| p).collect();
            self.project_calls(&protocols).await?;
            self.store.set_report_watermark(WM_CALLS, last).await?;
            after = last;
        }
    }

    /// Rebuilds everything when the stored projection was computed with other
    /// definitions (a new rules version, threshold or reporting zone): stored intervals
    /// must mean what the reports print. Returns whether it rebuilt.
    pub async fn ensure_basis(&self) -> Result<bool, StoreError> {
        let stored = self.store.setting(BASIS_KEY).await?;
        if stored.as_deref() == Some(self.basis.as_str()) {
            return Ok(false);
        }
        let fresh = stored.is_none()
            && self.store.report_watermark(WM_CALLS).await? == 0
            && self.store.report_watermark(WM_AGENTS).await? == 0;
        if fresh {
            self.remember_basis().await?;
            return Ok(false);
        }
        warn!(was = ?stored, now = %self.basis, "reports: definitions changed; rebuilding the projection");
        let s = self.rebuild(None).await?;
        info!(
            calls = s.calls,
            agents = s.agents,
            "reports: projection rebuilt"
        );
        Ok(true)
    }

    async fn remember_basis(&self) -> Result<(), StoreError> {
        let now = jiff::Timestamp::now().as_millisecond();
        self.store
            .set_setting(BASIS_KEY, Some(&self.basis), now)
            .await
    }

    /// Everything the logs hold that the projection has not seen.
    pub async fn catch_up(&self) -> Result<(), StoreError> {
        let calls = self.tail_agents().await?;
        self.project_calls(&calls).await?;
        self.tail_calls(CATCH_UP_MARGIN).await
    }

    /// Drops the projection from local day `from` (`YYYY-MM-DD`; `None` = everything) and
    /// replays the logs. Run it with the server stopped, or accept that the running
    /// projector may write the same rows again (they come out the same).
    pub async fn rebuild(&self, from: Option<&str>) -> Result<RebuildSummary, StoreError> {
        let (from_ms, from_date) = match from {
            Some(d) => match self.slotter.day_start_ms(d) {
                Some(ms) => (ms, d.to_owned()),
                None => {
                    return Err(StoreError::Query(sqlx::Error::Protocol(format!(
                        "not a date: {d:?} (use YYYY-MM-DD)"
                    ))));
                }
            },
            None => (i64::MIN / 2, String::new()),
        };
        // Read the logs' ends first: anything written during the rebuild is after them
        // and the projector (or the next start) takes it from there.
        let calls_end = self.store.max_call_event_id().await?;
        let agents_end = self.store.max_agent_event_id().await?;
        self.store.clear_reports_from(from_ms, &from_date).await?;
        let mut summary = RebuildSummary::default();
        for agent in self.store.logged_agents().await? {
            self.project_agent_from(&agent, from_ms).await?;
            summary.agents += 1;
        }
        let mut after = String::new();
        loop {
            let page = self.store.protocols_from(from_ms, &after, PAGE).await?;
            let Some(last) = page.last().cloned() else {
                break;
            };
            summary.calls += page.len() as u64;
            self.project_calls(&page.into_iter().collect()).await?;
            after = last;
        }
        self.store.set_report_watermark(WM_CALLS, calls_end).await?;
        self.store
            .set_report_watermark(WM_AGENTS, agents_end)
            .await?;
        if from.is_none() {
            self.remember_basis().await?;
        }
        Ok(summary)
    }
}

/// What a rebuild replayed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RebuildSummary {
    pub calls: u64,
    pub agents: u64,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::reports::golden_tests::{day, expected_day, local};
    use crate::store::agent_log::AgentEvent;
    use crate::store::event::CallEvent;
    use crate::store::testing::{TestDb, both_backends};

    /// Everything the projection holds, as comparable text.
    pub(crate) async fn snapshot(store: &Store) -> Vec<String> {
        on_pool!(store, pool => {
            let mut out: Vec<String> = Vec::new();
            for sql in [
                "SELECT protocol || '|' || slot_start_ms || '|' || local_date || '|' || fact FROM call_facts ORDER BY protocol",
                "SELECT slot_start_ms || '|' || queue || '|' || local_date || '|' || slot_index || '|' || stats FROM report_slots ORDER BY slot_start_ms, queue",
                "SELECT agent || '|' || slot_start_ms || '|' || state || '|' || reason || '|' || ms FROM report_agent_time ORDER BY agent, slot_start_ms, state, reason",
                "SELECT agent || '|' || started_ms || '|' || call || '|' || ms FROM report_after_call ORDER BY agent, started_ms",
                "SELECT protocol || '|' || agent || '|' || talk_ms FROM report_call_agents ORDER BY protocol, agent",
            ] {
                let rows: Vec<String> = sqlx::query_scalar(sql).fetch_all(pool).await.expect("snapshot");
                out.extend(rows);
            }
            out
        })
    }

    fn proto(i: usize) -> String {
        format!("20261207-{:06}", i + 1)
    }

    /// The golden day as stored events (valid protocols), A's late registration apart.
    pub(crate) fn stored_day() -> (Vec<CallEvent>, Vec<CallEvent>, String) {
        let mut now = Vec::new();
        let mut late = Vec::new();
        let mut a = String::new();
        for (i, (fx, _)) in day().into_iter().enumerate() {
            let p = proto(i);
            if fx.protocol == "A" {
                a = p.clone();
            }
            for e in fx.log {
                let ev = CallEvent {
                    protocol: p.parse().expect("protocol"),
                    seq: e.seq,
                    at_ms: e.at_ms,
                    kind: e.kind.clone(),
                };
                let is_late = fx.protocol == "A"
                    && matches!(e.kind, crate::events::EventKind::Registered { .. });
                if is_late { late.push(ev) } else { now.push(ev) }
            }
        }
        (now, late, a)
    }

    pub(crate) fn agent_ev(
        at_ms: i64,
        from: &str,
        to: &str,
        reason: Option<&str>,
        call: Option<&str>,
    ) -> AgentEvent {
        AgentEvent {
            agent: "1001".into(),
            at_ms,
            from_state: from.into(),
            to_state: to.into(),
            reason: reason.map(Into::into),
            call: call.map(Into::into),
            in_previous_ms: 0,
            forced_by: None,
            forced_why: None,
        }
    }

    both_backends!(
        incremental_projection_equals_a_rebuild,
        incremental_equals_rebuild
    );
    async fn incremental_equals_rebuild(db: TestDb) {
        let sp = Slotter::named("America/Sao_Paulo").expect("tz");
        let p = Projector::new(db.store.clone(), &Definitions::default(), sp.clone());
        let (now, late, a) = stored_day();
        let t0 = local("09:00:00");
        // Agent 1001: logged in 08:00, A from 39.999 s to its end, 30 s wrap-up, then a
        // 15-minute pause that runs past the 09:30 border.
        db.store
            .write_agent_events(&[
                agent_ev(local("08:00:00"), "logged_out", "available", None, None),
                agent_ev(t0 + 39_999, "available", "on_call", None, Some(&a)),
                agent_ev(t0 + 159_999, "on_call", "wrap_up", None, None),
            ])
            .await
            .expect("agent log");
        db.store.write_batch(&now).await.expect("events");
        p.catch_up().await.expect("first projection");
        // Later: the wrap-up ends (a pause follows), and A is registered after its end.
        db.store
            .write_agent_events(&[
                agent_ev(t0 + 189_999, "wrap_up", "paused", Some("lanche"), None),
                agent_ev(local("09:45:00"), "paused", "logged_out", None, None),
            ])
            .await
            .expect("agent log");
        db.store
            .write_batch(&late)
            .await
            .expect("late registration");
        let mut touched = p.tail_agents().await.expect("agents");
        touched.insert(a.clone());
        p.project_calls(&touched).await.expect("late events");
        let incremental = snapshot(&db.store).await;

        // The hand-computed day, from the stored intervals.
        let rows = db
            .store
            .slot_rows("2026-12-07", "2026-12-07", ALL_QUEUES)
            .await
            .expect("rows");
        let mut total = SlotStats::default();
        for (_, _, _, s) in &rows {
            total.merge(s);
        }
        assert_eq!(total, expected_day());
        let q2 = db
            .store
            .slot_rows("2026-12-07", "2026-12-07", "q2")
            .await
            .expect("rows");
        assert_eq!(
            q2.len(),
            1,
            "the transferred call counts in its last queue only"
        );
        let time = db
            .store
            .agent_time("2026-12-07", "2026-12-07", Some("1001"))
            .await
            .expect("time");
        let paused: i64 = time
            .iter()
            .filter(|r| r.2 == "paused" && r.3 == "lanche")
            .map(|r| r.4)
            .sum();
        assert_eq!(paused, local("09:45:00") - (t0 + 189_999));

        let summary = p.rebuild(None).await.expect("rebuild");
        assert_eq!(summary.calls, 13);
        assert_eq!(
            snapshot(&db.store).await,
            incremental,
            "a full rebuild gives the incremental numbers"
        );
        p.rebuild(Some("2026-12-07"))
            .await
            .expect("rebuild from a day");
        assert_eq!(
            snapshot(&db.store).await,
            incremental,
            "so does a rebuild from a day"
        );
        // Caught up: nothing more to do, nothing changes.
        p.catch_up().await.expect("catch up");
        assert_eq!(snapshot(&db.store).await, incremental);
    }
}
