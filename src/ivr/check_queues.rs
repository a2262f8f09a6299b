//! The queues a flow set hands calls to (`queue` nodes and `entry.yaml`'s
//! `fallback_queue`), checked against the server's `[[queues]]`.
//!
//! The flows and the queues live in different files and reload separately, so neither
//! loader can see a typo alone: the server's start, `atende ivr check --config`, a flows
//! reload (`LiveFlows` keeps the configured names) and a configuration reload call
//! `check_queue_names` with both sides. Pure: no IO.

use std::collections::HashSet;
use std::path::PathBuf;

use super::error::{CheckError, CheckErrors, Problem};
use super::model::{FlowSet, NodeKind};

/// A queue the flows name, and where (`node`: the node, or `fallback_queue`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueReference {
    pub queue: String,
    pub file: PathBuf,
    pub line: u64,
    pub node: String,
}

impl FlowSet {
    /// Every queue the flows can send a caller to, with where it is named.
    pub fn queue_references(&self) -> Vec<QueueReference> {
        let mut refs = vec![QueueReference {
            queue: self.fallback_queue().to_owned(),
            file: self.entry_file().map_or_else(
                || PathBuf::from(super::source::ENTRY_FILE),
                ToOwned::to_owned,
            ),
            line: 0,
            node: "fallback_queue".to_owned(),
        }];
        for flow in &self.flows {
            for node in &flow.nodes {
                if let NodeKind::Queue { queue, .. } = &node.kind {
                    refs.push(QueueReference {
                        queue: queue.clone(),
                        file: flow.file.clone(),
                        line: node.line,
                        node: node.name.clone(),
                    });
                }
            }
        }
        refs
    }
}

/// The flows name only queues in `known` (the ids of `[[queues]]`); otherwise one
/// problem per offending place, in file and line order, so an operator fixes them all
/// at once.
pub fn check_queue_names<'a>(
    set: &FlowSet,
    known: impl IntoIterator<Item = &'a str>,
) -> Result<(), CheckErrors> {
    let known: Vec<&str> = known.into_iter().collect();
    let names: HashSet<&str> = known.iter().copied().collect();
    let listed = if known.is_empty() {
        "none".to_owned()
    } else {
        known.join(", ")
    };
    // A server without queues (an IVR that only serves itself or transfers out) is not
    // held to the default fallback queue it never wrote; one it names must exist.
    let unnamed_default = !set.fallback_queue_named && known.is_empty();
    let mut errors: Vec<CheckError> = set
        .queue_references()
        .into_iter()
        .filter(|r| !(unnamed_default && r.node == "fallback_queue"))
        .filter(|r| !names.contains(r.queue.as_str()))
        .map(|r| CheckError {
            file: r.file,
            line: r.line,
            node: Some(r.node),
            problem: Problem::UnknownQueue {
                queue: r.queue,
                known: listed.clone(),
            },
        })
        .collect();
    if errors.is_empty() {
        return Ok(());
    }
    errors.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    Err(CheckErrors(errors))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ivr::compile::Source;

    fn set(flow: &str, entry: &str) -> FlowSet {
        let sources = vec![
            Source {
                path: "ivr-flows/principal.yaml".into(),
                text: flow.to_owned(),
            },
            Source {
                path: "ivr-flows/entry.yaml".into(),
                text: entry.to_owned(),
            },
        ];
        FlowSet::from_sources(&sources, None).expect("valid flows")
    }

    const FLOW: &str = "start: fila\nnodes:\n  fila: { type: queue, queue: perica }\n";

    #[test]
    fn a_misspelt_queue_and_fallback_are_named_with_their_place() {
        let s = set(FLOW, "default_flow: principal\nfallback_queue: gerall\n");
        let err = check_queue_names(&s, ["geral", "pericia"]).unwrap_err();
        let text: Vec<String> = err.0.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "ivr-flows/entry.yaml: node `fallback_queue`: queue `gerall` is not configured in [[queues]] (configured: geral, pericia)",
                "ivr-flows/principal.yaml:3: node `fila`: queue `perica` is not configured in [[queues]] (configured: geral, pericia)",
            ]
        );
    }

    #[test]
    fn known_queues_pass() {
        let s = set(FLOW, "default_flow: principal\nfallback_queue: geral\n");
        assert!(check_queue_names(&s, ["geral", "perica"]).is_ok());
    }

    #[test]
    fn without_queues_only_a_named_fallback_is_held_to_exist() {
        let self_service = "start: fim\nnodes:\n  fim: { type: hangup }\n";
        let implicit = set(self_service, "default_flow: principal\n");
        assert!(
            check_queue_names(&implicit, []).is_ok(),
            "no queues, default fallback"
        );
        assert!(
            check_queue_names(&implicit, ["pericia"]).is_err(),
            "with queues, the default fallback `geral` must be one of them"
        );
        let named = set(
            self_service,
            "default_flow: principal\nfallback_queue: geral\n",
        );
        assert!(
            check_queue_names(&named, []).is_err(),
            "a named fallback must exist"
        );
    }
}
