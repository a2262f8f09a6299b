//! From YAML text to a `FlowSet`: parsing, name resolution, schedules and time zones.
//!
//! Collects every problem it can instead of stopping at the first, each with its file,
//! line and node. A flow whose file does not parse is left out (references to it are not
//! reported again). The graph rules (reachability, exits, the path to a human, prompt
//! files) are `check`'s job; loading reads files, compiling touches nothing but memory
//! (and the system tzdata, through jiff, for time zones).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use jiff::tz::TimeZone;

use super::error::{CheckError, Problem};
use super::format::{DEFAULT_TIMEZONE, Dtmf, EntryFile, FlowFile, NodeSpec, SayKind, Validation};
use super::io::Destination;
use super::model::{
    Collect, Flow, FlowId, FlowSet, Http, Menu, Node, NodeId, NodeKind, NodeRef, Route,
};
pub use super::source::{ENTRY_FILE, Source, read_sources, yaml_files};
use super::source::{flow_name, is_entry, yaml_error, yaml_options};
use super::{condition, yaml_keys};
use crate::schedule::{Schedule, ScheduleSpec};

/// The file that holds the entry rules; every other `*.yaml` is a flow.
const DEFAULT_FLOW: &str = "principal";
const DEFAULT_FALLBACK_QUEUE: &str = "geral";

/// Compiles what parses. The set is usable only when the error list is empty.
pub fn compile(sources: &[Source]) -> (FlowSet, Vec<CheckError>) {
    let mut errors = Vec::new();
    let mut entry: Option<(PathBuf, EntryFile)> = None;
    let mut parsed: Vec<(PathBuf, String, FlowFile)> = Vec::new();
    let mut broken: HashSet<String> = HashSet::new();
    for src in sources {
        for (line, key) in yaml_keys::ambiguous_keys(&src.text) {
            errors.push(CheckError {
                file: src.path.clone(),
                line,
                node: None,
                problem: Problem::UnquotedKey { key },
            });
        }
        if is_entry(&src.path) {
            match serde_saphyr::from_str_with_options::<EntryFile>(&src.text, yaml_options()) {
                Ok(e) => entry = Some((src.path.clone(), e)),
                Err(e) => errors.push(yaml_error(&src.path, e)),
            }
            continue;
        }
        let name = flow_name(&src.path);
        match serde_saphyr::from_str_with_options::<FlowFile>(&src.text, yaml_options()) {
            Ok(f) => {
                if parsed.iter().any(|(_, n, _)| *n == name) {
                    errors.push(CheckError {
                        file: src.path.clone(),
                        line: 0,
                        node: None,
                        problem: Problem::DuplicateFlow(name),
                    });
                } else {
                    parsed.push((src.path.clone(), name, f));
                }
            }
            Err(e) => {
                errors.push(yaml_error(&src.path, e));
                broken.insert(name);
            }
        }
    }
    parsed.sort_by(|a, b| a.1.cmp(&b.1));
    let by_name: HashMap<String, FlowId> = parsed
        .iter()
        .enumerate()
        .map(|(i, (_, n, _))| (n.clone(), i))
        .collect();
    let (entry_path, entry_spec) = match entry {
        Some((p, e)) => (Some(p), e),
        None => (None, EntryFile::default()),
    };
    let entry_file = entry_path
        .clone()
        .unwrap_or_else(|| PathBuf::from(ENTRY_FILE));
    let global = compile_schedules(&entry_spec.schedules, &entry_file, &mut errors);

    let mut flows = Vec::with_capacity(parsed.len());
    for (path, name, file) in &parsed {
        let mut cx = FlowCx {
            path,
            flows: &by_name,
            broken: &broken,
            errors: &mut errors,
            node: None,
            line: 0,
            nodes: HashMap::new(),
        };
        flows.push(cx.flow(name, file, &global));
    }

    let mut routes = Vec::new();
    for r in &entry_spec.routes {
        let line = r.referenced.line();
        let r = &r.value;
        match by_name.get(&r.flow) {
            Some(&flow) => routes.push(Route {
                name: r.name.clone(),
                line,
                did: r.did.clone(),
                ani_prefix: r.ani_prefix.clone(),
                flow,
                priority_boost: r.priority_boost,
                variables: r.variables.clone().into_iter().collect(),
            }),
            None if broken.contains(&r.flow) => {}
            None => errors.push(CheckError {
                file: entry_file.clone(),
                line,
                node: None,
                problem: Problem::UnknownFlow {
                    field: format!("routes[{}].flow", r.name),
                    flow: r.flow.clone(),
                },
            }),
        }
    }
    if parsed.is_empty() && broken.is_empty() {
        errors.push(CheckError {
            file: entry_file.clone(),
            line: 0,
            node: None,
            problem: Problem::NoFlows,
        });
    }
    let default_name = entry_spec
        .default_flow
        .clone()
        .unwrap_or_else(|| DEFAULT_FLOW.to_owned());
    let default_flow = match by_name.get(&default_name) {
        Some(&id) => id,
        None => {
            // A lone flow answers everything; with several, someone must choose.
            if parsed.len() != 1 && entry_path.is_some() && !broken.contains(&default_name) {
                errors.push(CheckError {
                    file: entry_file.clone(),
                    line: 0,
                    node: None,
                    problem: Problem::NoDefaultFlow(default_name),
                });
            }
            0
        }
    };
    let set = FlowSet {
        flows,
        by_name,
        routes,
        default_flow,
        fallback_queue_named: entry_spec.fallback_queue.is_some(),
        fallback_queue: entry_spec
            .fallback_queue
            .unwrap_or_else(|| DEFAULT_FALLBACK_QUEUE.to_owned()),
        entry_file: entry_path,
    };
    (set, errors)
}

