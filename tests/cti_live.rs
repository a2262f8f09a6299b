//! End to end: the CTI websocket on the real server. An agent user logs in (cookie),
//! opens `/api/cti` from the server's own origin, gets welcome and snapshot; a bad pause
//! reason is refused; a citizen's call (sipp trunk caller, IVR menu 1-1 to queue
//! "pericia") is offered to the agent's desktop with its protocol, DID and queue, the sipp
//! phone answers and the desktop sees it answered; another agent's hang-up of that call
//! is refused and audited; the agent hangs up from the desktop and registers the call
//! over the websocket (reply, `registered`, an event in the call's log); a foreign origin
//! is closed 4003 and a logged-out session too, an idle-expired one 4004 — on SQLite and
//! PostgreSQL. Today's figures count the call (own and group).

#[path = "support/answered.rs"]
mod answered;
#[path = "support/cti_ws.rs"]
mod cti_ws;
mod support;

use std::time::Duration;

use answered::{answering_phones, pericia_caller};
use cti_ws::*;
use serde_json::json;
use support::ivr::*;
use support::*;

const DISPOSITIONS: &str = r#"
[[dispositions]]
code = "informacao"
label = "Informação prestada"
"#;

fn an_agent_desktop_follows_and_registers_a_call(db: Db) {
    let server = server_with_desks(db, &["1001", "1002"], DISPOSITIONS);
    let port = server.http_port;
    let origin = format!("http://127.0.0.1:{port}");
    let rt = tokio::runtime::Runtime::new().expect("runtime");

    let ana = session(&server, "ag1001");
    let bruno = session(&server, "ag1002");
    let mut desk = rt.block_on(open(port, &ana, &origin));
    let mut other = rt.block_on(open(port, &bruno, &origin));
    let first = rt.block_on(start(&mut desk));
    assert_eq!(first["welcome"]["user"], "ag1001");
    assert_eq!(first["welcome"]["role"], "agent");
    assert_eq!(first["welcome"]["agent"], "1001");
    assert_eq!(first["snapshot"]["agent"]["agent"], "1001");
    assert!(
        first["snapshot"]["figures"]["own"]["answered"].is_u64(),
        "{first}"
    );
    rt.block_on(start(&mut other));

    // A pause reason outside [acd] pause_reasons is refused.
    let r = rt.block_on(command(
        &mut desk,
        "c-1",
        "pause",
        json!({"reason": "cochilo"}),
    ));
    assert_eq!(r["ok"], false, "{r}");
    assert_eq!(r["error"]["code"], "bad_args");
    accepted(&rt, &mut desk, "c-2", "pause", json!({"reason": "lunch"}));
    let paused = rt.block_on(next(&mut desk, "agent_state"));
    assert_eq!(paused["state"], "paused");
    assert_eq!(paused["reason"], "lunch");
    accepted(&rt, &mut desk, "c-3", "ready", json!({}));
    let ready = rt.block_on(next(&mut desk, "agent_state"));
    assert_eq!(ready["state"], "available");

    // 1002 stays away from the queue so the call rings at 1001.
    accepted(&rt, &mut other, "b-1", "pause", json!({"reason": "lunch"}));

    let phone = answering_phones(&server, &[("1001", 1000)]).remove(0);
    // 1 (perícia), 1 (agendar): queue "pericia"; the caller waits for our BYE.
    let caller = pericia_caller(&server);
    let offered = rt.block_on(next(&mut desk, "call_offered"));
    let protocol = offered["call"]["protocol"]
        .as_str()
        .expect("a protocol")
        .to_owned();
    assert_eq!(offered["call"]["did"], DID, "{offered}");
    assert_eq!(offered["call"]["queue"], "pericia", "{offered}");
    let answered = rt.block_on(next(&mut desk, "call_answered"));
    assert_eq!(answered["protocol"], protocol.as_str());
    assert_eq!(answered["agent"], "1001");

    // Another agent may not hang up 1001's call: refused, and written to the audit log.
    let r = rt.block_on(command(
        &mut other,
        "b-2",
        "hang_up",
        json!({"protocol": protocol}),
    ));
    assert_eq!(r["ok"], false, "{r}");
    assert_eq!(r["error"]["code"], "not_found");

    // The agent ends the call from the desktop.
    accepted(
        &rt,
        &mut desk,
        "c-5",
        "hang_up",
        json!({"protocol": protocol}),
    );
    let ended = rt.block_on(next(&mut desk, "call_ended"));
    assert_eq!(ended["protocol"], protocol.as_str());
    wait_ok(caller, "caller", &server);
    wait_ok(phone, "agent phone", &server);

    accepted(
        &rt,
        &mut desk,
        "c-4",
        "register",
        json!({"protocol": protocol, "code": "informacao", "note": "orientado"}),
    );
    let registered = rt.block_on(next(&mut desk, "registered"));
    assert_eq!(registered["protocol"], protocol.as_str());
    assert_eq!(registered["code"], "informacao");
    assert_eq!(registered["command_id"], "c-4");
    let detail = server.api(&format!("/api/calls/{protocol}"));
    let events = detail["events"].as_array().expect("events");
    let stored = event(events, "registered");
    assert_eq!(stored["detail"]["agent"], "1001");
    assert_eq!(stored["detail"]["note"], "orientado");

    // Today's figures count the call (the agent log is written in batches: ask again).
    let figures = figures_until(&rt, &mut desk, |f| f["own"]["answered"] == 1);
    assert_eq!(figures["own"]["answered"], 1, "{figures}");
    assert!(figures["own"]["talk_ms"].as_i64() > Some(0), "{figures}");
    assert!(figures["own"]["aht_ms"].as_i64() > Some(0), "{figures}");
    assert!(
        figures["group"]["answered"].as_u64() >= Some(1),
        "{figures}"
    );

    let audit = server.api("/api/audit");
    let rows = audit["entries"].as_array().expect("audit rows");
    assert!(
        rows.iter().any(|r| r["actor"] == "ag1002"
            && r["action"] == "denied"
            && r["target"].as_str().is_some_and(|t| t.contains(&protocol))),
        "{audit}"
    );

    // A foreign origin, then a logged-out session: closed at once.
    let mut foreign = rt.block_on(open(port, &ana, "https://evil.example"));
    assert_eq!(rt.block_on(close_code(&mut foreign)), 4003);
    let (status, _, _) = raw_request(
        port,
        "POST",
        "/api/logout",
        &format!("Cookie: {bruno}\r\n"),
        None,
    )
    .expect("API");
    assert!(status < 300, "logout: {status}");
    let mut gone = rt.block_on(open(port, &bruno, &origin));
    assert_eq!(rt.block_on(close_code(&mut gone)), 4003);
}

