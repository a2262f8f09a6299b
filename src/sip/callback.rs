//! The callback dialler: carries out the ACD's `StartCallback`. Each attempt is a call of
//! its own (protocol number, event log, recording) linked both ways to the call that
//! asked for it (`EventKind::CallbackAttempt`): ring the reserved agent's phones, cue the
//! agent, dial the citizen through `[outbound]`, bridge and record. The pure
//! `call::callback::CallbackAttempt` decides; this actor does the SIP, media and ACD IO.
//!
//! The citizen is the media session's caller leg (left recording channel, as for an
//! inbound call); the agent is its agent leg and hears the cues.
//! A callback's call record keeps the citizen as `a_number` and the institute's line as
//! `b_number`, like the inbound call that asked for it.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use rsipstack::dialog::dialog::{DialogState, TerminatedReason};
use rsipstack::dialog::invitation::InviteOption;
use rsipstack::dialog::invite_dialog::InviteDialog;
use rsipstack::sip::{Request, StatusCode, Uri};
use rsipstack::transport::SipAddr;
use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::acd::{AgentId, CallId, CallbackOutcome, CallerNumber};
use crate::call::callback::{Action, CallbackAttempt, Cue, Input, Report};
use crate::config::OutboundConfig;
use crate::events::EventKind;
use crate::media::session::{Leg, MediaCommand, MediaEvent, MediaHandle, MediaSession};
use crate::sdp::{self, Codec, Direction};
use crate::sip::acd::{AcdNotice, AcdRequest};
use crate::sip::call_log::CallLog;
use crate::sip::exchange::Exchange;
use crate::sip::legs::{contact_uri, finalize_recording, respond_sdp, route_target};
use crate::sip::request;
use crate::store::protocol::Protocol;

/// What the agent hears while the citizen's phone rings, and when it could not be reached.
pub const CUE_STARTING: &str = "pt-BR/agente/retorno-inicio";
pub const CUE_UNREACHABLE: &str = "pt-BR/agente/retorno-falhou";

/// A callback the ACD started: `agent` is reserved for it.
#[derive(Debug)]
pub struct CallbackJob {
    pub call: CallId,
    pub agent: AgentId,
    pub number: CallerNumber,
    pub attempt: u32,
    pub variables: BTreeMap<String, String>,
    /// The log of the call that asked for the callback.
    pub log: CallLog,
    /// The ACD's notices for this call (a withdrawn offer) while the attempt runs.
    pub notices: mpsc::Receiver<AcdNotice>,
}

/// Runs every job the ACD sends, each attempt as its own task.
pub fn spawn_dialler(ex: Arc<Exchange>, mut jobs: mpsc::Receiver<CallbackJob>) {
    tokio::spawn(async move {
        while let Some(job) = jobs.recv().await {
            tokio::spawn(run_attempt(ex.clone(), job));
        }
    });
}

struct Outcome {
    /// `None` for the citizen's leg.
    agent_leg: Option<u32>,
    result: Result<(StatusCode, Option<Vec<u8>>), String>,
}

struct Attempt {
    ex: Arc<Exchange>,
    job_call: CallId,
    agent: AgentId,
    machine: CallbackAttempt,
    log: CallLog,
    protocol: Protocol,
    out: OutboundConfig,
    target: String,
    citizen_sock: Option<std::net::UdpSocket>,
    agent_sock: Option<std::net::UdpSocket>,
    citizen_local: SocketAddr,
    agent_local: SocketAddr,
    media: Option<MediaHandle>,
    media_tx: mpsc::Sender<MediaEvent>,
    agent_legs: HashMap<u32, (InviteDialog, String)>,
    answered_leg: Option<u32>,
    citizen: Option<InviteDialog>,
    citizen_call_id: String,
    states: rsipstack::dialog::dialog::DialogStateSender,
    /// Where the router sends this attempt's dialog states.
    route: crate::sip::dialog_router::Route,
    outcome_tx: mpsc::Sender<Outcome>,
    session_id: u64,
    sdp_version: u64,
}

