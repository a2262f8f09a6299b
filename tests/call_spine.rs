//! End to end: a citizen's call from the trunk (sipp) is answered, hears the welcome,
//! rings a registered agent phone (sipp, digest-registered), is bridged, recorded, and
//! every step is in the event log — on SQLite and on PostgreSQL.

mod support;

use support::*;

fn call_is_answered_bridged_recorded_and_logged(db: Db) {
    let server = Server::start(db, &["1001"]);
    let agent_port = free_port();
    register_agent(&server, "1001", agent_port);
    let agent = start_answering_agent(&server, agent_port, 1, 500);
    let caller = start_caller(&server, 3500, 2500, &[]);
    wait_ok(caller, "caller", &server);
    wait_ok(agent, "agent phone", &server);

    let (protocol, events) = wait_for_event(&server, "recording_finalized");
    assert!(
        protocol.len() == 15 && protocol.as_bytes()[8] == b'-',
        "protocol like 20261124-000001, got {protocol}"
    );
    let k = kinds(&events);
    for expected in [
        "offered",
        "answered",
        "recording_started",
        "prompt_played",
        "ringing",
        "agent_answered",
        "bridged",
        "dtmf",
        "hung_up",
        "recording_finalized",
    ] {
        assert!(
            k.contains(&expected.to_owned()),
            "missing {expected} in {k:?}"
        );
    }
    assert_eq!(
        event(&events, "dtmf")["detail"]["digit"],
        "1",
        "sipp's pcap sends 1"
    );
    assert_eq!(event(&events, "hung_up")["detail"]["by"], "caller");
    let offered = &event(&events, "offered")["detail"];
    assert_eq!(offered["a_number"], "1133334444");
    assert_eq!(offered["b_number"], DID);
    assert_eq!(event(&events, "ringing")["detail"]["agent"], "1001");
    let sha = event(&events, "recording_finalized")["detail"]["sha256"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(sha.len(), 64);

    // The recording: stereo 8 kHz, as long as the call, both sides audible; the file as
    // downloaded is the one the checksum was taken of; a format nobody offers is refused.
    let (_, stored) = server.get(&format!("/api/calls/{protocol}/recording"), true);
    assert_eq!(
        {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(&stored))
        },
        sha
    );
    let (status, _) = server.get(&format!("/api/calls/{protocol}/recording?format=mp3"), true);
    assert_eq!(status, 400);
    let (left, right) = recording(&server, &protocol);
    let rec_secs = left.len() as f64 / 8000.0;
    let call_secs = (at_ms(&events, "hung_up") - at_ms(&events, "answered")) as f64 / 1000.0;
    assert!(
        (rec_secs - call_secs).abs() <= 0.5,
        "recording {rec_secs:.2}s vs call {call_secs:.2}s"
    );
    // Caller side: the 440 Hz tone sipp streamed (≈ 880 crossings/s), not silence.
    let mid = &left[left.len() / 4..left.len() * 3 / 4];
    assert!(rms(mid) > 1000.0, "caller channel is silent");
    let zc = crossings_per_sec(mid);
    assert!(
        (780.0..980.0).contains(&zc),
        "caller channel is not 440 Hz: {zc}"
    );
    // Other side: first the 600 Hz welcome, then (bridged) the agent's 1000 Hz tone.
    let zc = crossings_per_sec(&right[800..6400]);
    assert!((1100.0..1300.0).contains(&zc), "welcome not heard: {zc}");
    let bridged_from = (at_ms(&events, "bridged") - at_ms(&events, "answered")) as usize * 8 + 4000;
    let agent_part = &right[bridged_from.min(right.len())..right.len().saturating_sub(2000)];
    assert!(agent_part.len() > 8000, "bridge too short to check");
    assert!(rms(agent_part) > 1000.0, "agent channel is silent");
    let zc = crossings_per_sec(agent_part);
    assert!(
        (1850.0..2150.0).contains(&zc),
        "agent channel is not 1000 Hz: {zc}"
    );

    // RTP went both ways through atende, and nothing is left running.
    assert!(server.metric("atende_rtp_packets_received_total") > 300.0);
    assert!(server.metric("atende_rtp_packets_sent_total") > 300.0);
    assert_eq!(server.metric("atende_active_calls"), 0.0);
}

#[test]
fn trunk_call_is_answered_bridged_recorded_and_logged_sqlite() {
    call_is_answered_bridged_recorded_and_logged(Db::Sqlite);
}

#[test]
fn trunk_call_is_answered_bridged_recorded_and_logged_postgres() {
    call_is_answered_bridged_recorded_and_logged(Db::Postgres);
}
