//! The layering rule, checked: the pure cores (per-call state machine, IVR interpreter, ACD
//! engine, schedules, SDP, RTP timing and digits, the event vocabulary) import nothing from
//! the IO shells, tokio or sqlx, and never read the clock or an unseeded RNG. Time and
//! randomness are their inputs; that is what lets a whole day of traffic run in a test.
//!
//! Code under `#[cfg(test)]` at the end of a file is not judged (tests may build inputs
//! from the clock).

use std::path::{Path, PathBuf};

/// Files of the pure cores, relative to `src/`. Whole folders are listed with a trailing
/// `/`; `SHELL_FILES` inside them are the IO edges (CLIs, file loading, watchers).
const PURE: &[&str] = &[
    "call/",
    "acd/",
    "ivr/interp.rs",
    "ivr/io.rs",
    "ivr/keys.rs",
    "ivr/say.rs",
    "ivr/cpf.rs",
    "template.rs",
    "ivr/condition.rs",
    "ivr/http.rs",
    "ivr/model.rs",
    "schedule.rs",
    "events.rs",
    "sdp.rs",
    "media/stream.rs",
    "media/dtmf.rs",
    "media/g711.rs",
    "cti/protocol.rs",
    "cti/session.rs",
    "cti/view.rs",
    "contract/",
    "quality/",
    "survey/",
    "reports/",
    "mail/plan.rs",
    "alarm/rules.rs",
];

/// Edges inside the pure folders: they print, read files or time a run for a person.
const SHELL_FILES: &[&str] = &["acd/cli.rs"];

/// Whole test modules inside the pure folders.
const TEST_FILES: &[&str] = &[
    "acd/tests.rs",
    "acd/tests_flow.rs",
    "acd/proptests.rs",
    "acd/invariants.rs",
    "acd/sim/tests.rs",
    "call/machine_tests.rs",
    "contract/tests.rs",
    "quality/tests.rs",
    "call/machine_survey_tests.rs",
    "survey/interview_tests.rs",
    "reports/golden_tests.rs",
    "reports/proptests.rs",
];

