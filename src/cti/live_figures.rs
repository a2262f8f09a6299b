//! Today's figures for the CTI on the running server: an agent's own and the group's
//! (answered, talk, average handling time) from the day's agent log, next to the
//! contract's targets. The day's rows are read once for all the desktops asking together
//! (`DayRead`), after the agent log has written what it queued.

use std::collections::BTreeMap;
use std::sync::Arc;

use tracing::{info, warn};

use super::live::Live;
use super::protocol::Figures;
use crate::users::{Principal, Role};

/// Agent-log rows read for one day's figures at most.
const FIGURES_ROWS: i64 = 200_000;
/// How long the figures wait for the agent log's queued entries to be written.
const FLUSH_WAIT: std::time::Duration = std::time::Duration::from_millis(400);

/// The day's agent-log rows, read once for all the desktops that want figures at about the
/// same time: an agent's call ending moves the figures of every desktop that sees the
/// agent, and 1,000 desktops reading the day each would be 1,000 reads in step. A caller
/// takes the last read if it began after the caller asked (so it includes what moved the
/// figures), else makes the next one; callers wait for each other, so a burst of any size
/// costs at most two reads.
#[derive(Default)]
pub struct DayRead {
    last: tokio::sync::Mutex<Option<LastRead>>,
}

struct LastRead {
    began: std::time::Instant,
    from_ms: i64,
    rows: Arc<Vec<crate::store::agent_log::AgentEvent>>,
}

impl Live {
    /// Today's agent-log rows from `from` (local midnight) on, shared (`DayRead`).
    async fn day_rows(&self, from: i64) -> Option<Arc<Vec<crate::store::agent_log::AgentEvent>>> {
        let asked = std::time::Instant::now();
        let mut last = self.day.last.lock().await;
        if let Some(l) = last.as_ref()
            && l.began >= asked
            && l.from_ms == from
        {
            return Some(l.rows.clone());
        }
        let began = std::time::Instant::now();
        // The agent change that moved the figures was queued to the agent log before it
        // was published: read after it is written, or a call's end would show the
        // figures from before it (bounded: a database down must not hold the desktop).
        if let Some(log) = &self.agent_log
            && tokio::time::timeout(FLUSH_WAIT, log.flush()).await.is_err()
        {
            info!("CTI figures: the agent log is behind; figures may lag");
        }
        let to = jiff::Timestamp::now().as_millisecond() + 1;
        let rows = match self.store.agent_events(None, from, to, FIGURES_ROWS).await {
            Ok(r) => Arc::new(r),
            Err(e) => {
                warn!(error = %e, "CTI figures: the agent log is unreadable");
                return None;
            }
        };
        *last = Some(LastRead {
            began,
            from_ms: from,
            rows: rows.clone(),
        });
        Some(rows)
    }

    pub(super) async fn today(&self, who: &Principal) -> Option<Figures> {
        // "Today" in the server's configured time zone (the floor's working day).
        let config = self.floor.config();
        let tz = jiff::tz::TimeZone::get(&config.timezone).unwrap_or(jiff::tz::TimeZone::UTC);
        let now = jiff::Timestamp::now();
        let midnight = tz
            .to_datetime(now)
            .date()
            .to_datetime(jiff::civil::Time::midnight());
        let from = tz.to_timestamp(midnight).ok()?.as_millisecond();
        let rows = self.day_rows(from).await?;
        // The group: for an agent in a team (`[teams]`), the agents of their teams; for
        // one in no team, agents sharing a queue the user sees or one of the agent's own;
        // for a supervisor, the agents of their scope (a team's only).
        let team_mates: Vec<&str> = who
            .agent
            .as_deref()
            .map(|me| {
                config
                    .teams
                    .values()
                    .filter(|t| t.agents.iter().any(|a| a == me))
                    .flat_map(|t| t.agents.iter().map(String::as_str))
                    .collect()
            })
            .unwrap_or_default();
        let own_queues: Vec<&str> = who
            .agent
            .as_deref()
            .and_then(|me| config.agents.iter().find(|a| a.id == me))
            .map(|a| a.queues.iter().map(|q| q.as_str()).collect())
            .unwrap_or_default();
        let in_group = |agent: &str| {
            config
                .agents
                .iter()
                .find(|a| a.id == agent)
                .is_some_and(|a| {
                    if who.role != Role::Agent {
                        return who.sees_agent(&a.id, &a.queues);
                    }
                    if !team_mates.is_empty() {
                        return team_mates.contains(&a.id.as_str());
                    }
                    a.queues
                        .iter()
                        .any(|q| who.sees_queue(q.as_str()) || own_queues.contains(&q.as_str()))
                })
        };
        let mut own = Tally::default();
        let mut group = Tally::default();
        for e in rows.iter() {
            let mine = who.agent.as_deref() == Some(e.agent.as_str());
            for (t, yes) in [(&mut own, mine), (&mut group, in_group(&e.agent))] {
                if !yes {
                    continue;
                }
                if e.to_state == "on_call" {
                    t.answered += 1;
                }
                if e.from_state == "on_call" {
                    t.talk_ms += e.in_previous_ms;
                    t.ended += 1;
                }
                if e.from_state == "wrap_up" {
                    t.wrap_ms += e.in_previous_ms;
                }
            }
        }
        Some(Figures {
            own: own.figures(),
            group: group.figures(),
            targets: contract_targets(&config.contract),
        })
    }
}

