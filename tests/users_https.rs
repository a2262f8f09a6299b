//! End to end: with `[http] tls_cert`/`tls_key` the API speaks HTTPS only (a certificate
//! made by the test with the openssl CLI, checked by curl), and the session cookie is
//! marked `Secure`. On SQLite and PostgreSQL.

mod support;

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use support::*;

/// The server process, stopped when the test ends.
struct Https {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
    cert: std::path::PathBuf,
}

impl Drop for Https {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn self_signed(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let st = Command::new(require("openssl"))
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=atende-test",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs");
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    (cert, key)
}

fn start(db: Db) -> Https {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = self_signed(dir.path());
    let prompts = dir.path().join("prompts/pt-BR");
    std::fs::create_dir_all(&prompts).expect("prompts dir");
    let (sip_port, http_port) = (free_port(), free_port());
    let rtp = free_rtp_range(4);
    let db_url = match db {
        Db::Sqlite => format!("sqlite://{}/atende.db", dir.path().display()),
        Db::Postgres => atende::testkit::pg::fresh_pg_database(),
    };
    let base = base_config(
        (sip_port, http_port),
        (rtp, rtp + 2),
        "\"MD5\"",
        &db_url,
        dir.path(),
        &dir.path().join("prompts"),
    );
    let listen = format!("listen = \"127.0.0.1:{http_port}\"\n");
    let config = base.replacen(
        &listen,
        &format!(
            "{listen}tls_cert = \"{}\"\ntls_key = \"{}\"\n",
            cert.display(),
            key.display()
        ),
        1,
    );
    assert!(config.contains("tls_cert"), "{config}");
    let path = dir.path().join("atende.toml");
    std::fs::write(&path, config).expect("config");
    let log = std::fs::File::create(dir.path().join("atende.log")).expect("log");
    let child = Command::new(env!("CARGO_BIN_EXE_atende"))
        .args(["serve", "--config"])
        .arg(&path)
        .env("RUST_LOG", "info,rsipstack=warn,sqlx=warn")
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("atende starts");
    let server = Https {
        child,
        dir,
        port: http_port,
        cert,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if curl(&server, &["/healthz"]).0 == 200 {
            return server;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!(
        "atende did not answer over HTTPS; log:\n{}",
        std::fs::read_to_string(server.dir.path().join("atende.log")).unwrap_or_default()
    );
}

/// `curl` over HTTPS trusting only the test's certificate: (status, headers and body).
fn curl(server: &Https, args: &[&str]) -> (u16, String) {
    let (path, rest) = args.split_first().expect("a path");
    let out = Command::new(require("curl"))
        .args(["-sS", "-i", "--max-time", "10", "--cacert"])
        .arg(&server.cert)
        .args(rest)
        .arg(format!("https://127.0.0.1:{}{path}", server.port))
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

fn https_serves_the_api_with_a_secure_cookie(db: Db) {
    let server = start(db);
    let login = serde_json::json!({ "user": ADMIN_USER, "password": ADMIN_PASSWORD }).to_string();
    let (status, answer) = curl(
        &server,
        &[
            "/api/login",
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "-d",
            &login,
        ],
    );
    assert_eq!(status, 204, "{answer}");
    let cookie_line = answer
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .expect("a cookie");
    assert!(cookie_line.contains("; Secure"), "{cookie_line}");
    assert!(cookie_line.contains("HttpOnly"), "{cookie_line}");
    let cookie = cookie_line
        .split_once(':')
        .and_then(|(_, v)| v.trim().split(';').next())
        .expect("cookie value")
        .to_owned();
    let (status, answer) = curl(&server, &["/api/me", "-H", &format!("Cookie: {cookie}")]);
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("\"role\":\"admin\""), "{answer}");
    // Plain HTTP on the same port gets no API.
    assert!(!matches!(
        http_get(server.port, "/healthz", false),
        Ok((200, _))
    ));
    let log = std::fs::read_to_string(server.dir.path().join("atende.log")).unwrap_or_default();
    assert!(log.contains("HTTPS listening"), "{log}");
}

#[test]
fn https_serves_the_api_with_a_secure_cookie_sqlite() {
    https_serves_the_api_with_a_secure_cookie(Db::Sqlite);
}

#[test]
fn https_serves_the_api_with_a_secure_cookie_postgres() {
    https_serves_the_api_with_a_secure_cookie(Db::Postgres);
}
