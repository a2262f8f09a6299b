//! Names and times the ACD engine speaks in: id newtypes, the engine's monotonic `Tick`,
//! the `Now` pair passed with every input, and the caller number wrapped for the LGPD.
//!
//! Nothing here reads a clock: the shell turns its `Instant` into a `Tick` (milliseconds
//! since an epoch it picks) and passes the wall time next to it.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            pub fn new(s: impl Into<String>) -> Self {
                $name(s.into())
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                $name(s.to_string())
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                $name(s)
            }
        }
    };
}

string_id!(
    /// A call (member) as the shell names it, e.g. its call id.
    CallId
);
string_id!(
    /// An agent's login id (settings follow the login, not the phone).
    AgentId
);
string_id!(
    /// A queue (DAC group).
    QueueId
);
string_id!(
    /// A skill (specialty) such as "pensao" or "libras".
    SkillId
);

/// Engine time: milliseconds since an epoch chosen by the shell. Signed so callbacks
/// restored after a restart can sit before the new epoch and keep their place.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Tick(pub i64);

impl Tick {
    pub const ZERO: Tick = Tick(0);

    pub fn from_millis(ms: i64) -> Tick {
        Tick(ms)
    }

    /// From the time elapsed since the shell's epoch (`instant - epoch`).
    pub fn from_duration(d: Duration) -> Tick {
        Tick(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }

    pub fn from_secs_f64(s: f64) -> Tick {
        Tick((s * 1000.0).round() as i64)
    }

    pub fn millis(self) -> i64 {
        self.0
    }

    pub fn plus(self, d: Duration) -> Tick {
        Tick(
            self.0
                .saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        )
    }

    /// Time from `earlier` to `self`, zero when `earlier` is later.
    pub fn since(self, earlier: Tick) -> Duration {
        Duration::from_millis(u64::try_from(self.0.saturating_sub(earlier.0)).unwrap_or(0))
    }
}

/// What the shell passes with every input: the monotonic tick (timers, waits) and the
/// wall time (opening hours, callback times, the reports' clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    pub tick: Tick,
    pub wall: jiff::Timestamp,
}

impl Now {
    pub fn new(tick: Tick, wall: jiff::Timestamp) -> Now {
        Now { tick, wall }
    }

    /// The same moment `d` later on both clocks (simulations and tests).
    pub fn plus(self, d: Duration) -> Now {
        let span = jiff::SignedDuration::try_from(d).unwrap_or(jiff::SignedDuration::MAX);
        Now {
            tick: self.tick.plus(d),
            wall: self.wall.saturating_add(span).unwrap_or(self.wall),
        }
    }

    /// The tick at which the wall clock will read `at`, assuming both clocks run together
    /// (they are re-read at every input, so a wall-clock step only delays a decision).
    pub fn tick_at(self, at: jiff::Timestamp) -> Tick {
        let ms = at
            .as_millisecond()
            .saturating_sub(self.wall.as_millisecond());
        Tick(self.tick.0.saturating_add(ms))
    }

    /// The wall time that corresponds to `tick`.
    pub fn wall_at(self, tick: Tick) -> jiff::Timestamp {
        let ms = tick.0.saturating_sub(self.tick.0);
        self.wall
            .saturating_add(jiff::SignedDuration::from_millis(ms))
            .unwrap_or(self.wall)
    }
}

/// A citizen's phone number: personal data under the LGPD, so `Debug` and `Display` show
/// only the last four digits. The number itself is read with `expose()`.
#[derive(Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CallerNumber(String);

impl CallerNumber {
    pub fn new(s: impl Into<String>) -> Self {
        CallerNumber(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for CallerNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CallerNumber({self})")
    }
}

impl fmt::Display for CallerNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.chars().count();
        let tail: String = self.0.chars().skip(n.saturating_sub(4)).collect();
        write!(f, "***{tail}")
    }
}

/// Serde for wall times as RFC 3339 strings (jiff's own serde feature is not enabled).
pub mod wall {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &jiff::Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(t)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<jiff::Timestamp, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }

    pub mod option {
        use serde::{Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(
            t: &Option<jiff::Timestamp>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match t {
                Some(t) => s.collect_str(t),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<jiff::Timestamp>, D::Error> {
            match Option::<String>::deserialize(d)? {
                Some(s) => s.parse().map(Some).map_err(serde::de::Error::custom),
                None => Ok(None),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caller_number_is_redacted_in_logs() {
        let n = CallerNumber::new("27999998888");
        assert_eq!(format!("{n:?}"), "CallerNumber(***8888)");
        assert_eq!(n.expose(), "27999998888");
    }

    #[test]
    fn wall_and_tick_move_together() {
        let wall: jiff::Timestamp = "2026-03-02T11:00:00Z".parse().unwrap();
        let now = Now::new(Tick(5_000), wall);
        let later = now.plus(Duration::from_secs(90));
        assert_eq!(later.tick, Tick(95_000));
        assert_eq!(now.tick_at(later.wall), later.tick);
        assert_eq!(now.wall_at(later.tick), later.wall);
        assert_eq!(Tick(10).since(Tick(20)), Duration::ZERO);
    }
}
