//! Writing one batch of call events in one transaction: the events themselves, then the
//! per-call summary rows they change.
//!
//! Both steps are idempotent, so the event writer may retry a batch whose commit it never
//! heard back from: events are `ON CONFLICT (protocol, seq) DO NOTHING`, and summary rows
//! are upserts that only overwrite a column with a value. Rows are sent several per
//! statement, which is what makes PostgreSQL keep up (one round trip per hundred events).

use std::collections::HashMap;

use sqlx::AssertSqlSafe;

use super::event::{CallEvent, EventKind, party_name};
use super::{Store, StoreError};

/// Event rows per INSERT (5 parameters each).
const EVENT_ROWS_PER_STATEMENT: usize = 100;
/// Summary rows per upsert (15 parameters each); both stay far below SQLite's and
/// PostgreSQL's parameter limits.
const CALL_ROWS_PER_STATEMENT: usize = 50;

const INSERT_EVENTS: &str = "INSERT INTO call_events (protocol, seq, at_ms, kind, detail) VALUES ";
const EVENTS_CONFLICT: &str = " ON CONFLICT (protocol, seq) DO NOTHING";

const UPSERT_CALLS: &str = "INSERT INTO calls (protocol, call_id, a_number, b_number, service, \
     started_at_ms, answered_at_ms, ended_at_ms, agent, hangup_by, hangup_cause, sip_status, \
     recording_path, recording_sha256, recording_duration_ms) VALUES ";
const CALLS_CONFLICT: &str = " ON CONFLICT (protocol) DO UPDATE SET \
     call_id = COALESCE(excluded.call_id, calls.call_id), \
     a_number = COALESCE(excluded.a_number, calls.a_number), \
     b_number = COALESCE(excluded.b_number, calls.b_number), \
     service = COALESCE(excluded.service, calls.service), \
     started_at_ms = COALESCE(excluded.started_at_ms, calls.started_at_ms), \
     answered_at_ms = COALESCE(excluded.answered_at_ms, calls.answered_at_ms), \
     ended_at_ms = COALESCE(excluded.ended_at_ms, calls.ended_at_ms), \
     agent = COALESCE(excluded.agent, calls.agent), \
     hangup_by = COALESCE(excluded.hangup_by, calls.hangup_by), \
     hangup_cause = COALESCE(excluded.hangup_cause, calls.hangup_cause), \
     sip_status = COALESCE(excluded.sip_status, calls.sip_status), \
     recording_path = COALESCE(excluded.recording_path, calls.recording_path), \
     recording_sha256 = COALESCE(excluded.recording_sha256, calls.recording_sha256), \
     recording_duration_ms = COALESCE(excluded.recording_duration_ms, calls.recording_duration_ms)";

/// The summary columns one batch sets for one call; `None` leaves a column as it is.
#[derive(Debug, Default, PartialEq)]
struct CallPatch<'a> {
    protocol: &'a str,
    call_id: Option<&'a str>,
    a_number: Option<&'a str>,
    b_number: Option<&'a str>,
    service: Option<&'a str>,
    started_at_ms: Option<i64>,
    answered_at_ms: Option<i64>,
    ended_at_ms: Option<i64>,
    agent: Option<&'a str>,
    hangup_by: Option<&'static str>,
    hangup_cause: Option<&'a str>,
    sip_status: Option<i64>,
    recording_path: Option<&'a str>,
    recording_sha256: Option<&'a str>,
    recording_duration_ms: Option<i64>,
}

/// Folds a batch into one patch per call it touches, in order of first appearance;
/// a later event wins over an earlier one for the same column.
fn summarize(events: &[CallEvent]) -> Vec<CallPatch<'_>> {
    let mut patches: Vec<CallPatch<'_>> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for ev in events {
        let touches_summary = matches!(
            ev.kind,
            EventKind::Offered { .. }
                | EventKind::Answered
                | EventKind::AgentAnswered { .. }
                | EventKind::HungUp { .. }
                | EventKind::RecordingFinalized { .. }
        );
        if !touches_summary {
            continue;
        }
        let protocol = ev.protocol.as_str();
        let i = *index.entry(protocol).or_insert_with(|| {
            patches.push(CallPatch {
                protocol,
                ..CallPatch::default()
            });
            patches.len() - 1
        });
        let p = &mut patches[i];
        match &ev.kind {
            EventKind::Offered {
                call_id,
                a_number,
                b_number,
                service,
                source: _,
                restricted: _,
            } => {
                p.call_id = Some(call_id);
                p.a_number = Some(a_number);
                p.b_number = Some(b_number);
                p.service = Some(service);
                p.started_at_ms = Some(ev.at_ms);
            }
            EventKind::Answered => p.answered_at_ms = Some(ev.at_ms),
            EventKind::AgentAnswered { agent } => p.agent = Some(agent),
            EventKind::HungUp {
                by,
                cause,
                sip_status,
            } => {
                p.ended_at_ms = Some(ev.at_ms);
                p.hangup_by = Some(party_name(*by));
                p.hangup_cause = Some(cause);
                p.sip_status = sip_status.map(i64::from);
            }
            EventKind::RecordingFinalized {
                path,
                duration_ms,
                sha256,
            } => {
                p.recording_path = Some(path);
                p.recording_duration_ms = Some(*duration_ms);
                p.recording_sha256 = Some(sha256);
            }
            _ => {}
        }
    }
    patches
}

