//! Report files read back by readers atende did not write: Python's openpyxl (XLSX),
//! odfpy (ODS), LibreOffice headless converting both to CSV, and Python's csv module.
//! Every value is compared with the table, its type included: a duration must come back
//! as a duration, a date as a date, a percentage as a percentage.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use atende::export::{self, Cell, Column, CsvDialect, Format, Header, Kind, Report, Row, Status};
use jiff::civil::date;
use serde_json::{Value, json};

fn report() -> Report {
    Report {
        header: Header {
            title: "Lista de chamadas".into(),
            period: (date(2026, 11, 1), date(2026, 11, 30)),
            time_zone: "America/Sao_Paulo".into(),
            threshold_ms: 30_000,
            status: Status::Closed,
            definitions_version: "2026.1".into(),
            generated_at: date(2026, 12, 1).at(6, 30, 15, 0),
            notes: vec![("Abandono curto".into(), "0 s".into())],
        },
        columns: vec![
            Column::new("Data", Kind::Date),
            Column::new("Chegada", Kind::DateTime),
            Column::new("Protocolo", Kind::Text),
            Column::new("Atendidas", Kind::Integer),
            Column::new("TMA (s)", Kind::Decimal(2)),
            Column::new("NS", Kind::Percent),
            Column::new("Espera", Kind::Duration),
            Column::new("Gravação", Kind::Link),
            Column::new("Pesquisa", Kind::Integer),
        ],
        sheet: "Chamadas".into(),
    }
}

fn link(protocol: &str) -> Cell {
    Cell::Link {
        url: format!("https://atende.example/gravacoes/{protocol}"),
        text: "ouvir".into(),
    }
}

fn rows() -> Vec<Row> {
    vec![
        vec![
            Cell::Date(date(2026, 11, 3)),
            Cell::DateTime(date(2026, 11, 3).at(8, 29, 59, 0)),
            Cell::Text("20261103-000001".into()),
            Cell::Integer(12),
            Cell::Decimal(481.25),
            Cell::Percent(0.925),
            Cell::Duration(29_000),
            link("20261103-000001"),
            Cell::Integer(5),
        ],
        vec![
            Cell::Date(date(2026, 11, 30)),
            Cell::DateTime(date(2026, 11, 30).at(23, 59, 59, 0)),
            Cell::Text("Ação \"teste\"; <x> & y".into()),
            Cell::Integer(0),
            Cell::Decimal(0.0),
            Cell::Undefined,
            // 25 hours: a duration must not wrap at a day.
            Cell::Duration(90_000_000),
            link("20261130-000002"),
            Cell::Empty,
        ],
        vec![
            Cell::Date(date(2026, 11, 15)),
            Cell::DateTime(date(2026, 11, 15).at(0, 0, 0, 0)),
            Cell::Text("20261115-000003".into()),
            Cell::Integer(-3),
            Cell::Decimal(1.23456),
            Cell::Percent(1.0),
            Cell::Duration(3_723_000),
            link("20261115-000003"),
            Cell::Integer(1),
        ],
    ]
}

/// The rows the header block takes: title, 7 lines, a blank row, the column titles.
const BLOCK: usize = 10;

fn python(module: &str, package: &str, script: &str, args: &[&Path]) -> Value {
    let py = support::python_with(module, package);
    let out = Command::new(py)
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("python prints JSON")
}

/// What openpyxl sees in each cell: its Python type, value and, for links, the target.
const OPENPYXL: &str = r#"
import sys, json, datetime, openpyxl
out = {}
for data_only in (True, False):
    wb = openpyxl.load_workbook(sys.argv[1], data_only=data_only)
    sheets = []
    for ws in wb.worksheets:
        rows = []
        for row in ws.iter_rows():
            cells = []
            for c in row:
                v = c.value
                if isinstance(v, datetime.timedelta):
                    cells.append(["timedelta", v.total_seconds(), c.number_format])
                elif isinstance(v, datetime.datetime):
                    cells.append(["datetime", v.isoformat(), c.number_format])
                elif isinstance(v, bool):
                    cells.append(["bool", v, c.number_format])
                elif isinstance(v, (int, float)):
                    cells.append(["number", v, c.number_format])
                elif v is None:
                    cells.append(["none", None, c.number_format])
                else:
                    cells.append(["str", str(v), c.hyperlink.target if c.hyperlink else None])
            rows.append(cells)
        sheets.append({"name": ws.title, "rows": rows})
    out["values" if data_only else "formulas"] = sheets
