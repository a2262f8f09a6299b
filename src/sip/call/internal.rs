//! Internal calls: an agent's (or a supervisor's agent account's) phone dials another
//! agent's id and atende bridges the two phones. Admission (`admit::admit_internal`)
//! takes the calling phone's agent digest; the call then runs as any other, with its own
//! protocol number, event log (`offered` with service `internal`) and recording (every
//! call is recorded, `[recording]`), and ends like one.
//!
//! The ACD holds the dialled agent busy from the ring (`DirectCall`, refused with 486
//! when they cannot take it: on a call, paused, logged out) and the calling agent too when
//! they were available; both are freed when the call ends (`DirectEnded`). This is what
//! lets an agent consult a colleague from the phone before an attended transfer by
//! REFER/Replaces (`refer`).
//!
//! Limits: the calling phone is answered at once and hears silence while the colleague's
//! phones ring (up to `INTERNAL_RING`); not answered, the call is released
//! (`not_answered`).

use std::time::Instant;

use tracing::{info, warn};

use super::CallActor;
use crate::acd::CallId;
use crate::call::machine::Input;
use crate::floor::acd::AcdRequest;
use crate::sip::admit::{Admitted, INTERNAL_RING};
use crate::sip::exchange::Exchange;
use crate::sip::handover::{HandoverError, HandoverRequest, LegParcel};
use crate::store::protocol::Protocol;

/// Holds `callee` (and `from`, when available) busy in the ACD for the internal call
/// `protocol`; `Err` when the callee cannot take it. `Ok(true)`: `from` is held too.
pub(super) async fn reserve(
    ex: &Exchange,
    protocol: &Protocol,
    from: &str,
    callee: &str,
) -> Result<bool, ()> {
    let Some(acd) = ex.acd.as_ref() else {
        return Ok(false);
    };
    let call = CallId::new(protocol.to_string());
    if let Err(e) = acd.direct_call(callee.into(), call.clone()).await {
        info!(%protocol, %from, %callee, error = %e, "internal call: the agent cannot take it");
        return Err(());
    }
    // A calling agent already on a call (consulting a colleague about it) or paused stays
    // as the ACD has them.
    Ok(acd.direct_call(from.into(), call).await.is_ok())
}

/// Undoes `reserve` for a call refused before it started.
pub(super) async fn release(
    ex: &Exchange,
    protocol: &Protocol,
    admitted: &Admitted,
    reserved: Option<&(String, bool)>,
) {
    let (Some((from, from_held)), Some(acd)) = (reserved, ex.acd.as_ref()) else {
        return;
    };
    let call = CallId::new(protocol.to_string());
    let mut agents = vec![admitted.b_number.as_str()];
    if *from_held {
        agents.push(from.as_str());
    }
    for agent in agents {
        acd.send(AcdRequest::DirectEnded {
            agent: agent.into(),
            call: call.clone(),
        })
        .await;
    }
}

impl CallActor {
    /// Rings the dialled agent (held busy by `reserve`).
    pub(super) fn start_internal(&mut self, from: String, from_held: bool) {
        let callee = self.admitted.b_number.clone();
        info!(protocol = %self.protocol, %from, %callee, "internal call");
        if self.ex.acd.is_some() {
            self.direct = Some(callee.clone());
        }
        self.internal_from = from_held.then_some(from);
        // The calling phone may hand this call's colleague to a citizen's call it has
        // (REFER with Replaces naming this dialog).
        self.handover = Some(self.ex.handovers.register(&self.caller.id().call_id));
        self.machine.handle(
            Instant::now(),
            Input::Offer {
                agent: callee,
                ring_timeout: Some(INTERNAL_RING),
            },
        );
    }

    /// A citizen's call asks for this call's answered colleague (an attended transfer by
    /// the calling agent's phone): the leg is given up when the dialog and the agent
    /// match, and this call ends (`replaced`), its calling phone hung up.
    pub(super) async fn on_handover(&mut self, req: HandoverRequest) {
        let id = self.caller.id();
        let result = if !req
            .replaces
            .names(&id.call_id, &id.local_tag, &id.remote_tag)
        {
            Err(HandoverError::UnknownDialog)
        } else if self.admitted.internal.as_deref() != Some(req.agent.as_str()) {
            Err(HandoverError::NotYours)
        } else {
            match (self.machine.bridged_leg(), self.machine.bridged_agent()) {
                (Some(leg), Some(agent)) => {
                    let agent = agent.to_owned();
                    match self.legs.remove(&leg) {
                        Some(l) => Ok((l, agent)),
                        None => Err(HandoverError::NotAnswered),
                    }
                }
                _ => Err(HandoverError::NotAnswered),
            }
        };
        let (leg, agent) = match result {
            Ok(x) => x,
            Err(e) => {
                info!(protocol = %self.protocol, agent = %req.agent, error = %e, "leg not handed over");
                let _ = req.reply.send(Err(e));
                return;
            }
        };
        // The colleague is the citizen's call's from here: the ACD lets go of them for
        // this call before that call takes them.
        self.direct_ended(&agent).await;
        info!(protocol = %self.protocol, %agent, "colleague handed to a citizen's call");
        let parcel = LegParcel {
            dialog: leg.dialog,
            call_id: leg.call_id,
            agent,
            session_id: self.session_id,
            sdp_version: 1,
        };
        if let Err(Ok(p)) = req.reply.send(Ok(Box::new(parcel))) {
            warn!(protocol = %self.protocol, "the citizen's call left before taking the leg");
            self.ex.lifecycle.spawn(async move {
                let _ = p.dialog.bye().await;
            });
        }
        self.handover = None;
        self.machine.handle(
            Instant::now(),
            Input::Release {
                cause: "replaced".into(),
            },
        );
    }

    /// The internal call ended for its calling agent: the ACD frees them.
    pub(super) async fn internal_ended(&mut self) {
        let (Some(from), Some(acd)) = (self.internal_from.take(), self.ex.acd.as_ref()) else {
            return;
        };
        let call = CallId::new(self.protocol.to_string());
        acd.send(AcdRequest::DirectEnded {
            agent: from.as_str().into(),
            call,
        })
        .await;
    }
}
