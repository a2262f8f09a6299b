//! The ACD actor's callback glue: saves the engine's pending callbacks (as JSON, through
//! the saver) whenever they change, and hands a callback the engine started to the
//! dialler (`sip::callback`), which becomes that call's actor; with no dialler the
//! attempt fails at once rather than hold the agent.

use tokio::sync::mpsc;
use tracing::warn;

use super::{AcdActor, NoticeReceiver};
use crate::acd::{AgentId, CallId, CallbackOutcome, CallerNumber, Input};
use crate::floor::call_log::CallLog;
use std::collections::BTreeMap;

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
    pub notices: NoticeReceiver,
    /// An agent's outside call (the CTI's `call`), not a citizen's callback: the attempt
    /// is the call `call` itself (`floor::acd::outbound`).
    pub outside: bool,
}

/// A callback the engine started, taken from its outputs for `start_callback`.
pub(super) struct StartedCallback {
    pub(super) call: CallId,
    pub(super) agent: AgentId,
    pub(super) number: CallerNumber,
    pub(super) attempt: u32,
    pub(super) variables: std::collections::BTreeMap<String, String>,
}

impl AcdActor {
    /// Saves the pending callbacks if they changed (the saver writes the latest only).
    pub(super) fn save_callbacks(&mut self) {
        if !std::mem::take(&mut self.callbacks_changed) {
            return;
        }
        let Some(saver) = self.saver.as_ref() else {
            return;
        };
        match serde_json::to_string(&self.engine.callback_snapshot()) {
            Ok(json) => {
                let _ = saver.send(json);
            }
            Err(e) => warn!(error = %e, "cannot serialize the pending callbacks"),
        }
    }

    /// The engine reserved `agent` for a callback: the dialler becomes the call's actor.
    pub(super) fn start_callback(&mut self, job: StartedCallback) {
        let StartedCallback {
            call,
            agent,
            number,
            attempt,
            variables,
        } = job;
        let Some(member) = self.calls.get_mut(&call) else {
            warn!(%call, "callback started for a call with no log");
            return;
        };
        let (tx, rx) = mpsc::channel(8);
        let job = CallbackJob {
            call: call.clone(),
            agent: agent.clone(),
            number,
            attempt,
            variables,
            log: member.log.clone(),
            notices: rx,
            outside: self.outbound.contains_key(&call),
        };
        let sent = self
            .dialler
            .as_ref()
            .is_some_and(|d| d.try_send(job).is_ok());
        if sent {
            member.notices = Some(tx);
            return;
        }
        // Nobody can dial: the attempt fails (and retries) rather than hold the agent.
        warn!(%call, %agent, "no callback dialler (no [outbound] trunk?): attempt failed");
        let _ = self.input(Input::OfferAnswered {
            call: call.clone(),
            agent,
        });
        let _ = self.input(Input::CallbackResult {
            call,
            outcome: CallbackOutcome::Failed,
        });
    }
}
