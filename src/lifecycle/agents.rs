//! Agents' state across a restart: each agent comes back as the agent log last saw them.
//!
//! Logged in (available, ringing, on a call, in wrap-up) → logged in and available (the
//! calls themselves did not survive); paused → paused with the same reason (a reason no
//! longer configured leaves them paused as "login", never silently available); logged
//! out → stays out, even with `auto_login`. `auto_login` applies only to an agent the log
//! has never seen: a first start, or a demo.

use tracing::warn;

use crate::acd::{AgentId, Input};
use crate::config::AgentConfig;

/// What restoring needs of the ACD actor: logging an agent in and pausing them.
pub trait Floor {
    fn login(&mut self, agent: &AgentId, ready: bool) -> Result<(), crate::acd::AcdError>;
    fn input(&mut self, input: Input) -> Result<(), crate::acd::AcdError>;
}

/// Brings `agent` back to `last` (state name and pause reason), or auto-logs them in when
/// the log has nothing of them.
pub fn restore(floor: &mut impl Floor, agent: &AgentConfig, last: Option<(&str, Option<&str>)>) {
    let id = AgentId::new(agent.id.as_str());
    let result = match last {
        None if agent.auto_login => floor.login(&id, true),
        None | Some(("logged_out", _)) => Ok(()),
        Some(("paused", reason)) => floor.login(&id, false).and_then(|()| match reason {
            Some(reason) => floor.input(Input::AgentPause {
                agent: id.clone(),
                reason: reason.to_owned(),
            }),
            None => Ok(()),
        }),
        Some(_) => floor.login(&id, true),
    };
    if let Err(e) = result {
        warn!(agent = %agent.id, error = %e, "agent state not restored");
    }
}
