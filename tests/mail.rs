//! Report e-mail end to end: a real `atende` sends the previous day's report to a real
//! local SMTP server (Python's aiosmtpd, STARTTLS with a throwaway certificate atende is
//! told to trust), which stores it in a Maildir; Python's email parser and openpyxl read
//! it back. A restart does not send it again; a server that never answers is retried and
//! then raised as an alarm (ERROR line, `/metrics` counter). Both databases.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use jiff::tz::TimeZone;
use serde_json::Value;
use support::{Db, Server};

const TZ: &str = "America/Sao_Paulo";

struct Smtp {
    child: Child,
    port: u16,
    maildir: PathBuf,
    cert: PathBuf,
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// aiosmtpd on a loopback port, requiring STARTTLS with a certificate for `localhost`.
fn start_smtp(dir: &Path) -> Smtp {
    let py = support::python_with("aiosmtpd", "python3-aiosmtpd");
    let openssl = support::require("openssl");
    // A throwaway CA (what atende is told to trust) and the server's certificate it signs.
    let cert = dir.join("smtp-ca.pem");
    let ca_key = dir.join("smtp-ca-key.pem");
    let key = dir.join("smtp-key.pem");
    let csr = dir.join("smtp.csr");
    let leaf = dir.join("smtp-cert.pem");
    let ext = dir.join("smtp.ext");
    std::fs::write(
        &ext,
        "subjectAltName=DNS:localhost\nbasicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    let steps: [Vec<&std::ffi::OsStr>; 3] = [
        [
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=atende test CA",
            "-keyout",
        ]
        .iter()
        .map(std::ffi::OsStr::new)
        .chain([ca_key.as_os_str(), "-out".as_ref(), cert.as_os_str()])
        .collect(),
        [
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
        ]
        .iter()
        .map(std::ffi::OsStr::new)
        .chain([key.as_os_str(), "-out".as_ref(), csr.as_os_str()])
        .collect(),
        ["x509", "-req", "-days", "2", "-CAcreateserial", "-in"]
            .iter()
            .map(std::ffi::OsStr::new)
            .chain([
                csr.as_os_str(),
                "-CA".as_ref(),
                cert.as_os_str(),
                "-CAkey".as_ref(),
                ca_key.as_os_str(),
                "-extfile".as_ref(),
                ext.as_os_str(),
                "-out".as_ref(),
                leaf.as_os_str(),
            ])
            .collect(),
    ];
    for args in steps {
        let made = Command::new(&openssl)
            .args(args)
            .output()
            .expect("openssl runs");
        assert!(
            made.status.success(),
            "{}",
            String::from_utf8_lossy(&made.stderr)
        );
    }
    let maildir = dir.join("maildir");
    let port = support::free_port();
    let child = Command::new(py)
        .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
        .arg("--tlscert")
        .arg(&leaf)
        .arg("--tlskey")
        .arg(&key)
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
        cert,
    }
}

fn db_url(db: &Db, dir: &Path) -> String {
    match db {
        Db::Sqlite => format!("sqlite://{}/atende.db", dir.display()),
        Db::Postgres => atende::testkit::pg::fresh_pg_database(),
    }
}

/// One call yesterday (local) in the call log, before the server starts: offered at
/// 10:00, answered by agent 2001 20 s later, 180 s of talk, ended by the caller. Written
/// through the event log's own writer; the server's projector reads it at start.
fn seed_yesterday_call(url: &str) -> String {
    use atende::events::{EventKind, Party};
    use atende::store::event::CallEvent;
    let tz = TimeZone::get(TZ).unwrap();
    let yesterday = jiff::Timestamp::now()
        .to_zoned_datetime(tz.clone())
        .date()
        .yesterday()
        .unwrap();
    let start = yesterday
        .at(10, 0, 0, 0)
        .to_zoned_datetime(tz)
        .unwrap()
        .timestamp()
        .as_millisecond();
    let protocol = format!("{}-000001", yesterday.strftime("%Y%m%d"));
    let spill = tempfile::tempdir().unwrap();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            // Connecting runs the migrations, so the tables are there.
            let store = atende::store::Store::connect(url).await.expect("store");
            let log = atende::store::event_log::EventLog::spawn(
                store,
                atende::store::event_log::EventLogConfig {
                    spill_path: spill.path().join("spill.jsonl"),
                    ..Default::default()
                },
            )
            .await
            .expect("event log");
            let events = [
                (
                    0,
                    EventKind::Offered {
                        call_id: "seed@test".into(),
                        a_number: "11987651234".into(),
                        b_number: support::DID.into(),
                        service: "test".into(),
                        source: "127.0.0.1:5060".into(),
                        restricted: false,
                    },
                ),
                (0, EventKind::Answered),
                (
                    20_000,
                    EventKind::Bridged {
                        agent: "2001".into(),
                    },
                ),
                (
                    200_000,
                    EventKind::HungUp {
                        by: Party::Caller,
                        cause: "normal".into(),
                        sip_status: None,
                    },
                ),
            ];
            for (seq, (offset, kind)) in events.into_iter().enumerate() {
                log.record(CallEvent {
                    protocol: protocol.parse().expect("protocol"),
                    seq: seq as u32,
                    at_ms: start + offset,
                    kind,
                });
            }
            log.flush().await;
        });
    protocol
}