/// The contract's targets shown next to the figures, from `[contract]` (the tender's
/// by default: NS ≥ 90 %, TAB ≤ 7 %, TMA ≤ 481 s, IAR ≥ 90 %, ISA ≥ 80 %). Rates are
/// fractions, TMA in milliseconds. A `[contract]` the server started with is valid; should
/// it not be, the figures go without targets rather than with invented ones.
fn contract_targets(
    settings: &crate::contract::ContractSettings,
) -> BTreeMap<String, serde_json::Value> {
    use crate::contract::KpiId;
    let Ok(contract) = settings.contract() else {
        return BTreeMap::new();
    };
    // Percent tables count in thousandths of a percent; TMA's in milliseconds.
    let fraction = |id: KpiId| {
        contract
            .table(id)
            .map(|t| serde_json::Value::from(t.target_milli as f64 / 100_000.0))
    };
    [
        ("service_level", fraction(KpiId::Ns)),
        ("abandon_rate", fraction(KpiId::Tab)),
        (
            "aht_ms",
            contract
                .table(KpiId::Tma)
                .map(|t| serde_json::Value::from(t.target_milli)),
        ),
        ("registration_rate", fraction(KpiId::Iar)),
        ("satisfaction_rate", fraction(KpiId::Isa)),
    ]
    .into_iter()
    .filter_map(|(k, v)| Some((k.to_owned(), v?)))
    .collect()
}

/// One day's counts for an agent or a group.
#[derive(Default)]
struct Tally {
    answered: u64,
    /// Calls whose talk ended (the AHT's denominator).
    ended: u64,
    talk_ms: i64,
    wrap_ms: i64,
}

impl Tally {
    fn figures(&self) -> BTreeMap<String, serde_json::Value> {
        let mut m = BTreeMap::new();
        m.insert("answered".into(), self.answered.into());
        m.insert("talk_ms".into(), self.talk_ms.into());
        if self.ended > 0 {
            // Average handling time: talk plus after-call work, per call handled.
            let aht = (self.talk_ms + self.wrap_ms) / self.ended as i64;
            m.insert("aht_ms".into(), aht.into());
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::contract_targets;
    use crate::contract::{BandSettings, ContractSettings, KpiSettings};

    #[test]
    fn the_desktop_targets_are_the_contract_in_force() {
        let tender = contract_targets(&ContractSettings::default());
        assert_eq!(tender["service_level"], 0.9);
        assert_eq!(tender["abandon_rate"], 0.07);
        assert_eq!(tender["aht_ms"], 481_000);
        assert_eq!(tender["registration_rate"], 0.9);
        assert_eq!(tender["satisfaction_rate"], 0.8);

        let settings = ContractSettings {
            tma: Some(KpiSettings {
                target: 420.0,
                bands: vec![BandSettings {
                    limit: None,
                    discount: 1.0,
                }],
            }),
            ..ContractSettings::default()
        };
        assert_eq!(contract_targets(&settings)["aht_ms"], 420_000);
    }
}
