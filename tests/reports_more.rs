//! End to end: a real day through the shipped IVR and the ACD driven by sipp (an answered
//! call, a caller who presses 0 and gives up in the queue, a caller who hangs up in the
//! IVR's menu), then the IVR report, the agents × days grid, the survey's and quality
//! monitoring's month (empty: "—", never 0 %) answer what happened, and download as XLSX
//! (read back by openpyxl) and CSV (Python's csv module). A survey answered by sipp's
//! RFC 4733 keys shows in the survey's month as its raw event log says. Both databases.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::ivr::*;
use support::*;

/// The row whose first cell is "Total", as {column label: value}, by a Python reader;
/// the label row is the one whose first cell is `first`.
const XLSX_TOTAL: &str = r#"
import sys, json, openpyxl
ws = openpyxl.load_workbook(sys.argv[1]).active
rows = list(ws.iter_rows(values_only=True))
head = next(r for r in rows if r and r[0] == sys.argv[2])
total = next(r for r in rows if r and r[0] == "Total")
print(json.dumps(dict(zip(head, total))))
"#;

const CSV_TOTAL: &str = r#"
import sys, json, csv
rows = list(csv.reader(open(sys.argv[1], encoding="utf-8-sig", newline=""), delimiter=";"))
head = next(r for r in rows if r and r[0] == sys.argv[2])
total = next(r for r in rows if r and r[0] == "Total")
print(json.dumps(dict(zip(head, total))))
"#;

fn total_row(module: &str, package: &str, script: &str, file: &Path, first: &str) -> Value {
    let out = Command::new(python_with(module, package))
        .args(["-c", script])
        .arg(file)
        .arg(first)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON from python")
}

fn download(server: &Server, path: &str, file: &Path) {
    let (status, body) = http_get(server.http_port, path, true).expect("GET");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    std::fs::write(file, body).expect("saved");
}

