//! Interval and day keys: which 30-minute interval and which local day an instant belongs
//! to, in the reporting time zone by its tz rules (never a fixed offset).
//!
//! Intervals are 30 minutes of absolute time aligned to UTC half hours; in a zone whose
//! offset is a whole or half hour (all of Brazil's) they are the local :00 and :30. The
//! index counts intervals from the local start of the day, so a DST day has 46 or 50.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Serialize;

/// 30 minutes in milliseconds.
pub const SLOT_MS: i64 = 30 * 60 * 1000;

/// One interval of one local day.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct SlotKey {
    /// The interval's start, UTC milliseconds (the stored key).
    pub start_ms: i64,
    /// The local day, `YYYY-MM-DD`.
    pub date: String,
    /// Intervals since the local start of the day (0..47 on a normal day).
    pub index: u32,
}

/// Computes keys in one zone.
#[derive(Debug, Clone)]
pub struct Slotter {
    tz: TimeZone,
}

impl Slotter {
    pub fn new(tz: TimeZone) -> Slotter {
        Slotter { tz }
    }

    /// The zone named `name`, or an error message naming it.
    pub fn named(name: &str) -> Result<Slotter, String> {
        TimeZone::get(name)
            .map(Slotter::new)
            .map_err(|e| format!("time zone {name:?}: {e}"))
    }

    pub fn time_zone(&self) -> &TimeZone {
        &self.tz
    }

    /// The interval and local day of `at_ms` (UTC milliseconds).
    pub fn slot(&self, at_ms: i64) -> SlotKey {
        let start_ms = at_ms.div_euclid(SLOT_MS) * SLOT_MS;
        let date = self.date(at_ms);
        let day_start = self.day_start_ms(&date).unwrap_or(start_ms);
        let index = u32::try_from((start_ms - day_start).div_euclid(SLOT_MS)).unwrap_or(0);
        SlotKey {
            start_ms,
            date,
            index,
        }
    }

    /// The local date of `at_ms`, `YYYY-MM-DD`.
    pub fn date(&self, at_ms: i64) -> String {
        match Timestamp::from_millisecond(at_ms) {
            Ok(ts) => ts.to_zoned_datetime(self.tz.clone()).date().to_string(),
            Err(_) => "0000-00-00".to_owned(),
        }
    }

    /// The UTC millisecond at which local day `date` (`YYYY-MM-DD`) starts (its first
    /// instant: 01:00 on a day whose midnight DST skipped).
    pub fn day_start_ms(&self, date: &str) -> Option<i64> {
        let d: jiff::civil::Date = date.parse().ok()?;
        let z = d.to_zoned_datetime(self.tz.clone()).ok()?;
        Some(z.start_of_day().ok()?.timestamp().as_millisecond())
    }

    /// `[start, end)` of local day `date` in UTC milliseconds.
    pub fn day_bounds_ms(&self, date: &str) -> Option<(i64, i64)> {
        let d: jiff::civil::Date = date.parse().ok()?;
        let start = self.day_start_ms(date)?;
        let next = d.tomorrow().ok()?.to_string();
        Some((start, self.day_start_ms(&next)?))
    }

    /// The local clock times an interval spans (`08:30–09:00`), as a reader of the report
    /// expects them. On a day whose clocks went back, the hour that happened twice gets
    /// its offset (`23:30–00:00 (-02:00)` and then `(-03:00)`), so its two intervals are
    /// told apart.
    pub fn label(&self, start_ms: i64) -> String {
        let Ok(ts) = Timestamp::from_millisecond(start_ms) else {
            return String::new();
        };
        let zoned = ts.to_zoned_datetime(self.tz.clone());
        let start = zoned.time();
        let end = start.wrapping_add(jiff::Span::new().minutes(SLOT_MS / 60_000));
        let mut label = format!("{}–{}", start.strftime("%H:%M"), end.strftime("%H:%M"));
        if self
            .tz
            .to_ambiguous_timestamp(zoned.datetime())
            .is_ambiguous()
        {
            label.push_str(&format!(" ({})", zoned.strftime("%:z")));
        }
        label
    }

    /// The local hour (0–23) of an instant, for the per-hour TMA.
    pub fn hour(&self, at_ms: i64) -> i8 {
        Timestamp::from_millisecond(at_ms)
            .map(|ts| ts.to_zoned_datetime(self.tz.clone()).hour())
            .unwrap_or(0)
    }

    /// The local weekday of `date`, in Portuguese (for the per-call list).
    pub fn weekday_pt(date: &str) -> &'static str {
        use jiff::civil::Weekday::*;
        match date.parse::<jiff::civil::Date>().map(|d| d.weekday()) {
            Ok(Monday) => "segunda-feira",
            Ok(Tuesday) => "terça-feira",
            Ok(Wednesday) => "quarta-feira",
            Ok(Thursday) => "quinta-feira",
            Ok(Friday) => "sexta-feira",
            Ok(Saturday) => "sábado",
            Ok(Sunday) => "domingo",
            Err(_) => "",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sp() -> Slotter {
        Slotter::named("America/Sao_Paulo").expect("tzdb has Sao_Paulo")
    }

    fn ms(s: &str) -> i64 {
        s.parse::<Timestamp>().expect("instant").as_millisecond()
    }

    #[test]
    fn intervals_and_days_are_local_by_tz_rules() {
        let s = sp();
        // 2026-12-07 09:29:59.999 local = 12:29:59.999Z (−03:00, no DST since 2019).
        let k = s.slot(ms("2026-12-07T12:29:59.999Z"));
        assert_eq!((k.date.as_str(), k.index), ("2026-12-07", 18));
        assert_eq!(s.label(k.start_ms), "09:00–09:30");
        let k = s.slot(ms("2026-12-07T12:30:00Z"));
        assert_eq!((k.date.as_str(), k.index), ("2026-12-07", 19));
        // 23:59:59 local on the 7th is 02:59:59Z on the 8th: still the 7th, last interval.
        let k = s.slot(ms("2026-12-08T02:59:59Z"));
        assert_eq!((k.date.as_str(), k.index), ("2026-12-07", 47));
        let k = s.slot(ms("2026-12-08T03:00:00Z"));
        assert_eq!((k.date.as_str(), k.index), ("2026-12-08", 0));
        assert_eq!(Slotter::weekday_pt("2026-12-07"), "segunda-feira");
        assert_eq!(s.hour(ms("2026-12-07T12:29:59Z")), 9);
    }

    #[test]
    fn historic_dst_days_have_46_and_50_intervals() {
        let s = sp();
        // 2018-11-04: clocks jumped from 00:00 to 01:00; the day starts at 01:00 (−02:00).
        let (a, b) = s.day_bounds_ms("2018-11-04").expect("bounds");
        assert_eq!((b - a) / SLOT_MS, 46);
        assert_eq!(s.label(a), "01:00–01:30");
        // 2019-02-16: 23:00–23:59 happened twice; 50 intervals, two labelled 23:00.
        let (a, b) = s.day_bounds_ms("2019-02-16").expect("bounds");
        assert_eq!((b - a) / SLOT_MS, 50);
        let last = s.slot(b - 1);
        assert_eq!((last.date.as_str(), last.index), ("2019-02-16", 49));
        assert_eq!(s.label(last.start_ms), "23:30–00:00 (-03:00)");
        assert_eq!(s.label(last.start_ms - 2 * SLOT_MS), "23:30–00:00 (-02:00)");
        assert_eq!(s.label(last.start_ms - 4 * SLOT_MS), "22:30–23:00");
    }
}
