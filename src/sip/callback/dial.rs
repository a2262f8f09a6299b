//! A callback attempt's two outbound legs: ringing the reserved agent's phones (each
//! registered contact, first answer wins) and dialling the citizen through the outbound
//! gateway, and turning their final responses into inputs of the attempt's machine.

use std::time::Instant;

use rsipstack::dialog::invitation::InviteOption;
use rsipstack::sip::Uri;
use rsipstack::transport::SipAddr;
use tracing::warn;

use super::{Attempt, Outcome};
use crate::acd::CallerNumber;
use crate::call::callback::Input;
use crate::events::EventKind;
use crate::media::session::Leg;
use crate::sdp::{self, Codec, Direction};
use crate::sip::legs::{contact_uri, final_response, route_target};
use crate::sip::request;

impl Attempt {
    /// The first SDP offer of a leg bound at `local`: every configured codec, RFC 4733.
    fn initial_offer(&self, local: std::net::SocketAddr) -> String {
        let formats: Vec<(u8, Codec)> = self
            .ex
            .codecs
            .iter()
            .map(|c| (c.default_pt(), *c))
            .collect();
        sdp::write(
            self.session_id,
            1,
            self.ex.advertised(local),
            &formats,
            Some(101),
            Direction::SendRecv,
        )
    }

    /// Rings every registered phone of the agent (or the one they logged in from).
    pub(super) fn ring_agent(&mut self, citizen: &CallerNumber) {
        let phone = self.ex.hot_desk.phone_of(self.agent.as_str());
        let offer = self.initial_offer(self.agent_local);
        let answer = crate::sip::talk_event::answer_headers(
            &self.ex,
            &self.ex.config(),
            self.agent.as_str(),
        );
        for (n, binding) in self.ex.registrar.contacts(&phone).into_iter().enumerate() {
            let Ok(callee) = Uri::try_from(binding.contact.as_str()) else {
                continue;
            };
            let leg = n as u32 + 1;
            let call_id = format!("{}-{leg}@atende", self.protocol);
            let opt = InviteOption {
                caller: contact_uri(&self.ex, citizen.expose()),
                callee,
                destination: Some(SipAddr::from(route_target(&binding))),
                content_type: Some("application/sdp".into()),
                offer: Some(offer.clone().into_bytes()),
                contact: contact_uri(&self.ex, "atende"),
                call_id: Some(call_id.clone()),
                headers: Some(
                    [
                        request::raw_header("X-Atende-Protocol", self.protocol.to_string()),
                        request::raw_header("X-Atende-Callback-For", self.job_call.as_str()),
                    ]
                    .into_iter()
                    .chain(answer.iter().cloned())
                    .collect(),
                ),
                ..Default::default()
            };
            self.ex.dialog_router.add(&call_id, self.route.clone());
            match self.ex.dialogs.do_invite_async(opt, self.states.clone()) {
                Ok((dialog, join)) => {
                    self.log.record(EventKind::Ringing {
                        agent: self.agent.to_string(),
                        contact: binding.contact.clone(),
                    });
                    self.watch_outcome(Some(leg), join);
                    self.agent_legs.insert(leg, (dialog, call_id));
                }
                Err(e) => {
                    warn!(error = %e, agent = %self.agent, "cannot ring agent for a callback")
                }
            }
        }
        if self.agent_legs.is_empty() {
            self.machine.handle(
                Instant::now(),
                Input::AgentFailed {
                    sip_status: 480,
                    reason: "no registered phone".into(),
                },
            );
        }
    }

    pub(super) fn watch_outcome(
        &self,
        agent_leg: Option<u32>,
        join: tokio::task::JoinHandle<rsipstack::dialog::invitation::InviteAsyncResult>,
    ) {
        let tx = self.outcome_tx.clone();
        tokio::spawn(async move {
            let result = final_response(join).await;
            let _ = tx.send(Outcome { agent_leg, result }).await;
        });
    }

