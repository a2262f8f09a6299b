//! Property tests: random operation sequences against the engine, with a small model
//! that follows the outputs, plus exact-order properties for priority and longest idle,
//! and opening hours across DST.

use proptest::prelude::{Strategy as Gen, *};
use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::Strategy;
use super::tests::Harness;
use super::*;

const QUEUES: [&str; 3] = ["q0", "q1", "q2"];
const SKILLS: [&str; 2] = ["s0", "s1"];

#[derive(Debug, Clone)]
enum Op {
    Enqueue {
        queue: usize,
        priority: u8,
        skill: Option<(usize, u8)>,
    },
    Login {
        agent: usize,
        queues: Vec<(usize, u8)>,
        skills: Vec<(usize, u8)>,
        ready: bool,
    },
    Ready(usize),
    Pause(usize),
    Logout(usize),
    WrapUpEnded(usize),
    Answer(usize),
    Reject(usize),
    NotAnswered(usize),
    Hangup(usize),
    Callback {
        pick: usize,
        keep_place: bool,
        later: bool,
    },
    CallbackResult {
        pick: usize,
        connected: bool,
    },
    Advance(u64),
}

fn op() -> impl Gen<Value = Op> {
    let skill = prop::option::of((0..SKILLS.len(), 1u8..=10));
    prop_oneof![
        4 => (0..QUEUES.len(), 0u8..3, skill).prop_map(|(queue, priority, skill)| Op::Enqueue { queue, priority, skill }),
        2 => (0usize..6, prop::collection::vec((0..QUEUES.len(), 1u8..3), 1..3),
              prop::collection::vec((0..SKILLS.len(), 1u8..=10), 0..3), any::<bool>())
            .prop_map(|(agent, queues, skills, ready)| Op::Login { agent, queues, skills, ready }),
        1 => (0usize..6).prop_map(Op::Ready),
        1 => (0usize..6).prop_map(Op::Pause),
        1 => (0usize..6).prop_map(Op::Logout),
        1 => (0usize..6).prop_map(Op::WrapUpEnded),
        4 => any::<usize>().prop_map(Op::Answer),
        1 => any::<usize>().prop_map(Op::Reject),
        1 => any::<usize>().prop_map(Op::NotAnswered),
        3 => any::<usize>().prop_map(Op::Hangup),
        1 => (any::<usize>(), any::<bool>(), any::<bool>()).prop_map(|(pick, keep_place, later)| Op::Callback { pick, keep_place, later }),
        1 => (any::<usize>(), any::<bool>()).prop_map(|(pick, connected)| Op::CallbackResult { pick, connected }),
        3 => (0u64..90).prop_map(Op::Advance),
    ]
}

fn config() -> Vec<QueueConfig> {
    let mut q0 = QueueConfig::new("q0");
    q0.wrap_up = WrapUp::Auto { secs: 5 };
    q0.max_wait = Some(WaitLimit {
        secs: 400,
        destination: Destination::Queue { queue: "q1".into() },
    });
    let mut q1 = QueueConfig::new("q1");
    q1.strategy = Strategy::Skills;
    q1.wrap_up = WrapUp::Manual { max_secs: Some(60) };
    q1.max_length = Some(LengthLimit {
        calls: 6,
        destination: Destination::Hangup,
    });
    q1.callback = CallbackPolicy {
        max_attempts: 2,
        retry_after_secs: 30,
        key: None,
    };
    let mut q2 = QueueConfig::new("q2");
    q2.strategy = Strategy::RingAll;
    q2.start_tier = 1;
    q2.escalation = vec![
        EscalationStep {
            after_secs: 20,
            action: Escalation::NextTier,
        },
        EscalationStep {
            after_secs: 40,
            action: Escalation::LowerProficiency { by: 5 },
        },
        EscalationStep {
            after_secs: 200,
            action: Escalation::Overflow { queue: "q0".into() },
        },
    ];
    vec![q0, q1, q2]
}

/// What the test knows from the outputs alone.
#[derive(Default)]
struct Model {
    live: BTreeSet<String>,
    /// call -> agents ringing for it
    offers: BTreeMap<String, BTreeSet<String>>,
    dialing: BTreeSet<String>,
    skills: HashMap<String, Vec<(usize, u8)>>,
    needs: HashMap<String, (usize, Option<(usize, u8)>)>,
}

