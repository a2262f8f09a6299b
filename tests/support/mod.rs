//! Shared machinery for end-to-end tests: a real `atende` process on loopback ports, real
//! sipp peers, generated audio, and checks on recordings. A missing tool fails the test
//! loudly with the command that installs it; nothing is skipped.

#![allow(dead_code)]

pub mod in_process;
pub mod ivr;
pub mod monitor;
pub mod records;

use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

/// The admin every test server has (the demo config's own `admin`), whose session the
/// helpers send when `auth` is true.
pub const ADMIN_USER: &str = "admin";
pub const ADMIN_PASSWORD: &str = "demo-admin";
/// `ADMIN_PASSWORD` as an argon2 PHC string.
pub const ADMIN_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$wHtIR3Vn5TurE29/1aMhLQ$33qEhSxcOw6c+mYs3wVV7uF7Z5rvpTJKrgXnll8lbOE";
pub const DID: &str = "08000000000";

/// Which database a test server uses.
pub enum Db {
    Sqlite,
    Postgres,
}

pub fn require(tool: &str) -> PathBuf {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .expect("sh runs");
    if !out.status.success() {
        panic!(
            "{tool} is not installed: run ./scripts/install-test-deps.sh (or the README's test command)"
        );
    }
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// Hands out blocks of ports from a per-process window below the kernel's ephemeral range
/// (32768+), so parallel tests never get overlapping ports — including ports inside an
/// RTP range atende has not bound yet.
fn reserve_block(n: u16) -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let (base, window) = if WHOLE_PORT_SPACE.load(Ordering::Relaxed) {
        (10000, 22000)
    } else {
        (10000 + (std::process::id() % 11) as u16 * 2000, 2000)
    };
    loop {
        let mut off = NEXT.fetch_add(n + 1, Ordering::Relaxed) % window;
        if off + n >= window {
            off = NEXT.fetch_add(window - off, Ordering::Relaxed) % window;
            if off + n >= window {
                continue;
            }
        }
        let start = (base + off + 1) & !1;
        if (start..start + n).all(|p| {
            UdpSocket::bind(("127.0.0.1", p)).is_ok() && TcpListener::bind(("127.0.0.1", p)).is_ok()
        }) {
            return start;
        }
    }
}

static WHOLE_PORT_SPACE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// RTP ports reserved for each sipp process (sipp takes a pair per call from its -mp up).
static SIPP_MEDIA_PORTS: AtomicU16 = AtomicU16::new(4);

/// The media workers' batch interval test servers use (atende's default: 5 ms).
static MEDIA_BATCH_MS: AtomicU16 = AtomicU16::new(5);

pub fn set_media_batch_ms(ms: u16) {
    MEDIA_BATCH_MS.store(ms, Ordering::Relaxed);
}

/// Whether test servers share RTP ports between legs (atende's default: no); the load
/// harness turns it on to compare.
static SHARED_PORTS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub fn set_shared_ports(on: bool) {
    SHARED_PORTS.store(on, Ordering::Relaxed);
}

/// `media.io_uring` of servers started from now on (the load harness's `--epoll` A/B).
static IO_URING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

pub fn set_io_uring(on: bool) {
    IO_URING.store(on, Ordering::Relaxed);
}

/// How long one sipp run may take before it fails (tests: 60 s; the load harness's long
/// holds need more).
static SIPP_TIMEOUT_SECS: AtomicU16 = AtomicU16::new(60);

pub fn set_sipp_timeout_secs(secs: u16) {
    SIPP_TIMEOUT_SECS.store(secs, Ordering::Relaxed);
}

pub fn set_sipp_media_ports(n: u16) {
    SIPP_MEDIA_PORTS.store(n, Ordering::Relaxed);
}

/// For the load harness, which runs alone and needs thousands of RTP ports: hand out ports
/// from all of 10000–31999 instead of a per-process window.
pub fn use_whole_port_space() {
    WHOLE_PORT_SPACE.store(true, Ordering::Relaxed);
}