fn compile_schedules(
    specs: &BTreeMap<String, ScheduleSpec>,
    file: &Path,
    errors: &mut Vec<CheckError>,
) -> HashMap<String, Arc<Schedule>> {
    let mut out = HashMap::new();
    for (name, spec) in specs {
        match Schedule::compile(spec) {
            Ok(s) => {
                out.insert(name.clone(), Arc::new(s));
            }
            Err(e) => errors.push(CheckError {
                file: file.to_owned(),
                line: 0,
                node: None,
                problem: Problem::BadSchedule {
                    name: name.clone(),
                    problem: e.to_string(),
                },
            }),
        }
    }
    out
}

/// Compiling one flow: where errors go and how names resolve.
struct FlowCx<'a> {
    path: &'a Path,
    flows: &'a HashMap<String, FlowId>,
    broken: &'a HashSet<String>,
    errors: &'a mut Vec<CheckError>,
    node: Option<String>,
    line: u64,
    nodes: HashMap<String, NodeId>,
}

impl FlowCx<'_> {
    fn err(&mut self, problem: Problem) {
        self.errors.push(CheckError {
            file: self.path.to_owned(),
            line: self.line,
            node: self.node.clone(),
            problem,
        });
    }

    /// A node of this flow; unknown names are reported and resolve to node 0 (the flow
    /// is then refused anyway).
    fn target(&mut self, field: &str, name: &str) -> NodeId {
        match self.nodes.get(name) {
            Some(&id) => id,
            None => {
                self.err(Problem::UnknownTarget {
                    field: field.to_owned(),
                    target: name.to_owned(),
                });
                0
            }
        }
    }

    fn flow_ref(&mut self, field: &str, name: &str) -> FlowId {
        match self.flows.get(name) {
            Some(&id) => id,
            None => {
                if !self.broken.contains(name) {
                    self.err(Problem::UnknownFlow {
                        field: field.to_owned(),
                        flow: name.to_owned(),
                    });
                }
                0
            }
        }
    }

    fn seconds(&mut self, field: &'static str, value: f64) -> Duration {
        if value.is_finite() && value > 0.0 && value <= 3600.0 {
            Duration::from_secs_f64(value)
        } else {
            self.err(Problem::BadTimeout { field, value });
            Duration::from_secs(1)
        }
    }

    fn some_prompts(&mut self, field: &'static str, prompts: &[String]) -> Vec<String> {
        if prompts.is_empty() {
            self.err(Problem::NoPrompts(field));
        }
        prompts.to_vec()
    }

    fn flow(
        &mut self,
        name: &str,
        file: &FlowFile,
        global: &HashMap<String, Arc<Schedule>>,
    ) -> Flow {
        let mut order: Vec<(&String, u64)> = file
            .nodes
            .iter()
            .map(|(n, s)| (n, s.referenced.line()))
            .collect();
        order.sort_by_key(|&(n, line)| (line, n.clone()));
        self.nodes = order
            .iter()
            .enumerate()
            .map(|(i, (n, _))| ((*n).clone(), i))
            .collect();
        let tz_name = file.timezone.as_deref().unwrap_or(DEFAULT_TIMEZONE);
        let tz = TimeZone::get(tz_name).unwrap_or_else(|_| {
            self.err(Problem::BadTimeZone(tz_name.to_owned()));
            TimeZone::UTC
        });
        let mut schedules = global.clone();
        schedules.extend(compile_schedules(&file.schedules, self.path, self.errors));
        let start = match self.nodes.get(&file.start) {
            Some(&id) => id,
            None => {
                self.err(Problem::UnknownStart(file.start.clone()));
                0
            }
        };
        let mut nodes = Vec::with_capacity(order.len());
        for (node_name, line) in order {
            self.node = Some(node_name.clone());
            self.line = line;
            let spec = &file.nodes[node_name].value;
            let kind = self.node_kind(spec, &schedules, file);
            nodes.push(Node {
                name: node_name.clone(),
                line,
                kind,
            });
        }
        self.node = None;
        self.line = 0;
        Flow {
            name: name.to_owned(),
            file: self.path.to_owned(),
            start,
            tz,
            nodes,
            by_name: std::mem::take(&mut self.nodes),
        }
    }

    fn node_kind(
        &mut self,
        spec: &NodeSpec,
        schedules: &HashMap<String, Arc<Schedule>>,
        file: &FlowFile,
    ) -> NodeKind {
        match spec {
            NodeSpec::Play {
                prompts,
                barge_in,
                next,
            } => NodeKind::Play {
                prompts: self.some_prompts("prompts", prompts),
                barge_in: *barge_in,
                next: self.target("next", next),
            },
            NodeSpec::Menu { .. } => self.menu(spec),
            NodeSpec::Collect { .. } => self.collect(spec),
            NodeSpec::Say {
                what,
                value,
                before,
                after,
                barge_in,
                next,
            } => {
                if matches!(what, SayKind::Number | SayKind::Digits) && value.is_none() {
                    self.err(Problem::Invalid(format!(
                        "say {what:?} needs a `value` (e.g. \"${{variable}}\")"
                    )));
                }
                NodeKind::Say {
                    what: *what,
                    value: value.clone().unwrap_or_default(),
                    before: before.clone(),
                    after: after.clone(),
                    barge_in: *barge_in,
                    next: self.target("next", next),
                }
            }
            NodeSpec::Set { values, next } => NodeKind::Set {
                values: values.clone().into_iter().collect(),
                next: self.target("next", next),
            },
            NodeSpec::Branch { cases, default } => {
                let mut out = Vec::with_capacity(cases.len());
                for (i, case) in cases.iter().enumerate() {
                    let cond = match condition::compile(&case.when) {
                        Ok(cond) => cond,
                        Err(problem) => {
                            self.err(Problem::Invalid(problem));
                            Default::default()
                        }
                    };
                    out.push((cond, self.target(&format!("cases[{i}].next"), &case.next)));
                }
                NodeKind::Branch {
                    cases: out,
                    default: self.target("default", default),
                }
            }
            NodeSpec::Schedule {
                schedule,
                open,
                closed,
                holiday,
            } => {
                let compiled = match schedules.get(schedule) {
                    Some(s) => s.clone(),
                    None => {
                        // Already reported if it exists but failed to compile.
                        if !file.schedules.contains_key(schedule) {
                            self.err(Problem::UnknownSchedule(schedule.clone()));
                        }
                        Arc::new(Schedule::always_open())
                    }
                };
                let closed = self.target("closed", closed);
                NodeKind::Schedule {
                    name: schedule.clone(),
                    schedule: compiled,
                    open: self.target("open", open),
                    closed,
                    holiday: match holiday {
                        Some(h) => self.target("holiday", h),
                        None => closed,
                    },
                }
            }
            NodeSpec::Http {
                method,
                url,
                headers,
                body,
                timeout,
                fields,
                next,
                on_error,
            } => {
                if url.trim().is_empty() {
                    self.err(Problem::Invalid("`url` is empty".into()));
                }
                for (var, pointer) in fields {
                    if !pointer.is_empty() && !pointer.starts_with('/') {
                        self.err(Problem::Invalid(format!(
                            "fields.{var}: `{pointer}` is not a JSON pointer (write `/{pointer}`)"
                        )));
                    }
                }
                NodeKind::Http(Box::new(Http {
                    method: *method,
                    url: url.clone(),
                    headers: headers.clone().into_iter().collect(),
                    body: body.clone(),
                    timeout: self.seconds("timeout", *timeout),
                    fields: fields.clone().into_iter().collect(),
                    next: self.target("next", next),
                    on_error: self.target("on_error", on_error),
                }))
            }
            NodeSpec::Queue {
                queue,
                priority,
                skills,
                screen_pop,
            } => {
                if queue.trim().is_empty() {
                    self.err(Problem::Invalid("`queue` is empty".into()));
                }
                NodeKind::Queue {
                    queue: queue.clone(),
                    priority: *priority,
                    skills: skills.clone(),
                    screen_pop: screen_pop.clone(),
                }
            }
            NodeSpec::Transfer { number, extension } => match (number, extension) {
                (Some(n), None) if !n.trim().is_empty() => {
                    NodeKind::Transfer(Destination::Number(n.clone()))
                }
                (None, Some(x)) if !x.trim().is_empty() => {
                    NodeKind::Transfer(Destination::Extension(x.clone()))
                }
                _ => {
                    self.err(Problem::BadTransfer);
                    NodeKind::Hangup
                }
            },
            NodeSpec::Hangup {} => NodeKind::Hangup,
            NodeSpec::Goto { target, flow } => match (target, flow) {
                (Some(t), None) => NodeKind::Goto(NodeRef {
                    flow: self.flows.get(&flow_name(self.path)).copied().unwrap_or(0),
                    node: self.target("target", t),
                }),
                (None, Some(f)) => {
                    let id = self.flow_ref("flow", f);
                    // The start node is resolved when the set is complete (see `link`).
                    NodeKind::Goto(NodeRef {
                        flow: id,
                        node: usize::MAX,
                    })
                }
                _ => {
                    self.err(Problem::BadGoto);
                    NodeKind::Hangup
                }
            },
            NodeSpec::Call { flow, next } => NodeKind::Call {
                flow: self.flow_ref("flow", flow),
                next: self.target("next", next),
            },
            NodeSpec::Return {} => NodeKind::Return,
        }
    }

    fn menu(&mut self, spec: &NodeSpec) -> NodeKind {
        let NodeSpec::Menu {
            prompts,
            options,
            first_digit_timeout,
            inter_digit_timeout,
            retries,
            invalid_prompts,
            timeout_prompts,
            on_failure,
            human_exemption,
        } = spec
        else {
            unreachable!("menu() is only called for menus")
        };
        if options.is_empty() {
            self.err(Problem::NoOptions);
        }
        let mut opts = Vec::with_capacity(options.len());
        for (key, target) in options {
            if !key.is_valid() {
                self.err(Problem::BadKey { key: key.0.clone() });
            }
            opts.push((
                key.0.clone(),
                self.target(&format!("options.{key}"), target),
            ));
        }
        if human_exemption
            .as_deref()
            .is_some_and(|r| r.trim().is_empty())
        {
            self.err(Problem::EmptyExemption);
        }
        NodeKind::Menu(Box::new(Menu {
            prompts: self.some_prompts("prompts", prompts),
            options: opts,
            first_digit: self.seconds("first_digit_timeout", *first_digit_timeout),
            inter_digit: self.seconds("inter_digit_timeout", *inter_digit_timeout),
            retries: *retries,
            invalid_prompts: invalid_prompts.clone(),
            timeout_prompts: timeout_prompts.clone(),
            on_failure: self.target("on_failure", on_failure),
            human_exemption: human_exemption.clone(),
        }))
    }

    fn collect(&mut self, spec: &NodeSpec) -> NodeKind {
        let NodeSpec::Collect {
            prompts,
            variable,
            min_digits,
            max_digits,
            terminator,
            validate,
            first_digit_timeout,
            inter_digit_timeout,
            retries,
            invalid_prompts,
            timeout_prompts,
            confirm,
            next,
            on_failure,
        } = spec
        else {
            unreachable!("collect() is only called for collects")
        };
        if *min_digits < 1 || min_digits > max_digits || *max_digits > 64 {
            self.err(Problem::BadDigitLimits {
                min: *min_digits,
                max: *max_digits,
            });
        }
        if *validate == Validation::Cpf && *max_digits < 11 {
            self.err(Problem::CpfTooShort { max: *max_digits });
        }
        let terminator = match terminator {
            None => Some('#'),
            Some(Dtmf(t)) if t == "none" => None,
            Some(key) => match key.0.chars().collect::<Vec<_>>()[..] {
                [c] if key.is_valid() => Some(c),
                _ => {
                    self.err(Problem::BadKey { key: key.0.clone() });
                    None
                }
            },
        };
        if variable.trim().is_empty() {
            self.err(Problem::Invalid("`variable` is empty".into()));
        }
        NodeKind::Collect(Box::new(Collect {
            prompts: self.some_prompts("prompts", prompts),
            variable: variable.clone(),
            min_digits: *min_digits as usize,
            max_digits: *max_digits as usize,
            terminator,
            validate: *validate,
            first_digit: self.seconds("first_digit_timeout", *first_digit_timeout),
            inter_digit: self.seconds("inter_digit_timeout", *inter_digit_timeout),
            retries: *retries,
            invalid_prompts: invalid_prompts.clone(),
            timeout_prompts: timeout_prompts.clone(),
            confirm: confirm
                .as_ref()
                .map(|c| (c.before.clone(), c.after.clone())),
            next: self.target("next", next),
            on_failure: self.target("on_failure", on_failure),
        }))
    }
}

/// Fills in the start node of `goto: {flow: …}` once every flow is compiled.
pub(crate) fn link(set: &mut FlowSet) {
    let starts: Vec<NodeId> = set.flows.iter().map(|f| f.start).collect();
    for flow in &mut set.flows {
        for node in &mut flow.nodes {
            if let NodeKind::Goto(r) = &mut node.kind
                && r.node == usize::MAX
            {
                r.node = starts.get(r.flow).copied().unwrap_or(0);
            }
        }
    }
}
