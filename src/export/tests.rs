use jiff::civil::date;

use super::text::{format_decimal, format_duration, format_percent};
use super::*;

fn report() -> Report {
    Report {
        header: Header {
            title: "Teste".into(),
            period: (date(2026, 11, 1), date(2026, 11, 30)),
            time_zone: "America/Sao_Paulo".into(),
            threshold_ms: 30_000,
            status: Status::Closed,
            definitions_version: "1".into(),
            generated_at: date(2026, 12, 1).at(6, 0, 0, 0),
            notes: vec![],
        },
        columns: vec![Column::new("n", Kind::Integer)],
        sheet: "Lista: [nov/2026] de chamadas atendidas".into(),
    }
}

#[test]
fn pt_br_text() {
    assert_eq!(format_duration(3_723_000), "1:02:03");
    assert_eq!(format_duration(90_000_000), "25:00:00");
    assert_eq!(format_duration(29_999), "0:00:30");
    assert_eq!(format_decimal(12.5, 2, 2), "12,50");
    assert_eq!(format_decimal(30.0, 0, 3), "30");
    assert_eq!(format_decimal(30.5, 0, 3), "30,5");
    assert_eq!(format_decimal(-0.0001, 0, 2), "0");
    assert_eq!(format_percent(0.925), "92,50%");
}

#[test]
fn a_cell_of_the_wrong_kind_is_refused_with_its_place() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("x.csv");
    let err = write(
        Format::Csv,
        &report(),
        [vec![Cell::Integer(1)], vec![Cell::Text("x".into())]],
        &path,
    )
    .expect_err("a text in an integer column");
    assert!(matches!(err, ExportError::CellKind { row: 1, .. }), "{err}");
    let err = write(Format::Ods, &report(), [vec![]], &path).expect_err("short row");
    assert!(matches!(err, ExportError::RowWidth { .. }), "{err}");
}

#[test]
fn sheet_names_are_excel_safe() {
    let r = report();
    assert_eq!(r.sheet_name(0), "Lista nov2026 de chamadas atend");
    assert_eq!(r.sheet_name(1), "Lista nov2026 de chamadas a (2)");
    assert!(r.sheet_name(1).chars().count() <= 31);
}
