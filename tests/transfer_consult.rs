//! End to end: an attended transfer's consultation is heard. caller (440 Hz) → IVR →
//! queue "pericia" → agent 1001 (1000 Hz); the operator starts an attended transfer to
//! 1002 (1500 Hz). Both agent phones' media are the test's own RTP peers (`rtp_peer`), so
//! the test hears what each phone hears: while they consult, 1001 hears 1002 and 1002
//! hears 1001, neither hears the caller, and the caller — and the recording's right
//! channel — hears the hold music (500 Hz). After completion the caller and 1002 hear each
//! other; after cancellation the caller and 1001 again. SQLite and PostgreSQL.

#[path = "support/answered.rs"]
mod answered;
#[path = "support/rtp_peer.rs"]
mod rtp_peer;
mod support;

use std::process::Child;
use std::time::{Duration, Instant};

use answered::pericia_caller;
use atende::floor::calls::{CallCommand, CommandError, TransferTarget};
use rtp_peer::RtpPeer;
use support::in_process::set_in_process;
use support::ivr::*;
use support::*;

/// Whether `samples` hold a tone within 25 Hz of `freq` (tells 440 Hz from 500 Hz).
fn tone(samples: &[i16], freq: u32) -> bool {
    samples.len() >= 4000
        && rms(samples) > 500.0
        && (crossings_per_sec(samples) / 2.0 - freq as f64).abs() < 25.0
}

/// An agent phone answering after 500 ms whose media is `peer`.
fn start_media_phone(server: &Server, agent: &str, port: u16, peer: &RtpPeer) -> Child {
    let dir = server.dir.path();
    let sf = scenario(
        dir,
        "agent_media.xml",
        &[
            ("ANSWER_AFTER_MS", "500".into()),
            ("RTP_PORT", peer.port.to_string()),
        ],
    );
    // One file per phone: the next phone's scenario must not overwrite this one.
    let own = dir.join(format!("agent_media_{agent}.xml"));
    std::fs::rename(&sf, &own).unwrap();
    sipp(&[
        "-sf".into(),
        own.display().to_string(),
        "-i".into(),
        "127.0.0.1".into(),
        "-p".into(),
        port.to_string(),
        "-mi".into(),
        "127.0.0.1".into(),
        "-mp".into(),
        free_rtp_range(4).to_string(),
        "-m".into(),
        "1".into(),
    ])
    .spawn()
    .expect("agent sipp starts")
}

