//! A month's per-call list (300,000 rows) written from a lazy iterator in bounded memory,
//! in each format; Python (zipfile, csv) counts the rows that landed in the files.
//! Alone in its binary: the peak resident memory it checks is the process's.

mod support;

use std::path::Path;
use std::process::Command;

use atende::export::{self, Cell, Column, Format, Header, Kind, Report, Row, Status};
use jiff::civil::date;

const ROWS: u64 = 300_000;
/// What the three files may add to the process's peak memory. An in-memory writer needs
/// hundreds of MB for this list (rust_xlsxwriter's own table: ≈ 217 MB per million cells).
const MEMORY_BOUND_MB: u64 = 64;

fn peak_rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("procfs");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status")
}

fn report() -> Report {
    let columns = [
        ("Data", Kind::Date),
        ("Chegada", Kind::DateTime),
        ("Dia da semana", Kind::Text),
        ("Protocolo", Kind::Text),
        ("Atendente", Kind::Text),
        ("Origem", Kind::Text),
        ("URA", Kind::Duration),
        ("Fila", Kind::Duration),
        ("Conversa", Kind::Duration),
        ("Pós-atendimento", Kind::Duration),
        ("Total", Kind::Duration),
        ("Resultado", Kind::Text),
        ("Pesquisa", Kind::Integer),
        ("Registro", Kind::Text),
        ("Gravação", Kind::Link),
    ];
    Report {
        header: Header {
            title: "Lista de chamadas".into(),
            period: (date(2026, 11, 1), date(2026, 11, 30)),
            time_zone: "America/Sao_Paulo".into(),
            threshold_ms: 30_000,
            status: Status::Provisional,
            definitions_version: "1".into(),
            generated_at: date(2026, 12, 1).at(7, 0, 0, 0),
            notes: vec![],
        },
        columns: columns.iter().map(|(t, k)| Column::new(*t, *k)).collect(),
        sheet: "Chamadas".into(),
    }
}

/// Rows made one at a time, never held: 10,000 calls a day for 30 days.
fn rows() -> impl Iterator<Item = Row> {
    (0..ROWS).map(|i| {
        let day = date(2026, 11, 1 + (i / 10_000) as i8);
        let secs = (i % 10_000) * 8;
        let protocol = format!("{}-{:06}", day.strftime("%Y%m%d"), i % 10_000 + 1);
        vec![
            Cell::Date(day),
            Cell::DateTime(day.at(
                (secs / 3600) as i8,
                (secs / 60 % 60) as i8,
                (secs % 60) as i8,
                0,
            )),
            Cell::Text("segunda-feira".into()),
            Cell::Text(protocol.clone()),
            Cell::Text(format!("agente{}", 1000 + i % 70)),
            Cell::Text("•••••••1234".into()),
            Cell::Duration(35_000),
            Cell::Duration(i % 120 * 1000),
            Cell::Duration(240_000 + i % 500 * 1000),
            Cell::Duration(30_000),
            Cell::Duration(600_000),
            Cell::Text("atendida".into()),
            if i % 3 == 0 {
                Cell::Empty
            } else {
                Cell::Integer((i % 5 + 1) as i64)
            },
            Cell::Text("sim".into()),
            Cell::Link {
                url: format!("https://atende.example/gravacoes/{protocol}"),
                text: "ouvir".into(),
            },
        ]
    })
}

/// Rows per sheet as counted by Python: row elements inside each zip member (XLSX sheets,
/// ODS tables), or CSV records.
const COUNT: &str = r#"
import sys, zipfile, csv, json, re
path, kind = sys.argv[1], sys.argv[2]
if kind == "csv":
    with open(path, newline="", encoding="utf-8-sig") as f:
        print(json.dumps([sum(1 for _ in csv.reader(f, delimiter=";"))]))
    sys.exit()
z = zipfile.ZipFile(path)
def scan(member, rx):
    # Streams the member: matches across a chunk border are found once.
    buf = b""
    with z.open(member) as f:
        while True:
            chunk = f.read(1 << 20)
            buf += chunk
            limit = len(buf) - (32 if chunk else 0)
            last = 0
            for m in rx.finditer(buf):
                if m.start() >= limit:
                    break
                yield m.group()
                last = m.end()
            buf = buf[max(last, limit):]
            if not chunk:
                return
if kind == "xlsx":
    sheets = sorted(n for n in z.namelist() if n.startswith("xl/worksheets/sheet"))
    print(json.dumps([sum(1 for _ in scan(s, re.compile(rb"<row[ >]"))) for s in sheets]))
else:
    counts = []
    for token in scan("content.xml", re.compile(rb"<table:table-row>|<table:table ")):
        if token == b"<table:table ":
            counts.append(0)
        else:
            counts[-1] += 1
    print(json.dumps(counts))
"#;

fn count(path: &Path, kind: &str) -> Vec<u64> {
    let py = support::python_with("zipfile", "python3");
    let out = Command::new(py)
        .arg("-c")
        .arg(COUNT)
        .arg(path)
        .arg(kind)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("counts")
}

#[test]
fn a_months_call_list_streams_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let report = report();
    let before = peak_rss_kb();
    for format in [Format::Xlsx, Format::Ods, Format::Csv] {
        let path = dir.path().join(format!("lista.{}", format.extension()));
        let written = export::write(format, &report, rows(), &path).expect("written");
        assert_eq!(written.rows, ROWS, "{format:?}");
        assert_eq!(written.sheets, 1, "{format:?}");
    }
    let grew_mb = peak_rss_kb().saturating_sub(before) / 1024;
    assert!(
        grew_mb < MEMORY_BOUND_MB,
        "writing {ROWS} rows raised peak memory by {grew_mb} MB"
    );
    // The header block: title, 6 lines, a blank row (written in ODS and CSV, absent in
    // XLSX where an empty row has no element), the column titles.
    assert_eq!(count(&dir.path().join("lista.xlsx"), "xlsx"), [ROWS + 8]);
    assert_eq!(count(&dir.path().join("lista.ods"), "ods"), [ROWS + 9]);
    assert_eq!(count(&dir.path().join("lista.csv"), "csv"), [ROWS + 9]);
}
