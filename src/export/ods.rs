//! ODS (OpenDocument spreadsheet) written as a stream: the zip's `content.xml` is
//! compressed row by row, so memory stays flat for any number of rows.
//!
//! Not spreadsheet-ods: it builds the whole workbook in memory before saving (and speaks
//! chrono), which a month's per-call list cannot afford. The format needed here is small:
//! `mimetype` stored first, a manifest, and one table per sheet whose cells carry ODF's
//! native value types — `float`, `percentage`, `time` (`PT1H02M03S`, hours past 24 kept:
//! the style does not truncate on overflow), `date` — with pt-BR number styles, plus the
//! pt-BR text a reader without a formatter shows.

use std::io::Write;
use std::path::Path;

use jiff::civil::DateTime;
use zip::CompressionMethod;
use zip::ZipWriter;
use zip::write::SimpleFileOptions;

use super::text::cell_text;
use super::{Cell, ExportError, Kind, Limits, Report, Row, Written, io_error};

const NS: &str = r#"xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:number="urn:oasis:names:tc:opendocument:xmlns:datastyle:1.0" xmlns:fo="urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0" xmlns:xlink="http://www.w3.org/1999/xlink" office:version="1.3""#;

const MANIFEST: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.3">
 <manifest:file-entry manifest:full-path="/" manifest:version="1.3" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>
 <manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>
 <manifest:file-entry manifest:full-path="styles.xml" manifest:media-type="text/xml"/>
</manifest:manifest>
"#;

/// pt-BR number styles and the cell styles that use them. `truncate-on-overflow="false"`
/// keeps 25 hours as `25:00:00` instead of `1:00:00`.
const STYLES: &str = r#"<office:automatic-styles>
<number:number-style style:name="N_INT" number:language="pt" number:country="BR"><number:number number:decimal-places="0" number:min-integer-digits="1"/></number:number-style>
<number:percentage-style style:name="N_PCT" number:language="pt" number:country="BR"><number:number number:decimal-places="2" number:min-decimal-places="2" number:min-integer-digits="1"/><number:text>%</number:text></number:percentage-style>
<number:time-style style:name="N_DUR" number:language="pt" number:country="BR" number:truncate-on-overflow="false"><number:hours/><number:text>:</number:text><number:minutes number:style="long"/><number:text>:</number:text><number:seconds number:style="long"/></number:time-style>
<number:date-style style:name="N_DATE" number:language="pt" number:country="BR"><number:day number:style="long"/><number:text>/</number:text><number:month number:style="long"/><number:text>/</number:text><number:year number:style="long"/></number:date-style>
<number:date-style style:name="N_DT" number:language="pt" number:country="BR"><number:day number:style="long"/><number:text>/</number:text><number:month number:style="long"/><number:text>/</number:text><number:year number:style="long"/><number:text> </number:text><number:hours number:style="long"/><number:text>:</number:text><number:minutes number:style="long"/><number:text>:</number:text><number:seconds number:style="long"/></number:date-style>
<style:style style:name="ce_bold" style:family="table-cell"><style:text-properties fo:font-weight="bold"/></style:style>
<style:style style:name="ce_int" style:family="table-cell" style:data-style-name="N_INT"/>
<style:style style:name="ce_pct" style:family="table-cell" style:data-style-name="N_PCT"/>
<style:style style:name="ce_dur" style:family="table-cell" style:data-style-name="N_DUR"/>
<style:style style:name="ce_date" style:family="table-cell" style:data-style-name="N_DATE"/>
<style:style style:name="ce_dt" style:family="table-cell" style:data-style-name="N_DT"/>
<style:style style:name="co_num" style:family="table-column"><style:table-column-properties style:column-width="2.4cm"/></style:style>
<style:style style:name="co_date" style:family="table-column"><style:table-column-properties style:column-width="2.6cm"/></style:style>
<style:style style:name="co_dt" style:family="table-column"><style:table-column-properties style:column-width="4cm"/></style:style>
<style:style style:name="co_text" style:family="table-column"><style:table-column-properties style:column-width="3.6cm"/></style:style>
"#;

