//! An IVR `transfer: {number}`: the caller is bridged to an outbound leg through the
//! `[outbound]` gateway, rung like an agent (hold music while it rings, recorded and
//! logged the same way); without `[outbound]` the caller is released with
//! `no_outbound_trunk`.
//!
//! The call leaves with the institute's line (`outbound.caller_id`) as its From, as
//! callbacks do: carriers refuse numbers the line does not own, and a restricted
//! caller's number must not leave atende.

use std::time::{Duration, Instant};

use rsipstack::dialog::invitation::InviteOption;
use rsipstack::sip::Uri;
use rsipstack::transport::SipAddr;
use tracing::{info, warn};

use super::CallActor;
use crate::call::machine::{Input, LegId};
use crate::sdp::{self, Codec, Direction};
use crate::sip::legs::{AgentLeg, LegOutcome, contact_uri, final_response};
use crate::sip::queued::Waiting;
use crate::sip::request;

/// The "agent" an external transfer's leg is logged as.
pub(super) const EXTERNAL: &str = "external";

impl CallActor {
    /// Starts ringing `number` through the outbound gateway.
    pub(super) async fn transfer_out(&mut self, number: String) {
        let now = Instant::now();
        let Some(out) = self.admitted.config.outbound.as_ref() else {
            warn!(protocol = %self.protocol, "IVR transfer to an external number: no [outbound] gateway");
            self.machine.handle(
                now,
                Input::Release {
                    cause: "no_outbound_trunk".into(),
                },
            );
            return;
        };
        info!(protocol = %self.protocol, "IVR transfer to an external number");
        self.transferring = true;
        self.external = Some(format!("{}{}", out.prefix, number));
        let ring_timeout = Duration::from_secs(out.ring_timeout_secs);
        let mut w = Waiting::new(self.admitted.hold_music.clone());
        w.music(&self.media, &self.ex.prompts).await;
        self.waiting = Some(w);
        self.machine.handle(
            now,
            Input::Offer {
                agent: EXTERNAL.into(),
                ring_timeout: Some(ring_timeout),
            },
        );
    }

    /// The outbound INVITE of an external transfer (one leg, to the gateway).
    pub(super) fn ring_external(&mut self, target: String) -> Vec<(LegId, String, String)> {
        let Some(out) = self.admitted.config.outbound.as_ref() else {
            return Vec::new();
        };
        let gw = out.gateway;
        let Ok(callee) = Uri::try_from(format!("sip:{target}@{gw}").as_str()) else {
            warn!(protocol = %self.protocol, "transfer number makes no SIP URI");
            return Vec::new();
        };
        let neg = self.admitted.negotiated;
        let mut formats: Vec<(u8, Codec)> = vec![(neg.pt, neg.codec)];
        for c in &self.ex.codecs {
            if *c != neg.codec {
                formats.push((c.default_pt(), *c));
            }
        }
        let offer = sdp::write(
            self.session_id,
            1,
            self.ex.advertised(self.agent_local),
            &formats,
            Some(101),
            Direction::SendRecv,
        );
        let leg = self.next_leg;
        self.next_leg += 1;
        let call_id = format!("{}-{leg}@atende", self.protocol);
        let opt = InviteOption {
            caller: contact_uri(&self.ex, &out.caller_id),
            callee,
            destination: Some(SipAddr::from(gw)),
            content_type: Some("application/sdp".into()),
            offer: Some(offer.into_bytes()),
            contact: contact_uri(&self.ex, "atende"),
            call_id: Some(call_id.clone()),
            headers: Some(vec![request::raw_header(
                "X-Atende-Protocol",
                self.protocol.to_string(),
            )]),
            // A gateway insisting on 100rel sends its 180/183 reliably; rsipstack PRACKs.
            support_prack: true,
            ..Default::default()
        };
        self.ex
            .dialog_router
            .add(&call_id, self.dialog_route.clone());
        let (dialog, join) = match self
            .ex
            .dialogs
            .do_invite_async(opt, self.agent_state_tx.clone())
        {
            Ok(x) => x,
            Err(e) => {
                self.ex.dialog_router.remove(&[&call_id]);
                warn!(error = %e, protocol = %self.protocol, "cannot dial the transfer");
                return Vec::new();
            }
        };
        let outcome_tx = self.outcome_tx.clone();
        tokio::spawn(async move {
            let result = final_response(join).await;
            let _ = outcome_tx.send(Box::new(LegOutcome { leg, result })).await;
        });
        self.legs.insert(leg, AgentLeg { dialog, call_id });
        vec![(leg, EXTERNAL.into(), format!("sip:{target}@{gw}"))]
    }
}
