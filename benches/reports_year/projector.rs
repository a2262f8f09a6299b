//! The year benchmark's projector comparison: the same short calls' entries through the
//! live pass and through the re-reading pass it replaced, each on its own database with
//! its own event writer, timed.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use atende::events::{EventKind, Party};
use atende::reports::{Definitions, Slotter};
use atende::store::Store;
use atende::store::event::CallEvent;
use atende::store::event_log::{EventLog, EventLogConfig};
use atende::store::reports_live::{Live, PassCounts};
use atende::store::reports_projector::Projector;

use super::{CALLS_PER_PASS, ZONE};

/// A short queued call's entries, in the four passes it spans.
fn stage(p: &str, s: usize) -> Vec<EventKind> {
    use atende::acd::event::AcdEvent;
    use atende::acd::ids::{CallId, QueueId};
    let call = CallId::new(p);
    match s {
        0 => vec![
            EventKind::Offered {
                call_id: format!("{p}@bench"),
                a_number: "27999990000".into(),
                b_number: "08000000000".into(),
                service: "0800".into(),
                source: "127.0.0.1:5060".into(),
                restricted: false,
            },
            EventKind::RecordingStarted {
                path: format!("recordings/{p}.wav"),
            },
            EventKind::Acd {
                event: AcdEvent::QueueEntered {
                    call,
                    queue: QueueId::new("geral"),
                    position: 1,
                    priority: 0,
                },
            },
        ],
        1 => vec![
            EventKind::Acd {
                event: AcdEvent::Answered {
                    call,
                    queue: QueueId::new("geral"),
                    agent: atende::acd::ids::AgentId::new("1001"),
                    waited_ms: 250,
                },
            },
            EventKind::Bridged {
                agent: "1001".into(),
            },
        ],
        2 => vec![EventKind::HungUp {
            by: Party::Caller,
            cause: "normal".into(),
            sip_status: None,
        }],
        _ => vec![EventKind::RecordingFinalized {
            path: format!("recordings/{p}.wav"),
            duration_ms: 500,
            sha256: "00".into(),
        }],
    }
}

/// An event log writer on its own database, as the server runs it.
async fn logged_store(
    url: &str,
    spill: std::path::PathBuf,
) -> Result<(Store, atende::store::event_log::EventLogHandle), String> {
    let store = Store::connect(url).await.map_err(|e| e.to_string())?;
    let log = EventLog::spawn(
        store.clone(),
        EventLogConfig {
            spill_path: spill,
            ..EventLogConfig::default()
        },
    )
    .await
    .map_err(|e| e.to_string())?;
    Ok((store, log))
}

/// Feeds `calls` short calls, `CALLS_PER_PASS` new ones a pass, through the re-reading
/// pass (on `old_url`) and through the live pass (on `new_url`), each database with its
/// own event writer fed the same entries; returns the time each pass spent projecting
/// and the live pass's counts.
pub async fn projector_rate(
    old_url: &str,
    new_url: &str,
    dir: &std::path::Path,
    calls: usize,
) -> Result<(Duration, Duration, PassCounts), String> {
    let (old_store, old_log) = logged_store(old_url, dir.join("old-spill.jsonl")).await?;
    let (new_store, new_log) = logged_store(new_url, dir.join("new-spill.jsonl")).await?;
    let slotter = Slotter::named(ZONE)?;
    let defs = Definitions::default();
    let old_p = Projector::new(old_store, &defs, slotter.clone());
    let new_p = Projector::new(new_store, &defs, slotter);
    old_p.catch_up().await.map_err(|e| e.to_string())?;
    new_p.catch_up().await.map_err(|e| e.to_string())?;
    let mut live = Live::new(new_p);
    let t0 = jiff::Timestamp::now().as_millisecond();
    live.pass(Vec::new(), &BTreeSet::new(), None, t0, None)
        .await
        .map_err(|e| e.to_string())?;
    let passes = calls.div_ceil(CALLS_PER_PASS) + 3;
    let mut next = vec![0u32; calls];
    let (mut old, mut new) = (Duration::ZERO, Duration::ZERO);
    for pass in 0..passes {
        let at = t0 + pass as i64 * 250;
        let mut batch = Vec::new();
        for (c, seq) in next.iter_mut().enumerate() {
            let s = pass as i64 - (c / CALLS_PER_PASS) as i64;
            if !(0..4).contains(&s) {
                continue;
            }
            let proto = format!("20261207-{:06}", c + 1);
            for kind in stage(&proto, s as usize) {
                batch.push(CallEvent {
                    protocol: proto.parse().map_err(|e| format!("{e}"))?,
                    seq: *seq,
                    at_ms: at,
                    kind,
                });
                *seq += 1;
            }
        }
        for ev in &batch {
            old_log.record(ev.clone());
            new_log.record(ev.clone());
        }
        // The re-reading pass (what ran before) waited for its writer, then read the
        // touched calls' logs and intervals back and rewrote them.
        let touched: BTreeSet<String> = batch.iter().map(|e| e.protocol.to_string()).collect();
        let t = Instant::now();
        old_log.flush().await;
        old_p
            .project_calls(&touched)
            .await
            .map_err(|e| e.to_string())?;
        old += t.elapsed();
        // The live pass over the same entries, its writer left to its own pace.
        let t = Instant::now();
        live.pass(batch, &BTreeSet::new(), None, at, Some(&new_log))
            .await
            .map_err(|e| e.to_string())?;
        new += t.elapsed();
    }
    new_log.flush().await;
    Ok((old, new, live.counts))
}