fn reports_of_a_real_day(db: Db) {
    let server = Server::start_ivr(db, &IvrOptions::open_with(&["1001"]));
    let agent_port = free_port();
    register_agent(&server, "1001", agent_port);
    let agent = start_answering_agent(&server, agent_port, 1, 1000);
    let caller = start_ivr_caller(&server, &[(800, "1"), (500, "1")], 3000, false);
    wait_ok(caller, "answered caller", &server);
    wait_ok(agent, "agent phone", &server);
    let caller = start_ivr_caller(&server, &[(800, "0")], 2500, false);
    wait_ok(caller, "caller pressing 0", &server);
    let caller = start_ivr_caller(&server, &[], 600, false);
    wait_ok(caller, "caller leaving the IVR", &server);

    let deadline = Instant::now() + Duration::from_secs(20);
    let today = loop {
        let r = server.api("/api/reports/today");
        let s = &r["total"]["stats"];
        if s["offered"] == 3 && s["in_progress"] == 0 {
            break r;
        }
        assert!(Instant::now() < deadline, "projection never caught up: {r}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let date = today["period"]["from"].as_str().expect("date").to_owned();
    let month = &date[..7];

    // The IVR: three calls entered it, one hung up there, one pressed 0.
    let ivr = server.api(&format!("/api/reports/ivr?from={date}&to={date}"));
    assert_eq!(ivr["calls"], 3, "{ivr}");
    assert_eq!(ivr["abandoned_in_ivr"], 1, "{ivr}");
    assert_eq!(ivr["pressed_zero"], 1, "{ivr}");
    assert_eq!(ivr["queued"], 2, "{ivr}");
    let nodes = ivr["nodes"].as_array().expect("nodes");
    let hang_ups: u64 = nodes.iter().map(|n| n["hang_ups"].as_u64().unwrap()).sum();
    assert_eq!(hang_ups, 1, "one abandon, at one node: {ivr}");
    let zeros: u64 = nodes
        .iter()
        .map(|n| n["exits"]["0"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(zeros, 1);
    let table = server.api(&format!("/api/reports/ivr?from={date}&format=table"));
    assert_eq!(table["title"], "Relatório da URA");
    assert_eq!(table["rows"].as_array().unwrap().len(), nodes.len() + 1);

    // Agents × days: 1001 answered one call today.
    let grid = server.api(&format!("/api/reports/agents/daily?from={date}&to={date}"));
    assert_eq!(grid["days"], serde_json::json!([date]));
    assert_eq!(grid["agents"][0]["agent"], "1001", "{grid}");
    assert_eq!(grid["agents"][0]["calls"], serde_json::json!([1]));
    assert_eq!(grid["total"], 1);

    // No survey, no evaluation this month: nothing measured, shown as "—".
    let survey = server.api(&format!("/api/reports/survey?month={month}"));
    assert_eq!(survey["started"], 0, "{survey}");
    assert_eq!(survey["response_rate"]["percent"], Value::Null);
    assert_eq!(survey["isa"]["percent"], Value::Null);
    let quality = server.api(&format!("/api/reports/quality?month={month}"));
    assert_eq!(quality["evaluations"], serde_json::json!([]));
    assert_eq!(quality["summary"]["imq"]["denominator"], 0);

    // Downloads: the same figures in the files, as independent readers see them.
    let dir = tempfile::tempdir().expect("tempdir");
    let xlsx = dir.path().join("ura.xlsx");
    download(
        &server,
        &format!("/api/reports/ivr?from={date}&format=xlsx"),
        &xlsx,
    );
    let got = total_row("openpyxl", "python3-openpyxl", XLSX_TOTAL, &xlsx, "Fluxo");
    assert_eq!(got["Visitas"], 3, "{got}");
    assert_eq!(got["Abandonos"], 1, "{got}");
    assert_eq!(got["Tecla 0"], 1, "{got}");
    let csv = dir.path().join("atendentes.csv");
    download(
        &server,
        &format!("/api/reports/agents/daily?from={date}&format=csv"),
        &csv,
    );
    let got = total_row("csv", "python3", CSV_TOTAL, &csv, "Atendente");
    assert_eq!(got["Total"], "1", "{got}");
    let day_label = format!("{}/{}", &date[8..10], &date[5..7]);
    assert_eq!(got[day_label.as_str()], "1", "{got}");
    for path in [
        format!("/api/reports/survey?month={month}&format=ods"),
        format!("/api/reports/quality?month={month}&format=xlsx"),
    ] {
        let (status, body) = http_get(server.http_port, &path, true).expect("GET");
        assert_eq!(status, 200, "{path}");
        assert!(body.starts_with(b"PK"), "{path}: a zip container");
    }
    // Bad input is a clear 400.
    let (status, _) = http_get(server.http_port, "/api/reports/survey", true).expect("GET");
    assert_eq!(status, 400);
    let (status, _) =
        http_get(server.http_port, "/api/reports/ivr?from=2026-13-01", true).expect("GET");
    assert_eq!(status, 400);
}

#[test]
fn reports_of_a_real_day_sqlite() {
    reports_of_a_real_day(Db::Sqlite);
}

#[test]
fn reports_of_a_real_day_postgres() {
    reports_of_a_real_day(Db::Postgres);
}

const SURVEY: &str = r#"
[surveys.atendimento]
queues = ["geral"]
intro_prompt = "pt-BR/pesquisa/introducao"
questions = [
    { id = "atendente", prompt = "pt-BR/pesquisa/atendente" },
    { id = "instituto", prompt = "pt-BR/pesquisa/instituto", isa = false },
]
timeout_secs = 4
retries = 1
timeout_prompt = "pt-BR/ura/nao-ouvi"
invalid_prompt = "pt-BR/ura/opcao-invalida"
thanks_prompt = "pt-BR/pesquisa/obrigado"
"#;

/// The caller presses 0 (operator), the agent talks and hangs up, the caller answers the
/// survey 5 (about the agent, ISA) and 3 (about the institute, not ISA).
fn a_survey_in_the_months_results(db: Db) {
    let server = Server::start_ivr_config(
        db,
        &IvrOptions::open_with(&["1001"]),
        Prompts::Short,
        10,
        "",
        SURVEY,
    );
    let port = free_port();
    register_agent(&server, "1001", port);
    let agent = start_agent(
        &server,
        "agent_hangs_up.xml",
        port,
        1,
        &[
            ("ANSWER_AFTER_MS", "300".into()),
            ("TALK_MS", "1500".into()),
        ],
    );
    let caller = start_ivr_caller(
        &server,
        &[(800, "0"), (4200, "5"), (1500, "3")],
        20_000,
        true,
    );
    wait_ok(caller, "caller", &server);
    wait_ok(agent, "agent phone", &server);
    let (protocol, events) = wait_for_event(&server, "recording_finalized");
    // The independent count, from the raw log.
    let mine: Vec<(String, u64, bool)> = events
        .iter()
        .filter(|e| e["kind"] == "survey_answered")
        .map(|e| {
            let d = &e["detail"];
            (
                d["question"].as_str().unwrap().to_owned(),
                d["score"].as_u64().expect("a valid answer"),
                d["isa"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        mine,
        [
            ("atendente".to_owned(), 5, true),
            ("instituto".to_owned(), 3, false)
        ],
        "{protocol}"
    );
    let date = protocol_date(&server, &protocol);
    let month = &date[..7];
    let r = server.api(&format!("/api/reports/survey?month={month}"));
    assert_eq!(
        (r["started"].as_u64(), r["responded"].as_u64()),
        (Some(1), Some(1)),
        "{r}"
    );
    assert_eq!(r["response_rate"]["percent"], 100.0);
    let q = |id: &str| {
        r["questions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|q| q["question"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("question {id}: {r}"))
    };
    assert_eq!(q("atendente")["counts"], serde_json::json!([0, 0, 0, 0, 1]));
    assert_eq!(q("atendente")["isa"], true);
    assert_eq!(q("instituto")["counts"], serde_json::json!([0, 0, 1, 0, 0]));
    assert_eq!(q("instituto")["isa"], false);
    assert_eq!(
        (
            r["isa"]["numerator"].as_u64(),
            r["isa"]["denominator"].as_u64()
        ),
        (Some(1), Some(1))
    );
    assert_eq!(r["agents"][0]["agent"], "1001");
    assert_eq!(r["agents"][0]["isa"]["percent"], 100.0);
    // ISA here is the contract panel's ISA (the projector's count of the same answers).
    let panel = server.api(&format!("/api/contract/{month}"));
    let isa = panel["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["kpi"] == "ISA")
        .cloned()
        .unwrap();
    assert_eq!(
        (isa["numerator"].as_u64(), isa["denominator"].as_u64()),
        (Some(1), Some(1)),
        "{panel}"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let xlsx = dir.path().join("pesquisa.xlsx");
    download(
        &server,
        &format!("/api/reports/survey?month={month}&format=xlsx"),
        &xlsx,
    );
    let got = total_row("openpyxl", "python3-openpyxl", XLSX_TOTAL, &xlsx, "Linha");
    assert_eq!(got["Nota 5"], 1, "{got}");
    assert_eq!(got["Respostas válidas"], 1, "{got}");
    assert_eq!(
        got["Notas 4 e 5 (%)"], 1.0,
        "a fraction, shown as 100 %: {got}"
    );
}

/// The local date of a call, from the per-call list's row.
fn protocol_date(server: &Server, protocol: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = server.api("/api/reports/today");
        if r["total"]["stats"]["in_progress"] == 0 && r["total"]["stats"]["offered"] == 1 {
            let date = r["period"]["from"].as_str().expect("date").to_owned();
            let calls = server.api(&format!("/api/reports/calls?from={date}"));
            assert_eq!(calls["calls"][0]["protocol"], protocol);
            return date;
        }
        assert!(Instant::now() < deadline, "projection never caught up: {r}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_survey_in_the_months_results_sqlite() {
    a_survey_in_the_months_results(Db::Sqlite);
}

#[test]
fn a_survey_in_the_months_results_postgres() {
    a_survey_in_the_months_results(Db::Postgres);
}
