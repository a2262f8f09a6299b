//! The reports' live projector: subscribes to the bus before catching up from the logs,
//! then projects each batch of bus changes from the entries they carry (one fold per open
//! call, `store::reports_live`) and reads the agent log when agents change. Nothing
//! polls: it sleeps on the bus, and it does not wait for the event writer. A lagging
//! subscription or a database error falls back to the catch-up from the watermarks. The
//! projection's rules are `store::reports_projector::Projector`'s.

use std::collections::BTreeSet;
use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;
use tracing::{info, warn};

use crate::bus::{Bus, Change};
use crate::store::agent_log::AgentLog;
use crate::store::reports_live::Live;
use crate::store::reports_projector::Projector;

const RETRY: Duration = Duration::from_secs(1);
/// After the first change of a batch, how long more changes are gathered: under traffic
/// one pass then re-projects many calls and recomputes each touched interval once,
/// instead of once per event. Reports lag the calls by about this much.
const GATHER: Duration = Duration::from_millis(250);

/// Starts the live projector: it subscribes to the bus first, then catches up, then
/// follows the bus.
pub fn spawn(projector: Projector, bus: &Bus, agent_log: Option<AgentLog>) {
    let rx = bus.subscribe();
    let bus = bus.clone();
    tokio::spawn(run(projector, bus, rx, agent_log));
}

async fn run(
    p: Projector,
    bus: Bus,
    mut rx: tokio::sync::broadcast::Receiver<std::sync::Arc<crate::bus::Published>>,
    agent_log: Option<AgentLog>,
) {
    let mut live = Live::new(p.clone());
    let mut behind = true;
    loop {
        if behind {
            live.clear();
            let ready = async {
                p.ensure_basis().await?;
                p.catch_up().await
            };
            match ready.await {
                Ok(()) => behind = false,
                Err(e) => {
                    warn!(error = %e, "reports: catching up failed; retrying");
                    tokio::time::sleep(RETRY).await;
                    continue;
                }
            }
        }
        let first = match rx.recv().await {
            Ok(m) => m,
            Err(RecvError::Lagged(n)) => {
                info!(missed = n, "reports: bus lagged; catching up from the logs");
                behind = true;
                continue;
            }
            Err(RecvError::Closed) => return,
        };
        tokio::time::sleep(GATHER).await;
        // Events at or below this id were published before now: they are in this batch
        // or were caught up (the writer may still hold later ones: the watermark is a
        // lower bound, and nothing waits for the writer here).
        let upto = p.store().max_call_event_id().await;
        let mut events = Vec::new();
        let mut agents = false;
        let mut take = |m: &crate::bus::Published| match &m.change {
            Change::Call(ev) => events.push(ev.clone()),
            Change::Agent(_) => agents = true,
            Change::Queue(_) => {}
        };
        take(&first);
        loop {
            match rx.try_recv() {
                Ok(m) => take(&m),
                Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => behind = true,
                Err(_) => break,
            }
        }
        if behind {
            continue;
        }
        if events.is_empty() && !agents {
            continue;
        }
        if agents && let Some(log) = &agent_log {
            log.flush().await;
        }
        let step = async {
            let acw_calls = if agents {
                p.tail_agents().await?
            } else {
                BTreeSet::new()
            };
            let now_ms = jiff::Timestamp::now().as_millisecond();
            live.pass(events, &acw_calls, upto.ok(), now_ms, bus.event_log())
                .await
        };
        if let Err(e) = step.await {
            warn!(error = %e, "reports: projecting failed; catching up from the logs");
            behind = true;
            tokio::time::sleep(RETRY).await;
        }
    }
}
