//! `atende ivr check` rules, asserted on the messages IT staff would read.

use std::path::PathBuf;

use super::FlowSet;
use super::compile::Source;
use super::error::{CheckError, Problem};

fn problems(files: &[(&str, &str)]) -> Vec<CheckError> {
    problems_with_prompts(files, None)
}

fn problems_with_prompts(
    files: &[(&str, &str)],
    prompts: Option<&std::path::Path>,
) -> Vec<CheckError> {
    let sources: Vec<Source> = files
        .iter()
        .map(|(n, t)| Source {
            path: PathBuf::from(format!("ivr-flows/{n}")),
            text: (*t).to_owned(),
        })
        .collect();
    match FlowSet::from_sources(&sources, prompts) {
        Ok(_) => Vec::new(),
        Err(e) => e.0,
    }
}

fn messages(files: &[(&str, &str)]) -> Vec<String> {
    problems(files).iter().map(ToString::to_string).collect()
}

const GOOD: &str = r#"
start: menu
nodes:
  menu:
    type: menu
    prompts: [pt-BR/menu]
    options: { 1: info, 0: humano }
    on_failure: humano
  info: { type: play, prompts: [pt-BR/info], next: fim }
  fim: { type: hangup }
  humano: { type: queue, queue: geral }
"#;

#[test]
fn a_good_flow_passes() {
    assert_eq!(messages(&[("principal.yaml", GOOD)]), Vec::<String>::new());
}

#[test]
fn unknown_targets_name_file_line_node_and_field() {
    let yaml = GOOD.replace("1: info", "1: infos");
    let msgs = messages(&[("principal.yaml", &yaml)]);
    assert_eq!(
        msgs,
        vec![
            "ivr-flows/principal.yaml:5: node `menu`: `options.1` goes to unknown node `infos`",
            // `info` lost its only way in.
        ]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>()
    );
}

#[test]
fn unreachable_nodes_are_reported() {
    let yaml = format!("{GOOD}  sobra: {{ type: hangup }}\n");
    let msgs = messages(&[("principal.yaml", &yaml)]);
    assert_eq!(
        msgs,
        vec![
            "ivr-flows/principal.yaml:12: node `sobra`: unreachable: no path from the start node `menu` leads here"
        ]
    );
}

#[test]
fn loops_with_no_exit_are_reported() {
    let yaml = r#"
start: menu
nodes:
  menu:
    type: menu
    prompts: [m]
    options: { 1: a, 0: humano }
    on_failure: humano
  a: { type: play, prompts: [x], next: b }
  b: { type: set, values: { v: "1" }, next: a }
  humano: { type: queue, queue: geral }
"#;
    let p = problems(&[("principal.yaml", yaml)]);
    let nodes: Vec<_> = p
        .iter()
        .map(|e| (e.node.clone(), e.problem.clone()))
        .collect();
    assert_eq!(
        nodes,
        vec![
            (Some("a".into()), Problem::NoExit),
            (Some("b".into()), Problem::NoExit)
        ]
    );
}

#[test]
fn a_menu_needs_a_path_to_a_human_or_an_exemption() {
    let no_zero = GOOD.replace("0: humano", "2: fim");
    let p = problems(&[("principal.yaml", &no_zero)]);
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].problem, Problem::NoHumanPath);
    assert_eq!(p[0].line, 5);

    // Option 0 that only plays a message and hangs up is no path to a human.
    let zero_to_hangup = GOOD.replace("0: humano", "0: fim");
    assert_eq!(
        problems(&[("principal.yaml", &zero_to_hangup)])[0].problem,
        Problem::NoHumanPath
    );

    let exempt = no_zero.replace(
        "on_failure: humano",
        "on_failure: humano\n    human_exemption: \"pesquisa de satisfação após o atendimento\"",
    );
    assert_eq!(
        messages(&[("principal.yaml", &exempt)]),
        Vec::<String>::new()
    );

    let empty = no_zero.replace(
        "on_failure: humano",
        "on_failure: humano\n    human_exemption: \" \"",
    );
    assert!(
        problems(&[("principal.yaml", &empty)])
            .iter()
            .any(|e| e.problem == Problem::EmptyExemption)
    );
}

