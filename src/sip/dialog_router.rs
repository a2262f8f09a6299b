//! One dialog-state channel for the whole server, routed to call actors by Call-ID.
//!
//! rsipstack reports a dialog's states (BYE, re-INVITE, INFO, termination) on an
//! unbounded tokio channel handed to it per dialog. Each such channel allocates a block
//! of 32 states (304 bytes each) up front: 9.7 KB of heap per call, though only the pages
//! written count in RSS. Here every dialog shares one such channel; a router task hands
//! each state, boxed (a block of 32 pointers), to the actor that registered the state's
//! Call-ID. A state whose Call-ID nobody registered (a call already ended) is dropped: its
//! actor is gone. Registering also refuses a Call-ID already in use, so a second INVITE
//! reusing one cannot take the first call's BYE.
//!
//! A BYE or CANCEL's `Reason` (a gateway's Q.850 cause) is not part of rsipstack's
//! termination state, so the front door notes it here, by Call-ID, before the dialog
//! handles the request; the actor takes it when the termination arrives.
//!
//! The maps are std `Mutex`es held for one lookup or insert, never across `.await`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rsipstack::dialog::dialog::{DialogState, DialogStateSender};
use tokio::sync::mpsc;
use tracing::debug;

/// A call actor's end: its dialogs' states, boxed.
pub type DialogStates = mpsc::UnboundedReceiver<Box<DialogState>>;
pub type Route = mpsc::UnboundedSender<Box<DialogState>>;

#[derive(Clone)]
pub struct DialogRouter {
    shared: DialogStateSender,
    routes: Arc<Mutex<HashMap<String, Route>>>,
    /// Hang-up causes from the Reason of a BYE/CANCEL, by Call-ID (routed calls only).
    reasons: Arc<Mutex<HashMap<String, String>>>,
}

impl DialogRouter {
    /// Starts the router task on the current runtime.
    pub fn start() -> DialogRouter {
        let (shared, mut rx) = mpsc::unbounded_channel::<DialogState>();
        let routes: Arc<Mutex<HashMap<String, Route>>> = Arc::default();
        let map = routes.clone();
        tokio::spawn(async move {
            while let Some(st) = rx.recv().await {
                let route = map
                    .lock()
                    .ok()
                    .and_then(|m| m.get(&st.id().call_id).cloned());
                match route {
                    Some(tx) => {
                        let _ = tx.send(Box::new(st));
                    }
                    None => debug!(call_id = %st.id().call_id, "dialog state for no call"),
                }
            }
        });
        DialogRouter {
            shared,
            routes,
            reasons: Arc::default(),
        }
    }

    /// The sender to give rsipstack for every dialog.
    pub fn sender(&self) -> DialogStateSender {
        self.shared.clone()
    }

    /// A receiver for the states of the dialog with this Call-ID; more are added with
    /// `add`. Register before creating the dialog, so no state can come first. `None` when
    /// the Call-ID is already routed: a second call reusing it must not take the first
    /// one's BYE.
    pub fn register(&self, call_id: &str) -> Option<(Route, DialogStates)> {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut m = self.routes.lock().ok()?;
        if m.contains_key(call_id) {
            return None;
        }
        m.insert(call_id.to_owned(), tx.clone());
        Some((tx, rx))
    }

    /// Routes `call_id`'s states to an actor that already has a receiver.
    pub fn add(&self, call_id: &str, route: Route) {
        if let Ok(mut m) = self.routes.lock() {
            m.insert(call_id.to_owned(), route);
        }
    }

    /// Forgets Call-IDs whose actor ended.
    pub fn remove(&self, call_ids: &[&str]) {
        if let Ok(mut m) = self.routes.lock() {
            for c in call_ids {
                m.remove(*c);
            }
        }
        if let Ok(mut m) = self.reasons.lock() {
            for c in call_ids {
                m.remove(*c);
            }
        }
    }

    /// Notes the hang-up cause a BYE/CANCEL's Reason gives for a call in progress.
    pub fn note_reason(&self, call_id: &str, cause: String) {
        let routed = self.routes.lock().is_ok_and(|m| m.contains_key(call_id));
        if let (true, Ok(mut m)) = (routed, self.reasons.lock()) {
            m.insert(call_id.to_owned(), cause);
        }
    }

    /// The hang-up cause noted for this Call-ID, once.
    pub fn take_reason(&self, call_id: &str) -> Option<String> {
        self.reasons.lock().ok()?.remove(call_id)
    }

    /// Call-IDs still routed (for tests and leak checks).
    pub fn len(&self) -> usize {
        self.routes.lock().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl std::fmt::Debug for DialogRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DialogRouter")
            .field("routes", &self.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hangup_reason_is_kept_for_a_routed_call_only_and_taken_once() {
        let router = DialogRouter::start();
        router.note_reason("stranger", "user_busy".into());
        assert_eq!(router.take_reason("stranger"), None);
        let _route = router.register("call-1").expect("new Call-ID");
        router.note_reason("call-1", "user_busy".into());
        assert_eq!(router.take_reason("call-1").as_deref(), Some("user_busy"));
        assert_eq!(router.take_reason("call-1"), None);
        router.note_reason("call-1", "no_answer".into());
        router.remove(&["call-1"]);
        assert_eq!(
            router.take_reason("call-1"),
            None,
            "forgotten with its call"
        );
    }
}
