//! A call's attached supervisors as the CTI tells them (issue 20). Several supervisors
//! may monitor one call, so the `monitoring` event carries the strongest mode still
//! attached (barge > whisper > listen), never just the last event's: one supervisor
//! leaving does not clear the agent's badge while another remains. The agent is told
//! only of modes shown to them (listen only with `[cti] show_listen`, as each event's
//! `shown` says); the call's supervisors are told of every mode. A snapshot's call says
//! the same mode as the last event would have (`seen_by`), so a reconnected desktop
//! keeps its badge.
//!
//! Pure; a handful of entries per call at most (the mixer's seats).

use crate::events::MonitorMode;

use super::{Addressed, Audience, LiveCall, visible};
use crate::cti::protocol::{MonitoringBody, ServerMessage};
use crate::users::Principal;

#[derive(Debug, Clone, PartialEq, Default)]
pub(super) struct Monitors(Vec<Seat>);

#[derive(Debug, Clone, PartialEq)]
struct Seat {
    supervisor: String,
    mode: MonitorMode,
    shown: bool,
}

/// Barge over whisper over listen.
fn rank(mode: MonitorMode) -> u8 {
    match mode {
        MonitorMode::Listen => 0,
        MonitorMode::Whisper => 1,
        MonitorMode::Barge => 2,
    }
}

impl Monitors {
    /// `supervisor` attached, or switched, to `mode`.
    pub(super) fn set(&mut self, supervisor: &str, mode: MonitorMode, shown: bool) {
        match self.0.iter_mut().find(|s| s.supervisor == supervisor) {
            Some(s) => (s.mode, s.shown) = (mode, shown),
            None => self.0.push(Seat {
                supervisor: supervisor.to_owned(),
                mode,
                shown,
            }),
        }
    }

    /// `supervisor` left.
    pub(super) fn remove(&mut self, supervisor: &str) {
        self.0.retain(|s| s.supervisor != supervisor);
    }

    /// The strongest mode attached (what the call's supervisors see).
    pub(super) fn strongest(&self) -> Option<MonitorMode> {
        self.0.iter().map(|s| s.mode).max_by_key(|m| rank(*m))
    }

    /// The strongest mode shown to the agent (the desktop's badge).
    pub(super) fn shown(&self) -> Option<MonitorMode> {
        self.0
            .iter()
            .filter(|s| s.shown)
            .map(|s| s.mode)
            .max_by_key(|m| rank(*m))
    }
}

/// The `monitoring` events after `call`'s monitors changed; `before` is what the agent
/// was shown until now. The agent is addressed while something is or was shown to them
/// (so a badge is cleared, and an unshown listen never leaks); when the agent's view
/// differs from the supervisors' (an unshown listen remains), the agent gets theirs first
/// and the supervisors theirs, so a viewer who is both ends with the full one.
pub(super) fn monitoring(
    call: &LiveCall,
    protocol: &str,
    version: u64,
    before: Option<MonitorMode>,
) -> Vec<Addressed> {
    let (all, shown) = (call.monitors.strongest(), call.monitors.shown());
    let body = |mode: Option<MonitorMode>| {
        ServerMessage::Monitoring(MonitoringBody {
            protocol: protocol.to_owned(),
            version,
            agent: call.agent.clone(),
            mode: mode.map(|m| m.as_str().to_owned()),
        })
    };
    let agent = call
        .agent
        .clone()
        .filter(|_| shown.is_some() || before.is_some());
    let mut out = Vec::new();
    if agent.is_some() && shown != all {
        out.push(Addressed {
            audience: Audience::Call {
                agent: agent.clone(),
                queue: None,
            },
            message: body(shown),
        });
    }
    out.push(Addressed {
        audience: Audience::Call {
            agent: agent.filter(|_| shown == all),
            queue: call.queue.clone(),
        },
        message: body(all),
    });
    out
}

/// The mode `who` sees on `call` in a snapshot: what the last `monitoring` event they
/// were addressed by says (`monitoring` above): the supervisors' view when it reaches
/// them, else the agent's, else nothing.
pub(super) fn seen_by(call: &LiveCall, who: &Principal) -> Option<MonitorMode> {
    let (all, shown) = (call.monitors.strongest(), call.monitors.shown());
    let supervisors = Audience::Call {
        agent: call.agent.clone().filter(|_| shown == all),
        queue: call.queue.clone(),
    };
    let agent = Audience::Call {
        agent: call.agent.clone(),
        queue: None,
    };
    if visible(who, &supervisors) {
        all
    } else if visible(who, &agent) {
        shown
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_strongest_mode_still_attached_is_shown() {
        let mut m = Monitors::default();
        m.set("ana", MonitorMode::Listen, false);
        assert_eq!(
            (m.strongest(), m.shown()),
            (Some(MonitorMode::Listen), None)
        );
        m.set("bia", MonitorMode::Whisper, true);
        m.set("ana", MonitorMode::Barge, true);
        assert_eq!(m.shown(), Some(MonitorMode::Barge));
        m.remove("ana");
        assert_eq!(m.shown(), Some(MonitorMode::Whisper), "bia still whispers");
        m.remove("bia");
        assert_eq!((m.strongest(), m.shown()), (None, None));
    }
}
