//! Reading the call log back for the HTTP API: calls started in a period, and one call's
//! summary with its events in order. Read-only; shapes serialize straight to JSON.

use serde::Serialize;

use super::protocol::Protocol;
use super::{Store, StoreError};

/// A call's summary row, as maintained by the event writer. Times are milliseconds since
/// the Unix epoch; a column is `null` until the event that sets it has been written.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct CallSummary {
    #[sqlx(try_from = "String")]
    pub protocol: Protocol,
    pub call_id: Option<String>,
    pub a_number: Option<String>,
    pub b_number: Option<String>,
    pub service: Option<String>,
    pub started_at_ms: Option<i64>,
    pub answered_at_ms: Option<i64>,
    pub ended_at_ms: Option<i64>,
    pub agent: Option<String>,
    /// `caller`, `agent` or `system`.
    pub hangup_by: Option<String>,
    pub hangup_cause: Option<String>,
    pub sip_status: Option<i64>,
    pub recording_path: Option<String>,
    pub recording_sha256: Option<String>,
    pub recording_duration_ms: Option<i64>,
}

/// One stored event: `kind` is the snake_case name, `detail` its fields (tagged with
/// `kind` as well, so it reads back into an `EventKind`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredEvent {
    pub seq: i64,
    pub at_ms: i64,
    pub kind: String,
    pub detail: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallDetail {
    pub summary: CallSummary,
    pub events: Vec<StoredEvent>,
}

#[derive(sqlx::FromRow)]
struct EventRow {
    seq: i64,
    at_ms: i64,
    kind: String,
    detail: String,
}

const SUMMARY_COLUMNS: &str = "SELECT protocol, call_id, a_number, b_number, service, \
     started_at_ms, answered_at_ms, ended_at_ms, agent, hangup_by, hangup_cause, sip_status, \
     recording_path, recording_sha256, recording_duration_ms FROM calls ";

/// Protocol order: by day, then widened (longer) numbers after narrow ones.
const BY_PROTOCOL: &str = " ORDER BY substr(protocol, 1, 8), length(protocol), protocol";

