//! The CTI hub: one task reads the bus, keeps the `View` and fans its events out (one
//! batch per bus change holding all that change's events, sent only to the connections
//! whose user may see one of them, so a connection wakes once per change that concerns it
//! and writes it with one flush); one task per connection numbers, filters again and
//! writes them.
//!
//! Nothing here ever waits on a reader: the bus is a `broadcast` (a hub that falls behind
//! is told `Lagged` and resyncs everyone), a connection whose fan-out channel is full is
//! marked to resync, and a connection queues events for its socket only up to a limit
//! (`socket`); a slow socket gets `resync_required` and a fresh snapshot once its queue
//! has drained. A connection outlives its socket for the
//! resume window (its events keep being numbered into the resume buffer), and a dropped
//! desktop's available agent is paused with reason `disconnected` after the grace time.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use tokio::sync::{broadcast, mpsc};
use tracing::{debug, info, warn};

use crate::bus::{AgentState, Bus, Change, Published};
use crate::users::Principal;

use super::CtiSettings;
use super::backend::{AuthError, Backend, Credential};
use super::connection::Inbox;
use super::protocol::{ResumeFrom, ServerMessage};
use super::session::close;
use super::socket::Socket;
use super::view::{Audience, View};

/// How long the server waits for a `hello` before treating a connection as fresh.
pub const HELLO_WAIT: Duration = Duration::from_secs(1);
/// How long an offer waits for its screen-pop data before going out without it.
pub const SCREEN_POP_WAIT: Duration = Duration::from_millis(500);
/// How long a snapshot waits for the figures.
const FIGURES_WAIT: Duration = Duration::from_millis(500);
/// Hub fan-out batches (one per bus change) a connection may fall behind before it is
/// resynced (`HubSettings::fanout_queue`).
const FANOUT_CAPACITY: usize = 4096;
/// Frames past the events' limit a socket's queue may hold for replies and the resync
/// before the connection stops reading commands.
pub(super) const RESERVED: usize = 8;

/// The hub's knobs (from `[cti]` and `[http] allowed_origins`; tests shrink them).
#[derive(Debug, Clone)]
pub struct HubSettings {
    pub resume_window: Duration,
    pub disconnect_grace: Duration,
    pub heartbeat: Duration,
    /// Messages kept per connection for resume.
    pub resume_buffer: usize,
    /// Frames a connection may queue for a slow socket before it is resynced.
    pub outgoing_queue: usize,
    /// Fan-out batches a connection's task may fall behind before it is resynced.
    pub fanout_queue: usize,
    /// Origins other than the server's own a browser may open the CTI from.
    pub allowed_origins: Vec<String>,
}

impl HubSettings {
    pub fn new(cti: &CtiSettings, allowed_origins: Vec<String>) -> HubSettings {
        HubSettings {
            resume_window: Duration::from_secs(cti.resume_window_secs),
            disconnect_grace: Duration::from_secs(cti.disconnect_grace_secs),
            heartbeat: Duration::from_secs(super::HEARTBEAT_SECS),
            resume_buffer: super::RESUME_BUFFER,
            outgoing_queue: 256,
            fanout_queue: FANOUT_CAPACITY,
            allowed_origins,
        }
    }
}

/// One fan-out item: an event with its audience, or "everyone resync" (the hub itself
/// lagged on the bus).
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // always behind an `Arc`, never moved by value
pub(super) enum Fanout {
    Event {
        seq: u64,
        audience: Audience,
        message: ServerMessage,
        /// `message` serialized once for every connection (`session::push_shared`).
        body: super::session::Body,
    },
    Resync {
        seq: u64,
    },
    /// Today's figures moved (an agent of the audience answered or finished a call): each
    /// connection that sees the agent asks for its own figures again.
    Figures {
        seq: u64,
        audience: Audience,
    },
}

/// What one bus change (or a lag) fans out, in order: one wake-up per connection it
/// reaches.
pub(super) type Batch = Arc<Vec<Fanout>>;

impl Fanout {
    /// Whether `who` may see this item (a hub resync reaches everyone). The connection
    /// checks again with its own principal when it delivers.
    fn reaches(&self, who: &Principal) -> bool {
        match self {
            Fanout::Event { audience, .. } | Fanout::Figures { audience, .. } => {
                super::view::visible(who, audience)
            }
            Fanout::Resync { .. } => true,
        }
    }
}

pub(super) struct Shared {
    pub(super) view: View,
    /// Numbers fan-out items, so a snapshot can say which ones it already contains.
    seq: u64,
}

#[derive(Default)]
pub(super) struct Registry {
    pub(super) conns: HashMap<String, Entry>,
    /// Agent → the connection controlling it.
    pub(super) controllers: HashMap<String, String>,
}

