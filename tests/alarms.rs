//! Alarms end to end: a real `atende` sends each raise and each clear once to a real local
//! SMTP server (Python's aiosmtpd, storing a Maildir read back by Python's email parser) and
//! to a local HTTP receiver (the webhook), and shows it on `/metrics`.
//!
//! - disk low: a threshold above the real free space raises it; a reload that lowers the
//!   threshold clears it (both databases);
//! - database unreachable: the PostgreSQL link is cut, then restored; the raise, sent while
//!   it was down, is written to `alarm_notices` once it answers (before its clear), and a
//!   restart sends neither again; with the webhook down too, the raise is written (pending)
//!   once the database answers, survives a restart, and is sent once after it;
//! - a recording that failed: the recordings directory cannot be written and a call comes;
//! - a notice pending when the server stops: the webhook receiver is down at the raise,
//!   atende restarts, the receiver comes up: it gets the raise exactly once (both
//!   databases);
//! - the last hour's service level: real sipp calls abandon the queue past the threshold;
//!   one call is under `service_level_min_calls`, the second raises it (both databases);
//! - the audit log's hash chain: an entry changed in the database is not seen by `GET
//!   /api/audit` (the kept result), `POST /api/audit/verify` finds it and raises
//!   `audit_chain_broken` once; a second verification and a restart do not send it
//!   again; put back, the next verification clears it (both databases).

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Db, Server};

struct Smtp {
    child: Child,
    port: u16,
    maildir: PathBuf,
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// aiosmtpd on loopback, plain SMTP (atende allows `tls = "none"` to 127.0.0.1 only).
fn start_smtp(dir: &Path) -> Smtp {
    let py = support::python_with("aiosmtpd", "python3-aiosmtpd");
    let maildir = dir.join("maildir");
    let port = support::free_port();
    let child = Command::new(py)
        .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
        .args(["-c", "aiosmtpd.handlers.Mailbox"])
        .arg(&maildir)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("smtp.log")).unwrap())
        .spawn()
        .expect("aiosmtpd starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "aiosmtpd did not listen");
        std::thread::sleep(Duration::from_millis(100));
    }
    Smtp {
        child,
        port,
        maildir,
    }
}

/// A webhook receiver: answers 500 to the first `fail_first` POSTs (not kept), then 200,
/// keeping the JSON bodies it accepted.
struct Hooks {
    url: String,
    bodies: Arc<Mutex<Vec<Value>>>,
}

fn start_hooks() -> Hooks {
    start_hooks_failing(0)
}

fn start_hooks_failing(fail_first: usize) -> Hooks {
    serve_hooks(TcpListener::bind("127.0.0.1:0").unwrap(), fail_first)
}

/// The receiver on a given port (chosen while it was still down).
fn start_hooks_on(port: u16) -> Hooks {
    serve_hooks(TcpListener::bind(("127.0.0.1", port)).unwrap(), 0)
}

fn serve_hooks(listener: TcpListener, mut fail_first: usize) -> Hooks {
    let url = format!("http://{}/alarme", listener.local_addr().unwrap());
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let kept = bodies.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut length = 0usize;
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                line.clear();
            }
            let mut body = vec![0; length];
            let read = reader.read_exact(&mut body).is_ok();
            if fail_first > 0 {
                fail_first -= 1;
                let _ = reader.get_mut().write_all(
                    b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
                continue;
            }
            if read && let Ok(v) = serde_json::from_slice(&body) {
                kept.lock().unwrap().push(v);
            }
            let _ = reader
                .get_mut()
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    Hooks { url, bodies }
}

impl Hooks {
    /// The states (`raised`, `cleared`) the webhook received for `alarm`, in order.
    fn states(&self, alarm: &str) -> Vec<String> {
        self.bodies
            .lock()
            .unwrap()
            .iter()
            .filter(|b| b["alarm"] == alarm)
            .map(|b| b["state"].as_str().unwrap_or("").to_owned())
            .collect()
    }
}

const READ_MAIL: &str = r#"
import sys, json, email, email.policy
out = []
for path in sys.argv[1:]:
    msg = email.message_from_binary_file(open(path, "rb"), policy=email.policy.default)
    out.append({"subject": msg["subject"], "body": msg.get_body(("plain",)).get_content()})
print(json.dumps(out))
"#;

