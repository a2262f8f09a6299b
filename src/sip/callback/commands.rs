//! The desktop's commands to a running attempt (`floor::calls`), for an agent's outside
//! call above all: hang up, hold and resume (hold music to the citizen), DTMF towards the
//! citizen (RFC 4733 on the citizen's stream), and `answer` (the agent's phone told to
//! pick up, `sip::talk_event`). Transfers of such a call are not offered.

use std::time::Instant;

use tracing::{info, warn};

use super::Attempt;
use crate::call::callback::Input;
use crate::floor::calls::{CallCommand, Command, CommandError};
use crate::media::session::{Leg, MediaCommand};

impl Attempt {
    pub(super) async fn on_command(&mut self, c: Command) {
        if let CallCommand::Answer { agent } = &c.command {
            self.remote_answer(agent, c.reply);
            return;
        }
        let result = self.command(c.command).await;
        let _ = c.reply.send(result);
    }

    async fn command(&mut self, command: CallCommand) -> Result<(), CommandError> {
        let now = Instant::now();
        if self.machine.is_ended() {
            return Err(CommandError::Gone);
        }
        match command {
            CallCommand::HangUp => {
                info!(protocol = %self.protocol, "outside call hung up by an operator");
                self.machine.handle(now, Input::OperatorHangUp);
                Ok(())
            }
            CallCommand::Hold | CallCommand::Resume => {
                let on = command == CallCommand::Hold;
                if !self.machine.is_connected() {
                    return Err(CommandError::NotInTalk);
                }
                match (on, self.held) {
                    (true, true) => return Err(CommandError::AlreadyHeld),
                    (false, false) => return Err(CommandError::NotHeld),
                    _ => {}
                }
                self.held = on;
                self.machine.handle(now, Input::Hold { on });
                Ok(())
            }
            CallCommand::Dtmf { digits } => {
                if !self.machine.is_connected() {
                    return Err(CommandError::NotInTalk);
                }
                if !crate::media::dtmf_out::valid(&digits) {
                    return Err(CommandError::Invalid(format!(
                        "DTMF takes 1 to {} of 0-9, *, #, A-D",
                        crate::media::dtmf_out::MAX_DIGITS
                    )));
                }
                if !self.citizen_dtmf {
                    return Err(CommandError::Invalid(
                        "the caller's side takes no RFC 4733 events".into(),
                    ));
                }
                // The digits may be personal data: only their count is logged.
                info!(protocol = %self.protocol, count = digits.chars().count(), "DTMF to the citizen");
                if let Some(m) = &self.media {
                    m.send(MediaCommand::Dtmf {
                        leg: Leg::Caller,
                        digits,
                    })
                    .await;
                }
                Ok(())
            }
            CallCommand::Answer { .. } => Err(CommandError::Invalid("nothing ringing".into())),
            CallCommand::Transfer { .. }
            | CallCommand::CompleteTransfer
            | CallCommand::CancelTransfer => {
                Err(CommandError::Unsupported("transfer of an outside call"))
            }
            CallCommand::Monitor { .. }
            | CallCommand::MonitorMode { .. }
            | CallCommand::StopMonitor { .. }
            | CallCommand::MonitorKey { .. }
            | CallCommand::MonitorDialled { .. } => {
                Err(CommandError::Unsupported("monitoring of an outside call"))
            }
        }
    }

    /// Hold music to the citizen: the first service's (the institute's usual music).
    pub(super) async fn play_hold_music(&self) {
        let config = self.ex.config();
        let Some(name) = config
            .services
            .values()
            .map(|s| s.hold_music.clone())
            .next()
        else {
            return;
        };
        let Some(prompt) = self.ex.prompts.get(&name) else {
            warn!(prompt = %name, "hold music missing: the citizen hears silence");
            return;
        };
        if let Some(m) = &self.media {
            m.play_to(Leg::Caller, vec![prompt.samples], true).await;
        }
    }

    /// The agent's phone, still ringing, told to pick up (`auto_answer`).
    fn remote_answer(
        &self,
        agent: &str,
        reply: tokio::sync::oneshot::Sender<Result<(), CommandError>>,
    ) {
        let phone = self.ex.hot_desk.phone_of(agent);
        let bindings = self.ex.registrar.contacts(&phone);
        let ringing = self.answered_leg.is_none() && agent == self.agent.as_str();
        let targets: Vec<_> = self
            .agent_legs
            .values()
            .filter(|_| ringing)
            .filter_map(|(dialog, _)| {
                let uri = dialog.initial_request().uri;
                let b = bindings.iter().find(|b| {
                    rsipstack::sip::Uri::try_from(b.contact.as_str()).is_ok_and(|c| c == uri)
                })?;
                Some((dialog.clone(), crate::sip::legs::route_target(b)))
            })
            .collect();
        crate::sip::talk_event::answer_all(
            self.ex.clone(),
            self.protocol.to_string(),
            agent.to_owned(),
            targets,
            reply,
        );
    }
}
