//! The IVR interpreter for one call, pure (sans-IO): inputs in, actions out.
//!
//! The shell feeds `handle(now, input)` (call started, key, playback finished, HTTP answer,
//! hang-up) and `handle_timeout(now)` when `next_timeout()` passes, then drains
//! `poll_action()` (play, stop, fetch, enqueue, transfer, hang up, log). `now` is the
//! shell's monotonic clock; the wall clock is given once in `CallStarted` and derived from
//! `now` afterwards. Nothing here reads a clock, touches IO or knows SIP, media or storage.
//!
//! ```text
//!  CallStarted ─▶ route (DID, A-number) ─▶ start node ─┐
//!        ┌──────────────────────────────────────────────┘
//!        ▼  set / branch / schedule / goto / call / return: instant, no waiting
//!   ┌─ play, say ───── finished or barge-in key ─▶ next
//!   ├─ menu, collect ─ keys, timeouts, retries ──▶ option / next / on_failure
//!   ├─ http ────────── answer / error / timeout ─▶ next / on_error
//!   └─ queue, transfer, hangup, caller hangs up ─▶ Done (one `Finished` outcome)
//! ```
//! Menu and collect handling live in `keys`.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use jiff::{SignedDuration, Timestamp};

use super::condition;
use super::io::{
    Action, CallInfo, Enqueue, FetchRequest, Input, IvrEvent, Outcome, PlaybackId, RequestId,
};
use super::model::{FlowSet, NodeId, NodeKind, NodeRef};
use super::say;
use super::template::{expand, expand_escaped, json_escape, url_escape};

/// Nodes entered in a row without waiting for anything: beyond this the flow is looping
/// (say a `goto` cycle through `set`s) and the call goes to the fallback queue.
const MAX_HOPS: u32 = 1000;
/// Keys kept for the next menu after a barge-in or during an HTTP request.
const MAX_TYPEAHEAD: usize = 32;

/// What the interpreter waits for.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Wait {
    NotStarted,
    /// A `play` or `say` node's playback.
    Playing {
        playback: PlaybackId,
        barge_in: bool,
        next: NodeId,
    },
    Menu {
        attempt: u32,
        playback: Option<PlaybackId>,
        keys: String,
    },
    Collect {
        attempt: u32,
        playback: Option<PlaybackId>,
        digits: String,
        /// Reading the entry back, waiting for 1 (confirm) or 2 (type again).
        confirming: bool,
    },
    Fetch {
        request: RequestId,
    },
    Done,
}

#[derive(Debug)]
pub struct Interpreter {
    pub(super) set: Arc<FlowSet>,
    forced_flow: Option<usize>,
    /// Where a forced flow starts instead of its first node (a queue handing back).
    forced_node: Option<NodeId>,
    /// The route name the `FlowStarted` event gives for a forced start.
    forced_route: &'static str,
    pub(super) pos: NodeRef,
    /// Return points of the sub-flows being run.
    stack: Vec<NodeRef>,
    pub(super) vars: BTreeMap<String, String>,
    priority_boost: i32,
    started: Option<(Instant, Timestamp)>,
    pub(super) wait: Wait,
    pub(super) timer: Option<Instant>,
    pub(super) typeahead: VecDeque<char>,
    next_playback: u32,
    next_request: u32,
    actions: VecDeque<Action>,
    outcome: Option<Outcome>,
}

impl Interpreter {
    /// An interpreter for a new call; the flow is chosen at `CallStarted` by the entry rules.
    pub fn new(set: Arc<FlowSet>) -> Self {
        let pos = NodeRef {
            flow: set.default_flow(),
            node: 0,
        };
        Interpreter {
            set,
            forced_flow: None,
            forced_node: None,
            forced_route: "forced",
            pos,
            stack: Vec::new(),
            vars: BTreeMap::new(),
            priority_boost: 0,
            started: None,
            wait: Wait::NotStarted,
            timer: None,
            typeahead: VecDeque::new(),
            next_playback: 0,
            next_request: 0,
            actions: VecDeque::new(),
            outcome: None,
        }
    }

