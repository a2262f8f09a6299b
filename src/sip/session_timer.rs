//! SIP session timers (RFC 4028) on the caller's leg, atende being the UAS: what to
//! answer an INVITE that asks for one, when to refresh or give up, and how a refresh
//! from the peer changes the timer.
//!
//! Pure: header values and the current time in, decisions out; the call actor sends the
//! UPDATE/re-INVITE or the BYE. Limits: a timer starts only when the INVITE carries
//! `Session-Expires` (atende never imposes one on a gateway that did not ask); atende
//! itself never asks for one on calls it places.

use std::time::{Duration, Instant};

pub use crate::config::RFC_MIN_SE;

/// Who refreshes the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresher {
    /// The gateway (the INVITE's sender) refreshes; atende ends the call if it does not.
    Peer,
    /// atende refreshes at half the interval.
    Atende,
}

/// What an INVITE asked of the session timer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub expires: u32,
    /// `refresher=` of the request, seen from its sender: `uac` is the peer.
    pub refresher: Option<Refresher>,
    /// The peer lists `timer` in `Supported` or `Require`.
    pub peer_supports: bool,
}

/// Reads `Session-Expires` (with its `refresher`) and whether `timer` is supported.
/// `None` when the request asks for no timer or its value is unreadable.
pub fn read_request(
    session_expires: Option<&str>,
    supported: &[String],
    require: &[String],
) -> Option<Request> {
    let value = session_expires?;
    let mut parts = value.split(';');
    let expires = parts.next()?.trim().parse::<u32>().ok()?;
    let refresher = parts.find_map(|p| {
        let (k, v) = p.split_once('=')?;
        if !k.trim().eq_ignore_ascii_case("refresher") {
            return None;
        }
        match v.trim().to_ascii_lowercase().as_str() {
            "uac" => Some(Refresher::Peer),
            "uas" => Some(Refresher::Atende),
            _ => None,
        }
    });
    let has_timer = |l: &[String]| l.iter().any(|t| t.trim().eq_ignore_ascii_case("timer"));
    Some(Request {
        expires,
        refresher,
        peer_supports: has_timer(supported) || has_timer(require),
    })
}

/// How atende answers an INVITE's session-timer request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// 422 Session Interval Too Small, with `Min-SE: min_se`.
    TooSmall { min_se: u32 },
    /// Run a timer of `expires` seconds.
    Run {
        expires: u32,
        refresher: Refresher,
        /// The peer supports timers: the 2xx carries `Require: timer`.
        require: bool,
    },
}

/// Decides the timer for an INVITE (RFC 4028 §9). `min_se`: the trunk's minimum.
pub fn answer(req: &Request, min_se: u32) -> Answer {
    if req.expires < min_se {
        return Answer::TooSmall { min_se };
    }
    // A peer without timer support cannot refresh: atende does. One that supports it
    // and left the choice to atende refreshes itself (it asked for the timer).
    let refresher = match (req.peer_supports, req.refresher) {
        (false, _) => Refresher::Atende,
        (true, Some(r)) => r,
        (true, None) => Refresher::Peer,
    };
    Answer::Run {
        expires: req.expires,
        refresher,
        require: req.peer_supports,
    }
}

/// The `Session-Expires` value of a 2xx atende sends to the peer's request.
pub fn response_header(expires: u32, refresher: Refresher) -> String {
    let r = match refresher {
        Refresher::Peer => "uac",
        Refresher::Atende => "uas",
    };
    format!("{expires};refresher={r}")
}

/// The `Session-Expires` value of a refresh request atende sends (it is that request's
/// UAC, and stays the refresher).
pub fn refresh_header(expires: u32) -> String {
    format!("{expires};refresher=uac")
}

/// What is due now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Send a refresh (UPDATE or re-INVITE) now.
    Refresh,
    /// The peer did not refresh in time: end the call (`session_timer_expired`).
    Expired,
}

/// A running session timer.
#[derive(Debug, Clone)]
pub struct SessionTimer {
    expires: u32,
    refresher: Refresher,
    last: Instant,
}

impl SessionTimer {
    pub fn start(now: Instant, expires: u32, refresher: Refresher) -> SessionTimer {
        SessionTimer {
            expires,
            refresher,
            last: now,
        }
    }

    pub fn expires(&self) -> u32 {
        self.expires
    }

    pub fn refresher(&self) -> Refresher {
        self.refresher
    }

    /// When something is due: half the interval for atende's refresh; for the peer's,
    /// the interval less min(32 s, a third of it) (RFC 4028 §10).
    pub fn deadline(&self) -> Instant {
        let interval = Duration::from_secs(self.expires.into());
        match self.refresher {
            Refresher::Atende => self.last + interval / 2,
            Refresher::Peer => self.last + interval - Duration::from_secs(32).min(interval / 3),
        }
    }

