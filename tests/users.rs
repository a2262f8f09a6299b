//! End to end, over real HTTP, on SQLite and PostgreSQL: users log in and out, a session
//! cookie is what the API takes, roles refuse with 403 (and an audit entry), a disabled
//! user or a changed role loses their sessions at once, failed logins are limited, idle
//! sessions expire, and the `atende user` / `atende audit` commands work on the database.

mod support;

use std::io::Write;
use std::process::{Command, Stdio};

use support::*;

/// A request with `cookie` (`atende_session=…`): (status, head, JSON body or null).
fn req(
    server: &Server,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    json: Option<&str>,
) -> (u16, String, serde_json::Value) {
    let extra = cookie.map_or(String::new(), |c| format!("Cookie: {c}\r\n"));
    let (status, head, body) =
        raw_request(server.http_port, method, path, &extra, json).expect("HTTP reachable");
    let json = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    (status, head, json)
}

fn login_as(server: &Server, user: &str, password: &str) -> String {
    login(server.http_port, user, password)
        .expect("HTTP reachable")
        .unwrap_or_else(|| panic!("{user} cannot log in"))
}

fn admin(server: &Server) -> String {
    login_as(server, ADMIN_USER, ADMIN_PASSWORD)
}

fn add_user(server: &Server, admin: &str, body: serde_json::Value) {
    let (status, _, answer) = req(
        server,
        "POST",
        "/api/users",
        Some(admin),
        Some(&body.to_string()),
    );
    assert_eq!(status, 201, "{answer}");
}

