//! Opening hours: weekly time ranges and holidays in a named time zone.
//!
//! Shared by the IVR (`schedule` nodes) and the ACD (queue opening hours). Pure: the
//! instant to judge is always passed in, never read from the clock. Time zones and DST come
//! from the system tzdata through jiff. Ranges are judged on the local wall clock, so a
//! range starting inside a DST gap opens at the instant the clocks jump.
//!
//! Limits: ranges are minutes of a local day (`"08:00-18:00"`, `"22:00-24:00"`); a range
//! cannot cross midnight (write two ranges). National holidays are Brazil's only (`"BR"`).

use std::collections::HashSet;

use jiff::civil::{Date, DateTime, Weekday};
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp};
use serde::{Deserialize, Serialize};

/// How far ahead `next_change` looks for a boundary (a schedule open every day, all day,
/// never changes).
const LOOKAHEAD_DAYS: i64 = 400;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScheduleError {
    #[error("unknown time zone {0:?} (an IANA name such as \"America/Sao_Paulo\")")]
    TimeZone(String),
    #[error("{day}: {range:?} is not a time range like \"08:00-18:00\"")]
    Range { day: &'static str, range: String },
    #[error("{day}: {range:?} ends before it starts (split ranges that cross midnight)")]
    Backwards { day: &'static str, range: String },
    #[error("{day}: ranges {a:?} and {b:?} overlap")]
    Overlap {
        day: &'static str,
        a: String,
        b: String,
    },
    #[error("holiday {0:?} is neither a date (\"2026-11-20\") nor a yearly day (\"12-24\")")]
    Holiday(String),
    #[error("national holiday calendar {0:?} is unknown (supported: \"BR\")")]
    National(String),
}

/// Opening hours as written in flows and queue configs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSpec {
    /// IANA time zone, e.g. "America/Sao_Paulo"; DST follows the system tzdata.
    pub timezone: String,
    /// Open ranges per weekday; a day with no ranges is closed all day.
    #[serde(default)]
    pub weekly: WeeklySpec,
    #[serde(default)]
    pub holidays: HolidaySpec,
}

/// Open ranges per weekday, each `"HH:MM-HH:MM"` in local time (`24:00` ends at midnight).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WeeklySpec {
    #[serde(default)]
    pub mon: Vec<String>,
    #[serde(default)]
    pub tue: Vec<String>,
    #[serde(default)]
    pub wed: Vec<String>,
    #[serde(default)]
    pub thu: Vec<String>,
    #[serde(default)]
    pub fri: Vec<String>,
    #[serde(default)]
    pub sat: Vec<String>,
    #[serde(default)]
    pub sun: Vec<String>,
}

/// Days closed whatever the weekly ranges say.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HolidaySpec {
    /// A national calendar: "BR" closes on Brazil's national holidays, including the
    /// Easter-based Carnaval Monday and Tuesday, Good Friday and Corpus Christi.
    #[serde(default)]
    pub national: Option<String>,
    /// Extra closed days: "2026-11-20" (that day only) or "12-24" (every year).
    #[serde(default)]
    pub dates: Vec<String>,
}

/// A compiled schedule, cheap to query.
#[derive(Debug, Clone)]
pub struct Schedule {
    tz: TimeZone,
    /// Open ranges in minutes of the local day, sorted, Monday first.
    week: [Vec<(u16, u16)>; 7],
    one_off: HashSet<Date>,
    yearly: HashSet<(i8, i8)>,
    brazil: bool,
}

