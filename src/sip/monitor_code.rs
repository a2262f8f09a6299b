//! The supervisor's monitoring feature codes (issue 20): `*50<agent id>` listens to the
//! call that agent is in, `*51<agent id>` whispers to the agent, `*52<agent id>` barges
//! in. During the monitoring the keypad's 1/2/3 switch mode as for a monitoring started
//! from the API (`sip::call::monitor`).
//!
//! The phone authenticates as its account (407 digest, as for the agents' codes); the
//! users whose `agent` is that account are who dials. The same rules as
//! `/api/calls/{protocol}/monitor`: supervisors and admins only, a supervisor only on
//! calls of their queues; the request is audited before it is carried out, a refusal too.
//! Refusals are final responses: 403 (not a supervisor, out of scope), 404 (no such
//! agent), 480 (the agent is on no call). An allowed code is answered and that call *is*
//! the supervisor's leg (no second ring): its media goes to the call actor
//! (`CallCommand::MonitorDialled`), its dialog stays here, and it is hung up when the
//! monitoring ends (the call ended, the agent transferred, `#` or the API's stop).
//!
//! `parse` and `authorize` are pure; `serve` is the IO shell.

use std::sync::Arc;

use rsipstack::dialog::dialog::DialogState;
use rsipstack::sip::StatusCode;
use rsipstack::transaction::transaction::Transaction;
use tokio::sync::oneshot;
use tracing::{info, warn};

use super::feature_code::phone_account;
use crate::events::MonitorMode;
use crate::floor::calls::{CallCommand, CommandError, DialledLeg, DialledParts};
use crate::sdp;
use crate::sip::exchange::Exchange;
use crate::sip::legs::{contact_uri, info_digit};
use crate::sip::request;
use crate::users::{Principal, Role};

/// What a supervisor dialled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorCode {
    pub agent: String,
    pub mode: MonitorMode,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MonitorCodeError {
    #[error("not a monitoring feature code")]
    NotMonitorCode,
    #[error("the digits after the code name no configured agent id")]
    UnknownAgent,
}

/// Why a monitoring code is refused; each maps to the status the phone gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the phone's account belongs to no supervisor or admin")]
    NotSupervisor,
    #[error("the agent's call is outside the supervisor's queues")]
    OutOfScope,
    #[error("no such agent")]
    UnknownAgent,
    #[error("the agent is not on a call")]
    NotOnCall,
}

impl Refusal {
    /// 403 for who may not, 404 for a code naming nobody, 480 for an agent not on a call
    /// (temporarily unavailable: the same code may work in a minute).
    pub fn status(self) -> u16 {
        match self {
            Refusal::NotSupervisor | Refusal::OutOfScope => 403,
            Refusal::UnknownAgent => 404,
            Refusal::NotOnCall => 480,
        }
    }

    /// What the audit log's detail says.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::NotSupervisor => "not_supervisor",
            Refusal::OutOfScope => "out_of_scope",
            Refusal::UnknownAgent => "unknown_agent",
            Refusal::NotOnCall => "not_on_call",
        }
    }
}

/// Phones may percent-escape the star (`%2A`); both spellings mean the same code.
fn unescape_star(user: &str) -> String {
    user.replace("%2A", "*").replace("%2a", "*")
}

/// Whether a request-URI user is a monitoring code (`*50`…`*52` followed by digits).
pub fn is_monitor_code(user: &str) -> bool {
    let user = unescape_star(user);
    mode_of(&user).is_some_and(|(_, rest)| !rest.is_empty())
}

fn mode_of(user: &str) -> Option<(MonitorMode, &str)> {
    let rest = user.strip_prefix("*5")?;
    let mode = match rest.get(..1)? {
        "0" => MonitorMode::Listen,
        "1" => MonitorMode::Whisper,
        "2" => MonitorMode::Barge,
        _ => return None,
    };
    Some((mode, &rest[1..]))
}

