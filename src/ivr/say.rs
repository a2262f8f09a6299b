//! Saying numbers, digit strings, dates and times in Brazilian Portuguese by chaining short
//! prompt fragments (a `say` node, the read-back of a `collect`, the protocol number).
//!
//! Fragment names (files under `prompts/`, made by `scripts/make-prompts.sh`):
//! - `pt-BR/digits/0`…`9`: digits read one by one ("zero", "um", …);
//! - `pt-BR/numbers/0`…`19`, tens `20`…`90`, `100` ("cem"), `cento`, hundreds `200`…`900`,
//!   `mil`, `milhao`, `milhoes`, and the feminine `1f` ("uma"), `2f` ("duas") for hours;
//! - `pt-BR/words/e`, `de`, `hora`, `horas`, `minuto`, `minutos`;
//! - `pt-BR/dates/primeiro` (the 1st of a month), `pt-BR/months/01`…`12`.
//!
//! Pure: "now" for today's date comes in as an argument. Numbers up to 999 999 999.

use jiff::civil::{Date, Time};
use thiserror::Error;

use super::format::SayKind;

const P: &str = "pt-BR";

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SayError {
    #[error("`{0}` is not a whole number below one billion")]
    NotANumber(String),
    #[error("`{0}` is not a date (YYYY-MM-DD)")]
    NotADate(String),
    #[error("`{0}` is not a time (HH:MM)")]
    NotATime(String),
}

/// The fragments that say `value` as `kind`; an empty date or time means `today`/`now`.
pub fn fragments(
    kind: SayKind,
    value: &str,
    today: Date,
    now: Time,
) -> Result<Vec<String>, SayError> {
    let value = value.trim();
    match kind {
        SayKind::Digits | SayKind::Protocol => Ok(digits(value)),
        SayKind::Number => {
            let n: u64 = value
                .parse()
                .ok()
                .filter(|n| *n < 1_000_000_000)
                .ok_or_else(|| SayError::NotANumber(value.to_owned()))?;
            Ok(number(n, false))
        }
        SayKind::Date => {
            let date = if value.is_empty() {
                today
            } else {
                value
                    .parse::<Date>()
                    .map_err(|_| SayError::NotADate(value.to_owned()))?
            };
            Ok(date_fragments(date))
        }
        SayKind::Time => {
            let (h, m) = if value.is_empty() {
                (now.hour(), now.minute())
            } else {
                parse_hh_mm(value).ok_or_else(|| SayError::NotATime(value.to_owned()))?
            };
            Ok(time_fragments(h, m))
        }
    }
}

/// Each digit on its own; anything else (dots, dashes of a formatted number) is skipped.
pub fn digits(value: &str) -> Vec<String> {
    value
        .chars()
        .filter(char::is_ascii_digit)
        .map(|c| format!("{P}/digits/{c}"))
        .collect()
}

/// Every fragment a `say` of this kind may need (for `atende ivr check`).
pub fn fragments_needed(kind: SayKind) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    match kind {
        SayKind::Digits | SayKind::Protocol => {
            v.extend((0..10).map(|d| format!("{P}/digits/{d}")));
        }
        SayKind::Number => v.extend(number_fragments()),
        SayKind::Date => {
            v.extend(number_fragments());
            v.extend(["de", "e"].map(|w| format!("{P}/words/{w}")));
            v.push(format!("{P}/dates/primeiro"));
            v.extend((1..=12).map(|m| format!("{P}/months/{m:02}")));
        }
        SayKind::Time => {
            v.extend(number_fragments());
            v.extend(["e", "hora", "horas", "minuto", "minutos"].map(|w| format!("{P}/words/{w}")));
        }
    }
    v.sort();
    v.dedup();
    v
}

fn number_fragments() -> Vec<String> {
    let mut v: Vec<String> = (0..20).map(|n| format!("{P}/numbers/{n}")).collect();
    v.extend((2..10).map(|t| format!("{P}/numbers/{}", t * 10)));
    v.extend((1..10).map(|h| format!("{P}/numbers/{}", h * 100)));
    v.extend(["cento", "mil", "milhao", "milhoes", "1f", "2f"].map(|w| format!("{P}/numbers/{w}")));
    v.push(format!("{P}/words/e"));
    v
}

