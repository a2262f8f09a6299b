//! CTI fan-out benchmark: how many desktops one hub serves, and how fast a change reaches
//! the last of them.
//!
//! `cargo bench --bench cti -- [--clients N] [--changes M] [--interval-ms MS] [--agents A]
//! [--queues Q]` starts the real hub in-process (real bus, real axum websocket endpoint on
//! 127.0.0.1) with a bench `Backend` that takes `?ticket=u<i>` as a supervisor scoped to
//! every queue, so every client sees every agent change. N desktops (default 10,000) are
//! opened by a second process (this same binary re-run with `--client-process`), so the
//! figures of this process are the server's alone: RSS per connection (after minus before
//! ÷ N) and CPU seconds for the connects and for the fan-out. Once every desktop has its
//! snapshot, M agent changes (default 200, 20 ms apart) are published on the bus; for each
//! change the latency from publish to the LAST desktop receiving it is measured (wall
//! clock, same machine, both processes) and reported as p50/p99/max. Target: p99 < 20 ms.
//!
//! `--supervisors S` makes a floor as a contact center has it instead of the worst case:
//! S supervisors, each of one queue, and one desktop per agent (`clients - S` agents, each
//! desktop seeing its own agent), so a change reaches its agent's desktop and the
//! supervisors of the agent's queue; the latency is to the last desktop it reaches.
//!
//! `--floor` measures the machine instead of atende: the same desktops (same client
//! process, same handshake) are served by a bare websocket accept, and each change is one
//! prebuilt frame written straight to every socket by two plain threads (one per core):
//! what the kernel's loopback TCP and the client cost alone. atende's latency over this
//! floor is the hub's own share.
//!
//! Under `cargo test --benches` it runs a 20-client smoke so the harness keeps working.
//! Limits: loopback only; the client process shares the machine's cores with the server,
//! so its CPU (reported separately) weighs on the latency too.

#[path = "common/desktops.rs"]
mod desktops;

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use desktops::{cpu_secs, raise_nofile, rss_kb, wall_ns};

use atende::bus::{AgentChange, AgentState, Bus, Change, QueueChange};
use atende::cti::backend::{
    AgentCommand, AuthError, BoxFuture, CallCommand, CommandError, Credential, InitialState,
    Outcome, PopRequest, Registration, ScreenPop, Verdicts,
};
use atende::cti::protocol::{ErrorCode, Figures};
use atende::cti::{Backend, CtiSettings, Hub, HubSettings};
use atende::users::{Principal, Role};
use tokio::sync::Notify;

/// First agent number; agents are `AGENT_BASE..AGENT_BASE + agents`.
const AGENT_BASE: u64 = 5000;

struct Args {
    floor: bool,
    clients: usize,
    changes: usize,
    interval_ms: u64,
    agents: usize,
    queues: usize,
    /// `--supervisors S`: a floor as a contact center has it (S supervisors, each of one
    /// queue, and one agent desktop per agent, `clients - S` of them, each seeing its own
    /// state); without it every desktop is a supervisor of every queue (the worst case).
    supervisors: Option<usize>,
}

impl Args {
    /// The desktops change `i` reaches: every one in the worst case; on a mixed floor the
    /// agent's own desktop and the supervisors of the agent's queue.
    fn recipients(&self, i: usize) -> usize {
        let Some(supervisors) = self.supervisors else {
            return self.clients;
        };
        let queue = (i % self.agents) % self.queues;
        let of_queue = (0..supervisors)
            .filter(|s| s % self.queues == queue)
            .count();
        of_queue + 1
    }
}

