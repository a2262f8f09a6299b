//! The CTI's agent commands and queries through the ACD actor: next state (published
//! with the agent), end of wrap-up, the system pause and a queued call's offer context;
//! a supervisor's forced pause of an agent on a call, logged with who and why when it
//! takes effect.

use std::collections::BTreeMap;

use tokio::sync::mpsc;

use super::{AcdRequest, AcdShell, AgentCommand, spawn};
use crate::acd::{
    AgentId, CallId, CallerNumber, EngineConfig, NewCall, NextState, QueueConfig, QueueId,
    SystemPause, WrapUp,
};
use crate::bus::{AgentState, Bus, Change};
use crate::config::AgentConfig;
use crate::floor::call_log::CallLog;

fn agent(id: &str) -> AgentConfig {
    AgentConfig {
        id: id.into(),
        name: String::new(),
        password: Some(format!("pw{id}")),
        ha1_md5: None,
        ha1_sha256: None,
        digest_algorithms: None,
        pin: None,
        queues: vec!["sac".into()],
        tiers: Default::default(),
        skills: Default::default(),
        auto_login: true,
        auto_answer: Default::default(),
    }
}

async fn last_agent(
    rx: &mut tokio::sync::broadcast::Receiver<std::sync::Arc<crate::bus::Published>>,
) -> crate::bus::AgentChange {
    let mut last = None;
    while let Ok(p) = rx.try_recv() {
        if let Change::Agent(a) = &p.change {
            last = Some(a.clone());
        }
    }
    last.expect("an agent change was published")
}

#[tokio::test]
async fn next_state_is_published_system_pause_applies_and_offer_context_answers() {
    let bus = Bus::new(None);
    let mut rx = bus.subscribe();
    let acd = spawn(
        EngineConfig {
            queues: vec![QueueConfig {
                wrap_up: WrapUp::Manual { max_secs: None },
                ..QueueConfig::new("sac")
            }],
            pause_reasons: vec!["lunch".into()],
        },
        &[agent("1001")],
        AcdShell {
            bus: Some(bus.clone()),
            ..AcdShell::default()
        },
    )
    .expect("ACD starts");
    let id = AgentId::new("1001");
    // Not on a call: there is nothing to follow.
    let e = acd
        .agent(
            id.clone(),
            AgentCommand::NextState {
                next: NextState::Available,
            },
        )
        .await
        .unwrap_err();
    assert!(!e.is_empty());
    assert!(
        acd.agent(id.clone(), AgentCommand::EndWrapUp)
            .await
            .is_err()
    );

    // A queued call: offered to the agent, its context is the caller and the IVR's data.
    let protocol: crate::store::protocol::Protocol = "20261207-000001".parse().expect("protocol");
    let (notices, mut notice_rx) = mpsc::channel(16);
    let call = CallId::new("20261207-000001");
    assert!(
        acd.send(AcdRequest::Enqueue {
            call: NewCall {
                call: call.clone(),
                queue: QueueId::new("sac"),
                priority: 0,
                skills: vec![],
                a_number: CallerNumber::new("61999990000"),
                variables: BTreeMap::from([("cpf".into(), "52998224725".into())]),
            },
            log: CallLog::new(bus.clone(), protocol),
            notices,
        })
        .await
    );
    let offer = notice_rx.recv().await.expect("offer");
    assert!(
        matches!(*offer, super::AcdNotice::Offer { .. }),
        "{offer:?}"
    );
    let context = acd.offer_context(call.clone()).await.expect("context");
    assert_eq!(context.caller, "61999990000");
    assert_eq!(context.variables["cpf"], "52998224725");
    assert_eq!(acd.offer_context(CallId::new("nope")).await, None);

    assert!(
        acd.send(AcdRequest::OfferAnswered {
            call: call.clone(),
            agent: id.clone()
        })
        .await
    );
    acd.agent(
        id.clone(),
        AgentCommand::NextState {
            next: NextState::Paused {
                reason: "lunch".into(),
            },
        },
    )
    .await
    .expect("next state on a call");
    let a = last_agent(&mut rx).await;
    assert_eq!(a.state, AgentState::OnCall);
    assert_eq!(a.next_state.as_deref(), Some("paused:lunch"));

    // The call ends: wrap-up until the agent ends it, then what they asked for.
    assert!(acd.send(AcdRequest::Hangup { call }).await);
    acd.status().await.expect("running");
    let a = last_agent(&mut rx).await;
    assert_eq!(a.state, AgentState::WrapUp);
    assert_eq!(a.call.as_deref(), Some("20261207-000001"));
    assert_eq!(a.next_state.as_deref(), Some("paused:lunch"));
    acd.agent(id.clone(), AgentCommand::EndWrapUp)
        .await
        .expect("end wrap-up");
    let a = last_agent(&mut rx).await;
    assert_eq!(a.state, AgentState::Paused);
    assert_eq!(a.reason.as_deref(), Some("lunch"));
    assert_eq!(a.next_state, None);

    acd.agent(id.clone(), AgentCommand::Ready)
        .await
        .expect("ready");
    acd.agent(
        id.clone(),
        AgentCommand::SystemPause {
            reason: SystemPause::Disconnected,
        },
    )
    .await
    .expect("system pause");
    let a = last_agent(&mut rx).await;
    assert_eq!(a.state, AgentState::Paused);
    assert_eq!(a.reason.as_deref(), Some("disconnected"));
    // An agent may not pick the system's reason themself.
    assert!(
        acd.agent(
            id,
            AgentCommand::Pause {
                reason: "disconnected".into()
            }
        )
        .await
        .is_err()
    );
}

