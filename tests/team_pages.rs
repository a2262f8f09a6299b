//! End to end, in a real headless Chromium: teams on the pages. Team "norte" is agent 1001
//! with queue pericia, "sul" agent 1002 with queue pagamentos (every agent serves every
//! queue here, so only a team tells them apart). Agent 1001's desktop shows "Equipe:
//! Equipe Norte" next to the operator, and its group figures are titled "Equipe". An
//! admin's wallboard offers the teams next to the queues: picking "sul" shows 1002 only
//! and the queue pagamentos only, kept in the URL; picking a queue clears the team. The
//! API behind it: `/api/wallboard?team=` for a team supervisor's own team only (another
//! team is refused 403 and audited), not with a queue at once (400).
//! Screenshots in `target/test-artifacts/team_pages_*`. SQLite and PostgreSQL.

#[path = "support/browser.rs"]
mod browser;
#[path = "support/cti_ws.rs"]
mod cti_ws;
mod support;

use browser::Browser;
use cti_ws::server_with_desks;
use serde_json::Value;
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

/// GET `path` with `cookie`: (status, JSON or null).
fn get_as(port: u16, cookie: &str, path: &str) -> (u16, Value) {
    let (status, _, body) =
        raw_request(port, "GET", path, &format!("Cookie: {cookie}\r\n"), None).expect("HTTP");
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
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

fn teams_on_the_pages(db: Db, test: &str) {
    let server = server_with_desks(db, &["1001", "1002"], &TEAMS.replace("HASH", ADMIN_HASH));
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
    let switched = b.eval_async(&format!(
        "await fetch('/api/logout', {{method: 'POST', credentials: 'same-origin'}}); \
         const r = await fetch('/api/login', {{method: 'POST', credentials: 'same-origin', \
           headers: {{'Content-Type': 'application/json'}}, \
           body: JSON.stringify({{user: '{ADMIN_USER}', password: '{ADMIN_PASSWORD}'}})}}); \
         return r.status;"
    ));
    assert_eq!(switched, 204);
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
    let sup = login(port, "sup.norte", ADMIN_PASSWORD)
        .expect("API")
        .expect("sup.norte logs in");
    let (status, board) = get_as(port, &sup, "/api/wallboard");
    assert_eq!(status, 200, "{board}");
    assert_eq!(board["teams"][0]["team"], "norte", "{board}");
    assert_eq!(board["teams"].as_array().map(Vec::len), Some(1), "{board}");
    let (status, board) = get_as(port, &sup, "/api/wallboard?team=norte");
    assert_eq!(status, 200, "{board}");
    assert_eq!(board["team"], "norte");
    assert_eq!(board["agents"][0]["agent"], "1001", "{board}");
    assert_eq!(board["agents"].as_array().map(Vec::len), Some(1), "{board}");
    assert_eq!(get_as(port, &sup, "/api/wallboard?team=sul").0, 403);
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