fn args(argv: &[String]) -> Args {
    let get = |name: &str, default: usize| {
        argv.iter()
            .position(|a| a == name)
            .and_then(|i| argv.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let bench = argv.iter().any(|a| a == "--bench");
    let (clients, changes) = if bench { (10_000, 200) } else { (20, 5) };
    let clients = get("--clients", clients).max(1);
    let supervisors = argv
        .iter()
        .any(|a| a == "--supervisors")
        .then(|| get("--supervisors", 0).min(clients - 1));
    let floor = argv.iter().any(|a| a == "--floor");
    assert!(
        !(floor && supervisors.is_some()),
        "--floor writes every change to every desktop: it has no mixed floor"
    );
    Args {
        floor,
        clients,
        changes: get("--changes", changes).max(1),
        interval_ms: get("--interval-ms", 20) as u64,
        // One agent per agent desktop on a mixed floor (a second desktop for the same
        // agent would replace the first).
        agents: match supervisors {
            Some(s) => clients - s,
            None => get("--agents", 100).max(1),
        },
        queues: get("--queues", 10).max(1),
        supervisors,
    }
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    raise_nofile();
    let a = args(&argv);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    if let Some(i) = argv.iter().position(|x| x == "--client-process") {
        let addr: SocketAddr = argv
            .get(i + 1)
            .and_then(|s| s.parse().ok())
            .expect("--client-process ADDR");
        runtime.block_on(clients(addr, a));
    } else {
        runtime.block_on(server(a));
    }
}

fn queue_name(q: usize) -> String {
    format!("fila-{q}")
}

fn agent_change(agent: u64, version: u64, queue: String, paused: bool) -> AgentChange {
    AgentChange {
        agent: agent.to_string(),
        version,
        state: if paused {
            AgentState::Paused
        } else {
            AgentState::Available
        },
        reason: paused.then(|| "almoço".to_owned()),
        call: None,
        since_ms: 1_000,
        queues: vec![queue],
        next_state: None,
    }
}

/// Authenticates any `u<i>` ticket: as a supervisor of every queue, or on a mixed floor
/// (`--supervisors S`) `u0..uS` as supervisors of queue `i % queues` and the others as
/// agent `AGENT_BASE + i - S`'s own desktop; acts on nothing.
struct BenchBackend {
    agents: usize,
    queues: usize,
    supervisors: Option<usize>,
}

impl BenchBackend {
    fn supervisor(&self, token: &str) -> Result<Principal, AuthError> {
        let i: usize = token
            .strip_prefix('u')
            .and_then(|n| n.parse().ok())
            .ok_or(AuthError::Bad)?;
        let (role, agent, queues) = match self.supervisors {
            None => (
                Role::Supervisor,
                None,
                (0..self.queues).map(queue_name).collect(),
            ),
            Some(s) if i < s => (Role::Supervisor, None, vec![queue_name(i % self.queues)]),
            Some(s) => {
                let agent = i - s;
                (
                    Role::Agent,
                    Some((AGENT_BASE + agent as u64).to_string()),
                    vec![queue_name(agent % self.queues)],
                )
            }
        };
        Ok(Principal {
            user: token.to_owned(),
            role,
            agent,
            queues,
            agents: Vec::new(),
            teams: Vec::new(),
            session: token.to_owned(),
        })
    }
}

fn refused<'a>() -> BoxFuture<'a, Result<Outcome, CommandError>> {
    Box::pin(async { Err(CommandError::new(ErrorCode::NotAllowed, "bench")) })
}

impl Backend for BenchBackend {
    fn authenticate(&self, credential: Credential) -> BoxFuture<'_, Result<Principal, AuthError>> {
        let (Credential::Session(t) | Credential::Ticket(t)) = credential;
        Box::pin(async move { self.supervisor(&t) })
    }

    fn revalidate_many(&self, sessions: Vec<String>) -> BoxFuture<'_, Option<Verdicts>> {
        Box::pin(async move {
            Some(
                sessions
                    .into_iter()
                    .map(|session| {
                        let verdict = self.supervisor(&session);
                        (session, verdict)
                    })
                    .collect(),
            )
        })
    }

    fn agent_command(
        &self,
        _: Principal,
        _: String,
        _: AgentCommand,
    ) -> BoxFuture<'_, Result<Outcome, CommandError>> {
        refused()
    }

    fn call_command(
        &self,
        _: Principal,
        _: String,
        _: CallCommand,
    ) -> BoxFuture<'_, Result<Outcome, CommandError>> {
        refused()
    }

    fn register(
        &self,
        _: Principal,
        _: String,
        _: Registration,
    ) -> BoxFuture<'_, Result<Outcome, CommandError>> {
        refused()
    }

    fn screen_pop(&self, _: PopRequest) -> BoxFuture<'_, ScreenPop> {
        Box::pin(async { ScreenPop::default() })
    }

    fn initial_state(&self) -> BoxFuture<'_, InitialState> {
        let agents = (0..self.agents)
            .map(|i| agent_change(AGENT_BASE + i as u64, 1, queue_name(i % self.queues), false))
            .collect();
        let queues = (0..self.queues)
            .map(|q| QueueChange {
                queue: queue_name(q),
                version: 1,
                open: true,
                waiting: 0,
                oldest_since_ms: None,
                staffed: self.agents / self.queues,
                available: self.agents / self.queues,
                closed_by_hand: false,
                priority: None,
            })
            .collect();
        Box::pin(async move { InitialState { agents, queues } })
    }

    fn figures(&self, _: Principal) -> BoxFuture<'_, Option<Figures>> {
        Box::pin(async { None })
    }
}

