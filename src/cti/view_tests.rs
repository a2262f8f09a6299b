use super::*;
use crate::acd::ids::{AgentId, CallId, QueueId};
use crate::bus::AgentChange;
use crate::store::event::CallEvent;

fn principal(role: Role, agent: Option<&str>, queues: &[&str]) -> Principal {
    Principal {
        user: "u".into(),
        role,
        agent: agent.map(Into::into),
        queues: queues.iter().map(|q| q.to_string()).collect(),
        session: "s".into(),
    }
}

fn call(seq: u32, kind: EventKind) -> Change {
    Change::Call(CallEvent {
        protocol: "20261207-000001".parse().expect("protocol"),
        seq,
        at_ms: 1_000 + i64::from(seq),
        kind,
    })
}

fn offered(restricted: bool) -> Change {
    call(
        0,
        EventKind::Offered {
            call_id: "x".into(),
            a_number: "61999990000".into(),
            b_number: "08001234".into(),
            service: "sac".into(),
            source: "trunk".into(),
            restricted,
        },
    )
}

fn acd(seq: u32, event: AcdEvent) -> Change {
    call(seq, EventKind::Acd { event })
}

#[test]
fn an_offer_reaches_its_agent_and_the_queue_supervisor_only() {
    let mut view = View::default();
    assert!(view.apply(&offered(true), None).is_empty());
    let out = view.apply(
        &acd(
            1,
            AcdEvent::Offered {
                call: CallId("20261207-000001".into()),
                agent: AgentId("1001".into()),
                queue: QueueId("sac".into()),
                waited_ms: 5_000,
            },
        ),
        Some(ScreenPop {
            url: Some("https://crm/1".into()),
            ..ScreenPop::default()
        }),
    );
    assert_eq!(out.len(), 1);
    let ServerMessage::CallOffered { call, .. } = &out[0].message else {
        panic!("an offer")
    };
    assert_eq!(call.caller, RESTRICTED, "a private number is masked");
    assert_eq!(call.url.as_deref(), Some("https://crm/1"));
    assert_eq!(call.waited_ms, 5_000);
    let aud = &out[0].audience;
    assert!(visible(
        &principal(Role::Agent, Some("1001"), &["sac"]),
        aud
    ));
    assert!(!visible(
        &principal(Role::Agent, Some("1002"), &["sac"]),
        aud
    ));
    assert!(visible(&principal(Role::Supervisor, None, &["sac"]), aud));
    assert!(!visible(
        &principal(Role::Supervisor, None, &["geral"]),
        aud
    ));
    assert!(visible(&principal(Role::Admin, None, &[]), aud));
    assert_eq!(view.ringing_at("1001").as_deref(), Some("20261207-000001"));
    // Ring no answer: missed, back to waiting.
    let out = view.apply(
        &acd(
            2,
            AcdEvent::RingNoAnswer {
                call: CallId("20261207-000001".into()),
                agent: AgentId("1001".into()),
                rang_ms: 15_000,
            },
        ),
        None,
    );
    let ServerMessage::CallMissed(m) = &out[0].message else {
        panic!("missed")
    };
    assert_eq!(m.reason, MissReason::NoAnswer);
    assert_eq!(view.ringing_at("1001"), None);
}

#[test]
fn answered_once_then_ended_and_remembered_for_register() {
    let mut view = View::default();
    view.apply(&offered(false), None);
    view.apply(
        &acd(
            1,
            AcdEvent::Offered {
                call: CallId("20261207-000001".into()),
                agent: AgentId("1001".into()),
                queue: QueueId("sac".into()),
                waited_ms: 0,
            },
        ),
        None,
    );
    let a = view.apply(
        &call(
            2,
            EventKind::AgentAnswered {
                agent: "1001".into(),
            },
        ),
        None,
    );
    let b = view.apply(
        &call(
            3,
            EventKind::Bridged {
                agent: "1001".into(),
            },
        ),
        None,
    );
    assert!(matches!(a[0].message, ServerMessage::CallAnswered(_)));
    assert!(b.is_empty(), "one call_answered per call");
    let snap = view.snapshot(&principal(Role::Agent, Some("1001"), &["sac"]));
    assert_eq!(snap.calls.len(), 1);
    assert_eq!(snap.calls[0].state, CallState::Talking);
    assert!(
        view.snapshot(&principal(Role::Agent, Some("1002"), &["sac"]))
            .calls
            .is_empty()
    );
    let out = view.apply(
        &call(
            4,
            EventKind::HungUp {
                by: crate::events::Party::Caller,
                cause: "normal".into(),
                sip_status: None,
            },
        ),
        None,
    );
    let ServerMessage::CallEnded(e) = &out[0].message else {
        panic!("ended")
    };
    assert_eq!(e.by, "caller");
    assert!(view.handled("1001", "20261207-000001"));
    assert!(!view.has_live_call("1001", "20261207-000001"));
}

#[test]
fn an_older_agent_version_is_dropped_and_wrap_up_is_announced() {
    let mut view = View::default();
    let change = |v, state| {
        Change::Agent(AgentChange {
            agent: "1001".into(),
            version: v,
            state,
            reason: None,
            call: Some("p".into()),
            since_ms: 0,
            queues: vec!["sac".into()],
            next_state: None,
        })
    };
    assert_eq!(view.apply(&change(2, AgentState::OnCall), None).len(), 1);
    assert!(
        view.apply(&change(1, AgentState::Available), None)
            .is_empty()
    );
    let out = view.apply(&change(3, AgentState::WrapUp), None);
    assert_eq!(out.len(), 2);
    assert!(matches!(out[1].message, ServerMessage::WrapUp(_)));
}
