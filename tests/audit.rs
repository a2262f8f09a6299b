//! End to end, on SQLite and PostgreSQL: a call's recording is served only to the roles
//! allowed to hear it, every play and download is in the audit log, and the log's hash
//! chain shows a changed or deleted entry (`atende audit verify`, `POST
//! /api/audit/verify`); `GET /api/audit` answers the kept verification without walking.
//! (The `audit_chain_broken` alarm a broken walk raises is in tests/alarms.rs.)

mod support;

use std::process::Command;

use support::*;

fn req(
    server: &Server,
    method: &str,
    path: &str,
    cookie: &str,
    json: Option<&str>,
) -> (u16, String, Vec<u8>) {
    raw_request(
        server.http_port,
        method,
        path,
        &format!("Cookie: {cookie}\r\n"),
        json,
    )
    .expect("HTTP reachable")
}

fn login_as(server: &Server, user: &str, password: &str) -> String {
    login(server.http_port, user, password)
        .expect("HTTP reachable")
        .unwrap_or_else(|| panic!("{user} cannot log in"))
}

fn audit(server: &Server, cookie: &str) -> serde_json::Value {
    let (status, _, body) = req(server, "GET", "/api/audit?limit=1000", cookie, None);
    assert_eq!(status, 200);
    serde_json::from_slice(&body).expect("JSON")
}

fn has(audit: &serde_json::Value, actor: &str, action: &str, target: &str) -> bool {
    audit["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .any(|e| e["actor"] == actor && e["action"] == action && e["target"] == target)
}
/// `POST /api/audit/verify`: the status and the result.
fn verify_now(server: &Server, cookie: &str) -> (u16, serde_json::Value) {
    let (status, _, body) = req(server, "POST", "/api/audit/verify", cookie, None);
    (status, serde_json::from_slice(&body).unwrap_or_default())
}

fn verify_cli(server: &Server) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_atende"))
        .args(["audit", "verify", "--config"])
        .arg(server.dir.path().join("atende.toml"))
        .output()
        .expect("atende runs")
}

