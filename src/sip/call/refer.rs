//! REFER from the bridged agent's phone (its transfer key, RFC 3515): a blind transfer
//! by the phone takes the same path as the floor registry's blind transfer
//! (`commands::blind_transfer`), so the caller keeps their one recording.
//!
//! The REFER is answered 202 and its implicit subscription gets two NOTIFYs with a
//! `message/sipfrag` body: `100 Trying`, then `200 OK` once the caller is on the way to
//! the target, or `404 Not Found` / `603 Declined` (the call stays as it was). The
//! transferor's leg is hung up after the last NOTIFY.
//!
//! `Refer-To` names an agent (their id), a queue (its id), `survey` (the call's
//! satisfaction survey: the agent's part ends there) or, with `[outbound]`, an external
//! number (digits). An attended REFER (`Replaces`) names the agent's internal call to a
//! colleague (`internal`): `replaces` joins the caller to that colleague. One that names
//! no dialog of ours is answered 481, one naming another agent's call 403, a colleague who
//! has not answered 603 — each logged, and the call goes on as it was. Limits: a REFER
//! from a leg that is not the bridged one is refused (603); each NOTIFY waits for its
//! answer at most `NOTIFY_WAIT` inside the call's task.

use std::time::Duration;

use rsipstack::dialog::dialog::TransactionHandle;
use rsipstack::sip::{Header, Request, StatusCode};
use tracing::{info, warn};

use super::CallActor;
use crate::call::machine::LegId;
use crate::config::Config;
use crate::floor::calls::{CommandError, TransferTarget};
use crate::sip::handover::LegParcel;
use crate::sip::request;

/// The `Refer-To` user that sends the caller to the call's satisfaction survey.
const SURVEY: &str = "survey";

/// How long one NOTIFY may hold the call's task waiting for the phone's answer.
const NOTIFY_WAIT: Duration = Duration::from_secs(2);

/// A REFER answered 202, waiting for its 202 to leave.
#[derive(Debug)]
pub(super) struct AcceptedRefer {
    leg: LegId,
    /// `None`: the target is unknown (NOTIFY 404).
    to: Option<TransferTarget>,
    /// An attended REFER's colleague, already handed over by their internal call.
    replacing: Option<Box<LegParcel>>,
}

/// Where a `Refer-To` URI's user part sends the caller: an agent, a queue, or (with
/// `[outbound]`) a number; `None` when it names nothing atende knows.
pub(super) fn refer_target(user: &str, config: &Config) -> Option<TransferTarget> {
    if config.agents.iter().any(|a| a.id == user) {
        return Some(TransferTarget::Agent(user.to_owned()));
    }
    if config.queues.iter().any(|q| q.id.as_str() == user) {
        return Some(TransferTarget::Queue(user.to_owned()));
    }
    if user == SURVEY {
        return Some(TransferTarget::Survey);
    }
    let digits = !user.is_empty() && user.chars().all(|c| c.is_ascii_digit());
    (digits && config.outbound.is_some()).then(|| TransferTarget::Number(user.to_owned()))
}

/// The user part of a SIP URI (`sip:2002@host;x` → `2002`), without a query.
pub(super) fn uri_user(uri: &str) -> Option<&str> {
    let rest = uri
        .strip_prefix("sip:")
        .or_else(|| uri.strip_prefix("sips:"))?;
    let user = rest.split('@').next()?;
    // No `@`: the URI names a host, not a user.
    if user.len() == rest.len() {
        return None;
    }
    Some(user.split(';').next().unwrap_or(user))
}

/// The sipfrag status line of a REFER's NOTIFY.
fn sipfrag(status: u16) -> &'static str {
    match status {
        100 => "SIP/2.0 100 Trying",
        200 => "SIP/2.0 200 OK",
        404 => "SIP/2.0 404 Not Found",
        _ => "SIP/2.0 603 Declined",
    }
}