print(json.dumps(out))
"#;

/// What odfpy sees: each cell's value type, typed value and text.
const ODFPY: &str = r#"
import sys, json
from odf.opendocument import load
from odf.table import Table, TableRow, TableCell
from odf.text import A
from odf import teletype
doc = load(sys.argv[1])
sheets = []
for t in doc.spreadsheet.getElementsByType(Table):
    rows = []
    for r in t.getElementsByType(TableRow):
        cells = []
        for c in r.getElementsByType(TableCell):
            vt = c.getAttribute("valuetype")
            v = {"float": "value", "percentage": "value", "date": "datevalue", "time": "timevalue"}.get(vt)
            links = [a.getAttribute("href") for a in c.getElementsByType(A)]
            cells.append([vt, c.getAttribute(v) if v else None, teletype.extractText(c), links[0] if links else None])
        rows.append(cells)
    sheets.append({"name": t.getAttribute("name"), "rows": rows})
print(json.dumps(sheets))
"#;

const CSV_READ: &str = r#"
import sys, csv, json
delim = sys.argv[2] if len(sys.argv) > 2 else ","
enc = "utf-8-sig" if delim == ";" else "utf-8"
with open(sys.argv[1], newline="", encoding=enc) as f:
    print(json.dumps([row for row in csv.reader(f, delimiter=delim)]))
"#;

fn write_all(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let report = report();
    let xlsx = dir.join("lista.xlsx");
    let ods = dir.join("lista.ods");
    let csv = dir.join("lista.csv");
    for (format, path) in [
        (Format::Xlsx, &xlsx),
        (Format::Ods, &ods),
        (Format::Csv, &csv),
    ] {
        let written = export::write(format, &report, rows(), path).expect("report written");
        assert_eq!(written.rows, 3);
        assert_eq!(written.sheets, 1);
    }
    (xlsx, ods, csv)
}

/// Days since 1899-12-30 plus the time of day: what the datetime must read back as.
fn iso(d: &jiff::civil::DateTime) -> String {
    d.strftime("%Y-%m-%dT%H:%M:%S").to_string()
}

#[test]
fn xlsx_read_by_openpyxl_has_every_value_with_its_type() {
    let dir = tempfile::tempdir().unwrap();
    let (xlsx, _, _) = write_all(dir.path());
    let got = python("openpyxl", "python3-openpyxl", OPENPYXL, &[&xlsx]);
    let sheet = &got["values"][0];
    assert_eq!(sheet["name"], "Chamadas");
    let got_rows = sheet["rows"].as_array().unwrap();
    let rows = got_rows;
    // The header block.
    assert_eq!(rows[0][0][1], "Lista de chamadas");
    assert_eq!(rows[1][0][1], "Período");
    assert_eq!(rows[1][1][1], "01/11/2026 a 30/11/2026");
    assert_eq!(rows[2][1][1], "America/Sao_Paulo");
    assert_eq!(rows[3][1][1], "30 s");
    assert_eq!(rows[4][1][1], "fechado");
    assert_eq!(rows[5][1][1], "2026.1");
    assert_eq!(rows[6][0][1], "Gerado em");
    assert_eq!(
        rows[6][1],
        json!(["datetime", "2026-12-01T06:30:15", "dd/mm/yyyy hh:mm:ss"])
    );
    assert_eq!(rows[7][1][1], "0 s");
    let titles: Vec<&str> = rows[BLOCK - 1]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c[1].as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        [
            "Data",
            "Chegada",
            "Protocolo",
            "Atendidas",
            "TMA (s)",
            "NS",
            "Espera",
            "Gravação",
            "Pesquisa"
        ]
    );
    assert_eq!(rows.len(), BLOCK + 3);
    for (i, row) in self::rows().iter().enumerate() {
        let got = &got_rows[BLOCK + i];
        for (j, cell) in row.iter().enumerate() {
            let expected = match cell {
                Cell::Date(d) => json!(["datetime", format!("{d}T00:00:00"), "dd/mm/yyyy"]),
                Cell::DateTime(dt) => json!(["datetime", iso(dt), "dd/mm/yyyy hh:mm:ss"]),
                Cell::Text(s) => json!(["str", s, null]),
                Cell::Integer(n) => json!(["number", n, "0"]),
                Cell::Decimal(v) => json!(["number", v, "0.00"]),
                Cell::Percent(v) => json!(["number", v, "0.00%"]),
                Cell::Duration(ms) => json!(["timedelta", *ms as f64 / 1000.0, "[h]:mm:ss"]),
                Cell::Link { url, text } => json!(["str", text, url]),
                Cell::Undefined => json!(["str", "—", null]),
                Cell::Empty => json!(["none", null, "General"]),
            };
            // openpyxl reads whole numbers back as int and 0.0 as 0: compare numbers as f64.
            let same = match (&got[j][1], &expected[1]) {
                (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
                (a, b) => a == b,
            };
            assert!(
                same && got[j][0] == expected[0] && got[j][2] == expected[2],
                "row {i} column {j}: got {} expected {expected}",
                got[j]
            );
        }
    }
}

