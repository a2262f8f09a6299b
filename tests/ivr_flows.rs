//! The shipped IVR (`ivr-flows/`, `prompts/pt-BR/`): it passes `atende ivr check`, its
//! JSON Schema is current, and calls through it on a simulated clock end where the
//! institute wants them: a human in every menu, self-service 24×7, the protocol on request.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use atende::ivr::format::{entry_schema_json, flow_schema_json};
use atende::ivr::model::NodeKind;
use atende::ivr::sim::{self, HttpFixture, Report, WavDurations};
use atende::ivr::{CallInfo, FlowSet, Interpreter, Outcome};

const FLOWS: &str = "ivr-flows";
const PROMPTS: &str = "prompts";

fn shipped() -> Arc<FlowSet> {
    match FlowSet::load_dir(Path::new(FLOWS), Some(Path::new(PROMPTS))) {
        Ok(set) => Arc::new(set),
        Err(e) => panic!("atende ivr check fails on the shipped flows:\n{e}"),
    }
}

/// A call to the main number (or `did`) at a São Paulo local time, pressing `keys`.
fn call(did: &str, local: &str, keys: &str) -> Report {
    let set = shipped();
    let tz = jiff::tz::TimeZone::get("America/Sao_Paulo").expect("tzdata");
    let wall = local
        .parse::<jiff::civil::DateTime>()
        .expect("local time")
        .to_zoned_datetime(tz)
        .expect("exists")
        .timestamp();
    let fixture =
        HttpFixture::load(Path::new("ivr-flows/fixtures/consulta-processo.yaml")).expect("fixture");
    let presses: Vec<String> = keys.split(',').map(|k| k.replace('_', "")).collect();
    let mut wavs = WavDurations::new(Path::new(PROMPTS));
    sim::run(
        Interpreter::new(set),
        CallInfo {
            ani: "11987654321".into(),
            did: did.into(),
            protocol: "2026112400042".into(),
            wall,
        },
        &presses,
        &fixture,
        &mut |p| wavs.duration(p),
    )
}

const MAIN: &str = "08000000000";
const TUESDAY_MORNING: &str = "2026-11-24T09:30";

fn queued(q: &str) -> Option<Outcome> {
    Some(Outcome::Queued { queue: q.into() })
}

#[test]
fn shipped_flows_pass_check_with_their_prompts() {
    let set = shipped();
    for name in [
        "principal",
        "operador",
        "protocolo",
        "consulta-processo",
        "acessibilidade",
    ] {
        assert!(set.flow_id(name).is_some(), "flow {name} shipped");
    }
}

#[test]
fn every_menu_has_at_most_nine_options_besides_zero_and_offers_zero() {
    let set = shipped();
    for flow in set.flows() {
        for node in &flow.nodes {
            if let NodeKind::Menu(m) = &node.kind {
                let others = m.options.iter().filter(|(k, _)| k != "0").count();
                assert!(
                    others <= 9,
                    "{}/{} has {others} options",
                    flow.name,
                    node.name
                );
                assert!(
                    m.options.iter().any(|(k, _)| k == "0"),
                    "{}/{} has no option 0",
                    flow.name,
                    node.name
                );
            }
        }
    }
}

#[test]
fn published_json_schemas_are_up_to_date() {
    let flow = std::fs::read_to_string("ivr-flows/flow.schema.json").expect("flow schema");
    assert!(
        flow == flow_schema_json(),
        "ivr-flows/flow.schema.json is stale: run `atende ivr schema > ivr-flows/flow.schema.json`"
    );
    let entry = std::fs::read_to_string("ivr-flows/entry.schema.json").expect("entry schema");
    assert!(
        entry == entry_schema_json(),
        "ivr-flows/entry.schema.json is stale: run `atende ivr schema --entry > ivr-flows/entry.schema.json`"
    );
}

#[test]
fn medical_examination_booking_reaches_the_pericia_queue() {
    let r = call(MAIN, TUESDAY_MORNING, "1,1");
    assert_eq!(r.outcome, queued("pericia"), "{}", r.transcript());
    assert_eq!(r.prompts[0], vec!["pt-BR/ura/boas-vindas"]);
    assert_eq!(r.prompts[1], vec!["pt-BR/ura/menu-principal"]);
    assert_eq!(r.prompts[2], vec!["pt-BR/ura/menu-pericia"]);
}

