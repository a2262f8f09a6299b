//! The call actor: one task per inbound call, owning its dialogs, media and log.
//!
//! It admits the INVITE (capacity, trunk, DID, SDP), answers it, starts the media session
//! and then feeds everything that happens (dialog states, agent legs' outcomes, media
//! events, timers) into the pure `CallMachine`, carrying out the actions it returns. The
//! B2BUA legs towards agent phones are rsipstack client dialogs it creates and ends.
//!
//! For an IVR service the machine is `routed`: the call's `IvrDriver` has the caller
//! first, then the ACD actor (through `AcdNotice`s) decides which agent rings, while
//! `Waiting` plays music and announcements; `routing` holds that glue.
//!
//! The set-up lives in `answer`, dialog states after it in `dialogs`, the agent legs and
//! their outcomes in `ring`; this file keeps the actor, its loop and `act`.

mod answer;
mod attended;
mod callback_offer;
mod commands;
mod dialogs;
mod internal;
mod monitor;
mod refer;
mod refresh;
mod replaces;
mod ring;
mod routing;
mod survey;
mod transfer;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use rsipstack::dialog::DialogId;
use rsipstack::dialog::dialog::DialogState;
use rsipstack::dialog::invite_dialog::InviteDialog;
use rsipstack::transaction::transaction::Transaction;
use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::acd::CallId;
use crate::call::machine::{Action, CallMachine, Input, LegId};
use crate::events::{EventKind, Party};
use crate::floor::acd::{AcdNotice, AcdRequest, NoticeReceiver, NoticeSender};
use crate::floor::call_log::CallLog;
use crate::media::session::{Leg, MediaCommand, MediaEvent, MediaHandle};
use crate::sip::admit::Admitted;
use crate::sip::exchange::Exchange;
use crate::sip::ivr_driver::{FetchResult, IvrDriver};
use crate::sip::legs::{AgentLeg, LegOutcome, finalize_recording};
use crate::sip::queued::Waiting;
use crate::sip::session_timer::SessionTimer;
use crate::store::protocol::Protocol;

/// Handles a new inbound INVITE for the whole life of the call.
pub async fn inbound(ex: Arc<Exchange>, tx: Transaction) {
    // Counted until the call is wound up: a clean stop waits for it.
    let _busy = ex.lifecycle.busy();
    // This future lives as long as the call, so only what the call holds while it lasts
    // belongs in it: the set-up's locals and reply futures live in a box freed once the
    // call is answered (the call's task fell from 24.7 KB to 5.2 KB).
    let Some((mut actor, inputs, routed)) = Box::pin(answer::answer(ex, tx)).await else {
        return;
    };
    if routed {
        Box::pin(actor.start_ivr()).await;
    }
    let ex = actor.ex.clone();
    actor.run(inputs).await;
    ex.counters.active.fetch_sub(1, Ordering::Relaxed);
}

/// What the call's actor listens to.
struct Inputs {
    dialog_states: crate::sip::dialog_router::DialogStates,
    media_events: mpsc::Receiver<MediaEvent>,
    outcomes: mpsc::Receiver<Box<LegOutcome>>,
    notices: NoticeReceiver,
}