#[test]
fn ods_read_by_odfpy_has_native_value_types() {
    let dir = tempfile::tempdir().unwrap();
    let (_, ods, _) = write_all(dir.path());
    let got = python("odf", "python3-odf", ODFPY, &[&ods]);
    assert_eq!(got[0]["name"], "Chamadas");
    let rows = got[0]["rows"].as_array().unwrap();
    assert_eq!(rows[0][0][2], "Lista de chamadas");
    assert_eq!(rows[1][1][2], "01/11/2026 a 30/11/2026");
    assert_eq!(
        rows[6][1],
        json!(["date", "2026-12-01T06:30:15", "01/12/2026 06:30:15", null])
    );
    assert_eq!(rows.len(), BLOCK + 3);
    let expected = [
        [
            json!(["date", "2026-11-03", "03/11/2026", null]),
            json!(["date", "2026-11-03T08:29:59", "03/11/2026 08:29:59", null]),
            json!(["string", null, "20261103-000001", null]),
            json!(["float", "12", "12", null]),
            json!(["float", "481.25", "481,25", null]),
            json!(["percentage", "0.925", "92,50%", null]),
            json!(["time", "PT0H00M29S", "0:00:29", null]),
            json!([
                "string",
                null,
                "ouvir",
                "https://atende.example/gravacoes/20261103-000001"
            ]),
            json!(["float", "5", "5", null]),
        ],
        [
            json!(["date", "2026-11-30", "30/11/2026", null]),
            json!(["date", "2026-11-30T23:59:59", "30/11/2026 23:59:59", null]),
            json!(["string", null, "Ação \"teste\"; <x> & y", null]),
            json!(["float", "0", "0", null]),
            json!(["float", "0", "0,00", null]),
            json!(["string", null, "—", null]),
            json!(["time", "PT25H00M00S", "25:00:00", null]),
            json!([
                "string",
                null,
                "ouvir",
                "https://atende.example/gravacoes/20261130-000002"
            ]),
            json!([null, null, "", null]),
        ],
        [
            json!(["date", "2026-11-15", "15/11/2026", null]),
            json!(["date", "2026-11-15T00:00:00", "15/11/2026 00:00:00", null]),
            json!(["string", null, "20261115-000003", null]),
            json!(["float", "-3", "-3", null]),
            json!(["float", "1.23456", "1,23", null]),
            json!(["percentage", "1", "100,00%", null]),
            json!(["time", "PT1H02M03S", "1:02:03", null]),
            json!([
                "string",
                null,
                "ouvir",
                "https://atende.example/gravacoes/20261115-000003"
            ]),
            json!(["float", "1", "1", null]),
        ],
    ];
    for (i, row) in expected.iter().enumerate() {
        for (j, cell) in row.iter().enumerate() {
            assert_eq!(&rows[BLOCK + i][j], cell, "row {i} column {j}");
        }
    }
}

