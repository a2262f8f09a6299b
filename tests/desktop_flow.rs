//! The whole operator's path in a real headless Chromium against a real `atende`: log in
//! on the login page, open the desktop, go ready, a sipp caller rings the agent's sipp
//! phone, the pop-up shows the call, the phone answers, the operator registers the call
//! with a disposition and a note, and the call's log holds that registration. SQLite and
//! PostgreSQL. And a wrong password refused on the login page, in Portuguese; an agent
//! user's login opening their desktop with their name and the server's lists.
//! Screenshots: target/test-artifacts/<test>/.

#[path = "support/browser.rs"]
mod browser;
mod support;

use std::io::Write;
use std::process::{Command, Stdio};

use browser::Browser;
use support::ivr::*;
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

/// The shipped IVR in front of the ACD's queues, agent 1001 (not logged in: the desktop
/// does it) in every queue, the user `ana` linked to it, and two dispositions.
fn server_with_ana(db: Db) -> Server {
    let hash = phc(PASSWORD);
    let extra = format!(
        r#"
[[users]]
name = "ana"
display_name = "Ana Souza"
role = "agent"
agent = "1001"
password_hash = "{hash}"

[[dispositions]]
code = "informacao"
label = "Informação prestada"

[[dispositions]]
code = "agendamento"
label = "Perícia agendada"
queues = ["pericia"]
"#
    );
    let options = IvrOptions {
        auto_login: false,
        ring_timeout_secs: 20,
        ..IvrOptions::open_with(&["1001"])
    };
    // Wrap-up until the agent ends it: the figures pushed at the call's end are the only
    // ones before the agent acts.
    Server::start_ivr_config(
        db,
        &options,
        Prompts::Short,
        4,
        r#"wrap_up = { mode = "manual" }"#,
        &extra,
    )
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
        // Only "pericia" of the agent's queues (the call below goes there).
        b.wait_for(
            "the agent's queues offered to log in to",
            "return document.querySelectorAll('#lista-filas input').length > 1;",
        );
        b.eval(
            "for (const i of document.querySelectorAll('#lista-filas input')) i.checked = i.value === 'pericia';",
            vec![],
        );
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
    // The contract's targets next to the figures, and the agent's queues live.
    b.wait_text("#num-tma-meta", "481 s");
    b.wait_text("#num-ns-meta", "90 %");
    b.wait_text("#num-tab-meta", "7 %");
    b.wait_text("#num-iar-meta", "90 %");
    b.wait_text("#filas tr[data-fila='pericia']", "1 de 1");
    b.wait_text("#filas tr[data-fila='geral']", "0 de 0");
    b.screenshot("disponivel");

    // The agent's phone, then a citizen through the menu: 1 (perícia), 1 (agendar).
    let agent_port = free_port();
    register_agent(&server, "1001", agent_port);
    let phone = start_answering_agent(&server, agent_port, 1, 1500);
    let caller = start_ivr_caller(&server, &[(800, "1"), (500, "1")], 8000, false);

    // The pop-up's markup is there from the start (hidden): wait for it to show a call.
    let protocol = b
        .wait_for(
            "the pop-up shows the call",
            "return !document.getElementById('pop').hidden \
             && document.getElementById('pop-protocolo').textContent || null;",
        )
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!protocol.is_empty(), "the pop-up names the protocol");
    assert!(b.text("#pop-titulo").starts_with("Chamada"));
    assert_eq!(b.text("#pop-did"), DID, "the number the citizen dialled");
    assert!(!b.text("#pop-chamador").is_empty());
    b.screenshot("pop");

    b.wait_text("#estado-nome", "Em atendimento");
    // The queue's figures follow without a reload: its one agent is busy now.
    b.wait_text("#filas tr[data-fila='pericia']", "0 de 1");
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
    // The caller hung up: without a reload the pop-up says so, today's row has the
    // conversation's duration and the operator's own count went up.
    b.wait_text("#pop-estado", "encerrada");
    let duration = b.wait_for(
        "the history row shows the call's duration",
        &format!(
            "const r = document.querySelector(\"#historico tr[data-protocolo='{protocol}']\"); \
             const d = r && r.cells[4].textContent; return d && d !== '—' && d;"
        ),
    );
    assert!(
        duration.as_str().is_some_and(|d| d.contains(':')),
        "a duration like 0:08: {duration}"
    );
    b.wait_text("#num-atendidas-eu", "1");
    // The personal TMA pushed at the call's end counts it: talk per call (the wrap-up is
    // still going), the history row's duration give or take a second of rounding.
    b.wait_text("#estado-nome", "Pós-atendimento");
    let tma = b.wait_for(
        "the personal TMA counts the call",
        "const t = document.getElementById('num-tma-eu').textContent; \
         return /^[0-9]+ s$/.test(t) && t;",
    );
    let tma_secs: i64 = tma
        .as_str()
        .and_then(|t| t.trim_end_matches(" s").parse().ok())
        .expect("TMA in seconds");
    let talk_secs: i64 = duration
        .as_str()
        .and_then(|d| {
            let (m, s) = d.split_once(':')?;
            Some(m.trim().parse::<i64>().ok()? * 60 + s.trim().parse::<i64>().ok()?)
        })
        .expect("m:ss");
    assert!(
        tma_secs > 0 && (tma_secs - talk_secs).abs() <= 1,
        "TMA {tma} against the call's {duration}"
    );
    b.screenshot("historico");

    // The citizen asked to be called back tomorrow at this time: scheduled from the pop.
    b.eval(
        "const d = new Date(Date.now() + 86400000); d.setSeconds(0, 0); \
         const p = (n) => String(n).padStart(2, '0'); \
         document.getElementById('retorno-quando').value = \
           `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;",
        vec![],
    );
    b.fill("#retorno-numero", "61999990000");
    b.click("#btn-agendar");
    b.wait_text("#retorno-msg", "Retorno agendado para");
    b.screenshot("retorno");
    // The call's log holds the request (the event log is written in batches).
    let mut asked = Vec::new();
    for _ in 0..50 {
        let events = server.api(&format!("/api/calls/{protocol}"))["events"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        asked = acd_kinds(&events);
        if asked.iter().any(|k| k == "callback_requested") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(asked.iter().any(|k| k == "callback_requested"), "{asked:?}");

    // The agent ends the wrap-up. Back to available, the operator may call out; this
    // server has no [outbound], and the page says so in Portuguese.
    b.click("#btn-fim-pos");
    b.wait_text("#estado-nome", "Disponível");
    b.fill("#ligar-numero", "61999990000");
    b.click("#btn-ligar");
    b.wait_text("#aviso", "sem saída para a rede pública");
    b.screenshot("ligar-sem-saida");

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

fn an_agent_logs_in_to_their_desktop(db: Db, test: &str) {
    let server = server_with_ana(db);
    let mut b = Browser::start(test);
    b.collect_page_errors();
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
    // The lists come from the server's config, in the operator's words.
    let reasons = b.wait_for(
        "the pause reasons are loaded",
        "const o = [...document.querySelectorAll('#motivo-pausa option')].map((o) => o.value); \
         return o.length > 0 && o[0] !== '' && o;",
    );
    assert!(
        reasons
            .as_array()
            .is_some_and(|r| !r.is_empty() && r.iter().all(|c| c.is_string())),
        "{reasons}"
    );
    assert_eq!(
        first_disposition(&b),
        "informacao",
        "the dispositions of [[dispositions]]"
    );
    b.screenshot("mesa");
    // A reload keeps the session: the login page sends a logged-in user straight back.
    b.goto(&format!("{base}/"));
    b.wait_for(
        "the login page forwards to the desktop",
        "return location.pathname === '/desktop/';",
    );
    b.wait_text("#operador", "Ana Souza");
    assert_eq!(
        b.page_errors(),
        Vec::<String>::new(),
        "no script error or CSP violation"
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
fn wrong_password_sqlite() {
    a_wrong_password_is_refused_in_portuguese(Db::Sqlite, "wrong_password_sqlite");
}

#[test]
fn wrong_password_postgres() {
    a_wrong_password_is_refused_in_portuguese(Db::Postgres, "wrong_password_postgres");
}

#[test]
fn agent_login_sqlite() {
    an_agent_logs_in_to_their_desktop(Db::Sqlite, "agent_login_sqlite");
}

#[test]
fn agent_login_postgres() {
    an_agent_logs_in_to_their_desktop(Db::Postgres, "agent_login_postgres");
}

#[test]
fn desktop_flow_sqlite() {
    log_in_go_ready_take_a_call_and_register_it(Db::Sqlite, "desktop_flow_sqlite");
}

#[test]
fn desktop_flow_postgres() {
    log_in_go_ready_take_a_call_and_register_it(Db::Postgres, "desktop_flow_postgres");
}
