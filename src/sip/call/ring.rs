//! The call actor's outbound legs towards agent phones: one INVITE per registered
//! contact of each agent offered (the hot-desk phone when the agent logged in elsewhere),
//! offering the caller's codec first so the bridge need not transcode. `place_leg` sends
//! any outbound leg's INVITE (an external transfer's too); `on_outcome` takes each leg's final
//! answer.

use rsipstack::dialog::invitation::InviteOption;
use rsipstack::sip::Uri;
use rsipstack::transport::SipAddr;
use tracing::warn;

use super::{CallActor, refresh};
use crate::call::machine::{Input, LegId};
use crate::media::session::{Leg, MediaCommand};
use crate::sdp::{self, Codec, Direction};
use crate::sip::legs::{AgentLeg, LegOutcome, contact_uri, final_response, route_target};
use crate::sip::request;

impl CallActor {
    /// Starts an outbound leg to every registered phone of the service's agents.
    pub(super) fn ring_agents(&mut self, agents: Vec<String>) -> Vec<(LegId, String, String)> {
        self.ring_agents_at(agents, self.agent_local)
    }

    /// As `ring_agents`, offering media at `local` (a consultation's own socket).
    pub(super) fn ring_agents_at(
        &mut self,
        agents: Vec<String>,
        local: std::net::SocketAddr,
    ) -> Vec<(LegId, String, String)> {
        let mut started = Vec::new();
        for agent in agents {
            // An agent whose phone still rings is not rung again (a leg that ended does
            // not count: the ACD may offer the same call again later); each of their
            // phones (several contacts per account) gets its own leg.
            if self.machine.is_ringing(&agent) {
                continue;
            }
            // The phone the agent logged in from (hot-desking), else their own.
            let phone = self.ex.hot_desk.phone_of(&agent);
            for binding in self.ex.registrar.contacts(&phone) {
                let Ok(callee) = Uri::try_from(binding.contact.as_str()) else {
                    continue;
                };
                // A caller who asked for privacy is not shown on the agent's phone.
                let caller_user = if self.admitted.a_number.is_empty() || self.admitted.restricted {
                    "anonymous".to_owned()
                } else {
                    self.admitted.a_number.clone()
                };
                let caller = contact_uri(&self.ex, &caller_user);
                let destination = SipAddr::from(route_target(&binding));
                let answer =
                    crate::sip::talk_event::answer_headers(&self.ex, &self.admitted.config, &agent);
                let leg = match self.place_leg_with(caller, callee, destination, local, answer) {
                    Ok(leg) => leg,
                    Err(e) => {
                        warn!(error = %e, %agent, "cannot ring agent");
                        continue;
                    }
                };
                started.push((leg, agent.clone(), binding.contact.clone()));
            }
        }
        started
    }

    /// Sends the INVITE of a new outbound leg (to an agent's phone or the outbound
    /// gateway) and hands its final response to the actor as a `LegOutcome`. The
    /// caller's codec is offered first so the bridge need not transcode; the leg is
    /// logged by the protocol number in `X-Atende-Protocol`. `support_prack` for a
    /// gateway that may insist on 100rel (rsipstack then PRACKs its 180/183).
    pub(super) fn place_leg(
        &mut self,
        caller: Uri,
        callee: Uri,
        destination: SipAddr,
        support_prack: bool,
    ) -> Result<LegId, Box<rsipstack::Error>> {
        self.place_leg_at(caller, callee, destination, support_prack, self.agent_local)
    }

    /// An agent phone's leg offering media at `local`, with `extra` headers (an
    /// auto-answer request).
    pub(super) fn place_leg_with(
        &mut self,
        caller: Uri,
        callee: Uri,
        destination: SipAddr,
        local: std::net::SocketAddr,
        extra: Vec<rsipstack::sip::Header>,
    ) -> Result<LegId, Box<rsipstack::Error>> {
        self.place_leg_full(caller, callee, destination, false, local, extra)
    }

