//! Registrations in SQL: appending an accepted one to its call's event log, reading the
//! registrations of a call, the facts `registration::check` needs, and a caller's previous
//! calls with their registrations (the screen-pop's history).
//!
//! A registration may come after the call's own log stopped (wrap-up, later), or while
//! events of the call are still on their way to the database. So it never takes a `seq`
//! the call's log could use: registrations are numbered from `REGISTRATION_SEQ_BASE` on,
//! computed in the INSERT itself; a concurrent registration that took the same number
//! makes the INSERT fail (no `DO NOTHING` here) and it is retried with the next one.
//! `next_event_seq` ignores this range, so a log picked up after a restart goes on below.

use serde::Serialize;

use super::event::{CallEvent, EventKind};
use super::protocol::Protocol;
use super::{Store, StoreError};
use crate::config::Disposition;
use crate::registration::{self, CallFacts, Limits, Refused, Registration};

/// Why `register_call` stored nothing.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("no such call")]
    UnknownCall,
    #[error(transparent)]
    Refused(Refused),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The first `seq` of a call's registrations (far above any call's own events).
pub const REGISTRATION_SEQ_BASE: u32 = 1 << 30;

/// How often an append is retried when a concurrent one took its `seq`.
const APPEND_ATTEMPTS: usize = 5;

/// One stored registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredRegistration {
    pub seq: i64,
    pub at_ms: i64,
    pub agent: String,
    pub code: String,
    pub note: String,
}

/// One of the caller's previous calls, newest first, with its registrations in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PastCall {
    pub protocol: String,
    pub at_ms: i64,
    pub registrations: Vec<StoredRegistration>,
}

#[derive(sqlx::FromRow)]
struct Row {
    protocol: String,
    seq: i64,
    at_ms: i64,
    detail: String,
}

fn parse(r: &Row) -> Result<Option<StoredRegistration>, StoreError> {
    let kind: EventKind =
        serde_json::from_str(&r.detail).map_err(|source| StoreError::BadDetail {
            protocol: r.protocol.clone(),
            seq: r.seq,
            source,
        })?;
    Ok(match kind {
        EventKind::Registered { agent, code, note } => Some(StoredRegistration {
            seq: r.seq,
            at_ms: r.at_ms,
            agent,
            code,
            note,
        }),
        _ => None,
    })
}

impl Store {
    /// The whole of a registration, as the API and the CTI's `register` command do it:
    /// the call's facts, `registration::check`, and the append. Returns the stored event
    /// (for the bus: publishing it again is harmless, the writer's insert is a no-op).
    pub async fn register_call(
        &self,
        protocol: &Protocol,
        agent: &str,
        r: &Registration,
        dispositions: &[Disposition],
        limits: Limits,
        now_ms: i64,
    ) -> Result<CallEvent, RegisterError> {
        let facts = self
            .registration_facts(protocol, agent)
            .await?
            .ok_or(RegisterError::UnknownCall)?;
        let kind = registration::check(agent, r, &facts, dispositions, limits, now_ms)
            .map_err(RegisterError::Refused)?;
        Ok(self.append_registration(protocol, now_ms, kind).await?)
    }

    /// Appends `kind` (a `Registered`) to the call's log at `at_ms`; returns the event.
    pub async fn append_registration(
        &self,
        protocol: &Protocol,
        at_ms: i64,
        kind: EventKind,
    ) -> Result<CallEvent, StoreError> {
        let mut event = CallEvent {
            protocol: protocol.clone(),
            seq: REGISTRATION_SEQ_BASE,
            at_ms,
            kind,
        };
        let detail = event.detail_json();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let r: Result<i64, sqlx::Error> = on_pool!(self, pool => {
                sqlx::query_scalar(
                    "INSERT INTO call_events (protocol, seq, at_ms, kind, detail) \
                     SELECT $1, COALESCE(MAX(seq) + 1, $2), $3, $4, $5 FROM call_events \
                     WHERE protocol = $1 AND seq >= $2 RETURNING seq",
                )
                .bind(protocol.as_str())
                .bind(i64::from(REGISTRATION_SEQ_BASE))
                .bind(at_ms)
                .bind(event.kind.name())
                .bind(&detail)
                .fetch_one(pool)
                .await
            });
            match r {
                Ok(seq) => {
                    event.seq = u32::try_from(seq).unwrap_or(u32::MAX);
                    return Ok(event);
                }
                Err(sqlx::Error::Database(e))
                    if e.is_unique_violation() && attempt < APPEND_ATTEMPTS => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The registrations of one call, in the order they were made.
    pub async fn registrations(
        &self,
        protocol: &Protocol,
    ) -> Result<Vec<StoredRegistration>, StoreError> {
        let rows: Vec<Row> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT protocol, seq, at_ms, detail FROM call_events \
                 WHERE protocol = $1 AND kind = 'registered' ORDER BY seq",
            )
            .bind(protocol.as_str())
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .iter()
            .map(parse)
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .flatten()
            .collect())
    }

