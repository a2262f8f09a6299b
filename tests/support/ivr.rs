//! IVR and ACD end-to-end machinery: a server running the shipped flows (with a fixed
//! schedule and short synthetic prompts so a test takes seconds), queues and auto-logged-in
//! agents, RFC 4733 digit files sipp can replay, and a fake process-status HTTP service.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::{Arc, Mutex};

use super::*;

/// Whether the shipped `expediente` schedule is open (business hours) or closed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Hours {
    Open,
    Closed,
}

/// Which prompts an IVR test server plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prompts {
    /// Every prompt a 0.2 s tone: flows run in seconds.
    Short,
    /// The shipped pt-BR prompts, as callers hear them.
    Shipped,
}

pub struct IvrOptions<'a> {
    pub hours: Hours,
    /// Agents (password `pw<id>`) in the order the ACD prefers them on a tie.
    pub agents: &'a [&'a str],
    pub auto_login: bool,
    pub ring_timeout_secs: u64,
    /// Port of the fake process-status service the flow's http node is pointed at.
    pub http_port: Option<u16>,
}

impl IvrOptions<'static> {
    /// Business hours all day, no agents: callers stay with the IVR's prompts.
    pub fn open_without_agents() -> Self {
        IvrOptions {
            hours: Hours::Open,
            agents: &[],
            auto_login: false,
            ring_timeout_secs: 10,
            http_port: None,
        }
    }
}

impl<'a> IvrOptions<'a> {
    /// Business hours all day, `agents` logged in at start, rung 10 s each.
    pub fn open_with(agents: &'a [&'a str]) -> Self {
        IvrOptions {
            hours: Hours::Open,
            agents,
            auto_login: true,
            ring_timeout_secs: 10,
            http_port: None,
        }
    }
}

/// Copies the shipped flows, replacing only the schedule so the test does not depend on
/// the time of day it runs.
fn flows(dir: &Path, hours: Hours) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("ivr-flows");
    let out = dir.join("ivr-flows");
    std::fs::create_dir_all(&out).unwrap();
    for e in std::fs::read_dir(&src).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "yaml") {
            std::fs::copy(&p, out.join(p.file_name().unwrap())).unwrap();
        }
    }
    let entry = std::fs::read_to_string(out.join("entry.yaml")).unwrap();
    let start = entry.find("  expediente:").expect("expediente schedule");
    let end = entry.find("\nroutes:").expect("routes");
    let days = match hours {
        Hours::Open => r#"["00:00-24:00"]"#,
        Hours::Closed => "[]",
    };
    let sched = format!(
        "  expediente:\n    timezone: America/Sao_Paulo\n    weekly:\n      mon: {days}\n      tue: {days}\n      wed: {days}\n      thu: {days}\n      fri: {days}\n      sat: {days}\n      sun: {days}\n"
    );
    let entry = format!("{}{}{}", &entry[..start], sched, &entry[end..]);
    std::fs::write(out.join("entry.yaml"), entry).unwrap();
    out
}

/// Every shipped prompt as a 0.2 s tone (hold music 3 s), so flows run fast.
fn short_prompts(dir: &Path) -> PathBuf {
    fn walk(src: &Path, dst: &Path) {
        std::fs::create_dir_all(dst).unwrap();
        for e in std::fs::read_dir(src).unwrap() {
            let p = e.unwrap().path();
            let to = dst.join(p.file_name().unwrap());
            if p.is_dir() {
                walk(&p, &to);
            } else if p.extension().is_some_and(|x| x == "wav") {
                let secs = if to.ends_with("hold-music.wav") {
                    3.0
                } else {
                    0.2
                };
                let spec = hound::WavSpec {
                    channels: 1,
                    sample_rate: 8000,
                    bits_per_sample: 16,
                    sample_format: hound::SampleFormat::Int,
                };
                let mut w = hound::WavWriter::create(&to, spec).unwrap();
                let n = (8000.0 * secs) as usize;
                for i in 0..n {
                    let v = (i as f32 * 2.0 * std::f32::consts::PI * 500.0 / 8000.0).sin();
                    w.write_sample((v * 8000.0) as i16).unwrap();
                }
                w.finalize().unwrap();
            }
        }
    }
    let root = dir.join("prompts");
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts/pt-BR"),
        &root.join("pt-BR"),
    );
    root
}

