//! The CTI's `Backend` on the running server: sessions and tickets from `users`, agent
//! commands through the ACD actor, call commands through the floor's live-call registry,
//! registrations through the store (published on the bus), the screen-pop from the ACD's
//! offer context, and today's figures from the agent log. No SIP here.
//!
//! `call` and `schedule_callback` are in `live_callback`; today's figures in `live_figures`.
//!
//! `answer` goes to the call, which tells the agent's ringing phone to pick up (the
//! agent's `auto_answer`; without one it is refused `unavailable`).
//! Every refused command that touches someone else's call or needs another role is
//! written to the audit log.

use std::sync::Arc;

use tracing::{info, warn};

use super::backend::{
    AgentCommand, AuthError, Backend, BoxFuture, CallCommand, CommandError, Credential,
    InitialState, Outcome, PopRequest, Registration, ScreenPop, Verdicts,
};
use super::protocol::{ErrorCode, Figures, HistoryEntry, NextState, TransferMode, TransferTarget};
use crate::acd::{AgentId, CallId, SystemPause};
use crate::config::AutoAnswer;
use crate::floor::Floor;
use crate::floor::acd::{AcdHandle, AgentCommand as AcdCommand};
use crate::floor::calls::{CallCommand as FloorCommand, CommandError as FloorError};
use crate::screen_pop::PopSource;
use crate::store::Store;
use crate::store::protocol::Protocol;
use crate::store::registration::RegisterError;
use crate::users::{Principal, Role, Sessions};

/// The server's real pieces behind the CTI.
pub struct Live {
    pub floor: Arc<Floor>,
    pub store: Store,
    pub sessions: Sessions,
    /// The ACD's agent log: the figures are read after what it queued is written.
    pub agent_log: Option<crate::store::agent_log::AgentLog>,
    /// The day's agent log as last read for the figures (`Default` to start).
    pub day: super::live_figures::DayRead,
}

fn refuse(code: ErrorCode, message: &str) -> CommandError {
    CommandError::new(code, message)
}

fn auth_error(e: crate::users::AuthError) -> AuthError {
    match e {
        crate::users::AuthError::Missing => AuthError::Missing,
        crate::users::AuthError::Expired => AuthError::Expired,
        crate::users::AuthError::Bad | crate::users::AuthError::Store(_) => AuthError::Bad,
    }
}

impl Live {
    fn acd(&self) -> Result<&AcdHandle, CommandError> {
        self.floor
            .acd
            .as_ref()
            .ok_or_else(|| refuse(ErrorCode::Unavailable, "nenhuma fila configurada"))
    }

    /// Writes a refusal to the audit log (and the server log).
    async fn audit_denied(&self, who: &Principal, target: &str, why: &str) {
        warn!(user = %who.user, role = %who.role, target, why, "CTI command refused");
        self.sessions
            .accounts()
            .audit()
            .record(&who.user, "denied", target, why)
            .await;
    }

    /// The call the ACD last published for `agent` (ringing, in talk or in wrap-up).
    async fn agent_call(&self, agent: &str) -> Option<String> {
        let snapshot = self.acd().ok()?.snapshot().await?;
        snapshot
            .agents
            .into_iter()
            .find(|a| a.agent == agent)
            .and_then(|a| a.call)
    }

