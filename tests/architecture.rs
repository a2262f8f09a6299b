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
    "ivr/template.rs",
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

/// The file without its trailing test module and without comments.
fn production_code(text: &str) -> String {
    let code = match text.find("#[cfg(test)]") {
        Some(i) => &text[..i],
        None => text,
    };
    code.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
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
