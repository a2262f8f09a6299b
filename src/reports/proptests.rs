//! Properties over random days: feeding events one at a time in any interleaving and
//! re-projecting only the touched call and its interval (the projector's way) ends with
//! the same intervals as projecting everything at once (the rebuild's way); the §1
//! identities hold in every interval; intervals sum to the day.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::golden_tests::{Fixture, abandoned, acd_answered, bridged, hung, local, queue_entered};
use super::*;
use crate::events::{EventKind, Party};

#[derive(Debug, Clone)]
struct Spec {
    start_s: i64,
    kind: u8,
    wait_ms: i64,
    talk_ms: i64,
    registered: bool,
    score: Option<u8>,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        0i64..86_400,
        0u8..6,
        29_990i64..30_010,
        0i64..600_000,
        any::<bool>(),
        proptest::option::of(1u8..=5),
    )
        .prop_map(
            |(start_s, kind, wait_ms, talk_ms, registered, score)| Spec {
                start_s,
                kind,
                wait_ms,
                talk_ms,
                registered,
                score,
            },
        )
}

fn build(i: usize, s: &Spec) -> Fixture {
    let p = format!("P{i:04}");
    let t0 = local("00:00:00") + s.start_s * 1000;
    let mut f = Fixture::queued(&p, t0, "q1");
    match s.kind {
        0 | 1 => {
            f.at(s.wait_ms, acd_answered(&p, "1001", "q1", 0))
                .at(s.wait_ms, bridged("1001"))
                .at(s.wait_ms + s.talk_ms, hung(Party::Caller));
            if s.registered {
                f.at(
                    s.wait_ms + s.talk_ms + 5_000,
                    EventKind::Registered {
                        agent: "1001".into(),
                        code: "x".into(),
                        note: String::new(),
                    },
                );
            }
            if let Some(score) = s.score {
                f.at(
                    s.wait_ms + s.talk_ms + 9_000,
                    EventKind::SurveyAnswered {
                        survey: "isa".into(),
                        question: "q".into(),
                        agent: None,
                        score: Some(score),
                        reason: None,
                        isa: true,
                    },
                );
            }
        }
        2 => {
            f.at(s.wait_ms, abandoned(&p, "q1", 0))
                .at(s.wait_ms, hung(Party::Caller));
        }
        3 => {
            f.at(s.wait_ms, hung(Party::System));
        }
        4 => {
            f.at(s.wait_ms, queue_entered(&p, "q2"));
        }
        _ => {
            let mut g = Fixture::new(&p, t0);
            g.at(10, hung(Party::System));
            return g;
        }
    }
    f
}

fn fold(facts: &BTreeMap<String, CallFact>, sp: &Slotter) -> BTreeMap<i64, SlotStats> {
    let mut slots: BTreeMap<i64, SlotStats> = BTreeMap::new();
    for f in facts.values() {
        slots
            .entry(sp.slot(f.arrived_ms).start_ms)
            .or_default()
            .add(f, 30_000);
    }
    slots
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn incremental_equals_rebuild(specs in proptest::collection::vec(spec(), 1..40), seed in any::<u64>()) {
        let sp = Slotter::named("America/Sao_Paulo").expect("tz");
        let calls: Vec<Fixture> = specs.iter().enumerate().map(|(i, s)| build(i, s)).collect();
        // Rebuild: every call projected from its whole log.
        let all: BTreeMap<String, CallFact> =
            calls.iter().map(|c| (c.protocol.clone(), c.project(0))).collect();
        let rebuilt = fold(&all, &sp);
        // Incremental: events arrive interleaved (a seeded shuffle); each one re-projects
        // its call from what has arrived and recomputes only that call's interval.
        let mut events: Vec<(String, LogEntry)> = calls
            .iter()
            .flat_map(|c| c.log.iter().map(|e| (c.protocol.clone(), e.clone())))
            .collect();
        let mut x = seed | 1;
        for i in (1..events.len()).rev() {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            events.swap(i, (x % (i as u64 + 1)) as usize);
        }
        let mut seen: BTreeMap<String, Vec<LogEntry>> = BTreeMap::new();
        let mut facts: BTreeMap<String, CallFact> = BTreeMap::new();
        let mut slots: BTreeMap<i64, SlotStats> = BTreeMap::new();
        for (p, e) in events {
            let log = seen.entry(p.clone()).or_default();
            log.push(e);
            let fact = project(&p, log, 0);
            let mut touched = vec![sp.slot(fact.arrived_ms).start_ms];
            if let Some(old) = facts.insert(p.clone(), fact) {
                touched.push(sp.slot(old.arrived_ms).start_ms);
            }
            for slot in touched {
                let mut s = SlotStats::default();
                for f in facts.values().filter(|f| sp.slot(f.arrived_ms).start_ms == slot) {
                    s.add(f, 30_000);
                }
                slots.insert(slot, s);
            }
        }
        slots.retain(|_, s| s.offered > 0);
        prop_assert_eq!(&slots, &rebuilt);
        let mut day = SlotStats::default();
        for s in rebuilt.values() {
            prop_assert!(s.consistent());
            day.merge(s);
        }
        prop_assert!(day.consistent());
        prop_assert_eq!(day.offered, specs.len() as u64);
    }
}
