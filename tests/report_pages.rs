//! End to end, in a real headless Chromium: `/relatorios/` over a small real day (sipp
//! through the shipped IVR and the ACD: one call answered by an agent, one caller who
//! hangs up in the IVR). An admin logs in at `/`, opens each report (the day by interval,
//! the month by day, the contract panel, the per-call list paged by "mais", agent
//! production, agents by day, the IVR, the survey's and quality monitoring's month) and sees the JSON API's figures written in pt-BR, the definitions in force
//! under each report and the XLSX/ODS/CSV links; no script error or CSP violation.

#[path = "support/browser.rs"]
mod browser;
mod support;

use std::time::{Duration, Instant};

use browser::Browser;
use serde_json::Value;
use support::ivr::*;
use support::*;

/// Milliseconds as the page writes them: `[h]:mm:ss`.
fn hms(ms: i64) -> String {
    let t = (ms + 500) / 1000;
    format!("{}:{:02}:{:02}", t / 3600, (t % 3600) / 60, t % 60)
}

/// The text of the cell under column `key` in `section`'s total row.
fn total_cell(b: &Browser, section: &str, key: &str) -> String {
    b.text(&format!("#{section} tr.total td[data-chave='{key}']"))
}

/// The typed table's total-row cell under `key`.
fn table_total(table: &Value, key: &str) -> Value {
    let i = table["columns"]
        .as_array()
        .and_then(|c| c.iter().position(|c| c["key"] == key))
        .unwrap_or_else(|| panic!("column {key}"));
    table["rows"]
        .as_array()
        .and_then(|r| r.last())
        .map(|r| r[i].clone())
        .unwrap_or_default()
}

fn count(cell: &Value) -> String {
    cell["value"].as_u64().expect("a count").to_string()
}

