//! `GET /api/cti`: upgrades to a websocket and hands it to the hub with its credential
//! (the `atende_session` cookie or a `?ticket=`) and the Origin check's verdict. Refusals
//! happen after the upgrade, as close codes, because a browser cannot read an HTTP status
//! of a failed websocket handshake.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State, WebSocketUpgrade};
use axum::http::{HeaderMap, header};
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;

use super::backend::Credential;
use super::hub::Hub;

/// The session cookie `POST /api/login` sets.
pub const SESSION_COOKIE: &str = "atende_session";

#[derive(Debug, Deserialize)]
struct Params {
    ticket: Option<String>,
}

/// The CTI route (absolute: `/api/cti`), outside the admin bearer guard: it has its own
/// authentication.
pub fn routes<S: Clone + Send + Sync + 'static>(hub: Arc<Hub>) -> Router<S> {
    Router::new()
        .route("/api/cti", get(upgrade))
        .with_state(hub)
}

async fn upgrade(
    State(hub): State<Arc<Hub>>,
    Query(params): Query<Params>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let credential = params
        .ticket
        .filter(|t| !t.is_empty())
        .map(Credential::Ticket)
        .or_else(|| session_cookie(&headers).map(Credential::Session));
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    // A cookie rides along on any page's request, so it counts only from an allowed
    // origin; a ticket was handed to a page of ours, and tools without an Origin may use it.
    let origin_ok = match (&credential, origin) {
        (Some(Credential::Session(_)), None) => false,
        (_, Some(origin)) => hub.origin_allowed(origin, host),
        (_, None) => true,
    };
    // A desktop sends small commands: a 4 KiB read buffer (grown on demand for a larger
    // frame) instead of tungstenite's 128 KiB, allocated up front for every connection,
    // which was most of a connected desktop's memory.
    ws.read_buffer_size(READ_BUFFER)
        .on_upgrade(move |socket| hub.serve(socket, credential, origin_ok))
}

/// The websocket's initial read buffer per connection.
const READ_BUFFER: usize = 4096;

fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_owned())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            "a=1; atende_session=abc; b=2".parse().expect("header"),
        );
        assert_eq!(session_cookie(&headers).as_deref(), Some("abc"));
        headers.insert(header::COOKIE, "atende_session=".parse().expect("header"));
        assert_eq!(session_cookie(&headers), None);
    }
}
