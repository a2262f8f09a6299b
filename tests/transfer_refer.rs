//! End to end: the agent's phone transfers the caller with its transfer key (a blind
//! REFER, RFC 3515). caller → IVR → queue "pericia" → agent 1001, whose phone (sipp)
//! sends REFER to 1002 (an agent outside the queue) and expects 202, NOTIFY "100
//! Trying", NOTIFY "200 OK", then atende's BYE; the caller is bridged to 1002 on the
//! same recording (caller's 440 Hz on the left throughout, 1000 Hz then 1500 Hz on the
//! right). A REFER to a target atende does not know gets NOTIFY "404" and the call
//! stays with 1001 until an operator hangs it up. While 1002 talks to the caller the ACD
//! sees them on a call (no queue offers them another), and available after it. SQLite
//! and PostgreSQL. The CTI's DTMF towards the caller is taken while bridged.

#[path = "support/answered.rs"]
mod answered;
mod support;

use std::time::Duration;

use answered::{pericia_caller, wait_for_nth};
use atende::floor::calls::{CallCommand, CommandError};
use support::in_process::set_in_process;
use support::ivr::*;
use support::*;

fn tone(samples: &[i16], freq: u32) -> bool {
    rms(samples) > 500.0 && (crossings_per_sec(samples) - 2.0 * freq as f64).abs() < 150.0
}

fn phone_refers(db: Db, known: bool) {
    set_in_process(true);
    let ports = [free_port(), free_port()];
    // 1002 serves another queue: the call comes to 1001, who transfers it.
    let other = "[[agents]]\nid = \"1002\"\npassword = \"pw1002\"\npin = \"1234\"\nqueues = [\"geral\"]\nauto_login = true\n";
    let server = Server::start_ivr_config(
        db,
        &IvrOptions {
            hours: Hours::Open,
            agents: &["1001"],
            auto_login: true,
            ring_timeout_secs: 20,
            http_port: None,
        },
        Prompts::Short,
        10,
        "",
        other,
    );
    let running = server.in_process.as_ref().expect("in process");
    let calls = running.floor.calls.clone();
    register_agent(&server, "1001", ports[0]);
    register_agent(&server, "1002", ports[1]);
    let (target, fin) = if known {
        ("1002", "200")
    } else {
        ("7777", "404")
    };
    let referer = start_phone(
        &server,
        "agent_refer.xml",
        ports[0],
        1,
        1000,
        &[
            ("REFER_AT_MS", "2500".into()),
            ("TARGET", target.into()),
            ("FINAL", fin.into()),
        ],
    );
    let second = known.then(|| {
        start_phone(
            &server,
            "agent.xml",
            ports[1],
            1,
            1500,
            &[("ANSWER_AFTER_MS", "500".into())],
        )
    });
    let caller = pericia_caller(&server);
    let (protocol, _) = wait_for_nth(&server, "bridged", 1);
    // The CTI's keypad towards the caller (RFC 4733 on the caller's stream; the caller
    // offered telephone-event): digits are taken, anything else is refused.
    let dtmf = |digits: &str| {
        running.block_on(calls.command(
            &protocol,
            CallCommand::Dtmf {
                digits: digits.into(),
            },
        ))
    };
    assert_eq!(dtmf("12#"), Ok(()));
    assert!(matches!(dtmf("9x"), Err(CommandError::Invalid(_))));
    let acd = running.floor.acd.clone().expect("the ACD runs");
    let state_of = |agent: &str| {
        running
            .block_on(acd.status())
            .expect("ACD status")
            .agents
            .into_iter()
            .find(|v| v.agent == agent)
            .map(|v| v.state)
    };
    if known {
        wait_for_nth(&server, "bridged", 2);
        // Reached by a transfer, not by a queue: the ACD still sees 1002 busy.
        assert_eq!(state_of("1002"), Some("on_call"));
    } else {
        // The refused REFER leaves the call as it was; the talk goes on.
        std::thread::sleep(Duration::from_millis(4000));
    }
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(
        running.block_on(calls.command(&protocol, CallCommand::HangUp)),
        Ok(())
    );
    wait_ok(caller, "caller (BYE from atende)", &server);
    wait_ok(referer, "the referring phone (202, NOTIFYs, BYE)", &server);
    if let Some(p) = second {
        wait_ok(p, "the transfer's target phone", &server);
    }
    let (_, events) = wait_for_event(&server, "recording_finalized");
    // The transfer's call is over for 1002: available again (no queue's wrap-up).
    for _ in 0..50 {
        if state_of("1002") == Some("available") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(state_of("1002"), Some("available"));
    let k = kinds(&events);
    let bridged: Vec<_> = events
        .iter()
        .filter(|e| e["kind"] == "bridged")
        .map(|e| e["detail"]["agent"].clone())
        .collect();
    if known {
        let t = &event(&events, "transferred")["detail"];
        assert_eq!(
            (t["from"].as_str(), t["to"].as_str(), t["blind"].as_bool()),
            (Some("1001"), Some("agent:1002"), Some(true)),
            "{t}"
        );
        assert_eq!(
            bridged,
            vec![serde_json::json!("1001"), serde_json::json!("1002")]
        );
    } else {
        assert!(!k.iter().any(|x| x == "transferred"), "{k:?}");
        assert_eq!(bridged, vec![serde_json::json!("1001")]);
    }
    assert_eq!(
        event(&events, "hung_up")["detail"]["cause"],
        "operator_hang_up"
    );
    assert_eq!(k.iter().filter(|x| *x == "recording_started").count(), 1);
    assert_eq!(k.iter().filter(|x| *x == "recording_finalized").count(), 1);

    let (left, right) = recording(&server, &protocol);
    let secs = right.len() / 8000;
    assert!(secs >= 5, "recording of {secs} s");
    let second_of = |s: &[i16], i: usize| s[i * 8000..((i + 1) * 8000).min(s.len())].to_vec();
    let right_secs: Vec<Vec<i16>> = (0..secs).map(|i| second_of(&right, i)).collect();
    let first_heard = right_secs.iter().position(|s| tone(s, 1000));
    let second_heard = right_secs.iter().rposition(|s| tone(s, 1500));
    if known {
        assert!(
            matches!((first_heard, second_heard), (Some(a), Some(b)) if a < b),
            "1001 then 1002 on the right: {first_heard:?} {second_heard:?}"
        );
    } else {
        assert!(first_heard.is_some() && second_heard.is_none());
        let last = right_secs.iter().rposition(|s| tone(s, 1000));
        assert!(
            last.is_some_and(|l| l + 3 >= secs),
            "1001 stays on the call to its end: {last:?} of {secs} s"
        );
    }
    let caller_secs = (1..secs - 1)
        .filter(|&i| tone(&second_of(&left, i), 440))
        .count();
    assert!(
        caller_secs >= secs - 3,
        "the caller's audio runs through the whole recording ({caller_secs} of {secs} s)"
    );
}

#[test]
fn blind_refer_from_the_phone_sqlite() {
    phone_refers(Db::Sqlite, true);
}

#[test]
fn blind_refer_from_the_phone_postgres() {
    phone_refers(Db::Postgres, true);
}

#[test]
fn refer_to_an_unknown_target_keeps_the_call_sqlite() {
    phone_refers(Db::Sqlite, false);
}

#[test]
fn refer_to_an_unknown_target_keeps_the_call_postgres() {
    phone_refers(Db::Postgres, false);
}
