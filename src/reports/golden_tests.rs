//! Golden fixtures: a hand-built day of event logs covering every outcome and boundary,
//! with the expected facts and reports computed by hand from `docs/reports.md` (the
//! numbers in the comments), not printed by the code.

use std::collections::BTreeMap;

use super::*;
use crate::acd::event::{AcdEvent, RouteReason};
use crate::acd::{AgentId, CallId, Destination, QueueId};
use crate::events::{EventKind, Party};
use crate::ivr::IvrEvent;
use crate::ivr::io::Outcome as IvrOutcome;

/// A call's log under construction: `at(offset_ms, kind)` appends in `seq` order.
pub(crate) struct Fixture {
    pub protocol: String,
    t0: i64,
    pub log: Vec<LogEntry>,
}

/// UTC ms of a São Paulo local time on 2026-12-07 (−03:00).
pub(crate) fn local(hms: &str) -> i64 {
    format!("2026-12-07T{hms}-03:00")
        .parse::<jiff::Timestamp>()
        .expect("instant")
        .as_millisecond()
}

impl Fixture {
    pub fn new(protocol: &str, t0: i64) -> Fixture {
        let mut f = Fixture {
            protocol: protocol.into(),
            t0,
            log: Vec::new(),
        };
        f.at(
            0,
            EventKind::Offered {
                call_id: format!("{protocol}@test"),
                a_number: "27999990000".into(),
                b_number: "08000000000".into(),
                service: "0800".into(),
                source: "127.0.0.1:5060".into(),
                restricted: false,
            },
        );
        f
    }

    pub fn at(&mut self, offset_ms: i64, kind: EventKind) -> &mut Fixture {
        self.log.push(LogEntry {
            seq: self.log.len() as u32,
            at_ms: self.t0 + offset_ms,
            kind,
        });
        self
    }

    pub fn project(&self, acw: i64) -> CallFact {
        project(&self.protocol, &self.log, acw)
    }

    /// Platform answer, then straight into queue `q`.
    pub fn queued(protocol: &str, t0: i64, q: &str) -> Fixture {
        let mut f = Fixture::new(protocol, t0);
        f.at(0, EventKind::Answered)
            .at(0, queue_entered(protocol, q));
        f
    }
}

fn call(p: &str) -> CallId {
    CallId::new(p)
}

pub(crate) fn queue_entered(p: &str, q: &str) -> EventKind {
    EventKind::Acd {
        event: AcdEvent::QueueEntered {
            call: call(p),
            queue: QueueId::new(q),
            position: 1,
            priority: 0,
        },
    }
}

pub(crate) fn acd_answered(p: &str, agent: &str, q: &str, waited_ms: u64) -> EventKind {
    EventKind::Acd {
        event: AcdEvent::Answered {
            call: call(p),
            agent: AgentId::new(agent),
            queue: QueueId::new(q),
            waited_ms,
        },
    }
}

pub(crate) fn abandoned(p: &str, q: &str, waited_ms: u64) -> EventKind {
    EventKind::Acd {
        event: AcdEvent::Abandoned {
            call: call(p),
            queue: QueueId::new(q),
            waited_ms,
        },
    }
}

pub(crate) fn bridged(agent: &str) -> EventKind {
    EventKind::Bridged {
        agent: agent.into(),
    }
}

pub(crate) fn hung(by: Party) -> EventKind {
    EventKind::HungUp {
        by,
        cause: "normal".into(),
        sip_status: None,
    }
}

pub(crate) fn ivr(event: IvrEvent) -> EventKind {
    EventKind::Ivr { event }
}

fn flow_started() -> EventKind {
    ivr(IvrEvent::FlowStarted {
        flow: "principal".into(),
        route: "0800".into(),
    })
}

fn survey(score: Option<u8>) -> EventKind {
    EventKind::SurveyAnswered {
        survey: "isa".into(),
        question: "atendimento".into(),
        agent: Some("1001".into()),
        score,
        reason: None,
        isa: true,
    }
}