    /// An interpreter that starts in the named flow whatever the entry rules say (the
    /// simulator, tests); `None` if no such flow.
    pub fn with_flow(set: Arc<FlowSet>, flow: &str) -> Option<Self> {
        let id = set.flow_id(flow)?;
        let mut i = Interpreter::new(set);
        i.forced_flow = Some(id);
        Some(i)
    }

    /// An interpreter that starts at `target` (`flow` or `flow/node`) with the call's
    /// variables from before: a queue handing its call back to the IVR. `None` if the
    /// current set has no such flow or node.
    pub fn resume_at(
        set: Arc<FlowSet>,
        target: &str,
        vars: BTreeMap<String, String>,
    ) -> Option<Self> {
        let (flow, node) = match target.split_once('/') {
            Some((f, n)) => (f, Some(n)),
            None => (target, None),
        };
        let id = set.flow_id(flow)?;
        let node = match node {
            Some(n) => Some(set.flow(id).node_id(n)?),
            None => None,
        };
        let mut i = Interpreter::new(set);
        i.forced_flow = Some(id);
        i.forced_node = node;
        i.forced_route = "queue";
        i.vars = vars;
        Some(i)
    }

    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When to call `handle_timeout` (digit timeouts, HTTP timeouts).
    pub fn next_timeout(&self) -> Option<Instant> {
        self.timer
    }

    pub fn is_finished(&self) -> bool {
        self.wait == Wait::Done
    }

    pub fn outcome(&self) -> Option<&Outcome> {
        self.outcome.as_ref()
    }

    pub fn variables(&self) -> &BTreeMap<String, String> {
        &self.vars
    }

    /// Flow and node the call is in.
    pub fn position(&self) -> (&str, &str) {
        let Some(flow) = self.set.flows().get(self.pos.flow) else {
            return ("", "");
        };
        let node = flow
            .nodes
            .get(self.pos.node)
            .map_or("", |n| n.name.as_str());
        (&flow.name, node)
    }

    /// Whether the call waits for keys with no prompt playing (the simulator presses then).
    pub fn awaiting_keys(&self) -> bool {
        matches!(
            self.wait,
            Wait::Menu { playback: None, .. } | Wait::Collect { playback: None, .. }
        )
    }

    pub fn handle(&mut self, now: Instant, input: Input) {
        match input {
            Input::CallStarted(call) => self.start(now, call),
            Input::Digit(d) => self.digit(now, d),
            Input::PromptFinished(p) => self.prompt_finished(now, p),
            Input::HttpResult { request, result } => self.http_result(now, request, result),
            Input::HungUp => self.hung_up(),
        }
        self.drain_typeahead(now);
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        match self.timer {
            Some(at) if at <= now => {
                self.timer = None;
                self.timer_fired(now);
                self.drain_typeahead(now);
            }
            _ => {}
        }
    }

    pub(super) fn emit(&mut self, a: Action) {
        self.actions.push_back(a);
    }

    pub(super) fn log(&mut self, e: IvrEvent) {
        self.actions.push_back(Action::Log(e));
    }

    pub(super) fn node_name(&self) -> String {
        self.position().1.to_owned()
    }

    pub(super) fn name_of(&self, node: NodeId) -> String {
        self.set
            .flows()
            .get(self.pos.flow)
            .and_then(|f| f.nodes.get(node))
            .map_or_else(String::new, |n| n.name.clone())
    }

    /// Wall-clock time at `now`.
    pub(super) fn wall(&self, now: Instant) -> Timestamp {
        match self.started {
            Some((mono, wall)) => {
                let elapsed = SignedDuration::try_from(now.saturating_duration_since(mono))
                    .unwrap_or(SignedDuration::ZERO);
                wall.saturating_add(elapsed).unwrap_or(wall)
            }
            None => Timestamp::UNIX_EPOCH,
        }
    }

