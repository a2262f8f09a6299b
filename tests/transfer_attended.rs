//! End to end: an attended transfer from the CTI (the floor's registry). caller → IVR →
//! queue "pericia" → agent 1001 (1000 Hz); the operator starts an attended transfer to
//! 1002 (1500 Hz, an agent outside the queue): the caller waits on hold with music while
//! 1002 is rung, then the operator completes it (1002 takes 1001's place) or cancels it
//! (the caller is back with 1001). One call, one recording: the caller's 440 Hz on the
//! left throughout; on the right 1001, then 1002 (completed) or 1001 again (cancelled).
//! A target whose phone is busy (486) fails the transfer by itself, back to 1001. The
//! log shows transfer_started, then transferred (not blind) or transfer_failed.
//! SQLite and PostgreSQL.

#[path = "support/answered.rs"]
mod answered;
mod support;

use std::time::Duration;

use answered::{pericia_caller, wait_for_nth};
use atende::floor::calls::{CallCommand, CommandError, TransferTarget};
use support::in_process::set_in_process;
use support::ivr::*;
use support::*;

fn tone(samples: &[i16], freq: u32) -> bool {
    rms(samples) > 500.0 && (crossings_per_sec(samples) - 2.0 * freq as f64).abs() < 150.0
}

/// How the consultation ends.
#[derive(Clone, Copy, PartialEq)]
enum End {
    Complete,
    Cancel,
    /// 1002's phone answers 486: the transfer fails by itself.
    Busy,
}

