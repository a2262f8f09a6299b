//! Attended transfer from the CTI (`CallCommand::Transfer { blind: false }`): the caller
//! waits on hold with music while the target agent is rung on a consultation leg; the
//! operator then completes (`CompleteTransfer`: the consulted agent takes the first
//! agent's place in the same call, recording and protocol) or cancels
//! (`CancelTransfer`: the caller is back with the first agent). A target that does not
//! answer within the call's ring timeout, or hangs up before completion, fails the
//! transfer the same way. The log shows
//! `transfer_started`, then `transferred` (`blind: false`) or `transfer_failed`.
//!
//! The consultation has a media leg of its own (`MediaCommand::ConsultLeg`, a socket
//! offered to the target's phones): once the target answers, the first agent and the
//! target hear each other while the caller hears hold music (which is what the recording's
//! right channel keeps). On completion that leg becomes the call's agent leg (its stream
//! goes on, the first agent's socket closes); on failure it is closed and the caller is
//! bridged to the first agent again.
//!
//! Limits: the target is an agent (a queue or a number is refused). The ACD holds the
//! target busy from the first ring (`DirectCall`).

use std::net::SocketAddr;
use std::time::Instant;

use tracing::{info, warn};

use super::CallActor;
use crate::acd::CallId;
use crate::call::machine::{Input, LegId};
use crate::events::{EventKind, Party};
use crate::floor::acd::AcdRequest;
use crate::floor::calls::{CommandError, TransferTarget};
use crate::media::session::MediaCommand;
use crate::sdp::{self, Negotiated};
use crate::sip::legs::FinalResponse;

/// A consultation under way.
#[derive(Debug)]
pub(super) struct Consult {
    from: String,
    agent: String,
    /// The consultation's media socket, offered to the target's phones.
    local: SocketAddr,
    /// The target's phones still ringing.
    ringing: Vec<LegId>,
    /// The phone that answered, and where its media goes.
    answered: Option<(LegId, SocketAddr, Negotiated)>,
    /// The caller was put on hold for it (and is taken off when it ends).
    held_for_it: bool,
    /// Not answered by then: the transfer fails (`not_answered`).
    ring_until: Instant,
}

impl Consult {
    /// When the actor must wake for this consultation (while it rings).
    pub(super) fn deadline(&self) -> Option<Instant> {
        self.answered.is_none().then_some(self.ring_until)
    }
}

impl CallActor {
    /// Starts an attended transfer of the caller to `to`.
    pub(super) async fn start_attended(&mut self, to: TransferTarget) -> Result<(), CommandError> {
        let Some(from) = self.machine.bridged_agent().map(str::to_owned) else {
            return Err(CommandError::NotInTalk);
        };
        if self.consult.is_some() {
            return Err(CommandError::Invalid(
                "a transfer is already under way".into(),
            ));
        }
        let TransferTarget::Agent(agent) = to else {
            return Err(CommandError::Unsupported(
                "attended transfer to a queue or a number",
            ));
        };
        if !self.admitted.config.agents.iter().any(|c| c.id == agent) {
            return Err(CommandError::Invalid(format!("no agent {agent}")));
        }
        if agent == from {
            return Err(CommandError::Invalid(format!(
                "{agent} is already on the call"
            )));
        }
        if let Some(acd) = self.ex.acd.as_ref() {
            let call = CallId::new(self.protocol.to_string());
            if let Err(e) = acd.direct_call(agent.as_str().into(), call).await {
                info!(protocol = %self.protocol, %agent, error = %e, "transfer target busy");
                return Err(CommandError::Invalid(format!(
                    "agent {agent} is not available"
                )));
            }
        }
        let socket = match self.ex.ports.bind() {
            Ok(s) => s,
            Err(e) => {
                warn!(protocol = %self.protocol, error = %e, "no RTP port for a consultation");
                self.release_reserved(&agent).await;
                return Err(CommandError::Invalid("no media port free".into()));
            }
        };
        let Ok(local) = socket.local_addr() else {
            self.release_reserved(&agent).await;
            return Err(CommandError::Invalid("no media port free".into()));
        };
        self.media
            .send(MediaCommand::ConsultLeg {
                socket,
                seed: rand::random(),
            })
            .await;
        let ringing: Vec<LegId> = self
            .ring_agents_at(vec![agent.clone()], local)
            .into_iter()
            .map(|(leg, _, _)| leg)
            .collect();
        if ringing.is_empty() {
            self.media.send(MediaCommand::ConsultEnd).await;
            self.release_reserved(&agent).await;
            return Err(CommandError::Invalid(format!(
                "agent {agent} has no phone registered"
            )));
        }
        info!(protocol = %self.protocol, %from, %agent, "attended transfer started");
        let now = Instant::now();
        let held_for_it = !self.held;
        if held_for_it {
            self.held = true;
            self.machine.handle(
                now,
                Input::Hold {
                    by: Party::Agent,
                    on: true,
                },
            );
        }
        self.log.record(EventKind::TransferStarted {
            from: from.clone(),
            to: format!("agent:{agent}"),
        });
        self.consult = Some(Box::new(Consult {
            from,
            agent,
            local,
            ringing,
            answered: None,
            held_for_it,
            ring_until: now + self.admitted.ring_timeout,
        }));
        Ok(())
    }

