//! End to end, on SQLite and PostgreSQL, in a real headless Chromium at 1280 px:
//!
//! - `/admin/`: linked from the login page, which it sends one back to without a session
//!   (`?volta=/admin/`, then the page again after the login). An admin adds a supervisor
//!   of team "norte" in the page (a too short password, then an unknown queue first:
//!   refused in Portuguese, and the API refuses an unknown agent the same way); she
//!   logs in and, not an admin, sees "sem permissão" on the page. The admin sees her last
//!   login, adds team "sul" to her scope, resets her password (only the new one works),
//!   disables her (login refused, session ended), enables and disables her again, and has
//!   no "Desativar" on their own row. An auditor opens the page on the audit log (no
//!   users' forms; the API refuses them the users, audited), sees her account's story,
//!   filters by kind, user and day, and reads the kept verification of the hash chain
//!   ("Cadeia verificada em … íntegra"). The audit API pages by id (`next`, `before`)
//!   and filters by action, user and period. An entry then changed in the database:
//!   "Verificar agora" shows the chain "violada a partir do registro 2".
//! - `/relatorios/`: with team "norte" picked, the day report's total is the team's
//!   (`/api/reports/day?team=norte`: the call answered by 1001), team "sul" shows none,
//!   the downloads carry the team and the printed header names it.
//! - `/painel/`: an agent paused with reason `break` shows its label, "Intervalo"; a
//!   forced pause offers the labels and takes "intervalo" typed for `break`.
//!
//! Screenshots in `target/test-artifacts/admin_page_*` and `team_reports_*`.

#[path = "support/answered.rs"]
mod answered;
#[path = "support/browser.rs"]
mod browser;
#[path = "support/cti_ws.rs"]
mod cti_ws;
mod support;

use std::time::{Duration, Instant};

use answered::answered_call;
use browser::Browser;
use cti_ws::*;
use serde_json::{Value, json};
use support::ivr::*;
use support::*;

const CONFIG: &str = r#"
[teams.norte]
name = "Equipe Norte"
agents = ["1001"]
queues = ["pericia"]

[teams.sul]
name = "Equipe Sul"
agents = ["1002"]
queues = ["pagamentos"]

[[users]]
name = "auditor.ana"
display_name = "Ana Auditora"
role = "auditor"
password_hash = "HASH"
"#;

const MARIA: &str = "maria.lima";
const MARIA_PASSWORD: &str = "senha-da-maria-1";

fn start(db: Db) -> Server {
    Server::start_ivr_config(
        db,
        &IvrOptions::open_with(&["1001", "1002"]),
        Prompts::Short,
        4,
        "",
        &format!(
            "{}{}",
            CONFIG.replace("HASH", ADMIN_HASH),
            agent_users(&["1001", "1002"])
        ),
    )
}

/// The page's rows of `table` as the `data-<key>` of each, joined by commas.
fn rows(b: &Browser, table: &str, key: &str) -> String {
    b.eval(
        &format!(
            "return [...document.querySelectorAll('{table} tbody tr')].map((r) => r.dataset.{key}).join(',');"
        ),
        vec![],
    )
    .as_str()
    .unwrap_or_default()
    .to_owned()
}

fn log_in_on_the_page(b: &Browser, base: &str, user: &str, password: &str) {
    b.goto(&format!("{base}/"));
    b.fill("#usuario", user);
    b.fill("#senha", password);
    b.click("#entrar");
    b.wait_for(
        "logged in",
        "return location.pathname !== '/' ? location.pathname : null;",
    );
}

