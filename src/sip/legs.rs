//! Helpers of the call actor for its SIP legs: Contact URIs, where to send a request for
//! a registered phone, re-INVITE answers, SIP INFO digits, and closing the recording.
//! Stateless; the actor owns the legs.

use std::net::SocketAddr;
use std::sync::Arc;

use rsipstack::dialog::dialog::TransactionHandle;
use rsipstack::dialog::invite_dialog::InviteDialog;
use rsipstack::sip::{StatusCode, Uri};
use tracing::warn;

use crate::call::machine::LegId;
use crate::events::EventKind;
use crate::floor::call_log::CallLog;
use crate::media::recording::RecordingReceipt;
use crate::sip::exchange::Exchange;
use crate::sip::request;

pub(super) fn contact_uri(ex: &Exchange, user: &str) -> Uri {
    let host = ex.contact_host();
    let text = format!("sip:{user}@{host}");
    Uri::try_from(text.as_str()).unwrap_or_default()
}

pub(super) struct AgentLeg {
    pub(super) dialog: InviteDialog,
    pub(super) call_id: String,
}

pub(super) struct LegOutcome {
    pub(super) leg: LegId,
    pub(super) result: FinalResponse,
}

/// How an outbound INVITE ended: its final status and body, or why there was none.
pub(super) type FinalResponse = Result<(StatusCode, Option<Vec<u8>>), String>;

/// Waits for an outbound INVITE's final response.
pub(super) async fn final_response(
    join: tokio::task::JoinHandle<rsipstack::dialog::invitation::InviteAsyncResult>,
) -> FinalResponse {
    match join.await {
        Ok(Ok((_, Some(resp)))) => Ok((resp.status_code.clone(), Some(resp.body))),
        Ok(Ok((_, None))) => Err("no final response".to_owned()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

/// Waits for the recording writer to close the file, then logs its duration and checksum
/// (or the failure, which also raises the recording alarm).
pub(super) async fn finalize_recording(
    ex: Arc<Exchange>,
    log: CallLog,
    receipt: Option<RecordingReceipt>,
) {
    let Some(receipt) = receipt else {
        return;
    };
    match receipt.await {
        Ok(summary) => log.record(EventKind::RecordingFinalized {
            path: summary.path.display().to_string(),
            duration_ms: summary.duration_ms as i64,
            sha256: summary.sha256_hex,
        }),
        Err(e) => {
            warn!(protocol = %log.protocol, error = %e, "recording failed");
            log.record(EventKind::RecordingFailed {
                path: ex.recording_path(&log.protocol).display().to_string(),
                error: e.to_string(),
            });
        }
    }
}

/// Where to send a request for a registered contact. A phone whose Contact names another
/// address than the one its REGISTER came from sits behind NAT: the source address is the
/// one that reaches it. Otherwise the Contact is right (it may use a separate port).
pub(super) fn route_target(binding: &crate::sip::location::Binding) -> SocketAddr {
    let contact = binding
        .contact
        .split_once('@')
        .map(|(_, rest)| rest)
        .unwrap_or(binding.contact.as_str());
    let hostport = contact
        .trim_start_matches("sip:")
        .split([';', '>', '?'])
        .next()
        .unwrap_or("");
    match hostport.parse::<SocketAddr>() {
        Ok(addr) if addr.ip() == binding.received.ip() => addr,
        _ => match hostport.parse::<std::net::IpAddr>() {
            Ok(ip) if ip == binding.received.ip() => SocketAddr::new(ip, 5060),
            _ => binding.received,
        },
    }
}

pub(super) async fn respond_sdp(handle: TransactionHandle, answer: Option<String>) {
    respond_sdp_with(handle, answer, Vec::new()).await
}

/// As `respond_sdp`, adding `headers` (a session timer's) to a 200.
pub(super) async fn respond_sdp_with(
    handle: TransactionHandle,
    answer: Option<String>,
    mut headers: Vec<rsipstack::sip::Header>,
) {
    let r = match answer {
        Some(sdp) => {
            headers.push(request::raw_header("Content-Type", "application/sdp"));
            handle
                .respond(StatusCode::OK, Some(headers), Some(sdp.into_bytes()))
                .await
        }
        None => handle.reply(StatusCode::NotAcceptableHere).await,
    };
    if r.is_err() {
        warn!("re-INVITE transaction ended before we answered");
    }
}

/// A digit from SIP INFO: `application/dtmf-relay` ("Signal=5") or `application/dtmf` ("5").
pub(super) fn info_digit(body: &[u8]) -> Option<char> {
    let body = std::str::from_utf8(body).ok()?;
    let value = body
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once('=')?;
            k.trim().eq_ignore_ascii_case("signal").then_some(v.trim())
        })
        .unwrap_or(body.trim());
    let c = value.chars().next()?;
    (value.len() == 1 && (c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D'))).then_some(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_info_digits_in_both_formats() {
        assert_eq!(info_digit(b"Signal=5\r\nDuration=160\r\n"), Some('5'));
        assert_eq!(info_digit(b"#"), Some('#'));
        assert_eq!(info_digit(b"Signal=55"), None);
        assert_eq!(info_digit(&[0xff, 0xfe]), None);
    }
}
