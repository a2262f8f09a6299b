//! The floor on `/metrics`, for external alerting: per queue the callers waiting, the
//! longest wait, agents logged in and available, and the service level today; agents by
//! state. Read from the ACD actor's published snapshot (the same the CTI sends) and from
//! the reports' projection (the same figures as `/api/reports/today`), so an alert and
//! the wallboard agree. A queue with no service-level denominator yet has no
//! `atende_service_level_today` series (never a made-up 0 or 100 %).

use metrics::{describe_gauge, gauge};
use tracing::warn;

use super::super::ApiState;
use crate::store::reports_read::{self, Queues, ReportContext};

use crate::bus::AgentState;

/// Agent states, in the order the exposition lists them (each always present, 0 or not).
const STATES: [(AgentState, &str); 6] = [
    (AgentState::LoggedOut, "logged_out"),
    (AgentState::Available, "available"),
    (AgentState::Ringing, "ringing"),
    (AgentState::OnCall, "on_call"),
    (AgentState::WrapUp, "wrap_up"),
    (AgentState::Paused, "paused"),
];

pub(super) struct QueueFigures {
    queue: String,
    waiting: f64,
    longest_wait_secs: f64,
    staffed: f64,
    available: f64,
    /// Service level today as a ratio (0..1); `None` without a denominator.
    service_level: Option<f64>,
}

pub(super) struct FloorFigures {
    queues: Vec<QueueFigures>,
    agents: [f64; STATES.len()],
    /// Every queue together (`queue="*"`).
    service_level: Option<f64>,
}

async fn service_level(state: &ApiState, cx: &ReportContext, now: i64, q: Queues) -> Option<f64> {
    match reports_read::today(&state.store, cx, now, &q).await {
        Ok(r) => r.total.kpis.ns.percent.map(|p| p / 100.0),
        Err(e) => {
            warn!(error = %e, "metrics: today's service level unreadable");
            None
        }
    }
}

/// What the ACD and the projection say now; `None` without an ACD.
pub(super) async fn floor_figures(state: &ApiState) -> Option<FloorFigures> {
    let acd = state.exchange.acd.as_ref()?;
    let snapshot = acd.snapshot().await?;
    let now = jiff::Timestamp::now().as_millisecond();
    let cx = ReportContext::for_config(&state.exchange.config()).ok();
    let mut agents = [0.0; STATES.len()];
    for a in &snapshot.agents {
        if let Some(i) = STATES.iter().position(|(s, _)| *s == a.state) {
            agents[i] += 1.0;
        }
    }
    let mut queues = Vec::with_capacity(snapshot.queues.len());
    for q in &snapshot.queues {
        let sl = match &cx {
            Some(cx) => service_level(state, cx, now, Queues::Only(vec![q.queue.clone()])).await,
            None => None,
        };
        queues.push(QueueFigures {
            queue: q.queue.clone(),
            waiting: q.waiting as f64,
            longest_wait_secs: q
                .oldest_since_ms
                .map_or(0.0, |since| (now - since).max(0) as f64 / 1000.0),
            staffed: q.staffed as f64,
            available: q.available as f64,
            service_level: sl,
        });
    }
    let service_level = match &cx {
        Some(cx) => service_level(state, cx, now, Queues::All).await,
        None => None,
    };
    Some(FloorFigures {
        queues,
        agents,
        service_level,
    })
}

impl FloorFigures {
    /// Records into the scrape's recorder.
    pub(super) fn record(&self) {
        describe_gauge!(
            "atende_queue_waiting",
            "Callers waiting in the queue for an agent."
        );
        describe_gauge!(
            "atende_queue_longest_wait_seconds",
            "How long the queue's longest-waiting caller has waited (0 when nobody waits)."
        );
        describe_gauge!(
            "atende_queue_agents_staffed",
            "Agents logged in to the queue."
        );
        describe_gauge!(
            "atende_queue_agents_available",
            "Agents of the queue available for a call now."
        );
        describe_gauge!(
            "atende_service_level_today",
            "Service level (NS) today as a ratio 0..1, as the reports compute it (docs/reports.md); queue=\"*\" is every queue; absent until a call counts."
        );
        describe_gauge!("atende_agents", "Configured ACD agents by state.");
        for q in &self.queues {
            let queue = q.queue.clone();
            gauge!("atende_queue_waiting", "queue" => queue.clone()).set(q.waiting);
            gauge!("atende_queue_longest_wait_seconds", "queue" => queue.clone())
                .set(q.longest_wait_secs);
            gauge!("atende_queue_agents_staffed", "queue" => queue.clone()).set(q.staffed);
            gauge!("atende_queue_agents_available", "queue" => queue.clone()).set(q.available);
            if let Some(sl) = q.service_level {
                gauge!("atende_service_level_today", "queue" => queue).set(sl);
            }
        }
        if let Some(sl) = self.service_level {
            gauge!("atende_service_level_today", "queue" => "*").set(sl);
        }
        for ((_, state), n) in STATES.iter().zip(self.agents) {
            gauge!("atende_agents", "state" => *state).set(n);
        }
    }
}
