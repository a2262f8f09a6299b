//! `/healthz` and `/metrics`: open to probes and Prometheus scrapers, no token.
//!
//! `/metrics` is the Prometheus text format rendered by `metrics-exporter-prometheus`
//! from values recorded through the `metrics` facade at scrape time (the counters live
//! in atomics where they happen; nothing is recorded on a call's path). The floor's
//! figures (queues, agents, service level today) are in `health/floor.rs`.

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use metrics::{counter, describe_counter, describe_gauge, gauge};
use metrics_exporter_prometheus::PrometheusBuilder;

use super::ApiState;

mod floor;
use floor::floor_figures;

pub fn router() -> Router<ApiState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
}

async fn healthz(State(state): State<ApiState>) -> impl IntoResponse {
    let db = state.exchange.event_log.stats().db_available();
    let status = if db {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(serde_json::json!({
            "status": if db { "ok" } else { "degraded" },
            "database": db,
            "active_calls": state.exchange.active_calls(),
        })),
    )
}

/// Everything `/metrics` reports: read first (the floor's figures need the ACD actor and
/// the database), then recorded into a fresh recorder and rendered. A fresh recorder per
/// scrape means a queue removed by a reload disappears from the next scrape, and several
/// servers in one process (tests) never mix their figures.
async fn metrics(State(state): State<ApiState>) -> impl IntoResponse {
    let floor = floor_figures(&state).await;
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::with_local_recorder(&recorder, || {
        server_metrics(&state);
        if let Some(f) = &floor {
            f.record();
        }
        alarms(&state);
    });
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle.render(),
    )
}

/// `atende_alarm` gauges: the alarms module records them here (inside the scrape's
/// recorder scope, like every other metric).
fn alarms(_state: &ApiState) {
    metric(
        "atende_alarm_notices_failed_total",
        "counter",
        "Alarm e-mails or webhooks given up after the last retry.",
        crate::alarm::NOTICES_FAILED_TOTAL.load(Ordering::Relaxed),
    );
    describe_gauge!("atende_alarm", "1 while the alarm is raised.");
    for (name, raised) in crate::alarm::gauges() {
        gauge!("atende_alarm", "name" => name.to_string()).set(f64::from(u8::from(raised)));
    }
}

fn metric(name: &'static str, kind: &str, help: &'static str, value: u64) {
    if kind == "counter" {
        describe_counter!(name, help);
        counter!(name).absolute(value);
    } else {
        describe_gauge!(name, help);
        gauge!(name).set(value as f64);
    }
}

