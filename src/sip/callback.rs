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
//!
//! An agent's outside call (the CTI's `call`, `CallbackJob::outside`) runs the same way,
//! but is its own call: logged under the ACD's call (the protocol the desktop shows) with
//! service `events::OUTBOUND_SERVICE`, and registered on the floor so the desktop's
//! hang-up, hold, resume, DTMF and answer reach it (`commands`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use rsipstack::dialog::dialog::{DialogState, TerminatedReason};
use rsipstack::dialog::invite_dialog::InviteDialog;
use rsipstack::sip::{Request, StatusCode};
use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::acd::{AgentId, CallId, CallbackOutcome};
use crate::call::callback::{Action, CallbackAttempt, Input, Report};
use crate::config::OutboundConfig;
use crate::events::EventKind;
use crate::floor::acd::{AcdNotice, AcdRequest, CallbackJob, NoticeReceiver};
use crate::floor::call_log::CallLog;
use crate::media::session::{Leg, MediaCommand, MediaEvent, MediaHandle, MediaSession};
use crate::media::shared_port::LegPort;
use crate::sdp;
use crate::sip::exchange::Exchange;
use crate::sip::legs::{finalize_recording, respond_sdp};
use crate::sip::request;
use crate::store::protocol::Protocol;

mod commands;
mod dial;

/// Runs every job the ACD sends, each attempt as its own task, counted by the clean stop.
/// Once the server is stopping no attempt starts: the job is dropped without a word to
/// the ACD, so the callback stays on the saved pending list for the next start.
pub fn spawn_dialler(ex: Arc<Exchange>, mut jobs: mpsc::Receiver<CallbackJob>) {
    tokio::spawn(async move {
        while let Some(job) = jobs.recv().await {
            if ex.lifecycle.is_draining() {
                info!(call = %job.call, "server stopping: callback not dialled, it stays pending");
                continue;
            }
            ex.lifecycle.spawn(run_attempt(ex.clone(), job));
        }
    });
}

struct Outcome {
    /// `None` for the citizen's leg.
    agent_leg: Option<u32>,
    result: crate::sip::legs::FinalResponse,
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
    /// The citizen is on hold (the desktop's `hold`).
    held: bool,
    /// The citizen's side takes RFC 4733 events (the desktop's DTMF).
    citizen_dtmf: bool,
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
    let Some(out) = ex.config().outbound.clone() else {
        warn!(call = %job.call, "callback without an [outbound] trunk: attempt failed");
        return fail(job.call, job.agent).await;
    };
    let (citizen_sock, agent_sock) = match ex.ports.bind_pair() {
        Ok(pair) => pair,
        Err(e) => {
            warn!(error = %e, call = %job.call, "no RTP port for a callback: attempt failed");
            return fail(job.call, job.agent).await;
        }
    };
    let (Ok(citizen_local), Ok(agent_local)) = (citizen_sock.local_addr(), agent_sock.local_addr())
    else {
        return fail(job.call, job.agent).await;
    };

    // An outside call is the ACD's call itself; a callback attempt a call of its own.
    let (protocol, log) = if job.outside {
        (job.log.protocol().clone(), job.log.clone())
    } else {
        let protocol = ex.next_protocol();
        let log = CallLog::new(ex.bus.clone(), protocol.clone());
        (protocol, log)
    };
    let target = format!("{}{}", out.prefix, job.number.expose());
    log.record(EventKind::Offered {
        call_id: format!("{protocol}-citizen@atende"),
        a_number: job.number.expose().to_owned(),
        b_number: out.caller_id.clone(),
        service: if job.outside {
            crate::events::OUTBOUND_SERVICE
        } else {
            "callback"
        }
        .into(),
        source: "acd".into(),
        restricted: false,
    });
    if job.outside {
        info!(%protocol, agent = %job.agent, "agent's outside call");
    } else {
        let link = EventKind::CallbackAttempt {
            original: job.log.protocol().to_string(),
            callback: protocol.to_string(),
            attempt: job.attempt,
        };
        job.log.record(link.clone());
        log.record(link);
        info!(%protocol, original = %job.log.protocol(), agent = %job.agent, attempt = job.attempt, "callback attempt");
    }
    // The desktop commands the call under its protocol while the attempt runs.
    let (registration, commands) = ex.calls.register(&protocol.to_string());

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
        held: false,
        citizen_dtmf: false,
    };
    a.ring_agent(&job.number);
    a.run(states, outcomes, media_events, job.notices, commands)
        .await;
    drop(registration);
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
        mut notices: NoticeReceiver,
        mut commands: mpsc::Receiver<crate::floor::calls::Queued>,
    ) {
        let mut stopping = false;
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
                    MediaEvent::Dtmf { .. } | MediaEvent::SupervisorDigit { .. } => {}
                },
                Some(c) = commands.recv() => self.on_command(*c).await,
                Some(n) = notices.recv() => {
                    if let AcdNotice::CancelOffer { .. } = *n {
                        self.machine.handle(Instant::now(), Input::OfferWithdrawn);
                    }
                }
                _ = sleep => self.machine.handle_timeout(Instant::now()),
                () = self.ex.lifecycle.drain_started(), if !stopping => {
                    stopping = true;
                    self.machine.handle(Instant::now(), Input::Shutdown);
                }
            }
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
            LegPort::Own(citizen),
            LegPort::Own(agent),
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
                let name = cue.prompt();
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
            // The CANCELs, BYEs and the seal are counted: a clean stop waits for them.
            Action::CancelCitizen => {
                if let Some(d) = self.citizen.clone() {
                    self.ex.lifecycle.spawn(async move {
                        let _ = d.cancel().await;
                    });
                }
            }
            Action::HangUpCitizen => {
                if let Some(d) = self.citizen.clone() {
                    self.ex.lifecycle.spawn(async move {
                        let _ = d.bye().await;
                    });
                }
            }
            Action::Bridge => {
                if let Some(m) = &self.media {
                    m.send(MediaCommand::Bridge).await;
                }
            }
            Action::Unbridge => {
                if let Some(m) = &self.media {
                    m.send(MediaCommand::Unbridge).await;
                }
            }
            Action::PlayHoldMusic => self.play_hold_music().await,
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
                    self.ex.lifecycle.spawn(finalize_recording(
                        self.ex.clone(),
                        self.log.clone(),
                        receipt,
                    ));
                }
            }
        }
    }
}
