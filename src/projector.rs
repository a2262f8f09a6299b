//! The reports' live projector: subscribes to the bus before catching up from the logs,
//! then re-projects the calls each batch of bus changes names (after the event writer has
//! flushed them) and reads the agent log when agents change. Nothing polls: it sleeps on
//! the bus. A lagging subscription or a database error falls back to the catch-up from
//! the watermarks. The projection itself is `store::reports_projector::Projector`.

use std::collections::BTreeSet;
use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;
use tracing::{info, warn};

use crate::bus::{Bus, Change};
use crate::store::StoreError;
use crate::store::agent_log::AgentLog;
use crate::store::reports_projector::{Projector, WM_CALLS};

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
    let mut behind = true;
    loop {
        if behind {
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
        // Events at or below this id were published before now: they are in this batch.
        let upto = p.store().max_call_event_id().await;
        let mut calls = BTreeSet::new();
        let mut agents = false;
        let mut take = |m: &crate::bus::Published| match &m.change {
            Change::Call(ev) => {
                calls.insert(ev.protocol.to_string());
            }
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
        if calls.is_empty() && !agents {
            continue;
        }
        if let Some(log) = bus.event_log() {
            log.flush().await;
        }
        if agents && let Some(log) = &agent_log {
            log.flush().await;
        }
        let step = async {
            if agents {
                calls.extend(p.tail_agents().await?);
            }
            p.project_calls(&calls).await?;
            if let Ok(id) = &upto {
                let wm = p.store().report_watermark(WM_CALLS).await?;
                p.store()
                    .set_report_watermark(WM_CALLS, wm.max(*id))
                    .await?;
            }
            Ok::<(), StoreError>(())
        };
        if let Err(e) = step.await {
            warn!(error = %e, "reports: projecting failed; catching up from the logs");
            behind = true;
            tokio::time::sleep(RETRY).await;
        }
    }
}
