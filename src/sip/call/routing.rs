//! The call actor's glue between its machine, its IVR driver and the ACD actor: starting
//! the IVR, handing the call to a queue, following the ACD's notices, and routing digits
//! and playback ends to whoever has the caller. Owns no state of its own.

use std::time::Instant;

use tracing::{error, info, warn};

use super::CallActor;
use crate::acd::{
    CallId, CallerNumber, DequeueReason, Destination as AcdDestination, NewCall, QueueId,
    SkillLevel,
};
use crate::call::machine::Input;
use crate::events::EventKind;
use crate::floor::acd::{AcdNotice, AcdRequest};
use crate::ivr::{CallInfo, Destination, Enqueue};
use crate::sip::ivr_driver::{Handoff, IvrDriver};
use crate::sip::queued::{Waiting, announcement};

/// Said when no queue takes the call ("O sistema … está indisponível no momento.") …
const QUEUE_UNAVAILABLE: &str = "pt-BR/ura/sistema-indisponivel";
/// … then "Obrigado por ligar. Até logo." before the hang-up.
const GOODBYE: &str = "pt-BR/ura/despedida";

impl CallActor {
    /// Takes the flow set once (a reload never changes this call) and starts the IVR.
    pub(super) async fn start_ivr(&mut self) {
        let Some(flows) = self.ex.flows.as_ref() else {
            return;
        };
        let set = flows.current();
        self.ivr_set = Some(set.clone());
        let mut ivr = self.ivr_driver(set);
        let emergency = self.ex.announcements.emergency();
        let h = ivr.begin(Instant::now(), self.call_info(), emergency).await;
        self.ivr = Some(Box::new(ivr));
        self.handoff(h).await;
    }

    /// The ACD sent the call back to the IVR (`{ to = "ivr", node = "flow/node" }`): the
    /// flow set the call started with runs again from there, with the call's variables.
    async fn resume_ivr(&mut self, target: &str) {
        let interp = self.ivr_set.clone().and_then(|set| {
            crate::ivr::Interpreter::resume_at(set, target, self.queued_vars.clone())
        });
        let (Some(set), Some(interp)) = (self.ivr_set.clone(), interp) else {
            warn!(protocol = %self.protocol, target, "queue destination names no IVR flow/node");
            self.machine.handle(
                Instant::now(),
                Input::Release {
                    cause: "ivr_node_missing".into(),
                },
            );
            return;
        };
        self.waiting = None;
        self.callback = None;
        let mut ivr = self.ivr_driver(set).with_interpreter(interp);
        let h = ivr.begin(Instant::now(), self.call_info(), None).await;
        self.ivr = Some(Box::new(ivr));
        self.handoff(h).await;
    }

    fn call_info(&self) -> CallInfo {
        CallInfo {
            ani: self.admitted.a_number.clone(),
            did: self.admitted.b_number.clone(),
            protocol: self.protocol.to_string(),
            wall: jiff::Timestamp::now(),
        }
    }

    /// A driver for `set`, with a new channel for its fetch results (replacing any older
    /// driver's: its fetches no longer matter).
    fn ivr_driver(&mut self, set: std::sync::Arc<crate::ivr::FlowSet>) -> IvrDriver {
        let (fetch_tx, fetches) = tokio::sync::mpsc::channel(4);
        self.fetches = Some(fetches);
        let http = self.ex.http.clone();
        let rewrite = self
            .admitted
            .config
            .ivr
            .as_ref()
            .map(|i| i.http_rewrite.clone())
            .unwrap_or_default();
        IvrDriver::new(
            set,
            http,
            rewrite,
            self.ex.prompts.clone(),
            self.media.clone(),
            self.log.clone(),
            fetch_tx,
        )
    }

    pub(super) async fn on_digit(&mut self, digit: char, via: &'static str) {
        let now = Instant::now();
        self.machine.handle(now, Input::Dtmf { digit, via });
        if self.survey_digit(now, digit).await || self.callback_digit(now, digit).await {
            return;
        }
        if let Some(ivr) = self.ivr.as_mut() {
            let h = ivr.digit(now, digit).await;
            self.handoff(h).await;
        }
    }