fn the_report_pages_show_the_apis_figures(db: Db, test: &str) {
    let server = Server::start_ivr(db, &IvrOptions::open_with(&["1001"]));
    let agent_port = free_port();
    register_agent(&server, "1001", agent_port);
    let agent = start_answering_agent(&server, agent_port, 1, 1000);
    let caller = start_ivr_caller(&server, &[(800, "1"), (500, "1")], 3000, false);
    wait_ok(caller, "answered caller", &server);
    wait_ok(agent, "agent phone", &server);
    let caller = start_ivr_caller(&server, &[], 600, false);
    wait_ok(caller, "caller leaving the IVR", &server);

    let deadline = Instant::now() + Duration::from_secs(20);
    let today = loop {
        let r = server.api("/api/reports/today");
        let s = &r["total"]["stats"];
        if s["offered"] == 2 && s["in_progress"] == 0 && s["talk_ms"].as_i64() > Some(0) {
            break r;
        }
        assert!(Instant::now() < deadline, "projection never caught up: {r}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let date = today["period"]["from"].as_str().expect("date").to_owned();
    let month = &date[..7];
    let day = server.api(&format!("/api/reports/day?date={date}&format=table"));
    let day_json = server.api(&format!("/api/reports/day?date={date}"));
    let month_table = server.api(&format!("/api/reports/month?month={month}&format=table"));
    let panel = server.api(&format!("/api/contract/{month}"));
    let calls = server.api(&format!("/api/reports/calls?from={date}"));
    let calls = calls["calls"].as_array().cloned().expect("calls");
    assert_eq!(calls.len(), 2);
    let agents = server.api(&format!("/api/reports/agents?from={date}&format=table"));

    let mut b = Browser::start(test);
    b.collect_page_errors();
    let base = format!("http://127.0.0.1:{}", server.http_port);
    b.goto(&format!("{base}/"));
    b.fill("#usuario", ADMIN_USER);
    b.fill("#senha", ADMIN_PASSWORD);
    b.click("#entrar");
    b.wait_for(
        "logged in",
        "return location.pathname !== '/' ? location.pathname : null;",
    );

    // The day by 30-minute interval: the total row is the API's, in pt-BR.
    b.goto(&format!("{base}/relatorios/?data={date}&limite=1"));
    b.wait_text("#dia tr.total", "Total");
    assert_eq!(total_cell(&b, "dia", "offered"), "2");
    assert_eq!(
        total_cell(&b, "dia", "answered"),
        count(&table_total(&day, "answered"))
    );
    assert_eq!(total_cell(&b, "dia", "ivr_abandon"), "1");
    let tma = table_total(&day, "tma");
    assert_eq!(
        total_cell(&b, "dia", "tma"),
        hms(tma["value"].as_i64().expect("a TMA"))
    );
    let ns = table_total(&day, "ns");
    let ns_text = match ns["value"].as_f64() {
        Some(v) => format!("{v:.1} %").replace('.', ","),
        None => "—".to_owned(),
    };
    assert_eq!(total_cell(&b, "dia", "ns"), ns_text);
    assert_eq!(
        total_cell(&b, "dia", "isa"),
        "—",
        "no survey answered: no denominator"
    );
    // TMA per hour: one hour with the answered call.
    let hours = day_json["tma_by_hour"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let with_calls: Vec<&Value> = hours
        .iter()
        .filter(|h| h["tma"]["count"].as_u64() > Some(0))
        .collect();
    assert_eq!(with_calls.len(), 1, "{hours:?}");
    let h = with_calls[0];
    let hour = format!("{:02}h", h["hour"].as_i64().expect("hour"));
    let tma_hour = hms((h["tma"]["seconds"].as_f64().expect("seconds") * 1000.0).round() as i64);
    let shown = b.text("#dia table.tma-hora tbody");
    assert!(
        shown.contains(&hour) && shown.contains(&tma_hour),
        "{shown} lacks {hour} {tma_hour}"
    );
    let notes = b.text("#dia .definicoes");
    assert!(
        notes.contains("Definições: versão") && notes.contains("espera ≤ 30000 ms"),
        "{notes}"
    );
    let xlsx = b.eval(
        "return document.querySelector('#dia .baixar a[data-formato=xlsx]').getAttribute('href');",
        vec![],
    );
    assert_eq!(
        xlsx.as_str(),
        Some(format!("/api/reports/day?date={date}&format=xlsx").as_str())
    );
    assert!(b.text("#dia .baixar").contains("ODS") && b.text("#dia .baixar").contains("CSV"));
    b.screenshot("dia");

    // The month by day.
    b.click("button[data-aba=mes]");
    b.wait_text("#mes tr.total", "Total");
    assert_eq!(
        total_cell(&b, "mes", "offered"),
        count(&table_total(&month_table, "offered"))
    );
    assert!(
        b.text("#mes .definicoes")
            .contains("Fuso horário: America/Sao_Paulo")
    );
    b.screenshot("mes");

    // The contract panel: each KPI measured vs target, band and discount.
    b.click("button[data-aba=contrato]");
    b.wait_text("#contrato tbody", "IMQ");
    for row in panel["rows"].as_array().expect("panel rows") {
        let kpi = row["kpi"].as_str().expect("kpi");
        let line = b.text(&format!("#contrato tr[data-kpi={kpi}]"));
        assert!(line.contains(row["label"].as_str().unwrap_or("")), "{line}");
        assert!(line.contains(row["value"].as_str().unwrap_or("")), "{line}");
        assert!(
            line.contains(row["target"].as_str().unwrap_or("")),
            "{line}"
        );
    }
    assert!(b.text("#contrato tfoot").contains("Total"));
    assert!(
        b.text("#contrato .definicoes")
            .contains(&format!("Mês: {month}"))
    );
    b.screenshot("contrato");

    // The per-call list, one call a page (`?limite=1`): "mais" fetches the next.
    b.click("button[data-aba=chamadas]");
    b.wait_text("#chamadas tbody", calls[0]["protocol"].as_str().expect("p"));
    assert!(b.shown("#chamadas .mais"), "a second page");
    assert_eq!(
        b.eval(
            "return document.querySelectorAll('#chamadas tbody tr').length;",
            vec![]
        ),
        1
    );
    b.click("#chamadas .mais");
    b.wait_text("#chamadas tbody", calls[1]["protocol"].as_str().expect("p"));
    // A full page cannot know it was the last: one more "mais" finds nothing and hides
    // the button.
    if b.shown("#chamadas .mais") {
        b.click("#chamadas .mais");
    }
    b.wait_for(
        "the last page",
        "return document.querySelector('#chamadas .mais').hidden ? true : null;",
    );
    for c in &calls {
        let p = c["protocol"].as_str().expect("protocol");
        let line = b.text(&format!("#chamadas tr[data-protocolo='{p}']"));
        assert!(
            line.contains(c["outcome_label"].as_str().unwrap_or("?")),
            "{line}"
        );
        assert!(
            line.contains(&hms(c["talk_ms"].as_i64().unwrap_or(0))),
            "{line}"
        );
        let link = b.eval(
            "const a = document.querySelector(`#chamadas tr[data-protocolo='${arguments[0]}'] a`); \
             return a ? a.getAttribute('href') : null;",
            vec![Value::from(p)],
        );
        assert_eq!(link, c["recording"], "recording link of {p}");
    }
    assert!(
        calls.iter().any(|c| c["recording"].is_string()),
        "the answered call was recorded"
    );
    let csv = b.eval(
        "return document.querySelector('#chamadas .baixar a[data-formato=csv]').getAttribute('href');",
        vec![],
    );
    assert_eq!(
        csv.as_str(),
        Some(format!("/api/reports/calls?from={date}&format=csv").as_str()),
        "a download is the whole list"
    );
    // The second call's stored record is damaged: the list does not end before it, and
    // says which call could not be read.
    let damaged = calls[1]["protocol"].as_str().expect("protocol");
    support::records::damage_call_record(&server, damaged);
    b.click("button[data-aba=chamadas]");
    b.wait_for(
        "the list read again",
        "return document.querySelector('#chamadas .contagem').textContent === '1 chamada listada' \
         ? true : null;",
    );
    assert!(b.shown("#chamadas .mais"), "a second page");
    b.click("#chamadas .mais");
    b.wait_text(
        "#chamadas .contagem",
        &format!("1 com registro ilegível: {damaged}"),
    );
    b.screenshot("chamadas");

    // Agent production.
    b.click("button[data-aba=atendentes]");
    b.wait_text("#atendentes tbody", "1001");
    let calls_cell = b.text("#atendentes tbody td[data-chave=calls]");
    assert_eq!(
        calls_cell,
        count(&agents["rows"][0][2]),
        "the agent's answered calls"
    );
    assert!(b.text("#atendentes .definicoes").contains("Período:"));
    b.screenshot("atendentes");

    // Agents by day: 1001 answered the one call today.
    let ivr = server.api(&format!("/api/reports/ivr?from={date}"));
    b.click("button[data-aba=pordia]");
    b.wait_text("#pordia tbody", "1001");
    assert_eq!(total_cell(&b, "pordia", "total"), "1");
    assert_eq!(total_cell(&b, "pordia", &date), "1");
    b.screenshot("atendentes-por-dia");

    // The IVR: both calls visited it, one hung up there; the API's figures.
    b.click("button[data-aba=ura]");
    b.wait_text("#ura tr.total", "Total");
    assert_eq!(total_cell(&b, "ura", "visits"), ivr["calls"].to_string());
    assert_eq!(total_cell(&b, "ura", "visits"), "2");
    assert_eq!(total_cell(&b, "ura", "abandons"), "1");
    assert_eq!(total_cell(&b, "ura", "zero"), "0");
    assert!(b.text("#ura .definicoes").contains("atendidas pela URA"));
    assert!(b.text("#ura .baixar").contains("XLSX"));
    b.screenshot("ura");

    // The survey's month: no survey today, so "—", never 0 %.
    b.click("button[data-aba=pesquisa]");
    b.wait_text("#pesquisa tr.total", "Total");
    assert_eq!(total_cell(&b, "pesquisa", "top2"), "—");
    assert!(
        b.text("#pesquisa .definicoes")
            .contains("taxa de resposta: —")
    );
    b.screenshot("pesquisa");

    // Quality monitoring's month: no evaluation yet, the IMQ is "—".
    b.click("button[data-aba=monitoria]");
    b.wait_text("#monitoria tbody", "IMQ do mês");
    assert_eq!(b.text("#monitoria tbody td[data-chave=score]"), "—");
    assert!(
        b.text("#monitoria .definicoes")
            .contains(&format!("Mês: {month}"))
    );
    b.screenshot("monitoria");

    assert_eq!(
        b.page_errors(),
        Vec::<String>::new(),
        "no script error or CSP violation"
    );
}

#[test]
fn report_pages_sqlite() {
    the_report_pages_show_the_apis_figures(Db::Sqlite, "report_pages_sqlite");
}

#[test]
fn report_pages_postgres() {
    the_report_pages_show_the_apis_figures(Db::Postgres, "report_pages_postgres");
}
