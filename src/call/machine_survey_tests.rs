//! The call machine with a satisfaction survey: the agent's part ends, the call goes on.

use super::*;

fn drain(m: &mut CallMachine) -> Vec<Action> {
    std::iter::from_fn(|| m.poll_action()).collect()
}

/// A routed call bridged to agent 1001 on leg 1, with survey `atendimento`.
fn bridged(t0: Instant, survey: bool) -> CallMachine {
    let mut m = CallMachine::routed();
    m.set_survey(survey.then(|| "atendimento".into()));
    m.handle(t0, Input::Answered);
    m.handle(
        t0,
        Input::Offer {
            agent: "1001".into(),
            ring_timeout: None,
        },
    );
    m.handle(
        t0,
        Input::RingStarted {
            legs: vec![(1, "1001".into(), "sip:1001@127.0.0.1:5070".into())],
        },
    );
    m.handle(t0, Input::AgentAnswered { leg: 1 });
    drain(&mut m);
    m
}

fn started() -> Vec<Action> {
    vec![
        Action::Log(EventKind::SurveyStarted {
            survey: "atendimento".into(),
            agent: Some("1001".into()),
        }),
        Action::StartSurvey {
            survey: "atendimento".into(),
            agent: "1001".into(),
        },
    ]
}

#[test]
fn the_agent_hanging_up_puts_the_caller_to_the_survey() {
    let t0 = Instant::now();
    let mut m = bridged(t0, true);
    m.handle(t0, Input::AgentHungUp { leg: 1 });
    let mut expected = vec![Action::Unbridge];
    expected.extend(started());
    assert_eq!(drain(&mut m), expected);
    assert!(m.in_survey() && !m.is_ended() && m.bridged_agent().is_none());
    // The survey releases the call: the caller is hung up, the recording sealed.
    m.handle(
        t0,
        Input::Release {
            cause: "survey_completed".into(),
        },
    );
    assert_eq!(
        drain(&mut m),
        vec![
            Action::HangUpCaller,
            Action::EndSurvey,
            Action::FinishMedia,
            Action::Log(EventKind::HungUp {
                by: Party::System,
                cause: "survey_completed".into(),
                sip_status: None,
            }),
        ]
    );
}

#[test]
fn the_caller_hanging_up_in_the_survey_ends_it_before_the_hang_up_entry() {
    let t0 = Instant::now();
    let mut m = bridged(t0, true);
    m.handle(t0, Input::AgentHungUp { leg: 1 });
    drain(&mut m);
    m.handle(t0, Input::CallerHungUp);
    let a = drain(&mut m);
    assert_eq!(a[0], Action::EndSurvey);
    assert!(!a.iter().any(|a| matches!(a, Action::HangUpAgent(_))));
    assert!(m.is_ended());
}

#[test]
fn without_a_survey_the_agent_hanging_up_ends_the_call() {
    let t0 = Instant::now();
    let mut m = bridged(t0, false);
    m.handle(t0, Input::ToSurvey);
    assert_eq!(drain(&mut m), vec![]);
    m.handle(t0, Input::AgentHungUp { leg: 1 });
    let a = drain(&mut m);
    assert_eq!(a[0], Action::HangUpCaller);
    assert!(m.is_ended());
}

#[test]
fn a_caller_hanging_up_first_starts_no_survey() {
    let t0 = Instant::now();
    let mut m = bridged(t0, true);
    m.handle(t0, Input::CallerHungUp);
    let a = drain(&mut m);
    assert!(a.contains(&Action::HangUpAgent(1)));
    assert!(!a.iter().any(|a| matches!(
        a,
        Action::StartSurvey { .. }
            | Action::EndSurvey
            | Action::Log(EventKind::SurveyStarted { .. })
    )));
}

#[test]
fn a_transfer_to_the_survey_hangs_up_the_agent_leg() {
    let t0 = Instant::now();
    let mut m = bridged(t0, true);
    m.handle(t0, Input::ToSurvey);
    let mut expected = vec![Action::Unbridge, Action::HangUpAgent(1)];
    expected.extend(started());
    assert_eq!(drain(&mut m), expected);
    // The agent's BYE answer (or their own BYE) changes nothing now.
    m.handle(t0, Input::AgentHungUp { leg: 1 });
    assert_eq!(drain(&mut m), vec![]);
    assert!(m.in_survey());
}
