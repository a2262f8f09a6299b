//! End to end: agent-to-agent calls. Agent 1001's phone (a sipp UAC answering the 407
//! with 1001's digest) dials 1002's id; atende rings 1002's registered phone and bridges
//! them. The call has its own protocol number and log (`offered` with service `internal`,
//! from 1001 to 1002), is recorded (1001 on the left, 1002 on the right), and the ACD shows
//! both agents on a call while it lasts and available after. Dialling an agent who cannot
//! take it (logged out) is answered 486 and logged. SQLite and PostgreSQL.

#[path = "support/answered.rs"]
mod answered;
mod support;

use std::time::Duration;

use answered::answering_phones;
use support::in_process::set_in_process;
use support::ivr::*;
use support::*;

fn tone(samples: &[i16], freq: u32) -> bool {
    rms(samples) > 500.0 && (crossings_per_sec(samples) / 2.0 - freq as f64).abs() < 40.0
}

/// Agent `from`'s phone dials `to` with scenario `file`, streaming a 1000 Hz tone.
fn dial(server: &Server, file: &str, from: &str, to: &str, talk_ms: u64) -> std::process::Child {
    let dir = server.dir.path();
    let audio = dir.join("phone1000.al");
    if !audio.exists() {
        alaw_tone(&audio, 1000, 120.0);
    }
    let sf = scenario(
        dir,
        file,
        &[
            ("USER", from.into()),
            ("AUDIO", audio.display().to_string()),
            ("TALK_MS", talk_ms.to_string()),
        ],
    );
    sipp(&[
        server.sip_target(),
        "-sf".into(),
        sf.display().to_string(),
        "-s".into(),
        to.into(),
        "-i".into(),
        "127.0.0.1".into(),
        "-p".into(),
        free_port().to_string(),
        "-mi".into(),
        "127.0.0.1".into(),
        "-mp".into(),
        free_rtp_range(4).to_string(),
        "-au".into(),
        from.into(),
        "-ap".into(),
        format!("pw{from}"),
        "-m".into(),
        "1".into(),
    ])
    .spawn()
    .expect("calling phone starts")
}

fn agent_calls_agent(db: Db) {
    set_in_process(true);
    let others = "[[agents]]\nid = \"1002\"\npassword = \"pw1002\"\npin = \"1234\"\nqueues = [\"geral\"]\nauto_login = true\n\n[[agents]]\nid = \"1003\"\npassword = \"pw1003\"\npin = \"1234\"\nqueues = [\"geral\"]\n";
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
        others,
    );
    let running = server.in_process.as_ref().expect("in process");
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
    let phone = answering_phones(&server, &[("1002", 1500)]).remove(0);
    let caller = dial(&server, "agent_dials.xml", "1001", "1002", 4000);
    let (protocol, _) = wait_for_event(&server, "bridged");
    assert_eq!(
        state_of("1002"),
        Some("on_call"),
        "the dialled agent is busy"
    );
    assert_eq!(
        state_of("1001"),
        Some("on_call"),
        "the calling agent is busy"
    );
    wait_ok(caller, "1001's phone", &server);
    wait_ok(phone, "1002's phone", &server);
    let (_, events) = wait_for_event(&server, "recording_finalized");
    for _ in 0..50 {
        if state_of("1001") == Some("available") && state_of("1002") == Some("available") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(state_of("1001"), Some("available"));
    assert_eq!(state_of("1002"), Some("available"));
    let offered = &event(&events, "offered")["detail"];
    assert_eq!(
        (
            offered["service"].as_str(),
            offered["a_number"].as_str(),
            offered["b_number"].as_str()
        ),
        (Some("internal"), Some("1001"), Some("1002")),
        "{offered}"
    );
    assert_eq!(event(&events, "bridged")["detail"]["agent"], "1002");
    assert_eq!(event(&events, "hung_up")["detail"]["by"], "caller");
    let (left, right) = recording(&server, &protocol);
    let second = |s: &[i16], i: usize| s[i * 8000..((i + 1) * 8000).min(s.len())].to_vec();
    let secs = left.len() / 8000;
    assert!(
        (0..secs).any(|i| tone(&second(&left, i), 1000)),
        "1001 on the left"
    );
    assert!(
        (0..secs).any(|i| tone(&second(&right, i), 1500)),
        "1002 on the right"
    );

    // 1003 is logged out: the call is refused, and logged.
    let busy = dial(&server, "agent_dials_busy.xml", "1001", "1003", 0);
    wait_ok(busy, "1001's phone calling 1003", &server);
    let mut refused = None;
    for _ in 0..50 {
        let calls = server.api("/api/calls");
        refused = calls.as_array().and_then(|a| {
            a.iter()
                .find(|c| c["b_number"] == "1003" && !c["ended_at_ms"].is_null())
                .and_then(|c| c["protocol"].as_str().map(str::to_owned))
        });
        if refused.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let refused = refused.expect("the refused call is logged");
    let events = server.api(&format!("/api/calls/{refused}"))["events"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(event(&events, "offered")["detail"]["service"], "internal");
    let hung_up = &event(&events, "hung_up")["detail"];
    assert_eq!(
        (hung_up["cause"].as_str(), hung_up["sip_status"].as_u64()),
        (Some("agent_busy"), Some(486)),
        "{hung_up}"
    );
    assert_eq!(state_of("1001"), Some("available"));
}

#[test]
fn agent_calls_agent_sqlite() {
    agent_calls_agent(Db::Sqlite);
}

#[test]
fn agent_calls_agent_postgres() {
    agent_calls_agent(Db::Postgres);
}
