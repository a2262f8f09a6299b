//! The call machine's tests: the demo ring list, routed offers and ring-all.

use super::*;

fn drain(m: &mut CallMachine) -> Vec<Action> {
    std::iter::from_fn(|| m.poll_action()).collect()
}

/// An agent leg's final failure response.
fn failed(leg: LegId, sip_status: u16, reason: &str) -> Input {
    Input::AgentFailed {
        leg,
        sip_status,
        reason: reason.into(),
    }
}

/// The report to the ACD that `agent` did not take the offer.
fn offer_failed(agent: &str, rejected: bool) -> Action {
    Action::OfferFailed {
        agent: agent.into(),
        rejected,
    }
}

fn ringing_call(t0: Instant) -> CallMachine {
    let mut m = CallMachine::new(Duration::from_secs(30));
    m.handle(t0, Input::Answered);
    m.handle(t0, Input::PromptFinished);
    m.handle(
        t0,
        Input::RingStarted {
            legs: vec![
                (1, "1001".into(), "sip:1001@127.0.0.1:5070".into()),
                (2, "1002".into(), "sip:1002@127.0.0.1:5072".into()),
            ],
        },
    );
    drain(&mut m);
    m
}

#[test]
fn welcome_then_hold_music_while_agents_ring() {
    let t0 = Instant::now();
    let mut m = CallMachine::new(Duration::from_secs(30));
    m.handle(t0, Input::Answered);
    assert_eq!(
        drain(&mut m),
        vec![Action::Log(EventKind::Answered), Action::PlayWelcome]
    );
    m.handle(t0, Input::PromptFinished);
    assert_eq!(
        drain(&mut m),
        vec![Action::PlayHoldMusic, Action::RingAgents]
    );
    assert_eq!(m.next_timeout(), Some(t0 + Duration::from_secs(30)));
}

#[test]
fn first_agent_to_answer_is_bridged_and_the_others_cancelled() {
    let t0 = Instant::now();
    let mut m = ringing_call(t0);
    m.handle(t0, Input::AgentAnswered { leg: 2 });
    let a = drain(&mut m);
    assert_eq!(a[0], Action::CancelLeg(1));
    assert!(a.contains(&Action::Bridge(2)));
    assert!(a.contains(&Action::Log(EventKind::AgentAnswered {
        agent: "1002".into()
    })));
    assert_eq!(m.next_timeout(), None);
    // A late answer from the cancelled leg is hung up.
    m.handle(t0, Input::AgentAnswered { leg: 1 });
    assert_eq!(drain(&mut m), vec![Action::HangUpAgent(1)]);
}

#[test]
fn agent_hangup_clears_the_caller_and_finishes_the_recording() {
    let t0 = Instant::now();
    let mut m = ringing_call(t0);
    m.handle(t0, Input::AgentAnswered { leg: 1 });
    drain(&mut m);
    m.handle(t0, Input::AgentHungUp { leg: 1 });
    let a = drain(&mut m);
    assert_eq!(a[0], Action::HangUpCaller);
    assert!(a.contains(&Action::FinishMedia));
    assert!(a.contains(&Action::Log(EventKind::HungUp {
        by: Party::Agent,
        cause: "normal_clearing".into(),
        sip_status: None
    })));
    assert!(m.is_ended());
}

#[test]
fn caller_hangup_while_ringing_cancels_every_leg() {
    let t0 = Instant::now();
    let mut m = ringing_call(t0);
    m.handle(t0, Input::CallerHungUp);
    let a = drain(&mut m);
    assert_eq!(&a[..2], &[Action::CancelLeg(1), Action::CancelLeg(2)]);
    assert!(a.contains(&Action::FinishMedia));
}

#[test]
fn nobody_registered_retries_then_times_out_with_480() {
    let t0 = Instant::now();
    let mut m = CallMachine::new(Duration::from_secs(12));
    m.handle(t0, Input::Answered);
    m.handle(t0, Input::PromptFinished);
    m.handle(t0, Input::RingStarted { legs: vec![] });
    drain(&mut m);
    assert_eq!(m.next_timeout(), Some(t0 + RING_RETRY));
    m.handle_timeout(t0 + RING_RETRY);
    assert_eq!(drain(&mut m), vec![Action::RingAgents]);
    m.handle(t0 + RING_RETRY, Input::RingStarted { legs: vec![] });
    m.handle_timeout(t0 + Duration::from_secs(12));
    let a = drain(&mut m);
    assert_eq!(a[0], Action::HangUpCaller);
    assert!(a.contains(&Action::Log(EventKind::HungUp {
        by: Party::System,
        cause: "no_answer".into(),
        sip_status: Some(480)
    })));
}

#[test]
fn all_agents_declining_schedules_a_retry() {
    let t0 = Instant::now();
    let mut m = ringing_call(t0);
    for leg in [1, 2] {
        m.handle(t0, failed(leg, 486, "busy"));
    }
    let a = drain(&mut m);
    assert_eq!(a.len(), 2, "both failures logged: {a:?}");
    assert_eq!(m.next_timeout(), Some(t0 + RING_RETRY));
}