/// `head` + `rows` groups of `cols` numbered placeholders + `tail`.
fn multi_row_sql(head: &str, rows: usize, cols: usize, tail: &str) -> String {
    let mut sql = String::with_capacity(head.len() + tail.len() + rows * cols * 6);
    sql.push_str(head);
    for r in 0..rows {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..cols {
            if c > 0 {
                sql.push_str(", ");
            }
            sql.push('$');
            sql.push_str(&(r * cols + c + 1).to_string());
        }
        sql.push(')');
    }
    sql.push_str(tail);
    sql
}

impl Store {
    /// Writes `events` and their summary changes atomically. Writing the same events
    /// again changes nothing.
    pub(crate) async fn write_batch(&self, events: &[CallEvent]) -> Result<(), StoreError> {
        let patches = summarize(events);
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for chunk in events.chunks(EVENT_ROWS_PER_STATEMENT) {
                let sql = multi_row_sql(INSERT_EVENTS, chunk.len(), 5, EVENTS_CONFLICT);
                let mut q = sqlx::query(AssertSqlSafe(sql));
                for ev in chunk {
                    q = q
                        .bind(ev.protocol.as_str())
                        .bind(i64::from(ev.seq))
                        .bind(ev.at_ms)
                        .bind(ev.kind.name())
                        .bind(ev.detail_json());
                }
                q.execute(&mut *tx).await?;
            }
            for chunk in patches.chunks(CALL_ROWS_PER_STATEMENT) {
                let sql = multi_row_sql(UPSERT_CALLS, chunk.len(), 15, CALLS_CONFLICT);
                let mut q = sqlx::query(AssertSqlSafe(sql));
                for p in chunk {
                    q = q
                        .bind(p.protocol)
                        .bind(p.call_id)
                        .bind(p.a_number)
                        .bind(p.b_number)
                        .bind(p.service)
                        .bind(p.started_at_ms)
                        .bind(p.answered_at_ms)
                        .bind(p.ended_at_ms)
                        .bind(p.agent)
                        .bind(p.hangup_by)
                        .bind(p.hangup_cause)
                        .bind(p.sip_status)
                        .bind(p.recording_path)
                        .bind(p.recording_sha256)
                        .bind(p.recording_duration_ms);
                }
                q.execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::event::Party;
    use crate::store::testing::{TestDb, both_backends, event, offered};

    #[test]
    fn placeholders_are_numbered_across_rows() {
        assert_eq!(multi_row_sql("I ", 2, 2, " T"), "I ($1, $2), ($3, $4) T");
    }

    #[test]
    fn a_batch_folds_into_one_patch_per_call_with_the_last_value_winning() {
        let events = [
            event("20261123-000001", 0, 10, offered("c1")),
            event("20261123-000002", 0, 11, offered("c2")),
            event("20261123-000001", 1, 12, EventKind::Answered),
            event(
                "20261123-000001",
                2,
                13,
                EventKind::AgentAnswered {
                    agent: "1001".into(),
                },
            ),
            event(
                "20261123-000001",
                3,
                14,
                EventKind::AgentAnswered {
                    agent: "1002".into(),
                },
            ),
            event(
                "20261123-000001",
                4,
                15,
                EventKind::Dtmf {
                    digit: '1',
                    via: "rfc4733".into(),
                },
            ),
        ];
        let patches = summarize(&events);
        assert_eq!(patches.len(), 2);
        assert_eq!(patches[0].protocol, "20261123-000001");
        assert_eq!(patches[0].started_at_ms, Some(10));
        assert_eq!(patches[0].answered_at_ms, Some(12));
        assert_eq!(patches[0].agent, Some("1002"));
        assert_eq!(patches[1].call_id, Some("c2"));
        assert_eq!(patches[1].answered_at_ms, None);
    }

    both_backends!(writing_a_batch_twice_stores_each_event_once, write_twice);
    async fn write_twice(db: TestDb) {
        let store = db.store;
        let p = "20261123-000001";
        let batch = [
            event(p, 0, 10, offered("c1")),
            event(
                p,
                1,
                20,
                EventKind::HungUp {
                    by: Party::System,
                    cause: "x".into(),
                    sip_status: None,
                },
            ),
        ];
        store.write_batch(&batch).await.expect("first write");
        store.write_batch(&batch).await.expect("retried write");
        store.write_batch(&batch[1..]).await.expect("partial retry");
        let detail = store
            .call_detail(&p.parse().expect("valid"))
            .await
            .expect("query")
            .expect("call stored");
        let seqs: Vec<i64> = detail.events.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [0, 1]);
        assert_eq!(detail.summary.hangup_by.as_deref(), Some("system"));
        assert_eq!(detail.summary.sip_status, None);
    }
}
