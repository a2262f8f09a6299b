//! CTI desktops for the benches, opened by a separate process (the bench's own binary re-run
//! with a client flag) so that the figures of the process under test are its own: the
//! process plumbing (spawn, line protocol over stdin/stdout), the desktop's opening
//! handshake (websocket, `hello`, until the `snapshot`), and the process figures (CPU,
//! RSS, wall clock) both sides report. Shared by `benches/cti.rs` (the hub in-process) and
//! `benches/load.rs` (the real server with desktops connected during its calls).
//!
//! Limits: loopback only; the client process shares the machine's cores with the server.

#![allow(dead_code)] // each bench uses its own part

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use tokio::sync::{Semaphore, mpsc};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Desktops opening their websocket at the same time (the listen backlog is finite).
pub const CONNECTING_AT_ONCE: usize = 256;

pub type Ws = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// Lets this process hold one descriptor per connection (the soft limit up to the hard).
pub fn raise_nofile() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

pub fn wall_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// CPU seconds (user + system) this process used so far.
pub fn cpu_secs() -> f64 {
    // SAFETY: getrusage fills a zeroed local struct.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

/// This process's resident memory in KiB.
pub fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// The client process, seen from the bench: its stdin, and its stdout's lines.
pub struct ClientProcess {
    pub child: Child,
    pub stdin: ChildStdin,
    pub lines: mpsc::UnboundedReceiver<String>,
}

/// Re-runs this bench's binary with `args` (which name the client mode), stdout read
/// line by line on a thread.
pub fn spawn_client_process(args: &[String]) -> ClientProcess {
    let exe = std::env::current_exe().expect("own executable");
    let mut child = Command::new(exe)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("client process starts");
    let stdin = child.stdin.take().expect("child stdin");
    let (lines_tx, lines) = mpsc::unbounded_channel::<String>();
    let stdout = child.stdout.take().expect("child stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    ClientProcess {
        child,
        stdin,
        lines,
    }
}

/// Reads one line of the client process's stdin (blocking, off the runtime).
pub async fn read_stdin_line() -> String {
    tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
        line.trim_end().to_owned()
    })
    .await
    .unwrap_or_default()
}

/// Opens a desktop at `ws://addr/api/cti?QUERY`: connect, hello, then frames until the
/// snapshot (what a desktop waits for before it shows anything).
pub async fn desktop(addr: SocketAddr, query: &str) -> Result<Ws, String> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    // Small buffers: the client process should weigh little next to the server.
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let (mut ws, _) = tokio_tungstenite::client_async_with_config(
        format!("ws://{addr}/api/cti?{query}"),
        stream,
        Some(config),
    )
    .await
    .map_err(|e| format!("handshake: {e}"))?;
    ws.send(Message::Text(r#"{"v":1,"type":"hello"}"#.into()))
        .await
        .map_err(|e| format!("hello: {e}"))?;
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(60), ws.next())
            .await
            .map_err(|_| "no snapshot in 60 s".to_owned())?
            .ok_or("closed before the snapshot")?
            .map_err(|e| format!("read: {e}"))?;
        if let Message::Text(text) = frame
            && text.contains("\"type\":\"snapshot\"")
        {
            return Ok(ws);
        }
    }
}

/// What a desktop does with each text frame after its snapshot: `(desktop index, text)`.
pub type OnFrame = Arc<dyn Fn(usize, &str) + Send + Sync>;

/// Opens a desktop per query, `CONNECTING_AT_ONCE` at a time, each then reading its frames
/// into `on_frame` until the connection ends (`on_closed` with its index). Returns
/// (opened, failed) once every desktop has been tried.
pub async fn open_desktops(
    addr: SocketAddr,
    queries: Vec<String>,
    on_frame: OnFrame,
    on_closed: Arc<dyn Fn(usize) + Send + Sync>,
) -> (usize, usize) {
    let total = queries.len();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<bool>();
    let gate = Arc::new(Semaphore::new(CONNECTING_AT_ONCE));
    for (i, query) in queries.into_iter().enumerate() {
        let gate = gate.clone();
        let done = done_tx.clone();
        let on_frame = on_frame.clone();
        let on_closed = on_closed.clone();
        tokio::spawn(async move {
            let permit = gate.acquire_owned().await;
            let ws = match desktop(addr, &query).await {
                Ok(ws) => ws,
                Err(e) => {
                    eprintln!("desktop {i}: {e}");
                    let _ = done.send(false);
                    return;
                }
            };
            drop(permit);
            let _ = done.send(true);
            let (_sink, mut stream) = ws.split();
            while let Some(Ok(frame)) = stream.next().await {
                if let Message::Text(text) = frame {
                    on_frame(i, &text);
                }
            }
            on_closed(i);
        });
    }
    drop(done_tx);
    let (mut ok, mut failed) = (0usize, 0usize);
    while ok + failed < total {
        match done_rx.recv().await {
            Some(true) => ok += 1,
            Some(false) => failed += 1,
            None => break,
        }
    }
    (ok, failed)
}