impl Schedule {
    pub fn compile(spec: &ScheduleSpec) -> Result<Schedule, ScheduleError> {
        let tz = TimeZone::get(&spec.timezone)
            .map_err(|_| ScheduleError::TimeZone(spec.timezone.clone()))?;
        let w = &spec.weekly;
        let days: [(&'static str, &Vec<String>); 7] = [
            ("mon", &w.mon),
            ("tue", &w.tue),
            ("wed", &w.wed),
            ("thu", &w.thu),
            ("fri", &w.fri),
            ("sat", &w.sat),
            ("sun", &w.sun),
        ];
        let mut week: [Vec<(u16, u16)>; 7] = Default::default();
        for (i, (day, ranges)) in days.iter().enumerate() {
            week[i] = compile_day(day, ranges)?;
        }
        let mut one_off = HashSet::new();
        let mut yearly = HashSet::new();
        for d in &spec.holidays.dates {
            match parse_holiday(d) {
                Some(Holiday::Once(date)) => {
                    one_off.insert(date);
                }
                Some(Holiday::Yearly(m, day)) => {
                    yearly.insert((m, day));
                }
                None => return Err(ScheduleError::Holiday(d.clone())),
            }
        }
        let brazil = match spec.holidays.national.as_deref() {
            None => false,
            Some(n) if n.eq_ignore_ascii_case("BR") => true,
            Some(n) => return Err(ScheduleError::National(n.to_string())),
        };
        Ok(Schedule {
            tz,
            week,
            one_off,
            yearly,
            brazil,
        })
    }

    /// Open every minute of every day (for queues and flows without hours).
    pub fn always_open() -> Schedule {
        Schedule {
            tz: TimeZone::UTC,
            week: std::array::from_fn(|_| vec![(0, 24 * 60)]),
            one_off: HashSet::new(),
            yearly: HashSet::new(),
            brazil: false,
        }
    }

    pub fn is_open(&self, at: Timestamp) -> bool {
        let local = self.tz.to_datetime(at);
        if self.is_holiday_date(local.date()) {
            return false;
        }
        let minute = local.hour() as u16 * 60 + local.minute() as u16;
        self.week[weekday_index(local.date().weekday())]
            .iter()
            .any(|&(from, to)| from <= minute && minute < to)
    }

    pub fn is_holiday(&self, at: Timestamp) -> bool {
        self.is_holiday_date(self.tz.to_datetime(at).date())
    }

    /// The first instant after `at` at which `is_open` changes, if any within a year.
    pub fn next_change(&self, at: Timestamp) -> Option<Timestamp> {
        let open = self.is_open(at);
        let today = self.tz.to_datetime(at).date();
        for n in 0..LOOKAHEAD_DAYS {
            let day = today.checked_add(Span::new().days(n)).ok()?;
            let mut candidates: Vec<Timestamp> = Vec::with_capacity(8);
            // Midnight matters for holidays and for days with no ranges at all.
            self.local(day, 0, &mut candidates);
            for &(from, to) in &self.week[weekday_index(day.weekday())] {
                self.local(day, from, &mut candidates);
                self.local(day, to, &mut candidates);
            }
            // A range starting inside a DST gap opens when the clocks land: the
            // transition instant itself is a candidate.
            if let Some(&midnight) = candidates.first() {
                candidates.extend(
                    self.tz
                        .following(midnight)
                        .take(1)
                        .map(|t| t.timestamp())
                        .filter(|t| t.duration_since(midnight).as_secs() < 26 * 3600),
                );
            }
            candidates.sort();
            if let Some(ts) = candidates
                .into_iter()
                .find(|&ts| ts > at && self.is_open(ts) != open)
            {
                return Some(ts);
            }
        }
        None
    }

    /// Pushes the instants a local time of `day` names: one usually, both when clocks fall
    /// back and it happens twice, none when a gap skips it (the transition instant, added
    /// by the caller, stands in then).
    fn local(&self, day: Date, minute: u16, out: &mut Vec<Timestamp>) {
        let dt: Option<DateTime> = if minute >= 24 * 60 {
            day.tomorrow().ok().map(|d| d.at(0, 0, 0, 0))
        } else {
            Some(day.at((minute / 60) as i8, (minute % 60) as i8, 0, 0))
        };
        let Some(dt) = dt else { return };
        let amb = self.tz.to_ambiguous_timestamp(dt);
        out.extend(amb.earlier().ok());
        out.extend(amb.later().ok());
    }

    fn is_holiday_date(&self, d: Date) -> bool {
        self.one_off.contains(&d)
            || self.yearly.contains(&(d.month(), d.day()))
            || (self.brazil && is_brazilian_national_holiday(d))
    }
}

fn weekday_index(w: Weekday) -> usize {
    w.to_monday_zero_offset() as usize
}

fn compile_day(day: &'static str, ranges: &[String]) -> Result<Vec<(u16, u16)>, ScheduleError> {
    let mut out: Vec<(u16, u16, &String)> = Vec::with_capacity(ranges.len());
    for r in ranges {
        let bad = || ScheduleError::Range {
            day,
            range: r.clone(),
        };
        let (a, b) = r.split_once('-').ok_or_else(bad)?;
        let from = parse_minute(a.trim()).ok_or_else(bad)?;
        let to = parse_minute(b.trim()).ok_or_else(bad)?;
        if to <= from {
            return Err(ScheduleError::Backwards {
                day,
                range: r.clone(),
            });
        }
        out.push((from, to, r));
    }
    out.sort_by_key(|&(from, _, _)| from);
    for pair in out.windows(2) {
        if pair[1].0 < pair[0].1 {
            return Err(ScheduleError::Overlap {
                day,
                a: pair[0].2.clone(),
                b: pair[1].2.clone(),
            });
        }
    }
    Ok(out.into_iter().map(|(f, t, _)| (f, t)).collect())
}

/// "HH:MM" to minutes of the day; "24:00" is the end of the day.
fn parse_minute(s: &str) -> Option<u16> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    match (h, m) {
        (24, 0) => Some(24 * 60),
        (0..=23, 0..=59) => Some(h * 60 + m),
        _ => None,
    }
}