    pub(super) fn play(&mut self, prompts: Vec<String>, barge_in: bool) -> PlaybackId {
        self.next_playback += 1;
        let playback = PlaybackId(self.next_playback);
        let node = self.node_name();
        self.log(IvrEvent::Played {
            node,
            prompts: prompts.clone(),
        });
        self.emit(Action::Play {
            playback,
            prompts,
            barge_in,
        });
        playback
    }

    fn start(&mut self, now: Instant, call: CallInfo) {
        if self.wait != Wait::NotStarted {
            return;
        }
        self.started = Some((now, call.wall));
        let set = self.set.clone();
        let (flow, route) = match self.forced_flow {
            Some(f) => (f, self.forced_route.to_owned()),
            None => match set.route(&call.ani, &call.did) {
                Some(r) => {
                    self.priority_boost = r.priority_boost;
                    self.vars.extend(r.variables.iter().cloned());
                    (r.flow, r.name.clone())
                }
                None => (set.default_flow(), "default".to_owned()),
            },
        };
        self.vars.insert("ani".into(), call.ani);
        self.vars.insert("did".into(), call.did);
        self.vars.insert("protocol".into(), call.protocol);
        let Some(f) = set.flows().get(flow) else {
            // An empty set can only come from a refused load; never route a call into it.
            self.fallback(now, "no flow loaded");
            return;
        };
        self.log(IvrEvent::FlowStarted {
            flow: f.name.clone(),
            route,
        });
        let node = self.forced_node.unwrap_or(f.start);
        self.enter(now, NodeRef { flow, node });
    }

    /// Continue at a node of the current flow.
    pub(super) fn go(&mut self, now: Instant, node: NodeId) {
        let flow = self.pos.flow;
        self.enter(now, NodeRef { flow, node });
    }

