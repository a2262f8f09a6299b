//! Interpreter tests on a simulated clock: each test drives a call as the shell would
//! (keys, playback ends, HTTP answers, the clock jumping to the next timeout) and asserts
//! what the caller hears and where the call ends up.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::compile::Source;
use super::io::{Action, CallInfo, Destination, HttpReply, Input, IvrEvent, Outcome, PlaybackId};
use super::{FlowSet, Interpreter};

pub(super) fn set_of(files: &[(&str, &str)]) -> Arc<FlowSet> {
    let sources: Vec<Source> = files
        .iter()
        .map(|(name, text)| Source {
            path: PathBuf::from(format!("flows/{name}")),
            text: (*text).to_owned(),
        })
        .collect();
    match FlowSet::from_sources(&sources, None) {
        Ok(set) => Arc::new(set),
        Err(e) => panic!("test flows should be valid:\n{e}"),
    }
}

struct Call {
    ivr: Interpreter,
    now: Instant,
    actions: Vec<Action>,
    playing: Option<PlaybackId>,
}

const CPF: &str = "52998224725";

impl Call {
    fn new(set: Arc<FlowSet>) -> Call {
        Call {
            ivr: Interpreter::new(set),
            now: Instant::now(),
            actions: Vec::new(),
            playing: None,
        }
    }

    /// A call to the single flow `principal.yaml`, started at `at` (UTC, RFC 3339).
    fn flow(yaml: &str) -> Call {
        Call::at(yaml, "2026-11-24T12:30:00Z")
    }

    fn at(yaml: &str, at: &str) -> Call {
        let mut c = Call::new(set_of(&[("principal.yaml", yaml)]));
        c.start_as("11999990000", "08000000000", at);
        c
    }

    fn start_as(&mut self, ani: &str, did: &str, at: &str) {
        let wall = at.parse().expect("test timestamp");
        self.input(Input::CallStarted(CallInfo {
            ani: ani.into(),
            did: did.into(),
            protocol: "2026112400042".into(),
            wall,
        }));
    }

    fn input(&mut self, i: Input) {
        self.ivr.handle(self.now, i);
        self.drain();
    }

    fn drain(&mut self) {
        while let Some(a) = self.ivr.poll_action() {
            match &a {
                Action::Play { playback, .. } => self.playing = Some(*playback),
                Action::StopPlayback(p) if self.playing == Some(*p) => self.playing = None,
                _ => {}
            }
            self.actions.push(a);
        }
    }

    /// The current playback runs to its end.
    fn prompt_ends(&mut self) {
        if let Some(p) = self.playing.take() {
            self.input(Input::PromptFinished(p));
        }
    }

    fn keys(&mut self, keys: &str) {
        for k in keys.chars() {
            self.input(Input::Digit(k));
        }
    }

    /// Lets `secs` of silence pass, firing every timeout due on the way.
    fn wait(&mut self, secs: f64) {
        let until = self.now + Duration::from_secs_f64(secs);
        while let Some(at) = self.ivr.next_timeout().filter(|at| *at <= until) {
            self.now = at;
            self.ivr.handle_timeout(at);
            self.drain();
        }
        self.now = until;
    }

    /// Every playback requested, as prompt lists.
    fn heard(&self) -> Vec<Vec<String>> {
        self.actions
            .iter()
            .filter_map(|a| match a {
                Action::Play { prompts, .. } => Some(prompts.clone()),
                _ => None,
            })
            .collect()
    }

    fn last_heard(&self) -> Vec<String> {
        self.heard().pop().unwrap_or_default()
    }

    fn events(&self) -> Vec<IvrEvent> {
        self.actions
            .iter()
            .filter_map(|a| match a {
                Action::Log(e) => Some(e.clone()),
                _ => None,
            })
            .collect()
    }

