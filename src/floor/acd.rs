//! The ACD actor: the one task that owns the server's `acd::Engine`.
//!
//! Call actors and agent feature codes send it `AcdRequest`s over a bounded channel; it
//! feeds them to the engine with `Now` (a monotonic tick from its own epoch and the wall
//! time), wakes at `next_timeout()`, and dispatches every output by message to the call
//! it names (`AcdNotice`). Every `AcdEvent` goes into that call's event log; an agent's
//! state change goes into the log of the call last offered to them (so a ring-no-answer
//! pause shows next to the call that rang out). Nothing here touches SIP or media: the
//! call actor rings, plays and bridges.
//!
//! Callbacks: once a caller's request is registered their call actor may go (their
//! notices stop), the call stays in the engine, and its pending list is saved as JSON
//! through `saver` whenever it changes. When the engine starts one, a fresh notice channel
//! goes with a `CallbackJob` to the dialler (`sip::callback`), which from then on is the
//! call's actor. `callbacks` holds that glue, `reload` a config reload's.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tracing::{error, info, warn};

use crate::acd::{
    AcdError, AcdEvent, AgentId, AgentLogin, AgentStatus, CallId, CallbackSnapshot, CallerNumber,
    DequeueReason, Engine, EngineConfig, Input, Membership, Now, Output, QueueId, SkillLevel, Tick,
};
use crate::config::AgentConfig;
use crate::events::EventKind;
use crate::floor::call_log::CallLog;
use crate::store::agent_log::{AgentEvent, AgentLog};

mod callbacks;
#[cfg(test)]
mod commands_tests;
mod messages;
mod outbound;
pub mod overrides;
mod published;
mod reload;
pub use callbacks::CallbackJob;
use callbacks::StartedCallback;
pub use messages::{
    AcdHandle, AcdNotice, AcdRequest, AcdSnapshot, AcdStatus, AgentCommand, AgentView,
    FloorCommand, ForcedBy, NoticeReceiver, NoticeSender, OfferContext,
};

/// The pause reason the phone's `*47` sets; the ACD actor always accepts it.
pub const PAUSE_REASON: &str = "pausa";

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
                .map(|q| Membership::new(q.as_str(), a.tiers.get(q).copied().unwrap_or(1)))
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
    /// The call's actor; none between a callback's registration and its start.
    notices: Option<NoticeSender>,
}

/// What the ACD actor needs beyond the engine: the callback dialler and store, and
/// the agent log.
#[derive(Default)]
pub struct AcdShell {
    /// Where agents' state changes are stored (`None`: only logged).
    pub agent_log: Option<AgentLog>,
    /// Where agent and queue changes are published.
    pub bus: Option<crate::bus::Bus>,
    /// Where started callbacks go (`None`: no outbound trunk, callbacks fail).
    pub dialler: Option<mpsc::Sender<CallbackJob>>,
    /// Takes the pending list as JSON whenever it changes.
    pub saver: Option<watch::Sender<String>>,
    /// Callbacks saved before a restart, with each call's resumed log.
    pub restored: Option<(CallbackSnapshot, Vec<(CallId, CallLog)>)>,
    /// Each agent's last logged state (agent, state, pause reason) before a restart.
    pub agent_states: Vec<(String, String, Option<String>)>,
    /// Queue overrides saved before a restart (`overrides`).
    pub queue_overrides: Vec<crate::store::queue_overrides::QueueOverride>,
    /// Takes the set of queue overrides whenever it changes (`overrides::spawn_saver`).
    pub override_saver: Option<watch::Sender<Vec<crate::store::queue_overrides::QueueOverride>>>,
}

