//! The live path (entries from the bus, folds in memory, one transaction per pass) ends
//! with exactly what a rebuild from the logs writes — with entries of a call arriving out
//! of order, the writer lagging behind the projector, a late registration after the call
//! left memory and after-call work from the agent log.

use std::collections::BTreeSet;

use super::*;
use crate::events::{EventKind, Party};
use crate::reports::Definitions;
use crate::reports::Slotter;
use crate::reports::golden_tests::{expected_day, local};
use crate::store::reports_projector::tests::{agent_ev, snapshot, stored_day};
use crate::store::testing::{TestDb, both_backends};

both_backends!(live_passes_equal_a_rebuild, live_equals_rebuild);
async fn live_equals_rebuild(db: TestDb) {
    let sp = Slotter::named("America/Sao_Paulo").expect("tz");
    let p = Projector::new(db.store.clone(), &Definitions::default(), sp);
    p.catch_up().await.expect("empty catch-up");
    let mut live = Live::new(p.clone());
    let (mut now, late, a) = stored_day();
    let t0 = local("09:00:00");
    db.store
        .write_agent_events(&[
            agent_ev(local("08:00:00"), "logged_out", "available", None, None),
            agent_ev(t0 + 39_999, "available", "on_call", None, Some(&a)),
            agent_ev(t0 + 159_999, "on_call", "wrap_up", None, None),
        ])
        .await
        .expect("agent log");
    // The bus's order: by time; within a batch two tasks' entries of one call may swap.
    now.sort_by_key(|e| (e.at_ms, e.protocol.to_string(), e.seq));
    let batches: Vec<Vec<CallEvent>> = now.chunks(7).map(<[CallEvent]>::to_vec).collect();
    let mut swapped = 0;
    for (i, mut batch) in batches.into_iter().enumerate() {
        if let Some(k) = (1..batch.len()).find(|&k| {
            batch[k].protocol == batch[k - 1].protocol && batch[k].seq == batch[k - 1].seq + 1
        }) {
            batch.swap(k - 1, k);
            swapped += 1;
        }
        let at = batch.iter().map(|e| e.at_ms).max().unwrap_or(0);
        let acw = if i == 0 {
            p.tail_agents().await.expect("agents")
        } else {
            BTreeSet::new()
        };
        // The writer commits this batch only after the pass: the pass must not need it.
        live.pass(batch.clone(), &acw, None, at, None)
            .await
            .expect("pass");
        db.store.write_batch(&batch).await.expect("events");
    }
    assert!(swapped > 0, "the test exercises entries out of order");
    // Later: the wrap-up ends, and A is registered once it has left memory.
    db.store
        .write_agent_events(&[
            agent_ev(t0 + 189_999, "wrap_up", "paused", Some("lanche"), None),
            agent_ev(local("09:45:00"), "paused", "logged_out", None, None),
        ])
        .await
        .expect("agent log");
    let acw = p.tail_agents().await.expect("agents");
    assert!(acw.contains(&a));
    let later = local("23:00:00");
    live.pass(Vec::new(), &acw, None, later, None)
        .await
        .expect("after-call pass");
    let logs_before = live.counts.logs_read;
    assert!(!live.holds(&a), "an ended call leaves memory");
    live.pass(late.clone(), &BTreeSet::new(), None, later + 1, None)
        .await
        .expect("late pass");
    assert_eq!(
        live.counts.logs_read,
        logs_before + 1,
        "a call no longer held is read back once"
    );
    db.store.write_batch(&late).await.expect("late");
    // The agent log names A again with the same after-call work: nothing is read back.
    let logs_before = live.counts.logs_read;
    live.pass(Vec::new(), &acw, None, later + 2, None)
        .await
        .expect("same after-call work");
    assert_eq!(
        live.counts.logs_read, logs_before,
        "unchanged calls are not read back"
    );
    let incremental = snapshot(&db.store).await;

    let rows = db
        .store
        .slot_rows("2026-12-07", "2026-12-07", ALL_QUEUES)
        .await
        .expect("rows");
    let mut total = SlotStats::default();
    for (_, _, _, s) in &rows {
        total.merge(s);
    }
    assert_eq!(total, expected_day());

    p.rebuild(None).await.expect("rebuild");
    assert_eq!(
        snapshot(&db.store).await,
        incremental,
        "a full rebuild gives the live numbers"
    );
}