async fn run_attempt(ex: Arc<Exchange>, job: CallbackJob) {
    let Some(acd) = ex.acd.clone() else {
        return;
    };
    let fail = |call: CallId, agent: AgentId| async move {
        // The agent was reserved: free them and count a failed attempt (it retries).
        acd.send(AcdRequest::OfferAnswered {
            call: call.clone(),
            agent,
        })
        .await;
        acd.send(AcdRequest::CallbackResult {
            call,
            outcome: CallbackOutcome::Failed,
        })
        .await;
    };
    let Some(out) = ex.config.outbound.clone() else {
        warn!(call = %job.call, "callback without an [outbound] trunk: attempt failed");
        return fail(job.call, job.agent).await;
    };
    let (citizen_sock, agent_sock) = match (ex.ports.bind(), ex.ports.bind()) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            warn!(error = %e, call = %job.call, "no RTP port for a callback: attempt failed");
            return fail(job.call, job.agent).await;
        }
    };
    let (Ok(citizen_local), Ok(agent_local)) = (citizen_sock.local_addr(), agent_sock.local_addr())
    else {
        return fail(job.call, job.agent).await;
    };

    let protocol = ex.next_protocol();
    let log = CallLog::new(ex.event_log.clone(), protocol.clone());
    let target = format!("{}{}", out.prefix, job.number.expose());
    log.record(EventKind::Offered {
        call_id: format!("{protocol}-citizen@atende"),
        a_number: job.number.expose().to_owned(),
        b_number: out.caller_id.clone(),
        service: "callback".into(),
        source: "acd".into(),
    });
    let link = EventKind::CallbackAttempt {
        original: job.log.protocol().to_string(),
        callback: protocol.to_string(),
        attempt: job.attempt,
    };
    job.log.record(link.clone());
    log.record(link);
    info!(%protocol, original = %job.log.protocol(), agent = %job.agent, attempt = job.attempt, "callback attempt");

    let citizen_call_id = format!("{protocol}-citizen@atende");
    let Some((route, states)) = ex.dialog_router.register(&citizen_call_id) else {
        return fail(job.call, job.agent).await;
    };
    ex.counters.active.fetch_add(1, Ordering::Relaxed);
    let state_tx = ex.dialog_router.sender();
    let (outcome_tx, outcomes) = mpsc::channel(8);
    let (media_tx, media_events) = mpsc::channel(16);
    let ring = std::time::Duration::from_secs(out.ring_timeout_secs);
    let mut a = Attempt {
        ex: ex.clone(),
        job_call: job.call,
        agent: job.agent.clone(),
        machine: CallbackAttempt::new(job.agent.as_str(), ring),
        log,
        protocol,
        out,
        target,
        citizen_sock: Some(citizen_sock),
        agent_sock: Some(agent_sock),
        citizen_local,
        agent_local,
        media: None,
        media_tx,
        agent_legs: HashMap::new(),
        answered_leg: None,
        citizen: None,
        citizen_call_id,
        states: state_tx,
        route,
        outcome_tx,
        session_id: rand::random::<u32>() as u64,
        sdp_version: 1,
    };
    a.ring_agent(&job.number);
    a.run(states, outcomes, media_events, job.notices).await;
    let mut routed: Vec<&str> = a.agent_legs.values().map(|(_, c)| c.as_str()).collect();
    routed.push(&a.citizen_call_id);
    ex.dialog_router.remove(&routed);
    for (d, _) in a.agent_legs.values() {
        ex.dialogs.remove_dialog(&d.id());
    }
    if let Some(d) = &a.citizen {
        ex.dialogs.remove_dialog(&d.id());
    }
    ex.counters.active.fetch_sub(1, Ordering::Relaxed);
    info!(protocol = %a.protocol, "callback attempt ended");
}

