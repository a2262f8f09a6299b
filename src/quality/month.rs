//! A calendar month in the operation's time zone ("2026-12"), and its bounds in epoch
//! milliseconds: a call belongs to the month of its arrival, local time.

use jiff::civil::Date;
use jiff::tz::TimeZone;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Month {
    first: Date,
}

impl Month {
    /// The month of `at_ms` in `tz`.
    pub fn of(at_ms: i64, tz: &TimeZone) -> Option<Month> {
        let ts = jiff::Timestamp::from_millisecond(at_ms).ok()?;
        Some(Month {
            first: tz.to_datetime(ts).date().first_of_month(),
        })
    }

    pub fn first_day(self) -> Date {
        self.first
    }

    /// [start, end) of the month in epoch milliseconds, local midnight to local midnight.
    pub fn bounds_ms(self, tz: &TimeZone) -> Option<(i64, i64)> {
        let next = self.first.checked_add(jiff::Span::new().months(1)).ok()?;
        let ms = |d: Date| -> Option<i64> {
            // A midnight that a DST change skips starts at the first instant after it.
            let midnight = d.to_datetime(jiff::civil::Time::midnight());
            Some(tz.to_timestamp(midnight).ok()?.as_millisecond())
        };
        Some((ms(self.first)?, ms(next)?))
    }
}

impl std::str::FromStr for Month {
    type Err = &'static str;

    fn from_str(s: &str) -> Result<Month, &'static str> {
        const BAD: &str = "a month is YYYY-MM";
        let (y, m) = s.split_once('-').ok_or(BAD)?;
        if y.len() != 4 || m.len() != 2 {
            return Err(BAD);
        }
        let y: i16 = y.parse().map_err(|_| BAD)?;
        let m: i8 = m.parse().map_err(|_| BAD)?;
        if !(2000..=2999).contains(&y) {
            return Err(BAD);
        }
        let first = Date::new(y, m, 1).map_err(|_| BAD)?;
        Ok(Month { first })
    }
}

impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.first.year(), self.first.month())
    }
}