/// Waits until `peer` heard more than `secs` of audio.
fn wait_heard(peer: &RtpPeer, secs: f64, what: &str) {
    for _ in 0..100 {
        if peer.heard_secs() > secs {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what}: heard {} s", peer.heard_secs());
}

/// A window of `secs` starting `after` from now, once it has passed.
fn window(after: f64, secs: f64) -> (Instant, Instant) {
    std::thread::sleep(Duration::from_secs_f64(after));
    let from = Instant::now();
    std::thread::sleep(Duration::from_secs_f64(secs));
    (from, Instant::now())
}

fn consult(db: Db, complete: bool) {
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
    let (p1001, p1002) = (RtpPeer::start(1000), RtpPeer::start(1500));
    let mut phones = Vec::new();
    for ((agent, port), peer) in ["1001", "1002"].iter().zip(ports).zip([&p1001, &p1002]) {
        register_agent(&server, agent, port);
        phones.push(start_media_phone(&server, agent, port, peer));
    }
    let caller = pericia_caller(&server);
    let (protocol, _) = wait_for_event(&server, "bridged");
    let command = |c: CallCommand| running.block_on(calls.command(&protocol, c));

    wait_heard(&p1001, 0.5, "1001 hears the caller");
    let (t0, t1) = window(0.5, 1.5);
    assert!(
        tone(&p1001.heard_between(t0, t1), 440),
        "1001 hears the caller"
    );

    assert_eq!(
        command(CallCommand::Transfer {
            to: TransferTarget::Agent("1002".into()),
            blind: false
        }),
        Ok(())
    );
    wait_heard(&p1002, 0.5, "1002 hears the consultation");
    let (c0, c1) = window(0.5, 1.5);
    let (heard_1001, heard_1002) = (p1001.heard_between(c0, c1), p1002.heard_between(c0, c1));
    assert!(tone(&heard_1001, 1500), "1001 hears 1002 while consulting");
    assert!(tone(&heard_1002, 1000), "1002 hears 1001 while consulting");
    assert!(!tone(&heard_1002, 440), "1002 does not hear the caller yet");

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
        assert!(done, "1002 took the call");
    } else {
        assert_eq!(command(CallCommand::CancelTransfer), Ok(()));
    }
    let (a0, a1) = window(1.0, 1.5);
    if complete {
        assert!(
            tone(&p1002.heard_between(a0, a1), 440),
            "1002 hears the caller after completion"
        );
    } else {
        assert!(
            tone(&p1001.heard_between(a0, a1), 440),
            "1001 hears the caller again after cancellation"
        );
        assert!(
            p1002.heard_between(a0, a1).is_empty(),
            "1002's leg is closed"
        );
    }
    assert_eq!(command(CallCommand::HangUp), Ok(()));
    wait_ok(caller, "caller (BYE from atende)", &server);
    for (i, phone) in phones.into_iter().enumerate() {
        wait_ok(phone, &format!("agent phone {i}"), &server);
    }
    let (_, events) = wait_for_event(&server, "recording_finalized");
    let k = kinds(&events);
    if complete {
        assert_eq!(event(&events, "transferred")["detail"]["blind"], false);
    } else {
        assert_eq!(
            event(&events, "transfer_failed")["detail"]["reason"],
            "cancelled"
        );
    }
    assert_eq!(k.iter().filter(|x| *x == "recording_started").count(), 1);

    // The recording's right channel is what the caller heard: 1001, hold music while the
    // agents consulted (never their consultation), then 1002 (completed) or 1001 again.
    let (_, right) = recording(&server, &protocol);
    // Half seconds: a loaded machine's late media ticks blur a whole second's tone.
    let secs: Vec<Vec<i16>> = right.chunks(4000).map(<[i16]>::to_vec).collect();
    let find = |f: u32| secs.iter().position(|s| tone(s, f));
    let last = |f: u32| secs.iter().rposition(|s| tone(s, f));
    let seen: Vec<(u32, f64)> = secs
        .iter()
        .map(|s| ((crossings_per_sec(s) / 2.0) as u32, rms(s)))
        .collect();
    let hold = find(500).unwrap_or_else(|| panic!("hold music on the right: {seen:?}"));
    assert!(find(1000).is_some_and(|a| a < hold), "1001 before the hold");
    if complete {
        assert!(
            find(1500).is_some_and(|b| b > hold),
            "1002 after the hold: {:?} {hold}",
            find(1500)
        );
        assert!(
            last(1000).is_some_and(|a| a < hold + 6),
            "1001 not after the transfer"
        );
    } else {
        assert!(find(1500).is_none(), "1002 never reached the caller");
        assert!(last(1000).is_some_and(|a| a > hold), "1001 after the hold");
    }
}

#[test]
fn consultation_heard_then_completed_sqlite() {
    consult(Db::Sqlite, true);
}

#[test]
fn consultation_heard_then_completed_postgres() {
    consult(Db::Postgres, true);
}

#[test]
fn consultation_heard_then_cancelled_sqlite() {
    consult(Db::Sqlite, false);
}

#[test]
fn consultation_heard_then_cancelled_postgres() {
    consult(Db::Postgres, false);
}

/// The same on the epoll path (media workers without io_uring): the consultation's socket
/// is watched and moved there too.
#[test]
fn consultation_heard_on_epoll_sqlite() {
    set_io_uring(false);
    consult(Db::Sqlite, true);
}
