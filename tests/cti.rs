//! The CTI websocket protocol over a real websocket: an in-process axum server with the
//! real hub and bus, and a fake backend (users, ACD) behind the `Backend` trait. What a
//! desktop sees: welcome and snapshot, gapless seq, one reply per command, resume and
//! replay, resync for a slow desktop, permissions, close codes, the disconnect pause.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use atende::bus::{AgentChange, AgentState, Bus, Change, QueueChange};
use atende::cti::backend::{
    AgentCommand, AuthError, BoxFuture, CallCommand, CommandError, Credential, InitialState,
    Outcome, PopRequest, Registration, ScreenPop, Verdicts,
};
use atende::cti::protocol::{ErrorCode, Figures};
use atende::cti::{Backend, Hub, HubSettings};
use atende::events::EventKind;
use atende::store::event::CallEvent;
use atende::users::{Principal, Role};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const WAIT: Duration = Duration::from_secs(20);

struct Fake {
    bus: Bus,
    /// Figures take this long (a slow database read), in ms.
    figures_ms: std::sync::atomic::AtomicU64,
    versions: Mutex<HashMap<String, u64>>,
    expired: Mutex<Vec<String>>,
    commands: mpsc::UnboundedSender<(String, String)>,
}

fn user(token: &str) -> Option<Principal> {
    let (user, role, agent, queues) = match token {
        "ana" => ("ana", Role::Agent, Some("1001"), vec!["sac"]),
        "bruno" => ("bruno", Role::Agent, Some("1002"), vec!["sac"]),
        "sup" => ("sup", Role::Supervisor, None, vec!["sac"]),
        "aud" => ("aud", Role::Auditor, None, vec![]),
        _ => return None,
    };
    Some(Principal {
        user: user.into(),
        role,
        agent: agent.map(Into::into),
        queues: queues.into_iter().map(Into::into).collect(),
        agents: Vec::new(),
        teams: Vec::new(),
        session: format!("s-{token}"),
    })
}

fn agent_change(agent: &str, version: u64, state: AgentState, reason: Option<&str>) -> Change {
    Change::Agent(AgentChange {
        agent: agent.into(),
        version,
        state,
        reason: reason.map(Into::into),
        call: None,
        since_ms: 1_000,
        queues: vec!["sac".into()],
        next_state: None,
    })
}

impl Fake {
    /// Moves `agent` to `state` (the ACD's next version), as the bus shows it.
    fn set_agent(&self, agent: &str, state: AgentState, reason: Option<&str>) -> u64 {
        let version = {
            let mut v = self.versions.lock().expect("lock");
            let v = v.entry(agent.into()).or_insert(1);
            *v += 1;
            *v
        };
        self.bus
            .publish(agent_change(agent, version, state, reason));
        version
    }
}

