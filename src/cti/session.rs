//! One CTI connection's protocol state, sans-IO: numbers every server message (`seq`),
//! keeps the resume buffer, reads client frames into actions, enforces one reply per
//! command id, marks events with the command that caused them, and counts malformed
//! messages up to the protocol-error close.
//!
//! Inputs are client text, server messages to send and the current time (ms); outputs are
//! frames (already serialized) and actions for the shell.
//!
//! A frame is `{"v":1,"seq":N,` spliced before the message's own JSON (less its `{`): the
//! hub serializes each event once for every desktop (`Body`), a connection adds only its
//! `seq`, and its resume buffer keeps the shared body, not a copy (`push_shared`). A
//! message that must differ per connection (an event marked with this connection's
//! command id, a reply) gets a body of its own.
//!
//! Bounded: the buffer by count, bytes and age, remembered command ids by count. A
//! snapshot is not kept for replay (it is the largest message and the one a client can
//! always have afresh): a resume from before the last snapshot gets a new one instead
//! (`resync_required`, `resume_expired`).

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt::Write;
use std::sync::Arc;

use super::protocol::{
    ClientMessage, Command, CommandParseError, Entity, ErrorCode, ProtocolError, ProtocolErrorCode,
    Reply, ReplyError, ServerMessage, VERSION,
};

/// Websocket close codes of the protocol.
pub mod close {
    pub const NO_CREDENTIAL: u16 = 4001;
    pub const PROTOCOL_ERROR: u16 = 4002;
    pub const BAD_CREDENTIAL: u16 = 4003;
    pub const SESSION_EXPIRED: u16 = 4004;
    pub const OPENED_ELSEWHERE: u16 = 4009;
}

/// Malformed messages tolerated before the connection is closed with 4002.
pub const MAX_MALFORMED: u32 = 5;

/// Command ids remembered to refuse a reuse (older ones are forgotten).
const REMEMBERED_IDS: usize = 4096;

/// Caused-version marks kept after their replies.
const REMEMBERED_CAUSES: usize = 64;

/// What the shell does after a client frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Send(String),
    Close(u16),
    /// Check and run the command; answer with `finish_command`.
    Run {
        id: String,
        command: Command,
    },
    /// Send `resync`-free fresh snapshot (the client asked).
    Snapshot,
}

/// A message's JSON (`{"type":…}`), serialized once and shared by every connection that
/// sends it.
pub type Body = Arc<str>;

/// The JSON of `message`, for `push_shared`.
pub fn body(message: &ServerMessage) -> Body {
    // Serializing plain data with string keys cannot fail.
    serde_json::to_string(message).unwrap_or_default().into()
}

/// The frame text of `body` sent as `seq`: the envelope's fields first, as `ServerFrame`
/// serializes them.
pub fn frame(seq: u64, body: &str) -> String {
    let fields = body.strip_prefix('{').unwrap_or(body);
    let mut text = String::with_capacity(fields.len() + 32);
    // Writing to a String cannot fail.
    let _ = write!(text, "{{\"v\":{VERSION},\"seq\":{seq},");
    text.push_str(fields);
    text
}

/// Bytes of frames (as a replay would send them) a connection keeps for resume at most;
/// older ones are dropped first. Shared bodies cost the buffer only a pointer each, but
/// count here in full: this bounds what a replay may write.
pub const RESUME_BYTES: usize = 2 << 20;

/// One message kept for resume; its `seq` follows from its place in the buffer.
#[derive(Debug)]
struct Sent {
    at_ms: i64,
    /// `None` for a snapshot (not kept: a replay through it is a resync).
    body: Option<Body>,
}

impl Sent {
    fn bytes(&self) -> usize {
        self.body.as_ref().map_or(0, |b| b.len() + 24)
    }
}

#[derive(Debug)]
pub struct Session {
    id: String,
    next_seq: u64,
    /// Consecutive messages, the last one `next_seq - 1`.
    buffer: VecDeque<Sent>,
    /// Frame bytes in `buffer`.
    buffer_bytes: usize,
    buffer_cap: usize,
    window_ms: i64,
    ids: HashSet<String>,
    id_order: VecDeque<String>,
    inflight: HashMap<Entity, String>,
    caused: VecDeque<(Entity, u64, String)>,
    malformed: u32,
}