fn word(w: &str) -> String {
    format!("{P}/words/{w}")
}

fn num(n: impl std::fmt::Display) -> String {
    format!("{P}/numbers/{n}")
}

/// `n` in words; `feminine` for nouns like "hora" ("uma hora", "duas horas").
pub fn number(n: u64, feminine: bool) -> Vec<String> {
    if n == 0 {
        return vec![num(0)];
    }
    let millions = n / 1_000_000;
    let thousands = (n / 1000) % 1000;
    let units = n % 1000;
    let mut groups: Vec<(u64, Vec<String>)> = Vec::new();
    if millions > 0 {
        let mut g = below_thousand(millions, false);
        g.push(num(if millions == 1 { "milhao" } else { "milhoes" }));
        groups.push((millions, g));
    }
    if thousands > 0 {
        // "mil", never "um mil".
        let mut g = if thousands == 1 {
            Vec::new()
        } else {
            below_thousand(thousands, false)
        };
        g.push(num("mil"));
        groups.push((thousands, g));
    }
    if units > 0 {
        groups.push((units, below_thousand(units, feminine)));
    }
    // "e" joins the last group when it is below 100 or a round hundred: "mil e vinte",
    // "mil e quinhentos", but "mil duzentos e trinta".
    let last = groups.len() - 1;
    let mut out = Vec::new();
    for (i, (value, words)) in groups.into_iter().enumerate() {
        if i > 0 && i == last && (value < 100 || value % 100 == 0) {
            out.push(word("e"));
        }
        out.extend(words);
    }
    out
}

fn below_thousand(n: u64, feminine: bool) -> Vec<String> {
    if n == 100 {
        return vec![num(100)];
    }
    let (h, r) = (n / 100, n % 100);
    let mut out = Vec::new();
    if h == 1 {
        out.push(num("cento"));
    } else if h > 1 {
        out.push(num(h * 100));
    }
    if r > 0 {
        if h > 0 {
            out.push(word("e"));
        }
        out.extend(below_hundred(r, feminine));
    }
    out
}

fn below_hundred(n: u64, feminine: bool) -> Vec<String> {
    if n < 20 {
        return vec![unit(n, feminine)];
    }
    let mut out = vec![num(n / 10 * 10)];
    if !n.is_multiple_of(10) {
        out.push(word("e"));
        out.push(unit(n % 10, feminine));
    }
    out
}

fn unit(n: u64, feminine: bool) -> String {
    match (n, feminine) {
        (1, true) => num("1f"),
        (2, true) => num("2f"),
        _ => num(n),
    }
}

/// "vinte e quatro de novembro de dois mil e vinte e seis"; the 1st is "primeiro".
fn date_fragments(date: Date) -> Vec<String> {
    let mut out = if date.day() == 1 {
        vec![format!("{P}/dates/primeiro")]
    } else {
        number(date.day() as u64, false)
    };
    out.push(word("de"));
    out.push(format!("{P}/months/{:02}", date.month()));
    out.push(word("de"));
    out.extend(number(date.year().max(0) as u64, false));
    out
}

/// "nove horas e trinta minutos", "uma hora", "vinte e duas horas e um minuto".
fn time_fragments(h: i8, m: i8) -> Vec<String> {
    let mut out = number(h as u64, true);
    out.push(word(if h == 1 { "hora" } else { "horas" }));
    if m > 0 {
        out.push(word("e"));
        out.extend(number(m as u64, false));
        out.push(word(if m == 1 { "minuto" } else { "minutos" }));
    }
    out
}

