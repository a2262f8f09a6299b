//! The alarm actor: every `check_secs` it looks at the database (a probe query), the free
//! space of the recordings' filesystem, the recorder's failure counter and the last hour's
//! service level, and once a day (after 00:30 local, when the day's late events are in)
//! whether yesterday's answered calls all have a sealed recording. It feeds what it sees
//! to the pure `rules`, publishes the state for `/metrics`, stores it (so a restart neither
//! raises nor clears twice) and hands transitions to `notify`, which stores their notices
//! until sent (and prunes the old sent ones, at start and daily).
//!
//! It owns the `Alarms` state; the API asks it for an on-demand recordings check by
//! message. Checks read the config of the moment, so a reload applies at the next one.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::notify::{Notifier, Pruner};
use super::rules::{AlarmId, Alarms, Observation, Transition};
use crate::config::Config;
use crate::config::alarms::DEFAULT_SERVICE_LEVEL_MIN_CALLS;
use crate::floor::Floor;
use crate::reports::{Kpis, Outcome, SlotStats};
use crate::store::reports::{ALL_QUEUES, FactFilter};
use crate::store::reports_read::ReportContext;
use crate::store::{Store, StoreError};

/// The settings key of the raised alarms (JSON list of names).
const RAISED_KEY: &str = "alarms.raised";
/// The settings key of the last day whose recordings were checked (`YYYY-MM-DD`).
const CHECKED_DAY_KEY: &str = "alarms.recordings_checked_day";
/// A database probe that takes longer than this counts as down.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// Local minutes after midnight before yesterday is checked (late events: surveys, hang-ups).
const DAY_CHECK_AFTER_MIN: i64 = 30;
const MB: u64 = 1_048_576;

/// What the actor is asked by message.
#[derive(Debug)]
pub(super) enum Request {
    /// The recordings check of one day; answers what was seen.
    Recordings(String, oneshot::Sender<Result<Observation, String>>),
    /// An observation made elsewhere (the audit chain's walks).
    Observe(Observation),
}

/// Starts the actor; returns the sender on-demand checks go through.
pub(super) fn spawn(
    floor: Arc<Floor>,
    store: Store,
    cancel: CancellationToken,
) -> mpsc::Sender<Request> {
    let (tx, rx) = mpsc::channel(8);
    tokio::spawn(run(floor, store, rx, cancel));
    tx
}

async fn run(
    floor: Arc<Floor>,
    store: Store,
    mut requests: mpsc::Receiver<Request>,
    cancel: CancellationToken,
) {
    let raised = load_raised(&store).await;
    let mut alarms = Alarms::new(&raised);
    super::publish(&alarms);
    let notifier = Notifier::start(floor.clone(), store.clone());
    let mut pruner = Pruner::default();
    let mut unsaved = false;
    loop {
        let config = floor.config();
        let now = now_ms();
        pruner.run_if_due(&store, now).await;
        let mut transitions = Vec::new();
        for o in observe(&floor, &store, &config, now).await {
            transitions.extend(alarms.observe(&o, now));
        }
        apply(&alarms, &transitions, &notifier, &mut unsaved).await;
        if unsaved {
            unsaved = !save_raised(&store, &alarms, now).await;
        }
        let every = Duration::from_secs(config.alarms.as_ref().map_or(30, |a| a.check_secs));
        let wake = tokio::time::sleep(every);
        tokio::pin!(wake);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = &mut wake => break,
                Some(request) = requests.recv() => {
                    handle(request, &store, &config, &mut alarms, &notifier, &mut unsaved).await;
                }
            }
        }
    }
}