pub(super) fn write(
    report: &Report,
    rows: impl Iterator<Item = Row>,
    path: &Path,
    limits: Limits,
) -> Result<Written, ExportError> {
    let file = std::fs::File::create(path).map_err(io_error(path))?;
    let mut zip = ZipWriter::new(std::io::BufWriter::new(file));
    let stored = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
    let deflated = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    zip.start_file("mimetype", stored)?;
    put(
        &mut zip,
        path,
        "application/vnd.oasis.opendocument.spreadsheet",
    )?;
    zip.start_file("META-INF/manifest.xml", deflated)?;
    put(&mut zip, path, MANIFEST)?;
    zip.start_file("styles.xml", deflated)?;
    put(
        &mut zip,
        path,
        &format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><office:document-styles {NS}><office:styles><style:default-style style:family="table-cell"><style:text-properties fo:language="pt" fo:country="BR"/></style:default-style></office:styles></office:document-styles>"#
        ),
    )?;
    zip.start_file("content.xml", deflated)?;
    let mut head =
        format!(r#"<?xml version="1.0" encoding="UTF-8"?><office:document-content {NS}>"#);
    head.push_str(STYLES);
    for places in decimal_places(report) {
        head.push_str(&format!(
            r#"<number:number-style style:name="N_DEC{places}" number:language="pt" number:country="BR"><number:number number:decimal-places="{places}" number:min-decimal-places="{places}" number:min-integer-digits="1"/></number:number-style><style:style style:name="ce_dec{places}" style:family="table-cell" style:data-style-name="N_DEC{places}"/>"#
        ));
    }
    head.push_str("</office:automatic-styles><office:body><office:spreadsheet>");
    put(&mut zip, path, &head)?;

    let block = report.block_rows();
    let per_sheet = limits.sheet_rows.saturating_sub(block).max(1);
    let mut rows = rows.peekable();
    let mut written = Written { rows: 0, sheets: 0 };
    let mut buf = String::with_capacity(4096);
    loop {
        buf.clear();
        sheet_start(&mut buf, report, written.sheets);
        put(&mut zip, path, &buf)?;
        written.sheets += 1;
        let mut n = 0u32;
        while n < per_sheet {
            let Some(row) = rows.next() else { break };
            report.check(written.rows, &row)?;
            buf.clear();
            buf.push_str("<table:table-row>");
            for (cell, column) in row.iter().zip(&report.columns) {
                cell_xml(&mut buf, cell, column.kind);
            }
            buf.push_str("</table:table-row>");
            put(&mut zip, path, &buf)?;
            n += 1;
            written.rows += 1;
        }
        put(&mut zip, path, "</table:table>")?;
        if rows.peek().is_none() {
            break;
        }
    }
    put(
        &mut zip,
        path,
        "</office:spreadsheet></office:body></office:document-content>",
    )?;
    let mut inner = zip.finish()?;
    inner.flush().map_err(io_error(path))?;
    Ok(written)
}

fn put(
    zip: &mut ZipWriter<impl Write + std::io::Seek>,
    path: &Path,
    s: &str,
) -> Result<(), ExportError> {
    zip.write_all(s.as_bytes()).map_err(io_error(path))
}

fn decimal_places(report: &Report) -> Vec<u8> {
    let mut places: Vec<u8> = report
        .columns
        .iter()
        .filter_map(|c| match c.kind {
            Kind::Decimal(p) => Some(p),
            _ => None,
        })
        .collect();
    places.sort_unstable();
    places.dedup();
    places
}

/// Opens a table and writes the header block (title, lines, blank row, column titles).
fn sheet_start(buf: &mut String, report: &Report, n: usize) {
    buf.push_str(&format!(
        r#"<table:table table:name="{}">"#,
        escape(&report.sheet_name(n))
    ));
    for column in &report.columns {
        let style = match column.kind {
            Kind::Integer | Kind::Decimal(_) | Kind::Percent | Kind::Duration => "co_num",
            Kind::Date => "co_date",
            Kind::DateTime => "co_dt",
            Kind::Text | Kind::Link => "co_text",
        };
        buf.push_str(&format!(
            r#"<table:table-column table:style-name="{style}"/>"#
        ));
    }
    buf.push_str("<table:table-row>");
    text_cell(buf, &report.header.title, Some("ce_bold"));
    buf.push_str("</table:table-row>");
    for (label, value) in report.header.lines() {
        buf.push_str("<table:table-row>");
        text_cell(buf, &label, Some("ce_bold"));
        cell_xml(
            buf,
            &value,
            match value {
                Cell::DateTime(_) => Kind::DateTime,
                _ => Kind::Text,
            },
        );
        buf.push_str("</table:table-row>");
    }
    buf.push_str("<table:table-row><table:table-cell/></table:table-row><table:table-row>");
    for column in &report.columns {
        text_cell(buf, &column.title, Some("ce_bold"));
    }
    buf.push_str("</table:table-row>");
}

