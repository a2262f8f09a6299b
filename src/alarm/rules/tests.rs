//! The alarm rules: each raised once, cleared once, with hysteresis where a value hovers.

use super::*;

const MB: u64 = 1_048_576;

fn disk(free_mb: u64, min_mb: u64) -> Observation {
    Observation::Disk {
        free_bytes: free_mb * MB,
        min_free_bytes: min_mb * MB,
    }
}

#[test]
fn disk_low_raises_once_and_clears_once_above_the_margin() {
    let mut a = Alarms::new(&[]);
    assert_eq!(a.observe(&disk(5000, 1000), 0), None);
    let t = a.observe(&disk(900, 1000), 1).expect("raised");
    assert!(t.raised && t.alarm == AlarmId::DiskLow);
    assert!(t.detail.contains("900 MB livres"), "{}", t.detail);
    // Still low, or back in the band between the threshold and threshold + 10 %: nothing.
    assert_eq!(a.observe(&disk(800, 1000), 2), None);
    assert_eq!(a.observe(&disk(1050, 1000), 3), None);
    assert_eq!(a.observe(&disk(950, 1000), 4), None);
    let t = a.observe(&disk(1100, 1000), 5).expect("cleared");
    assert!(!t.raised);
    assert_eq!(a.observe(&disk(1100, 1000), 6), None);
    // A threshold of 0 watches nothing.
    assert_eq!(a.observe(&disk(0, 0), 7), None);
}

#[test]
fn database_down_needs_two_failed_probes_and_two_good_ones() {
    let mut a = Alarms::new(&[]);
    let down = Observation::Database { up: false };
    let up = Observation::Database { up: true };
    assert_eq!(a.observe(&down, 0), None);
    assert_eq!(a.observe(&up, 1), None, "one blip is not an outage");
    assert_eq!(a.observe(&down, 2), None);
    assert!(a.observe(&down, 3).expect("raised").raised);
    assert_eq!(a.observe(&down, 4), None);
    assert_eq!(a.observe(&up, 5), None);
    assert!(!a.observe(&up, 6).expect("cleared").raised);
    assert!(!a.is_raised(AlarmId::DatabaseDown));
}

#[test]
fn a_recording_failure_raises_and_clears_after_a_quiet_period() {
    let mut a = Alarms::new(&[]);
    let errs = |total| Observation::RecordingErrors { total };
    assert_eq!(a.observe(&errs(0), 0), None);
    assert!(a.observe(&errs(1), 1000).expect("raised").raised);
    // Another failure while raised: the same alarm, not a second mail.
    assert_eq!(a.observe(&errs(3), 2000), None);
    assert_eq!(a.observe(&errs(3), 2000 + RECORDING_QUIET_MS - 1), None);
    let t = a
        .observe(&errs(3), 2000 + RECORDING_QUIET_MS)
        .expect("cleared");
    assert!(!t.raised);
}

#[test]
fn service_level_is_judged_exactly_with_a_clearing_margin_and_a_minimum_of_calls() {
    let mut a = Alarms::new(&[]);
    let ns = |n, d| Observation::ServiceLevel {
        numerator: n,
        denominator: d,
        target_milli: 90_000,
        min_calls: 10,
    };
    // Below target but too few calls to say anything.
    assert_eq!(a.observe(&ns(1, 9), 0), None);
    // Exactly 90 % meets the target.
    assert_eq!(a.observe(&ns(9, 10), 1), None);
    let t = a
        .observe(&ns(8999, 10_000), 2)
        .expect("89.99 % is under 90 %");
    assert!(t.raised && t.detail.contains("meta 90,0 %"), "{}", t.detail);
    // 91 % is over the target but inside the 2-point margin: still raised.
    assert_eq!(a.observe(&ns(91, 100), 3), None);
    assert!(!a.observe(&ns(92, 100), 4).expect("cleared at 92 %").raised);
}

#[test]
fn a_day_without_all_its_recordings_raises_until_a_day_that_matches() {
    let mut a = Alarms::new(&[]);
    let day = |date: &str, answered, recorded| Observation::RecordingsChecked {
        date: date.into(),
        answered,
        recorded,
    };
    assert_eq!(a.observe(&day("2026-12-05", 10, 10), 0), None);
    let t = a.observe(&day("2026-12-06", 10, 9), 1).expect("raised");
    assert!(t.detail.contains("2026-12-06") && t.detail.contains("9 com gravação"));
    assert!(
        !a.observe(&day("2026-12-07", 4, 4), 2)
            .expect("cleared")
            .raised
    );
}

#[test]
fn alarms_raised_before_a_restart_are_not_raised_again() {
    let mut a = Alarms::new(&[AlarmId::DiskLow]);
    assert!(a.is_raised(AlarmId::DiskLow));
    assert_eq!(a.observe(&disk(10, 1000), 0), None);
    assert!(!a.observe(&disk(5000, 1000), 1).expect("cleared").raised);
    assert_eq!(a.raised(), Vec::<AlarmId>::new());
}

#[test]
fn names_round_trip() {
    for id in AlarmId::ALL {
        assert_eq!(AlarmId::from_name(id.name()), Some(id));
    }
}

#[test]
fn a_broken_audit_chain_raises_once_with_the_id_and_clears_when_it_holds() {
    let walk = |broken_at| Observation::AuditChain {
        rows: 12,
        broken_at,
    };
    let mut a = Alarms::new(&[]);
    assert_eq!(a.observe(&walk(None), 0), None);
    let t = a.observe(&walk(Some(7)), 1).expect("raised");
    assert!(t.raised && t.alarm == AlarmId::AuditChainBroken);
    assert!(t.detail.contains("registro 7"), "{}", t.detail);
    // Every later walk that finds it still broken: nothing more.
    assert_eq!(a.observe(&walk(Some(7)), 2), None);
    assert_eq!(a.observe(&walk(Some(7)), 3), None);
    let t = a.observe(&walk(None), 4).expect("cleared");
    assert!(!t.raised);
}
