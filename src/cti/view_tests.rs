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
        agents: Vec::new(),
        teams: Vec::new(),
        session: "s".into(),
    }
}

#[test]
fn a_team_supervisor_sees_the_teams_agents_not_another_teams_on_a_shared_queue() {
    let mut who = principal(Role::Supervisor, None, &["sac"]);
    who.teams = vec!["norte".into()];
    who.agents = vec!["1001".into()];
    let agent = |a: &str| Audience::Agent {
        agent: a.into(),
        queues: vec!["sac".into()],
    };
    assert!(visible(&who, &agent("1001")));
    assert!(!visible(&who, &agent("1002")), "1002 is another team's");
    // The team's agent's call from a queue outside the team is the team's business.
    let call = |a: &str| Audience::Call {
        agent: Some(a.into()),
        queue: Some("geral".into()),
    };
    assert!(visible(&who, &call("1001")));
    assert!(!visible(&who, &call("1002")));
    assert!(visible(&who, &Audience::Queue("sac".into())));
    assert!(!visible(&who, &Audience::Queue("geral".into())));
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

/// Offered from "sac" to 1001 (with pop data) and answered.
fn talking_with_1001(view: &mut View) {
    view.apply(&offered(false), None);
    view.apply(
        &acd(
            1,
            AcdEvent::Offered {
                call: CallId("20261207-000001".into()),
                agent: AgentId("1001".into()),
                queue: QueueId("sac".into()),
                waited_ms: 7_000,
            },
        ),
        Some(ScreenPop {
            ivr: [("cpf".to_string(), "12345678900".to_string())].into(),
            ..ScreenPop::default()
        }),
    );
    view.apply(
        &call(
            2,
            EventKind::Bridged {
                agent: "1001".into(),
            },
        ),
        None,
    );
}

#[test]
fn a_registration_does_not_make_the_hang_up_look_stale() {
    let mut view = View::default();
    talking_with_1001(&mut view);
    // Registrations are numbered far above the call's own events.
    let reg = call(
        1_000_000,
        EventKind::Registered {
            agent: "1001".into(),
            code: "informacao".into(),
            note: String::new(),
        },
    );
    assert!(view.apply(&reg, None).is_empty());
    let out = view.apply(
        &call(
            3,
            EventKind::HungUp {
                by: crate::events::Party::Caller,
                cause: "normal".into(),
                sip_status: None,
            },
        ),
        None,
    );
    assert!(
        matches!(out[0].message, ServerMessage::CallEnded(_)),
        "{out:?}"
    );
}

#[test]
fn the_callee_of_a_transfer_gets_the_pop_with_its_origin() {
    let mut view = View::default();
    talking_with_1001(&mut view);
    // Attended: 1002 is rung for the consultation and sees the caller's pop.
    let change = call(
        3,
        EventKind::TransferStarted {
            from: "1001".into(),
            to: "agent:1002".into(),
        },
    );
    assert_eq!(view.needs_screen_pop(&change), None, "the pop is kept");
    let out = view.apply(&change, None);
    let ServerMessage::CallOffered { call: c, .. } = &out[0].message else {
        panic!("an offer to the callee: {out:?}")
    };
    assert!(visible(
        &principal(Role::Agent, Some("1002"), &[]),
        &out[0].audience
    ));
    assert_eq!(c.ivr.get("cpf").map(String::as_str), Some("12345678900"));
    assert_eq!(c.waited_ms, 7_000);
    assert_eq!(
        c.transfer,
        Some(TransferOrigin {
            from: "1001".into(),
            mode: TransferMode::Attended
        })
    );
    // Completed: 1001 is told where it went, 1002 gets its own call_answered.
    let out = view.apply(
        &call(
            4,
            EventKind::Transferred {
                from: "1001".into(),
                to: "agent:1002".into(),
                blind: false,
            },
        ),
        None,
    );
    let ServerMessage::CallTransferred(t) = &out[0].message else {
        panic!("transferred: {out:?}")
    };
    assert_eq!(t.agent.as_deref(), Some("1001"));
    let out = view.apply(
        &call(
            5,
            EventKind::Bridged {
                agent: "1002".into(),
            },
        ),
        None,
    );
    let ServerMessage::CallAnswered(a) = &out[0].message else {
        panic!("answered by 1002: {out:?}")
    };
    assert_eq!(a.agent.as_deref(), Some("1002"));
    assert!(view.has_live_call("1002", "20261207-000001"));

    // Blind, on to 1003 (rung straight): offered with the origin.
    view.apply(
        &call(
            6,
            EventKind::Transferred {
                from: "1002".into(),
                to: "agent:1003".into(),
                blind: true,
            },
        ),
        None,
    );
    let out = view.apply(
        &call(
            7,
            EventKind::Ringing {
                agent: "1003".into(),
                contact: "sip:1003@x".into(),
            },
        ),
        None,
    );
    let ServerMessage::CallOffered { call: c, .. } = &out[0].message else {
        panic!("an offer to 1003: {out:?}")
    };
    assert_eq!(c.transfer.as_ref().map(|t| t.from.as_str()), Some("1002"));
    assert_eq!(c.ivr.get("cpf").map(String::as_str), Some("12345678900"));
}

#[test]
fn the_agent_is_told_of_whisper_and_barge_and_of_listen_only_when_shown() {
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
    let agent = principal(Role::Agent, Some("1001"), &["sac"]);
    let sup = principal(Role::Supervisor, None, &["sac"]);
    let monitoring = |out: &[Addressed]| -> (Option<String>, bool, bool) {
        let [one] = out else {
            panic!("one event: {out:?}")
        };
        let ServerMessage::Monitoring(m) = &one.message else {
            panic!("monitoring: {one:?}")
        };
        (
            m.mode.clone(),
            visible(&agent, &one.audience),
            visible(&sup, &one.audience),
        )
    };
    let started = |seq, shown| {
        call(
            seq,
            EventKind::MonitorStarted {
                supervisor: "sup".into(),
                phone: "2001".into(),
                mode: crate::events::MonitorMode::Listen,
                shown,
            },
        )
    };
    let out = view.apply(&started(2, false), None);
    assert_eq!(monitoring(&out), (Some("listen".into()), false, true));
    let out = view.apply(&started(3, true), None);
    assert_eq!(monitoring(&out), (Some("listen".into()), true, true));
    let out = view.apply(
        &call(
            4,
            EventKind::MonitorModeChanged {
                supervisor: "sup".into(),
                mode: crate::events::MonitorMode::Whisper,
                via: "api".into(),
                shown: true,
            },
        ),
        None,
    );
    assert_eq!(monitoring(&out), (Some("whisper".into()), true, true));
    let out = view.apply(
        &call(
            5,
            EventKind::MonitorEnded {
                supervisor: "sup".into(),
                reason: "stopped".into(),
            },
        ),
        None,
    );
    assert_eq!(monitoring(&out), (None, true, true));
}

#[test]
fn with_two_supervisors_one_leaving_leaves_the_others_mode() {
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
    let agent = principal(Role::Agent, Some("1001"), &["sac"]);
    let sup = principal(Role::Supervisor, None, &["sac"]);
    // What each desktop is told, in order: the agent's badge, the supervisors' view.
    let told = |out: &[Addressed], who: &Principal| -> Vec<Option<String>> {
        out.iter()
            .filter(|a| visible(who, &a.audience))
            .map(|a| match &a.message {
                ServerMessage::Monitoring(m) => m.mode.clone(),
                other => panic!("monitoring: {other:?}"),
            })
            .collect()
    };
    let mode = |m: &str| Some(m.to_owned());
    use crate::events::MonitorMode::{Barge, Listen, Whisper};
    // A desktop connecting after an event sees in its snapshot what the events it was
    // told so far leave it with.
    let seen = |view: &View, who: &Principal| -> Option<String> {
        let snapshot = view.snapshot(who);
        let [c] = snapshot.calls.as_slice() else {
            panic!("one call: {snapshot:?}")
        };
        c.monitoring.clone()
    };
    let (mut agent_last, mut sup_last) = (None, None);
    let mut apply = |seq, kind| {
        let out = view.apply(&call(seq, kind), None);
        let told = (told(&out, &agent), told(&out, &sup));
        agent_last = told.0.last().cloned().unwrap_or(agent_last.take());
        sup_last = told.1.last().cloned().unwrap_or(sup_last.take());
        assert_eq!(seen(&view, &agent), agent_last, "the agent's snapshot");
        assert_eq!(seen(&view, &sup), sup_last, "the supervisor's snapshot");
        told
    };
    let started = |supervisor: &str, mode, shown| EventKind::MonitorStarted {
        supervisor: supervisor.into(),
        phone: "2001".into(),
        mode,
        shown,
    };
    let switched = |supervisor: &str, mode, shown| EventKind::MonitorModeChanged {
        supervisor: supervisor.into(),
        mode,
        via: "api".into(),
        shown,
    };
    let ended = |supervisor: &str| EventKind::MonitorEnded {
        supervisor: supervisor.into(),
        reason: "stopped".into(),
    };
    assert_eq!(
        apply(2, started("ana", Whisper, true)),
        (vec![mode("whisper")], vec![mode("whisper")])
    );
    // Bia's listen is not shown: the agent still sees Ana's whisper.
    assert_eq!(
        apply(3, started("bia", Listen, false)),
        (vec![mode("whisper")], vec![mode("whisper")])
    );
    assert_eq!(
        apply(4, switched("bia", Barge, true)),
        (vec![mode("barge")], vec![mode("barge")])
    );
    // Bia leaves: Ana still whispers, the badge stays.
    assert_eq!(
        apply(5, ended("bia")),
        (vec![mode("whisper")], vec![mode("whisper")])
    );
    // Ana only listens (not shown): the agent's badge goes, the supervisors see listen.
    assert_eq!(
        apply(6, switched("ana", Listen, false)),
        (vec![None], vec![mode("listen")])
    );
    // The agent was shown nothing: its end is the supervisors' news only.
    assert_eq!(apply(7, ended("ana")), (vec![], vec![None]));
}
