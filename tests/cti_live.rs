//! End to end: the CTI websocket on the real server. An agent user logs in (cookie),
//! opens `/api/cti` from the server's own origin, gets welcome and snapshot; a bad pause
//! reason is refused; a citizen's call (sipp trunk caller, IVR menu 1-1 to queue
//! "pericia") is offered to the agent's desktop with its protocol, DID and queue, the sipp
//! phone answers and the desktop sees it answered; another agent's hang-up of that call
//! is refused and audited; the agent hangs up from the desktop and registers the call
//! over the websocket (reply, `registered`, an event in the call's log); a foreign origin
//! is closed 4003 and a logged-out session too — on SQLite and PostgreSQL.

mod support;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use support::ivr::*;
use support::*;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A desktop's socket and the messages read ahead (while waiting for a reply).
struct Ws {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    read: std::collections::VecDeque<Value>,
}

const WAIT: Duration = Duration::from_secs(30);

const DESK: &str = r#"
[[dispositions]]
code = "informacao"
label = "Informação prestada"

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

async fn open(port: u16, cookie: &str, origin: &str) -> Ws {
    let mut req = format!("ws://127.0.0.1:{port}/api/cti")
        .into_client_request()
        .expect("request");
    req.headers_mut()
        .insert("cookie", cookie.parse().expect("header"));
    req.headers_mut()
        .insert("origin", origin.parse().expect("header"));
    let (socket, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("websocket opens");
    Ws {
        socket,
        read: Default::default(),
    }
}

/// The next server message, read ahead or from the socket.
async fn any(ws: &mut Ws, kind: &str) -> Value {
    if let Some(v) = ws.read.pop_front() {
        return v;
    }
    loop {
        match ws.socket.next().await {
            Some(Ok(Message::Text(t))) => return serde_json::from_str(&t).expect("JSON"),
            Some(Ok(Message::Close(c))) => panic!("closed while waiting for {kind}: {c:?}"),
            Some(Ok(_)) => {}
            other => panic!("connection ended while waiting for {kind}: {other:?}"),
        }
    }
}

/// The next server message of `kind` (others skipped).
async fn next(ws: &mut Ws, kind: &str) -> Value {
    let read = async {
        loop {
            let v = any(ws, kind).await;
            if v["type"] == kind {
                return v;
            }
        }
    };
    tokio::time::timeout(WAIT, read)
        .await
        .unwrap_or_else(|_| panic!("no {kind} in time"))
}

/// The close code the server ends the connection with.
async fn close_code(ws: &mut Ws) -> u16 {
    let read = async {
        loop {
            match ws.socket.next().await {
                Some(Ok(Message::Close(Some(c)))) => return u16::from(c.code),
                Some(Ok(_)) => {}
                other => panic!("no close frame: {other:?}"),
            }
        }
    };
    tokio::time::timeout(WAIT, read)
        .await
        .expect("closed in time")
}

/// Sends a command and returns its reply; what came before it stays to be read.
async fn command(ws: &mut Ws, id: &str, name: &str, args: Value) -> Value {
    let m = json!({"v":1,"type":"command","id":id,"command":name,"args":args});
    ws.socket
        .send(Message::Text(m.to_string().into()))
        .await
        .expect("sent");
    let mut before = Vec::new();
    let read = async {
        loop {
            let v = any(ws, "reply").await;
            if v["type"] == "reply" && v["id"] == id {
                return v;
            }
            before.push(v);
        }
    };
    let reply = tokio::time::timeout(WAIT, read)
        .await
        .unwrap_or_else(|_| panic!("no reply to {id} in time"));
    for v in before.into_iter().rev() {
        ws.read.push_front(v);
    }
    reply
}

async fn start(ws: &mut Ws) -> Value {
    ws.socket
        .send(Message::Text(
            json!({"v":1,"type":"hello"}).to_string().into(),
        ))
        .await
        .expect("hello");
    let welcome = next(ws, "welcome").await;
    let snapshot = next(ws, "snapshot").await;
    (json!({"welcome": welcome, "snapshot": snapshot})).clone()
}

fn an_agent_desktop_follows_and_registers_a_call(db: Db) {
    let server = Server::start_ivr_config(
        db,
        &IvrOptions {
            hours: Hours::Open,
            agents: &["1001", "1002"],
            auto_login: true,
            ring_timeout_secs: 20,
            http_port: None,
        },
        Prompts::Short,
        10,
        "",
        &DESK.replace("HASH", ADMIN_HASH),
    );
    let port = server.http_port;
    let origin = format!("http://127.0.0.1:{port}");
    let rt = tokio::runtime::Runtime::new().expect("runtime");

    let ana = login(port, "ag1001", ADMIN_PASSWORD)
        .expect("API")
        .expect("ag1001 logs in");
    let bruno = login(port, "ag1002", ADMIN_PASSWORD)
        .expect("API")
        .expect("ag1002 logs in");
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
    let r = rt.block_on(command(
        &mut desk,
        "c-2",
        "pause",
        json!({"reason": "lunch"}),
    ));
    assert_eq!(r["ok"], true, "{r}");
    let paused = rt.block_on(next(&mut desk, "agent_state"));
    assert_eq!(paused["state"], "paused");
    assert_eq!(paused["reason"], "lunch");
    let r = rt.block_on(command(&mut desk, "c-3", "ready", json!({})));
    assert_eq!(r["ok"], true, "{r}");
    let ready = rt.block_on(next(&mut desk, "agent_state"));
    assert_eq!(ready["state"], "available");

    // 1002 stays away from the queue so the call rings at 1001.
    let r = rt.block_on(command(
        &mut other,
        "b-1",
        "pause",
        json!({"reason": "lunch"}),
    ));
    assert_eq!(r["ok"], true, "{r}");

    let agent_port = free_port();
    register_agent(&server, "1001", agent_port);
    let phone = start_phone(
        &server,
        "agent.xml",
        agent_port,
        1,
        1000,
        &[("ANSWER_AFTER_MS", "500".into())],
    );
    // 1 (perícia), 1 (agendar): queue "pericia"; the caller waits for our BYE.
    let caller = start_ivr_caller(&server, &[(800, "1"), (500, "1")], 40_000, true);
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
    let r = rt.block_on(command(
        &mut desk,
        "c-5",
        "hang_up",
        json!({"protocol": protocol}),
    ));
    assert_eq!(r["ok"], true, "{r}");
    let ended = rt.block_on(next(&mut desk, "call_ended"));
    assert_eq!(ended["protocol"], protocol.as_str());
    wait_ok(caller, "caller", &server);
    wait_ok(phone, "agent phone", &server);

    let r = rt.block_on(command(
        &mut desk,
        "c-4",
        "register",
        json!({"protocol": protocol, "code": "informacao", "note": "orientado"}),
    ));
    assert_eq!(r["ok"], true, "{r}");
    let registered = rt.block_on(next(&mut desk, "registered"));
    assert_eq!(registered["protocol"], protocol.as_str());
    assert_eq!(registered["code"], "informacao");
    assert_eq!(registered["command_id"], "c-4");
    let detail = server.api(&format!("/api/calls/{protocol}"));
    let events = detail["events"].as_array().expect("events");
    let stored = event(events, "registered");
    assert_eq!(stored["detail"]["agent"], "1001");
    assert_eq!(stored["detail"]["note"], "orientado");

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
