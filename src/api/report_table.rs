//! The reports' typed tables (`reports::table::Table`, what the JSON API's `format=table`
//! returns) as an export [`Report`] and its rows, so a download holds exactly the figures
//! the JSON shows. The two cell vocabularies differ on purpose: the JSON keeps percentages
//! 0–100 and dates as text; a spreadsheet wants a fraction and a real date.

use jiff::civil::Date;

use crate::export::{Cell, Column, Header, Kind, Report, Row};
use crate::reports::table::{Cell as TCell, Kind as TKind, Table};

fn kind(k: TKind) -> Kind {
    match k {
        // A clock time or an interval label ("08:00–08:30") reads best as text.
        TKind::Text | TKind::Time => Kind::Text,
        TKind::Date => Kind::Date,
        TKind::Count => Kind::Integer,
        TKind::Percent => Kind::Percent,
        TKind::Duration => Kind::Duration,
    }
}

fn cell(c: &TCell, k: Kind) -> Cell {
    match c {
        TCell::Empty if k == Kind::Percent || k == Kind::Duration => Cell::Undefined,
        TCell::Empty => Cell::Empty,
        TCell::Text(s) | TCell::Time(s) => Cell::Text(s.clone()),
        // A date column only ever holds `YYYY-MM-DD`; anything else stays readable text
        // in a text column rather than failing the whole file.
        TCell::Date(s) if k == Kind::Date => {
            s.parse::<Date>().map(Cell::Date).unwrap_or(Cell::Empty)
        }
        TCell::Date(s) => Cell::Text(s.clone()),
        TCell::Count(n) => Cell::Integer(i64::try_from(*n).unwrap_or(i64::MAX)),
        TCell::Percent(p) => Cell::Percent(p / 100.0),
        TCell::DurationMs(ms) => Cell::Duration(u64::try_from(*ms).unwrap_or(0)),
    }
}

/// The table's notes as header lines: "Label: value" splits at the first ": ".
fn notes(table: &Table) -> Vec<(String, String)> {
    table
        .notes
        .iter()
        .map(|n| match n.split_once(": ") {
            Some((l, v)) => (l.to_owned(), v.to_owned()),
            None => ("Nota".to_owned(), n.clone()),
        })
        .collect()
}

/// `table` under `header` (whose title and notes come from the table), with its rows.
pub fn from_table(table: &Table, mut header: Header, sheet: &str) -> (Report, Vec<Row>) {
    header.title = table.title.clone();
    header.notes.extend(notes(table));
    let columns: Vec<Column> = table
        .columns
        .iter()
        .map(|c| Column::new(c.label.clone(), kind(c.kind)))
        .collect();
    let rows = table
        .rows
        .iter()
        .map(|r| {
            r.iter()
                .zip(&columns)
                .map(|(c, col)| cell(c, col.kind))
                .collect()
        })
        .collect();
    (
        Report {
            header,
            columns,
            sheet: sheet.to_owned(),
        },
        rows,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::Status;
    use jiff::civil::date;

    #[test]
    fn typed_cells_keep_their_type_and_percentages_become_fractions() {
        let mut t = Table::new(
            "Mensal",
            &[
                ("date", "Data", TKind::Date),
                ("n", "Oferecidas", TKind::Count),
                ("ns", "NS (%)", TKind::Percent),
                ("tma", "TMA", TKind::Duration),
            ],
        );
        t.rows = vec![vec![
            TCell::Date("2026-12-07".into()),
            TCell::Count(3),
            TCell::Percent(50.0),
            TCell::Empty,
        ]];
        t.notes = vec!["Fila: geral".into()];
        let header = Header {
            title: String::new(),
            period: (date(2026, 12, 1), date(2026, 12, 31)),
            time_zone: "UTC".into(),
            threshold_ms: 30_000,
            status: Status::Closed,
            definitions_version: "1".into(),
            generated_at: date(2026, 12, 7).at(7, 0, 0, 0),
            notes: vec![],
        };
        let (r, rows) = from_table(&t, header, "Mensal");
        assert_eq!(r.header.title, "Mensal");
        assert_eq!(r.header.notes, vec![("Fila".into(), "geral".into())]);
        assert_eq!(
            rows[0],
            vec![
                Cell::Date(date(2026, 12, 7)),
                Cell::Integer(3),
                Cell::Percent(0.5),
                Cell::Undefined
            ]
        );
        assert!(r.check(0, &rows[0]).is_ok());
    }
}
