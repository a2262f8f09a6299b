//! Start-up after a crash: every call the previous run left unfinished is closed, from
//! what is known of it.
//!
//! A call with no `hung_up` gets one by `system` with cause `server_restart`, at the last
//! thing known of the call: its last event, or the end of its recording's audio (the
//! recording started at its `recording_started` event, and the audio on disk says how
//! long it ran). A recording neither finalized nor failed is sealed
//! (`recording::seal_after_crash`) and gets its `recording_finalized` event, the same
//! shape a normal finalize logs (or `recording_failed` when the file cannot be sealed).
//!
//! Safe against a crash during recovery itself: sealing a file is idempotent, a call's
//! new events go in ONE transaction with the sequence numbers after its last stored event
//! (a repeated write of the same (protocol, seq) is ignored), and a call that already has
//! them is no longer a candidate. It runs after the event log has replayed its spill
//! journal, so no event of the previous run arrives later under the same numbers.

use std::path::PathBuf;

use tracing::{error, warn};

use crate::events::{EventKind, Party};
use crate::store::event::CallEvent;
use crate::store::protocol::Protocol;
use crate::store::{Store, StoreError};

/// The hang-up cause of a call closed at start-up.
pub const CAUSE: &str = "server_restart";

/// What recovery did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Recovered {
    /// Calls that had no end and got one.
    pub calls: u64,
    /// Recordings sealed (of those calls, or of calls killed while sealing).
    pub recordings: u64,
    /// Recordings that could not be sealed (`recording_failed` logged).
    pub failed_recordings: u64,
}

/// Closes every call left unfinished; logs one line with the counts when there were any.
pub async fn recover(store: &Store) -> Result<Recovered, StoreError> {
    let mut done = Recovered::default();
    for protocol in store.unfinished_calls().await? {
        let events = match close(store, &protocol).await {
            Ok(events) => events,
            Err(e @ StoreError::BadDetail { .. }) => {
                error!(%protocol, error = %e, "cannot read a call left unfinished; it stays open");
                continue;
            }
            Err(e) => return Err(e),
        };
        for ev in &events {
            match &ev.kind {
                EventKind::HungUp { .. } => done.calls += 1,
                EventKind::RecordingFinalized { .. } => done.recordings += 1,
                EventKind::RecordingFailed { .. } => done.failed_recordings += 1,
                _ => {}
            }
        }
    }
    if done != Recovered::default() {
        warn!(
            calls = done.calls,
            recordings_sealed = done.recordings,
            recordings_failed = done.failed_recordings,
            "closed {} calls left unfinished by a crash (cause {CAUSE})",
            done.calls
        );
    }
    Ok(done)
}

