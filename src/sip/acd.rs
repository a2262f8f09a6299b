//! The ACD actor: the one task that owns the server's `acd::Engine`.
//!
//! Call actors and agent feature codes send it `AcdRequest`s over a bounded channel; it
//! feeds them to the engine with `Now` (a monotonic tick from its own epoch and the wall
//! time), wakes at `next_timeout()`, and dispatches every output by message to the call
//! it names (`AcdNotice`). Every `AcdEvent` goes into that call's event log; an agent's
//! state change goes into the log of the call last offered to them (so a ring-no-answer
//! pause shows next to the call that rang out). Nothing here touches SIP or media: the
//! call actor rings, plays and bridges.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use crate::acd::{
    AcdError, AcdEvent, AgentId, AgentLogin, CallId, DequeueReason, Destination, Engine,
    EngineConfig, Input, Membership, NewCall, Now, Output, QueueId, RouteReason, SkillLevel, Tick,
};
use crate::config::AgentConfig;
use crate::events::EventKind;
use crate::sip::call_log::CallLog;

/// What the ACD tells a call actor.
#[derive(Debug, Clone, PartialEq)]
pub enum AcdNotice {
    /// Ring this agent's phones.
    Offer {
        agent: AgentId,
        queue: QueueId,
    },
    /// Stop ringing (ring timeout, caller gone elsewhere, agent paused).
    CancelOffer {
        agent: AgentId,
    },
    /// Tell the caller their place and the estimated wait.
    Announce {
        position: usize,
        estimated_wait_secs: Option<u64>,
    },
    PlayMessage {
        prompt: String,
    },
    /// The call left the ACD for this destination.
    RouteTo {
        destination: Destination,
        reason: RouteReason,
    },
    Dequeued {
        reason: DequeueReason,
    },
}

/// An agent's own command (feature code or start-up).
#[derive(Debug, Clone, PartialEq)]
pub enum AgentCommand {
    Login { agent: AgentId, ready: bool },
    Logout,
    Pause { reason: String },
    Ready,
}

#[derive(Debug)]
pub enum AcdRequest {
    Enqueue {
        call: NewCall,
        log: CallLog,
        notices: mpsc::Sender<AcdNotice>,
    },
    /// The caller hung up (abandon while waiting) or the talk ended.
    Hangup {
        call: CallId,
    },
    OfferAnswered {
        call: CallId,
        agent: AgentId,
    },
    OfferRejected {
        call: CallId,
        agent: AgentId,
    },
    OfferNotAnswered {
        call: CallId,
        agent: AgentId,
    },
    Agent {
        agent: AgentId,
        command: AgentCommand,
        reply: oneshot::Sender<Result<(), String>>,
    },
}

/// The call actors' and feature codes' side of the ACD actor.
#[derive(Debug, Clone)]
pub struct AcdHandle {
    tx: mpsc::Sender<AcdRequest>,
}

impl AcdHandle {
    /// Sends a request; `false` when the ACD actor is gone (server shutting down).
    pub async fn send(&self, r: AcdRequest) -> bool {
        self.tx.send(r).await.is_ok()
    }

    /// Runs an agent command and waits for the engine's verdict.
    pub async fn agent(&self, agent: AgentId, command: AgentCommand) -> Result<(), String> {
        let (reply, rx) = oneshot::channel();
        if !self
            .send(AcdRequest::Agent {
                agent,
                command,
                reply,
            })
            .await
        {
            return Err("the ACD is not running".into());
        }
        rx.await
            .unwrap_or_else(|_| Err("the ACD is not running".into()))
    }
}

/// What the ACD must know of an agent to log them in (memberships and skills follow the
/// login, not the phone).
#[derive(Debug, Clone)]
pub struct AgentProfile {
    pub memberships: Vec<Membership>,
    pub skills: Vec<SkillLevel>,
}

impl AgentProfile {
    pub fn from_config(a: &AgentConfig) -> AgentProfile {
        AgentProfile {
            memberships: a
                .queues
                .iter()
                .map(|q| Membership::new(q.as_str(), 1))
                .collect(),
            skills: a
                .skills
                .iter()
                .map(|(s, l)| SkillLevel::new(s.as_str(), *l))
                .collect(),
        }
    }
}