/// Reads a dialled code: the digits after `*5x` must be a configured agent id, whole.
pub fn parse(user: &str, agents: &[&str]) -> Result<MonitorCode, MonitorCodeError> {
    let user = unescape_star(user);
    let (mode, agent) = mode_of(&user).ok_or(MonitorCodeError::NotMonitorCode)?;
    if agent.is_empty() || !agents.contains(&agent) {
        return Err(MonitorCodeError::UnknownAgent);
    }
    Ok(MonitorCode {
        agent: agent.to_owned(),
        mode,
    })
}

/// Whether `user` (the user whose phone dialled, `None` when no user is linked to the
/// account) may monitor a call of `call_queues` (`None`: the agent is on no call).
pub fn authorize(user: Option<&Principal>, call_queues: Option<&[String]>) -> Result<(), Refusal> {
    let Some(user) = user.filter(|u| matches!(u.role, Role::Supervisor | Role::Admin)) else {
        return Err(Refusal::NotSupervisor);
    };
    let Some(queues) = call_queues else {
        return Err(Refusal::NotOnCall);
    };
    if user.role == Role::Supervisor && !queues.iter().any(|q| user.sees_queue(q)) {
        return Err(Refusal::OutOfScope);
    }
    Ok(())
}

/// The first of the phone's users allowed to monitor a call of `call_queues`; else the
/// most telling refusal (a phone shared by supervisors of several queues monitors as the
/// one whose scope covers the call).
pub fn authorize_any<'a>(
    users: &'a [Principal],
    call_queues: Option<&[String]>,
) -> Result<&'a Principal, Refusal> {
    let rank = |r: Refusal| match r {
        Refusal::NotSupervisor => 0,
        Refusal::OutOfScope => 1,
        Refusal::UnknownAgent | Refusal::NotOnCall => 2,
    };
    let mut refusal = Refusal::NotSupervisor;
    for u in users {
        match authorize(Some(u), call_queues) {
            Ok(()) => return Ok(u),
            Err(r) if rank(r) > rank(refusal) => refusal = r,
            Err(_) => {}
        }
    }
    Err(refusal)
}

/// Serves a monitoring-code INVITE (the request-URI user passed `is_monitor_code`).
pub(super) async fn serve(ex: Arc<Exchange>, mut tx: Transaction) {
    let Some((source, account)) = phone_account(&ex, &mut tx).await else {
        return;
    };
    let dialled = request::request_user(&tx.original).unwrap_or_default();
    let parsed = {
        let config = ex.config();
        let ids: Vec<&str> = config.agents.iter().map(|a| a.id.as_str()).collect();
        parse(&dialled, &ids)
    };
    let Some(sessions) = ex.phone_users().cloned() else {
        warn!(%source, "monitoring code before the users are loaded");
        let _ = tx.reply(StatusCode::ServiceUnavailable).await;
        return;
    };
    let accounts = sessions.accounts();
    // Each user's scope as a login would have it (queues and teams, as configured now).
    let users: Vec<Principal> = match accounts.list().await {
        Ok(list) => list
            .iter()
            .filter(|u| !u.disabled && u.agent.as_deref() == Some(account.as_str()))
            .map(|u| sessions.principal_of(u, String::new()))
            .collect(),
        Err(e) => {
            warn!(error = %e, "cannot read the users for a monitoring code");
            let _ = tx.reply(StatusCode::ServerInternalError).await;
            return;
        }
    };
    let who = users
        .first()
        .map(|u| u.user.clone())
        .unwrap_or_else(|| format!("phone:{account}"));
    let audit = accounts.audit().clone();
    let code = match parsed {
        Ok(code) => code,
        Err(e) => {
            info!(%source, %account, error = %e, "unusable monitoring code");
            let detail = format!("via=phone reason={}", Refusal::UnknownAgent.as_str());
            audit.record(&who, "monitor.refused", "-", &detail).await;
            let _ = tx.reply(StatusCode::NotFound).await;
            return;
        }
    };
    // The agent's call, as the ACD last published it.
    let protocol = match ex.acd.as_ref() {
        Some(acd) => acd
            .snapshot()
            .await
            .and_then(|s| s.agents.into_iter().find(|a| a.agent == code.agent))
            .and_then(|a| a.call),
        None => None,
    };
    let queues = match &protocol {
        Some(p) => Some(call_queues(accounts, p).await),
        None => None,
    };
    let target = protocol
        .clone()
        .unwrap_or_else(|| format!("agent:{}", code.agent));
    let user = match authorize_any(&users, queues.as_deref()) {
        Ok(user) => user.clone(),
        Err(r) => {
            info!(%source, %account, agent = %code.agent, why = r.as_str(), "monitoring code refused");
            refuse(&audit, tx, &who, &target, r).await;
            return;
        }
    };
    // Allowed implies a call (no call gives `NotOnCall`).
    let Some(protocol) = protocol else {
        refuse(&audit, tx, &who, &target, Refusal::NotOnCall).await;
        return;
    };
    let detail = format!("role={} mode={} via=phone", user.role, code.mode.as_str());
    if let Err(e) = audit
        .try_record(&user.user, "monitor.start", &protocol, &detail)
        .await
    {
        warn!(error = %e, "cannot audit a monitoring code; refused");
        let _ = tx.reply(StatusCode::ServerInternalError).await;
        return;
    }
    attach(ex, tx, &audit, user.user, account, protocol, code.mode).await;
}