    async fn run_agent(
        &self,
        agent: String,
        command: AgentCommand,
    ) -> Result<Outcome, CommandError> {
        let acd = self.acd()?;
        let config = self.floor.config();
        let configured = config.agents.iter().find(|a| a.id == agent);
        let Some(configured) = configured else {
            return Err(refuse(ErrorCode::NotAllowed, "agente não configurado"));
        };
        let reason_known = |r: &str| config.engine_config().pause_reasons.iter().any(|p| p == r);
        let command = match command {
            AgentCommand::Login { queues } => {
                let own: Vec<&str> = configured.queues.iter().map(|q| q.as_str()).collect();
                if queues.as_ref().is_some_and(Vec::is_empty) {
                    return Err(refuse(ErrorCode::BadArgs, "escolha ao menos uma fila"));
                }
                let mut asked: Vec<String> = queues.unwrap_or_default();
                asked.sort_unstable();
                asked.dedup();
                if let Some(q) = asked.iter().find(|q| !own.contains(&q.as_str())) {
                    info!(%agent, queue = %q, "CTI login to a queue the agent does not serve");
                    return Err(refuse(ErrorCode::BadArgs, "fila que não é do agente"));
                }
                if asked.is_empty() || asked.len() == own.len() {
                    AcdCommand::Login {
                        agent: AgentId::new(agent.as_str()),
                        ready: false,
                    }
                } else {
                    AcdCommand::LoginTo {
                        agent: AgentId::new(agent.as_str()),
                        ready: false,
                        queues: asked,
                    }
                }
            }
            AgentCommand::Logout => AcdCommand::Logout,
            AgentCommand::Ready => AcdCommand::Ready,
            AgentCommand::Pause { reason } if reason == super::DISCONNECTED_REASON => {
                AcdCommand::SystemPause {
                    reason: SystemPause::Disconnected,
                }
            }
            AgentCommand::Pause { reason } => {
                if !reason_known(&reason) {
                    return Err(refuse(ErrorCode::BadArgs, "motivo de pausa desconhecido"));
                }
                AcdCommand::Pause { reason }
            }
            AgentCommand::NextState { state, reason } => {
                let next = match state {
                    NextState::Available => crate::acd::NextState::Available,
                    NextState::LoggedOut => crate::acd::NextState::LoggedOut,
                    NextState::Paused => {
                        let reason = reason.unwrap_or_default();
                        if !reason_known(&reason) {
                            return Err(refuse(ErrorCode::BadArgs, "motivo de pausa desconhecido"));
                        }
                        crate::acd::NextState::Paused { reason }
                    }
                };
                AcdCommand::NextState { next }
            }
            AgentCommand::EndWrapUp => AcdCommand::EndWrapUp,
        };
        acd.agent(AgentId::new(agent.as_str()), command)
            .await
            .map_err(|e| {
                info!(%agent, error = %e, "CTI agent command refused by the ACD");
                refuse(ErrorCode::InvalidState, "não é possível no estado atual")
            })?;
        Ok(Outcome::default())
    }