/// Subjects and bodies of the mails the SMTP server stored, as Python's parser reads them.
fn mails(smtp: &Smtp) -> Vec<Value> {
    let files: Vec<PathBuf> = std::fs::read_dir(smtp.maildir.join("new"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    if files.is_empty() {
        return Vec::new();
    }
    let out = Command::new(support::python_with("aiosmtpd", "python3-aiosmtpd"))
        .arg("-c")
        .arg(READ_MAIL)
        .args(&files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Mail subjects about `alarm` (its name is in the body).
fn mail_subjects(smtp: &Smtp, alarm: &str) -> Vec<String> {
    let mut subjects: Vec<String> = mails(smtp)
        .iter()
        .filter(|m| {
            m["body"]
                .as_str()
                .unwrap_or("")
                .contains(&format!("Alarme: {alarm}\n"))
        })
        .map(|m| m["subject"].as_str().unwrap_or("").to_owned())
        .collect();
    subjects.sort();
    subjects
}

fn wait_for(what: &str, server: &Server, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen; log:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn gauge(server: &Server, alarm: &str) -> f64 {
    server.metric(&format!("atende_alarm{{name=\"{alarm}\"}}"))
}

fn sections(smtp: &Smtp, hooks: &Hooks, disk_min_free_mb: u64) -> String {
    format!(
        r#"
[mail]
server = "127.0.0.1"
port = {}
tls = "none"
from = "Atende <alarmes@instituto.gov.br>"
to = ["supervisao@instituto.gov.br"]
retry_secs = 1

[alarms]
check_secs = 1
disk_min_free_mb = {disk_min_free_mb}
email = true
webhook_url = "{}"
"#,
        smtp.port, hooks.url
    )
}

/// A server with one service and agent 1001, plus `extra` config sections.
fn start_server(db_url: &str, dir: tempfile::TempDir, extra: &str) -> Server {
    let prompts = dir.path().join("prompts/pt-BR");
    std::fs::create_dir_all(&prompts).unwrap();
    support::wav_tone(&prompts.join("welcome.wav"), 600, 1.0);
    support::wav_tone(&prompts.join("hold-music.wav"), 300, 3.0);
    let (sip, http) = (support::free_port(), support::free_port());
    let rtp = support::free_rtp_range(8);
    let base = support::base_config(
        (sip, http),
        (rtp, rtp + 6),
        "\"MD5\"",
        db_url,
        dir.path(),
        &dir.path().join("prompts"),
    );
    let config = format!(
        r#"{base}[[routes]]
did = "{}"
service = "test"
[services.test]
welcome_prompt = "pt-BR/welcome"
hold_music = "pt-BR/hold-music"
agents = ["1001"]
ring_timeout_secs = 20

[[agents]]
id = "1001"
password = "pw1001"
{extra}"#,
        support::DID
    );
    Server::launch(dir, &config, sip, http)
}

fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}/atende.db", dir.display())
}

fn disk_low_is_raised_once_and_cleared_by_a_reload(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let smtp = start_smtp(dir.path());
    // The webhook fails once: the raise is retried, and arrives once.
    let hooks = start_hooks_failing(1);
    let url = match db {
        Db::Sqlite => sqlite_url(dir.path()),
        Db::Postgres => atende::testkit::pg::fresh_pg_database(),
    };
    // 100 TB free is more than this machine has: raised at the first check.
    let server = start_server(&url, dir, &sections(&smtp, &hooks, 100_000_000));
    wait_for("the disk_low raise", &server, || {
        hooks.states("disk_low") == ["raised"] && mail_subjects(&smtp, "disk_low").len() == 1
    });
    assert_eq!(gauge(&server, "disk_low"), 1.0);
    assert_eq!(
        mail_subjects(&smtp, "disk_low"),
        ["[atende] ALARME: Pouco espaço em disco para as gravações"]
    );
    let raise = hooks.bodies.lock().unwrap()[0].clone();
    assert!(
        raise["detail"]
            .as_str()
            .unwrap()
            .contains("mínimo 100000000 MB"),
        "{raise}"
    );
    assert!(server.log().contains("alarm notice failed; retrying"));

    // A restart: the raised alarm is stored, so it is not raised (nor sent) again.
    let server = server.restart();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(gauge(&server, "disk_low"), 1.0);
    assert_eq!(hooks.states("disk_low"), ["raised"]);
    assert_eq!(mail_subjects(&smtp, "disk_low").len(), 1);

    // The operator lowers the threshold to 1 MB and reloads.
    let path = server.dir.path().join("atende.toml");
    let config = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        config.replace("disk_min_free_mb = 100000000", "disk_min_free_mb = 1"),
    )
    .unwrap();
    server.signal("HUP");
    wait_for("the reload", &server, || {
        server.log().contains("other settings changed")
    });
    wait_for("the disk_low clear", &server, || {
        hooks.states("disk_low") == ["raised", "cleared"]
            && mail_subjects(&smtp, "disk_low").len() == 2
    });
    assert_eq!(gauge(&server, "disk_low"), 0.0);
    // Several more checks: nothing is sent again.
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(hooks.states("disk_low"), ["raised", "cleared"]);
    assert_eq!(
        mail_subjects(&smtp, "disk_low"),
        [
            "[atende] ALARME: Pouco espaço em disco para as gravações",
            "[atende] Normalizado: Pouco espaço em disco para as gravações",
        ]
    );
    // Nothing else was wrong: no other alarm was sent.
    assert_eq!(hooks.bodies.lock().unwrap().len(), 2, "{:?}", hooks.bodies);
    for other in ["database_down", "recording_failed", "service_level"] {
        assert_eq!(gauge(&server, other), 0.0, "{other}");
    }
}

#[test]
fn disk_low_is_raised_once_and_cleared_by_a_reload_sqlite() {
    disk_low_is_raised_once_and_cleared_by_a_reload(Db::Sqlite);
}

#[test]
fn disk_low_is_raised_once_and_cleared_by_a_reload_postgres() {
    disk_low_is_raised_once_and_cleared_by_a_reload(Db::Postgres);
}

/// The `database_down` notices stored, per channel in id order: `(channel, state, status)`.
fn database_down_rows(rt: &tokio::runtime::Runtime, db_url: &str) -> Vec<(String, String, String)> {
    rt.block_on(async {
        let pool = sqlx::PgPool::connect(db_url).await.expect("postgres");
        let rows: Vec<(String, i64, String)> = sqlx::query_as(
            "SELECT channel, raised, state FROM alarm_notices WHERE alarm = 'database_down' \
             ORDER BY channel, id",
        )
        .fetch_all(&pool)
        .await
        .expect("alarm_notices read");
        pool.close().await;
        rows.into_iter()
            .map(|(channel, raised, state)| {
                let what = if raised == 1 { "raised" } else { "cleared" };
                (channel, what.to_owned(), state)
            })
            .collect()
    })
}

/// A fresh PostgreSQL database, its URL, and a link to it that the test can cut (with the
/// runtime the link runs on).
fn database_behind_a_link() -> (tokio::runtime::Runtime, String, atende::testkit::pg::Link) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let db_url = atende::testkit::pg::fresh_pg_database();
    let link = rt.block_on(atende::testkit::pg::Link::start(&db_url));
    (rt, db_url, link)
}

#[test]
fn an_unreachable_database_is_raised_once_and_cleared_once() {
    let (rt, db_url, mut link) = database_behind_a_link();
    let dir = tempfile::tempdir().unwrap();
    let smtp = start_smtp(dir.path());
    let hooks = start_hooks();
    let server = start_server(link.url(), dir, &sections(&smtp, &hooks, 0));
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(gauge(&server, "database_down"), 0.0);

    rt.block_on(async { link.cut() });
    wait_for("the database_down raise", &server, || {
        hooks.states("database_down") == ["raised"]
            && mail_subjects(&smtp, "database_down").len() == 1
    });
    assert_eq!(gauge(&server, "database_down"), 1.0);
    assert_eq!(
        mail_subjects(&smtp, "database_down"),
        ["[atende] ALARME: Banco de dados inacessível"]
    );

    rt.block_on(link.restore());
    wait_for("the database_down clear", &server, || {
        hooks.states("database_down") == ["raised", "cleared"]
            && mail_subjects(&smtp, "database_down").len() == 2
    });
    assert_eq!(gauge(&server, "database_down"), 0.0);
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(hooks.states("database_down"), ["raised", "cleared"]);
    assert_eq!(mail_subjects(&smtp, "database_down").len(), 2);

    // The raise, sent while the database did not answer, was written once it answered
    // again: before its clear, as sent.
    let sent = |channel: &str, what: &str| (channel.to_owned(), what.to_owned(), "sent".to_owned());
    assert_eq!(
        database_down_rows(&rt, &db_url),
        [
            sent("mail", "raised"),
            sent("mail", "cleared"),
            sent("webhook", "raised"),
            sent("webhook", "cleared"),
        ]
    );
    assert!(
        server
            .log()
            .contains("alarm notices of a database outage written"),
        "{}",
        server.log()
    );
    // A restart sends neither again.
    let server = server.restart();
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(hooks.states("database_down"), ["raised", "cleared"]);
    assert_eq!(mail_subjects(&smtp, "database_down").len(), 2);
    assert_eq!(gauge(&server, "database_down"), 0.0);
}

/// The webhook receiver is down through a database outage: the raise cannot be sent nor
/// stored. Once the database answers it is written (pending, before its clear), so a
/// restart keeps it, and the receiver gets raise and clear once each, in order.
#[test]
fn a_notice_of_a_database_outage_is_written_when_it_answers_and_survives_a_restart() {
    let (rt, db_url, mut link) = database_behind_a_link();
    // The mail channel is off here (its rows are `skipped`): the webhook's rows.
    let webhook_rows = |rt: &tokio::runtime::Runtime| -> Vec<(String, String, String)> {
        database_down_rows(rt, &db_url)
            .into_iter()
            .filter(|r| r.0 == "webhook")
            .collect()
    };
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on the receiver's port yet: every attempt is refused.
    let port = support::free_port();
    let alarms = format!(
        "\n[alarms]\ncheck_secs = 1\ndisk_min_free_mb = 0\n\
         webhook_url = \"http://127.0.0.1:{port}/alarme\"\n"
    );
    let server = start_server(link.url(), dir, &alarms);
    std::thread::sleep(Duration::from_secs(3));
    rt.block_on(async { link.cut() });
    wait_for("the raise kept in memory", &server, || {
        server.log().contains("alarm notice not stored")
            && server.log().contains("alarm notice failed; retrying")
    });
    assert_eq!(gauge(&server, "database_down"), 1.0);

    rt.block_on(link.restore());
    wait_for("the raise and the clear written", &server, || {
        server
            .log()
            .contains("alarm notices of a database outage written")
            && webhook_rows(&rt).len() == 2
    });
    let pending = |what: &str| ("webhook".to_owned(), what.to_owned(), "pending".to_owned());
    assert_eq!(webhook_rows(&rt), [pending("raised"), pending("cleared")]);

    // atende restarts before either is sent; the receiver comes up.
    let server = server.restart();
    let hooks = start_hooks_on(port);
    wait_for("both sent after the restart", &server, || {
        hooks.states("database_down") == ["raised", "cleared"]
    });
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(hooks.states("database_down"), ["raised", "cleared"]);
    let sent = |what: &str| ("webhook".to_owned(), what.to_owned(), "sent".to_owned());
    assert_eq!(webhook_rows(&rt), [sent("raised"), sent("cleared")]);
    assert_eq!(server.metric("atende_alarm_notices_failed_total"), 0.0);
}

#[test]
fn a_failed_recording_raises_its_alarm() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = start_smtp(dir.path());
    let hooks = start_hooks();
    let url = sqlite_url(dir.path());
    let server = start_server(&url, dir, &sections(&smtp, &hooks, 0));
    // The recordings directory replaced by a file: nothing can be created under it, even
    // by root.
    let rec = server.dir.path().join("recordings");
    let _ = std::fs::remove_dir_all(&rec);
    std::fs::write(&rec, b"not a directory").unwrap();

    let agent_port = support::free_port();
    support::register_agent(&server, "1001", agent_port);
    let agent = support::start_answering_agent(&server, agent_port, 1, 200);
    let caller = support::start_caller(&server, 2000, 500, &[]);
    support::wait_ok(caller, "caller", &server);
    support::wait_ok(agent, "agent phone", &server);
    support::wait_for_event(&server, "recording_failed");
    wait_for("the recording_failed raise", &server, || {
        hooks.states("recording_failed") == ["raised"]
            && mail_subjects(&smtp, "recording_failed").len() == 1
    });
    assert_eq!(gauge(&server, "recording_failed"), 1.0);
    assert_eq!(
        mail_subjects(&smtp, "recording_failed"),
        ["[atende] ALARME: Falha de gravação"]
    );
    let body = hooks
        .bodies
        .lock()
        .unwrap()
        .iter()
        .find(|b| b["alarm"] == "recording_failed")
        .cloned()
        .unwrap();
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("1 gravação(ões) falharam"),
        "{body}"
    );
    assert!(server.log().contains("alarm raised"));

    // The supervisor checks today's recordings now: the answered call has none.
    let today = jiff::Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::get("America/Sao_Paulo").unwrap())
        .date()
        .to_string();
    let path = format!("/api/alarms/recordings-check?date={today}");
    let mut seen = Value::Null;
    wait_for("the call in the day's check", &server, || {
        let (status, body) =
            support::http_request(server.http_port, "POST", &path, true, None).unwrap();
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        seen = serde_json::from_slice(&body).unwrap();
        seen["answered"] == 1
    });
    assert_eq!(seen["recorded"], 0, "{seen}");
    assert_eq!(seen["matches"], false);
    wait_for("the recordings_mismatch raise", &server, || {
        hooks.states("recordings_mismatch") == ["raised"]
            && mail_subjects(&smtp, "recordings_mismatch").len() == 1
    });
    assert_eq!(gauge(&server, "recordings_mismatch"), 1.0);
    let (status, body) = support::http_get(server.http_port, "/api/alarms", true).unwrap();
    assert_eq!(status, 200);
    let listed: Value = serde_json::from_slice(&body).unwrap();
    let raised: Vec<&str> = listed["alarms"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["raised"] == true)
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(raised, ["recording_failed", "recordings_mismatch"]);
    let (status, _) = support::http_request(
        server.http_port,
        "POST",
        "/api/alarms/recordings-check?date=ontem",
        true,
        None,
    )
    .unwrap();
    assert_eq!(status, 400);
}