/// Change `i` moves agent `AGENT_BASE + i % agents` to its next version.
fn change(i: usize, agents: usize, queues: usize) -> Change {
    let agent = i % agents;
    let version = (i / agents) as u64 + 2;
    Change::Agent(agent_change(
        AGENT_BASE + agent as u64,
        version,
        queue_name(agent % queues),
        version.is_multiple_of(2),
    ))
}

/// The change index of an `agent_state` frame (a cheap scan: the client process must
/// leave the cores to the server).
fn change_index(text: &str, agents: usize) -> Option<usize> {
    if !text.contains("\"type\":\"agent_state\"") {
        return None;
    }
    let field = |name: &str| -> Option<u64> {
        let at = text.find(name)? + name.len();
        let digits: String = text[at..]
            .trim_start_matches('"')
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    };
    let agent = field("\"agent\":")?.checked_sub(AGENT_BASE)? as usize;
    let version = field("\"version\":")?.checked_sub(2)? as usize;
    Some(version * agents + agent)
}

/// Where the bench publishes its changes: atende's bus, or the floor's bare writers.
enum Publisher {
    Hub(Bus),
    Floor(floor::Writers),
}

impl Publisher {
    fn publish(&self, i: usize, a: &Args) {
        match self {
            Publisher::Hub(bus) => bus.publish(change(i, a.agents, a.queues)),
            Publisher::Floor(writers) => writers.publish(i, a.agents, a.queues),
        }
    }
}

async fn server(a: Args) {
    let (publisher, addr) = if a.floor {
        let (writers, addr) = floor::serve().await;
        (Publisher::Floor(writers), addr)
    } else {
        let (bus, addr) = serve_hub(&a).await;
        (Publisher::Hub(bus), addr)
    };
    measure(a, publisher, addr).await;
}

/// The real hub and its websocket endpoint on 127.0.0.1.
async fn serve_hub(a: &Args) -> (Bus, SocketAddr) {
    let bus = Bus::new(None);
    let backend = Arc::new(BenchBackend {
        agents: a.agents,
        queues: a.queues,
        supervisors: a.supervisors,
    });
    let hub = Hub::start(
        backend,
        &bus,
        HubSettings::new(&CtiSettings::default(), vec![]),
    )
    .await;
    let app = atende::api::with_cti(axum::Router::new(), hub);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (bus, addr)
}

