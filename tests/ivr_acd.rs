//! End to end through the shipped IVR flows and the ACD: sipp callers pressing RFC 4733
//! keys, sipp agent phones registered with digest, a fake process-status service. The
//! flows' schedule is fixed open or closed and prompts are 0.2 s tones so each call takes
//! seconds; everything else (menus, queues, skills, self-service) is the shipped flow.

mod support;

use support::ivr::*;
use support::*;

const CPF: &str = "52998224725";

fn ivr_steps(events: &[serde_json::Value]) -> Vec<String> {
    steps(events, "ivr", "step")
        .iter()
        .map(|e| e["step"].as_str().unwrap_or("?").to_owned())
        .collect()
}

/// (a) Business hours: 1 (perícia) then 1 (agendar) → queue "pericia" with skill
/// "agendamento" → the registered agent answers, is bridged and recorded.
fn caller_reaches_an_agent_through_the_menu(db: Db) {
    let server = Server::start_ivr(db, &IvrOptions::open_with(&["1001"]));
    let agent_port = free_port();
    register_agent(&server, "1001", agent_port);
    let agent = start_answering_agent(&server, agent_port, 1, 1000);
    let caller = start_ivr_caller(&server, &[(800, "1"), (500, "1")], 4000, false);
    wait_ok(caller, "caller", &server);
    wait_ok(agent, "agent phone", &server);

    let (protocol, events) = wait_for_event(&server, "recording_finalized");
    let s = ivr_steps(&events);
    for expected in ["flow_started", "node_entered", "option_chosen", "finished"] {
        assert!(
            s.contains(&expected.to_owned()),
            "missing IVR {expected} in {s:?}"
        );
    }
    let chosen: Vec<String> = steps(&events, "ivr", "step")
        .iter()
        .filter(|e| e["step"] == "option_chosen")
        .map(|e| e["target"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(chosen, ["menu_pericia", "pericia_agendar"]);
    let entered = acd_event(&events, "queue_entered");
    assert_eq!(entered["queue"], "pericia");
    assert_eq!(acd_event(&events, "offered")["agent"], "1001");
    let answered = acd_event(&events, "answered");
    assert_eq!(answered["agent"], "1001");
    let waited = answered["waited_ms"].as_u64().unwrap_or(0);
    assert!((500..6000).contains(&waited), "answered after {waited} ms");
    let k = kinds(&events);
    for expected in ["ringing", "agent_answered", "bridged", "hung_up"] {
        assert!(
            k.contains(&expected.to_owned()),
            "missing {expected} in {k:?}"
        );
    }
    // Recorded, and the agent's 1000 Hz tone is in the recording after the bridge.
    let (_, right) = recording(&server, &protocol);
    let from = (at_ms(&events, "bridged") - at_ms(&events, "answered")) as usize * 8 + 4000;
    let part = &right[from.min(right.len())..right.len().saturating_sub(2000)];
    assert!(part.len() > 4000 && rms(part) > 1000.0, "agent not heard");
    assert_eq!(server.metric("atende_active_calls"), 0.0);
    assert_eq!(
        server.metric("atende_dialog_routes"),
        0.0,
        "every route removed"
    );
}

#[test]
fn ivr_menu_to_queue_to_agent_sqlite() {
    caller_reaches_an_agent_through_the_menu(Db::Sqlite);
}

#[test]
fn ivr_menu_to_queue_to_agent_postgres() {
    caller_reaches_an_agent_through_the_menu(Db::Postgres);
}

/// (b) After hours: self-service process status. 1, the CPF, 1 to confirm; the flow asks
/// the fake service, says the status, 9 back, 9 to end: the IVR hangs up (served by IVR).
#[test]
fn self_service_reads_the_process_status_and_the_ivr_ends_the_call() {
    let (port, seen) = fake_process_service(r#"{"situacao":"em_analise","numero":"123"}"#);
    let server = Server::start_ivr(
        Db::Sqlite,
        &IvrOptions {
            hours: Hours::Closed,
            agents: &["1001"],
            auto_login: true,
            ring_timeout_secs: 10,
            http_port: Some(port),
        },
    );
    let caller = start_ivr_caller(
        &server,
        &[(800, "1"), (600, CPF), (2500, "1"), (2500, "9"), (900, "9")],
        10000,
        true,
    );
    wait_ok(caller, "caller", &server);
    let (_, events) = wait_for_event(&server, "hung_up");
    assert_eq!(
        seen.lock().unwrap().as_slice(),
        [format!("/v1/processos?cpf={CPF}")],
        "the flow queried the service once with the CPF"
    );
    let s = steps(&events, "ivr", "step");
    assert!(
        s.iter()
            .any(|e| e["step"] == "http_answered" && e["status"] == 200),
        "{s:?}"
    );
    assert!(
        s.iter()
            .any(|e| e["step"] == "played" && e["prompts"][0] == "pt-BR/ura/status-em-analise"),
        "status not said: {s:?}"
    );
    let collected = s
        .iter()
        .find(|e| e["step"] == "collected")
        .expect("CPF collected");
    assert_eq!(collected["length"], 11, "only the length is logged");
    let finished = s
        .iter()
        .find(|e| e["step"] == "finished")
        .expect("finished");
    assert_eq!(finished["outcome"], "served_by_ivr");
    let hung = event(&events, "hung_up");
    assert_eq!(hung["detail"]["cause"], "served_by_ivr");
    assert!(!kinds(&events).contains(&"acd".to_owned()), "never queued");
}

/// (c) Nobody logged in: the caller waits in the queue and hangs up: abandoned after N s.
#[test]
fn caller_hanging_up_in_the_queue_is_logged_as_abandoned() {
    abandon_after(3000, 1500..4500);
}

/// (c') The same after more than 30 s: the abandon that counts against the service level
/// (TAB) is told apart by its logged wait.
#[test]
fn caller_abandoning_after_30_s_is_logged_with_the_long_wait() {
    abandon_after(32_000, 30_500..34_500);
}

/// A caller presses 0 (operator), waits `talk_ms` in queue `geral` with nobody logged in,
/// and hangs up: the ACD logs the abandon with a wait in `expected` ms.
fn abandon_after(talk_ms: u64, expected: std::ops::Range<u64>) {
    let server = Server::start_ivr(
        Db::Sqlite,
        &IvrOptions {
            auto_login: false,
            ..IvrOptions::open_with(&["1001"])
        },
    );
    let caller = start_ivr_caller(&server, &[(800, "0")], talk_ms, false);
    wait_ok(caller, "caller", &server);
    let (_, events) = wait_for_event(&server, "recording_finalized");
    assert_eq!(acd_event(&events, "queue_entered")["queue"], "geral");
    let ab = acd_event(&events, "abandoned");
    assert_eq!(ab["queue"], "geral");
    let waited = ab["waited_ms"].as_u64().unwrap_or(0);
    assert!(expected.contains(&waited), "abandoned after {waited} ms");
    assert_eq!(event(&events, "hung_up")["detail"]["by"], "caller");
}

/// (d) The first agent's phone rings out: the call goes back to the head of the queue, the
/// agent is paused "no_answer", and the second agent answers.
#[test]
fn ring_no_answer_pauses_the_agent_and_the_next_one_answers() {
    let server = Server::start_ivr(
        Db::Sqlite,
        &IvrOptions {
            ring_timeout_secs: 2,
            ..IvrOptions::open_with(&["1001", "1002"])
        },
    );
    let (p1, p2) = (free_port(), free_port());
    register_agent(&server, "1001", p1);
    register_agent(&server, "1002", p2);
    let silent = start_agent(&server, "agent_no_answer.xml", p1, 1, &[]);
    let answers = start_answering_agent(&server, p2, 1, 300);
    let caller = start_ivr_caller(&server, &[(800, "0")], 6000, false);
    wait_ok(caller, "caller", &server);
    wait_ok(silent, "agent 1001 (never answers)", &server);
    wait_ok(answers, "agent 1002", &server);
    let (_, events) = wait_for_event(&server, "recording_finalized");
    let acd_events = steps(&events, "acd", "kind");
    let offered: Vec<&str> = acd_events
        .iter()
        .filter(|e| e["kind"] == "offered")
        .map(|e| e["agent"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(offered, ["1001", "1002"], "{acd_events:?}");
    let rna = acd_event(&events, "ring_no_answer");
    assert_eq!(rna["agent"], "1001");
    assert!(
        acd_events.iter().any(|e| e["kind"] == "agent_state_changed"
            && e["agent"] == "1001"
            && e["to"]["state"] == "paused"
            && e["to"]["reason"] == "no_answer"),
        "1001 not paused with no_answer: {acd_events:?}"
    );
    assert_eq!(acd_event(&events, "answered")["agent"], "1002");
    assert!(kinds(&events).contains(&"bridged".to_owned()));
}

/// (e) A queue's max wait sends the call back to the IVR (`{ to = "ivr", node = … }`):
/// the caller is in the main menu again, with no second welcome, on the same call.
#[test]
fn max_wait_hands_the_caller_back_to_the_ivr_menu() {
    let server = Server::start_ivr_config(
        Db::Sqlite,
        &IvrOptions {
            auto_login: false,
            ..IvrOptions::open_with(&["1001"])
        },
        Prompts::Short,
        10,
        r#"max_wait = { secs = 2, destination = { to = "ivr", node = "principal/menu_principal" } }"#,
        "",
    );
    let caller = start_ivr_caller(&server, &[(800, "0")], 5000, false);
    wait_ok(caller, "caller", &server);
    let (_, events) = wait_for_event(&server, "recording_finalized");
    let routed = acd_event(&events, "routed");
    assert_eq!(routed["reason"], "max_wait");
    assert_eq!(routed["destination"]["to"], "ivr");
    let starts: Vec<serde_json::Value> = steps(&events, "ivr", "step")
        .into_iter()
        .filter(|e| e["step"] == "flow_started")
        .collect();
    assert_eq!(starts.len(), 2, "{starts:?}");
    assert_eq!(starts[1]["flow"], "principal");
    assert_eq!(starts[1]["route"], "queue");
    let entered: Vec<String> = steps(&events, "ivr", "step")
        .iter()
        .filter(|e| e["step"] == "node_entered")
        .map(|e| e["node"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(
        entered.last().map(String::as_str),
        Some("menu_principal"),
        "{entered:?}"
    );
    let k = acd_kinds(&events);
    assert!(!k.contains(&"abandoned".to_owned()), "{k:?}");
    assert_eq!(event(&events, "hung_up")["detail"]["by"], "caller");
}
