//! Calls an agent places to an outside number (the CTI's `call`): the agent is made busy
//! with a direct call, and the callback dialler does the rest as for any callback — the
//! agent's phone rings first, then the number through `[outbound]`, recorded and logged
//! under a protocol of its own. The dialler's reports about such a call (which the engine
//! does not hold as a queued call) end the agent's direct call instead.
//!
//! Limits: only from `available` (the engine's direct call); without a dialler (no
//! `[outbound]`) the call is refused at once.

use tracing::{info, warn};

use super::callbacks::StartedCallback;
use super::{AcdActor, AcdRequest, Member};
use crate::acd::{AgentId, CallId, CallbackOutcome, CallerNumber, Input};
use crate::floor::call_log::CallLog;

impl AcdActor {
    /// Makes `agent` busy with the outside call `call` and hands it to the dialler.
    pub(super) fn agent_call(
        &mut self,
        agent: AgentId,
        call: CallId,
        number: CallerNumber,
        log: CallLog,
    ) -> Result<(), String> {
        if self.dialler.is_none() {
            return Err("no [outbound] trunk to call through".into());
        }
        self.input(Input::DirectCall {
            agent: agent.clone(),
            call: call.clone(),
        })
        .map_err(|e| e.to_string())?;
        self.calls
            .insert(call.clone(), Member { log, notices: None });
        self.outbound.insert(call.clone(), agent.clone());
        info!(%call, %agent, "agent's outside call: ringing the agent first");
        self.start_callback(StartedCallback {
            call: call.clone(),
            agent: agent.clone(),
            number,
            attempt: 1,
            variables: Default::default(),
        });
        let started = self.calls.get(&call).is_some_and(|m| m.notices.is_some());
        if !started {
            // The dialler did not take it (busy or gone): the agent is free again.
            let _ = self.input(Input::DirectEnded {
                agent,
                call: call.clone(),
            });
            self.outbound.remove(&call);
            self.calls.remove(&call);
            return Err("the dialler did not take the call".into());
        }
        Ok(())
    }

    /// A dialler report about an agent's outside call: ends the agent's direct call when
    /// the call is over (or never happened). Returns the request untouched when it is about
    /// anything else.
    pub(super) fn outbound_report(&mut self, r: AcdRequest) -> Option<AcdRequest> {
        let (call, over) = match &r {
            AcdRequest::OfferAnswered { call, .. } => (call, false),
            AcdRequest::OfferRejected { call, .. } | AcdRequest::OfferNotAnswered { call, .. } => {
                (call, true)
            }
            AcdRequest::CallbackResult { call, outcome } => {
                (call, *outcome != CallbackOutcome::Connected)
            }
            AcdRequest::Hangup { call } => (call, true),
            _ => return Some(r),
        };
        let Some(agent) = self.outbound.get(call).cloned() else {
            return Some(r);
        };
        if over {
            let call = call.clone();
            if let Err(e) = self.input(Input::DirectEnded {
                agent: agent.clone(),
                call: call.clone(),
            }) {
                warn!(%call, %agent, error = %e, "agent's outside call: end not taken");
            }
            self.outbound.remove(&call);
            self.calls.remove(&call);
            self.dispatch();
        }
        None
    }
}
