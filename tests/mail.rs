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

/// One call yesterday (local) in the call log, before the server starts.
fn seed_yesterday_call(url: &str) -> String {
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
    let sql = format!(
        "INSERT INTO calls (protocol, a_number, service, started_at_ms, answered_at_ms, ended_at_ms, agent, hangup_by, hangup_cause, recording_sha256) \
         VALUES ('{protocol}', '11987651234', 'test', {start}, {}, {}, '2001', 'caller', 'normal', 'sealed')",
        start + 20_000,
        start + 200_000
    );
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            // Connecting runs the migrations, so the table is there.
            let _store = atende::store::Store::connect(url).await.expect("store");
            sqlx::any::install_default_drivers();
            let pool = sqlx::AnyPool::connect(url).await.expect("pool");
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&pool)
                .await
                .expect("insert");
            pool.close().await;
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

const READ_XLSX_ROW: &str = r#"
import sys, json, datetime, openpyxl
ws = openpyxl.load_workbook(sys.argv[1], data_only=True).worksheets[0]
rows = list(ws.iter_rows(values_only=True))
def show(v):
    if isinstance(v, datetime.timedelta): return ["duration", v.total_seconds()]
    if isinstance(v, datetime.datetime): return ["datetime", v.isoformat()]
    return ["value", v]
print(json.dumps({"title": rows[0][0], "period": rows[1][1], "last": [show(v) for v in rows[-1]], "count": len(rows)}))
"#;

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
    assert_eq!(
        names,
        [
            (
                format!("{stem}.xlsx").as_str(),
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            ),
            (
                format!("{stem}.ods").as_str(),
                "application/vnd.oasis.opendocument.spreadsheet"
            ),
            (format!("{stem}.csv").as_str(), "text/csv"),
        ]
    );
    // The attached workbook opens and holds yesterday's call, typed, number masked.
    let sheet = python(
        "openpyxl",
        "python3-openpyxl",
        READ_XLSX_ROW,
        &[&files.join(format!("{stem}.xlsx"))],
    );
    assert_eq!(sheet["period"], date);
    let last = &sheet["last"];
    assert_eq!(
        last[0],
        serde_json::json!(["datetime", format!("{iso}T00:00:00")])
    );
    assert_eq!(
        last[1],
        serde_json::json!(["datetime", format!("{iso}T10:00:00")])
    );
    assert_eq!(last[3][1], protocol);
    assert_eq!(last[5][1], "•••••••1234");
    assert_eq!(last[7], serde_json::json!(["duration", 20.0]));
    assert_eq!(last[8], serde_json::json!(["duration", 180.0]));
    assert_eq!(last[10][1], "cidadão");

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
