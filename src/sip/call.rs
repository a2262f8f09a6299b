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

mod callback_offer;
mod refresh;
mod ring;
mod routing;
mod transfer;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use rsipstack::dialog::DialogId;
use rsipstack::dialog::dialog::{DialogState, TerminatedReason};
use rsipstack::dialog::invite_dialog::InviteDialog;
use rsipstack::sip::{Request, StatusCode};
use rsipstack::transaction::transaction::Transaction;
use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::acd::CallId;
use crate::call::machine::{Action, CallMachine, Input, LegId};
use crate::events::{EventKind, Party};
use crate::media::session::{Leg, MediaCommand, MediaEvent, MediaHandle, MediaSession};
use crate::sdp;
use crate::sip::acd::{AcdNotice, AcdRequest, NoticeReceiver, NoticeSender};
use crate::sip::admit::{Admitted, Refusal, admit};
use crate::sip::call_log::CallLog;
use crate::sip::exchange::Exchange;
use crate::sip::feature_code;
use crate::sip::identity;
use crate::sip::ivr_driver::{FetchResult, IvrDriver};
use crate::sip::legs::{
    AgentLeg, LegOutcome, contact_uri, finalize_recording, info_digit, respond_sdp,
};
use crate::sip::queued::Waiting;
use crate::sip::request;
use crate::sip::session_timer::{self, SessionTimer};
use crate::store::protocol::Protocol;

/// Handles a new inbound INVITE for the whole life of the call.
pub async fn inbound(ex: Arc<Exchange>, tx: Transaction) {
    // Counted until the call is wound up: a clean stop waits for it.
    let _busy = ex.lifecycle.busy();
    // This future lives as long as the call, so only what the call holds while it lasts
    // belongs in it: the set-up's locals and reply futures live in a box freed once the
    // call is answered (the call's task fell from 24.7 KB to 5.2 KB).
    let Some((mut actor, inputs, routed)) = Box::pin(answer(ex, tx)).await else {
        return;
    };
    if routed {
        Box::pin(actor.start_ivr()).await;
    }
    let ex = actor.ex.clone();
    actor.run(inputs).await;
    ex.counters.active.fetch_sub(1, Ordering::Relaxed);
}

/// Refuses a call already logged as offered, closing its log with the refusal.
async fn refuse_offered(tx: &mut Transaction, log: &CallLog, status: StatusCode, cause: &str) {
    let sip_status = Some(status.code());
    let _ = tx.reply(status).await;
    log.record(EventKind::HungUp {
        by: Party::System,
        cause: cause.into(),
        sip_status,
    });
}

/// What the call's actor listens to.
struct Inputs {
    dialog_states: crate::sip::dialog_router::DialogStates,
    media_events: mpsc::Receiver<MediaEvent>,
    outcomes: mpsc::Receiver<Box<LegOutcome>>,
    notices: NoticeReceiver,
}