fn parse_hh_mm(s: &str) -> Option<(i8, i8)> {
    let (h, m) = s.split_once(':')?;
    let h: i8 = h.parse().ok()?;
    let m: i8 = m.parse().ok()?;
    ((0..24).contains(&h) && (0..60).contains(&m)).then_some((h, m))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fragment names without the `pt-BR/…/` folders, so expectations read as speech.
    fn spoken(v: &[String]) -> String {
        v.iter()
            .map(|f| f.rsplit('/').next().unwrap_or(""))
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn say(kind: SayKind, value: &str) -> String {
        let today = Date::constant(2026, 11, 24);
        let now = Time::constant(9, 30, 0, 0);
        spoken(&fragments(kind, value, today, now).expect("sayable"))
    }

    #[test]
    fn numbers_in_portuguese() {
        assert_eq!(say(SayKind::Number, "0"), "0");
        assert_eq!(say(SayKind::Number, "7"), "7");
        assert_eq!(say(SayKind::Number, "15"), "15");
        assert_eq!(say(SayKind::Number, "21"), "20 e 1");
        assert_eq!(say(SayKind::Number, "100"), "100");
        assert_eq!(say(SayKind::Number, "101"), "cento e 1");
        assert_eq!(say(SayKind::Number, "342"), "300 e 40 e 2");
        assert_eq!(say(SayKind::Number, "1000"), "mil");
        assert_eq!(say(SayKind::Number, "1020"), "mil e 20");
        assert_eq!(say(SayKind::Number, "1500"), "mil e 500");
        assert_eq!(say(SayKind::Number, "1234"), "mil 200 e 30 e 4");
        assert_eq!(say(SayKind::Number, "2026"), "2 mil e 20 e 6");
        assert_eq!(say(SayKind::Number, "1000000"), "1 milhao");
        assert_eq!(say(SayKind::Number, "2000001"), "2 milhoes e 1");
    }

    #[test]
    fn bad_numbers_are_errors() {
        let (d, t) = (Date::constant(2026, 1, 1), Time::midnight());
        assert!(fragments(SayKind::Number, "12a", d, t).is_err());
        assert!(fragments(SayKind::Number, "1000000000", d, t).is_err());
        assert!(fragments(SayKind::Date, "24/11/2026", d, t).is_err());
        assert!(fragments(SayKind::Time, "25:00", d, t).is_err());
    }

    #[test]
    fn digits_and_protocol_one_by_one() {
        assert_eq!(say(SayKind::Digits, "529.982"), "5 2 9 9 8 2");
        assert_eq!(
            say(SayKind::Protocol, "20261124-0001"),
            "2 0 2 6 1 1 2 4 0 0 0 1"
        );
    }

    #[test]
    fn dates_and_times() {
        assert_eq!(
            say(SayKind::Date, "2026-11-24"),
            "20 e 4 de 11 de 2 mil e 20 e 6"
        );
        assert_eq!(
            say(SayKind::Date, "2026-05-01"),
            "primeiro de 05 de 2 mil e 20 e 6"
        );
        assert_eq!(say(SayKind::Date, ""), "20 e 4 de 11 de 2 mil e 20 e 6");
        assert_eq!(say(SayKind::Time, ""), "9 horas e 30 minutos");
        assert_eq!(say(SayKind::Time, "01:01"), "1f hora e 1 minuto");
        assert_eq!(say(SayKind::Time, "22:00"), "20 e 2f horas");
    }

    #[test]
    fn every_fragment_said_is_listed_as_needed() {
        let (d, t) = (Date::constant(2026, 12, 31), Time::constant(21, 59, 0, 0));
        for (kind, values) in [
            (
                SayKind::Number,
                vec!["0", "19", "999999999", "100", "1001", "123456"],
            ),
            (SayKind::Date, vec!["", "2026-01-01", "1999-07-22"]),
            (SayKind::Time, vec!["", "00:00", "12:01", "02:45"]),
            (SayKind::Digits, vec!["0123456789"]),
        ] {
            let needed = fragments_needed(kind);
            for v in values {
                for f in fragments(kind, v, d, t).expect("sayable") {
                    assert!(needed.contains(&f), "{f} missing from {kind:?}");
                }
            }
        }
    }
}
