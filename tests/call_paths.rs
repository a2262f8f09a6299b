//! End to end, the other paths of a call: the caller leaving while agents ring (atende
//! CANCELs the agent legs), and an agent putting the caller on hold and back.

mod support;

use support::*;

#[test]
fn caller_hanging_up_while_the_agent_rings_cancels_the_agent_leg() {
    let server = Server::start(Db::Sqlite, &["1001"]);
    let agent_port = free_port();
    register_agent(&server, "1001", agent_port);
    let agent = start_agent(&server, "agent_no_answer.xml", agent_port, 1, &[]);
    // Welcome is 1 s; the agent rings from then; the caller leaves at 3 s.
    let caller = start_caller(&server, 1500, 1500, &[]);
    wait_ok(caller, "caller", &server);
    wait_ok(agent, "agent phone receiving CANCEL", &server);
    let (_, events) = wait_for_event(&server, "recording_finalized");
    let k = kinds(&events);
    assert!(k.contains(&"ringing".to_owned()), "{k:?}");
    assert!(!k.contains(&"bridged".to_owned()), "{k:?}");
    assert_eq!(event(&events, "hung_up")["detail"]["by"], "caller");
}

#[test]
fn agent_hold_plays_music_to_the_caller_and_resume_bridges_again() {
    let server = Server::start(Db::Sqlite, &["1001"]);
    let agent_port = free_port();
    register_agent(&server, "1001", agent_port);
    let agent = start_agent(
        &server,
        "agent_hold.xml",
        agent_port,
        1,
        &[("HOLD_AT_MS", "1500".into()), ("HOLD_MS", "2000".into())],
    );
    let caller = start_caller(&server, 2000, 5000, &[]);
    wait_ok(caller, "caller", &server);
    wait_ok(agent, "agent phone holding and resuming", &server);
    let (protocol, events) = wait_for_event(&server, "recording_finalized");
    assert_eq!(event(&events, "held")["detail"]["by"], "agent");
    assert_eq!(event(&events, "resumed")["detail"]["by"], "agent");
    // While held, the caller heard the 300 Hz hold music on the right channel.
    let (_, right) = recording(&server, &protocol);
    let answered = at_ms(&events, "answered");
    let held = ((at_ms(&events, "held") - answered) as usize * 8 + 2000).min(right.len());
    let resumed = ((at_ms(&events, "resumed") - answered) as usize * 8).min(right.len());
    assert!(resumed > held + 4000, "hold too short to check");
    let zc = crossings_per_sec(&right[held..resumed]);
    assert!((500.0..700.0).contains(&zc), "hold music not heard: {zc}");
    // After resume, the agent's 1000 Hz again.
    let after = &right[(resumed + 4000).min(right.len())..right.len().saturating_sub(2000)];
    assert!(after.len() > 4000);
    let zc = crossings_per_sec(after);
    assert!(
        (1850.0..2150.0).contains(&zc),
        "agent not heard after resume: {zc}"
    );
}

#[test]
fn trunk_call_over_tcp_is_bridged() {
    let server = Server::start(Db::Sqlite, &["1001"]);
    let agent_port = free_port();
    register_agent(&server, "1001", agent_port);
    let agent = start_answering_agent(&server, agent_port, 1, 200);
    let caller = start_caller(&server, 2500, 500, &["-t", "t1"]);
    wait_ok(caller, "caller over TCP", &server);
    wait_ok(agent, "agent phone", &server);
    let (_, events) = wait_for_event(&server, "recording_finalized");
    assert!(kinds(&events).contains(&"bridged".to_owned()));
}

#[test]
fn unwritable_recording_directory_raises_an_alarm_but_the_call_goes_on() {
    let server = Server::start(Db::Sqlite, &["1001"]);
    // Replace the recording directory by a file: nothing can be created under it, even
    // by root.
    let rec = server.dir.path().join("recordings");
    let _ = std::fs::remove_dir_all(&rec);
    std::fs::write(&rec, b"not a directory").unwrap();

    let agent_port = free_port();
    register_agent(&server, "1001", agent_port);
    let agent = start_answering_agent(&server, agent_port, 1, 200);
    let caller = start_caller(&server, 2000, 500, &[]);
    wait_ok(caller, "caller", &server);
    wait_ok(agent, "agent phone", &server);
    let (_, events) = wait_for_event(&server, "recording_failed");
    let k = kinds(&events);
    assert!(k.contains(&"bridged".to_owned()), "the call went on: {k:?}");
    assert!(!k.contains(&"recording_finalized".to_owned()));
    assert!(server.metric("atende_recording_errors_total") >= 1.0);
    assert!(
        server.log().contains("recording failed"),
        "the failure is logged"
    );
}

#[test]
fn every_phone_of_the_agent_rings_and_the_others_are_cancelled_when_one_answers() {
    let server = Server::start(Db::Sqlite, &["1001"]);
    let (desk, softphone) = (free_port(), free_port());
    register_agent(&server, "1001", desk);
    register_agent(&server, "1001", softphone);
    let desk_phone = start_agent(&server, "agent_no_answer.xml", desk, 1, &[]);
    let soft_phone = start_answering_agent(&server, softphone, 1, 800);
    let caller = start_caller(&server, 2500, 1000, &[]);
    wait_ok(caller, "caller", &server);
    wait_ok(soft_phone, "answering phone", &server);
    wait_ok(desk_phone, "other phone receiving CANCEL", &server);
    let (_, events) = wait_for_event(&server, "recording_finalized");
    let rung: Vec<_> = events
        .iter()
        .filter(|e| e["kind"] == "ringing")
        .map(|e| {
            e["detail"]["contact"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(rung.len(), 2, "both phones rang: {rung:?}");
    assert!(kinds(&events).contains(&"bridged".to_owned()));
}