pub(super) struct Entry {
    /// Who the connection serves, as of its last session check (or resume): the fan-out
    /// sends it the batches this user may see.
    pub(super) principal: Principal,
    /// The connection's fan-out: each batch with an item it may see, in order.
    pub(super) fanout: mpsc::Sender<Batch>,
    /// Set when a batch found `fanout` full (the connection's task fell that far behind):
    /// the connection resyncs.
    pub(super) lagged: Arc<AtomicBool>,
    /// The connection's inbox (`Control` orders arrive `.into()` it).
    pub(super) control: mpsc::Sender<super::connection::Inbox>,
}

/// What the hub tells one connection. Small (the large parts boxed): a tokio channel
/// allocates a block of 32 slots when it is made, and every connection has one of these.
pub(super) enum Control {
    Attach(Box<Attach>),
    Kick,
    /// The session check found the user's role or scope changed.
    Principal(Box<Principal>),
    /// The session check found the session revoked or expired.
    SessionEnded(AuthError),
}

/// A resumed desktop's socket for a connection kept since its drop.
pub(super) struct Attach {
    pub(super) socket: WebSocket,
    pub(super) last_seq: u64,
    pub(super) principal: Principal,
}

pub struct Hub {
    pub(super) backend: Arc<dyn Backend>,
    pub(super) settings: HubSettings,
    shared: Mutex<Shared>,
    registry: Mutex<Registry>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").finish_non_exhaustive()
    }
}