/// A few seconds from now on the local wall clock, as `HH:MM:SS`.
fn soon() -> String {
    let now = jiff::Timestamp::now().to_zoned_datetime(TimeZone::get(TZ).unwrap());
    let later = now.checked_add(jiff::Span::new().seconds(4)).unwrap();
    later.strftime("%H:%M:%S").to_string()
}

fn start_server(db: Db, mail: &str, seed: bool) -> (Server, Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("prompts")).unwrap();
    let url = db_url(&db, dir.path());
    let protocol = seed.then(|| seed_yesterday_call(&url));
    let (sip, http) = (support::free_port(), support::free_port());
    let rtp = support::free_rtp_range(4);
    let base = support::base_config(
        (sip, http),
        (rtp, rtp + 2),
        "\"MD5\"",
        &url,
        dir.path(),
        &dir.path().join("prompts"),
    );
    let config = format!("{base}\n{mail}");
    (Server::launch(dir, &config, sip, http), protocol)
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

fn messages(maildir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(maildir.join("new"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

/// The mail as Python's email parser sees it; attachments saved into `out`.
const READ_MAIL: &str = r#"
import sys, json, email, email.policy, os
msg = email.message_from_binary_file(open(sys.argv[1], "rb"), policy=email.policy.default)
out = {"subject": msg["subject"], "from": msg["from"], "to": msg["to"], "message_id": msg["message-id"], "body": None, "files": []}
for part in msg.walk():
    if part.is_multipart():
        continue
    name = part.get_filename()
    if name:
        data = part.get_payload(decode=True)
        open(os.path.join(sys.argv[2], name), "wb").write(data)
        out["files"].append([name, part.get_content_type(), len(data)])
    elif part.get_content_type() == "text/plain":
        out["body"] = part.get_content()
print(json.dumps(out))
"#;

/// A sheet's header block and table, read by openpyxl: the rows after the column titles
/// (`sys.argv[2]`, a JSON list), each cell typed.
const READ_SHEET: &str = r#"
import sys, json, datetime, openpyxl
ws = openpyxl.load_workbook(sys.argv[1], data_only=True).worksheets[0]
rows = list(ws.iter_rows(values_only=True))
def show(v):
    if isinstance(v, datetime.timedelta): return ["duration", v.total_seconds()]
    if isinstance(v, datetime.datetime): return ["datetime", v.isoformat()]
    return ["value", v]
labels = json.loads(sys.argv[2])
head = next((i for i, r in enumerate(rows) if list(r[:len(labels)]) == labels), None)
if head is None:
    sys.exit("no row of the column titles %r in %r" % (labels, rows[:20]))
print(json.dumps({"title": rows[0][0], "period": rows[1][1],
                  "rows": [[show(v) for v in r] for r in rows[head + 1:]]}))
"#;

/// The workbook's table, found under the API table's column titles.
fn sheet_rows(file: &Path, table: &Value) -> Value {
    let labels: Vec<&str> = table["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .filter_map(|c| c["label"].as_str())
        .collect();
    let labels = serde_json::to_string(&labels).expect("labels");
    python(
        "openpyxl",
        "python3-openpyxl",
        READ_SHEET,
        &[file, Path::new(&labels)],
    )
}

/// Every count, duration, text and date cell of the API's table equals the workbook's
/// (columns named in `skip` aside).
fn same_cells(read: &Value, table: &Value, skip: &[&str]) {
    let rows = table["rows"].as_array().cloned().unwrap_or_default();
    let got = read["rows"].as_array().cloned().unwrap_or_default();
    assert_eq!(got.len(), rows.len(), "rows: {read}");
    let columns = table["columns"].as_array().cloned().unwrap_or_default();
    for (r, (want, have)) in rows.iter().zip(&got).enumerate() {
        for (c, column) in columns.iter().enumerate() {
            if skip.contains(&column["key"].as_str().unwrap_or("")) {
                continue;
            }
            let (cell, x) = (&want[c], &have[c]);
            let v = &cell["value"];
            let ok = match cell["type"].as_str() {
                Some("count") => x[1] == *v,
                Some("duration_ms") => x[1].as_f64().map(|s| (s * 1000.0).round()) == v.as_f64(),
                Some("text") | Some("time") => x[1] == *v,
                Some("date") => x[1]
                    .as_str()
                    .is_some_and(|d| d.starts_with(v.as_str().unwrap_or("?"))),
                _ => true,
            };
            assert!(
                ok,
                "row {r}, column {}: API {cell}, file {x}",
                column["key"]
            );
        }
    }
}

fn python(module: &str, package: &str, script: &str, args: &[&Path]) -> Value {
    let py = support::python_with(module, package);
    let out = Command::new(py)
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn daily_report_reaches_the_smtp_server_once(db: Db) {
    let scratch = tempfile::tempdir().unwrap();
    let smtp = start_smtp(scratch.path());
    let mail = format!(
        r#"[mail]
server = "localhost"
port = {}
tls = "starttls"
ca_file = "{}"
from = "Atende <relatorios@atende.test>"
to = ["gestor@instituto.test", "fiscal@instituto.test"]
daily_at = "{}"
formats = ["xlsx", "ods", "csv"]
"#,
        smtp.port,
        smtp.cert.display(),
        soon()
    );
    let (server, protocol) = start_server(db, &mail, true);
    let protocol = protocol.unwrap();
    wait_for("the report mail", &server, || {
        !messages(&smtp.maildir).is_empty()
    });
    wait_for("the sent counter", &server, || {
        server.metric("atende_mail_sent_total") == 1.0
    });

    let files = scratch.path().join("files");
    std::fs::create_dir_all(&files).unwrap();
    let msgs = messages(&smtp.maildir);
    assert_eq!(msgs.len(), 1);
    let got = python("email", "python3", READ_MAIL, &[&msgs[0], &files]);
    let day = &protocol[..8];
    let date = format!("{}/{}/{}", &day[6..8], &day[4..6], &day[..4]);
    let iso = format!("{}-{}-{}", &day[..4], &day[4..6], &day[6..8]);
    assert_eq!(got["subject"], format!("Relatório diário de {date}"));
    assert_eq!(got["from"], "Atende <relatorios@atende.test>");
    assert_eq!(got["to"], "gestor@instituto.test, fiscal@instituto.test");
    assert_eq!(got["message_id"], format!("<daily.{iso}@atende.test>"));
    assert!(
        got["body"]
            .as_str()
            .unwrap()
            .contains(&format!("Período: {date}")),
        "{got}"
    );
    let names: Vec<(&str, &str)> = got["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f[0].as_str().unwrap(), f[1].as_str().unwrap()))
        .collect();
    let stem = format!("relatorio-diario-{iso}");
    let sheet = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
    let ods = "application/vnd.oasis.opendocument.spreadsheet";
    let expected: Vec<(String, &str)> = [stem.clone(), format!("{stem}-2")]
        .iter()
        .flat_map(|s| {
            [
                (format!("{s}.xlsx"), sheet),
                (format!("{s}.ods"), ods),
                (format!("{s}.csv"), "text/csv"),
            ]
        })
        .collect();
    let expected: Vec<(&str, &str)> = expected.iter().map(|(n, t)| (n.as_str(), *t)).collect();
    assert_eq!(
        names, expected,
        "the day's intervals, then its per-call list"
    );

    // The attached workbooks open (openpyxl) and hold the JSON API's very figures: the
    // day in 30-minute intervals, and the per-call list with the number masked.
    let intervals = server.api(&format!("/api/reports/day?date={iso}&format=table"));
    let read = sheet_rows(&files.join(format!("{stem}.xlsx")), &intervals);
    assert_eq!(read["period"], date);
    same_cells(&read, &intervals, &[]);
    let total = read["rows"]
        .as_array()
        .and_then(|r| r.last())
        .cloned()
        .unwrap_or_default();
    assert_eq!(total[0], serde_json::json!(["value", "Total"]), "{total}");
    let calls = server.api(&format!("/api/reports/calls?from={iso}&format=table"));
    let read = sheet_rows(&files.join(format!("{stem}-2.xlsx")), &calls);
    assert_eq!(read["rows"].as_array().map(Vec::len), Some(1), "{read}");
    same_cells(&read, &calls, &["caller"]);
    let row = &read["rows"][0];
    let col = |key: &str| {
        calls["columns"]
            .as_array()
            .and_then(|c| c.iter().position(|c| c["key"] == key))
            .expect("column")
    };
    assert_eq!(row[col("protocol")][1], protocol);
    assert_eq!(row[col("caller")][1], "•••••••1234", "masked in a mail");
    assert_eq!(row[col("agent")][1], "2001");
    assert_eq!(row[col("talk")], serde_json::json!(["duration", 180.0]));

    // A restart finds the mail sent and does not send it again.
    let server = server.restart();
    wait_for("the mailer's first look after the restart", &server, || {
        server.log().contains("report mail: up to date")
    });
    assert_eq!(messages(&smtp.maildir).len(), 1, "no second mail");
    assert_eq!(server.metric("atende_mail_sent_total"), 0.0);
}

fn an_unreachable_server_is_retried_then_alarmed(db: Db) {
    // A loopback port nothing listens on.
    let port = support::free_port();
    let mail = format!(
        r#"[mail]
server = "127.0.0.1"
port = {port}
tls = "none"
from = "relatorios@atende.test"
to = ["gestor@instituto.test"]
daily_at = "{}"
retries = 2
retry_secs = 1
"#,
        soon()
    );
    let (server, _) = start_server(db, &mail, false);
    wait_for("the alarm", &server, || {
        server.metric("atende_mail_failed_total") == 1.0
    });
    assert_eq!(server.metric("atende_mail_retries_total"), 2.0);
    assert_eq!(server.metric("atende_mail_sent_total"), 0.0);
    let log = server.log();
    let alarm = log
        .lines()
        .find(|l| l.contains("ALARM: report mail given up"))
        .expect("an alarm line");
    assert!(alarm.contains("ERROR"), "{alarm}");
    // Given up is final: a restart does not start over.
    let server = server.restart();
    wait_for("the mailer's first look after the restart", &server, || {
        server.log().contains("report mail: up to date")
    });
    assert_eq!(server.metric("atende_mail_retries_total"), 0.0);
    assert_eq!(server.metric("atende_mail_failed_total"), 0.0);
}

#[test]
fn daily_report_reaches_the_smtp_server_once_sqlite() {
    daily_report_reaches_the_smtp_server_once(Db::Sqlite);
}

#[test]
fn daily_report_reaches_the_smtp_server_once_postgres() {
    daily_report_reaches_the_smtp_server_once(Db::Postgres);
}

#[test]
fn an_unreachable_server_is_retried_then_alarmed_sqlite() {
    an_unreachable_server_is_retried_then_alarmed(Db::Sqlite);
}

#[test]
fn an_unreachable_server_is_retried_then_alarmed_postgres() {
    an_unreachable_server_is_retried_then_alarmed(Db::Postgres);
}

#[test]
fn plain_smtp_to_another_machine_is_refused_by_check_config() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("prompts")).unwrap();
    let base = support::base_config(
        (support::free_port(), support::free_port()),
        (20000, 20002),
        "\"MD5\"",
        &format!("sqlite://{}/atende.db", dir.path().display()),
        dir.path(),
        &dir.path().join("prompts"),
    );
    let config = dir.path().join("atende.toml");
    std::fs::write(
        &config,
        format!(
            "{base}\n[mail]\nserver = \"smtp.instituto.test\"\ntls = \"none\"\nfrom = \"a@b.test\"\nto = [\"c@d.test\"]\n"
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_atende"))
        .args(["check-config", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("mail.tls = \"none\" is only allowed"),
        "{text}"
    );
}