    /// As `place_leg`, offering media at `local`.
    pub(super) fn place_leg_at(
        &mut self,
        caller: Uri,
        callee: Uri,
        destination: SipAddr,
        support_prack: bool,
        local: std::net::SocketAddr,
    ) -> Result<LegId, Box<rsipstack::Error>> {
        self.place_leg_full(
            caller,
            callee,
            destination,
            support_prack,
            local,
            Vec::new(),
        )
    }

    fn place_leg_full(
        &mut self,
        caller: Uri,
        callee: Uri,
        destination: SipAddr,
        support_prack: bool,
        local: std::net::SocketAddr,
        extra: Vec<rsipstack::sip::Header>,
    ) -> Result<LegId, Box<rsipstack::Error>> {
        let neg = self.admitted.negotiated;
        let mut formats: Vec<(u8, Codec)> = vec![(neg.pt, neg.codec)];
        for c in &self.ex.codecs {
            if *c != neg.codec {
                formats.push((c.default_pt(), *c));
            }
        }
        let leg = self.next_leg;
        self.next_leg += 1;
        let call_id = format!("{}-{leg}@atende", self.protocol);
        let offer = sdp::write(
            self.session_id,
            1,
            self.ex.advertised(local),
            &formats,
            Some(101),
            Direction::SendRecv,
        );
        let opt = InviteOption {
            caller,
            callee,
            destination: Some(destination),
            content_type: Some("application/sdp".into()),
            offer: Some(offer.into_bytes()),
            contact: contact_uri(&self.ex, "atende"),
            call_id: Some(call_id.clone()),
            headers: Some(
                std::iter::once(request::raw_header(
                    "X-Atende-Protocol",
                    self.protocol.to_string(),
                ))
                .chain(extra)
                .collect(),
            ),
            support_prack,
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
                return Err(Box::new(e));
            }
        };
        let outcome_tx = self.outcome_tx.clone();
        tokio::spawn(async move {
            let result = final_response(join).await;
            let _ = outcome_tx.send(Box::new(LegOutcome { leg, result })).await;
        });
        self.legs.insert(leg, AgentLeg { dialog, call_id });
        Ok(leg)
    }

    /// An agent leg's final answer (or its failure): bridges its media or tells the
    /// machine the leg failed; a session refresh's answer goes to `refresh`.
    pub(super) async fn on_outcome(&mut self, o: LegOutcome) {
        let now = std::time::Instant::now();
        if o.leg == refresh::REFRESH {
            self.refresh_outcome(now, o.result);
            return;
        }
        if self.is_consult_leg(o.leg) {
            self.consult_outcome(o.leg, o.result).await;
            return;
        }
        if self.is_monitor_leg(o.leg) {
            self.monitor_outcome(o.leg, o.result).await;
            return;
        }
        match o.result {
            Ok((status, body)) if status.code() / 100 == 2 => {
                let parsed = body
                    .as_deref()
                    .and_then(|b| sdp::parse(b).ok())
                    .and_then(|r| sdp::negotiate(&r, &self.ex.codecs).ok().map(|n| (r, n)));
                match parsed {
                    Some((remote, neg)) => {
                        self.media
                            .send(MediaCommand::Remote {
                                leg: Leg::Agent,
                                addr: remote.rtp_addr,
                                negotiated: neg,
                            })
                            .await;
                        self.machine
                            .handle(now, Input::AgentAnswered { leg: o.leg });
                    }
                    None => {
                        warn!(protocol = %self.protocol, "agent answered without usable SDP");
                        if let Some(l) = self.legs.get(&o.leg) {
                            let d = l.dialog.clone();
                            tokio::spawn(async move { d.bye().await });
                        }
                        self.machine.handle(
                            now,
                            Input::AgentFailed {
                                leg: o.leg,
                                sip_status: 488,
                                reason: "no usable SDP in answer".into(),
                            },
                        );
                    }
                }
            }
            Ok((status, _)) => self.machine.handle(
                now,
                Input::AgentFailed {
                    leg: o.leg,
                    sip_status: status.code(),
                    reason: status.to_string(),
                },
            ),
            Err(reason) => self.machine.handle(
                now,
                Input::AgentFailed {
                    leg: o.leg,
                    sip_status: 408,
                    reason,
                },
            ),
        }
    }
}
