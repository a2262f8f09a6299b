//! IVR statistics from the call log: per node, entries, exits by option, timeouts, invalid
//! inputs and hang-ups (abandoned in the IVR); per call, how its IVR part ended and
//! whether the caller pressed 0 for a human.
//!
//! Two halves: `Aggregator`, pure, folds decoded `IvrEvent`s call by call (unit-tested);
//! `Store::ivr_stats` reads the `kind = 'ivr'` rows of the calls started in a period, in
//! (protocol, seq) pages so a year of calls never sits in memory at once. Read-only.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::event::EventKind;
use super::{Store, StoreError};
use crate::ivr::IvrEvent;
use crate::ivr::io::Outcome;

/// Rows fetched per page.
const PAGE: i64 = 5000;

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct IvrStats {
    /// Calls (started in the period) that entered the IVR.
    pub calls: u64,
    /// Ended in a `hangup` node: fully served by the IVR.
    pub served_by_ivr: u64,
    /// The caller hung up in the IVR.
    pub abandoned_in_ivr: u64,
    /// Handed to an ACD queue.
    pub queued: u64,
    /// Transferred to a number or extension.
    pub transferred: u64,
    /// Calls in which the caller pressed 0 in a menu (asked for a human).
    pub pressed_zero: u64,
    /// Of those, the calls the IVR then handed to a queue or a transfer.
    pub pressed_zero_reached_human: u64,
    /// Per node, sorted by flow then node.
    pub nodes: Vec<NodeStats>,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeStats {
    pub flow: String,
    pub node: String,
    /// The node's type (`menu`, `play`, …).
    pub kind: String,
    pub entries: u64,
    /// Menu keys chosen → times.
    pub exits: BTreeMap<String, u64>,
    pub timeouts: u64,
    pub invalid_inputs: u64,
    /// The last attempt failed and the node's `on_failure` was taken.
    pub failures: u64,
    /// Callers who hung up here.
    pub hang_ups: u64,
}

/// Folds events call by call; push each call's events in `seq` order.
#[derive(Debug, Default)]
pub struct Aggregator {
    stats: IvrStats,
    nodes: BTreeMap<(String, String), NodeStats>,
    call: Option<String>,
    flow: String,
    pressed_zero: bool,
    outcome: Option<Outcome>,
}

impl Aggregator {
    pub fn new() -> Aggregator {
        Aggregator::default()
    }

    fn node(&mut self, flow: &str, node: &str) -> &mut NodeStats {
        self.nodes
            .entry((flow.to_owned(), node.to_owned()))
            .or_insert_with(|| NodeStats {
                flow: flow.to_owned(),
                node: node.to_owned(),
                ..NodeStats::default()
            })
    }

    /// One event of call `protocol`. A call's events must come together, in order.
    pub fn push(&mut self, protocol: &str, event: &IvrEvent) {
        if self.call.as_deref() != Some(protocol) {
            self.end_call();
            self.call = Some(protocol.to_owned());
            self.stats.calls += 1;
        }
        let flow = self.flow.clone();
        match event {
            IvrEvent::FlowStarted { flow, .. } => self.flow = flow.clone(),
            IvrEvent::NodeEntered { flow, node, kind } => {
                self.flow = flow.clone();
                let n = self.node(flow, node);
                n.entries += 1;
                n.kind = kind.clone();
            }
            IvrEvent::OptionChosen { node, digits, .. } => {
                if digits == "0" {
                    self.pressed_zero = true;
                }
                *self
                    .node(&flow, node)
                    .exits
                    .entry(digits.clone())
                    .or_default() += 1;
            }
            IvrEvent::Timeout { node, .. } => self.node(&flow, node).timeouts += 1,
            IvrEvent::InvalidInput { node, .. } => self.node(&flow, node).invalid_inputs += 1,
            IvrEvent::LastFailure { node, .. } => self.node(&flow, node).failures += 1,
            IvrEvent::HungUpIn { flow, node } => self.node(flow, node).hang_ups += 1,
            IvrEvent::Finished { outcome } => self.outcome = Some(outcome.clone()),
            _ => {}
        }
    }

    fn end_call(&mut self) {
        if self.call.take().is_none() {
            return;
        }
        let human = matches!(
            self.outcome,
            Some(Outcome::Queued { .. } | Outcome::Transferred { .. })
        );
        match self.outcome.take() {
            Some(Outcome::ServedByIvr) => self.stats.served_by_ivr += 1,
            Some(Outcome::Abandoned) => self.stats.abandoned_in_ivr += 1,
            Some(Outcome::Queued { .. }) => self.stats.queued += 1,
            Some(Outcome::Transferred { .. }) => self.stats.transferred += 1,
            None => {}
        }
        if std::mem::take(&mut self.pressed_zero) {
            self.stats.pressed_zero += 1;
            if human {
                self.stats.pressed_zero_reached_human += 1;
            }
        }
        self.flow.clear();
    }

    pub fn finish(mut self) -> IvrStats {
        self.end_call();
        self.stats.nodes = self.nodes.into_values().collect();
        self.stats
    }
}

#[derive(sqlx::FromRow)]
struct Row {
    protocol: String,
    seq: i64,
    detail: String,
}

const PAGE_SQL: &str = "SELECT e.protocol, e.seq, e.detail FROM call_events e \
     JOIN calls c ON c.protocol = e.protocol \
     WHERE e.kind = 'ivr' AND c.started_at_ms >= $1 AND c.started_at_ms < $2 \
     AND (e.protocol, e.seq) > ($3, $4) \
     ORDER BY e.protocol, e.seq LIMIT $5";

impl Store {
    /// IVR statistics of the calls started in `[from_ms, to_ms)`.
    pub async fn ivr_stats(&self, from_ms: i64, to_ms: i64) -> Result<IvrStats, StoreError> {
        self.ivr_stats_paged(from_ms, to_ms, PAGE).await
    }

    async fn ivr_stats_paged(
        &self,
        from_ms: i64,
        to_ms: i64,
        page: i64,
    ) -> Result<IvrStats, StoreError> {
        let mut agg = Aggregator::new();
        let (mut after_protocol, mut after_seq) = (String::new(), -1i64);
        loop {
            let rows: Vec<Row> = on_pool!(self, pool => {
                sqlx::query_as(PAGE_SQL)
                    .bind(from_ms)
                    .bind(to_ms)
                    .bind(&after_protocol)
                    .bind(after_seq)
                    .bind(page)
                    .fetch_all(pool)
                    .await?
            });
            let full = rows.len() as i64 == page;
            for r in rows {
                let kind: EventKind =
                    serde_json::from_str(&r.detail).map_err(|source| StoreError::BadDetail {
                        protocol: r.protocol.clone(),
                        seq: r.seq,
                        source,
                    })?;
                if let EventKind::Ivr { event } = kind {
                    agg.push(&r.protocol, &event);
                }
                (after_protocol, after_seq) = (r.protocol, r.seq);
            }
            if !full {
                return Ok(agg.finish());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ivr::io::{Destination, Failure};
    use crate::store::event::CallEvent;
    use crate::store::testing::{TestDb, both_backends, event, offered};

    fn entered(node: &str, kind: &str) -> IvrEvent {
        IvrEvent::NodeEntered {
            flow: "principal".into(),
            node: node.into(),
            kind: kind.into(),
        }
    }

    fn chose(node: &str, digits: &str, target: &str) -> IvrEvent {
        IvrEvent::OptionChosen {
            node: node.into(),
            digits: digits.into(),
            target: target.into(),
        }
    }

    fn finished(outcome: Outcome) -> IvrEvent {
        IvrEvent::Finished { outcome }
    }

    fn started() -> IvrEvent {
        IvrEvent::FlowStarted {
            flow: "principal".into(),
            route: "default".into(),
        }
    }

    /// Served by the IVR after a timeout and a wrong key; pressed 0 and queued; hung up in
    /// the menu; pressed 0 in a sub-flow, then transferred.
    fn four_calls() -> Vec<(&'static str, Vec<IvrEvent>)> {
        let queued = || Outcome::Queued {
            queue: "geral".into(),
        };
        vec![
            (
                "20261124-000001",
                vec![
                    started(),
                    entered("menu", "menu"),
                    IvrEvent::Timeout {
                        node: "menu".into(),
                        attempt: 1,
                    },
                    IvrEvent::InvalidInput {
                        node: "menu".into(),
                        attempt: 2,
                        digits: Some("7".into()),
                    },
                    chose("menu", "1", "info"),
                    entered("info", "play"),
                    entered("fim", "hangup"),
                    finished(Outcome::ServedByIvr),
                ],
            ),
            (
                "20261124-000002",
                vec![
                    started(),
                    entered("menu", "menu"),
                    chose("menu", "0", "atendente"),
                    entered("atendente", "queue"),
                    finished(queued()),
                ],
            ),
            (
                "20261124-000003",
                vec![
                    started(),
                    entered("menu", "menu"),
                    IvrEvent::Timeout {
                        node: "menu".into(),
                        attempt: 1,
                    },
                    IvrEvent::LastFailure {
                        node: "menu".into(),
                        failure: Failure::Timeout,
                        target: "menu".into(),
                    },
                    IvrEvent::HungUpIn {
                        flow: "principal".into(),
                        node: "menu".into(),
                    },
                    finished(Outcome::Abandoned),
                ],
            ),
            (
                "20261124-000004",
                vec![
                    started(),
                    entered("menu", "menu"),
                    chose("menu", "2", "sub"),
                    IvrEvent::NodeEntered {
                        flow: "pagamentos".into(),
                        node: "menu".into(),
                        kind: "menu".into(),
                    },
                    chose("menu", "0", "humano"),
                    finished(Outcome::Transferred {
                        to: Destination::Extension("2000".into()),
                    }),
                ],
            ),
        ]
    }

    fn check(s: &IvrStats) {
        assert_eq!(s.calls, 4);
        assert_eq!(
            (s.served_by_ivr, s.abandoned_in_ivr, s.queued, s.transferred),
            (1, 1, 1, 1)
        );
        assert_eq!((s.pressed_zero, s.pressed_zero_reached_human), (2, 2));
        let node = |flow: &str, node: &str| {
            s.nodes
                .iter()
                .find(|n| n.flow == flow && n.node == node)
                .unwrap_or_else(|| panic!("{flow}/{node} in {:?}", s.nodes))
        };
        let menu = node("principal", "menu");
        assert_eq!(menu.kind, "menu");
        assert_eq!(menu.entries, 4);
        assert_eq!(
            menu.exits,
            BTreeMap::from([("0".into(), 1), ("1".into(), 1), ("2".into(), 1)])
        );
        assert_eq!(
            (
                menu.timeouts,
                menu.invalid_inputs,
                menu.failures,
                menu.hang_ups
            ),
            (2, 1, 1, 1)
        );
        let sub = node("pagamentos", "menu");
        assert_eq!(sub.entries, 1);
        assert_eq!(sub.exits, BTreeMap::from([("0".into(), 1)]));
        assert_eq!(node("principal", "info").entries, 1);
        assert_eq!(node("principal", "fim").kind, "hangup");
        let order: Vec<(&str, &str)> = s
            .nodes
            .iter()
            .map(|n| (n.flow.as_str(), n.node.as_str()))
            .collect();
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(order, sorted);
    }

    #[test]
    fn aggregation_counts_nodes_outcomes_and_zero_presses() {
        let mut agg = Aggregator::new();
        for (p, events) in four_calls() {
            for e in &events {
                agg.push(p, e);
            }
        }
        check(&agg.finish());
        assert_eq!(Aggregator::new().finish(), IvrStats::default());
    }

    fn stored(t0: i64) -> Vec<CallEvent> {
        let mut out = Vec::new();
        for (i, (p, events)) in four_calls().into_iter().enumerate() {
            let start = t0 + i as i64 * 1000;
            out.push(event(p, 0, start, offered("c")));
            out.push(event(p, 1, start + 1, EventKind::Answered));
            for (j, e) in events.into_iter().enumerate() {
                out.push(event(
                    p,
                    2 + j as u32,
                    start + 2 + j as i64,
                    EventKind::Ivr { event: e },
                ));
            }
        }
        // Outside the period: not counted.
        out.push(event("20261123-000009", 0, 5, offered("old")));
        out.push(event(
            "20261123-000009",
            1,
            6,
            EventKind::Ivr {
                event: finished(Outcome::ServedByIvr),
            },
        ));
        out
    }

    both_backends!(stats_come_from_the_stored_ivr_events_of_the_period, stats);
    async fn stats(db: TestDb) {
        let t0 = 1_000_000;
        // Through the event writer the calls use.
        let log = crate::store::event_log::EventLog::spawn(
            db.store.clone(),
            crate::store::event_log::EventLogConfig {
                spill_path: db.dir.path().join("spill.jsonl"),
                ..Default::default()
            },
        )
        .await
        .expect("event log starts");
        for ev in stored(t0) {
            log.record(ev);
        }
        log.flush().await;
        let s = db.store.ivr_stats(t0, t0 + 10_000).await.expect("query");
        check(&s);
        // Small pages cut calls in the middle: the result must not change.
        let paged = db
            .store
            .ivr_stats_paged(t0, t0 + 10_000, 3)
            .await
            .expect("query");
        assert_eq!(paged, s);
        let all = db.store.ivr_stats(0, i64::MAX).await.expect("query");
        assert_eq!((all.calls, all.served_by_ivr), (5, 2));
        let none = db
            .store
            .ivr_stats(t0 + 10_000, i64::MAX)
            .await
            .expect("query");
        assert_eq!(none, IvrStats::default());
    }
}
