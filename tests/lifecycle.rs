//! End to end: the server's life around its calls, on SQLite and PostgreSQL.
//!
//! - Crash: five recorded calls in progress, `kill -9`, restart: every call is closed by
//!   `system` with cause `server_restart`, an end time, its recording sealed (header sized
//!   to the audio on disk, duration and SHA-256 of the file stored); the metric and one
//!   log line count them; a second restart changes nothing.
//! - Clean stop: SIGTERM with a bridged call: both legs get BYE (the sipp agent phone's
//!   scenario expects it; the caller is a small UDP peer in this file, so it can hold its
//!   answer to the BYE while it tries a new call, which gets 503 with Retry-After), the
//!   call is logged hung up by `system` with cause `server_shutdown`, its recording
//!   sealed, and the process exits 0.
//! - Agents: one paused and one logged out before a restart are the same after it, though
//!   both have `auto_login`; one logged in at another agent's phone (`*45`) is rung there.

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use sha2::Digest;
use support::ivr::*;
use support::*;

fn calls(server: &Server) -> Vec<serde_json::Value> {
    server
        .api("/api/calls")
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn events_of(server: &Server, protocol: &str) -> Vec<serde_json::Value> {
    server.api(&format!("/api/calls/{protocol}"))["events"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The recording on disk is sealed: its header's sizes match the file, and the stored
/// checksum and duration are the file's.
fn assert_sealed(call: &serde_json::Value) {
    let path = call["recording_path"].as_str().expect("recording path");
    let file = std::fs::read(path).expect("recording on disk");
    let layout = atende::media::recording::wav::layout(&file).expect("a WAV header");
    assert_eq!(
        layout.data_len,
        file.len() as u64 - layout.data_at,
        "{call}"
    );
    let riff = u32::from_le_bytes(file[4..8].try_into().unwrap());
    assert_eq!(u64::from(riff), file.len() as u64 - 8, "{call}");
    assert_eq!(
        call["recording_sha256"].as_str(),
        Some(hex::encode(sha2::Sha256::digest(&file)).as_str()),
        "{call}"
    );
    let frames = layout.frames(file.len() as u64);
    // sox reads the header as any player would: all the audio, no more.
    let soxi = std::process::Command::new(require("sox"))
        .args(["--i", "-s", path])
        .output()
        .expect("sox runs");
    assert_eq!(
        String::from_utf8_lossy(&soxi.stdout).trim(),
        frames.to_string(),
        "sox: {}",
        String::from_utf8_lossy(&soxi.stderr)
    );
    assert_eq!(
        call["recording_duration_ms"].as_i64(),
        Some((frames * 1000 / 8000) as i64)
    );
}

fn crash_with_recorded_calls(db: Db) {
    const CALLS: usize = 5;
    set_sipp_media_ports(4 * CALLS as u16);
    // No agent: the callers stay with the welcome and the hold music, recorded.
    let server = Server::start(db, &[]);
    let n = CALLS.to_string();
    let mut callers = start_caller(&server, 500, 60_000, &["-m", &n, "-l", &n, "-r", &n]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.metric("atende_active_calls") < CALLS as f64 {
        assert!(
            Instant::now() < deadline,
            "calls never all up:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Audio on disk, and the header lagging it (it is rewritten every 2 s of audio).
    std::thread::sleep(Duration::from_millis(3000));
    server.signal("KILL");
    let _ = callers.kill();
    let _ = callers.wait();

    let server = server.restart();
    assert_eq!(server.metric("atende_calls_recovered_total"), CALLS as f64);
    let log = server.log();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("left unfinished by a crash"))
        .collect();
    assert_eq!(lines.len(), 1, "one log line: {lines:?}");
    assert!(
        lines[0].contains(&format!("closed {CALLS} calls")),
        "{lines:?}"
    );
    let all = calls(&server);
    assert_eq!(all.len(), CALLS);
    let mut counts = Vec::new();
    for call in &all {
        let protocol = call["protocol"].as_str().expect("protocol");
        assert_eq!(call["hangup_by"], "system", "{call}");
        assert_eq!(call["hangup_cause"], "server_restart", "{call}");
        let (start, end) = (call["started_at_ms"].as_i64(), call["ended_at_ms"].as_i64());
        assert!(end >= start && end.is_some(), "{call}");
        // Seconds of audio reached the disk before the kill.
        assert!(
            call["recording_duration_ms"].as_i64() > Some(1500),
            "{call}"
        );
        assert_sealed(call);
        // The PCM copy reads with hound, as long as the stored duration.
        let (left, _) = recording(&server, protocol);
        assert_eq!(
            (left.len() as i64) * 1000 / 8000,
            call["recording_duration_ms"].as_i64().unwrap_or(0)
        );
        let events = events_of(&server, protocol);
        let k = kinds(&events);
        assert_eq!(k.iter().filter(|k| *k == "hung_up").count(), 1, "{k:?}");
        assert_eq!(
            k.iter().filter(|k| *k == "recording_finalized").count(),
            1,
            "{k:?}"
        );
        counts.push(events.len());
    }

    // Started again: nothing left to close, nothing logged twice.
    let server = server.restart();
    assert_eq!(server.metric("atende_calls_recovered_total"), 0.0);
    for (call, n) in calls(&server).iter().zip(counts) {
        let protocol = call["protocol"].as_str().expect("protocol");
        assert_eq!(events_of(&server, protocol).len(), n);
    }
}

#[test]
fn calls_a_crash_left_open_are_closed_at_start_sqlite() {
    crash_with_recorded_calls(Db::Sqlite);
}

#[test]
fn calls_a_crash_left_open_are_closed_at_start_postgres() {
    crash_with_recorded_calls(Db::Postgres);
}

/// A caller from the trunk speaking plain SIP over UDP, so the test decides when it
/// answers atende's BYE.
struct Caller {
    sock: UdpSocket,
    server: SocketAddr,
}

impl Caller {
    fn new(server: &Server) -> Caller {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
        sock.set_read_timeout(Some(Duration::from_secs(15)))
            .expect("timeout");
        Caller {
            sock,
            server: server.sip_target().parse().expect("address"),
        }
    }

    fn send(&self, msg: &str) {
        self.sock
            .send_to(msg.replace('\n', "\r\n").as_bytes(), self.server)
            .expect("send");
    }

    /// The next message whose first line starts with `start` (others are skipped).
    fn recv(&self, start: &str) -> String {
        let mut buf = [0u8; 8192];
        loop {
            let (n, _) = self
                .sock
                .recv_from(&mut buf)
                .unwrap_or_else(|e| panic!("waiting for {start}: {e}"));
            let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
            if msg.starts_with(start) {
                return msg;
            }
        }
    }

    fn local(&self) -> SocketAddr {
        self.sock.local_addr().expect("local address")
    }

    fn invite(&self, call_id: &str) {
        let local = self.local();
        let sdp = format!(
            "v=0\no=gw 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio {} RTP/AVP 8\na=rtpmap:8 PCMA/8000\n",
            free_rtp_range(2)
        );
        // `send` ends every line with CRLF.
        let len = sdp.replace('\n', "\r\n").len();
        self.send(&format!(
            "INVITE sip:{DID}@{server} SIP/2.0\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-{call_id};rport\nFrom: <sip:1133334444@{local}>;tag=t-{call_id}\nTo: <sip:{DID}@{server}>\nCall-ID: {call_id}\nCSeq: 1 INVITE\nContact: <sip:1133334444@{local}>\nMax-Forwards: 70\nContent-Type: application/sdp\nContent-Length: {}\n\n{sdp}",
            len,
            server = self.server,
        ));
    }

    fn ack(&self, ok: &str, call_id: &str) {
        let local = self.local();
        let to = header(ok, "To");
        self.send(&format!(
            "ACK sip:{DID}@{server} SIP/2.0\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-ack-{call_id};rport\nFrom: <sip:1133334444@{local}>;tag=t-{call_id}\nTo: {to}\nCall-ID: {call_id}\nCSeq: 1 ACK\nMax-Forwards: 70\nContent-Length: 0\n\n",
            server = self.server,
        ));
    }

    fn answer_ok(&self, req: &str) {
        let mut resp = String::from("SIP/2.0 200 OK\n");
        for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
            resp.push_str(&format!("{name}: {}\n", header(req, name)));
        }
        resp.push_str("Content-Length: 0\n\n");
        self.send(&resp);
    }
}

fn header(msg: &str, name: &str) -> String {
    msg.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
        .unwrap_or_else(|| panic!("no {name} in:\n{msg}"))
}

fn clean_stop(db: Db) {
    let mut server = Server::start(db, &["1001"]);
    let agent_port = free_port();
    register_agent(&server, "1001", agent_port);
    let agent = start_answering_agent(&server, agent_port, 1, 200);
    let caller = Caller::new(&server);
    caller.invite("drain-1");
    let ok = caller.recv("SIP/2.0 200");
    caller.ack(&ok, "drain-1");
    wait_for_event(&server, "agent_answered");
    std::thread::sleep(Duration::from_millis(1500));

    server.signal("TERM");
    let bye = caller.recv("BYE ");
    // Stopping: the BYE waits for our answer, and a new call is refused meanwhile.
    caller.invite("drain-2");
    let refused = caller.recv("SIP/2.0 503");
    assert!(header(&refused, "Call-ID") == "drain-2", "{refused}");
    assert_eq!(header(&refused, "Retry-After"), "30");
    caller.answer_ok(&bye);
    wait_ok(agent, "agent phone (expects atende's BYE)", &server);
    let status = server
        .wait_exit(Duration::from_secs(10))
        .unwrap_or_else(|| panic!("still running after the bound:\n{}", server.log()));
    assert!(status.success(), "exit {status}:\n{}", server.log());
    assert!(server.log().contains("stopped cleanly"), "{}", server.log());

    let server = server.restart();
    assert_eq!(server.metric("atende_calls_recovered_total"), 0.0);
    let all = calls(&server);
    assert_eq!(all.len(), 2, "the call, and the refused INVITE: {all:?}");
    // The INVITE refused while draining is logged as a call not received (INR counts it).
    let refused = &all[1];
    assert_eq!(refused["hangup_by"], "system", "{refused}");
    assert_eq!(refused["hangup_cause"], "refused_draining", "{refused}");
    let events = events_of(&server, refused["protocol"].as_str().unwrap_or_default());
    assert_eq!(kinds(&events), ["offered", "hung_up"], "{events:?}");
    let call = &all[0];
    assert_eq!(call["hangup_by"], "system", "{call}");
    assert_eq!(call["hangup_cause"], "server_shutdown", "{call}");
    assert_eq!(call["agent"], "1001");
    assert!(
        call["recording_duration_ms"].as_i64() > Some(1000),
        "{call}"
    );
    assert_sealed(call);
}

#[test]
fn a_stop_signal_ends_every_call_and_refuses_new_ones_sqlite() {
    clean_stop(Db::Sqlite);
}

#[test]
fn a_stop_signal_ends_every_call_and_refuses_new_ones_postgres() {
    clean_stop(Db::Postgres);
}

/// A caller waiting in a queue (nobody logged in) at the stop: atende's BYE ends it (the
/// sipp scenario waits for it), logged `server_shutdown`, recording sealed.
fn stop_with_a_queued_caller(db: Db) {
    let mut server = Server::start_ivr(
        db,
        &IvrOptions {
            hours: Hours::Open,
            agents: &["1001"],
            auto_login: false,
            ring_timeout_secs: 10,
            http_port: None,
        },
    );
    let caller = start_ivr_caller(&server, &[(800, "0")], 30_000, true);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, events) = wait_for_event(&server, "offered");
        if acd_kinds(&events).iter().any(|k| k == "queue_entered") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never queued: {:?}",
            kinds(&events)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    server.signal("TERM");
    wait_ok(caller, "queued caller (expects atende's BYE)", &server);
    let status = server
        .wait_exit(Duration::from_secs(10))
        .unwrap_or_else(|| panic!("still running after the bound:\n{}", server.log()));
    assert!(status.success(), "exit {status}");
    let server = server.restart();
    let all = calls(&server);
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0]["hangup_by"], "system");
    assert_eq!(all[0]["hangup_cause"], "server_shutdown");
    assert_sealed(&all[0]);
}

#[test]
fn a_stop_signal_releases_queued_callers_sqlite() {
    stop_with_a_queued_caller(Db::Sqlite);
}

#[test]
fn a_stop_signal_releases_queued_callers_postgres() {
    stop_with_a_queued_caller(Db::Postgres);
}

/// A peer that never answers the BYE: the stop gives up at `shutdown_timeout_secs`,
/// says so, and exits; the call is still logged as ended by the stop.
fn stop_bound(db: Db) {
    let server = Server::start(db, &[]);
    let config_path = server.dir.path().join("atende.toml");
    let config = std::fs::read_to_string(&config_path).expect("config");
    std::fs::write(&config_path, format!("shutdown_timeout_secs = 2\n{config}")).expect("write");
    let mut server = server.restart();
    let caller = Caller::new(&server);
    caller.invite("stuck-1");
    let ok = caller.recv("SIP/2.0 200");
    caller.ack(&ok, "stuck-1");
    wait_for_event(&server, "recording_started");
    server.signal("TERM");
    let _bye = caller.recv("BYE ");
    let status = server
        .wait_exit(Duration::from_secs(8))
        .unwrap_or_else(|| panic!("still running past the bound:\n{}", server.log()));
    assert!(status.success(), "exit {status}");
    let log = server.log();
    assert!(log.contains("stop bound reached"), "{log}");
    assert!(!log.contains("stopped cleanly"), "{log}");
    let server = server.restart();
    let all = calls(&server);
    assert_eq!(all[0]["hangup_cause"], "server_shutdown", "{all:?}");
    assert_sealed(&all[0]);
}

#[test]
fn a_stop_gives_up_at_its_bound_sqlite() {
    stop_bound(Db::Sqlite);
}

#[test]
fn a_stop_gives_up_at_its_bound_postgres() {
    stop_bound(Db::Postgres);
}

fn agents_restored(db: Db) {
    let server = Server::start_ivr(
        db,
        &IvrOptions {
            hours: Hours::Open,
            agents: &["1001", "1002", "1003"],
            auto_login: true,
            ring_timeout_secs: 10,
            http_port: None,
        },
    );
    dial_feature_code(&server, "1001", "*47");
    dial_feature_code(&server, "1002", "*46");
    // 1003 sits at 1002's phone.
    dial_feature_code(&server, "1002", "*4510031234");
    let states = |server: &Server| -> Vec<(String, String, String)> {
        let agents = server.api("/api/agents");
        agents
            .as_array()
            .expect("agents")
            .iter()
            .map(|a| {
                (
                    a["agent"].as_str().unwrap_or("").to_owned(),
                    a["state"].as_str().unwrap_or("").to_owned(),
                    a["reason"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect()
    };
    let before = states(&server);
    let want =
        |id: &str, state: &str, reason: &str| (id.to_owned(), state.to_owned(), reason.to_owned());
    assert_eq!(
        before,
        vec![
            want("1001", "paused", "pausa"),
            want("1002", "logged_out", ""),
            want("1003", "available", ""),
        ]
    );
    let server = server.restart();
    assert_eq!(states(&server), before);

    // 1003, the one available, is still at 1002's phone: a queued caller rings there.
    let desk = free_port();
    register_agent(&server, "1002", desk);
    let phone = start_answering_agent(&server, desk, 1, 300);
    let caller = start_ivr_caller(&server, &[(800, "0")], 2000, false);
    wait_ok(caller, "caller", &server);
    wait_ok(phone, "the desk phone (registered as 1002)", &server);
    let (_, events) = wait_for_event(&server, "recording_finalized");
    assert_eq!(acd_event(&events, "answered")["agent"], "1003");
}

#[test]
fn agents_come_back_as_they_were_sqlite() {
    agents_restored(Db::Sqlite);
}

#[test]
fn agents_come_back_as_they_were_postgres() {
    agents_restored(Db::Postgres);
}