fn audit_actions(server: &Server, admin: &str) -> (Vec<String>, serde_json::Value) {
    let (status, _, body) = req(server, "GET", "/api/audit?limit=1000", Some(admin), None);
    assert_eq!(status, 200, "{body}");
    let actions = body["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| format!("{} {} {}", e["actor"], e["action"], e["target"]).replace('"', ""))
        .collect();
    (actions, body["verify"].clone())
}

fn sessions_roles_and_revocation(db: Db) {
    let server = Server::start(db, &["1001"]);
    let adm = admin(&server);
    // The cookie is what a browser must keep to itself.
    let body = serde_json::json!({ "user": ADMIN_USER, "password": ADMIN_PASSWORD }).to_string();
    let (status, head, _) = req(&server, "POST", "/api/login", None, Some(&body));
    assert_eq!(status, 204);
    let set_cookie = head
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .expect("a cookie is set");
    for attr in ["atende_session=", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set_cookie.contains(attr), "{set_cookie}");
    }
    assert!(!set_cookie.contains("Secure"), "plain HTTP: {set_cookie}");

    add_user(
        &server,
        &adm,
        serde_json::json!({"name": "sup", "role": "supervisor", "queues": ["geral"],
                           "password": "senha-sup-1", "display_name": "Supervisora"}),
    );
    add_user(
        &server,
        &adm,
        serde_json::json!({"name": "aud", "role": "auditor", "password": "senha-aud-1"}),
    );
    add_user(
        &server,
        &adm,
        serde_json::json!({"name": "ag", "role": "agent", "agent": "1001", "password": "senha-ag-1"}),
    );
    // An agent user needs its agent.
    let (status, _, _) = req(
        &server,
        "POST",
        "/api/users",
        Some(&adm),
        Some(r#"{"name":"x","role":"agent","password":"senha-x-12"}"#),
    );
    assert_eq!(status, 422);

    // Wrong name and wrong password answer the same.
    let wrong_pw = req(
        &server,
        "POST",
        "/api/login",
        None,
        Some(r#"{"user":"sup","password":"nope-nope"}"#),
    );
    let wrong_user = req(
        &server,
        "POST",
        "/api/login",
        None,
        Some(r#"{"user":"ninguem","password":"nope-nope"}"#),
    );
    assert_eq!((wrong_pw.0, &wrong_pw.2), (401, &wrong_user.2));
    assert_eq!(wrong_user.0, 401);

    let sup = login_as(&server, "sup", "senha-sup-1");
    let (status, _, me) = req(&server, "GET", "/api/me", Some(&sup), None);
    assert_eq!(status, 200);
    assert_eq!(me["user"], "sup");
    assert_eq!(me["display_name"], "Supervisora");
    assert_eq!(me["role"], "supervisor");
    assert_eq!(me["queues"], serde_json::json!(["geral"]));
    let (status, _, ticket) = req(&server, "POST", "/api/cti/ticket", Some(&sup), None);
    assert_eq!(status, 200);
    assert_eq!(ticket["ticket"].as_str().map(str::len), Some(64));

    // Roles: a supervisor may not reload the config or read the audit log; an agent may
    // not read call records; an auditor may read records and the audit log.
    let (status, _, _) = req(&server, "POST", "/api/config/reload", Some(&sup), None);
    assert_eq!(status, 403);
    let (status, _, _) = req(&server, "GET", "/api/audit", Some(&sup), None);
    assert_eq!(status, 403);
    let ag = login_as(&server, "ag", "senha-ag-1");
    let (status, _, _) = req(&server, "GET", "/api/calls", Some(&ag), None);
    assert_eq!(status, 403);
    let (status, _, _) = req(&server, "GET", "/api/users", Some(&ag), None);
    assert_eq!(status, 403);
    let aud = login_as(&server, "aud", "senha-aud-1");
    let (status, _, _) = req(&server, "GET", "/api/calls", Some(&aud), None);
    assert_eq!(status, 200);
    let (status, _, _) = req(&server, "POST", "/api/config/reload", Some(&aud), None);
    assert_eq!(status, 403);
    // No session, or a made-up one: 401.
    let (status, _, _) = req(&server, "GET", "/api/calls", None, None);
    assert_eq!(status, 401);
    let (status, _, _) = req(
        &server,
        "GET",
        "/api/calls",
        Some("atende_session=00ff"),
        None,
    );
    assert_eq!(status, 401);

    // Logout ends the session.
    let (status, _, _) = req(&server, "POST", "/api/logout", Some(&aud), None);
    assert_eq!(status, 204);
    let (status, _, _) = req(&server, "GET", "/api/me", Some(&aud), None);
    assert_eq!(status, 401);

    // A changed role ends the user's sessions; the new role applies at the next login.
    let (status, _, changed) = req(
        &server,
        "PATCH",
        "/api/users/sup",
        Some(&adm),
        Some(r#"{"role":"auditor"}"#),
    );
    assert_eq!(status, 200, "{changed}");
    let (status, _, _) = req(&server, "GET", "/api/me", Some(&sup), None);
    assert_eq!(status, 401);
    let sup = login_as(&server, "sup", "senha-sup-1");
    let (status, _, me) = req(&server, "GET", "/api/me", Some(&sup), None);
    assert_eq!((status, me["role"].as_str()), (200, Some("auditor")));

    // Disabling a user ends their sessions and refuses their logins.
    let (status, _, _) = req(
        &server,
        "PATCH",
        "/api/users/ag",
        Some(&adm),
        Some(r#"{"disabled":true}"#),
    );
    assert_eq!(status, 200);
    let (status, _, _) = req(&server, "GET", "/api/me", Some(&ag), None);
    assert_eq!(status, 401);
    assert_eq!(
        login(server.http_port, "ag", "senha-ag-1").expect("HTTP"),
        None
    );

    let (status, _, users) = req(&server, "GET", "/api/users", Some(&adm), None);
    assert_eq!(status, 200);
    let ag_row = users
        .as_array()
        .expect("list")
        .iter()
        .find(|u| u["name"] == "ag")
        .expect("ag listed")
        .clone();
    assert_eq!(ag_row["disabled"], true);
    assert!(ag_row.get("password_hash").is_none(), "{ag_row}");

    let (actions, verify) = audit_actions(&server, &adm);
    assert_eq!(verify["ok"], true, "{verify}");
    for expected in [
        "admin user.add sup",
        "admin user.add ag",
        "sup login.failed sup",
        "ninguem login.failed ninguem",
        "sup login sup",
        "sup denied POST /api/config/reload",
        "sup denied GET /api/audit",
        "ag denied GET /api/calls",
        "aud logout aud",
        "admin user.role sup",
        "admin user.disable ag",
    ] {
        assert!(
            actions.iter().any(|a| a == expected),
            "{expected} not in {actions:#?}"
        );
    }
}

#[test]
fn sessions_roles_and_revocation_sqlite() {
    sessions_roles_and_revocation(Db::Sqlite);
}

#[test]
fn sessions_roles_and_revocation_postgres() {
    sessions_roles_and_revocation(Db::Postgres);
}

fn failed_logins_are_limited_and_idle_sessions_expire(db: Db) {
    let server = Server::start(db, &["1001"]);
    // Sessions end after 2 s idle or 4 s after login (a restart applies the settings).
    let config_path = server.dir.path().join("atende.toml");
    let config = std::fs::read_to_string(&config_path).expect("config");
    let config = config.replacen(
        "[http]\n",
        "[http]\nsession_idle_secs = 2\nsession_max_secs = 4\n",
        1,
    );
    std::fs::write(&config_path, config).expect("write config");
    let server = server.restart();

    let wrong = r#"{"user":"admin","password":"wrong-password"}"#;
    for _ in 0..5 {
        let (status, _, _) = req(&server, "POST", "/api/login", None, Some(wrong));
        assert_eq!(status, 401);
    }
    // The sixth try is refused even with the right password, saying when to come back.
    let right = serde_json::json!({ "user": ADMIN_USER, "password": ADMIN_PASSWORD }).to_string();
    let (status, head, _) = req(&server, "POST", "/api/login", None, Some(&right));
    assert_eq!(status, 429);
    let retry: u64 = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("retry-after:")
                .map(|v| v.trim().to_owned())
        })
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    assert!((1..=300).contains(&retry), "{retry}");

    // Another user logs in meanwhile; their session lapses when left idle.
    let adm_db = {
        let out = user_cli(
            &server,
            &["add", "outra", "--role", "auditor"],
            Some("senha-outra"),
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        login_as(&server, "outra", "senha-outra")
    };
    let (status, _, _) = req(&server, "GET", "/api/me", Some(&adm_db), None);
    assert_eq!(status, 200);
    std::thread::sleep(std::time::Duration::from_millis(3500));
    let (status, _, body) = req(&server, "GET", "/api/me", Some(&adm_db), None);
    assert_eq!(status, 401);
    assert_eq!(body["code"], "expired", "{body}");
    let (status, _, body) = req(&server, "GET", "/api/me", Some(&adm_db), None);
    assert_eq!((status, body["code"].as_str()), (401, Some("bad")));

    let auditor = login_as(&server, "outra", "senha-outra");
    let (actions, _) = audit_actions(&server, &auditor);
    assert_eq!(
        actions
            .iter()
            .filter(|a| *a == "admin login.failed admin")
            .count(),
        5
    );
    assert!(actions.iter().any(|a| a == "admin login.limited admin"));
}

#[test]
fn failed_logins_are_limited_and_idle_sessions_expire_sqlite() {
    failed_logins_are_limited_and_idle_sessions_expire(Db::Sqlite);
}

#[test]
fn failed_logins_are_limited_and_idle_sessions_expire_postgres() {
    failed_logins_are_limited_and_idle_sessions_expire(Db::Postgres);
}

/// The server process's peak resident memory so far (KiB).
fn peak_kib(server: &Server) -> u64 {
    std::fs::read_to_string(format!("/proc/{}/status", server.pid()))
        .expect("the server's /proc status")
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmHWM")
}

/// A shift logging in at once: every login succeeds, in turn, and the server's memory
/// stays bounded (each password check takes 19 MiB; unbounded, 40 at once took the server
/// from ~50 MB to ~830 MB).
fn a_burst_of_logins_is_served_in_turn(db: Db) {
    let server = Server::start(db, &["1001"]);
    let before = peak_kib(&server);
    let right = serde_json::json!({ "user": ADMIN_USER, "password": ADMIN_PASSWORD }).to_string();
    // A few unknown names among them (one try each: under the failed-login limits).
    let wrong: Vec<String> = (0..10)
        .map(|i| {
            serde_json::json!({ "user": format!("ninguem{i}"), "password": "errada-123" })
                .to_string()
        })
        .collect();
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let logins: Vec<_> = (0..40)
            .map(|i| {
                let body = if i % 4 == 3 { &wrong[i / 4] } else { &right };
                let server = &server;
                s.spawn(move || req(server, "POST", "/api/login", None, Some(body)).0)
            })
            .collect();
        logins
            .into_iter()
            .map(|t| t.join().expect("login thread"))
            .collect()
    });
    assert_eq!(
        statuses.iter().filter(|s| **s == 204).count(),
        30,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        10,
        "{statuses:?}"
    );
    let hashers = (std::thread::available_parallelism().map_or(1, |n| n.get()) / 2).max(1);
    let grown_mib = peak_kib(&server).saturating_sub(before) / 1024;
    assert!(
        grown_mib <= 19 * hashers as u64 + 64,
        "the server's peak memory grew by {grown_mib} MiB for {hashers} password hasher(s)"
    );
    // Still serving: a login after the burst.
    login_as(&server, ADMIN_USER, ADMIN_PASSWORD);
}

#[test]
fn a_burst_of_logins_is_served_in_turn_sqlite() {
    a_burst_of_logins_is_served_in_turn(Db::Sqlite);
}

#[test]
fn a_burst_of_logins_is_served_in_turn_postgres() {
    a_burst_of_logins_is_served_in_turn(Db::Postgres);
}

/// `atende user ARGS --config <server's>` with `stdin` as its input.
fn user_cli(server: &Server, args: &[&str], stdin: Option<&str>) -> std::process::Output {
    atende_cli(server, "user", args, stdin)
}

fn atende_cli(
    server: &Server,
    command: &str,
    args: &[&str],
    stdin: Option<&str>,
) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_atende"))
        .arg(command)
        .args(args)
        .arg("--config")
        .arg(server.dir.path().join("atende.toml"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("atende runs");
    let mut input = child.stdin.take().expect("stdin");
    if let Some(text) = stdin {
        writeln!(input, "{text}").expect("write stdin");
    }
    drop(input);
    child.wait_with_output().expect("atende ends")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn cli_user_commands(db: Db) {
    let server = Server::start(db, &["1001"]);
    let out = user_cli(
        &server,
        &[
            "add",
            "maria",
            "--role",
            "supervisor",
            "--queues",
            "geral,pericia",
            "--password-stdin",
        ],
        Some("senha-da-maria"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = user_cli(
        &server,
        &["add", "joao", "--role", "agent"],
        Some("senha-do-joao"),
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("--agent"),
        "{}",
        text(&out.stderr)
    );
    let out = user_cli(
        &server,
        &["add", "curta", "--role", "auditor"],
        Some("curta"),
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("at least 8"),
        "{}",
        text(&out.stderr)
    );

    let maria = login_as(&server, "maria", "senha-da-maria");
    let (_, _, me) = req(&server, "GET", "/api/me", Some(&maria), None);
    assert_eq!(me["queues"], serde_json::json!(["geral", "pericia"]));

    let out = user_cli(&server, &["list"], None);
    assert!(out.status.success());
    let list = text(&out.stdout);
    assert!(
        list.lines()
            .any(|l| l.starts_with("maria\tsupervisor\t-\tgeral,pericia\tenabled")),
        "{list}"
    );
    assert!(
        list.lines().any(|l| l.starts_with("admin\tadmin\t")),
        "{list}"
    );

    // A new password ends her sessions; the old password no longer works.
    let out = user_cli(&server, &["passwd", "maria"], Some("nova-senha-maria"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (status, _, _) = req(&server, "GET", "/api/me", Some(&maria), None);
    assert_eq!(status, 401);
    assert_eq!(
        login(server.http_port, "maria", "senha-da-maria").expect("HTTP"),
        None
    );
    let maria = login_as(&server, "maria", "nova-senha-maria");
    let out = user_cli(&server, &["disable", "maria"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (status, _, _) = req(&server, "GET", "/api/me", Some(&maria), None);
    assert_eq!(status, 401);
    assert_eq!(
        login(server.http_port, "maria", "nova-senha-maria").expect("HTTP"),
        None
    );
    let out = user_cli(&server, &["disable", "ninguem"], None);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no user"),
        "{}",
        text(&out.stderr)
    );

    let out = atende_cli(&server, "audit", &["verify"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("audit log ok"),
        "{}",
        text(&out.stdout)
    );
    let adm = admin(&server);
    let (actions, _) = audit_actions(&server, &adm);
    let me = format!(
        "cli:{} user.disable maria",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    );
    assert!(actions.contains(&me), "{actions:#?}");
}

#[test]
fn cli_user_commands_sqlite() {
    cli_user_commands(Db::Sqlite);
}

#[test]
fn cli_user_commands_postgres() {
    cli_user_commands(Db::Postgres);
}

fn live_acd_is_shown_within_the_supervisors_scope(db: Db) {
    let server = Server::start_ivr(db, &support::ivr::IvrOptions::open_with(&["1001"]));
    let adm = admin(&server);
    add_user(
        &server,
        &adm,
        serde_json::json!({"name": "pericia", "role": "supervisor", "queues": ["pericia"],
                           "password": "senha-pericia"}),
    );
    add_user(
        &server,
        &adm,
        serde_json::json!({"name": "vazia", "role": "supervisor", "password": "senha-vazia"}),
    );
    add_user(
        &server,
        &adm,
        serde_json::json!({"name": "aud", "role": "auditor", "password": "senha-aud-1"}),
    );
    let ids = |v: &serde_json::Value, field: &str| -> Vec<String> {
        v.as_array()
            .expect("a list")
            .iter()
            .map(|x| x[field].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let (status, _, all) = req(&server, "GET", "/api/queues", Some(&adm), None);
    assert_eq!(status, 200);
    assert_eq!(ids(&all, "queue").len(), 5, "{all}");

    let sup = login_as(&server, "pericia", "senha-pericia");
    let (status, _, queues) = req(&server, "GET", "/api/queues", Some(&sup), None);
    assert_eq!(status, 200);
    assert_eq!(ids(&queues, "queue"), ["pericia"]);
    let (_, _, agents) = req(&server, "GET", "/api/agents", Some(&sup), None);
    assert_eq!(ids(&agents, "agent"), ["1001"]);
    let (status, _, _) = req(&server, "GET", "/api/agents/1001/events", Some(&sup), None);
    assert_eq!(status, 200);

    let none = login_as(&server, "vazia", "senha-vazia");
    let (_, _, queues) = req(&server, "GET", "/api/queues", Some(&none), None);
    assert_eq!(queues, serde_json::json!([]));
    let (_, _, agents) = req(&server, "GET", "/api/agents", Some(&none), None);
    assert_eq!(agents, serde_json::json!([]));
    let (status, _, _) = req(&server, "GET", "/api/agents/1001/events", Some(&none), None);
    assert_eq!(status, 403);
    let (actions, _) = audit_actions(&server, &adm);
    assert!(
        actions.contains(&"vazia denied GET /api/agents/1001/events".to_owned()),
        "{actions:#?}"
    );

    let aud = login_as(&server, "aud", "senha-aud-1");
    let (status, _, _) = req(&server, "GET", "/api/queues", Some(&aud), None);
    assert_eq!(status, 403);
}

#[test]
fn live_acd_is_shown_within_the_supervisors_scope_sqlite() {
    live_acd_is_shown_within_the_supervisors_scope(Db::Sqlite);
}

#[test]
fn live_acd_is_shown_within_the_supervisors_scope_postgres() {
    live_acd_is_shown_within_the_supervisors_scope(Db::Postgres);
}