/// Refuses the code with `why`'s status, audited.
async fn refuse(
    audit: &crate::audit::Audit,
    mut tx: Transaction,
    who: &str,
    target: &str,
    why: Refusal,
) {
    let detail = format!("via=phone reason={}", why.as_str());
    audit.record(who, "monitor.refused", target, &detail).await;
    let status = match why.status() {
        404 => StatusCode::NotFound,
        480 => StatusCode::TemporarilyUnavailable,
        _ => StatusCode::Forbidden,
    };
    let _ = tx.reply(status).await;
}

/// The queues call `protocol` went through, from its log (as the API's scope check).
async fn call_queues(accounts: &crate::users::Accounts, protocol: &str) -> Vec<String> {
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(o) => {
                for (k, x) in o {
                    match (k.as_str(), x) {
                        ("queue", serde_json::Value::String(q)) => out.push(q.clone()),
                        _ => walk(x, out),
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let Ok(p) = protocol.parse::<crate::store::protocol::Protocol>() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    match accounts.store().call_detail(&p).await {
        Ok(Some(d)) => d.events.iter().for_each(|e| walk(&e.detail, &mut out)),
        Ok(None) => {}
        Err(e) => warn!(error = %e, "reading a call for a monitoring code failed"),
    }
    out
}

/// Answers the phone and hands its media to the call; hangs up when the monitoring ends.
async fn attach(
    ex: Arc<Exchange>,
    mut tx: Transaction,
    audit: &crate::audit::Audit,
    supervisor: String,
    phone: String,
    protocol: String,
    mode: MonitorMode,
) {
    let offer = request::sdp_body(&tx.original)
        .and_then(|b| sdp::parse(b).ok())
        .and_then(|r| sdp::negotiate(&r, &ex.codecs).ok().map(|n| (r, n)));
    let Some((remote, neg)) = offer else {
        let _ = tx.reply(StatusCode::NotAcceptableHere).await;
        return;
    };
    let socket = match ex.ports.bind() {
        Ok(s) => s,
        Err(e) => {
            warn!(error = %e, "no RTP port for a monitoring code");
            let _ = tx.reply(StatusCode::ServiceUnavailable).await;
            return;
        }
    };
    let Ok(local) = socket.local_addr() else {
        let _ = tx.reply(StatusCode::ServerInternalError).await;
        return;
    };
    let (ended_tx, mut ended) = oneshot::channel();
    let leg = DialledLeg::new(DialledParts {
        socket,
        remote: remote.rtp_addr,
        negotiated: neg,
        ended: ended_tx,
    });
    let command = CallCommand::MonitorDialled {
        supervisor: supervisor.clone(),
        phone,
        mode,
        leg,
    };
    if let Err(e) = ex.calls.command(&protocol, command).await {
        info!(%protocol, %supervisor, error = %e, "the call refused a monitoring code");
        audit
            .record(&supervisor, "monitor.refused", &protocol, &e.to_string())
            .await;
        let status = match e {
            CommandError::UnknownCall | CommandError::NotInTalk | CommandError::Gone => {
                StatusCode::TemporarilyUnavailable
            }
            _ => StatusCode::BusyHere,
        };
        let _ = tx.reply(status).await;
        return;
    }
    let stop = || CallCommand::StopMonitor {
        supervisor: supervisor.clone(),
    };
    let (state_tx, mut states) = ex.dialogs.new_dialog_state_channel();
    let contact = contact_uri(&ex, "atende");
    let dialog = match ex
        .dialogs
        .get_or_create_server_invite(&tx, state_tx, None, Some(contact))
    {
        Ok(d) => d,
        Err(e) => {
            warn!(error = %e, "cannot create a monitoring code's dialog");
            let _ = ex.calls.command(&protocol, stop()).await;
            let _ = tx.reply(StatusCode::ServerInternalError).await;
            return;
        }
    };
    let mut handler = dialog.clone();
    tokio::spawn(async move {
        let _ = handler.handle(&mut tx).await;
    });
    let answer = sdp::write(
        rand::random::<u32>() as u64,
        1,
        ex.advertised(local),
        &[(neg.pt, neg.codec)],
        neg.telephone_event_pt,
        remote.direction.answer(),
    );
    let headers = vec![request::raw_header("Content-Type", "application/sdp")];
    if let Err(e) = dialog.accept(Some(headers), Some(answer.into_bytes())) {
        warn!(error = %e, "could not answer a monitoring code");
        let _ = ex.calls.command(&protocol, stop()).await;
    }
    let mut hung_up = false;
    loop {
        tokio::select! {
            Some(st) = states.recv() => match st {
                // The supervisor hung up: the monitoring stops (after the loop).
                DialogState::Terminated(..) => {
                    hung_up = true;
                    break;
                }
                // The keypad by SIP INFO, as the call's own supervisor legs take it.
                DialogState::Info(_, req, h) => {
                    let _ = h.reply(StatusCode::OK).await;
                    // The call reads the key as it reads its own legs' keys (`via=keypad`).
                    if let Some(key) = info_digit(&req.body) {
                        let key = CallCommand::MonitorKey {
                            supervisor: supervisor.clone(),
                            key,
                        };
                        let _ = ex.calls.command(&protocol, key).await;
                    }
                }
                DialogState::Options(_, _, h) => {
                    let _ = h.reply(StatusCode::OK).await;
                }
                _ => {}
            },
            // The monitoring ended on the call's side (or the call is gone): hang up.
            reason = &mut ended => {
                info!(%protocol, %supervisor, reason = reason.as_deref().unwrap_or("call_ended"), "hanging up a monitoring code's call");
                if let Err(e) = dialog.bye().await {
                    warn!(error = %e, "could not hang up a monitoring code");
                }
                break;
            }
        }
    }
    if hung_up {
        // Closed first, so the call logs `supervisor_hung_up` rather than `stopped`.
        drop(ended);
        let _ = ex.calls.command(&protocol, stop()).await;
    }
    ex.dialogs.remove_dialog(&dialog.id());
}

#[cfg(test)]
mod tests {
    use super::*;

    const AGENTS: &[&str] = &["1001", "1002", "100"];

    fn user(role: Role, queues: &[&str]) -> Principal {
        Principal {
            user: "ana".into(),
            role,
            agent: Some("2001".into()),
            queues: queues.iter().map(|q| q.to_string()).collect(),
            agents: Vec::new(),
            teams: Vec::new(),
            session: String::new(),
        }
    }

    #[test]
    fn the_code_names_the_mode_and_the_whole_agent_id() {
        let code = |agent: &str, mode| MonitorCode {
            agent: agent.into(),
            mode,
        };
        assert_eq!(
            parse("*501001", AGENTS),
            Ok(code("1001", MonitorMode::Listen))
        );
        assert_eq!(
            parse("%2A511002", AGENTS),
            Ok(code("1002", MonitorMode::Whisper))
        );
        assert_eq!(parse("*52100", AGENTS), Ok(code("100", MonitorMode::Barge)));
        assert_eq!(parse("*50999", AGENTS), Err(MonitorCodeError::UnknownAgent));
        assert_eq!(
            parse("*5010011", AGENTS),
            Err(MonitorCodeError::UnknownAgent)
        );
        assert_eq!(parse("*50", AGENTS), Err(MonitorCodeError::UnknownAgent));
        assert_eq!(
            parse("*531001", AGENTS),
            Err(MonitorCodeError::NotMonitorCode)
        );
    }

    #[test]
    fn only_star_fifty_to_fifty_two_with_digits_are_monitor_codes() {
        assert!(is_monitor_code("*501001"));
        assert!(is_monitor_code("%2a521001"));
        assert!(!is_monitor_code("*50"));
        assert!(!is_monitor_code("*531001"));
        assert!(!is_monitor_code("*4510011234"));
        assert!(!is_monitor_code("08000000000"));
    }

    #[test]
    fn supervisors_in_scope_and_admins_may_monitor() {
        let queues = vec!["sac".to_string()];
        let sup = user(Role::Supervisor, &["sac"]);
        assert_eq!(authorize(Some(&sup), Some(&queues)), Ok(()));
        let admin = user(Role::Admin, &[]);
        assert_eq!(authorize(Some(&admin), Some(&queues)), Ok(()));
    }

    #[test]
    fn refusals_say_why_with_their_status() {
        let queues = vec!["sac".to_string()];
        let agent = user(Role::Agent, &["sac"]);
        let r = authorize(Some(&agent), Some(&queues));
        assert_eq!(r, Err(Refusal::NotSupervisor));
        assert_eq!(authorize(None, Some(&queues)), Err(Refusal::NotSupervisor));
        let other = user(Role::Supervisor, &["ouvidoria"]);
        let r = authorize(Some(&other), Some(&queues));
        assert_eq!(r, Err(Refusal::OutOfScope));
        assert_eq!(Refusal::OutOfScope.status(), 403);
        let sup = user(Role::Supervisor, &["sac"]);
        assert_eq!(authorize(Some(&sup), None), Err(Refusal::NotOnCall));
        assert_eq!(Refusal::NotOnCall.status(), 480);
        assert_eq!(Refusal::UnknownAgent.status(), 404);
    }

    #[test]
    fn a_shared_phone_monitors_as_the_user_whose_scope_covers_the_call() {
        let queues = vec!["sac".to_string()];
        let mut far = user(Role::Supervisor, &["ouvidoria"]);
        far.user = "far".into();
        let near = user(Role::Supervisor, &["sac"]);
        let both = [far.clone(), near];
        assert_eq!(
            authorize_any(&both, Some(&queues)).map(|u| u.user.as_str()),
            Ok("ana")
        );
        assert_eq!(
            authorize_any(&[far.clone()], Some(&queues)),
            Err(Refusal::OutOfScope)
        );
        let agent = user(Role::Agent, &["sac"]);
        assert_eq!(authorize_any(&[agent, far], None), Err(Refusal::NotOnCall));
        assert_eq!(
            authorize_any(&[], Some(&queues)),
            Err(Refusal::NotSupervisor)
        );
    }
}
