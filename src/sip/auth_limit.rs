//! Per-source throttling of failed SIP authentications (password guessing, "friendly
//! scanner" floods). Pure: time is passed in; memory is bounded.
//!
//! A source is blocked for `block_for` once it fails `max_failures` times within a fixed
//! `window` opened by its first failure. Counting and blocked sources live in separate
//! tables of at most `capacity` entries each, evicting the entry that would expire first,
//! so a flood of one-shot (possibly spoofed) sources churns only the counting table and
//! cannot push out sources already blocked.
//!
//! Limit: over UDP a source address can be forged, so an attacker can get a victim's
//! address blocked; callers may prefer to exempt trusted networks before asking.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Longer windows or blocks are cut to this, keeping `Instant` arithmetic far from overflow.
const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Allow,
    /// Refuse (e.g. 403 or silence) until this instant.
    Blocked {
        until: Instant,
    },
}

#[derive(Debug, Clone, Copy)]
struct Counting {
    failures: u32,
    window_start: Instant,
}

#[derive(Debug)]
pub struct AuthLimiter {
    max_failures: u32,
    window: Duration,
    block_for: Duration,
    capacity: usize,
    counting: HashMap<IpAddr, Counting>,
    // (ip, window_start) in window-start order; entries whose ip was since removed or
    // restarted are skipped lazily, and compacted if they pile up.
    counting_order: VecDeque<(IpAddr, Instant)>,
    blocked: HashMap<IpAddr, Instant>,
    // (ip, until) in until order, since block_for is constant.
    blocked_order: VecDeque<(IpAddr, Instant)>,
}

impl AuthLimiter {
    /// `max_failures` of 0 is treated as 1; `capacity` of 0 as 1.
    pub fn new(max_failures: u32, window: Duration, block_for: Duration, capacity: usize) -> Self {
        Self {
            max_failures: max_failures.max(1),
            window: window.min(MAX_DURATION),
            block_for: block_for.min(MAX_DURATION),
            capacity: capacity.max(1),
            counting: HashMap::new(),
            counting_order: VecDeque::new(),
            blocked: HashMap::new(),
            blocked_order: VecDeque::new(),
        }
    }

    pub fn check(&mut self, ip: IpAddr, now: Instant) -> Admission {
        self.purge(now);
        match self.blocked.get(&ip) {
            Some(&until) if until > now => Admission::Blocked { until },
            _ => Admission::Allow,
        }
    }

    pub fn record_failure(&mut self, ip: IpAddr, now: Instant) {
        self.purge(now);
        if self.blocked.get(&ip).is_some_and(|&until| until > now) {
            return;
        }
        let failures = match self.counting.get_mut(&ip) {
            Some(c) if now.saturating_duration_since(c.window_start) < self.window => {
                c.failures = c.failures.saturating_add(1);
                c.failures
            }
            _ => {
                self.counting.insert(
                    ip,
                    Counting {
                        failures: 1,
                        window_start: now,
                    },
                );
                self.counting_order.push_back((ip, now));
                1
            }
        };
        if failures >= self.max_failures {
            self.counting.remove(&ip);
            self.block(ip, now);
        }
        self.bound();
    }

    /// A successful authentication clears the source's record.
    pub fn record_success(&mut self, ip: IpAddr) {
        self.counting.remove(&ip);
        self.blocked.remove(&ip);
    }

    /// Sources currently tracked (counting plus blocked).
    pub fn tracked(&self) -> usize {
        self.counting.len() + self.blocked.len()
    }

    fn block(&mut self, ip: IpAddr, now: Instant) {
        // Durations are capped at construction; this only fails at the end of time.
        let until = now.checked_add(self.block_for).unwrap_or(now);
        self.blocked.insert(ip, until);
        self.blocked_order.push_back((ip, until));
    }

    fn purge(&mut self, now: Instant) {
        while let Some(&(ip, start)) = self.counting_order.front() {
            if now.saturating_duration_since(start) < self.window {
                break;
            }
            self.counting_order.pop_front();
            if self
                .counting
                .get(&ip)
                .is_some_and(|c| c.window_start == start)
            {
                self.counting.remove(&ip);
            }
        }
        while let Some(&(ip, until)) = self.blocked_order.front() {
            if until > now {
                break;
            }
            self.blocked_order.pop_front();
            if self.blocked.get(&ip) == Some(&until) {
                self.blocked.remove(&ip);
            }
        }
    }

