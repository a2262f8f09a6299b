//! End to end over the API with real SIP calls: a supervisor controls the floor.
//! Agent 1001 serves every queue, 1002 only "geral". The supervisor (scope pericia and
//! geral) forces 1001's pause; a citizen (sipp trunk caller, IVR 1-1 to "pericia") waits,
//! since nobody of pericia is ready; sending the call to the paused 1001 is refused with
//! the reason, to 1002 (outside pericia, available) it rings and 1002's phone answers.
//! Closing pericia sends the next caller where the queue sends callers after hours
//! (`routed`, reason `closed`); reopening gives the queue back to its schedule. A queue's
//! priority changes; 1001 is forced ready, then logged out. Every command is in the
//! audit log with who and why, the state changes in the agent log (a forced one with who
//! forced it and why, also in the agent production report); a supervisor out of scope and
//! the TV's wallboard user are refused (403, audited). The same over the CTI
//! (`force_state`, `queue_control`, `assign_call`; `not_allowed` out of scope or for the
//! TV). Last, pericia is closed again with geral's priority still given, atende restarts:
//! both overrides are in force (`/api/queues`, and a caller to pericia is routed as
//! closed); reopened and lifted, they stay so across the next restart.
//! SQLite and PostgreSQL.

#[path = "support/cti_ws.rs"]
mod cti_ws;
mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::ivr::*;
use support::*;

const EXTRA: &str = r#"
[[agents]]
id = "1002"
password = "pw1002"
queues = ["geral"]
auto_login = true

[[users]]
name = "sup"
role = "supervisor"
queues = ["pericia", "geral"]
password_hash = "HASH"

[[users]]
name = "sup-beneficios"
role = "supervisor"
queues = ["beneficios"]
password_hash = "HASH"

[[users]]
name = "tv"
role = "wallboard"
password_hash = "HASH"
"#;

fn post(port: u16, cookie: &str, path: &str, body: Value) -> (u16, Value) {
    let body = body.to_string();
    let (status, _, out) = raw_request(
        port,
        "POST",
        path,
        &format!("Cookie: {cookie}\r\n"),
        Some(&body),
    )
    .expect("HTTP");
    (status, serde_json::from_slice(&out).unwrap_or(Value::Null))
}

fn until(what: &str, mut f: impl FnMut() -> Option<Value>) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "{what} never happened");
        std::thread::sleep(Duration::from_millis(150));
    }
}

fn agent_state(server: &Server, agent: &str) -> Value {
    server
        .api("/api/agents")
        .as_array()
        .and_then(|a| a.iter().find(|v| v["agent"] == agent).cloned())
        .expect("the agent is listed")
}

fn queue(server: &Server, q: &str) -> Value {
    server
        .api("/api/queues")
        .as_array()
        .and_then(|a| a.iter().find(|v| v["queue"] == q).cloned())
        .expect("the queue is listed")
}