struct Member {
    log: CallLog,
    notices: mpsc::Sender<AcdNotice>,
}

struct AcdActor {
    engine: Engine,
    epoch: Instant,
    profiles: HashMap<AgentId, AgentProfile>,
    calls: HashMap<CallId, Member>,
    /// The call each agent was last offered, for logging their state changes.
    last_offer: HashMap<AgentId, CallId>,
}

/// Starts the ACD actor with the configured queues; agents with `auto_login` are logged
/// in as available.
pub fn spawn(mut config: EngineConfig, agents: &[AgentConfig]) -> Result<AcdHandle, AcdError> {
    // `*47` pauses with its own reason, whatever reasons the CTI screen offers.
    let code_reason = crate::sip::feature_code::PAUSE_REASON;
    if !config.pause_reasons.iter().any(|r| r == code_reason) {
        config.pause_reasons.push(code_reason.to_owned());
    }
    let epoch = Instant::now();
    let engine = Engine::new(config, Now::new(Tick::ZERO, jiff::Timestamp::now()))?;
    let profiles = agents
        .iter()
        .map(|a| (AgentId::new(a.id.as_str()), AgentProfile::from_config(a)))
        .collect();
    let mut actor = AcdActor {
        engine,
        epoch,
        profiles,
        calls: HashMap::new(),
        last_offer: HashMap::new(),
    };
    for a in agents
        .iter()
        .filter(|a| a.auto_login && !a.queues.is_empty())
    {
        if let Err(e) = actor.login(&AgentId::new(a.id.as_str()), true) {
            warn!(agent = %a.id, error = %e, "auto login refused");
        }
    }
    let (tx, rx) = mpsc::channel(1024);
    tokio::spawn(actor.run(rx));
    Ok(AcdHandle { tx })
}

impl AcdActor {
    fn now(&self) -> Now {
        Now::new(
            Tick::from_duration(self.epoch.elapsed()),
            jiff::Timestamp::now(),
        )
    }

