//! The live projector's SQL (`store::reports_live`): a call's stored fact and an
//! interval's stored sums, read when the pass does not hold them, and one pass's writes —
//! facts, agents' parts, interval rows and the watermark — in one transaction of a few
//! multi-row statements (chunks of `ROWS_PER_STATEMENT` rows).

use tracing::warn;

use super::reports::ALL_QUEUES;
use super::{Store, StoreError};
use crate::reports::{CallFact, SlotKey, SlotStats};

/// Rows per multi-row statement (8 values a fact row: far under SQLite's 32,766).
const ROWS_PER_STATEMENT: usize = 500;

/// A fact to write in the pass's transaction.
pub(crate) struct FactWrite {
    pub fact: CallFact,
    pub json: String,
    pub slot: SlotKey,
    pub agents: bool,
}

impl Store {
    /// A call's stored fact and its interval.
    pub(crate) async fn stored_fact(
        &self,
        protocol: &str,
    ) -> Result<Option<(i64, CallFact)>, StoreError> {
        let row: Option<(i64, String)> = on_pool!(self, pool => {
            sqlx::query_as("SELECT slot_start_ms, fact FROM call_facts WHERE protocol = $1")
                .bind(protocol)
                .fetch_optional(pool)
                .await?
        });
        Ok(
            row.and_then(|(slot, json)| match serde_json::from_str(&json) {
                Ok(f) => Some((slot, f)),
                Err(e) => {
                    warn!(%protocol, error = %e, "reports: unreadable call fact; re-projecting it");
                    None
                }
            }),
        )
    }

