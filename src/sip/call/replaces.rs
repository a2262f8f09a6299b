//! Attended transfer from the agent's phone (RFC 5589 §7): the agent put the caller on
//! hold, called a colleague through atende (an internal call, `internal`), and now sends
//! REFER on the caller's call with `Refer-To: <sip:colleague?Replaces=…>` naming that
//! internal call's dialog. atende, holding both calls, joins them itself: the internal
//! call hands over its answered leg (`handover`), this call re-offers that leg its own
//! media (a re-INVITE with the same SDP session), and the colleague takes the agent's
//! place: same protocol and recording, `transferred` (`blind: false`) in the log, the
//! agent's leg hung up after the final NOTIFY, the internal call ended (`replaced`).
//!
//! Refusals answer the REFER itself and leave the call as it was: a malformed `Replaces`
//! 400, a dialog atende does not hold 481, another agent's call 403, a colleague who has
//! not answered 603. A re-offer the colleague's phone refuses ends that leg and NOTIFYs
//! 603; the caller stays with the agent.

use std::time::Duration;

use rsipstack::sip::StatusCode;
use tracing::{info, warn};

use super::CallActor;
use crate::acd::CallId;
use crate::call::machine::Input;
use crate::floor::acd::AcdRequest;
use crate::media::session::{Leg, MediaCommand};
use crate::sdp::{self, Codec, Direction};
use crate::sip::handover::{HandoverError, LegParcel, Replaces};
use crate::sip::legs::AgentLeg;
use crate::sip::request;

/// How long the internal call may take to hand its leg over, and the colleague's phone to
/// answer the re-offer; both inside the call's task.
const HANDOVER_WAIT: Duration = Duration::from_secs(2);
const REOFFER_WAIT: Duration = Duration::from_secs(5);

impl CallActor {
    /// Takes the leg a REFER's `Replaces` names from its internal call, or says how the
    /// REFER is refused.
    pub(super) async fn take_replaced(
        &mut self,
        value: &str,
    ) -> Result<Box<LegParcel>, StatusCode> {
        let Some(replaces) = Replaces::parse(value) else {
            info!(protocol = %self.protocol, "attended REFER with a malformed Replaces: refused");
            return Err(StatusCode::BadRequest);
        };
        let Some(agent) = self.machine.bridged_agent().map(str::to_owned) else {
            return Err(StatusCode::Decline);
        };
        let asked = self.ex.handovers.request(&agent, replaces);
        let result = match tokio::time::timeout(HANDOVER_WAIT, asked).await {
            Ok(r) => r,
            Err(_) => {
                warn!(protocol = %self.protocol, "the consulted call did not hand its leg over in time");
                return Err(StatusCode::ServerInternalError);
            }
        };
        result.map_err(|e| {
            info!(protocol = %self.protocol, %agent, error = %e, "attended REFER refused");
            match e {
                HandoverError::UnknownDialog => StatusCode::CallTransactionDoesNotExist,
                HandoverError::NotYours => StatusCode::Forbidden,
                HandoverError::NotAnswered => StatusCode::Decline,
            }
        })
    }

    /// A handed-over leg that is not used after all: the colleague is hung up.
    pub(super) fn drop_parcel(&self, p: LegParcel) {
        self.ex.lifecycle.spawn(async move {
            let _ = p.dialog.bye().await;
        });
    }

    /// Joins the caller to the handed-over colleague; returns the final NOTIFY's status.
    pub(super) async fn join_replaced(&mut self, p: LegParcel) -> u16 {
        let leg = self.next_leg;
        self.next_leg += 1;
        self.ex
            .dialog_router
            .add(&p.call_id, self.dialog_route.clone());
        // The caller's codec first, as for any agent leg: the bridge need not transcode.
        let neg = self.admitted.negotiated;
        let mut formats: Vec<(u8, Codec)> = vec![(neg.pt, neg.codec)];
        for c in &self.ex.codecs {
            if *c != neg.codec {
                formats.push((c.default_pt(), *c));
            }
        }
        let offer = sdp::write(
            p.session_id,
            p.sdp_version + 1,
            self.ex.advertised(self.agent_local),
            &formats,
            Some(101),
            Direction::SendRecv,
        );
        let headers = vec![request::raw_header("Content-Type", "application/sdp")];
        let reoffer = p.dialog.reinvite(Some(headers), Some(offer.into_bytes()));
        let answer = match tokio::time::timeout(REOFFER_WAIT, reoffer).await {
            Ok(Ok(Some(resp))) if resp.status_code.code() / 100 == 2 => sdp::parse(&resp.body)
                .ok()
                .and_then(|r| sdp::negotiate(&r, &self.ex.codecs).ok().map(|n| (r, n))),
            _ => None,
        };
        self.legs.insert(
            leg,
            AgentLeg {
                dialog: p.dialog,
                call_id: p.call_id,
            },
        );
        let Some((remote, negotiated)) = answer else {
            warn!(protocol = %self.protocol, agent = %p.agent, "the colleague's phone refused the re-offer: hung up");
            if let Some(l) = self.legs.get(&leg) {
                let d = l.dialog.clone();
                self.ex.lifecycle.spawn(async move {
                    let _ = d.bye().await;
                });
            }
            return 603;
        };
        let Some(from) = self.machine.bridged_agent().map(str::to_owned) else {
            return 603;
        };
        info!(protocol = %self.protocol, %from, to = %p.agent, "attended transfer by the phone (Replaces)");
        self.media
            .send(MediaCommand::Remote {
                leg: Leg::Agent,
                addr: remote.rtp_addr,
                negotiated,
            })
            .await;
        self.held = false;
        // The first agent's talk ended (wrap-up for a queue's call); the colleague is
        // this call's from here.
        if let (Some(call), Some(acd)) = (self.acd_call.take(), self.ex.acd.as_ref()) {
            acd.send(AcdRequest::Hangup { call }).await;
        }
        self.direct_ended(&from).await;
        if let Some(acd) = self.ex.acd.as_ref() {
            let call = CallId::new(self.protocol.to_string());
            match acd.direct_call(p.agent.as_str().into(), call).await {
                Ok(()) => self.direct = Some(p.agent.clone()),
                Err(e) => {
                    info!(protocol = %self.protocol, agent = %p.agent, error = %e, "the colleague stays as the ACD has them")
                }
            }
        }
        self.machine.handle(
            std::time::Instant::now(),
            Input::TransferTo {
                leg,
                agent: p.agent.clone(),
                to: format!("agent:{}", p.agent),
            },
        );
        200
    }
}
