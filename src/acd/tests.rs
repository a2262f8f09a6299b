//! Engine unit tests: scenarios in virtual time, asserting what a caller, an agent or a
//! supervisor would see (who rings, what the log says, how long was waited).

use std::time::Duration;

use super::*;

pub(super) struct Harness {
    pub engine: Engine,
    pub now: Now,
    pub out: Vec<Output>,
}

pub(super) fn t0() -> Now {
    Now::new(
        Tick(0),
        "2026-03-02T11:00:00Z".parse().expect("valid timestamp"),
    )
}

impl Harness {
    pub fn new(queues: Vec<QueueConfig>) -> Harness {
        Harness::at(queues, t0())
    }

    pub fn at(queues: Vec<QueueConfig>, now: Now) -> Harness {
        let cfg = EngineConfig {
            queues,
            pause_reasons: vec!["lunch".into()],
        };
        let engine = Engine::new(cfg, now).expect("valid config");
        Harness {
            engine,
            now,
            out: Vec::new(),
        }
    }

    fn drain(&mut self) {
        while let Some(o) = self.engine.poll_output() {
            self.out.push(o);
        }
        if let Err(e) = self.engine.check_invariants() {
            panic!(
                "invariant broken: {e}\nlast outputs: {:#?}",
                &self.out[self.out.len().saturating_sub(12)..]
            );
        }
    }

    pub fn input(&mut self, i: Input) -> Result<(), AcdError> {
        let r = self.engine.handle_input(self.now, i);
        self.drain();
        r
    }

    pub fn ok(&mut self, i: Input) {
        self.input(i).expect("input accepted");
    }

    /// Advance virtual time, firing timers on the way in order.
    pub fn advance(&mut self, secs: u64) {
        let end = self.now.plus(Duration::from_secs(secs));
        while let Some(t) = self.engine.next_timeout() {
            if t > end.tick {
                break;
            }
            let step = t.since(self.now.tick);
            self.now = self.now.plus(step);
            self.engine.handle_timeout(self.now);
            self.drain();
        }
        self.now = end;
        self.engine.handle_timeout(self.now);
        self.drain();
    }

    pub fn take(&mut self) -> Vec<Output> {
        std::mem::take(&mut self.out)
    }

    /// (call, agent) of every offer made since the last take.
    pub fn offers(&mut self) -> Vec<(String, String)> {
        self.take()
            .into_iter()
            .filter_map(|o| match o {
                Output::Offer { call, agent, .. } => Some((call.0, agent.0)),
                _ => None,
            })
            .collect()
    }

    pub fn login(&mut self, agent: &str, queues: &[(&str, u8)], skills: &[(&str, u8)]) {
        self.ok(Input::AgentLogin(AgentLogin {
            agent: agent.into(),
            memberships: queues
                .iter()
                .map(|(q, t)| Membership::new(*q, *t))
                .collect(),
            skills: skills
                .iter()
                .map(|(s, l)| SkillLevel::new(*s, *l))
                .collect(),
            ready: true,
        }));
    }

    pub fn call(&mut self, call: &str, queue: &str, priority: u8, skills: &[(&str, u8)]) {
        self.ok(Input::Enqueue(NewCall {
            call: call.into(),
            queue: queue.into(),
            priority,
            skills: skills
                .iter()
                .map(|(s, l)| SkillLevel::new(*s, *l))
                .collect(),
            a_number: CallerNumber::new("27999990000"),
            variables: Default::default(),
        }));
    }

    pub fn answer(&mut self, call: &str, agent: &str) {
        self.ok(Input::OfferAnswered {
            call: call.into(),
            agent: agent.into(),
        });
    }

    pub fn hangup(&mut self, call: &str) {
        self.ok(Input::Hangup { call: call.into() });
    }

    pub fn status(&self, agent: &str) -> AgentStatus {
        self.engine
            .agent_status(&agent.into())
            .expect("agent known")
            .0
    }
}

fn pair(c: &str, a: &str) -> (String, String) {
    (c.to_string(), a.to_string())
}

