//! End to end: monitoring from the supervisor's phone (issue 20, "or by a feature code
//! from the phone"). caller (440 Hz) → IVR → queue "pericia" → agent 1001 (1000 Hz).
//! Agent 1001's own phone dialling `*501001` is refused 403 (an agent); phone 2002, whose
//! user "far" supervises "geral" only, is refused 403 (out of scope); `*509999` names no
//! agent (404). Then phone 2001 (user "sup", scope pericia; 1500 Hz) dials `*501001`:
//! that call is the monitoring (no second ring), the supervisor hears caller and agent
//! and the agent hears only the caller (listen); the keypad's 2 switches to whisper (the
//! agent hears the supervisor). A first such call switches to barge by SIP INFO (logged
//! `via=keypad` like the RTP keys) and hangs up by itself (`monitor_ended`
//! `supervisor_hung_up`); the second is hung up by atende when the call ends
//! (`call_ended`). Every request and refusal is audited.
//! SQLite and PostgreSQL.

#[path = "support/rtp_peer.rs"]
mod rtp_peer;
mod support;

use std::process::{Child, Output};
use std::time::Duration;

use atende::floor::calls::CallCommand;
use rtp_peer::RtpPeer;
use serde_json::Value;
use support::ivr::start_ivr_caller;
use support::monitor::*;
use support::*;

fn tones(samples: &[i16]) -> Vec<u32> {
    tones_among(samples, &[CALLER, AGENT, SUPERVISOR])
}

/// What `agent` and `sup` heard over 1.5 s, after `settle` s.
fn heard(agent: &RtpPeer, sup: &RtpPeer, settle: f64) -> (Vec<u32>, Vec<u32>) {
    std::thread::sleep(Duration::from_secs_f64(settle));
    let from = std::time::Instant::now();
    std::thread::sleep(Duration::from_millis(1500));
    let to = std::time::Instant::now();
    (
        tones(&agent.heard_between(from, to)),
        tones(&sup.heard_between(from, to)),
    )
}

/// `account`'s phone dials `code` with its credentials; `vars` fill the scenario.
fn dial(server: &Server, file: &str, account: &str, code: &str, vars: &[(&str, String)]) -> Child {
    let mut all = vec![("USER", account.to_owned())];
    all.extend(vars.iter().cloned());
    let sf = scenario(server.dir.path(), file, &all);
    let own = server.dir.path().join(format!("{account}_{file}"));
    std::fs::rename(&sf, &own).unwrap();
    sipp(&[
        server.sip_target(),
        "-sf".into(),
        own.display().to_string(),
        "-s".into(),
        code.into(),
        "-i".into(),
        "127.0.0.1".into(),
        "-p".into(),
        free_port().to_string(),
        "-mi".into(),
        "127.0.0.1".into(),
        "-mp".into(),
        free_rtp_range(4).to_string(),
        "-au".into(),
        account.into(),
        "-ap".into(),
        format!("pw{account}"),
        "-m".into(),
        "1".into(),
    ])
    .spawn()
    .expect("monitoring code sipp starts")
}

fn refused(server: &Server, account: &str, code: &str, status: u16) -> Output {
    let phone = dial(
        server,
        "monitor_code_refused.xml",
        account,
        code,
        &[("STATUS", status.to_string())],
    );
    wait_ok(
        phone,
        &format!("{account} dialling {code}: {status}"),
        server,
    )
}