both_backends!(
    live_passes_write_once_per_pass_and_hold_little,
    counts_per_call
);
/// A steady stream of short calls: each pass writes each touched call once, its agent
/// rows only when they change, its interval once, and reads nothing back.
async fn counts_per_call(db: TestDb) {
    let p = Projector::new(
        db.store.clone(),
        &Definitions::default(),
        Slotter::named("UTC").expect("tz"),
    );
    p.catch_up().await.expect("catch-up");
    let t0 = 1_796_600_000_000i64;
    let mut live = Live::new(p);
    // The first pass after a start looks its calls up (the catch-up may have them).
    live.pass(Vec::new(), &BTreeSet::new(), None, t0, None)
        .await
        .expect("first pass");
    let calls = 200u32;
    let mut held_max = (0usize, 0usize);
    let mut next = vec![0u32; calls as usize];
    // Four passes a call: arrival and queue; answer; hang-up; the recording's end.
    for pass in 0..(calls / 25 + 4) {
        let mut batch = Vec::new();
        for c in 0..calls {
            let stage = i64::from(pass) - i64::from(c / 25);
            if !(0..4).contains(&stage) {
                continue;
            }
            let proto: crate::store::protocol::Protocol =
                format!("20261207-{:06}", c + 1).parse().expect("protocol");
            let at = t0 + i64::from(pass) * 250;
            let q = proto.to_string();
            for kind in stage_kinds(&q, stage) {
                let seq = &mut next[c as usize];
                batch.push(CallEvent {
                    protocol: proto.clone(),
                    seq: *seq,
                    at_ms: at,
                    kind,
                });
                *seq += 1;
            }
        }
        live.pass(
            batch,
            &BTreeSet::new(),
            Some(1),
            t0 + i64::from(pass) * 250,
            None,
        )
        .await
        .expect("pass");
        if live.calls_held() > held_max.0 {
            held_max = (live.calls_held(), live.bytes_held());
        }
    }
    let c = live.counts;
    eprintln!(
        "per call: {:.2} statements, {:.2} rows written, {:.2} facts written, {} logs read, {} flushes; \
         held at most {} calls, {} bytes each",
        c.statements as f64 / f64::from(calls),
        c.rows_written as f64 / f64::from(calls),
        c.facts_written as f64 / f64::from(calls),
        c.logs_read,
        c.flushes,
        held_max.0,
        held_max.1 / held_max.0.max(1)
    );
    assert_eq!(c.logs_read, 0, "nothing read back");
    assert_eq!(c.flushes, 0, "the writer is never waited for");
    assert!(
        c.facts_written <= u64::from(calls) * 4,
        "at most one fact write per call per pass it was touched in"
    );
    // The agent log naming a call the call log does not have writes nothing.
    let unknown: BTreeSet<String> = ["20261207-999999".to_owned()].into();
    live.pass(Vec::new(), &unknown, None, t0, None)
        .await
        .expect("unknown call");
    assert!(
        db.store
            .stored_fact("20261207-999999")
            .await
            .expect("read")
            .is_none()
    );
}

/// A short queued call's entries, stage by stage (one stage a pass).
fn stage_kinds(p: &str, stage: i64) -> Vec<EventKind> {
    use crate::reports::golden_tests::{acd_answered, bridged, hung, queue_entered};
    match stage {
        0 => vec![
            EventKind::Offered {
                call_id: format!("{p}@test"),
                a_number: "27999990000".into(),
                b_number: "08000000000".into(),
                service: "0800".into(),
                source: "127.0.0.1:5060".into(),
                restricted: false,
            },
            EventKind::RecordingStarted {
                path: format!("rec/{p}.wav"),
            },
            queue_entered(p, "q1"),
        ],
        1 => vec![acd_answered(p, "1001", "q1", 250), bridged("1001")],
        2 => vec![hung(Party::Caller)],
        _ => vec![EventKind::RecordingFinalized {
            path: format!("rec/{p}.wav"),
            duration_ms: 500,
            sha256: "00".into(),
        }],
    }
}
