//! `GET /api/wallboard[?queue=|?team=]`: what the live wallboard (`web/painel`) shows that the CTI
//! does not carry — today's counters and service level (today and "now"), each agent's
//! production today, the abandoned and lost callers not yet called back, the thresholds of
//! `[wallboard]` and the formulas in force. Read-only.
//!
//! Every figure comes from the reports' projection (`store::reports_read`, the same code
//! as the reports), never from memory, so a restart keeps today's counters. "Now" is the
//! current 30-minute interval and the one before it (the last 30 to 60 minutes), summed
//! from their counters. Who may see what: admins and auditors every queue; supervisors
//! and wallboards their queues (a wallboard listing none, every queue); caller numbers
//! are masked to their last four digits for everyone but admins and auditors.
//! A team (`?team=KEY`, `[teams.KEY]`) is its queues' counters and callers and its own
//! agents; the teams one may pick are a scoped user's own, every team for those who see
//! every queue.
//! The callback list reads at most `MAX_CALLS` of today's calls (the oldest first).

use axum::extract::{Query, State};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};
use tracing::warn;

use super::{ApiError, ApiState};
use crate::config::wallboard::WallboardSettings;
use crate::reports::table::definition_notes;
use crate::reports::{CallFact, Kpis, Outcome, SlotStats};
use crate::store::reports::FactFilter;
use crate::store::reports_read::{self, Queues, ReportContext};
use crate::users::{Principal, Role};

/// Today's calls read for the "not called back" list.
const MAX_CALLS: i64 = 5000;
/// One interval of the reports (30 minutes).
const INTERVAL_MS: i64 = 30 * 60 * 1000;

pub fn router() -> Router<ApiState> {
    Router::new().route("/wallboard", get(wallboard))
}

#[derive(Debug, Deserialize)]
struct Params {
    queue: Option<String>,
    team: Option<String>,
}

/// A team the user may filter on: what pages show, its agents and queues.
#[derive(Debug, Serialize)]
struct TeamChoice {
    team: String,
    name: String,
    agents: Vec<String>,
    queues: Vec<String>,
}

/// Counters and indices of a span.
#[derive(Debug, Serialize)]
struct Figures {
    from_ms: i64,
    to_ms: i64,
    stats: SlotStats,
    kpis: Kpis,
}

/// An agent's production today.
#[derive(Debug, Serialize)]
struct AgentToday {
    agent: String,
    name: String,
    queues: Vec<String>,
    first_login_ms: Option<i64>,
    answered: u64,
    /// Mean handle time (talk, plus after-call work when the TMA includes it), seconds.
    aht_s: Option<f64>,
}

/// A caller who abandoned or was lost and has not been answered since.
#[derive(Debug, Serialize)]
struct NotCalledBack {
    protocol: String,
    arrived_ms: i64,
    caller: String,
    queue: Option<String>,
    outcome: Outcome,
    outcome_label: String,
    subcode: Option<String>,
    wait_ms: i64,
}

#[derive(Debug, Serialize)]
struct Board {
    now_ms: i64,
    date: String,
    timezone: String,
    /// The queue shown (`None`: every queue the user sees).
    queue: Option<String>,
    /// The queues the user may filter on.
    queues: Vec<String>,
    /// The team shown (`None`: no team filter).
    team: Option<String>,
    /// The teams the user may filter on.
    teams: Vec<TeamChoice>,
    settings: WallboardSettings,
    /// The configured pause reasons: the board shows a paused agent's label, not the code.
    pause_reasons: Vec<crate::config::PauseReason>,
    today: Figures,
    now: Figures,
    agents: Vec<AgentToday>,
    not_called_back: Vec<NotCalledBack>,
    /// The definitions in force, and the formulas, in pt-BR.
    notes: Vec<String>,
    formulas: Vec<String>,
}

fn read_error(e: reports_read::ReadError) -> ApiError {
    warn!(error = %e, "wallboard: reading the projection failed");
    ApiError::Database
}

fn figures(from_ms: i64, to_ms: i64, stats: SlotStats, cx: &ReportContext) -> Figures {
    let kpis = Kpis::from_stats(&stats, &cx.definitions);
    Figures {
        from_ms,
        to_ms,
        stats,
        kpis,
    }
}

/// The last four digits, the rest as dots; "restrito" for a private caller.
fn masked(f: &CallFact, full: bool) -> String {
    if f.restricted {
        return crate::floor::RESTRICTED.to_owned();
    }
    if full {
        return f.a_number.clone();
    }
    let n = f.a_number.chars().count();
    let tail: String = f.a_number.chars().skip(n.saturating_sub(4)).collect();
    format!("{}{tail}", "•".repeat(n.saturating_sub(4)))
}