/// Seals what one call lacks and stores the events that close it; returns them.
async fn close(store: &Store, protocol: &Protocol) -> Result<Vec<CallEvent>, StoreError> {
    let Some(detail) = store.call_detail(protocol).await? else {
        return Ok(Vec::new());
    };
    let mut hung_up = false;
    let mut recording: Option<(PathBuf, i64)> = None;
    let mut recording_closed = false;
    let mut last_at = 0i64;
    let mut next_seq = 0u32;
    for e in &detail.events {
        last_at = last_at.max(e.at_ms);
        next_seq = next_seq.max(u32::try_from(e.seq + 1).unwrap_or(u32::MAX));
        let kind: EventKind =
            serde_json::from_value(e.detail.clone()).map_err(|source| StoreError::BadDetail {
                protocol: protocol.to_string(),
                seq: e.seq,
                source,
            })?;
        match kind {
            EventKind::HungUp { .. } => hung_up = true,
            EventKind::RecordingStarted { path } => recording = Some((path.into(), e.at_ms)),
            EventKind::RecordingFinalized { .. } | EventKind::RecordingFailed { .. } => {
                recording_closed = true
            }
            _ => {}
        }
    }
    let sealed = match recording.filter(|_| !recording_closed) {
        Some((path, started_at)) => {
            let p = path.clone();
            let result =
                tokio::task::spawn_blocking(move || crate::media::recording::seal_after_crash(&p))
                    .await
                    .map_err(|e| std::io::Error::other(e.to_string()));
            Some(match result {
                Ok(Ok(summary)) => {
                    let end = started_at + summary.duration_ms as i64;
                    last_at = last_at.max(end);
                    EventKind::RecordingFinalized {
                        path: summary.path.display().to_string(),
                        duration_ms: summary.duration_ms as i64,
                        sha256: summary.sha256_hex,
                    }
                }
                Ok(Err(e)) => {
                    warn!(%protocol, error = %e, "recording of a call left unfinished cannot be sealed");
                    EventKind::RecordingFailed {
                        path: path.display().to_string(),
                        error: e.to_string(),
                    }
                }
                Err(e) => EventKind::RecordingFailed {
                    path: path.display().to_string(),
                    error: e.to_string(),
                },
            })
        }
        None => None,
    };
    let hang_up = (!hung_up).then(|| EventKind::HungUp {
        by: Party::System,
        cause: CAUSE.into(),
        sip_status: None,
    });
    let events: Vec<CallEvent> = hang_up
        .into_iter()
        .chain(sealed)
        .enumerate()
        .map(|(i, kind)| CallEvent {
            protocol: protocol.clone(),
            seq: next_seq + i as u32,
            at_ms: last_at,
            kind,
        })
        .collect();
    if !events.is_empty() {
        store.write_batch(&events).await?;
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::recording::RecordingFormat;
    use crate::store::testing::{TestDb, both_backends, event, offered};

    both_backends!(
        calls_left_open_are_closed_once_and_their_recordings_sealed,
        close_twice
    );
    async fn close_twice(db: TestDb) {
        let store = db.store;
        let (open, done, sealing) = ("20261123-000001", "20261123-000002", "20261123-000003");
        let rec = |p: &str| db.dir.path().join(format!("{p}.wav"));
        // Two seconds of audio on disk, the header sized for one (as a kill leaves it).
        for p in [open, sealing] {
            let mut bytes = RecordingFormat::Alaw.header(8000).to_vec();
            bytes.extend(std::iter::repeat_n(0xD5u8, 16_000 * 2 + 1));
            std::fs::write(rec(p), bytes).expect("write");
        }
        let started = |p: &str| EventKind::RecordingStarted {
            path: rec(p).display().to_string(),
        };
        let hung_up = EventKind::HungUp {
            by: Party::Caller,
            cause: "normal".into(),
            sip_status: None,
        };
        store
            .write_batch(&[
                event(open, 0, 1_000, offered("a")),
                event(open, 1, 1_100, started(open)),
                event(open, 2, 1_500, EventKind::Answered),
                event(done, 0, 1_000, offered("b")),
                event(done, 1, 2_000, hung_up.clone()),
                event(sealing, 0, 1_000, offered("c")),
                event(sealing, 1, 1_000, started(sealing)),
                event(sealing, 2, 9_000, hung_up),
            ])
            .await
            .expect("write");
        let first = recover(&store).await.expect("recovery");
        assert_eq!(
            first,
            Recovered {
                calls: 1,
                recordings: 2,
                failed_recordings: 0
            }
        );
        // A second start (or a crash during the first) adds nothing.
        assert_eq!(recover(&store).await.expect("again"), Recovered::default());
        let d = store
            .call_detail(&open.parse().expect("valid"))
            .await
            .expect("query")
            .expect("stored");
        let kinds: Vec<&str> = d.events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "offered",
                "recording_started",
                "answered",
                "hung_up",
                "recording_finalized"
            ]
        );
        let s = &d.summary;
        assert_eq!(s.hangup_by.as_deref(), Some("system"));
        assert_eq!(s.hangup_cause.as_deref(), Some(CAUSE));
        // The audio ran 2 s from the recording's start: later than the last event.
        assert_eq!(s.ended_at_ms, Some(3_100));
        assert_eq!(s.recording_duration_ms, Some(2_000));
        let file = std::fs::read(rec(open)).expect("read");
        use sha2::Digest;
        assert_eq!(
            s.recording_sha256.as_deref(),
            Some(hex::encode(sha2::Sha256::digest(&file)).as_str())
        );
        let sealed = store
            .call_detail(&sealing.parse().expect("valid"))
            .await
            .expect("query")
            .expect("stored");
        assert_eq!(sealed.summary.hangup_cause.as_deref(), Some("normal"));
        assert_eq!(sealed.summary.ended_at_ms, Some(9_000));
        assert_eq!(sealed.summary.recording_duration_ms, Some(2_000));
        assert_eq!(sealed.events.len(), 4);
        let untouched = store
            .call_detail(&done.parse().expect("valid"))
            .await
            .expect("query")
            .expect("stored");
        assert_eq!(untouched.events.len(), 2);
    }
}

#[cfg(test)]
mod interrupted {
    use super::*;
    use crate::media::recording::RecordingFormat;
    use crate::store::testing::{TestDb, both_backends, event, offered};

    both_backends!(
        a_recovery_killed_after_sealing_ends_as_one_that_was_not,
        killed_after_seal
    );
    async fn killed_after_seal(db: TestDb) {
        let store = db.store;
        let (a, b) = ("20261123-000001", "20261123-000002");
        let rec = |p: &str| db.dir.path().join(format!("{p}.wav"));
        let mut bytes = RecordingFormat::Pcm16.header(100).to_vec();
        bytes.extend((0..8000 * 4 + 3).map(|i| (i % 7) as u8));
        for p in [a, b] {
            std::fs::write(rec(p), &bytes).expect("write");
            store
                .write_batch(&[
                    event(p, 0, 1_000, offered(p)),
                    event(
                        p,
                        1,
                        1_000,
                        EventKind::RecordingStarted {
                            path: rec(p).display().to_string(),
                        },
                    ),
                ])
                .await
                .expect("write");
        }
        // The first recovery sealed `a`'s file and died before storing anything.
        crate::media::recording::seal_after_crash(&rec(a)).expect("sealed");
        let done = recover(&store).await.expect("recovery");
        assert_eq!((done.calls, done.recordings), (2, 2));
        let summary = |p: &str| {
            let store = store.clone();
            let p = p.parse().expect("valid");
            async move {
                store
                    .call_detail(&p)
                    .await
                    .expect("query")
                    .expect("stored")
                    .summary
            }
        };
        let (sa, sb) = (summary(a).await, summary(b).await);
        assert_eq!(sa.recording_sha256, sb.recording_sha256);
        assert_eq!(sa.recording_duration_ms, Some(1_000));
        assert_eq!(sa.ended_at_ms, sb.ended_at_ms);
        assert_eq!(
            std::fs::read(rec(a)).expect("a"),
            std::fs::read(rec(b)).expect("b")
        );
    }
}
