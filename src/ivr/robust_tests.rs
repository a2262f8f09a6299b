//! The flow loader never panics and never hangs: arbitrary bytes and damaged copies of the
//! shipped flows (`ivr-flows/*.yaml`) go through parse, compile and check — what a reload
//! runs on whatever IT saved — and come back as a flow set or as problems, each case
//! within a time bound. A panic there would kill the watcher's thread; a hang would stall
//! every later reload.
//!
//! Bounded so CI stays fast; `fuzz/` (cargo-fuzz, nightly) explores the same path
//! without bounds, see docs/ivr.md.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::sample::Index;

use super::FlowSet;
use super::compile::Source;

/// Far above what a real set takes (milliseconds), far below a hang: catches blow-ups
/// (alias bombs, quadratic checks), not slowness on a loaded CI machine.
const SLOW: Duration = Duration::from_secs(5);

fn shipped() -> &'static [Source] {
    static SHIPPED: OnceLock<Vec<Source>> = OnceLock::new();
    SHIPPED.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("ivr-flows");
        let files = super::compile::yaml_files(&dir).expect("shipped flows listed");
        let (sources, errors) = super::compile::read_sources(&files);
        assert!(errors.is_empty(), "{errors:?}");
        assert!(sources.len() >= 5, "the shipped set was found");
        // Undamaged, the set loads: damage is what makes a case fail.
        if let Err(e) = FlowSet::from_sources(&sources, Some(&prompts())) {
            panic!("the shipped flows load:\n{e}");
        }
        sources
    })
}

fn prompts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts")
}

/// Parse, compile and check, as a reload does; every problem must also print.
fn load(sources: &[Source]) -> Result<(), String> {
    let started = Instant::now();
    let result = FlowSet::from_sources(sources, Some(&prompts()));
    if let Err(errors) = &result {
        assert!(!errors.0.is_empty(), "a refused set names its problems");
        for e in &errors.0 {
            let _ = e.to_string();
        }
    }
    let took = started.elapsed();
    if took > SLOW {
        return Err(format!("took {took:?}"));
    }
    Ok(())
}

/// The shipped set with file `which` replaced by `text`.
fn with_file(which: usize, text: String) -> Vec<Source> {
    let mut sources = shipped().to_vec();
    sources[which].text = text;
    sources
}

/// One hurried or mistaken edit.
#[derive(Debug, Clone)]
enum Damage {
    /// Cut the file at a point (a copy interrupted).
    Truncate(Index),
    /// Flip some bits of one byte.
    Flip(Index, u8),
    /// Change a digit to another (times, dates, keys, numbers stay YAML).
    Digit(Index, u8),
    DupLine(Index),
    DropLine(Index),
    SwapLines(Index, Index),
    /// Indent a line by two more spaces, or two fewer.
    Indent(Index, bool),
    /// Insert text at a point: YAML's special characters, or anything.
    Insert(Index, String),
}

fn damage() -> impl Strategy<Value = Damage> {
    let special = prop::sample::select(vec![
        "&a ",
        "*a",
        "<<: *a\n",
        "{",
        "}",
        "[",
        "]",
        ": ",
        "- ",
        "\t",
        "'",
        "\"",
        "#",
        "|",
        ">",
        "!!binary ",
        "!!int ",
        "? ",
        "---\n",
        "...\n",
        "07: x\n",
        "0: x\n",
        "%YAML 1.1\n",
        "\u{feff}",
        "\\u",
        "~",
        "null",
        "-1",
        "1e999",
        ".nan",
        "\r",
        "\u{0}",
    ])
    .prop_map(str::to_owned);
    prop_oneof![
        any::<Index>().prop_map(Damage::Truncate),
        (any::<Index>(), 1u8..=255).prop_map(|(i, m)| Damage::Flip(i, m)),
        (any::<Index>(), 0u8..10).prop_map(|(i, d)| Damage::Digit(i, d)),
        any::<Index>().prop_map(Damage::DupLine),
        any::<Index>().prop_map(Damage::DropLine),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Damage::SwapLines(a, b)),
        (any::<Index>(), any::<bool>()).prop_map(|(i, more)| Damage::Indent(i, more)),
        (any::<Index>(), prop_oneof![special, "\\PC{0,12}"])
            .prop_map(|(i, t)| Damage::Insert(i, t)),
    ]
}

