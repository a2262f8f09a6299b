//! The reports' tables in SQL (migration 0010): call facts, per-interval statistics per
//! queue and overall, agents' parts in calls, agent time slices, after-call work and the
//! projector's watermarks. Written only by the projector (`reports_projector`); read by
//! the report API. Facts and statistics are stored as JSON next to the columns that
//! reports filter, sort and page on; every roll-up is a merge in Rust (`SlotStats`).

use tracing::warn;

use super::{Store, StoreError};
use crate::events::EventKind;
use crate::reports::{AfterCall, AgentEntry, AgentSlice, CallFact, LogEntry, SlotKey, SlotStats};

/// The overall row of `report_slots` (every queue and none).
pub const ALL_QUEUES: &str = "*";

/// Filters of the per-call list; `after` is the key of the last row of the previous page.
#[derive(Debug, Clone, Default)]
pub struct FactFilter {
    pub from_ms: i64,
    pub to_ms: i64,
    pub outcome: Option<String>,
    pub queue: Option<String>,
    pub agent: Option<String>,
    /// Only these queues (a supervisor's scope); `None` = every call.
    pub scope: Option<Vec<String>>,
    pub after: Option<(i64, String)>,
    pub limit: i64,
}

/// A page of call facts as read: the rows whose stored fact parsed, the ones that did not
/// (never dropped silently: the list shows them as unreadable), and the key of the last
/// row read, from which the next page starts whether or not that row parsed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FactPage {
    pub facts: Vec<CallFact>,
    /// `(arrived_ms, protocol)` of the rows whose fact could not be parsed, in list order.
    pub unreadable: Vec<(i64, String)>,
    /// Rows read, parsed or not (a page of fewer than the limit is the last).
    pub read: i64,
    /// The key of the last row read.
    pub last: Option<(i64, String)>,
}

impl FactPage {
    /// The key the next page starts after; `None` when this page was the last (it read
    /// fewer rows than `limit`). Counted on the rows read, not parsed: an unreadable row
    /// must not make a full page look like the end of the list.
    pub fn next(&self, limit: i64) -> Option<(i64, String)> {
        (self.read >= limit).then(|| self.last.clone()).flatten()
    }
}

/// One agent's production on one local day, read from the projection.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct AgentDayRow {
    pub agent: String,
    pub date: String,
    pub calls: u64,
    pub talk_ms: i64,
    pub talk_max_ms: i64,
}

impl Store {
    pub async fn report_watermark(&self, name: &str) -> Result<i64, StoreError> {
        let v: Option<i64> = on_pool!(self, pool => {
            sqlx::query_scalar("SELECT last_id FROM report_watermarks WHERE name = $1")
                .bind(name)
                .fetch_optional(pool)
                .await?
        });
        Ok(v.unwrap_or(0))
    }