enum Holiday {
    Once(Date),
    Yearly(i8, i8),
}

fn parse_holiday(s: &str) -> Option<Holiday> {
    let parts: Vec<&str> = s.trim().split('-').collect();
    match parts.as_slice() {
        [y, m, d] if y.len() == 4 => Date::new(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)
            .ok()
            .map(Holiday::Once),
        [m, d] => {
            let (m, d): (i8, i8) = (m.parse().ok()?, d.parse().ok()?);
            // 2024 is a leap year: "02-29" is a valid yearly day.
            Date::new(2024, m, d).ok()?;
            Some(Holiday::Yearly(m, d))
        }
        _ => None,
    }
}

/// Easter Sunday (Gregorian), by the anonymous Gregorian algorithm (Meeus/Jones/Butcher).
pub fn easter(year: i16) -> Option<Date> {
    let y = i32::from(year);
    let a = y % 19;
    let b = y / 100;
    let c = y % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    Date::new(year, month as i8, day as i8).ok()
}

/// Brazil's national holidays (Lei 662/1949, 6.802/1980, 14.759/2023) plus the federal
/// optional days public offices close on: Carnaval Monday and Tuesday, Corpus Christi.
fn is_brazilian_national_holiday(d: Date) -> bool {
    const FIXED: [(i8, i8); 9] = [
        (1, 1),   // Confraternização Universal
        (4, 21),  // Tiradentes
        (5, 1),   // Dia do Trabalho
        (9, 7),   // Independência
        (10, 12), // Nossa Senhora Aparecida
        (11, 2),  // Finados
        (11, 15), // Proclamação da República
        (11, 20), // Consciência Negra (national since 2024)
        (12, 25), // Natal
    ];
    let day = (d.month(), d.day());
    if FIXED.contains(&day) {
        return day != (11, 20) || d.year() >= 2024;
    }
    let Some(easter) = easter(d.year()) else {
        return false;
    };
    [-48i64, -47, -2, 60].iter().any(|&offset| {
        easter
            .checked_add(Span::new().days(offset))
            .is_ok_and(|h| h == d)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn business_hours() -> ScheduleSpec {
        let day = vec!["08:00-18:00".to_string()];
        ScheduleSpec {
            timezone: "America/Sao_Paulo".into(),
            weekly: WeeklySpec {
                mon: day.clone(),
                tue: day.clone(),
                wed: day.clone(),
                thu: day.clone(),
                fri: day,
                ..Default::default()
            },
            holidays: HolidaySpec {
                national: Some("BR".into()),
                dates: vec!["2026-12-24".into(), "12-31".into()],
            },
        }
    }

    fn at(tz: &str, dt: DateTime) -> Timestamp {
        TimeZone::get(tz).unwrap().to_timestamp(dt).unwrap()
    }

    #[test]
    fn business_hours_open_on_weekdays_only_in_local_time() {
        let s = Schedule::compile(&business_hours()).unwrap();
        let sp = "America/Sao_Paulo";
        // Tuesday 2026-11-24.
        assert!(!s.is_open(at(sp, date(2026, 11, 24).at(7, 59, 59, 0))));
        assert!(s.is_open(at(sp, date(2026, 11, 24).at(8, 0, 0, 0))));
        assert!(s.is_open(at(sp, date(2026, 11, 24).at(17, 59, 0, 0))));
        assert!(!s.is_open(at(sp, date(2026, 11, 24).at(18, 0, 0, 0))));
        // 09:30 in São Paulo is 12:30 UTC: the zone, not UTC, decides.
        assert!(s.is_open("2026-11-24T12:30:00Z".parse().unwrap()));
        assert!(!s.is_open("2026-11-24T09:30:00Z".parse().unwrap()));
        // Saturday.
        assert!(!s.is_open(at(sp, date(2026, 11, 28).at(10, 0, 0, 0))));
    }

    #[test]
    fn national_movable_and_configured_holidays_close_the_day() {
        let s = Schedule::compile(&business_hours()).unwrap();
        let sp = "America/Sao_Paulo";
        let ten = |d: Date| at(sp, d.at(10, 0, 0, 0));
        assert_eq!(easter(2026), Some(date(2026, 4, 5)));
        assert_eq!(easter(2027), Some(date(2027, 3, 28)));
        for closed in [
            date(2026, 2, 16), // Carnaval Monday
            date(2026, 2, 17), // Carnaval Tuesday
            date(2026, 4, 3),  // Good Friday
            date(2026, 6, 4),  // Corpus Christi
            date(2026, 4, 21), // Tiradentes (Tuesday)
            date(2026, 11, 20),
            date(2026, 12, 24), // configured one-off
            date(2027, 12, 31), // configured yearly
        ] {
            assert!(s.is_holiday(ten(closed)), "{closed} is a holiday");
            assert!(!s.is_open(ten(closed)), "{closed} is closed");
        }
        assert!(s.is_open(ten(date(2026, 2, 18)))); // Ash Wednesday: open
        assert!(!s.is_holiday(ten(date(2023, 11, 20)))); // before the 2023 law took effect
    }

    #[test]
    fn next_change_walks_over_nights_weekends_and_holidays() {
        let s = Schedule::compile(&business_hours()).unwrap();
        let sp = "America/Sao_Paulo";
        // Friday 2026-11-27 17:00 → closes 18:00.
        let fri = at(sp, date(2026, 11, 27).at(17, 0, 0, 0));
        assert_eq!(
            s.next_change(fri),
            Some(at(sp, date(2026, 11, 27).at(18, 0, 0, 0)))
        );
        // Friday 19:00 → opens Monday 08:00.
        let night = at(sp, date(2026, 11, 27).at(19, 0, 0, 0));
        assert_eq!(
            s.next_change(night),
            Some(at(sp, date(2026, 11, 30).at(8, 0, 0, 0)))
        );
        // Thursday before Good Friday 2026 (04-03), evening → opens Monday 04-06.
        let before_easter = at(sp, date(2026, 4, 2).at(20, 0, 0, 0));
        assert_eq!(
            s.next_change(before_easter),
            Some(at(sp, date(2026, 4, 6).at(8, 0, 0, 0)))
        );
        assert_eq!(Schedule::always_open().next_change(night), None);
    }

    #[test]
    fn ranges_follow_local_time_across_a_dst_change() {
        // New York springs forward on 2026-03-08 at 02:00 → 03:00.
        let spec = ScheduleSpec {
            timezone: "America/New_York".into(),
            weekly: WeeklySpec {
                fri: vec!["09:00-17:00".into()],
                sun: vec!["02:30-04:00".into()],
                mon: vec!["09:00-17:00".into()],
                ..Default::default()
            },
            holidays: HolidaySpec::default(),
        };
        let s = Schedule::compile(&spec).unwrap();
        // 09:00 local is 14:00 UTC in winter (Friday 03-06) and 13:00 UTC in summer
        // (Monday 03-09).
        assert!(s.is_open("2026-03-06T14:00:00Z".parse().unwrap()));
        assert!(!s.is_open("2026-03-06T13:30:00Z".parse().unwrap()));
        assert!(s.is_open("2026-03-09T13:00:00Z".parse().unwrap()));
        assert!(!s.is_open("2026-03-09T12:30:00Z".parse().unwrap()));
        // 02:30 on the Sunday does not exist: the range opens when clocks jump to 03:00
        // (07:00 UTC).
        let sunday_night: Timestamp = "2026-03-08T05:00:00Z".parse().unwrap();
        assert_eq!(
            s.next_change(sunday_night),
            Some("2026-03-08T07:00:00Z".parse().unwrap())
        );
        // Friday 17:00 closes; the next opening is the DST Sunday's 03:00 landing.
        let fri_close = s.next_change("2026-03-06T15:00:00Z".parse().unwrap());
        assert_eq!(fri_close, Some("2026-03-06T22:00:00Z".parse().unwrap()));
    }

    #[test]
    fn the_repeated_hour_when_clocks_fall_back_is_judged_on_the_wall_clock() {
        // New York falls back on 2026-11-01 at 02:00 EDT → 01:00 EST: 01:30 happens twice.
        let spec = ScheduleSpec {
            timezone: "America/New_York".into(),
            weekly: WeeklySpec {
                sun: vec!["01:30-02:30".into()],
                ..Default::default()
            },
            holidays: HolidaySpec::default(),
        };
        let s = Schedule::compile(&spec).unwrap();
        // 01:00 EST (second pass): closed; it reopens at the second 01:30 (06:30 UTC).
        let closed: Timestamp = "2026-11-01T06:00:00Z".parse().unwrap();
        assert!(!s.is_open(closed));
        assert_eq!(
            s.next_change(closed),
            Some("2026-11-01T06:30:00Z".parse().unwrap())
        );
        // The first 01:30 (EDT, 05:30 UTC) opened it; the jump back to 01:00 closes it.
        let first: Timestamp = "2026-11-01T05:30:00Z".parse().unwrap();
        assert!(s.is_open(first));
        assert_eq!(
            s.next_change(first),
            Some("2026-11-01T06:00:00Z".parse().unwrap())
        );
    }

    #[test]
    fn bad_specs_are_refused_with_the_value_named() {
        let mut spec = business_hours();
        spec.timezone = "America/Sao_Pablo".into();
        assert!(
            Schedule::compile(&spec)
                .unwrap_err()
                .to_string()
                .contains("Sao_Pablo")
        );
        for (range, want) in [
            ("8-18", "not a time range"),
            ("18:00-08:00", "ends before"),
            ("08:00-25:00", "not a time range"),
        ] {
            let mut spec = business_hours();
            spec.weekly.sat = vec![range.into()];
            let err = Schedule::compile(&spec).unwrap_err().to_string();
            assert!(err.contains(want) && err.contains("sat"), "{err}");
        }
        let mut spec = business_hours();
        spec.weekly.sun = vec!["08:00-12:00".into(), "11:00-13:00".into()];
        assert!(matches!(
            Schedule::compile(&spec),
            Err(ScheduleError::Overlap { .. })
        ));
        let mut spec = business_hours();
        spec.holidays.dates = vec!["2026-02-30".into()];
        assert!(matches!(
            Schedule::compile(&spec),
            Err(ScheduleError::Holiday(_))
        ));
        let mut spec = business_hours();
        spec.holidays.national = Some("AR".into());
        assert!(matches!(
            Schedule::compile(&spec),
            Err(ScheduleError::National(_))
        ));
    }

    #[test]
    fn a_range_to_midnight_and_a_day_from_midnight_join_without_a_change() {
        let spec = ScheduleSpec {
            timezone: "UTC".into(),
            weekly: WeeklySpec {
                mon: vec!["20:00-24:00".into()],
                tue: vec!["00:00-06:00".into()],
                ..Default::default()
            },
            holidays: HolidaySpec::default(),
        };
        let s = Schedule::compile(&spec).unwrap();
        let mon_21: Timestamp = "2026-11-23T21:00:00Z".parse().unwrap();
        assert_eq!(
            s.next_change(mon_21),
            Some("2026-11-24T06:00:00Z".parse().unwrap())
        );
    }
}
