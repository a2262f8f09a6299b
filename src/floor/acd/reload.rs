//! The ACD actor's side of a config reload (`crate::reload`): the engine takes the new
//! queues (refused whole, or applied), then each agent is brought in line with the new
//! config. New agents become known (auto-login ones logged in and available); logged-in
//! agents whose queues or skills changed keep their state with the new ones; removed
//! agents are logged out — at once when idle, after their call when on one (the engine's
//! pending logout) — and stay on the wallboard until they are.

use std::collections::HashMap;

use tracing::{info, warn};

use super::{AcdActor, AgentProfile, with_code_reason};
use crate::acd::{AgentId, AgentLogin, AgentStatus, EngineConfig, Input};
use crate::config::AgentConfig;

impl AcdActor {
    pub(super) fn reconfigure(
        &mut self,
        mut config: EngineConfig,
        agents: &[AgentConfig],
    ) -> Result<(), String> {
        with_code_reason(&mut config);
        let queue_order = config.queues.iter().map(|q| q.id.clone()).collect();
        let now = self.now();
        let queues = self
            .engine
            .reconfigure(now, config)
            .map_err(|e| e.to_string())?;
        info!(
            added = queues.added.len(),
            changed = queues.changed.len(),
            removed = queues.removed.len(),
            "ACD queues reconfigured"
        );
        self.queue_order = queue_order;
        let profiles: HashMap<AgentId, AgentProfile> = agents
            .iter()
            .map(|a| (AgentId::new(a.id.as_str()), AgentProfile::from_config(a)))
            .collect();
        let old = std::mem::replace(&mut self.profiles, profiles);
        let removed: Vec<AgentId> = old
            .keys()
            .filter(|id| !self.profiles.contains_key(*id))
            .cloned()
            .collect();
        for id in removed {
            if let Err(e) = self.input(Input::AgentLogout { agent: id.clone() }) {
                info!(agent = %id, error = %e, "removed agent: no logout needed");
            }
        }
        for a in agents {
            let id = AgentId::new(a.id.as_str());
            let profile = self.profiles[&id].clone();
            if old.contains_key(&id) {
                let login = AgentLogin {
                    agent: id.clone(),
                    memberships: profile.memberships,
                    skills: profile.skills,
                    ready: true,
                };
                let now = self.now();
                if let Err(e) = self.engine.update_agent(now, login) {
                    warn!(agent = %id, error = %e, "agent's new queues or skills refused");
                }
            } else if a.auto_login
                && !a.queues.is_empty()
                && let Err(e) = self.login(&id, true)
            {
                warn!(agent = %id, error = %e, "auto login of a new agent refused");
            }
        }
        // Configured agents in config order, then removed ones still finishing a call.
        let mut order: Vec<AgentId> = agents.iter().map(|a| AgentId::new(a.id.as_str())).collect();
        order.extend(
            self.agent_order
                .iter()
                .filter(|id| !self.profiles.contains_key(*id))
                .cloned(),
        );
        self.agent_order = order;
        self.forget_removed_agents();
        Ok(())
    }

    /// Drops removed agents from the wallboard once they are logged out.
    pub(super) fn forget_removed_agents(&mut self) {
        let (profiles, engine) = (&self.profiles, &self.engine);
        self.agent_order.retain(|id| {
            profiles.contains_key(id)
                || engine
                    .agent_status(id)
                    .is_some_and(|(s, _)| s != AgentStatus::LoggedOut)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::super::{AcdShell, spawn};
    use crate::acd::{Destination, EngineConfig, QueueConfig, QueueId};
    use crate::config::AgentConfig;

    fn agent(id: &str, queues: &[&str]) -> AgentConfig {
        AgentConfig {
            id: id.into(),
            name: String::new(),
            password: Some(format!("pw{id}")),
            ha1_md5: None,
            ha1_sha256: None,
            digest_algorithms: None,
            pin: None,
            queues: queues.iter().map(|q| q.to_string()).collect(),
            tiers: Default::default(),
            skills: Default::default(),
            auto_login: true,
            auto_answer: Default::default(),
        }
    }

    fn queues(ids: &[&str]) -> EngineConfig {
        EngineConfig {
            queues: ids.iter().map(|q| QueueConfig::new(*q)).collect(),
            pause_reasons: vec![],
        }
    }

    async fn wallboard(
        acd: &super::super::AcdHandle,
    ) -> (Vec<(String, &'static str)>, Vec<QueueId>) {
        let s = acd.status().await.expect("ACD running");
        (
            s.agents.into_iter().map(|a| (a.agent, a.state)).collect(),
            s.queues.into_iter().map(|q| q.queue).collect(),
        )
    }

    #[tokio::test]
    async fn new_agents_log_in_removed_idle_ones_leave_and_a_refusal_changes_nothing() {
        let acd = spawn(
            queues(&["a"]),
            &[agent("1001", &["a"])],
            AcdShell::default(),
        )
        .expect("ACD starts");
        assert_eq!(wallboard(&acd).await.0, [("1001".to_owned(), "available")]);
        acd.reconfigure(queues(&["a", "b"]), vec![agent("1002", &["b"])])
            .await
            .expect("applied");
        let (agents, qs) = wallboard(&acd).await;
        assert_eq!(agents, [("1002".to_owned(), "available")]);
        assert_eq!(qs, [QueueId::new("a"), QueueId::new("b")]);

        let mut bad = queues(&["c"]);
        bad.queues[0].closed = Destination::Queue {
            queue: QueueId::new("nope"),
        };
        let e = acd
            .reconfigure(bad, vec![agent("1003", &["c"])])
            .await
            .unwrap_err();
        assert!(e.contains("nope"), "{e}");
        assert_eq!(wallboard(&acd).await, (agents, qs));
    }
}