    /// Evicts soonest-to-expire entries beyond capacity and drops stale queue items.
    fn bound(&mut self) {
        while self.counting.len() > self.capacity {
            let Some((ip, start)) = self.counting_order.pop_front() else {
                break;
            };
            if self
                .counting
                .get(&ip)
                .is_some_and(|c| c.window_start == start)
            {
                self.counting.remove(&ip);
            }
        }
        while self.blocked.len() > self.capacity {
            let Some((ip, until)) = self.blocked_order.pop_front() else {
                break;
            };
            if self.blocked.get(&ip) == Some(&until) {
                self.blocked.remove(&ip);
            }
        }
        let counting = &self.counting;
        if self.counting_order.len() > 2 * self.capacity {
            self.counting_order
                .retain(|(ip, start)| counting.get(ip).is_some_and(|c| c.window_start == *start));
        }
        let blocked = &self.blocked;
        if self.blocked_order.len() > 2 * self.capacity {
            self.blocked_order
                .retain(|(ip, until)| blocked.get(ip) == Some(until));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const WINDOW: Duration = Duration::from_secs(60);
    const BLOCK: Duration = Duration::from_secs(600);

    fn ip(n: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n))
    }

    fn limiter(capacity: usize) -> AuthLimiter {
        AuthLimiter::new(3, WINDOW, BLOCK, capacity)
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn blocks_after_max_failures_then_releases() {
        let (mut l, t0) = (limiter(100), Instant::now());
        for i in 0..2 {
            l.record_failure(ip(1), t0 + secs(i));
            assert_eq!(l.check(ip(1), t0 + secs(i)), Admission::Allow);
        }
        l.record_failure(ip(1), t0 + secs(2));
        let until = t0 + secs(2) + BLOCK;
        assert_eq!(l.check(ip(1), t0 + secs(3)), Admission::Blocked { until });
        assert_eq!(
            l.check(ip(2), t0 + secs(3)),
            Admission::Allow,
            "other sources unaffected"
        );
        // Failures while blocked do not extend the block.
        l.record_failure(ip(1), t0 + secs(100));
        assert_eq!(l.check(ip(1), t0 + secs(100)), Admission::Blocked { until });
        assert_eq!(l.check(ip(1), until), Admission::Allow);
        assert_eq!(l.tracked(), 0, "expired block forgotten");
    }

    #[test]
    fn failures_outside_window_do_not_add_up() {
        let (mut l, t0) = (limiter(100), Instant::now());
        l.record_failure(ip(1), t0);
        l.record_failure(ip(1), t0 + secs(30));
        l.record_failure(ip(1), t0 + secs(60));
        assert_eq!(l.check(ip(1), t0 + secs(61)), Admission::Allow);
        l.record_failure(ip(1), t0 + secs(70));
        l.record_failure(ip(1), t0 + secs(80));
        assert!(matches!(
            l.check(ip(1), t0 + secs(80)),
            Admission::Blocked { .. }
        ));
    }

    #[test]
    fn success_clears_the_count() {
        let (mut l, t0) = (limiter(100), Instant::now());
        l.record_failure(ip(1), t0);
        l.record_failure(ip(1), t0);
        l.record_success(ip(1));
        l.record_failure(ip(1), t0);
        l.record_failure(ip(1), t0);
        assert_eq!(l.check(ip(1), t0), Admission::Allow);
        assert_eq!(l.tracked(), 1);
    }

    #[test]
    fn flood_of_sources_stays_bounded_and_keeps_blocks() {
        let (mut l, t0) = (limiter(50), Instant::now());
        for _ in 0..3 {
            l.record_failure(ip(0), t0);
        }
        for n in 1..100_000 {
            l.record_failure(ip(n), t0 + Duration::from_micros(u64::from(n)));
            assert!(l.tracked() <= 51);
            assert!(l.counting_order.len() <= 101 && l.blocked_order.len() <= 101);
        }
        assert!(matches!(
            l.check(ip(0), t0 + secs(1)),
            Admission::Blocked { .. }
        ));
        // The oldest counting entries were evicted, the newest kept.
        l.record_failure(ip(99_999), t0 + secs(1));
        l.record_failure(ip(99_999), t0 + secs(1));
        assert!(matches!(
            l.check(ip(99_999), t0 + secs(1)),
            Admission::Blocked { .. }
        ));
    }

    #[test]
    fn blocked_table_evicts_soonest_expiring() {
        let (mut l, t0) = (AuthLimiter::new(1, WINDOW, BLOCK, 2), Instant::now());
        for n in 0..3 {
            l.record_failure(ip(n), t0 + secs(u64::from(n)));
        }
        let at = t0 + secs(3);
        assert_eq!(l.check(ip(0), at), Admission::Allow);
        assert!(matches!(l.check(ip(1), at), Admission::Blocked { .. }));
        assert!(matches!(l.check(ip(2), at), Admission::Blocked { .. }));
    }

    #[test]
    fn degenerate_config_is_safe() {
        let t0 = Instant::now();
        let mut l = AuthLimiter::new(0, Duration::MAX, Duration::MAX, 0);
        l.record_failure(ip(1), t0);
        assert!(matches!(l.check(ip(1), t0), Admission::Blocked { .. }));
    }
}