/// Agents who freed up earlier get the next calls, in exact order.
#[test]
fn longest_idle_agent_gets_the_call() {
    let mut h = Harness::new(vec![QueueConfig::new("q")]);
    for a in ["a1", "a2", "a3"] {
        h.login(a, &[("q", 1)], &[]);
        h.advance(10);
    }
    h.take();
    h.call("c1", "q", 0, &[]);
    h.call("c2", "q", 0, &[]);
    assert_eq!(h.offers(), vec![pair("c1", "a1"), pair("c2", "a2")]);
    // a1 talks 30 s and comes back after a2 and a3 were idle longer.
    h.answer("c1", "a1");
    h.answer("c2", "a2");
    h.advance(30);
    h.hangup("c1");
    h.call("c3", "q", 0, &[]);
    assert_eq!(h.offers(), vec![pair("c3", "a3")]);
    h.call("c4", "q", 0, &[]);
    assert_eq!(h.offers(), vec![pair("c4", "a1")]);
}

/// Higher priority first; among equals the longest waiting; an agent in two queues takes
/// the best call of both.
#[test]
fn priority_then_longest_wait_across_queues() {
    let mut h = Harness::new(vec![QueueConfig::new("geral"), QueueConfig::new("libras")]);
    h.call("old", "geral", 0, &[]);
    h.advance(5);
    h.call("newer", "geral", 0, &[]);
    h.advance(5);
    h.call("urgent", "libras", 5, &[]);
    h.advance(5);
    h.call("older_libras", "libras", 0, &[]);
    h.take();
    h.login("a1", &[("geral", 1), ("libras", 1)], &[]);
    assert_eq!(h.offers(), vec![pair("urgent", "a1")]);
    h.answer("urgent", "a1");
    h.hangup("urgent");
    assert_eq!(h.offers(), vec![pair("old", "a1")]);
    h.answer("old", "a1");
    h.hangup("old");
    assert_eq!(h.offers(), vec![pair("newer", "a1")]);
}

#[test]
fn answered_and_abandoned_report_the_wait() {
    let mut h = Harness::new(vec![QueueConfig::new("q")]);
    h.call("c1", "q", 0, &[]);
    h.call("c2", "q", 0, &[]);
    h.advance(42);
    h.hangup("c2");
    h.login("a1", &[("q", 1)], &[]);
    h.advance(3);
    h.answer("c1", "a1");
    let log: Vec<AcdEvent> = h
        .take()
        .into_iter()
        .filter_map(|o| match o {
            Output::Log(e) => Some(e),
            _ => None,
        })
        .collect();
    assert!(log.contains(&AcdEvent::Abandoned {
        call: "c2".into(),
        queue: "q".into(),
        waited_ms: 42_000
    }));
    assert!(log.contains(&AcdEvent::Answered {
        call: "c1".into(),
        agent: "a1".into(),
        queue: "q".into(),
        waited_ms: 45_000
    }));
    assert!(log.contains(&AcdEvent::QueueEntered {
        call: "c2".into(),
        queue: "q".into(),
        position: 2,
        priority: 0
    }));
}

/// Ring-no-answer: the call goes back to the head and the next agent rings; the agent who
/// let it ring is paused with "no_answer".
#[test]
fn ring_no_answer_requeues_at_head_and_pauses_agent() {
    let mut q = QueueConfig::new("q");
    q.ring_timeout_secs = 15;
    let mut h = Harness::new(vec![q]);
    h.login("a1", &[("q", 1)], &[]);
    h.call("c1", "q", 0, &[]);
    h.call("c2", "q", 0, &[]);
    assert_eq!(h.offers(), vec![pair("c1", "a1")]);
    h.advance(15);
    let out = h.take();
    assert!(out.contains(&Output::CancelOffer {
        call: "c1".into(),
        agent: "a1".into()
    }));
    assert!(out.contains(&Output::Log(AcdEvent::RingNoAnswer {
        call: "c1".into(),
        agent: "a1".into(),
        rang_ms: 15_000
    })));
    assert_eq!(
        h.status("a1"),
        AgentStatus::Paused {
            reason: "no_answer".into()
        }
    );
    h.login("a2", &[("q", 1)], &[]);
    assert_eq!(h.offers(), vec![pair("c1", "a2")]);
}