const FORBIDDEN: &[(&str, &str)] = &[
    ("tokio", "the async runtime belongs to the shells"),
    ("sqlx", "the database belongs to the store"),
    ("reqwest", "HTTP belongs to the shells"),
    ("rsipstack", "SIP belongs to the sip shell"),
    ("crate::sip", "a core must not know the SIP shell"),
    ("crate::store", "a core must not know the store"),
    ("crate::api", "a core must not know the API"),
    ("crate::app", "a core must not know the application"),
    (
        "crate::media::session",
        "a core must not know the media shell",
    ),
    (
        "crate::media::reactor",
        "a core must not know the media shell",
    ),
    (
        "crate::media::recording",
        "a core must not know the recording shell",
    ),
    ("Instant::now", "time is an input"),
    ("SystemTime::now", "time is an input"),
    ("Timestamp::now", "time is an input"),
    ("Zoned::now", "time is an input"),
    ("rand::rng()", "randomness is an input (seed it)"),
    ("thread_rng", "randomness is an input (seed it)"),
    ("UdpSocket", "sockets belong to the shells"),
    ("TcpStream", "sockets belong to the shells"),
    ("std::fs", "files belong to the shells"),
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn pure_files() -> Vec<PathBuf> {
    let root = src();
    let mut files = Vec::new();
    for entry in PURE {
        let p = root.join(entry);
        if entry.ends_with('/') {
            rust_files(&p, &mut files);
        } else {
            files.push(p);
        }
    }
    files.retain(|f| {
        let rel = f
            .strip_prefix(&root)
            .unwrap_or(f)
            .to_string_lossy()
            .into_owned();
        !SHELL_FILES.contains(&rel.as_str()) && !TEST_FILES.contains(&rel.as_str())
    });
    files
}

/// The file without its trailing test module and without comments. A `#[cfg(test)]`
/// before a `mod name;` declaration (a test module in its own file) does not end the
/// production code; one before an inline `mod tests {` does.
fn production_code(text: &str) -> String {
    let mut end = text.len();
    let mut from = 0;
    while let Some(i) = text[from..].find("#[cfg(test)]") {
        let at = from + i;
        let rest = text[at + "#[cfg(test)]".len()..].trim_start();
        if test_module_file(rest).is_none() {
            end = at;
            break;
        }
        from = at + 1;
    }
    text[..end]
        .lines()
        .filter(|l| !l.trim_start().starts_with("#[cfg(test)]"))
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `name` when `rest` starts with a declaration `mod name;` (or `pub mod name;`).
fn test_module_file(rest: &str) -> Option<&str> {
    let line = rest.lines().next()?.trim();
    let decl = line
        .strip_prefix("pub(crate) ")
        .or_else(|| line.strip_prefix("pub "))
        .unwrap_or(line);
    let name = decl.strip_prefix("mod ")?.strip_suffix(';')?;
    name.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_')
        .then_some(name)
}

#[test]
fn pure_cores_import_no_shell_and_read_no_clock() {
    let files = pure_files();
    assert!(files.len() > 20, "the pure cores were found: {files:?}");
    let mut violations = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f)
            .unwrap_or_else(|e| panic!("{} is listed as a core but unreadable: {e}", f.display()));
        let code = production_code(&text);
        for (n, line) in code.lines().enumerate() {
            for (needle, why) in FORBIDDEN {
                if line.contains(needle) {
                    violations.push(format!(
                        "{}:{}: `{needle}` — {why}\n    {}",
                        f.strip_prefix(src()).unwrap_or(f).display(),
                        n + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "pure cores reach outside their layer:\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_checker_sees_a_violation() {
    let code = production_code(
        "use std::time::Instant;\nfn f() { let _ = Instant::now(); } // fine here? no\n#[cfg(test)]\nmod tests { fn g() { tokio::spawn(async {}); } }",
    );
    assert!(code.contains("Instant::now"));
    assert!(!code.contains("tokio"), "test modules are not judged");
}

/// Files that are test modules of their own (`#[cfg(test)] mod name;`), with everything
/// under them: not production code.
fn test_only_files() -> Vec<PathBuf> {
    let root = src();
    let mut all = Vec::new();
    rust_files(&root, &mut all);
    let mut out = Vec::new();
    for f in &all {
        let Ok(text) = std::fs::read_to_string(f) else {
            continue;
        };
        let dir = match f.file_name().and_then(|n| n.to_str()) {
            Some("mod.rs" | "lib.rs" | "main.rs") => f.parent().map(Path::to_path_buf),
            _ => Some(f.with_extension("")),
        };
        let Some(dir) = dir else { continue };
        for (i, _) in text.match_indices("#[cfg(test)]") {
            let rest = text[i + "#[cfg(test)]".len()..].trim_start();
            if let Some(name) = test_module_file(rest) {
                out.push(dir.join(format!("{name}.rs")));
                let sub = dir.join(name);
                out.push(sub.join("mod.rs"));
                rust_files(&sub, &mut out);
            }
        }
    }
    out
}

/// The top-level module a file under `src/` belongs to (`None` for lib.rs and main.rs).
fn top_module(file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src()).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (!matches!(name, "lib" | "main")).then(|| name.to_owned())
}

/// The `crate::x` modules a piece of code names, including `use crate::{x, y::z}`.
fn crate_refs(code: &str) -> Vec<String> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = Vec::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let body = &group[..group.find('}').unwrap_or(group.len())];
            for part in body.split(',') {
                let name = ident(part.trim());
                if !name.is_empty() {
                    out.push(name);
                }
            }
        } else {
            let name = ident(rest);
            if !name.is_empty() {
                out.push(name);
            }
        }
    }
    out
}

/// Top-level module → the top-level modules its production code names, with one file
/// per edge to show where.
fn module_graph() -> std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>
{
    let root = src();
    let tests = test_only_files();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let mut graph: std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>> =
        Default::default();
    for f in files.iter().filter(|f| !tests.contains(f)) {
        let Some(from) = top_module(f) else { continue };
        let text = std::fs::read_to_string(f).unwrap_or_default();
        let entry = graph.entry(from.clone()).or_default();
        for to in crate_refs(&production_code(&text)) {
            if to != from {
                entry
                    .entry(to)
                    .or_insert_with(|| f.strip_prefix(&root).unwrap_or(f).display().to_string());
            }
        }
    }
    graph
}

/// A cycle in `graph`, as the modules along it (first = last), if there is one.
fn find_cycle(
    graph: &std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>,
) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>,
        done: &mut std::collections::BTreeSet<String>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == node) {
            let mut cycle = path[i..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flat_map(|m| m.keys()) {
            if let Some(c) = visit(next, graph, done, path) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = Default::default();
    for node in graph.keys() {
        if let Some(c) = visit(node, graph, &mut done, &mut Vec::new()) {
            return Some(c);
        }
    }
    None
}

/// The modules the CTI, the API and the users' code use to command calls and agents:
/// none of them may need the SIP edge.
const ABOVE_SIP_FREE: &[&str] = &["floor", "cti", "api", "users"];

#[test]
fn the_floor_cti_api_and_users_never_import_the_sip_edge() {
    let root = src();
    assert!(root.join("floor").is_dir(), "the floor (src/floor/) exists");
    let tests = test_only_files();
    let mut violations = Vec::new();
    for m in ABOVE_SIP_FREE {
        let mut files = Vec::new();
        rust_files(&root.join(m), &mut files);
        files.push(root.join(format!("{m}.rs")));
        for f in files.iter().filter(|f| !tests.contains(f)) {
            let Ok(text) = std::fs::read_to_string(f) else {
                continue;
            };
            let code = production_code(&text);
            for (n, line) in code.lines().enumerate() {
                if crate_refs(line).iter().any(|r| r == "sip") {
                    violations.push(format!(
                        "{}:{}: {}",
                        f.strip_prefix(&root).unwrap_or(f).display(),
                        n + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "the SIP edge is imported where calls and agents are commanded through the floor:\n{}",
        violations.join("\n")
    );
}

#[test]
fn top_level_modules_import_each_other_without_a_cycle() {
    let graph = module_graph();
    assert!(
        graph.get("sip").is_some_and(|m| m.contains_key("floor")),
        "the graph was read: sip uses the floor"
    );
    if let Some(cycle) = find_cycle(&graph) {
        let steps: Vec<String> = cycle
            .windows(2)
            .map(|w| format!("  {} -> {} (in {})", w[0], w[1], graph[&w[0]][&w[1]]))
            .collect();
        panic!(
            "import cycle between top-level modules: {}\n{}",
            cycle.join(" -> "),
            steps.join("\n")
        );
    }
}

#[test]
fn the_cycle_finder_names_a_cycle_and_the_parser_reads_groups() {
    let mut graph: std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>> =
        Default::default();
    for (a, b) in [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")] {
        graph
            .entry(a.to_owned())
            .or_default()
            .insert(b.to_owned(), "f.rs".to_owned());
    }
    let cycle = find_cycle(&graph).expect("a cycle");
    assert_eq!(cycle.first(), cycle.last());
    assert_eq!(cycle.len(), 4);
    graph.get_mut("c").map(|m| m.remove("a"));
    assert_eq!(find_cycle(&graph), None);
    assert_eq!(
        crate_refs("use crate::{bus::Bus, floor};\nlet x = crate::sip::q850::x;"),
        ["bus", "floor", "sip"]
    );
    assert_eq!(
        test_module_file("mod ivr_tests;\nfn x() {}"),
        Some("ivr_tests")
    );
    assert_eq!(test_module_file("mod tests {"), None);
}