    async fn run(mut self, mut rx: mpsc::Receiver<AcdRequest>) {
        loop {
            self.dispatch();
            let wake = self
                .engine
                .next_timeout()
                .map(|t| self.epoch + Duration::from_millis(u64::try_from(t.0).unwrap_or(0)));
            let sleep = async {
                match wake {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                r = rx.recv() => match r {
                    Some(r) => self.request(r),
                    None => break,
                },
                _ = sleep => {
                    let now = self.now();
                    self.engine.handle_timeout(now);
                }
            }
        }
        info!("ACD actor stopped");
    }

    fn input(&mut self, input: Input) -> Result<(), AcdError> {
        let now = self.now();
        self.engine.handle_input(now, input)
    }

    fn login(&mut self, agent: &AgentId, ready: bool) -> Result<(), AcdError> {
        let p = self
            .profiles
            .get(agent)
            .cloned()
            .ok_or_else(|| AcdError::UnknownAgent(agent.clone()))?;
        self.input(Input::AgentLogin(AgentLogin {
            agent: agent.clone(),
            memberships: p.memberships,
            skills: p.skills,
            ready,
        }))
    }

    fn request(&mut self, r: AcdRequest) {
        let result = match r {
            AcdRequest::Enqueue { call, log, notices } => {
                let id = call.call.clone();
                self.calls.insert(id.clone(), Member { log, notices });
                let r = self.input(Input::Enqueue(call));
                if r.is_err() {
                    self.calls.remove(&id);
                }
                r
            }
            AcdRequest::Hangup { call } => {
                let r = self.input(Input::Hangup { call: call.clone() });
                // Keep logging until the outputs of this hang-up are dispatched.
                self.dispatch();
                self.calls.remove(&call);
                r
            }
            AcdRequest::OfferAnswered { call, agent } => {
                self.input(Input::OfferAnswered { call, agent })
            }
            AcdRequest::OfferRejected { call, agent } => {
                self.input(Input::OfferRejected { call, agent })
            }
            AcdRequest::OfferNotAnswered { call, agent } => {
                self.input(Input::OfferNotAnswered { call, agent })
            }
            AcdRequest::Agent {
                agent,
                command,
                reply,
            } => {
                let r = match command {
                    AgentCommand::Login { agent, ready } => self.login(&agent, ready),
                    AgentCommand::Logout => self.input(Input::AgentLogout { agent }),
                    AgentCommand::Pause { reason } => {
                        self.input(Input::AgentPause { agent, reason })
                    }
                    AgentCommand::Ready => self.input(Input::AgentReady { agent }),
                };
                let _ = reply.send(r.map_err(|e| e.to_string()));
                return;
            }
        };
        if let Err(e) = result {
            // Late news (an answer after the caller left) is normal; nothing changed.
            info!(error = %e, "ACD refused an input");
        }
    }

    fn notify(&self, call: &CallId, n: AcdNotice) {
        if let Some(m) = self.calls.get(call)
            && m.notices.try_send(n).is_err()
        {
            warn!(%call, "call actor not taking ACD notices");
        }
    }

    fn log(&self, call: Option<&CallId>, event: AcdEvent) {
        match call.and_then(|c| self.calls.get(c)) {
            Some(m) => m.log.record(EventKind::Acd { event }),
            None => info!(?event, "ACD"),
        }
    }

    /// Drains the engine's outputs to the call actors and the event log.
    fn dispatch(&mut self) {
        while let Some(out) = self.engine.poll_output() {
            match out {
                Output::Offer { call, agent, queue } => {
                    self.last_offer.insert(agent.clone(), call.clone());
                    self.notify(&call, AcdNotice::Offer { agent, queue });
                }
                Output::CancelOffer { call, agent } => {
                    self.notify(&call, AcdNotice::CancelOffer { agent })
                }
                Output::Announce {
                    call,
                    position,
                    estimated_wait_secs,
                } => self.notify(
                    &call,
                    AcdNotice::Announce {
                        position,
                        estimated_wait_secs,
                    },
                ),
                Output::PlayMessage { call, prompt } => {
                    self.notify(&call, AcdNotice::PlayMessage { prompt })
                }
                Output::Overflow { .. } => {} // logged as Overflowed; the call stays queued
                Output::OfferCallback { call } => {
                    // Callbacks need the callback dialler, not in this shell yet.
                    info!(%call, "callback offer skipped: no callback dialler");
                }
                Output::RouteTo {
                    call,
                    destination,
                    reason,
                } => self.notify(
                    &call,
                    AcdNotice::RouteTo {
                        destination,
                        reason,
                    },
                ),
                Output::Dequeue { call, reason } => {
                    self.notify(&call, AcdNotice::Dequeued { reason })
                }
                Output::StartCallback { call, agent, .. } => {
                    warn!(%call, %agent, "callback start ignored: no callback dialler");
                }
                Output::Log(event) => {
                    let call = match &event {
                        AcdEvent::AgentStateChanged { agent, .. } => {
                            self.last_offer.get(agent).cloned()
                        }
                        e => event_call(e).cloned(),
                    };
                    self.log(call.as_ref(), event);
                }
            }
        }
    }
}

fn event_call(e: &AcdEvent) -> Option<&CallId> {
    use AcdEvent::*;
    match e {
        QueueEntered { call, .. }
        | Offered { call, .. }
        | OfferCancelled { call, .. }
        | OfferRejected { call, .. }
        | RingNoAnswer { call, .. }
        | Answered { call, .. }
        | Abandoned { call, .. }
        | Escalated { call, .. }
        | Overflowed { call, .. }
        | Routed { call, .. }
        | CallEnded { call, .. }
        | CallbackRequested { call, .. }
        | CallbackStarted { call, .. }
        | CallbackAttemptFailed { call, .. }
        | CallbackCompleted { call, .. }
        | CallbackGaveUp { call, .. } => Some(call),
        AgentStateChanged { .. } | QueueOpened { .. } | QueueClosed { .. } => None,
    }
}