    /// Who answered the call, from which queue, whether it ended, and whether `agent` is
    /// in wrap-up after it (from the agent log); `None` if the call was never stored.
    pub async fn registration_facts(
        &self,
        protocol: &Protocol,
        agent: &str,
    ) -> Result<Option<CallFacts>, StoreError> {
        let summary: Option<(Option<String>, Option<i64>)> = on_pool!(self, pool => {
            sqlx::query_as("SELECT agent, ended_at_ms FROM calls WHERE protocol = $1")
                .bind(protocol.as_str())
                .fetch_optional(pool)
                .await?
        });
        let Some((answered_by, ended_at_ms)) = summary else {
            return Ok(None);
        };
        let acd: Vec<String> = on_pool!(self, pool => {
            sqlx::query_scalar(
                "SELECT detail FROM call_events WHERE protocol = $1 AND kind = 'acd' ORDER BY seq",
            )
            .bind(protocol.as_str())
            .fetch_all(pool)
            .await?
        });
        // The queue of the last `answered` decision (after overflows, the one that served).
        let queue = acd
            .iter()
            .filter_map(|d| serde_json::from_str::<serde_json::Value>(d).ok())
            .filter(|v| v["event"]["kind"] == "answered")
            .filter_map(|v| v["event"]["queue"].as_str().map(str::to_owned))
            .next_back();
        let states: Vec<(String, Option<String>)> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT to_state, call FROM agent_events WHERE agent = $1 \
                 AND (to_state = 'on_call' OR id = (SELECT MAX(id) FROM agent_events WHERE agent = $1)) \
                 ORDER BY id DESC LIMIT 2",
            )
            .bind(agent)
            .fetch_all(pool)
            .await?
        });
        // The latest state is wrap-up and the latest call talked on is this one.
        let in_wrap_up = states.first().is_some_and(|(s, _)| s == "wrap_up")
            && states
                .iter()
                .find(|(s, _)| s == "on_call")
                .is_some_and(|(_, c)| c.as_deref() == Some(protocol.as_str()));
        Ok(Some(CallFacts {
            answered_by,
            queue,
            ended_at_ms,
            in_wrap_up,
        }))
    }

    /// Of the calls an agent answered that started in `[from_ms, to_ms)`: how many, and
    /// how many have at least one registration (the IAR KPI's two terms).
    pub async fn registered_calls(
        &self,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<(i64, i64), StoreError> {
        let counts: (i64, i64) = on_pool!(self, pool => {
            sqlx::query_as(
                // Registrations are exactly the events from REGISTRATION_SEQ_BASE on: the
                // (protocol, seq) index answers EXISTS without reading the events.
                "SELECT COUNT(*), COUNT(CASE WHEN EXISTS (SELECT 1 FROM call_events e \
                 WHERE e.protocol = c.protocol AND e.seq >= $3) THEN 1 END) FROM calls c \
                 WHERE c.started_at_ms >= $1 AND c.started_at_ms < $2 AND c.agent IS NOT NULL",
            )
            .bind(from_ms)
            .bind(to_ms)
            .bind(i64::from(REGISTRATION_SEQ_BASE))
            .fetch_one(pool)
            .await?
        });
        Ok(counts)
    }

    /// The last `limit` calls from `a_number` other than `except`, newest first, with
    /// their registrations. An empty number (anonymous) has no history.
    pub async fn caller_history(
        &self,
        a_number: &str,
        except: &Protocol,
        limit: usize,
    ) -> Result<Vec<PastCall>, StoreError> {
        if a_number.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let calls: Vec<(String, Option<i64>)> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT protocol, started_at_ms FROM calls WHERE a_number = $1 AND protocol <> $2 \
                 ORDER BY started_at_ms DESC, protocol DESC LIMIT $3",
            )
            .bind(a_number)
            .bind(except.as_str())
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(pool)
            .await?
        });
        if calls.is_empty() {
            return Ok(Vec::new());
        }
        let marks: Vec<String> = (1..=calls.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT protocol, seq, at_ms, detail FROM call_events \
             WHERE protocol IN ({}) AND kind = 'registered' ORDER BY seq",
            marks.join(", ")
        );
        let rows: Vec<Row> = on_pool!(self, pool => {
            let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()));
            for (p, _) in &calls {
                q = q.bind(p);
            }
            q.fetch_all(pool).await?
        });
        let mut history: Vec<PastCall> = calls
            .into_iter()
            .map(|(protocol, at)| PastCall {
                protocol,
                at_ms: at.unwrap_or(0),
                registrations: Vec::new(),
            })
            .collect();
        for r in &rows {
            if let Some(reg) = parse(r)?
                && let Some(call) = history.iter_mut().find(|c| c.protocol == r.protocol)
            {
                call.registrations.push(reg);
            }
        }
        Ok(history)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::agent_log::AgentEvent;
    use crate::store::testing::{TestDb, both_backends, event, offered};

    fn registered(agent: &str, code: &str, note: &str) -> EventKind {
        EventKind::Registered {
            agent: agent.into(),
            code: code.into(),
            note: note.into(),
        }
    }

    /// A call from 1133334444 answered by 1001 from queue `geral`, ended at `t0 + 100`.
    fn answered_call(p: &str, t0: i64) -> Vec<CallEvent> {
        let acd: crate::acd::AcdEvent = serde_json::from_value(serde_json::json!({
            "kind": "answered", "call": p, "agent": "1001", "queue": "geral", "waited_ms": 5
        }))
        .expect("acd event");
        vec![
            event(p, 0, t0, offered(&format!("{p}@gw"))),
            event(p, 1, t0 + 10, EventKind::Answered),
            event(p, 2, t0 + 20, EventKind::Acd { event: acd }),
            event(
                p,
                3,
                t0 + 30,
                EventKind::AgentAnswered {
                    agent: "1001".into(),
                },
            ),
            event(
                p,
                4,
                t0 + 100,
                EventKind::HungUp {
                    by: crate::events::Party::Caller,
                    cause: "normal".into(),
                    sip_status: None,
                },
            ),
        ]
    }

    async fn registrations_append_after_the_log_and_read_back(db: TestDb) {
        let s = &db.store;
        let p: Protocol = "20261207-000001".parse().expect("protocol");
        s.write_batch(&answered_call(p.as_str(), 1_000))
            .await
            .expect("call stored");
        let first = s
            .append_registration(&p, 2_000, registered("1001", "informacao", "2ª via"))
            .await
            .expect("appended");
        assert_eq!(first.seq, REGISTRATION_SEQ_BASE);
        let second = s
            .append_registration(&p, 2_500, registered("1001", "reclamacao", ""))
            .await
            .expect("appended");
        assert_eq!(second.seq, REGISTRATION_SEQ_BASE + 1);
        // The call's own log goes on below the registrations (a restart's pick-up).
        assert_eq!(s.next_event_seq(&p).await.expect("seq"), 5);
        let regs = s.registrations(&p).await.expect("read");
        assert_eq!(
            regs.iter()
                .map(|r| (r.code.as_str(), r.note.as_str(), r.at_ms))
                .collect::<Vec<_>>(),
            [("informacao", "2ª via", 2_000), ("reclamacao", "", 2_500)]
        );
        // The call's detail shows them as events of its log.
        let detail = s.call_detail(&p).await.expect("detail").expect("call");
        let last = detail.events.last().expect("events");
        assert_eq!(last.kind, "registered");
        assert_eq!(last.detail["code"], "reclamacao");
        // A registration written again by the event writer (the bus) is a no-op.
        s.write_batch(std::slice::from_ref(&first))
            .await
            .expect("idempotent");
        assert_eq!(s.registrations(&p).await.expect("read").len(), 2);
    }
    both_backends!(
        append_and_read,
        registrations_append_after_the_log_and_read_back
    );

    async fn facts_name_the_agent_queue_end_and_wrap_up(db: TestDb) {
        let s = &db.store;
        let p: Protocol = "20261207-000002".parse().expect("protocol");
        assert_eq!(s.registration_facts(&p, "1001").await.expect("q"), None);
        s.write_batch(&answered_call(p.as_str(), 1_000))
            .await
            .expect("stored");
        let state = |at_ms: i64, from: &str, to: &str, call: Option<&str>| AgentEvent {
            agent: "1001".into(),
            at_ms,
            from_state: from.into(),
            to_state: to.into(),
            reason: None,
            call: call.map(str::to_owned),
            in_previous_ms: 0,
            forced_by: None,
            forced_why: None,
        };
        s.write_agent_events(&[
            state(1_020, "ringing", "on_call", Some(p.as_str())),
            state(1_100, "on_call", "wrap_up", None),
        ])
        .await
        .expect("agent log");
        let facts = s
            .registration_facts(&p, "1001")
            .await
            .expect("q")
            .expect("call");
        assert_eq!(
            facts,
            CallFacts {
                answered_by: Some("1001".into()),
                queue: Some("geral".into()),
                ended_at_ms: Some(1_100),
                in_wrap_up: true,
            }
        );
        s.write_agent_events(&[state(1_200, "wrap_up", "available", None)])
            .await
            .expect("agent log");
        let facts = s.registration_facts(&p, "1001").await.expect("q");
        assert!(!facts.expect("call").in_wrap_up);
    }
    both_backends!(facts, facts_name_the_agent_queue_end_and_wrap_up);

    async fn history_lists_the_callers_previous_calls_newest_first(db: TestDb) {
        let s = &db.store;
        let ps: Vec<Protocol> = (1..=4)
            .map(|i| format!("20261207-00001{i}").parse().expect("protocol"))
            .collect();
        for (i, p) in ps.iter().enumerate() {
            s.write_batch(&answered_call(p.as_str(), 1_000 * (i as i64 + 1)))
                .await
                .expect("stored");
        }
        // Another caller's call is never listed.
        let other: Protocol = "20261207-000020".parse().expect("protocol");
        let mut theirs = answered_call(other.as_str(), 500);
        if let EventKind::Offered { a_number, .. } = &mut theirs[0].kind {
            *a_number = "1199998888".into();
        }
        s.write_batch(&theirs).await.expect("stored");
        s.append_registration(&ps[1], 9_000, registered("1001", "informacao", "ok"))
            .await
            .expect("appended");
        // The call being offered now (ps[3]) is not its own history.
        let h = s
            .caller_history("1133334444", &ps[3], 2)
            .await
            .expect("history");
        assert_eq!(
            h.iter().map(|c| c.protocol.as_str()).collect::<Vec<_>>(),
            [ps[2].as_str(), ps[1].as_str()]
        );
        assert_eq!(h[0].at_ms, 3_000);
        assert!(h[0].registrations.is_empty());
        assert_eq!(h[1].registrations[0].code, "informacao");
        assert!(s.caller_history("", &ps[3], 5).await.expect("q").is_empty());
        // The IAR KPI: 5 answered calls started in the period, 1 registered (twice counts once).
        s.append_registration(&ps[1], 9_500, registered("1001", "reclamacao", ""))
            .await
            .expect("appended");
        assert_eq!(s.registered_calls(0, 10_000).await.expect("kpi"), (5, 1));
        assert_eq!(
            s.registered_calls(2_500, 10_000).await.expect("kpi"),
            (2, 0)
        );
    }
    both_backends!(
        history,
        history_lists_the_callers_previous_calls_newest_first
    );
}