impl Backend for Fake {
    fn authenticate(&self, credential: Credential) -> BoxFuture<'_, Result<Principal, AuthError>> {
        Box::pin(async move {
            let token = match credential {
                Credential::Session(t) | Credential::Ticket(t) => t,
            };
            if token == "old" {
                return Err(AuthError::Expired);
            }
            user(&token).ok_or(AuthError::Bad)
        })
    }

    fn revalidate_many(&self, sessions: Vec<String>) -> BoxFuture<'_, Option<Verdicts>> {
        Box::pin(async move {
            let expired = self.expired.lock().expect("lock").clone();
            Some(
                sessions
                    .into_iter()
                    .map(|session| {
                        let verdict = if expired.contains(&session) {
                            Err(AuthError::Expired)
                        } else {
                            user(session.trim_start_matches("s-")).ok_or(AuthError::Bad)
                        };
                        (session, verdict)
                    })
                    .collect(),
            )
        })
    }

    fn agent_command(
        &self,
        _who: Principal,
        agent: String,
        command: AgentCommand,
    ) -> BoxFuture<'_, Result<Outcome, CommandError>> {
        Box::pin(async move {
            let what = format!("{command:?}");
            let version = match command {
                AgentCommand::Pause { reason } => {
                    if !["almoço", "disconnected"].contains(&reason.as_str()) {
                        return Err(CommandError::new(
                            ErrorCode::BadArgs,
                            "motivo de pausa desconhecido",
                        ));
                    }
                    self.set_agent(&agent, AgentState::Paused, Some(&reason))
                }
                AgentCommand::Ready => self.set_agent(&agent, AgentState::Available, None),
                AgentCommand::Logout => self.set_agent(&agent, AgentState::LoggedOut, None),
                _ => {
                    return Err(CommandError::new(
                        ErrorCode::InvalidState,
                        "estado não permite",
                    ));
                }
            };
            // Told after the change is on the bus, as the ACD would.
            let _ = self.commands.send((agent, what));
            Ok(Outcome {
                version: Some(version),
            })
        })
    }

    fn call_command(
        &self,
        _who: Principal,
        agent: String,
        command: CallCommand,
    ) -> BoxFuture<'_, Result<Outcome, CommandError>> {
        Box::pin(async move {
            let _ = self.commands.send((agent, format!("{command:?}")));
            Ok(Outcome::default())
        })
    }

    fn register(
        &self,
        _who: Principal,
        agent: String,
        registration: Registration,
    ) -> BoxFuture<'_, Result<Outcome, CommandError>> {
        Box::pin(async move {
            let _ = self.commands.send((agent, format!("{registration:?}")));
            Ok(Outcome::default())
        })
    }

    fn screen_pop(&self, request: PopRequest) -> BoxFuture<'_, ScreenPop> {
        let PopRequest {
            protocol, queue, ..
        } = request;
        Box::pin(async move {
            ScreenPop {
                url: Some(format!(
                    "https://crm.example/{}?p={protocol}",
                    queue.unwrap_or_default()
                )),
                ..ScreenPop::default()
            }
        })
    }

    fn initial_state(&self) -> BoxFuture<'_, InitialState> {
        Box::pin(async move {
            InitialState {
                agents: ["1001", "1002"]
                    .iter()
                    .map(|a| match agent_change(a, 1, AgentState::Available, None) {
                        Change::Agent(a) => a,
                        _ => unreachable!("an agent change"),
                    })
                    .collect(),
                queues: vec![QueueChange {
                    queue: "sac".into(),
                    version: 1,
                    open: true,
                    waiting: 0,
                    oldest_since_ms: None,
                    staffed: 2,
                    available: 2,
                    closed_by_hand: false,
                    priority: None,
                }],
            }
        })
    }

    fn figures(&self, _who: Principal) -> BoxFuture<'_, Option<Figures>> {
        Box::pin(async move {
            let ms = self.figures_ms.load(std::sync::atomic::Ordering::Acquire);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            let mut f = Figures::default();
            f.targets.insert("aht_ms".into(), json!(481_000));
            Some(f)
        })
    }
}

struct Server {
    addr: SocketAddr,
    fake: Arc<Fake>,
    commands: mpsc::UnboundedReceiver<(String, String)>,
}

fn settings() -> HubSettings {
    HubSettings {
        resume_window: Duration::from_secs(60),
        disconnect_grace: Duration::from_secs(30),
        heartbeat: Duration::from_secs(3600),
        resume_buffer: 1000,
        outgoing_queue: 256,
        fanout_queue: 4096,
        allowed_origins: vec!["http://desk.example:9000".into()],
    }
}

