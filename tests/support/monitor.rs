//! The monitoring tests' shared set-up (issue 20: `tests/monitor.rs` by the API,
//! `tests/monitor_code.rs` by feature code): a server whose IVR sends the caller to queue
//! "pericia" and agent 1001, with two supervisors' phones (accounts 2001 and 2002) and
//! their users; the phones' sipp signalling around an RTP port the test owns (its
//! `RtpPeer`); the tone detector that tells who hears whom; and the call's log and the
//! audit log as the API shows them. Blocking, bounded waits, like the rest of the e2e
//! machinery.

use std::process::Child;
use std::time::Duration;

use serde_json::Value;

use super::in_process::set_in_process;
use super::ivr::{Hours, IvrOptions, Prompts};
use super::{
    ADMIN_HASH, ADMIN_PASSWORD, ADMIN_USER, Db, Server, free_port, free_rtp_range, login,
    raw_request, register_agent, scenario, sipp, wait_udp_bound,
};

/// The tones each party's phone sends (Hz): the test hears who reaches whom by them.
pub const CALLER: u32 = 440;
pub const AGENT: u32 = 1000;
pub const SUPERVISOR: u32 = 1500;

/// The supervisors' phones: accounts in no queue they log in to, so the ACD never offers
/// them a call. "sup" (scope pericia, phone 2001) may monitor agent 1001's calls; "far"
/// (geral only, phone 2002) may not; "ag1001" is the agent's own user.
const SUPERVISORS: &str = r#"
[[agents]]
id = "2001"
password = "pw2001"
pin = "1234"
queues = ["geral"]
auto_login = false

[[agents]]
id = "2002"
password = "pw2002"
pin = "1234"
queues = ["geral"]
auto_login = false

[[users]]
name = "sup"
role = "supervisor"
agent = "2001"
queues = ["pericia"]
password_hash = "HASH"

[[users]]
name = "far"
role = "supervisor"
agent = "2002"
queues = ["geral"]
password_hash = "HASH"

[[users]]
name = "ag1001"
role = "agent"
agent = "1001"
password_hash = "HASH"
"#;

/// A server (in process, for the floor's handles) with agent 1001 logged in to the IVR's
/// queues and the supervisors above; `extra` is added to the config's end ("HASH" in it
/// is the admin's password hash, as above).
pub fn server(db: Db, extra: &str) -> Server {
    set_in_process(true);
    Server::start_ivr_config(
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
        &format!("{SUPERVISORS}\n{extra}").replace("HASH", ADMIN_HASH),
    )
}

/// The amplitude of `freq` in `samples` (Goertzel; a full-scale sine of amplitude A
/// gives about A).
pub fn amplitude(samples: &[i16], freq: u32) -> f64 {
    let n = samples.len();
    if n == 0 {
        return 0.0;
    }
    let w = 2.0 * std::f64::consts::PI * freq as f64 / 8000.0;
    let c = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in samples {
        let s = x as f64 + c * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    let power = s1 * s1 + s2 * s2 - c * s1 * s2;
    2.0 * power.max(0.0).sqrt() / n as f64
}

/// Which of `among` (tones, Hz) `samples` hold, in the order given.
pub fn tones_among(samples: &[i16], among: &[u32]) -> Vec<u32> {
    among
        .iter()
        .copied()
        .filter(|f| amplitude(samples, *f) > 600.0)
        .collect()
}

/// `account`'s phone on `port`, answering after `ms`, its media at the test's
/// `rtp_port`. The phone's scenario has its own name, so several phones can ring at once.
pub fn media_phone(server: &Server, account: &str, port: u16, rtp_port: u16, ms: u64) -> Child {
    let dir = server.dir.path();
    let sf = scenario(
        dir,
        "agent_media.xml",
        &[
            ("ANSWER_AFTER_MS", ms.to_string()),
            ("RTP_PORT", rtp_port.to_string()),
        ],
    );
    let own = dir.join(format!("agent_media_{account}.xml"));
    std::fs::rename(&sf, &own).expect("the phone's scenario is renamed");
    let child = sipp(&[
        "-sf".into(),
        own.display().to_string(),
        "-i".into(),
        "127.0.0.1".into(),
        "-p".into(),
        port.to_string(),
        "-mi".into(),
        "127.0.0.1".into(),
        "-mp".into(),
        free_rtp_range(4).to_string(),
        "-m".into(),
        "1".into(),
    ])
    .spawn()
    .expect("phone sipp starts");
    wait_udp_bound(port);
    child
}

/// Agent 1001's phone, registered and answering after 500 ms with its media at
/// `rtp_port`.
pub fn agent_phone(server: &Server, rtp_port: u16) -> Child {
    let port = free_port();
    register_agent(server, "1001", port);
    media_phone(server, "1001", port, rtp_port, 500)
}

/// The call's log as `GET /api/calls/{protocol}` shows it.
pub fn events_of(server: &Server, protocol: &str) -> Vec<Value> {
    server.api(&format!("/api/calls/{protocol}"))["events"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The call's log once it holds `count` events of `kind` (10 s at most).
pub fn wait_events(server: &Server, protocol: &str, kind: &str, count: usize) -> Vec<Value> {
    for _ in 0..100 {
        let events = events_of(server, protocol);
        if events.iter().filter(|e| e["kind"] == kind).count() >= count {
            return events;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{kind} x{count} never logged for {protocol}");
}

/// `user`'s session cookie (every test user has the admin's password).
pub fn login_as(server: &Server, user: &str) -> String {
    login(server.http_port, user, ADMIN_PASSWORD)
        .expect("API")
        .unwrap_or_else(|| panic!("{user} logs in"))
}

/// An API request with `cookie`: its status and JSON body (`null` when not JSON).
pub fn request(
    server: &Server,
    method: &str,
    path: &str,
    cookie: &str,
    body: Option<&str>,
) -> (u16, Value) {
    let (status, _, body) = raw_request(
        server.http_port,
        method,
        path,
        &format!("Cookie: {cookie}\r\n"),
        body,
    )
    .expect("API");
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// The audit log's entries, as the admin reads them.
pub fn audit(server: &Server) -> Vec<Value> {
    let admin = login_as(server, ADMIN_USER);
    let (status, audit) = request(server, "GET", "/api/audit?limit=1000", &admin, None);
    assert_eq!(status, 200, "{audit}");
    audit["entries"].as_array().cloned().expect("entries")
}
