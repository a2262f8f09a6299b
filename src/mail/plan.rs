//! When report mails are due: pure, the current instant is always passed in.
//!
//! - The daily report of day D goes at `daily_at` (local) on D + 1.
//! - The monthly report of month M goes at `daily_at` on the Nth business day of M + 1
//!   (N ≤ 5: the contract wants it by the 5th). Business days are Monday to Friday minus
//!   the configured holidays (Brazil's national ones and a list of dates).
//! - After a restart, what fell due while the server was down is still due, up to
//!   `LOOKBACK_DAYS` back, but never what fell due before the mailer was first enabled
//!   (`since`): turning mail on does not send a week of old reports.
//! - A failed send is retried with doubling waits; after the last retry the mail is given
//!   up and raised as an alarm (`Retry`).

use std::time::Duration;

use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp, ToSpan};

use crate::schedule::{HolidaySpec, Schedule, ScheduleError, ScheduleSpec};

/// How far back a restarted server still sends what it missed.
pub const LOOKBACK_DAYS: i64 = 7;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    #[error("unknown time zone {0:?}")]
    TimeZone(String),
    #[error("holidays: {0}")]
    Holidays(#[from] ScheduleError),
    #[error(
        "monthly_business_day must be 1 to 5 (the monthly report is due by the 5th business day), not {0}"
    )]
    MonthlyDay(u8),
}

/// One report mail: its period names it, and its key is stored with its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Job {
    Daily(Date),
    /// The month of this date (always its first day).
    Monthly(Date),
}

impl Job {
    /// The stored key: `daily:2026-12-06`, `monthly:2026-11`.
    pub fn key(&self) -> String {
        match self {
            Job::Daily(d) => format!("daily:{d}"),
            Job::Monthly(d) => format!("monthly:{:04}-{:02}", d.year(), d.month()),
        }
    }

    pub fn parse(key: &str) -> Option<Job> {
        if let Some(day) = key.strip_prefix("daily:") {
            return day.parse().ok().map(Job::Daily);
        }
        let month = key.strip_prefix("monthly:")?;
        format!("{month}-01").parse().ok().map(Job::Monthly)
    }

    /// First and last day of the period, both included.
    pub fn period(&self) -> (Date, Date) {
        match *self {
            Job::Daily(d) => (d, d),
            Job::Monthly(d) => (d.first_of_month(), d.last_of_month()),
        }
    }

    /// The mail's subject, in pt-BR.
    pub fn subject(&self) -> String {
        match self {
            Job::Daily(d) => format!("Relatório diário de {}", crate::export::format_date(*d)),
            Job::Monthly(d) => format!(
                "Relatório mensal de {} de {}",
                MONTHS[d.month() as usize - 1],
                d.year()
            ),
        }
    }
}

const MONTHS: [&str; 12] = [
    "janeiro",
    "fevereiro",
    "março",
    "abril",
    "maio",
    "junho",
    "julho",
    "agosto",
    "setembro",
    "outubro",
    "novembro",
    "dezembro",
];

#[derive(Debug, Clone)]
pub struct Plan {
    tz: TimeZone,
    daily_at: Time,
    monthly_day: u8,
    holidays: Schedule,
}

impl Plan {
    pub fn new(
        time_zone: &str,
        daily_at: Time,
        monthly_business_day: u8,
        holidays: &HolidaySpec,
    ) -> Result<Plan, PlanError> {
        let tz = TimeZone::get(time_zone).map_err(|_| PlanError::TimeZone(time_zone.to_owned()))?;
        if !(1..=5).contains(&monthly_business_day) {
            return Err(PlanError::MonthlyDay(monthly_business_day));
        }
        let holidays = Schedule::compile(&ScheduleSpec {
            timezone: time_zone.to_owned(),
            weekly: Default::default(),
            holidays: holidays.clone(),
        })?;
        Ok(Plan {
            tz,
            daily_at,
            monthly_day: monthly_business_day,
            holidays,
        })
    }

    pub fn is_business_day(&self, d: Date) -> bool {
        let weekend = matches!(d.weekday(), Weekday::Saturday | Weekday::Sunday);
        // Judged at local noon: a holiday is a whole local day, whatever DST does at 0h.
        let noon = d.at(12, 0, 0, 0).to_zoned_datetime(self.tz.clone());
        !weekend && !noon.is_ok_and(|z| self.holidays.is_holiday(z.timestamp()))
    }