fn offered(t0: Instant) -> CallMachine {
    let mut m = CallMachine::routed();
    m.handle(t0, Input::Answered);
    assert_eq!(drain(&mut m), vec![Action::Log(EventKind::Answered)]);
    assert!(m.is_routing());
    m.handle(
        t0,
        Input::Offer {
            agent: "1001".into(),
            ring_timeout: None,
        },
    );
    assert_eq!(drain(&mut m), vec![Action::RingAgent("1001".into())]);
    m.handle(
        t0,
        Input::RingStarted {
            legs: vec![(1, "1001".into(), "sip:1001@127.0.0.1:5070".into())],
        },
    );
    drain(&mut m);
    m
}

#[test]
fn routed_offer_answered_is_bridged_and_reported() {
    let t0 = Instant::now();
    let mut m = offered(t0);
    m.handle(t0, Input::AgentAnswered { leg: 1 });
    let a = drain(&mut m);
    assert!(a.contains(&Action::Bridge(1)));
    assert!(a.contains(&Action::OfferAnswered {
        agent: "1001".into()
    }));
}

#[test]
fn routed_offer_declined_goes_back_to_routing_as_rejected() {
    let t0 = Instant::now();
    let mut m = offered(t0);
    m.handle(t0, failed(1, 486, "busy"));
    let a = drain(&mut m);
    assert!(a.contains(&offer_failed("1001", true)));
    assert!(m.is_routing());
    assert_eq!(m.next_timeout(), None, "no demo retry timer");
}

#[test]
fn routed_cancel_offer_cancels_legs_without_reporting() {
    let t0 = Instant::now();
    let mut m = offered(t0);
    m.handle(
        t0,
        Input::CancelOffer {
            agent: "1001".into(),
        },
    );
    assert_eq!(drain(&mut m), vec![Action::CancelLeg(1)]);
    m.handle(t0, failed(1, 487, "cancelled"));
    assert!(drain(&mut m).is_empty());
    assert!(m.is_routing());
}

#[test]
fn routed_ring_timeout_reports_not_answered() {
    let t0 = Instant::now();
    let mut m = CallMachine::routed();
    m.handle(t0, Input::Answered);
    m.handle(
        t0,
        Input::Offer {
            agent: "2000".into(),
            ring_timeout: Some(Duration::from_secs(10)),
        },
    );
    m.handle(
        t0,
        Input::RingStarted {
            legs: vec![(1, "2000".into(), "sip:2000@127.0.0.1:5070".into())],
        },
    );
    drain(&mut m);
    m.handle_timeout(t0 + Duration::from_secs(10));
    let a = drain(&mut m);
    assert_eq!(a[0], Action::CancelLeg(1));
    assert!(a.contains(&offer_failed("2000", false)));
}

/// A ring-all offer: three agents offered, each with one phone.
fn offered_to_three(t0: Instant) -> CallMachine {
    let mut m = CallMachine::routed();
    m.handle(t0, Input::Answered);
    for (leg, agent) in [(1, "a1"), (2, "a2"), (3, "a3")] {
        m.handle(
            t0,
            Input::Offer {
                agent: agent.into(),
                ring_timeout: None,
            },
        );
        assert!(drain(&mut m).contains(&Action::RingAgent(agent.into())));
        m.handle(
            t0,
            Input::RingStarted {
                legs: vec![(leg, agent.into(), format!("sip:{agent}@127.0.0.1"))],
            },
        );
    }
    drain(&mut m);
    m
}

#[test]
fn ring_all_rings_every_offered_agent_and_the_first_answer_wins() {
    let t0 = Instant::now();
    let mut m = offered_to_three(t0);
    assert!(["a1", "a2", "a3"].iter().all(|a| m.is_ringing(a)));
    m.handle(t0, Input::AgentAnswered { leg: 2 });
    let a = drain(&mut m);
    assert!(a.contains(&Action::CancelLeg(1)) && a.contains(&Action::CancelLeg(3)));
    assert!(a.contains(&Action::Bridge(2)));
    let answered: Vec<_> = a
        .iter()
        .filter(|x| matches!(x, Action::OfferAnswered { .. }))
        .collect();
    assert_eq!(
        answered,
        vec![&Action::OfferAnswered { agent: "a2".into() }]
    );
    assert!(!a.iter().any(|x| matches!(x, Action::OfferFailed { .. })));
    // The ACD's cancels for the losers arrive after the bridge: nothing to do.
    m.handle(t0, Input::CancelOffer { agent: "a1".into() });
    assert!(drain(&mut m).is_empty());
}