fn registered() -> EventKind {
    EventKind::Registered {
        agent: "1001".into(),
        code: "beneficio".into(),
        note: String::new(),
    }
}

/// The hand-built day of 2026-12-07 and each call's after-call work.
pub(crate) fn day() -> Vec<(Fixture, i64)> {
    let mut out = Vec::new();
    // A 09:00:00 — IVR 10 s, then the queue; answered after 29 999 ms; talk 120 s;
    // registered 40 s after hanging up (late); 30 s of after-call work.
    let mut a = Fixture::new("A", local("09:00:00"));
    a.at(0, EventKind::Answered)
        .at(0, flow_started())
        .at(
            10_000,
            ivr(IvrEvent::Finished {
                outcome: IvrOutcome::Queued { queue: "q1".into() },
            }),
        )
        .at(10_000, queue_entered("A", "q1"))
        .at(39_999, acd_answered("A", "1001", "q1", 29_999))
        .at(39_999, bridged("1001"))
        .at(159_999, hung(Party::Caller))
        .at(200_000, registered());
    out.push((a, 30_000));
    // B 09:01 — wait exactly 30 000 ms (within); talk 60 s, then the survey: a 5.
    let mut b = Fixture::queued("B", local("09:01:00"), "q1");
    b.at(30_000, acd_answered("B", "1001", "q1", 30_000))
        .at(30_000, bridged("1001"))
        .at(50_000, registered())
        .at(
            90_000,
            EventKind::SurveyStarted {
                survey: "isa".into(),
                agent: Some("1001".into()),
            },
        )
        .at(95_000, survey(Some(5)))
        .at(96_000, hung(Party::Caller));
    out.push((b, 0));
    // C 09:02 — wait 30 001 ms (beyond); talk 90 s; the survey: a 3, then no answer.
    let mut c = Fixture::queued("C", local("09:02:00"), "q1");
    c.at(30_001, acd_answered("C", "1002", "q1", 30_001))
        .at(30_001, bridged("1002"))
        .at(
            120_001,
            EventKind::SurveyStarted {
                survey: "isa".into(),
                agent: Some("1002".into()),
            },
        )
        .at(125_000, survey(Some(3)))
        .at(130_000, survey(None))
        .at(131_000, hung(Party::Caller));
    out.push((c, 0));
    // D 09:03 — abandoned in queue at exactly 30 000 ms (within).
    let mut d = Fixture::queued("D", local("09:03:00"), "q1");
    d.at(30_000, abandoned("D", "q1", 30_000))
        .at(30_000, hung(Party::Caller));
    out.push((d, 0));
    // E 09:04 — abandoned at 30 001 ms (beyond), while agent 1002's phone rang.
    let mut e = Fixture::queued("E", local("09:04:00"), "q1");
    e.at(
        20_000,
        EventKind::Ringing {
            agent: "1002".into(),
            contact: "sip:1002@127.0.0.1".into(),
        },
    )
    .at(30_001, abandoned("E", "q1", 30_001))
    .at(30_001, hung(Party::Caller));
    out.push((e, 0));
    // F 09:05 — served by the IVR in 20 s.
    let mut f = Fixture::new("F", local("09:05:00"));
    f.at(0, EventKind::Answered)
        .at(0, flow_started())
        .at(
            20_000,
            ivr(IvrEvent::Finished {
                outcome: IvrOutcome::ServedByIvr,
            }),
        )
        .at(21_000, hung(Party::System));
    out.push((f, 0));
    // G 09:06 — hung up in the IVR after 15 s.
    let mut g = Fixture::new("G", local("09:06:00"));
    g.at(0, EventKind::Answered)
        .at(0, flow_started())
        .at(
            15_000,
            ivr(IvrEvent::HungUpIn {
                flow: "principal".into(),
                node: "menu".into(),
            }),
        )
        .at(15_000, hung(Party::Caller));
    out.push((g, 0));
    // H 09:07 — refused at admission, at capacity (503): the SIP edge's minimal log,
    // offered then hung up by the system: not received, sub-code `capacity`.
    let mut h = Fixture::new("H", local("09:07:00"));
    h.at(
        0,
        EventKind::HungUp {
            by: Party::System,
            cause: "refused_capacity".into(),
            sip_status: Some(503),
        },
    );
    out.push((h, 0));
    // I 09:08 — the queue's max wait sent it to a message after 60 s: lost.
    let mut i = Fixture::queued("I", local("09:08:00"), "q1");
    i.at(
        60_000,
        EventKind::Acd {
            event: AcdEvent::Routed {
                call: call("I"),
                queue: QueueId::new("q1"),
                destination: Destination::Message {
                    prompt: "sorry".into(),
                },
                reason: RouteReason::MaxWait,
                waited_ms: 60_000,
            },
        },
    )
    .at(65_000, hung(Party::System));
    out.push((i, 0));
    // K 09:29:59.999 — answered by 1001 after 5 s, 30 s of talk, blind transfer to queue
    // q2, answered there by 1002 20 s later, 40 s of talk: one call, wait 5 s, talk 70 s.
    let mut k = Fixture::queued("K", local("09:29:59.999"), "q1");
    k.at(5_000, acd_answered("K", "1001", "q1", 5_000))
        .at(5_000, bridged("1001"))
        .at(
            35_000,
            EventKind::Transferred {
                from: "1001".into(),
                to: "queue:q2".into(),
                blind: true,
            },
        )
        .at(35_000, queue_entered("K", "q2"))
        .at(55_000, acd_answered("K", "1002", "q2", 20_000))
        .at(55_000, bridged("1002"))
        .at(95_000, hung(Party::Caller));
    out.push((k, 0));
    // J 23:59:00 — answered after 10 s, talks 5 min into the next day: the 7th, 23:30.
    let mut j = Fixture::queued("J", local("23:59:00"), "q1");
    j.at(10_000, acd_answered("J", "1002", "q1", 10_000))
        .at(10_000, bridged("1002"))
        .at(310_000, hung(Party::Caller));
    out.push((j, 0));
    // R 10:00 — answered after 20 s; the server died mid-call and the restart closed it
    // at the last thing known (the recording's end, 60 s of talk later).
    let mut r = Fixture::queued("R", local("10:00:00"), "q1");
    r.at(
        0,
        EventKind::RecordingStarted {
            path: "r.wav".into(),
        },
    )
    .at(20_000, acd_answered("R", "1001", "q1", 20_000))
    .at(20_000, bridged("1001"))
    .at(
        80_000,
        EventKind::HungUp {
            by: Party::System,
            cause: "server_restart".into(),
            sip_status: None,
        },
    )
    .at(
        80_000,
        EventKind::RecordingFinalized {
            path: "r.wav".into(),
            duration_ms: 80_000,
            sha256: "00".into(),
        },
    );
    out.push((r, 0));
    // L 11:00 — still waiting: in progress.
    out.push((Fixture::queued("L", local("11:00:00"), "q1"), 0));
    out
}

