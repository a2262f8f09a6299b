//! Agents' state across a restart: each agent comes back as the agent log last saw them.
//!
//! Logged in (available, ringing, on a call, in wrap-up) → logged in and available (the
//! calls themselves did not survive); paused → paused with the same reason (a reason no
//! longer configured leaves them paused as "login", never silently available); logged
//! out → stays out, even with `auto_login`. `auto_login` applies only to an agent the log
//! has never seen: a first start, or a demo. Hot-desk seats (`*45` from another phone)
//! are kept in a setting and come back too (`keep_seats`).

use tracing::{info, warn};

use crate::floor::hot_desk::HotDesk;
use crate::store::Store;
use crate::store::settings::HOT_DESK_SEATS;

use crate::acd::{AgentId, Input, SystemPause};
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
            // A system pause comes back as one (agents may not pick those reasons);
            // "no answer" is how logs before the rename wrote it.
            Some(reason) => match SystemPause::from_reason(reason)
                .or((reason == "no answer").then_some(SystemPause::NoAnswer))
            {
                Some(system) => floor.input(Input::SystemPause {
                    agent: id.clone(),
                    reason: system,
                }),
                None => floor.input(Input::AgentPause {
                    agent: id.clone(),
                    reason: reason.to_owned(),
                }),
            },
            None => Ok(()),
        }),
        Some(_) => floor.login(&id, true),
    };
    if let Err(e) = result {
        warn!(agent = %agent.id, error = %e, "agent state not restored");
    }
}

/// Restores the hot-desk seats saved before a restart, then keeps every change in the
/// database (the latest map only; a failed write is retried at the next change).
pub async fn keep_seats(store: &Store, desk: &HotDesk) {
    match store.setting(HOT_DESK_SEATS).await {
        Ok(Some(json)) => match desk.restore(&json) {
            Ok(n) => info!(seats = n, "hot-desk seats restored"),
            Err(e) => {
                warn!(error = %e, "saved hot-desk seats unreadable; agents are at their own phones")
            }
        },
        Ok(None) => {}
        Err(e) => {
            warn!(error = %e, "cannot read the hot-desk seats; agents are at their own phones")
        }
    }
    desk.keep_in(crate::store::settings::spawn_saver(
        store.clone(),
        HOT_DESK_SEATS,
        "hot-desk seats",
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Calls(Vec<String>);

    impl Floor for Calls {
        fn login(&mut self, agent: &AgentId, ready: bool) -> Result<(), crate::acd::AcdError> {
            self.0.push(format!("login {agent} ready={ready}"));
            Ok(())
        }
        fn input(&mut self, input: Input) -> Result<(), crate::acd::AcdError> {
            match input {
                Input::AgentPause { agent, reason } => {
                    self.0.push(format!("pause {agent} {reason}"))
                }
                Input::SystemPause { agent, reason } => self
                    .0
                    .push(format!("system pause {agent} {}", reason.reason())),
                _ => {}
            }
            Ok(())
        }
    }

    fn agent(auto_login: bool) -> AgentConfig {
        toml::from_str(&format!(
            "id = \"1001\"\nqueues = [\"geral\"]\nauto_login = {auto_login}"
        ))
        .expect("agent")
    }

    fn restored(auto_login: bool, last: Option<(&str, Option<&str>)>) -> Vec<String> {
        let mut floor = Calls::default();
        restore(&mut floor, &agent(auto_login), last);
        floor.0
    }

    #[test]
    fn each_agent_comes_back_as_the_log_last_saw_them() {
        assert_eq!(restored(true, None), ["login 1001 ready=true"]);
        assert!(restored(false, None).is_empty());
        assert!(restored(true, Some(("logged_out", None))).is_empty());
        assert_eq!(
            restored(true, Some(("paused", Some("almoço")))),
            ["login 1001 ready=false", "pause 1001 almoço"]
        );
        for stored in ["no_answer", "no answer"] {
            assert_eq!(
                restored(true, Some(("paused", Some(stored)))),
                ["login 1001 ready=false", "system pause 1001 no_answer"]
            );
        }
        for busy in ["available", "ringing", "on_call", "wrap_up"] {
            assert_eq!(
                restored(false, Some((busy, None))),
                ["login 1001 ready=true"]
            );
        }
    }
}
