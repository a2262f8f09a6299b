//! Engine tests for what an agent asks for around a call: pause reasons (configured vs
//! system), the next state applied when the call or wrap-up ends, ending wrap-up early,
//! and a callback scheduled for a time the citizen asked for.

use std::time::Duration;

use super::tests::Harness;
use super::*;

fn paused(reason: &str) -> AgentStatus {
    AgentStatus::Paused {
        reason: reason.into(),
    }
}

fn next(h: &mut Harness, agent: &str, next: NextState) -> Result<(), AcdError> {
    h.input(Input::NextState {
        agent: agent.into(),
        next,
    })
}

/// One agent on call "c1" in queue "q" with the given wrap-up.
fn on_call(wrap_up: WrapUp) -> Harness {
    let mut q = QueueConfig::new("q");
    q.wrap_up = wrap_up;
    let mut h = Harness::new(vec![q]);
    h.login("a1", &[("q", 1)], &[]);
    h.call("c1", "q", 0, &[]);
    h.answer("c1", "a1");
    h.take();
    h
}

#[test]
fn agents_pick_configured_reasons_and_never_system_ones() {
    let mut h = Harness::new(vec![QueueConfig::new("q")]);
    h.login("a1", &[("q", 1)], &[]);
    let pause = |reason: &str| Input::AgentPause {
        agent: "a1".into(),
        reason: reason.into(),
    };
    assert!(matches!(
        h.input(pause("cafezinho")),
        Err(AcdError::UnknownPauseReason(r)) if r == "cafezinho"
    ));
    for system in ["no_answer", "disconnected"] {
        assert!(matches!(
            h.input(pause(system)),
            Err(AcdError::SystemPauseReason(r)) if r == system
        ));
    }
    assert_eq!(h.status("a1"), AgentStatus::Available);
    h.ok(pause("lunch"));
    assert_eq!(h.status("a1"), paused("lunch"));
    h.ok(Input::SystemPause {
        agent: "a1".into(),
        reason: SystemPause::Disconnected,
    });
    assert_eq!(h.status("a1"), paused("disconnected"));
}

#[test]
fn a_config_listing_a_system_reason_does_not_open_it_to_agents() {
    let cfg = EngineConfig {
        queues: vec![QueueConfig::new("q")],
        pause_reasons: vec!["lunch".into(), "disconnected".into()],
    };
    let now = super::tests::t0();
    let mut engine = Engine::new(cfg, now).expect("valid");
    engine
        .handle_input(
            now,
            Input::AgentLogin(AgentLogin {
                agent: "a1".into(),
                memberships: vec![Membership::new("q", 1)],
                skills: vec![],
                ready: true,
            }),
        )
        .expect("login");
    let r = engine.handle_input(
        now,
        Input::AgentPause {
            agent: "a1".into(),
            reason: "disconnected".into(),
        },
    );
    assert!(matches!(r, Err(AcdError::SystemPauseReason(_))), "{r:?}");
}

#[test]
fn a_disconnected_agent_on_a_call_is_paused_when_the_call_ends() {
    let mut h = on_call(WrapUp::Auto { secs: 0 });
    h.ok(Input::SystemPause {
        agent: "a1".into(),
        reason: SystemPause::Disconnected,
    });
    assert_eq!(h.status("a1"), AgentStatus::OnCall { call: "c1".into() });
    h.hangup("c1");
    assert_eq!(h.status("a1"), paused("disconnected"));
}

#[test]
fn next_state_is_applied_when_the_call_and_wrap_up_end() {
    // Paused with a reason, after the auto wrap-up.
    let mut h = on_call(WrapUp::Auto { secs: 30 });
    next(
        &mut h,
        "a1",
        NextState::Paused {
            reason: "lunch".into(),
        },
    )
    .expect("on a call");
    assert_eq!(
        h.engine.next_state(&"a1".into()),
        Some(NextState::Paused {
            reason: "lunch".into()
        })
    );
    assert_eq!(
        h.engine
            .next_state(&"a1".into())
            .map(|n| n.to_string())
            .as_deref(),
        Some("paused:lunch")
    );
    h.hangup("c1");
    assert_eq!(h.status("a1"), AgentStatus::WrapUp);
    h.advance(30);
    assert_eq!(h.status("a1"), paused("lunch"));
    assert_eq!(h.engine.next_state(&"a1".into()), None);

    // Logged out, asked for during wrap-up.
    let mut h = on_call(WrapUp::Auto { secs: 30 });
    h.hangup("c1");
    next(&mut h, "a1", NextState::LoggedOut).expect("in wrap-up");
    assert_eq!(h.status("a1"), AgentStatus::WrapUp, "not before it ends");
    h.advance(30);
    assert_eq!(h.status("a1"), AgentStatus::LoggedOut);

    // Available again after asking for a pause first: the last wish counts.
    let mut h = on_call(WrapUp::Auto { secs: 0 });
    next(
        &mut h,
        "a1",
        NextState::Paused {
            reason: "lunch".into(),
        },
    )
    .expect("on a call");
    next(&mut h, "a1", NextState::Available).expect("on a call");
    assert_eq!(
        h.engine.next_state(&"a1".into()).map(|n| n.to_string()),
        Some("available".into())
    );
    h.call("c2", "q", 0, &[]);
    h.hangup("c1");
    assert_eq!(h.status("a1"), AgentStatus::Ringing { call: "c2".into() });
}