#[test]
fn option_zero_through_a_sub_flow_reaches_a_human() {
    let menu = GOOD.replace("0: humano", "0: chama").replace(
        "  humano: { type: queue, queue: geral }",
        "  humano: { type: queue, queue: geral }\n  chama: { type: call, flow: operador, next: fim }",
    );
    let operador = "start: fila\nnodes:\n  fila: { type: queue, queue: geral }\n";
    assert_eq!(
        messages(&[("principal.yaml", &menu), ("operador.yaml", operador)]),
        Vec::<String>::new()
    );
}

#[test]
fn missing_prompts_are_reported_with_the_expected_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("pt-BR")).expect("mkdir");
    std::fs::write(dir.path().join("pt-BR/menu.wav"), b"RIFF").expect("write");
    let p = problems_with_prompts(&[("principal.yaml", GOOD)], Some(dir.path()));
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].node.as_deref(), Some("info"));
    assert!(
        matches!(&p[0].problem, Problem::MissingPrompt { prompt, path }
        if prompt == "pt-BR/info" && path.ends_with("pt-BR/info.wav"))
    );
}

#[test]
fn say_nodes_need_their_fragments() {
    let yaml = GOOD.replace(
        "info: { type: play, prompts: [pt-BR/info], next: fim }",
        "info: { type: say, what: protocol, next: fim }",
    );
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("pt-BR/digits")).expect("mkdir");
    std::fs::write(dir.path().join("pt-BR/menu.wav"), b"RIFF").expect("write");
    for d in 0..9 {
        std::fs::write(dir.path().join(format!("pt-BR/digits/{d}.wav")), b"RIFF").expect("write");
    }
    let p = problems_with_prompts(&[("principal.yaml", &yaml)], Some(dir.path()));
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        matches!(&p[0].problem, Problem::MissingPrompt { prompt, .. } if prompt == "pt-BR/digits/9")
    );
}

#[test]
fn bad_schedules_and_unknown_schedules_are_reported() {
    let yaml = r#"
start: h
schedules:
  expediente: { timezone: America/Sao_Paulo, weekly: { mon: ["18:00-08:00"] } }
  outro: { timezone: Mars/Olympus }
nodes:
  h: { type: schedule, schedule: expediente, open: fim, closed: fim }
  i: { type: schedule, schedule: inexistente, open: fim, closed: fim }
  fim: { type: hangup }
"#;
    let msgs = messages(&[("principal.yaml", yaml)]).join("\n");
    assert!(
        msgs.contains("schedule `expediente`: mon: \"18:00-08:00\" ends before it starts"),
        "{msgs}"
    );
    assert!(
        msgs.contains("schedule `outro`: unknown time zone \"Mars/Olympus\""),
        "{msgs}"
    );
    assert!(
        msgs.contains("node `i`: unknown schedule `inexistente`"),
        "{msgs}"
    );
}

#[test]
fn yaml_errors_name_the_file_and_line() {
    let yaml = "start: a\nnodes:\n  a:\n    type: play\n    prompts: [x]\n    nxt: b\n";
    let p = problems(&[("principal.yaml", yaml)]);
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].line, 3);
    let msg = p[0].to_string();
    assert!(msg.starts_with("ivr-flows/principal.yaml:3: "), "{msg}");
    assert!(msg.contains("unknown field `nxt`"), "{msg}");
    assert!(
        msg.contains("--> ivr-flows/principal.yaml:"),
        "snippet names the file: {msg}"
    );
}

#[test]
fn field_rules_are_checked() {
    let yaml = r#"
start: c
nodes:
  c:
    type: collect
    prompts: [x]
    variable: cpf
    min_digits: 3
    max_digits: 9
    validate: cpf
    first_digit_timeout: 0
    next: t
    on_failure: t
  t: { type: transfer, number: "1", extension: "2" }
  g: { type: goto }
"#;
    let p: Vec<Problem> = problems(&[("principal.yaml", yaml)])
        .into_iter()
        .map(|e| e.problem)
        .collect();
    assert!(p.contains(&Problem::CpfTooShort { max: 9 }), "{p:?}");
    assert!(p.contains(&Problem::BadTimeout {
        field: "first_digit_timeout",
        value: 0.0
    }));
    assert!(p.contains(&Problem::BadTransfer));
    assert!(p.contains(&Problem::BadGoto));
}

#[test]
fn entry_rules_must_name_existing_flows() {
    let entry =
        "default_flow: principal\nroutes:\n  - { name: surdos, did: [\"0800\"], flow: libras }\n";
    let msgs = messages(&[("principal.yaml", GOOD), ("entry.yaml", entry)]);
    assert_eq!(
        msgs,
        vec!["ivr-flows/entry.yaml:3: `routes[surdos].flow` names unknown flow `libras`"]
    );
}

