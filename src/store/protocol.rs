//! Protocol numbers: the human-readable, unique id every call gets, `YYYYMMDD-NNNNNN`
//! (e.g. `20261123-000042`), and the pure allocator that hands them out.
//!
//! The allocator never reads the clock: the caller passes today's date in the configured
//! time zone. Past 999,999 calls in a day the number widens (`20261123-1000000`) rather
//! than colliding; `Ord` compares (date, number), so widened numbers still sort after the
//! narrow ones. Plain string order agrees except for widened numbers, which the store
//! handles when it looks for the greatest protocol.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use jiff::civil::Date;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Digits of the daily counter before it widens.
const NUMBER_WIDTH: usize = 6;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProtocolError {
    #[error("protocol {0:?} is not of the form YYYYMMDD-NNNNNN")]
    Shape(String),
    #[error("protocol {0:?} does not start with a valid date")]
    Date(String),
}

/// A call's protocol number. Always valid: built only by the allocator or by parsing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Protocol(String);

impl Protocol {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The day the protocol was issued on.
    pub fn date(&self) -> Date {
        parse_date(&self.0[..8]).expect("a Protocol holds a valid date: checked when built")
    }

    /// The daily counter.
    pub fn number(&self) -> u64 {
        self.0[9..]
            .parse()
            .expect("a Protocol holds only digits after '-': checked when built")
    }

    fn from_parts(date: Date, number: u64) -> Protocol {
        Protocol(format!(
            "{:04}{:02}{:02}-{:0width$}",
            date.year(),
            date.month(),
            date.day(),
            number,
            width = NUMBER_WIDTH
        ))
    }
}

fn parse_date(s: &str) -> Option<Date> {
    let year = s.get(0..4)?.parse().ok()?;
    let month = s.get(4..6)?.parse().ok()?;
    let day = s.get(6..8)?.parse().ok()?;
    Date::new(year, month, day).ok()
}

impl FromStr for Protocol {
    type Err = ProtocolError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let shape = || ProtocolError::Shape(s.to_owned());
        let (date, number) = s.split_once('-').ok_or_else(shape)?;
        let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
        if date.len() != 8 || !digits(date) || number.len() < NUMBER_WIDTH || !digits(number) {
            return Err(shape());
        }
        // Only one spelling per number: a widened number never has a leading zero.
        if number.len() > NUMBER_WIDTH && number.starts_with('0') {
            return Err(shape());
        }
        // u64 holds 19 digits; nothing longer is a plausible daily counter.
        if number.len() > 19 {
            return Err(shape());
        }
        parse_date(date).ok_or_else(|| ProtocolError::Date(s.to_owned()))?;
        Ok(Protocol(s.to_owned()))
    }
}

impl TryFrom<String> for Protocol {
    type Error = ProtocolError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Ord for Protocol {
    fn cmp(&self, other: &Self) -> Ordering {
        // Same date prefix: a longer (widened) number is the greater one.
        self.0[..8]
            .cmp(&other.0[..8])
            .then(self.0.len().cmp(&other.0.len()))
            .then(self.0.cmp(&other.0))
    }
}

impl PartialOrd for Protocol {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Serialize for Protocol {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Protocol {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Hands out protocol numbers: 1, 2, 3… each day, continuing after the last stored one.
#[derive(Debug, Clone)]
pub struct ProtocolAllocator {
    last: Option<(Date, u64)>,
}

impl ProtocolAllocator {
    /// `last` is the greatest protocol already stored (`Store::last_protocol`), if any.
    pub fn new(last: Option<Protocol>) -> Self {
        ProtocolAllocator {
            last: last.map(|p| (p.date(), p.number())),
        }
    }

    /// The next protocol for a call arriving on `today`.
    ///
    /// If `today` is before the last issued date (the clock stepped back, or the time
    /// zone changed), numbering continues on the last date: uniqueness and order matter
    /// more than the date printed.
    pub fn next(&mut self, today: Date) -> Protocol {
        let (date, number) = match self.last {
            Some((date, n)) if date >= today => (date, n + 1),
            _ => (today, 1),
        };
        self.last = Some((date, number));
        Protocol::from_parts(date, number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn p(s: &str) -> Protocol {
        s.parse().expect("valid protocol in test")
    }

    #[test]
    fn numbering_starts_at_one_and_resets_each_day() {
        let mut a = ProtocolAllocator::new(None);
        let d1 = date(2026, 11, 23);
        assert_eq!(a.next(d1).to_string(), "20261123-000001");
        assert_eq!(a.next(d1).to_string(), "20261123-000002");
        assert_eq!(a.next(date(2026, 11, 24)).to_string(), "20261124-000001");
        assert_eq!(a.next(date(2026, 11, 24)).to_string(), "20261124-000002");
    }

    #[test]
    fn continues_after_a_seed_from_today_and_restarts_after_an_older_seed() {
        let today = date(2026, 11, 23);
        let mut a = ProtocolAllocator::new(Some(p("20261123-000042")));
        assert_eq!(a.next(today).to_string(), "20261123-000043");
        let mut a = ProtocolAllocator::new(Some(p("20261122-000042")));
        assert_eq!(a.next(today).to_string(), "20261123-000001");
    }

    #[test]
    fn a_clock_stepping_back_never_reissues_a_number() {
        let mut a = ProtocolAllocator::new(Some(p("20261123-000007")));
        assert_eq!(a.next(date(2026, 11, 22)).to_string(), "20261123-000008");
    }

    #[test]
    fn widens_past_999999_and_still_sorts_after() {
        let today = date(2026, 11, 23);
        let mut a = ProtocolAllocator::new(Some(p("20261123-999999")));
        let wide = a.next(today);
        assert_eq!(wide.to_string(), "20261123-1000000");
        assert_eq!(wide.number(), 1_000_000);
        assert_eq!(wide.to_string().parse::<Protocol>(), Ok(wide.clone()));
        assert!(wide > p("20261123-999999"));
        assert!(wide < p("20261124-000001"));
        assert!(a.next(today) > wide);
    }

    #[test]
    fn parsing_rejects_malformed_protocols() {
        for bad in [
            "",
            "20261123",
            "20261123-42",
            "2026112-000042",
            "20261123_000042",
            "20261123-00004a",
            "20261123-0000042",
            "20261332-000001",
            "20260230-000001",
            "+2026112-000001",
        ] {
            assert!(bad.parse::<Protocol>().is_err(), "{bad:?} accepted");
        }
        assert_eq!(p("20261123-000042").date(), date(2026, 11, 23));
    }

    #[test]
    fn serde_uses_the_plain_string_and_validates() {
        let json = serde_json::to_string(&p("20261123-000042")).expect("serializes");
        assert_eq!(json, "\"20261123-000042\"");
        assert_eq!(
            serde_json::from_str::<Protocol>(&json).expect("parses"),
            p("20261123-000042")
        );
        assert!(serde_json::from_str::<Protocol>("\"nope\"").is_err());
    }
}