fn attended(db: Db, end: End) {
    let complete = end == End::Complete;
    set_in_process(true);
    let ports = [free_port(), free_port()];
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
    let mut phones = Vec::new();
    for ((agent, port), freq) in ["1001", "1002"].iter().zip(ports).zip([1000, 1500]) {
        register_agent(&server, agent, port);
        let busy = end == End::Busy && *agent == "1002";
        phones.push(start_phone(
            &server,
            if busy {
                "citizen_busy.xml"
            } else {
                "agent.xml"
            },
            port,
            1,
            freq,
            &[("ANSWER_AFTER_MS", "500".into())],
        ));
    }
    let caller = pericia_caller(&server);
    let (protocol, _) = wait_for_nth(&server, "bridged", 1);
    let command = |c: CallCommand| running.block_on(calls.command(&protocol, c));
    std::thread::sleep(Duration::from_millis(2000));
    assert_eq!(
        command(CallCommand::CompleteTransfer),
        Err(CommandError::Invalid("no transfer under way".into()))
    );
    assert_eq!(
        command(CallCommand::Transfer {
            to: TransferTarget::Agent("1002".into()),
            blind: false
        }),
        Ok(())
    );
    // Rung for the consultation: the ACD holds 1002 busy already.
    if end != End::Busy {
        assert_eq!(state_of("1002"), Some("on_call"));
        assert_eq!(
            command(CallCommand::Transfer {
                to: TransferTarget::Agent("1002".into()),
                blind: true
            }),
            Err(CommandError::Invalid("a transfer is under way".into()))
        );
    }
    if complete {
        let mut done = false;
        for _ in 0..50 {
            match command(CallCommand::CompleteTransfer) {
                Ok(()) => {
                    done = true;
                    break;
                }
                Err(CommandError::Invalid(m)) if m.contains("not answered yet") => {
                    std::thread::sleep(Duration::from_millis(200))
                }
                Err(e) => panic!("complete: {e}"),
            }
        }
        assert!(done, "1002 answered and took the call");
        wait_for_nth(&server, "bridged", 2);
    } else if end == End::Cancel {
        std::thread::sleep(Duration::from_millis(2000));
        assert_eq!(command(CallCommand::CancelTransfer), Ok(()));
    } else {
        wait_for_nth(&server, "transfer_failed", 1);
        assert_eq!(
            command(CallCommand::CancelTransfer),
            Err(CommandError::Invalid("no transfer under way".into()))
        );
    }
    std::thread::sleep(Duration::from_millis(3000));
    assert_eq!(command(CallCommand::HangUp), Ok(()));
    wait_ok(caller, "caller (BYE from atende)", &server);
    for (i, phone) in phones.into_iter().enumerate() {
        wait_ok(phone, &format!("agent phone {i}"), &server);
    }
    let (_, events) = wait_for_event(&server, "recording_finalized");
    for _ in 0..50 {
        if state_of("1002") == Some("available") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(state_of("1002"), Some("available"), "1002 free after it");
    let k = kinds(&events);
    let pos = |kind: &str| {
        k.iter()
            .position(|x| x == kind)
            .unwrap_or_else(|| panic!("no {kind} in {k:?}"))
    };
    let bridged: Vec<_> = events
        .iter()
        .filter(|e| e["kind"] == "bridged")
        .map(|e| e["detail"]["agent"].clone())
        .collect();
    let started = &event(&events, "transfer_started")["detail"];
    assert_eq!(
        (started["from"].as_str(), started["to"].as_str()),
        (Some("1001"), Some("agent:1002"))
    );
    assert!(pos("transfer_started") < pos("held"), "{k:?}");
    if complete {
        let t = &event(&events, "transferred")["detail"];
        assert_eq!(
            (t["from"].as_str(), t["to"].as_str(), t["blind"].as_bool()),
            (Some("1001"), Some("agent:1002"), Some(false)),
            "{t}"
        );
        assert!(pos("transfer_started") < pos("transferred"), "{k:?}");
        assert!(!k.iter().any(|x| x == "transfer_failed"), "{k:?}");
        assert_eq!(
            bridged,
            vec![serde_json::json!("1001"), serde_json::json!("1002")]
        );
    } else {
        let f = &event(&events, "transfer_failed")["detail"];
        assert_eq!(
            (f["from"].as_str(), f["to"].as_str(), f["reason"].as_str()),
            (
                Some("1001"),
                Some("agent:1002"),
                Some(if end == End::Cancel {
                    "cancelled"
                } else {
                    "not_answered"
                })
            ),
            "{f}"
        );
        assert!(pos("transfer_failed") < pos("resumed"), "{k:?}");
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
    assert!(secs >= 6, "recording of {secs} s");
    let second_of = |s: &[i16], i: usize| s[i * 8000..((i + 1) * 8000).min(s.len())].to_vec();
    let right_secs: Vec<Vec<i16>> = (0..secs).map(|i| second_of(&right, i)).collect();
    let first = right_secs.iter().position(|s| tone(s, 1000));
    let last_first = right_secs.iter().rposition(|s| tone(s, 1000));
    let second = right_secs.iter().rposition(|s| tone(s, 1500));
    if complete {
        assert!(
            matches!((first, second), (Some(a), Some(b)) if a < b),
            "1001 then 1002 on the right: {first:?} {second:?}"
        );
    } else {
        assert!(second.is_none(), "1002 never reached the caller");
        assert!(
            last_first.is_some_and(|l| l + 3 >= secs) && first < last_first,
            "1001 before and after the consultation: {first:?} {last_first:?} of {secs}"
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
fn attended_transfer_completed_sqlite() {
    attended(Db::Sqlite, End::Complete);
}

#[test]
fn attended_transfer_completed_postgres() {
    attended(Db::Postgres, End::Complete);
}

#[test]
fn attended_transfer_cancelled_sqlite() {
    attended(Db::Sqlite, End::Cancel);
}

#[test]
fn attended_transfer_cancelled_postgres() {
    attended(Db::Postgres, End::Cancel);
}

#[test]
fn attended_transfer_to_a_busy_phone_fails_back_to_the_agent_sqlite() {
    attended(Db::Sqlite, End::Busy);
}

#[test]
fn attended_transfer_to_a_busy_phone_fails_back_to_the_agent_postgres() {
    attended(Db::Postgres, End::Busy);
}