async fn measure(a: Args, publisher: Publisher, addr: SocketAddr) {
    let rss_before = rss_kb();
    let cpu_before = cpu_secs();
    let desktops::ClientProcess {
        mut child,
        stdin: mut to_child,
        mut lines,
    } = desktops::spawn_client_process(
        &[
            "--client-process".to_owned(),
            addr.to_string(),
            "--clients".into(),
            a.clients.to_string(),
            "--changes".into(),
            a.changes.to_string(),
            "--interval-ms".into(),
            a.interval_ms.to_string(),
            "--agents".into(),
            a.agents.to_string(),
            "--queues".into(),
            a.queues.to_string(),
        ]
        .into_iter()
        .chain(
            a.supervisors
                .into_iter()
                .flat_map(|s| ["--supervisors".to_owned(), s.to_string()]),
        )
        .collect::<Vec<_>>(),
    );

    let who = match a.supervisors {
        None => format!("supervisors of all {} queues", a.queues),
        Some(s) => format!(
            "{s} supervisors of one of {} queues each and {} agents' own desktops: a change reaches its agent and its queue's supervisors",
            a.queues,
            a.clients - s
        ),
    };
    println!(
        "CTI bench{}: {} desktops ({who}), {} agents, {} changes {} ms apart",
        if a.floor {
            " (FLOOR: bare sockets, not atende)"
        } else {
            ""
        },
        a.clients,
        a.agents,
        a.changes,
        a.interval_ms
    );
    let started = Instant::now();
    let ready = lines.recv().await.expect("client process reports");
    let connect_secs = started.elapsed().as_secs_f64();
    let (ok, failed) = match ready.split_whitespace().collect::<Vec<_>>()[..] {
        ["ready", ok, failed] => (
            ok.parse::<usize>().unwrap_or(0),
            failed.parse::<usize>().unwrap_or(0),
        ),
        _ => panic!("client process said {ready:?}"),
    };
    // Let the server's connection tasks settle before reading its memory.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_connected = rss_kb();
    let cpu_connected = cpu_secs();

    let mut published = Vec::with_capacity(a.changes);
    let mut tick = tokio::time::interval(Duration::from_millis(a.interval_ms.max(1)));
    for i in 0..a.changes {
        tick.tick().await;
        published.push(wall_ns());
        publisher.publish(i, &a);
    }
    let _ = writeln!(to_child, "published");

    let mut last = vec![None; a.changes];
    let mut client_cpu = 0.0;
    let mut client_rss = 0;
    while let Some(line) = lines.recv().await {
        match line.split_whitespace().collect::<Vec<_>>()[..] {
            ["change", i, count, ns] => {
                let (Ok(i), Ok(count), Ok(ns)) = (
                    i.parse::<usize>(),
                    count.parse::<usize>(),
                    ns.parse::<u64>(),
                ) else {
                    continue;
                };
                if i < a.changes && count == a.recipients(i) && ok == a.clients {
                    last[i] = Some(ns);
                }
            }
            ["client", cpu, rss] => {
                client_cpu = cpu.parse().unwrap_or(0.0);
                client_rss = rss.parse().unwrap_or(0);
            }
            ["done"] => break,
            _ => {}
        }
    }
    let cpu_fanout = cpu_secs() - cpu_connected;
    // What a connection holds once events flowed (its resume buffer keeps them).
    let rss_after = rss_kb();
    let _ = child.wait();

    let mut ms: Vec<f64> = last
        .iter()
        .zip(&published)
        .filter_map(|(l, p)| l.map(|l| l.saturating_sub(*p) as f64 / 1e6))
        .collect();
    let undelivered = a.changes - ms.len();
    ms.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        ms.get(((ms.len() as f64 * p).ceil() as usize).saturating_sub(1))
            .copied()
            .unwrap_or(f64::NAN)
    };
    let per_conn_kb = rss_connected.saturating_sub(rss_before) as f64 / ok.max(1) as f64;
    println!("--- CTI fan-out summary ---");
    println!("desktops connected with snapshot: {ok} (failed {failed}) in {connect_secs:.1} s");
    // Frames delivered: each complete change to each desktop it reaches.
    let frames: usize = (0..a.changes)
        .filter(|i| last[*i].is_some())
        .map(|i| a.recipients(i))
        .sum();
    println!(
        "publish → last desktop it reaches (ms, over {} changes to {} desktops each on average): p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}  (target p99 < 20)",
        ms.len(),
        frames / ms.len().max(1),
        pct(0.50),
        pct(0.90),
        pct(0.99),
        ms.last().copied().unwrap_or(f64::NAN)
    );
    println!("changes not delivered to every desktop: {undelivered}");
    println!(
        "server RSS: {rss_before} KiB before, {rss_connected} KiB connected → {per_conn_kb:.1} KiB per connection"
    );
    println!(
        "server RSS after the {} changes: {rss_after} KiB → {:.1} KiB per connection",
        a.changes,
        rss_after.saturating_sub(rss_before) as f64 / ok.max(1) as f64
    );
    println!(
        "server CPU: {:.2} s for the connects, {cpu_fanout:.2} s for the fan-out ({:.1} µs per delivered frame)",
        cpu_connected - cpu_before,
        cpu_fanout * 1e6 / frames.max(1) as f64
    );
    println!("client process (not the server): CPU {client_cpu:.2} s, RSS {client_rss} KiB");
    if a.floor {
        // What no hub can beat on this machine: the kernel's own cost of the writes.
        let per_frame_us = cpu_fanout * 1e6 / frames.max(1) as f64;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let cpu_ms = per_frame_us * ok as f64 / 1e3;
        println!(
            "floor: bare writes cost {per_frame_us:.1} µs of CPU per frame, so one change to {ok} desktops is {cpu_ms:.1} ms of CPU: at least {:.1} ms on this machine's {cores} cores before any desktop reads",
            cpu_ms / cores as f64
        );
    }
    let verdict = pct(0.99) < 20.0 && undelivered == 0 && failed == 0;
    println!("verdict: {}", if verdict { "PASS" } else { "FAIL" });
    if !argv_has_bench() {
        // The smoke under `cargo test` must fail loudly if the harness stops working.
        assert_eq!(failed, 0, "every desktop connects");
        assert_eq!(undelivered, 0, "every change reaches every desktop");
    }
}