#[test]
fn an_agent_desktop_follows_and_registers_a_call_sqlite() {
    an_agent_desktop_follows_and_registers_a_call(Db::Sqlite);
}

#[test]
fn an_agent_desktop_follows_and_registers_a_call_postgres() {
    an_agent_desktop_follows_and_registers_a_call(Db::Postgres);
}

/// A session left idle past `session_idle_secs` opens no desktop: closed 4004, log in again.
fn an_expired_session_is_closed_4004(db: Db) {
    let server = Server::start(db, &["1001"]);
    let path = server.dir.path().join("atende.toml");
    let config = std::fs::read_to_string(&path).expect("config").replacen(
        "[http]\n",
        "[http]\nsession_idle_secs = 1\n",
        1,
    );
    std::fs::write(&path, config + &agent_users(&["1001"])).expect("config written");
    let server = server.restart();
    let port = server.http_port;
    let origin = format!("http://127.0.0.1:{port}");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let ana = session(&server, "ag1001");
    // Fresh: it opens.
    let mut desk = rt.block_on(open(port, &ana, &origin));
    let first = rt.block_on(start(&mut desk));
    assert_eq!(first["welcome"]["agent"], "1001");
    drop(desk);
    std::thread::sleep(Duration::from_millis(2500));
    let mut late = rt.block_on(open(port, &ana, &origin));
    assert_eq!(rt.block_on(close_code(&mut late)), 4004);
}

#[test]
fn an_expired_session_is_closed_4004_sqlite() {
    an_expired_session_is_closed_4004(Db::Sqlite);
}

#[test]
fn an_expired_session_is_closed_4004_postgres() {
    an_expired_session_is_closed_4004(Db::Postgres);
}

/// The screen-pop carries what the IVR collected, only as the queue whitelists it: the
/// citizen types their CPF in the process-status flow, asks for a human (0) and the
/// desktop's `call_offered` shows the CPF (queue `screen_pop_fields = ["cpf"]`).
fn the_offer_pops_the_cpf_typed_in_the_ivr(db: Db) {
    const CPF: &str = "52998224725";
    let (service, _) = fake_process_service(r#"{"situacao":"em_analise","numero":"123"}"#);
    let server = Server::start_ivr_config(
        db,
        &IvrOptions {
            hours: Hours::Open,
            agents: &["1001"],
            auto_login: true,
            ring_timeout_secs: 20,
            http_port: Some(service),
        },
        Prompts::Short,
        10,
        "screen_pop_fields = [\"cpf\"]",
        // Only 1001: the call can ring nowhere else.
        &format!("{DISPOSITIONS}{}", agent_users(&["1001"])),
    );
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut desk = desk(&rt, &server, "ag1001");
    let phone = answering_phones(&server, &[("1001", 1000)]).remove(0);
    // 5 (process status), the CPF, 1 (confirm), then 0 (a human): queue "geral".
    let caller = start_ivr_caller(
        &server,
        &[(800, "5"), (600, CPF), (2500, "1"), (4000, "0")],
        40_000,
        true,
    );
    let offered = rt.block_on(next(&mut desk, "call_offered"));
    assert_eq!(offered["call"]["ivr"]["cpf"], CPF, "{offered}");
    let protocol = offered["call"]["protocol"]
        .as_str()
        .expect("a protocol")
        .to_owned();
    rt.block_on(next(&mut desk, "call_answered"));
    hang_up(
        &rt,
        &mut desk,
        "c-1",
        &protocol,
        &server,
        vec![(caller, "caller"), (phone, "agent phone")],
    );
}

#[test]
fn the_offer_pops_the_cpf_typed_in_the_ivr_sqlite() {
    the_offer_pops_the_cpf_typed_in_the_ivr(Db::Sqlite);
}

#[test]
fn the_offer_pops_the_cpf_typed_in_the_ivr_postgres() {
    the_offer_pops_the_cpf_typed_in_the_ivr(Db::Postgres);
}