impl Model {
    fn apply(&mut self, out: &[Output], engine: &Engine) -> Result<(), TestCaseError> {
        for o in out {
            match o {
                Output::Offer { .. } | Output::StartCallback { .. } => {
                    let (call, agent, ring_all) = match o {
                        Output::Offer { call, agent, queue } => (call, agent, queue.0 == "q2"),
                        Output::StartCallback { call, agent, .. } => (call, agent, false),
                        _ => unreachable!("matched above"),
                    };
                    for (c, agents) in &self.offers {
                        prop_assert!(
                            !agents.contains(&agent.0),
                            "{agent} offered {call} while ringing for {c}"
                        );
                    }
                    let ringing = self.offers.entry(call.0.clone()).or_default();
                    prop_assert!(
                        ring_all || ringing.is_empty(),
                        "{call} offered to two agents"
                    );
                    ringing.insert(agent.0.clone());
                    // Skills honoured where no escalation widens them.
                    if let (Some((q, Some((s, l)))), Some(have)) =
                        (self.needs.get(&call.0), self.skills.get(&agent.0))
                        && *q != 2
                    {
                        prop_assert!(
                            have.iter().any(|(hs, hl)| hs == s && hl >= l),
                            "{agent} lacks the skill for {call}"
                        );
                    }
                }
                Output::CancelOffer { call, agent } => {
                    if let Some(s) = self.offers.get_mut(&call.0) {
                        s.remove(&agent.0);
                    }
                }
                Output::Log(e) => match e {
                    AcdEvent::RingNoAnswer { call, agent, .. }
                    | AcdEvent::OfferRejected { call, agent } => {
                        if let Some(s) = self.offers.get_mut(&call.0) {
                            s.remove(&agent.0);
                        }
                    }
                    AcdEvent::Abandoned { call, .. }
                    | AcdEvent::Routed { call, .. }
                    | AcdEvent::CallEnded { call, .. }
                    | AcdEvent::CallbackCompleted { call, .. }
                    | AcdEvent::CallbackGaveUp { call, .. } => {
                        prop_assert!(self.live.remove(&call.0), "{call} ended twice");
                        self.offers.remove(&call.0);
                        self.dialing.remove(&call.0);
                    }
                    _ => {}
                },
                _ => {}
            }
        }
        self.offers.retain(|_, s| !s.is_empty());
        let held: BTreeSet<String> = engine.call_ids.keys().map(|c| c.0.clone()).collect();
        prop_assert_eq!(&held, &self.live, "calls lost or invented");
        Ok(())
    }