/// The newest call's protocol and events.
fn newest_call(server: &Server) -> Option<(String, Vec<Value>)> {
    let calls = server.api("/api/calls");
    let p = calls.as_array()?.last()?["protocol"].as_str()?.to_owned();
    let events = server.api(&format!("/api/calls/{p}"))["events"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    Some((p, events))
}

fn a_supervisor_controls_the_floor(db: Db) {
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
        &EXTRA.replace("HASH", ADMIN_HASH),
    );
    let port = server.http_port;
    let sup = cti_ws::session(&server, "sup");
    let other = cti_ws::session(&server, "sup-beneficios");
    let tv = cti_ws::session(&server, "tv");

    // Force a pause: a reason and a why are needed; the reason must be configured.
    let pause = "/api/floor/agents/1001/pause";
    assert_eq!(post(port, &sup, pause, json!({"reason": "lunch"})).0, 400);
    let (s, b) = post(port, &sup, pause, json!({"reason": "cochilo", "why": "x"}));
    assert_eq!(s, 409, "{b}");
    assert!(
        b["error"].as_str().unwrap_or("").contains("pause reason"),
        "{b}"
    );
    assert_eq!(
        post(port, &tv, pause, json!({"reason": "lunch", "why": "x"})).0,
        403,
        "the TV only looks"
    );
    assert_eq!(
        post(
            port,
            &other,
            "/api/floor/agents/1002/pause",
            json!({"reason": "lunch", "why": "fora do escopo"})
        )
        .0,
        403,
        "1002 is in no queue of sup-beneficios"
    );
    let (s, b) = post(
        port,
        &sup,
        pause,
        json!({"reason": "lunch", "why": "reunião de equipe"}),
    );
    assert_eq!(s, 204, "{b}");
    let a = agent_state(&server, "1001");
    assert_eq!(a["state"], "paused");
    assert_eq!(a["reason"], "lunch");

    // A caller waits in pericia: nobody of it is ready.
    let (p1001, p1002) = (free_port(), free_port());
    register_agent(&server, "1001", p1001);
    register_agent(&server, "1002", p1002);
    let phone = start_phone(
        &server,
        "agent.xml",
        p1002,
        1,
        1000,
        &[("ANSWER_AFTER_MS", "500".into())],
    );
    let caller = start_ivr_caller(&server, &[(800, "1"), (500, "1")], 6_000, false);
    until("a caller waiting in pericia", || {
        (queue(&server, "pericia")["waiting"] == 1).then_some(Value::Null)
    });
    let (protocol, _) = newest_call(&server).expect("the call");
    let assign = format!("/api/floor/calls/{protocol}/assign");
    let (s, b) = post(
        port,
        &sup,
        &assign,
        json!({"agent": "1001", "why": "ela conhece o caso"}),
    );
    assert_eq!(s, 409, "{b}");
    assert!(
        b["error"].as_str().unwrap_or("").contains("not available"),
        "{b}"
    );
    assert_eq!(
        post(port, &other, &assign, json!({"agent": "1002", "why": "x"})).0,
        403
    );
    assert_eq!(
        post(
            port,
            &sup,
            "/api/floor/calls/20000101-999999/assign",
            json!({"agent": "1002", "why": "x"})
        )
        .0,
        404
    );
    let (s, b) = post(
        port,
        &sup,
        &assign,
        json!({"agent": "1002", "why": "fila parada"}),
    );
    assert_eq!(s, 204, "{b}");
    let events = until("1002 answers the call", || {
        let (p, events) = newest_call(&server)?;
        (p == protocol && acd_kinds(&events).contains(&"answered".to_owned()))
            .then(|| json!(events))
    });
    let events = events.as_array().cloned().unwrap_or_default();
    assert_eq!(acd_event(&events, "offered")["agent"], "1002");
    assert_eq!(acd_event(&events, "answered")["agent"], "1002");
    wait_ok(caller, "caller", &server);
    wait_ok(phone, "1002's phone", &server);

    // An emergency close: the next caller goes where pericia sends callers after hours.
    let (s, b) = post(
        port,
        &sup,
        "/api/floor/queues/pericia/close",
        json!({"why": "queda do sistema"}),
    );
    assert_eq!(s, 204, "{b}");
    assert_eq!(queue(&server, "pericia")["open"], false);
    let caller = start_ivr_caller(&server, &[(800, "1"), (500, "1")], 20_000, true);
    let events = until("the closed queue routes the caller", || {
        let (p, events) = newest_call(&server)?;
        (p != protocol && acd_kinds(&events).contains(&"routed".to_owned())).then(|| json!(events))
    });
    let events = events.as_array().cloned().unwrap_or_default();
    assert_eq!(
        acd_event(&events, "routed")["reason"],
        "closed",
        "{events:?}"
    );
    wait_ok(caller, "caller of the closed queue", &server);
    let (s, _) = post(
        port,
        &sup,
        "/api/floor/queues/pericia/open",
        json!({"why": "sistema de volta"}),
    );
    assert_eq!(s, 204);
    assert_eq!(queue(&server, "pericia")["open"], true);
    assert_eq!(
        post(
            port,
            &other,
            "/api/floor/queues/pericia/close",
            json!({"why": "x"})
        )
        .0,
        403
    );
    let (s, _) = post(
        port,
        &sup,
        "/api/floor/queues/geral/priority",
        json!({"priority": 7, "why": "mutirão"}),
    );
    assert_eq!(s, 204);
    assert_eq!(
        post(
            port,
            &sup,
            "/api/floor/queues/geral/priority",
            json!({"why": "sem número"})
        )
        .0,
        400
    );

    // Forced ready, then logout.
    let ready = "/api/floor/agents/1001/ready";
    assert_eq!(
        post(port, &sup, ready, json!({"why": "fim da reunião"})).0,
        204
    );
    assert_eq!(agent_state(&server, "1001")["state"], "available");
    let logout = "/api/floor/agents/1001/logout";
    assert_eq!(
        post(port, &sup, logout, json!({"why": "fim do turno"})).0,
        204
    );
    assert_eq!(agent_state(&server, "1001")["state"], "logged_out");

    // The same commands over the CTI, for a supervisor's desktop.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let origin = format!("http://127.0.0.1:{port}");
    let mut desk = rt.block_on(cti_ws::open(port, &sup, &origin));
    rt.block_on(cti_ws::start(&mut desk));
    let r = rt.block_on(cti_ws::command(
        &mut desk,
        "s-1",
        "force_state",
        json!({"agent": "1002", "state": "paused", "reason": "lunch", "why": "pela CTI"}),
    ));
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(agent_state(&server, "1002")["state"], "paused");
    let r = rt.block_on(cti_ws::command(
        &mut desk,
        "s-2",
        "queue_control",
        json!({"queue": "geral", "action": "close", "why": "pela CTI"}),
    ));
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(queue(&server, "geral")["open"], false);
    let r = rt.block_on(cti_ws::command(
        &mut desk,
        "s-3",
        "queue_control",
        json!({"queue": "geral", "action": "open", "why": "pela CTI"}),
    ));
    assert_eq!(r["ok"], true, "{r}");
    // Priority over the CTI: given, lifted, and back to the 7 given over the API above
    // (the restart below checks it).
    for (id, order, priority) in [
        (
            "s-3p",
            json!({"action": "priority", "priority": 9}),
            json!(9),
        ),
        ("s-3l", json!({"action": "lift_priority"}), Value::Null),
        (
            "s-3b",
            json!({"action": "priority", "priority": 7}),
            json!(7),
        ),
    ] {
        let mut args = order;
        args["queue"] = json!("geral");
        args["why"] = json!("pela CTI");
        let r = rt.block_on(cti_ws::command(&mut desk, id, "queue_control", args));
        assert_eq!(r["ok"], true, "{r}");
        assert_eq!(queue(&server, "geral")["priority"], priority);
    }
    let r = rt.block_on(cti_ws::command(
        &mut desk,
        "s-4",
        "assign_call",
        json!({"protocol": "20000101-999999", "agent": "1002", "why": "pela CTI"}),
    ));
    assert_eq!(r["error"]["code"], "not_found", "{r}");
    let r = rt.block_on(cti_ws::command(
        &mut desk,
        "s-5",
        "force_state",
        json!({"agent": "1002", "state": "available", "why": ""}),
    ));
    assert_eq!(r["error"]["code"], "bad_args", "{r}");
    let mut other_desk = rt.block_on(cti_ws::open(port, &other, &origin));
    rt.block_on(cti_ws::start(&mut other_desk));
    let r = rt.block_on(cti_ws::command(
        &mut other_desk,
        "o-1",
        "force_state",
        json!({"agent": "1002", "state": "available", "why": "fora do escopo"}),
    ));
    assert_eq!(r["error"]["code"], "not_allowed", "{r}");
    let mut tv_desk = rt.block_on(cti_ws::open(port, &tv, &origin));
    rt.block_on(cti_ws::start(&mut tv_desk));
    let r = rt.block_on(cti_ws::command(
        &mut tv_desk,
        "t-1",
        "queue_control",
        json!({"queue": "geral", "action": "close", "why": "x"}),
    ));
    assert_eq!(r["error"]["code"], "not_allowed", "{r}");
    assert_eq!(queue(&server, "geral")["open"], true);
    drop((desk, other_desk, tv_desk));

    // The agent log has the changes; the audit log who did what and why.
    let log = until("the agent log written", || {
        let e = server.api("/api/agents/1001/events");
        let states: Vec<String> = e
            .as_array()?
            .iter()
            .map(|x| x["to_state"].as_str().unwrap_or("").to_owned())
            .collect();
        states
            .ends_with(&["available".into(), "logged_out".into()])
            .then_some(e)
    });
    // The forced changes say who forced them and why, on the agent log's own rows.
    let rows = log.as_array().cloned().expect("events");
    let paused = rows
        .iter()
        .find(|e| e["to_state"] == "paused" && e["reason"] == "lunch")
        .unwrap_or_else(|| panic!("the forced pause is logged: {log}"));
    assert_eq!(paused["forced_by"], "sup", "{paused}");
    assert_eq!(paused["forced_why"], "reunião de equipe");
    assert_eq!(
        paused["forced"],
        "pausa (lunch) forçada por sup: reunião de equipe"
    );
    let n = rows.len();
    assert_eq!(
        rows[n - 2]["forced"],
        "disponível forçado por sup: fim da reunião",
        "{log}"
    );
    assert_eq!(
        rows[n - 1]["forced"],
        "logout forçado por sup: fim do turno"
    );
    assert!(
        rows.iter()
            .filter(|e| e["forced_by"].is_null())
            .all(|e| e.get("forced").is_none()),
        "a change nobody forced says nothing of it: {log}"
    );

    // The agent production report lists them; the forced pause counts as pause.
    let date = server.api("/api/reports/today")["period"]["from"]
        .as_str()
        .expect("today")
        .to_owned();
    let report = until("the forced pause in the agent report", || {
        let r = server.api(&format!(
            "/api/reports/agents?from={date}&to={date}&agent=1001"
        ));
        let row = r["rows"]
            .as_array()?
            .iter()
            .find(|x| x["date"] == date.as_str())?
            .clone();
        (row["pause_by_reason"]["lunch"].as_i64() > Some(0)).then_some(row)
    });
    let forced = report["forced"].as_array().cloned().expect("forced");
    assert_eq!(
        forced,
        vec![
            json!("pausa (lunch) forçada por sup: reunião de equipe"),
            json!("disponível forçado por sup: fim da reunião"),
            json!("logout forçado por sup: fim do turno"),
        ],
        "{report}"
    );
    assert!(report["pause_ms"].as_i64() >= report["pause_by_reason"]["lunch"].as_i64());
    let table = server.api(&format!(
        "/api/reports/agents?from={date}&to={date}&agent=1001&format=table"
    ));
    assert!(
        table.to_string().contains("Mudanças forçadas")
            && table
                .to_string()
                .contains("pausa (lunch) forçada por sup: reunião de equipe"),
        "{table}"
    );
    let audit = server.api("/api/audit?limit=200");
    let entries = audit["entries"].as_array().cloned().expect("entries");
    let has = |target: &str, detail: &str| {
        entries.iter().any(|e| {
            e["actor"] == "sup"
                && e["action"] == "floor"
                && e["target"] == target
                && e["detail"].as_str().unwrap_or("").contains(detail)
        })
    };
    assert!(
        has("agent 1001 pause", "reason: lunch; why: reunião de equipe"),
        "{entries:?}"
    );
    assert!(has("agent 1001 pause", "refused"), "the refused pause too");
    assert!(has(
        &format!("call {protocol} assign 1002"),
        "why: fila parada"
    ));
    assert!(has(&format!("call {protocol} assign 1001"), "refused"));
    assert!(has("queue pericia close", "why: queda do sistema"));
    assert!(has("queue pericia open", "why: sistema de volta"));
    assert!(has("queue geral priority", "priority: 7; why: mutirão"));
    assert!(has("agent 1001 ready", "why: fim da reunião"));
    assert!(has("agent 1001 logout", "why: fim do turno"));
    assert!(has("agent 1002 pause", "reason: lunch; why: pela CTI"));
    assert!(has("queue geral close", "why: pela CTI"));
    assert!(
        entries
            .iter()
            .any(|e| e["actor"] == "sup-beneficios" && e["action"] == "denied"),
        "out of scope is audited"
    );
    assert!(
        entries
            .iter()
            .any(|e| e["actor"] == "tv" && e["action"] == "denied"),
        "the TV's attempt is audited"
    );

    // Overrides outlive a restart: pericia closed by hand, geral at priority 7 (given
    // above, never lifted).
    let (s, _) = post(
        port,
        &sup,
        "/api/floor/queues/pericia/close",
        json!({"why": "queda do sistema, de novo"}),
    );
    assert_eq!(s, 204);
    let q = queue(&server, "pericia");
    assert_eq!(
        (&q["open"], &q["closed_by_hand"]),
        (&json!(false), &json!(true))
    );
    assert_eq!(queue(&server, "geral")["priority"], 7);
    let before = server.api("/api/calls").as_array().map_or(0, Vec::len);
    let server = server.restart();
    let q = queue(&server, "pericia");
    assert_eq!(
        (&q["open"], &q["closed_by_hand"], &q["priority"]),
        (&json!(false), &json!(true), &Value::Null),
        "{q}"
    );
    let g = queue(&server, "geral");
    assert_eq!(
        (&g["open"], &g["closed_by_hand"], &g["priority"]),
        (&json!(true), &json!(false), &json!(7)),
        "{g}"
    );
    let caller = start_ivr_caller(&server, &[(800, "1"), (500, "1")], 20_000, true);
    let events = until("the restarted closed queue routes the caller", || {
        let calls = server.api("/api/calls");
        let calls = calls.as_array()?;
        if calls.len() <= before {
            return None;
        }
        let (_, events) = newest_call(&server)?;
        acd_kinds(&events)
            .contains(&"routed".to_owned())
            .then(|| json!(events))
    });
    let events = events.as_array().cloned().unwrap_or_default();
    assert_eq!(
        acd_event(&events, "routed")["reason"],
        "closed",
        "{events:?}"
    );
    wait_ok(
        caller,
        "caller of the queue closed before the restart",
        &server,
    );

    // Lifted, they stay lifted across the next restart.
    let sup = cti_ws::session(&server, "sup");
    let (s, _) = post(
        port,
        &sup,
        "/api/floor/queues/pericia/open",
        json!({"why": "sistema de volta"}),
    );
    assert_eq!(s, 204);
    let (s, b) = post(
        port,
        &sup,
        "/api/floor/queues/geral/lift_priority",
        json!({"why": "fim do mutirão"}),
    );
    assert_eq!(s, 204, "{b}");
    let normal = |server: &Server| {
        for name in ["pericia", "geral"] {
            let q = queue(server, name);
            assert_eq!(
                (&q["open"], &q["closed_by_hand"], &q["priority"]),
                (&json!(true), &json!(false), &Value::Null),
                "{q}"
            );
        }
    };
    normal(&server);
    let audit = server.api("/api/audit?limit=50");
    assert!(
        audit["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .any(|e| {
                e["actor"] == "sup"
                    && e["target"] == "queue geral lift_priority"
                    && e["detail"] == "why: fim do mutirão"
            }),
        "{audit}"
    );
    let server = server.restart();
    normal(&server);
}

#[test]
fn floor_control_sqlite() {
    a_supervisor_controls_the_floor(Db::Sqlite);
}

#[test]
fn floor_control_postgres() {
    a_supervisor_controls_the_floor(Db::Postgres);
}