crate::store::testing::both_backends!(
    a_forced_pause_on_a_call_is_logged_with_who_when_it_begins,
    forced_pause_on_a_call
);
async fn forced_pause_on_a_call(db: crate::store::testing::TestDb) {
    use crate::store::agent_log::AgentLog;
    let bus = Bus::new(None);
    let log = AgentLog::spawn(db.store.clone());
    let acd = spawn(
        EngineConfig {
            queues: vec![QueueConfig {
                wrap_up: WrapUp::Manual { max_secs: None },
                ..QueueConfig::new("sac")
            }],
            pause_reasons: vec!["lunch".into()],
        },
        &[agent("1001"), agent("1002")],
        AcdShell {
            bus: Some(bus.clone()),
            agent_log: Some(log.clone()),
            ..AcdShell::default()
        },
    )
    .expect("ACD starts");
    let (a1, a2) = (AgentId::new("1001"), AgentId::new("1002"));
    acd.agent(a2.clone(), AgentCommand::Logout)
        .await
        .expect("1002 out");
    let protocol: crate::store::protocol::Protocol = "20261207-000002".parse().expect("protocol");
    let (notices, mut notice_rx) = mpsc::channel(16);
    let call = CallId::new("20261207-000002");
    assert!(
        acd.send(AcdRequest::Enqueue {
            call: NewCall {
                call: call.clone(),
                queue: QueueId::new("sac"),
                priority: 0,
                skills: vec![],
                a_number: CallerNumber::new("61999990000"),
                variables: BTreeMap::new(),
            },
            log: CallLog::new(bus.clone(), protocol),
            notices,
        })
        .await
    );
    notice_rx.recv().await.expect("offer");
    assert!(
        acd.send(AcdRequest::OfferAnswered {
            call: call.clone(),
            agent: a1.clone()
        })
        .await
    );
    let by = super::ForcedBy {
        user: "sup".into(),
        why: "reunião".into(),
    };
    let pause = || AgentCommand::Pause {
        reason: "lunch".into(),
    };
    acd.agent_forced(a1.clone(), pause(), by.clone())
        .await
        .expect("forced pause, pending on the call");
    // The call ends, the agent ends wrap-up: the pause begins, by the supervisor's order.
    assert!(acd.send(AcdRequest::Hangup { call }).await);
    acd.agent(a1.clone(), AgentCommand::EndWrapUp)
        .await
        .expect("end wrap-up");
    // 1002's own pause right after says nothing of a supervisor.
    acd.agent(
        a2.clone(),
        AgentCommand::Login {
            agent: a2.clone(),
            ready: true,
        },
    )
    .await
    .expect("1002 in");
    acd.agent(a2.clone(), pause()).await.expect("own pause");
    // 1001's own ready after it: not forced either.
    acd.agent(a1.clone(), AgentCommand::Ready)
        .await
        .expect("ready");
    acd.status().await.expect("running");
    log.flush().await;
    let rows = db
        .store
        .agent_events(None, 0, i64::MAX, 100)
        .await
        .expect("agent log");
    let forced: Vec<(String, String, Option<String>)> = rows
        .iter()
        .filter_map(|e| {
            e.forced_label()
                .map(|l| (e.agent.clone(), e.from_state.clone(), Some(l)))
        })
        .collect();
    assert_eq!(
        forced,
        vec![(
            "1001".to_owned(),
            "wrap_up".to_owned(),
            Some("pausa (lunch) forçada por sup: reunião".to_owned())
        )],
        "{rows:?}"
    );
}

#[tokio::test]
async fn queue_overrides_are_restored_and_every_change_goes_to_the_saver() {
    use crate::store::queue_overrides::QueueOverride;
    let (saver, mut saved) = tokio::sync::watch::channel(Vec::new());
    let sac = |closed_by_hand, priority| QueueOverride {
        queue: "sac".into(),
        closed_by_hand,
        priority,
    };
    let acd = spawn(
        EngineConfig {
            queues: vec![QueueConfig::new("sac")],
            pause_reasons: vec![],
        },
        &[agent("1001")],
        AcdShell {
            queue_overrides: vec![
                sac(true, Some(4)),
                QueueOverride {
                    queue: "gone".into(),
                    closed_by_hand: true,
                    priority: None,
                },
            ],
            override_saver: Some(saver),
            ..AcdShell::default()
        },
    )
    .expect("ACD starts");
    let status = acd.status().await.expect("running");
    let q = &status.queues[0];
    assert_eq!(
        (q.open, q.closed_by_hand, q.priority),
        (false, true, Some(4))
    );
    // The queue no longer configured is dropped, and the stored set rewritten without it.
    assert!(saved.has_changed().expect("saver"));
    assert_eq!(*saved.borrow_and_update(), vec![sac(true, Some(4))]);
    let floor = |command| acd.floor(command);
    floor(super::FloorCommand::SetClosed {
        queue: QueueId::new("sac"),
        closed: false,
    })
    .await
    .expect("running")
    .expect("reopened");
    assert_eq!(*saved.borrow_and_update(), vec![sac(false, Some(4))]);
    floor(super::FloorCommand::SetPriority {
        queue: QueueId::new("sac"),
        priority: None,
    })
    .await
    .expect("running")
    .expect("lifted");
    assert_eq!(*saved.borrow_and_update(), vec![]);
    let q = &acd.status().await.expect("running").queues[0];
    assert_eq!((q.open, q.closed_by_hand, q.priority), (true, false, None));
}