fn facts() -> BTreeMap<String, CallFact> {
    day()
        .into_iter()
        .map(|(f, acw)| (f.protocol.clone(), f.project(acw)))
        .collect()
}

#[test]
fn every_call_gets_its_one_outcome_and_clocks() {
    let f = facts();
    let o = |p: &str| (f[p].outcome, f[p].subcode.as_deref());
    assert_eq!(o("A"), (Outcome::HumanAnswered, None));
    assert_eq!(o("D"), (Outcome::QueueAbandon, None));
    assert_eq!(o("E"), (Outcome::QueueAbandon, None));
    assert_eq!(o("F"), (Outcome::IvrServed, None));
    assert_eq!(o("G"), (Outcome::IvrAbandon, None));
    assert_eq!(o("H"), (Outcome::NotReceived, Some("capacity")));
    assert_eq!(o("I"), (Outcome::Lost, Some("max_wait")));
    assert_eq!(o("K"), (Outcome::HumanAnswered, None));
    assert_eq!(o("R"), (Outcome::HumanAnswered, None));
    assert_eq!(o("L"), (Outcome::InProgress, None));
    let a = &f["A"];
    assert_eq!(
        (a.ivr_ms, a.wait_ms, a.talk_ms, a.acw_ms),
        (10_000, 29_999, 120_000, 30_000)
    );
    assert_eq!((a.line_ms, a.total_ms()), (159_999, 189_999));
    assert!(a.registered, "a registration after the hang-up counts");
    assert_eq!((f["B"].wait_ms, f["C"].wait_ms), (30_000, 30_001));
    assert_eq!(
        (f["B"].talk_ms, f["C"].talk_ms),
        (60_000, 90_000),
        "survey is not talk"
    );
    assert_eq!(
        (
            f["C"].survey_answers,
            f["C"].survey_top2,
            f["C"].survey_score
        ),
        (1, 0, Some(3))
    );
    assert_eq!((f["D"].wait_ms, f["E"].wait_ms), (30_000, 30_001));
    assert_eq!((f["F"].ivr_ms, f["G"].ivr_ms), (20_000, 15_000));
    assert_eq!(f["I"].wait_ms, 60_000);
    let k = &f["K"];
    assert_eq!((k.wait_ms, k.talk_ms, k.transfers), (5_000, 70_000, 1));
    assert_eq!(k.queue.as_deref(), Some("q2"), "the last queue it was in");
    let parts: Vec<(&str, i64)> = k
        .agents
        .iter()
        .map(|p| (p.agent.as_str(), p.talk_ms))
        .collect();
    assert_eq!(parts, vec![("1001", 30_000), ("1002", 40_000)]);
    assert_eq!(
        (f["R"].talk_ms, f["R"].recording.as_deref()),
        (60_000, Some("r.wav"))
    );
    assert_eq!((f["J"].talk_ms, f["J"].line_ms), (300_000, 310_000));
}

