//! A CTI desktop over a real websocket, for the end-to-end tests (`#[path]`-included):
//! open with a session cookie and an Origin, say hello, read messages by type, send a
//! command and get its reply while keeping what came before it.

#![allow(dead_code)] // each test file uses its own part

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

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
