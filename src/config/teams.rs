//! `[teams.NAME]`: groups of agents with the queues they work, the unit a supervisor is
//! scoped to (a user's scope names teams and/or queues). Checked here (every agent and
//! queue a team names exists), and resolved here into what a user sees: the queues of
//! their scope and the agents of their scope. Pure: the config in, names out.
//!
//! Limits: a team named by a stored user but no longer in the config gives that user
//! nothing through it (fail closed); teams do not route calls (the ACD knows queues).

use serde::Deserialize;

use super::Config;

/// `[teams.NAME]` in the config file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamConfig {
    /// What users are shown (pt-BR), e.g. "Equipe Previdência" (`GET /api/me`).
    pub name: String,
    /// Agent ids (`[[agents]] id`) in the team.
    #[serde(default)]
    pub agents: Vec<String>,
    /// Queue ids (`[[queues]] id`) the team's supervisors see.
    #[serde(default)]
    pub queues: Vec<String>,
}

/// A team that names something the config does not have.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TeamProblem {
    #[error("teams.{team}: agent {agent:?} is not in [[agents]]")]
    UnknownAgent { team: String, agent: String },
    #[error("teams.{team}: queue {queue:?} is not in [[queues]]")]
    UnknownQueue { team: String, queue: String },
    #[error("teams.{0}: use 1 to 64 of a-z, 0-9, '.', '_', '-' for a team's key")]
    BadKey(String),
    #[error("teams.{0}: name (what pages show) may not be empty")]
    NoName(String),
    #[error("teams.{0}: a team needs at least one agent or queue")]
    Empty(String),
}

/// What a user may see and act on, resolved from their stored scope and the config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// The user's own queues, then their teams' (no repeats).
    pub queues: Vec<String>,
    /// Their teams' agents, then the agents configured in their own queues.
    pub agents: Vec<String>,
}

/// Checks every team against the config's agents and queues.
pub fn check(config: &Config) -> Result<(), TeamProblem> {
    for (key, t) in &config.teams {
        if !super::users::name_ok(key) {
            return Err(TeamProblem::BadKey(key.clone()));
        }
        if t.name.trim().is_empty() {
            return Err(TeamProblem::NoName(key.clone()));
        }
        if t.agents.is_empty() && t.queues.is_empty() {
            return Err(TeamProblem::Empty(key.clone()));
        }
        if let Some(a) = t
            .agents
            .iter()
            .find(|a| !config.agents.iter().any(|x| &x.id == *a))
        {
            return Err(TeamProblem::UnknownAgent {
                team: key.clone(),
                agent: a.clone(),
            });
        }
        if let Some(q) = t
            .queues
            .iter()
            .find(|q| !config.queues.iter().any(|x| x.id.as_str() == q.as_str()))
        {
            return Err(TeamProblem::UnknownQueue {
                team: key.clone(),
                queue: q.clone(),
            });
        }
    }
    Ok(())
}

fn push_new(list: &mut Vec<String>, item: &str) {
    if !list.iter().any(|x| x == item) {
        list.push(item.to_owned());
    }
}

impl Config {
    /// The scope of a user whose stored scope is `queues` and `teams`: a supervisor of a
    /// team sees the team's agents and queues; one of a queue sees it and the agents
    /// configured in it.
    pub fn scope(&self, queues: &[String], teams: &[String]) -> Scope {
        let mut s = Scope::default();
        for q in queues {
            push_new(&mut s.queues, q);
        }
        for t in teams.iter().filter_map(|t| self.teams.get(t)) {
            for q in &t.queues {
                push_new(&mut s.queues, q);
            }
            for a in &t.agents {
                push_new(&mut s.agents, a);
            }
        }
        for a in &self.agents {
            if a.queues.iter().any(|q| queues.contains(q)) {
                push_new(&mut s.agents, &a.id);
            }
        }
        s
    }

    /// The team keys in `teams` the config does not have.
    pub fn unknown_teams<'a>(&self, teams: &'a [String]) -> Vec<&'a str> {
        teams
            .iter()
            .filter(|t| !self.teams.contains_key(*t))
            .map(String::as_str)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEMO: &str = include_str!("../../config/atende.toml");

    #[test]
    fn the_demo_has_two_teams_and_a_team_scope_resolves_to_its_agents_and_queues() {
        let c = Config::parse(DEMO).expect("demo");
        assert_eq!(c.teams.len(), 2);
        let s = c.scope(&[], &["previdencia".into()]);
        assert_eq!(s.agents, ["1001", "1002"]);
        assert_eq!(s.queues, ["pericia", "beneficios"]);
        // A queue scope brings the agents configured in it.
        let s = c.scope(&["acessibilidade".into()], &["nada".into()]);
        assert_eq!(s.queues, ["acessibilidade"]);
        assert_eq!(s.agents, ["1001", "1005"]);
    }

    #[test]
    fn a_team_naming_an_unknown_agent_or_queue_is_refused() {
        let bad = DEMO.replacen(
            "agents = [\"1001\", \"1002\"]",
            "agents = [\"1001\", \"9999\"]",
            1,
        );
        assert_ne!(bad, DEMO);
        let err = Config::parse(&bad).unwrap_err().to_string();
        assert!(
            err.contains("teams.previdencia") && err.contains("9999"),
            "{err}"
        );
        let bad = DEMO.replacen(
            "queues = [\"pericia\", \"beneficios\"]\n",
            "queues = [\"pericia\", \"nenhuma\"]\n",
            1,
        );
        assert_ne!(bad, DEMO);
        let err = Config::parse(&bad).unwrap_err().to_string();
        assert!(err.contains("nenhuma"), "{err}");
    }
}