    pub(super) async fn on_prompt_finished(&mut self) {
        let now = Instant::now();
        if self.survey_prompt_finished(now).await {
            // The survey goes on (next question, the wait for a key, or its end).
        } else if let Some(ivr) = self.ivr.as_mut() {
            let h = ivr.prompt_finished(now).await;
            self.handoff(h).await;
        } else if self.callback_prompt_finished(now) {
            // The callback dialog waits for the caller's choice.
        } else if let Some(cause) = self.release_after_prompt {
            self.machine.handle(
                now,
                Input::Release {
                    cause: cause.into(),
                },
            );
        } else if let (Some(w), true) = (self.waiting.as_mut(), self.machine.is_routing()) {
            w.prompt_finished(&self.media, &self.ex.prompts).await;
        } else {
            self.machine.handle(now, Input::PromptFinished);
        }
    }

    /// The IVR's part ended: queue, transfer or hang up.
    pub(super) async fn handoff(&mut self, h: Option<Handoff>) {
        let Some(h) = h else { return };
        self.ivr = None;
        let now = Instant::now();
        match h {
            Handoff::Enqueue(e) => self.enqueue(e).await,
            Handoff::Transfer(Destination::Extension(agent)) => {
                self.transferring = true;
                // An available agent is held busy in the ACD while this call is theirs;
                // one it has on a call, paused or logged out (or who is no ACD agent) is
                // rung all the same, as the flow says.
                if let Some(acd) = self.ex.acd.as_ref() {
                    let call = crate::acd::CallId::new(self.protocol.to_string());
                    if acd.direct_call(agent.as_str().into(), call).await.is_ok() {
                        self.direct = Some(agent.clone());
                    }
                }
                self.hold_music().await;
                self.machine.handle(
                    now,
                    Input::Offer {
                        agent,
                        ring_timeout: Some(self.admitted.ring_timeout),
                    },
                );
            }
            Handoff::Transfer(Destination::Number(number)) => self.transfer_out(number).await,
            Handoff::HangUp => self.machine.handle(
                now,
                Input::Release {
                    cause: "served_by_ivr".into(),
                },
            ),
        }
    }

    pub(super) async fn hold_music(&mut self) {
        let mut w = Waiting::new(self.admitted.hold_music.clone());
        w.music(&self.media, &self.ex.prompts).await;
        self.waiting = Some(w);
    }

    pub(super) async fn enqueue(&mut self, e: Enqueue) {
        let Some(acd) = self.ex.acd.clone() else {
            warn!(protocol = %self.protocol, queue = %e.queue, "IVR enqueued but no ACD queues are configured");
            self.machine.handle(
                Instant::now(),
                Input::Release {
                    cause: "no_queue".into(),
                },
            );
            return;
        };
        let call = CallId::new(self.protocol.to_string());
        self.hold_music().await;
        let new = NewCall {
            call: call.clone(),
            queue: QueueId::new(e.queue.as_str()),
            priority: u8::try_from(e.priority.clamp(0, 255)).unwrap_or(0),
            skills: e
                .skills
                .iter()
                .map(|s| SkillLevel::new(s.as_str(), 1))
                .collect(),
            a_number: CallerNumber::new(self.admitted.a_number.as_str()),
            variables: e.variables.clone(),
        };
        self.queued_vars = e.variables;
        self.acd_call = Some(call);
        self.callback = self.callback_dialog(&e.queue);
        let sent = acd
            .send(AcdRequest::Enqueue {
                call: new,
                log: self.log.clone(),
                notices: self.notice_tx.clone(),
            })
            .await;
        if !sent {
            self.machine.handle(
                Instant::now(),
                Input::Release {
                    cause: "acd_down".into(),
                },
            );
        }
    }