#[test]
fn ring_all_reports_each_failed_agent_and_keeps_the_others_ringing() {
    let t0 = Instant::now();
    let mut m = offered_to_three(t0);
    m.handle(t0, failed(1, 486, "busy"));
    let a = drain(&mut m);
    assert!(a.contains(&offer_failed("a1", true)));
    assert!(!a.iter().any(|x| matches!(x, Action::CancelLeg(_))));
    assert!(!m.is_routing());
    // The ACD withdraws a3 only: a2's leg keeps ringing.
    m.handle(t0, Input::CancelOffer { agent: "a3".into() });
    assert_eq!(drain(&mut m), vec![Action::CancelLeg(3)]);
    assert!(m.is_ringing("a2") && !m.is_routing());
    m.handle(t0, failed(2, 480, "no answer"));
    let a = drain(&mut m);
    assert!(a.contains(&offer_failed("a2", false)));
    assert!(m.is_routing());
}

#[test]
fn an_offered_agent_without_a_phone_fails_alone() {
    let t0 = Instant::now();
    let mut m = offered(t0);
    m.handle(
        t0,
        Input::Offer {
            agent: "1002".into(),
            ring_timeout: None,
        },
    );
    drain(&mut m);
    m.handle(t0, Input::RingStarted { legs: vec![] });
    assert_eq!(drain(&mut m), vec![offer_failed("1002", false)]);
    assert!(m.is_ringing("1001") && !m.is_routing());
}

#[test]
fn agent_hold_plays_music_and_resume_rebridges() {
    let t0 = Instant::now();
    let mut m = ringing_call(t0);
    m.handle(t0, Input::AgentAnswered { leg: 1 });
    drain(&mut m);
    m.handle(
        t0,
        Input::Hold {
            by: Party::Agent,
            on: true,
        },
    );
    let a = drain(&mut m);
    assert!(a.contains(&Action::Unbridge) && a.contains(&Action::PlayHoldMusic));
    m.handle(
        t0,
        Input::Hold {
            by: Party::Agent,
            on: false,
        },
    );
    assert!(drain(&mut m).contains(&Action::Bridge(1)));
}

#[test]
fn a_blind_transfer_hangs_up_the_agent_and_routes_the_same_call_again() {
    let t0 = Instant::now();
    let mut m = offered(t0);
    m.handle(t0, Input::AgentAnswered { leg: 1 });
    drain(&mut m);
    assert_eq!(m.bridged_agent(), Some("1001"));
    m.handle(
        t0,
        Input::TransferAway {
            to: "agent:1002".into(),
        },
    );
    assert_eq!(
        drain(&mut m),
        vec![
            Action::Unbridge,
            Action::Sending {
                to: Party::Agent,
                enabled: true
            },
            Action::HangUpAgent(1),
            Action::Log(EventKind::Transferred {
                from: "1001".into(),
                to: "agent:1002".into(),
                blind: true
            }),
        ]
    );
    assert!(m.is_routing() && m.bridged_agent().is_none());
    // The old leg's BYE completing is no news; the next agent rings and is bridged.
    m.handle(t0, Input::AgentHungUp { leg: 1 });
    assert!(drain(&mut m).is_empty());
    m.handle(
        t0,
        Input::Offer {
            agent: "1002".into(),
            ring_timeout: Some(Duration::from_secs(20)),
        },
    );
    assert_eq!(drain(&mut m), vec![Action::RingAgent("1002".into())]);
    m.handle(
        t0,
        Input::RingStarted {
            legs: vec![(2, "1002".into(), "sip:1002@127.0.0.1:5072".into())],
        },
    );
    m.handle(t0, Input::AgentAnswered { leg: 2 });
    assert!(drain(&mut m).contains(&Action::Bridge(2)));
    assert_eq!(m.bridged_agent(), Some("1002"));
    // Not bridged: nothing to transfer.
    let mut idle = CallMachine::routed();
    idle.handle(t0, Input::Answered);
    drain(&mut idle);
    idle.handle(
        t0,
        Input::TransferAway {
            to: "queue:x".into(),
        },
    );
    assert!(drain(&mut idle).is_empty() && idle.is_routing());
}

#[test]
fn an_attended_transfer_puts_the_consulted_agent_in_the_bridged_agents_place() {
    let t0 = Instant::now();
    let mut m = offered(t0);
    m.handle(t0, Input::AgentAnswered { leg: 1 });
    drain(&mut m);
    m.handle(
        t0,
        Input::TransferTo {
            leg: 7,
            agent: "1002".into(),
            to: "agent:1002".into(),
        },
    );
    assert_eq!(
        drain(&mut m),
        vec![
            Action::HangUpAgent(1),
            Action::Log(EventKind::Transferred {
                from: "1001".into(),
                to: "agent:1002".into(),
                blind: false
            }),
            Action::Sending {
                to: Party::Agent,
                enabled: true
            },
            Action::Bridge(7),
            Action::Log(EventKind::Bridged {
                agent: "1002".into()
            }),
        ]
    );
    assert_eq!(m.bridged_agent(), Some("1002"));
    assert_eq!(m.bridged_leg(), Some(7));
    // The old leg's BYE completing is no news.
    m.handle(t0, Input::AgentHungUp { leg: 1 });
    assert!(drain(&mut m).is_empty());
}
