//! CSV: the pt-BR spreadsheet dialect people double-click, and a plain one for programs.
//!
//! Excel in Brazil opens a CSV with the system's list separator, which is `;` because the
//! decimal separator is `,`; without a byte-order mark it reads the file as Windows-1252
//! and mangles "Período". So the download (`PtBr`) is UTF-8 with a BOM, `;`, CRLF, decimal
//! commas, `dd/mm/aaaa` dates and `[h]:mm:ss` durations — the text Excel and LibreOffice
//! set to pt-BR turn back into numbers, dates and times — and it keeps the header block
//! above the table. `Data` is for programs: RFC 4180 (`,`), no BOM and no header block,
//! ISO 8601 dates, durations in seconds and percentages as fractions with a decimal point,
//! an undefined ratio left empty.

use std::io::Write;
use std::path::Path;

use super::text::{cell_text, format_datetime};
use super::{Cell, ExportError, Report, Row, Written, io_error};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsvDialect {
    /// For people: what Excel and LibreOffice in pt-BR open correctly by double-click.
    PtBr,
    /// For programs: comma-separated, ISO dates, seconds, fractions.
    Data,
}

pub(super) fn write(
    report: &Report,
    rows: impl Iterator<Item = Row>,
    path: &Path,
    dialect: CsvDialect,
) -> Result<Written, ExportError> {
    let file = std::fs::File::create(path).map_err(io_error(path))?;
    let mut file = std::io::BufWriter::new(file);
    let delimiter = match dialect {
        CsvDialect::PtBr => {
            file.write_all("\u{feff}".as_bytes())
                .map_err(io_error(path))?;
            b';'
        }
        CsvDialect::Data => b',',
    };
    let mut out = ::csv::WriterBuilder::new()
        .delimiter(delimiter)
        .terminator(::csv::Terminator::CRLF)
        .flexible(true)
        .from_writer(file);
    if dialect == CsvDialect::PtBr {
        out.write_record([report.header.title.as_str()])?;
        for (label, value) in report.header.lines() {
            let value = match value {
                Cell::DateTime(dt) => format_datetime(dt),
                Cell::Text(s) => s,
                other => cell_text(&other, super::Kind::Text),
            };
            out.write_record([label, value])?;
        }
        out.write_record([""])?;
    }
    out.write_record(report.columns.iter().map(|c| c.title.as_str()))?;
    let mut count = 0u64;
    let mut record = Vec::with_capacity(report.columns.len());
    for row in rows {
        report.check(count, &row)?;
        record.clear();
        for (cell, column) in row.iter().zip(&report.columns) {
            record.push(match dialect {
                CsvDialect::PtBr => cell_text(cell, column.kind),
                CsvDialect::Data => data_text(cell),
            });
        }
        out.write_record(&record)?;
        count += 1;
    }
    out.flush().map_err(io_error(path))?;
    Ok(Written {
        rows: count,
        sheets: 1,
    })
}

fn data_text(cell: &Cell) -> String {
    match cell {
        Cell::Text(s) => s.clone(),
        Cell::Integer(i) => i.to_string(),
        Cell::Decimal(v) | Cell::Percent(v) => v.to_string(),
        Cell::Duration(ms) => {
            if ms % 1000 == 0 {
                (ms / 1000).to_string()
            } else {
                format!("{}.{:03}", ms / 1000, ms % 1000)
            }
        }
        Cell::Date(d) => d.to_string(),
        Cell::DateTime(dt) => dt.strftime("%Y-%m-%dT%H:%M:%S").to_string(),
        Cell::Link { url, .. } => url.clone(),
        Cell::Undefined | Cell::Empty => String::new(),
    }
}
