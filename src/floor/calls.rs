//! The registry of live calls: protocol number → the call actor's command channel. A call
//! actor registers when it starts and the guard it holds removes it when it ends, so the
//! CTI and the API command a call (`Calls::command`) without knowing SIP or owning it.
//!
//! Each command carries a oneshot for its one reply; the actor answers when it has
//! decided (`Ok` once the action is under way, or why not). The registry's lock is a std
//! `Mutex` held for one map operation, never across an `.await`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

/// How many commands may wait for one call actor; more are refused as `Busy`.
const QUEUE: usize = 16;

/// What a call's command channel carries: boxed, because a tokio channel allocates its
/// first block of 32 messages when it is made, so every live call paid 32 inline
/// `Command`s (≈ 2.3 KB) for a channel that is mostly never used; boxed it is 256 bytes.
pub type Queued = Box<Command>;

/// Where a transfer sends the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferTarget {
    /// An agent by id: ring that agent, bridge, same recording.
    Agent(String),
    /// A queue by id: the same call waits there again, same recording.
    Queue(String),
    /// An external number through `[outbound]`.
    Number(String),
    /// The call's satisfaction survey (its queue's or service's): the agent's part ends,
    /// the caller answers the questions on the same call and recording. Blind only.
    Survey,
}

/// What can be asked of a live call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallCommand {
    /// End the call (BYE to every leg), ended by the system on the operator's request.
    HangUp,
    /// Put the caller on hold (hold music), the agent stays on the call.
    Hold,
    /// Take the caller off hold.
    Resume,
    /// Send DTMF digits towards the caller (the agent's far party, e.g. another IVR), as
    /// RFC 4733 events: 1 to 32 of 0-9, *, #, A-D.
    Dtmf { digits: String },
    /// Send the caller elsewhere: `blind` at once; attended (to an agent) holds the
    /// caller while the target is rung, until `CompleteTransfer` or `CancelTransfer`.
    Transfer { to: TransferTarget, blind: bool },
    /// The attended transfer's target (who answered) takes the agent's place.
    CompleteTransfer,
    /// The attended transfer is called off: the caller is back with the agent.
    CancelTransfer,
    /// Make `agent`'s ringing phone pick up (its `auto_answer` mechanism); `Ok` once the
    /// phone accepted the request, the answer itself follows as for a hand-answered call.
    Answer { agent: String },
    // --- Monitoring (issue 20; `sip::call::monitor`) ---
    /// Supervisor `supervisor` (a user name) monitors the call in `mode`: the phone of
    /// account `phone` is rung (auto-answer asked) and attached once it answers.
    Monitor {
        supervisor: String,
        phone: String,
        mode: crate::events::MonitorMode,
    },
    /// That supervisor switches mode.
    MonitorMode {
        supervisor: String,
        mode: crate::events::MonitorMode,
    },
    /// That supervisor stops monitoring (their phone's leg is hung up).
    StopMonitor { supervisor: String },
    /// A key pressed on that supervisor's phone and received out of the call's media (SIP
    /// INFO on a call that dialled the monitoring code): the keypad as on a rung phone
    /// (1, 2, 3 switch mode, `#` stops), logged `via=keypad`.
    MonitorKey { supervisor: String, key: char },
    /// The supervisor's phone dialled the monitoring code (`*50<agent>`): that very call,
    /// already negotiated, joins in `mode` (no second ring).
    MonitorDialled {
        supervisor: String,
        phone: String,
        mode: crate::events::MonitorMode,
        leg: DialledLeg,
    },
}

/// The media of a supervisor's call that dialled the monitoring code, handed to the call
/// once (`take`). The dialog stays with the feature code's task; `ended` tells it the
/// monitoring ended (with its reason), so it hangs up.
#[derive(Clone)]
pub struct DialledLeg(Arc<std::sync::Mutex<Option<DialledParts>>>);

pub struct DialledParts {
    pub socket: std::net::UdpSocket,
    pub remote: std::net::SocketAddr,
    pub negotiated: crate::sdp::Negotiated,
    pub ended: oneshot::Sender<String>,
}

