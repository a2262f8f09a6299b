//! The `http` node's answer: status, JSON fields into variables, or the `on_error` path.
//! Part of the interpreter (pure: the shell did the request and hands in the answer).

use std::time::Instant;

use super::interp::{Interpreter, Wait};
use super::io::{HttpReply, IvrEvent, RequestId};
use super::model::NodeKind;

impl Interpreter {
    pub(super) fn http_result(
        &mut self,
        now: Instant,
        request: RequestId,
        result: Result<HttpReply, String>,
    ) {
        if self.wait != (Wait::Fetch { request }) {
            return; // late: timed out already, or the caller left
        }
        self.timer = None;
        let set = self.set.clone();
        let NodeKind::Http(h) = &set.node(self.pos).kind else {
            return;
        };
        let reply = match result {
            Ok(r) => r,
            Err(e) => return self.http_failed(now, e),
        };
        if !(200..300).contains(&reply.status) {
            return self.http_failed(now, format!("status {}", reply.status));
        }
        let node = self.node_name();
        self.log(IvrEvent::HttpAnswered {
            node,
            status: reply.status,
        });
        let mut found = Vec::with_capacity(h.fields.len());
        if !h.fields.is_empty() {
            let Ok(json) = serde_json::from_str::<serde_json::Value>(&reply.body) else {
                return self.http_failed(now, "the answer is not JSON".to_owned());
            };
            for (var, pointer) in &h.fields {
                match json.pointer(pointer) {
                    None | Some(serde_json::Value::Null) => {
                        return self.http_failed(now, format!("field {pointer} missing"));
                    }
                    Some(serde_json::Value::String(s)) => found.push((var.clone(), s.clone())),
                    Some(v) => found.push((var.clone(), v.to_string())),
                }
            }
        }
        self.vars.extend(found);
        self.go(now, h.next);
    }

    pub(super) fn http_failed(&mut self, now: Instant, reason: String) {
        let set = self.set.clone();
        let NodeKind::Http(h) = &set.node(self.pos).kind else {
            return;
        };
        let node = self.node_name();
        self.log(IvrEvent::HttpFailed { node, reason });
        self.go(now, h.on_error);
    }
}
