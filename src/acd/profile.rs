//! Arrival profiles for the simulator: calls per hour over consecutive intervals.
//!
//! File format (documented in `config/arrival-profile.csv`): CSV rows
//! `start,end,calls_per_hour` with local times `HH:MM` (`24:00` allowed as an end), in
//! order without gaps; `#` comments and an optional header row. Parsing only: no IO.

/// One interval of constant arrival rate; times in seconds from the profile's start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Segment {
    pub start_secs: f64,
    pub end_secs: f64,
    pub calls_per_hour: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// Minutes after local midnight at which the profile starts (for interval labels).
    pub clock_start_min: Option<u32>,
    /// Length of one day of the profile (before `repeated`).
    pub day_secs: f64,
    pub segments: Vec<Segment>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ProfileError {
    #[error("line {line}: expected start,end,calls_per_hour")]
    Columns { line: usize },
    #[error("line {line}: {value:?} is not a time HH:MM")]
    Time { line: usize, value: String },
    #[error("line {line}: {value:?} is not a non-negative number of calls per hour")]
    Rate { line: usize, value: String },
    #[error(
        "line {line}: the interval must start where the previous one ended and end after it starts"
    )]
    Order { line: usize },
    #[error("the profile has no intervals")]
    Empty,
}

fn minutes(s: &str) -> Option<u32> {
    let (h, m) = s.trim().split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
}

impl Profile {
    /// The same rate for `hours` hours.
    pub fn constant(calls_per_hour: f64, hours: f64) -> Profile {
        Profile {
            clock_start_min: None,
            day_secs: hours * 3600.0,
            segments: vec![Segment {
                start_secs: 0.0,
                end_secs: hours * 3600.0,
                calls_per_hour,
            }],
        }
    }

    pub fn parse(text: &str) -> Result<Profile, ProfileError> {
        let mut rows: Vec<(u32, u32, f64)> = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let l = raw.trim();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            let cols: Vec<&str> = l.split(',').map(str::trim).collect();
            if cols.len() != 3 {
                return Err(ProfileError::Columns { line });
            }
            if rows.is_empty() && cols[0].eq_ignore_ascii_case("start") {
                continue;
            }
            let time = |v: &str| {
                minutes(v).ok_or_else(|| ProfileError::Time {
                    line,
                    value: v.to_string(),
                })
            };
            let (start, end) = (time(cols[0])?, time(cols[1])?);
            let rate: f64 = cols[2]
                .parse()
                .ok()
                .filter(|r: &f64| r.is_finite() && *r >= 0.0)
                .ok_or_else(|| ProfileError::Rate {
                    line,
                    value: cols[2].to_string(),
                })?;
            if end <= start
                || rows
                    .last()
                    .is_some_and(|(_, prev_end, _)| *prev_end != start)
            {
                return Err(ProfileError::Order { line });
            }
            rows.push((start, end, rate));
        }
        let first = rows.first().ok_or(ProfileError::Empty)?.0;
        let last = rows.last().map_or(first, |r| r.1);
        Ok(Profile {
            clock_start_min: Some(first),
            day_secs: f64::from((last - first) * 60),
            segments: rows
                .into_iter()
                .map(|(s, e, r)| Segment {
                    start_secs: f64::from((s - first) * 60),
                    end_secs: f64::from((e - first) * 60),
                    calls_per_hour: r,
                })
                .collect(),
        })
    }

    /// Multiply every rate (e.g. 100× the tender's volume).
    pub fn scaled(mut self, factor: f64) -> Profile {
        for s in &mut self.segments {
            s.calls_per_hour *= factor;
        }
        self
    }

    /// The same day `days` times in a row.
    pub fn repeated(self, days: u32) -> Profile {
        let len = self.duration_secs();
        let mut segments = Vec::new();
        for d in 0..days.max(1) {
            for s in &self.segments {
                segments.push(Segment {
                    start_secs: s.start_secs + f64::from(d) * len,
                    end_secs: s.end_secs + f64::from(d) * len,
                    calls_per_hour: s.calls_per_hour,
                });
            }
        }
        Profile {
            clock_start_min: self.clock_start_min,
            day_secs: self.day_secs,
            segments,
        }
    }

    pub fn duration_secs(&self) -> f64 {
        self.segments.last().map_or(0.0, |s| s.end_secs)
    }

    /// Calls expected over the whole profile.
    pub fn expected_calls(&self) -> f64 {
        self.segments
            .iter()
            .map(|s| s.calls_per_hour * (s.end_secs - s.start_secs) / 3600.0)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_tender_profile_parses_with_its_peak() {
        let p = Profile::parse(include_str!("../../config/arrival-profile.csv")).expect("parses");
        assert_eq!(p.clock_start_min, Some(8 * 60));
        assert_eq!(p.segments.len(), 20);
        assert_eq!(p.duration_secs(), 10.0 * 3600.0);
        let peak = p
            .segments
            .iter()
            .map(|s| s.calls_per_hour)
            .fold(0.0, f64::max);
        assert_eq!(peak, 39.6);
        // ≈ 5,942 calls a month over ≈ 21.7 working days ≈ 274 a day.
        assert!(
            (p.expected_calls() - 273.9).abs() < 1.0,
            "{}",
            p.expected_calls()
        );
    }

    #[test]
    fn bad_rows_name_their_line() {
        assert_eq!(
            Profile::parse("08:00,08:30,10\n09:00,09:30,10"),
            Err(ProfileError::Order { line: 2 })
        );
        assert_eq!(
            Profile::parse("08:00,8h30,10"),
            Err(ProfileError::Time {
                line: 1,
                value: "8h30".into()
            })
        );
        assert_eq!(
            Profile::parse("08:00,08:30,-1"),
            Err(ProfileError::Rate {
                line: 1,
                value: "-1".into()
            })
        );
        assert_eq!(Profile::parse("# nothing\n"), Err(ProfileError::Empty));
    }
}
