//! One CTI connection's task: owns the protocol `Session`, the socket while one is
//! attached (written and read from this task: `socket`), and the timers of a detached
//! connection (the disconnect grace, the resume window). It filters the hub's fan-out by
//! what its user may see, runs commands in their own tasks and replies when they finish.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::bus::AgentState;
use crate::users::Principal;

use super::backend::{AgentCommand, CommandError, Outcome, Registration};
use super::hub::{Control, Entry, Fanout, Hub, RESERVED, now_ms};
use super::plan::Plan;
use super::protocol::{
    Command, Entity, ErrorCode, Figures, Registered, ReplyError, ResyncReason, ServerMessage,
    Welcome,
};
use super::session::{Action, Session, close};
use super::socket::{Io, Socket};
use super::view::visible;

/// How long a figures refresh waits for more changes before reading: with one read at a
/// time per connection, a busy floor costs a supervisor's desktop at most about one read
/// of the day's agent log per second.
const FIGURES_SETTLE: Duration = Duration::from_secs(1);
/// Fan-out batches already waiting that one wake-up takes at most (then the socket is
/// written and the other branches get their turn).
const COALESCE: usize = 64;
/// How long a figures refresh may take before it is given up (the next change retries).
const FIGURES_FETCH_WAIT: Duration = Duration::from_secs(5);

/// Results of commands run in their own tasks: (id, entity, what to reply, registration).
/// Boxed, as the figures: a channel allocates 32 slots up front, per connection.
type Finished = Box<(
    String,
    Option<Entity>,
    Result<Outcome, CommandError>,
    Option<Registration>,
)>;

/// Everything that reaches a connection besides the fan-out, on one channel: a wake-up
/// then polls one queue instead of three (at 10,000 desktops each poll is a cache miss).
pub(super) enum Inbox {
    /// From the hub (`Hub::serve`, the session check).
    Control(Control),
    /// A command run in its own task finished.
    Finished(Finished),
    /// Fresh figures fetched after `Fanout::Figures` (`None`: the fetch failed).
    Figures(Option<Box<Figures>>),
}

impl From<Control> for Inbox {
    fn from(control: Control) -> Inbox {
        Inbox::Control(control)
    }
}

/// Room on a connection's inbox: commands in flight are few, a figures fetch runs one at
/// a time, and the hub's orders are rare.
const INBOX: usize = 64;

pub(super) struct Connection {
    hub: Arc<Hub>,
    principal: Principal,
    session: Session,
    attached: Option<Socket>,
    /// Frames the socket may hold queued: past this, events are dropped and a resync owed.
    queue_limit: usize,
    /// Events dropped for a full queue: a resync is owed once it drains.
    overflowed: bool,
    /// Fan-out items up to this seq are already in the last snapshot.
    skip_until: u64,
    /// Commands' results and fetched figures come back here (as the hub's orders do).
    inbox: mpsc::Sender<Inbox>,
    /// A figures fetch is running; `figures_owed`: another is due when it ends.
    figures_running: bool,
    figures_owed: bool,
}

