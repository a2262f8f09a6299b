//! XLSX through rust_xlsxwriter in constant-memory mode: each row goes to a temporary file
//! as soon as the next one starts, so a month's per-call list never sits in memory.
//!
//! Values, never formulas (a formula is saved with a cached 0 that readers show), except
//! recording links past the sheet's real-hyperlink budget (`XLSX_REAL_LINKS`): those are
//! `HYPERLINK()` formulas saved with their text as the result. Dates and durations are Excel serial numbers (days) with
//! a date or `[h]:mm:ss` format, which is what Excel itself stores.

use std::iter::Peekable;
use std::path::Path;

use jiff::civil::{Date, DateTime, date};
use rust_xlsxwriter::{Format, Formula, Url, Workbook, Worksheet, XlsxError};

use super::{Cell, ExportError, Kind, Limits, Report, Row, Written};

/// Excel's day zero (serial 0) for dates after 1900-03-01.
const EXCEL_EPOCH: Date = date(1899, 12, 30);
const MS_PER_DAY: f64 = 86_400_000.0;

struct Formats {
    bold: Format,
    /// What Excel gives a real hyperlink, for the `HYPERLINK()` ones.
    link: Format,
    datetime: Format,
    /// One per column, in column order (`None`: no number format).
    columns: Vec<Option<Format>>,
}

impl Formats {
    fn new(report: &Report) -> Formats {
        let columns = report
            .columns
            .iter()
            .map(|c| match c.kind {
                Kind::Integer => Some(Format::new().set_num_format("0")),
                Kind::Decimal(0) => Some(Format::new().set_num_format("0")),
                Kind::Decimal(p) => {
                    Some(Format::new().set_num_format(format!("0.{}", "0".repeat(p as usize))))
                }
                Kind::Percent => Some(Format::new().set_num_format("0.00%")),
                Kind::Duration => Some(Format::new().set_num_format("[h]:mm:ss")),
                Kind::Date => Some(Format::new().set_num_format("dd/mm/yyyy")),
                Kind::DateTime => Some(datetime_format()),
                Kind::Text | Kind::Link => None,
            })
            .collect();
        Formats {
            bold: Format::new().set_bold(),
            link: Format::new().set_hyperlink(),
            datetime: datetime_format(),
            columns,
        }
    }
}

fn datetime_format() -> Format {
    Format::new().set_num_format("dd/mm/yyyy hh:mm:ss")
}

fn date_serial(d: Date) -> f64 {
    (d - EXCEL_EPOCH).get_days() as f64
}

fn datetime_serial(dt: DateTime) -> f64 {
    let ms_of_day = (dt.hour() as i64 * 3_600_000
        + dt.minute() as i64 * 60_000
        + dt.second() as i64 * 1000
        + dt.millisecond() as i64) as f64;
    date_serial(dt.date()) + ms_of_day / MS_PER_DAY
}

pub(super) fn write(
    report: &Report,
    rows: impl Iterator<Item = Row>,
    path: &Path,
    limits: Limits,
) -> Result<Written, ExportError> {
    let mut workbook = Workbook::new();
    let formats = Formats::new(report);
    let block = report.block_rows();
    let per_sheet = limits.sheet_rows.saturating_sub(block).max(1);
    let mut rows = rows.peekable();
    let mut written = Written { rows: 0, sheets: 0 };
    loop {
        let sheet = workbook.add_worksheet_with_constant_memory()?;
        sheet.set_name(report.sheet_name(written.sheets))?;
        written.sheets += 1;
        header_block(sheet, report, &formats)?;
        written.rows += data_rows(sheet, report, &formats, &mut rows, block, per_sheet, limits)?;
        if rows.peek().is_none() {
            break;
        }
    }
    workbook.save(path)?;
    Ok(written)
}