async fn server(settings: HubSettings) -> Server {
    let bus = Bus::new(None);
    let (tx, commands) = mpsc::unbounded_channel();
    let fake = Arc::new(Fake {
        bus: bus.clone(),
        figures_ms: std::sync::atomic::AtomicU64::new(0),
        versions: Mutex::new(HashMap::new()),
        expired: Mutex::new(vec![]),
        commands: tx,
    });
    let hub = Hub::start(fake.clone(), &bus, settings).await;
    // The CTI route sits beside the bearer-guarded /api tree, as in the server.
    let app = atende::api::with_cti(
        axum::Router::new().nest(
            "/api",
            axum::Router::new().route("/calls", axum::routing::get(|| async { "calls" })),
        ),
        hub,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Server {
        addr,
        fake,
        commands,
    }
}

type Ws = WebSocketStream<TcpStream>;

async fn connect_with(addr: SocketAddr, query: &str, headers: &[(&str, &str)], small: bool) -> Ws {
    let mut request = format!("ws://{addr}/api/cti{query}")
        .into_client_request()
        .expect("request");
    for (name, value) in headers {
        request.headers_mut().insert(
            axum::http::HeaderName::from_bytes(name.as_bytes()).expect("name"),
            value.parse().expect("value"),
        );
    }
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    if small {
        socket.set_recv_buffer_size(4096).expect("buffer");
    }
    let stream = socket.connect(addr).await.expect("connect");
    let (ws, _) = tokio_tungstenite::client_async(request, stream)
        .await
        .expect("websocket handshake");
    ws
}

async fn connect(addr: SocketAddr, ticket: &str) -> Ws {
    connect_with(addr, &format!("?ticket={ticket}"), &[], false).await
}

async fn send(ws: &mut Ws, value: Value) {
    ws.send(Message::Text(value.to_string().into()))
        .await
        .expect("send");
}

async fn hello(ws: &mut Ws, resume: Option<(&str, u64)>) {
    let resume = resume.map(|(c, s)| json!({"connection": c, "last_seq": s}));
    send(ws, json!({"v": 1, "type": "hello", "resume": resume})).await;
}

async fn command(ws: &mut Ws, id: &str, name: &str, args: Value) {
    send(
        ws,
        json!({"v": 1, "type": "command", "id": id, "command": name, "args": args}),
    )
    .await;
}

/// The next server message; panics on a close.
async fn next(ws: &mut Ws) -> Value {
    loop {
        let frame = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("a message in time")
            .expect("socket open")
            .expect("frame");
        match frame {
            Message::Text(text) => return serde_json::from_str(&text).expect("json"),
            Message::Close(c) => panic!("closed: {c:?}"),
            _ => {}
        }
    }
}

/// Messages up to and including the first of `kind`.
async fn until(ws: &mut Ws, kind: &str) -> Vec<Value> {
    let mut seen = vec![];
    loop {
        let m = next(ws).await;
        let done = m["type"] == kind;
        seen.push(m);
        if done {
            return seen;
        }
    }
}

/// The close code the server ends with (messages before it are skipped).
async fn close_code(ws: &mut Ws) -> u16 {
    loop {
        let frame = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("a close in time");
        match frame {
            Some(Ok(Message::Close(Some(c)))) => return u16::from(c.code),
            Some(Ok(Message::Close(None))) | None | Some(Err(_)) => {
                panic!("closed without a code")
            }
            Some(Ok(_)) => {}
        }
    }
}

/// Opens a desktop and reads its welcome and snapshot.
async fn desktop(addr: SocketAddr, ticket: &str) -> (Ws, Value, Value) {
    let mut ws = connect(addr, ticket).await;
    hello(&mut ws, None).await;
    let welcome = next(&mut ws).await;
    let snapshot = next(&mut ws).await;
    assert_eq!(welcome["type"], "welcome");
    assert_eq!(snapshot["type"], "snapshot");
    (ws, welcome, snapshot)
}

fn publish_call(bus: &Bus, seq: u32, kind: EventKind) {
    bus.publish(Change::Call(CallEvent {
        protocol: "20261207-000042".parse().expect("protocol"),
        seq,
        at_ms: 2_000,
        kind,
    }));
}

fn offer_to(bus: &Bus, agent: &str, restricted: bool) {
    publish_call(
        bus,
        0,
        EventKind::Offered {
            call_id: "c".into(),
            a_number: "61999990000".into(),
            b_number: "08001234".into(),
            service: "sac".into(),
            source: "trunk".into(),
            restricted,
        },
    );
    let acd = |event: Value| -> EventKind {
        serde_json::from_value(json!({"kind": "acd", "event": event})).expect("acd event")
    };
    publish_call(
        bus,
        1,
        acd(
            json!({"kind": "queue_entered", "call": "20261207-000042", "queue": "sac", "position": 1, "priority": 0}),
        ),
    );
    publish_call(
        bus,
        2,
        acd(
            json!({"kind": "offered", "call": "20261207-000042", "agent": agent, "queue": "sac", "waited_ms": 4000}),
        ),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_desktop_gets_welcome_snapshot_then_its_own_events_in_gapless_seq() {
    let s = server(settings()).await;
    let (mut ws, welcome, snapshot) = desktop(s.addr, "ana").await;
    assert_eq!(welcome["seq"], 1);
    assert_eq!(welcome["v"], 1);
    assert_eq!(welcome["user"], "ana");
    assert_eq!(welcome["role"], "agent");
    assert_eq!(welcome["agent"], "1001");
    assert_eq!(welcome["resume_window_secs"], 60);
    assert_eq!(snapshot["seq"], 2);
    assert_eq!(snapshot["as_of_seq"], 2);
    assert_eq!(snapshot["agent"]["state"], "available");
    assert_eq!(
        snapshot["agents"].as_array().map(Vec::len),
        Some(1),
        "an agent sees only themself"
    );
    assert_eq!(snapshot["queues"][0]["queue"], "sac");
    assert_eq!(snapshot["figures"]["targets"]["aht_ms"], 481_000);

    // Another agent's change is not for ana; her own is, with the next seq.
    s.fake.set_agent("1002", AgentState::Paused, Some("almoço"));
    s.fake.set_agent("1001", AgentState::Paused, Some("almoço"));
    let m = next(&mut ws).await;
    assert_eq!(m["seq"], 3);
    assert_eq!(m["type"], "agent_state");
    assert_eq!(m["agent"], "1001");
    assert_eq!(m["state"], "paused");
    assert_eq!(m["reason"], "almoço");

    // A call offered to her, with the screen pop and a masked private number.
    offer_to(&s.fake.bus, "1001", true);
    let m = next(&mut ws).await;
    assert_eq!(m["seq"], 4);
    assert_eq!(m["type"], "call_offered");
    assert_eq!(m["call"]["protocol"], "20261207-000042");
    assert_eq!(m["call"]["caller"], "restrito");
    assert_eq!(m["call"]["queue"], "sac");
    assert_eq!(m["call"]["waited_ms"], 4000);
    assert_eq!(
        m["call"]["url"],
        "https://crm.example/sac?p=20261207-000042"
    );

    // The client asks for a snapshot: it lists the ringing call.
    send(&mut ws, json!({"v": 1, "type": "snapshot_request"})).await;
    let m = next(&mut ws).await;
    assert_eq!(m["type"], "snapshot");
    assert_eq!(m["seq"], 5);
    assert_eq!(m["calls"][0]["state"], "ringing");
    assert_eq!(m["calls"][0]["agent"], "1001");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_gets_one_reply_and_its_events_carry_the_command_id() {
    let mut s = server(settings()).await;
    let (mut ws, _, _) = desktop(s.addr, "ana").await;

    command(&mut ws, "c1", "pause", json!({"reason": "almoço"})).await;
    let got = until(&mut ws, "reply").await;
    let reply = got.last().expect("reply");
    assert_eq!(reply["id"], "c1");
    assert_eq!(reply["ok"], true);
    let mut state = got.iter().find(|m| m["type"] == "agent_state").cloned();
    if state.is_none() {
        state = Some(next(&mut ws).await);
    }
    let state = state.expect("agent_state");
    assert_eq!(state["state"], "paused");
    assert_eq!(
        state["command_id"], "c1",
        "the event says which command caused it"
    );
    assert_eq!(
        s.commands.recv().await,
        Some(("1001".into(), "Pause { reason: \"almoço\" }".into()))
    );

    // The same id again: an error message, not a second reply.
    command(&mut ws, "c1", "ready", json!({})).await;
    let m = next(&mut ws).await;
    assert_eq!(m["type"], "error");
    assert_eq!(m["code"], "duplicate_id");

    let refusals = [
        ("c2", "fly", json!({}), "unknown_command"),
        ("c3", "pause", json!({}), "bad_args"),
        ("c4", "pause", json!({"reason": "cochilo"}), "bad_args"),
        (
            "c5",
            "hang_up",
            json!({"protocol": "20990101-000001"}),
            "not_found",
        ),
        ("c6", "answer", json!({}), "invalid_state"),
        (
            "c7",
            "dtmf",
            json!({"protocol": "x", "digits": "12x"}),
            "bad_args",
        ),
    ];
    for (id, name, args, code) in refusals {
        command(&mut ws, id, name, args).await;
        let m = next(&mut ws).await;
        assert_eq!(m["type"], "reply", "{id}");
        assert_eq!(m["id"], id);
        assert_eq!(m["ok"], false);
        assert_eq!(m["error"]["code"], code, "{id}");
        assert!(
            m["error"]["message"]
                .as_str()
                .is_some_and(|t| !t.is_empty()),
            "a message for the operator"
        );
    }

    // A call offered to ana can be answered; the call command reaches the call's owner.
    offer_to(&s.fake.bus, "1001", false);
    let offered = next(&mut ws).await;
    assert_eq!(offered["call"]["caller"], "61999990000");
    command(&mut ws, "c8", "answer", json!({})).await;
    let m = next(&mut ws).await;
    assert_eq!(
        (m["id"].clone(), m["ok"].clone()),
        (json!("c8"), json!(true))
    );
    assert_eq!(
        s.commands.recv().await,
        Some((
            "1001".into(),
            "Answer { protocol: \"20261207-000042\" }".into()
        ))
    );

    // A disposition for her call: reply, then `registered`.
    command(
        &mut ws,
        "c9",
        "register",
        json!({"protocol": "20261207-000042", "code": "resolvido", "note": "ok"}),
    )
    .await;
    let m = next(&mut ws).await;
    assert_eq!(
        (m["id"].clone(), m["ok"].clone()),
        (json!("c9"), json!(true))
    );
    let m = next(&mut ws).await;
    assert_eq!(m["type"], "registered");
    assert_eq!(m["command_id"], "c9");
    assert_eq!(m["code"], "resolvido");

    // Users without an agent cannot act on one.
    for ticket in ["sup", "aud"] {
        let (mut other, _, _) = desktop(s.addr, ticket).await;
        command(&mut other, "x", "ready", json!({})).await;
        let m = next(&mut other).await;
        assert_eq!(m["error"]["code"], "not_allowed", "{ticket}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_connection_gets_what_it_missed_with_the_original_seq() {
    let s = server(settings()).await;
    let (mut ws, welcome, _) = desktop(s.addr, "ana").await;
    let connection = welcome["connection"].as_str().expect("id").to_owned();
    s.fake.set_agent("1001", AgentState::Paused, Some("almoço"));
    assert_eq!(next(&mut ws).await["seq"], 3);
    drop(ws);

    // While away: two changes, numbered for this connection.
    tokio::time::sleep(Duration::from_millis(200)).await;
    s.fake.set_agent("1001", AgentState::Available, None);
    s.fake.set_agent("1001", AgentState::Paused, Some("almoço"));
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut ws = connect(s.addr, "ana").await;
    hello(&mut ws, Some((&connection, 3))).await;
    let resumed = next(&mut ws).await;
    assert_eq!(resumed["type"], "resumed");
    assert_eq!(resumed["replayed"], 2);
    let a = next(&mut ws).await;
    let b = next(&mut ws).await;
    assert_eq!(
        (a["seq"].clone(), a["state"].clone()),
        (json!(4), json!("available"))
    );
    assert_eq!(
        (b["seq"].clone(), b["state"].clone()),
        (json!(5), json!("paused"))
    );
    assert_eq!(
        resumed["seq"], 6,
        "resumed is numbered after what it replays"
    );
    s.fake.set_agent("1001", AgentState::Available, None);
    assert_eq!(next(&mut ws).await["seq"], 7);

    // Another user cannot take this connection over; an unknown one gets a fresh start.
    for (ticket, conn) in [("bruno", connection.as_str()), ("ana", "nope")] {
        let mut other = connect(s.addr, ticket).await;
        hello(&mut other, Some((conn, 1))).await;
        let w = next(&mut other).await;
        assert_eq!(w["type"], "welcome");
        assert_ne!(w["connection"], json!(connection));
        let r = next(&mut other).await;
        assert_eq!(r["type"], "resync_required");
        assert_eq!(r["reason"], "resume_expired");
        assert_eq!(next(&mut other).await["type"], "snapshot");
        if ticket == "ana" {
            // ana's new desktop took control: the old one is closed with 4009.
            assert_eq!(close_code(&mut ws).await, 4009);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_from_too_far_back_gets_a_resync_and_snapshot() {
    let mut small = settings();
    small.resume_buffer = 2;
    let s = server(small).await;
    let (ws, welcome, _) = desktop(s.addr, "ana").await;
    let connection = welcome["connection"].as_str().expect("id").to_owned();
    drop(ws);
    tokio::time::sleep(Duration::from_millis(200)).await;
    for _ in 0..3 {
        s.fake.set_agent("1001", AgentState::Paused, Some("almoço"));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut ws = connect(s.addr, "ana").await;
    hello(&mut ws, Some((&connection, 2))).await;
    let r = next(&mut ws).await;
    assert_eq!(r["type"], "resync_required");
    assert_eq!(r["reason"], "resume_expired");
    assert_eq!(r["seq"], 6, "same connection, seq goes on");
    let snap = next(&mut ws).await;
    assert_eq!(snap["type"], "snapshot");
    assert_eq!(snap["agent"]["version"], 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_desktop_for_the_same_agent_closes_the_first_with_4009() {
    let s = server(settings()).await;
    let (mut first, _, _) = desktop(s.addr, "ana").await;
    let (mut second, _, _) = desktop(s.addr, "ana").await;
    assert_eq!(close_code(&mut first).await, 4009);
    s.fake.set_agent("1001", AgentState::Paused, Some("almoço"));
    assert_eq!(next(&mut second).await["type"], "agent_state");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_and_origins_are_refused_with_their_close_codes() {
    let s = server(settings()).await;
    let own = format!("http://{}", s.addr);
    // (query, headers, expected close code)
    type Case = (String, Vec<(&'static str, String)>, u16);
    let cases: Vec<Case> = vec![
        ("".into(), vec![], 4001),
        ("?ticket=forged".into(), vec![], 4003),
        ("?ticket=old".into(), vec![], 4004),
        (
            "".into(),
            vec![
                ("cookie", "atende_session=ana".into()),
                ("origin", "http://evil.example".into()),
            ],
            4003,
        ),
        (
            "".into(),
            vec![("cookie", "atende_session=ana".into())],
            4003,
        ),
        (
            "?ticket=ana".into(),
            vec![("origin", "http://evil.example".into())],
            4003,
        ),
    ];
    for (query, headers, code) in cases {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let mut ws = connect_with(s.addr, &query, &headers, false).await;
        assert_eq!(close_code(&mut ws).await, code, "{query} {headers:?}");
    }
    for origin in [own.as_str(), "http://desk.example:9000"] {
        let mut ws = connect_with(
            s.addr,
            "",
            &[("cookie", "atende_session=ana"), ("origin", origin)],
            false,
        )
        .await;
        hello(&mut ws, None).await;
        assert_eq!(next(&mut ws).await["type"], "welcome", "{origin}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_malformed_messages_close_the_connection_with_4002() {
    let s = server(settings()).await;
    let (mut ws, _, _) = desktop(s.addr, "ana").await;
    for (bad, code) in [
        ("{", "malformed"),
        (r#"{"v":1,"type":"dance"}"#, "malformed"),
        (
            r#"{"v":9,"type":"snapshot_request"}"#,
            "unsupported_version",
        ),
        (r#"{"v":1,"type":"hello"}"#, "late_hello"),
    ] {
        ws.send(Message::Text(bad.into())).await.expect("send");
        let m = next(&mut ws).await;
        assert_eq!(m["type"], "error", "{bad}");
        assert_eq!(m["code"], code, "{bad}");
    }
    ws.send(Message::Binary(vec![1, 2, 3].into()))
        .await
        .expect("send");
    assert_eq!(close_code(&mut ws).await, 4002);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_sees_the_team_and_an_agent_only_their_own_calls() {
    let s = server(settings()).await;
    let (mut sup, welcome, snapshot) = desktop(s.addr, "sup").await;
    assert_eq!(welcome["agent"], Value::Null);
    assert_eq!(snapshot["agents"].as_array().map(Vec::len), Some(2));
    assert_eq!(snapshot["agent"], Value::Null);
    let (mut ana, _, _) = desktop(s.addr, "ana").await;
    offer_to(&s.fake.bus, "1002", false);
    s.fake.set_agent("1001", AgentState::Paused, Some("almoço"));
    let m = next(&mut sup).await;
    assert_eq!(m["type"], "call_offered");
    assert_eq!(m["call"]["protocol"], "20261207-000042");
    assert_eq!(next(&mut sup).await["agent"], "1001");
    // ana gets her own state change, never bruno's offer.
    let m = next(&mut ana).await;
    assert_eq!(m["type"], "agent_state");
    assert_eq!(m["agent"], "1001");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_desktop_gets_a_resync_and_snapshot_and_never_holds_the_bus() {
    let mut tight = settings();
    tight.outgoing_queue = 4;
    let s = server(tight).await;
    let mut ws = connect_with(s.addr, "?ticket=ana", &[], true).await;
    hello(&mut ws, None).await;
    // ana does not read while her agent changes many times (big frames: many queues).
    let queues: Vec<String> = (0..60)
        .map(|i| format!("fila-de-atendimento-{i:03}"))
        .collect();
    let mut last = 1;
    for round in 0..40 {
        for _ in 0..500 {
            last += 1;
            let mut change = agent_change("1001", last, AgentState::Paused, Some("almoço"));
            if let Change::Agent(a) = &mut change {
                a.queues = queues.clone();
                a.queues.push("sac".into());
            }
            s.fake.bus.publish(change);
        }
        // Let the hub keep up with the bus (it is the desktop that is slow, not the hub).
        if round % 2 == 1 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Now read everything: gapless seq, a lagged resync then a snapshot with the end state.
    let mut seq = 0;
    let mut resynced = false;
    loop {
        let m = next(&mut ws).await;
        seq += 1;
        assert_eq!(m["seq"], seq, "gapless");
        if m["type"] == "resync_required" {
            assert_eq!(m["reason"], "lagged");
            resynced = true;
        }
        let version = match m["type"].as_str() {
            Some("snapshot") => m["agent"]["version"].as_u64(),
            Some("agent_state") => m["version"].as_u64(),
            _ => None,
        };
        if version == Some(last) {
            break;
        }
    }
    assert!(resynced, "the slow desktop was told to resync");
}

/// A connection's task that falls behind the hub (here: busy with a snapshot whose figures
/// read is slow) is not waited for: once its fan-out is full it is marked, and it resyncs
/// with a snapshot of the latest state, never silently missing a change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_falls_behind_the_hub_resyncs() {
    let mut tight = settings();
    tight.fanout_queue = 1;
    let s = server(tight).await;
    let (mut ws, _, _) = desktop(s.addr, "sup").await;
    s.fake
        .figures_ms
        .store(300, std::sync::atomic::Ordering::Release);
    // The desktop asks for a snapshot; while its connection waits for the figures, ana's
    // agent changes ten times.
    send(&mut ws, json!({"v": 1, "type": "snapshot_request"})).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut last = 0;
    for _ in 0..10 {
        last = s.fake.set_agent("1001", AgentState::Paused, Some("almoço"));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut seq = None;
    let mut resynced = false;
    loop {
        let m = next(&mut ws).await;
        if let (Some(prev), Some(now)) = (seq, m["seq"].as_u64()) {
            assert_eq!(now, prev + 1, "gapless: {m}");
        }
        seq = m["seq"].as_u64();
        if m["type"] == "resync_required" {
            assert_eq!(m["reason"], "lagged", "{m}");
            resynced = true;
        }
        let latest = match m["type"].as_str() {
            Some("snapshot") => m["agents"]
                .as_array()
                .and_then(|a| a.iter().find(|a| a["agent"] == "1001"))
                .and_then(|a| a["version"].as_u64()),
            Some("agent_state") if m["agent"] == "1001" => m["version"].as_u64(),
            _ => None,
        };
        if resynced && latest == Some(last) {
            break;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_available_agent_whose_desktop_stays_away_is_paused_as_disconnected() {
    let mut quick = settings();
    quick.disconnect_grace = Duration::from_millis(300);
    let mut s = server(quick).await;
    let (ws, _, _) = desktop(s.addr, "ana").await;
    drop(ws);
    let (agent, what) = tokio::time::timeout(WAIT, s.commands.recv())
        .await
        .expect("a pause in time")
        .expect("a command");
    assert_eq!(agent, "1001");
    assert_eq!(what, "Pause { reason: \"disconnected\" }");
    // A paused agent's desktop dropping again pauses nothing more.
    let (mut ws, _, snapshot) = desktop(s.addr, "ana").await;
    let agent = if snapshot["agent"]["state"] == "paused" {
        snapshot["agent"].clone()
    } else {
        next(&mut ws).await
    };
    assert_eq!(agent["state"], "paused");
    assert_eq!(agent["reason"], "disconnected");
    drop(ws);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(s.commands.try_recv().is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_flow_and_an_expired_session_closes_with_4004() {
    let mut quick = settings();
    quick.heartbeat = Duration::from_millis(300);
    let s = server(quick).await;
    let (mut ws, welcome, _) = desktop(s.addr, "ana").await;
    assert_eq!(welcome["heartbeat_secs"], 0);
    let hb = next(&mut ws).await;
    assert_eq!(hb["type"], "heartbeat");
    assert!(hb["server_time_ms"].as_i64().is_some_and(|t| t > 0));
    s.fake.expired.lock().expect("lock").push("s-ana".into());
    assert_eq!(close_code(&mut ws).await, 4004);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_desktop_back_within_the_grace_time_leaves_the_agent_available() {
    let mut quick = settings();
    quick.disconnect_grace = Duration::from_millis(800);
    let mut s = server(quick).await;
    let (ws, welcome, _) = desktop(s.addr, "ana").await;
    let connection = welcome["connection"].as_str().expect("id").to_owned();
    drop(ws);
    let mut ws = connect(s.addr, "ana").await;
    hello(&mut ws, Some((&connection, 2))).await;
    let resumed = next(&mut ws).await;
    assert_eq!(resumed["type"], "resumed");
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert!(
        s.commands.try_recv().is_err(),
        "no pause for an agent whose desktop came back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn figures_follow_a_call_without_a_snapshot_for_those_who_see_the_agent() {
    let s = server(settings()).await;
    let (mut ana, _, _) = desktop(s.addr, "ana").await;
    let (mut sup, _, _) = desktop(s.addr, "sup").await;
    let (mut bruno, _, _) = desktop(s.addr, "bruno").await;
    s.fake.set_agent("1001", AgentState::OnCall, None);
    let seen = until(&mut ana, "figures").await;
    assert_eq!(seen[0]["type"], "agent_state", "{seen:?}");
    let figures = seen.last().expect("figures");
    assert_eq!(figures["targets"]["aht_ms"], 481_000, "{figures}");
    until(&mut sup, "figures").await;
    // The talk is over: again.
    s.fake.set_agent("1001", AgentState::Available, None);
    until(&mut ana, "figures").await;
    // bruno does not see 1001: nothing for him but what he asks for.
    s.fake.set_agent("1002", AgentState::Paused, Some("almoço"));
    let m = next(&mut bruno).await;
    assert_eq!(m["type"], "agent_state", "{m}");
    assert_eq!(m["agent"], "1002", "{m}");
    send(&mut bruno, json!({"v": 1, "type": "snapshot_request"})).await;
    assert_eq!(next(&mut bruno).await["type"], "snapshot");
}