impl Connection {
    pub(super) async fn run(
        hub: Arc<Hub>,
        principal: Principal,
        socket: WebSocket,
        first: Option<String>,
        resume_failed: bool,
    ) {
        let id = format!("{:032x}", rand::random::<u128>());
        let (inbox_tx, mut inbox) = mpsc::channel(INBOX);
        // In the registry before the snapshot is taken, so nothing falls between them.
        let (fanout_tx, mut fanout) = mpsc::channel(hub.settings.fanout_queue.max(1));
        let lagged = Arc::new(AtomicBool::new(false));
        let kicked = {
            let mut registry = hub.registry();
            registry.conns.insert(
                id.clone(),
                Entry {
                    principal: principal.clone(),
                    control: inbox_tx.clone(),
                    fanout: fanout_tx,
                    lagged: lagged.clone(),
                },
            );
            principal
                .agent
                .as_ref()
                .and_then(|agent| registry.controllers.insert(agent.clone(), id.clone()))
                .and_then(|old| registry.conns.get(&old).map(|c| c.control.clone()))
        };
        if let Some(old) = kicked {
            let _ = old.try_send(Control::Kick.into());
        }
        let settings = hub.settings.clone();
        let mut conn = Connection {
            session: Session::new(
                id.clone(),
                settings.resume_buffer,
                settings.resume_window.as_millis() as i64,
            ),
            attached: Some(Socket::new(socket)),
            queue_limit: settings.outgoing_queue,
            hub: hub.clone(),
            principal,
            overflowed: false,
            skip_until: 0,
            inbox: inbox_tx,
            figures_running: false,
            figures_owed: false,
        };
        info!(user = %conn.principal.user, agent = ?conn.principal.agent, connection = %id, "CTI desktop connected");
        let welcome = ServerMessage::Welcome(Welcome {
            connection: id.clone(),
            server_time_ms: now_ms(),
            resume_window_secs: settings.resume_window.as_secs(),
            heartbeat_secs: settings.heartbeat.as_secs(),
            user: conn.principal.user.clone(),
            role: conn.principal.role.into(),
            agent: conn.principal.agent.clone(),
        });
        conn.send_must(welcome);
        if resume_failed {
            conn.resync(ResyncReason::ResumeExpired).await;
        } else {
            conn.send_snapshot().await;
        }
        let mut ended = false;
        if let Some(text) = first {
            ended = conn.on_text(&text).await;
        }
        // The first heartbeat at a random point of the first period, so desktops that
        // connected together (a server restart, a shift start) do not beat in step.
        let phase = settings
            .heartbeat
            .mul_f64(0.5 + rand::random::<f64>() / 2.0);
        // One timer, made once: attached, the next heartbeat; detached, the disconnect
        // grace, then the end of the resume window. (A wake-up polls one timer and builds
        // none: at 10,000 desktops every poll of the fan-out counts.)
        let timer = tokio::time::sleep_until(Instant::now() + phase);
        tokio::pin!(timer);
        let mut window_at = Instant::now();
        let mut grace_pending = false;
        // Replies may queue past the events' limit (they are never dropped); reading stops
        // there, so a desktop that sends commands but never reads cannot grow the queue.
        let read_below = settings.outgoing_queue + RESERVED;
        let room_at = settings.outgoing_queue / 2;
        while !ended {
            let detached = conn.attached.is_none();
            let overflowed = conn.overflowed;
            let io = std::future::poll_fn(|cx| match conn.attached.as_mut() {
                Some(socket) => socket.poll_io(cx, read_below, overflowed.then_some(room_at)),
                None => std::task::Poll::Pending,
            });
            // In this order: the socket first (polling it writes what is queued), then the
            // fan-out, the inbox, the timer.
            tokio::select! {
                biased;
                io = io => match io {
                    Io::Read(Some(Ok(Message::Text(text)))) => ended = conn.on_text(&text).await,
                    Io::Read(Some(Ok(Message::Binary(_)))) => {
                        let actions = conn.session.on_client_binary(now_ms());
                        ended = conn.act(actions).await;
                    }
                    Io::Read(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
                    Io::Room => {
                        conn.overflowed = false;
                        conn.resync(ResyncReason::Lagged).await;
                    }
                    Io::Read(Some(Ok(Message::Close(_))) | Some(Err(_)) | None) | Io::WriteFailed => {
                        conn.attached = None;
                        conn.overflowed = false;
                        let now = Instant::now();
                        window_at = now + settings.resume_window;
                        grace_pending = conn.principal.agent.is_some();
                        timer.as_mut().reset(if grace_pending {
                            now + settings.disconnect_grace
                        } else {
                            window_at
                        });
                        info!(user = %conn.principal.user, connection = %id, "CTI desktop disconnected; connection kept for resume");
                    }
                },
                Some(batch) = fanout.recv() => {
                    // A batch was dropped for a full fan-out: the snapshot covers it (and
                    // the batches still queued up to its seq are skipped).
                    if lagged.swap(false, Ordering::AcqRel) {
                        debug!(connection = %id, "CTI connection lagged");
                        conn.resync(ResyncReason::Lagged).await;
                    }
                    // Whatever else is already waiting goes out with this batch, in one
                    // write: a burst of changes costs a desktop one wake-up and one flush.
                    let mut next = Some(batch);
                    let mut taken = 0;
                    while let Some(batch) = next.take() {
                        for item in batch.iter() {
                            match item {
                                // Alone in its batch (the hub lagged on the bus).
                                Fanout::Resync { seq } if *seq > conn.skip_until => {
                                    conn.resync(ResyncReason::Lagged).await;
                                }
                                _ => conn.deliver(item),
                            }
                        }
                        taken += 1;
                        if taken < COALESCE {
                            next = fanout.try_recv().ok();
                        }
                    }
                }
                Some(inbox) = inbox.recv() => match inbox {
                Inbox::Figures(figures) => {
                    conn.figures_running = false;
                    if let Some(figures) = figures {
                        if conn.socket_full() {
                            // The resync's snapshot brings them once the socket drains.
                            conn.overflowed = true;
                        } else {
                            conn.send_must(ServerMessage::Figures(*figures));
                        }
                    }
                    if std::mem::take(&mut conn.figures_owed) {
                        conn.fetch_figures();
                    }
                }
                Inbox::Finished(done) => {
                    let (cid, entity, result, registration) = *done;
                    conn.finish(cid, entity, result, registration).await;
                }
                Inbox::Control(control) => match control {
                    Control::Kick => {
                        info!(user = %conn.principal.user, connection = %id, "CTI desktop replaced by another one for the same agent");
                        if let Some(socket) = conn.attached.take() {
                            socket.close(close::OPENED_ELSEWHERE, "aberto em outro lugar");
                        }
                        ended = true;
                    }
                    Control::Attach(attach) => {
                        let super::hub::Attach { socket, last_seq, principal } = *attach;
                        // The resume may come with another session of the same user: the
                        // session check follows that one from now on.
                        if let Some(e) = hub.registry().conns.get_mut(&id) {
                            e.principal = principal.clone();
                        }
                        conn.principal = principal;
                        conn.attached = Some(Socket::new(socket));
                        conn.overflowed = false;
                        grace_pending = false;
                        timer.as_mut().reset(Instant::now() + settings.heartbeat);
                        info!(user = %conn.principal.user, connection = %id, "CTI desktop resumed");
                        conn.resume(last_seq).await;
                    }
                    Control::Principal(principal) => conn.principal = *principal,
                    // A detached connection keeps its timers (the disconnect pause): a
                    // resume needs a valid credential anyway.
                    Control::SessionEnded(e) if !detached => {
                        conn.session_ended(e);
                        ended = true;
                    }
                    Control::SessionEnded(_) => {}
                },
                },
                () = &mut timer => {
                    if !detached {
                        conn.heartbeat();
                        timer.as_mut().reset(Instant::now() + settings.heartbeat);
                    } else if grace_pending {
                        grace_pending = false;
                        conn.grace_expired();
                        timer.as_mut().reset(window_at);
                    } else {
                        debug!(connection = %id, "CTI connection not resumed in time; forgotten");
                        ended = true;
                    }
                }
            }
        }
        let mut registry = hub.registry();
        registry.conns.remove(&id);
        if let Some(agent) = &conn.principal.agent
            && registry.controllers.get(agent) == Some(&id)
        {
            registry.controllers.remove(agent);
        }
    }

    /// Reads one text frame; true when the connection ends.
    async fn on_text(&mut self, text: &str) -> bool {
        let actions = self.session.on_client_text(text, now_ms());
        self.act(actions).await
    }

    async fn act(&mut self, actions: Vec<Action>) -> bool {
        for action in actions {
            match action {
                Action::Send(frame) => self.write_must(frame),
                Action::Close(code) => {
                    warn!(user = %self.principal.user, "CTI connection closed after repeated malformed messages");
                    if let Some(socket) = self.attached.take() {
                        socket.close(code, "erro de protocolo");
                    }
                    return true;
                }
                Action::Snapshot => self.send_snapshot().await,
                Action::Run { id, command } => self.run_command(id, command).await,
            }
        }
        false
    }

    async fn run_command(&mut self, id: String, command: Command) {
        // Named for the audit log before the plan takes it (no numbers or notes in it).
        let target = serde_json::to_value(&command).ok().map(|v| {
            let name = v["command"].as_str().unwrap_or("?").to_owned();
            match v["args"]["protocol"].as_str() {
                Some(p) => format!("cti {name} {p}"),
                None => format!("cti {name}"),
            }
        });
        let plan = match self.hub.plan(&self.principal, command) {
            Ok(plan) => plan,
            Err(error) => {
                if error.code == ErrorCode::NotAllowed {
                    info!(user = %self.principal.user, command = %id, "CTI command refused: not allowed");
                }
                if matches!(error.code, ErrorCode::NotAllowed | ErrorCode::NotFound) {
                    let backend = self.hub.backend.clone();
                    let who = self.principal.clone();
                    let why = match error.code {
                        ErrorCode::NotAllowed => "not allowed",
                        _ => "not the agent's call",
                    };
                    let target = target.unwrap_or_else(|| "cti".into());
                    tokio::spawn(async move { backend.refused(who, target, why.into()).await });
                }
                let frame = self.session.finish_command(&id, None, Err(error), now_ms());
                return self.write_must(frame);
            }
        };
        let entity = plan.entity();
        self.session.begin_command(&id, entity.clone());
        let backend = self.hub.backend.clone();
        let who = self.principal.clone();
        let results = self.inbox.clone();
        tokio::spawn(async move {
            let (result, registration) = match plan {
                Plan::Agent(agent, c) => (backend.agent_command(who, agent, c).await, None),
                Plan::Call(agent, c) => (backend.call_command(who, agent, c).await, None),
                Plan::Register(agent, r) => {
                    (backend.register(who, agent, r.clone()).await, Some(r))
                }
                Plan::Floor(order, why) => (backend.floor_command(who, order, why).await, None),
            };
            let _ = results
                .send(Inbox::Finished(Box::new((
                    id,
                    entity,
                    result,
                    registration,
                ))))
                .await;
        });
    }

    async fn finish(
        &mut self,
        id: String,
        entity: Option<Entity>,
        result: Result<Outcome, CommandError>,
        registration: Option<Registration>,
    ) {
        let ok = result.is_ok();
        let result = result.map(|o| o.version).map_err(|e| ReplyError {
            code: e.code,
            message: e.message,
        });
        let frame = self.session.finish_command(&id, entity, result, now_ms());
        self.write_must(frame);
        if let (true, Some(r)) = (ok, registration) {
            self.send_must(ServerMessage::Registered(Registered {
                protocol: r.protocol,
                code: r.code,
                note: r.note,
                command_id: id,
            }));
        }
    }

    /// One fan-out item: filtered by what the user may see now, numbered and queued (the
    /// socket writes a batch's frames with one flush when the task next polls it).
    fn deliver(&mut self, item: &Fanout) {
        match item {
            Fanout::Resync { .. } => {} // handled by the caller: it awaits a snapshot
            Fanout::Figures { seq, audience } => {
                if *seq > self.skip_until && visible(&self.principal, audience) {
                    self.fetch_figures();
                }
            }
            Fanout::Event {
                seq,
                audience,
                message,
                body,
            } => {
                if *seq <= self.skip_until || !visible(&self.principal, audience) {
                    return;
                }
                if self.overflowed {
                    return; // covered by the snapshot the resync brings
                }
                if self.socket_full() {
                    debug!(connection = %self.session.id(), "CTI socket too slow; resync owed");
                    self.overflowed = true;
                    return;
                }
                let frame = self.session.push_shared(message, body, now_ms());
                self.write_must(frame);
            }
        }
    }

    /// Fetches today's figures again in a task of its own (a database read), at most one at
    /// a time: changes during a fetch make one more after it. A short pause first lets a
    /// burst of changes (talk over, wrap-up over) cost one read.
    fn fetch_figures(&mut self) {
        if self.figures_running {
            self.figures_owed = true;
            return;
        }
        self.figures_running = true;
        let backend = self.hub.backend.clone();
        let who = self.principal.clone();
        let out = self.inbox.clone();
        tokio::spawn(async move {
            tokio::time::sleep(FIGURES_SETTLE).await;
            let figures = tokio::time::timeout(FIGURES_FETCH_WAIT, backend.figures(who))
                .await
                .ok()
                .flatten();
            let _ = out.send(Inbox::Figures(figures.map(Box::new))).await;
        });
    }

    /// Queues a numbered frame (a reply, resync or snapshot is never dropped). Detached,
    /// the frame stays in the resume buffer only.
    fn write_must(&mut self, frame: String) {
        if let Some(socket) = &mut self.attached {
            socket.queue(Message::Text(frame.into()));
        }
    }

    fn send_must(&mut self, message: ServerMessage) {
        let frame = self.session.push(message, now_ms());
        self.write_must(frame);
    }

    async fn send_snapshot(&mut self) {
        let (mut snapshot, as_of) = self.hub.snapshot(&self.principal).await;
        snapshot.as_of_seq = self.session.next_seq();
        self.skip_until = as_of;
        self.send_must(ServerMessage::Snapshot(snapshot));
    }

    async fn resync(&mut self, reason: ResyncReason) {
        if self.overflowed && self.attached.is_some() {
            return; // the resync goes out once the queue drains
        }
        self.send_must(ServerMessage::ResyncRequired { reason });
        self.send_snapshot().await;
    }

    /// A resumed socket: the messages after `last_seq` again, or a resync when they are
    /// gone.
    async fn resume(&mut self, last_seq: u64) {
        match self.session.replay_after(last_seq, now_ms()) {
            Some(frames) => {
                self.send_must(ServerMessage::Resumed {
                    replayed: frames.len() as u64,
                });
                for frame in frames {
                    self.write_must(frame);
                }
            }
            None => self.resync(ResyncReason::ResumeExpired).await,
        }
    }

    /// Whether the socket's queue is at the events' limit: a desktop that does not read.
    fn socket_full(&self) -> bool {
        self.attached
            .as_ref()
            .is_some_and(|s| s.queued() >= self.queue_limit)
    }

    /// Sends a heartbeat (the session is checked by the hub for every desktop at once:
    /// `session_check`); none to a desktop that does not read, or a stuck one's queue
    /// would grow by one every period.
    fn heartbeat(&mut self) {
        if self.socket_full() {
            return;
        }
        self.send_must(ServerMessage::Heartbeat {
            server_time_ms: now_ms(),
        });
    }

    /// The hub's session check found the session revoked or expired: closed 4004.
    fn session_ended(&mut self, e: super::backend::AuthError) {
        info!(user = %self.principal.user, error = %e, "CTI session ended");
        if let Some(socket) = self.attached.take() {
            socket.close(close::SESSION_EXPIRED, "sessão expirada");
        }
    }

    /// The desktop stayed away past the grace time: an available agent is paused.
    fn grace_expired(&self) {
        let Some(agent) = self.principal.agent.clone() else {
            return;
        };
        let controls =
            self.hub.registry().controllers.get(&agent) == Some(&self.session.id().to_owned());
        let available = self
            .hub
            .shared()
            .view
            .agent(&agent)
            .is_some_and(|a| a.state == AgentState::Available);
        if !controls || !available {
            return;
        }
        info!(%agent, "agent desktop disconnected past the grace time; pausing the agent (reason disconnected)");
        let backend = self.hub.backend.clone();
        let who = self.principal.clone();
        tokio::spawn(async move {
            let pause = AgentCommand::Pause {
                reason: super::DISCONNECTED_REASON.to_owned(),
            };
            if let Err(e) = backend.agent_command(who, agent.clone(), pause).await {
                warn!(%agent, error = %e, "could not pause the disconnected agent");
            }
        });
    }
}