    async fn run_call(
        &self,
        who: &Principal,
        agent: String,
        command: CallCommand,
    ) -> Result<Outcome, CommandError> {
        let (protocol, command) = match command {
            CallCommand::Answer { protocol } => {
                let config = self.floor.config();
                let mode = config
                    .agents
                    .iter()
                    .find(|a| a.id == agent)
                    .map(|a| a.auto_answer)
                    .unwrap_or_default();
                match mode {
                    AutoAnswer::None => {
                        info!(%agent, "CTI answer: the agent's phone has no auto_answer");
                        return Err(refuse(
                            ErrorCode::Unavailable,
                            "o telefone deste agente não atende a pedido: atenda pelo telefone",
                        ));
                    }
                    AutoAnswer::CallInfo => {
                        return Err(refuse(
                            ErrorCode::Unavailable,
                            "o telefone deste agente atende sozinho",
                        ));
                    }
                    AutoAnswer::NotifyTalk => {}
                }
                // Only the offer the ACD made to this very agent.
                if self.agent_call(&agent).await.as_deref() != Some(protocol.as_str()) {
                    self.audit_denied(
                        who,
                        &format!("cti answer {protocol}"),
                        "not the agent's offer",
                    )
                    .await;
                    return Err(refuse(ErrorCode::NotAllowed, "esta chamada não é sua"));
                }
                (
                    protocol,
                    FloorCommand::Answer {
                        agent: agent.clone(),
                    },
                )
            }
            CallCommand::Call { number } => {
                return self.place_call(&agent, &number).await;
            }
            CallCommand::ScheduleCallback {
                protocol,
                at_ms,
                number,
            } => {
                return self
                    .schedule_callback(&agent, protocol, at_ms, number)
                    .await;
            }
            CallCommand::HangUp { protocol } => (protocol, FloorCommand::HangUp),
            CallCommand::Hold { protocol } => (protocol, FloorCommand::Hold),
            CallCommand::Resume { protocol } => (protocol, FloorCommand::Resume),
            CallCommand::Dtmf { protocol, digits } => (protocol, FloorCommand::Dtmf { digits }),
            CallCommand::Transfer { protocol, to, mode } => {
                let to = match to {
                    TransferTarget::Agent(a) => crate::floor::calls::TransferTarget::Agent(a),
                    TransferTarget::Queue(q) => crate::floor::calls::TransferTarget::Queue(q),
                    TransferTarget::Number(n) => crate::floor::calls::TransferTarget::Number(n),
                    TransferTarget::Survey => crate::floor::calls::TransferTarget::Survey,
                };
                let blind = mode == TransferMode::Blind;
                (protocol, FloorCommand::Transfer { to, blind })
            }
            CallCommand::CompleteTransfer { protocol } => {
                (protocol, FloorCommand::CompleteTransfer)
            }
            CallCommand::CancelTransfer { protocol } => (protocol, FloorCommand::CancelTransfer),
        };
        // The hub checked its view; the ACD is the authority on whose call it is.
        if self.agent_call(&agent).await.as_deref() != Some(protocol.as_str()) {
            self.audit_denied(who, &format!("cti call {protocol}"), "not the agent's call")
                .await;
            return Err(refuse(ErrorCode::NotFound, "chamada não encontrada"));
        }
        self.floor
            .calls
            .command(&protocol, command)
            .await
            .map_err(|e| match e {
                FloorError::UnknownCall | FloorError::Gone => {
                    refuse(ErrorCode::NotFound, "chamada não encontrada")
                }
                FloorError::NotInTalk => {
                    refuse(ErrorCode::InvalidState, "a chamada não está em conversa")
                }
                FloorError::AlreadyHeld => {
                    refuse(ErrorCode::InvalidState, "a chamada já está em espera")
                }
                FloorError::NotHeld => {
                    refuse(ErrorCode::InvalidState, "a chamada não está em espera")
                }
                FloorError::Invalid(why) => {
                    info!(%protocol, %why, "CTI call command refused by the call");
                    refuse(ErrorCode::InvalidState, invalid_text(&why))
                }
                FloorError::Unsupported(_) => {
                    refuse(ErrorCode::Unavailable, "ainda não disponível")
                }
                FloorError::Busy => refuse(ErrorCode::Unavailable, "tente de novo"),
            })?;
        Ok(Outcome::default())
    }

    async fn run_register(
        &self,
        who: &Principal,
        agent: String,
        r: Registration,
    ) -> Result<Outcome, CommandError> {
        let protocol: Protocol = r
            .protocol
            .parse()
            .map_err(|_| refuse(ErrorCode::BadArgs, "protocolo inválido"))?;
        let config = self.floor.config();
        let registration = crate::registration::Registration {
            code: r.code.clone(),
            note: r.note.clone(),
        };
        let event = self
            .store
            .register_call(
                &protocol,
                &agent,
                &registration,
                &config.dispositions,
                crate::registration::Limits::from_config(&config.acd),
                jiff::Timestamp::now().as_millisecond(),
            )
            .await;
        let event = match event {
            Ok(e) => e,
            Err(RegisterError::UnknownCall) => {
                return Err(refuse(ErrorCode::NotFound, "chamada não encontrada"));
            }
            Err(RegisterError::Store(e)) => {
                warn!(error = %e, "CTI registration: the call log is unavailable");
                return Err(refuse(
                    ErrorCode::Unavailable,
                    "banco de dados indisponível",
                ));
            }
            Err(RegisterError::Refused(refused)) => {
                use crate::registration::Refused;
                return Err(match refused {
                    Refused::NotYourCall => {
                        self.audit_denied(
                            who,
                            &format!("cti register {protocol}"),
                            "not the agent's call",
                        )
                        .await;
                        refuse(
                            ErrorCode::NotAllowed,
                            "esta chamada não foi atendida por você",
                        )
                    }
                    Refused::WindowClosed => {
                        refuse(ErrorCode::InvalidState, "prazo de registro encerrado")
                    }
                    other => {
                        info!(%protocol, %agent, refused = %other, "CTI registration refused");
                        refuse(ErrorCode::BadArgs, "registro inválido")
                    }
                });
            }
        };
        info!(%protocol, %agent, code = %r.code, "call registered (CTI)");
        self.floor.bus.publish(crate::bus::Change::Call(event));
        Ok(Outcome::default())
    }