fn a_notice_pending_at_a_restart_is_sent_once_after_it(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let url = match db {
        Db::Sqlite => sqlite_url(dir.path()),
        Db::Postgres => atende::testkit::pg::fresh_pg_database(),
    };
    // The receiver's port, with nothing listening on it yet: every attempt is refused.
    let port = support::free_port();
    let alarms = format!(
        "\n[alarms]\ncheck_secs = 1\ndisk_min_free_mb = 100000000\n\
         webhook_url = \"http://127.0.0.1:{port}/alarme\"\n"
    );
    let server = start_server(&url, dir, &alarms);
    wait_for("a failed attempt of the disk_low raise", &server, || {
        server.log().contains("alarm notice failed; retrying")
    });
    assert_eq!(gauge(&server, "disk_low"), 1.0);

    // atende stops with the raise unsent; the receiver comes up while it starts again.
    let server = server.restart();
    let hooks = start_hooks_on(port);
    wait_for("the raise after the restart", &server, || {
        hooks.states("disk_low") == ["raised"]
    });
    assert!(
        server
            .log()
            .contains("alarm notices from before the restart queued"),
        "{}",
        server.log()
    );
    // Several more checks and retry periods: nothing is sent again.
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(hooks.states("disk_low"), ["raised"]);
    assert_eq!(hooks.bodies.lock().unwrap().len(), 1, "{:?}", hooks.bodies);
    let raise = hooks.bodies.lock().unwrap()[0].clone();
    assert_eq!(raise["label"], "Pouco espaço em disco para as gravações");
    assert!(
        raise["detail"]
            .as_str()
            .unwrap_or("")
            .contains("mínimo 100000000 MB"),
        "{raise}"
    );
    assert_eq!(gauge(&server, "disk_low"), 1.0);
    assert_eq!(server.metric("atende_alarm_notices_failed_total"), 0.0);
}