    /// The Nth business day of the month of `month`.
    pub fn business_day(&self, month: Date, n: u8) -> Date {
        let mut d = month.first_of_month();
        let mut seen = 0;
        // A month always has more than 5 weekdays, and holidays never fill a week.
        loop {
            if self.is_business_day(d) {
                seen += 1;
                if seen == n {
                    return d;
                }
            }
            match d.tomorrow() {
                Ok(next) => d = next,
                Err(_) => return d,
            }
        }
    }

    /// When `job`'s mail is due.
    pub fn send_time(&self, job: Job) -> Timestamp {
        let day = match job {
            Job::Daily(d) => d.tomorrow().unwrap_or(d),
            Job::Monthly(m) => {
                let next = m.first_of_month().checked_add(1.month()).unwrap_or(m);
                self.business_day(next, self.monthly_day)
            }
        };
        self.local(day.to_datetime(self.daily_at))
    }

    /// A local time as an instant; a time in a DST gap is the instant the clocks land.
    fn local(&self, dt: jiff::civil::DateTime) -> Timestamp {
        self.tz
            .to_ambiguous_zoned_datetime(dt)
            .compatible()
            .map(|z| z.timestamp())
            .unwrap_or(Timestamp::UNIX_EPOCH)
    }

    fn today(&self, now: Timestamp) -> Date {
        self.tz.to_datetime(now).date()
    }

    /// The mails due at `now`: send time in `[since, now]` and at most `LOOKBACK_DAYS`
    /// old, oldest first. Whether one was sent already is the caller's (stored) business.
    pub fn due(&self, since: Timestamp, now: Timestamp) -> Vec<Job> {
        let today = self.today(now);
        let floor = since.max(
            now.checked_sub(Span::new().hours(24 * LOOKBACK_DAYS))
                .unwrap_or(since),
        );
        let mut jobs = Vec::new();
        for back in (0..=LOOKBACK_DAYS + 1).rev() {
            let Ok(day) = today.checked_sub(Span::new().days(back)) else {
                continue;
            };
            let Ok(job_day) = day.yesterday() else {
                continue;
            };
            jobs.push(Job::Daily(job_day));
        }
        let this_month = today.first_of_month();
        for back in [2, 1] {
            if let Ok(m) = this_month.checked_sub(Span::new().months(back)) {
                jobs.push(Job::Monthly(m));
            }
        }
        jobs.retain(|&job| {
            let at = self.send_time(job);
            floor <= at && at <= now
        });
        jobs.sort_by_key(|&job| self.send_time(job));
        jobs
    }

    /// The next instant after `now` at which a mail falls due.
    pub fn next_due_after(&self, now: Timestamp) -> Timestamp {
        let today = self.today(now);
        let month = today.first_of_month();
        let candidates = [
            today.yesterday().map(Job::Daily),
            Ok(Job::Daily(today)),
            month.checked_sub(1.month()).map(Job::Monthly),
            Ok(Job::Monthly(month)),
        ];
        candidates
            .into_iter()
            .flatten()
            .map(|job| self.send_time(job))
            .filter(|&at| at > now)
            .min()
            .unwrap_or_else(|| now.checked_add(Span::new().hours(24)).unwrap_or(now))
    }
}

/// How a failed send is retried: `first_wait`, then doubling, `retries` times.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Retry {
    pub retries: u32,
    pub first_wait: Duration,
}

