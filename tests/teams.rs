//! End to end, on SQLite and PostgreSQL: teams. A supervisor scoped to team "norte"
//! (agent 1001, queue pericia) opens the CTI websocket on the real server: the snapshot
//! shows only the team's agent and queue, and when agents of both teams change state
//! (every agent serves every queue here, so only the team keeps 1002 out) only 1001's
//! change is delivered. The agents/queues API filters the same way, and asking for the
//! other team's agent is refused with 403 and audited. A user naming an unknown team is
//! refused by the API and the CLI; `atende check-config` refuses a team naming an unknown
//! agent. A SIGHUP reload is written to the audit log by the actor `signal`, with what
//! changed, and a refused one too. An agent's desktop shows as "group" figures their
//! team's: a call answered by 1001 counts in 1001's group and not in 1002's (team "sul"),
//! though 1002 serves the same queues.
//!
//! In a real headless Chromium: agent 1001's desktop shows "Equipe: Equipe Norte" next to
//! the operator and titles its group figures "Equipe"; an admin's wallboard offers the
//! teams next to the queues: picking "sul" shows 1002 only and the queue pagamentos only,
//! kept in the URL; picking a queue clears the team. `/api/wallboard?team=` gives a team
//! supervisor their own team only (another is refused 403 and audited), and a queue and a
//! team at once get 400; the summed reports take `?team=` the same way. Screenshots in
//! `target/test-artifacts/team_pages_*`.

#[path = "support/answered.rs"]
mod answered;
#[path = "support/browser.rs"]
mod browser;
#[path = "support/cti_ws.rs"]
mod cti_ws;
mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use answered::answered_call;
use browser::Browser;
use cti_ws::*;
use serde_json::{Value, json};
use support::ivr::*;
use support::*;

const TEAMS: &str = r#"
[teams.norte]
name = "Equipe Norte"
agents = ["1001"]
queues = ["pericia"]

[teams.sul]
name = "Equipe Sul"
agents = ["1002"]
queues = ["pagamentos"]

[[users]]
name = "sup.norte"
role = "supervisor"
teams = ["norte"]
password_hash = "HASH"
"#;

fn start(db: Db) -> Server {
    Server::start_ivr_config(
        db,
        &IvrOptions::open_with(&["1001", "1002"]),
        Prompts::Short,
        4,
        "",
        &format!(
            "{}{}",
            TEAMS.replace("HASH", ADMIN_HASH),
            agent_users(&["1001", "1002"])
        ),
    )
}

