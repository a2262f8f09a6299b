//! Who sees which sampled call.

use super::*;

fn who(role: Role, queues: &[&str]) -> Principal {
    Principal {
        user: "u".into(),
        role,
        agent: None,
        queues: queues.iter().map(|q| q.to_string()).collect(),
        agents: Vec::new(),
        teams: Vec::new(),
        session: String::new(),
    }
}

fn call(queue: Option<&str>) -> SampleCall {
    SampleCall {
        protocol: "20261210-000001".into(),
        agent: "1001".into(),
        queue: queue.map(str::to_owned),
        talk_ms: 60_000,
        rank: 1,
    }
}

#[test]
fn supervisors_see_only_calls_of_their_queues() {
    let sup = who(Role::Supervisor, &["sac"]);
    assert!(sees(&sup, &call(Some("sac"))));
    assert!(!sees(&sup, &call(Some("pericia"))));
    assert!(
        !sees(&sup, &call(None)),
        "a call through no queue is in no scope"
    );
    for role in [Role::Admin, Role::Auditor] {
        assert!(sees(&who(role, &[]), &call(None)));
        assert!(sees(&who(role, &[]), &call(Some("pericia"))));
    }
}
