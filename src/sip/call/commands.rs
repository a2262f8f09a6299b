//! Commands to a live call from the floor's registry (`floor::calls`): the CTI's and the
//! API's hang-up, hold, resume and blind transfer, carried out by the call's own actor
//! with the same machinery as the phone's and the IVR's (hold music, the ACD's queues,
//! ringing an agent, `[outbound]`). The caller's media session, and so the recording,
//! stays the same from answer to the end.
//!
//! DTMF goes to the caller as RFC 4733 events on the caller's own stream (the relay
//! goes on; `media::dtmf_out`), refused when the caller's side negotiated none (no
//! in-band tones are generated).
//!
//! Attended transfer lives in `attended`. A transfer straight to an agent takes only an agent the ACD has available, then
//! rings that agent's phones; the ACD holds that agent busy (`DirectCall`) until the call
//! ends for them, so no queue offers them a second call meanwhile (the IVR's
//! `transfer: {extension}` reserves an available agent the same way, in `routing`).

use std::time::Instant;

use tracing::info;

use super::CallActor;
use crate::acd::CallId;
use crate::call::machine::Input;
use crate::events::Party;
use crate::floor::acd::AcdRequest;
use crate::floor::calls::{CallCommand, Command, CommandError, TransferTarget};
use crate::ivr::Enqueue;
use crate::media::session::{Leg, MediaCommand};

impl CallActor {
    /// Carries out one command and sends its one reply.
    pub(super) async fn on_command(&mut self, c: Command) {
        if let CallCommand::Answer { agent } = &c.command {
            // The phone's reply may take a while: the actor goes on meanwhile.
            self.remote_answer(agent, c.reply);
            return;
        }
        let result = self.command(c.command).await;
        let _ = c.reply.send(result);
    }

    /// Tells `agent`'s ringing phones to pick up (`sip::talk_event`); replies `Ok` when one
    /// of them accepted. Its 200 OK to the INVITE then answers the call as usual.
    fn remote_answer(
        &self,
        agent: &str,
        reply: tokio::sync::oneshot::Sender<Result<(), CommandError>>,
    ) {
        let phone = self.ex.hot_desk.phone_of(agent);
        let bindings = self.ex.registrar.contacts(&phone);
        let mut targets = Vec::new();
        for leg in self.machine.ringing_legs(agent) {
            let Some(l) = self.legs.get(&leg) else {
                continue;
            };
            let uri = l.dialog.initial_request().uri;
            let binding = bindings.iter().find(|b| {
                rsipstack::sip::Uri::try_from(b.contact.as_str()).is_ok_and(|c| c == uri)
            });
            if let Some(b) = binding {
                targets.push((l.dialog.clone(), crate::sip::legs::route_target(b)));
            }
        }
        crate::sip::talk_event::answer_all(
            self.ex.clone(),
            self.protocol.to_string(),
            agent.to_owned(),
            targets,
            reply,
        );
    }

    async fn command(&mut self, command: CallCommand) -> Result<(), CommandError> {
        let now = Instant::now();
        if self.machine.is_ended() {
            return Err(CommandError::Gone);
        }
        match command {
            CallCommand::HangUp => {
                info!(protocol = %self.protocol, "call hung up by an operator");
                self.machine.handle(
                    now,
                    Input::Release {
                        cause: "operator_hang_up".into(),
                    },
                );
                Ok(())
            }
            CallCommand::Hold | CallCommand::Resume => {
                let on = command == CallCommand::Hold;
                if self.machine.bridged_agent().is_none() {
                    return Err(CommandError::NotInTalk);
                }
                match (on, self.held) {
                    (true, true) => return Err(CommandError::AlreadyHeld),
                    (false, false) => return Err(CommandError::NotHeld),
                    _ => {}
                }
                self.held = on;
                self.machine.handle(
                    now,
                    Input::Hold {
                        by: Party::Agent,
                        on,
                    },
                );
                Ok(())
            }
            CallCommand::Dtmf { digits } => {
                if self.machine.bridged_agent().is_none() {
                    return Err(CommandError::NotInTalk);
                }
                if !crate::media::dtmf_out::valid(&digits) {
                    return Err(CommandError::Invalid(format!(
                        "DTMF takes 1 to {} of 0-9, *, #, A-D",
                        crate::media::dtmf_out::MAX_DIGITS
                    )));
                }
                if self.admitted.negotiated.telephone_event_pt.is_none() {
                    return Err(CommandError::Invalid(
                        "the caller's side takes no RFC 4733 events".into(),
                    ));
                }
                // The digits may be a citizen's number or CPF: only their count is logged.
                info!(protocol = %self.protocol, count = digits.chars().count(), "DTMF to the caller");
                self.media
                    .send(MediaCommand::Dtmf {
                        leg: Leg::Caller,
                        digits,
                    })
                    .await;
                Ok(())
            }
            CallCommand::Monitor {
                supervisor,
                phone,
                mode,
            } => self.start_monitor(supervisor, phone, mode).await,
            CallCommand::MonitorDialled {
                supervisor,
                phone,
                mode,
                leg,
            } => self.attach_dialled(supervisor, phone, mode, leg).await,
            CallCommand::MonitorMode { supervisor, mode } => {
                self.switch_monitor(&supervisor, mode, "api").await
            }
            CallCommand::MonitorKey { supervisor, key } => self.monitor_key(&supervisor, key).await,
            CallCommand::StopMonitor { supervisor } => {
                if self.end_monitor(&supervisor, "stopped").await {
                    Ok(())
                } else {
                    Err(CommandError::Invalid(format!(
                        "{supervisor} does not monitor this call"
                    )))
                }
            }
            _ if self.consult.is_some()
                && !matches!(
                    command,
                    CallCommand::CompleteTransfer | CallCommand::CancelTransfer
                ) =>
            {
                Err(CommandError::Invalid("a transfer is under way".into()))
            }
            CallCommand::Transfer { to, blind: false } => self.start_attended(to).await,
            CallCommand::Transfer { to, blind: true } => self.blind_transfer(to).await,
            CallCommand::CompleteTransfer => self.complete_attended().await,
            // Taken by `on_command` before it gets here.
            CallCommand::Answer { .. } => Err(CommandError::Invalid("nothing ringing".into())),
            CallCommand::CancelTransfer => {
                if self.consult.is_none() {
                    return Err(CommandError::Invalid("no transfer under way".into()));
                }
                self.fail_attended("cancelled").await;
                Ok(())
            }
        }
    }

