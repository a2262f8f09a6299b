//! Handing an agent's leg from one call to another: how an attended transfer from the
//! phone's own key (REFER with `Replaces`, RFC 3891/5589) joins the citizen to the
//! colleague the agent consulted over an internal call.
//!
//! Each internal call registers the Call-ID of its calling phone's dialog here while it
//! runs. The citizen's call, given a REFER whose `Replaces` names such a dialog, asks that
//! call (`HandoverRequest`) for its answered leg; the internal call checks that the
//! dialog's tags match and that the REFER comes from the agent who placed it, gives the
//! leg up (its SIP dialog, now routed to the citizen's call) and ends. The lock is a std
//! `Mutex` held for one map operation, never across an `.await`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rsipstack::dialog::invite_dialog::InviteDialog;
use tokio::sync::{mpsc, oneshot};

/// A `Replaces` value (`call-id;to-tag=…;from-tag=…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replaces {
    pub call_id: String,
    pub to_tag: String,
    pub from_tag: String,
}

impl Replaces {
    /// Reads a decoded `Replaces` value; `None` unless it has a Call-ID and both tags.
    pub fn parse(value: &str) -> Option<Replaces> {
        let mut parts = value.split(';');
        let call_id = parts.next()?.trim();
        let (mut to_tag, mut from_tag) = (None, None);
        for p in parts {
            let Some((k, v)) = p.split_once('=') else {
                continue;
            };
            match k.trim().to_ascii_lowercase().as_str() {
                "to-tag" => to_tag = Some(v.trim()),
                "from-tag" => from_tag = Some(v.trim()),
                _ => {}
            }
        }
        let (to_tag, from_tag) = (to_tag?, from_tag?);
        if call_id.is_empty() || to_tag.is_empty() || from_tag.is_empty() {
            return None;
        }
        Some(Replaces {
            call_id: call_id.to_owned(),
            to_tag: to_tag.to_owned(),
            from_tag: from_tag.to_owned(),
        })
    }

    /// Whether this names the dialog with these tags, in either direction (a phone
    /// names the tags as the recipient of its INVITE sees them, and phones differ).
    pub fn names(&self, call_id: &str, local_tag: &str, remote_tag: &str) -> bool {
        self.call_id == call_id
            && ((self.to_tag == local_tag && self.from_tag == remote_tag)
                || (self.to_tag == remote_tag && self.from_tag == local_tag))
    }
}

/// Why a leg was not handed over.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandoverError {
    #[error("no call of ours has that dialog")]
    UnknownDialog,
    #[error("the dialog belongs to another agent's call")]
    NotYours,
    #[error("the consulted agent has not answered")]
    NotAnswered,
}

/// An answered agent leg given up by its call.
pub struct LegParcel {
    pub dialog: InviteDialog,
    pub call_id: String,
    /// The agent whose phone the leg reaches.
    pub agent: String,
    /// The SDP session id the leg's offers used (a re-offer keeps it, RFC 3264 §8).
    pub session_id: u64,
    pub sdp_version: u64,
}

impl std::fmt::Debug for LegParcel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LegParcel")
            .field("call_id", &self.call_id)
            .field("agent", &self.agent)
            .finish()
    }
}

/// A citizen's call asking an internal call for its answered leg.
#[derive(Debug)]
pub struct HandoverRequest {
    /// The agent whose phone sent the REFER.
    pub agent: String,
    pub replaces: Replaces,
    pub reply: oneshot::Sender<Result<Box<LegParcel>, HandoverError>>,
}

type Map = HashMap<String, mpsc::Sender<HandoverRequest>>;

/// The internal calls whose leg may be asked for, by their calling dialog's Call-ID.
#[derive(Debug, Default, Clone)]
pub struct Handovers {
    map: Arc<Mutex<Map>>,
}

/// Held by an internal call while it runs; dropping it takes the call off.
#[derive(Debug)]
pub struct HandoverRegistration {
    call_id: String,
    map: Arc<Mutex<Map>>,
}

impl Drop for HandoverRegistration {
    fn drop(&mut self) {
        lock(&self.map).remove(&self.call_id);
    }
}

fn lock(map: &Mutex<Map>) -> std::sync::MutexGuard<'_, Map> {
    // One insert, remove or lookup at a time: a poisoned map is still whole.
    map.lock().unwrap_or_else(|e| e.into_inner())
}

impl Handovers {
    pub fn register(
        &self,
        call_id: &str,
    ) -> (HandoverRegistration, mpsc::Receiver<HandoverRequest>) {
        let (tx, rx) = mpsc::channel(2);
        lock(&self.map).insert(call_id.to_owned(), tx);
        (
            HandoverRegistration {
                call_id: call_id.to_owned(),
                map: self.map.clone(),
            },
            rx,
        )
    }

    /// Asks the call holding the dialog `replaces` names for its leg, for `agent`.
    pub async fn request(
        &self,
        agent: &str,
        replaces: Replaces,
    ) -> Result<Box<LegParcel>, HandoverError> {
        let tx = lock(&self.map)
            .get(&replaces.call_id)
            .cloned()
            .ok_or(HandoverError::UnknownDialog)?;
        let (reply, answer) = oneshot::channel();
        let req = HandoverRequest {
            agent: agent.to_owned(),
            replaces,
            reply,
        };
        tx.send(req)
            .await
            .map_err(|_| HandoverError::UnknownDialog)?;
        answer.await.unwrap_or(Err(HandoverError::UnknownDialog))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_replaces_and_matches_either_direction() {
        let r = Replaces::parse("abc@pbx;to-tag=t1;from-tag=f1").expect("valid");
        assert_eq!(r.call_id, "abc@pbx");
        assert!(r.names("abc@pbx", "t1", "f1"));
        assert!(r.names("abc@pbx", "f1", "t1"));
        assert!(!r.names("abc@pbx", "t1", "zz"));
        assert!(!r.names("other", "t1", "f1"));
        assert_eq!(Replaces::parse("abc@pbx;to-tag=t1"), None);
        assert_eq!(Replaces::parse(";to-tag=a;from-tag=b"), None);
        assert_eq!(
            Replaces::parse("x;from-tag=b;early-only;to-tag=a").map(|r| r.to_tag),
            Some("a".to_owned())
        );
    }

    #[tokio::test]
    async fn an_unknown_dialog_is_refused() {
        let h = Handovers::default();
        let r = Replaces::parse("nosuch;to-tag=a;from-tag=b").expect("valid");
        assert_eq!(
            h.request("1001", r).await.map(|_| ()),
            Err(HandoverError::UnknownDialog)
        );
    }
}