fn argv_has_bench() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// Per change: how many desktops got it and when the last one did.
struct Tally {
    count: Vec<AtomicU32>,
    last_ns: Vec<AtomicU64>,
    complete: AtomicU32,
    /// How many desktops each change reaches (`Args::recipients`).
    expect: Vec<u32>,
    all: Notify,
}

impl Tally {
    fn got(&self, i: usize) {
        let (Some(count), Some(last)) = (self.count.get(i), self.last_ns.get(i)) else {
            return;
        };
        last.fetch_max(wall_ns(), Ordering::Relaxed);
        if Some(&(count.fetch_add(1, Ordering::AcqRel) + 1)) == self.expect.get(i)
            && self.complete.fetch_add(1, Ordering::AcqRel) + 1 == self.count.len() as u32
        {
            self.all.notify_one();
        }
    }
}

/// The client process: opens the desktops, reports `ready OK FAILED`, tallies the
/// changes, reports `change I COUNT LAST_NS` per change, `client CPU RSS` and `done`.
async fn clients(addr: SocketAddr, a: Args) {
    // Filled once the connected count is known; until then nothing is published.
    let tally_cell = Arc::new(std::sync::OnceLock::<Arc<Tally>>::new());
    let cell = tally_cell.clone();
    let agents = a.agents;
    let on_frame: desktops::OnFrame = Arc::new(move |_, text| {
        if let Some(idx) = change_index(text, agents)
            && let Some(t) = cell.get()
        {
            t.got(idx);
        }
    });
    let queries = (0..a.clients).map(|i| format!("ticket=u{i}")).collect();
    let (ok, failed) = desktops::open_desktops(addr, queries, on_frame, Arc::new(|_| {})).await;
    let tally = Arc::new(Tally {
        count: (0..a.changes).map(|_| AtomicU32::new(0)).collect(),
        last_ns: (0..a.changes).map(|_| AtomicU64::new(0)).collect(),
        complete: AtomicU32::new(0),
        // Every desktop must connect for the counts to be right (the summary checks).
        expect: (0..a.changes).map(|i| a.recipients(i) as u32).collect(),
        all: Notify::new(),
    });
    let _ = tally_cell.set(tally.clone());
    println!("ready {ok} {failed}");

    // Every change delivered everywhere, or the publisher's time plus a grace.
    let patience =
        Duration::from_millis(a.interval_ms * a.changes as u64) + Duration::from_secs(15);
    let _ = tokio::time::timeout(patience, tally.all.notified()).await;
    // The publisher says when it is done (so a short wait above cannot cut it off).
    desktops::read_stdin_line().await;
    let mut out = std::io::stdout().lock();
    for i in 0..a.changes {
        let _ = writeln!(
            out,
            "change {i} {} {}",
            tally.count[i].load(Ordering::Acquire),
            tally.last_ns[i].load(Ordering::Acquire)
        );
    }
    let _ = writeln!(out, "client {:.2} {}", cpu_secs(), rss_kb());
    let _ = writeln!(out, "done");
    let _ = out.flush();
    // Closing 10,000 sockets one by one is not part of the measurement.
    std::process::exit(0);
}