    pub(super) fn dial_citizen(&mut self) {
        let offer = self.initial_offer(self.citizen_local);
        let gw = self.out.gateway;
        let callee = Uri::try_from(format!("sip:{}@{gw}", self.target).as_str());
        let Ok(callee) = callee else {
            self.citizen_failed(484, "the number makes no SIP URI".into());
            return;
        };
        let opt = InviteOption {
            caller: contact_uri(&self.ex, &self.out.caller_id),
            callee,
            destination: Some(SipAddr::from(gw)),
            content_type: Some("application/sdp".into()),
            offer: Some(offer.into_bytes()),
            contact: contact_uri(&self.ex, "atende"),
            call_id: Some(self.citizen_call_id.clone()),
            headers: Some(vec![request::raw_header(
                "X-Atende-Protocol",
                self.protocol.to_string(),
            )]),
            // A gateway insisting on 100rel sends its 180/183 reliably; rsipstack PRACKs.
            support_prack: true,
            ..Default::default()
        };
        self.log.record(EventKind::CitizenDialled {
            target: self.target.clone(),
        });
        match self.ex.dialogs.do_invite_async(opt, self.states.clone()) {
            Ok((dialog, join)) => {
                self.watch_outcome(None, join);
                self.citizen = Some(dialog);
            }
            Err(e) => self.citizen_failed(503, e.to_string()),
        }
    }

    pub(super) fn citizen_failed(&mut self, sip_status: u16, reason: String) {
        self.machine
            .handle(Instant::now(), Input::CitizenFailed { sip_status, reason });
    }

    pub(super) async fn on_outcome(&mut self, o: Outcome) {
        let now = Instant::now();
        let answer = match o.result {
            Ok((status, body)) if status.code() / 100 == 2 => Ok(body),
            Ok((status, _)) => Err((status.code(), status.to_string())),
            Err(reason) => Err((408, reason)),
        };
        match o.agent_leg {
            Some(leg) => self.on_agent_outcome(now, leg, answer).await,
            None => match answer {
                Ok(body) => match self.remote_media(body.as_deref()) {
                    Some((addr, neg)) => {
                        self.citizen_dtmf = neg.telephone_event_pt.is_some();
                        self.remote(Leg::Caller, addr, neg).await;
                        self.machine.handle(now, Input::CitizenAnswered);
                    }
                    None => {
                        if let Some(d) = self.citizen.clone() {
                            tokio::spawn(async move { d.bye().await });
                        }
                        self.citizen_failed(488, "no usable SDP in answer".into());
                    }
                },
                Err((status, reason)) => self.citizen_failed(status, reason),
            },
        }
    }

    pub(super) async fn on_agent_outcome(
        &mut self,
        now: Instant,
        leg: u32,
        answer: Result<Option<Vec<u8>>, (u16, String)>,
    ) {
        match answer {
            Ok(body) if self.answered_leg.is_none() => {
                let Some((addr, neg)) = self.remote_media(body.as_deref()) else {
                    self.end_agent_leg(leg, false);
                    return self.agent_leg_failed(now, leg, 488, "no usable SDP".into());
                };
                self.answered_leg = Some(leg);
                for other in self.agent_legs.keys().copied().collect::<Vec<_>>() {
                    if other != leg {
                        self.end_agent_leg(other, true);
                    }
                }
                self.start_media();
                self.remote(Leg::Agent, addr, neg).await;
                self.machine.handle(now, Input::AgentAnswered);
            }
            // A second phone answered too late: it is hung up.
            Ok(_) => self.end_agent_leg(leg, false),
            Err((status, reason)) => self.agent_leg_failed(now, leg, status, reason),
        }
    }

    /// One of the agent's phones failed; the attempt fails when none is left ringing.
    pub(super) fn agent_leg_failed(&mut self, now: Instant, leg: u32, status: u16, reason: String) {
        if self.answered_leg.is_some() {
            return;
        }
        self.agent_legs.remove(&leg);
        if self.agent_legs.is_empty() {
            self.machine.handle(
                now,
                Input::AgentFailed {
                    sip_status: status,
                    reason,
                },
            );
        }
    }

    pub(super) fn end_agent_leg(&self, leg: u32, cancel: bool) {
        if let Some((d, _)) = self.agent_legs.get(&leg) {
            let d = d.clone();
            self.ex.lifecycle.spawn(async move {
                let _ = if cancel {
                    d.cancel().await
                } else {
                    d.bye().await
                };
            });
        }
    }
}
