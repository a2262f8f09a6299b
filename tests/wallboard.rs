//! End to end, in a real headless Chromium: the wallboard at `/painel/`. The TV's
//! `wallboard` user logs in at `/` and lands on the board. A citizen (sipp trunk caller,
//! IVR 1-1 to queue "pericia") waits while the only agent is paused: the board shows the
//! call in the waiting list, red once it waits past `[wallboard] wait_alert_secs`, and
//! today's offered count goes up — all without a reload. The agent becomes ready, the
//! phone answers: the board shows the agent in talk with that call; when the call ends
//! the "answered by agents" total and the agent's answered count follow. A restart keeps
//! today's counters (they are the projection's, not memory). The TV user can read the
//! board and nothing else: reports, call records and floor commands are refused (403, or
//! `not_allowed` over the CTI); an admin's board pauses an agent with its row's button. `/metrics` shows the queue's waiting caller and longest
//! wait, agents by state and today's service level, in the Prometheus text format that
//! parses. An admin closes a queue from the board: it shows "fechada pelo supervisor"
//! with "Abrir"; at 1280×720 and 1920×1080 no panel scrolls sideways and every floor
//! button is inside the viewport; reopened from the board.
//! Screenshots in `target/test-artifacts/wallboard_*` (`NN-painel-1280x720.png` …).
//! SQLite and PostgreSQL.

#[path = "support/answered.rs"]
mod answered;
#[path = "support/browser.rs"]
mod browser;
#[path = "support/cti_ws.rs"]
mod cti_ws;
mod support;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use answered::{answering_phones, pericia_caller};
use browser::Browser;
use serde_json::{Value, json};
use support::*;

const EXTRA: &str = r#"
[wallboard]
wait_alert_secs = 2
service_level_min_percent = 95

[[users]]
name = "tv"
role = "wallboard"
password_hash = "HASH"
"#;

/// GET `path` with `cookie`: (status, JSON or null).
fn get_as(port: u16, cookie: &str, path: &str) -> (u16, Value) {
    let (status, _, body) =
        raw_request(port, "GET", path, &format!("Cookie: {cookie}\r\n"), None).expect("HTTP");
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// `/api/wallboard` (as the admin) once `done` holds, within 30 s.
fn board_when(server: &Server, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let b = server.api("/api/wallboard");
        if done(&b) {
            return b;
        }
        assert!(Instant::now() < deadline, "{what} never came: {b}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `/metrics` parsed as the Prometheus text format: every sample's family has a `# TYPE`
/// (counter or gauge) and a `# HELP` before it, and every value is a number. Series
/// (`name{labels}`) → value.
fn scrape(server: &Server) -> HashMap<String, f64> {
    let (status, body) = server.get("/metrics", false);
    assert_eq!(status, 200);
    let text = String::from_utf8(body).expect("UTF-8");
    let (mut helped, mut typed) = (HashSet::new(), HashSet::new());
    let mut series = HashMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            helped.insert(rest.split(' ').next().expect("name").to_owned());
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("name and type");
            assert!(["counter", "gauge"].contains(&kind), "{line}");
            typed.insert(name.to_owned());
        } else {
            let (key, value) = line.rsplit_once(' ').expect("a sample");
            let name = key.split('{').next().expect("name");
            assert!(
                typed.contains(name) && helped.contains(name),
                "no TYPE/HELP before {line}"
            );
            let value: f64 = value
                .parse()
                .unwrap_or_else(|_| panic!("not a number: {line}"));
            assert!(
                series.insert(key.to_owned(), value).is_none(),
                "twice: {key}"
            );
        }
    }
    series
}

/// Sizes the browser so the page gets `w`×`h` CSS pixels. `support/browser.rs` (kept by
/// another part of the suite) has no resize, so this speaks W3C WebDriver to the same
/// chromedriver: its log, kept next to the screenshots, names its port and the session.
/// The window's frame (what Chromium keeps above the page) is measured and added.
fn set_viewport(b: &Browser, test: &str, w: i64, h: i64) {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target/test-artifacts")
        .join(test);
    // The last attempt's log is the session's (the browser stops at the first success).
    let log = (1..=3)
        .rev()
        .find_map(|n| std::fs::read_to_string(dir.join(format!("chromedriver-{n}.log"))).ok())
        .expect("chromedriver log");
    let port: u16 = log
        .split("on port ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .expect("chromedriver's port in its log");
    let session = log
        .lines()
        .find(|l| l.contains("InitSession"))
        .and_then(|l| l.split('[').nth(3))
        .and_then(|r| r.split(']').next())
        .expect("the session in chromedriver's log")
        .to_owned();
    let frame = b.eval(
        "return [outerWidth - innerWidth, outerHeight - innerHeight];",
        vec![],
    );
    let (fw, fh) = (
        frame[0].as_i64().unwrap_or(0),
        frame[1].as_i64().unwrap_or(0),
    );
    let body = json!({"width": w + fw, "height": h + fh}).to_string();
    let answer = webdriver_post(port, &format!("/session/{session}/window/rect"), &body);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    b.wait_for(
        &format!("a {w}x{h} viewport"),
        &format!("return innerWidth === {w} && innerHeight === {h};"),
    );
}

/// One POST to chromedriver, read up to its `Content-Length` (it keeps the connection
/// open, so reading to the end would wait for the timeout); the whole answer as text.
fn webdriver_post(port: u16, path: &str, body: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("chromedriver");
    s.set_read_timeout(Some(Duration::from_secs(15)))
        .expect("timeout");
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("request");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = s.read(&mut buf).expect("chromedriver answers");
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).to_string();
        if let Some((head, rest)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                })
                .unwrap_or(0);
            if rest.len() >= length {
                return text;
            }
        }
        assert!(n > 0, "chromedriver closed mid-answer: {text}");
    }
}