impl Server {
    /// A server whose DID runs the shipped IVR flows into ACD queues.
    pub fn start_ivr(db: Db, o: &IvrOptions) -> Server {
        Server::start_ivr_sized(db, o, Prompts::Short, 10)
    }

    /// As `start_ivr`, with the shipped prompts or short tones, and RTP ports for
    /// `max_calls` calls (4 each).
    pub fn start_ivr_sized(db: Db, o: &IvrOptions, p: Prompts, max_calls: u16) -> Server {
        Server::start_ivr_config(db, o, p, max_calls, "", "")
    }

    /// As `start_ivr_sized`, with `queue_extra` added to every queue's table and `extra`
    /// to the end of the config (e.g. an `[outbound]` section).
    pub fn start_ivr_config(
        db: Db,
        o: &IvrOptions,
        p: Prompts,
        max_calls: u16,
        queue_extra: &str,
        extra: &str,
    ) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let flows = flows(dir.path(), o.hours);
        let prompts = match p {
            Prompts::Short => short_prompts(dir.path()),
            Prompts::Shipped => Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts"),
        };
        let sip_port = free_port();
        let http_port = free_port();
        let rtp_ports = max_calls * 4;
        let rtp = free_rtp_range(rtp_ports);
        let db_url = match db {
            Db::Sqlite => format!("sqlite://{}/atende.db", dir.path().display()),
            Db::Postgres => atende::testkit::pg::fresh_pg_database(),
        };
        let rewrite = o
            .http_port
            .map(|p| {
                format!(
                    "[ivr.http_rewrite]\n\"http://127.0.0.1:8089\" = \"http://127.0.0.1:{p}\"\n"
                )
            })
            .unwrap_or_default();
        let queues: String = [
            "geral",
            "pericia",
            "beneficios",
            "pagamentos",
            "acessibilidade",
        ]
        .iter()
        .map(|q| {
            format!(
                "[[queues]]\nid = \"{q}\"\nring_timeout_secs = {}\nreject_delay_secs = 1\n{queue_extra}\n\n",
                o.ring_timeout_secs
            )
        })
        .collect();
        let agents: String = o
            .agents
            .iter()
            .map(|a| {
                format!(
                    "[[agents]]\nid = \"{a}\"\npassword = \"pw{a}\"\npin = \"1234\"\nqueues = [\"geral\", \"pericia\", \"beneficios\", \"pagamentos\", \"acessibilidade\"]\nskills = {{ agendamento = 5 }}\nauto_login = {}\n\n",
                    o.auto_login
                )
            })
            .collect();
        let base = base_config(
            (sip_port, http_port),
            (rtp, rtp + rtp_ports - 2),
            r#""MD5", "SHA-256""#,
            &db_url,
            dir.path(),
            &prompts,
        );
        let config = format!(
            r#"{base}[ivr]
dir = "{flows}"
{rewrite}
[[routes]]
did = "{DID}"
service = "ura"
[services.ura]
ivr = true
hold_music = "pt-BR/hold-music"

{queues}{agents}{extra}"#,
            flows = flows.display(),
        );
        Server::launch(dir, &config, sip_port, http_port)
    }
}

/// A copy of sipp's RFC 4733 capture for `digit`, its RTP timestamps moved by `press` so
/// the same key pressed twice is two presses (receivers tell presses apart by timestamp).
pub fn dtmf_pcap(dir: &Path, digit: char, press: u32) -> PathBuf {
    let name = match digit {
        '*' => "star".to_owned(),
        '#' => "pound".to_owned(),
        d => d.to_string(),
    };
    let mut b = std::fs::read(format!("/usr/share/sip-tester/dtmf_2833_{name}.pcap"))
        .expect("sipp's DTMF captures (apt-get install sip-tester)");
    let mut off = 24;
    while off + 16 <= b.len() {
        let incl = u32::from_le_bytes(b[off + 8..off + 12].try_into().unwrap()) as usize;
        let pkt = off + 16;
        let ip = pkt + 14;
        let ihl = ((b[ip] & 15) as usize) * 4;
        let rtp = ip + ihl + 8;
        let ts = u32::from_be_bytes(b[rtp + 4..rtp + 8].try_into().unwrap());
        let ts = ts.wrapping_add(press.wrapping_mul(16000));
        b[rtp + 4..rtp + 8].copy_from_slice(&ts.to_be_bytes());
        // UDP checksum 0: none (sipp sends the payload from its own socket anyway).
        let udp = ip + ihl;
        b[udp + 6] = 0;
        b[udp + 7] = 0;
        off = pkt + incl;
    }
    let out = dir.join(format!("dtmf-{name}-{press}.pcap"));
    std::fs::write(&out, b).unwrap();
    out
}

