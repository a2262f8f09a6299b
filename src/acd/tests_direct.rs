//! A call straight to an agent (a transfer, not a queue's offer): the agent is busy with
//! it and offered nothing until it ends, then available (or what they asked for).

use super::tests::Harness;
use super::*;

fn direct(h: &mut Harness, agent: &str, call: &str) -> Result<(), AcdError> {
    h.input(Input::DirectCall {
        agent: agent.into(),
        call: call.into(),
    })
}

fn ended(h: &mut Harness, agent: &str, call: &str) -> Result<(), AcdError> {
    h.input(Input::DirectEnded {
        agent: agent.into(),
        call: call.into(),
    })
}

#[test]
fn an_agent_on_a_direct_call_is_offered_nothing_until_it_ends() {
    let mut h = Harness::new(vec![QueueConfig::new("q")]);
    h.login("a1", &[("q", 1)], &[]);
    direct(&mut h, "a1", "x1").expect("available agent takes it");
    assert_eq!(h.status("a1"), AgentStatus::OnCall { call: "x1".into() });
    h.take();
    h.call("c1", "q", 0, &[]);
    assert_eq!(h.offers(), vec![], "busy with the transfer: no offer");
    // A second direct call to the same agent is refused.
    assert!(matches!(
        direct(&mut h, "a1", "x2"),
        Err(AcdError::AgentBusy(_))
    ));
    // The end of a call that is not theirs changes nothing.
    assert!(ended(&mut h, "a1", "x2").is_err());
    ended(&mut h, "a1", "x1").expect("their call ended");
    assert_eq!(
        h.offers(),
        vec![("c1".to_owned(), "a1".to_owned())],
        "free again: the waiting call is offered at once"
    );
}

#[test]
fn a_direct_call_takes_only_an_available_agent_and_keeps_a_pause_for_after() {
    let mut h = Harness::new(vec![QueueConfig::new("q")]);
    h.login("a1", &[("q", 1)], &[]);
    h.login("a2", &[("q", 1)], &[]);
    assert!(matches!(
        direct(&mut h, "nobody", "x1"),
        Err(AcdError::UnknownAgent(_))
    ));
    h.ok(Input::AgentPause {
        agent: "a2".into(),
        reason: "lunch".into(),
    });
    assert!(direct(&mut h, "a2", "x1").is_err(), "paused");
    direct(&mut h, "a1", "x1").expect("available");
    // Pausing during the call applies after it.
    h.ok(Input::AgentPause {
        agent: "a1".into(),
        reason: "lunch".into(),
    });
    assert_eq!(h.status("a1"), AgentStatus::OnCall { call: "x1".into() });
    ended(&mut h, "a1", "x1").expect("ended");
    assert_eq!(
        h.status("a1"),
        AgentStatus::Paused {
            reason: "lunch".into()
        }
    );
}
