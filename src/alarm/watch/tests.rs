//! The actor's readings against both databases: the last hour's NS from the stored
//! intervals (older intervals left out) judged against `[contract]`'s target, and a day's
//! answered calls against their recordings.

use super::*;
use crate::reports::{CallFact, Outcome, SlotKey};
use crate::store::testing::{TestDb, both_backends};

fn config() -> Config {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/atende.toml"))
        .expect("shipped config");
    Config::parse(&text).expect("shipped config parses")
}

both_backends!(
    the_last_hours_service_level_comes_from_the_stored_intervals,
    last_hour
);
async fn last_hour(db: TestDb) {
    let config = config();
    let cx = ReportContext::for_config(&config).expect("zone");
    let now = jiff::Timestamp::now().as_millisecond();
    let put = |at: i64, within: u64, beyond: u64| {
        let store = db.store.clone();
        let key: SlotKey = cx.slotter.slot(at);
        async move {
            let stats = SlotStats {
                answered_within: within,
                answered_beyond: beyond,
                ..SlotStats::default()
            };
            store
                .put_slot(&key, &[(ALL_QUEUES.to_owned(), stats)])
                .await
                .expect("slot stored");
        }
    };
    // This half hour: 5 of 11 within the threshold; two hours ago: 100 of 100 (not counted).
    put(now, 5, 6).await;
    put(now - 2 * 3_600_000, 100, 0).await;
    let seen = last_hour_ns(&db.store, &config, &cx, now)
        .await
        .expect("read")
        .expect("a target");
    assert_eq!(
        seen,
        Observation::ServiceLevel {
            numerator: 5,
            denominator: 11,
            target_milli: 90_000,
            min_calls: 10,
        }
    );
    let mut alarms = Alarms::new(&[]);
    assert!(alarms.observe(&seen, now).expect("raised").raised);
}

both_backends!(
    a_days_answered_calls_are_matched_with_sealed_recordings,
    recordings
);
async fn recordings(db: TestDb) {
    let config = config();
    let cx = ReportContext::for_config(&config).expect("zone");
    let (start, _) = cx.slotter.day_bounds_ms("2026-12-01").expect("a day");
    let sealed = db.dir.path().join("sealed.wav");
    std::fs::write(&sealed, b"RIFF").expect("a recording file");
    let fact = |n: u32, recording: Option<&Path>, failed: bool, outcome: Outcome| {
        let mut f = crate::reports::project(&format!("20261201-{n:06}"), &[], 0);
        f.arrived_ms = start + i64::from(n) * 60_000;
        f.outcome = outcome;
        f.recording = recording.map(|p| p.display().to_string());
        f.recording_failed = failed;
        f
    };
    let facts: [CallFact; 4] = [
        fact(1, Some(&sealed), false, Outcome::HumanAnswered),
        fact(
            2,
            Some(&db.dir.path().join("gone.wav")),
            false,
            Outcome::HumanAnswered,
        ),
        fact(3, Some(&sealed), true, Outcome::HumanAnswered),
        fact(4, None, false, Outcome::IvrAbandon),
    ];
    for f in &facts {
        db.store
            .put_fact(f, &cx.slotter.slot(f.arrived_ms))
            .await
            .expect("fact stored");
    }
    let seen = recordings_of_day(&db.store, &cx, "2026-12-01")
        .await
        .expect("read");
    // Three answered; one has its file (the second's is gone, the third's failed).
    assert_eq!(
        seen,
        Observation::RecordingsChecked {
            date: "2026-12-01".into(),
            answered: 3,
            recorded: 1,
        }
    );
}