impl Store {
    /// Calls that started in `[from_ms, to_ms)`, in protocol order, at most `limit`.
    pub async fn list_calls(
        &self,
        from_ms: i64,
        to_ms: i64,
        limit: i64,
    ) -> Result<Vec<CallSummary>, StoreError> {
        let sql = format!(
            "{SUMMARY_COLUMNS} WHERE started_at_ms >= $1 AND started_at_ms < $2{BY_PROTOCOL} LIMIT $3"
        );
        let calls = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(from_ms)
                .bind(to_ms)
                .bind(limit.max(0))
                .fetch_all(pool)
                .await?
        });
        Ok(calls)
    }

    /// The sequence number after the last stored event of a call (0 for none): where a
    /// log picked up after a restart goes on. Registrations, numbered in a range of their
    /// own (`registration::REGISTRATION_SEQ_BASE`), do not count.
    pub async fn next_event_seq(&self, protocol: &Protocol) -> Result<u32, StoreError> {
        let last: Option<i64> = on_pool!(self, pool => {
            sqlx::query_scalar("SELECT MAX(seq) FROM call_events WHERE protocol = $1 AND seq < $2")
                .bind(protocol.as_str())
                .bind(i64::from(super::registration::REGISTRATION_SEQ_BASE))
                .fetch_one(pool)
                .await?
        });
        Ok(last.map_or(0, |s| u32::try_from(s + 1).unwrap_or(u32::MAX)))
    }

    /// One call's summary and its events in `seq` order; `None` if it was never stored.
    pub async fn call_detail(&self, protocol: &Protocol) -> Result<Option<CallDetail>, StoreError> {
        let sql = format!("{SUMMARY_COLUMNS} WHERE protocol = $1");
        let summary: Option<CallSummary> = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(protocol.as_str())
                .fetch_optional(pool)
                .await?
        });
        let Some(summary) = summary else {
            return Ok(None);
        };
        let rows: Vec<EventRow> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT seq, at_ms, kind, detail FROM call_events WHERE protocol = $1 ORDER BY seq",
            )
            .bind(protocol.as_str())
            .fetch_all(pool)
            .await?
        });
        let events = rows
            .into_iter()
            .map(|r| {
                let detail =
                    serde_json::from_str(&r.detail).map_err(|source| StoreError::BadDetail {
                        protocol: protocol.to_string(),
                        seq: r.seq,
                        source,
                    })?;
                Ok(StoredEvent {
                    seq: r.seq,
                    at_ms: r.at_ms,
                    kind: r.kind,
                    detail,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(Some(CallDetail { summary, events }))
    }
}

#[cfg(test)]
mod tests {
    use crate::store::event::{CallEvent, EventKind, Party};
    use crate::store::testing::{TestDb, both_backends, event, offered};

    fn story(p: &str, t0: i64) -> Vec<CallEvent> {
        vec![
            event(p, 0, t0, offered("abc@gw")),
            event(p, 1, t0 + 10, EventKind::Answered),
            event(
                p,
                2,
                t0 + 20,
                EventKind::RecordingStarted {
                    path: "r.wav".into(),
                },
            ),
            event(
                p,
                3,
                t0 + 30,
                EventKind::PromptPlayed {
                    prompt: "pt-BR/welcome".into(),
                },
            ),
            event(
                p,
                4,
                t0 + 40,
                EventKind::Dtmf {
                    digit: '1',
                    via: "rfc4733".into(),
                },
            ),
            event(
                p,
                5,
                t0 + 50,
                EventKind::Ringing {
                    agent: "1001".into(),
                    contact: "sip:1001@h".into(),
                },
            ),
            event(
                p,
                6,
                t0 + 60,
                EventKind::AgentFailed {
                    agent: "1001".into(),
                    sip_status: 486,
                    reason: "busy".into(),
                },
            ),
            event(
                p,
                7,
                t0 + 70,
                EventKind::AgentAnswered {
                    agent: "1002".into(),
                },
            ),
            event(
                p,
                8,
                t0 + 80,
                EventKind::Bridged {
                    agent: "1002".into(),
                },
            ),
            event(p, 9, t0 + 90, EventKind::Held { by: Party::Agent }),
            event(p, 10, t0 + 100, EventKind::Resumed { by: Party::Agent }),
            event(
                p,
                11,
                t0 + 110,
                EventKind::HungUp {
                    by: Party::Caller,
                    cause: "normal_clearing".into(),
                    sip_status: Some(200),
                },
            ),
            event(
                p,
                12,
                t0 + 120,
                EventKind::RecordingFinalized {
                    path: "r.wav".into(),
                    duration_ms: 100,
                    sha256: "ab".repeat(32),
                },
            ),
            event(
                p,
                13,
                t0 + 130,
                EventKind::RecordingFailed {
                    path: "s.wav".into(),
                    error: "disk full".into(),
                },
            ),
        ]
    }

    both_backends!(
        events_round_trip_in_order_and_the_summary_tells_the_story,
        round_trip
    );
    async fn round_trip(db: TestDb) {
        let p = "20261123-000042";
        let mut events = story(p, 1_000);
        events.reverse(); // arrival order must not matter
        db.store.write_batch(&events).await.expect("written");
        events.reverse();

        let detail = db
            .store
            .call_detail(&p.parse().expect("valid"))
            .await
            .expect("query")
            .expect("call stored");
        let back: Vec<CallEvent> = detail
            .events
            .iter()
            .map(|e| CallEvent {
                protocol: p.parse().expect("valid"),
                seq: u32::try_from(e.seq).expect("small seq"),
                at_ms: e.at_ms,
                kind: serde_json::from_value(e.detail.clone()).expect("detail reads back"),
            })
            .collect();
        assert_eq!(back, events);
        assert_eq!(detail.events[4].kind, "dtmf");
        assert_eq!(detail.events[4].detail["digit"], "1");

        let s = &detail.summary;
        assert_eq!(s.protocol.as_str(), p);
        assert_eq!(s.call_id.as_deref(), Some("abc@gw"));
        assert_eq!(s.a_number.as_deref(), Some("1133334444"));
        assert_eq!(s.b_number.as_deref(), Some("08000000000"));
        assert_eq!(s.service.as_deref(), Some("sac"));
        assert_eq!(
            (s.started_at_ms, s.answered_at_ms, s.ended_at_ms),
            (Some(1_000), Some(1_010), Some(1_110))
        );
        assert_eq!(s.agent.as_deref(), Some("1002"));
        assert_eq!(s.hangup_by.as_deref(), Some("caller"));
        assert_eq!(s.hangup_cause.as_deref(), Some("normal_clearing"));
        assert_eq!(s.sip_status, Some(200));
        assert_eq!(s.recording_path.as_deref(), Some("r.wav"));
        assert_eq!(
            s.recording_sha256.as_deref(),
            Some("ab".repeat(32).as_str())
        );
        assert_eq!(s.recording_duration_ms, Some(100));

        let json = serde_json::to_value(&detail).expect("serializes");
        assert_eq!(json["summary"]["protocol"], p);
        assert_eq!(json["events"][11]["detail"]["by"], "caller");

        let unknown = db
            .store
            .call_detail(&"20261123-000043".parse().expect("valid"))
            .await;
        assert_eq!(unknown.expect("query"), None);
    }

    both_backends!(
        listing_filters_by_start_time_and_orders_by_protocol,
        listing
    );
    async fn listing(db: TestDb) {
        let mut events = Vec::new();
        for (i, p) in [
            "20261124-000001",
            "20261123-1000000",
            "20261123-999999",
            "20261123-000001",
        ]
        .iter()
        .enumerate()
        {
            events.push(event(p, 0, 100 * i as i64, offered("x")));
        }
        db.store.write_batch(&events).await.expect("written");
        let all = db.store.list_calls(0, i64::MAX, 10).await.expect("query");
        let order: Vec<&str> = all.iter().map(|c| c.protocol.as_str()).collect();
        assert_eq!(
            order,
            [
                "20261123-000001",
                "20261123-999999",
                "20261123-1000000",
                "20261124-000001"
            ]
        );
        let some = db.store.list_calls(100, 300, 10).await.expect("query");
        let order: Vec<&str> = some.iter().map(|c| c.protocol.as_str()).collect();
        assert_eq!(order, ["20261123-999999", "20261123-1000000"]);
        assert_eq!(
            db.store
                .list_calls(0, i64::MAX, 1)
                .await
                .expect("query")
                .len(),
            1
        );
        let last = db.store.last_protocol().await.expect("query");
        assert_eq!(
            last.map(|p| p.to_string()).as_deref(),
            Some("20261124-000001")
        );
    }

    both_backends!(the_greatest_stored_protocol_seeds_the_allocator, seeding);
    async fn seeding(db: TestDb) {
        use crate::store::protocol::ProtocolAllocator;
        use jiff::civil::date;
        assert_eq!(db.store.last_protocol().await.expect("query"), None);
        let mut alloc = ProtocolAllocator::new(None);
        let day1 = date(2026, 11, 23);
        let mut events = Vec::new();
        for _ in 0..3 {
            events.push(CallEvent {
                protocol: alloc.next(day1),
                seq: 0,
                at_ms: 1,
                kind: offered("x"),
            });
        }
        events.push(event("20261123-999999", 0, 1, offered("x")));
        events.push(event("20261123-1000000", 0, 1, offered("x")));
        db.store.write_batch(&events).await.expect("written");

        // A restart on the same day continues after the widened number...
        let seed = db.store.last_protocol().await.expect("query");
        assert_eq!(seed.as_ref().map(|p| p.as_str()), Some("20261123-1000000"));
        let mut alloc = ProtocolAllocator::new(seed.clone());
        assert_eq!(alloc.next(day1).as_str(), "20261123-1000001");
        // ...and one on the next day starts again at 1.
        let mut alloc = ProtocolAllocator::new(seed);
        assert_eq!(alloc.next(date(2026, 11, 24)).as_str(), "20261124-000001");
    }

    both_backends!(a_resumed_log_goes_on_after_the_last_stored_event, next_seq);
    async fn next_seq(db: TestDb) {
        let p: crate::store::protocol::Protocol = "20261123-000042".parse().expect("valid");
        assert_eq!(db.store.next_event_seq(&p).await.expect("query"), 0);
        db.store
            .write_batch(&story(p.as_str(), 1_000))
            .await
            .expect("written");
        let n = story(p.as_str(), 1_000).len() as u32;
        assert_eq!(db.store.next_event_seq(&p).await.expect("query"), n);
    }
}