    pub async fn set_report_watermark(&self, name: &str, id: i64) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO report_watermarks (name, last_id) VALUES ($1, $2) \
                 ON CONFLICT (name) DO UPDATE SET last_id = excluded.last_id",
            )
            .bind(name)
            .bind(id)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    pub async fn max_call_event_id(&self) -> Result<i64, StoreError> {
        let v: Option<i64> = on_pool!(self, pool => {
            sqlx::query_scalar("SELECT MAX(id) FROM call_events").fetch_one(pool).await?
        });
        Ok(v.unwrap_or(0))
    }

    pub async fn max_agent_event_id(&self) -> Result<i64, StoreError> {
        let v: Option<i64> = on_pool!(self, pool => {
            sqlx::query_scalar("SELECT MAX(id) FROM agent_events").fetch_one(pool).await?
        });
        Ok(v.unwrap_or(0))
    }

    /// `(id, protocol)` of call events after `after_id`, oldest first.
    pub async fn call_events_after(
        &self,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        Ok(on_pool!(self, pool => {
            sqlx::query_as("SELECT id, protocol FROM call_events WHERE id > $1 ORDER BY id LIMIT $2")
                .bind(after_id)
                .bind(limit)
                .fetch_all(pool)
                .await?
        }))
    }

    /// `(id, agent, at_ms)` of agent events after `after_id`, oldest first.
    pub async fn agent_events_after(
        &self,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<(i64, String, i64)>, StoreError> {
        Ok(on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, agent, at_ms FROM agent_events WHERE id > $1 ORDER BY id LIMIT $2",
            )
            .bind(after_id)
            .bind(limit)
            .fetch_all(pool)
            .await?
        }))
    }

    /// Protocols of calls that arrived at or after `from_ms`, after `after` (paging).
    pub async fn protocols_from(
        &self,
        from_ms: i64,
        after: &str,
        limit: i64,
    ) -> Result<Vec<String>, StoreError> {
        Ok(on_pool!(self, pool => {
            sqlx::query_scalar(
                "SELECT protocol FROM calls WHERE (started_at_ms >= $1 OR started_at_ms IS NULL) \
                 AND protocol > $2 ORDER BY protocol LIMIT $3",
            )
            .bind(from_ms)
            .bind(after)
            .bind(limit)
            .fetch_all(pool)
            .await?
        }))
    }

    /// Every agent with a stored state change.
    pub async fn logged_agents(&self) -> Result<Vec<String>, StoreError> {
        Ok(on_pool!(self, pool => {
            sqlx::query_scalar("SELECT DISTINCT agent FROM agent_events ORDER BY agent")
                .fetch_all(pool)
                .await?
        }))
    }

    /// One call's whole log; an entry whose detail cannot be read is skipped, loudly.
    pub async fn call_log(&self, protocol: &str) -> Result<Vec<LogEntry>, StoreError> {
        let rows: Vec<(i64, i64, String)> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT seq, at_ms, detail FROM call_events WHERE protocol = $1 ORDER BY seq",
            )
            .bind(protocol)
            .fetch_all(pool)
            .await?
        });
        let mut out = Vec::with_capacity(rows.len());
        for (seq, at_ms, detail) in rows {
            match serde_json::from_str::<EventKind>(&detail) {
                Ok(kind) => out.push(LogEntry {
                    seq: u32::try_from(seq).unwrap_or(u32::MAX),
                    at_ms,
                    kind,
                }),
                Err(e) => warn!(%protocol, seq, error = %e, "reports: unreadable event skipped"),
            }
        }
        Ok(out)
    }

    /// The after-call work recorded for a call (every agent).
    pub async fn after_call_ms(&self, call: &str) -> Result<i64, StoreError> {
        let v: Option<i64> = on_pool!(self, pool => {
            sqlx::query_scalar("SELECT CAST(SUM(ms) AS BIGINT) FROM report_after_call WHERE call = $1")
                .bind(call)
                .fetch_one(pool)
                .await?
        });
        Ok(v.unwrap_or(0))
    }

    /// The interval a call's stored fact is in, if it has one.
    pub async fn fact_slot(&self, protocol: &str) -> Result<Option<i64>, StoreError> {
        Ok(on_pool!(self, pool => {
            sqlx::query_scalar("SELECT slot_start_ms FROM call_facts WHERE protocol = $1")
                .bind(protocol)
                .fetch_optional(pool)
                .await?
        }))
    }

    /// Writes (or replaces) a call's fact and its agents' parts.
    pub async fn put_fact(&self, fact: &CallFact, slot: &SlotKey) -> Result<(), StoreError> {
        let json = serde_json::to_string(fact).unwrap_or_default();
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO call_facts (protocol, arrived_ms, slot_start_ms, local_date, queue, \
                 outcome, first_agent, fact) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (protocol) DO UPDATE SET arrived_ms = excluded.arrived_ms, \
                 slot_start_ms = excluded.slot_start_ms, local_date = excluded.local_date, \
                 queue = excluded.queue, outcome = excluded.outcome, \
                 first_agent = excluded.first_agent, fact = excluded.fact",
            )
            .bind(&fact.protocol)
            .bind(fact.arrived_ms)
            .bind(slot.start_ms)
            .bind(&slot.date)
            .bind(&fact.queue)
            .bind(fact.outcome.as_str())
            .bind(fact.first_agent())
            .bind(&json)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM report_call_agents WHERE protocol = $1")
                .bind(&fact.protocol)
                .execute(&mut *tx)
                .await?;
            for a in &fact.agents {
                sqlx::query(
                    "INSERT INTO report_call_agents (protocol, agent, local_date, answered_ms, \
                     talk_ms) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&fact.protocol)
                .bind(&a.agent)
                .bind(&slot.date)
                .bind(a.answered_ms)
                .bind(a.talk_ms)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// The facts of the calls that arrived in one interval.
    pub async fn facts_in_slot(&self, slot_start_ms: i64) -> Result<Vec<CallFact>, StoreError> {
        let rows: Vec<String> = on_pool!(self, pool => {
            sqlx::query_scalar("SELECT fact FROM call_facts WHERE slot_start_ms = $1")
                .bind(slot_start_ms)
                .fetch_all(pool)
                .await?
        });
        Ok(parse_facts(rows))
    }

    /// Replaces one interval's rows (overall and per queue).
    pub async fn put_slot(
        &self,
        slot: &SlotKey,
        rows: &[(String, SlotStats)],
    ) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM report_slots WHERE slot_start_ms = $1")
                .bind(slot.start_ms)
                .execute(&mut *tx)
                .await?;
            for (queue, stats) in rows {
                sqlx::query(
                    "INSERT INTO report_slots (slot_start_ms, queue, local_date, slot_index, stats) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(slot.start_ms)
                .bind(queue)
                .bind(&slot.date)
                .bind(i64::from(slot.index))
                .bind(serde_json::to_string(stats).unwrap_or_default())
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// An agent's log from `from_ms` on, with the `before` entries just before it (the
    /// state that was open at `from_ms` and the call its wrap-up belongs to).
    pub async fn agent_entries_from(
        &self,
        agent: &str,
        from_ms: i64,
        before: i64,
    ) -> Result<Vec<AgentEntry>, StoreError> {
        type Row = (i64, String, Option<String>, Option<String>);
        let mut earlier: Vec<Row> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT at_ms, to_state, reason, call FROM agent_events WHERE agent = $1 \
                 AND at_ms < $2 ORDER BY at_ms DESC, id DESC LIMIT $3",
            )
            .bind(agent)
            .bind(from_ms)
            .bind(before)
            .fetch_all(pool)
            .await?
        });
        earlier.reverse();
        let later: Vec<Row> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT at_ms, to_state, reason, call FROM agent_events WHERE agent = $1 \
                 AND at_ms >= $2 ORDER BY at_ms, id",
            )
            .bind(agent)
            .bind(from_ms)
            .fetch_all(pool)
            .await?
        });
        Ok(earlier
            .into_iter()
            .chain(later)
            .map(|(at_ms, to_state, reason, call)| AgentEntry {
                at_ms,
                to_state,
                reason,
                call,
            })
            .collect())
    }

    /// Replaces an agent's time slices from interval `from_slot_ms` on, and upserts the
    /// after-call work that began from then on.
    pub async fn put_agent_time(
        &self,
        agent: &str,
        from_slot_ms: i64,
        slices: &[AgentSlice],
        after: &[AfterCall],
    ) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM report_agent_time WHERE agent = $1 AND slot_start_ms >= $2")
                .bind(agent)
                .bind(from_slot_ms)
                .execute(&mut *tx)
                .await?;
            for s in slices.iter().filter(|s| s.slot_start_ms >= from_slot_ms) {
                sqlx::query(
                    "INSERT INTO report_agent_time (agent, slot_start_ms, local_date, state, \
                     reason, ms) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(agent)
                .bind(s.slot_start_ms)
                .bind(&s.date)
                .bind(&s.state)
                .bind(&s.reason)
                .bind(s.ms)
                .execute(&mut *tx)
                .await?;
            }
            sqlx::query("DELETE FROM report_after_call WHERE agent = $1 AND started_ms >= $2")
                .bind(agent)
                .bind(from_slot_ms)
                .execute(&mut *tx)
                .await?;
            for a in after.iter().filter(|a| a.started_ms >= from_slot_ms) {
                sqlx::query(
                    "INSERT INTO report_after_call (agent, started_ms, call, ms) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(agent)
                .bind(a.started_ms)
                .bind(&a.call)
                .bind(a.ms)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Drops the projection from `from_ms` (a local day's start) on: what a rebuild
    /// replays. Watermarks are reset by the caller.
    pub async fn clear_reports_from(
        &self,
        from_ms: i64,
        from_date: &str,
    ) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM call_facts WHERE arrived_ms >= $1")
                .bind(from_ms)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM report_call_agents WHERE local_date >= $1")
                .bind(from_date)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM report_slots WHERE slot_start_ms >= $1")
                .bind(from_ms)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM report_agent_time WHERE slot_start_ms >= $1")
                .bind(from_ms)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM report_after_call WHERE started_ms >= $1")
                .bind(from_ms)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// `(slot_start_ms, local_date, slot_index, stats)` of one queue (or `ALL_QUEUES`)
    /// for local days `[from_date, to_date]`, in time order.
    pub async fn slot_rows(
        &self,
        from_date: &str,
        to_date: &str,
        queue: &str,
    ) -> Result<Vec<(i64, String, i64, SlotStats)>, StoreError> {
        let rows: Vec<(i64, String, i64, String)> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT slot_start_ms, local_date, slot_index, stats FROM report_slots \
                 WHERE local_date >= $1 AND local_date <= $2 AND queue = $3 \
                 ORDER BY slot_start_ms",
            )
            .bind(from_date)
            .bind(to_date)
            .bind(queue)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(s, d, i, json)| {
                let stats = serde_json::from_str(&json).unwrap_or_else(|e| {
                    warn!(slot = s, error = %e, "reports: unreadable interval row");
                    SlotStats::default()
                });
                (s, d, i, stats)
            })
            .collect())
    }

    /// A page of the per-call list, oldest first, by key set `(arrived_ms, protocol)`.
    pub async fn fact_page(&self, f: &FactFilter) -> Result<FactPage, StoreError> {
        // The page starts after the key, and never before the period: `(from_ms, "")`
        // precedes every call of the period (a protocol is never empty).
        let start = (f.from_ms, String::new());
        let (after_ms, after_p) = f.after.clone().filter(|a| *a > start).unwrap_or(start);
        // A supervisor sees the calls of their queues only. The scope is filtered in SQL,
        // so that a page is full whenever more calls follow: a page thinned after reading
        // would look like the last one and end the supervisor's list or export early.
        let scope: &[String] = match &f.scope {
            Some(queues) if queues.is_empty() => return Ok(FactPage::default()),
            Some(queues) => queues,
            None => &[],
        };
        let in_scope = if scope.is_empty() {
            String::new()
        } else {
            let marks: Vec<String> = (8..8 + scope.len()).map(|i| format!("${i}")).collect();
            format!("AND queue IN ({}) ", marks.join(", "))
        };
        // One lower bound, the key's: `arrived_ms >= $1` seeks the index there in
        // SQLite, the row comparison in PostgreSQL (which only filtered on
        // `a > x OR (a = x AND p > y)`, re-reading the period up to the key for every
        // page: 122 s for a month of 591,780 calls). So a page costs its own rows.
        let sql = format!(
            "SELECT arrived_ms, protocol, fact FROM call_facts \
             WHERE arrived_ms >= $1 AND arrived_ms < $2 \
             AND (arrived_ms, protocol) > ($1, $3) \
             AND ($4 IS NULL OR outcome = $4) AND ($5 IS NULL OR queue = $5) \
             AND ($6 IS NULL OR EXISTS (SELECT 1 FROM report_call_agents a \
                  WHERE a.protocol = call_facts.protocol AND a.agent = $6)) \
             {in_scope}ORDER BY arrived_ms, protocol LIMIT $7"
        );
        let rows: Vec<(i64, String, String)> = on_pool!(self, pool => {
            let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                .bind(after_ms)
                .bind(f.to_ms)
                .bind(&after_p)
                .bind(&f.outcome)
                .bind(&f.queue)
                .bind(&f.agent)
                .bind(f.limit);
            for queue in scope {
                q = q.bind(queue);
            }
            q.fetch_all(pool).await?
        });
        let mut page = FactPage {
            read: i64::try_from(rows.len()).unwrap_or(i64::MAX),
            last: rows.last().map(|(ms, p, _)| (*ms, p.clone())),
            ..FactPage::default()
        };
        for (arrived_ms, protocol, json) in rows {
            match serde_json::from_str(&json) {
                Ok(fact) => page.facts.push(fact),
                Err(e) => {
                    warn!(protocol, error = %e, "reports: unreadable call fact; listed as unreadable");
                    page.unreadable.push((arrived_ms, protocol));
                }
            }
        }
        Ok(page)
    }

    /// Calls answered and talk per agent per local day in `[from_date, to_date]`.
    pub async fn agent_days(
        &self,
        from_date: &str,
        to_date: &str,
        agent: Option<&str>,
    ) -> Result<Vec<AgentDayRow>, StoreError> {
        let rows: Vec<(String, String, i64, i64, i64)> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT agent, local_date, COUNT(*), CAST(COALESCE(SUM(talk_ms), 0) AS BIGINT), \
                 COALESCE(MAX(talk_ms), 0) FROM report_call_agents \
                 WHERE local_date >= $1 AND local_date <= $2 AND ($3 IS NULL OR agent = $3) \
                 GROUP BY agent, local_date ORDER BY agent, local_date",
            )
            .bind(from_date)
            .bind(to_date)
            .bind(agent)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(agent, date, calls, talk_ms, talk_max_ms)| AgentDayRow {
                agent,
                date,
                calls: u64::try_from(calls).unwrap_or(0),
                talk_ms,
                talk_max_ms,
            })
            .collect())
    }

    /// Agent time per agent, day, state and reason in `[from_date, to_date]`.
    pub async fn agent_time(
        &self,
        from_date: &str,
        to_date: &str,
        agent: Option<&str>,
    ) -> Result<Vec<(String, String, String, String, i64)>, StoreError> {
        Ok(on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT agent, local_date, state, reason, CAST(SUM(ms) AS BIGINT) FROM report_agent_time \
                 WHERE local_date >= $1 AND local_date <= $2 AND ($3 IS NULL OR agent = $3) \
                 GROUP BY agent, local_date, state, reason ORDER BY agent, local_date, state, reason",
            )
            .bind(from_date)
            .bind(to_date)
            .bind(agent)
            .fetch_all(pool)
            .await?
        }))
    }

    /// First login and last logout of an agent in `[from_ms, to_ms)`.
    pub async fn agent_login_span(
        &self,
        agent: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<(Option<i64>, Option<i64>), StoreError> {
        Ok(on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT MIN(CASE WHEN from_state = 'logged_out' THEN at_ms END), \
                 MAX(CASE WHEN to_state = 'logged_out' THEN at_ms END) FROM agent_events \
                 WHERE agent = $1 AND at_ms >= $2 AND at_ms < $3",
            )
            .bind(agent)
            .bind(from_ms)
            .bind(to_ms)
            .fetch_one(pool)
            .await?
        }))
    }
}

fn parse_facts(rows: Vec<String>) -> Vec<CallFact> {
    rows.into_iter()
        .filter_map(|json| match serde_json::from_str(&json) {
            Ok(f) => Some(f),
            Err(e) => {
                warn!(error = %e, "reports: unreadable call fact skipped");
                None
            }
        })
        .collect()
}

#[cfg(test)]
#[path = "reports_tests.rs"]
mod tests;