fn recordings_are_gated_and_audited_and_tampering_shows(db: Db) {
    let server = Server::start(db, &["1001"]);
    let agent_port = free_port();
    register_agent(&server, "1001", agent_port);
    let agent = start_answering_agent(&server, agent_port, 1, 500);
    let caller = start_caller(&server, 3500, 2500, &[]);
    wait_ok(caller, "caller", &server);
    wait_ok(agent, "agent phone", &server);
    let (protocol, _) = wait_for_event(&server, "recording_finalized");

    let adm = login_as(&server, ADMIN_USER, ADMIN_PASSWORD);
    for user in [
        r#"{"name":"aud","role":"auditor","password":"senha-aud-1"}"#,
        r#"{"name":"ag","role":"agent","agent":"1001","password":"senha-ag-1"}"#,
        r#"{"name":"sup","role":"supervisor","queues":["geral"],"password":"senha-sup-1"}"#,
    ] {
        let (status, _, body) = req(&server, "POST", "/api/users", &adm, Some(user));
        assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    }
    let path = format!("/api/calls/{protocol}/recording");

    // Admin downloads, auditor plays: both get the WAV, both are in the log.
    let (status, head, wav) = req(&server, "GET", &path, &adm, None);
    assert_eq!(status, 200);
    assert_eq!(&wav[..4], b"RIFF");
    assert!(head.contains("attachment"), "{head}");
    let aud = login_as(&server, "aud", "senha-aud-1");
    let (status, head, wav) = req(&server, "GET", &format!("{path}?play=true"), &aud, None);
    assert_eq!(status, 200);
    assert_eq!(&wav[..4], b"RIFF");
    assert!(head.contains("inline"), "{head}");

    // An agent may not hear recordings; a supervisor only those of calls through their
    // queues (this call came to the service directly, through no queue).
    let ag = login_as(&server, "ag", "senha-ag-1");
    let (status, _, wav) = req(&server, "GET", &path, &ag, None);
    assert_eq!(status, 403);
    assert!(!wav.starts_with(b"RIFF"));
    let sup = login_as(&server, "sup", "senha-sup-1");
    let (status, _, _) = req(&server, "GET", &path, &sup, None);
    assert_eq!(status, 403);
    let (status, _, _) = req(
        &server,
        "GET",
        &format!("/api/calls/{protocol}"),
        &sup,
        None,
    );
    assert_eq!(status, 403);
    let (status, _, list) = req(&server, "GET", "/api/calls", &sup, None);
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&list).expect("JSON"),
        serde_json::json!([])
    );

    // Only admins and auditors may verify: the others' refusals are audited.
    assert_eq!(verify_now(&server, &ag).0, 403);
    assert_eq!(verify_now(&server, &sup).0, 403);
    let (status, kept) = verify_now(&server, &aud);
    assert_eq!(status, 200, "{kept}");
    assert_eq!(kept["ok"], true, "{kept}");
    assert_eq!(kept["full"], true, "{kept}");
    assert!(kept["rows"].as_u64().unwrap_or(0) > 5, "{kept}");
    let log = audit(&server, &aud);
    assert_eq!(log["verify"], kept, "the GET answers the kept result");
    assert!(has(&log, "aud", "audit.verify", "audit_log"), "{log}");
    assert!(has(&log, "ag", "denied", "POST /api/audit/verify"), "{log}");
    assert!(
        has(&log, "sup", "denied", "POST /api/audit/verify"),
        "{log}"
    );
    assert!(has(&log, "admin", "recording.download", &protocol), "{log}");
    assert!(has(&log, "aud", "recording.play", &protocol), "{log}");
    let target = format!("GET /api/calls/{protocol}/recording");
    assert!(has(&log, "ag", "denied", &target), "{log}");
    assert!(has(&log, "sup", "denied", &target), "{log}");
    let detail = format!("GET /api/calls/{protocol}");
    assert!(has(&log, "sup", "denied", &detail), "{log}");
    let out = verify_cli(&server);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Someone with database access rewrites entry 3: both checks name it.
    let original = log["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .find(|e| e["id"] == 3)
        .and_then(|e| e["detail"].as_str())
        .expect("entry 3")
        .replace('\'', "''");
    support::records::run_sql(
        &support::records::database_url(&server),
        "UPDATE audit_log SET detail = 'nada aconteceu' WHERE id = 3",
    );
    let out = verify_cli(&server);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(err.contains("BROKEN at entry 3"), "{err}");
    // The GET does not walk: it still says what the last walk found, when it found it.
    let log = audit(&server, &aud);
    assert_eq!(log["verify"], kept);
    let (status, broken) = verify_now(&server, &adm);
    assert_eq!(status, 200);
    assert_eq!(broken["ok"], false, "{broken}");
    assert_eq!(broken["broken_at"], 3, "{broken}");
    assert!(
        broken["checked_at_ms"].as_i64() >= kept["checked_at_ms"].as_i64(),
        "{broken}"
    );
    assert_eq!(audit(&server, &aud)["verify"], broken);

    // Put back, the chain holds again; an entry deleted from the middle is found at the
    // entry after it.
    support::records::run_sql(
        &support::records::database_url(&server),
        &format!("UPDATE audit_log SET detail = '{original}' WHERE id = 3"),
    );
    assert_eq!(verify_now(&server, &aud).1["ok"], true);
    support::records::run_sql(
        &support::records::database_url(&server),
        "DELETE FROM audit_log WHERE id = 5",
    );
    let (_, v) = verify_now(&server, &aud);
    assert_eq!(v["ok"], false);
    assert_eq!(v["broken_at"], 6);
    let out = verify_cli(&server);
    assert!(!out.status.success());
}

#[test]
fn recordings_are_gated_and_audited_and_tampering_shows_sqlite() {
    recordings_are_gated_and_audited_and_tampering_shows(Db::Sqlite);
}

#[test]
fn recordings_are_gated_and_audited_and_tampering_shows_postgres() {
    recordings_are_gated_and_audited_and_tampering_shows(Db::Postgres);
}
