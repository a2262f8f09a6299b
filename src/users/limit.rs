//! Failed-login limiter: after `MAX_PER_USER` failures for one user name, or
//! `MAX_PER_SOURCE` from one IP address, within `WINDOW`, logins for it are refused
//! until the window ends (HTTP 429 with `Retry-After`). Counted in memory: a restart
//! forgets, which costs an attacker a restart of our server, not a bypass.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

pub const WINDOW: Duration = Duration::from_secs(300);
pub const MAX_PER_USER: u32 = 5;
pub const MAX_PER_SOURCE: u32 = 20;
/// Bound on remembered keys, so a spray of names cannot grow memory without end.
const MAX_KEYS: usize = 100_000;

#[derive(Debug, Default)]
pub struct Limiter {
    users: HashMap<String, (Instant, u32)>,
    sources: HashMap<IpAddr, (Instant, u32)>,
}

fn blocked<K: std::hash::Hash + Eq>(
    map: &HashMap<K, (Instant, u32)>,
    key: &K,
    max: u32,
    now: Instant,
) -> Option<Duration> {
    let (since, n) = map.get(key)?;
    let left = WINDOW.checked_sub(now.duration_since(*since))?;
    (*n >= max && !left.is_zero()).then_some(left)
}

fn count<K: std::hash::Hash + Eq>(map: &mut HashMap<K, (Instant, u32)>, key: K, now: Instant) {
    if map.len() >= MAX_KEYS {
        map.retain(|_, (since, _)| now.duration_since(*since) < WINDOW);
    }
    let e = map.entry(key).or_insert((now, 0));
    if now.duration_since(e.0) >= WINDOW {
        *e = (now, 0);
    }
    e.1 += 1;
}

impl Limiter {
    /// How long `user` from `source` must wait, if a limit is reached.
    pub fn wait(&self, user: &str, source: IpAddr, now: Instant) -> Option<Duration> {
        let u = blocked(&self.users, &user.to_owned(), MAX_PER_USER, now);
        let s = blocked(&self.sources, &source, MAX_PER_SOURCE, now);
        u.max(s)
    }

    pub fn failed(&mut self, user: &str, source: IpAddr, now: Instant) {
        count(&mut self.users, user.to_owned(), now);
        count(&mut self.sources, source, now);
    }

    /// A success clears the user's count (not the source's: one good password must not
    /// reopen a spray of guesses at other names).
    pub fn succeeded(&mut self, user: &str) {
        self.users.remove(user);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_is_blocked_after_five_failures_until_the_window_ends() {
        let mut l = Limiter::default();
        let ip: IpAddr = "10.0.0.1".parse().expect("ip");
        let t0 = Instant::now();
        for _ in 0..MAX_PER_USER {
            assert_eq!(l.wait("ana", ip, t0), None);
            l.failed("ana", ip, t0);
        }
        assert!(l.wait("ana", ip, t0).is_some());
        assert_eq!(l.wait("bia", ip, t0), None);
        assert_eq!(l.wait("ana", ip, t0 + WINDOW), None);
    }

    #[test]
    fn a_source_is_blocked_after_twenty_failures_over_any_names() {
        let mut l = Limiter::default();
        let ip: IpAddr = "10.0.0.2".parse().expect("ip");
        let t0 = Instant::now();
        for i in 0..MAX_PER_SOURCE {
            l.failed(&format!("u{i}"), ip, t0);
        }
        assert!(l.wait("someone", ip, t0).is_some());
        assert_eq!(l.wait("someone", "10.0.0.3".parse().expect("ip"), t0), None);
    }
}
