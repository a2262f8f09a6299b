//! End to end: a citizen waiting in a queue asks to be called back, and is. The caller
//! (sipp on the trunk) goes through the shipped IVR to the operator queue, presses the
//! callback key, confirms their A-number and is released with their protocol. atende is
//! restarted with the callback pending; then agent 1001 logs in with `*45`, atende rings
//! the agent (sipp), then dials the citizen through the outbound gateway (sipp), bridges
//! and records. Both calls' logs tell the story and point at each other.

mod support;

use std::process::Child;
use support::ivr::*;

use support::*;

const CALLBACK_QUEUE: &str = r#"callback = { key = "2", max_attempts = 3, retry_after_secs = 2 }"#;

fn server_with_callbacks(db: Db, gateway_port: u16) -> Server {
    Server::start_ivr_config(
        db,
        &IvrOptions {
            hours: Hours::Open,
            agents: &["1001"],
            auto_login: false,
            ring_timeout_secs: 10,
            http_port: None,
        },
        Prompts::Short,
        10,
        CALLBACK_QUEUE,
        &format!(
            "[outbound]\ngateway = \"127.0.0.1:{gateway_port}\"\ncaller_id = \"08000000000\"\nring_timeout_secs = 10\n"
        ),
    )
}

/// The citizen's phone behind the gateway (`citizen.xml`, or `citizen_busy.xml`):
/// answers after 500 ms with 440 Hz A-law and hangs up `talk_ms` later.
fn start_citizen(server: &Server, scenario_file: &str, port: u16, talk_ms: u64) -> Child {
    start_phone(
        server,
        scenario_file,
        port,
        1,
        440,
        &[
            ("ANSWER_AFTER_MS", "500".into()),
            ("TALK_MS", talk_ms.to_string()),
        ],
    )
}

/// The caller presses 0 (operator), waits in the queue, presses 2 (callback) and 1 to
/// confirm the A-number; atende releases them after the confirmation.
fn request_callback(server: &Server) -> (String, Vec<serde_json::Value>) {
    let caller = start_ivr_caller(server, &[(800, "0"), (1500, "2"), (3500, "1")], 20000, true);
    wait_ok(caller, "caller asking for a callback", server);
    let (protocol, events) = wait_for_event(server, "hung_up");
    let hung = event(&events, "hung_up");
    assert_eq!(hung["detail"]["cause"], "callback_registered", "{hung}");
    let requested = acd_event(&events, "callback_requested");
    assert_eq!(requested["queue"], "geral");
    assert_eq!(requested["typed_number"], false);
    assert!(
        !acd_kinds(&events).contains(&"abandoned".to_owned()),
        "a registered callback is no abandon: {:?}",
        acd_kinds(&events)
    );
    (protocol, events)
}

