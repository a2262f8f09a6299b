//! An IVR `transfer: {number}`: the caller is bridged to an outbound leg through the
//! `[outbound]` gateway, rung like an agent (hold music while it rings, recorded and
//! logged the same way); without `[outbound]` the caller is released with
//! `no_outbound_trunk`.
//!
//! The call leaves with the institute's line (`outbound.caller_id`) as its From, as
//! callbacks do: carriers refuse numbers the line does not own, and a restricted
//! caller's number must not leave atende.

use std::time::{Duration, Instant};

use rsipstack::sip::Uri;
use rsipstack::transport::SipAddr;
use tracing::{info, warn};

use super::CallActor;
use crate::call::machine::{Input, LegId};
use crate::sip::legs::contact_uri;
use crate::sip::queued::Waiting;

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
        // A survey is about an agent: a caller sent out of atende gets none.
        self.machine.set_survey(None);
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
        let caller = contact_uri(&self.ex, &out.caller_id);
        // A gateway insisting on 100rel sends its 180/183 reliably; rsipstack PRACKs.
        let leg = match self.place_leg(caller, callee, SipAddr::from(gw), true) {
            Ok(leg) => leg,
            Err(e) => {
                warn!(error = %e, protocol = %self.protocol, "cannot dial the transfer");
                return Vec::new();
            }
        };
        vec![(leg, EXTERNAL.into(), format!("sip:{target}@{gw}"))]
    }
}