#[test]
fn rejected_offer_goes_to_another_agent_and_the_rejecter_waits() {
    let mut h = Harness::new(vec![QueueConfig::new("q")]);
    h.login("a1", &[("q", 1)], &[]);
    h.advance(1);
    h.login("a2", &[("q", 1)], &[]);
    h.call("c1", "q", 0, &[]);
    assert_eq!(h.offers(), vec![pair("c1", "a1")]);
    h.ok(Input::OfferRejected {
        call: "c1".into(),
        agent: "a1".into(),
    });
    assert_eq!(h.offers(), vec![pair("c1", "a2")]);
    h.call("c2", "q", 0, &[]);
    assert_eq!(h.offers(), vec![]);
    h.advance(10);
    assert_eq!(h.offers(), vec![pair("c2", "a1")]);
}

/// A ring-all queue with agents a1..a3 logged in, all three offered call c1.
fn ringing_all_three() -> Harness {
    let mut q = QueueConfig::new("q");
    q.strategy = Strategy::RingAll;
    let mut h = Harness::new(vec![q]);
    for a in ["a1", "a2", "a3"] {
        h.login(a, &[("q", 1)], &[]);
    }
    h.call("c1", "q", 0, &[]);
    assert_eq!(h.offers().len(), 3);
    h
}

#[test]
fn ring_all_rings_everyone_and_the_first_answer_wins() {
    let mut h = ringing_all_three();
    h.answer("c1", "a2");
    let out = h.take();
    let cancelled: Vec<_> = out
        .iter()
        .filter(|o| matches!(o, Output::CancelOffer { .. }))
        .collect();
    assert_eq!(cancelled.len(), 2);
    assert_eq!(h.status("a1"), AgentStatus::Available);
    assert_eq!(h.status("a2"), AgentStatus::OnCall { call: "c1".into() });
}

#[test]
fn ring_all_learns_each_agent_outcome_and_keeps_the_others_ringing() {
    let mut h = ringing_all_three();
    // a1 declines, a3's phone gives up: a2 still rings, the call is not offered again.
    h.ok(Input::OfferRejected {
        call: "c1".into(),
        agent: "a1".into(),
    });
    h.ok(Input::OfferNotAnswered {
        call: "c1".into(),
        agent: "a3".into(),
    });
    assert_eq!(h.offers(), vec![], "nobody re-offered while a2 rings");
    assert_eq!(h.status("a1"), AgentStatus::Available);
    assert_eq!(
        h.status("a3"),
        AgentStatus::Available,
        "ring-all never pauses"
    );
    assert_eq!(h.status("a2"), AgentStatus::Ringing { call: "c1".into() });
    h.answer("c1", "a2");
    assert_eq!(h.status("a2"), AgentStatus::OnCall { call: "c1".into() });
    // A late answer from an agent whose offer ended is refused and changes nothing.
    assert!(
        h.input(Input::OfferAnswered {
            call: "c1".into(),
            agent: "a1".into(),
        })
        .is_err()
    );
    assert_eq!(h.status("a1"), AgentStatus::Available);
}

#[test]
fn skills_route_to_qualified_agents_and_widen_after_a_wait() {
    let mut q = QueueConfig::new("q");
    q.strategy = Strategy::Skills;
    q.escalation = vec![EscalationStep {
        after_secs: 60,
        action: Escalation::LowerProficiency { by: 3 },
    }];
    let mut h = Harness::new(vec![q]);
    h.login("novice", &[("q", 1)], &[("pensao", 2)]);
    h.advance(5);
    h.login("expert", &[("q", 1)], &[("pensao", 9), ("libras", 3)]);
    h.advance(5);
    h.login("mid", &[("q", 1)], &[("pensao", 6)]);
    h.take();
    // Best match first, although "novice" has been idle longest.
    h.call("c1", "q", 0, &[("pensao", 1)]);
    assert_eq!(h.offers(), vec![pair("c1", "expert")]);
    h.answer("c1", "expert");
    // Nobody left has level 5 in pensao... except "mid" (6).
    h.call("c2", "q", 0, &[("pensao", 5)]);
    assert_eq!(h.offers(), vec![pair("c2", "mid")]);
    h.answer("c2", "mid");
    // Level 5 needed, only the novice (2) is free: waits, then at 60 s needs 2 and gets her.
    h.call("c3", "q", 0, &[("pensao", 5)]);
    assert_eq!(h.offers(), vec![]);
    h.advance(59);
    assert_eq!(h.offers(), vec![]);
    h.advance(1);
    assert_eq!(h.offers(), vec![pair("c3", "novice")]);
}