    async fn pop(&self, request: PopRequest) -> ScreenPop {
        let PopRequest {
            protocol,
            queue,
            waited_ms,
        } = request;
        let (Ok(acd), Ok(parsed)) = (self.acd(), protocol.parse::<Protocol>()) else {
            return ScreenPop::default();
        };
        let Some(context) = acd.offer_context(CallId::new(protocol.as_str())).await else {
            return ScreenPop::default();
        };
        // The DID and privacy come from the call's `offered` entry; without it the caller
        // is treated as restricted (no history looked up).
        let offered = match self.store.call_detail(&parsed).await {
            Ok(Some(d)) => d
                .events
                .iter()
                .filter(|e| e.kind == "offered")
                .find_map(|e| {
                    serde_json::from_value::<crate::events::EventKind>(e.detail.clone()).ok()
                }),
            _ => None,
        };
        let source = offered
            .and_then(|k| PopSource::from_offered(parsed.clone(), &k, context.variables.clone()))
            .unwrap_or(PopSource {
                protocol: parsed,
                a_number: context.caller,
                restricted: true,
                did: String::new(),
                variables: context.variables,
            });
        let config = self.floor.config();
        let queue_name = queue.unwrap_or_default();
        let queue = config
            .queues
            .iter()
            .find(|q| q.id.as_str() == queue_name)
            .cloned()
            .unwrap_or_else(|| crate::acd::QueueConfig::new(queue_name.as_str()));
        let pop = crate::screen_pop::ScreenPop::build(
            &self.store,
            &source,
            &queue,
            waited_ms,
            config.acd.screen_pop_history,
            &config.dispositions,
        )
        .await;
        ScreenPop {
            ivr: pop.ivr,
            history: pop
                .history
                .into_iter()
                .map(|h| HistoryEntry {
                    protocol: h.protocol,
                    at_ms: h.at_ms,
                    disposition: h.disposition,
                    note: h.note,
                })
                .collect(),
            url: pop.url,
        }
    }
}

/// The operator's words for the call's refusals that an operator can act on.
fn invalid_text(why: &str) -> &'static str {
    if why.contains("no transfer under way") {
        "nenhuma transferência em andamento"
    } else if why.contains("not answered yet") {
        "o destino ainda não atendeu"
    } else if why.contains("transfer is under way") {
        "já há uma transferência em andamento"
    } else if why.contains("remote answer") {
        "o telefone não aceitou o atendimento remoto"
    } else if why.contains("nothing ringing") {
        "nenhuma chamada tocando"
    } else {
        "não é possível agora"
    }
}

/// An agent user sees the queues their agent serves (the user's own list is for
/// supervisors' scope and is usually empty for an agent).
fn with_agent_queues(mut p: Principal, config: &crate::config::Config) -> Principal {
    if p.role == Role::Agent
        && let Some(agent) = p.agent.as_deref()
        && let Some(a) = config.agents.iter().find(|a| a.id == agent)
    {
        for q in &a.queues {
            if !p.queues.iter().any(|x| x == q.as_str()) {
                p.queues.push(q.as_str().to_owned());
            }
        }
    }
    p
}