fn header_block(sheet: &mut Worksheet, report: &Report, f: &Formats) -> Result<(), XlsxError> {
    sheet.write_string_with_format(0, 0, &report.header.title, &f.bold)?;
    let lines = report.header.lines();
    for (i, (label, value)) in lines.iter().enumerate() {
        let row = i as u32 + 1;
        sheet.write_string_with_format(row, 0, label, &f.bold)?;
        match value {
            Cell::DateTime(dt) => {
                sheet.write_number_with_format(row, 1, datetime_serial(*dt), &f.datetime)?;
            }
            Cell::Text(s) => {
                sheet.write_string(row, 1, s)?;
            }
            other => {
                sheet.write_string(row, 1, super::text::cell_text(other, Kind::Text))?;
            }
        }
    }
    let titles = lines.len() as u32 + 2;
    for (col, column) in report.columns.iter().enumerate() {
        let col = col as u16;
        sheet.write_string_with_format(titles, col, &column.title, &f.bold)?;
        let width = match column.kind {
            Kind::Duration | Kind::Integer | Kind::Decimal(_) | Kind::Percent => 10.0,
            Kind::Date => 11.0,
            Kind::DateTime => 19.0,
            Kind::Text | Kind::Link => 16.0,
        };
        sheet.set_column_width(col, (column.title.chars().count() as f64 + 2.0).max(width))?;
    }
    sheet.set_freeze_panes(titles + 1, 0)?;
    Ok(())
}

fn data_rows(
    sheet: &mut Worksheet,
    report: &Report,
    f: &Formats,
    rows: &mut Peekable<impl Iterator<Item = Row>>,
    first: u32,
    capacity: u32,
    limits: Limits,
) -> Result<u64, ExportError> {
    let mut links = 0u32;
    let mut n = 0u32;
    while n < capacity {
        let Some(row) = rows.next() else { break };
        report.check(n as u64, &row)?;
        let at = first + n;
        for (col, cell) in row.iter().enumerate() {
            let format = f.columns[col].as_ref();
            let col = col as u16;
            match (cell, format) {
                (Cell::Text(s), _) => {
                    sheet.write_string(at, col, s)?;
                }
                (Cell::Integer(i), Some(fmt)) => {
                    sheet.write_number_with_format(at, col, *i as f64, fmt)?;
                }
                (Cell::Decimal(v) | Cell::Percent(v), Some(fmt)) => {
                    sheet.write_number_with_format(at, col, *v, fmt)?;
                }
                (Cell::Duration(ms), Some(fmt)) => {
                    sheet.write_number_with_format(at, col, *ms as f64 / MS_PER_DAY, fmt)?;
                }
                (Cell::Date(d), Some(fmt)) => {
                    sheet.write_number_with_format(at, col, date_serial(*d), fmt)?;
                }
                (Cell::DateTime(dt), Some(fmt)) => {
                    sheet.write_number_with_format(at, col, datetime_serial(*dt), fmt)?;
                }
                (Cell::Link { url, text }, _) => {
                    link(sheet, (at, col), (url, text), &f.link, &mut links, limits)?;
                }
                (Cell::Undefined, _) => {
                    sheet.write_string(at, col, super::UNDEFINED)?;
                }
                // `check` let only fitting cells through, and every numeric kind has a format.
                (_, _) => {}
            }
        }
        n += 1;
    }
    Ok(n as u64)
}

/// A real hyperlink while the sheet's budget lasts, then a `HYPERLINK()` formula with its
/// text as the saved result; a URL Excel cannot take (too long) is written as text.
fn link(
    sheet: &mut Worksheet,
    (row, col): (u32, u16),
    (url, text): (&str, &str),
    style: &Format,
    links: &mut u32,
    limits: Limits,
) -> Result<(), XlsxError> {
    if *links < limits.links {
        match sheet.write_url_with_text(row, col, Url::new(url), text) {
            Ok(_) => {
                *links += 1;
                return Ok(());
            }
            Err(XlsxError::MaxUrlLengthExceeded | XlsxError::UnknownUrlType(_)) => {
                sheet.write_string(row, col, url)?;
                return Ok(());
            }
            Err(e) => return Err(e),
        }
    }
    let quote = |s: &str| s.replace('"', "\"\"");
    let formula =
        Formula::new(format!("HYPERLINK(\"{}\",\"{}\")", quote(url), quote(text))).set_result(text);
    sheet.write_formula_with_format(row, col, formula, style)?;
    Ok(())
}