    pub(super) async fn blind_transfer(&mut self, to: TransferTarget) -> Result<(), CommandError> {
        let Some(from) = self.machine.bridged_agent().map(str::to_owned) else {
            return Err(CommandError::NotInTalk);
        };
        let config = self.admitted.config.clone();
        let label = match &to {
            TransferTarget::Agent(a) => {
                if !config.agents.iter().any(|c| c.id == *a) {
                    return Err(CommandError::Invalid(format!("no agent {a}")));
                }
                if *a == from {
                    return Err(CommandError::Invalid(format!("{a} is already on the call")));
                }
                // Ringing an agent the ACD has on a call, in wrap-up or paused would cut
                // across the queue's own offers: only an available agent takes one, and
                // the ACD holds them busy with this call until it ends for them.
                if let Some(acd) = self.ex.acd.as_ref() {
                    let call = CallId::new(self.protocol.to_string());
                    if let Err(e) = acd.direct_call(a.as_str().into(), call).await {
                        info!(protocol = %self.protocol, agent = %a, error = %e, "transfer target busy");
                        return Err(CommandError::Invalid(format!("agent {a} is not available")));
                    }
                }
                format!("agent:{a}")
            }
            TransferTarget::Queue(q) => {
                if self.ex.acd.is_none() || !config.queues.iter().any(|c| c.id.as_str() == q) {
                    return Err(CommandError::Invalid(format!("no queue {q}")));
                }
                format!("queue:{q}")
            }
            // The number is personal data: the log names the kind of target only.
            TransferTarget::Number(_) => {
                if config.outbound.is_none() {
                    return Err(CommandError::Invalid("no [outbound] trunk".into()));
                }
                "number".to_owned()
            }
            // The agent's part ends where the call is: no ACD or ringing work below.
            TransferTarget::Survey => return self.transfer_to_survey(&from),
        };
        info!(protocol = %self.protocol, %from, to = %label, "blind transfer");
        let now = Instant::now();
        self.held = false;
        self.machine
            .handle(now, Input::TransferAway { to: label.clone() });
        // The talk with `from` ended: the ACD puts them in wrap-up (a queue's call) or
        // frees them (a direct one).
        if let (Some(call), Some(acd)) = (self.acd_call.take(), self.ex.acd.as_ref()) {
            acd.send(AcdRequest::Hangup { call }).await;
        }
        self.direct_ended(&from).await;
        match to {
            TransferTarget::Queue(queue) => {
                self.transferring = false;
                let e = Enqueue {
                    queue,
                    priority: 0,
                    skills: Vec::new(),
                    variables: self.queued_vars.clone(),
                };
                self.enqueue(e).await;
            }
            TransferTarget::Agent(agent) => {
                self.transferring = true;
                self.direct = self.ex.acd.as_ref().map(|_| agent.clone());
                self.hold_music().await;
                self.machine.handle(
                    now,
                    Input::Offer {
                        agent,
                        ring_timeout: Some(self.admitted.ring_timeout),
                    },
                );
            }
            TransferTarget::Number(number) => self.transfer_out(number).await,
            TransferTarget::Survey => {} // returned above
        }
        Ok(())
    }

    /// The direct call ended for `agent` (if they are the one the ACD holds busy).
    pub(super) async fn direct_ended(&mut self, agent: &str) {
        if self.direct.as_deref() != Some(agent) {
            return;
        }
        self.direct = None;
        if let Some(acd) = self.ex.acd.as_ref() {
            let call = CallId::new(self.protocol.to_string());
            acd.send(AcdRequest::DirectEnded {
                agent: agent.into(),
                call,
            })
            .await;
        }
    }
}
