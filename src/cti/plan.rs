//! What a CTI command becomes once checked against the user's rights and the live state:
//! a `Plan` for the backend (an agent's state, a call, a registration, a supervisor's
//! control of the floor), or the refusal the desktop is told. Pure over the hub's view:
//! nothing here runs a command.

use crate::users::{Principal, Role};

use super::backend::{AgentCommand, CallCommand, Registration};
use super::hub::Hub;
use super::protocol::{Command, Entity, ErrorCode, NextState, QueueAction, ReplyError};

impl Hub {
    /// Checks a command against the user's rights and the live state; returns what to run.
    pub(super) fn plan(&self, who: &Principal, command: Command) -> Result<Plan, ReplyError> {
        let refuse = |code, message: &str| ReplyError {
            code,
            message: message.to_owned(),
        };
        if who.role == Role::Auditor {
            return Err(refuse(
                ErrorCode::NotAllowed,
                "auditores não executam comandos",
            ));
        }
        if who.role == Role::Wallboard {
            return Err(refuse(
                ErrorCode::NotAllowed,
                "o painel só mostra; não executa comandos",
            ));
        }
        if let Some(plan) = floor_plan(who, &command) {
            return plan;
        }
        let Some(agent) = who.agent.clone() else {
            return Err(refuse(
                ErrorCode::NotAllowed,
                "usuário sem agente vinculado",
            ));
        };
        let shared = self.shared();
        let view = &shared.view;
        let live = |protocol: &str| {
            if view.has_live_call(&agent, protocol) {
                Ok(())
            } else {
                Err(refuse(ErrorCode::NotFound, "chamada não encontrada"))
            }
        };
        let agent_cmd = |c| Ok(Plan::Agent(agent.clone(), c));
        match command {
            Command::Login { queues } => agent_cmd(AgentCommand::Login { queues }),
            Command::Logout {} => agent_cmd(AgentCommand::Logout),
            Command::Ready {} => agent_cmd(AgentCommand::Ready),
            Command::Pause { reason } => agent_cmd(AgentCommand::Pause { reason }),
            Command::NextState { state, reason } => {
                agent_cmd(AgentCommand::NextState { state, reason })
            }
            Command::EndWrapUp {} => agent_cmd(AgentCommand::EndWrapUp),
            Command::Answer {} => match view.ringing_at(&agent) {
                Some(protocol) => Ok(Plan::Call(agent.clone(), CallCommand::Answer { protocol })),
                None => Err(refuse(ErrorCode::InvalidState, "nenhuma chamada tocando")),
            },
            Command::HangUp { protocol } => {
                live(&protocol)?;
                Ok(Plan::Call(agent.clone(), CallCommand::HangUp { protocol }))
            }
            Command::Hold { protocol } => {
                live(&protocol)?;
                Ok(Plan::Call(agent.clone(), CallCommand::Hold { protocol }))
            }
            Command::Resume { protocol } => {
                live(&protocol)?;
                Ok(Plan::Call(agent.clone(), CallCommand::Resume { protocol }))
            }
            Command::Dtmf { protocol, digits } => {
                if digits.is_empty()
                    || !digits
                        .chars()
                        .all(|c| c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D'))
                {
                    return Err(refuse(ErrorCode::BadArgs, "dígitos inválidos"));
                }
                live(&protocol)?;
                Ok(Plan::Call(
                    agent.clone(),
                    CallCommand::Dtmf { protocol, digits },
                ))
            }
            Command::Transfer { protocol, to, mode } => {
                live(&protocol)?;
                Ok(Plan::Call(
                    agent.clone(),
                    CallCommand::Transfer { protocol, to, mode },
                ))
            }
            Command::CompleteTransfer { protocol } => {
                live(&protocol)?;
                Ok(Plan::Call(
                    agent.clone(),
                    CallCommand::CompleteTransfer { protocol },
                ))
            }
            Command::CancelTransfer { protocol } => {
                live(&protocol)?;
                Ok(Plan::Call(
                    agent.clone(),
                    CallCommand::CancelTransfer { protocol },
                ))
            }
            Command::Call { number } => Ok(Plan::Call(agent.clone(), CallCommand::Call { number })),
            Command::ScheduleCallback {
                protocol,
                at_ms,
                number,
            } => {
                if !view.handled(&agent, &protocol) {
                    return Err(refuse(ErrorCode::NotFound, "chamada não encontrada"));
                }
                Ok(Plan::Call(
                    agent.clone(),
                    CallCommand::ScheduleCallback {
                        protocol,
                        at_ms,
                        number,
                    },
                ))
            }
            Command::Register {
                protocol,
                code,
                note,
            } => {
                if !view.handled(&agent, &protocol) {
                    return Err(refuse(ErrorCode::NotFound, "chamada não encontrada"));
                }
                Ok(Plan::Register(
                    agent.clone(),
                    Registration {
                        protocol,
                        code,
                        note,
                    },
                ))
            }
            // Planned by `floor_plan` above.
            Command::ForceState { .. }
            | Command::AssignCall { .. }
            | Command::QueueControl { .. } => Err(refuse(
                ErrorCode::NotAllowed,
                "só supervisores e administradores controlam o salão",
            )),
        }
    }
}

pub(super) enum Plan {
    Agent(String, AgentCommand),
    Call(String, CallCommand),
    Register(String, Registration),
    /// A supervisor's control of the floor, with the reason given.
    Floor(crate::floor::control::Order, String),
}

/// The supervisor commands (`force_state`, `assign_call`, `queue_control`): `None` for
/// every other command. Scope is checked where they run (`floor::control`).
fn floor_plan(who: &Principal, command: &Command) -> Option<Result<Plan, ReplyError>> {
    use crate::floor::control::{ForcedState, Order, QueueOrder};
    let refuse = |code, message: &str| ReplyError {
        code,
        message: message.to_owned(),
    };
    let (order, why) = match command {
        Command::ForceState {
            agent,
            state,
            reason,
            why,
        } => {
            let state = match (state, reason.as_deref().map(str::trim)) {
                (NextState::Paused, Some(r)) if !r.is_empty() => ForcedState::Paused {
                    reason: r.to_owned(),
                },
                (NextState::Paused, _) => {
                    return Some(Err(refuse(ErrorCode::BadArgs, "informe o motivo da pausa")));
                }
                (NextState::Available, _) => ForcedState::Available,
                (NextState::LoggedOut, _) => ForcedState::LoggedOut,
            };
            let agent = agent.clone();
            (Order::Agent { agent, state }, why)
        }
        Command::AssignCall {
            protocol,
            agent,
            why,
        } => (
            Order::Assign {
                protocol: protocol.clone(),
                agent: agent.clone(),
            },
            why,
        ),
        Command::QueueControl {
            queue,
            action,
            priority,
            why,
        } => {
            let order = match (action, priority) {
                (QueueAction::Close, _) => QueueOrder::Close,
                (QueueAction::Open, _) => QueueOrder::Open,
                (QueueAction::Priority, Some(p)) => QueueOrder::Priority(*p),
                (QueueAction::LiftPriority, _) => QueueOrder::LiftPriority,
                (QueueAction::Priority, None) => {
                    return Some(Err(refuse(ErrorCode::BadArgs, "informe a prioridade")));
                }
            };
            let queue = queue.clone();
            (Order::Queue { queue, order }, why)
        }
        _ => return None,
    };
    if !matches!(who.role, Role::Supervisor | Role::Admin) {
        return Some(Err(refuse(
            ErrorCode::NotAllowed,
            "só supervisores e administradores controlam o salão",
        )));
    }
    Some(Ok(Plan::Floor(order, why.clone())))
}

impl Plan {
    pub(super) fn entity(&self) -> Option<Entity> {
        match self {
            Plan::Agent(agent, _) => Some(Entity::Agent(agent.clone())),
            Plan::Call(_, c) => match c {
                CallCommand::Answer { protocol }
                | CallCommand::HangUp { protocol }
                | CallCommand::Hold { protocol }
                | CallCommand::Resume { protocol }
                | CallCommand::Dtmf { protocol, .. }
                | CallCommand::Transfer { protocol, .. }
                | CallCommand::CompleteTransfer { protocol }
                | CallCommand::CancelTransfer { protocol } => Some(Entity::Call(protocol.clone())),
                CallCommand::Call { .. } | CallCommand::ScheduleCallback { .. } => None,
            },
            Plan::Register(..) | Plan::Floor(..) => None,
        }
    }
}