/// Admits and answers the call, starting its media and recording; `None` when it was
/// refused (and answered so). Also says whether the call goes to the IVR first.
async fn answer(ex: Arc<Exchange>, mut tx: Transaction) -> Option<(CallActor, Inputs, bool)> {
    // An agent's feature code is no call: no protocol, recording or call counters.
    if request::request_user(&tx.original).is_some_and(|u| feature_code::is_feature_code(&u)) {
        feature_code::serve(ex, tx).await;
        return None;
    }
    ex.counters.offered.fetch_add(1, Ordering::Relaxed);
    if ex.lifecycle.is_draining() {
        ex.counters.rejected.fetch_add(1, Ordering::Relaxed);
        let retry = vec![request::raw_header("Retry-After", "30")];
        let _ = tx
            .reply_with(StatusCode::ServiceUnavailable, retry, None)
            .await;
        return None;
    }
    let admitted = match admit(&ex, &tx) {
        Ok(a) => a,
        Err(refusal) => {
            ex.counters.rejected.fetch_add(1, Ordering::Relaxed);
            let src = request::source(&tx);
            let r = match refusal {
                Refusal::Status(status, why) => {
                    info!(source = ?src, status = status.code(), why, "INVITE refused");
                    tx.reply(status).await
                }
                Refusal::Challenge(headers) => {
                    tx.reply_with(StatusCode::ProxyAuthenticationRequired, headers, None)
                        .await
                }
                Refusal::WithHeaders(status, headers, why) => {
                    info!(source = ?src, status = status.code(), why, "INVITE refused");
                    tx.reply_with(status, headers, None).await
                }
            };
            if let Err(e) = r {
                warn!(error = %e, "could not answer refused INVITE");
            }
            return None;
        }
    };
    // A shared port only for a caller reached directly (the gateway signalling from the
    // host its SDP names). The agent leg keeps its own: its port is offered before anyone
    // knows which phone will answer, and one behind NAT would send from an address its
    // SDP does not name, which only a port of its own can latch to.
    let share_caller =
        ex.config().media.shared_ports && admitted.remote.rtp_addr.ip() == admitted.source.ip();
    let [caller_sock, agent_sock] =
        match ex
            .media
            .leg_ports(&ex.ports, [share_caller, false], admitted.remote.rtp_addr)
        {
            Ok(pair) => pair,
            Err(e) => {
                warn!(error = %e, "no RTP port for a new call");
                let _ = tx.reply(StatusCode::ServiceUnavailable).await;
                return None;
            }
        };
    let (Ok(caller_local), Ok(agent_local)) = (caller_sock.local_addr(), agent_sock.local_addr())
    else {
        let _ = tx.reply(StatusCode::ServerInternalError).await;
        return None;
    };

    let protocol = ex.next_protocol();
    let log = CallLog::new(ex.event_log.clone(), protocol.clone());
    log.record(EventKind::Offered {
        call_id: request::call_id(&tx.original).unwrap_or_default(),
        a_number: admitted.a_number.clone(),
        b_number: admitted.b_number.clone(),
        service: admitted.service.clone(),
        source: admitted.source.to_string(),
        restricted: admitted.restricted,
    });

    // Dialog states come through the server's one state channel (`DialogRouter`), routed
    // here by Call-ID: the caller's now, each agent leg's when it is rung. States carry
    // their dialog's id, which tells the caller's (fixed) from the legs'.
    let caller_call_id = request::call_id(&tx.original).unwrap_or_default();
    let Some((dialog_route, dialog_states)) = ex.dialog_router.register(&caller_call_id) else {
        warn!(%protocol, "INVITE reuses the Call-ID of a call in progress: refused");
        refuse_offered(&mut tx, &log, StatusCode::BadRequest, "call_id_in_use").await;
        return None;
    };
    let state_tx = ex.dialog_router.sender();
    let agent_state_tx = state_tx.clone();
    let contact = contact_uri(&ex, "atende");
    let dialog = match ex
        .dialogs
        .get_or_create_server_invite(&tx, state_tx, None, Some(contact))
    {
        Ok(d) => d,
        Err(e) => {
            ex.dialog_router.remove(&[&caller_call_id]);
            warn!(error = %e, %protocol, "cannot create the caller's dialog");
            refuse_offered(
                &mut tx,
                &log,
                StatusCode::ServerInternalError,
                "internal_error",
            )
            .await;
            return None;
        }
    };
    ex.counters.active.fetch_add(1, Ordering::Relaxed);
    let mut invite_handler = dialog.clone();
    tokio::spawn(async move {
        let _ = invite_handler.handle(&mut tx).await;
    });

    let neg = admitted.negotiated;
    let answer = sdp::write(
        rand::random::<u32>() as u64,
        1,
        ex.advertised(caller_local),
        &[(neg.pt, neg.codec)],
        neg.telephone_event_pt,
        admitted.remote.direction.answer(),
    );
    let mut sdp_headers = vec![request::raw_header("Content-Type", "application/sdp")];
    let session = admitted.session.as_ref().map(|s| {
        sdp_headers.push(request::raw_header(
            "Session-Expires",
            session_timer::response_header(s.expires, s.refresher),
        ));
        if s.require {
            sdp_headers.push(request::raw_header("Require", "timer"));
        }
        SessionTimer::start(std::time::Instant::now(), s.expires, s.refresher)
    });
    if let Err(e) = dialog.accept(Some(sdp_headers), Some(answer.into_bytes())) {
        warn!(error = %e, %protocol, "could not answer the call");
    }
    let shown = if admitted.restricted {
        identity::RESTRICTED
    } else {
        admitted.a_number.as_str()
    };
    info!(%protocol, a = %shown, did = %admitted.b_number, "call answered");

    let path = ex.recording_path(&protocol);
    let recording = ex.recordings.open(&path);
    log.record(EventKind::RecordingStarted {
        path: path.display().to_string(),
    });
    let (media_tx, media_events) = mpsc::channel(32);
    let media = ex.media.attach(MediaSession::new(
        caller_sock,
        agent_sock,
        Some(recording),
        media_tx,
        ex.media_stats.clone(),
        rand::random(),
    ));
    media
        .send(MediaCommand::Remote {
            leg: Leg::Caller,
            addr: admitted.remote.rtp_addr,
            negotiated: neg,
        })
        .await;

    // Boxed messages: a tokio channel allocates its first block of 32 messages when made,
    // so a channel of pointers costs 256 bytes per call where one of outcomes cost 2 KB.
    let (outcome_tx, outcomes) = mpsc::channel(16);
    let (notice_tx, notices) = mpsc::channel(32);
    let routed = admitted.ivr;
    let mut actor = CallActor {
        ex: ex.clone(),
        log,
        protocol,
        machine: if routed {
            CallMachine::routed()
        } else {
            CallMachine::new(admitted.ring_timeout)
        },
        caller: dialog,
        media,
        caller_local,
        agent_local,
        admitted,
        legs: HashMap::new(),
        next_leg: 1,
        agent_state_tx,
        dialog_route,
        outcome_tx,
        sdp_version: 1,
        session_id: rand::random::<u32>() as u64,
        ivr: None,
        fetches: None,
        notice_tx,
        acd_call: None,
        waiting: None,
        transferring: false,
        release_after_prompt: None,
        callback: None,
        ivr_set: None,
        queued_vars: Default::default(),
        session,
        bye_caller: false,
        external: None,
    };
    actor
        .machine
        .handle(std::time::Instant::now(), Input::Answered);
    let inputs = Inputs {
        dialog_states,
        media_events,
        outcomes,
        notices,
    };
    Some((actor, inputs, routed))
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
}

