//! Values as a pt-BR reader sees them: `07/12/2026`, `12,50`, `92,50%`, `1:02:03`.
//!
//! Used for the CSV cells and for the text ODS cells carry beside their typed value. No
//! thousands separator: a pt-BR spreadsheet would read `1.234` back as 1234, but other
//! readers would not.

use jiff::civil::{Date, DateTime};

use super::{Cell, Kind, UNDEFINED};

pub fn format_date(d: Date) -> String {
    format!("{:02}/{:02}/{:04}", d.day(), d.month(), d.year())
}

pub fn format_datetime(dt: DateTime) -> String {
    format!(
        "{} {:02}:{:02}:{:02}",
        format_date(dt.date()),
        dt.hour(),
        dt.minute(),
        dt.second()
    )
}

/// `[h]:mm:ss`, to the nearest second: 3 723 000 ms is `1:02:03`, 90 000 000 is `25:00:00`.
pub fn format_duration(ms: u64) -> String {
    let secs = (ms + 500) / 1000;
    format!("{}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

/// A number with a decimal comma, at least `min` and at most `max` decimal places.
pub fn format_decimal(value: f64, min: u8, max: u8) -> String {
    let mut s = format!("{:.*}", max as usize, value);
    if s.contains('.') {
        let keep_from = s.find('.').map_or(s.len(), |dot| dot + 1 + min as usize);
        while s.len() > keep_from && s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    if s == "-0" {
        s = "0".to_owned();
    }
    s.replace('.', ",")
}

/// A fraction as a percentage with two decimals: 0.925 is `92,50%`.
pub fn format_percent(fraction: f64) -> String {
    format!("{}%", format_decimal(fraction * 100.0, 2, 2))
}

/// The text of a cell as a pt-BR reader sees it.
pub fn cell_text(cell: &Cell, kind: Kind) -> String {
    match cell {
        Cell::Text(s) => s.clone(),
        Cell::Integer(i) => i.to_string(),
        Cell::Decimal(v) => {
            let places = match kind {
                Kind::Decimal(p) => p,
                _ => 2,
            };
            format_decimal(*v, places, places)
        }
        Cell::Percent(f) => format_percent(*f),
        Cell::Duration(ms) => format_duration(*ms),
        Cell::Date(d) => format_date(*d),
        Cell::DateTime(dt) => format_datetime(*dt),
        Cell::Link { url, .. } => url.clone(),
        Cell::Undefined => UNDEFINED.to_owned(),
        Cell::Empty => String::new(),
    }
}
