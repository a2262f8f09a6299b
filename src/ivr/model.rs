//! A compiled, validated, immutable set of flows: what the interpreter walks.
//!
//! Names are resolved into indices, durations into `Duration`s, schedules and time zones
//! compiled, so interpreting a step never parses or looks anything up by string. The server
//! shares one `FlowSet` behind an `Arc`; a reload builds a new one (new calls take it, calls
//! in progress keep theirs). Built by `compile`, judged by `check`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use jiff::tz::TimeZone;

use super::format::{HttpMethod, SayKind, Validation};
use super::io::Destination;
use crate::schedule::Schedule;

pub type FlowId = usize;
pub type NodeId = usize;

/// A node anywhere in the set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NodeRef {
    pub flow: FlowId,
    pub node: NodeId,
}

#[derive(Debug, Clone)]
pub struct FlowSet {
    pub(crate) flows: Vec<Flow>,
    pub(crate) by_name: HashMap<String, FlowId>,
    pub(crate) routes: Vec<Route>,
    pub(crate) default_flow: FlowId,
    pub(crate) fallback_queue: String,
    /// `entry.yaml` names the fallback queue (otherwise it is the default, `geral`).
    pub(crate) fallback_queue_named: bool,
    pub(crate) entry_file: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct Flow {
    pub name: String,
    pub file: PathBuf,
    pub start: NodeId,
    pub tz: TimeZone,
    pub nodes: Vec<Node>,
    pub(crate) by_name: HashMap<String, NodeId>,
}

#[derive(Debug, Clone)]
pub struct Node {
    pub name: String,
    pub line: u64,
    pub kind: NodeKind,
}

#[derive(Debug, Clone)]
pub struct Route {
    pub name: String,
    pub line: u64,
    pub did: Vec<String>,
    pub ani_prefix: Vec<String>,
    pub flow: FlowId,
    pub priority_boost: i32,
    pub variables: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub enum NodeKind {
    Play {
        prompts: Vec<String>,
        barge_in: bool,
        next: NodeId,
    },
    Menu(Box<Menu>),
    Collect(Box<Collect>),
    Say {
        what: SayKind,
        value: String,
        before: Vec<String>,
        after: Vec<String>,
        barge_in: bool,
        next: NodeId,
    },
    Set {
        values: Vec<(String, String)>,
        next: NodeId,
    },
    Branch {
        cases: Vec<(Condition, NodeId)>,
        default: NodeId,
    },
    Schedule {
        name: String,
        schedule: Arc<Schedule>,
        open: NodeId,
        closed: NodeId,
        holiday: NodeId,
    },
    Http(Box<Http>),
    Queue {
        queue: String,
        priority: i32,
        skills: Vec<String>,
        screen_pop: Option<Vec<String>>,
    },
    Transfer(Destination),
    Hangup,
    Goto(NodeRef),
    Call {
        flow: FlowId,
        next: NodeId,
    },
    Return,
}

#[derive(Debug, Clone)]
pub struct Menu {
    pub prompts: Vec<String>,
    /// Keys → node, sorted by keys.
    pub options: Vec<(String, NodeId)>,
    pub first_digit: Duration,
    pub inter_digit: Duration,
    pub retries: u32,
    pub invalid_prompts: Vec<String>,
    pub timeout_prompts: Vec<String>,
    pub on_failure: NodeId,
    pub human_exemption: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Collect {
    pub prompts: Vec<String>,
    pub variable: String,
    pub min_digits: usize,
    pub max_digits: usize,
    pub terminator: Option<char>,
    pub validate: Validation,
    pub first_digit: Duration,
    pub inter_digit: Duration,
    pub retries: u32,
    pub invalid_prompts: Vec<String>,
    pub timeout_prompts: Vec<String>,
    /// Read-back: prompts before and after the digits.
    pub confirm: Option<(Vec<String>, Vec<String>)>,
    pub next: NodeId,
    pub on_failure: NodeId,
}

#[derive(Debug, Clone)]
pub struct Http {
    pub method: HttpMethod,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    pub timeout: Duration,
    /// Variable ← JSON pointer.
    pub fields: Vec<(String, String)>,
    pub next: NodeId,
    pub on_error: NodeId,
}

/// A compiled `when:`; every test present must hold.
#[derive(Debug, Clone, Default)]
pub struct Condition {
    pub var: Option<String>,
    pub equals: Option<String>,
    pub not_equals: Option<String>,
    pub one_of: Option<Vec<String>>,
    pub starts_with: Option<String>,
    pub is_set: Option<bool>,
    pub weekdays: Option<Vec<jiff::civil::Weekday>>,
    /// Minutes of the local day, end excluded.
    pub between: Option<(u16, u16)>,
}

impl NodeKind {
    /// The `type:` word, for logs.
    pub fn name(&self) -> &'static str {
        match self {
            NodeKind::Play { .. } => "play",
            NodeKind::Menu(_) => "menu",
            NodeKind::Collect(_) => "collect",
            NodeKind::Say { .. } => "say",
            NodeKind::Set { .. } => "set",
            NodeKind::Branch { .. } => "branch",
            NodeKind::Schedule { .. } => "schedule",
            NodeKind::Http(_) => "http",
            NodeKind::Queue { .. } => "queue",
            NodeKind::Transfer(_) => "transfer",
            NodeKind::Hangup => "hangup",
            NodeKind::Goto(_) => "goto",
            NodeKind::Call { .. } => "call",
            NodeKind::Return => "return",
        }
    }