    fn pick_offer(&self, pick: usize) -> Option<(String, String)> {
        let all: Vec<(String, String)> = self
            .offers
            .iter()
            .flat_map(|(c, agents)| agents.iter().map(move |a| (c.clone(), a.clone())))
            .collect();
        (!all.is_empty()).then(|| all[pick % all.len()].clone())
    }
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut h = Harness::new(config());
    let mut m = Model::default();
    let mut next_call = 0;
    for op in ops {
        let input = match op {
            Op::Enqueue {
                queue,
                priority,
                skill,
            } => {
                next_call += 1;
                let call = format!("c{next_call}");
                m.needs.insert(call.clone(), (queue, skill));
                Some(Input::Enqueue(NewCall {
                    call: call.as_str().into(),
                    queue: QUEUES[queue].into(),
                    priority,
                    skills: skill
                        .map(|(s, l)| vec![SkillLevel::new(SKILLS[s], l)])
                        .unwrap_or_default(),
                    a_number: CallerNumber::new("2730000000"),
                    variables: Default::default(),
                }))
            }
            Op::Login {
                agent,
                queues,
                skills,
                ready,
            } => {
                let id = format!("a{agent}");
                let sk: Vec<(usize, u8)> = skills.clone();
                let busy = matches!(
                    h.engine.agent_status(&id.as_str().into()),
                    Some((AgentStatus::Ringing { .. } | AgentStatus::OnCall { .. }, _))
                );
                if !busy {
                    let mut dedup: Vec<(usize, u8)> = Vec::new();
                    for (s, l) in sk {
                        if dedup.iter().all(|(x, _)| *x != s) {
                            dedup.push((s, l));
                        }
                    }
                    m.skills.insert(id.clone(), dedup);
                }
                Some(Input::AgentLogin(AgentLogin {
                    agent: id.as_str().into(),
                    memberships: queues
                        .iter()
                        .map(|(q, t)| Membership::new(QUEUES[*q], *t))
                        .collect(),
                    skills: skills
                        .iter()
                        .map(|(s, l)| SkillLevel::new(SKILLS[*s], *l))
                        .collect(),
                    ready,
                }))
            }
            Op::Ready(a) => Some(Input::AgentReady {
                agent: format!("a{a}").as_str().into(),
            }),
            Op::Pause(a) => Some(Input::AgentPause {
                agent: format!("a{a}").as_str().into(),
                reason: "lunch".into(),
            }),
            Op::Logout(a) => Some(Input::AgentLogout {
                agent: format!("a{a}").as_str().into(),
            }),
            Op::WrapUpEnded(a) => Some(Input::WrapUpEnded {
                agent: format!("a{a}").as_str().into(),
            }),
            Op::Answer(p) | Op::Reject(p) | Op::NotAnswered(p) => m.pick_offer(p).map(|(c, a)| {
                let (call, agent) = (c.as_str().into(), a.as_str().into());
                match op {
                    Op::Answer(_) => {
                        m.offers.remove(&c);
                        Input::OfferAnswered { call, agent }
                    }
                    Op::Reject(_) => Input::OfferRejected { call, agent },
                    _ => Input::OfferNotAnswered { call, agent },
                }
            }),
            Op::Hangup(p) => {
                let live: Vec<&String> = m.live.iter().collect();
                (!live.is_empty()).then(|| Input::Hangup {
                    call: live[p % live.len()].as_str().into(),
                })
            }
            Op::Callback {
                pick,
                keep_place,
                later,
            } => {
                let live: Vec<&String> = m.live.iter().collect();
                (!live.is_empty()).then(|| Input::CallbackRequested {
                    call: live[pick % live.len()].as_str().into(),
                    number: None,
                    keep_place,
                    not_before: later.then(|| {
                        h.now
                            .wall
                            .saturating_add(jiff::SignedDuration::from_secs(45))
                            .expect("ts")
                    }),
                })
            }
            Op::CallbackResult { pick, connected } => {
                let live: Vec<&String> = m.live.iter().collect();
                (!live.is_empty()).then(|| Input::CallbackResult {
                    call: live[pick % live.len()].as_str().into(),
                    outcome: if connected {
                        CallbackOutcome::Connected
                    } else {
                        CallbackOutcome::NoAnswer
                    },
                })
            }
            Op::Advance(s) => {
                h.advance(s);
                None
            }
        };
        if let Some(input) = input {
            let enqueued = match &input {
                Input::Enqueue(nc) => Some(nc.call.0.clone()),
                _ => None,
            };
            if h.input(input).is_ok()
                && let Some(c) = enqueued
            {
                m.live.insert(c);
            }
        }
        let out = h.take();
        m.apply(&out, &h.engine)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    /// No call lost or invented, none offered to two agents at once (outside ring-all), no
    /// agent offered two calls, skills honoured, and (checked inside the harness after
    /// every step) no available agent idles while a call they can take waits.
    #[test]
    fn random_operations_keep_every_invariant(ops in prop::collection::vec(op(), 1..80)) {
        run(ops)?;
    }

    /// With calls waiting, agents freeing up one by one take them in exact priority then
    /// arrival order.
    #[test]
    fn priority_then_arrival_order_is_exact(prios in prop::collection::vec(0u8..4, 1..30)) {
        let mut h = Harness::new(vec![QueueConfig::new("q")]);
        for (i, p) in prios.iter().enumerate() {
            h.call(&format!("c{i}"), "q", *p, &[]);
            h.advance(1);
        }
        h.take();
        let mut expected: Vec<usize> = (0..prios.len()).collect();
        expected.sort_by_key(|i| (std::cmp::Reverse(prios[*i]), *i));
        h.login("a", &[("q", 1)], &[]);
        for i in expected {
            let offers = h.offers();
            prop_assert_eq!(offers, vec![(format!("c{i}"), "a".to_string())]);
            h.answer(&format!("c{i}"), "a");
            h.hangup(&format!("c{i}"));
        }
    }

    /// Agents who became available at different times get calls longest-idle first.
    #[test]
    fn longest_idle_order_is_exact(gaps in prop::collection::vec(1u64..100, 1..25), order in any::<u64>()) {
        let mut h = Harness::new(vec![QueueConfig::new("q")]);
        let n = gaps.len();
        // Log everyone in paused, then make them ready in a shuffled order.
        for i in 0..n {
            h.ok(Input::AgentLogin(AgentLogin { agent: format!("a{i}").as_str().into(), memberships: vec![Membership::new("q", 1)], skills: vec![], ready: false }));
        }
        let mut ready: Vec<usize> = (0..n).collect();
        ready.sort_by_key(|i| (*i as u64).wrapping_mul(order | 1).rotate_left(7));
        for (k, i) in ready.iter().enumerate() {
            h.advance(gaps[k]);
            h.ok(Input::AgentReady { agent: format!("a{i}").as_str().into() });
        }
        h.take();
        for (k, i) in ready.iter().enumerate() {
            h.call(&format!("c{k}"), "q", 0, &[]);
            prop_assert_eq!(h.offers(), vec![(format!("c{k}"), format!("a{i}"))]);
        }
    }

    /// Opening hours across the 2026 DST changes in New York: after any jump in virtual
    /// time, the queue is open exactly when the schedule says.
    #[test]
    fn open_state_follows_the_schedule_across_dst(start_day in 0i64..40, steps in prop::collection::vec(60u64..20_000, 1..40)) {
        let spec: crate::schedule::ScheduleSpec = toml::from_str(r#"
            timezone = "America/New_York"
            [weekly]
            mon = ["08:00-12:00", "13:00-18:00"]
            tue = ["08:00-18:00"]
            sat = ["02:00-03:30"]
            sun = ["02:00-03:30", "09:00-10:00"]
        "#).expect("valid schedule");
        let schedule = crate::schedule::Schedule::compile(&spec).expect("compiles");
        let mut q = QueueConfig::new("q");
        q.schedule = Some(spec);
        // Around the spring change (March 8) and the autumn change (November 1).
        let base: jiff::Timestamp = if start_day < 20 { "2026-02-26T00:00:00Z" } else { "2026-10-12T00:00:00Z" }.parse().expect("ts");
        let start = Now::new(Tick(0), base.saturating_add(jiff::SignedDuration::from_hours(24 * (start_day % 20))).expect("ts"));
        let mut h = Harness::at(vec![q], start);
        for s in steps {
            h.advance(s);
            let open = h.engine.queue_status(&"q".into()).expect("queue").open;
            prop_assert_eq!(open, schedule.is_open(h.now.wall), "at {}", h.now.wall);
        }
    }
}

#[test]
fn a_long_random_day_stays_consistent() {
    // A fixed, longer sequence as a smoke test of the same model.
    let mut ops = Vec::new();
    for i in 0..400usize {
        ops.push(match i % 9 {
            0 | 5 => Op::Enqueue {
                queue: i % 3,
                priority: (i % 4) as u8,
                skill: (i % 2 == 0).then_some((i % 2, (i % 10) as u8 + 1)),
            },
            1 => Op::Login {
                agent: i % 6,
                queues: vec![(i % 3, 1), ((i + 1) % 3, 2)],
                skills: vec![(0, 5), (1, 7)],
                ready: true,
            },
            2 | 6 => Op::Answer(i),
            3 => Op::Hangup(i),
            4 => Op::Advance(37),
            7 => Op::Callback {
                pick: i,
                keep_place: true,
                later: false,
            },
            _ => Op::WrapUpEnded(i % 6),
        });
    }
    run(ops).expect("consistent");
}

/// When clocks fall back, a range inside the repeated hour opens again on its second pass:
/// from 01:00 EST (06:00 UTC, closed) on 2026-11-01 a 01:30-02:30 range reopens at 06:30
/// UTC. The engine arms its timers from `next_change`, so a miss would keep the queue
/// closed for that half hour.
#[test]
fn fall_back_repeated_hour_reopens() {
    let spec: crate::schedule::ScheduleSpec = toml::from_str(
        r#"
        timezone = "America/New_York"
        weekly = { sun = ["01:30-02:30"] }
        "#,
    )
    .expect("valid schedule");
    let s = crate::schedule::Schedule::compile(&spec).expect("compiles");
    let closed: jiff::Timestamp = "2026-11-01T06:00:00Z".parse().expect("ts");
    assert!(!s.is_open(closed));
    assert_eq!(
        s.next_change(closed).map(|t| t.to_string()),
        Some("2026-11-01T06:30:00Z".into())
    );
}