impl DialledLeg {
    pub fn new(parts: DialledParts) -> DialledLeg {
        DialledLeg(Arc::new(std::sync::Mutex::new(Some(parts))))
    }

    /// The parts, the first time only.
    pub fn take(&self) -> Option<DialledParts> {
        self.0.lock().ok()?.take()
    }
}

impl std::fmt::Debug for DialledLeg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DialledLeg")
    }
}

/// One leg is equal only to itself.
impl PartialEq for DialledLeg {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for DialledLeg {}

/// Why a command was not carried out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("no live call with this protocol")]
    UnknownCall,
    #[error("the call is not in talk with an agent")]
    NotInTalk,
    #[error("the call is already on hold")]
    AlreadyHeld,
    #[error("the call is not on hold")]
    NotHeld,
    #[error("not possible: {0}")]
    Invalid(String),
    #[error("not supported yet: {0}")]
    Unsupported(&'static str),
    #[error("the call has too many commands waiting; try again")]
    Busy,
    #[error("the call ended before it answered")]
    Gone,
}

/// One command and where its reply goes.
#[derive(Debug)]
pub struct Command {
    pub command: CallCommand,
    pub reply: oneshot::Sender<Result<(), CommandError>>,
}

type Map = HashMap<String, mpsc::Sender<Queued>>;

/// The live calls. Cheap to clone (one `Arc`).
#[derive(Debug, Default, Clone)]
pub struct Calls {
    map: Arc<Mutex<Map>>,
}

/// Held by a call actor while it runs; dropping it takes the call off the registry.
#[derive(Debug)]
pub struct Registration {
    protocol: String,
    map: Arc<Mutex<Map>>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        lock(&self.map).remove(&self.protocol);
    }
}

fn lock(map: &Mutex<Map>) -> std::sync::MutexGuard<'_, Map> {
    // One insert or remove at a time: a poisoned map is still whole.
    map.lock().unwrap_or_else(|e| e.into_inner())
}

impl Calls {
    /// Registers the call `protocol`; its commands arrive on the receiver until the
    /// registration is dropped.
    pub fn register(&self, protocol: &str) -> (Registration, mpsc::Receiver<Queued>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        lock(&self.map).insert(protocol.to_owned(), tx);
        (
            Registration {
                protocol: protocol.to_owned(),
                map: self.map.clone(),
            },
            rx,
        )
    }

    /// Sends `command` to the call `protocol` and waits for its one reply.
    pub async fn command(&self, protocol: &str, command: CallCommand) -> Result<(), CommandError> {
        let tx = lock(&self.map)
            .get(protocol)
            .cloned()
            .ok_or(CommandError::UnknownCall)?;
        let (reply, answer) = oneshot::channel();
        tx.try_send(Box::new(Command { command, reply }))
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => CommandError::Busy,
                mpsc::error::TrySendError::Closed(_) => CommandError::UnknownCall,
            })?;
        answer.await.unwrap_or(Err(CommandError::Gone))
    }

    /// The protocols of the live calls, in no order.
    pub fn live(&self) -> Vec<String> {
        lock(&self.map).keys().cloned().collect()
    }

    /// Whether the call `protocol` is live (its actor still runs).
    pub fn contains(&self, protocol: &str) -> bool {
        lock(&self.map).contains_key(protocol)
    }

    pub fn len(&self) -> usize {
        lock(&self.map).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_registered_call_gets_commands_and_is_gone_when_it_ends() {
        let calls = Calls::default();
        assert_eq!(
            calls.command("x", CallCommand::HangUp).await,
            Err(CommandError::UnknownCall)
        );
        let (reg, mut rx) = calls.register("20261207-000001");
        let actor = tokio::spawn(async move {
            let c = rx.recv().await.expect("a command");
            assert_eq!(c.command, CallCommand::Hold);
            let _ = c.reply.send(Err(CommandError::NotInTalk));
            drop(reg);
        });
        assert_eq!(
            calls.command("20261207-000001", CallCommand::Hold).await,
            Err(CommandError::NotInTalk)
        );
        actor.await.expect("actor");
        assert!(calls.is_empty());
        assert_eq!(
            calls.command("20261207-000001", CallCommand::HangUp).await,
            Err(CommandError::UnknownCall)
        );
    }
}
