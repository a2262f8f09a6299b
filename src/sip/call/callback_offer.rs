//! The call actor's glue for a caller asking to be called back while queued: the queue's
//! callback key, the confirmation dialog (`call::callback_request`), the request to the
//! ACD, and the goodbye once it is registered. Owns no state beyond the dialog.

use std::time::Instant;

use tracing::info;

use super::CallActor;
use crate::call::callback_request::{CallbackRequest, Step};
use crate::call::machine::Input;
use crate::events::EventKind;
use crate::floor::acd::AcdRequest;
use crate::sip::queued::prompt_parts;

impl CallActor {
    /// A dialog for a queue that offers callbacks (and a trunk to call back through).
    pub(super) fn callback_dialog(&self, queue: &str) -> Option<CallbackRequest> {
        self.admitted.config.outbound.as_ref()?;
        let q = self
            .admitted
            .config
            .queues
            .iter()
            .find(|q| q.id.as_str() == queue)?;
        let key = q.callback.key?;
        Some(CallbackRequest::new(key, &self.admitted.a_number))
    }

    /// Whether the callback dialog has the caller's ear (announcements wait).
    pub(super) fn in_callback_dialog(&self) -> bool {
        self.callback
            .as_ref()
            .is_some_and(CallbackRequest::is_active)
    }

    /// A digit while queued; `true` when the callback dialog took it.
    pub(super) async fn callback_digit(&mut self, now: Instant, digit: char) -> bool {
        if !self.machine.is_routing() || self.acd_call.is_none() {
            return false;
        }
        let Some(req) = self.callback.as_mut() else {
            return false;
        };
        let step = req.digit(now, digit);
        let taken = step.is_some() || req.is_active();
        if let Some(step) = step {
            self.callback_step(step).await;
        }
        taken
    }

    /// A playback ended; `true` when it was the dialog's.
    pub(super) fn callback_prompt_finished(&mut self, now: Instant) -> bool {
        match self.callback.as_mut() {
            Some(req) if req.is_prompting() => {
                req.prompt_finished(now);
                true
            }
            _ => false,
        }
    }

    pub(super) async fn callback_timeout(&mut self, now: Instant) {
        let step = self.callback.as_mut().and_then(|r| r.handle_timeout(now));
        if let Some(step) = step {
            self.callback_step(step).await;
        }
    }

    pub(super) async fn offer_callback(&mut self) {
        if self.in_callback_dialog() {
            return;
        }
        if let Some(Step::Play(names)) = self.callback.as_ref().map(CallbackRequest::offer) {
            self.announce(&names).await;
        }
    }

    pub(super) async fn callback_refused(&mut self) {
        if let Some(Step::Play(names)) = self.callback.as_mut().map(CallbackRequest::refused) {
            self.announce(&names).await;
        }
    }

    /// The ACD registered the callback: the caller hears it with their protocol, then
    /// the call ends; the ACD keeps the request (the hang-up withdraws nothing).
    pub(super) async fn callback_registered(&mut self) {
        info!(protocol = %self.protocol, "callback registered; releasing the caller");
        self.acd_call = None;
        self.callback = None;
        self.waiting = None;
        self.release_after_prompt = Some("callback_registered");
        let names = CallbackRequest::registered(self.protocol.as_str());
        self.play_names(&names).await;
    }

    async fn callback_step(&mut self, step: Step) {
        match step {
            Step::Play(names) => self.play_names(&names).await,
            Step::ResumeWaiting => {
                if let Some(w) = self.waiting.as_mut() {
                    w.music(&self.media, &self.ex.prompts).await;
                }
            }
            Step::Request { number } => {
                let (Some(call), Some(acd)) = (self.acd_call.clone(), self.ex.acd.clone()) else {
                    return;
                };
                if let Some(w) = self.waiting.as_mut() {
                    w.music(&self.media, &self.ex.prompts).await;
                }
                if !acd
                    .send(AcdRequest::CallbackRequested { call, number })
                    .await
                {
                    self.machine.handle(
                        Instant::now(),
                        Input::Release {
                            cause: "acd_down".into(),
                        },
                    );
                }
            }
        }
    }

    /// Plays prompts by name as one playback (missing ones are skipped with a warning).
    async fn play_names(&mut self, names: &[String]) {
        let parts = prompt_parts(names, &self.ex.prompts);
        if let Some(first) = names.first() {
            self.log.record(EventKind::PromptPlayed {
                prompt: first.clone(),
            });
        }
        self.media.play_parts(parts, false).await;
    }
}
