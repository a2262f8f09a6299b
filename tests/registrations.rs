//! End to end: a citizen's call (sipp trunk caller) answered by agent 1001 (sipp phone) is
//! registered through the API with a disposition code and a note; the registration is an
//! event of the call's log, listed on the call; another agent, an unknown code, a note
//! with control characters or too long, and an unknown call are each refused with their
//! own status; the caller's next call pops with the first one's registration in its
//! history — on SQLite and on PostgreSQL.

mod support;

use support::*;

const DESK: &str = r#"
[acd]
note_max_chars = 40

[[dispositions]]
code = "informacao"
label = "Informação prestada"

[[dispositions]]
code = "reclamacao"
label = "Reclamação registrada"

[[dispositions]]
code = "agendamento"
label = "Perícia agendada"
queues = ["pericia"]

[[queues]]
id = "pericia"

[[users]]
name = "ag1001"
role = "agent"
agent = "1001"
password_hash = "HASH"

[[users]]
name = "ag1002"
role = "agent"
agent = "1002"
password_hash = "HASH"
"#;

/// Posts as the agent user linked to `body.agent` (the registering agent is the session's).
fn post(server: &Server, path: &str, mut body: serde_json::Value) -> (u16, serde_json::Value) {
    let agent = body
        .as_object_mut()
        .and_then(|o| o.remove("agent"))
        .and_then(|a| a.as_str().map(str::to_owned))
        .expect("the test names the registering agent");
    let cookie = login(server.http_port, &format!("ag{agent}"), ADMIN_PASSWORD)
        .expect("API reachable")
        .expect("the agent user logs in");
    let (status, _, body) = raw_request(
        server.http_port,
        "POST",
        path,
        &format!("Cookie: {cookie}\r\n"),
        Some(&body.to_string()),
    )
    .expect("API reachable");
    let json = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    (status, json)
}

fn a_call_is_registered_by_the_agent_who_answered_it(db: Db) {
    let server = Server::start(db, &["1001", "1002"]);
    let config = server.dir.path().join("atende.toml");
    let mut text = std::fs::read_to_string(&config).expect("config");
    text.push_str(&DESK.replace("HASH", ADMIN_HASH));
    std::fs::write(&config, text).expect("config written");
    let server = server.restart();

    let agent_port = free_port();
    register_agent(&server, "1001", agent_port);
    let agent = start_answering_agent(&server, agent_port, 1, 500);
    let caller = start_caller(&server, 3500, 1500, &[]);
    wait_ok(caller, "caller", &server);
    wait_ok(agent, "agent phone", &server);
    let (protocol, events) = wait_for_event(&server, "hung_up");
    assert_eq!(event(&events, "agent_answered")["detail"]["agent"], "1001");
    let path = format!("/api/calls/{protocol}/registrations");

    // Another agent may not register a call they did not answer.
    let (status, body) = post(
        &server,
        &path,
        serde_json::json!({"agent": "1002", "code": "informacao", "note": "x"}),
    );
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["code"], "not_allowed");
    // Codes outside [[dispositions]], or for another queue's calls, are refused.
    for code in ["inexistente", "agendamento"] {
        let (status, body) = post(
            &server,
            &path,
            serde_json::json!({"agent": "1001", "code": code, "note": ""}),
        );
        assert_eq!(status, 422, "{code}: {body}");
        assert_eq!(body["code"], "bad_args");
    }
    // Notes with control characters or longer than note_max_chars are refused.
    for note in ["texto\u{1b}[2J", &"a".repeat(41)] {
        let (status, body) = post(
            &server,
            &path,
            serde_json::json!({"agent": "1001", "code": "informacao", "note": note}),
        );
        assert_eq!(status, 422, "{body}");
        assert!(
            body["error"]
                .as_str()
                .is_some_and(|e| e.contains("observação"))
        );
    }
    // An unknown call.
    let (status, _) = post(
        &server,
        "/api/calls/20000101-999999/registrations",
        serde_json::json!({"agent": "1001", "code": "informacao", "note": ""}),
    );
    assert_eq!(status, 404);
    assert_eq!(
        server.api(&path),
        serde_json::json!([]),
        "refusals store nothing"
    );

    // The answering agent registers it, twice (a correction is a second registration).
    let (status, body) = post(
        &server,
        &path,
        serde_json::json!({"agent": "1001", "code": "informacao", "note": "Cidadão pediu a 2ª via\r\n"}),
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["registration"]["kind"], "registered");
    let (status, _) = post(
        &server,
        &path,
        serde_json::json!({"agent": "1001", "code": "reclamacao", "note": "Demora na fila"}),
    );
    assert_eq!(status, 201);
    let listed = server.api(&path);
    let listed = listed.as_array().expect("a list");
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["agent"], "1001");
    assert_eq!(listed[0]["code"], "informacao");
    assert_eq!(listed[0]["note"], "Cidadão pediu a 2ª via");
    assert_eq!(listed[1]["code"], "reclamacao");

    // They are events of the call's log, after its own.
    let detail = server.api(&format!("/api/calls/{protocol}"));
    let events = detail["events"].as_array().expect("events");
    let k = kinds(events);
    assert_eq!(k[k.len() - 2..], ["registered", "registered"], "{k:?}");
    let registered = event(events, "registered");
    assert_eq!(registered["detail"]["code"], "informacao");
    assert!(registered["at_ms"].as_i64() >= detail["summary"]["ended_at_ms"].as_i64());

    // The citizen calls again: the second call's screen-pop lists the first with what it
    // was registered as last.
    let agent = start_answering_agent(&server, agent_port, 1, 500);
    let caller = start_caller(&server, 3500, 1500, &[]);
    wait_ok(caller, "second caller", &server);
    wait_ok(agent, "agent phone, second call", &server);
    let (second, _) = wait_for_event(&server, "hung_up");
    assert_ne!(second, protocol);
    let pop = server.api(&format!("/api/calls/{second}/screen_pop"));
    assert_eq!(pop["protocol"], second.as_str());
    assert_eq!(pop["caller"], "1133334444");
    assert_eq!(pop["did"], DID);
    assert_eq!(pop["ivr"], serde_json::json!({}));
    let history = pop["history"].as_array().expect("history");
    assert_eq!(history.len(), 1, "{pop}");
    assert_eq!(history[0]["protocol"], protocol.as_str());
    assert_eq!(history[0]["disposition"], "reclamacao");
    assert_eq!(history[0]["label"], "Reclamação registrada");
    assert_eq!(history[0]["note"], "Demora na fila");
    assert_eq!(
        history[0]["registrations"].as_array().map(Vec::len),
        Some(2)
    );

    // The lists the desktop offers.
    let dispositions = server.api("/api/dispositions");
    assert_eq!(dispositions[0]["label"], "Informação prestada");
    let reasons = server.api("/api/pause_reasons");
    assert!(
        reasons
            .as_array()
            .expect("a list")
            .iter()
            .any(|r| r["code"] == "training" && r["productive"] == true),
        "{reasons}"
    );
}

#[test]
fn a_call_is_registered_by_the_agent_who_answered_it_sqlite() {
    a_call_is_registered_by_the_agent_who_answered_it(Db::Sqlite);
}

#[test]
fn a_call_is_registered_by_the_agent_who_answered_it_postgres() {
    a_call_is_registered_by_the_agent_who_answered_it(Db::Postgres);
}