/// The next message of a channel that may not exist yet (never, if it does not).
async fn recv_some<T>(rx: &mut Option<mpsc::Receiver<T>>) -> Option<T> {
    match rx {
        Some(rx) => rx.recv().await,
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
                _ = sleep => Wake::Timeout,
                () = self.ex.lifecycle.drain_started() => Wake::Drain,
            };
            Box::pin(self.on_wake(wake, &caller_id)).await;
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

    async fn on_caller_state(&mut self, st: DialogState) {
        let now = std::time::Instant::now();
        match st {
            // BYE, CANCEL, or the ACK never came: the caller is gone either way. Our own
            // BYE also ends here, after the machine has already ended the call.
            DialogState::Terminated(id, _) => {
                let input = match self.ex.dialog_router.take_reason(&id.call_id) {
                    Some(cause) => Input::CallerCleared { cause },
                    None => Input::CallerHungUp,
                };
                self.machine.handle(now, input);
            }
            DialogState::Updated(_, req, handle) => self.caller_updated(req, handle).await,
            DialogState::Info(_, req, handle) => {
                let _ = handle.reply(StatusCode::OK).await;
                if let Some(digit) = info_digit(&req.body) {
                    self.on_digit(digit, "info").await;
                }
            }
            DialogState::Options(_, _, handle) => {
                let _ = handle.reply(StatusCode::OK).await;
            }
            _ => {}
        }
    }

    fn leg_by_call_id(&self, call_id: &str) -> Option<LegId> {
        self.legs
            .iter()
            .find(|(_, l)| l.call_id == call_id)
            .map(|(id, _)| *id)
    }

    async fn on_agent_state(&mut self, st: DialogState) {
        let now = std::time::Instant::now();
        match st {
            DialogState::Terminated(id, reason) => {
                let leg = self.leg_by_call_id(&id.call_id);
                if let (Some(leg), TerminatedReason::UasBye) = (leg, reason) {
                    self.machine.handle(now, Input::AgentHungUp { leg });
                }
            }
            DialogState::Updated(_, req, handle) => {
                let answer = self.reoffer(&req, Party::Agent).await;
                respond_sdp(handle, answer).await;
            }
            DialogState::Info(_, req, handle) => {
                if let Some(digit) = info_digit(&req.body) {
                    self.machine.handle(now, Input::Dtmf { digit, via: "info" });
                }
                let _ = handle.reply(StatusCode::OK).await;
            }
            DialogState::Options(_, _, handle) => {
                let _ = handle.reply(StatusCode::OK).await;
            }
            _ => {}
        }
    }

    /// A re-INVITE from either party: hold/resume and new media address.
    async fn reoffer(&mut self, req: &Request, by: Party) -> Option<String> {
        let body = request::sdp_body(req)?;
        let remote = sdp::parse(body).ok()?;
        let neg = sdp::negotiate(&remote, &self.ex.codecs).ok()?;
        let leg = if by == Party::Caller {
            Leg::Caller
        } else {
            Leg::Agent
        };
        self.media
            .send(MediaCommand::Remote {
                leg,
                addr: remote.rtp_addr,
                negotiated: neg,
            })
            .await;
        self.machine.handle(
            std::time::Instant::now(),
            Input::Hold {
                by,
                on: remote.direction.is_hold(),
            },
        );
        self.sdp_version += 1;
        let local = if by == Party::Caller {
            self.ex.advertised(self.caller_local)
        } else {
            self.ex.advertised(self.agent_local)
        };
        Some(sdp::write(
            self.session_id,
            self.sdp_version,
            local,
            &[(neg.pt, neg.codec)],
            neg.telephone_event_pt,
            remote.direction.answer(),
        ))
    }

    async fn on_outcome(&mut self, o: LegOutcome) {
        let now = std::time::Instant::now();
        if o.leg == refresh::REFRESH {
            self.refresh_outcome(now, o.result);
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
