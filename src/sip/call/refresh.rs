//! The caller leg towards a gateway: session-timer refreshes both ways (RFC 4028), the
//! peer's re-INVITE/UPDATE answered with the timer's headers, and the BYE atende sends
//! carrying the hang-up cause as a Q.850 `Reason` (RFC 3326).

use rsipstack::dialog::dialog::TransactionHandle;
use rsipstack::sip::{Method, Request, StatusCode};
use tracing::{info, warn};

use super::CallActor;
use crate::call::machine::Input;
use crate::call::machine::LegId;
use crate::events::Party;
use crate::sdp;
use crate::sip::legs::{FinalResponse, LegOutcome};
use crate::sip::request::{self, raw_header};
use crate::sip::session_timer::{self, Due};
use crate::sip::{legs, q850};

/// The outcome "leg" of atende's own session refreshes on the caller's dialog.
pub(super) const REFRESH: LegId = LegId::MAX;

impl CallActor {
    /// Sends the BYE the machine asked for, with `cause` as its Q.850 Reason.
    pub(super) fn send_caller_bye(&mut self, cause: &str) {
        if !std::mem::take(&mut self.bye_caller) {
            return;
        }
        let d = self.caller.clone();
        let reason = raw_header("Reason", q850::reason_header(cause));
        // The drain waits for it: a stop's BYE must leave before the process exits.
        self.ex.lifecycle.spawn(async move {
            let _ = d.bye_with_headers(Some(vec![reason])).await;
        });
    }

    /// The session timer's deadline passed: refresh, or end a call the peer stopped
    /// refreshing.
    pub(super) fn session_timeout(&mut self, now: std::time::Instant) {
        let Some(timer) = self.session.as_mut() else {
            return;
        };
        match timer.due(now) {
            None => {}
            Some(Due::Refresh) => {
                let mut headers = vec![
                    raw_header(
                        "Session-Expires",
                        session_timer::refresh_header(timer.expires()),
                    ),
                    raw_header("Supported", "timer"),
                ];
                let dialog = self.caller.clone();
                let update = self.admitted.peer_allows_update;
                let offer = (!update).then(|| self.current_caller_sdp());
                let outcomes = self.outcome_tx.clone();
                tokio::spawn(async move {
                    let r = match offer {
                        None => dialog.update(Some(headers), None).await,
                        Some(sdp) => {
                            headers.push(raw_header("Content-Type", "application/sdp"));
                            dialog.reinvite(Some(headers), Some(sdp.into_bytes())).await
                        }
                    };
                    let result = match r {
                        Ok(Some(resp)) => Ok((resp.status_code, None)),
                        // The dialog is no longer confirmed: the call is ending anyway.
                        Ok(None) => return,
                        Err(e) => Err(e.to_string()),
                    };
                    let outcome = LegOutcome {
                        leg: REFRESH,
                        result,
                    };
                    let _ = outcomes.send(Box::new(outcome)).await;
                });
            }
            Some(Due::Expired) => {
                info!(protocol = %self.protocol, "session timer expired: ending the call");
                self.session = None;
                self.machine.handle(
                    now,
                    Input::Release {
                        cause: "session_timer_expired".into(),
                    },
                );
            }
        }
    }

    /// How atende's refresh ended. A timeout, 408 or 481 means the session is gone
    /// (RFC 4028 §10): the call ends. Other refusals (491 glare, 501) leave it up; the
    /// next refresh tries again.
    pub(super) fn refresh_outcome(&mut self, now: std::time::Instant, result: FinalResponse) {
        let failed = match &result {
            Ok((status, _)) if status.code() / 100 == 2 => return,
            Ok((status, _)) => {
                warn!(protocol = %self.protocol, status = status.code(), "session refresh refused");
                matches!(status.code(), 408 | 481)
            }
            Err(e) => {
                warn!(protocol = %self.protocol, error = %e, "session refresh failed");
                true
            }
        };
        if failed && self.session.take().is_some() {
            self.machine.handle(
                now,
                Input::Release {
                    cause: "session_timer_expired".into(),
                },
            );
        }
    }

    /// A re-INVITE or UPDATE from the caller's side: a session refresh, hold/resume or a
    /// new media address.
    pub(super) async fn caller_updated(&mut self, req: Request, handle: TransactionHandle) {
        let mut headers = Vec::new();
        if let Some(timer) = self.session.as_mut() {
            let asked = session_timer::read_request(
                request::header(&req, "Session-Expires")
                    .or_else(|| request::header(&req, "x"))
                    .as_deref(),
                &request::header_values(&req, "Supported"),
                &request::header_values(&req, "Require"),
            );
            let now = std::time::Instant::now();
            match timer.peer_refreshed(now, asked.as_ref(), self.admitted.min_se) {
                Ok(value) => {
                    headers.push(raw_header("Session-Expires", value));
                    if asked.is_some_and(|a| a.peer_supports) {
                        headers.push(raw_header("Require", "timer"));
                    }
                }
                Err(min_se) => {
                    let min = vec![raw_header("Min-SE", min_se.to_string())];
                    let _ = handle
                        .respond(StatusCode::SessionIntervalTooSmall, Some(min), None)
                        .await;
                    return;
                }
            }
        }
        if request::sdp_body(&req).is_some() {
            let answer = self.reoffer(&req, Party::Caller).await;
            legs::respond_sdp_with(handle, answer, headers).await;
            return;
        }
        // No offer: a refresh. An UPDATE gets a bare 200; a re-INVITE without SDP asks
        // for our offer, the session as it is.
        let body = (req.method == Method::Invite).then(|| self.current_caller_sdp());
        if body.is_some() {
            headers.push(raw_header("Content-Type", "application/sdp"));
        }
        let r = handle
            .respond(StatusCode::OK, Some(headers), body.map(String::into_bytes))
            .await;
        if r.is_err() {
            warn!(protocol = %self.protocol, "refresh transaction ended before we answered");
        }
    }

    /// The caller leg's SDP as it stands (same version: nothing changed).
    fn current_caller_sdp(&self) -> String {
        let neg = &self.admitted.negotiated;
        sdp::write(
            self.session_id,
            self.sdp_version,
            self.ex.advertised(self.caller_local),
            &[(neg.pt, neg.codec)],
            neg.telephone_event_pt,
            self.admitted.remote.direction.answer(),
        )
    }
}
