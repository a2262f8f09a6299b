//! The call actor's satisfaction survey: which survey a call goes to, and running its
//! `survey::Interview` once the call machine puts the caller to it.
//!
//! The survey is chosen when the call is answered (its service's) and again at each queue
//! offer (the queue's own wins), so the one that applies is known before the agent hangs
//! up. When the machine says `StartSurvey` the agent's part is over: the ACD is told at
//! once (the agent goes to wrap-up or is free, as after any call), and the caller, still on
//! the same media session and recording, hears the questions. Keys come from RFC 4733 and
//! SIP INFO through `routing::on_digit`. The interview's entries, and each prompt it
//! plays (`PromptPlayed`), go to the call's log; its
//! end releases the call (`survey_completed`); a caller hanging up first ends it where it
//! stood (`EndSurvey`).

use std::sync::Arc;
use std::time::Instant;

use tracing::{info, warn};

use super::CallActor;
use crate::call::machine::Input;
use crate::events::EventKind;
use crate::floor::acd::AcdRequest;
use crate::floor::calls::CommandError;
use crate::survey::{Action, Input as SurveyInput, Interview};

/// The hang-up cause of a call whose caller answered the whole survey.
pub(super) const COMPLETED: &str = "survey_completed";

impl CallActor {
    /// Tells the machine the survey for a call answered from `queue` (none: the service's).
    pub(super) fn choose_survey(&mut self, queue: Option<&str>) {
        let survey = crate::config::survey::survey_for(
            &self.admitted.config.surveys,
            queue,
            &self.admitted.service,
        )
        .map(|(name, _)| name.to_owned());
        self.machine.set_survey(survey);
    }

    /// A blind transfer of the caller to the survey by `from` (their phone's REFER to
    /// `survey`, or the floor's `Transfer { to: Survey }`).
    pub(super) fn transfer_to_survey(&mut self, from: &str) -> Result<(), CommandError> {
        if self.machine.survey().is_none() {
            return Err(CommandError::Invalid(
                "this call has no survey (neither its queue nor its service names one)".into(),
            ));
        }
        info!(protocol = %self.protocol, %from, "caller transferred to the survey");
        self.held = false;
        self.machine.handle(Instant::now(), Input::ToSurvey);
        Ok(())
    }

    /// The machine put the caller to `survey` about `agent`: the agent is released in the
    /// ACD and the first question (or the introduction) plays.
    pub(super) async fn start_survey(&mut self, survey: String, agent: String) {
        if let (Some(call), Some(acd)) = (self.acd_call.take(), self.ex.acd.as_ref()) {
            acd.send(AcdRequest::Hangup { call }).await;
        }
        self.direct_ended(&agent).await;
        // An attended transfer the agent had started goes with them.
        self.end_consultation().await;
        self.held = false;
        self.waiting = None;
        self.callback = None;
        let Some(config) = self.admitted.config.surveys.get(&survey) else {
            // The machine only knows surveys of this call's config: not reached.
            warn!(protocol = %self.protocol, %survey, "survey not in the call's config");
            self.machine.handle(
                Instant::now(),
                Input::Release {
                    cause: "survey_missing".into(),
                },
            );
            return;
        };
        info!(protocol = %self.protocol, %survey, %agent, "caller put to the survey");
        let mut interview = Interview::new(&survey, Arc::new(config.clone()), Some(agent));
        interview.handle(Instant::now(), SurveyInput::Start);
        self.survey = Some(Box::new(interview));
        self.drive_survey().await;
    }

    /// A key for the survey; false when no survey has the caller.
    pub(super) async fn survey_digit(&mut self, now: Instant, digit: char) -> bool {
        let Some(s) = self.survey.as_mut() else {
            return false;
        };
        s.handle(now, SurveyInput::Digit(digit));
        self.drive_survey().await;
        true
    }

    /// The survey's playback ended; false when no survey has the caller.
    pub(super) async fn survey_prompt_finished(&mut self, now: Instant) -> bool {
        let Some(s) = self.survey.as_mut() else {
            return false;
        };
        s.handle(now, SurveyInput::PromptFinished);
        self.drive_survey().await;
        true
    }

    pub(super) fn survey_deadline(&self) -> Option<Instant> {
        self.survey.as_ref().and_then(|s| s.next_timeout())
    }

    pub(super) async fn survey_timeout(&mut self, now: Instant) {
        if let Some(s) = self.survey.as_mut() {
            s.handle_timeout(now);
            self.drive_survey().await;
        }
    }

    /// The call ends while the survey has the caller: the question being asked is
    /// recorded as not answered (`hung_up`), before the machine logs the hang-up.
    pub(super) fn end_survey(&mut self) {
        let Some(mut s) = self.survey.take() else {
            return;
        };
        s.handle(Instant::now(), SurveyInput::HungUp);
        while let Some(a) = s.poll_action() {
            if let Action::Log(kind) = a {
                self.log.record(kind);
            }
        }
    }

    /// Carries out what the interview asked.
    async fn drive_survey(&mut self) {
        loop {
            let Some(action) = self.survey.as_mut().and_then(|s| s.poll_action()) else {
                return;
            };
            match action {
                Action::Play(names) => {
                    let mut parts = Vec::with_capacity(names.len());
                    for n in &names {
                        match self.ex.prompts.get(n) {
                            Some(p) => parts.push(p.samples),
                            None => warn!(prompt = %n, "survey prompt missing: skipped"),
                        }
                    }
                    // No part at all still ends at once: the interview goes on.
                    self.media.play_parts(parts, false).await;
                    // What the caller was asked (and asked again) stays in the call's story.
                    for prompt in names {
                        self.log.record(EventKind::PromptPlayed { prompt });
                    }
                }
                Action::Stop => self.media.stop().await,
                Action::Log(kind) => self.log.record(kind),
                Action::Finished => {
                    self.survey = None;
                    self.machine.handle(
                        Instant::now(),
                        Input::Release {
                            cause: COMPLETED.into(),
                        },
                    );
                    return;
                }
            }
        }
    }
}
