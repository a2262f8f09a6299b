//! Report files: one typed table written as XLSX, ODS or CSV.
//!
//! The reports (the projector's day, month, per-call and agent tables) hand this module a
//! [`Report`] (title, the header lines every report carries, typed columns) and an iterator
//! of rows; the writers stream the rows to a file and keep memory bounded whatever the
//! number of rows (a month's per-call list is ≈ 300 k rows). Values keep their type in the
//! spreadsheets: numbers are numbers, a duration is a duration (`[h]:mm:ss`, never text), a
//! date a date, a percentage a percentage; what a person reads is formatted for pt-BR.
//!
//! Limits: one sheet holds 1 048 576 rows (Excel's and LibreOffice's limit); a longer list
//! continues on a second sheet with the same header block ("Chamadas (2)"). An XLSX sheet
//! holds at most 65 530 hyperlinks, and rust_xlsxwriter keeps each one in memory until
//! the file is saved (≈ 1.5 KB a link: 95 MB for a full sheet), so only the first
//! `XLSX_REAL_LINKS` of a sheet are real hyperlinks; the rest are `HYPERLINK()` formulas
//! saved with their text as the result, styled as links and just as clickable. This
//! module knows nothing of calls or KPIs, and does no IO other than the file it writes.

use std::path::Path;

use jiff::civil::{Date, DateTime};

mod csv;
mod ods;
mod text;
mod xlsx;

pub use self::csv::CsvDialect;
pub use text::{format_date, format_duration, format_percent};

/// The rows one sheet holds in Excel and LibreOffice Calc.
pub const MAX_SHEET_ROWS: u32 = 1_048_576;
/// The hyperlinks one XLSX sheet holds (Excel refuses to open a file with more).
pub const MAX_XLSX_LINKS: u32 = 65_530;
/// Real hyperlinks written per XLSX sheet before `HYPERLINK()` formulas take over: keeps
/// a long list's memory flat (see the module's notes). Well under `MAX_XLSX_LINKS`.
pub const XLSX_REAL_LINKS: u32 = 1_000;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot write {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("XLSX: {0}")]
    Xlsx(#[from] rust_xlsxwriter::XlsxError),
    #[error("ODS: {0}")]
    Zip(#[from] zip::result::ZipError),
    #[error("CSV: {0}")]
    Csv(#[from] ::csv::Error),
    #[error(
        "row {row}, column {column:?}: a {found} value in a {expected} column (a bug in the report)"
    )]
    CellKind {
        row: u64,
        column: String,
        expected: &'static str,
        found: &'static str,
    },
    #[error("row {row} has {found} cells for {expected} columns (a bug in the report)")]
    RowWidth {
        row: u64,
        expected: usize,
        found: usize,
    },
    #[error("a report needs at least one column")]
    NoColumns,
}

/// The three file formats users download or receive by e-mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Xlsx,
    Ods,
    /// pt-BR spreadsheet CSV (see [`CsvDialect::PtBr`]).
    Csv,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Xlsx => "xlsx",
            Format::Ods => "ods",
            Format::Csv => "csv",
        }
    }

    pub fn mime_type(self) -> &'static str {
        match self {
            Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Format::Ods => "application/vnd.oasis.opendocument.spreadsheet",
            Format::Csv => "text/csv; charset=utf-8",
        }
    }

    pub fn parse(name: &str) -> Option<Format> {
        match name.to_ascii_lowercase().as_str() {
            "xlsx" => Some(Format::Xlsx),
            "ods" => Some(Format::Ods),
            "csv" => Some(Format::Csv),
            _ => None,
        }
    }
}

/// Whether the report's figures may still change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Calls still open or late events still possible: figures may change.
    Provisional,
    /// A closed (frozen) period.
    Closed,
}

/// The lines every report carries above its table, so a printed page or a forwarded file
/// says what it measured and how.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    pub title: String,
    /// First and last local day of the period, both included.
    pub period: (Date, Date),
    /// IANA name of the time zone days and intervals are cut in.
    pub time_zone: String,
    /// The service-level threshold ("within 30 s" = wait ≤ this).
    pub threshold_ms: u64,
    pub status: Status,
    pub definitions_version: String,
    /// Local civil time the file was made.
    pub generated_at: DateTime,
    /// Further settings the report depends on (label, value), printed after the above.
    pub notes: Vec<(String, String)>,
}

