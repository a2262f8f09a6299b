//! Fuzz target: any bytes through the flow loader's parse, compile and check, exactly
//! what a reload runs on the files IT saved. It must answer with a flow set or a list
//! of problems; libFuzzer reports any panic, hang or runaway allocation.
//!
//! An input without NUL bytes is one flow file, `principal.yaml`. With NUL bytes it is
//! several files (at most 8), so references between flows and the entry rules are
//! explored too: a file whose first line is `#!name.yaml` (a YAML comment) is called
//! that, the others `entry.yaml`, `principal.yaml`, `f2.yaml`, … by position.

#![no_main]

use std::path::PathBuf;

use atende::ivr::{FlowSet, Source};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let parts: Vec<&str> = text.split('\0').take(8).collect();
    let name = |i: usize, text: &str| {
        let named = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("#!"))
            .filter(|n| n.ends_with(".yaml") && !n.contains('/'));
        match (named, parts.len(), i) {
            (Some(n), _, _) => n.to_owned(),
            (None, 1, _) | (None, _, 1) => "principal.yaml".to_owned(),
            (None, _, 0) => "entry.yaml".to_owned(),
            (None, _, i) => format!("f{i}.yaml"),
        }
    };
    let sources: Vec<Source> = parts
        .iter()
        .enumerate()
        .map(|(i, t)| Source {
            path: PathBuf::from("ivr-flows").join(name(i, t)),
            text: (*t).to_owned(),
        })
        .collect();
    if let Err(errors) = FlowSet::from_sources(&sources, None) {
        // Every problem must also print (its Display is what IT reads).
        let _ = errors.to_string();
    }
});