impl Session {
    /// A new connection `id` whose buffer keeps at most `buffer_cap` messages for
    /// `window_ms`.
    pub fn new(id: String, buffer_cap: usize, window_ms: i64) -> Session {
        Session {
            id,
            next_seq: 1,
            buffer: VecDeque::new(),
            buffer_bytes: 0,
            buffer_cap: buffer_cap.max(1),
            window_ms,
            ids: HashSet::new(),
            id_order: VecDeque::new(),
            inflight: HashMap::new(),
            caused: VecDeque::new(),
            malformed: 0,
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The `seq` the next message will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Numbers `message`, marks it with its causing command, and keeps it for resume.
    pub fn push(&mut self, mut message: ServerMessage, now_ms: i64) -> String {
        if let Some(id) = self.cause(&message) {
            message.set_command_id(&id);
        }
        let keep = !matches!(message, ServerMessage::Snapshot(_));
        let body = body(&message);
        self.keep(body, keep, now_ms)
    }

    /// `push` for an event the hub serialized once for every connection (`body` is
    /// `message`'s JSON): the shared body is sent and kept unless this connection must
    /// mark it with its own command id.
    pub fn push_shared(&mut self, message: &ServerMessage, body: &Body, now_ms: i64) -> String {
        // Most connections ran no command: no need to look at the message.
        let busy = !self.inflight.is_empty() || !self.caused.is_empty();
        if busy && let Some(id) = self.cause(message) {
            let mut message = message.clone();
            message.set_command_id(&id);
            let own = self::body(&message);
            return self.keep(own, true, now_ms);
        }
        self.keep(body.clone(), true, now_ms)
    }

    /// The id of the command that caused `message`, if this connection ran one.
    fn cause(&mut self, message: &ServerMessage) -> Option<String> {
        let (entity, version) = message.entity()?;
        if let Some(id) = self.inflight.get(&entity) {
            return Some(id.clone());
        }
        let pos = self
            .caused
            .iter()
            .position(|(e, v, _)| *e == entity && version <= *v)?;
        let id = self.caused[pos].2.clone();
        if version == self.caused[pos].1 {
            self.caused.remove(pos);
        }
        Some(id)
    }

    /// Numbers `body`, keeps it for resume (unless `keep` is false) and returns its frame.
    fn keep(&mut self, body: Body, keep: bool, now_ms: i64) -> String {
        let seq = self.next_seq;
        self.next_seq += 1;
        let text = frame(seq, &body);
        let sent = Sent {
            at_ms: now_ms,
            body: keep.then_some(body),
        };
        self.buffer_bytes += sent.bytes();
        self.buffer.push_back(sent);
        while self.buffer.len() > self.buffer_cap || self.buffer_bytes > RESUME_BYTES {
            self.pop_oldest();
        }
        self.expire(now_ms);
        // A burst's room is given back once it has expired (the buffer grows by doubling
        // and would otherwise keep its largest size while the connection lives).
        let capacity = self.buffer.capacity();
        if capacity > 64 && self.buffer.len() < capacity / 4 {
            self.buffer.shrink_to(self.buffer.len() * 2);
        }
        text
    }

    fn pop_oldest(&mut self) {
        if let Some(old) = self.buffer.pop_front() {
            self.buffer_bytes -= old.bytes();
        }
    }

    fn expire(&mut self, now_ms: i64) {
        while self
            .buffer
            .front()
            .is_some_and(|s| s.at_ms < now_ms - self.window_ms)
        {
            self.pop_oldest();
        }
    }

    /// The frames after `last_seq`, or `None` when some of them are no longer kept (or
    /// `last_seq` was never sent).
    pub fn replay_after(&mut self, last_seq: u64, now_ms: i64) -> Option<Vec<String>> {
        self.expire(now_ms);
        let first = last_seq.checked_add(1)?;
        if first > self.next_seq {
            return None;
        }
        if first == self.next_seq {
            return Some(vec![]);
        }
        // The buffer holds seqs `oldest..next_seq`.
        let oldest = self.next_seq - self.buffer.len() as u64;
        if first < oldest {
            return None;
        }
        let skip = (first - oldest) as usize;
        self.buffer
            .iter()
            .skip(skip)
            .zip(first..)
            .map(|(s, seq)| s.body.as_deref().map(|b| frame(seq, b)))
            .collect()
    }

    /// Reads one client text frame.
    pub fn on_client_text(&mut self, text: &str, now_ms: i64) -> Vec<Action> {
        let message: ClientMessage = match serde_json::from_str(text) {
            Ok(m) => m,
            Err(e) => {
                return self.malformed(ProtocolErrorCode::Malformed, e.to_string(), None, now_ms);
            }
        };
        let v = match &message {
            ClientMessage::Hello { v, .. }
            | ClientMessage::Command { v, .. }
            | ClientMessage::SnapshotRequest { v } => *v,
        };
        if v != VERSION {
            return self.malformed(
                ProtocolErrorCode::UnsupportedVersion,
                format!("versão {v} não suportada; use 1"),
                None,
                now_ms,
            );
        }
        match message {
            // The hub reads a first `hello` before the session starts: any `hello` here
            // came after other messages.
            ClientMessage::Hello { .. } => self.malformed(
                ProtocolErrorCode::LateHello,
                "hello só pode ser a primeira mensagem".into(),
                None,
                now_ms,
            ),
            ClientMessage::SnapshotRequest { .. } => vec![Action::Snapshot],
            ClientMessage::Command {
                id, command, args, ..
            } => {
                if id.is_empty() {
                    return self.malformed(
                        ProtocolErrorCode::Malformed,
                        "comando sem id".into(),
                        None,
                        now_ms,
                    );
                }
                if !self.remember(&id) {
                    return self.malformed(
                        ProtocolErrorCode::DuplicateId,
                        "id de comando já usado nesta conexão".into(),
                        Some(id),
                        now_ms,
                    );
                }
                match Command::parse(&command, args) {
                    Ok(command) => vec![Action::Run { id, command }],
                    Err(CommandParseError::Unknown(name)) => {
                        let reply = self.reply(
                            &id,
                            Err(ReplyError {
                                code: ErrorCode::UnknownCommand,
                                message: format!("comando desconhecido: {name}"),
                            }),
                            now_ms,
                        );
                        vec![Action::Send(reply)]
                    }
                    Err(CommandParseError::BadArgs(why)) => {
                        let reply = self.reply(
                            &id,
                            Err(ReplyError {
                                code: ErrorCode::BadArgs,
                                message: format!("argumentos inválidos: {why}"),
                            }),
                            now_ms,
                        );
                        vec![Action::Send(reply)]
                    }
                }
            }
        }
    }

    /// A malformed frame that is not text (binary).
    pub fn on_client_binary(&mut self, now_ms: i64) -> Vec<Action> {
        self.malformed(
            ProtocolErrorCode::Malformed,
            "mensagens binárias não são aceitas".into(),
            None,
            now_ms,
        )
    }

    fn remember(&mut self, id: &str) -> bool {
        if !self.ids.insert(id.to_owned()) {
            return false;
        }
        self.id_order.push_back(id.to_owned());
        if self.id_order.len() > REMEMBERED_IDS
            && let Some(old) = self.id_order.pop_front()
        {
            self.ids.remove(&old);
        }
        true
    }

    fn malformed(
        &mut self,
        code: ProtocolErrorCode,
        message: String,
        id: Option<String>,
        now_ms: i64,
    ) -> Vec<Action> {
        self.malformed += 1;
        let frame = self.push(
            ServerMessage::Error(ProtocolError { code, message, id }),
            now_ms,
        );
        let mut out = vec![Action::Send(frame)];
        if self.malformed >= MAX_MALFORMED {
            out.push(Action::Close(close::PROTOCOL_ERROR));
        }
        out
    }

    /// A command on `entity` started: its events carry its id until it finishes.
    pub fn begin_command(&mut self, id: &str, entity: Option<Entity>) {
        if let Some(entity) = entity {
            self.inflight.insert(entity, id.to_owned());
        }
    }

    /// The reply to command `id`; events of `entity` up to `version` still carry its id.
    pub fn finish_command(
        &mut self,
        id: &str,
        entity: Option<Entity>,
        result: Result<Option<u64>, ReplyError>,
        now_ms: i64,
    ) -> String {
        if let Some(entity) = entity {
            if self.inflight.get(&entity).is_some_and(|i| i == id) {
                self.inflight.remove(&entity);
            }
            if let Ok(Some(version)) = &result {
                self.caused.push_back((entity, *version, id.to_owned()));
                if self.caused.len() > REMEMBERED_CAUSES {
                    self.caused.pop_front();
                }
            }
        }
        self.reply(id, result.map(|_| ()), now_ms)
    }

    fn reply(&mut self, id: &str, result: Result<(), ReplyError>, now_ms: i64) -> String {
        let (ok, error) = match result {
            Ok(()) => (true, None),
            Err(e) => (false, Some(e)),
        };
        self.push(
            ServerMessage::Reply(Reply {
                id: id.to_owned(),
                ok,
                error,
            }),
            now_ms,
        )
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