#[test]
fn fewest_calls_and_round_robin_orders() {
    let mut fewest = QueueConfig::new("f");
    fewest.strategy = Strategy::FewestCalls;
    let mut rr = QueueConfig::new("r");
    rr.strategy = Strategy::RoundRobin;
    let mut h = Harness::new(vec![fewest, rr]);
    h.login("a1", &[("f", 1)], &[]);
    h.login("a2", &[("f", 1)], &[]);
    h.ok(Input::AgentPause {
        agent: "a2".into(),
        reason: "lunch".into(),
    });
    // a1 takes two calls while a2 is at lunch.
    for c in ["x1", "x2"] {
        h.call(c, "f", 0, &[]);
        assert_eq!(h.offers(), vec![pair(c, "a1")]);
        h.answer(c, "a1");
        h.hangup(c);
    }
    // a2 comes back later, so a1 has idled longer, but a2 answered fewer calls.
    h.advance(100);
    h.ok(Input::AgentReady { agent: "a2".into() });
    h.take();
    h.call("x3", "f", 0, &[]);
    assert_eq!(h.offers(), vec![pair("x3", "a2")]);
    h.answer("x3", "a2");
    h.hangup("x3");

    for a in ["r1", "r2", "r3"] {
        h.login(a, &[("r", 1)], &[]);
    }
    let mut order = Vec::new();
    for i in 0..6 {
        let c = format!("y{i}");
        h.call(&c, "r", 0, &[]);
        let (call, agent) = h.offers()[0].clone();
        order.push(agent.clone());
        h.answer(&call, &agent);
        h.hangup(&call);
        h.advance(1000); // idle time must not matter for round-robin
    }
    assert_eq!(order, ["r1", "r2", "r3", "r1", "r2", "r3"]);
}

#[test]
fn tiers_keep_second_line_for_overflow_time() {
    let mut q = QueueConfig::new("q");
    q.start_tier = 1;
    q.escalation = vec![EscalationStep {
        after_secs: 30,
        action: Escalation::NextTier,
    }];
    let mut h = Harness::new(vec![q]);
    h.login("backup", &[("q", 2)], &[]);
    h.call("c1", "q", 0, &[]);
    assert_eq!(h.offers(), vec![]);
    h.advance(30);
    assert_eq!(h.offers(), vec![pair("c1", "backup")]);
}

#[test]
fn the_lowest_tier_goes_first_and_next_tier_widens_one_step_at_a_time() {
    let mut q = QueueConfig::new("q");
    q.start_tier = 1;
    q.escalation = vec![
        EscalationStep {
            after_secs: 20,
            action: Escalation::NextTier,
        },
        EscalationStep {
            after_secs: 40,
            action: Escalation::NextTier,
        },
    ];
    let mut h = Harness::new(vec![q, QueueConfig::new("all")]);
    // Tier 3 has been idle longest, then tier 2: neither matters while tier 1 is free.
    h.login("third", &[("q", 3), ("all", 3)], &[]);
    h.advance(5);
    h.login("second", &[("q", 2), ("all", 2)], &[]);
    h.advance(5);
    h.login("first", &[("q", 1), ("all", 1)], &[]);
    h.take();
    h.call("c1", "q", 0, &[]);
    assert_eq!(h.offers(), vec![pair("c1", "first")]);
    h.answer("c1", "first");
    // Tier 1 busy: a fresh call reaches only tiers <= start_tier, then widens to 2, to 3.
    h.call("c2", "q", 0, &[]);
    h.call("c3", "q", 0, &[]);
    assert_eq!(h.offers(), vec![]);
    h.advance(20);
    assert_eq!(h.offers(), vec![pair("c2", "second")]);
    h.answer("c2", "second");
    h.advance(20);
    let offers = h.offers();
    assert_eq!(offers, vec![pair("c3", "third")]);
    // start_tier 0 (the default): every tier at once, the lowest free tier first.
    h.hangup("c1");
    h.hangup("c2");
    h.answer("c3", "third");
    h.take();
    h.call("d1", "all", 0, &[]);
    assert_eq!(h.offers(), vec![pair("d1", "first")]);
    h.call("d2", "all", 0, &[]);
    assert_eq!(h.offers(), vec![pair("d2", "second")]);
}