#[test]
fn a_notice_pending_at_a_restart_is_sent_once_after_it_sqlite() {
    a_notice_pending_at_a_restart_is_sent_once_after_it(Db::Sqlite);
}

#[test]
fn a_notice_pending_at_a_restart_is_sent_once_after_it_postgres() {
    a_notice_pending_at_a_restart_is_sent_once_after_it(Db::Postgres);
}

/// The names of the alarms `/api/alarms` lists as raised.
fn raised_alarms(server: &Server) -> Vec<String> {
    server.api("/api/alarms")["alarms"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|a| a["raised"] == true)
                .filter_map(|a| a["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn the_service_level_alarm_follows_real_calls(db: Db) {
    use support::ivr::{IvrOptions, Prompts};
    let hooks = start_hooks();
    // "Within" is 1 s here, so a caller who gives up after a few seconds in the queue
    // counts against NS; two calls are enough to judge the hour.
    let extra = format!(
        "[reports]\nthreshold_ms = 1000\n\n[alarms]\ncheck_secs = 1\ndisk_min_free_mb = 0\n\
         service_level_min_calls = 2\nwebhook_url = \"{}\"\n",
        hooks.url
    );
    // Nobody logged in: callers wait in queue "geral" and hang up.
    let server = Server::start_ivr_config(
        db,
        &IvrOptions {
            auto_login: false,
            ..IvrOptions::open_with(&["1001"])
        },
        Prompts::Short,
        10,
        "",
        &extra,
    );
    let abandon = |n: usize| {
        let caller = support::ivr::start_ivr_caller(&server, &[(800, "0")], 4000, false);
        support::wait_ok(caller, "caller", &server);
        wait_for("the abandon in today's report", &server, || {
            support::http_get(server.http_port, "/api/reports/today", true)
                .ok()
                .and_then(|(_, b)| serde_json::from_slice::<Value>(&b).ok())
                .is_some_and(|r| r["total"]["stats"]["queue_abandon_beyond"] == n)
        });
    };
    abandon(1);
    // One call is under the minimum: NS says nothing yet, over several checks.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(hooks.states("service_level"), Vec::<String>::new());
    assert_eq!(gauge(&server, "service_level"), 0.0);

    abandon(2);
    wait_for("the service_level raise", &server, || {
        hooks.states("service_level") == ["raised"]
    });
    assert_eq!(gauge(&server, "service_level"), 1.0);
    let body = hooks
        .bodies
        .lock()
        .unwrap()
        .iter()
        .find(|b| b["alarm"] == "service_level")
        .cloned()
        .unwrap();
    assert_eq!(
        body["label"],
        "Nível de serviço da última hora abaixo da meta"
    );
    let detail = body["detail"].as_str().unwrap_or("");
    assert!(
        detail.contains("NS 0,0 % (0 de 2)") && detail.contains("meta 90,0 %"),
        "{detail}"
    );
    assert_eq!(raised_alarms(&server), ["service_level"]);
    // Raised once: more checks send nothing more.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(hooks.states("service_level"), ["raised"]);
}

#[test]
fn the_service_level_alarm_follows_real_calls_sqlite() {
    the_service_level_alarm_follows_real_calls(Db::Sqlite);
}

#[test]
fn the_service_level_alarm_follows_real_calls_postgres() {
    the_service_level_alarm_follows_real_calls(Db::Postgres);
}
/// `POST /api/audit/verify`'s result.
fn verify_chain(server: &Server, cookie: &str) -> Value {
    let (status, v) = support::request_as(server, "POST", "/api/audit/verify", cookie, None);
    assert_eq!(status, 200, "{v}");
    v
}

/// The audit log's newest entries and the kept verification, as `GET /api/audit` gives.
fn audit_page(server: &Server, cookie: &str) -> Value {
    let (status, v) = support::request_as(server, "GET", "/api/audit?limit=1000", cookie, None);
    assert_eq!(status, 200, "{v}");
    v
}

fn a_changed_audit_entry_is_found_on_demand_and_raised_once(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let hooks = start_hooks();
    let url = match db {
        Db::Sqlite => sqlite_url(dir.path()),
        Db::Postgres => atende::testkit::pg::fresh_pg_database(),
    };
    let extra = format!(
        "\n[alarms]\ncheck_secs = 1\ndisk_min_free_mb = 0\nwebhook_url = \"{}\"\n",
        hooks.url
    );
    let server = start_server(&url, dir, &extra);
    let admin = support::login(
        server.http_port,
        support::ADMIN_USER,
        support::ADMIN_PASSWORD,
    )
    .unwrap()
    .expect("admin logs in");
    let kept = |server: &Server| audit_page(server, &admin)["verify"].clone();
    // The start-up walk ends in the background; then one on demand, intact.
    wait_for("the start-up walk", &server, || !kept(&server).is_null());
    let ok = verify_chain(&server, &admin);
    assert_eq!(
        (ok["ok"].as_bool(), ok["broken_at"].is_null()),
        (Some(true), true),
        "{ok}"
    );
    assert_eq!(kept(&server), ok);
    let original = audit_page(&server, &admin)["entries"]
        .as_array()
        .and_then(|e| e.iter().find(|e| e["id"] == 1))
        .and_then(|e| e["detail"].as_str())
        .expect("entry 1")
        .replace('\'', "''");

    support::records::run_sql(
        &url,
        "UPDATE audit_log SET detail = 'nada aconteceu' WHERE id = 1",
    );
    // The GET does not walk: still intact, with the old check time.
    assert_eq!(kept(&server), ok);
    let broken = verify_chain(&server, &admin);
    assert_eq!(broken["ok"], false, "{broken}");
    assert_eq!(broken["broken_at"], 1, "{broken}");
    assert!(broken["checked_at_ms"].as_i64() >= ok["checked_at_ms"].as_i64());
    assert_eq!(kept(&server), broken);
    wait_for("the audit_chain_broken raise", &server, || {
        hooks.states("audit_chain_broken") == ["raised"]
    });
    assert!(raised_alarms(&server).contains(&"audit_chain_broken".to_owned()));
    assert_eq!(gauge(&server, "audit_chain_broken"), 1.0);
    let raise = hooks
        .bodies
        .lock()
        .unwrap()
        .iter()
        .find(|b| b["alarm"] == "audit_chain_broken")
        .cloned()
        .unwrap();
    assert_eq!(
        raise["detail"], "cadeia de hashes rompida a partir do registro 1",
        "the id only: {raise}"
    );

    // Found broken again, on demand and by the start-up walk after a restart: not raised
    // again.
    assert_eq!(verify_chain(&server, &admin)["broken_at"], 1);
    let server = server.restart();
    wait_for("the start-up walk after the restart", &server, || {
        kept(&server)["broken_at"] == 1
    });
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(hooks.states("audit_chain_broken"), ["raised"]);
    assert!(raised_alarms(&server).contains(&"audit_chain_broken".to_owned()));

    // Put back: the next walk finds the chain intact and clears the alarm, once.
    support::records::run_sql(
        &url,
        &format!("UPDATE audit_log SET detail = '{original}' WHERE id = 1"),
    );
    assert_eq!(verify_chain(&server, &admin)["ok"], true);
    wait_for("the audit_chain_broken clear", &server, || {
        hooks.states("audit_chain_broken") == ["raised", "cleared"]
    });
    assert_eq!(gauge(&server, "audit_chain_broken"), 0.0);
}

#[test]
fn a_changed_audit_entry_is_found_on_demand_and_raised_once_sqlite() {
    a_changed_audit_entry_is_found_on_demand_and_raised_once(Db::Sqlite);
}

#[test]
fn a_changed_audit_entry_is_found_on_demand_and_raised_once_postgres() {
    a_changed_audit_entry_is_found_on_demand_and_raised_once(Db::Postgres);
}

#[test]
fn unusable_alarm_settings_are_refused_by_check_config() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("prompts")).unwrap();
    let base = support::base_config(
        (support::free_port(), support::free_port()),
        (20000, 20002),
        "\"MD5\"",
        &sqlite_url(dir.path()),
        dir.path(),
        &dir.path().join("prompts"),
    );
    let config = dir.path().join("atende.toml");
    for (alarms, why) in [
        ("email = true", "alarms.email = true needs a [mail] section"),
        (
            "webhook_url = \"ftp://monitor/x\"",
            "is not an http:// or https:// URL",
        ),
        (
            "webhook_url = \"http://127.0.0.1:9/x\"\ncheck_secs = 0",
            "alarms.check_secs must be 1 to 3600",
        ),
        (
            "disk_min_free_mb = 10",
            "give email = true or a webhook_url",
        ),
        (
            "webhook_url = \"http://127.0.0.1:9/x\"\nservice_level_min_calls = 0",
            "alarms.service_level_min_calls must be 1 to 100000",
        ),
    ] {
        std::fs::write(&config, format!("{base}\n[alarms]\n{alarms}\n")).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_atende"))
            .args(["check-config", "--config"])
            .arg(&config)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{alarms}");
        let text = String::from_utf8_lossy(&out.stderr).into_owned()
            + &String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(why), "{alarms}: {text}");
    }
}
