//! End to end: a real answered call and a caller who leaves the IVR, then the contract
//! panel (`/api/contract/{month}`) carries the very numerators and denominators of the
//! month report, and the reports download as XLSX (read back by openpyxl), CSV (parsed by
//! Python's csv module) and ODS, with Portuguese file names and the JSON's figures.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use support::ivr::*;
use support::*;

/// GET as the test admin: (status, head, body).
fn get(server: &Server, path: &str) -> (u16, String, Vec<u8>) {
    let cookie = login(server.http_port, ADMIN_USER, ADMIN_PASSWORD)
        .expect("login")
        .expect("admin logs in");
    raw_request(
        server.http_port,
        "GET",
        path,
        &format!("Cookie: {cookie}\r\n"),
        None,
    )
    .expect("GET")
}

fn header<'a>(head: &'a str, name: &str) -> &'a str {
    head.split("\r\n")
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
        .unwrap_or("")
}

/// The "Total" row of a sheet as {column title: value} (JSON), by a Python reader.
fn total_row(python: &Path, script: &str, file: &Path) -> serde_json::Value {
    let out = Command::new(python)
        .args(["-c", script])
        .arg(file)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON from python")
}

const XLSX_TOTAL: &str = r#"
import sys, json, openpyxl
ws = openpyxl.load_workbook(sys.argv[1]).active
rows = list(ws.iter_rows(values_only=True))
head = next(r for r in rows if r and r[0] == "Período" and sum(v is not None for v in r) > 2)
total = next(r for r in rows if r and r[0] == "Total")
print(json.dumps({h: (v if not hasattr(v, "total_seconds") else v.total_seconds()) for h, v in zip(head, total)}))
"#;

const CSV_TOTAL: &str = r#"
import sys, json, csv
rows = list(csv.reader(open(sys.argv[1], encoding="utf-8-sig", newline=""), delimiter=";"))
head = next(r for r in rows if r and r[0] == "Período" and sum(v != "" for v in r) > 2)
total = next(r for r in rows if r and r[0] == "Total")
print(json.dumps(dict(zip(head, total))))
"#;

