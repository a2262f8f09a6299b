//! The call's dialog states after the answer: the caller's (hang-up, re-INVITE, INFO
//! digits, OPTIONS; its REFER is declined) and each agent leg's (their BYE, re-INVITE,
//! INFO, REFER: `refer`), and the SDP re-offer either party sends for hold/resume or a
//! new media address.

use rsipstack::dialog::dialog::{DialogState, TerminatedReason};
use rsipstack::sip::{Request, StatusCode};

use super::CallActor;
use crate::call::machine::{Input, LegId};
use crate::events::Party;
use crate::media::session::{Leg, MediaCommand};
use crate::sdp;
use crate::sip::legs::{info_digit, respond_sdp};
use crate::sip::request;

impl CallActor {
    pub(super) async fn on_caller_state(&mut self, st: DialogState) {
        let now = std::time::Instant::now();
        match st {
            // BYE, CANCEL, or the ACK never came: the caller is gone either way. Our own
            // BYE also ends here, after the machine has already ended the call.
            DialogState::Terminated(id, _) => {
                let input = match self.ex.dialog_router.take_reason(&id.call_id) {
                    Some(cause) => Input::CallerCleared { cause },
                    None => Input::CallerHungUp,
                };
                self.machine.handle(now, input);
            }
            DialogState::Updated(_, req, handle) => self.caller_updated(req, handle).await,
            DialogState::Info(_, req, handle) => {
                let _ = handle.reply(StatusCode::OK).await;
                if let Some(digit) = info_digit(&req.body) {
                    self.on_digit(digit, "info").await;
                }
            }
            DialogState::Options(_, _, handle) => {
                let _ = handle.reply(StatusCode::OK).await;
            }
            // Only an agent's phone transfers the caller (`refer`).
            DialogState::Refer(_, _, handle) => {
                let _ = handle.reply(StatusCode::Decline).await;
            }
            _ => {}
        }
    }

    pub(super) fn leg_by_call_id(&self, call_id: &str) -> Option<LegId> {
        self.legs
            .iter()
            .find(|(_, l)| l.call_id == call_id)
            .map(|(id, _)| *id)
    }

    pub(super) async fn on_agent_state(&mut self, st: DialogState) {
        let now = std::time::Instant::now();
        if let Some(leg) = self
            .leg_by_call_id(&st.id().call_id)
            .filter(|l| self.is_monitor_leg(*l))
        {
            return Box::pin(self.on_monitor_state(leg, st)).await;
        }
        match st {
            DialogState::Terminated(id, reason) => {
                let leg = self.leg_by_call_id(&id.call_id);
                if let (Some(leg), TerminatedReason::UasBye) = (leg, reason) {
                    if self.is_consult_leg(leg) {
                        self.consult_hung_up(leg).await;
                    } else {
                        self.machine.handle(now, Input::AgentHungUp { leg });
                    }
                }
            }
            DialogState::Updated(_, req, handle) => {
                let answer = self.reoffer(&req, Party::Agent).await;
                respond_sdp(handle, answer).await;
            }
            DialogState::Info(_, req, handle) => {
                if let Some(digit) = info_digit(&req.body) {
                    self.machine.handle(now, Input::Dtmf { digit, via: "info" });
                }
                let _ = handle.reply(StatusCode::OK).await;
            }
            DialogState::Options(_, _, handle) => {
                let _ = handle.reply(StatusCode::OK).await;
            }
            DialogState::Refer(id, req, handle) => {
                self.on_agent_refer(&id.call_id, req, handle).await;
            }
            // Also sent once the answer to an in-dialog request is on its way.
            DialogState::Confirmed(id, _) => self.on_agent_confirmed(&id.call_id).await,
            _ => {}
        }
    }

    /// A re-INVITE from either party: hold/resume and new media address.
    pub(super) async fn reoffer(&mut self, req: &Request, by: Party) -> Option<String> {
        let body = request::sdp_body(req)?;
        let remote = sdp::parse(body).ok()?;
        let neg = sdp::negotiate(&remote, &self.ex.codecs).ok()?;
        let leg = if by == Party::Caller {
            Leg::Caller
        } else {
            Leg::Agent
        };
        self.media
            .send(MediaCommand::Remote {
                leg,
                addr: remote.rtp_addr,
                negotiated: neg,
            })
            .await;
        self.machine.handle(
            std::time::Instant::now(),
            Input::Hold {
                by,
                on: remote.direction.is_hold(),
            },
        );
        self.sdp_version += 1;
        let local = if by == Party::Caller {
            self.ex.advertised(self.caller_local)
        } else {
            self.ex.advertised(self.agent_local)
        };
        Some(sdp::write(
            self.session_id,
            self.sdp_version,
            local,
            &[(neg.pt, neg.codec)],
            neg.telephone_event_pt,
            remote.direction.answer(),
        ))
    }
}