#[test]
fn end_wrap_up_ends_it_early_and_applies_the_next_state() {
    let mut h = on_call(WrapUp::Manual { max_secs: None });
    next(
        &mut h,
        "a1",
        NextState::Paused {
            reason: "lunch".into(),
        },
    )
    .expect("on a call");
    h.hangup("c1");
    h.advance(600);
    assert_eq!(
        h.status("a1"),
        AgentStatus::WrapUp,
        "manual: waits for the agent"
    );
    h.ok(Input::WrapUpEnded { agent: "a1".into() });
    assert_eq!(h.status("a1"), paused("lunch"));
    assert!(matches!(
        h.input(Input::WrapUpEnded { agent: "a1".into() }),
        Err(AcdError::NotInWrapUp { .. })
    ));
}

#[test]
fn the_offer_context_hands_the_ivr_variables_to_the_screen_pop() {
    let mut h = Harness::new(vec![QueueConfig::new("q")]);
    h.ok(Input::Enqueue(NewCall {
        call: "c1".into(),
        queue: "q".into(),
        priority: 0,
        skills: vec![],
        a_number: CallerNumber::new("27999990000"),
        variables: [("cpf".to_owned(), "52998224725".to_owned())].into(),
    }));
    let (number, vars) = h.engine.offer_context(&"c1".into()).expect("held");
    assert_eq!(number, &CallerNumber::new("27999990000"));
    assert_eq!(vars["cpf"], "52998224725");
    assert!(h.engine.offer_context(&"c2".into()).is_none());
}

#[test]
fn next_state_is_refused_without_a_call_or_with_a_bad_reason() {
    let mut h = Harness::new(vec![QueueConfig::new("q")]);
    h.login("a1", &[("q", 1)], &[]);
    assert!(matches!(
        next(&mut h, "a1", NextState::LoggedOut),
        Err(AcdError::NoCallToFollow {
            state: AgentStatus::Available,
            ..
        })
    ));
    assert_eq!(h.status("a1"), AgentStatus::Available);

    let mut h = on_call(WrapUp::Auto { secs: 0 });
    for (reason, system) in [("cafezinho", false), ("no_answer", true)] {
        let r = next(
            &mut h,
            "a1",
            NextState::Paused {
                reason: reason.into(),
            },
        );
        match (system, r) {
            (false, Err(AcdError::UnknownPauseReason(_)))
            | (true, Err(AcdError::SystemPauseReason(_))) => {}
            (_, other) => panic!("{reason}: {other:?}"),
        }
    }
    assert_eq!(h.engine.next_state(&"a1".into()), None);
    h.hangup("c1");
    assert_eq!(h.status("a1"), AgentStatus::Available);
}

fn in_an_hour(h: &Harness) -> jiff::Timestamp {
    h.now
        .wall
        .saturating_add(jiff::SignedDuration::from_secs(3600))
        .expect("timestamp")
}

#[test]
fn a_callback_scheduled_by_the_agent_starts_at_the_time_asked_for() {
    let mut h = on_call(WrapUp::Auto { secs: 0 });
    let at = in_an_hour(&h);
    h.ok(Input::ScheduleCallback(ScheduledCallback {
        call: "c1-cb".into(),
        queue: "q".into(),
        number: CallerNumber::new("27988887777"),
        at,
        priority: 0,
        skills: vec![],
        variables: [("cpf".to_owned(), "52998224725".to_owned())].into(),
    }));
    assert!(h.take().iter().any(|o| matches!(
        o,
        Output::Log(AcdEvent::CallbackRequested { call, typed_number: true, .. })
            if call.as_str() == "c1-cb"
    )));
    h.hangup("c1");
    h.advance(3599);
    assert!(
        !h.take()
            .iter()
            .any(|o| matches!(o, Output::StartCallback { .. })),
        "not before the time asked for, though the agent is free"
    );
    h.advance(1);
    let started = h.take().into_iter().find_map(|o| match o {
        Output::StartCallback {
            call,
            agent,
            number,
            variables,
            ..
        } => Some((call, agent, number, variables)),
        _ => None,
    });
    let (call, agent, number, variables) = started.expect("callback started at the time");
    assert_eq!(call.as_str(), "c1-cb");
    assert_eq!(agent.as_str(), "a1");
    assert_eq!(number, CallerNumber::new("27988887777"));
    assert_eq!(variables["cpf"], "52998224725");
    // It is kept across a restart like any pending callback.
    let snap = h.engine.callback_snapshot();
    assert_eq!(snap.callbacks.len(), 1);
}

#[test]
fn a_callback_for_a_past_time_or_a_taken_id_is_refused() {
    let mut h = on_call(WrapUp::Auto { secs: 0 });
    h.now = h.now.plus(Duration::from_secs(10));
    let cb = |call: &str, at: jiff::Timestamp| {
        Input::ScheduleCallback(ScheduledCallback {
            call: call.into(),
            queue: "q".into(),
            number: CallerNumber::new("27988887777"),
            at,
            priority: 0,
            skills: vec![],
            variables: Default::default(),
        })
    };
    let past = super::tests::t0().wall;
    assert!(matches!(
        h.input(cb("c1-cb", past)),
        Err(AcdError::CallbackInThePast { .. })
    ));
    let at = in_an_hour(&h);
    assert!(matches!(
        h.input(cb("c1", at)),
        Err(AcdError::DuplicateCall(_))
    ));
    let mut bad_queue = cb("c1-cb", at);
    if let Input::ScheduleCallback(s) = &mut bad_queue {
        s.queue = "nope".into();
    }
    assert!(matches!(h.input(bad_queue), Err(AcdError::UnknownQueue(_))));
    assert_eq!(h.engine.callback_snapshot().callbacks.len(), 0);
}