    fn entered(&self) -> Vec<String> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                IvrEvent::NodeEntered { node, .. } => Some(node),
                _ => None,
            })
            .collect()
    }

    fn outcome(&self) -> Option<Outcome> {
        self.ivr.outcome().cloned()
    }

    fn enqueued(&self) -> Option<super::io::Enqueue> {
        self.actions.iter().find_map(|a| match a {
            Action::Enqueue(e) => Some(e.clone()),
            _ => None,
        })
    }
}

fn queued(q: &str) -> Option<Outcome> {
    Some(Outcome::Queued { queue: q.into() })
}

fn p(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

const MENU: &str = r#"
start: boas_vindas
nodes:
  boas_vindas:
    type: play
    prompts: [aviso-gravacao]
    next: menu
  menu:
    type: menu
    prompts: [menu-principal]
    options:
      1: pericia
      "21": pagamento
      "2": beneficios
      0: operador
    retries: 2
    first_digit_timeout: 5
    inter_digit_timeout: 2
    invalid_prompts: [opcao-invalida]
    timeout_prompts: [nao-ouvi]
    on_failure: operador
  pericia:
    type: queue
    queue: pericia
    priority: 1
    skills: [medico]
  pagamento:
    type: queue
    queue: pagamentos
  beneficios:
    type: queue
    queue: beneficios
  operador:
    type: queue
    queue: geral
"#;

#[test]
fn play_then_menu_option_to_a_queue() {
    let mut c = Call::flow(MENU);
    assert_eq!(c.heard(), vec![p(&["aviso-gravacao"])]);
    c.keys("1"); // no barge-in on the recording notice: ignored
    assert_eq!(c.heard().len(), 1);
    c.prompt_ends();
    assert_eq!(c.last_heard(), p(&["menu-principal"]));
    c.keys("1");
    assert_eq!(c.outcome(), queued("pericia"));
    let e = c.enqueued().expect("enqueued");
    assert_eq!((e.priority, e.skills), (1, p(&["medico"])));
    assert_eq!(
        e.variables.get("ani").map(String::as_str),
        Some("11999990000")
    );
    assert_eq!(c.entered(), p(&["boas_vindas", "menu", "pericia"]));
    assert!(c.events().contains(&IvrEvent::OptionChosen {
        node: "menu".into(),
        digits: "1".into(),
        target: "pericia".into()
    }));
}

#[test]
fn a_key_during_the_menu_prompt_stops_it() {
    let mut c = Call::flow(MENU);
    c.prompt_ends();
    let menu_playback = c.playing.expect("menu playing");
    c.keys("0");
    assert!(c.actions.contains(&Action::StopPlayback(menu_playback)));
    assert_eq!(c.outcome(), queued("geral"));
}

#[test]
fn multi_key_option_waits_the_inter_digit_timeout() {
    let mut c = Call::flow(MENU);
    c.prompt_ends();
    c.prompt_ends();
    c.keys("2");
    assert_eq!(c.outcome(), None, "2 could still become 21");
    c.keys("1");
    assert_eq!(c.outcome(), queued("pagamentos"));

    let mut c = Call::flow(MENU);
    c.prompt_ends();
    c.prompt_ends();
    c.keys("2");
    c.wait(1.9);
    assert_eq!(c.outcome(), None);
    c.wait(0.2);
    assert_eq!(c.outcome(), queued("beneficios"));
}

#[test]
fn silence_retries_with_the_timeout_prompt_then_takes_on_failure() {
    let mut c = Call::flow(MENU);
    c.prompt_ends();
    c.prompt_ends();
    c.wait(4.9);
    assert_eq!(c.heard().len(), 2);
    c.wait(0.2);
    assert_eq!(c.last_heard(), p(&["nao-ouvi", "menu-principal"]));
    c.prompt_ends();
    c.wait(5.0);
    assert_eq!(c.last_heard(), p(&["nao-ouvi", "menu-principal"]));
    c.prompt_ends();
    assert_eq!(c.outcome(), None);
    c.wait(5.0);
    assert_eq!(c.outcome(), queued("geral"));
    let timeouts = c
        .events()
        .iter()
        .filter(|e| matches!(e, IvrEvent::Timeout { .. }))
        .count();
    assert_eq!(timeouts, 3);
    assert!(c.events().iter().any(|e| matches!(
        e,
        IvrEvent::LastFailure { node, target, .. } if node == "menu" && target == "operador"
    )));
}

#[test]
fn invalid_keys_retry_with_the_invalid_prompt_then_take_on_failure() {
    let mut c = Call::flow(MENU);
    c.prompt_ends();
    c.keys("7");
    assert_eq!(c.last_heard(), p(&["opcao-invalida", "menu-principal"]));
    c.keys("9");
    assert_eq!(c.outcome(), None);
    c.keys("*");
    assert_eq!(c.outcome(), queued("geral"));
    assert!(c.events().contains(&IvrEvent::InvalidInput {
        node: "menu".into(),
        attempt: 3,
        digits: Some("*".into())
    }));
}

const BARGE: &str = r#"
start: aviso
nodes:
  aviso:
    type: play
    prompts: [aviso-longo]
    barge_in: true
    next: menu
  menu:
    type: menu
    prompts: [menu-principal]
    options: { 0: operador, 3: fim }
    on_failure: operador
  operador: { type: queue, queue: geral }
  fim: { type: hangup }
"#;

#[test]
fn barge_in_skips_the_prompt_and_the_key_counts_for_the_menu() {
    let mut c = Call::flow(BARGE);
    c.keys("3");
    assert_eq!(c.outcome(), Some(Outcome::ServedByIvr));
    assert!(c.actions.contains(&Action::HangUp));
    // The menu prompt was never played: the caller already knew the option.
    assert_eq!(c.heard(), vec![p(&["aviso-longo"])]);
}

const COLLECT: &str = r#"
start: cpf
nodes:
  cpf:
    type: collect
    prompts: [digite-cpf]
    variable: cpf
    min_digits: 11
    max_digits: 11
    validate: cpf
    invalid_prompts: [cpf-invalido]
    timeout_prompts: [nao-ouvi]
    retries: 1
    next: pronto
    on_failure: operador
  pronto: { type: queue, queue: beneficios, screen_pop: [cpf, protocol] }
  operador: { type: queue, queue: geral }
"#;

#[test]
fn collect_stores_a_valid_cpf() {
    let mut c = Call::flow(COLLECT);
    c.prompt_ends();
    c.keys(CPF);
    assert_eq!(c.outcome(), queued("beneficios"));
    let vars = c.enqueued().expect("enqueued").variables;
    assert_eq!(vars.get("cpf").map(String::as_str), Some(CPF));
    assert_eq!(vars.len(), 2, "only the screen-pop variables: {vars:?}");
    // The log keeps the length, never the CPF itself.
    assert!(c.events().contains(&IvrEvent::Collected {
        node: "cpf".into(),
        variable: "cpf".into(),
        length: 11
    }));
    assert!(!format!("{:?}", c.events()).contains(CPF));
}

#[test]
fn collect_rejects_a_bad_cpf_and_gives_up_after_the_retries() {
    let mut c = Call::flow(COLLECT);
    c.keys("52998224724");
    assert_eq!(c.last_heard(), p(&["cpf-invalido", "digite-cpf"]));
    c.keys("1234#"); // short entry ended by the terminator
    assert_eq!(c.outcome(), queued("geral"));
}

#[test]
fn collect_ends_an_entry_on_inter_digit_silence() {
    let mut c = Call::flow(COLLECT);
    c.prompt_ends();
    c.keys("5299822");
    c.wait(3.1);
    assert_eq!(c.last_heard(), p(&["cpf-invalido", "digite-cpf"]));
    c.prompt_ends();
    c.wait(5.1);
    assert_eq!(c.outcome(), queued("geral"));
    assert!(
        c.events()
            .iter()
            .any(|e| matches!(e, IvrEvent::Timeout { attempt: 2, .. }))
    );
}

const CONFIRM: &str = r#"
start: cpf
nodes:
  cpf:
    type: collect
    prompts: [digite-cpf]
    variable: cpf
    max_digits: 11
    min_digits: 11
    validate: cpf
    confirm: { before: [voce-digitou], after: [confirma] }
    next: fim
    on_failure: operador
  fim: { type: hangup }
  operador: { type: queue, queue: geral }
"#;

#[test]
fn collect_reads_the_entry_back_for_confirmation() {
    let mut c = Call::flow(CONFIRM);
    c.keys(CPF);
    let mut expected = p(&["voce-digitou"]);
    expected.extend(CPF.chars().map(|d| format!("pt-BR/digits/{d}")));
    expected.push("confirma".into());
    assert_eq!(c.last_heard(), expected);
    c.keys("2"); // type again
    assert_eq!(c.last_heard(), p(&["digite-cpf"]));
    c.keys(CPF);
    c.prompt_ends();
    c.keys("1");
    assert_eq!(c.outcome(), Some(Outcome::ServedByIvr));
    assert_eq!(c.ivr.variables().get("cpf").map(String::as_str), Some(CPF));
}

const SAY: &str = r#"
start: protocolo
nodes:
  protocolo:
    type: say
    what: protocol
    before: [seu-protocolo]
    next: quantia
  quantia:
    type: say
    what: number
    value: "${parcelas}"
    next: data
  data: { type: say, what: date, next: hora }
  hora: { type: say, what: time, next: fim }
  fim: { type: hangup }
"#;

#[test]
fn say_reads_protocol_numbers_dates_and_times() {
    // 12:30Z is 09:30 in São Paulo.
    let mut c = Call::flow(SAY);
    let first = c.last_heard();
    assert_eq!(first[0], "seu-protocolo");
    assert_eq!(first.len(), 1 + "2026112400042".len());
    assert_eq!(first[1], "pt-BR/digits/2");
    c.prompt_ends();
    // `parcelas` is unset: the number cannot be said; the flow goes on.
    assert!(
        c.events()
            .iter()
            .any(|e| matches!(e, IvrEvent::FlowError { node, .. } if node == "quantia"))
    );
    assert_eq!(
        c.last_heard(),
        p(&[
            "pt-BR/numbers/20",
            "pt-BR/words/e",
            "pt-BR/numbers/4",
            "pt-BR/words/de",
            "pt-BR/months/11",
            "pt-BR/words/de",
            "pt-BR/numbers/2",
            "pt-BR/numbers/mil",
            "pt-BR/words/e",
            "pt-BR/numbers/20",
            "pt-BR/words/e",
            "pt-BR/numbers/6",
        ])
    );
    c.prompt_ends();
    assert_eq!(
        c.last_heard(),
        p(&[
            "pt-BR/numbers/9",
            "pt-BR/words/horas",
            "pt-BR/words/e",
            "pt-BR/numbers/30",
            "pt-BR/words/minutos"
        ])
    );
    c.prompt_ends();
    assert_eq!(c.outcome(), Some(Outcome::ServedByIvr));
}

const BRANCH: &str = r#"
start: marca
nodes:
  marca:
    type: set
    values: { origem: "ura-${did}" }
    next: escolha
  escolha:
    type: branch
    cases:
      - when: { var: ani, starts_with: "61" }
        next: brasilia
      - when: { var: origem, equals: "ura-08001" }
        next: acessivel
      - when: { weekdays: [sat, sun] }
        next: fim_de_semana
      - when: { between: "12:00-14:00" }
        next: almoco
    default: geral
  brasilia: { type: queue, queue: brasilia }
  acessivel: { type: queue, queue: acessibilidade }
  fim_de_semana: { type: hangup }
  almoco: { type: queue, queue: almoco }
  geral: { type: queue, queue: geral }
"#;

fn branch_call(ani: &str, did: &str, at: &str) -> Option<Outcome> {
    let mut c = Call::new(set_of(&[("principal.yaml", BRANCH)]));
    c.start_as(ani, did, at);
    c.outcome()
}

#[test]
fn branch_on_a_number_a_variable_the_weekday_and_the_time() {
    let tue_0930 = "2026-11-24T12:30:00Z";
    assert_eq!(
        branch_call("6133334444", "08002", tue_0930),
        queued("brasilia")
    );
    assert_eq!(
        branch_call("1133334444", "08001", tue_0930),
        queued("acessibilidade")
    );
    assert_eq!(
        branch_call("1133334444", "08002", "2026-11-28T12:30:00Z"),
        Some(Outcome::ServedByIvr)
    );
    // 15:30Z is 12:30 in São Paulo.
    assert_eq!(
        branch_call("1133334444", "08002", "2026-11-24T15:30:00Z"),
        queued("almoco")
    );
    assert_eq!(
        branch_call("1133334444", "08002", tue_0930),
        queued("geral")
    );
}

fn schedule_flow(tz: &str) -> String {
    format!(
        r#"
start: horario
schedules:
  expediente:
    timezone: {tz}
    weekly: {{ mon: ["08:00-18:00"], tue: ["08:00-18:00"], wed: ["08:00-18:00"],
              thu: ["08:00-18:00"], fri: ["08:00-18:00"] }}
    holidays: {{ national: BR, dates: ["12-24"] }}
nodes:
  horario:
    type: schedule
    schedule: expediente
    open: aberto
    closed: fechado
    holiday: feriado
  aberto: {{ type: queue, queue: geral }}
  fechado: {{ type: hangup }}
  feriado: {{ type: queue, queue: plantao }}
"#
    )
}

fn schedule_call(tz: &str, at: &str) -> Option<Outcome> {
    let mut c = Call::new(set_of(&[("principal.yaml", &schedule_flow(tz))]));
    c.start_as("1133334444", "08000", at);
    c.outcome()
}

#[test]
fn schedule_opening_hours_and_holidays_in_sao_paulo() {
    let sp = "America/Sao_Paulo";
    // Tuesday 09:30 local (UTC-3).
    assert_eq!(schedule_call(sp, "2026-11-24T12:30:00Z"), queued("geral"));
    // Tuesday 18:00 local: closed (end excluded); 07:59 closed.
    assert_eq!(
        schedule_call(sp, "2026-11-24T21:00:00Z"),
        Some(Outcome::ServedByIvr)
    );
    assert_eq!(
        schedule_call(sp, "2026-11-24T10:59:00Z"),
        Some(Outcome::ServedByIvr)
    );
    // Saturday: closed, not a holiday.
    assert_eq!(
        schedule_call(sp, "2026-11-28T13:00:00Z"),
        Some(Outcome::ServedByIvr)
    );
    // Carnaval Monday 2026-02-16, Good Friday 2026-04-03, a yearly 12-24: holidays.
    assert_eq!(schedule_call(sp, "2026-02-16T13:00:00Z"), queued("plantao"));
    assert_eq!(schedule_call(sp, "2026-04-03T13:00:00Z"), queued("plantao"));
    assert_eq!(schedule_call(sp, "2026-12-24T13:00:00Z"), queued("plantao"));
}

#[test]
fn schedule_follows_daylight_saving_time() {
    // Brazil last had DST in 2018-19: from 2018-11-04 São Paulo was UTC-2.
    let sp = "America/Sao_Paulo";
    // 10:30Z: Thu 2018-11-01 07:30 (UTC-3) closed, Mon 2018-11-05 08:30 (UTC-2) open.
    assert_eq!(
        schedule_call(sp, "2018-11-01T10:30:00Z"),
        Some(Outcome::ServedByIvr)
    );
    assert_eq!(schedule_call(sp, "2018-11-05T10:30:00Z"), queued("geral"));
    // New York springs forward on 2026-03-08: 12:30Z is 07:30 EST on Friday the 6th and
    // 08:30 EDT on Monday the 9th.
    let ny = "America/New_York";
    assert_eq!(
        schedule_call(ny, "2026-03-06T12:30:00Z"),
        Some(Outcome::ServedByIvr)
    );
    assert_eq!(schedule_call(ny, "2026-03-09T12:30:00Z"), queued("geral"));
}

#[test]
fn a_call_in_progress_sees_the_clock_move() {
    // Enters at 17:59:58 local on a weekday, waits in a menu, then checks the schedule.
    let yaml = r#"
start: menu
schedules:
  expediente: { timezone: America/Sao_Paulo, weekly: { tue: ["08:00-18:00"] } }
nodes:
  menu:
    type: menu
    prompts: [m]
    options: { 0: horario }
    on_failure: horario
    retries: 0
    first_digit_timeout: 5
  horario: { type: schedule, schedule: expediente, open: aberto, closed: fechado }
  aberto: { type: queue, queue: geral }
  fechado: { type: hangup }
"#;
    let mut c = Call::at(yaml, "2026-11-24T20:59:58Z");
    c.prompt_ends();
    c.wait(5.0);
    assert_eq!(c.outcome(), Some(Outcome::ServedByIvr));
}

const HTTP: &str = r#"
start: consulta
nodes:
  consulta:
    type: http
    url: "http://consulta.local/processos?cpf=${cpf}&nome=${nome}"
    headers: { Authorization: "Bearer ${token}" }
    timeout: 2
    fields: { situacao: /situacao, dias: /prazo/dias }
    next: diz
    on_error: falhou
  diz: { type: say, what: number, value: "${dias}", next: fim }
  fim: { type: hangup }
  falhou: { type: queue, queue: geral }
"#;

fn http_call() -> (Call, super::io::FetchRequest) {
    let mut c = Call::new(set_of(&[
        ("principal.yaml", HTTP),
        (
            "entry.yaml",
            "routes:\n  - { name: teste, flow: principal, variables: { cpf: \"529\", nome: \"Zé Silva\", token: t0k } }\n",
        ),
    ]));
    c.start_as("1133334444", "08000", "2026-11-24T12:30:00Z");
    let fetch = c
        .actions
        .iter()
        .find_map(|a| match a {
            Action::Fetch(f) => Some(f.clone()),
            _ => None,
        })
        .expect("a fetch");
    (c, fetch)
}

#[test]
fn http_maps_json_fields_into_variables() {
    let (mut c, fetch) = http_call();
    assert_eq!(
        fetch.url,
        "http://consulta.local/processos?cpf=529&nome=Z%C3%A9%20Silva"
    );
    assert_eq!(
        fetch.headers,
        vec![("Authorization".into(), "Bearer t0k".into())]
    );
    assert_eq!(fetch.timeout, Duration::from_secs(2));
    c.input(Input::HttpResult {
        request: fetch.request,
        result: Ok(HttpReply {
            status: 200,
            body: r#"{"situacao":"em análise","prazo":{"dias":15}}"#.into(),
        }),
    });
    assert_eq!(
        c.ivr.variables().get("situacao").map(String::as_str),
        Some("em análise")
    );
    assert_eq!(c.last_heard(), p(&["pt-BR/numbers/15"]));
}

#[test]
fn http_timeout_takes_the_fallback_and_ignores_the_late_answer() {
    let (mut c, fetch) = http_call();
    c.wait(1.9);
    assert_eq!(c.outcome(), None);
    c.wait(0.2);
    assert!(c.actions.contains(&Action::CancelFetch(fetch.request)));
    assert_eq!(c.outcome(), queued("geral"));
    assert!(c.events().contains(&IvrEvent::HttpFailed {
        node: "consulta".into(),
        reason: "timeout".into()
    }));
    let before = c.actions.len();
    c.input(Input::HttpResult {
        request: fetch.request,
        result: Ok(HttpReply {
            status: 200,
            body: "{}".into(),
        }),
    });
    assert_eq!(c.actions.len(), before);
}

#[test]
fn http_errors_bad_status_and_missing_fields_take_the_fallback() {
    for result in [
        Err("connection refused".to_owned()),
        Ok(HttpReply {
            status: 503,
            body: String::new(),
        }),
        Ok(HttpReply {
            status: 200,
            body: r#"{"situacao":"ok"}"#.into(),
        }),
        Ok(HttpReply {
            status: 200,
            body: "<html>".into(),
        }),
    ] {
        let (mut c, fetch) = http_call();
        c.input(Input::HttpResult {
            request: fetch.request,
            result,
        });
        assert_eq!(c.outcome(), queued("geral"));
    }
}

#[test]
fn keys_typed_while_waiting_for_http_go_to_the_next_menu() {
    let yaml = r#"
start: consulta
nodes:
  consulta: { type: http, url: "http://x/", next: menu, on_error: menu }
  menu:
    type: menu
    prompts: [m]
    options: { 0: geral, 1: fim }
    on_failure: geral
  geral: { type: queue, queue: geral }
  fim: { type: hangup }
"#;
    let mut c = Call::flow(yaml);
    c.keys("1");
    c.wait(3.0); // HTTP timeout, then the menu takes the typed-ahead 1
    assert_eq!(c.outcome(), Some(Outcome::ServedByIvr));
}

const ENTRY: &str = r#"
default_flow: principal
routes:
  - name: acessibilidade
    did: ["08009990001"]
    flow: acessivel
    priority_boost: 10
    variables: { preferencial: "sim" }
  - name: interno
    ani_prefix: ["2000"]
    flow: acessivel
"#;

#[test]
fn entry_rules_pick_the_flow_and_boost_the_priority() {
    let acessivel =
        "start: fila\nnodes:\n  fila: { type: queue, queue: acessibilidade, priority: 1 }\n";
    let principal = "start: fila\nnodes:\n  fila: { type: queue, queue: geral }\n";
    let set = set_of(&[
        ("entry.yaml", ENTRY),
        ("acessivel.yaml", acessivel),
        ("principal.yaml", principal),
    ]);
    let mut c = Call::new(set.clone());
    c.start_as("11999990000", "08009990001", "2026-11-24T12:30:00Z");
    let e = c.enqueued().expect("enqueued");
    assert_eq!((e.queue.as_str(), e.priority), ("acessibilidade", 11));
    assert_eq!(
        e.variables.get("preferencial").map(String::as_str),
        Some("sim")
    );

    let mut c = Call::new(set.clone());
    c.start_as("20001234", "08000000000", "2026-11-24T12:30:00Z");
    assert_eq!(
        c.enqueued().map(|e| (e.queue, e.priority)),
        Some(("acessibilidade".into(), 1))
    );

    let mut c = Call::new(set);
    c.start_as("11999990000", "08000000000", "2026-11-24T12:30:00Z");
    assert_eq!(c.outcome(), queued("geral"));
}

#[test]
fn sub_flow_returns_to_the_caller_and_goto_jumps() {
    let principal = r#"
start: ouvir
nodes:
  ouvir: { type: call, flow: protocolo, next: depois }
  depois: { type: goto, target: transferir }
  transferir: { type: transfer, number: "08002345678" }
"#;
    let protocolo = r#"
start: diz
nodes:
  diz: { type: say, what: protocol, next: volta }
  volta: { type: return }
"#;
    let mut c = Call::new(set_of(&[
        ("principal.yaml", principal),
        ("protocolo.yaml", protocolo),
    ]));
    c.start_as("1", "2", "2026-11-24T12:30:00Z");
    assert_eq!(c.last_heard().len(), 13);
    c.prompt_ends();
    assert_eq!(
        c.outcome(),
        Some(Outcome::Transferred {
            to: Destination::Number("08002345678".into())
        })
    );
    assert_eq!(
        c.entered(),
        p(&["ouvir", "diz", "volta", "depois", "transferir"])
    );
    assert!(c.events().contains(&IvrEvent::SubflowReturned {
        flow: "protocolo".into()
    }));
}

#[test]
fn caller_hanging_up_abandons_in_the_node() {
    let mut c = Call::flow(MENU);
    c.prompt_ends();
    c.input(Input::HungUp);
    assert_eq!(c.outcome(), Some(Outcome::Abandoned));
    assert!(c.events().contains(&IvrEvent::HungUpIn {
        flow: "principal".into(),
        node: "menu".into()
    }));
    assert_eq!(c.ivr.next_timeout(), None);
    let before = c.actions.len();
    c.keys("1");
    c.input(Input::HungUp);
    assert_eq!(c.actions.len(), before, "nothing after the end");
}

#[test]
fn a_stale_prompt_finished_is_ignored() {
    let mut c = Call::flow(MENU);
    let old = c.playing.expect("notice playing");
    c.prompt_ends();
    c.input(Input::PromptFinished(old));
    assert_eq!(c.entered(), p(&["boas_vindas", "menu"]));
    assert_eq!(c.ivr.next_timeout(), None, "menu prompt still playing");
}

#[test]
fn a_loop_that_never_waits_goes_to_the_fallback_queue() {
    // `check` refuses such a flow; compile it without checking to see the run-time guard.
    let yaml = "start: a\nnodes:\n  a: { type: set, values: { x: \"1\" }, next: b }\n  b: { type: goto, target: a }\n";
    let (mut set, errors) = super::compile::compile(&[Source {
        path: "principal.yaml".into(),
        text: yaml.into(),
    }]);
    assert!(errors.is_empty(), "{errors:?}");
    super::compile::link(&mut set);
    let mut c = Call::new(Arc::new(set));
    c.start_as("1", "2", "2026-11-24T12:30:00Z");
    assert_eq!(c.outcome(), queued("geral"));
}

#[test]
fn the_pure_core_reads_no_clock_and_imports_no_shell() {
    // A lint would be better; clippy's disallowed-methods is crate-wide, so read the files.
    let forbidden = [
        "Instant::now",
        "SystemTime",
        "Timestamp::now",
        "tokio",
        "sqlx",
        "reqwest",
        "std::fs",
        "std::net",
        "crate::sip",
        "crate::media",
        "crate::store",
        "crate::api",
        "rand::",
    ];
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/ivr");
    for file in [
        "interp.rs",
        "keys.rs",
        "say.rs",
        "cpf.rs",
        "../template.rs",
        "model.rs",
        "io.rs",
    ] {
        let text = std::fs::read_to_string(dir.join(file)).expect("source readable");
        for word in forbidden {
            assert!(!text.contains(word), "src/ivr/{file} mentions `{word}`");
        }
    }
}

#[test]
fn an_empty_flow_set_is_refused() {
    let err = FlowSet::from_sources(&[], None).expect_err("no flows");
    assert!(err.to_string().contains("no flow files"), "{err}");
}

#[test]
fn a_queue_hands_the_call_back_to_a_node_with_its_variables() {
    let set = set_of(&[("principal.yaml", MENU)]);
    let vars = [("cpf".to_owned(), CPF.to_owned())].into_iter().collect();
    let ivr = Interpreter::resume_at(set.clone(), "principal/menu", vars).expect("node exists");
    let mut c = Call {
        ivr,
        now: Instant::now(),
        actions: Vec::new(),
        playing: None,
    };
    c.start_as("11999990000", "08000000000", "2026-11-24T12:30:00Z");
    assert_eq!(
        c.heard(),
        vec![p(&["menu-principal"])],
        "no welcome again: straight to the node"
    );
    assert!(c.events().contains(&IvrEvent::FlowStarted {
        flow: "principal".into(),
        route: "queue".into()
    }));
    c.keys("1");
    let e = c.enqueued().expect("enqueued again");
    assert_eq!(e.queue, "pericia");
    assert_eq!(e.variables.get("cpf").map(String::as_str), Some(CPF));
    // A flow's name alone starts it at its first node; unknown targets are refused.
    assert!(Interpreter::resume_at(set.clone(), "principal", Default::default()).is_some());
    assert!(Interpreter::resume_at(set.clone(), "principal/nope", Default::default()).is_none());
    assert!(Interpreter::resume_at(set, "nope", Default::default()).is_none());
}