/// Abandoned and lost calls whose number no later call of today reached an agent
/// (an inbound call again, or a callback's leg), newest first.
fn not_called_back(facts: &[CallFact], full: bool) -> Vec<NotCalledBack> {
    let answered_after = |f: &CallFact| {
        facts.iter().any(|g| {
            g.arrived_ms > f.arrived_ms
                && g.a_number == f.a_number
                && g.outcome == Outcome::HumanAnswered
        })
    };
    let mut out: Vec<NotCalledBack> = facts
        .iter()
        .filter(|f| matches!(f.outcome, Outcome::QueueAbandon | Outcome::Lost))
        .filter(|f| !f.callback_leg && !f.internal)
        .filter(|f| f.restricted || !answered_after(f))
        .map(|f| NotCalledBack {
            protocol: f.protocol.clone(),
            arrived_ms: f.arrived_ms,
            caller: masked(f, full),
            queue: f.queue.clone(),
            outcome: f.outcome,
            outcome_label: f.outcome.label_pt().to_owned(),
            subcode: f.subcode.clone(),
            wait_ms: f.wait_ms,
        })
        .collect();
    out.reverse();
    out
}

fn formulas(cx: &ReportContext) -> Vec<String> {
    let d = &cx.definitions;
    let t = d.threshold_ms / 1000;
    let ivr = if d.ns_counts_ivr_abandons {
        " + abandonadas na URA"
    } else {
        ""
    };
    let acw = if d.tma_includes_after_call {
        " + pós-atendimento"
    } else {
        ""
    };
    vec![
        format!(
            "NS = (atendidas em até {t} s + abandonadas na fila em até {t} s) ÷ (atendidas por atendente + abandonadas na fila{ivr} + perdidas)"
        ),
        format!("TAB = abandonadas na fila após {t} s ÷ recebidas"),
        format!("TMA = (conversa{acw}) ÷ atendidas por atendente"),
        "TME = espera das atendidas ÷ atendidas por atendente".to_owned(),
        "Recebidas = oferecidas − não recebidas (ocupado, recusadas)".to_owned(),
        "NS agora = intervalo de 30 min atual + o anterior (últimos 30 a 60 min)".to_owned(),
        "Não retornadas: abandonadas ou perdidas hoje cujo número não foi atendido depois"
            .to_owned(),
    ]
}

