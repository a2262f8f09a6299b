//! What can be wrong with a set of flows, each problem placed at a file, line and node.
//!
//! `atende ivr check` prints these; live reload refuses a change with them and keeps the
//! running version.

use std::fmt;
use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Error)]
pub enum Problem {
    #[error("cannot read: {0}")]
    Io(String),
    #[error("{0}")]
    Yaml(String),
    #[error("`{field}` goes to unknown node `{target}`")]
    UnknownTarget { field: String, target: String },
    #[error("`{field}` names unknown flow `{flow}`")]
    UnknownFlow { field: String, flow: String },
    #[error("queue `{queue}` is not configured in [[queues]] (configured: {known})")]
    UnknownQueue { queue: String, known: String },
    #[error("start node `{0}` does not exist")]
    UnknownStart(String),
    #[error("unreachable: no path from the start node `{start}` leads here")]
    Unreachable { start: String },
    #[error(
        "loop with no exit: from here the call can never reach a hangup, queue, transfer, \
         goto to another flow or return"
    )]
    NoExit,
    #[error(
        "no path to a human: add option 0 leading to a queue or transfer, or explain with \
         `human_exemption: \"reason\"`"
    )]
    NoHumanPath,
    #[error("`human_exemption` must give a reason")]
    EmptyExemption,
    #[error("prompt `{prompt}` not found (expected {path})")]
    MissingPrompt { prompt: String, path: PathBuf },
    #[error("schedule `{name}`: {problem}")]
    BadSchedule { name: String, problem: String },
    #[error("unknown schedule `{0}` (define it under `schedules:` here or in entry.yaml)")]
    UnknownSchedule(String),
    #[error("unknown time zone `{0}`")]
    BadTimeZone(String),
    #[error("`{key}` is not a keypad key (0-9, * or #)")]
    BadKey { key: String },
    #[error(
        "key {key} must be quoted: write \"{key}\": (unquoted, YAML reads it as a number \
         and drops the leading zero, or older tools as octal)"
    )]
    UnquotedKey { key: String },
    #[error("`{field}` must be a positive number of seconds, not {value}")]
    BadTimeout { field: &'static str, value: f64 },
    #[error("digit limits: min_digits {min} and max_digits {max} (need 1 ≤ min ≤ max ≤ 64)")]
    BadDigitLimits { min: u32, max: u32 },
    #[error("a CPF has 11 digits: max_digits {max} cannot hold one")]
    CpfTooShort { max: u32 },
    #[error("{0}")]
    Invalid(String),
    #[error("a transfer needs exactly one of `number` and `extension`")]
    BadTransfer,
    #[error("a goto needs exactly one of `target` and `flow`")]
    BadGoto,
    #[error("a menu needs at least one option")]
    NoOptions,
    #[error("`{0}` must list at least one prompt")]
    NoPrompts(&'static str),
    #[error("no flow files: a call would have nowhere to go")]
    NoFlows,
    #[error("two files define flow `{0}`")]
    DuplicateFlow(String),
    #[error("no flow to answer calls: `default_flow` `{0}` does not exist")]
    NoDefaultFlow(String),
}

/// One problem, where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckError {
    pub file: PathBuf,
    /// 1-based; 0 when the problem is about the whole file.
    pub line: u64,
    pub node: Option<String>,
    pub problem: Problem,
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
        }
        if let Some(node) = &self.node {
            write!(f, ": node `{node}`")?;
        }
        write!(f, ": {}", self.problem)
    }
}

impl std::error::Error for CheckError {}

/// All the problems of a refused set of flows, one per line.
#[derive(Debug, Clone, PartialEq, Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct CheckErrors(pub Vec<CheckError>);
