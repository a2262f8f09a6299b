//! Judging a set of flows before any caller meets it, and loading it for the server.
//!
//! Rules beyond "it parses and every name resolves" (`compile`): every node reachable from
//! its flow's start; no loop the call can never leave; every menu with a path to a human
//! (option 0 reaching a queue or transfer, or a written `human_exemption`); every prompt
//! present as a WAV file under the prompts directory. `FlowSet::load_dir` runs all of it and
//! is what live reload calls: a set with any problem is refused whole.

use std::collections::{HashSet, VecDeque};
use std::path::{Path, PathBuf};

use super::compile::{self, Source};
use super::error::{CheckError, CheckErrors, Problem};
use super::format::SayKind;
use super::model::{FlowId, FlowSet, NodeKind, NodeRef};
use super::say;

impl FlowSet {
    /// Loads and validates every flow in `dir` (plus its `entry.yaml`). With `prompts`,
    /// also requires every prompt file to exist there.
    pub fn load_dir(dir: &Path, prompts: Option<&Path>) -> Result<FlowSet, CheckErrors> {
        let files = compile::yaml_files(dir).map_err(|e| CheckErrors(vec![e]))?;
        let (sources, mut errors) = compile::read_sources(&files);
        if !errors.is_empty() {
            errors.sort_by(order);
            return Err(CheckErrors(errors));
        }
        FlowSet::from_sources(&sources, prompts)
    }

    /// Validates flows given as text (tests, uploads over the API).
    pub fn from_sources(
        sources: &[Source],
        prompts: Option<&Path>,
    ) -> Result<FlowSet, CheckErrors> {
        let (set, errors) = build(sources, prompts);
        if errors.is_empty() {
            Ok(set)
        } else {
            Err(CheckErrors(errors))
        }
    }
}

fn build(sources: &[Source], prompts: Option<&Path>) -> (FlowSet, Vec<CheckError>) {
    let (mut set, mut errors) = compile::compile(sources);
    compile::link(&mut set);
    let broken: HashSet<PathBuf> = errors.iter().map(|e| e.file.clone()).collect();
    errors.extend(check(&set, &broken, prompts));
    errors.sort_by(order);
    (set, errors)
}

fn order(a: &CheckError, b: &CheckError) -> std::cmp::Ordering {
    (&a.file, a.line).cmp(&(&b.file, b.line))
}

/// `atende ivr check FILES`: the problems of these files. Flows next to them in the same
/// directories are loaded too, so references to sub-flows resolve, but only problems in
/// the named files are reported.
pub fn check_files(files: &[PathBuf], prompts: Option<&Path>) -> Vec<CheckError> {
    let mut all: Vec<PathBuf> = Vec::new();
    let mut errors = Vec::new();
    let mut dirs: Vec<PathBuf> = files
        .iter()
        .map(|f| f.parent().map(Path::to_owned).unwrap_or_default())
        .collect();
    dirs.sort();
    dirs.dedup();
    for dir in dirs {
        let dir_for_listing = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir.clone()
        };
        match compile::yaml_files(&dir_for_listing) {
            Ok(found) => all.extend(found.into_iter().map(|f| {
                // Keep the caller's spelling of paths so the filter below matches.
                if dir.as_os_str().is_empty() {
                    PathBuf::from(f.file_name().unwrap_or_default())
                } else {
                    f
                }
            })),
            Err(e) => errors.push(e),
        }
    }
    all.extend(files.iter().cloned());
    all.sort();
    all.dedup();
    let (sources, read_errors) = compile::read_sources(&all);
    errors.extend(read_errors);
    let (_, found) = build(&sources, prompts);
    errors.extend(found);
    let wanted: HashSet<&PathBuf> = files.iter().collect();
    errors.retain(|e| wanted.contains(&e.file));
    errors.sort_by(order);
    errors
}

