//! The simulator: a make-believe shell that runs the real interpreter on a simulated clock.
//!
//! Prompts "play" for their WAV duration (or an assumed one), the caller presses each
//! group of keys from the script a second after the IVR starts waiting for keys (one key
//! every 300 ms), HTTP answers come from a fixture file. Used by `atende ivr simulate`,
//! tests and the benchmark; no SIP, no media, no network. This is a shell, so it may read
//! files (WAV headers, fixtures); the clock it runs is invented.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Deserialize;
use thiserror::Error;

use super::format::HttpMethod;
use super::interp::Interpreter;
use super::io::{Action, CallInfo, HttpReply, Input, IvrEvent, Outcome, PlaybackId, RequestId};

/// Duration assumed for a prompt whose file is missing.
pub const ASSUMED_PROMPT: Duration = Duration::from_millis(1500);
/// The caller reacts this long after the IVR starts waiting for keys.
const REACTION: Duration = Duration::from_secs(1);
const KEY_GAP: Duration = Duration::from_millis(300);
/// A simulated call longer than this is stopped (a flow that never ends).
const MAX_CALL: Duration = Duration::from_secs(3600);

#[derive(Debug, Error)]
pub enum SimError {
    #[error("{path}: cannot read the HTTP fixture: {source}")]
    FixtureIo {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    FixtureYaml { path: PathBuf, message: String },
}

/// Canned answers for `http` nodes: the first rule whose `match` occurs in the URL answers.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpFixture {
    pub rules: Vec<FixtureRule>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureRule {
    /// A piece of the URL.
    #[serde(rename = "match")]
    pub url_contains: String,
    #[serde(default = "ok_status")]
    pub status: u16,
    /// The answer's body as JSON (YAML mapping in the fixture)…
    #[serde(default)]
    pub json: Option<serde_json::Value>,
    /// … or as raw text.
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub delay_ms: u64,
    /// Never answer (to see the timeout path).
    #[serde(default)]
    pub no_answer: bool,
    /// Fail the request with this error (connection refused, …).
    #[serde(default)]
    pub error: Option<String>,
}

fn ok_status() -> u16 {
    200
}

impl HttpFixture {
    pub fn load(path: &Path) -> Result<HttpFixture, SimError> {
        let text = std::fs::read_to_string(path).map_err(|source| SimError::FixtureIo {
            path: path.to_owned(),
            source,
        })?;
        serde_saphyr::from_str(&text).map_err(|e| SimError::FixtureYaml {
            path: path.to_owned(),
            message: e.to_string(),
        })
    }

    /// The answer to `url` and when it comes, or `None` for no answer at all.
    fn answer(&self, url: &str) -> Option<(Duration, Result<HttpReply, String>)> {
        let Some(rule) = self.rules.iter().find(|r| url.contains(&r.url_contains)) else {
            return Some((
                Duration::ZERO,
                Err("connection refused (no fixture)".into()),
            ));
        };
        if rule.no_answer {
            return None;
        }
        let delay = Duration::from_millis(rule.delay_ms);
        if let Some(e) = &rule.error {
            return Some((delay, Err(e.clone())));
        }
        let body = match (&rule.json, &rule.body) {
            (Some(j), _) => j.to_string(),
            (None, Some(b)) => b.clone(),
            (None, None) => String::new(),
        };
        Some((
            delay,
            Ok(HttpReply {
                status: rule.status,
                body,
            }),
        ))
    }
}

/// Prompt durations read from WAV headers under a prompts directory, cached.
#[derive(Debug)]
pub struct WavDurations {
    dir: PathBuf,
    cache: HashMap<String, Duration>,
}

impl WavDurations {
    pub fn new(dir: &Path) -> Self {
        WavDurations {
            dir: dir.to_owned(),
            cache: HashMap::new(),
        }
    }

