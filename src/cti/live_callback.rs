//! The CTI's `call` and `schedule_callback` on the running server. `call`: the ACD makes
//! the agent busy and hands the call to the callback dialler (`floor::acd::outbound`).
//! `schedule_callback`: a callback for the date and time
//! the citizen asked for, handed to the ACD as an entry under the call's own protocol
//! (`AcdRequest::ScheduleCallback`), its log going on after the call's last entry; when
//! due it is started like any callback (the agent's phone first, then the citizen through
//! `[outbound]`, both logs linked by `callback_attempt`), and it is saved with the pending
//! callbacks, so it survives a restart.
//!
//! Limits: once the call has ended (wrap-up or later; while it lasts its own actor writes
//! its log); the time must be in the future, inside the queue's opening hours and at
//! most `MAX_AHEAD_DAYS` ahead; the number defaults to the caller's.

use std::collections::BTreeMap;

use tracing::{info, warn};

use super::backend::{CommandError, Outcome};
use super::live::Live;
use super::protocol::ErrorCode;
use crate::acd::{CallId, CallerNumber, ScheduledCallback};
use crate::events::EventKind;
use crate::floor::call_log::CallLog;
use crate::floor::callback_store::RESUME_GAP;
use crate::store::protocol::Protocol;

/// How far ahead a callback may be scheduled.
pub const MAX_AHEAD_DAYS: i64 = 30;

fn refuse(code: ErrorCode, message: &str) -> CommandError {
    CommandError::new(code, message)
}

/// A number atende can dial: digits (a leading + allowed), 4 to 20 of them.
fn dialable(number: &str) -> bool {
    let digits = number.strip_prefix('+').unwrap_or(number);
    (4..=20).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
}

/// What the call's log says: the caller's number and the last queue it was in.
async fn caller_and_queue(live: &Live, protocol: &Protocol) -> Option<(String, Option<String>)> {
    let detail = live.store.call_detail(protocol).await.ok()??;
    let mut caller = None;
    let mut queue = None;
    for e in &detail.events {
        match serde_json::from_value::<EventKind>(e.detail.clone()) {
            Ok(EventKind::Offered { a_number, .. }) => caller = Some(a_number),
            Ok(EventKind::Acd { event }) => {
                use crate::acd::event::AcdEvent;
                match event {
                    AcdEvent::QueueEntered { queue: q, .. }
                    | AcdEvent::Offered { queue: q, .. }
                    | AcdEvent::Answered { queue: q, .. } => queue = Some(q.to_string()),
                    AcdEvent::Overflowed { to, .. } => queue = Some(to.to_string()),
                    _ => {}
                }
            }
            _ => {}
        }
    }
    Some((caller?, queue))
}

impl Live {
    /// The CTI's `call`: the agent calls an outside number through `[outbound]` (their
    /// phone rings first, then the number), as the callbacks do; recorded and logged
    /// under a protocol of its own like any call.
    pub(super) async fn place_call(
        &self,
        agent: &str,
        number: &str,
    ) -> Result<Outcome, CommandError> {
        let acd = self
            .floor
            .acd
            .as_ref()
            .ok_or_else(|| refuse(ErrorCode::Unavailable, "nenhuma fila configurada"))?;
        let number = number.trim();
        if !dialable(number) {
            return Err(refuse(ErrorCode::BadArgs, "número inválido"));
        }
        if self.floor.config().outbound.is_none() {
            return Err(refuse(
                ErrorCode::Unavailable,
                "sem saída para a rede pública ([outbound])",
            ));
        }
        let protocol = self.floor.next_protocol();
        let log = CallLog::new(self.floor.bus.clone(), protocol.clone());
        acd.agent_call(
            crate::acd::AgentId::new(agent),
            CallId::new(protocol.to_string()),
            CallerNumber::new(number),
            log,
        )
        .await
        .map_err(|e| {
            info!(%agent, error = %e, "CTI call refused");
            refuse(
                ErrorCode::InvalidState,
                "só é possível ligar estando disponível",
            )
        })?;
        info!(%agent, request = %protocol, "agent's outside call placed (CTI)");
        Ok(Outcome::default())
    }

    pub(super) async fn schedule_callback(
        &self,
        agent: &str,
        original: String,
        at_ms: i64,
        number: Option<String>,
    ) -> Result<Outcome, CommandError> {
        let acd = self
            .floor
            .acd
            .as_ref()
            .ok_or_else(|| refuse(ErrorCode::Unavailable, "nenhuma fila configurada"))?;
        let parsed: Protocol = original
            .parse()
            .map_err(|_| refuse(ErrorCode::BadArgs, "protocolo inválido"))?;
        let at = jiff::Timestamp::from_millisecond(at_ms)
            .map_err(|_| refuse(ErrorCode::BadArgs, "data e hora inválidas"))?;
        let now = jiff::Timestamp::now();
        if at <= now {
            return Err(refuse(ErrorCode::BadArgs, "esse horário já passou"));
        }
        if at.as_millisecond() - now.as_millisecond() > MAX_AHEAD_DAYS * 86_400_000 {
            return Err(refuse(
                ErrorCode::BadArgs,
                "agendamento a mais de 30 dias não é permitido",
            ));
        }
        let Some((caller, queue)) = caller_and_queue(self, &parsed).await else {
            return Err(refuse(ErrorCode::NotFound, "chamada não encontrada"));
        };
        let config = self.floor.config();
        let Some(queue) = queue.and_then(|q| config.queues.iter().find(|c| c.id.as_str() == q))
        else {
            return Err(refuse(
                ErrorCode::InvalidState,
                "a chamada não passou por uma fila",
            ));
        };
        if let Some(spec) = &queue.schedule {
            match crate::schedule::Schedule::compile(spec) {
                Ok(s) if !s.is_open(at) => {
                    return Err(refuse(
                        ErrorCode::BadArgs,
                        "fora do horário de atendimento da fila",
                    ));
                }
                Ok(_) => {}
                Err(e) => warn!(queue = %queue.id, error = %e, "queue schedule unreadable"),
            }
        }
        let number = number.filter(|n| !n.trim().is_empty()).unwrap_or(caller);
        if !dialable(number.trim()) {
            return Err(refuse(ErrorCode::BadArgs, "número inválido para retorno"));
        }
        if self.floor.calls.contains(&original) {
            return Err(refuse(
                ErrorCode::InvalidState,
                "agende o retorno quando a chamada terminar",
            ));
        }
        // The call's log goes on past anything still on its way to the database.
        let next = self.store.next_event_seq(&parsed).await.map_err(|e| {
            warn!(error = %e, "scheduling a callback: the call log is unreadable");
            refuse(ErrorCode::Unavailable, "banco de dados indisponível")
        })?;
        let log = CallLog::resume(
            self.floor.bus.clone(),
            parsed.clone(),
            next.saturating_add(RESUME_GAP),
        );
        let callback = ScheduledCallback {
            call: CallId::new(original.as_str()),
            queue: queue.id.clone(),
            number: CallerNumber::new(number.trim()),
            at,
            priority: 0,
            skills: Vec::new(),
            variables: BTreeMap::new(),
        };
        acd.schedule_callback(callback, log).await.map_err(|e| {
            warn!(%original, error = %e, "scheduled callback refused by the ACD");
            refuse(
                ErrorCode::InvalidState,
                "não foi possível agendar o retorno",
            )
        })?;
        info!(%original, %agent, at_ms, queue = %queue.id, "callback scheduled (CTI)");
        Ok(Outcome::default())
    }
}