    /// The consulted agent takes the first agent's place.
    pub(super) async fn complete_attended(&mut self) -> Result<(), CommandError> {
        let Some(c) = self.consult.as_ref() else {
            return Err(CommandError::Invalid("no transfer under way".into()));
        };
        let Some((leg, _, _)) = c.answered else {
            return Err(CommandError::Invalid(format!(
                "agent {} has not answered yet",
                c.agent
            )));
        };
        let Some(c) = self.consult.take() else {
            return Ok(());
        };
        info!(protocol = %self.protocol, from = %c.from, to = %c.agent, "attended transfer completed");
        // The consultation's leg is the agent leg from now on, and its socket the one a
        // later transfer offers.
        self.media.send(MediaCommand::ConsultComplete).await;
        self.agent_local = c.local;
        self.held = false;
        // The first agent's talk ended: wrap-up (a queue's call) or free (a direct one).
        if let (Some(call), Some(acd)) = (self.acd_call.take(), self.ex.acd.as_ref()) {
            acd.send(AcdRequest::Hangup { call }).await;
        }
        self.direct_ended(&c.from).await;
        self.direct = self.ex.acd.as_ref().map(|_| c.agent.clone());
        self.machine.handle(
            std::time::Instant::now(),
            Input::TransferTo {
                leg,
                agent: c.agent.clone(),
                to: format!("agent:{}", c.agent),
            },
        );
        Ok(())
    }

    /// Ends the consultation without a transfer: the caller is back with the first agent.
    pub(super) async fn fail_attended(&mut self, reason: &str) {
        let Some(c) = self.consult.take() else {
            return;
        };
        info!(protocol = %self.protocol, to = %c.agent, reason, "attended transfer failed");
        self.end_consult_legs(&c);
        self.media.send(MediaCommand::ConsultEnd).await;
        self.release_reserved(&c.agent).await;
        self.log.record(EventKind::TransferFailed {
            from: c.from.clone(),
            to: format!("agent:{}", c.agent),
            reason: reason.to_owned(),
        });
        if c.held_for_it && self.held && !self.machine.is_ended() {
            self.held = false;
            self.machine.handle(
                std::time::Instant::now(),
                Input::Hold {
                    by: Party::Agent,
                    on: false,
                },
            );
        }
    }

    /// The call ended during a consultation: its legs go too, and the target is free.
    pub(super) async fn end_consultation(&mut self) {
        if let Some(c) = self.consult.take() {
            self.end_consult_legs(&c);
            self.media.send(MediaCommand::ConsultEnd).await;
            self.release_reserved(&c.agent).await;
        }
    }

    fn end_consult_legs(&self, c: &Consult) {
        let answered = c.answered.map(|a| a.0);
        for leg in c.ringing.iter().copied().chain(answered) {
            let Some(l) = self.legs.get(&leg) else {
                continue;
            };
            let d = l.dialog.clone();
            let ringing = Some(leg) != answered;
            self.ex.lifecycle.spawn(async move {
                let _ = if ringing {
                    d.cancel().await
                } else {
                    d.bye().await
                };
            });
        }
    }

    /// Frees the consultation's target in the ACD (held busy since the first ring).
    async fn release_reserved(&self, agent: &str) {
        if let Some(acd) = self.ex.acd.as_ref() {
            let call = CallId::new(self.protocol.to_string());
            acd.send(AcdRequest::DirectEnded {
                agent: agent.into(),
                call,
            })
            .await;
        }
    }

    /// Whether `leg` is one of the consultation's.
    pub(super) fn is_consult_leg(&self, leg: LegId) -> bool {
        self.consult
            .as_ref()
            .is_some_and(|c| c.ringing.contains(&leg) || c.answered.is_some_and(|a| a.0 == leg))
    }

    /// A consultation leg's final answer.
    pub(super) async fn consult_outcome(&mut self, leg: LegId, result: FinalResponse) {
        let answer = match result {
            Ok((status, body)) if status.code() / 100 == 2 => body
                .as_deref()
                .and_then(|b| sdp::parse(b).ok())
                .and_then(|r| {
                    sdp::negotiate(&r, &self.ex.codecs)
                        .ok()
                        .map(|n| (r.rtp_addr, n))
                }),
            _ => None,
        };
        let Some(c) = self.consult.as_mut() else {
            return;
        };
        c.ringing.retain(|l| *l != leg);
        match answer {
            Some((addr, neg)) if c.answered.is_none() => {
                c.answered = Some((leg, addr, neg));
                // The agents hear each other from here.
                self.media
                    .send(MediaCommand::ConsultRemote {
                        addr,
                        negotiated: neg,
                    })
                    .await;
                // One phone is enough: the others stop ringing.
                for other in std::mem::take(&mut c.ringing) {
                    if let Some(l) = self.legs.get(&other) {
                        let d = l.dialog.clone();
                        self.ex.lifecycle.spawn(async move {
                            let _ = d.cancel().await;
                        });
                    }
                }
            }
            _ => {
                if let Some(l) = self.legs.get(&leg).filter(|_| answer.is_some()) {
                    // A second phone answering, or an answer without usable SDP.
                    warn!(protocol = %self.protocol, "consultation leg not used: hung up");
                    let d = l.dialog.clone();
                    self.ex.lifecycle.spawn(async move {
                        let _ = d.bye().await;
                    });
                }
                if c.ringing.is_empty() && c.answered.is_none() {
                    self.fail_attended("not_answered").await;
                }
            }
        }
    }

    /// The target's ring timeout (the call's, as for any agent) passed unanswered.
    pub(super) async fn consult_timeout(&mut self, now: Instant) {
        if self
            .consult
            .as_ref()
            .and_then(|c| c.deadline())
            .is_some_and(|at| at <= now)
        {
            self.fail_attended("not_answered").await;
        }
    }

    /// The consulted agent hung up before completion.
    pub(super) async fn consult_hung_up(&mut self, leg: LegId) {
        if self
            .consult
            .as_ref()
            .is_some_and(|c| c.answered.is_some_and(|a| a.0 == leg))
        {
            if let Some(c) = self.consult.as_mut() {
                c.answered = None;
            }
            self.fail_attended("target_hung_up").await;
        }
    }
}
