//! The IVR driver of one call: runs its `ivr::Interpreter` and carries out the actions.
//!
//! Owned by the call actor, which feeds it digits, playback ends, HTTP answers and timer
//! wake-ups. It plays prompts (concatenated from the prompt library, barge-in by the
//! interpreter's `StopPlayback`), sends `http` requests on their own tasks (the answer
//! comes back on a channel, the actor never waits), and writes every `IvrEvent` into the
//! call's event log. What ends the IVR's part (enqueue, transfer, hang-up) is returned to
//! the actor as a `Handoff`. The emergency announcement, when switched on, plays before
//! the flow starts.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::warn;

use crate::events::EventKind;
use crate::floor::call_log::CallLog;
use crate::ivr::format::HttpMethod;
use crate::ivr::{
    Action, CallInfo, Destination, Enqueue, FetchRequest, FlowSet, HttpReply, Input, Interpreter,
    PlaybackId, RequestId,
};
use crate::media::prompt::PromptLibrary;
use crate::media::session::MediaHandle;

/// How the IVR's part of the call ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Handoff {
    Enqueue(Enqueue),
    Transfer(Destination),
    HangUp,
}

pub type FetchResult = (RequestId, Result<HttpReply, String>);

/// What the IVR is playing.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Playing {
    Emergency,
    Flow { id: PlaybackId },
}

pub struct IvrDriver {
    interp: Interpreter,
    pending: Option<CallInfo>,
    playing: Option<Playing>,
    fetches: HashMap<RequestId, JoinHandle<()>>,
    fetch_tx: mpsc::Sender<Box<FetchResult>>,
    http: Option<reqwest::Client>,
    rewrite: BTreeMap<String, String>,
    prompts: Arc<PromptLibrary>,
    media: MediaHandle,
    log: CallLog,
}