/// The server's own counters (calls, media, recordings, event log, reloads, mail).
fn server_metrics(state: &ApiState) {
    let ex = &state.exchange;
    let m = &ex.media_stats;
    let c = &ex.counters;
    let log = ex.event_log.stats();
    metric(
        "atende_active_calls",
        "gauge",
        "Calls in progress.",
        ex.active_calls() as u64,
    );
    metric(
        "atende_dialog_routes",
        "gauge",
        "Call-IDs whose dialog states are routed to a call (a leak if it outgrows calls).",
        ex.edge().map_or(0, |e| e.dialogs()) as u64,
    );
    metric(
        "atende_calls_offered_total",
        "counter",
        "INVITEs received for new calls.",
        c.offered.load(Ordering::Relaxed),
    );
    metric(
        "atende_calls_rejected_total",
        "counter",
        "New calls refused before answer.",
        c.rejected.load(Ordering::Relaxed),
    );
    for (name, help, counter) in [
        (
            "atende_mail_sent_total",
            "Report mails accepted by the SMTP server.",
            &crate::mail::SENT_TOTAL,
        ),
        (
            "atende_mail_retries_total",
            "Report mail attempts that failed and will be retried.",
            &crate::mail::RETRIES_TOTAL,
        ),
        (
            "atende_mail_failed_total",
            "Report mails given up after the last retry (each one an alarm).",
            &crate::mail::FAILED_TOTAL,
        ),
    ] {
        metric(name, "counter", help, counter.load(Ordering::Relaxed));
    }
    metric(
        "atende_registrations",
        "gauge",
        "Live agent phone registrations.",
        ex.edge().map_or(0, |e| e.registrations()) as u64,
    );
    metric(
        "atende_rtp_packets_received_total",
        "counter",
        "RTP packets received.",
        m.packets_in.load(Ordering::Relaxed),
    );
    metric(
        "atende_rtp_packets_sent_total",
        "counter",
        "RTP packets sent.",
        m.packets_out.load(Ordering::Relaxed),
    );
    metric(
        "atende_rtp_packets_dropped_total",
        "counter",
        "RTP packets not sent (socket full).",
        m.packets_dropped.load(Ordering::Relaxed),
    );
    metric(
        "atende_rtp_packets_invalid_total",
        "counter",
        "Datagrams on RTP ports that were not RTP.",
        m.packets_invalid.load(Ordering::Relaxed),
    );
    metric(
        "atende_rtp_packets_stray_total",
        "counter",
        "Datagrams on shared RTP ports from a source no call leg expects; dropped.",
        m.packets_stray.load(Ordering::Relaxed),
    );
    metric(
        "atende_media_workers_io_uring",
        "gauge",
        "Media worker threads on io_uring; the rest use epoll (kernel older than 6.1, or io_uring blocked, e.g. by a container's seccomp profile).",
        m.workers_io_uring.load(Ordering::Relaxed),
    );
    metric(
        "atende_rtp_receive_rearms_total",
        "counter",
        "io_uring receives armed again after the receive buffers ran out or a socket error; steadily rising means media.threads is too low for the load.",
        m.receive_rearms.load(Ordering::Relaxed),
    );
    metric(
        "atende_recording_errors_total",
        "counter",
        "Recordings that failed (disk full, unwritable).",
        ex.recordings.error_count(),
    );
    let rec = ex.recordings.stats();
    metric(
        "atende_recording_blocks_allocated_total",
        "counter",
        "Audio blocks allocated because none was free (flat in steady state).",
        rec.blocks_allocated,
    );
    metric(
        "atende_recording_blocks_discarded_total",
        "counter",
        "Audio blocks discarded because the writer was behind (heard as silence).",
        rec.blocks_discarded,
    );
    metric(
        "atende_recording_blocks_queued",
        "gauge",
        "Audio blocks waiting for the recording writer (2 KB each; rising means the disk is not keeping up).",
        rec.queued_blocks,
    );
    metric(
        "atende_recording_syncs_total",
        "counter",
        "Syncs of the recordings' filesystems.",
        rec.syncs,
    );
    metric(
        "atende_event_log_backlog",
        "gauge",
        "Call events waiting for the database.",
        log.backlog_len(),
    );
    metric(
        "atende_event_log_written_total",
        "counter",
        "Call events written.",
        log.events_written(),
    );
    metric(
        "atende_event_log_spilled_total",
        "counter",
        "Call events spilled to the local journal.",
        log.spilled(),
    );
    metric(
        "atende_calls_recovered_total",
        "counter",
        "Calls a crash left unfinished, closed at this start (cause server_restart).",
        ex.lifecycle.recovered_calls(),
    );
    metric(
        "atende_database_up",
        "gauge",
        "1 when the database accepts writes.",
        u64::from(log.db_available()),
    );
    let r = &ex.reloads;
    metric(
        "atende_config_reloads_total",
        "counter",
        "Config reloads applied.",
        r.accepted.load(Ordering::Relaxed),
    );
    metric(
        "atende_config_reloads_refused_total",
        "counter",
        "Config reloads refused (the running config stayed).",
        r.refused.load(Ordering::Relaxed),
    );
    metric(
        "atende_config_last_reload_ok",
        "gauge",
        "1 when the last config reload was applied, 0 when it was refused or none ran.",
        u64::from(r.last_ok.load(Ordering::Relaxed)),
    );
}