impl Attempt {
    async fn run(
        &mut self,
        mut states: crate::sip::dialog_router::DialogStates,
        mut outcomes: mpsc::Receiver<Outcome>,
        mut media_events: mpsc::Receiver<MediaEvent>,
        mut notices: mpsc::Receiver<AcdNotice>,
    ) {
        loop {
            while let Some(action) = self.machine.poll_action() {
                self.act(action).await;
            }
            if self.machine.is_ended() {
                break;
            }
            let deadline = self.machine.next_timeout();
            let sleep = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                Some(st) = states.recv() => self.on_state(*st).await,
                Some(o) = outcomes.recv() => self.on_outcome(o).await,
                Some(ev) = media_events.recv() => match ev {
                    MediaEvent::PromptFinished { id } => {
                        if self.media.as_ref().is_some_and(|m| m.is_latest(id)) {
                            self.machine.handle(Instant::now(), Input::CueFinished);
                        }
                    }
                    MediaEvent::RtpTimeout { leg } => {
                        warn!(protocol = %self.protocol, ?leg, "callback: no RTP, clearing");
                        self.machine.handle(Instant::now(), match leg {
                            Leg::Caller => Input::CitizenHungUp,
                            Leg::Agent => Input::AgentHungUp,
                        });
                    }
                    MediaEvent::Dtmf { .. } => {}
                },
                Some(n) = notices.recv() => {
                    if let AcdNotice::CancelOffer { .. } = n {
                        self.machine.handle(Instant::now(), Input::OfferWithdrawn);
                    }
                }
                _ = sleep => self.machine.handle_timeout(Instant::now()),
            }
        }
    }

    fn offer_formats(&self) -> Vec<(u8, Codec)> {
        self.ex
            .codecs
            .iter()
            .map(|c| (c.default_pt(), *c))
            .collect()
    }

    /// Rings every registered phone of the agent (or the one they logged in from).
    fn ring_agent(&mut self, citizen: &CallerNumber) {
        let phone = self.ex.hot_desk.phone_of(self.agent.as_str());
        let offer = sdp::write(
            self.session_id,
            1,
            self.ex.advertised(self.agent_local),
            &self.offer_formats(),
            Some(101),
            Direction::SendRecv,
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
                headers: Some(vec![
                    request::raw_header("X-Atende-Protocol", self.protocol.to_string()),
                    request::raw_header("X-Atende-Callback-For", self.job_call.as_str()),
                ]),
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

    fn watch_outcome(
        &self,
        agent_leg: Option<u32>,
        join: tokio::task::JoinHandle<rsipstack::dialog::invitation::InviteAsyncResult>,
    ) {
        let tx = self.outcome_tx.clone();
        tokio::spawn(async move {
            let result = match join.await {
                Ok(Ok((_, Some(resp)))) => Ok((resp.status_code.clone(), Some(resp.body))),
                Ok(Ok((_, None))) => Err("no final response".to_owned()),
                Ok(Err(e)) => Err(e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            let _ = tx.send(Outcome { agent_leg, result }).await;
        });
    }

    fn dial_citizen(&mut self) {
        let offer = sdp::write(
            self.session_id,
            1,
            self.ex.advertised(self.citizen_local),
            &self.offer_formats(),
            Some(101),
            Direction::SendRecv,
        );
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

    fn citizen_failed(&mut self, sip_status: u16, reason: String) {
        self.machine
            .handle(Instant::now(), Input::CitizenFailed { sip_status, reason });
    }

    async fn on_outcome(&mut self, o: Outcome) {
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

    async fn on_agent_outcome(
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
    fn agent_leg_failed(&mut self, now: Instant, leg: u32, status: u16, reason: String) {
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

    fn end_agent_leg(&self, leg: u32, cancel: bool) {
        if let Some((d, _)) = self.agent_legs.get(&leg) {
            let d = d.clone();
            tokio::spawn(async move {
                if cancel {
                    d.cancel().await
                } else {
                    d.bye().await
                }
            });
        }
    }

    fn remote_media(&self, body: Option<&[u8]>) -> Option<(SocketAddr, sdp::Negotiated)> {
        let remote = sdp::parse(body?).ok()?;
        let neg = sdp::negotiate(&remote, &self.ex.codecs).ok()?;
        Some((remote.rtp_addr, neg))
    }

    async fn remote(&self, leg: Leg, addr: SocketAddr, negotiated: sdp::Negotiated) {
        if let Some(m) = &self.media {
            m.send(MediaCommand::Remote {
                leg,
                addr,
                negotiated,
            })
            .await;
        }
    }

    /// The call is "answered" for the record when the agent answers: recording starts.
    fn start_media(&mut self) {
        let (Some(citizen), Some(agent)) = (self.citizen_sock.take(), self.agent_sock.take())
        else {
            return;
        };
        let path = self.ex.recording_path(&self.protocol);
        let recording = self.ex.recordings.open(&path);
        self.log.record(EventKind::RecordingStarted {
            path: path.display().to_string(),
        });
        self.media = Some(self.ex.media.attach(MediaSession::new(
            citizen,
            agent,
            Some(recording),
            self.media_tx.clone(),
            self.ex.media_stats.clone(),
            rand::random(),
        )));
    }

    async fn on_state(&mut self, st: DialogState) {
        let now = Instant::now();
        match st {
            DialogState::Terminated(id, TerminatedReason::UasBye) => {
                if id.call_id == self.citizen_call_id {
                    self.machine.handle(now, Input::CitizenHungUp);
                } else if self
                    .answered_leg
                    .and_then(|l| self.agent_legs.get(&l))
                    .is_some_and(|(_, cid)| *cid == id.call_id)
                {
                    self.machine.handle(now, Input::AgentHungUp);
                }
            }
            DialogState::Updated(id, req, handle) => {
                let leg = if id.call_id == self.citizen_call_id {
                    Leg::Caller
                } else {
                    Leg::Agent
                };
                let answer = self.reoffer(leg, &req).await;
                respond_sdp(handle, answer).await;
            }
            DialogState::Info(_, _, handle) | DialogState::Options(_, _, handle) => {
                let _ = handle.reply(StatusCode::OK).await;
            }
            _ => {}
        }
    }

    /// A re-INVITE (hold, new address) from either party.
    async fn reoffer(&mut self, leg: Leg, req: &Request) -> Option<String> {
        let remote = sdp::parse(request::sdp_body(req)?).ok()?;
        let neg = sdp::negotiate(&remote, &self.ex.codecs).ok()?;
        self.remote(leg, remote.rtp_addr, neg).await;
        let other = match leg {
            Leg::Caller => Leg::Agent,
            Leg::Agent => Leg::Caller,
        };
        if let Some(m) = &self.media {
            m.send(MediaCommand::Sending {
                leg: other,
                enabled: !remote.direction.is_hold(),
            })
            .await;
        }
        self.sdp_version += 1;
        let local = match leg {
            Leg::Caller => self.citizen_local,
            Leg::Agent => self.agent_local,
        };
        Some(sdp::write(
            self.session_id,
            self.sdp_version,
            self.ex.advertised(local),
            &[(neg.pt, neg.codec)],
            neg.telephone_event_pt,
            remote.direction.answer(),
        ))
    }

    async fn act(&mut self, action: Action) {
        let Some(acd) = self.ex.acd.clone() else {
            return;
        };
        let (call, agent) = (self.job_call.clone(), self.agent.clone());
        match action {
            Action::CancelAgent => {
                for leg in self.agent_legs.keys() {
                    self.end_agent_leg(*leg, true);
                }
            }
            Action::HangUpAgent => {
                if let Some(leg) = self.answered_leg {
                    self.end_agent_leg(leg, false);
                }
            }
            Action::PlayToAgent(cue) => {
                let name = match cue {
                    Cue::Starting => CUE_STARTING,
                    Cue::Unreachable => CUE_UNREACHABLE,
                };
                let samples = match self.ex.prompts.get(name) {
                    Some(p) => p.samples,
                    None => {
                        warn!(prompt = name, "callback cue missing: skipped");
                        Arc::from(Vec::<i16>::new())
                    }
                };
                match &self.media {
                    Some(m) => {
                        m.play_to(Leg::Agent, vec![samples], false).await;
                    }
                    None => self.machine.handle(Instant::now(), Input::CueFinished),
                }
            }
            Action::DialCitizen => self.dial_citizen(),
            Action::CancelCitizen => {
                if let Some(d) = self.citizen.clone() {
                    tokio::spawn(async move { d.cancel().await });
                }
            }
            Action::HangUpCitizen => {
                if let Some(d) = self.citizen.clone() {
                    tokio::spawn(async move { d.bye().await });
                }
            }
            Action::Bridge => {
                if let Some(m) = &self.media {
                    m.send(MediaCommand::Bridge).await;
                }
            }
            Action::Report(r) => {
                let req = match r {
                    Report::OfferAnswered => AcdRequest::OfferAnswered { call, agent },
                    Report::OfferRejected => AcdRequest::OfferRejected { call, agent },
                    Report::OfferNotAnswered => AcdRequest::OfferNotAnswered { call, agent },
                    Report::Result(outcome) => AcdRequest::CallbackResult { call, outcome },
                    Report::Hangup => AcdRequest::Hangup { call },
                };
                acd.send(req).await;
            }
            Action::Log(kind) => self.log.record(kind),
            Action::FinishMedia => {
                if let Some(m) = self.media.take() {
                    let receipt = m.finish().await;
                    tokio::spawn(finalize_recording(
                        self.ex.clone(),
                        self.log.clone(),
                        receipt,
                    ));
                }
            }
        }
    }
}