/// sipp actions pressing keys (`(delay_ms, keys)`: wait, then the keys 350 ms apart; no
/// pause after the last key, so a BYE from atende right after it is not unexpected).
fn key_actions(dir: &Path, steps: &[(u64, &str)]) -> String {
    let mut press = 0;
    let mut xml = String::new();
    for (delay, keys) in steps {
        xml.push_str(&format!("  <pause milliseconds=\"{delay}\"/>\n"));
        for (i, k) in keys.chars().enumerate() {
            press += 1;
            let f = dtmf_pcap(dir, k, press);
            if i > 0 {
                xml.push_str("  <pause milliseconds=\"350\"/>\n");
            }
            xml.push_str(&format!(
                "  <nop><action><exec play_pcap_audio=\"{}\"/></action></nop>\n",
                f.display()
            ));
        }
    }
    xml
}

/// A trunk caller that presses keys, then hangs up after `talk_ms` (`served`: waits for
/// atende's BYE instead).
pub fn start_ivr_caller(
    server: &Server,
    steps: &[(u64, &str)],
    talk_ms: u64,
    served: bool,
) -> Child {
    let dir = server.dir.path();
    let audio = caller_audio(dir);
    let sf = scenario(
        dir,
        if served {
            "ivr_caller_served.xml"
        } else {
            "ivr_caller.xml"
        },
        &[
            ("AUDIO", audio.display().to_string()),
            ("KEYS", key_actions(dir, steps)),
            ("TALK_MS", talk_ms.to_string()),
        ],
    );
    let mut args = trunk_caller_args(server, &sf, 4);
    args.extend(["-m".into(), "1".into()]);
    sipp(&args).spawn().expect("caller sipp starts")
}

/// A fake process-status service on a loopback port: answers every
/// `GET /v1/processos?cpf=…` with the given JSON; returns the port and the paths asked.
pub fn fake_process_service(json: &'static str) -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut line = String::new();
            let mut r = BufReader::new(s.try_clone().unwrap());
            if r.read_line(&mut line).is_err() {
                continue;
            }
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).is_err() || h.trim().is_empty() {
                    break;
                }
            }
            let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
            log.lock().unwrap().push(path.clone());
            let (status, body) = if path.starts_with("/v1/processos?cpf=") {
                ("200 OK", json)
            } else {
                ("404 Not Found", "{}")
            };
            let _ = write!(
                s,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (port, seen)
}

/// The IVR steps (`detail.event.step`) and ACD events (`detail.event.kind`) of a call.
pub fn steps(events: &[serde_json::Value], kind: &str, field: &str) -> Vec<serde_json::Value> {
    events
        .iter()
        .filter(|e| e["kind"] == kind)
        .map(|e| e["detail"]["event"].clone())
        .filter(|e| !e[field].is_null())
        .collect()
}

/// The kinds of the ACD events in a call's log, in order.
pub fn acd_kinds(events: &[serde_json::Value]) -> Vec<String> {
    steps(events, "acd", "kind")
        .iter()
        .map(|e| e["kind"].as_str().unwrap_or("?").to_owned())
        .collect()
}

/// The call's first ACD event of `kind`; panics naming the kinds there were.
pub fn acd_event(events: &[serde_json::Value], kind: &str) -> serde_json::Value {
    steps(events, "acd", "kind")
        .into_iter()
        .find(|e| e["kind"] == kind)
        .unwrap_or_else(|| panic!("no ACD {kind} in {:?}", acd_kinds(events)))
}