struct AcdActor {
    engine: Engine,
    epoch: Instant,
    profiles: HashMap<AgentId, AgentProfile>,
    /// Configured agents and queues in config order (for the wallboard).
    agent_order: Vec<AgentId>,
    queue_order: Vec<QueueId>,
    calls: HashMap<CallId, Member>,
    /// The call each agent was last offered, for logging their state changes.
    last_offer: HashMap<AgentId, CallId>,
    dialler: Option<mpsc::Sender<CallbackJob>>,
    saver: Option<watch::Sender<String>>,
    agent_log: Option<AgentLog>,
    /// The pending callbacks changed since they were last saved.
    callbacks_changed: bool,
    /// Where agent and queue changes are published (`None` in tests without readers).
    bus: Option<crate::bus::Bus>,
    versions: published::Versions,
    /// Agents' outside calls (the CTI's `call`) and whose they are.
    outbound: HashMap<CallId, AgentId>,
    /// A supervisor's forced change not yet made (an agent on a call is paused when the
    /// call ends): the agent log state it leads to, and who forced it. The agent's own
    /// next command drops it.
    forced: HashMap<AgentId, (&'static str, ForcedBy)>,
    override_saver: Option<watch::Sender<Vec<crate::store::queue_overrides::QueueOverride>>>,
}

/// Starts the ACD actor with the configured queues; agents with `auto_login` are logged
/// in as available.
pub fn spawn(
    mut config: EngineConfig,
    agents: &[AgentConfig],
    callbacks: AcdShell,
) -> Result<AcdHandle, AcdError> {
    with_code_reason(&mut config);
    let epoch = Instant::now();
    let queue_order = config.queues.iter().map(|q| q.id.clone()).collect();
    let engine = Engine::new(config, Now::new(Tick::ZERO, jiff::Timestamp::now()))?;
    let profiles = agents
        .iter()
        .map(|a| (AgentId::new(a.id.as_str()), AgentProfile::from_config(a)))
        .collect();
    let agent_order = agents.iter().map(|a| AgentId::new(a.id.as_str())).collect();
    let mut actor = AcdActor {
        engine,
        epoch,
        profiles,
        agent_order,
        queue_order,
        calls: HashMap::new(),
        last_offer: HashMap::new(),
        dialler: callbacks.dialler,
        saver: callbacks.saver,
        agent_log: callbacks.agent_log,
        callbacks_changed: false,
        bus: callbacks.bus,
        versions: Default::default(),
        outbound: HashMap::new(),
        forced: HashMap::new(),
        override_saver: callbacks.override_saver,
    };
    actor.restore_overrides(callbacks.queue_overrides);
    if let Some((snapshot, logs)) = callbacks.restored {
        let now = actor.now();
        match actor.engine.restore_callbacks(now, snapshot) {
            Ok(n) => {
                info!(callbacks = n, "pending callbacks restored");
                for (call, log) in logs {
                    actor.calls.insert(call, Member { log, notices: None });
                }
            }
            Err(e) => warn!(error = %e, "saved callbacks refused; they are not restored"),
        }
    }
    let last: HashMap<&str, (&str, Option<&str>)> = callbacks
        .agent_states
        .iter()
        .map(|(a, s, r)| (a.as_str(), (s.as_str(), r.as_deref())))
        .collect();
    for a in agents.iter().filter(|a| !a.queues.is_empty()) {
        let last = last.get(a.id.as_str()).copied();
        crate::floor::agents::restore(&mut actor, a, last);
    }
    let (tx, rx) = mpsc::channel(1024);
    tokio::spawn(actor.run(rx));
    Ok(AcdHandle { tx })
}

impl crate::floor::agents::Floor for AcdActor {
    fn login(&mut self, agent: &AgentId, ready: bool) -> Result<(), AcdError> {
        AcdActor::login(self, agent, ready)
    }
    fn input(&mut self, input: Input) -> Result<(), AcdError> {
        AcdActor::input(self, input)
    }
}

/// `*47` pauses with its own reason, whatever reasons the CTI screen offers.
fn with_code_reason(config: &mut EngineConfig) {
    let code_reason = PAUSE_REASON;
    if !config.pause_reasons.iter().any(|r| r == code_reason) {
        config.pause_reasons.push(code_reason.to_owned());
    }
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
        self.login_to(agent, ready, None)
    }

