//! End to end: the CTI commands beyond state and hang-up, over a real websocket against a
//! real `atende` with sipp phones, on SQLite and PostgreSQL.
//!
//! - An attended transfer from the desktop: 1001 (queue "pericia") consults 1002, whose
//!   desktop gets the caller's pop with the transfer's origin; `complete_transfer` hands
//!   the caller to 1002 (1001 is told `call_transferred`, 1002 `call_answered`), or
//!   `cancel_transfer` calls it off (1002 `call_missed` cancelled, the caller back with
//!   1001). Completing with no transfer under way is refused.
//! - `login` to part of the agent's queues (a queue not theirs is refused), then
//!   `schedule_callback` for a time the citizen asked for: a time in the past is refused,
//!   a call still in progress is refused, after the call a time a few seconds ahead is
//!   taken, and when it comes atende rings the agent's phone, then the citizen through
//!   `[outbound]`; both calls' logs are linked.

#[path = "support/answered.rs"]
mod answered;
#[path = "support/cti_ws.rs"]
mod cti_ws;
mod support;

use std::time::Duration;

use answered::{answering_phones, pericia_caller};
use cti_ws::*;
use serde_json::{Value, json};
use support::ivr::*;
use support::*;

/// 1002 serves only "geral", so a "pericia" call rings at 1001 alone.
const AGENT_1002: &str = "[[agents]]\nid = \"1002\"\npassword = \"pw1002\"\npin = \"1234\"\nqueues = [\"geral\"]\nauto_login = true\n";

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Agent 1001 (logged in at start or not), rung 10 s, its user ag1001, and
/// `[outbound]` through a sipp gateway at `gateway`.
fn outbound_server(db: Db, gateway: u16, auto_login: bool) -> Server {
    Server::start_ivr_config(
        db,
        &IvrOptions {
            hours: Hours::Open,
            agents: &["1001"],
            auto_login,
            ring_timeout_secs: 10,
            http_port: None,
        },
        Prompts::Short,
        10,
        "",
        &format!(
            "[outbound]\ngateway = \"127.0.0.1:{gateway}\"\ncaller_id = \"08000000000\"\nring_timeout_secs = 10\n{}",
            agent_users(&["1001"])
        ),
    )
}

