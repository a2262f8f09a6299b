//! One CTI connection's protocol state, sans-IO: numbers every server message (`seq`),
//! keeps the resume buffer, reads client frames into actions, enforces one reply per
//! command id, marks events with the command that caused them, and counts malformed
//! messages up to the protocol-error close.
//!
//! Inputs are client text, server messages to send and the current time (ms); outputs are
//! frames (already serialized, shared with the resume buffer) and actions for the shell.
//! Bounded: the buffer by count and age, remembered command ids by count.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use super::protocol::{
    ClientMessage, Command, CommandParseError, Entity, ErrorCode, ProtocolError, ProtocolErrorCode,
    Reply, ReplyError, ServerFrame, ServerMessage, VERSION,
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
    Send(Arc<str>),
    Close(u16),
    /// Check and run the command; answer with `finish_command`.
    Run {
        id: String,
        command: Command,
    },
    /// Send `resync`-free fresh snapshot (the client asked).
    Snapshot,
}

#[derive(Debug)]
struct Sent {
    seq: u64,
    at_ms: i64,
    text: Arc<str>,
}

#[derive(Debug)]
pub struct Session {
    id: String,
    next_seq: u64,
    buffer: VecDeque<Sent>,
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
    pub fn push(&mut self, mut message: ServerMessage, now_ms: i64) -> Arc<str> {
        if let Some((entity, version)) = message.entity() {
            if let Some(id) = self.inflight.get(&entity) {
                message.set_command_id(id);
            } else if let Some(pos) = self
                .caused
                .iter()
                .position(|(e, v, _)| *e == entity && version <= *v)
            {
                let id = self.caused[pos].2.clone();
                message.set_command_id(&id);
                if version == self.caused[pos].1 {
                    self.caused.remove(pos);
                }
            }
        }
        let frame = ServerFrame {
            v: VERSION,
            seq: self.next_seq,
            message,
        };
        self.next_seq += 1;
        // Serializing plain data with string keys cannot fail.
        let text: Arc<str> = serde_json::to_string(&frame).unwrap_or_default().into();
        self.buffer.push_back(Sent {
            seq: frame.seq,
            at_ms: now_ms,
            text: text.clone(),
        });
        while self.buffer.len() > self.buffer_cap {
            self.buffer.pop_front();
        }
        self.expire(now_ms);
        text
    }

    fn expire(&mut self, now_ms: i64) {
        while self
            .buffer
            .front()
            .is_some_and(|s| s.at_ms < now_ms - self.window_ms)
        {
            self.buffer.pop_front();
        }
    }

    /// The frames after `last_seq`, or `None` when some of them are no longer kept (or
    /// `last_seq` was never sent).
    pub fn replay_after(&mut self, last_seq: u64, now_ms: i64) -> Option<Vec<Arc<str>>> {
        self.expire(now_ms);
        let first = last_seq.checked_add(1)?;
        if first > self.next_seq {
            return None;
        }
        if first == self.next_seq {
            return Some(vec![]);
        }
        if self.buffer.front().is_none_or(|s| s.seq > first) {
            return None;
        }
        Some(
            self.buffer
                .iter()
                .filter(|s| s.seq >= first)
                .map(|s| s.text.clone())
                .collect(),
        )
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
    ) -> Arc<str> {
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

    fn reply(&mut self, id: &str, result: Result<(), ReplyError>, now_ms: i64) -> Arc<str> {
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