    /// Where a call can go next from this node, within the same flow or beyond.
    /// A `call` leads into the sub-flow and, once it returns, to `next`.
    pub fn successors(&self, flow: FlowId, set: &FlowSet) -> Vec<NodeRef> {
        let here = |node| NodeRef { flow, node };
        match self {
            NodeKind::Play { next, .. }
            | NodeKind::Say { next, .. }
            | NodeKind::Set { next, .. } => vec![here(*next)],
            NodeKind::Menu(m) => m
                .options
                .iter()
                .map(|(_, t)| here(*t))
                .chain([here(m.on_failure)])
                .collect(),
            NodeKind::Collect(c) => vec![here(c.next), here(c.on_failure)],
            NodeKind::Branch { cases, default } => cases
                .iter()
                .map(|(_, t)| here(*t))
                .chain([here(*default)])
                .collect(),
            NodeKind::Schedule {
                open,
                closed,
                holiday,
                ..
            } => vec![here(*open), here(*closed), here(*holiday)],
            NodeKind::Http(h) => vec![here(h.next), here(h.on_error)],
            NodeKind::Goto(r) => vec![*r],
            NodeKind::Call { flow: sub, next } => {
                let mut v = vec![here(*next)];
                if let Some(f) = set.flows.get(*sub) {
                    v.push(NodeRef {
                        flow: *sub,
                        node: f.start,
                    });
                }
                v
            }
            NodeKind::Queue { .. }
            | NodeKind::Transfer(_)
            | NodeKind::Hangup
            | NodeKind::Return => Vec::new(),
        }
    }
}

impl Flow {
    pub fn node_id(&self, name: &str) -> Option<NodeId> {
        self.by_name.get(name).copied()
    }
}

impl FlowSet {
    pub fn flows(&self) -> &[Flow] {
        &self.flows
    }

    pub fn flow(&self, id: FlowId) -> &Flow {
        &self.flows[id]
    }

    pub fn flow_id(&self, name: &str) -> Option<FlowId> {
        self.by_name.get(name).copied()
    }

    pub fn node(&self, r: NodeRef) -> &Node {
        &self.flows[r.flow].nodes[r.node]
    }

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    pub fn fallback_queue(&self) -> &str {
        &self.fallback_queue
    }

    /// The `entry.yaml` the set was loaded with, if any.
    pub fn entry_file(&self) -> Option<&std::path::Path> {
        self.entry_file.as_deref()
    }

    pub fn default_flow(&self) -> FlowId {
        self.default_flow
    }

    /// The entry rule that answers a call: the first whose conditions all hold, or `None`
    /// for the default flow.
    pub fn route(&self, ani: &str, did: &str) -> Option<&Route> {
        self.routes.iter().find(|r| {
            (r.did.is_empty() || r.did.iter().any(|d| d == did))
                && (r.ani_prefix.is_empty() || r.ani_prefix.iter().any(|p| ani.starts_with(p)))
        })
    }

    /// Every prompt any node may play (the `say` fragments excluded), sorted: what prompt
    /// management must refuse to delete.
    pub fn prompts(&self) -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        for flow in &self.flows {
            for node in &flow.nodes {
                v.extend(node.kind.prompts().into_iter().cloned());
            }
        }
        v.sort();
        v.dedup();
        v
    }
}

impl NodeKind {
    /// The prompts named in this node.
    pub fn prompts(&self) -> Vec<&String> {
        match self {
            NodeKind::Play { prompts, .. } => prompts.iter().collect(),
            NodeKind::Menu(m) => m
                .prompts
                .iter()
                .chain(&m.invalid_prompts)
                .chain(&m.timeout_prompts)
                .collect(),
            NodeKind::Collect(c) => {
                let mut v: Vec<&String> = c
                    .prompts
                    .iter()
                    .chain(&c.invalid_prompts)
                    .chain(&c.timeout_prompts)
                    .collect();
                if let Some((before, after)) = &c.confirm {
                    v.extend(before.iter().chain(after));
                }
                v
            }
            NodeKind::Say { before, after, .. } => before.iter().chain(after).collect(),
            _ => Vec::new(),
        }
    }
}