fn text_cell(buf: &mut String, text: &str, style: Option<&str>) {
    buf.push_str("<table:table-cell");
    if let Some(style) = style {
        buf.push_str(&format!(r#" table:style-name="{style}""#));
    }
    buf.push_str(&format!(
        r#" office:value-type="string"><text:p>{}</text:p></table:table-cell>"#,
        escape(text)
    ));
}

fn cell_xml(buf: &mut String, cell: &Cell, kind: Kind) {
    use std::fmt::Write as _;
    let shown = escape(&cell_text(cell, kind));
    let _ = match cell {
        Cell::Text(s) => {
            text_cell(buf, s, None);
            Ok(())
        }
        Cell::Undefined => {
            text_cell(buf, super::UNDEFINED, None);
            Ok(())
        }
        Cell::Empty => {
            buf.push_str("<table:table-cell/>");
            Ok(())
        }
        Cell::Integer(i) => write!(
            buf,
            r#"<table:table-cell table:style-name="ce_int" office:value-type="float" office:value="{i}"><text:p>{shown}</text:p></table:table-cell>"#
        ),
        Cell::Decimal(v) => {
            let places = match kind {
                Kind::Decimal(p) => p,
                _ => 2,
            };
            write!(
                buf,
                r#"<table:table-cell table:style-name="ce_dec{places}" office:value-type="float" office:value="{v}"><text:p>{shown}</text:p></table:table-cell>"#
            )
        }
        Cell::Percent(v) => write!(
            buf,
            r#"<table:table-cell table:style-name="ce_pct" office:value-type="percentage" office:value="{v}"><text:p>{shown}</text:p></table:table-cell>"#
        ),
        Cell::Duration(ms) => write!(
            buf,
            r#"<table:table-cell table:style-name="ce_dur" office:value-type="time" office:time-value="{}"><text:p>{shown}</text:p></table:table-cell>"#,
            iso_duration(*ms)
        ),
        Cell::Date(d) => write!(
            buf,
            r#"<table:table-cell table:style-name="ce_date" office:value-type="date" office:date-value="{d}"><text:p>{shown}</text:p></table:table-cell>"#
        ),
        Cell::DateTime(dt) => write!(
            buf,
            r#"<table:table-cell table:style-name="ce_dt" office:value-type="date" office:date-value="{}"><text:p>{shown}</text:p></table:table-cell>"#,
            iso_datetime(*dt)
        ),
        Cell::Link { url, text } => write!(
            buf,
            r#"<table:table-cell office:value-type="string"><text:p><text:a xlink:type="simple" xlink:href="{}">{}</text:a></text:p></table:table-cell>"#,
            escape(url),
            escape(text)
        ),
    };
}

/// ODF's `time` value: an ISO 8601 duration, hours unbounded (`PT25H00M00S`).
fn iso_duration(ms: u64) -> String {
    let secs = ms / 1000;
    let frac = ms % 1000;
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if frac == 0 {
        format!("PT{h}H{m:02}M{s:02}S")
    } else {
        format!("PT{h}H{m:02}M{s:02}.{frac:03}S")
    }
}

fn iso_datetime(dt: DateTime) -> String {
    if dt.subsec_nanosecond() == 0 {
        dt.strftime("%Y-%m-%dT%H:%M:%S").to_string()
    } else {
        format!(
            "{}.{:03}",
            dt.strftime("%Y-%m-%dT%H:%M:%S"),
            dt.millisecond()
        )
    }
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 forbids most control characters; a caller-supplied text never
            // breaks the file.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}