#[test]
fn check_files_reports_only_the_named_files_but_resolves_their_neighbours() {
    let dir = tempfile::tempdir().expect("tempdir");
    let menu = GOOD.replace("0: humano", "0: chama").replace(
        "  humano: { type: queue, queue: geral }",
        "  humano: { type: queue, queue: geral }\n  chama: { type: call, flow: operador, next: fim }",
    );
    std::fs::write(dir.path().join("principal.yaml"), menu).expect("write");
    std::fs::write(
        dir.path().join("operador.yaml"),
        "start: fila\nnodes:\n  fila: { type: queue, queue: geral }\n",
    )
    .expect("write");
    std::fs::write(dir.path().join("quebrado.yaml"), "start: [").expect("write");
    let named = vec![dir.path().join("principal.yaml")];
    assert_eq!(super::check::check_files(&named, None), Vec::new());
    let broken = vec![dir.path().join("quebrado.yaml")];
    assert_eq!(super::check::check_files(&broken, None).len(), 1);
}

/// A menu written in block style with unquoted keys, `KEY` standing for the second option.
const BLOCK_MENU: &str = "start: menu
nodes:
  menu:
    type: menu
    prompts: [pt-BR/menu]
    options:
      0: humano
      KEY: fim
    on_failure: humano
  humano: { type: queue, queue: geral }
  fim: { type: hangup }
";

fn menu_keys(yaml: &str) -> Vec<String> {
    let src = Source {
        path: PathBuf::from("ivr-flows/principal.yaml"),
        text: yaml.to_owned(),
    };
    let set = FlowSet::from_sources(&[src], None).expect("the menu loads");
    let flow = &set.flows()[0];
    match &flow.nodes[flow.start].kind {
        super::model::NodeKind::Menu(m) => m.options.iter().map(|(k, _)| k.clone()).collect(),
        other => panic!("not a menu: {other:?}"),
    }
}

#[test]
fn unquoted_menu_keys_work_and_a_leading_zero_must_be_quoted() {
    // `0:` unquoted is the key 0, and it counts as the way to a human.
    assert_eq!(menu_keys(&BLOCK_MENU.replace("KEY", "1")), ["0", "1"]);
    assert_eq!(menu_keys(&BLOCK_MENU.replace("KEY", "\"07\"")), ["0", "07"]);
    assert_eq!(menu_keys(&BLOCK_MENU.replace("KEY", "'07'")), ["0", "07"]);
    // Unquoted, YAML reads `07` as 7 (octal 7 for YAML 1.1 tools): refused, saying how.
    for key in ["07", "00", "010"] {
        let msgs = messages(&[("principal.yaml", &BLOCK_MENU.replace("KEY", key))]);
        assert_eq!(
            msgs,
            vec![format!(
                "ivr-flows/principal.yaml:8: key {key} must be quoted: write \"{key}\": \
                 (unquoted, YAML reads it as a number and drops the leading zero, or older \
                 tools as octal)"
            )],
            "{key}"
        );
    }
    // The same in flow style and in entry.yaml.
    let inline = GOOD.replace("1: info", "01: info");
    assert_eq!(problems(&[("principal.yaml", &inline)]).len(), 1);
    let entry = "default_flow: principal\nroutes:\n  - { name: a, flow: principal, variables: { 05: x } }\n";
    let found = problems(&[("principal.yaml", GOOD), ("entry.yaml", entry)]);
    assert!(
        matches!(&found[..], [e] if e.line == 3 && matches!(&e.problem, Problem::UnquotedKey { key } if key == "05")),
        "{found:?}"
    );
}

mod never_panics {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

        /// Any text at all is either a flow set or a list of problems.
        #[test]
        fn on_arbitrary_text(text in "\\PC{0,300}") {
            let _ = problems(&[("principal.yaml", &text)]);
            let _ = problems(&[("entry.yaml", &text), ("principal.yaml", GOOD)]);
        }

        /// Dropping or duplicating a line of a good flow (what a hurried edit does).
        #[test]
        fn on_damaged_flows(line in 0usize..13, dup in any::<bool>()) {
            let mut lines: Vec<&str> = GOOD.lines().collect();
            if line < lines.len() {
                if dup { lines.insert(line, lines[line]); } else { lines.remove(line); }
            }
            let _ = problems(&[("principal.yaml", &lines.join("\n"))]);
        }
    }
}