/// The floor: a bare websocket accept and two writer threads, no hub.
mod floor {
    use std::io::Write;
    use std::net::SocketAddr;
    use std::sync::{Arc, Mutex, OnceLock, mpsc};

    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    /// The sockets accepted so far, handed to the writer threads at the first change.
    pub struct Writers {
        accepted: Arc<Mutex<Vec<std::net::TcpStream>>>,
        threads: OnceLock<Vec<mpsc::Sender<Arc<Vec<u8>>>>>,
    }

    /// Accepts desktops: the websocket handshake, their `hello`, a `snapshot` frame; then
    /// the plain TCP stream is kept for the writers.
    pub async fn serve() -> (Writers, SocketAddr) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let keep = accepted.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let keep = keep.clone();
                tokio::spawn(async move {
                    let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                        return;
                    };
                    let _hello = ws.next().await;
                    let snapshot = Message::Text(r#"{"v":1,"seq":1,"type":"snapshot"}"#.into());
                    if ws.send(snapshot).await.is_err() {
                        return;
                    }
                    let Ok(std) = ws.into_inner().into_std() else {
                        return;
                    };
                    let _ = std.set_nonblocking(false);
                    keep.lock().unwrap_or_else(|e| e.into_inner()).push(std);
                });
            }
        });
        let writers = Writers {
            accepted,
            threads: OnceLock::new(),
        };
        (writers, addr)
    }

    impl Writers {
        /// Writes change `i`'s frame (an `agent_state` the size of atende's) to every
        /// socket, half of them from each thread.
        pub fn publish(&self, i: usize, agents: usize, queues: usize) {
            let threads = self.threads.get_or_init(|| self.start());
            let agent = super::AGENT_BASE + (i % agents) as u64;
            let version = (i / agents) as u64 + 2;
            let body = format!(
                r#"{{"v":1,"seq":{},"type":"agent_state","agent":"{agent}","version":{version},"state":"paused","reason":"almoço","call":null,"since_ms":1000,"queues":["{}"],"next_state":null}}"#,
                i + 2,
                super::queue_name(i % agents % queues)
            );
            let frame = Arc::new(ws_text_frame(body.as_bytes()));
            for t in threads {
                let _ = t.send(frame.clone());
            }
        }

        fn start(&self) -> Vec<mpsc::Sender<Arc<Vec<u8>>>> {
            let mut all =
                std::mem::take(&mut *self.accepted.lock().unwrap_or_else(|e| e.into_inner()));
            let half = all.split_off(all.len() / 2);
            [all, half]
                .into_iter()
                .map(|mut sockets| {
                    let (tx, rx) = mpsc::channel::<Arc<Vec<u8>>>();
                    std::thread::spawn(move || {
                        while let Ok(frame) = rx.recv() {
                            for s in &mut sockets {
                                let _ = s.write_all(&frame);
                            }
                        }
                    });
                    tx
                })
                .collect()
        }
    }

    /// A server's (unmasked) websocket text frame.
    fn ws_text_frame(payload: &[u8]) -> Vec<u8> {
        let mut frame = vec![0x81];
        match payload.len() {
            n if n < 126 => frame.push(n as u8),
            n if n <= u16::MAX as usize => {
                frame.push(126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        frame.extend_from_slice(payload);
        frame
    }
}
