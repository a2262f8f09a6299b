//! Engine scenarios around limits, wrap-up, announcements, overflow, opening hours (with
//! a DST change) and callbacks, in virtual time.

use std::time::Duration;

use super::tests::{Harness, t0};
use super::*;

fn logs(out: &[Output]) -> Vec<AcdEvent> {
    out.iter()
        .filter_map(|o| match o {
            Output::Log(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

/// A queue written the way IT staff would write it, in TOML.
#[test]
fn queue_config_reads_from_toml() {
    let cfg: EngineConfig = toml::from_str(
        r#"
        pause_reasons = ["lunch", "training"]
        [[queues]]
        id = "geral"
        strategy = "skills"
        ring_timeout_secs = 15
        wrap_up = { mode = "manual", max_secs = 120 }
        max_wait = { secs = 600, destination = { to = "message", prompt = "try-later" } }
        escalation = [
          { after_secs = 60, action = { do = "lower_proficiency", by = 2 } },
          { after_secs = 120, action = { do = "offer_callback" } },
          { after_secs = 300, action = { do = "overflow", queue = "reserva" } },
        ]
        [queues.schedule]
        timezone = "America/Sao_Paulo"
        weekly = { mon = ["08:00-18:00"], tue = ["08:00-18:00"] }
        holidays = { national = "BR" }
        [[queues]]
        id = "reserva"
        "#,
    )
    .expect("valid TOML");
    assert_eq!(cfg.queues[0].strategy, Strategy::Skills);
    assert!(Engine::new(cfg, t0()).is_ok());
}

#[test]
fn overflow_to_a_missing_queue_is_refused_at_start() {
    let mut q = QueueConfig::new("q");
    q.escalation = vec![EscalationStep {
        after_secs: 1,
        action: Escalation::Overflow {
            queue: "nowhere".into(),
        },
    }];
    let cfg = EngineConfig {
        queues: vec![q],
        pause_reasons: vec![],
    };
    assert!(matches!(
        Engine::new(cfg, t0()),
        Err(AcdError::UnknownTarget { .. })
    ));
}

#[test]
fn max_wait_and_max_length_send_calls_on() {
    let mut q = QueueConfig::new("q");
    q.max_wait = Some(WaitLimit {
        secs: 300,
        destination: Destination::Message {
            prompt: "ligue-mais-tarde".into(),
        },
    });
    q.max_length = Some(LengthLimit {
        calls: 2,
        destination: Destination::Hangup,
    });
    let mut h = Harness::new(vec![q]);
    h.call("c1", "q", 0, &[]);
    h.call("c2", "q", 0, &[]);
    h.call("c3", "q", 0, &[]);
    let out = h.take();
    assert!(out.contains(&Output::RouteTo {
        call: "c3".into(),
        destination: Destination::Hangup,
        reason: RouteReason::MaxLength
    }));
    h.advance(299);
    assert!(h.take().is_empty());
    h.advance(1);
    let out = h.take();
    assert!(out.contains(&Output::RouteTo {
        call: "c1".into(),
        destination: Destination::Message {
            prompt: "ligue-mais-tarde".into()
        },
        reason: RouteReason::MaxWait
    }));
    assert_eq!(h.engine.calls_in_progress(), 0);
}

#[test]
fn announcements_tell_position_and_estimated_wait() {
    let mut q = QueueConfig::new("q");
    q.announcements = Some(Announcements {
        first_after_secs: 30,
        every_secs: 60,
        position_cap: 100,
    });
    q.periodic_message = Some(PeriodicMessage {
        every_secs: 45,
        prompt: "institucional".into(),
    });
    let mut h = Harness::new(vec![q]);
    // One agent; a first call of 200 s teaches the estimate.
    h.login("a1", &[("q", 1)], &[]);
    h.call("c0", "q", 0, &[]);
    h.answer("c0", "a1");
    h.call("c1", "q", 0, &[]);
    h.call("c2", "q", 0, &[]);
    h.advance(200);
    h.hangup("c0");
    h.answer("c1", "a1");
    h.take();
    h.call("c3", "q", 0, &[]);
    h.advance(30);
    let out = h.take();
    // c2 (entered at 0 s) hears its message at 225 s... and the announcement of c3 at 30 s:
    // position 2 (behind c2), 2 × 200 s / 1 agent.
    assert!(out.contains(&Output::Announce {
        call: "c3".into(),
        position: 2,
        position_cap: 100,
        estimated_wait_secs: Some(400)
    }));
    assert!(out.contains(&Output::PlayMessage {
        call: "c2".into(),
        prompt: "institucional".into()
    }));
}

#[test]
fn escalation_overflows_keeping_the_place_in_time() {
    let mut a = QueueConfig::new("a");
    a.escalation = vec![EscalationStep {
        after_secs: 60,
        action: Escalation::Overflow { queue: "b".into() },
    }];
    let mut h = Harness::new(vec![a, QueueConfig::new("b")]);
    h.call("from_a", "a", 0, &[]);
    h.advance(30);
    h.call("in_b", "b", 0, &[]);
    h.advance(30);
    let out = h.take();
    assert!(out.contains(&Output::Overflow {
        call: "from_a".into(),
        from: "a".into(),
        to: "b".into()
    }));
    // It waited longer in total, so it goes first in b.
    h.login("b1", &[("b", 1)], &[]);
    assert_eq!(h.offers(), vec![("from_a".to_string(), "b1".to_string())]);
}

#[test]
fn wrap_up_auto_and_manual_and_pause_after_the_call() {
    let mut auto = QueueConfig::new("auto");
    auto.wrap_up = WrapUp::Auto { secs: 20 };
    let mut manual = QueueConfig::new("manual");
    manual.wrap_up = WrapUp::Manual { max_secs: None };
    let mut h = Harness::new(vec![auto, manual]);
    h.login("a1", &[("auto", 1)], &[]);
    h.call("c1", "auto", 0, &[]);
    h.answer("c1", "a1");
    h.hangup("c1");
    assert_eq!(h.status("a1"), AgentStatus::WrapUp);
    h.take();
    h.call("c2", "auto", 0, &[]);
    h.advance(19);
    assert_eq!(h.offers(), vec![]);
    h.advance(1);
    assert_eq!(h.offers(), vec![("c2".to_string(), "a1".to_string())]);
    h.answer("c2", "a1");
    // Pause asked during the call applies after wrap-up.
    h.ok(Input::AgentPause {
        agent: "a1".into(),
        reason: "lunch".into(),
    });
    h.hangup("c2");
    h.advance(20);
    assert_eq!(
        h.status("a1"),
        AgentStatus::Paused {
            reason: "lunch".into()
        }
    );

    h.login("m1", &[("manual", 1)], &[]);
    h.call("c3", "manual", 0, &[]);
    h.answer("c3", "m1");
    h.hangup("c3");
    h.advance(3600);
    assert_eq!(h.status("m1"), AgentStatus::WrapUp);
    h.take();
    h.ok(Input::WrapUpEnded { agent: "m1".into() });
    let changes: Vec<_> = logs(&h.take());
    assert!(changes.contains(&AcdEvent::AgentStateChanged {
        agent: "m1".into(),
        from: AgentStatus::WrapUp,
        to: AgentStatus::Available,
        in_previous_ms: 3_600_000
    }));
    assert!(matches!(
        h.input(Input::AgentPause {
            agent: "m1".into(),
            reason: "nap".into()
        }),
        Err(AcdError::UnknownPauseReason(_))
    ));
}

fn new_york_hours() -> crate::schedule::ScheduleSpec {
    toml::from_str(
        r#"
        timezone = "America/New_York"
        [weekly]
        mon = ["08:00-18:00"]
        tue = ["08:00-18:00"]
        wed = ["08:00-18:00"]
        thu = ["08:00-18:00"]
        fri = ["08:00-18:00"]
        sat = ["08:00-18:00"]
        sun = ["08:00-18:00"]
        "#,
    )
    .expect("valid schedule")
}

/// Clocks in New York go forward on 2026-03-08 at 02:00: that morning the queue opens at
/// 08:00 EDT = 12:00 UTC, not 13:00 UTC as the day before.
#[test]
fn opening_hours_follow_the_dst_change() {
    let mut q = QueueConfig::new("q");
    q.schedule = Some(new_york_hours());
    q.closed = Destination::Message {
        prompt: "fechado".into(),
    };
    let start = Now::new(Tick(0), "2026-03-08T01:00:00Z".parse().expect("ts"));
    let mut h = Harness::at(vec![q], start);
    h.call("night", "q", 0, &[]);
    assert!(h.take().contains(&Output::RouteTo {
        call: "night".into(),
        destination: Destination::Message {
            prompt: "fechado".into()
        },
        reason: RouteReason::Closed
    }));
    h.take();
    h.advance(11 * 3600 - 1);
    h.login("a1", &[("q", 1)], &[]);
    h.call("early", "q", 0, &[]);
    assert!(
        logs(&h.take())
            .iter()
            .any(|e| matches!(e, AcdEvent::Routed { .. }))
    );
    assert_eq!(h.now.wall.to_string(), "2026-03-08T11:59:59Z");
    h.advance(1);
    assert!(logs(&h.take()).contains(&AcdEvent::QueueOpened { queue: "q".into() }));
    h.call("morning", "q", 0, &[]);
    assert_eq!(h.offers(), vec![("morning".to_string(), "a1".to_string())]);
}

/// A callback keeps its place, waits for opening hours, reserves an agent, retries and
/// gives up after the limit; the list survives a restart through the snapshot.
#[test]
fn callback_keeps_place_retries_and_survives_restart() {
    let mut q = QueueConfig::new("q");
    q.callback = CallbackPolicy {
        max_attempts: 2,
        retry_after_secs: 600,
        key: None,
    };
    let mut h = Harness::new(vec![q.clone()]);
    h.call("cb", "q", 0, &[]);
    h.advance(10);
    h.call("later", "q", 0, &[]);
    h.advance(50);
    h.ok(Input::CallbackRequested {
        call: "cb".into(),
        number: None,
        keep_place: true,
        not_before: None,
    });
    let out = h.take();
    assert!(out.contains(&Output::Dequeue {
        call: "cb".into(),
        reason: DequeueReason::CallbackRegistered
    }));
    assert!(logs(&out).contains(&AcdEvent::CallbackRequested {
        call: "cb".into(),
        queue: "q".into(),
        waited_ms: 60_000,
        typed_number: false
    }));

    // Restart: the snapshot goes to a new engine (new epoch) and keeps the order.
    let snap = h.engine.callback_snapshot();
    let json = serde_json::to_string(&snap).expect("serializes");
    assert!(
        json.contains("27999990000"),
        "the snapshot keeps the number"
    );
    let restarted = Now::new(
        Tick(0),
        h.now
            .wall
            .saturating_add(jiff::SignedDuration::from_secs(120))
            .expect("ts"),
    );
    let mut h2 = Harness::at(vec![q], restarted);
    let back: CallbackSnapshot = serde_json::from_str(&json).expect("deserializes");
    assert_eq!(
        h2.engine
            .restore_callbacks(restarted, back)
            .expect("restores"),
        1
    );
    h2.call("new", "q", 0, &[]);
    h2.login("a1", &[("q", 1)], &[]);
    let out = h2.take();
    assert!(out.contains(&Output::StartCallback {
        call: "cb".into(),
        agent: "a1".into(),
        number: CallerNumber::new("27999990000"),
        attempt: 1,
        variables: Default::default()
    }));
    h2.answer("cb", "a1");
    h2.ok(Input::CallbackResult {
        call: "cb".into(),
        outcome: CallbackOutcome::NoAnswer,
    });
    // The agent is free and takes the new call; the callback retries after 10 minutes.
    assert_eq!(h2.offers(), vec![("new".to_string(), "a1".to_string())]);
    h2.answer("new", "a1");
    h2.hangup("new");
    h2.advance(599);
    assert!(
        !h2.take()
            .iter()
            .any(|o| matches!(o, Output::StartCallback { .. }))
    );
    h2.advance(1);
    assert!(
        h2.take()
            .iter()
            .any(|o| matches!(o, Output::StartCallback { attempt: 2, .. }))
    );
    h2.answer("cb", "a1");
    h2.ok(Input::CallbackResult {
        call: "cb".into(),
        outcome: CallbackOutcome::Busy,
    });
    assert!(logs(&h2.take()).contains(&AcdEvent::CallbackGaveUp {
        call: "cb".into(),
        queue: "q".into(),
        attempts: 2
    }));
    assert_eq!(h2.engine.calls_in_progress(), 0);
}

#[test]
fn callback_connected_ends_in_wrap_up_and_completed_log() {
    let mut h = Harness::new(vec![QueueConfig::new("q")]);
    h.call("cb", "q", 0, &[]);
    h.ok(Input::CallbackRequested {
        call: "cb".into(),
        number: Some(CallerNumber::new("27988887777")),
        keep_place: false,
        not_before: Some(
            h.now
                .wall
                .saturating_add(jiff::SignedDuration::from_secs(3600))
                .expect("ts"),
        ),
    });
    h.login("a1", &[("q", 1)], &[]);
    h.advance(3599);
    assert!(
        !h.take()
            .iter()
            .any(|o| matches!(o, Output::StartCallback { .. }))
    );
    h.advance(1);
    assert!(
        h.take()
            .iter()
            .any(|o| matches!(o, Output::StartCallback { .. }))
    );
    h.answer("cb", "a1");
    h.ok(Input::CallbackResult {
        call: "cb".into(),
        outcome: CallbackOutcome::Connected,
    });
    h.now = h.now.plus(Duration::from_secs(240));
    h.hangup("cb");
    assert!(logs(&h.take()).contains(&AcdEvent::CallbackCompleted {
        call: "cb".into(),
        agent: "a1".into(),
        talk_ms: 240_000
    }));
}

#[test]
fn bad_inputs_are_refused_and_change_nothing() {
    let mut h = Harness::new(vec![QueueConfig::new("q")]);
    assert!(matches!(
        h.input(Input::Hangup { call: "x".into() }),
        Err(AcdError::UnknownCall(_))
    ));
    h.call("c1", "q", 0, &[]);
    assert!(matches!(
        h.input(Input::Enqueue(NewCall {
            call: "c1".into(),
            queue: "q".into(),
            priority: 0,
            skills: vec![],
            a_number: CallerNumber::default(),
            variables: Default::default(),
        })),
        Err(AcdError::DuplicateCall(_))
    ));
    assert!(matches!(
        h.input(Input::OfferAnswered {
            call: "c1".into(),
            agent: "ghost".into()
        }),
        Err(AcdError::UnknownAgent(_))
    ));
    h.login("a1", &[("q", 1)], &[]);
    assert!(matches!(
        h.input(Input::OfferAnswered {
            call: "c1".into(),
            agent: "a1".into()
        }),
        Ok(())
    ));
    assert!(matches!(
        h.input(Input::AgentLogin(AgentLogin {
            agent: "a1".into(),
            memberships: vec![Membership::new("q", 1)],
            skills: vec![SkillLevel::new("x", 11)],
            ready: true
        })),
        Err(AcdError::BadProficiency { .. })
    ));
    assert_eq!(h.status("a1"), AgentStatus::OnCall { call: "c1".into() });
}

#[test]
fn positions_beyond_the_cap_are_announced_as_more_than_the_cap() {
    let mut q = QueueConfig::new("q");
    q.announcements = Some(Announcements {
        first_after_secs: 10,
        every_secs: 60,
        position_cap: 1,
    });
    let mut h = Harness::new(vec![q]);
    for c in ["c1", "c2", "c3"] {
        h.call(c, "q", 0, &[]);
    }
    h.advance(10);
    let said: Vec<(String, usize, usize)> = h
        .take()
        .into_iter()
        .filter_map(|o| match o {
            Output::Announce {
                call,
                position,
                position_cap,
                ..
            } => Some((call.0, position, position_cap)),
            _ => None,
        })
        .collect();
    // c3 has two callers ahead, more than the cap of 1: position cap + 1 = "more than 1".
    assert_eq!(
        said,
        [
            ("c1".to_owned(), 1, 1),
            ("c2".to_owned(), 2, 1),
            ("c3".to_owned(), 2, 1)
        ]
    );
}