/// The graph and prompt rules over a compiled set; flows from `broken` files (with
/// compile problems) are skipped, their references may dangle.
fn check(set: &FlowSet, broken: &HashSet<PathBuf>, prompts: Option<&Path>) -> Vec<CheckError> {
    let mut errors = Vec::new();
    for (flow_id, flow) in set.flows.iter().enumerate() {
        let at = |node: usize, problem| CheckError {
            file: flow.file.clone(),
            line: flow.nodes[node].line,
            node: Some(flow.nodes[node].name.clone()),
            problem,
        };
        // Prompt files do not depend on the graph: report them even for a broken flow.
        if let Some(dir) = prompts {
            for (i, node) in flow.nodes.iter().enumerate() {
                for prompt in needed_prompts(&node.kind) {
                    let path = dir.join(format!("{prompt}.wav"));
                    if !path.is_file() {
                        errors.push(at(
                            i,
                            Problem::MissingPrompt {
                                prompt: prompt.clone(),
                                path,
                            },
                        ));
                    }
                }
            }
        }
        if broken.contains(&flow.file) {
            continue;
        }
        let reachable = reachable_in_flow(set, flow_id);
        let exits = can_exit(set, flow_id);
        for (i, node) in flow.nodes.iter().enumerate() {
            if !reachable[i] {
                errors.push(at(
                    i,
                    Problem::Unreachable {
                        start: flow.nodes[flow.start].name.clone(),
                    },
                ));
            } else if !exits[i] {
                errors.push(at(i, Problem::NoExit));
            }
            if let NodeKind::Menu(m) = &node.kind
                && m.human_exemption.is_none()
            {
                let zero = m.options.iter().find(|(k, _)| k == "0");
                let human = zero.is_some_and(|(_, t)| {
                    reaches_human(
                        set,
                        NodeRef {
                            flow: flow_id,
                            node: *t,
                        },
                    )
                });
                if !human {
                    errors.push(at(i, Problem::NoHumanPath));
                }
            }
        }
    }
    errors
}

impl FlowSet {
    /// The flows that may play `prompt`, `say` fragments included, sorted: what must not
    /// lose it (a prompt file deleted by hand is kept in memory while this is not empty).
    pub fn flows_needing(&self, prompt: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .flows
            .iter()
            .filter(|f| {
                f.nodes
                    .iter()
                    .any(|n| needed_prompts(&n.kind).iter().any(|p| p == prompt))
            })
            .map(|f| f.name.clone())
            .collect();
        v.sort();
        v
    }
}

/// Prompt files a node may play, `say` fragments included.
fn needed_prompts(kind: &NodeKind) -> Vec<String> {
    let mut v: Vec<String> = kind.prompts().into_iter().cloned().collect();
    match kind {
        NodeKind::Say { what, .. } => v.extend(say::fragments_needed(*what)),
        NodeKind::Collect(c) if c.confirm.is_some() => {
            v.extend(say::fragments_needed(SayKind::Digits))
        }
        _ => {}
    }
    v.sort();
    v.dedup();
    v
}

fn successors(set: &FlowSet, r: NodeRef) -> Vec<NodeRef> {
    match set.flows.get(r.flow).and_then(|f| f.nodes.get(r.node)) {
        Some(node) => node.kind.successors(r.flow, set),
        None => Vec::new(),
    }
}

fn reachable_in_flow(set: &FlowSet, flow: FlowId) -> Vec<bool> {
    let f = &set.flows[flow];
    let mut seen = vec![false; f.nodes.len()];
    let mut todo = VecDeque::from([f.start]);
    while let Some(n) = todo.pop_front() {
        if n >= seen.len() || seen[n] {
            continue;
        }
        seen[n] = true;
        for s in successors(set, NodeRef { flow, node: n }) {
            if s.flow == flow {
                todo.push_back(s.node);
            }
        }
    }
    seen
}

/// For each node of `flow`: can a call there still leave the flow (hang up, queue,
/// transfer, return, or go to another flow)? Computed as a fixed point backwards.
fn can_exit(set: &FlowSet, flow: FlowId) -> Vec<bool> {
    let f = &set.flows[flow];
    let mut exits: Vec<bool> = f
        .nodes
        .iter()
        .map(|n| match &n.kind {
            NodeKind::Queue { .. }
            | NodeKind::Transfer(_)
            | NodeKind::Hangup
            | NodeKind::Return => true,
            NodeKind::Goto(r) => r.flow != flow,
            _ => false,
        })
        .collect();
    loop {
        let mut changed = false;
        for i in 0..f.nodes.len() {
            if exits[i] {
                continue;
            }
            let out = successors(set, NodeRef { flow, node: i })
                .into_iter()
                .any(|s| s.flow == flow && exits.get(s.node).copied().unwrap_or(false));
            if out {
                exits[i] = true;
                changed = true;
            }
        }
        if !changed {
            return exits;
        }
    }
}

/// Whether some path from `from` reaches a queue or a transfer, across flows.
pub fn reaches_human(set: &FlowSet, from: NodeRef) -> bool {
    let mut seen: HashSet<NodeRef> = HashSet::new();
    let mut todo = VecDeque::from([from]);
    while let Some(r) = todo.pop_front() {
        if !seen.insert(r) {
            continue;
        }
        let Some(node) = set.flows.get(r.flow).and_then(|f| f.nodes.get(r.node)) else {
            continue;
        };
        if matches!(node.kind, NodeKind::Queue { .. } | NodeKind::Transfer(_)) {
            return true;
        }
        todo.extend(node.kind.successors(r.flow, set));
    }
    false
}