impl Header {
    /// The header block as (label, value) lines, in pt-BR.
    pub fn lines(&self) -> Vec<(String, Cell)> {
        let (from, to) = self.period;
        let period = if from == to {
            text::format_date(from)
        } else {
            format!("{} a {}", text::format_date(from), text::format_date(to))
        };
        let mut lines = vec![
            ("Período".to_owned(), Cell::Text(period)),
            (
                "Fuso horário".to_owned(),
                Cell::Text(self.time_zone.clone()),
            ),
            (
                "Limite do nível de serviço".to_owned(),
                Cell::Text(format!(
                    "{} s",
                    text::format_decimal(self.threshold_ms as f64 / 1000.0, 0, 3)
                )),
            ),
            (
                "Situação".to_owned(),
                Cell::Text(
                    match self.status {
                        Status::Provisional => "provisório",
                        Status::Closed => "fechado",
                    }
                    .to_owned(),
                ),
            ),
            (
                "Versão das definições".to_owned(),
                Cell::Text(self.definitions_version.clone()),
            ),
            ("Gerado em".to_owned(), Cell::DateTime(self.generated_at)),
        ];
        lines.extend(
            self.notes
                .iter()
                .map(|(k, v)| (k.clone(), Cell::Text(v.clone()))),
        );
        lines
    }
}

/// What a column holds; every cell in it is of this kind, "—" or empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Integer,
    /// A number shown with this many decimal places.
    Decimal(u8),
    /// A fraction (0.925) shown as a percentage with two decimals (92,50 %).
    Percent,
    /// Elapsed time, shown `[h]:mm:ss` (hours do not wrap at 24).
    Duration,
    Date,
    DateTime,
    /// A link (a call's recording), shown as its text.
    Link,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Text => "text",
            Kind::Integer => "integer",
            Kind::Decimal(_) => "decimal",
            Kind::Percent => "percent",
            Kind::Duration => "duration",
            Kind::Date => "date",
            Kind::DateTime => "date-time",
            Kind::Link => "link",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub title: String,
    pub kind: Kind,
}

impl Column {
    pub fn new(title: impl Into<String>, kind: Kind) -> Column {
        Column {
            title: title.into(),
            kind,
        }
    }
}

/// One value of a row.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    Integer(i64),
    Decimal(f64),
    /// A fraction: 0.925 is 92.5 %.
    Percent(f64),
    /// Milliseconds.
    Duration(u64),
    Date(Date),
    DateTime(DateTime),
    Link {
        url: String,
        text: String,
    },
    /// A ratio whose denominator is zero: shown "—", never 0 or 100 %.
    Undefined,
    /// No value (a call without a survey answer).
    Empty,
}

/// The text an undefined ratio shows.
pub const UNDEFINED: &str = "—";

impl Cell {
    fn kind_name(&self) -> &'static str {
        match self {
            Cell::Text(_) => "text",
            Cell::Integer(_) => "integer",
            Cell::Decimal(_) => "decimal",
            Cell::Percent(_) => "percent",
            Cell::Duration(_) => "duration",
            Cell::Date(_) => "date",
            Cell::DateTime(_) => "date-time",
            Cell::Link { .. } => "link",
            Cell::Undefined => "undefined",
            Cell::Empty => "empty",
        }
    }

    fn fits(&self, kind: Kind) -> bool {
        matches!(
            (self, kind),
            (Cell::Undefined | Cell::Empty, _)
                | (Cell::Text(_), Kind::Text)
                | (Cell::Integer(_), Kind::Integer)
                | (Cell::Decimal(_), Kind::Decimal(_))
                | (Cell::Percent(_), Kind::Percent)
                | (Cell::Duration(_), Kind::Duration)
                | (Cell::Date(_), Kind::Date)
                | (Cell::DateTime(_), Kind::DateTime)
                | (Cell::Link { .. }, Kind::Link)
        )
    }
}

/// A row: one cell per column, in column order.
pub type Row = Vec<Cell>;

/// A report's shape: everything but its rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub header: Header,
    pub columns: Vec<Column>,
    /// The sheet's name (a short form of the title, e.g. "Chamadas").
    pub sheet: String,
}