    /// Enters `r` and runs every node that needs no waiting until one does.
    fn enter(&mut self, now: Instant, mut r: NodeRef) {
        let set = self.set.clone();
        for _ in 0..MAX_HOPS {
            self.pos = r;
            self.timer = None;
            let flow = set.flow(r.flow);
            let Some(node) = flow.nodes.get(r.node) else {
                self.fallback(now, "node missing from its flow");
                return;
            };
            self.log(IvrEvent::NodeEntered {
                flow: flow.name.clone(),
                node: node.name.clone(),
                kind: node.kind.name().to_owned(),
            });
            match &node.kind {
                NodeKind::Play {
                    prompts,
                    barge_in,
                    next,
                } => {
                    let playback = self.play(prompts.clone(), *barge_in);
                    self.wait = Wait::Playing {
                        playback,
                        barge_in: *barge_in,
                        next: *next,
                    };
                    return;
                }
                NodeKind::Say {
                    what,
                    value,
                    before,
                    after,
                    barge_in,
                    next,
                } => {
                    let value = match what {
                        super::format::SayKind::Protocol => {
                            self.vars.get("protocol").cloned().unwrap_or_default()
                        }
                        _ => expand(value, &self.vars),
                    };
                    let local = flow.tz.to_datetime(self.wall(now));
                    match say::fragments(*what, &value, local.date(), local.time()) {
                        Ok(words) => {
                            let prompts: Vec<String> =
                                before.iter().chain(&words).chain(after).cloned().collect();
                            let playback = self.play(prompts, *barge_in);
                            self.wait = Wait::Playing {
                                playback,
                                barge_in: *barge_in,
                                next: *next,
                            };
                            return;
                        }
                        Err(e) => {
                            // Saying nothing beats dropping the call: log and go on.
                            self.log(IvrEvent::FlowError {
                                node: node.name.clone(),
                                problem: e.to_string(),
                            });
                            r.node = *next;
                        }
                    }
                }
                NodeKind::Menu(_) => {
                    self.wait = Wait::Menu {
                        attempt: 0,
                        playback: None,
                        keys: String::new(),
                    };
                    self.prompt_for_keys(now, Vec::new());
                    return;
                }
                NodeKind::Collect(_) => {
                    self.wait = Wait::Collect {
                        attempt: 0,
                        playback: None,
                        digits: String::new(),
                        confirming: false,
                    };
                    self.prompt_for_keys(now, Vec::new());
                    return;
                }
                NodeKind::Set { values, next } => {
                    for (k, v) in values {
                        let v = expand(v, &self.vars);
                        self.vars.insert(k.clone(), v);
                    }
                    r.node = *next;
                }
                NodeKind::Branch { cases, default } => {
                    let wall = self.wall(now);
                    let local = flow.tz.to_datetime(wall);
                    let hit = cases
                        .iter()
                        .position(|(c, _)| condition::holds(c, &self.vars, &local));
                    let target = hit.map_or(*default, |i| cases[i].1);
                    self.log(IvrEvent::BranchTaken {
                        node: node.name.clone(),
                        case: hit,
                        target: flow
                            .nodes
                            .get(target)
                            .map_or_else(String::new, |n| n.name.clone()),
                    });
                    r.node = target;
                }
                NodeKind::Schedule {
                    schedule,
                    open,
                    closed,
                    holiday,
                    ..
                } => {
                    let wall = self.wall(now);
                    let is_holiday = schedule.is_holiday(wall);
                    let is_open = schedule.is_open(wall);
                    let target = match (is_open, is_holiday) {
                        (true, _) => *open,
                        (false, true) => *holiday,
                        (false, false) => *closed,
                    };
                    self.log(IvrEvent::ScheduleChecked {
                        node: node.name.clone(),
                        open: is_open,
                        holiday: is_holiday,
                        target: flow
                            .nodes
                            .get(target)
                            .map_or_else(String::new, |n| n.name.clone()),
                    });
                    r.node = target;
                }
                NodeKind::Http(h) => {
                    self.next_request += 1;
                    let request = RequestId(self.next_request);
                    let fetch = FetchRequest {
                        request,
                        method: h.method,
                        url: expand_escaped(&h.url, &self.vars, url_escape),
                        headers: h
                            .headers
                            .iter()
                            .map(|(k, v)| (k.clone(), expand(v, &self.vars)))
                            .collect(),
                        body: h
                            .body
                            .as_ref()
                            .map(|b| expand_escaped(b, &self.vars, json_escape)),
                        timeout: h.timeout,
                    };
                    self.log(IvrEvent::HttpRequested {
                        node: node.name.clone(),
                        request,
                    });
                    self.emit(Action::Fetch(fetch));
                    self.wait = Wait::Fetch { request };
                    self.timer = Some(now + h.timeout);
                    return;
                }
                NodeKind::Queue {
                    queue,
                    priority,
                    skills,
                    screen_pop,
                } => {
                    let variables = match screen_pop {
                        Some(names) => names
                            .iter()
                            .filter_map(|n| self.vars.get(n).map(|v| (n.clone(), v.clone())))
                            .collect(),
                        None => self.vars.clone(),
                    };
                    self.enqueue(queue.clone(), *priority, skills.clone(), variables);
                    return;
                }
                NodeKind::Transfer(to) => {
                    self.emit(Action::Transfer(to.clone()));
                    self.finish(Outcome::Transferred { to: to.clone() });
                    return;
                }
                NodeKind::Hangup => {
                    self.emit(Action::HangUp);
                    self.finish(Outcome::ServedByIvr);
                    return;
                }
                NodeKind::Goto(to) => r = *to,
                NodeKind::Call { flow: sub, next } => {
                    self.stack.push(NodeRef {
                        flow: r.flow,
                        node: *next,
                    });
                    let sub_flow = set.flow(*sub);
                    self.log(IvrEvent::SubflowCalled {
                        flow: sub_flow.name.clone(),
                    });
                    r = NodeRef {
                        flow: *sub,
                        node: sub_flow.start,
                    };
                }
                NodeKind::Return => match self.stack.pop() {
                    Some(back) => {
                        self.log(IvrEvent::SubflowReturned {
                            flow: flow.name.clone(),
                        });
                        r = back;
                    }
                    None => {
                        // `return` in the top flow: nothing to return to, the IVR is done.
                        self.emit(Action::HangUp);
                        self.finish(Outcome::ServedByIvr);
                        return;
                    }
                },
            }
        }
        self.fallback(
            now,
            "more than 1000 nodes in a row without waiting for the caller",
        );
    }