    /// Logs `agent` in to their configured queues, or only to those of `only`.
    fn login_to(
        &mut self,
        agent: &AgentId,
        ready: bool,
        only: Option<&[String]>,
    ) -> Result<(), AcdError> {
        let p = self
            .profiles
            .get(agent)
            .cloned()
            .ok_or_else(|| AcdError::UnknownAgent(agent.clone()))?;
        let memberships = match only {
            Some(only) => p
                .memberships
                .into_iter()
                .filter(|m| only.iter().any(|q| q.as_str() == m.queue.as_str()))
                .collect(),
            None => p.memberships,
        };
        self.input(Input::AgentLogin(AgentLogin {
            agent: agent.clone(),
            memberships,
            skills: p.skills,
            ready,
        }))
    }

    fn request(&mut self, r: AcdRequest) {
        let Some(r) = self.outbound_report(r) else {
            return;
        };
        let result = match r {
            AcdRequest::Enqueue { call, log, notices } => {
                let id = call.call.clone();
                self.calls.insert(
                    id.clone(),
                    Member {
                        log,
                        notices: Some(notices),
                    },
                );
                let queue = call.queue.clone();
                let r = self.input(Input::Enqueue(call));
                if let Err(e) = &r {
                    // Never silent hold music: the call actor falls back or says goodbye.
                    error!(call = %id, %queue, error = %e, "ACD refused to queue a call");
                    self.notify(&id, AcdNotice::EnqueueRefused { queue });
                    self.calls.remove(&id);
                    return;
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
            AcdRequest::CallbackRequested { call, number } => {
                let r = self.input(Input::CallbackRequested {
                    call: call.clone(),
                    number: number.map(CallerNumber::new),
                    keep_place: true,
                    not_before: None,
                });
                if let Err(e) = &r {
                    warn!(%call, error = %e, "callback request refused");
                    self.notify(&call, AcdNotice::CallbackRefused);
                }
                r
            }
            AcdRequest::CallbackResult { call, outcome } => {
                self.input(Input::CallbackResult { call, outcome })
            }
            AcdRequest::Agent {
                agent,
                command,
                forced,
                reply,
            } => {
                let id = agent.clone();
                match forced.zip(forced_state(&command)) {
                    Some((by, state)) => {
                        self.forced.insert(id.clone(), (state, by));
                    }
                    // Ending wrap-up leads to the forced state; anything else replaces it.
                    None if command == AgentCommand::EndWrapUp => {}
                    None => {
                        self.forced.remove(&id);
                    }
                }
                let r = match command {
                    AgentCommand::Login { agent, ready } => self.login(&agent, ready),
                    AgentCommand::LoginTo {
                        agent,
                        ready,
                        queues,
                    } => self.login_to(&agent, ready, Some(&queues)),
                    AgentCommand::Logout => self.input(Input::AgentLogout { agent }),
                    AgentCommand::Pause { reason } => {
                        self.input(Input::AgentPause { agent, reason })
                    }
                    AgentCommand::Ready => self.input(Input::AgentReady { agent }),
                    AgentCommand::NextState { next } => {
                        let r = self.input(Input::NextState {
                            agent: agent.clone(),
                            next,
                        });
                        if r.is_ok() {
                            // No state change follows: desktops learn it from a republish.
                            self.republish_agent(&agent);
                        }
                        r
                    }
                    AgentCommand::EndWrapUp => self.input(Input::WrapUpEnded { agent }),
                    AgentCommand::SystemPause { reason } => {
                        self.input(Input::SystemPause { agent, reason })
                    }
                };
                if r.is_err() {
                    self.forced.remove(&id);
                }
                // The outputs go out before the reply, so the desktop sees the change first.
                self.dispatch();
                let _ = reply.send(r.map_err(|e| e.to_string()));
                return;
            }
            AcdRequest::OfferContext { call, reply } => {
                let context =
                    self.engine
                        .offer_context(&call)
                        .map(|(caller, variables)| OfferContext {
                            caller: caller.expose().to_owned(),
                            variables: variables.clone(),
                        });
                let _ = reply.send(context);
                return;
            }
            AcdRequest::ScheduleCallback {
                callback,
                log,
                reply,
            } => {
                let id = callback.call.clone();
                self.calls.insert(id.clone(), Member { log, notices: None });
                let r = self.input(Input::ScheduleCallback(callback));
                if r.is_err() {
                    self.calls.remove(&id);
                }
                // Logged and saved (it must survive a restart) before the reply.
                self.dispatch();
                let _ = reply.send(r.map_err(|e| e.to_string()));
                return;
            }
            AcdRequest::AgentCall {
                agent,
                call,
                number,
                log,
                reply,
            } => {
                let r = self.agent_call(agent, call, number, log);
                self.dispatch();
                let _ = reply.send(r);
                return;
            }
            AcdRequest::DirectCall { agent, call, reply } => {
                let r = self.input(Input::DirectCall { agent, call });
                let _ = reply.send(r.map_err(|e| e.to_string()));
                return;
            }
            AcdRequest::DirectEnded { agent, call } => {
                self.input(Input::DirectEnded { agent, call })
            }
            AcdRequest::Floor { command, reply } => {
                let input = match command {
                    FloorCommand::Assign { call, agent } => Input::AssignCall { call, agent },
                    FloorCommand::SetClosed { queue, closed } => {
                        Input::SetQueueClosed { queue, closed }
                    }
                    FloorCommand::SetPriority { queue, priority } => {
                        Input::SetQueuePriority { queue, priority }
                    }
                };
                let r = self.input(input);
                self.save_overrides();
                // The offer (or the closing) goes out before the reply.
                self.dispatch();
                let _ = reply.send(r);
                return;
            }
            AcdRequest::CallQueue { call, reply } => {
                let _ = reply.send(self.engine.call_queue(&call));
                return;
            }
            AcdRequest::Status { reply } => {
                let _ = reply.send(self.status());
                return;
            }
            AcdRequest::Snapshot { reply } => {
                let _ = reply.send(self.snapshot());
                return;
            }
            AcdRequest::Reconfigure {
                config,
                agents,
                reply,
            } => {
                let _ = reply.send(self.reconfigure(config, &agents));
                // A queue removed from the config takes its overrides with it.
                self.save_overrides();
                return;
            }
        };
        if let Err(e) = result {
            // Late news (an answer after the caller left) is normal; nothing changed.
            info!(error = %e, "ACD refused an input");
        }
    }

    fn notify(&self, call: &CallId, n: AcdNotice) {
        if let Some(tx) = self.calls.get(call).and_then(|m| m.notices.as_ref())
            && tx.try_send(Box::new(n)).is_err()
        {
            warn!(%call, "call actor not taking ACD notices");
        }
    }

    fn status(&mut self) -> AcdStatus {
        // Bring the engine's clock to now so times in state are current.
        let now = self.now();
        self.engine.handle_timeout(now);
        self.forget_removed_agents();
        let agents = self
            .agent_order
            .iter()
            .map(|id| {
                let (status, in_state) = self
                    .engine
                    .agent_status(id)
                    .unwrap_or((AgentStatus::LoggedOut, Duration::ZERO));
                let (state, reason, call) = status_parts(&status);
                AgentView {
                    agent: id.to_string(),
                    state,
                    reason,
                    call,
                    in_state_ms: in_state.as_millis() as u64,
                }
            })
            .collect();
        let queues = self
            .queue_order
            .iter()
            .filter_map(|q| self.engine.queue_status(q))
            .collect();
        AcdStatus { agents, queues }
    }

    fn store_agent_change(
        &mut self,
        agent: &AgentId,
        from: &AgentStatus,
        to: &AgentStatus,
        in_previous_ms: u64,
    ) {
        let Some(log) = &self.agent_log else {
            return;
        };
        let (to_state, reason, call) = status_parts(to);
        let forced = match self.forced.get(agent) {
            Some((state, _)) if *state == to_state => self.forced.remove(agent).map(|(_, f)| f),
            _ => None,
        };
        let (forced_by, forced_why) = forced.map(|f| (f.user, f.why)).unzip();
        log.record(AgentEvent {
            agent: agent.to_string(),
            at_ms: jiff::Timestamp::now().as_millisecond(),
            from_state: status_parts(from).0.to_owned(),
            to_state: to_state.to_owned(),
            reason,
            call,
            in_previous_ms: i64::try_from(in_previous_ms).unwrap_or(i64::MAX),
            forced_by,
            forced_why,
        });
    }

    fn log(&self, call: Option<&CallId>, event: AcdEvent) {
        match call.and_then(|c| self.calls.get(c)) {
            Some(m) => m.log.record(EventKind::Acd { event }),
            None => info!(?event, "ACD"),
        }
    }

    /// Drains the engine's outputs to the call actors and the event log.
    fn dispatch(&mut self) {
        let mut started = Vec::new();
        let mut finished = Vec::new();
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
                    position_cap,
                    estimated_wait_secs,
                } => self.notify(
                    &call,
                    AcdNotice::Announce {
                        position,
                        position_cap,
                        estimated_wait_secs,
                    },
                ),
                Output::PlayMessage { call, prompt } => {
                    self.notify(&call, AcdNotice::PlayMessage { prompt })
                }
                // Logged as Overflowed; the call stays queued, under the new queue's rules.
                Output::Overflow { call, to, .. } => {
                    self.notify(&call, AcdNotice::Overflowed { queue: to })
                }
                Output::OfferCallback { call } => self.notify(&call, AcdNotice::OfferCallback),
                Output::RouteTo {
                    call,
                    destination,
                    reason,
                } => {
                    self.notify(
                        &call,
                        AcdNotice::RouteTo {
                            destination,
                            reason,
                        },
                    );
                    // The call left the ACD; its actor sends no hang-up for it.
                    finished.push(call);
                }
                Output::Dequeue { call, reason } => {
                    self.notify(&call, AcdNotice::Dequeued { reason });
                    if reason == DequeueReason::CallbackRegistered {
                        // The caller hangs up after the confirmation; the call waits on.
                        if let Some(m) = self.calls.get_mut(&call) {
                            m.notices = None;
                        }
                    }
                }
                Output::StartCallback {
                    call,
                    agent,
                    number,
                    attempt,
                    variables,
                } => started.push(StartedCallback {
                    call,
                    agent,
                    number,
                    attempt,
                    variables,
                }),
                Output::Log(event) => {
                    if let AcdEvent::AgentStateChanged {
                        agent,
                        from,
                        to,
                        in_previous_ms,
                    } = &event
                    {
                        self.store_agent_change(agent, from, to, *in_previous_ms);
                        self.publish_agent(agent, to);
                    }
                    if let AcdEvent::CallbackRequested { .. }
                    | AcdEvent::CallbackStarted { .. }
                    | AcdEvent::CallbackAttemptFailed { .. } = &event
                    {
                        self.callbacks_changed = true;
                    }
                    if let AcdEvent::CallbackCompleted { call, .. }
                    | AcdEvent::CallbackGaveUp { call, .. } = &event
                    {
                        self.callbacks_changed = true;
                        finished.push(call.clone());
                    }
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
        for c in finished {
            self.calls.remove(&c);
        }
        let any_started = !started.is_empty();
        for job in started {
            self.start_callback(job);
        }
        if any_started {
            // A dialler-less start fed the engine again.
            self.dispatch();
        }
        self.save_callbacks();
        self.publish_queues();
    }
}

/// An agent status as the agent log stores it: state name, pause reason, call.
pub fn status_parts(s: &AgentStatus) -> (&'static str, Option<String>, Option<String>) {
    match s {
        AgentStatus::LoggedOut => ("logged_out", None, None),
        AgentStatus::Available => ("available", None, None),
        AgentStatus::Ringing { call } => ("ringing", None, Some(call.to_string())),
        AgentStatus::OnCall { call } => ("on_call", None, Some(call.to_string())),
        AgentStatus::WrapUp => ("wrap_up", None, None),
        AgentStatus::Paused { reason } => ("paused", Some(reason.clone()), None),
    }
}

/// The state a supervisor may force with `command`, as the agent log names it.
fn forced_state(command: &AgentCommand) -> Option<&'static str> {
    match command {
        AgentCommand::Pause { .. } => Some("paused"),
        AgentCommand::Ready => Some("available"),
        AgentCommand::Logout => Some("logged_out"),
        _ => None,
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
