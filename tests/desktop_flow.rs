//! The whole operator's path in a real headless Chromium against a real `atende`: log in
//! on the login page, open the desktop, go ready, a sipp caller rings the agent's sipp
//! phone, the pop-up shows the call, the phone answers, the operator registers the call
//! with a disposition and a note, and the call's log holds that registration. SQLite and
//! PostgreSQL. And a wrong password refused on the login page, in Portuguese. Screenshots: target/test-artifacts/<test>/.
//!
//! Needs the users and sessions (`POST /api/login`, `[[users]]`, `atende user hash`), the
//! CTI websocket (`/api/cti`) and the registrations on the call log: ignored until those
//! branches are merged; the integrator removes the `ignore`.

#[path = "support/browser.rs"]
mod browser;
mod support;

use std::io::Write;
use std::process::{Command, Stdio};

use browser::Browser;
use support::*;

const PASSWORD: &str = "senha-da-ana-1001";

/// The argon2 PHC string of `password`, from `atende user hash` (password on stdin).
fn phc(password: &str) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_atende"))
        .args(["user", "hash"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("atende user hash runs");
    writeln!(child.stdin.take().expect("stdin"), "{password}").expect("password written");
    let out = child.wait_with_output().expect("atende user hash ends");
    assert!(out.status.success(), "atende user hash failed");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A server with agent 1001 behind the test DID and the user `ana` linked to it.
fn server_with_ana(db: Db) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let prompts = dir.path().join("prompts/pt-BR");
    std::fs::create_dir_all(&prompts).unwrap();
    wav_tone(&prompts.join("welcome.wav"), 600, 1.0);
    wav_tone(&prompts.join("hold-music.wav"), 300, 3.0);
    let (sip_port, http_port, rtp) = (free_port(), free_port(), free_rtp_range(40));
    let db_url = match db {
        Db::Sqlite => format!("sqlite://{}/atende.db", dir.path().display()),
        Db::Postgres => atende::testkit::pg::fresh_pg_database(),
    };
    let base = base_config(
        (sip_port, http_port),
        (rtp, rtp + 38),
        r#""MD5", "SHA-256""#,
        &db_url,
        dir.path(),
        &dir.path().join("prompts"),
    );
    let hash = phc(PASSWORD);
    let config = format!(
        r#"{base}[[routes]]
did = "{DID}"
service = "test"
[services.test]
welcome_prompt = "pt-BR/welcome"
hold_music = "pt-BR/hold-music"
agents = ["1001"]
ring_timeout_secs = 20

[[agents]]
id = "1001"
password = "pw1001"

[[users]]
name = "ana"
display_name = "Ana Souza"
role = "agent"
agent = "1001"
password_hash = "{hash}"
"#
    );
    Server::launch(dir, &config, sip_port, http_port)
}

fn log_in_go_ready_take_a_call_and_register_it(db: Db, test: &str) {
    let server = server_with_ana(db);
    let mut b = Browser::start(test);
    let base = format!("http://127.0.0.1:{}", server.http_port);

    b.goto(&format!("{base}/"));
    b.fill("#usuario", "ana");
    b.fill("#senha", PASSWORD);
    b.click("#entrar");
    b.wait_for(
        "the desktop opens",
        "return location.pathname === '/desktop/';",
    );
    b.wait_text("#operador", "Ana Souza");
    b.wait_text("#conexao", "Conectado");
    b.screenshot("conectado");

    // Into the queues and ready, whatever the agent's state at start.
    let state = b.wait_for(
        "the state bar shows the agent",
        "const t = document.getElementById('estado-nome').textContent; return t !== '—' && t;",
    );
    if state == "Fora das filas" {
        b.click("#btn-entrar-filas");
        b.wait_for(
            "logged in to the queues",
            "return document.getElementById('estado-nome').textContent !== 'Fora das filas';",
        );
    }
    if b.text("#estado-nome") == "Em pausa" {
        b.click("#btn-pronto");
    }
    b.wait_text("#estado-nome", "Disponível");
    b.screenshot("disponivel");

    let agent_port = free_port();
    register_agent(&server, "1001", agent_port);
    let phone = start_answering_agent(&server, agent_port, 1, 1500);
    let caller = start_caller(&server, 60_000, 8000, &[]);

    b.wait_text("#pop-titulo", "Chamada");
    let protocol = b.text("#pop-protocolo");
    assert!(!protocol.is_empty(), "the pop-up names the protocol");
    assert_eq!(b.text("#pop-did"), DID, "the number the citizen dialled");
    assert!(!b.text("#pop-chamador").is_empty());
    b.screenshot("pop");

    b.wait_text("#estado-nome", "Em atendimento");
    b.select("#registro-codigo", &first_disposition(&b));
    b.fill("#registro-nota", "cidadã pediu agendamento");
    b.click("#btn-registrar");
    b.wait_text("#registro-msg", "Registrado");
    b.screenshot("registrado");

    wait_ok(caller, "caller", &server);
    wait_ok(phone, "agent 1001", &server);
    b.wait_text(
        &format!("#historico tr[data-protocolo='{protocol}']"),
        "atendida",
    );
    b.screenshot("historico");

    let (_, events) = wait_for_event(&server, "registered");
    let reg = event(&events, "registered");
    assert_eq!(reg["detail"]["agent"], "1001", "{reg}");
    assert_eq!(reg["detail"]["note"], "cidadã pediu agendamento", "{reg}");
}

fn a_wrong_password_is_refused_in_portuguese(db: Db, test: &str) {
    let server = server_with_ana(db);
    let mut b = Browser::start(test);
    b.goto(&format!("http://127.0.0.1:{}/", server.http_port));
    b.fill("#usuario", "ana");
    b.fill("#senha", "senha-errada");
    b.click("#entrar");
    b.wait_text("#erro-login", "Usuário ou senha incorretos.");
    assert_eq!(
        b.eval("return document.getElementById('senha').value;", vec![]),
        "",
        "the wrong password is cleared"
    );
    assert_eq!(b.eval("return location.pathname;", vec![]), "/");
    b.screenshot("senha-errada");
    assert!(
        !server.log().contains("senha-errada"),
        "a password never reaches the log"
    );
}

fn first_disposition(b: &Browser) -> String {
    b.wait_for(
        "the disposition list is loaded",
        "const o = document.querySelector('#registro-codigo option'); return o && o.value;",
    )
    .as_str()
    .unwrap_or_default()
    .to_string()
}

#[test]
#[ignore = "needs users and sessions (H2) merged"]
fn wrong_password_sqlite() {
    a_wrong_password_is_refused_in_portuguese(Db::Sqlite, "wrong_password_sqlite");
}

#[test]
#[ignore = "needs users and sessions (H2) merged"]
fn wrong_password_postgres() {
    a_wrong_password_is_refused_in_portuguese(Db::Postgres, "wrong_password_postgres");
}

#[test]
#[ignore = "needs users/sessions (H2), the CTI websocket (H3) and registrations (H4) merged"]
fn desktop_flow_sqlite() {
    log_in_go_ready_take_a_call_and_register_it(Db::Sqlite, "desktop_flow_sqlite");
}

#[test]
#[ignore = "needs users/sessions (H2), the CTI websocket (H3) and registrations (H4) merged"]
fn desktop_flow_postgres() {
    log_in_go_ready_take_a_call_and_register_it(Db::Postgres, "desktop_flow_postgres");
}