pub(super) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Hub {
    /// Subscribes to `bus`, loads the initial state and starts the hub task.
    pub async fn start(backend: Arc<dyn Backend>, bus: &Bus, settings: HubSettings) -> Arc<Hub> {
        // Subscribe first: a change made while the initial state loads is not lost (the
        // versions drop it if the state already has it).
        let rx = bus.subscribe();
        let initial = backend.initial_state().await;
        let hub = Arc::new(Hub {
            backend,
            settings,
            shared: Mutex::new(Shared {
                view: View::new(initial),
                seq: 0,
            }),
            registry: Mutex::new(Registry::default()),
        });
        tokio::spawn(hub.clone().run(rx));
        tokio::spawn(super::session_check::check(Arc::downgrade(&hub)));
        hub
    }

    pub fn settings(&self) -> &HubSettings {
        &self.settings
    }

    pub(super) fn shared(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn run(self: Arc<Self>, mut rx: broadcast::Receiver<Arc<Published>>) {
        loop {
            match rx.recv().await {
                Ok(published) => self.on_change(&published).await,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    warn!(
                        missed = n,
                        "CTI hub fell behind the bus; every desktop resyncs"
                    );
                    let initial = self.backend.initial_state().await;
                    let seq = {
                        let mut shared = self.shared();
                        shared.view.refresh(initial);
                        shared.seq += 1;
                        shared.seq
                    };
                    self.route(Arc::new(vec![Fanout::Resync { seq }]));
                }
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    }

    async fn on_change(&self, published: &Published) {
        let wanted = self.shared().view.needs_screen_pop(&published.change);
        let pop = match wanted {
            Some(request) => {
                tokio::time::timeout(SCREEN_POP_WAIT, self.backend.screen_pop(request))
                    .await
                    .ok()
            }
            None => None,
        };
        let mut batch = Vec::new();
        let mut shared = self.shared();
        let figures = figures_moved(&shared.view, &published.change);
        for addressed in shared.view.apply(&published.change, pop) {
            shared.seq += 1;
            batch.push(Fanout::Event {
                seq: shared.seq,
                audience: addressed.audience,
                body: super::session::body(&addressed.message),
                message: addressed.message,
            });
        }
        if let Some(audience) = figures {
            shared.seq += 1;
            let seq = shared.seq;
            batch.push(Fanout::Figures { seq, audience });
        }
        drop(shared);
        if !batch.is_empty() {
            self.route(Arc::new(batch));
        }
    }

    /// Sends `batch` to each connection that may see any of its items, and to no other:
    /// a change of one agent wakes that agent's desktop and its supervisors', not every
    /// desktop (a wake-up per desktop and change was most of the fan-out's cost on a floor
    /// where each change concerns few). A connection whose fan-out is full is marked to
    /// resync instead: the hub never waits on one.
    ///
    /// Called by the hub task only, in seq order; a connection is in the registry before
    /// it takes its snapshot, so a batch newer than the snapshot always reaches it.
    fn route(&self, batch: Batch) {
        let registry = self.registry();
        for entry in registry.conns.values() {
            if !batch.iter().any(|item| item.reaches(&entry.principal)) {
                continue;
            }
            match entry.fanout.try_send(batch.clone()) {
                Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    entry.lagged.store(true, Ordering::Release);
                }
            }
        }
    }

    /// Whether a websocket from `origin` may open the CTI: the server's own origin (the
    /// request's Host) or one listed in `[http] allowed_origins`.
    pub fn origin_allowed(&self, origin: &str, host: Option<&str>) -> bool {
        let own = host.is_some_and(|h| {
            origin.eq_ignore_ascii_case(&format!("http://{h}"))
                || origin.eq_ignore_ascii_case(&format!("https://{h}"))
        });
        own || self
            .settings
            .allowed_origins
            .iter()
            .any(|o| o.trim_end_matches('/').eq_ignore_ascii_case(origin))
    }

    /// Serves one accepted websocket: authenticates, then resumes a connection or starts
    /// one. `credential` is `None` when the request carried none; `origin_ok` is the
    /// Origin check's verdict.
    pub async fn serve(
        self: Arc<Self>,
        mut socket: WebSocket,
        credential: Option<Credential>,
        origin_ok: bool,
    ) {
        let Some(credential) = credential else {
            info!("CTI connection without a credential refused");
            return Socket::new(socket).close(close::NO_CREDENTIAL, "sem credencial");
        };
        if !origin_ok {
            warn!("CTI connection from a foreign origin refused");
            return Socket::new(socket).close(close::BAD_CREDENTIAL, "origem não permitida");
        }
        let principal = match self.backend.authenticate(credential).await {
            Ok(p) => p,
            Err(e) => {
                let (code, text) = match e {
                    AuthError::Missing => (close::NO_CREDENTIAL, "sem credencial"),
                    AuthError::Bad => (close::BAD_CREDENTIAL, "credencial inválida"),
                    AuthError::Expired => (close::SESSION_EXPIRED, "sessão expirada"),
                };
                info!(error = %e, "CTI connection refused");
                return Socket::new(socket).close(code, text);
            }
        };
        // The first message may be a hello asking to resume; anything else is kept and
        // read by the new connection as its first message.
        let mut first = None;
        let mut resume = None;
        match tokio::time::timeout(HELLO_WAIT, socket.recv()).await {
            Ok(Some(Ok(Message::Text(text)))) => {
                match serde_json::from_str::<super::protocol::ClientMessage>(&text) {
                    Ok(super::protocol::ClientMessage::Hello {
                        v: super::protocol::VERSION,
                        resume: r,
                    }) => resume = r,
                    _ => first = Some(text.to_string()),
                }
            }
            Ok(Some(Ok(_))) | Err(_) => {}
            Ok(None) | Ok(Some(Err(_))) => return,
        }
        let mut resume_failed = false;
        if let Some(ResumeFrom {
            connection,
            last_seq,
        }) = resume
        {
            let control = {
                let registry = self.registry();
                registry
                    .conns
                    .get(&connection)
                    .filter(|c| c.principal.user == principal.user)
                    .map(|c| c.control.clone())
            };
            if let Some(control) = control {
                let attach = Control::Attach(Box::new(Attach {
                    socket,
                    last_seq,
                    principal: principal.clone(),
                }));
                match control.send(attach.into()).await {
                    Ok(()) => return,
                    // The connection ended meanwhile: start afresh with the socket.
                    Err(mpsc::error::SendError(Inbox::Control(Control::Attach(a)))) => {
                        socket = a.socket
                    }
                    Err(_) => return,
                }
            }
            debug!(user = %principal.user, "CTI resume of an unknown or ended connection");
            resume_failed = true;
        }
        super::connection::Connection::run(self, principal, socket, first, resume_failed).await;
    }

    /// The snapshot `who` may see now, and the fan-out seq it includes.
    pub(super) async fn snapshot(&self, who: &Principal) -> (super::protocol::Snapshot, u64) {
        let figures = tokio::time::timeout(FIGURES_WAIT, self.backend.figures(who.clone()))
            .await
            .ok()
            .flatten();
        let shared = self.shared();
        let mut snapshot = shared.view.snapshot(who);
        snapshot.figures = figures;
        (snapshot, shared.seq)
    }
}

/// Whether an agent's change moves today's figures (a call answered, its talk or wrap-up
/// over): the audience that should fetch them again.
fn figures_moved(view: &View, change: &Change) -> Option<Audience> {
    let Change::Agent(a) = change else {
        return None;
    };
    let old = view.agent(&a.agent);
    if old.is_some_and(|o| o.version >= a.version) {
        return None;
    }
    let before = old.map(|o| o.state);
    let counted =
        |s: Option<AgentState>| matches!(s, Some(AgentState::OnCall | AgentState::WrapUp));
    let moved = before != Some(a.state) && (a.state == AgentState::OnCall || counted(before));
    moved.then(|| Audience::Agent {
        agent: a.agent.clone(),
        queues: a.queues.clone(),
    })
}