impl Backend for Live {
    fn authenticate(&self, credential: Credential) -> BoxFuture<'_, Result<Principal, AuthError>> {
        Box::pin(async move {
            match credential {
                Credential::Session(cookie) => self.sessions.principal(&cookie).await,
                Credential::Ticket(ticket) => self.sessions.redeem_ticket(&ticket).await,
            }
            .map(|p| with_agent_queues(p, &self.floor.config()))
            .map_err(auth_error)
        })
    }

    fn revalidate_many(&self, sessions: Vec<String>) -> BoxFuture<'_, Option<Verdicts>> {
        Box::pin(async move {
            match self.sessions.still_valid_many(&sessions).await {
                Ok(verdicts) => {
                    let config = self.floor.config();
                    Some(
                        verdicts
                            .into_iter()
                            .map(|(session, v)| {
                                let v = v.map(|p| with_agent_queues(p, &config));
                                (session, v.map_err(auth_error))
                            })
                            .collect(),
                    )
                }
                Err(e) => {
                    // A database blip is not a logout: the desktops are kept and checked
                    // again at the next heartbeat.
                    warn!(error = %e, "CTI session check: database unavailable");
                    None
                }
            }
        })
    }

    fn agent_command(
        &self,
        _who: Principal,
        agent: String,
        command: AgentCommand,
    ) -> BoxFuture<'_, Result<Outcome, CommandError>> {
        Box::pin(self.run_agent(agent, command))
    }

    fn call_command(
        &self,
        who: Principal,
        agent: String,
        command: CallCommand,
    ) -> BoxFuture<'_, Result<Outcome, CommandError>> {
        Box::pin(async move { self.run_call(&who, agent, command).await })
    }

    fn floor_command(
        &self,
        who: Principal,
        order: crate::floor::control::Order,
        why: String,
    ) -> BoxFuture<'_, Result<Outcome, CommandError>> {
        use crate::floor::control::{self, ControlError};
        Box::pin(async move {
            let audit = self.sessions.accounts().audit();
            control::run(&self.floor, audit, &who, order, Some(&why))
                .await
                .map(|()| Outcome::default())
                .map_err(|e| {
                    let (code, message) = match &e {
                        ControlError::NoWhy => {
                            (ErrorCode::BadArgs, "informe o motivo (why)".into())
                        }
                        ControlError::Forbidden => {
                            (ErrorCode::NotAllowed, "fora do seu escopo".into())
                        }
                        ControlError::NotFound(m) => (ErrorCode::NotFound, m.clone()),
                        ControlError::Refused(m) => (ErrorCode::InvalidState, m.clone()),
                        ControlError::Unavailable => {
                            (ErrorCode::Unavailable, "a ACD não está rodando".into())
                        }
                    };
                    refuse(code, &message)
                })
        })
    }

    fn register(
        &self,
        who: Principal,
        agent: String,
        registration: Registration,
    ) -> BoxFuture<'_, Result<Outcome, CommandError>> {
        Box::pin(async move { self.run_register(&who, agent, registration).await })
    }

    fn screen_pop(&self, request: PopRequest) -> BoxFuture<'_, ScreenPop> {
        Box::pin(self.pop(request))
    }

    fn initial_state(&self) -> BoxFuture<'_, InitialState> {
        Box::pin(async move {
            let Some(snapshot) = self.floor.acd.as_ref() else {
                return InitialState::default();
            };
            match snapshot.snapshot().await {
                Some(s) => InitialState {
                    agents: s.agents,
                    queues: s.queues,
                },
                None => InitialState::default(),
            }
        })
    }

    fn figures(&self, who: Principal) -> BoxFuture<'_, Option<Figures>> {
        Box::pin(async move { self.today(&who).await })
    }

    fn refused(&self, who: Principal, target: String, why: String) -> BoxFuture<'_, ()> {
        Box::pin(async move { self.audit_denied(&who, &target, &why).await })
    }
}