/// The hand-computed day: 13 offered (A B C D E F G H I K J R L).
pub(crate) fn expected_day() -> SlotStats {
    SlotStats {
        offered: 13,
        not_received: 1,
        ivr_served: 1,
        ivr_abandon: 1,
        answered_within: 5, // A 29 999, B 30 000, K 5 000, J 10 000, R 20 000
        answered_beyond: 1, // C 30 001
        queue_abandon_within: 1,
        queue_abandon_beyond: 1,
        lost: 1,
        in_progress: 1,
        queued: 9,        // A B C D E I K J R (L still waiting)
        talk_ms: 700_000, // 120 + 60 + 90 + 70 + 300 + 60 s
        hold_ms: 0,
        acw_ms: 30_000,
        wait_answered_ms: 125_000, // 29 999 + 30 000 + 30 001 + 5 000 + 10 000 + 20 000
        wait_abandon_ms: 60_001,
        wait_all_ms: 245_001, // + I's 60 000
        ivr_ms: 45_000,       // A 10 + F 20 + G 15 s
        talk_max_ms: 300_000,
        wait_max_ms: 60_000,
        wait_max_answered_ms: 30_001,
        registered: 2,
        survey_answers: 2,
        survey_top2: 1,
    }
}

#[test]
fn the_day_and_its_intervals_match_the_hand_computed_report() {
    let sp = Slotter::named("America/Sao_Paulo").expect("tz");
    let mut slots: BTreeMap<SlotKey, SlotStats> = BTreeMap::new();
    for f in facts().values() {
        slots
            .entry(sp.slot(f.arrived_ms))
            .or_default()
            .add(f, 30_000);
    }
    let keys: Vec<(String, u32, usize)> =
        slots.keys().map(|k| (k.date.clone(), k.index, 0)).collect();
    assert_eq!(
        keys,
        vec![
            ("2026-12-07".into(), 18, 0),
            ("2026-12-07".into(), 20, 0),
            ("2026-12-07".into(), 22, 0),
            ("2026-12-07".into(), 47, 0),
        ],
        "K (09:29:59.999) stays at 09:00; J (23:59, ends the 8th) is the 7th's last"
    );
    let nine = &slots[slots.keys().next().expect("09:00")];
    assert_eq!(
        (nine.offered, nine.answered_within, nine.answered_beyond),
        (10, 3, 1)
    );
    let mut day = SlotStats::default();
    for s in slots.values() {
        assert!(s.consistent());
        day.merge(s);
    }
    assert_eq!(day, expected_day());
    let k = Kpis::from_stats(&day, &Definitions::default());
    assert_eq!(k.ns, Ratio::of(6, 9)); // (5 + 1) ÷ (6 answered + 2 queue abandons + 1 lost)
    assert_eq!(k.tab, Ratio::of(1, 12));
    assert_eq!(k.tma, Mean::of(700_000, 6));
    assert_eq!(k.tme, Mean::of(125_000, 6));
    assert_eq!(k.iar, Ratio::of(2, 6));
    assert_eq!(k.isa, Ratio::of(1, 2));
    assert_eq!(k.inr, Ratio::of(1, 13));
    assert_eq!(k.ipl, Ratio::of(1, 12));
    let literal = Definitions {
        ns_counts_ivr_abandons: true,
        ..Definitions::default()
    };
    assert_eq!(Kpis::from_stats(&day, &literal).ns, Ratio::of(6, 10));
}