fn apply(text: &str, d: &Damage) -> String {
    let mut bytes = text.as_bytes().to_vec();
    let at = |i: &Index, len: usize| if len == 0 { 0 } else { i.index(len) };
    let lines =
        |b: &[u8]| -> Vec<Vec<u8>> { b.split(|&c| c == b'\n').map(<[u8]>::to_vec).collect() };
    match d {
        Damage::Truncate(i) => bytes.truncate(at(i, bytes.len() + 1)),
        Damage::Flip(i, mask) if !bytes.is_empty() => {
            let p = at(i, bytes.len());
            bytes[p] ^= mask;
        }
        Damage::Digit(i, digit) => {
            let digits: Vec<usize> = (0..bytes.len())
                .filter(|&p| bytes[p].is_ascii_digit())
                .collect();
            if !digits.is_empty() {
                bytes[digits[at(i, digits.len())]] = b'0' + digit;
            }
        }
        Damage::DupLine(i) | Damage::DropLine(i) | Damage::Indent(i, _) => {
            let mut ls = lines(&bytes);
            let n = at(i, ls.len());
            match d {
                Damage::DupLine(_) => ls.insert(n, ls[n].clone()),
                Damage::DropLine(_) => {
                    ls.remove(n);
                }
                Damage::Indent(_, true) => {
                    ls[n].splice(0..0, *b"  ");
                }
                Damage::Indent(_, false) => {
                    let cut = ls[n].iter().take(2).take_while(|&&c| c == b' ').count();
                    ls[n].drain(..cut);
                }
                _ => {}
            }
            bytes = ls.join(&b'\n');
        }
        Damage::SwapLines(a, b) => {
            let mut ls = lines(&bytes);
            let (a, b) = (at(a, ls.len()), at(b, ls.len()));
            ls.swap(a, b);
            bytes = ls.join(&b'\n');
        }
        Damage::Insert(i, t) => {
            let p = at(i, bytes.len() + 1);
            bytes.splice(p..p, t.bytes());
        }
        Damage::Flip(..) => {}
    }
    // The loader reads text; a file that is not UTF-8 fails before parsing.
    String::from_utf8_lossy(&bytes).into_owned()
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// One to four edits to one shipped file, the rest of the set intact.
    #[test]
    fn damaged_shipped_flows_load_or_are_refused(
        which in any::<Index>(),
        damages in prop::collection::vec(damage(), 1..5),
    ) {
        let which = which.index(shipped().len());
        let mut text = shipped()[which].text.clone();
        for d in &damages {
            text = apply(&text, d);
        }
        prop_assert_eq!(load(&with_file(which, text)), Ok(()));
    }

    /// Any bytes at all: alone as the main flow, as `entry.yaml` beside the shipped flows,
    /// and in place of a shipped file.
    #[test]
    fn arbitrary_bytes_load_or_are_refused(
        bytes in prop::collection::vec(any::<u8>(), 0..2048),
        which in any::<Index>(),
    ) {
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let alone = Source { path: PathBuf::from("ivr-flows/principal.yaml"), text: text.clone() };
        prop_assert_eq!(load(&[alone]), Ok(()));
        let entry = Source { path: PathBuf::from("ivr-flows/entry.yaml"), text: text.clone() };
        let mut with_entry: Vec<Source> =
            shipped().iter().filter(|s| !s.path.ends_with("entry.yaml")).cloned().collect();
        with_entry.push(entry);
        prop_assert_eq!(load(&with_entry), Ok(()));
        prop_assert_eq!(load(&with_file(which.index(shipped().len()), text)), Ok(()));
    }
}

/// Inputs built to hurt a parser or a checker, each refused (or loaded) quickly.
#[test]
fn hostile_inputs_are_refused_quickly() {
    let bomb = {
        let mut s = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let prev = i - 1;
            s.push_str(&format!(
                "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
            ));
        }
        s + "start: x\nnodes: { x: { type: hangup } }\n"
    };
    let deep_flow = "[".repeat(100_000);
    let deep_map = "{a: ".repeat(50_000);
    let deep_block: String = (0..5_000)
        .map(|i| format!("{}- \n", " ".repeat(i * 2)))
        .collect();
    let long_line = format!("start: {}\nnodes: {{}}\n", "x".repeat(1 << 20));
    let numbers = "start: m\nnodes:\n  m:\n    type: menu\n    prompts: [pt-BR/ura/menu]\n    \
                   options: { 0: q, 99999999999999999999999: q }\n    retries: 99999999999999999999\n    \
                   first_digit_timeout: 1e999\n    inter_digit_timeout: .nan\n    on_failure: q\n  \
                   q: { type: queue, queue: geral }\n";
    let collect = "start: c\nnodes:\n  c:\n    type: collect\n    prompts: [a]\n    variable: v\n    \
                   min_digits: 4294967295\n    max_digits: 0\n    terminator: \"##\"\n    next: c\n    \
                   on_failure: c\n";
    for (what, text) in [
        ("alias bomb", bomb),
        ("deep flow sequence", deep_flow),
        ("deep flow mapping", deep_map),
        ("deep block sequence", deep_block),
        ("long line", long_line),
        ("huge numbers", numbers.to_owned()),
        ("bad digit limits", collect.to_owned()),
    ] {
        let src = Source {
            path: PathBuf::from("ivr-flows/principal.yaml"),
            text,
        };
        assert_eq!(load(&[src]), Ok(()), "{what}");
    }
}

/// Many nodes in one flow, listed against the order of the path through them: the graph
/// checks stay fast.
#[test]
fn a_long_chain_of_nodes_is_checked_quickly() {
    let n = 3_000;
    let mut text = String::from("start: n0\nnodes:\n");
    for i in (0..n).rev() {
        let next = if i + 1 == n {
            "fim".to_owned()
        } else {
            format!("n{}", i + 1)
        };
        text.push_str(&format!(
            "  n{i}: {{ type: set, values: {{}}, next: {next} }}\n"
        ));
    }
    text.push_str("  fim: { type: hangup }\n");
    let src = Source {
        path: PathBuf::from("ivr-flows/principal.yaml"),
        text,
    };
    let started = Instant::now();
    FlowSet::from_sources(&[src], None).expect("a long chain is a valid flow");
    assert!(started.elapsed() < SLOW, "took {:?}", started.elapsed());
}