    /// Called at the deadline (or later); a refresh restarts the interval.
    pub fn due(&mut self, now: Instant) -> Option<Due> {
        if now < self.deadline() {
            return None;
        }
        match self.refresher {
            Refresher::Atende => {
                self.last = now;
                Some(Due::Refresh)
            }
            Refresher::Peer => Some(Due::Expired),
        }
    }

    /// The peer refreshed (re-INVITE or UPDATE, possibly with a new `Session-Expires`):
    /// returns the `Session-Expires` value for the 2xx, or the `Min-SE` to refuse with
    /// 422 when the new interval is below `min_se`.
    pub fn peer_refreshed(
        &mut self,
        now: Instant,
        req: Option<&Request>,
        min_se: u32,
    ) -> Result<String, u32> {
        if let Some(req) = req {
            if req.expires < min_se {
                return Err(min_se);
            }
            self.expires = req.expires;
            if let Some(r) = req.refresher {
                self.refresher = r;
            }
        }
        self.last = now;
        Ok(response_header(self.expires, self.refresher))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(s: &str) -> Vec<String> {
        vec![s.to_owned()]
    }

    #[test]
    fn reads_the_request() {
        let r = read_request(Some("1800;refresher=uas"), &list("timer"), &[]).unwrap();
        assert_eq!(r.expires, 1800);
        assert_eq!(r.refresher, Some(Refresher::Atende));
        assert!(r.peer_supports);
        let r = read_request(Some(" 90 "), &list("100rel"), &[]).unwrap();
        assert_eq!((r.refresher, r.peer_supports), (None, false));
        assert_eq!(read_request(None, &list("timer"), &[]), None);
        assert_eq!(read_request(Some("soon"), &[], &[]), None);
    }

    #[test]
    fn answers_as_rfc_4028_section_9() {
        let req = |expires, refresher, peer_supports| Request {
            expires,
            refresher,
            peer_supports,
        };
        assert_eq!(
            answer(&req(60, None, true), 90),
            Answer::TooSmall { min_se: 90 }
        );
        assert_eq!(
            answer(&req(90, None, true), 90),
            Answer::Run {
                expires: 90,
                refresher: Refresher::Peer,
                require: true
            }
        );
        assert_eq!(
            answer(&req(1800, Some(Refresher::Peer), false), 90),
            Answer::Run {
                expires: 1800,
                refresher: Refresher::Atende,
                require: false
            }
        );
        assert_eq!(
            answer(&req(120, Some(Refresher::Atende), true), 90),
            Answer::Run {
                expires: 120,
                refresher: Refresher::Atende,
                require: true
            }
        );
        assert_eq!(response_header(90, Refresher::Peer), "90;refresher=uac");
        assert_eq!(refresh_header(90), "90;refresher=uac");
    }

    #[test]
    fn atende_refreshes_at_half_the_interval() {
        let t0 = Instant::now();
        let mut t = SessionTimer::start(t0, 90, Refresher::Atende);
        assert_eq!(t.deadline(), t0 + Duration::from_secs(45));
        assert_eq!(t.due(t0 + Duration::from_secs(44)), None);
        assert_eq!(t.due(t0 + Duration::from_secs(45)), Some(Due::Refresh));
        assert_eq!(t.deadline(), t0 + Duration::from_secs(90));
    }

    #[test]
    fn a_peer_that_does_not_refresh_is_given_up_on() {
        let t0 = Instant::now();
        let mut t = SessionTimer::start(t0, 90, Refresher::Peer);
        // 90 - min(32, 30) = 60 s.
        assert_eq!(t.deadline(), t0 + Duration::from_secs(60));
        let at = t0 + Duration::from_secs(50);
        assert_eq!(
            t.peer_refreshed(at, None, 90),
            Ok("90;refresher=uac".into())
        );
        assert_eq!(t.due(t0 + Duration::from_secs(100)), None);
        assert_eq!(t.due(t0 + Duration::from_secs(110)), Some(Due::Expired));
        // A long interval keeps 32 s of margin.
        let t = SessionTimer::start(t0, 1800, Refresher::Peer);
        assert_eq!(t.deadline(), t0 + Duration::from_secs(1768));
    }

    #[test]
    fn a_peer_refresh_may_change_the_interval_but_not_below_the_minimum() {
        let t0 = Instant::now();
        let mut t = SessionTimer::start(t0, 90, Refresher::Peer);
        let short = Request {
            expires: 30,
            refresher: None,
            peer_supports: true,
        };
        assert_eq!(t.peer_refreshed(t0, Some(&short), 90), Err(90));
        let longer = Request {
            expires: 300,
            refresher: Some(Refresher::Atende),
            peer_supports: true,
        };
        assert_eq!(
            t.peer_refreshed(t0, Some(&longer), 90),
            Ok("300;refresher=uas".into())
        );
        assert_eq!(t.refresher(), Refresher::Atende);
        assert_eq!(t.expires(), 300);
    }
}
