//! A CTI desktop over a real websocket, for the end-to-end tests (`#[path]`-included
//! next to `mod support;`): open with a session cookie and an Origin, say hello, read
//! messages by type, send a command and get its reply while keeping what came before it.
//! And the set-up the CTI tests share: agent users in the config, a server with the IVR
//! and agents logged in, an agent's desktop logged in and greeted, a call hung up from
//! the desktop, figures asked for again.

#![allow(dead_code)] // each test file uses its own part

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::support::ivr::{Hours, IvrOptions, Prompts};
use crate::support::{ADMIN_HASH, ADMIN_PASSWORD, Db, Server, login, wait_ok};

/// A desktop's socket and the messages read ahead (while waiting for a reply).
pub struct Ws {
    pub socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub read: std::collections::VecDeque<Value>,
}

pub const WAIT: Duration = Duration::from_secs(30);

pub async fn open(port: u16, cookie: &str, origin: &str) -> Ws {
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
pub async fn any(ws: &mut Ws, kind: &str) -> Value {
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
pub async fn next(ws: &mut Ws, kind: &str) -> Value {
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
pub async fn close_code(ws: &mut Ws) -> u16 {
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
pub async fn command(ws: &mut Ws, id: &str, name: &str, args: Value) -> Value {
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

/// Waits for a send on the test's runtime.
pub trait AwaitSent {
    fn await_sent(self, rt: &tokio::runtime::Runtime);
}

impl<F: std::future::Future<Output = Result<(), E>>, E: std::fmt::Debug> AwaitSent for F {
    fn await_sent(self, rt: &tokio::runtime::Runtime) {
        rt.block_on(self).expect("sent");
    }
}

pub async fn start(ws: &mut Ws) -> Value {
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

/// `[[users]]` entries for agent users `ag<ID>` linked to each of `agents`, with the test
/// admin's password, to append to a config.
pub fn agent_users(agents: &[&str]) -> String {
    agents
        .iter()
        .map(|a| {
            format!(
                "\n[[users]]\nname = \"ag{a}\"\nrole = \"agent\"\nagent = \"{a}\"\npassword_hash = \"{ADMIN_HASH}\"\n"
            )
        })
        .collect()
}

/// A server with the IVR open, `agents` logged in and rung 20 s each, 10 calls at most,
/// `extra` after the last `[[agents]]` entry and agent users for each of `agents`.
pub fn server_with_desks(db: Db, agents: &[&str], extra: &str) -> Server {
    Server::start_ivr_config(
        db,
        &IvrOptions {
            hours: Hours::Open,
            agents,
            auto_login: true,
            ring_timeout_secs: 20,
            http_port: None,
        },
        Prompts::Short,
        10,
        "",
        &format!("{extra}{}", agent_users(agents)),
    )
}

/// `user`'s session cookie on `server` (logged in with the test admin's password).
pub fn session(server: &Server, user: &str) -> String {
    login(server.http_port, user, ADMIN_PASSWORD)
        .expect("API")
        .unwrap_or_else(|| panic!("{user} logs in"))
}

/// `user`'s desktop on `server`: logged in (the test admin's password), opened from the
/// server's own origin and greeted; with its welcome and snapshot.
pub fn desk_with_start(rt: &tokio::runtime::Runtime, server: &Server, user: &str) -> (Ws, Value) {
    let port = server.http_port;
    let cookie = session(server, user);
    let mut ws = rt.block_on(open(port, &cookie, &format!("http://127.0.0.1:{port}")));
    let first = rt.block_on(start(&mut ws));
    (ws, first)
}

/// `user`'s desktop on `server`, logged in and greeted.
pub fn desk(rt: &tokio::runtime::Runtime, server: &Server, user: &str) -> Ws {
    desk_with_start(rt, server, user).0
}

/// The protocol of the next call offered to the desktop (its `call_offered` pop).
pub fn offered_protocol(rt: &tokio::runtime::Runtime, ws: &mut Ws) -> String {
    let offered = rt.block_on(next(ws, "call_offered"));
    offered["call"]["protocol"]
        .as_str()
        .unwrap_or_else(|| panic!("an offer without a protocol: {offered}"))
        .to_owned()
}

/// Sends `name` with `args` as command `id` and asserts it is accepted; the reply.
pub fn accepted(
    rt: &tokio::runtime::Runtime,
    ws: &mut Ws,
    id: &str,
    name: &str,
    args: Value,
) -> Value {
    let r = rt.block_on(command(ws, id, name, args));
    assert_eq!(r["ok"], true, "{name}: {r}");
    r
}

/// Hangs up `protocol` from the desktop (command `id`) and waits for each sipp peer
/// (`what` names it when it fails) to end well.
pub fn hang_up(
    rt: &tokio::runtime::Runtime,
    ws: &mut Ws,
    id: &str,
    protocol: &str,
    server: &Server,
    peers: Vec<(std::process::Child, &str)>,
) {
    accepted(rt, ws, id, "hang_up", json!({ "protocol": protocol }));
    for (child, what) in peers {
        wait_ok(child, what, server);
    }
}

/// Asks for a snapshot until `done` holds for its figures (the agent log is written in
/// batches), at most 20 times; the last figures seen.
pub fn figures_until(
    rt: &tokio::runtime::Runtime,
    ws: &mut Ws,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let mut figures = Value::Null;
    for _ in 0..20 {
        rt.block_on(ws.socket.send(Message::Text(
            json!({"v":1,"type":"snapshot_request"}).to_string().into(),
        )))
        .expect("sent");
        figures = rt.block_on(next(ws, "snapshot"))["figures"].clone();
        if done(&figures) {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    figures
}