/// Answers one request: an on-demand recordings check, or an observation made elsewhere
/// (stored at once: a raise seen between two checks is not sent twice after a restart).
async fn handle(
    request: Request,
    store: &Store,
    config: &Config,
    alarms: &mut Alarms,
    notifier: &Notifier,
    unsaved: &mut bool,
) {
    match request {
        Request::Observe(o) => {
            let t: Vec<Transition> = alarms.observe(&o, now_ms()).into_iter().collect();
            apply(alarms, &t, notifier, unsaved).await;
            if *unsaved {
                *unsaved = !save_raised(store, alarms, now_ms()).await;
            }
        }
        Request::Recordings(date, reply) => {
            let seen = match ReportContext::for_config(config) {
                Ok(cx) => recordings_of_day(store, &cx, &date)
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e),
            };
            if let Ok(o) = &seen {
                let t: Vec<Transition> = alarms.observe(o, now_ms()).into_iter().collect();
                apply(alarms, &t, notifier, unsaved).await;
            }
            let _ = reply.send(seen);
        }
    }
}

/// Logs and publishes `transitions` and stores their notices (before the state: after a
/// stop between the two, a notice may be sent twice but is never lost).
async fn apply(
    alarms: &Alarms,
    transitions: &[Transition],
    notifier: &Notifier,
    unsaved: &mut bool,
) {
    for t in transitions {
        if t.raised {
            error!(alarm = t.alarm.name(), detail = %t.detail, "alarm raised");
        } else {
            info!(alarm = t.alarm.name(), detail = %t.detail, "alarm cleared");
        }
        notifier.send(t).await;
        *unsaved = true;
    }
    super::publish(alarms);
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

async fn observe(floor: &Floor, store: &Store, config: &Config, now: i64) -> Vec<Observation> {
    let mut seen = Vec::with_capacity(5);
    let up = matches!(
        tokio::time::timeout(PROBE_TIMEOUT, store.setting(RAISED_KEY)).await,
        Ok(Ok(_))
    );
    seen.push(Observation::Database { up });
    let min_free_mb = config.alarms.as_ref().map_or(2048, |a| a.disk_min_free_mb);
    match free_bytes(&config.recording.dir) {
        Ok(free_bytes) => seen.push(Observation::Disk {
            free_bytes,
            min_free_bytes: min_free_mb.saturating_mul(MB),
        }),
        Err(e) => {
            warn!(dir = %config.recording.dir.display(), error = %e, "alarms: free space of the recordings' filesystem unknown")
        }
    }
    seen.push(Observation::RecordingErrors {
        total: floor.recordings.error_count(),
    });
    if !up {
        return seen;
    }
    let cx = match ReportContext::for_config(config) {
        Ok(cx) => cx,
        Err(e) => {
            warn!(error = %e, "alarms: reports' time zone unusable; service level not checked");
            return seen;
        }
    };
    match last_hour_ns(store, config, &cx, now).await {
        Ok(Some(o)) => seen.push(o),
        Ok(None) => {}
        Err(e) => warn!(error = %e, "alarms: last hour's service level not read"),
    }
    match due_day(store, &cx, now).await {
        Ok(Some(day)) => match recordings_of_day(store, &cx, &day).await {
            Ok(o) => {
                seen.push(o);
                if let Err(e) = store.set_setting(CHECKED_DAY_KEY, Some(&day), now).await {
                    warn!(error = %e, "alarms: checked day not stored; it is checked again");
                }
            }
            Err(e) => warn!(day, error = %e, "alarms: recordings of the day not checked"),
        },
        Ok(None) => {}
        Err(e) => warn!(error = %e, "alarms: last checked day not read"),
    }
    seen
}

/// NS of the current and the previous 30-minute interval, with the `[contract]` target.
async fn last_hour_ns(
    store: &Store,
    config: &Config,
    cx: &ReportContext,
    now: i64,
) -> Result<Option<Observation>, StoreError> {
    let Some(target_milli) = config
        .contract
        .contract()
        .ok()
        .and_then(|c| c.table(crate::contract::KpiId::Ns).map(|t| t.target_milli))
    else {
        return Ok(None);
    };
    let since = now - 3_600_000;
    let rows = store
        .slot_rows(&cx.slotter.date(since), &cx.slotter.date(now), ALL_QUEUES)
        .await?;
    let mut stats = SlotStats::default();
    for (_, _, _, s) in rows.iter().filter(|r| r.0 > since && r.0 <= now) {
        stats.merge(s);
    }
    let ns = Kpis::from_stats(&stats, &cx.definitions).ns;
    Ok(Some(Observation::ServiceLevel {
        numerator: ns.numerator,
        denominator: ns.denominator,
        target_milli,
        min_calls: config
            .alarms
            .as_ref()
            .map_or(DEFAULT_SERVICE_LEVEL_MIN_CALLS, |a| {
                a.service_level_min_calls
            }),
    }))
}

/// Yesterday, once it is past 00:30 local and it was not checked yet.
async fn due_day(
    store: &Store,
    cx: &ReportContext,
    now: i64,
) -> Result<Option<String>, StoreError> {
    let today = cx.slotter.date(now);
    let Some(start) = cx.slotter.day_start_ms(&today) else {
        return Ok(None);
    };
    if now - start < DAY_CHECK_AFTER_MIN * 60_000 {
        return Ok(None);
    }
    let yesterday = cx.slotter.date(start - 1);
    let checked = store.setting(CHECKED_DAY_KEY).await?;
    Ok((checked.as_deref() != Some(yesterday.as_str())).then_some(yesterday))
}

/// A day's calls answered by a human, and how many have a sealed recording on disk.
pub(super) async fn recordings_of_day(
    store: &Store,
    cx: &ReportContext,
    date: &str,
) -> Result<Observation, StoreError> {
    let (from_ms, to_ms) = cx.slotter.day_bounds_ms(date).unwrap_or((0, 0));
    let mut filter = FactFilter {
        from_ms,
        to_ms,
        outcome: Some(Outcome::HumanAnswered.as_str().to_owned()),
        queue: None,
        agent: None,
        scope: None,
        after: None,
        limit: 1000,
    };
    let (mut answered, mut recorded) = (0u64, 0u64);
    loop {
        let page = store.fact_page(&filter).await?;
        // An answered call whose record cannot be read (logged where it was read) cannot
        // show its recording: it counts as answered without one, so the day is alarmed.
        answered += page.unreadable.len() as u64;
        for f in &page.facts {
            answered += 1;
            let sealed = match (&f.recording, f.recording_failed) {
                (Some(path), false) => tokio::fs::try_exists(path).await.unwrap_or(false),
                _ => false,
            };
            recorded += u64::from(sealed);
        }
        match page.next(filter.limit) {
            Some(last) => filter.after = Some(last),
            None => break,
        }
    }
    Ok(Observation::RecordingsChecked {
        date: date.to_owned(),
        answered,
        recorded,
    })
}

async fn load_raised(store: &Store) -> Vec<AlarmId> {
    match store.setting(RAISED_KEY).await {
        Ok(Some(json)) => serde_json::from_str::<Vec<String>>(&json)
            .unwrap_or_default()
            .iter()
            .filter_map(|n| AlarmId::from_name(n))
            .collect(),
        Ok(None) => Vec::new(),
        Err(e) => {
            warn!(error = %e, "alarms: state before the restart not read; starting clear");
            Vec::new()
        }
    }
}

/// Whether the state is stored (false: the database is down; tried again next check).
async fn save_raised(store: &Store, alarms: &Alarms, now: i64) -> bool {
    let names: Vec<&str> = alarms.raised().iter().map(|a| a.name()).collect();
    let json = serde_json::to_string(&names).unwrap_or_else(|_| "[]".into());
    store
        .set_setting(RAISED_KEY, Some(&json), now)
        .await
        .is_ok()
}

/// Free bytes for unprivileged users on the filesystem holding `dir`.
fn free_bytes(dir: &Path) -> std::io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is a NUL-terminated string that outlives the call, and `st` points to
    // writable memory of the right type; statvfs fills it on success (checked below).
    let rc = unsafe { libc::statvfs(path.as_ptr(), st.as_mut_ptr()) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: statvfs returned 0, so it initialised the whole struct.
    let st = unsafe { st.assume_init() };
    // The field types differ between targets (u32 on some 32-bit ones).
    #[allow(clippy::useless_conversion)]
    Ok(u64::from(st.f_bavail).saturating_mul(u64::from(st.f_frsize)))
}

#[cfg(test)]
mod tests;