fn field(list: &Value, name: &str) -> Vec<String> {
    list.as_array()
        .expect("a list")
        .iter()
        .map(|x| x[name].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// The audit log's entries as "actor action target | detail".
fn audit(server: &Server, admin: &str) -> Vec<String> {
    let (status, body) = request_as(server, "GET", "/api/audit?limit=1000", admin, None);
    assert_eq!(status, 200, "{body}");
    body["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| {
            format!(
                "{} {} {} | {}",
                e["actor"].as_str().unwrap_or_default(),
                e["action"].as_str().unwrap_or_default(),
                e["target"].as_str().unwrap_or_default(),
                e["detail"].as_str().unwrap_or_default()
            )
        })
        .collect()
}

fn a_team_supervisor_sees_and_acts_on_the_team_only(db: Db) {
    let server = start(db);
    let port = server.http_port;
    let origin = format!("http://127.0.0.1:{port}");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let sup = session(&server, "sup.norte");
    let (status, me) = request_as(&server, "GET", "/api/me", &sup, None);
    assert_eq!(status, 200);
    assert_eq!(
        me["teams"],
        json!([{"team": "norte", "name": "Equipe Norte"}])
    );
    assert_eq!(me["queues"], json!(["pericia"]));

    let mut board = rt.block_on(open(port, &sup, &origin));
    let first = rt.block_on(cti_ws::start(&mut board));
    assert_eq!(first["welcome"]["role"], "supervisor");
    assert_eq!(field(&first["snapshot"]["agents"], "agent"), ["1001"]);
    assert_eq!(field(&first["snapshot"]["queues"], "queue"), ["pericia"]);

    // The other team's agent pauses first, then the team's: the supervisor's first agent
    // event is the team's (events are delivered in bus order, so 1002's would come first).
    let mut desk_a = desk(&rt, &server, "ag1001");
    let mut desk_b = desk(&rt, &server, "ag1002");
    accepted(&rt, &mut desk_b, "b-1", "pause", json!({"reason": "lunch"}));
    assert_eq!(
        rt.block_on(next(&mut desk_b, "agent_state"))["state"],
        "paused"
    );
    accepted(&rt, &mut desk_a, "a-1", "pause", json!({"reason": "lunch"}));
    let seen = rt.block_on(next(&mut board, "agent_state"));
    assert_eq!(
        (seen["agent"].as_str(), seen["state"].as_str()),
        (Some("1001"), Some("paused"))
    );
    // And the other team's going ready reaches its own desktop, then the team's going
    // ready reaches the supervisor with nothing of 1002 in between.
    accepted(&rt, &mut desk_b, "b-2", "ready", json!({}));
    assert_eq!(
        rt.block_on(next(&mut desk_b, "agent_state"))["state"],
        "available"
    );
    accepted(&rt, &mut desk_a, "a-2", "ready", json!({}));
    let seen = rt.block_on(next(&mut board, "agent_state"));
    assert_eq!(
        (seen["agent"].as_str(), seen["state"].as_str()),
        (Some("1001"), Some("available"))
    );
    for m in &board.read {
        assert_ne!(m["agent"], "1002", "another team's event delivered: {m}");
    }

    // The API shows the same scope; the other team's agent is refused and audited.
    let (_, agents) = request_as(&server, "GET", "/api/agents", &sup, None);
    assert_eq!(field(&agents, "agent"), ["1001"]);
    let (_, queues) = request_as(&server, "GET", "/api/queues", &sup, None);
    assert_eq!(field(&queues, "queue"), ["pericia"]);
    let (status, _) = request_as(&server, "GET", "/api/agents/1001/events", &sup, None);
    assert_eq!(status, 200);
    let (status, _) = request_as(&server, "GET", "/api/agents/1002/events", &sup, None);
    assert_eq!(status, 403);
    let (status, _) = request_as(
        &server,
        "GET",
        "/api/reports/calls?from=2026-12-01&queue=pagamentos",
        &sup,
        None,
    );
    assert_eq!(status, 403, "another team's queue in the reports");
    // A team in the summed reports: the sum of its queues, one's own team only.
    let (status, today) = request_as(&server, "GET", "/api/reports/today?team=norte", &sup, None);
    assert_eq!(
        (status, &today["queue"]),
        (200, &json!("pericia")),
        "{today}"
    );
    let (status, _) = request_as(&server, "GET", "/api/reports/today?team=sul", &sup, None);
    assert_eq!(status, 403, "another team in the reports");
    let (status, _) = request_as(
        &server,
        "GET",
        "/api/reports/calls?from=2026-12-01&team=norte",
        &sup,
        None,
    );
    assert_eq!(status, 400, "the call list has no team filter");
    let admin = session(&server, ADMIN_USER);
    let (status, today) = request_as(&server, "GET", "/api/reports/today?team=sul", &admin, None);
    assert_eq!(
        (status, &today["queue"]),
        (200, &json!("pagamentos")),
        "{today}"
    );
    let log = audit(&server, &admin);
    assert!(
        log.iter()
            .any(|l| l.starts_with("sup.norte denied GET /api/agents/1002/events")),
        "{log:#?}"
    );

    // A scope naming a team the config does not have is refused, by the API and the CLI.
    let body = json!({"name": "x.y", "role": "supervisor", "teams": ["leste"],
                      "password": "senha-x-y-1"});
    let (status, answer) = request_as(
        &server,
        "POST",
        "/api/users",
        &admin,
        Some(&body.to_string()),
    );
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap_or_default()
            .contains("leste"),
        "{answer}"
    );
    let body = json!({"name": "sup.sul", "role": "supervisor", "teams": ["sul"],
                      "password": "senha-sup-sul"});
    let (status, answer) = request_as(
        &server,
        "POST",
        "/api/users",
        &admin,
        Some(&body.to_string()),
    );
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["teams"], json!(["sul"]));
    let sul = login(port, "sup.sul", "senha-sup-sul")
        .expect("HTTP")
        .expect("logs in");
    let (_, agents) = request_as(&server, "GET", "/api/agents", &sul, None);
    assert_eq!(field(&agents, "agent"), ["1002"]);
    let out = Command::new(env!("CARGO_BIN_EXE_atende"))
        .args([
            "user",
            "add",
            "z.z",
            "--role",
            "supervisor",
            "--team",
            "leste",
            "--queue",
            "geral",
        ])
        .arg("--config")
        .arg(server.dir.path().join("atende.toml"))
        .output()
        .expect("atende runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("leste"), "{err}");
    // `atende user scope` moves sup.sul to team norte: her session ends, and at her next
    // login she sees norte's agent.
    let out = Command::new(env!("CARGO_BIN_EXE_atende"))
        .args(["user", "scope", "sup.sul", "--team", "norte", "--config"])
        .arg(server.dir.path().join("atende.toml"))
        .output()
        .expect("atende runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (status, _) = request_as(&server, "GET", "/api/agents", &sul, None);
    assert_eq!(status, 401);
    let sul = login(port, "sup.sul", "senha-sup-sul")
        .expect("HTTP")
        .expect("logs in");
    let (_, agents) = request_as(&server, "GET", "/api/agents", &sul, None);
    assert_eq!(field(&agents, "agent"), ["1001"]);
}

#[test]
fn a_team_supervisor_sees_and_acts_on_the_team_only_sqlite() {
    a_team_supervisor_sees_and_acts_on_the_team_only(Db::Sqlite);
}

#[test]
fn a_team_supervisor_sees_and_acts_on_the_team_only_postgres() {
    a_team_supervisor_sees_and_acts_on_the_team_only(Db::Postgres);
}

/// Waits for more than `seen` audit entries of SIGHUP reloads; the newest one.
fn signal_entry(server: &Server, admin: &str, seen: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = request_as(server, "GET", "/api/audit?limit=1000", admin, None);
        assert_eq!(status, 200, "{body}");
        let mut found: Vec<(i64, String)> = body["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .filter(|e| e["actor"] == "signal" && e["target"] == "SIGHUP")
            .map(|e| {
                assert_eq!(e["action"], "config.reload");
                let detail = e["detail"].as_str().unwrap_or_default().to_owned();
                (e["id"].as_i64().expect("id"), detail)
            })
            .collect();
        if found.len() > seen {
            found.sort();
            return found.pop().expect("an entry").1;
        }
        assert!(
            Instant::now() < deadline,
            "no audited SIGHUP reload:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn sighup_reloads_are_audited(db: Db) {
    let server = start(db);
    let admin = session(&server, ADMIN_USER);
    let path = server.dir.path().join("atende.toml");
    let config = std::fs::read_to_string(&path).expect("config");

    // A new team applied by SIGHUP: audited as the signal's, naming the team.
    let with_team = format!(
        "{config}\n[teams.leste]\nname = \"Equipe Leste\"\nagents = [\"1002\"]\nqueues = [\"geral\"]\n"
    );
    std::fs::write(&path, &with_team).expect("written");
    server.signal("HUP");
    let applied = signal_entry(&server, &admin, 0);
    assert!(applied.contains("applied: teams added leste"), "{applied}");

    // A team naming an unknown agent: `atende check-config` refuses it, and so does a
    // SIGHUP reload, audited with why.
    let broken = with_team.replace(
        "agents = [\"1002\"]\nqueues = [\"geral\"]",
        "agents = [\"9999\"]\nqueues = [\"geral\"]",
    );
    assert_ne!(broken, with_team);
    std::fs::write(&path, &broken).expect("written");
    let out = Command::new(env!("CARGO_BIN_EXE_atende"))
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .expect("atende runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("teams.leste") && err.contains("9999"), "{err}");
    server.signal("HUP");
    let refused = signal_entry(&server, &admin, 1);
    assert!(
        refused.contains("refused:") && refused.contains("9999"),
        "{refused}"
    );
    // The running config kept the team as it was.
    let (_, agents) = request_as(&server, "GET", "/api/agents", &admin, None);
    assert_eq!(field(&agents, "agent"), ["1001", "1002"]);
}

#[test]
fn sighup_reloads_are_audited_sqlite() {
    sighup_reloads_are_audited(Db::Sqlite);
}

#[test]
fn sighup_reloads_are_audited_postgres() {
    sighup_reloads_are_audited(Db::Postgres);
}

fn an_agent_s_group_figures_are_the_team_s(db: Db) {
    let server = start(db);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut ana = desk(&rt, &server, "ag1001");
    let mut bruno = desk(&rt, &server, "ag1002");
    // 1002 away, so the citizen's call rings at 1001; 1001 hangs up from the desktop.
    accepted(&rt, &mut bruno, "b-1", "pause", json!({"reason": "lunch"}));
    let call = answered_call(&server, &[("1001", 1000)]);
    let phone = call.phones.into_iter().next().expect("1001's phone");
    hang_up(
        &rt,
        &mut ana,
        "a-1",
        &call.protocol,
        &server,
        vec![(call.caller, "caller"), (phone, "1001's phone")],
    );
    let mine = figures_until(&rt, &mut ana, |f| {
        f["own"]["answered"] == 1 && f["group"]["answered"] == 1
    });
    assert_eq!(mine["own"]["answered"], 1, "{mine}");
    assert_eq!(
        mine["group"]["answered"], 1,
        "1001's team counts it: {mine}"
    );
    // Read after 1001's figures moved: the call is in the agent log by now.
    let theirs = figures_until(&rt, &mut bruno, |f| f["group"]["answered"].is_u64());
    assert_eq!(theirs["own"]["answered"], 0, "{theirs}");
    assert_eq!(
        theirs["group"]["answered"], 0,
        "another team's call is not in 1002's group: {theirs}"
    );
}

#[test]
fn an_agent_s_group_figures_are_the_team_s_sqlite() {
    an_agent_s_group_figures_are_the_team_s(Db::Sqlite);
}

#[test]
fn an_agent_s_group_figures_are_the_team_s_postgres() {
    an_agent_s_group_figures_are_the_team_s(Db::Postgres);
}

/// Waits until the rows of `css` are `want` (keys joined by commas).
fn wait_rows(b: &Browser, css: &str, key: &str, want: &str) {
    b.wait_for(
        &format!("{css} rows {want}"),
        &format!(
            "return [...document.querySelectorAll('{css} tbody tr')].map((r) => r.dataset.{key}).join(',') === '{want}';"
        ),
    );
}

/// Teams on the pages, in a real headless Chromium (see the top of the file).
fn teams_on_the_pages(db: Db, test: &str) {
    let server = start(db);
    let port = server.http_port;
    let base = format!("http://127.0.0.1:{port}");
    let mut b = Browser::start(test);
    b.collect_page_errors();

    // The agent's desktop names the team and titles the group figures by it.
    b.goto(&format!("{base}/"));
    b.fill("#usuario", "ag1001");
    b.fill("#senha", ADMIN_PASSWORD);
    b.click("#entrar");
    b.wait_for(
        "the desktop opens",
        "return location.pathname === '/desktop/';",
    );
    b.wait_text("#equipe", "Equipe: Equipe Norte");
    assert!(b.shown("#equipe"));
    assert_eq!(b.text("#num-grupo-titulo"), "Equipe");
    b.screenshot("mesa-com-equipe");

    // The admin's wallboard: every team to pick, next to the queues.
    b.log_in_as(ADMIN_USER, ADMIN_PASSWORD);
    b.goto(&format!("{base}/painel/"));
    wait_rows(&b, "#atendentes", "agente", "1001,1002");
    assert!(b.shown("#equipe"), "the team filter is offered");
    let options = b.eval(
        "return [...document.querySelectorAll('#equipe option')].map((o) => o.value + '=' + o.textContent);",
        vec![],
    );
    assert_eq!(
        options,
        serde_json::json!(["=Todas", "norte=Equipe Norte", "sul=Equipe Sul"])
    );
    b.select("#equipe", "sul");
    wait_rows(&b, "#atendentes", "agente", "1002");
    wait_rows(&b, "#filas", "fila", "pagamentos");
    assert!(
        b.eval("return location.search;", vec![])
            .as_str()
            .is_some_and(|s| s.contains("equipe=sul")),
        "the team is kept in the URL"
    );
    b.screenshot("painel-equipe-sul");
    // Opened again from the URL, the board shows the team.
    b.goto(&format!("{base}/painel/?equipe=sul"));
    wait_rows(&b, "#atendentes", "agente", "1002");
    assert_eq!(
        b.eval("return document.getElementById('equipe').value;", vec![]),
        "sul"
    );
    // A queue instead: the team is cleared, the queue's agents are both.
    b.select("#fila", "pagamentos");
    wait_rows(&b, "#atendentes", "agente", "1001,1002");
    wait_rows(&b, "#filas", "fila", "pagamentos");
    assert_eq!(
        b.eval("return document.getElementById('equipe').value;", vec![]),
        ""
    );
    let errors = b.page_errors();
    assert!(errors.is_empty(), "page errors: {errors:?}");

    // The API: a team supervisor picks their own team only.
    let sup = session(&server, "sup.norte");
    let (status, board) = request_as(&server, "GET", "/api/wallboard", &sup, None);
    assert_eq!(status, 200, "{board}");
    assert_eq!(board["teams"][0]["team"], "norte", "{board}");
    assert_eq!(board["teams"].as_array().map(Vec::len), Some(1), "{board}");
    let (status, board) = request_as(&server, "GET", "/api/wallboard?team=norte", &sup, None);
    assert_eq!(status, 200, "{board}");
    assert_eq!(board["team"], "norte");
    assert_eq!(board["agents"][0]["agent"], "1001", "{board}");
    assert_eq!(board["agents"].as_array().map(Vec::len), Some(1), "{board}");
    assert_eq!(
        request_as(&server, "GET", "/api/wallboard?team=sul", &sup, None).0,
        403
    );
    let audit = server.api("/api/audit?limit=100");
    assert!(
        audit["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .any(|e| {
                e["actor"] == "sup.norte"
                    && e["action"] == "denied"
                    && e["target"] == "GET /api/wallboard?team=sul"
            }),
        "{audit}"
    );
    let (status, _) =
        http_get(port, "/api/wallboard?team=norte&queue=pericia", true).expect("API reachable");
    assert_eq!(status, 400, "a queue or a team, not both");
}

#[test]
fn team_pages_sqlite() {
    teams_on_the_pages(Db::Sqlite, "team_pages_sqlite");
}

#[test]
fn team_pages_postgres() {
    teams_on_the_pages(Db::Postgres, "team_pages_postgres");
}