fn panel_equals_month_report_and_reports_download(db: Db) {
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
        if s["offered"] == 2 && s["in_progress"] == 0 {
            break r;
        }
        assert!(Instant::now() < deadline, "projection never caught up: {r}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let date = today["period"]["from"].as_str().expect("date").to_owned();
    let month = &date[..7];

    // 1. The panel's figures are the month report's.
    let report = server.api(&format!("/api/reports/month?month={month}"));
    let panel = server.api(&format!("/api/contract/{month}"));
    let k = &report["total"]["kpis"];
    let row = |code: &str| {
        panel["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .find(|r| r["kpi"] == code)
            .cloned()
            .expect("panel row")
    };
    for (code, key) in [("NS", "ns"), ("TAB", "tab"), ("IAR", "iar"), ("ISA", "isa")] {
        let r = row(code);
        if k[key]["denominator"] == 0 {
            // Nothing to measure (no survey in this test): "—", never 0 % or 100 %.
            assert_eq!(r["denominator"], serde_json::Value::Null, "{code}: {panel}");
            assert_eq!(r["value"], "—", "{code}: {panel}");
            continue;
        }
        assert_eq!(r["numerator"], k[key]["numerator"], "{code}: {panel}");
        assert_eq!(r["denominator"], k[key]["denominator"], "{code}: {panel}");
    }
    for (code, key) in [("TMA", "tma"), ("TME", "tme")] {
        let r = row(code);
        assert_eq!(r["numerator"], k[key]["total_ms"], "{code}: {panel}");
        assert_eq!(r["denominator"], k[key]["count"], "{code}: {panel}");
    }
    assert_eq!(row("NS")["denominator"], 1, "one call reached a person");
    assert_ne!(row("TMA")["value"], "—", "TMA is measured: {panel}");

    // 2. Downloads: the day report as XLSX and CSV holds the JSON's totals.
    let day = server.api(&format!("/api/reports/day?date={date}"));
    let t = &day["total"];
    let dir = tempfile::tempdir().expect("tmp");
    let (status, head, body) = get(
        &server,
        &format!("/api/reports/day?date={date}&format=xlsx"),
    );
    assert_eq!(status, 200, "{head}");
    assert_eq!(
        header(&head, "content-type"),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    assert_eq!(
        header(&head, "content-disposition"),
        format!("attachment; filename=\"relatorio-diario-{date}.xlsx\"")
    );
    let xlsx = dir.path().join("d.xlsx");
    std::fs::write(&xlsx, &body).expect("saved");
    let py = python_with("openpyxl", "python3-openpyxl");
    let got = total_row(&py, XLSX_TOTAL, &xlsx);
    assert_eq!(got["Oferecidas"], t["stats"]["offered"], "{got}");
    assert_eq!(
        got["Abandonadas na URA"], t["stats"]["ivr_abandon"],
        "{got}"
    );
    let ns = t["kpis"]["ns"]["percent"].as_f64().expect("NS measured");
    assert!((got["NS (%)"].as_f64().expect("NS a number") - ns / 100.0).abs() < 1e-9);
    let tma = t["kpis"]["tma"]["seconds"].as_f64().expect("TMA measured");
    assert!((got["TMA"].as_f64().expect("TMA a duration") - tma).abs() < 0.001);

    let (status, head, body) = get(&server, &format!("/api/reports/day?date={date}&format=csv"));
    assert_eq!(status, 200);
    assert_eq!(header(&head, "content-type"), "text/csv; charset=utf-8");
    assert!(header(&head, "content-disposition").contains(&format!("relatorio-diario-{date}.csv")));
    let csv = dir.path().join("d.csv");
    std::fs::write(&csv, &body).expect("saved");
    let got = total_row(&py, CSV_TOTAL, &csv);
    assert_eq!(
        got["Oferecidas"],
        t["stats"]["offered"].to_string(),
        "{got}"
    );

    // The month, the period, the calls, the agents and the panel in every format.
    let cases = [
        (
            format!("/api/reports/month?month={month}"),
            format!("relatorio-mensal-{month}"),
        ),
        (
            format!("/api/reports/period?from={date}&to={date}"),
            format!("relatorio-periodo-{date}-a-{date}"),
        ),
        (
            format!("/api/reports/calls?from={date}"),
            format!("relatorio-chamadas-{date}-a-{date}"),
        ),
        (
            format!("/api/reports/agents?from={date}"),
            format!("relatorio-atendentes-{date}-a-{date}"),
        ),
        (
            format!("/api/contract/{month}?"),
            format!("painel-contrato-{month}"),
        ),
    ];
    for (url, stem) in &cases {
        for ext in ["xlsx", "ods", "csv"] {
            let sep = if url.ends_with('?') { "" } else { "&" };
            let (status, head, body) = get(&server, &format!("{url}{sep}format={ext}"));
            assert_eq!(
                status,
                200,
                "{url} {ext}: {}",
                String::from_utf8_lossy(&body)
            );
            assert_eq!(
                header(&head, "content-disposition"),
                format!("attachment; filename=\"{stem}.{ext}\""),
            );
            if ext == "csv" {
                assert!(String::from_utf8_lossy(&body).contains("Período"), "{url}");
            } else {
                assert!(body.starts_with(b"PK"), "{url} {ext}: a zip container");
            }
        }
    }
    // The calls list holds both calls' protocols.
    let (_, _, body) = get(
        &server,
        &format!("/api/reports/calls?from={date}&format=csv"),
    );
    let text = String::from_utf8_lossy(&body);
    let calls = server.api(&format!("/api/reports/calls?from={date}"));
    for c in calls["calls"].as_array().expect("calls") {
        assert!(
            text.contains(c["protocol"].as_str().expect("protocol")),
            "{text}"
        );
    }
    let (status, _, _) = get(&server, &format!("/api/reports/day?date={date}&format=pdf"));
    assert_eq!(status, 400, "an unknown format is refused");
}

#[test]
fn panel_equals_month_report_and_reports_download_sqlite() {
    panel_equals_month_report_and_reports_download(Db::Sqlite);
}

#[test]
fn panel_equals_month_report_and_reports_download_postgres() {
    panel_equals_month_report_and_reports_download(Db::Postgres);
}