#[test]
fn events_out_of_order_or_twice_give_the_same_fact() {
    for (fx, acw) in day() {
        let mut shuffled = fx.log.clone();
        shuffled.reverse();
        shuffled.extend(fx.log.iter().take(3).cloned());
        assert_eq!(project(&fx.protocol, &shuffled, acw), fx.project(acw));
    }
}

/// An agent dialling a colleague (service `internal`) is not a citizen's call: it is in no
/// count of the contract's reports.
#[test]
fn an_agent_to_agent_call_is_not_offered() {
    let t0 = local("10:00:00");
    let mut f = Fixture::new("INT1", t0);
    if let EventKind::Offered { service, .. } = &mut f.log[0].kind {
        *service = crate::events::INTERNAL_SERVICE.into();
    }
    f.at(0, EventKind::Answered).at(
        60_000,
        EventKind::HungUp {
            by: Party::Caller,
            cause: "normal".into(),
            sip_status: None,
        },
    );
    let fact = f.project(0);
    assert!(fact.internal);
    let mut stats = SlotStats::default();
    stats.add(&fact, 30_000);
    assert_eq!(stats, SlotStats::default(), "nothing counted");
}

/// An agent's outside call from the desktop (service `outbound`) was placed by the agent,
/// not offered to the floor by a citizen: it is in no count either.
#[test]
fn an_agents_outside_call_is_not_offered() {
    let t0 = local("10:00:00");
    let mut f = Fixture::new("OUT1", t0);
    if let EventKind::Offered { service, .. } = &mut f.log[0].kind {
        *service = crate::events::OUTBOUND_SERVICE.into();
    }
    f.at(0, EventKind::Answered).at(
        90_000,
        EventKind::HungUp {
            by: Party::Agent,
            cause: "normal_clearing".into(),
            sip_status: None,
        },
    );
    let fact = f.project(0);
    assert!(fact.internal, "left out like an internal call");
    let mut stats = SlotStats::default();
    stats.add(&fact, 30_000);
    assert_eq!(stats, SlotStats::default(), "nothing counted");
}