struct CallActor {
    ex: Arc<Exchange>,
    log: CallLog,
    protocol: Protocol,
    machine: CallMachine,
    caller: InviteDialog,
    media: MediaHandle,
    caller_local: SocketAddr,
    agent_local: SocketAddr,
    admitted: Admitted,
    legs: HashMap<LegId, AgentLeg>,
    next_leg: LegId,
    agent_state_tx: rsipstack::dialog::dialog::DialogStateSender,
    /// Where the router sends this call's dialog states (agent legs join it).
    dialog_route: crate::sip::dialog_router::Route,
    outcome_tx: mpsc::Sender<Box<LegOutcome>>,
    sdp_version: u64,
    session_id: u64,
    /// The IVR while it has the caller; boxed so a call the IVR never serves does not
    /// carry its 600 bytes.
    ivr: Option<Box<IvrDriver>>,
    /// The IVR's HTTP fetch results; made with the IVR, so a call without one does not
    /// carry a channel for them.
    fetches: Option<mpsc::Receiver<Box<FetchResult>>>,
    notice_tx: NoticeSender,
    /// The call's id in the ACD once it was enqueued (the hang-up is reported to it).
    acd_call: Option<CallId>,
    /// Music and announcements while queued.
    waiting: Option<Waiting>,
    /// Ringing an extension the IVR transferred to (not an ACD offer).
    transferring: bool,
    /// Hang up with this cause when the playing prompt ends (a queue's message
    /// destination, a registered callback).
    release_after_prompt: Option<&'static str>,
    /// Asking for a callback while queued (queues with a callback key).
    callback: Option<crate::call::callback_request::CallbackRequest>,
    /// The flow set the call started with (a queue may hand the call back to it).
    ivr_set: Option<Arc<crate::ivr::FlowSet>>,
    /// The IVR's variables when the call was queued.
    queued_vars: std::collections::BTreeMap<String, String>,
    /// The caller leg's session timer (RFC 4028), when the gateway asked for one.
    session: Option<SessionTimer>,
    /// The machine asked to hang up the caller: the BYE leaves with the hang-up cause
    /// (as a Q.850 Reason) the machine logs next.
    bye_caller: bool,
    /// The number an IVR transfer dials through the outbound gateway, until rung.
    external: Option<String>,
    /// An operator put the caller on hold (`floor::calls::CallCommand::Hold`).
    held: bool,
    /// The agent a transfer rang directly, whom the ACD holds busy with this call.
    direct: Option<String>,
    /// An attended transfer's consultation, while it lasts.
    consult: Option<Box<attended::Consult>>,
    /// Supervisors listening, whispering or barging in (`monitor`), while any are.
    monitoring: Option<Box<monitor::Monitoring>>,
    /// A REFER answered 202, carried out once the 202 is sent (`refer`).
    refer: Option<refer::AcceptedRefer>,
    /// The satisfaction survey, while it has the caller (`survey`).
    survey: Option<Box<crate::survey::Interview>>,
    /// An internal call's calling agent, when the ACD holds them busy with it.
    internal_from: Option<String>,
    /// An internal call's requests for its answered leg (`handover`), and its place in
    /// the registry of such calls while it runs.
    handover: Option<(
        crate::sip::handover::HandoverRegistration,
        mpsc::Receiver<crate::sip::handover::HandoverRequest>,
    )>,
}