fn call_events(server: &Server, protocol: &str) -> Vec<Value> {
    server.api(&format!("/api/calls/{protocol}"))["events"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn attended_transfer_from_the_desktop(db: Db, complete: bool) {
    let server = server_with_desks(
        db,
        &["1001"],
        &format!("{AGENT_1002}{}", agent_users(&["1002"])),
    );
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut ana = desk(&rt, &server, "ag1001");
    let mut bruno = desk(&rt, &server, "ag1002");
    let phones = answering_phones(&server, &[("1001", 1000), ("1002", 1500)]);
    let caller = pericia_caller(&server);
    let protocol = offered_protocol(&rt, &mut ana);
    rt.block_on(next(&mut ana, "call_answered"));
    std::thread::sleep(Duration::from_millis(1000));

    accepted(
        &rt,
        &mut ana,
        "t-1",
        "transfer",
        json!({"protocol": protocol, "to": {"agent": "1002"}, "mode": "attended"}),
    );
    // The consultation's callee sees the caller's pop and where it comes from.
    let pop = rt.block_on(next(&mut bruno, "call_offered"));
    assert_eq!(pop["call"]["protocol"], protocol.as_str(), "{pop}");
    assert_eq!(pop["call"]["did"], DID, "{pop}");
    assert_eq!(pop["call"]["queue"], "pericia", "{pop}");
    assert_eq!(pop["call"]["transfer"]["from"], "1001", "{pop}");
    assert_eq!(pop["call"]["transfer"]["mode"], "attended", "{pop}");

    if complete {
        let mut done = Value::Null;
        for i in 0..50 {
            done = rt.block_on(command(
                &mut ana,
                &format!("t-c{i}"),
                "complete_transfer",
                json!({"protocol": protocol}),
            ));
            if done["ok"] == true {
                break;
            }
            assert_eq!(done["error"]["code"], "invalid_state", "{done}");
            std::thread::sleep(Duration::from_millis(200));
        }
        assert_eq!(done["ok"], true, "1002 answered and took the call: {done}");
        let gone = rt.block_on(next(&mut ana, "call_transferred"));
        assert_eq!(gone["to"], "agent:1002", "{gone}");
        let taken = rt.block_on(next(&mut bruno, "call_answered"));
        assert_eq!(taken["agent"], "1002", "{taken}");
        // Nothing under way any more: refused, in Portuguese.
        let r = rt.block_on(command(
            &mut bruno,
            "b-1",
            "complete_transfer",
            json!({"protocol": protocol}),
        ));
        assert_eq!(r["ok"], false, "{r}");
        assert_eq!(r["error"]["code"], "invalid_state", "{r}");
        assert_eq!(
            r["error"]["message"], "nenhuma transferência em andamento",
            "{r}"
        );
        std::thread::sleep(Duration::from_millis(1000));
        accepted(
            &rt,
            &mut bruno,
            "b-2",
            "hang_up",
            json!({"protocol": protocol}),
        );
        rt.block_on(next(&mut bruno, "call_ended"));
    } else {
        std::thread::sleep(Duration::from_millis(2000));
        accepted(
            &rt,
            &mut ana,
            "t-2",
            "cancel_transfer",
            json!({"protocol": protocol}),
        );
        let missed = rt.block_on(next(&mut bruno, "call_missed"));
        assert_eq!(missed["reason"], "cancelled", "{missed}");
        std::thread::sleep(Duration::from_millis(1000));
        let r = rt.block_on(command(
            &mut ana,
            "t-3",
            "hang_up",
            json!({"protocol": protocol}),
        ));
        assert_eq!(r["ok"], true, "back with 1001, who ends it: {r}");
        rt.block_on(next(&mut ana, "call_ended"));
    }
    wait_ok(caller, "caller (BYE from atende)", &server);
    for (i, phone) in phones.into_iter().enumerate() {
        wait_ok(phone, &format!("agent phone {i}"), &server);
    }
    let (_, events) = wait_for_event(&server, "recording_finalized");
    let k = kinds(&events);
    assert!(k.iter().any(|x| x == "transfer_started"), "{k:?}");
    if complete {
        let t = &event(&events, "transferred")["detail"];
        assert_eq!(t["to"], "agent:1002", "{t}");
        assert_eq!(t["blind"], false, "{t}");
    } else {
        let f = &event(&events, "transfer_failed")["detail"];
        assert_eq!(f["reason"], "cancelled", "{f}");
    }
}

#[test]
fn attended_transfer_completed_sqlite() {
    attended_transfer_from_the_desktop(Db::Sqlite, true);
}

#[test]
fn attended_transfer_completed_postgres() {
    attended_transfer_from_the_desktop(Db::Postgres, true);
}

#[test]
fn attended_transfer_cancelled_sqlite() {
    attended_transfer_from_the_desktop(Db::Sqlite, false);
}

#[test]
fn attended_transfer_cancelled_postgres() {
    attended_transfer_from_the_desktop(Db::Postgres, false);
}

fn login_to_some_queues_and_schedule_a_callback(db: Db) {
    let gateway = free_port();
    let server = outbound_server(db, gateway, false);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut ana = desk(&rt, &server, "ag1001");

    // Only queues the agent serves, and then only those asked for.
    let r = rt.block_on(command(
        &mut ana,
        "l-1",
        "login",
        json!({"queues": ["pericia", "nao-existe"]}),
    ));
    assert_eq!(r["ok"], false, "{r}");
    assert_eq!(r["error"]["code"], "bad_args", "{r}");
    accepted(
        &rt,
        &mut ana,
        "l-2",
        "login",
        json!({"queues": ["pericia"]}),
    );
    let state = rt.block_on(next(&mut ana, "agent_state"));
    assert_eq!(state["queues"], json!(["pericia"]), "{state}");
    accepted(&rt, &mut ana, "l-3", "ready", json!({}));

    // The call, then (on the same phone) the callback.
    let agent_port = free_port();
    register_agent(&server, "1001", agent_port);
    let phone = start_answering_agent(&server, agent_port, 2, 500);
    let caller = pericia_caller(&server);
    let protocol = offered_protocol(&rt, &mut ana);
    rt.block_on(next(&mut ana, "call_answered"));
    let r = rt.block_on(command(
        &mut ana,
        "s-1",
        "schedule_callback",
        json!({"protocol": protocol, "at_ms": now_ms() + 60_000}),
    ));
    assert_eq!(r["ok"], false, "{r}");
    assert_eq!(r["error"]["code"], "invalid_state", "during the call: {r}");
    std::thread::sleep(Duration::from_millis(1000));
    accepted(
        &rt,
        &mut ana,
        "h-1",
        "hang_up",
        json!({"protocol": protocol}),
    );
    rt.block_on(next(&mut ana, "call_ended"));
    wait_ok(caller, "caller", &server);

    let r = rt.block_on(command(
        &mut ana,
        "s-2",
        "schedule_callback",
        json!({"protocol": protocol, "at_ms": now_ms() - 60_000}),
    ));
    assert_eq!(r["ok"], false, "{r}");
    assert_eq!(r["error"]["code"], "bad_args", "a time gone by: {r}");
    assert_eq!(r["error"]["message"], "esse horário já passou", "{r}");
    let r = rt.block_on(command(
        &mut ana,
        "s-3",
        "schedule_callback",
        json!({"protocol": protocol, "at_ms": now_ms() + 40 * 86_400_000_i64}),
    ));
    assert_eq!(r["error"]["code"], "bad_args", "too far ahead: {r}");

    // The citizen's phone behind the gateway answers the callback.
    let citizen = start_phone(
        &server,
        "citizen.xml",
        gateway,
        1,
        440,
        &[
            ("ANSWER_AFTER_MS", "500".into()),
            ("TALK_MS", "2000".into()),
        ],
    );
    let at = now_ms() + 4_000;
    accepted(
        &rt,
        &mut ana,
        "s-4",
        "schedule_callback",
        json!({"protocol": protocol, "at_ms": at, "number": "61999990000"}),
    );
    wait_ok(citizen, "citizen called back", &server);
    wait_ok(phone, "agent phone (the call, then the callback)", &server);

    // The original call's log: requested, started, linked to the callback's own call.
    let mut events = Vec::new();
    for _ in 0..100 {
        events = call_events(&server, &protocol);
        if acd_kinds(&events).iter().any(|k| k == "callback_completed") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let acd = acd_kinds(&events);
    for kind in [
        "callback_requested",
        "callback_started",
        "callback_completed",
    ] {
        assert!(acd.iter().any(|k| k == kind), "no {kind}: {acd:?}");
    }
    let link = &event(&events, "callback_attempt")["detail"];
    let callback = link["callback"].as_str().expect("the callback's protocol");
    let started = events
        .iter()
        .find(|e| e["kind"] == "acd" && e["detail"]["event"]["kind"] == "callback_started")
        .map(|e| e["at_ms"].as_i64().unwrap_or(0))
        .unwrap_or(0);
    assert!(started >= at, "not before the time asked for");
    let other = call_events(&server, callback);
    let back = &event(&other, "callback_attempt")["detail"];
    assert_eq!(back["original"], protocol.as_str(), "{back}");
    let dialled = &event(&other, "citizen_dialled")["detail"];
    assert!(
        dialled["target"]
            .as_str()
            .is_some_and(|t| t.ends_with("61999990000")),
        "{dialled}"
    );
}

#[test]
fn login_to_some_queues_and_schedule_a_callback_sqlite() {
    login_to_some_queues_and_schedule_a_callback(Db::Sqlite);
}

#[test]
fn login_to_some_queues_and_schedule_a_callback_postgres() {
    login_to_some_queues_and_schedule_a_callback(Db::Postgres);
}

/// `call`: the agent's phone rings first, then the number through `[outbound]`; the call
/// is recorded and logged under a protocol of its own (service `outbound`), the one the
/// desktop shows, so the desktop holds, resumes and hangs it up; the agent is busy
/// meanwhile.
fn an_agent_calls_an_outside_number(db: Db) {
    let gateway = free_port();
    let server = outbound_server(db, gateway, true);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut ana = desk(&rt, &server, "ag1001");
    let agent_port = free_port();
    register_agent(&server, "1001", agent_port);
    let phone = start_answering_agent(&server, agent_port, 1, 500);
    let citizen = start_phone(
        &server,
        "citizen_served.xml",
        gateway,
        1,
        440,
        &[("ANSWER_AFTER_MS", "500".into())],
    );
    let r = rt.block_on(command(&mut ana, "o-1", "call", json!({"number": "6199x"})));
    assert_eq!(r["error"]["code"], "bad_args", "{r}");
    accepted(
        &rt,
        &mut ana,
        "o-2",
        "call",
        json!({"number": "61999990000"}),
    );
    let busy = rt.block_on(next(&mut ana, "agent_state"));
    assert_eq!(busy["state"], "on_call", "{busy}");
    // Busy: a second call is refused.
    let r = rt.block_on(command(
        &mut ana,
        "o-3",
        "call",
        json!({"number": "61999990001"}),
    ));
    assert_eq!(r["error"]["code"], "invalid_state", "{r}");

    // The desktop's call is the call the floor commands reach: hold once the number
    // answered (refused `invalid_state` until then), resume, hang up.
    let answered = rt.block_on(next(&mut ana, "call_answered"));
    let shown = answered["protocol"].as_str().expect("protocol").to_owned();
    let mut r = Value::Null;
    for i in 0..40 {
        r = rt.block_on(command(
            &mut ana,
            &format!("o-h{i}"),
            "hold",
            json!({"protocol": shown}),
        ));
        if r["ok"] == true || r["error"]["code"] != "invalid_state" {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(r["ok"], true, "{r}");
    let held = rt.block_on(next(&mut ana, "call_held"));
    assert_eq!(held["protocol"], shown.as_str(), "{held}");
    let r = rt.block_on(command(&mut ana, "o-4", "hold", json!({"protocol": shown})));
    assert_eq!(r["error"]["code"], "invalid_state", "already held: {r}");
    accepted(&rt, &mut ana, "o-5", "resume", json!({"protocol": shown}));
    let resumed = rt.block_on(next(&mut ana, "call_resumed"));
    assert_eq!(resumed["protocol"], shown.as_str(), "{resumed}");
    accepted(
        &rt,
        &mut ana,
        "o-6",
        "dtmf",
        json!({"protocol": shown, "digits": "1#"}),
    );
    accepted(&rt, &mut ana, "o-7", "hang_up", json!({"protocol": shown}));
    let ended = rt.block_on(next(&mut ana, "call_ended"));
    assert_eq!(ended["protocol"], shown.as_str(), "{ended}");
    wait_ok(citizen, "the number called", &server);
    wait_ok(phone, "agent phone", &server);
    let free = rt.block_on(next(&mut ana, "agent_state"));
    assert_eq!(free["state"], "available", "free again: {free}");

    let (protocol, events) = wait_for_event(&server, "recording_finalized");
    assert_eq!(protocol, shown, "one protocol: the desktop's and the log's");
    assert_eq!(event(&events, "offered")["detail"]["service"], "outbound");
    let k = kinds(&events);
    assert!(
        k.iter().any(|x| x == "held") && k.iter().any(|x| x == "resumed"),
        "{k:?}"
    );
    assert_eq!(
        event(&events, "hung_up")["detail"]["cause"],
        "operator_hang_up",
        "{k:?}"
    );
    assert!(
        !k.iter().any(|x| x == "callback_attempt"),
        "not a callback: {k:?}"
    );
    let dialled = &event(&events, "citizen_dialled")["detail"];
    assert!(
        dialled["target"]
            .as_str()
            .is_some_and(|t| t.ends_with("61999990000")),
        "{dialled}"
    );
    let k = kinds(&events);
    let pos = |kind: &str| k.iter().position(|x| x == kind);
    assert!(
        pos("ringing") < pos("citizen_dialled") && pos("ringing").is_some(),
        "the agent first, then the number: {k:?}"
    );
    let summary = server
        .api("/api/calls")
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .find(|c| c["protocol"] == protocol.as_str())
        .expect("the call is listed");
    assert_eq!(summary["a_number"], "61999990000", "{summary}");
}

#[test]
fn an_agent_calls_an_outside_number_sqlite() {
    an_agent_calls_an_outside_number(Db::Sqlite);
}

#[test]
fn an_agent_calls_an_outside_number_postgres() {
    an_agent_calls_an_outside_number(Db::Postgres);
}