#[test]
fn zero_reaches_an_operator_from_every_business_hours_menu() {
    for keys in ["0", "1,0", "2,0", "3,0", "4,0", "6,0", "7,0", "8,_,0"] {
        let r = call(MAIN, TUESDAY_MORNING, keys);
        assert_eq!(
            r.outcome,
            queued("geral"),
            "keys {keys}:\n{}",
            r.transcript()
        );
    }
}

#[test]
fn a_silent_caller_still_reaches_a_human() {
    let r = call(MAIN, TUESDAY_MORNING, "");
    assert_eq!(r.outcome, queued("geral"), "{}", r.transcript());
}

#[test]
fn process_status_is_read_back_after_a_valid_cpf() {
    let r = call(MAIN, TUESDAY_MORNING, "5,52998224725,1,9,8");
    let heard: Vec<&str> = r.prompts.iter().flatten().map(String::as_str).collect();
    let status = heard
        .iter()
        .position(|p| *p == "pt-BR/ura/status-em-analise");
    assert!(status.is_some(), "{}", r.transcript());
    assert!(heard.contains(&"pt-BR/ura/numero-processo"));
    // Back in the main menu, 8 says the protocol number digit by digit.
    let protocol = heard
        .iter()
        .position(|p| *p == "pt-BR/ura/seu-protocolo")
        .expect("protocol said");
    let digits: String = heard[protocol + 1..protocol + 14]
        .iter()
        .map(|p| p.trim_start_matches("pt-BR/digits/"))
        .collect();
    assert_eq!(digits, "2026112400042");
}

#[test]
fn a_process_service_that_does_not_answer_falls_back_to_a_human() {
    // The fixture never answers for this CPF: the 4 s timeout takes `on_error`.
    let r = call(MAIN, TUESDAY_MORNING, "5,11144477735,1,0");
    let heard: Vec<&str> = r.prompts.iter().flatten().map(String::as_str).collect();
    assert!(
        heard.contains(&"pt-BR/ura/sistema-indisponivel"),
        "{}",
        r.transcript()
    );
    assert_eq!(r.outcome, queued("geral"));
}

#[test]
fn an_invalid_cpf_is_refused() {
    let r = call(
        MAIN,
        TUESDAY_MORNING,
        "5,12345678900,12345678900,12345678900,0",
    );
    let heard: Vec<&str> = r.prompts.iter().flatten().map(String::as_str).collect();
    assert_eq!(
        heard
            .iter()
            .filter(|p| **p == "pt-BR/ura/cpf-invalido")
            .count(),
        2
    );
    assert!(
        heard.contains(&"pt-BR/ura/cpf-nao-validado"),
        "{}",
        r.transcript()
    );
    assert_eq!(r.outcome, queued("geral"));
}

#[test]
fn after_hours_offers_self_service_and_says_when_humans_work() {
    let r = call(MAIN, "2026-11-24T19:30", "2,0");
    assert_eq!(r.prompts[1], vec!["pt-BR/ura/fora-do-horario"]);
    assert_eq!(r.prompts[2], vec!["pt-BR/ura/menu-autoatendimento"]);
    let heard: Vec<&str> = r.prompts.iter().flatten().map(String::as_str).collect();
    assert!(heard.contains(&"pt-BR/ura/calendario-pagamento"));
    assert!(heard.contains(&"pt-BR/ura/atendentes-indisponiveis"));
    assert_eq!(r.outcome, Some(Outcome::ServedByIvr), "{}", r.transcript());
}

#[test]
fn holidays_close_human_service() {
    // Carnaval Tuesday 2026-02-17, mid-morning.
    let r = call(MAIN, "2026-02-17T10:00", "9");
    assert_eq!(
        r.prompts[1],
        vec!["pt-BR/ura/feriado"],
        "{}",
        r.transcript()
    );
    assert_eq!(r.outcome, Some(Outcome::ServedByIvr));
}

#[test]
fn the_accessibility_number_goes_straight_to_preferential_service() {
    let r = call("08006000190", "2026-11-24T19:30", "");
    assert_eq!(r.outcome, queued("acessibilidade"), "{}", r.transcript());
    assert!(r.transcript().contains("priority 15"), "{}", r.transcript());
    assert!(r.elapsed < Duration::from_secs(15));
}