impl Retry {
    /// After the `failures`-th failed attempt at `at`: when to try again, or `None` to give
    /// up (and raise the alarm).
    pub fn next_attempt(&self, failures: u32, at: Timestamp) -> Option<Timestamp> {
        if failures > self.retries {
            return None;
        }
        let factor = 1u32 << failures.saturating_sub(1).min(16);
        let wait = self.first_wait.saturating_mul(factor);
        at.checked_add(jiff::SignedDuration::try_from(wait).ok()?)
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::{date, time};

    fn plan(day: u8) -> Plan {
        Plan::new(
            "America/Sao_Paulo",
            time(7, 0, 0, 0),
            day,
            &HolidaySpec {
                national: Some("BR".into()),
                dates: vec!["2026-12-02".into()],
            },
        )
        .expect("valid plan")
    }

    fn at(d: Date, h: i8, m: i8) -> Timestamp {
        d.at(h, m, 0, 0)
            .to_zoned_datetime(TimeZone::get("America/Sao_Paulo").unwrap())
            .unwrap()
            .timestamp()
    }

    #[test]
    fn business_days_skip_weekends_and_holidays() {
        let p = plan(5);
        // December 2026: Tue 1, (Wed 2 configured holiday), Thu 3, Fri 4, Mon 7, Tue 8.
        assert_eq!(p.business_day(date(2026, 12, 1), 1), date(2026, 12, 1));
        assert_eq!(p.business_day(date(2026, 12, 1), 5), date(2026, 12, 8));
        // January 2027: Fri 1 is New Year (national): Mon 4 … Fri 8.
        assert_eq!(p.business_day(date(2027, 1, 1), 1), date(2027, 1, 4));
        assert_eq!(p.business_day(date(2027, 1, 1), 5), date(2027, 1, 8));
        assert_eq!(
            Plan::new(
                "America/Sao_Paulo",
                time(7, 0, 0, 0),
                6,
                &HolidaySpec::default()
            )
            .unwrap_err(),
            PlanError::MonthlyDay(6)
        );
    }

    #[test]
    fn the_day_before_is_due_at_the_set_time_and_a_month_on_its_business_day() {
        let p = plan(5);
        let since = at(date(2026, 11, 1), 0, 0);
        assert!(
            p.due(since, at(date(2026, 12, 7), 6, 59))
                .contains(&Job::Daily(date(2026, 12, 5)))
        );
        assert!(
            !p.due(since, at(date(2026, 12, 7), 6, 59))
                .contains(&Job::Daily(date(2026, 12, 6)))
        );
        assert!(
            p.due(since, at(date(2026, 12, 7), 7, 0))
                .contains(&Job::Daily(date(2026, 12, 6)))
        );
        let november = Job::Monthly(date(2026, 11, 1));
        assert!(
            !p.due(since, at(date(2026, 12, 7), 23, 0))
                .contains(&november)
        );
        assert!(
            p.due(since, at(date(2026, 12, 8), 7, 0))
                .contains(&november)
        );
        assert_eq!(
            p.next_due_after(at(date(2026, 12, 7), 7, 0)),
            at(date(2026, 12, 8), 7, 0)
        );
    }

    #[test]
    fn nothing_older_than_the_mailer_is_due() {
        let p = plan(1);
        let since = at(date(2026, 12, 7), 8, 0);
        assert!(p.due(since, at(date(2026, 12, 7), 9, 0)).is_empty());
        assert_eq!(
            p.due(since, at(date(2026, 12, 8), 7, 0)),
            vec![Job::Daily(date(2026, 12, 7))]
        );
        // Down for three days: the missed days are still due, oldest first.
        assert_eq!(
            p.due(since, at(date(2026, 12, 11), 7, 30)),
            vec![
                Job::Daily(date(2026, 12, 7)),
                Job::Daily(date(2026, 12, 8)),
                Job::Daily(date(2026, 12, 9)),
                Job::Daily(date(2026, 12, 10)),
            ]
        );
    }

    #[test]
    fn keys_round_trip_and_subjects_are_pt_br() {
        for job in [
            Job::Daily(date(2026, 12, 6)),
            Job::Monthly(date(2026, 11, 1)),
        ] {
            assert_eq!(Job::parse(&job.key()), Some(job));
        }
        assert_eq!(
            Job::Monthly(date(2026, 3, 1)).subject(),
            "Relatório mensal de março de 2026"
        );
        assert_eq!(
            Job::Daily(date(2026, 12, 6)).subject(),
            "Relatório diário de 06/12/2026"
        );
    }

    #[test]
    fn retries_double_then_give_up() {
        let r = Retry {
            retries: 3,
            first_wait: Duration::from_secs(60),
        };
        let t = Timestamp::UNIX_EPOCH;
        let secs = |n| r.next_attempt(n, t).map(|x| x.as_second());
        assert_eq!(secs(1), Some(60));
        assert_eq!(secs(2), Some(120));
        assert_eq!(secs(3), Some(240));
        assert_eq!(secs(4), None);
    }
}