impl CallActor {
    /// A REFER on an agent leg (`call_id`).
    pub(super) async fn on_agent_refer(
        &mut self,
        call_id: &str,
        req: Request,
        handle: TransactionHandle,
    ) {
        let leg = self.leg_by_call_id(call_id);
        if leg.is_none() || leg != self.machine.bridged_leg() {
            info!(protocol = %self.protocol, "REFER from a leg not in talk: declined");
            let _ = handle.reply(StatusCode::Decline).await;
            return;
        }
        let Some(leg) = leg else { return };
        let Some(value) = request::header(&req, "Refer-To") else {
            let _ = handle.reply(StatusCode::BadRequest).await;
            return;
        };
        let target = rsipstack::sip::event_packages::parse_refer_to(&value);
        let mut replacing = None;
        if let Some(value) = target.replaces.as_deref() {
            match self.take_replaced(value).await {
                Ok(parcel) => replacing = Some(parcel),
                Err(status) => {
                    let _ = handle.reply(status).await;
                    return;
                }
            }
        }
        let to = uri_user(&target.uri).and_then(|u| refer_target(u, &self.admitted.config));
        // The NOTIFYs wait for the dialog to confirm the 202 is sent: a phone may not
        // take a NOTIFY that overtakes it.
        self.refer = Some(AcceptedRefer { leg, to, replacing });
        let _ = handle.reply(StatusCode::Accepted).await;
    }

    /// The agent leg `call_id` is confirmed again: a 202 to its REFER was sent.
    pub(super) async fn on_agent_confirmed(&mut self, call_id: &str) {
        let leg = self.leg_by_call_id(call_id);
        let Some(AcceptedRefer { leg, to, replacing }) = self.refer.take_if(|r| Some(r.leg) == leg)
        else {
            return;
        };
        self.notify_refer(leg, 100).await;
        // The transfer key was pressed while the call changed hands: nothing to do.
        if self.machine.bridged_leg() != Some(leg) {
            if let Some(p) = replacing {
                self.drop_parcel(*p);
            }
            self.notify_refer(leg, 603).await;
            return;
        }
        if let Some(p) = replacing {
            let status = self.join_replaced(*p).await;
            self.notify_refer(leg, status).await;
            return;
        }
        let Some(to) = to else {
            // The target is the phone's typing: logged as unknown, not echoed.
            info!(protocol = %self.protocol, "REFER to an unknown target");
            self.notify_refer(leg, 404).await;
            return;
        };
        match self.blind_transfer(to).await {
            Ok(()) => self.notify_refer(leg, 200).await,
            Err(e) => {
                info!(protocol = %self.protocol, error = %e, "REFER not carried out");
                let status = match e {
                    CommandError::Invalid(_) => 404,
                    _ => 603,
                };
                self.notify_refer(leg, status).await;
            }
        }
    }

    /// One NOTIFY of the REFER's implicit subscription on `leg`; the final one ends it.
    pub(super) async fn notify_refer(&self, leg: LegId, status: u16) {
        let Some(l) = self.legs.get(&leg) else { return };
        let state = if status == 100 {
            "active;expires=60"
        } else {
            "terminated;reason=noresource"
        };
        let headers = vec![
            Header::Event("refer".into()),
            Header::SubscriptionState(state.into()),
            Header::ContentType("message/sipfrag;version=2.0".into()),
        ];
        let body = sipfrag(status).as_bytes().to_vec();
        match tokio::time::timeout(NOTIFY_WAIT, l.dialog.notify(Some(headers), Some(body))).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => warn!(protocol = %self.protocol, error = %e, "REFER's NOTIFY failed"),
            Err(_) => warn!(protocol = %self.protocol, "REFER's NOTIFY got no answer in time"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_user_part_names_the_target() {
        assert_eq!(uri_user("sip:2002@10.0.0.1:5060"), Some("2002"));
        assert_eq!(uri_user("sip:pericia@atende;user=phone"), Some("pericia"));
        assert_eq!(uri_user("sips:33334444@gw"), Some("33334444"));
        assert_eq!(uri_user("sip:10.0.0.1"), None);
        assert_eq!(uri_user("tel:+5561"), None);
        assert_eq!(sipfrag(200), "SIP/2.0 200 OK");
        assert_eq!(sipfrag(486), "SIP/2.0 603 Declined");
    }
}