    pub fn duration(&mut self, prompt: &str) -> Duration {
        if let Some(d) = self.cache.get(prompt) {
            return *d;
        }
        let path = self.dir.join(format!("{prompt}.wav"));
        let d = hound::WavReader::open(&path)
            .ok()
            .and_then(|r| {
                let rate = r.spec().sample_rate;
                (rate > 0)
                    .then(|| Duration::from_secs_f64(f64::from(r.duration()) / f64::from(rate)))
            })
            .unwrap_or(ASSUMED_PROMPT);
        self.cache.insert(prompt.to_owned(), d);
        d
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Due {
    PromptDone(PlaybackId),
    Http(RequestId),
    Key(char),
}

/// What a simulated call did.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Time since the call started, and what happened.
    pub lines: Vec<(Duration, String)>,
    /// Nodes entered, as `flow/node`.
    pub path: Vec<String>,
    /// Every playback, prompt names in order.
    pub prompts: Vec<Vec<String>>,
    pub outcome: Option<Outcome>,
    pub elapsed: Duration,
    /// Inputs fed to the interpreter (the benchmark's unit).
    pub steps: u64,
    /// Key groups of the script never pressed.
    pub unused_keys: Vec<String>,
}

impl Report {
    /// The human-readable transcript `atende ivr simulate` prints.
    pub fn transcript(&self) -> String {
        let mut out = String::new();
        for (at, line) in &self.lines {
            let s = at.as_secs_f64();
            out.push_str(&format!(
                "[{:02}:{:04.1}] {line}\n",
                (s / 60.0) as u64,
                s % 60.0
            ));
        }
        out.push_str(&format!("path: {}\n", self.path.join(" → ")));
        match &self.outcome {
            Some(o) => out.push_str(&format!("outcome: {}\n", describe(o))),
            None => out.push_str(
                "outcome: none (the call was still in the IVR when the simulation stopped)\n",
            ),
        }
        if !self.unused_keys.is_empty() {
            out.push_str(&format!(
                "keys never pressed: {}\n",
                self.unused_keys.join(",")
            ));
        }
        out
    }
}

fn describe(o: &Outcome) -> String {
    match o {
        Outcome::Queued { queue } => format!("queued to `{queue}`"),
        Outcome::Transferred { to } => format!("transferred to {to:?}"),
        Outcome::ServedByIvr => "served by the IVR (hung up)".into(),
        Outcome::Abandoned => "caller hung up in the IVR".into(),
    }
}

/// Runs one call. `presses`: groups of keys, each pressed when the IVR next waits for keys
/// (`""` stays silent once); `durations`: how long each prompt plays.
pub fn run(
    mut ivr: Interpreter,
    call: CallInfo,
    presses: &[String],
    fixture: &HttpFixture,
    durations: &mut dyn FnMut(&str) -> Duration,
) -> Report {
    let t0 = Instant::now(); // the origin of the invented clock; only differences matter
    let mut now = t0;
    let mut report = Report::default();
    let mut due: Vec<(Instant, Due)> = Vec::new();
    let mut http: HashMap<RequestId, Result<HttpReply, String>> = HashMap::new();
    let mut presses = presses.iter();
    let mut plays = 0u32;
    let mut served_episode = u32::MAX;
    ivr.handle(now, Input::CallStarted(call));
    report.steps += 1;
    loop {
        while let Some(a) = ivr.poll_action() {
            let at = now - t0;
            match a {
                Action::Play {
                    playback, prompts, ..
                } => {
                    plays += 1;
                    let total: Duration = prompts.iter().map(|p| durations(p)).sum();
                    due.push((now + total, Due::PromptDone(playback)));
                    report.lines.push((
                        at,
                        format!(
                            "  play {} ({:.1} s)",
                            prompts.join(" "),
                            total.as_secs_f64()
                        ),
                    ));
                    report.prompts.push(prompts);
                }
                Action::StopPlayback(p) => {
                    due.retain(|(_, d)| *d != Due::PromptDone(p));
                    report
                        .lines
                        .push((at, "  playback stopped by a key".into()));
                }
                Action::Fetch(f) => {
                    report.lines.push((
                        at,
                        format!(
                            "  {} {} (timeout {:?})",
                            match f.method {
                                HttpMethod::Get => "GET",
                                HttpMethod::Post => "POST",
                            },
                            f.url,
                            f.timeout
                        ),
                    ));
                    if let Some((delay, result)) = fixture.answer(&f.url) {
                        http.insert(f.request, result);
                        due.push((now + delay, Due::Http(f.request)));
                    }
                }
                Action::CancelFetch(r) => {
                    due.retain(|(_, d)| *d != Due::Http(r));
                }
                Action::Enqueue(e) => report.lines.push((
                    at,
                    format!(
                        "  enqueue `{}` priority {} skills [{}] screen-pop {:?}",
                        e.queue,
                        e.priority,
                        e.skills.join(", "),
                        e.variables
                    ),
                )),
                Action::Transfer(d) => report.lines.push((at, format!("  transfer to {d:?}"))),
                Action::HangUp => report.lines.push((at, "  hang up".into())),
                Action::Log(e) => log_line(&mut report, at, e),
            }
        }
        if ivr.is_finished() || now - t0 > MAX_CALL {
            break;
        }
        if ivr.awaiting_keys() && served_episode != plays {
            served_episode = plays;
            if let Some(group) = presses.next() {
                for (i, k) in group.chars().enumerate() {
                    due.push((now + REACTION + KEY_GAP * i as u32, Due::Key(k)));
                }
            }
        }
        let next_due = due.iter().map(|(t, _)| *t).min();
        let next = match (next_due, ivr.next_timeout()) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => break,
        };
        now = now.max(next);
        report.steps += 1;
        // Events already due go first; a timer due at the same instant as a key loses.
        if let Some(i) = due.iter().position(|(t, _)| *t <= now) {
            let (_, d) = due.remove(i);
            match d {
                Due::PromptDone(p) => ivr.handle(now, Input::PromptFinished(p)),
                Due::Key(k) => {
                    report.lines.push((now - t0, format!("caller presses {k}")));
                    ivr.handle(now, Input::Digit(k))
                }
                Due::Http(r) => {
                    let result = http.remove(&r).unwrap_or_else(|| Err("no answer".into()));
                    ivr.handle(now, Input::HttpResult { request: r, result })
                }
            }
        } else {
            ivr.handle_timeout(now);
        }
    }
    report.outcome = ivr.outcome().cloned();
    report.elapsed = now - t0;
    report.unused_keys = presses.cloned().collect();
    report
}

fn log_line(report: &mut Report, at: Duration, e: IvrEvent) {
    let line = match e {
        IvrEvent::NodeEntered { flow, node, kind } => {
            report.path.push(format!("{flow}/{node}"));
            format!("{flow}/{node} ({kind})")
        }
        IvrEvent::FlowStarted { flow, route } => format!("flow `{flow}` (entry rule: {route})"),
        IvrEvent::OptionChosen { digits, target, .. } => format!("  option {digits} → {target}"),
        IvrEvent::Timeout { attempt, .. } => format!("  no key (attempt {attempt})"),
        IvrEvent::InvalidInput {
            attempt, digits, ..
        } => format!(
            "  invalid entry{} (attempt {attempt})",
            digits.map(|d| format!(" {d}")).unwrap_or_default()
        ),
        IvrEvent::LastFailure { target, .. } => format!("  last attempt failed → {target}"),
        IvrEvent::Collected {
            variable, length, ..
        } => format!("  {variable} collected ({length} digits)"),
        IvrEvent::EntryRejected { .. } => "  caller asked to type again".into(),
        IvrEvent::BranchTaken { case, target, .. } => match case {
            Some(i) => format!("  case {} → {target}", i + 1),
            None => format!("  default → {target}"),
        },
        IvrEvent::ScheduleChecked {
            open,
            holiday,
            target,
            ..
        } => format!(
            "  {} → {target}",
            if open {
                "open"
            } else if holiday {
                "holiday"
            } else {
                "closed"
            }
        ),
        IvrEvent::HttpAnswered { status, .. } => format!("  answered {status}"),
        IvrEvent::HttpFailed { reason, .. } => format!("  request failed: {reason} → on_error"),
        IvrEvent::SubflowCalled { flow } => format!("  call sub-flow `{flow}`"),
        IvrEvent::SubflowReturned { flow } => format!("  return from `{flow}`"),
        IvrEvent::FlowError { problem, .. } => format!("  FLOW ERROR: {problem}"),
        IvrEvent::HungUpIn { node, .. } => format!("caller hangs up in {node}"),
        IvrEvent::Finished { outcome } => format!("end: {}", describe(&outcome)),
        IvrEvent::Played { .. } | IvrEvent::BargedIn { .. } | IvrEvent::HttpRequested { .. } => {
            return;
        }
    };
    report.lines.push((at, line));
}
