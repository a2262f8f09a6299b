//! End to end, inside the test process: commands to a live call through the floor's
//! registry (what the CTI's hang_up, hold, resume and blind transfer use), with no SIP in
//! the caller's hands. caller → IVR → queue "pericia" → the first agent; hold, resume, a
//! blind transfer to the second agent, hang-up by the operator. One call, one recording:
//! the caller (440 Hz) on the left throughout, the first agent's 1000 Hz then the second
//! agent's 1500 Hz on the right. SQLite and PostgreSQL.

#[path = "support/answered.rs"]
mod answered;
mod support;

use std::time::Duration;

use answered::{pericia_caller, wait_for_nth};
use atende::floor::calls::{CallCommand, CommandError, TransferTarget};
use support::in_process::set_in_process;
use support::ivr::*;
use support::*;

/// Where the blind transfer sends the caller: straight to the other agent; back to the
/// queue, whose only available agent is then the other one (the first is in a long
/// wrap-up); or to a number through `[outbound]`, whose far end (a sipp phone behind the
/// gateway address) plays the second tone.
#[derive(Clone, Copy, PartialEq)]
enum Via {
    Agent,
    Queue,
    Number,
}

fn commands_reach_the_call_and_keep_one_recording(db: Db, via: Via) {
    set_in_process(true);
    let ports = [free_port(), free_port()];
    let (agents, outbound): (&[&str], String) = match via {
        Via::Number => (
            &["1001"],
            format!(
                "[outbound]\ngateway = \"127.0.0.1:{}\"\ncaller_id = \"08000000000\"\nprefix = \"0\"\nring_timeout_secs = 10\n",
                ports[1]
            ),
        ),
        _ => (&["1001", "1002"], String::new()),
    };
    let server = Server::start_ivr_config(
        db,
        &IvrOptions {
            hours: Hours::Open,
            agents,
            auto_login: true,
            ring_timeout_secs: 20,
            http_port: None,
        },
        Prompts::Short,
        10,
        match via {
            Via::Queue => r#"wrap_up = { mode = "auto", secs = 60 }"#,
            _ => "",
        },
        &outbound,
    );
    let running = server.in_process.as_ref().expect("in process");
    let calls = running.floor.calls.clone();
    let freqs = [1000u32, 1500];
    let mut phones = Vec::new();
    for ((agent, port), freq) in ["1001", "1002"].iter().zip(ports).zip(freqs) {
        if agents.contains(agent) {
            register_agent(&server, agent, port);
        }
        phones.push(start_phone(
            &server,
            "agent.xml",
            port,
            1,
            freq,
            &[("ANSWER_AFTER_MS", "500".into())],
        ));
    }
    // 1 (perícia), 1 (agendar): queue "pericia"; then wait (up to 40 s) for our BYE.
    let caller = pericia_caller(&server);
    let (protocol, events) = wait_for_nth(&server, "bridged", 1);
    let first = event(&events, "bridged")["detail"]["agent"]
        .as_str()
        .expect("agent")
        .to_owned();
    let (second, second_freq, first_freq) = match (via, first.as_str()) {
        (Via::Number, _) => ("external", 1500, 1000),
        (_, "1001") => ("1002", 1500, 1000),
        _ => ("1001", 1000, 1500),
    };
    let command = |c: CallCommand| running.block_on(calls.command(&protocol, c));
    std::thread::sleep(Duration::from_millis(1500));

    assert_eq!(
        running.block_on(calls.command("20000101-999999", CallCommand::HangUp)),
        Err(CommandError::UnknownCall)
    );
    assert_eq!(command(CallCommand::Resume), Err(CommandError::NotHeld));
    assert_eq!(command(CallCommand::Hold), Ok(()));
    assert_eq!(command(CallCommand::Hold), Err(CommandError::AlreadyHeld));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(command(CallCommand::Resume), Ok(()));
    assert_eq!(
        command(CallCommand::Transfer {
            to: TransferTarget::Agent("9999".into()),
            blind: true
        }),
        Err(CommandError::Invalid("no agent 9999".into()))
    );
    assert!(matches!(
        command(CallCommand::Transfer {
            to: TransferTarget::Queue("pericia".into()),
            blind: false
        }),
        Err(CommandError::Unsupported(_))
    ));
    std::thread::sleep(Duration::from_millis(1000));
    let (to, label) = match via {
        Via::Agent => (
            TransferTarget::Agent(second.into()),
            format!("agent:{second}"),
        ),
        Via::Queue => (
            TransferTarget::Queue("pericia".into()),
            "queue:pericia".to_owned(),
        ),
        Via::Number => (
            TransferTarget::Number("33334444".into()),
            "number".to_owned(),
        ),
    };
    assert_eq!(command(CallCommand::Transfer { to, blind: true }), Ok(()));
    wait_for_nth(&server, "bridged", 2);
    if via == Via::Queue {
        // The first agent is in wrap-up now: not one to transfer to.
        assert_eq!(
            command(CallCommand::Transfer {
                to: TransferTarget::Agent(first.clone()),
                blind: true
            }),
            Err(CommandError::Invalid(format!(
                "agent {first} is not available"
            )))
        );
    }
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(command(CallCommand::HangUp), Ok(()));

    wait_ok(caller, "caller (BYE from atende)", &server);
    for (i, phone) in phones.into_iter().enumerate() {
        wait_ok(phone, &format!("agent phone {i}"), &server);
    }
    let (_, events) = wait_for_event(&server, "recording_finalized");
    assert!(
        running.block_on(async { calls.is_empty() }),
        "the ended call left the registry"
    );
    let k = kinds(&events);
    let pos = |kind: &str, nth: usize| {
        k.iter()
            .enumerate()
            .filter(|(_, x)| *x == kind)
            .nth(nth)
            .map(|(i, _)| i)
            .unwrap_or_else(|| panic!("no {kind} #{nth} in {k:?}"))
    };
    assert!(
        pos("bridged", 0) < pos("held", 0)
            && pos("held", 0) < pos("resumed", 0)
            && pos("resumed", 0) < pos("transferred", 0)
            && pos("transferred", 0) < pos("bridged", 1)
            && pos("bridged", 1) < pos("hung_up", 0)
            && pos("hung_up", 0) < pos("recording_finalized", 0),
        "{k:?}"
    );
    let t = &event(&events, "transferred")["detail"];
    assert_eq!(
        (t["from"].as_str(), t["to"].as_str(), t["blind"].as_bool()),
        (Some(first.as_str()), Some(label.as_str()), Some(true)),
        "{t}"
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| e["kind"] == "bridged")
            .nth(1)
            .map(|e| e["detail"]["agent"].clone()),
        Some(serde_json::json!(second))
    );
    let hung = &event(&events, "hung_up")["detail"];
    assert_eq!(hung["cause"], "operator_hang_up", "{hung}");
    assert_eq!(k.iter().filter(|x| *x == "recording_started").count(), 1);
    assert_eq!(k.iter().filter(|x| *x == "recording_finalized").count(), 1);

    // One recording: the caller throughout on the left, both agents on the right.
    let (left, right) = recording(&server, &protocol);
    let second_of = |s: &[i16], i: usize| s[i * 8000..((i + 1) * 8000).min(s.len())].to_vec();
    let secs = right.len() / 8000;
    assert!(secs >= 5, "recording of {secs} s");
    let tone = |samples: &[i16], freq: u32| {
        rms(samples) > 500.0 && (crossings_per_sec(samples) - 2.0 * freq as f64).abs() < 150.0
    };
    let right_secs: Vec<Vec<i16>> = (0..secs).map(|i| second_of(&right, i)).collect();
    let first_heard = right_secs.iter().position(|s| tone(s, first_freq));
    let second_heard = right_secs.iter().rposition(|s| tone(s, second_freq));
    assert!(
        matches!((first_heard, second_heard), (Some(a), Some(b)) if a < b),
        "the caller heard {first} then {second}: {first_heard:?} {second_heard:?}"
    );
    let caller_secs = (1..secs - 1)
        .filter(|&i| tone(&second_of(&left, i), 440))
        .count();
    assert!(
        caller_secs >= secs - 3,
        "the caller's audio runs through the whole recording ({caller_secs} of {secs} s)"
    );
}

#[test]
fn commands_and_transfer_to_an_agent_sqlite() {
    commands_reach_the_call_and_keep_one_recording(Db::Sqlite, Via::Agent);
}

#[test]
fn commands_and_transfer_to_an_agent_postgres() {
    commands_reach_the_call_and_keep_one_recording(Db::Postgres, Via::Agent);
}

#[test]
fn transfer_to_a_number_sqlite() {
    commands_reach_the_call_and_keep_one_recording(Db::Sqlite, Via::Number);
}

#[test]
fn transfer_to_a_number_postgres() {
    commands_reach_the_call_and_keep_one_recording(Db::Postgres, Via::Number);
}

#[test]
fn transfer_to_a_queue_sqlite() {
    commands_reach_the_call_and_keep_one_recording(Db::Sqlite, Via::Queue);
}

#[test]
fn transfer_to_a_queue_postgres() {
    commands_reach_the_call_and_keep_one_recording(Db::Postgres, Via::Queue);
}