    fn enqueue(
        &mut self,
        queue: String,
        priority: i32,
        skills: Vec<String>,
        variables: BTreeMap<String, String>,
    ) {
        self.emit(Action::Enqueue(Enqueue {
            queue: queue.clone(),
            priority: priority.saturating_add(self.priority_boost),
            skills,
            variables,
        }));
        self.finish(Outcome::Queued { queue });
    }

    /// The flow cannot go on: a human takes the call.
    fn fallback(&mut self, _now: Instant, problem: &str) {
        let node = self.node_name();
        self.log(IvrEvent::FlowError {
            node,
            problem: problem.to_owned(),
        });
        let queue = self.set.fallback_queue().to_owned();
        let vars = self.vars.clone();
        self.enqueue(queue, 0, Vec::new(), vars);
    }

    pub(super) fn finish(&mut self, outcome: Outcome) {
        self.wait = Wait::Done;
        self.timer = None;
        self.typeahead.clear();
        self.log(IvrEvent::Finished {
            outcome: outcome.clone(),
        });
        self.outcome = Some(outcome);
    }

    fn digit(&mut self, now: Instant, d: char) {
        match self.wait.clone() {
            Wait::Playing {
                playback,
                barge_in: true,
                next,
            } => {
                self.emit(Action::StopPlayback(playback));
                let node = self.node_name();
                self.log(IvrEvent::BargedIn { node });
                self.push_typeahead(d);
                self.go(now, next);
            }
            Wait::Menu { .. } => self.menu_key(now, d),
            Wait::Collect { .. } => self.collect_key(now, d),
            Wait::Fetch { .. } => self.push_typeahead(d),
            // Prompts without barge-in (legal notices) cannot be skipped.
            Wait::Playing { .. } | Wait::NotStarted | Wait::Done => {}
        }
    }

    fn push_typeahead(&mut self, d: char) {
        if self.typeahead.len() < MAX_TYPEAHEAD {
            self.typeahead.push_back(d);
        }
    }

    fn drain_typeahead(&mut self, now: Instant) {
        while matches!(self.wait, Wait::Menu { .. } | Wait::Collect { .. }) {
            let Some(d) = self.typeahead.pop_front() else {
                return;
            };
            self.digit(now, d);
        }
    }

    fn prompt_finished(&mut self, now: Instant, p: PlaybackId) {
        match self.wait.clone() {
            Wait::Playing { playback, next, .. } if playback == p => self.go(now, next),
            Wait::Menu { playback, .. } | Wait::Collect { playback, .. } if playback == Some(p) => {
                self.keys_prompt_finished(now)
            }
            _ => {}
        }
    }

    fn timer_fired(&mut self, now: Instant) {
        match self.wait.clone() {
            Wait::Menu { .. } => self.menu_timer(now),
            Wait::Collect { .. } => self.collect_timer(now),
            Wait::Fetch { request } => {
                self.emit(Action::CancelFetch(request));
                self.http_failed(now, "timeout".to_owned());
            }
            _ => {}
        }
    }

    fn hung_up(&mut self) {
        if matches!(self.wait, Wait::Done | Wait::NotStarted) {
            return;
        }
        if let Wait::Fetch { request } = self.wait {
            self.emit(Action::CancelFetch(request));
        }
        let (flow, node) = self.position();
        let (flow, node) = (flow.to_owned(), node.to_owned());
        self.log(IvrEvent::HungUpIn { flow, node });
        self.finish(Outcome::Abandoned);
    }
}