    pub(super) async fn on_notice(&mut self, n: AcdNotice) {
        let now = Instant::now();
        match n {
            AcdNotice::Offer { agent, queue } => {
                self.choose_survey(Some(queue.as_str()));
                self.machine.handle(
                    now,
                    Input::Offer {
                        agent: agent.0,
                        ring_timeout: None,
                    },
                )
            }
            AcdNotice::CancelOffer { agent } => self
                .machine
                .handle(now, Input::CancelOffer { agent: agent.0 }),
            AcdNotice::Announce {
                position,
                position_cap,
                estimated_wait_secs,
            } => {
                let names = announcement(position, Some(position_cap), estimated_wait_secs);
                self.announce(&names).await;
            }
            AcdNotice::Overflowed { queue } => {
                // The callback key is the new queue's (a dialog under way finishes first).
                if !self.in_callback_dialog() {
                    self.callback = self.callback_dialog(queue.as_str());
                }
            }
            AcdNotice::PlayMessage { prompt } => self.announce(&[prompt]).await,
            AcdNotice::RouteTo {
                destination,
                reason,
            } => {
                info!(protocol = %self.protocol, ?destination, ?reason, "ACD routed the call out");
                self.acd_call = None;
                match destination {
                    AcdDestination::Ivr { node } => self.resume_ivr(&node).await,
                    AcdDestination::Message { prompt } => {
                        self.waiting = None;
                        self.release_after_prompt = Some("queue_message");
                        let mut w = Waiting::new(String::new());
                        w.announce(&[prompt], &self.media, &self.ex.prompts).await;
                    }
                    _ => self.machine.handle(
                        now,
                        Input::Release {
                            cause: "queue_routed".into(),
                        },
                    ),
                }
            }
            AcdNotice::Dequeued {
                reason: DequeueReason::CallbackRegistered,
            } => self.callback_registered().await,
            AcdNotice::Dequeued { .. } => {}
            AcdNotice::EnqueueRefused { queue } => self.enqueue_refused(queue).await,
            AcdNotice::OfferCallback => self.offer_callback().await,
            AcdNotice::CallbackRefused => self.callback_refused().await,
        }
    }

    /// The ACD would not queue the call: the flows' fallback queue, or if that one was
    /// refused too (or there is none), a polite message and hang-up with a recorded cause.
    async fn enqueue_refused(&mut self, queue: QueueId) {
        self.acd_call = None;
        self.callback = None;
        let fallback = self
            .ivr_set
            .as_ref()
            .map(|s| s.fallback_queue().to_owned())
            .filter(|f| f.as_str() != queue.as_str());
        if let Some(fallback) = fallback {
            error!(protocol = %self.protocol, %queue, %fallback, "queue refused the call: trying the fallback queue");
            let e = Enqueue {
                queue: fallback,
                priority: 0,
                skills: Vec::new(),
                variables: self.queued_vars.clone(),
            };
            return self.enqueue(e).await;
        }
        error!(protocol = %self.protocol, %queue, "queue refused the call and no fallback queue takes it: saying goodbye");
        self.waiting = None;
        if self.ex.prompts.get(QUEUE_UNAVAILABLE).is_none() {
            // Nothing to say (prompt library without it): hang up at once, cause kept.
            self.machine.handle(
                Instant::now(),
                Input::Release {
                    cause: "queue_unavailable".into(),
                },
            );
            return;
        }
        self.release_after_prompt = Some("queue_unavailable");
        let mut w = Waiting::new(String::new());
        let names = [QUEUE_UNAVAILABLE.to_owned(), GOODBYE.to_owned()];
        w.announce(&names, &self.media, &self.ex.prompts).await;
    }

    pub(super) async fn announce(&mut self, names: &[String]) {
        if !self.machine.is_routing() || self.in_callback_dialog() {
            return;
        }
        if let Some(w) = self.waiting.as_mut() {
            w.announce(names, &self.media, &self.ex.prompts).await;
            // What the waiting caller was told stays in the call's story.
            for prompt in names {
                self.log.record(EventKind::PromptPlayed {
                    prompt: prompt.clone(),
                });
            }
        }
    }

    pub(super) async fn offer_answered(&mut self, agent: String) {
        self.waiting = None;
        self.callback = None;
        if let (Some(call), Some(acd)) = (self.acd_call.clone(), self.ex.acd.as_ref()) {
            acd.send(AcdRequest::OfferAnswered {
                call,
                agent: agent.into(),
            })
            .await;
        }
    }

    pub(super) async fn offer_failed(&mut self, agent: String, rejected: bool) {
        self.direct_ended(&agent).await;
        if self.admitted.internal.is_some() {
            self.machine.handle(
                Instant::now(),
                Input::Release {
                    cause: "not_answered".into(),
                },
            );
            return;
        }
        if self.transferring {
            self.machine.handle(
                Instant::now(),
                Input::Release {
                    cause: "transfer_failed".into(),
                },
            );
            return;
        }
        let (Some(call), Some(acd)) = (self.acd_call.clone(), self.ex.acd.as_ref()) else {
            return;
        };
        let agent = agent.into();
        acd.send(if rejected {
            AcdRequest::OfferRejected { call, agent }
        } else {
            AcdRequest::OfferNotAnswered { call, agent }
        })
        .await;
    }
}