impl Report {
    /// Checks a row against the columns before any writer sees it.
    pub(crate) fn check(&self, index: u64, row: &Row) -> Result<(), ExportError> {
        if row.len() != self.columns.len() {
            return Err(ExportError::RowWidth {
                row: index,
                expected: self.columns.len(),
                found: row.len(),
            });
        }
        for (cell, column) in row.iter().zip(&self.columns) {
            if !cell.fits(column.kind) {
                return Err(ExportError::CellKind {
                    row: index,
                    column: column.title.clone(),
                    expected: column.kind.name(),
                    found: cell.kind_name(),
                });
            }
        }
        Ok(())
    }

    /// The rows the header block takes above the data: title, the header lines, a blank
    /// row and the column titles.
    fn block_rows(&self) -> u32 {
        self.header.lines().len() as u32 + 3
    }

    /// The sheet names, Excel-safe (≤ 31 characters, none of `[]:*?/\`), for the n-th
    /// sheet (0-based) of a long list.
    fn sheet_name(&self, n: usize) -> String {
        let base: String = self
            .sheet
            .chars()
            .filter(|c| !matches!(c, '[' | ']' | ':' | '*' | '?' | '/' | '\\'))
            .collect();
        let base = if base.trim().is_empty() {
            "Relatório".to_owned()
        } else {
            base
        };
        let suffix = if n == 0 {
            String::new()
        } else {
            format!(" ({})", n + 1)
        };
        let room = 31 - suffix.chars().count();
        base.chars().take(room).collect::<String>() + &suffix
    }
}

/// Where a long list breaks into sheets: `data_rows` per sheet under the header block.
#[derive(Debug, Clone, Copy)]
struct Limits {
    sheet_rows: u32,
    links: u32,
}

impl Limits {
    const EXCEL: Limits = Limits {
        sheet_rows: MAX_SHEET_ROWS,
        links: if XLSX_REAL_LINKS < MAX_XLSX_LINKS {
            XLSX_REAL_LINKS
        } else {
            MAX_XLSX_LINKS
        },
    };
}

/// How many rows were written, and over how many sheets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    pub rows: u64,
    pub sheets: usize,
}

/// Writes `rows` under `report`'s header to `path` in `format`, streaming.
pub fn write<I>(
    format: Format,
    report: &Report,
    rows: I,
    path: &Path,
) -> Result<Written, ExportError>
where
    I: IntoIterator<Item = Row>,
{
    write_with(format, report, rows, path, Limits::EXCEL)
}

/// [`write`] with smaller sheet limits, so tests can show what happens past them without
/// writing a million rows.
#[doc(hidden)]
pub fn write_with_limits<I>(
    format: Format,
    report: &Report,
    rows: I,
    path: &Path,
    sheet_rows: u32,
    links: u32,
) -> Result<Written, ExportError>
where
    I: IntoIterator<Item = Row>,
{
    write_with(format, report, rows, path, Limits { sheet_rows, links })
}

fn write_with<I>(
    format: Format,
    report: &Report,
    rows: I,
    path: &Path,
    limits: Limits,
) -> Result<Written, ExportError>
where
    I: IntoIterator<Item = Row>,
{
    if report.columns.is_empty() {
        return Err(ExportError::NoColumns);
    }
    let rows = rows.into_iter();
    match format {
        Format::Xlsx => xlsx::write(report, rows, path, limits),
        Format::Ods => ods::write(report, rows, path, limits),
        Format::Csv => csv::write(report, rows, path, CsvDialect::PtBr),
    }
}

/// Writes a CSV in the given dialect (the `Format::Csv` download is [`CsvDialect::PtBr`]).
pub fn write_csv<I>(
    report: &Report,
    rows: I,
    path: &Path,
    dialect: CsvDialect,
) -> Result<Written, ExportError>
where
    I: IntoIterator<Item = Row>,
{
    if report.columns.is_empty() {
        return Err(ExportError::NoColumns);
    }
    csv::write(report, rows.into_iter(), path, dialect)
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> ExportError + '_ {
    move |source| ExportError::Io {
        path: path.display().to_string(),
        source,
    }
}

#[cfg(test)]
mod tests;