fn the_admin_page_manages_users_and_reads_the_audit_log(db: Db, test: &str) {
    let server = start(db);
    let port = server.http_port;
    let base = format!("http://127.0.0.1:{port}");
    let mut b = Browser::start(test);
    b.collect_page_errors();

    // The login page links the pages.
    b.goto(&format!("{base}/"));
    assert_eq!(
        b.eval(
            "return document.querySelector('.atalhos a[href=\"/admin/\"]').textContent;",
            vec![]
        ),
        "Administração"
    );
    // Opened with no session, the page sends one to log in and back.
    b.click(".atalhos a[href='/admin/']");
    b.wait_for(
        "back at the login",
        "return location.pathname === '/' && location.search === '?volta=/admin/';",
    );
    b.fill("#usuario", ADMIN_USER);
    b.fill("#senha", ADMIN_PASSWORD);
    b.click("#entrar");
    b.wait_for(
        "the admin page after the login",
        "return location.pathname === '/admin/';",
    );
    b.wait_for(
        "the users listed",
        "return document.querySelector('#tabela-usuarios tr[data-usuario=\"auditor.ana\"]') !== null;",
    );
    assert_eq!(
        b.text("#tabela-usuarios tr[data-usuario='auditor.ana'] td.papel"),
        "Auditor"
    );
    assert_eq!(
        b.text("#tabela-usuarios tr[data-usuario='ag1001'] td.escopo"),
        "todas as filas"
    );

    // A new supervisor of team "norte": a short password is refused in Portuguese first.
    b.click("#btn-novo");
    assert!(b.shown("#form-usuario"));
    b.fill("#form-usuario input[name=name]", MARIA);
    b.fill("#form-usuario input[name=display_name]", "Maria Lima");
    b.select("#form-usuario select[name=role]", "supervisor");
    b.click("#equipes input[value=norte]");
    b.fill("#form-usuario input[name=password]", "curta");
    b.click("#btn-salvar");
    b.wait_text("#aviso", "A senha precisa ter pelo menos 8 caracteres.");
    b.fill("#form-usuario input[name=queues]", "pericia, nao-existe");
    b.fill("#form-usuario input[name=password]", MARIA_PASSWORD);
    b.click("#btn-salvar");
    b.wait_text("#aviso", "Fila desconhecida na configuração: nao-existe.");
    b.eval(
        "document.querySelector('#form-usuario input[name=queues]').value = ''; return true;",
        vec![],
    );
    b.fill("#form-usuario input[name=password]", MARIA_PASSWORD);
    b.screenshot("novo-usuario");
    b.click("#btn-salvar");
    b.wait_text("#sucesso", "Usuário maria.lima criado.");
    let row = format!("#tabela-usuarios tr[data-usuario='{MARIA}']");
    assert_eq!(b.text(&format!("{row} td.papel")), "Supervisor");
    assert_eq!(b.text(&format!("{row} td.escopo")), "Equipes: Equipe Norte");
    assert_eq!(b.text(&format!("{row} td.ultimo")), "—");
    // The API has her as the page said, and no answer carries a hash.
    let users = server.api("/api/users");
    let maria = users
        .as_array()
        .and_then(|u| u.iter().find(|u| u["name"] == MARIA))
        .cloned()
        .expect("maria listed");
    assert_eq!(maria["role"], "supervisor", "{maria}");
    assert_eq!(maria["teams"], json!(["norte"]), "{maria}");
    assert_eq!(maria["display_name"], "Maria Lima", "{maria}");
    assert!(!users.to_string().contains("argon2"), "{users}");

    // She logs in; the page is not hers.
    let maria_cookie = login(port, MARIA, MARIA_PASSWORD)
        .expect("API")
        .expect("the new user logs in");
    let (status, me) = request_as(&server, "GET", "/api/me", &maria_cookie, None);
    assert_eq!((status, me["role"].as_str()), (200, Some("supervisor")));
    b.log_in_as(MARIA, MARIA_PASSWORD);
    b.goto(&format!("{base}/admin/"));
    b.wait_text("#aviso", "Sem permissão");
    assert!(!b.shown("#usuarios") && !b.shown("#auditoria"));
    b.screenshot("sem-permissao");

    // The admin sees her last login, adds team "sul" to her scope and gives her a new
    // password: the old one no longer works, the new one does.
    b.log_in_as(ADMIN_USER, ADMIN_PASSWORD);
    b.goto(&format!("{base}/admin/"));
    b.wait_for(
        "maria listed",
        &format!("return document.querySelector(\"{row}\") !== null;"),
    );
    assert_ne!(b.text(&format!("{row} td.ultimo")), "—", "her last login");
    assert_eq!(
        b.eval(
            "return document.querySelector(\"#tabela-usuarios tr[data-usuario='admin'] button.desativar\") === null;",
            vec![]
        ),
        true,
        "an admin cannot disable themselves from the page"
    );
    b.click(&format!("{row} button.editar"));
    b.wait_text("#ficha-titulo", "Alterar maria.lima");
    b.click("#equipes input[value=sul]");
    b.click("#btn-salvar");
    b.wait_text("#sucesso", "Usuário maria.lima alterado.");
    b.wait_text(
        &format!("{row} td.escopo"),
        "Equipes: Equipe Norte, Equipe Sul",
    );
    b.click(&format!("{row} button.senha"));
    b.wait_text("#ficha-titulo", "Redefinir a senha de maria.lima");
    b.fill("#form-usuario input[name=password]", "outra-senha-da-maria");
    b.click("#btn-salvar");
    b.wait_text("#sucesso", "a nova senha vale a partir de agora");
    assert_eq!(login(port, MARIA, MARIA_PASSWORD).expect("API"), None);
    let maria_cookie = login(port, MARIA, "outra-senha-da-maria")
        .expect("API")
        .expect("the new password works");

    // She is disabled: her login is refused and her session ends.
    b.eval("window.confirm = () => true; return true;", vec![]);
    b.click(&format!("{row} button.desativar"));
    b.wait_text("#sucesso", "Usuário maria.lima desativado.");
    b.wait_for(
        "maria disabled",
        &format!("return document.querySelector(\"{row}\")?.dataset.situacao === 'desativado';"),
    );
    assert_eq!(b.text(&format!("{row} td.situacao")), "Desativado");
    assert!(b.shown(&format!("{row} button.reativar")));
    b.screenshot("usuarios");
    assert_eq!(
        login(port, MARIA, MARIA_PASSWORD).expect("API"),
        None,
        "a disabled user cannot log in"
    );
    assert_eq!(
        request_as(&server, "GET", "/api/me", &maria_cookie, None).0,
        401,
        "her open session ended"
    );
    // Enabled again, and disabled for good (the audit log lists both).
    b.click(&format!("{row} button.reativar"));
    b.wait_text("#sucesso", "Usuário maria.lima reativado.");
    b.wait_text(&format!("{row} td.situacao"), "Ativo");
    b.click(&format!("{row} button.desativar"));
    b.wait_text("#sucesso", "Usuário maria.lima desativado.");
    b.wait_text(&format!("{row} td.situacao"), "Desativado");

    // The auditor: the audit log, no users' forms; the API refuses them a change.
    b.log_in_as("auditor.ana", ADMIN_PASSWORD);
    b.goto(&format!("{base}/admin/"));
    b.wait_for(
        "the audit log listed",
        "return document.querySelectorAll('#tabela-auditoria tbody tr').length > 0;",
    );
    assert!(b.shown("#auditoria"));
    let cadeia = b.wait_text("#cadeia", "íntegra");
    assert!(cadeia.starts_with("Cadeia verificada em "), "{cadeia}");
    let none = b.eval(
        "return [document.getElementById('form-usuario'), document.getElementById('btn-novo'), \
         document.querySelector('#tabela-usuarios button')].every((e) => e === null);",
        vec![],
    );
    assert_eq!(none, true, "no users' forms for an auditor");
    let actions = rows(&b, "#tabela-auditoria", "acao");
    assert!(
        actions.contains("user.add") && actions.contains("user.disable"),
        "{actions}"
    );
    // Only maria's entries.
    b.fill("#form-auditoria input[name=user]", MARIA);
    b.click("#form-auditoria button[type=submit]");
    b.wait_for(
        "maria's entries",
        "return [...document.querySelectorAll('#tabela-auditoria tbody tr')].length > 0 && \
         [...document.querySelectorAll('#tabela-auditoria tbody tr')].every((r) => \
           r.querySelector('.quem').textContent === 'maria.lima' || r.querySelector('.alvo').textContent === 'maria.lima');",
    );
    let actions = rows(&b, "#tabela-auditoria", "acao");
    let changes: Vec<&str> = actions
        .split(',')
        .filter(|a| a.starts_with("user."))
        .collect();
    assert_eq!(
        changes.join(","),
        "user.disable,user.enable,user.disable,user.change,user.change,user.add",
        "maria's account, newest first: {actions}"
    );
    assert!(
        actions.contains("login.failed") && actions.contains(",login,"),
        "{actions}"
    );
    // Only disables, today.
    b.select("#form-auditoria select[name=action]", "user.disable");
    let today = b.eval(
        "const d = new Date(); const p = (n) => String(n).padStart(2, '0'); \
         return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;",
        vec![],
    );
    let today = today.as_str().expect("date").to_owned();
    b.eval(
        "for (const n of ['from', 'to']) document.querySelector(`#form-auditoria input[name=${n}]`).value = arguments[0]; return true;",
        vec![json!(today)],
    );
    b.click("#form-auditoria button[type=submit]");
    b.wait_for(
        "one disable",
        "return [...document.querySelectorAll('#tabela-auditoria tbody tr')].map((r) => r.dataset.acao).join(',') === 'user.disable,user.disable';",
    );
    assert!(
        b.text("#tabela-auditoria tbody tr .acao")
            .contains("Usuário desativado"),
        "the kind in Portuguese"
    );
    assert_eq!(b.text("#contagem-auditoria"), "2 registros listados.");
    b.screenshot("auditoria");
    b.click(".abas button[data-aba=usuarios]");
    assert!(b.shown("#sem-permissao-usuarios"));
    b.screenshot("auditor-usuarios");
    let errors = b.page_errors();
    assert!(errors.is_empty(), "page errors: {errors:?}");

    let auditor = login(port, "auditor.ana", ADMIN_PASSWORD)
        .expect("API")
        .expect("auditor logs in");
    let admin = session(&server, ADMIN_USER);
    let (status, body) = request_as(
        &server,
        "PATCH",
        &format!("/api/users/{MARIA}"),
        &admin,
        Some(r#"{"agent": "9999"}"#),
    );
    assert_eq!(status, 422, "an agent the config lacks: {body}");
    let (status, _) = request_as(
        &server,
        "PATCH",
        &format!("/api/users/{MARIA}"),
        &auditor,
        Some(r#"{"disabled": false}"#),
    );
    assert_eq!(status, 403, "an auditor changes no user");
    assert_eq!(
        request_as(&server, "GET", "/api/users", &auditor, None).0,
        403,
        "nor lists them"
    );

    // The audit API: filters and pages.
    let (status, page) = request_as(
        &server,
        "GET",
        "/api/audit?action=denied&user=auditor.ana",
        &auditor,
        None,
    );
    assert_eq!(status, 200, "{page}");
    let entries = page["entries"].as_array().cloned().expect("entries");
    assert!(
        entries
            .iter()
            .any(|e| e["target"] == "PATCH /api/users/maria.lima"),
        "the refusal is audited: {page}"
    );
    assert!(entries.iter().all(|e| e["action"] == "denied"), "{page}");
    assert_eq!(page["verify"]["ok"], true, "{page}");
    let (_, first) = request_as(&server, "GET", "/api/audit?limit=2", &auditor, None);
    let next = first["next"].as_i64().expect("a next page");
    let ids: Vec<i64> = first["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["id"].as_i64())
        .collect();
    assert_eq!(ids.len(), 2);
    assert_eq!(next, ids[1]);
    let (_, second) = request_as(
        &server,
        "GET",
        &format!("/api/audit?limit=2&before={next}"),
        &auditor,
        None,
    );
    let older = second["entries"][0]["id"].as_i64().expect("older entry");
    assert!(older < next, "{second}");
    let (_, future) = request_as(
        &server,
        "GET",
        "/api/audit?from_ms=32503680000000",
        &auditor,
        None,
    );
    assert_eq!(future["entries"], json!([]), "{future}");
    assert_eq!(future["next"], Value::Null, "{future}");
    assert_eq!(
        request_as(
            &server,
            "GET",
            "/api/audit?from_ms=2&to_ms=1",
            &auditor,
            None
        )
        .0,
        400
    );

    // Someone with database access changes entry 2: the page shows the kept result until
    // the auditor asks for a walk, which finds it.
    b.goto(&format!("{base}/admin/?aba=auditoria"));
    let before = b.wait_text("#cadeia", "íntegra");
    support::records::run_sql(
        &support::records::database_url(&server),
        "UPDATE audit_log SET detail = 'nada aconteceu' WHERE id = 2",
    );
    b.click("#btn-verificar");
    let after = b.wait_text("#cadeia", "violada a partir do registro 2");
    assert!(
        after.starts_with("Cadeia verificada em "),
        "{before} / {after}"
    );
    b.wait_text("#tabela-auditoria", "Verificação da cadeia de auditoria");
    b.screenshot("auditoria-violada");
    let errors = b.page_errors();
    assert!(errors.is_empty(), "page errors: {errors:?}");
}
#[test]
fn admin_page_sqlite() {
    the_admin_page_manages_users_and_reads_the_audit_log(Db::Sqlite, "admin_page_sqlite");
}

#[test]
fn admin_page_postgres() {
    the_admin_page_manages_users_and_reads_the_audit_log(Db::Postgres, "admin_page_postgres");
}

/// The typed table's total-row cell under `key`, as a count.
fn total_count(table: &Value, key: &str) -> u64 {
    let i = table["columns"]
        .as_array()
        .and_then(|c| c.iter().position(|c| c["key"] == key))
        .unwrap_or_else(|| panic!("column {key}"));
    table["rows"]
        .as_array()
        .and_then(|r| r.last())
        .and_then(|r| r[i]["value"].as_u64())
        .unwrap_or_else(|| panic!("a count under {key}: {table}"))
}

fn team_reports_and_pause_labels(db: Db, test: &str) {
    let server = start(db);
    let base = format!("http://127.0.0.1:{}", server.http_port);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut ana = desk(&rt, &server, "ag1001");
    let mut bruno = desk(&rt, &server, "ag1002");
    // 1002 on a break, so the citizen's call rings at 1001 (team norte).
    accepted(&rt, &mut bruno, "b-1", "pause", json!({"reason": "break"}));
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
    let date = server.api("/api/reports/today")["period"]["from"]
        .as_str()
        .expect("today")
        .to_owned();
    let deadline = Instant::now() + Duration::from_secs(20);
    let norte = loop {
        let t = server.api(&format!(
            "/api/reports/day?date={date}&team=norte&format=table"
        ));
        if total_count(&t, "offered") == 1 && total_count(&t, "answered") == 1 {
            break t;
        }
        assert!(Instant::now() < deadline, "projection never caught up: {t}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let sul = server.api(&format!(
        "/api/reports/day?date={date}&team=sul&format=table"
    ));
    assert_eq!(total_count(&sul, "offered"), 0, "{sul}");

    let mut b = Browser::start(test);
    b.collect_page_errors();
    log_in_on_the_page(&b, &base, ADMIN_USER, ADMIN_PASSWORD);

    // The day report with team "norte" picked (from the URL, as the wallboard's).
    b.goto(&format!("{base}/relatorios/?data={date}&equipe=norte"));
    b.wait_text("#dia tr.total", "Total");
    let options = b.eval(
        "return [...document.querySelectorAll('#dia select[name=team] option')].map((o) => o.value + '=' + o.textContent);",
        vec![],
    );
    assert_eq!(
        options,
        json!(["=todas", "norte=Equipe Norte", "sul=Equipe Sul"])
    );
    assert!(b.shown("#dia select[name=team]"));
    let cell = |key: &str| b.text(&format!("#dia tr.total td[data-chave='{key}']"));
    assert_eq!(cell("offered"), total_count(&norte, "offered").to_string());
    assert_eq!(cell("answered"), "1");
    let header = b.eval(
        "return document.querySelector('#dia .cabecalho').textContent;",
        vec![],
    );
    let header = header.as_str().unwrap_or_default().to_owned();
    assert!(
        header.contains("Dia por intervalo") && header.contains("Equipe: Equipe Norte"),
        "{header}"
    );
    let xlsx = b.eval(
        "return document.querySelector('#dia .baixar a[data-formato=xlsx]').getAttribute('href');",
        vec![],
    );
    assert_eq!(
        xlsx.as_str(),
        Some(format!("/api/reports/day?date={date}&team=norte&format=xlsx").as_str())
    );
    b.screenshot("relatorio-equipe-norte");
    // Team "sul": none of the day's calls.
    b.select("#dia select[name=team]", "sul");
    b.click("#dia form button[type=submit]");
    b.wait_for(
        "sul's total",
        "return document.querySelector(\"#dia tr.total td[data-chave='offered']\")?.textContent === '0';",
    );
    // A queue typed clears the team (the API takes one or the other).
    b.fill("#dia input[name=queue]", "pericia");
    assert_eq!(
        b.eval(
            "return document.querySelector('#dia select[name=team]').value;",
            vec![]
        ),
        ""
    );
    // The month takes the team too.
    b.click(".abas button[data-aba=mes]");
    b.wait_text("#mes tr.total", "Total");
    b.select("#mes select[name=team]", "norte");
    b.click("#mes form button[type=submit]");
    b.wait_for(
        "norte's month",
        "return document.querySelector('#mes .cabecalho').textContent.includes('Equipe: Equipe Norte') && \
         document.querySelector(\"#mes tr.total td[data-chave='offered']\")?.textContent === '1';",
    );

    // The wallboard writes the pause's label, not its code.
    b.goto(&format!("{base}/painel/"));
    b.wait_text("#atendentes tr[data-agente='1002'] td.pausa", "Intervalo");
    assert!(
        !b.text("#atendentes tr[data-agente='1002'] td.pausa")
            .contains("break"),
        "the code stays out"
    );
    // A supervisor's forced pause offers the labels and takes one typed as its code.
    b.eval(
        "window.prompt = (q) => q.startsWith('Motivo da pausa: Intervalo (break), Lanche (lunch)') ? 'intervalo' : \
           q.startsWith('Motivo') ? 'não listou os rótulos' : 'reunião de equipe'; return true;",
        vec![],
    );
    b.click("#atendentes tr[data-agente='1001'] button");
    b.wait_text("#atendentes tr[data-agente='1001'] td.pausa", "Intervalo");
    b.screenshot("painel-pausa");
    let errors = b.page_errors();
    assert!(errors.is_empty(), "page errors: {errors:?}");
}

#[test]
fn team_reports_sqlite() {
    team_reports_and_pause_labels(Db::Sqlite, "team_reports_sqlite");
}

#[test]
fn team_reports_postgres() {
    team_reports_and_pause_labels(Db::Postgres, "team_reports_postgres");
}