fn call_detail(server: &Server, protocol: &str) -> Vec<serde_json::Value> {
    server.api(&format!("/api/calls/{protocol}"))["events"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Waits for the original call's log to hold ACD `kind`.
fn wait_acd(server: &Server, protocol: &str, kind: &str) -> Vec<serde_json::Value> {
    for _ in 0..200 {
        let events = call_detail(server, protocol);
        if acd_kinds(&events).iter().any(|k| k == kind) {
            return events;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!(
        "no ACD {kind} on {protocol}: {:?}\natende log:\n{}",
        acd_kinds(&call_detail(server, protocol)),
        server.log()
    );
}

fn callback_calls(server: &Server) -> Vec<String> {
    server
        .api("/api/calls")
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|c| c["service"] == "callback")
        .map(|c| c["protocol"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn callback_is_completed_after_a_restart(db: Db) {
    let gateway = free_port();
    let server = server_with_callbacks(db, gateway);
    let (original, _) = request_callback(&server);

    // Nobody was available; the callback is saved and survives the restart.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let server = server.restart();
    assert!(
        server.log().contains("pending callbacks restored"),
        "{}",
        server.log()
    );

    let agent_port = free_port();
    register_agent(&server, "1001", agent_port);
    let agent = start_answering_agent(&server, agent_port, 1, 500);
    let citizen = start_citizen(&server, "citizen.xml", gateway, 3000);
    dial_feature_code(&server, "1001", "*4510011234");
    wait_ok(citizen, "citizen called back", &server);
    wait_ok(agent, "agent phone", &server);

    let events = wait_acd(&server, &original, "callback_completed");
    let acd = acd_kinds(&events);
    let order: Vec<usize> = [
        "callback_requested",
        "callback_started",
        "callback_completed",
    ]
    .iter()
    .map(|k| acd.iter().position(|x| x == k).unwrap_or(usize::MAX))
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{acd:?}");
    assert_eq!(acd_event(&events, "callback_started")["agent"], "1001");
    assert_eq!(acd_event(&events, "callback_completed")["agent"], "1001");
    let link = event(&events, "callback_attempt")["detail"].clone();
    let callback = link["callback"]
        .as_str()
        .expect("callback protocol")
        .to_owned();
    assert_eq!(link["original"], original.as_str());
    assert_eq!(link["attempt"], 1);
    assert_eq!(callback_calls(&server), vec![callback.clone()]);

    // The callback's own call: agent first, then the citizen, bridged and recorded.
    let mut cb = call_detail(&server, &callback);
    for _ in 0..50 {
        if kinds(&cb).contains(&"recording_finalized".to_owned()) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        cb = call_detail(&server, &callback);
    }
    let k = kinds(&cb);
    let pos = |name: &str| {
        k.iter()
            .position(|x| x == name)
            .unwrap_or_else(|| panic!("no {name} in {k:?}"))
    };
    assert!(pos("ringing") < pos("agent_answered"));
    assert!(pos("agent_answered") < pos("citizen_dialled"));
    assert!(pos("citizen_dialled") < pos("answered"));
    assert!(pos("answered") < pos("bridged"));
    assert!(pos("bridged") < pos("hung_up"));
    assert_eq!(event(&cb, "offered")["detail"]["a_number"], "1133334444");
    assert_eq!(event(&cb, "hung_up")["detail"]["by"], "caller");
    assert_eq!(
        event(&cb, "callback_attempt")["detail"]["original"],
        original.as_str()
    );

    // Citizen on the left channel (440 Hz), agent on the right (1000 Hz) once bridged.
    let (left, right) = recording(&server, &callback);
    let from =
        ((at_ms(&cb, "bridged") - at_ms(&cb, "recording_started")).max(0) as usize) * 8 + 2000;
    let to = left.len().saturating_sub(2000);
    assert!(
        to > from + 8000,
        "recording too short: {} samples",
        left.len()
    );
    let (l, r) = (&left[from..to], &right[from..to]);
    assert!(rms(l) > 1000.0 && rms(r) > 1000.0, "both parties heard");
    let (fl, fr) = (crossings_per_sec(l) / 2.0, crossings_per_sec(r) / 2.0);
    assert!((400.0..480.0).contains(&fl), "citizen at {fl} Hz");
    assert!((950.0..1050.0).contains(&fr), "agent at {fr} Hz");
    assert_eq!(server.metric("atende_active_calls"), 0.0);
    assert_eq!(
        server.metric("atende_dialog_routes"),
        0.0,
        "every route removed"
    );
}

#[test]
fn callback_survives_a_restart_and_is_completed_sqlite() {
    callback_is_completed_after_a_restart(Db::Sqlite);
}

#[test]
fn callback_survives_a_restart_and_is_completed_postgres() {
    callback_is_completed_after_a_restart(Db::Postgres);
}

/// The citizen's line is busy: the attempt fails, the agent is freed, and the retry
/// (2 s later in this queue) reaches the citizen.
#[test]
fn a_busy_citizen_is_called_again_and_reached() {
    let gateway = free_port();
    let server = server_with_callbacks(Db::Sqlite, gateway);
    let agent_port = free_port();
    register_agent(&server, "1001", agent_port);
    let (original, _) = request_callback(&server);

    let agent = start_answering_agent(&server, agent_port, 2, 300);
    let busy = start_citizen(&server, "citizen_busy.xml", gateway, 0);
    dial_feature_code(&server, "1001", "*4510011234");
    wait_ok(busy, "busy citizen", &server);
    let events = wait_acd(&server, &original, "callback_attempt_failed");
    let failed = acd_event(&events, "callback_attempt_failed");
    assert_eq!(failed["outcome"], "busy");
    assert_eq!(failed["attempt"], 1);

    let citizen = start_citizen(&server, "citizen.xml", gateway, 2000);
    wait_ok(citizen, "citizen reached on the retry", &server);
    wait_ok(agent, "agent phone", &server);
    let events = wait_acd(&server, &original, "callback_completed");
    let attempts: Vec<u64> = events
        .iter()
        .filter(|e| e["kind"] == "callback_attempt")
        .map(|e| e["detail"]["attempt"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(attempts, vec![1, 2]);
    let calls = callback_calls(&server);
    assert_eq!(calls.len(), 2, "one call record per attempt");
    let first = call_detail(&server, &calls[0]);
    assert_eq!(event(&first, "citizen_failed")["detail"]["sip_status"], 486);
    assert_eq!(event(&first, "hung_up")["detail"]["cause"], "citizen_busy");
}

/// After an overflow the callback key is the new queue's: "geral" offers no callback and
/// overflows after 1 s to "retorno", whose key is 3; the caller presses 3 there, confirms
/// and the callback is registered in "retorno".
#[test]
fn after_an_overflow_the_callback_key_is_the_new_queues() {
    let server = Server::start_ivr_config(
        Db::Sqlite,
        &IvrOptions::open_without_agents(),
        Prompts::Short,
        10,
        r#"escalation = [{ after_secs = 1, action = { do = "overflow", queue = "retorno" } }]"#,
        &format!(
            "[[queues]]\nid = \"retorno\"\ncallback = {{ key = \"3\", max_attempts = 2, retry_after_secs = 60 }}\n\n[outbound]\ngateway = \"127.0.0.1:{}\"\ncaller_id = \"08000000000\"\n",
            free_port()
        ),
    );
    let caller = start_ivr_caller(
        &server,
        &[(800, "0"), (2500, "3"), (3500, "1")],
        20000,
        true,
    );
    wait_ok(
        caller,
        "caller asking for a callback after the overflow",
        &server,
    );
    let (_, events) = wait_for_event(&server, "hung_up");
    assert_eq!(
        event(&events, "hung_up")["detail"]["cause"],
        "callback_registered",
        "{:?}",
        acd_kinds(&events)
    );
    let overflowed = acd_event(&events, "overflowed");
    assert_eq!(
        (overflowed["from"].as_str(), overflowed["to"].as_str()),
        (Some("geral"), Some("retorno"))
    );
    assert_eq!(acd_event(&events, "callback_requested")["queue"], "retorno");
}

/// A callback in conversation when atende is told to stop: both its legs get atende's
/// BYE, its log says `server_shutdown`, its recording is sealed and atende exits 0. With
/// `crash`, atende is killed instead and the next start closes the call (`server_restart`).
/// Either way the interrupted attempt is not counted: after the restart the callback is
/// pending again and started anew as attempt 1 (agent 1001 comes back logged in).
fn callback_in_progress_at_a_stop(db: Db, crash: bool) {
    let gateway = free_port();
    let mut server = server_with_callbacks(db, gateway);
    let agent_port = free_port();
    register_agent(&server, "1001", agent_port);
    let (original, _) = request_callback(&server);

    // Both phones answer and wait for atende's BYE.
    let agent = start_answering_agent(&server, agent_port, 1, 300);
    let citizen = start_phone(
        &server,
        "agent.xml",
        gateway,
        1,
        440,
        &[("ANSWER_AFTER_MS", "500".into())],
    );
    dial_feature_code(&server, "1001", "*4510011234");
    let mut callback = None;
    for _ in 0..200 {
        if let Some(p) = callback_calls(&server).first()
            && kinds(&call_detail(&server, p)).contains(&"bridged".to_owned())
        {
            callback = Some(p.clone());
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let callback = callback.unwrap_or_else(|| panic!("no bridged callback:\n{}", server.log()));
    std::thread::sleep(std::time::Duration::from_millis(1000));

    let cause = if crash {
        server.signal("KILL");
        server
            .wait_exit(std::time::Duration::from_secs(15))
            .expect("killed");
        for mut phone in [citizen, agent] {
            let _ = phone.kill();
            let _ = phone.wait();
        }
        "server_restart"
    } else {
        server.signal("TERM");
        wait_ok(citizen, "citizen phone (expects atende's BYE)", &server);
        wait_ok(agent, "agent phone (expects atende's BYE)", &server);
        let status = server
            .wait_exit(std::time::Duration::from_secs(15))
            .unwrap_or_else(|| panic!("still running after the bound:\n{}", server.log()));
        assert!(status.success(), "exit {status}:\n{}", server.log());
        assert!(server.log().contains("stopped cleanly"), "{}", server.log());
        "server_shutdown"
    };

    let server = server.restart();
    let cb = call_detail(&server, &callback);
    let hung = event(&cb, "hung_up");
    assert_eq!(hung["detail"]["cause"], cause, "{hung}");
    assert_eq!(hung["detail"]["by"], "system", "{hung}");
    assert!(
        kinds(&cb).contains(&"recording_finalized".to_owned()),
        "{:?}",
        kinds(&cb)
    );
    assert!(
        server.log().contains("pending callbacks restored"),
        "{}",
        server.log()
    );
    // Pending again: the ACD starts it for the restored agent, still attempt 1.
    let mut started = Vec::new();
    for _ in 0..200 {
        let events = call_detail(&server, &original);
        started = steps(&events, "acd", "kind")
            .iter()
            .filter(|e| e["kind"] == "callback_started")
            .map(|e| e["attempt"].as_u64().unwrap_or(0))
            .collect();
        if started.len() >= 2 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(&started[..2], &[1, 1], "{started:?}\n{}", server.log());
    let events = call_detail(&server, &original);
    assert!(
        !acd_kinds(&events).contains(&"callback_gave_up".to_owned()),
        "{:?}",
        acd_kinds(&events)
    );
}

#[test]
fn a_stop_ends_a_callback_in_progress_and_it_stays_pending_sqlite() {
    callback_in_progress_at_a_stop(Db::Sqlite, false);
}

#[test]
fn a_stop_ends_a_callback_in_progress_and_it_stays_pending_postgres() {
    callback_in_progress_at_a_stop(Db::Postgres, false);
}

#[test]
fn a_callback_cut_by_a_crash_is_pending_after_the_restart_sqlite() {
    callback_in_progress_at_a_stop(Db::Sqlite, true);
}

#[test]
fn a_callback_cut_by_a_crash_is_pending_after_the_restart_postgres() {
    callback_in_progress_at_a_stop(Db::Postgres, true);
}
