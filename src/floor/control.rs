//! Control of the floor by a supervisor (in scope) or an admin, shared by
//! `POST /api/floor/…` and the CTI's supervisor commands: who may, the ACD command, and
//! the audit entry (action `floor`, with the target and the reason given; a refusal by
//! the ACD is audited too, a refusal of scope as `denied`). A forced state change is also
//! on the agent log's row, with who forced it and why.
//!
//! A supervisor acts on agents configured in a queue of their scope, on calls waiting in
//! such a queue and on those queues; an admin on everything; nobody else.

use tracing::warn;

use super::Floor;
use super::acd::{AgentCommand, FloorCommand, ForcedBy};
use crate::acd::{AcdError, AgentId, CallId, QueueId};
use crate::audit::Audit;
use crate::users::{Principal, Role};

/// The state an agent is forced into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForcedState {
    Paused { reason: String },
    Available,
    LoggedOut,
}

/// What a queue is made to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueOrder {
    Close,
    Open,
    Priority(u8),
    /// Callers who join from now on keep their own priority.
    LiftPriority,
}

/// One order, with the reason the supervisor gave (one line, 1–500 characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Order {
    Agent { agent: String, state: ForcedState },
    Assign { protocol: String, agent: String },
    Queue { queue: String, order: QueueOrder },
}

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("why is required (1-500 characters)")]
    NoWhy,
    #[error("outside your scope")]
    Forbidden,
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Refused(String),
    #[error("the ACD is not running")]
    Unavailable,
}

/// The reason given, as one line of the audit log; `None` when missing or too long.
pub fn reason_given(why: Option<&str>) -> Option<String> {
    let why = why.unwrap_or("").trim();
    if why.is_empty() || why.chars().count() > 500 {
        return None;
    }
    Some(why.replace(['\n', '\r'], " "))
}

fn agent_in_scope(floor: &Floor, who: &Principal, agent: &str) -> bool {
    who.role == Role::Admin
        || floor
            .config()
            .agents
            .iter()
            .find(|a| a.id == agent)
            .is_some_and(|a| a.queues.iter().any(|q| who.sees_queue(q)))
}

/// Runs `order` for `who` and audits it.
pub async fn run(
    floor: &Floor,
    audit: &Audit,
    who: &Principal,
    order: Order,
    why: Option<&str>,
) -> Result<(), ControlError> {
    if !matches!(who.role, Role::Supervisor | Role::Admin) {
        audit
            .record(
                &who.user,
                "denied",
                &target(&order),
                "role may not control the floor",
            )
            .await;
        return Err(ControlError::Forbidden);
    }
    let why = reason_given(why).ok_or(ControlError::NoWhy)?;
    let acd = floor
        .acd
        .as_ref()
        .ok_or_else(|| ControlError::NotFound("no ACD queues are configured".into()))?;
    let target = target(&order);
    let (scope_ok, detail, r): (bool, String, Option<Result<(), String>>) = match &order {
        Order::Agent { agent, state } => {
            if !floor.config().agents.iter().any(|a| a.id == *agent) {
                return Err(ControlError::NotFound("no such agent".into()));
            }
            if !agent_in_scope(floor, who, agent) {
                (false, String::new(), None)
            } else {
                let (command, detail) = match state {
                    ForcedState::Paused { reason } => (
                        AgentCommand::Pause {
                            reason: reason.clone(),
                        },
                        format!("reason: {reason}; why: {why}"),
                    ),
                    ForcedState::Available => (AgentCommand::Ready, format!("why: {why}")),
                    ForcedState::LoggedOut => (AgentCommand::Logout, format!("why: {why}")),
                };
                let by = ForcedBy {
                    user: who.user.clone(),
                    why: why.clone(),
                };
                let r = match acd
                    .agent_forced(AgentId::new(agent.as_str()), command, by)
                    .await
                {
                    Err(e) if e == "the ACD is not running" => None,
                    r => Some(r),
                };
                (true, detail, r)
            }
        }
        Order::Assign { protocol, agent } => {
            let call = CallId::new(protocol.as_str());
            let Some(queue) = acd.call_queue(call.clone()).await else {
                return Err(ControlError::NotFound("no such call in the queues".into()));
            };
            if !who.sees_queue(queue.as_str()) || !agent_in_scope(floor, who, agent) {
                (false, String::new(), None)
            } else {
                let r = acd
                    .floor(FloorCommand::Assign {
                        call,
                        agent: AgentId::new(agent.as_str()),
                    })
                    .await;
                (true, format!("why: {why}"), acd_result(r)?)
            }
        }
        Order::Queue { queue, order } => {
            if !floor.config().queues.iter().any(|q| q.id.as_str() == queue) {
                return Err(ControlError::NotFound("no such queue".into()));
            }
            if !who.sees_queue(queue) {
                (false, String::new(), None)
            } else {
                let id = QueueId::new(queue.as_str());
                let (command, detail) = match order {
                    QueueOrder::Close => (
                        FloorCommand::SetClosed {
                            queue: id,
                            closed: true,
                        },
                        format!("why: {why}"),
                    ),
                    QueueOrder::Open => (
                        FloorCommand::SetClosed {
                            queue: id,
                            closed: false,
                        },
                        format!("why: {why}"),
                    ),
                    QueueOrder::Priority(p) => (
                        FloorCommand::SetPriority {
                            queue: id,
                            priority: Some(*p),
                        },
                        format!("priority: {p}; why: {why}"),
                    ),
                    QueueOrder::LiftPriority => (
                        FloorCommand::SetPriority {
                            queue: id,
                            priority: None,
                        },
                        format!("why: {why}"),
                    ),
                };
                (true, detail, acd_result(acd.floor(command).await)?)
            }
        }
    };
    if !scope_ok {
        warn!(user = %who.user, target = %target, "floor control outside the user's scope");
        audit
            .record(&who.user, "denied", &target, "outside the user's scope")
            .await;
        return Err(ControlError::Forbidden);
    }
    match r {
        None => Err(ControlError::Unavailable),
        Some(Ok(())) => {
            audit.record(&who.user, "floor", &target, &detail).await;
            Ok(())
        }
        Some(Err(e)) => {
            let detail = format!("{detail}; refused: {e}");
            audit.record(&who.user, "floor", &target, &detail).await;
            Err(ControlError::Refused(e))
        }
    }
}

/// The engine's verdict; unknown names are "not found", not a refusal.
fn acd_result(r: Option<Result<(), AcdError>>) -> Result<Option<Result<(), String>>, ControlError> {
    match r {
        Some(Err(
            e @ (AcdError::UnknownAgent(_) | AcdError::UnknownCall(_) | AcdError::UnknownQueue(_)),
        )) => Err(ControlError::NotFound(e.to_string())),
        r => Ok(r.map(|r| r.map_err(|e| e.to_string()))),
    }
}

/// What the audit log names as the target.
pub fn target(order: &Order) -> String {
    match order {
        Order::Agent { agent, state } => {
            let action = match state {
                ForcedState::Paused { .. } => "pause",
                ForcedState::Available => "ready",
                ForcedState::LoggedOut => "logout",
            };
            format!("agent {agent} {action}")
        }
        Order::Assign { protocol, agent } => format!("call {protocol} assign {agent}"),
        Order::Queue { queue, order } => {
            let action = match order {
                QueueOrder::Close => "close",
                QueueOrder::Open => "open",
                QueueOrder::Priority(_) => "priority",
                QueueOrder::LiftPriority => "lift_priority",
            };
            format!("queue {queue} {action}")
        }
    }
}