fn monitored_from_the_phone(db: Db) {
    let server = server(db, "");
    let running = server.in_process.as_ref().expect("in process");
    let calls = running.floor.calls.clone();
    let (agent, sup) = (RtpPeer::start(AGENT), RtpPeer::start(SUPERVISOR));
    let agent_phone = agent_phone(&server, agent.port);
    let caller = start_ivr_caller(&server, &[(800, "1"), (500, "1")], 60_000, true);
    let (protocol, _) = wait_for_event(&server, "bridged");

    // Who may not: an agent (the role), a supervisor of other queues (the scope); a code
    // naming no agent.
    refused(&server, "1001", "*501001", 403);
    refused(&server, "2002", "*501001", 403);
    refused(&server, "2001", "*509999", 404);

    // The supervisor's own call becomes the monitoring; the phone hanging up ends it.
    let short = dial(
        &server,
        "monitor_code_hangs_up.xml",
        "2001",
        "*501001",
        &[
            ("RTP_PORT", sup.port.to_string()),
            ("TALK_MS", "1500".into()),
        ],
    );
    wait_ok(short, "supervisor phone hanging up", &server);
    let events = wait_events(&server, &protocol, "monitor_ended", 1);
    assert_eq!(
        event(&events, "monitor_ended")["detail"]["reason"],
        "supervisor_hung_up"
    );
    // Its keypad by SIP INFO (3: barge) is the keypad, as RTP events are.
    let switched = event(&events, "monitor_mode_changed");
    assert_eq!(switched["detail"]["mode"], "barge", "{switched}");
    assert_eq!(switched["detail"]["via"], "keypad", "{switched}");

    // Again, to listen until the call ends.
    let sup_phone = dial(
        &server,
        "monitor_code.xml",
        "2001",
        "*501001",
        &[("RTP_PORT", sup.port.to_string())],
    );
    wait_events(&server, &protocol, "monitor_started", 2);
    for _ in 0..50 {
        if sup.heard_secs() > 0.5 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let (a, s) = heard(&agent, &sup, 0.5);
    assert_eq!(a, [CALLER], "listen: the agent hears only the caller");
    assert_eq!(s, [CALLER, AGENT], "listen: the supervisor hears both");

    // The keypad: 2 is whisper, the agent hears the supervisor.
    sup.press(2);
    wait_events(&server, &protocol, "monitor_mode_changed", 1);
    let (a, s) = heard(&agent, &sup, 0.5);
    assert_eq!(a, [CALLER, SUPERVISOR], "whisper: the agent hears both");
    assert_eq!(s, [CALLER, AGENT], "whisper: the supervisor hears both");

    // The call ends: atende hangs up the supervisor's phone too.
    assert_eq!(
        running.block_on(calls.command(&protocol, CallCommand::HangUp)),
        Ok(())
    );
    wait_ok(sup_phone, "supervisor phone (BYE from atende)", &server);
    wait_ok(agent_phone, "agent phone (BYE from atende)", &server);
    wait_ok(caller, "caller (BYE from atende)", &server);
    let events = wait_events(&server, &protocol, "monitor_track_finalized", 2);
    let started = event(&events, "monitor_started");
    assert_eq!(started["detail"]["supervisor"], "sup", "{started}");
    assert_eq!(started["detail"]["phone"], "2001", "{started}");
    assert_eq!(started["detail"]["mode"], "listen", "{started}");
    let switched: Vec<(&str, &str)> = events
        .iter()
        .filter(|e| e["kind"] == "monitor_mode_changed")
        .map(|e| {
            let field = |f: &str| e["detail"][f].as_str().unwrap_or_default();
            (field("mode"), field("via"))
        })
        .collect();
    assert_eq!(
        switched,
        [("barge", "keypad"), ("whisper", "keypad")],
        "SIP INFO on the first call, RTP events on the second"
    );
    let ended: Vec<&Value> = events
        .iter()
        .filter(|e| e["kind"] == "monitor_ended")
        .map(|e| &e["detail"]["reason"])
        .collect();
    assert_eq!(ended, ["supervisor_hung_up", "call_ended"]);

    // Audited: the three refusals and the supervisor's start.
    let entries = audit(&server);
    let reason = |actor: &str| -> Vec<String> {
        entries
            .iter()
            .filter(|e| e["actor"] == actor && e["action"] == "monitor.refused")
            .filter_map(|e| e["detail"].as_str().map(str::to_owned))
            .collect()
    };
    assert_eq!(reason("ag1001"), ["via=phone reason=not_supervisor"]);
    assert_eq!(reason("far"), ["via=phone reason=out_of_scope"]);
    assert_eq!(reason("sup"), ["via=phone reason=unknown_agent"]);
    let start: Vec<&Value> = entries
        .iter()
        .filter(|e| e["actor"] == "sup" && e["action"] == "monitor.start")
        .collect();
    assert_eq!(start.len(), 2, "{entries:?}");
    assert_eq!(start[0]["target"], protocol.as_str());
    assert_eq!(start[0]["detail"], "role=supervisor mode=listen via=phone");
}

#[test]
fn a_supervisor_monitors_from_the_phone_sqlite() {
    monitored_from_the_phone(Db::Sqlite);
}

#[test]
fn a_supervisor_monitors_from_the_phone_postgres() {
    monitored_from_the_phone(Db::Postgres);
}
