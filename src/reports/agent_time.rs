//! Agent time from the agent log: each state lasts from one entry to the next and is cut
//! at interval (and so day) borders; the after-call work of each call is the `wrap_up`
//! that follows the agent's `on_call` of it.
//!
//! A state still open (no later entry) is not counted here: the stored figures only hold
//! what the log closed, so a rebuild tomorrow gives the same numbers as today's
//! projection. (Adding the open state up to "now" in today's live view is still to do.)

use std::collections::BTreeMap;

use serde::Serialize;

use super::slot::{SLOT_MS, Slotter};

/// One entry of an agent's log (`agent_events`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentEntry {
    pub at_ms: i64,
    pub to_state: String,
    /// The pause reason of a `paused` state.
    pub reason: Option<String>,
    /// The call of a `ringing` or `on_call` state.
    pub call: Option<String>,
}

/// Time an agent spent in one state (and pause reason) inside one interval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentSlice {
    pub date: String,
    pub slot_start_ms: i64,
    pub state: String,
    /// Empty unless paused.
    pub reason: String,
    pub ms: i64,
}

/// The after-call work one agent did for one call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AfterCall {
    pub call: String,
    /// When the wrap-up began (it belongs to the call's interval, not this one).
    pub started_ms: i64,
    pub ms: i64,
}

/// Slices of one agent's closed states (entries in time order), and the after-call work
/// per call. `logged_out` time is not sliced.
pub fn agent_slices(
    entries: &[AgentEntry],
    slotter: &Slotter,
) -> (Vec<AgentSlice>, Vec<AfterCall>) {
    let mut sums: BTreeMap<(i64, String, String), i64> = BTreeMap::new();
    let mut after = Vec::new();
    let mut last_call: Option<&str> = None;
    for pair in entries.windows(2) {
        let (e, next) = (&pair[0], &pair[1]);
        if e.to_state == "on_call" {
            last_call = e.call.as_deref();
        }
        let (from, to) = (e.at_ms, next.at_ms.max(e.at_ms));
        if e.to_state == "wrap_up"
            && let Some(call) = last_call.take()
        {
            after.push(AfterCall {
                call: call.to_owned(),
                started_ms: from,
                ms: to - from,
            });
        }
        if e.to_state == "logged_out" {
            continue;
        }
        let reason = if e.to_state == "paused" {
            e.reason.clone().unwrap_or_default()
        } else {
            String::new()
        };
        let mut t = from;
        while t < to {
            let slot = t.div_euclid(SLOT_MS) * SLOT_MS;
            let end = (slot + SLOT_MS).min(to);
            *sums
                .entry((slot, e.to_state.clone(), reason.clone()))
                .or_default() += end - t;
            t = end;
        }
    }
    let slices = sums
        .into_iter()
        .map(|((slot_start_ms, state, reason), ms)| AgentSlice {
            date: slotter.slot(slot_start_ms).date,
            slot_start_ms,
            state,
            reason,
            ms,
        })
        .collect();
    (slices, after)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> i64 {
        s.parse::<jiff::Timestamp>()
            .expect("instant")
            .as_millisecond()
    }

    fn e(t: &str, state: &str, reason: Option<&str>, call: Option<&str>) -> AgentEntry {
        AgentEntry {
            at_ms: at(t),
            to_state: state.into(),
            reason: reason.map(Into::into),
            call: call.map(Into::into),
        }
    }

    #[test]
    fn a_pause_across_midnight_is_cut_at_the_border_and_wrap_up_goes_to_its_call() {
        let sp = Slotter::named("America/Sao_Paulo").expect("tz");
        // Local 23:50 (02:50Z) available; 23:55 on a call; 23:58 wrap-up; 00:01 paused
        // "lanche"; 00:20 logged out.
        let log = [
            e("2026-12-08T02:50:00Z", "available", None, None),
            e("2026-12-08T02:55:00Z", "on_call", None, Some("P1")),
            e("2026-12-08T02:58:00Z", "wrap_up", None, None),
            e("2026-12-08T03:01:00Z", "paused", Some("lanche"), None),
            e("2026-12-08T03:20:00Z", "logged_out", None, None),
        ];
        let (slices, after) = agent_slices(&log, &sp);
        let day = |d: &str, state: &str| -> i64 {
            slices
                .iter()
                .filter(|s| s.date == d && s.state == state)
                .map(|s| s.ms)
                .sum()
        };
        assert_eq!(day("2026-12-07", "available"), 5 * 60_000);
        assert_eq!(day("2026-12-07", "on_call"), 3 * 60_000);
        assert_eq!(day("2026-12-07", "wrap_up"), 2 * 60_000, "23:58 → 24:00");
        assert_eq!(day("2026-12-08", "wrap_up"), 60_000, "00:00 → 00:01");
        assert_eq!(day("2026-12-08", "paused"), 19 * 60_000);
        assert!(slices.iter().all(|s| s.state != "logged_out"));
        assert_eq!(
            after,
            vec![AfterCall {
                call: "P1".into(),
                started_ms: at("2026-12-08T02:58:00Z"),
                ms: 3 * 60_000
            }]
        );
        let lanche: Vec<_> = slices.iter().filter(|s| s.state == "paused").collect();
        assert!(lanche.iter().all(|s| s.reason == "lanche"));
    }
}
