//! `/api/alarms`: which alarms are raised now, and the on-demand check of a day's
//! recordings against its answered calls (supervisors and admins; the role check is in
//! `mod.rs`). The alarm actor (`crate::alarm`) does the check, so the alarm follows it.

use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use tracing::warn;

use super::ApiState;
use crate::alarm::{CheckError, Observation};

pub fn router() -> Router<ApiState> {
    Router::new()
        .route("/alarms", get(list))
        .route("/alarms/recordings-check", post(check_recordings))
}

async fn list() -> Json<serde_json::Value> {
    let alarms: Vec<_> = crate::alarm::gauges()
        .into_iter()
        .map(|(name, raised)| serde_json::json!({ "name": name, "raised": raised }))
        .collect();
    Json(serde_json::json!({ "alarms": alarms }))
}

#[derive(Deserialize)]
struct Day {
    date: String,
}

async fn check_recordings(Query(day): Query<Day>) -> Response {
    if day.date.parse::<jiff::civil::Date>().is_err() {
        let body = serde_json::json!({ "error": "date is YYYY-MM-DD" });
        return (StatusCode::BAD_REQUEST, Json(body)).into_response();
    }
    match crate::alarm::check_recordings(&day.date).await {
        Ok(Observation::RecordingsChecked {
            date,
            answered,
            recorded,
        }) => Json(serde_json::json!({
            "date": date,
            "answered": answered,
            "recorded": recorded,
            "matches": recorded >= answered,
        }))
        .into_response(),
        Ok(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        Err(e) => {
            warn!(error = %e, "alarms: on-demand recordings check failed");
            let status = match e {
                CheckError::NotRunning => StatusCode::SERVICE_UNAVAILABLE,
                CheckError::Failed(_) => StatusCode::SERVICE_UNAVAILABLE,
            };
            let body =
                serde_json::json!({ "error": "the check could not run (database unavailable?)" });
            (status, Json(body)).into_response()
        }
    }
}