/// A port free for both UDP and TCP on 127.0.0.1.
pub fn free_port() -> u16 {
    reserve_block(1)
}

/// Waits (up to 5 s) until something — a sipp phone just spawned — holds UDP `port`
/// (read from /proc/net/udp, never by binding it, which could take it from the phone), so
/// a request atende sends it at once is not lost to an unbound port.
pub fn wait_udp_bound(port: u16) {
    let needle = format!(":{port:04X}");
    let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::time::Instant::now() < until {
        let bound = ["/proc/net/udp", "/proc/net/udp6"].iter().any(|f| {
            std::fs::read_to_string(f).is_ok_and(|t| {
                t.lines().skip(1).any(|l| {
                    l.split_whitespace()
                        .nth(1)
                        .is_some_and(|local| local.ends_with(&needle))
                })
            })
        });
        if bound {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("nothing bound UDP port {port} within 5 s");
}

/// An even RTP base port with `n` ports free after it.
pub fn free_rtp_range(n: u16) -> u16 {
    reserve_block(n)
}

/// Writes an 8 kHz mono 16-bit WAV tone with sox.
pub fn wav_tone(path: &Path, freq: u32, secs: f32) {
    wav_tone_at(path, 8000, 1, freq, secs);
}

/// Writes a 16-bit WAV tone at `rate` Hz on `channels` channels with sox.
pub fn wav_tone_at(path: &Path, rate: u32, channels: u16, freq: u32, secs: f32) {
    require("sox");
    let st = Command::new("sox")
        .args([
            "-n",
            "-r",
            &rate.to_string(),
            "-c",
            &channels.to_string(),
            "-b",
            "16",
        ])
        .arg(path)
        .args([
            "synth",
            &secs.to_string(),
            "sine",
            &freq.to_string(),
            "vol",
            "0.5",
        ])
        .status()
        .expect("sox runs");
    assert!(st.success(), "sox could not write {}", path.display());
}

/// Writes a raw A-law tone for sipp's rtp_stream (sipp does not skip WAV headers).
pub fn alaw_tone(path: &Path, freq: u32, secs: f32) {
    require("sox");
    let st = Command::new("sox")
        .args(["-n", "-r", "8000", "-c", "1", "-t", "al"])
        .arg(path)
        .args([
            "synth",
            &secs.to_string(),
            "sine",
            &freq.to_string(),
            "vol",
            "0.5",
        ])
        .status()
        .expect("sox runs");
    assert!(st.success());
}

pub struct Server {
    pub dir: tempfile::TempDir,
    pub sip_port: u16,
    pub http_port: u16,
    /// The `atende serve` process; `None` when the server runs inside the test
    /// (`in_process::set_in_process`).
    child: Option<Child>,
    /// The server running inside the test, with its floor (bus, live calls, ACD).
    pub in_process: Option<in_process::InProcess>,
}

impl Server {
    /// Starts `atende serve` with a config for this test: its own ports, data dir and
    /// prompts (a 1 s 600 Hz welcome and a 300 Hz hold tone, easy to tell apart).
    pub fn start(db: Db, agents: &[&str]) -> Server {
        // sipp reads only the first challenge and knows only MD5.
        Server::start_with(db, agents, &["MD5", "SHA-256"])
    }

    /// As `start`, with the digest algorithms atende challenges with, in order.
    pub fn start_with(db: Db, agents: &[&str], digest_algorithms: &[&str]) -> Server {
        Server::start_sized(db, agents, digest_algorithms, 10)
    }

    /// As `start_with`, with RTP ports for `max_calls` bridged calls (4 ports each).
    pub fn start_sized(
        db: Db,
        agents: &[&str],
        digest_algorithms: &[&str],
        max_calls: u16,
    ) -> Server {
        let rtp_ports = max_calls * 4;
        let digest_algorithms = digest_algorithms
            .iter()
            .map(|a| format!("\"{a}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let dir = tempfile::tempdir().expect("tempdir");
        let prompts = dir.path().join("prompts/pt-BR");
        std::fs::create_dir_all(&prompts).unwrap();
        wav_tone(&prompts.join("welcome.wav"), 600, 1.0);
        wav_tone(&prompts.join("hold-music.wav"), 300, 3.0);
        let sip_port = free_port();
        let http_port = free_port();
        let rtp = free_rtp_range(rtp_ports);
        let db_url = match db {
            Db::Sqlite => format!("sqlite://{}/atende.db", dir.path().display()),
            Db::Postgres => atende::testkit::pg::fresh_pg_database(),
        };
        let agent_list = agents
            .iter()
            .map(|a| format!("\"{a}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let agent_accounts: String = agents
            .iter()
            .map(|a| format!("[[agents]]\nid = \"{a}\"\npassword = \"pw{a}\"\n\n"))
            .collect();
        let base = base_config(
            (sip_port, http_port),
            (rtp, rtp + rtp_ports - 2),
            &digest_algorithms,
            &db_url,
            dir.path(),
            &dir.path().join("prompts"),
        );
        let config = format!(
            r#"{base}[[routes]]
did = "{DID}"
service = "test"
[services.test]
welcome_prompt = "pt-BR/welcome"
hold_music = "pt-BR/hold-music"
agents = [{agent_list}]
ring_timeout_secs = 20

{agent_accounts}"#,
        );
        Server::launch(dir, &config, sip_port, http_port)
    }

    /// Stops the server (SIGTERM, as an operator's restart does) and starts it again on
    /// the same config, database and folders.
    pub fn restart(mut self) -> Server {
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tempdir"));
        let (sip_port, http_port) = (self.sip_port, self.http_port);
        let config = std::fs::read_to_string(dir.path().join("atende.toml")).expect("config");
        let log = std::fs::read_to_string(dir.path().join("atende.log")).unwrap_or_default();
        drop(self);
        std::fs::write(dir.path().join("atende.before-restart.log"), log).expect("keep log");
        Server::launch(dir, &config, sip_port, http_port)
    }

    /// Starts `atende serve` on a config written by the test (ports already chosen).
    pub fn launch(dir: tempfile::TempDir, config: &str, sip_port: u16, http_port: u16) -> Server {
        let config_path = dir.path().join("atende.toml");
        std::fs::write(&config_path, config).unwrap();
        if in_process::enabled() {
            let running = in_process::InProcess::start(&config_path);
            let server = Server {
                dir,
                sip_port,
                http_port,
                child: None,
                in_process: Some(running),
            };
            server.wait_healthy();
            return server;
        }
        let log = std::fs::File::create(dir.path().join("atende.log")).unwrap();
        // ATENDE_TEST_WRAPPER="heaptrack -o /tmp/ht" (or perf, valgrind…) runs the server
        // under a profiler; empty or unset runs it directly.
        let wrapper = std::env::var("ATENDE_TEST_WRAPPER").unwrap_or_default();
        let mut words = wrapper.split_whitespace();
        let mut command = match words.next() {
            Some(tool) => {
                let mut c = Command::new(tool);
                c.args(words).arg(env!("CARGO_BIN_EXE_atende"));
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_atende")),
        };
        let child = command
            .args(["serve", "--config"])
            .arg(&config_path)
            .env(
                "RUST_LOG",
                std::env::var("ATENDE_TEST_LOG")
                    .unwrap_or_else(|_| "info,rsipstack=warn,sqlx=warn".into()),
            )
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("atende starts");
        let server = Server {
            dir,
            sip_port,
            http_port,
            child: Some(child),
            in_process: None,
        };
        server.wait_healthy();
        server
    }

    fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if matches!(http_get(self.http_port, "/healthz", false), Ok((200, _))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("atende did not become healthy; log:\n{}", self.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("atende.log")).unwrap_or_default()
    }

    pub fn api(&self, path: &str) -> serde_json::Value {
        let (status, body) = http_get(self.http_port, path, true).expect("API reachable");
        assert_eq!(
            status,
            200,
            "GET {path}: {}",
            String::from_utf8_lossy(&body)
        );
        serde_json::from_slice(&body).expect("API returns JSON")
    }

    pub fn get(&self, path: &str, auth: bool) -> (u16, Vec<u8>) {
        http_get(self.http_port, path, auth).expect("HTTP reachable")
    }

    pub fn metric(&self, name: &str) -> f64 {
        let (_, body) = self.get("/metrics", false);
        String::from_utf8_lossy(&body)
            .lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
            .unwrap_or_else(|| panic!("metric {name} missing"))
    }

    pub fn sip_target(&self) -> String {
        format!("127.0.0.1:{}", self.sip_port)
    }

    fn child(&self) -> &Child {
        self.child
            .as_ref()
            .expect("a server process (not in-process)")
    }

    pub fn pid(&self) -> u32 {
        self.child().id()
    }

    pub fn alive(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// Sends `signal` (`TERM`, `KILL`, …) to the server process.
    pub fn signal(&self, signal: &str) {
        let st = Command::new("kill")
            .args([format!("-{signal}"), self.child().id().to_string()])
            .status()
            .expect("kill runs");
        assert!(st.success(), "kill -{signal} failed");
    }

    /// Waits up to `within` for the process to exit; its exit status, or `None`.
    pub fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(Ok(Some(st))) = self.child.as_mut().map(|c| c.try_wait()) {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // ATENDE_KEEP_TEST_DIR=1 keeps config, log, database and recordings for a look.
        if std::env::var_os("ATENDE_KEEP_TEST_DIR").is_some() {
            eprintln!("test dir kept: {}", self.dir.path().display());
            let _ = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tempdir")).keep();
        }
        if let Some(running) = self.in_process.take() {
            running.stop();
        }
        let Some(child) = self.child.as_mut() else {
            return;
        };
        let _ = Command::new("kill").arg(child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
    }
}

/// A tiny blocking HTTP/1.1 GET (keeps tests free of an async runtime).
pub fn http_get(port: u16, path: &str, auth: bool) -> std::io::Result<(u16, Vec<u8>)> {
    http_request(port, "GET", path, auth, None)
}

/// One HTTP/1.1 request with an optional JSON body; returns (status, body).
pub fn http_request(
    port: u16,
    method: &str,
    path: &str,
    auth: bool,
    json: Option<&str>,
) -> std::io::Result<(u16, Vec<u8>)> {
    if !auth {
        return raw_request(port, method, path, "", json).map(|(s, _, b)| (s, b));
    }
    // Log in once per server and reuse the session; log in again if it was refused (a
    // restart with a fresh database, a test revoking sessions).
    for fresh in [false, true] {
        let cookie = admin_cookie(port, fresh)?;
        let (status, _, body) =
            raw_request(port, method, path, &format!("Cookie: {cookie}\r\n"), json)?;
        if status != 401 || fresh {
            return Ok((status, body));
        }
    }
    unreachable!("the loop returns")
}

static SESSIONS: std::sync::Mutex<Vec<(u16, String)>> = std::sync::Mutex::new(Vec::new());

/// `atende_session=…` of the test admin on the server at `port` (`fresh`: log in anew).
fn admin_cookie(port: u16, fresh: bool) -> std::io::Result<String> {
    let mut sessions = SESSIONS.lock().unwrap_or_else(|e| e.into_inner());
    if !fresh && let Some((_, c)) = sessions.iter().find(|(p, _)| *p == port) {
        return Ok(c.clone());
    }
    let cookie = login(port, ADMIN_USER, ADMIN_PASSWORD)?
        .ok_or_else(|| std::io::Error::other("the test admin cannot log in"))?;
    sessions.retain(|(p, _)| *p != port);
    sessions.push((port, cookie.clone()));
    Ok(cookie)
}

/// `POST /api/login`: the `atende_session=…` cookie, or `None` when refused.
pub fn login(port: u16, user: &str, password: &str) -> std::io::Result<Option<String>> {
    let body = serde_json::json!({ "user": user, "password": password }).to_string();
    let (status, head, _) = raw_request(port, "POST", "/api/login", "", Some(&body))?;
    if status != 204 {
        return Ok(None);
    }
    Ok(head
        .split("\r\n")
        .filter_map(|l| l.split_once(':'))
        .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
        .find_map(|(_, v)| v.trim().split(';').next().map(str::to_owned)))
}

/// An API request with a session cookie: the status and the JSON body (`Null` when the
/// body is not JSON).
pub fn request_as(
    server: &Server,
    method: &str,
    path: &str,
    cookie: &str,
    json: Option<&str>,
) -> (u16, serde_json::Value) {
    let extra = format!("Cookie: {cookie}\r\n");
    let (status, _, body) =
        raw_request(server.http_port, method, path, &extra, json).expect("HTTP reachable");
    (
        status,
        serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    )
}

/// One HTTP/1.1 request with `extra` header lines: (status, head, body).
pub fn raw_request(
    port: u16,
    method: &str,
    path: &str,
    extra: &str,
    json: Option<&str>,
) -> std::io::Result<(u16, String, Vec<u8>)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let auth = extra;
    let body = json.unwrap_or("");
    let content = match json {
        Some(b) => format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        ),
        None => String::new(),
    };
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}{content}Connection: close\r\n\r\n{body}"
    )?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no HTTP header end"))?;
    let head = String::from_utf8_lossy(&buf[..split]).to_string();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut body = buf[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    Ok((status, head, body))
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&b[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 {
            return out;
        }
        let start = eol + 2;
        out.extend_from_slice(&b[start..(start + size).min(b.len())]);
        b = &b[(start + size + 2).min(b.len())..];
    }
}

/// Fills `{{KEY}}` placeholders of a scenario in tests/sipp/ and writes it to `dir`.
pub fn scenario(dir: &Path, name: &str, vars: &[(&str, String)]) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sipp")
        .join(name);
    let mut text = std::fs::read_to_string(&src).expect("scenario exists");
    for (k, v) in vars {
        text = text.replace(&format!("{{{{{k}}}}}"), v);
    }
    assert!(!text.contains("{{"), "unfilled placeholder in {name}");
    let out = dir.join(name);
    std::fs::write(&out, text).unwrap();
    out
}

/// A sipp process with bounded run time; stdout/stderr kept for the failure message.
pub fn sipp(args: &[String]) -> Command {
    let bin = require("sipp");
    let mut c = Command::new(bin);
    c.args(args)
        .args(["-nostdin", "-timeout"])
        .arg(format!("{}s", SIPP_TIMEOUT_SECS.load(Ordering::Relaxed)))
        .arg("-timeout_error")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

pub fn wait_ok(child: Child, what: &str, server: &Server) -> Output {
    let out = child.wait_with_output().expect("sipp ran");
    if !out.status.success() {
        panic!(
            "{what} failed ({}):\nstdout:\n{}\nstderr:\n{}\natende log:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            server.log()
        );
    }
    out
}

/// Zero crossings per second of a slice of 8 kHz samples: about twice the tone frequency.
pub fn crossings_per_sec(samples: &[i16]) -> f64 {
    let n = samples
        .windows(2)
        .filter(|w| (w[0] < 0) != (w[1] < 0))
        .count();
    n as f64 * 8000.0 / samples.len().max(1) as f64
}

pub fn rms(samples: &[i16]) -> f64 {
    let sum: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    (sum / samples.len().max(1) as f64).sqrt()
}

/// Registers `user` (password `pw<user>`) with its Contact at `contact_port`, via sipp.
pub fn register_agent(server: &Server, user: &str, contact_port: u16) {
    let password = format!("pw{user}");
    register_expecting(
        server,
        (user, &password),
        contact_port,
        "200",
        "agent registration",
    );
}

/// A REGISTER (sipp answering the challenge) as `user` with `password` and its Contact at
/// `contact_port`, whose final response must be `status`; `what` names it on failure.
pub fn register_expecting(
    server: &Server,
    (user, password): (&str, &str),
    contact_port: u16,
    status: &str,
    what: &str,
) {
    let reg = scenario(
        server.dir.path(),
        "register.xml",
        &[
            ("USER", user.into()),
            ("PASSWORD", password.into()),
            ("CONTACT_PORT", contact_port.to_string()),
            ("EXPECT", status.into()),
        ],
    );
    let child = sipp(&[
        server.sip_target(),
        "-sf".into(),
        reg.display().to_string(),
        "-i".into(),
        "127.0.0.1".into(),
        "-p".into(),
        free_port().to_string(),
        "-m".into(),
        "1".into(),
    ])
    .spawn()
    .expect("sipp starts");
    wait_ok(child, what, server);
}

/// Starts an agent phone (a sipp UAS running `scenario_file` from tests/sipp) on `port`
/// answering `calls` calls; `{{AUDIO}}` is a 1000 Hz A-law tone.
pub fn start_agent(
    server: &Server,
    scenario_file: &str,
    port: u16,
    calls: u32,
    vars: &[(&str, String)],
) -> Child {
    start_phone(server, scenario_file, port, calls, 1000, vars)
}

/// Starts a sipp UAS phone running `scenario_file` on `port` for `calls` calls, its
/// `{{AUDIO}}` an A-law tone of `freq` Hz.
pub fn start_phone(
    server: &Server,
    scenario_file: &str,
    port: u16,
    calls: u32,
    freq: u32,
    vars: &[(&str, String)],
) -> Child {
    let dir = server.dir.path();
    let audio = dir.join(format!("phone{freq}.al"));
    if !audio.exists() {
        alaw_tone(&audio, freq, 120.0);
    }
    let mut all = vec![("AUDIO", audio.display().to_string())];
    all.extend(vars.iter().cloned());
    let sf = scenario(dir, scenario_file, &all);
    let child = sipp(&[
        "-sf".into(),
        sf.display().to_string(),
        "-i".into(),
        "127.0.0.1".into(),
        "-p".into(),
        port.to_string(),
        "-mi".into(),
        "127.0.0.1".into(),
        "-mp".into(),
        free_rtp_range(SIPP_MEDIA_PORTS.load(Ordering::Relaxed)).to_string(),
        "-m".into(),
        calls.to_string(),
    ])
    .spawn()
    .expect("agent sipp starts");
    std::thread::sleep(Duration::from_millis(200));
    child
}

/// Starts `calls` sipp agent phones' answers (scenario `agent.xml`) on `port`, each
/// answering `answer_after_ms` after it rings and streaming 1000 Hz A-law.
pub fn start_answering_agent(
    server: &Server,
    port: u16,
    calls: u32,
    answer_after_ms: u64,
) -> Child {
    start_agent(
        server,
        "agent.xml",
        port,
        calls,
        &[("ANSWER_AFTER_MS", answer_after_ms.to_string())],
    )
}

/// The caller's audio in the server's folder `dir`: 120 s of 440 Hz A-law, written once.
pub fn caller_audio(dir: &Path) -> PathBuf {
    let audio = dir.join("caller.al");
    if !audio.exists() {
        alaw_tone(&audio, 440, 120.0);
    }
    audio
}

/// Starts trunk callers to the DID: 440 Hz A-law, the RFC 4733 digit 1 at `dtmf_at_ms`
/// after answer, BYE `talk_ms` later. `extra` adds sipp options (rate, limit, count).
pub fn start_caller(server: &Server, dtmf_at_ms: u64, talk_ms: u64, extra: &[&str]) -> Child {
    let dir = server.dir.path();
    let audio = caller_audio(dir);
    let sf = scenario(
        dir,
        "caller.xml",
        &[
            ("AUDIO", audio.display().to_string()),
            ("DTMF_AT_MS", dtmf_at_ms.to_string()),
            ("TALK_MS", talk_ms.to_string()),
        ],
    );
    let mut args = trunk_caller_args(server, &sf, SIPP_MEDIA_PORTS.load(Ordering::Relaxed));
    args.extend(extra.iter().map(|s| s.to_string()));
    if !extra.contains(&"-m") {
        args.extend(["-m".into(), "1".into()]);
    }
    sipp(&args).spawn().expect("caller sipp starts")
}

/// The config every test server shares: loopback SIP/HTTP `ports`, an RTP port range, its
/// own database and data folder, the prompts, and the test trunk (127.0.0.1). Callers add
/// their routes, services, queues and agents.
pub fn base_config(
    ports: (u16, u16),
    rtp: (u16, u16),
    digest_algorithms: &str,
    db_url: &str,
    data: &Path,
    prompts: &Path,
) -> String {
    let (sip_port, http_port) = ports;
    format!(
        r#"timezone = "America/Sao_Paulo"
[sip]
listen_udp = "127.0.0.1:{sip_port}"
listen_tcp = "127.0.0.1:{sip_port}"
digest_algorithms = [{digest_algorithms}]
[media]
rtp_ip = "127.0.0.1"
rtp_port_min = {}
rtp_port_max = {}
batch_ms = {}
shared_ports = {}
io_uring = {}
[http]
listen = "127.0.0.1:{http_port}"
[database]
url = "{db_url}"
[recording]
dir = "{}/recordings"
[prompts]
dir = "{}"
[[users]]
name = "{ADMIN_USER}"
role = "admin"
password_hash = "{ADMIN_HASH}"
[[trunks]]
name = "test-gateway"
allow = ["127.0.0.1"]
"#,
        rtp.0,
        rtp.1,
        MEDIA_BATCH_MS.load(Ordering::Relaxed),
        SHARED_PORTS.load(Ordering::Relaxed),
        IO_URING.load(Ordering::Relaxed),
        data.display(),
        prompts.display(),
    )
}

/// sipp's arguments for trunk callers dialing the DID with scenario `sf`, from their own
/// SIP port and a block of `media_ports` RTP ports on loopback.
pub fn trunk_caller_args(server: &Server, sf: &Path, media_ports: u16) -> Vec<String> {
    vec![
        server.sip_target(),
        "-sf".into(),
        sf.display().to_string(),
        "-s".into(),
        DID.into(),
        "-i".into(),
        "127.0.0.1".into(),
        "-p".into(),
        free_port().to_string(),
        "-mi".into(),
        "127.0.0.1".into(),
        "-mp".into(),
        free_rtp_range(media_ports).to_string(),
    ]
}

/// Waits until the newest call's log holds `kind`, and returns (protocol, events).
pub fn wait_for_event(server: &Server, kind: &str) -> (String, Vec<serde_json::Value>) {
    for _ in 0..100 {
        let calls = server.api("/api/calls");
        if let Some(call) = calls.as_array().and_then(|a| a.last()) {
            let protocol = call["protocol"].as_str().unwrap_or_default().to_owned();
            let detail = server.api(&format!("/api/calls/{protocol}"));
            let events = detail["events"].as_array().cloned().unwrap_or_default();
            if events.iter().any(|e| e["kind"] == kind) {
                return (protocol, events);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "no {kind} event in the newest call; atende log:\n{}",
        server.log()
    );
}

pub fn kinds(events: &[serde_json::Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["kind"].as_str().unwrap_or("?").to_owned())
        .collect()
}

pub fn event<'a>(events: &'a [serde_json::Value], kind: &str) -> &'a serde_json::Value {
    events
        .iter()
        .find(|e| e["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} event in {:?}", kinds(events)))
}

pub fn at_ms(events: &[serde_json::Value], kind: &str) -> i64 {
    event(events, kind)["at_ms"].as_i64().unwrap_or(0)
}

/// The call's recording as (left, right) channels, checked to be 8 kHz stereo in the
/// server's default format (A-law); the PCM copy the API converts must hold the same audio.
pub fn recording(server: &Server, protocol: &str) -> (Vec<i16>, Vec<i16>) {
    let (status, wav) = server.get(&format!("/api/calls/{protocol}/recording"), true);
    assert_eq!(status, 200, "recording download");
    let stored = atende::media::recording::wav::decode(&wav).expect("valid WAV");
    assert_eq!((stored.channels, stored.sample_rate), (2, 8000));
    assert_eq!(
        stored.format,
        atende::media::recording::RecordingFormat::Alaw
    );
    let (status, pcm) = server.get(
        &format!("/api/calls/{protocol}/recording?format=pcm16"),
        true,
    );
    assert_eq!(status, 200, "PCM download");
    let mut reader = hound::WavReader::new(std::io::Cursor::new(pcm)).expect("PCM WAV");
    let spec = reader.spec();
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (2, 8000, 16)
    );
    let samples: Vec<i16> = reader
        .samples::<i16>()
        .map(|s| s.expect("sample"))
        .collect();
    assert_eq!(samples, stored.samples, "the PCM copy is the same audio");
    (stored.channel(0), stored.channel(1))
}

/// Dials `code` from a phone authenticating as `account` (password `pw<account>`).
pub fn dial_feature_code(server: &Server, account: &str, code: &str) -> Output {
    let sf = scenario(
        server.dir.path(),
        "feature_code.xml",
        &[("USER", account.into())],
    );
    let child = sipp(&[
        server.sip_target(),
        "-sf".into(),
        sf.display().to_string(),
        "-s".into(),
        code.into(),
        "-i".into(),
        "127.0.0.1".into(),
        "-p".into(),
        free_port().to_string(),
        "-mi".into(),
        "127.0.0.1".into(),
        "-mp".into(),
        free_rtp_range(4).to_string(),
        "-au".into(),
        account.into(),
        "-ap".into(),
        format!("pw{account}"),
        "-m".into(),
        "1".into(),
    ])
    .spawn()
    .expect("feature code sipp starts");
    wait_ok(child, &format!("feature code {code}"), server)
}

/// Starts baresip on the config folder `dir` (its `config` and `accounts` written by the
/// test), its output in `dir/baresip.log`, stopping by itself after 40 s at the latest.
pub fn start_baresip(dir: &Path) -> Child {
    let log = std::fs::File::create(dir.join("baresip.log")).unwrap();
    Command::new("baresip")
        .arg("-f")
        .arg(dir)
        .args(["-t", "40"])
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .expect("baresip starts")
}

/// What the baresip started on `dir` has logged so far.
pub fn baresip_log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("baresip.log")).unwrap_or_default()
}

/// Waits (15 s at most) for the baresip on `dir` to register; `with` says how, shown with
/// both logs when it does not.
pub fn wait_baresip_registered(server: &Server, dir: &Path, with: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while server.metric("atende_registrations") < 1.0 {
        assert!(
            Instant::now() < deadline,
            "baresip did not register{with}; its log:\n{}\natende log:\n{}",
            baresip_log(dir),
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits for the `caller` sipp to end, then stops the baresip on `dir` (after giving it
/// time to see the BYE and close its files). The call must have succeeded; `what` names
/// it, with both logs, when it did not.
pub fn end_call_with_baresip(
    server: &Server,
    caller: Child,
    mut phone: Child,
    dir: &Path,
    what: &str,
) {
    let out = caller.wait_with_output().expect("caller ran");
    std::thread::sleep(Duration::from_millis(500));
    let _ = phone.kill();
    let _ = phone.wait();
    assert!(
        out.status.success(),
        "{what} failed: {}\nbaresip log:\n{}\natende log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        baresip_log(dir),
        server.log()
    );
}

/// A Python interpreter that can import `module`: Debian's `/usr/bin/python3` first (the
/// `python3` on PATH may be a pyenv shim without Debian's packages), then `python3`.
/// Fails loudly naming the Debian package when none has it.
pub fn python_with(module: &str, debian_package: &str) -> PathBuf {
    for candidate in ["/usr/bin/python3", "python3"] {
        let ok = Command::new(candidate)
            .args(["-c", &format!("import {module}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return PathBuf::from(candidate);
        }
    }
    panic!(
        "no python3 with the module {module}: install {debian_package} (run ./scripts/install-test-deps.sh)"
    );
}