impl IvrDriver {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        set: Arc<FlowSet>,
        http: Option<reqwest::Client>,
        rewrite: BTreeMap<String, String>,
        prompts: Arc<PromptLibrary>,
        media: MediaHandle,
        log: CallLog,
        fetch_tx: mpsc::Sender<Box<FetchResult>>,
    ) -> IvrDriver {
        IvrDriver {
            interp: Interpreter::new(set),
            pending: None,
            playing: None,
            fetches: HashMap::new(),
            fetch_tx,
            http,
            rewrite,
            prompts,
            media,
            log,
        }
    }

    /// Runs `interp` instead of a fresh interpreter (a call the ACD hands back to a node).
    pub fn with_interpreter(mut self, interp: crate::ivr::Interpreter) -> IvrDriver {
        self.interp = interp;
        self
    }

    /// Starts the flow, after the emergency announcement when one is set.
    pub async fn begin(
        &mut self,
        now: Instant,
        call: CallInfo,
        emergency: Option<String>,
    ) -> Option<Handoff> {
        if let Some(prompt) = emergency {
            self.play(std::slice::from_ref(&prompt)).await;
            self.log.record(EventKind::PromptPlayed { prompt });
            self.playing = Some(Playing::Emergency);
            self.pending = Some(call);
            return None;
        }
        self.interp.handle(now, Input::CallStarted(call));
        self.drain().await
    }

    pub fn next_timeout(&self) -> Option<Instant> {
        self.interp.next_timeout()
    }

    pub async fn timeout(&mut self, now: Instant) -> Option<Handoff> {
        self.interp.handle_timeout(now);
        self.drain().await
    }

    pub async fn digit(&mut self, now: Instant, d: char) -> Option<Handoff> {
        if self.pending.is_some() {
            return None; // the emergency announcement is not cut short
        }
        self.interp.handle(now, Input::Digit(d));
        self.drain().await
    }

    pub async fn prompt_finished(&mut self, now: Instant) -> Option<Handoff> {
        match self.playing {
            // The call actor passes on only the end of the latest playback (media ids).
            Some(Playing::Emergency) => {
                self.playing = None;
                let call = self.pending.take()?;
                self.interp.handle(now, Input::CallStarted(call));
                self.drain().await
            }
            Some(Playing::Flow { id }) => {
                self.playing = None;
                self.interp.handle(now, Input::PromptFinished(id));
                self.drain().await
            }
            None => None,
        }
    }

    pub async fn http_result(&mut self, now: Instant, r: FetchResult) -> Option<Handoff> {
        self.fetches.remove(&r.0);
        self.interp.handle(
            now,
            Input::HttpResult {
                request: r.0,
                result: r.1,
            },
        );
        self.drain().await
    }

    /// The caller hung up: the interpreter logs where, requests are dropped.
    pub async fn hung_up(&mut self, now: Instant) {
        self.interp.handle(now, Input::HungUp);
        self.drain().await;
        for (_, t) in self.fetches.drain() {
            t.abort();
        }
    }

    async fn drain(&mut self) -> Option<Handoff> {
        let mut handoff = None;
        while let Some(a) = self.interp.poll_action() {
            match a {
                Action::Play {
                    playback, prompts, ..
                } => {
                    self.play(&prompts).await;
                    self.playing = Some(Playing::Flow { id: playback });
                }
                Action::StopPlayback(id) => {
                    if matches!(self.playing, Some(Playing::Flow { id: p, .. }) if p == id) {
                        self.playing = None;
                        self.silence().await;
                    }
                }
                Action::Fetch(req) => self.fetch(req),
                Action::CancelFetch(id) => {
                    if let Some(t) = self.fetches.remove(&id) {
                        t.abort();
                    }
                }
                Action::Enqueue(e) => handoff = Some(Handoff::Enqueue(e)),
                Action::Transfer(d) => handoff = Some(Handoff::Transfer(d)),
                Action::HangUp => handoff = Some(Handoff::HangUp),
                Action::Log(event) => self.log.record(EventKind::Ivr { event }),
            }
        }
        if handoff.is_some() {
            for (_, t) in self.fetches.drain() {
                t.abort();
            }
        }
        handoff
    }

    /// Plays the prompts back to back (shared audio, no copy per call).
    async fn play(&self, names: &[String]) {
        let mut parts = Vec::with_capacity(names.len());
        for n in names {
            match self.prompts.get(n) {
                Some(p) => parts.push(p.samples),
                None => warn!(prompt = %n, "IVR prompt missing: skipped"),
            }
        }
        self.media.play_parts(parts, false).await;
    }

    /// Stops a playback without a "finished" report (barge-in).
    async fn silence(&self) {
        self.media.stop().await;
    }

    fn fetch(&mut self, req: FetchRequest) {
        let tx = self.fetch_tx.clone();
        let id = req.request;
        let Some(http) = self.http.as_ref() else {
            // No client: the flow takes its on_error branch.
            let _ = tx.try_send(Box::new((id, Err("no HTTP client".into()))));
            return;
        };
        let url = rewrite_url(&self.rewrite, &req.url);
        let method = match req.method {
            HttpMethod::Get => reqwest::Method::GET,
            HttpMethod::Post => reqwest::Method::POST,
        };
        let mut b = http.request(method, &url).timeout(req.timeout);
        for (k, v) in &req.headers {
            b = b.header(k.as_str(), v.as_str());
        }
        if let Some(body) = req.body.clone() {
            b = b.body(body);
        }
        let task = tokio::spawn(async move {
            let result = match b.send().await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    match resp.text().await {
                        Ok(body) => Ok(HttpReply { status, body }),
                        Err(e) => Err(e.to_string()),
                    }
                }
                Err(e) => Err(e.to_string()),
            };
            let _ = tx.send(Box::new((id, result))).await;
        });
        self.fetches.insert(id, task);
    }
}

/// Applies the first `[ivr.http_rewrite]` prefix that matches.
fn rewrite_url(rules: &BTreeMap<String, String>, url: &str) -> String {
    rules
        .iter()
        .find_map(|(from, to)| {
            url.strip_prefix(from.as_str())
                .map(|rest| format!("{to}{rest}"))
        })
        .unwrap_or_else(|| url.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrite_keeps_the_rest_of_the_url() {
        let rules = BTreeMap::from([(
            "http://127.0.0.1:8089".to_owned(),
            "http://127.0.0.1:9999".to_owned(),
        )]);
        assert_eq!(
            rewrite_url(&rules, "http://127.0.0.1:8089/v1/processos?cpf=1"),
            "http://127.0.0.1:9999/v1/processos?cpf=1"
        );
        assert_eq!(rewrite_url(&rules, "https://x/y"), "https://x/y");
    }
}