/// LibreOffice headless, with a pt-BR locale, converts a file to CSV (cells as shown);
/// returns the rows.
fn soffice_csv(file: &Path, out: &Path) -> Vec<Vec<String>> {
    let soffice = support::require("soffice");
    let profile = out.join("lo-profile");
    let status = Command::new(soffice)
        .arg(format!(
            "-env:UserInstallation=file://{}",
            profile.display()
        ))
        .args([
            "--headless",
            "--convert-to",
            "csv:Text - txt - csv (StarCalc):59,34,76,1,,1046,false,true,true",
            "--outdir",
        ])
        .arg(out)
        .arg(file)
        .env("LC_ALL", "pt_BR.UTF-8")
        .env("LANG", "pt_BR.UTF-8")
        .output()
        .expect("soffice runs");
    assert!(
        status.status.success(),
        "soffice failed: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    let stem = file.file_stem().unwrap().to_string_lossy();
    let csv = out.join(format!("{stem}.csv"));
    let rows = python("csv", "python3", CSV_READ, &[&csv, Path::new(";")]);
    serde_json::from_value(rows).expect("rows of text")
}

#[test]
fn libreoffice_shows_both_spreadsheets_as_a_pt_br_reader_expects() {
    let dir = tempfile::tempdir().unwrap();
    let (xlsx, ods, _) = write_all(dir.path());
    let expected: Vec<Vec<&str>> = vec![
        vec![
            "03/11/2026",
            "03/11/2026 08:29:59",
            "20261103-000001",
            "12",
            "481,25",
            "92,50%",
            "0:00:29",
            "ouvir",
            "5",
        ],
        vec![
            "30/11/2026",
            "30/11/2026 23:59:59",
            "Ação \"teste\"; <x> & y",
            "0",
            "0,00",
            "—",
            "25:00:00",
            "ouvir",
            "",
        ],
        vec![
            "15/11/2026",
            "15/11/2026 00:00:00",
            "20261115-000003",
            "-3",
            "1,23",
            "100,00%",
            "1:02:03",
            "ouvir",
            "1",
        ],
    ];
    for (file, sub) in [(&xlsx, "from-xlsx"), (&ods, "from-ods")] {
        let out = dir.path().join(sub);
        std::fs::create_dir_all(&out).unwrap();
        let rows = soffice_csv(file, &out);
        assert_eq!(rows[0][0], "Lista de chamadas", "{sub}");
        assert_eq!(rows[6][..2], ["Gerado em", "01/12/2026 06:30:15"], "{sub}");
        for (i, want) in expected.iter().enumerate() {
            let got = &rows[BLOCK + i];
            assert_eq!(&got[..want.len()], &want[..], "{sub}, row {i}");
        }
    }
}

#[test]
fn csv_pt_br_opens_with_semicolons_decimal_commas_and_a_bom() {
    let dir = tempfile::tempdir().unwrap();
    let (_, _, csv) = write_all(dir.path());
    let bytes = std::fs::read(&csv).unwrap();
    assert!(
        bytes.starts_with("\u{feff}".as_bytes()),
        "UTF-8 BOM for Excel"
    );
    let got = python("csv", "python3", CSV_READ, &[&csv, Path::new(";")]);
    assert_eq!(got[0], json!(["Lista de chamadas"]));
    assert_eq!(got[1], json!(["Período", "01/11/2026 a 30/11/2026"]));
    assert_eq!(got[6], json!(["Gerado em", "01/12/2026 06:30:15"]));
    assert_eq!(
        got[BLOCK - 1],
        json!([
            "Data",
            "Chegada",
            "Protocolo",
            "Atendidas",
            "TMA (s)",
            "NS",
            "Espera",
            "Gravação",
            "Pesquisa"
        ])
    );
    assert_eq!(
        got[BLOCK],
        json!([
            "03/11/2026",
            "03/11/2026 08:29:59",
            "20261103-000001",
            "12",
            "481,25",
            "92,50%",
            "0:00:29",
            "https://atende.example/gravacoes/20261103-000001",
            "5"
        ])
    );
    assert_eq!(
        got[BLOCK + 1],
        json!([
            "30/11/2026",
            "30/11/2026 23:59:59",
            "Ação \"teste\"; <x> & y",
            "0",
            "0,00",
            "—",
            "25:00:00",
            "https://atende.example/gravacoes/20261130-000002",
            ""
        ])
    );
    assert_eq!(got.as_array().unwrap().len(), BLOCK + 3);

    let data = dir.path().join("dados.csv");
    export::write_csv(&report(), rows(), &data, CsvDialect::Data).unwrap();
    let got = python("csv", "python3", CSV_READ, &[&data]);
    assert_eq!(got.as_array().unwrap().len(), 4, "titles and rows only");
    assert_eq!(
        got[2],
        json!([
            "2026-11-30",
            "2026-11-30T23:59:59",
            "Ação \"teste\"; <x> & y",
            "0",
            "0",
            "",
            "90000",
            "https://atende.example/gravacoes/20261130-000002",
            ""
        ])
    );
    assert_eq!(got[3][4], "1.23456");
    assert_eq!(got[3][5], "1");
}

#[test]
fn long_lists_continue_on_new_sheets_and_links_past_the_limit_stay_clickable() {
    let dir = tempfile::tempdir().unwrap();
    let report = report();
    let seven: Vec<Row> = (0..7).map(|i| rows()[i % 3].clone()).collect();
    // Room for 3 data rows per sheet and 2 real hyperlinks per XLSX sheet.
    let limit = BLOCK as u32 + 3;
    let xlsx = dir.path().join("longa.xlsx");
    let ods = dir.path().join("longa.ods");
    for (format, path) in [(Format::Xlsx, &xlsx), (Format::Ods, &ods)] {
        let w = export::write_with_limits(format, &report, seven.clone(), path, limit, 2).unwrap();
        assert_eq!((w.rows, w.sheets), (7, 3), "{format:?}");
    }
    let got = python("openpyxl", "python3-openpyxl", OPENPYXL, &[&xlsx]);
    let names: Vec<&str> = got["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Chamadas", "Chamadas (2)", "Chamadas (3)"]);
    let data_rows: Vec<usize> = got["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["rows"].as_array().unwrap().len() - BLOCK)
        .collect();
    assert_eq!(data_rows, [3, 3, 1]);
    // Every sheet repeats the header block.
    for sheet in got["values"].as_array().unwrap() {
        assert_eq!(sheet["rows"][1][1][1], "01/11/2026 a 30/11/2026");
    }
    // First sheet: two real hyperlinks, then a HYPERLINK() formula whose saved result is
    // the link's text (so a reader of cached values shows "ouvir", not 0).
    let first = &got["values"][0]["rows"];
    assert_eq!(
        first[BLOCK][7][2],
        "https://atende.example/gravacoes/20261103-000001"
    );
    assert_eq!(
        first[BLOCK + 1][7][2],
        "https://atende.example/gravacoes/20261130-000002"
    );
    assert_eq!(first[BLOCK + 2][7], json!(["str", "ouvir", null]));
    assert_eq!(
        got["formulas"][0]["rows"][BLOCK + 2][7][1],
        "=HYPERLINK(\"https://atende.example/gravacoes/20261115-000003\",\"ouvir\")"
    );
    let got = python("odf", "python3-odf", ODFPY, &[&ods]);
    let counts: Vec<(String, usize)> = got
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_owned(),
                s["rows"].as_array().unwrap().len() - BLOCK,
            )
        })
        .collect();
    assert_eq!(
        counts,
        [
            ("Chamadas".to_owned(), 3),
            ("Chamadas (2)".to_owned(), 3),
            ("Chamadas (3)".to_owned(), 1)
        ]
    );
}