/// What of the board does not fit its width: panels that scroll sideways, the page
/// scrolling sideways, and floor buttons not wholly inside the viewport and their panel.
const FITS: &str = r#"
const vw = document.documentElement.clientWidth;
const out = { viewport: [innerWidth, innerHeight], page: document.documentElement.scrollWidth - vw,
  panels: [], outside: [], buttons: 0 };
for (const p of document.querySelectorAll('.bloco')) {
  if (p.scrollWidth > p.clientWidth) out.panels.push(`${p.getAttribute('aria-label')}: ${p.scrollWidth} > ${p.clientWidth}`);
}
for (const btn of document.querySelectorAll('.controle-sup button')) {
  if (!btn.getClientRects().length) continue;
  out.buttons += 1;
  const r = btn.getBoundingClientRect();
  const box = btn.closest('.bloco').getBoundingClientRect();
  if (r.left < Math.max(0, box.left) || r.right > Math.min(vw, box.right)) {
    out.outside.push(`${btn.textContent} ${Math.round(r.left)}-${Math.round(r.right)} of ${vw}`);
  }
}
return out;
"#;

fn total(b: &Browser, key: &str) -> String {
    b.text(&format!("#totais [data-chave='{key}'] dd"))
}

fn the_wallboard_follows_a_call_live(db: Db, test: &str) {
    let server = cti_ws::server_with_desks(db, &["1001"], &EXTRA.replace("HASH", ADMIN_HASH));
    let port = server.http_port;
    let base = format!("http://127.0.0.1:{port}");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut desk = cti_ws::desk(&rt, &server, "ag1001");
    cti_ws::accepted(&rt, &mut desk, "c-1", "pause", json!({"reason": "lunch"}));

    // The TV logs in at / and lands on the board.
    let mut b = Browser::start(test);
    b.collect_page_errors();
    b.goto(&format!("{base}/"));
    b.fill("#usuario", "tv");
    b.fill("#senha", ADMIN_PASSWORD);
    b.click("#entrar");
    b.wait_for(
        "on the wallboard",
        "return location.pathname === '/painel/' ? location.pathname : null;",
    );
    b.wait_text("#conexao", "Conectado");
    b.wait_text("#atendentes tbody", "Em pausa");
    assert_eq!(total(&b, "offered"), "0");
    assert!(
        b.text("#formulas").contains("NS = ") && b.text("#formulas").contains("30 s"),
        "the formulas in force are shown"
    );
    assert_eq!(
        b.eval(
            "return document.body.classList.contains('somente-leitura');",
            vec![]
        ),
        true,
        "the TV gets no floor controls"
    );
    // Marks this page load: a reload would lose it.
    b.eval("window.__sameLoad = true; return true;", vec![]);
    b.screenshot("vazio");

    // A call waits in "pericia": shown, then red past 2 s; offered is counted live.
    let phone = answering_phones(&server, &[("1001", 1000)]).remove(0);
    let caller = pericia_caller(&server);
    let waiting = b.wait_text("#espera tbody", "na fila");
    assert!(waiting.contains("pericia"), "{waiting}");
    b.wait_for(
        "the waiting caller turns red",
        "return document.querySelector('#espera tbody tr.alerta') !== null;",
    );
    b.wait_for(
        "the longest wait turns red",
        "return document.querySelector('#ind-maior-espera.alerta') !== null;",
    );
    b.wait_text("#totais [data-chave='offered'] dd", "1");
    b.wait_for(
        "no agent ready: the count is red",
        "return document.querySelector('#ind-prontos.alerta') !== null;",
    );
    b.screenshot("em-espera");

    // The same on /metrics, for external alerting; the server's own metrics keep their names.
    let m = scrape(&server);
    assert_eq!(m[r#"atende_queue_waiting{queue="pericia"}"#], 1.0, "{m:?}");
    assert_eq!(m[r#"atende_queue_waiting{queue="geral"}"#], 0.0);
    assert!(m[r#"atende_queue_longest_wait_seconds{queue="pericia"}"#] > 0.0);
    assert_eq!(m[r#"atende_agents{state="paused"}"#], 1.0);
    assert_eq!(m[r#"atende_agents{state="available"}"#], 0.0);
    assert_eq!(m[r#"atende_queue_agents_available{queue="pericia"}"#], 0.0);
    assert_eq!(m["atende_active_calls"], 1.0);
    assert!(m["atende_calls_offered_total"] >= 1.0);
    for name in [
        "atende_database_up",
        "atende_event_log_backlog",
        "atende_rtp_packets_received_total",
        "atende_recording_errors_total",
        "atende_config_last_reload_ok",
        "atende_mail_failed_total",
        "atende_registrations",
    ] {
        assert!(m.contains_key(name), "{name} kept");
    }
    assert!(
        !m.keys()
            .any(|k| k.starts_with("atende_service_level_today")),
        "no service level before a call counts: {m:?}"
    );

    // The agent gets ready: the call rings, is answered, the board shows the talk.
    cti_ws::accepted(&rt, &mut desk, "c-2", "ready", json!({}));
    let answered = rt.block_on(cti_ws::next(&mut desk, "call_answered"));
    let protocol = answered["protocol"].as_str().expect("protocol").to_owned();
    b.wait_text("#atendentes tbody tr[data-agente='1001']", "Em atendimento");
    b.wait_text("#atendentes tbody tr[data-agente='1001']", &protocol);
    b.wait_for(
        "nobody waits any more",
        "return document.querySelectorAll('#espera tbody tr').length === 0;",
    );
    b.screenshot("em-atendimento");

    // The agent ends the call: answered by agents and the agent's count follow.
    cti_ws::hang_up(
        &rt,
        &mut desk,
        "c-3",
        &protocol,
        &server,
        vec![(caller, "caller"), (phone, "agent phone")],
    );
    b.wait_text("#totais [data-chave='human_answered'] dd", "1");
    b.wait_text("#atendentes tbody tr[data-agente='1001'] td.atendidas", "1");
    assert_eq!(
        b.eval("return window.__sameLoad === true;", vec![]),
        true,
        "the figures changed without a reload"
    );
    let errors = b.page_errors();
    assert!(errors.is_empty(), "page errors: {errors:?}");
    b.screenshot("atendida");

    // The TV may see the board and nothing else.
    let tv = cti_ws::session(&server, "tv");
    assert_eq!(get_as(port, &tv, "/api/wallboard").0, 200);
    for path in [
        "/api/reports/today",
        "/api/calls",
        &format!("/api/calls/{protocol}/recording"),
        "/api/agents",
        "/api/audit",
    ] {
        assert_eq!(get_as(port, &tv, path).0, 403, "GET {path} as the TV");
    }
    let mut tv_ws = rt.block_on(cti_ws::open(port, &tv, &base));
    let first = rt.block_on(cti_ws::start(&mut tv_ws));
    assert_eq!(first["welcome"]["role"], "wallboard", "{first}");
    let r = rt.block_on(cti_ws::command(
        &mut tv_ws,
        "t-1",
        "pause",
        json!({"reason": "lunch"}),
    ));
    assert_eq!(r["error"]["code"], "not_allowed", "{r}");
    b.goto(&format!("{base}/relatorios/"));
    b.wait_for(
        "the reports page refuses the TV",
        "const a = document.getElementById('aviso'); return a && !a.hidden ? a.textContent : null;",
    );
    b.screenshot("relatorios-recusado");
    drop(tv_ws);
    drop(desk);

    // A restart keeps today's counters.
    let before = board_when(&server, "the ended call in today's figures", |b| {
        b["today"]["stats"]["in_progress"] == 0
            && b["today"]["stats"]["answered_within"].as_u64().unwrap_or(0)
                + b["today"]["stats"]["answered_beyond"].as_u64().unwrap_or(0)
                == 1
    });
    let m = scrape(&server);
    assert_eq!(m[r#"atende_service_level_today{queue="*"}"#], 1.0, "{m:?}");
    assert_eq!(m[r#"atende_service_level_today{queue="pericia"}"#], 1.0);
    assert!(!m.contains_key(r#"atende_service_level_today{queue="geral"}"#));
    let server = server.restart();
    let after = server.api("/api/wallboard");
    assert_eq!(after["today"]["stats"], before["today"]["stats"]);
    assert_eq!(after["today"]["kpis"]["ns"], before["today"]["kpis"]["ns"]);
    let a = |v: &Value| v["agents"][0]["answered"].clone();
    assert_eq!(a(&after), a(&before));
    assert_eq!(a(&after), 1);
    b.goto(&format!("{base}/painel/?tv=1"));
    b.wait_text("#conexao", "Conectado");
    b.wait_text("#totais [data-chave='offered'] dd", "1");
    assert_eq!(total(&b, "human_answered"), "1");
    assert!(
        b.eval("return document.body.classList.contains('tv');", vec![]) == true,
        "?tv=1 is the TV mode"
    );
    assert!(!b.shown("#btn-tela-cheia"), "no controls in TV mode");
    b.screenshot("depois-do-reinicio-tv");
    let errors = b.page_errors();
    assert!(errors.is_empty(), "page errors: {errors:?}");

    // A supervisor's board has the floor's buttons: pause 1001 from its row.
    b.log_in_as(ADMIN_USER, ADMIN_PASSWORD);
    b.goto(&format!("{base}/painel/"));
    b.wait_text("#atendentes tbody tr[data-agente='1001']", "Disponível");
    b.eval(
        "window.prompt = (q) => q.startsWith('Motivo') ? 'lunch' : 'pausa pedida no painel'; return true;",
        vec![],
    );
    b.click("#atendentes tbody tr[data-agente='1001'] button");
    b.wait_text("#atendentes tbody tr[data-agente='1001']", "Em pausa");
    b.screenshot("supervisor-pausou");
    let audit = server.api("/api/audit?limit=50");
    assert!(
        audit["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .any(|e| e["action"] == "floor"
                && e["target"] == "agent 1001 pause"
                && e["detail"] == "reason: lunch; why: pausa pedida no painel"),
        "{audit}"
    );

    // A queue closed by hand says so on the board, with the button that reopens it.
    let pericia = "#filas tbody tr[data-fila='pericia']";
    b.click(&format!("{pericia} button"));
    b.wait_text(pericia, "fechada pelo supervisor");
    assert!(b.text(pericia).contains("Abrir"), "{}", b.text(pericia));
    assert_eq!(
        server.api("/api/queues").as_array().and_then(|q| q
            .iter()
            .find(|q| q["queue"] == "pericia")
            .map(|q| q["closed_by_hand"].clone())),
        Some(json!(true))
    );

    // Every panel fits a 1280×720 TV and a 1920×1080 one: no sideways scroll, and every
    // floor button (queues, agents) inside the viewport.
    for (w, h) in [(1280, 720), (1920, 1080)] {
        set_viewport(&b, test, w, h);
        let fit = b.eval(FITS, vec![]);
        assert_eq!(fit["viewport"], json!([w, h]));
        assert_eq!(
            fit["page"], 0,
            "the page scrolls sideways at {w}x{h}: {fit}"
        );
        assert_eq!(fit["panels"], json!([]), "at {w}x{h}: {fit}");
        assert_eq!(fit["outside"], json!([]), "at {w}x{h}: {fit}");
        assert!(
            fit["buttons"].as_u64() >= Some(7),
            "5 queues' and 1001's buttons at least: {fit}"
        );
        b.screenshot(&format!("painel-{w}x{h}"));
    }
    b.click(&format!("{pericia} button"));
    b.wait_for(
        "pericia reopened",
        "const r = document.querySelector(\"#filas tr[data-fila='pericia']\"); \
         return r && !r.innerText.includes('fechada') && r.innerText.includes('Fechar');",
    );
    let errors = b.page_errors();
    assert!(errors.is_empty(), "page errors: {errors:?}");
}

#[test]
fn wallboard_sqlite() {
    the_wallboard_follows_a_call_live(Db::Sqlite, "wallboard_sqlite");
}

#[test]
fn wallboard_postgres() {
    the_wallboard_follows_a_call_live(Db::Postgres, "wallboard_postgres");
}