    /// One interval's stored rows with the facts each counts: `(queue, facts, stats)`.
    pub(crate) async fn slot_sums(
        &self,
        start: i64,
    ) -> Result<Vec<(String, u64, SlotStats)>, StoreError> {
        let rows: Vec<(String, String)> = on_pool!(self, pool => {
            sqlx::query_as("SELECT queue, stats FROM report_slots WHERE slot_start_ms = $1")
                .bind(start)
                .fetch_all(pool)
                .await?
        });
        let counts: Vec<(Option<String>, i64)> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT queue, COUNT(*) FROM call_facts WHERE slot_start_ms = $1 GROUP BY queue",
            )
            .bind(start)
            .fetch_all(pool)
            .await?
        });
        let total: i64 = counts.iter().map(|(_, n)| n).sum();
        Ok(rows
            .into_iter()
            .map(|(queue, json)| {
                let n = if queue == ALL_QUEUES {
                    total
                } else {
                    counts
                        .iter()
                        .find(|(q, _)| q.as_deref() == Some(queue.as_str()))
                        .map_or(0, |(_, n)| *n)
                };
                let stats = serde_json::from_str(&json).unwrap_or_else(|e| {
                    warn!(slot = start, error = %e, "reports: unreadable interval row");
                    SlotStats::default()
                });
                (queue, u64::try_from(n).unwrap_or(0), stats)
            })
            .collect())
    }

    /// Writes one pass in one transaction: facts (and their agents' parts when they
    /// changed), the touched intervals' rows, the watermark (never moved back) — a few
    /// multi-row statements, not one a row. Returns `(statements, rows written)`.
    pub(crate) async fn write_pass(
        &self,
        facts: &[FactWrite],
        slots: &[(SlotKey, Vec<(String, SlotStats)>)],
        watermark: Option<(&str, i64)>,
    ) -> Result<(u64, u64), StoreError> {
        let mut statements = 0u64;
        let mut rows = 0u64;
        let parts: Vec<(&FactWrite, &crate::reports::fact::AgentPart)> = facts
            .iter()
            .filter(|w| w.agents)
            .flat_map(|w| w.fact.agents.iter().map(move |a| (w, a)))
            .collect();
        let renamed: Vec<&str> = facts
            .iter()
            .filter(|w| w.agents)
            .map(|w| w.fact.protocol.as_str())
            .collect();
        let slot_rows: Vec<(&SlotKey, &String, String)> = slots
            .iter()
            .flat_map(|(k, qs)| {
                qs.iter()
                    .map(move |(q, st)| (k, q, serde_json::to_string(st).unwrap_or_default()))
            })
            .collect();
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for chunk in facts.chunks(ROWS_PER_STATEMENT) {
                let mut qb = sqlx::QueryBuilder::new(
                    "INSERT INTO call_facts (protocol, arrived_ms, slot_start_ms, local_date, \
                     queue, outcome, first_agent, fact) ",
                );
                qb.push_values(chunk, |mut b, w| {
                    b.push_bind(w.fact.protocol.as_str())
                        .push_bind(w.fact.arrived_ms)
                        .push_bind(w.slot.start_ms)
                        .push_bind(w.slot.date.as_str())
                        .push_bind(w.fact.queue.as_deref())
                        .push_bind(w.fact.outcome.as_str())
                        .push_bind(w.fact.first_agent())
                        .push_bind(w.json.as_str());
                });
                qb.push(
                    " ON CONFLICT (protocol) DO UPDATE SET arrived_ms = excluded.arrived_ms, \
                     slot_start_ms = excluded.slot_start_ms, local_date = excluded.local_date, \
                     queue = excluded.queue, outcome = excluded.outcome, \
                     first_agent = excluded.first_agent, fact = excluded.fact",
                );
                rows += qb.build().execute(&mut *tx).await?.rows_affected();
                statements += 1;
            }
            for chunk in renamed.chunks(ROWS_PER_STATEMENT) {
                let mut qb = sqlx::QueryBuilder::new(
                    "DELETE FROM report_call_agents WHERE protocol IN (",
                );
                let mut sep = qb.separated(", ");
                for p in chunk {
                    sep.push_bind(*p);
                }
                qb.push(")");
                rows += qb.build().execute(&mut *tx).await?.rows_affected();
                statements += 1;
            }
            for chunk in parts.chunks(ROWS_PER_STATEMENT) {
                let mut qb = sqlx::QueryBuilder::new(
                    "INSERT INTO report_call_agents (protocol, agent, local_date, answered_ms, \
                     talk_ms) ",
                );
                qb.push_values(chunk, |mut b, (w, a)| {
                    b.push_bind(w.fact.protocol.as_str())
                        .push_bind(a.agent.as_str())
                        .push_bind(w.slot.date.as_str())
                        .push_bind(a.answered_ms)
                        .push_bind(a.talk_ms);
                });
                rows += qb.build().execute(&mut *tx).await?.rows_affected();
                statements += 1;
            }
            if !slots.is_empty() {
                let mut qb = sqlx::QueryBuilder::new(
                    "DELETE FROM report_slots WHERE slot_start_ms IN (",
                );
                let mut sep = qb.separated(", ");
                for (k, _) in slots {
                    sep.push_bind(k.start_ms);
                }
                qb.push(")");
                rows += qb.build().execute(&mut *tx).await?.rows_affected();
                statements += 1;
            }
            for chunk in slot_rows.chunks(ROWS_PER_STATEMENT) {
                let mut qb = sqlx::QueryBuilder::new(
                    "INSERT INTO report_slots (slot_start_ms, queue, local_date, slot_index, \
                     stats) ",
                );
                qb.push_values(chunk, |mut b, (k, q, json)| {
                    b.push_bind(k.start_ms)
                        .push_bind(q.as_str())
                        .push_bind(k.date.as_str())
                        .push_bind(i64::from(k.index))
                        .push_bind(json.as_str());
                });
                rows += qb.build().execute(&mut *tx).await?.rows_affected();
                statements += 1;
            }
            if let Some((name, id)) = watermark {
                rows += sqlx::query(
                    "INSERT INTO report_watermarks (name, last_id) VALUES ($1, $2) \
                     ON CONFLICT (name) DO UPDATE SET last_id = CASE \
                     WHEN excluded.last_id > report_watermarks.last_id THEN excluded.last_id \
                     ELSE report_watermarks.last_id END",
                )
                .bind(name)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                statements += 1;
            }
            tx.commit().await?;
        });
        Ok((statements, rows))
    }
}