async fn wallboard(
    State(state): State<ApiState>,
    Extension(who): Extension<Principal>,
    Query(p): Query<Params>,
) -> Result<impl IntoResponse, ApiError> {
    let config = state.exchange.config();
    let cx = ReportContext::for_config(&config).map_err(|e| {
        warn!(error = %e, "wallboard: no reporting time zone");
        ApiError::Database
    })?;
    let visible: Vec<String> = config
        .queues
        .iter()
        .map(|q| q.id.as_str().to_owned())
        .filter(|q| who.sees_queue(q))
        .collect();
    let all = matches!(who.role, Role::Admin | Role::Auditor)
        || (who.role == Role::Wallboard && who.queues.is_empty());
    let teams: Vec<TeamChoice> = super::reports::team_filter(&who, &config)
        .into_iter()
        .map(|(key, t)| TeamChoice {
            team: key.clone(),
            name: t.name.clone(),
            agents: t.agents.clone(),
            queues: t.queues.clone(),
        })
        .collect();
    let team = match p.team.as_deref() {
        None => None,
        Some(_) if p.queue.is_some() => {
            return Err(ApiError::BadRequest("a queue or a team, not both"));
        }
        Some(t) => match teams.iter().find(|c| c.team == t) {
            Some(c) => Some(c),
            None => {
                let target = format!("GET /api/wallboard?team={t}");
                super::auth::record_denied(&state.auth, &who, &target, "team out of scope").await;
                return Err(ApiError::Forbidden);
            }
        },
    };
    let queues = match (p.queue.as_deref(), team) {
        (_, Some(t)) => Queues::Only(t.queues.clone()),
        (Some(q), None) if who.sees_queue(q) => Queues::Only(vec![q.to_owned()]),
        (Some(q), None) => {
            let target = format!("GET /api/wallboard?queue={q}");
            super::auth::record_denied(&state.auth, &who, &target, "queue out of scope").await;
            return Err(ApiError::Forbidden);
        }
        (None, None) if all => Queues::All,
        (None, None) => Queues::Only(visible.clone()),
    };
    let now_ms = jiff::Timestamp::now().as_millisecond();
    let report = reports_read::today(&state.store, &cx, now_ms, &queues)
        .await
        .map_err(read_error)?;
    let date = report.period.from.clone();
    let (day_start, day_end) = cx.slotter.day_bounds_ms(&date).unwrap_or((now_ms, now_ms));
    let now_from = now_ms - now_ms.rem_euclid(INTERVAL_MS) - INTERVAL_MS;
    let mut recent = SlotStats::default();
    for row in report
        .rows
        .iter()
        .filter(|r| r.start_ms.is_some_and(|s| s >= now_from))
    {
        recent.merge(&row.stats);
    }

    // A team shows its own agents; otherwise the agents configured in the queues shown.
    let shown = |agent: &str, queues_of: &[String]| match (&queues, team) {
        (_, Some(t)) => t.agents.iter().any(|a| a == agent),
        (Queues::All, None) => true,
        (Queues::Only(q), None) => queues_of.iter().any(|a| q.contains(a)),
    };
    let production = reports_read::agent_report(&state.store, &cx, &date, &date, None)
        .await
        .map_err(read_error)?;
    let acw = cx.definitions.tma_includes_after_call;
    let agents = config
        .agents
        .iter()
        .filter(|a| !a.queues.is_empty() && shown(&a.id, &a.queues))
        .map(|a| {
            let row = production
                .rows
                .iter()
                .find(|r| r.agent == a.id && r.date == date);
            let answered = row.map_or(0, |r| r.calls);
            let handle = row.map_or(0, |r| r.talk_ms + if acw { r.after_call_ms } else { 0 });
            AgentToday {
                agent: a.id.clone(),
                name: a.name.clone(),
                queues: a.queues.clone(),
                first_login_ms: row.and_then(|r| r.first_login_ms),
                answered,
                aht_s: (answered > 0).then(|| handle as f64 / 1000.0 / answered as f64),
            }
        })
        .collect();

    let facts = state
        .store
        .fact_page(&FactFilter {
            from_ms: day_start,
            to_ms: day_end,
            outcome: None,
            queue: match &queues {
                Queues::Only(q) if q.len() == 1 => Some(q[0].clone()),
                _ => None,
            },
            agent: None,
            scope: match &queues {
                Queues::All => None,
                Queues::Only(q) => Some(q.clone()),
            },
            after: None,
            limit: MAX_CALLS,
        })
        .await
        .map_err(|e| {
            warn!(error = %e, "wallboard: reading today's calls failed");
            ApiError::Database
        })?;
    let full_numbers = matches!(who.role, Role::Admin | Role::Auditor);

    Ok(Json(Board {
        now_ms,
        timezone: report.period.timezone.clone(),
        queue: p.queue.clone(),
        queues: visible,
        team: team.map(|t| t.team.clone()),
        settings: config.wallboard.clone(),
        pause_reasons: config.acd.pause_reasons(),
        today: figures(day_start, now_ms, report.total.stats.clone(), &cx),
        now: figures(now_from, now_ms, recent, &cx),
        agents,
        not_called_back: not_called_back(&facts.facts, full_numbers),
        notes: definition_notes(&cx.definitions),
        formulas: formulas(&cx),
        date,
        teams,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fact(protocol: &str, at: i64, number: &str, outcome: Outcome) -> CallFact {
        let mut f: CallFact = serde_json::from_value(serde_json::json!({
            "protocol": protocol, "arrived_ms": at, "ended_ms": at + 1, "outcome": "lost",
            "subcode": null, "service": "ura", "queue": "geral", "a_number": number,
            "restricted": false, "callback_leg": false, "queued": true, "ivr_ms": 0,
            "wait_ms": 0, "talk_ms": 0, "hold_ms": 0, "acw_ms": 0, "line_ms": 1,
            "agents": [], "transfers": 0, "hangup_by": null, "hangup_cause": null,
            "registered": false, "survey_answers": 0, "survey_top2": 0,
            "survey_score": null, "recording": null, "recording_failed": false
        }))
        .expect("a fact");
        f.outcome = outcome;
        f
    }

    #[test]
    fn an_abandoned_caller_answered_later_is_no_longer_listed() {
        let facts = [
            fact("1", 10, "61999990001", Outcome::QueueAbandon),
            fact("2", 20, "61999990002", Outcome::Lost),
            fact("3", 30, "61999990001", Outcome::HumanAnswered),
            // Answered before the abandon: does not count as a call back.
            fact("4", 5, "61999990002", Outcome::HumanAnswered),
        ];
        let list = not_called_back(&facts, false);
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].protocol, "2");
        assert_eq!(list[0].caller, "•••••••0002");
        assert_eq!(not_called_back(&facts, true)[0].caller, "61999990002");
    }
}