/// The next message of a channel that may not exist yet (never, if it does not).
async fn recv_some<T>(rx: &mut Option<mpsc::Receiver<T>>) -> Option<T> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// The next handover request of an internal call (never, for other calls).
async fn handover_request(
    h: &mut Option<(
        crate::sip::handover::HandoverRegistration,
        mpsc::Receiver<crate::sip::handover::HandoverRequest>,
    )>,
) -> Option<crate::sip::handover::HandoverRequest> {
    match h {
        Some((_, rx)) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// What woke the call's loop.
enum Wake {
    Dialog(Box<DialogState>),
    Media(MediaEvent),
    Outcome(Box<LegOutcome>),
    Fetch(Box<FetchResult>),
    Notice(Box<AcdNotice>),
    /// A command from the floor's registry of live calls.
    Command(crate::floor::calls::Queued),
    /// A citizen's call asks this internal call for its answered leg.
    Handover(crate::sip::handover::HandoverRequest),
    Timeout,
    /// The server is stopping.
    Drain,
}

impl CallActor {
    async fn run(&mut self, inputs: Inputs) {
        let Inputs {
            mut dialog_states,
            mut media_events,
            mut outcomes,
            mut notices,
        } = inputs;
        let caller_id = self.caller.id();
        // On the floor's registry while the loop runs: commands reach the call by protocol.
        let (_registration, mut commands) = self.ex.calls.register(&self.protocol.to_string());
        loop {
            while let Some(action) = self.machine.poll_action() {
                // Boxed, like every handler below: this future lives as long as the call,
                // and an async call awaited inline makes it as large as the largest
                // handler's state (rsipstack's replies among them) for the call's life.
                Box::pin(self.act(action)).await;
            }
            self.send_caller_bye("normal_clearing");
            if self.machine.is_ended() {
                break;
            }
            let deadline = [
                self.machine.next_timeout(),
                self.ivr.as_ref().and_then(|i| i.next_timeout()),
                self.callback.as_ref().and_then(|c| c.next_timeout()),
                self.session.as_ref().map(|s| s.deadline()),
                self.consult.as_ref().and_then(|c| c.deadline()),
                self.survey_deadline(),
            ]
            .into_iter()
            .flatten()
            .min();
            let sleep = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            let wake = tokio::select! {
                Some(st) = dialog_states.recv() => Wake::Dialog(st),
                Some(ev) = media_events.recv() => Wake::Media(ev),
                Some(o) = outcomes.recv() => Wake::Outcome(o),
                Some(r) = recv_some(&mut self.fetches) => Wake::Fetch(r),
                Some(n) = notices.recv() => Wake::Notice(n),
                Some(c) = commands.recv() => Wake::Command(c),
                Some(h) = handover_request(&mut self.handover) => Wake::Handover(h),
                _ = sleep => Wake::Timeout,
                () = self.ex.lifecycle.drain_started() => Wake::Drain,
            };
            Box::pin(self.on_wake(wake, &caller_id)).await;
            Box::pin(self.monitor_check()).await;
        }
        Box::pin(self.wind_up()).await;
    }

    /// Handles one input of the call's loop.
    async fn on_wake(&mut self, wake: Wake, caller_id: &DialogId) {
        let now = std::time::Instant::now;
        match wake {
            Wake::Dialog(st) => {
                if st.id() == caller_id {
                    self.on_caller_state(*st).await;
                } else {
                    self.on_agent_state(*st).await;
                }
            }
            Wake::Media(MediaEvent::Dtmf { digit, .. }) => self.on_digit(digit, "rfc4733").await,
            Wake::Media(MediaEvent::SupervisorDigit { key, digit }) => {
                self.monitor_digit(key, digit).await
            }
            Wake::Media(MediaEvent::PromptFinished { id }) => {
                // The end of a playback already replaced is no news.
                if self.media.is_latest(id) {
                    self.on_prompt_finished().await;
                }
            }
            Wake::Media(MediaEvent::RtpTimeout { leg }) => {
                let party = if leg == Leg::Caller {
                    Party::Caller
                } else {
                    Party::Agent
                };
                self.machine.handle(now(), Input::RtpTimeout { party });
            }
            Wake::Outcome(o) => self.on_outcome(*o).await,
            Wake::Fetch(r) => {
                if let Some(ivr) = self.ivr.as_mut() {
                    let h = ivr.http_result(now(), *r).await;
                    self.handoff(h).await;
                }
            }
            Wake::Notice(n) => self.on_notice(*n).await,
            Wake::Command(c) => self.on_command(*c).await,
            Wake::Handover(h) => self.on_handover(h).await,
            Wake::Drain => {
                let cause = "server_shutdown".to_owned();
                self.machine.handle(now(), Input::Release { cause });
            }
            Wake::Timeout => {
                self.machine.handle_timeout(now());
                if let Some(ivr) = self.ivr.as_mut() {
                    let h = ivr.timeout(now()).await;
                    self.handoff(h).await;
                }
                self.callback_timeout(now()).await;
                self.session_timeout(now());
                self.consult_timeout(now()).await;
                self.survey_timeout(now()).await;
            }
        }
    }

    /// After the call ended: tells the IVR and the ACD, forgets the dialogs and routes.
    async fn wind_up(&mut self) {
        if let Some(ivr) = self.ivr.as_mut() {
            ivr.hung_up(std::time::Instant::now()).await;
        }
        if let (Some(call), Some(acd)) = (self.acd_call.take(), self.ex.acd.as_ref()) {
            acd.send(AcdRequest::Hangup { call }).await;
        }
        self.end_consultation().await;
        if let Some(agent) = self.direct.clone() {
            self.direct_ended(&agent).await;
        }
        self.internal_ended().await;
        self.ex.dialogs.remove_dialog(&self.caller.id());
        for leg in self.legs.values() {
            self.ex.dialogs.remove_dialog(&leg.dialog.id());
        }
        let caller_call_id = self.caller.id().call_id.clone();
        let mut routed: Vec<&str> = self.legs.values().map(|l| l.call_id.as_str()).collect();
        routed.push(&caller_call_id);
        self.ex.dialog_router.remove(&routed);
        info!(protocol = %self.protocol, "call ended");
    }

    async fn act(&mut self, action: Action) {
        match action {
            Action::Log(kind) => {
                if let EventKind::HungUp { cause, .. } = &kind {
                    self.send_caller_bye(cause);
                }
                self.log.record(kind)
            }
            Action::PlayWelcome => {
                let name = self.admitted.welcome.clone();
                self.play(&name, false).await;
                self.log.record(EventKind::PromptPlayed { prompt: name });
            }
            Action::PlayHoldMusic => {
                let name = self.admitted.hold_music.clone();
                self.play(&name, true).await;
            }
            Action::RingAgents => {
                let legs = self.ring_agents(self.admitted.agents.clone());
                self.machine
                    .handle(std::time::Instant::now(), Input::RingStarted { legs });
            }
            Action::OfferAnswered { agent } => self.offer_answered(agent).await,
            Action::OfferFailed { agent, rejected } => self.offer_failed(agent, rejected).await,
            Action::StartSurvey { survey, agent } => self.start_survey(survey, agent).await,
            Action::EndSurvey => self.end_survey(),
            Action::RingAgent(agent) => {
                let legs = match self.external.take() {
                    Some(target) => self.ring_external(target),
                    None => self.ring_agents(vec![agent]),
                };
                self.machine
                    .handle(std::time::Instant::now(), Input::RingStarted { legs });
            }
            Action::CancelLeg(leg) => {
                if let Some(l) = self.legs.get(&leg) {
                    let d = l.dialog.clone();
                    self.ex.lifecycle.spawn(async move {
                        let _ = d.cancel().await;
                    });
                }
            }
            Action::Bridge(_) => self.media.send(MediaCommand::Bridge).await,
            Action::Unbridge => self.media.send(MediaCommand::Unbridge).await,
            Action::Sending { to, enabled } => {
                let leg = if to == Party::Caller {
                    Leg::Caller
                } else {
                    Leg::Agent
                };
                self.media
                    .send(MediaCommand::Sending { leg, enabled })
                    .await;
            }
            // The BYEs and the seal are counted: a clean stop waits for them.
            Action::HangUpAgent(leg) => {
                if let Some(l) = self.legs.get(&leg) {
                    let d = l.dialog.clone();
                    self.ex.lifecycle.spawn(async move {
                        let _ = d.bye().await;
                    });
                }
            }
            Action::HangUpCaller => self.bye_caller = true,
            Action::FinishMedia => {
                // The supervisors' legs and track close before the call's media does.
                Box::pin(self.end_monitors("call_ended")).await;
                let receipt = self.media.finish().await;
                let log = self.log.clone();
                let ex = self.ex.clone();
                self.ex
                    .lifecycle
                    .spawn(finalize_recording(ex, log, receipt));
            }
        }
    }

    async fn play(&self, name: &str, looped: bool) {
        match self.ex.prompts.get(name) {
            Some(p) => {
                self.media.play(p.samples.clone(), looped).await;
            }
            None => {
                warn!(prompt = name, "prompt missing: playing silence");
                // A missing welcome must not strand the call before ringing.
                if !looped {
                    self.machine_prompt_missing();
                }
            }
        }
    }

    fn machine_prompt_missing(&self) {
        // The media task reports PromptFinished for an empty prompt at once.
        let media = self.media.clone();
        tokio::spawn(async move { media.play(Arc::from(Vec::<i16>::new()), false).await });
    }
}
