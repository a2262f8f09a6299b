//! End to end: the satisfaction survey (ISA) after the agent. A sipp caller goes through
//! the shipped IVR (0: operator) to queue "geral", whose survey has two questions; the
//! agent's phone (sipp) answers and hangs up (or transfers the caller to `survey` with
//! its transfer key), and the caller answers by RFC 4733 keys: 5 and 3; silence, then an
//! invalid key and a 4; or hangs up mid-survey. The call's event log says what was asked
//! and answered, about which agent; the citizen's recording runs to the end of the
//! survey. A caller who hangs up before the agent gets no survey. SQLite and PostgreSQL.
//!
//! Prompts are 0.2 s tones and the survey waits 4 s for a key, so the keys' times below
//! (from the caller's answer) fall well inside each question's wait.

mod support;

use atende::floor::calls::{CallCommand, CommandError, TransferTarget};
use support::in_process::set_in_process;
use support::ivr::*;
use support::*;

const SURVEY: &str = r#"
[surveys.atendimento]
queues = ["geral"]
intro_prompt = "pt-BR/pesquisa/introducao"
questions = [
    { id = "atendente", prompt = "pt-BR/pesquisa/atendente" },
    { id = "instituto", prompt = "pt-BR/pesquisa/instituto", isa = false },
]
timeout_secs = 4
retries = 1
timeout_prompt = "pt-BR/ura/nao-ouvi"
invalid_prompt = "pt-BR/ura/opcao-invalida"
thanks_prompt = "pt-BR/pesquisa/obrigado"
"#;

fn server(db: Db) -> Server {
    Server::start_ivr_config(
        db,
        &IvrOptions::open_with(&["1001"]),
        Prompts::Short,
        10,
        "",
        SURVEY,
    )
}

/// The agent's phone: answers after 300 ms and hangs up after `talk_ms`.
fn agent_hanging_up(server: &Server, talk_ms: u64) -> std::process::Child {
    let port = free_port();
    register_agent(server, "1001", port);
    start_agent(
        server,
        "agent_hangs_up.xml",
        port,
        1,
        &[
            ("ANSWER_AFTER_MS", "300".into()),
            ("TALK_MS", talk_ms.to_string()),
        ],
    )
}

/// (question, score, reason) of each `survey_answered`, in log order.
fn answers(events: &[serde_json::Value]) -> Vec<(String, Option<u64>, Option<String>)> {
    events
        .iter()
        .filter(|e| e["kind"] == "survey_answered")
        .map(|e| {
            let d = &e["detail"];
            assert_eq!(d["survey"], "atendimento");
            assert_eq!(d["agent"], "1001", "the answers are about the agent: {d}");
            assert_eq!(d["isa"], d["question"] == "atendente", "{d}");
            (
                d["question"].as_str().unwrap_or("?").to_owned(),
                d["score"].as_u64(),
                d["reason"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

fn a(q: &str, score: Option<u64>, reason: Option<&str>) -> (String, Option<u64>, Option<String>) {
    (q.to_owned(), score, reason.map(str::to_owned))
}

/// The log's order: bridged, the agent's part ends (survey started), answers, hang-up;
/// and the caller's own audio is in the recording after the survey started.
fn assert_survey_story(server: &Server, protocol: &str, events: &[serde_json::Value]) {
    let k = kinds(events);
    let pos = |kind: &str| {
        k.iter()
            .position(|x| x == kind)
            .unwrap_or_else(|| panic!("no {kind} in {k:?}"))
    };
    let started = event(events, "survey_started");
    assert_eq!(started["detail"]["survey"], "atendimento");
    assert_eq!(started["detail"]["agent"], "1001");
    assert!(pos("bridged") < pos("survey_started"), "{k:?}");
    let last_answer = k.iter().rposition(|x| x == "survey_answered");
    if let Some(last) = last_answer {
        assert!(
            pos("survey_started") < last && last < pos("hung_up"),
            "{k:?}"
        );
    }
    // The citizen's 440 Hz goes on in the recording while they answer.
    let (left, _) = recording(server, protocol);
    let from = (at_ms(events, "survey_started") - at_ms(events, "answered")) as usize * 8 + 2000;
    let part = &left[from.min(left.len())..left.len().saturating_sub(2000)];
    assert!(
        part.len() > 8000 && rms(part) > 1000.0,
        "caller not recorded during the survey ({} samples)",
        part.len()
    );
}

/// The agent hangs up; the caller presses 5, then 3; atende thanks and hangs up.
fn five_and_three(db: Db) {
    let server = server(db);
    let agent = agent_hanging_up(&server, 1500);
    let caller = start_ivr_caller(
        &server,
        &[(800, "0"), (4200, "5"), (1500, "3")],
        20_000,
        true,
    );
    wait_ok(caller, "caller", &server);
    wait_ok(agent, "agent phone", &server);
    let (protocol, events) = wait_for_event(&server, "recording_finalized");
    assert_eq!(
        answers(&events),
        [a("atendente", Some(5), None), a("instituto", Some(3), None)]
    );
    let hung = event(&events, "hung_up");
    assert_eq!(hung["detail"]["by"], "system");
    assert_eq!(hung["detail"]["cause"], "survey_completed");
    // The agent's call ended in the ACD when they hung up (talk stops there), before the
    // caller's first answer: the agent is free while the caller answers.
    let seq = |pred: &dyn Fn(&serde_json::Value) -> bool| {
        events
            .iter()
            .find(|e| pred(e))
            .and_then(|e| e["seq"].as_i64())
            .unwrap_or_else(|| panic!("missing event in {:?}", kinds(&events)))
    };
    let acd_ended = seq(&|e| {
        e["kind"] == "acd"
            && e["detail"]["event"]["kind"] == "call_ended"
            && e["detail"]["event"]["agent"] == "1001"
    });
    let started = seq(&|e| e["kind"] == "survey_started");
    let first_answer = seq(&|e| e["kind"] == "survey_answered");
    assert!(started < acd_ended && acd_ended < first_answer);
    assert_survey_story(&server, &protocol, &events);
    assert_eq!(server.metric("atende_active_calls"), 0.0);
}

#[test]
fn survey_five_and_three_sqlite() {
    five_and_three(Db::Sqlite);
}

#[test]
fn survey_five_and_three_postgres() {
    five_and_three(Db::Postgres);
}

/// Silence on the first question (asked twice: no answer, timeout); on the second an
/// invalid key (9), then 4.
fn silence_then_invalid_then_four(db: Db) {
    let server = server(db);
    let agent = agent_hanging_up(&server, 1500);
    let caller = start_ivr_caller(
        &server,
        &[(800, "0"), (12_200, "9"), (1500, "4")],
        25_000,
        true,
    );
    wait_ok(caller, "caller", &server);
    wait_ok(agent, "agent phone", &server);
    let (protocol, events) = wait_for_event(&server, "recording_finalized");
    assert_eq!(
        answers(&events),
        [
            a("atendente", None, Some("timeout")),
            a("instituto", Some(4), None)
        ]
    );
    // Every key the caller pressed is in the log too.
    let keys: Vec<String> = events
        .iter()
        .filter(|e| e["kind"] == "dtmf")
        .map(|e| e["detail"]["digit"].as_str().unwrap_or("?").to_owned())
        .collect();
    assert_eq!(keys, ["0", "9", "4"], "the keys logged as pressed");
    // What the caller heard from the survey, in order: each retry prompt before the
    // question again, then the thanks.
    let started = at_ms(&events, "survey_started");
    let heard: Vec<&str> = events
        .iter()
        .filter(|e| e["kind"] == "prompt_played" && e["at_ms"].as_i64() >= Some(started))
        .map(|e| e["detail"]["prompt"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(
        heard,
        [
            "pt-BR/pesquisa/introducao",
            "pt-BR/pesquisa/atendente",
            "pt-BR/ura/nao-ouvi",
            "pt-BR/pesquisa/atendente",
            "pt-BR/pesquisa/instituto",
            "pt-BR/ura/opcao-invalida",
            "pt-BR/pesquisa/instituto",
            "pt-BR/pesquisa/obrigado",
        ]
    );
    assert_eq!(
        event(&events, "hung_up")["detail"]["cause"],
        "survey_completed"
    );
    assert_survey_story(&server, &protocol, &events);
}

#[test]
fn survey_silence_invalid_then_four_sqlite() {
    silence_then_invalid_then_four(Db::Sqlite);
}

#[test]
fn survey_silence_invalid_then_four_postgres() {
    silence_then_invalid_then_four(Db::Postgres);
}

/// The caller hangs up while the first question waits: it is logged as not answered
/// (hung_up), the second is never asked, the hang-up is the caller's.
fn caller_hangs_up_mid_survey(db: Db) {
    let server = server(db);
    let agent = agent_hanging_up(&server, 1500);
    let caller = start_ivr_caller(&server, &[(800, "0")], 4500, false);
    wait_ok(caller, "caller", &server);
    wait_ok(agent, "agent phone", &server);
    let (protocol, events) = wait_for_event(&server, "recording_finalized");
    assert_eq!(answers(&events), [a("atendente", None, Some("hung_up"))]);
    let hung = event(&events, "hung_up");
    assert_eq!(hung["detail"]["by"], "caller");
    assert_survey_story(&server, &protocol, &events);
}

#[test]
fn survey_caller_hangs_up_mid_survey_sqlite() {
    caller_hangs_up_mid_survey(Db::Sqlite);
}

#[test]
fn survey_caller_hangs_up_mid_survey_postgres() {
    caller_hangs_up_mid_survey(Db::Postgres);
}

/// The caller hangs up while talking to the agent: no survey, nothing invented.
#[test]
fn a_caller_hanging_up_first_gets_no_survey() {
    let server = server(Db::Sqlite);
    let port = free_port();
    register_agent(&server, "1001", port);
    let agent = start_answering_agent(&server, port, 1, 300);
    let caller = start_ivr_caller(&server, &[(800, "0")], 3000, false);
    wait_ok(caller, "caller", &server);
    wait_ok(agent, "agent phone", &server);
    let (_, events) = wait_for_event(&server, "recording_finalized");
    let k = kinds(&events);
    assert!(k.contains(&"bridged".to_owned()), "{k:?}");
    assert!(
        !k.iter().any(|x| x.starts_with("survey")),
        "no survey entry expected: {k:?}"
    );
    assert_eq!(event(&events, "hung_up")["detail"]["by"], "caller");
}

/// The agent's phone transfers the caller to `survey` (blind REFER): NOTIFY 200, the
/// agent's leg is hung up by atende, and the caller answers 5 and 3.
#[test]
fn the_phone_transfers_the_caller_to_the_survey() {
    let server = server(Db::Sqlite);
    let port = free_port();
    register_agent(&server, "1001", port);
    let agent = start_phone(
        &server,
        "agent_refer.xml",
        port,
        1,
        1000,
        &[
            ("REFER_AT_MS", "1500".into()),
            ("TARGET", "survey".into()),
            ("FINAL", "200".into()),
        ],
    );
    let caller = start_ivr_caller(
        &server,
        &[(800, "0"), (4200, "5"), (1500, "3")],
        20_000,
        true,
    );
    wait_ok(caller, "caller", &server);
    wait_ok(agent, "agent phone (REFER to survey)", &server);
    let (protocol, events) = wait_for_event(&server, "recording_finalized");
    assert_eq!(
        answers(&events),
        [a("atendente", Some(5), None), a("instituto", Some(3), None)]
    );
    let k = kinds(&events);
    assert!(!k.contains(&"transferred".to_owned()), "{k:?}");
    assert_eq!(
        event(&events, "hung_up")["detail"]["cause"],
        "survey_completed"
    );
    assert_survey_story(&server, &protocol, &events);
}

/// A broken survey is refused at reload (naming the survey and the setting) and by
/// `atende check-config` (as at start); the running survey stays, a good change applies.
#[test]
fn a_broken_survey_is_refused_at_reload_and_by_check_config() {
    let server = server(Db::Sqlite);
    let path = server.dir.path().join("atende.toml");
    let good = std::fs::read_to_string(&path).expect("config");
    let reload = |text: &str| {
        std::fs::write(&path, text).expect("config written");
        let (status, body) =
            http_request(server.http_port, "POST", "/api/config/reload", true, None)
                .expect("API reachable");
        let json: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        (status, json.to_string())
    };
    let check = || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_atende"))
            .args(["check-config", "--config"])
            .arg(&path)
            .output()
            .expect("run atende check-config");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let cases = [
        (
            good.replace("queues = [\"geral\"]", "queues = [\"nenhuma\"]"),
            "surveys.atendimento: queues: unknown queue \\\"nenhuma\\\"",
        ),
        (
            good.replace(
                "prompt = \"pt-BR/pesquisa/instituto\"",
                "prompt = \"pt-BR/pesquisa/x\"",
            ),
            "service \\\"survey atendimento\\\" names prompt \\\"pt-BR/pesquisa/x\\\"",
        ),
        (
            good.replace("isa = false", "isa = false, keys = \"1234567\""),
            "keys \\\"1234567\\\" must be distinct keys 1 to 5",
        ),
    ];
    for (text, expected) in &cases {
        let (status, body) = reload(text);
        assert_eq!(status, 422, "{body}");
        assert!(body.contains(expected), "{body} lacks {expected}");
        let (ok, out) = check();
        assert!(!ok, "check-config passed a broken survey: {out}");
    }
    let (status, body) = reload(&good.replace("retries = 1", "retries = 2"));
    assert_eq!(status, 200, "{body}");
    let (ok, out) = check();
    assert!(ok, "{out}");
}

/// The floor's transfer to `Survey` (what the CTI's transfer button sends): the agent's
/// leg is hung up by atende and the caller answers; a second one finds no talk.
#[test]
fn a_floor_transfer_sends_the_caller_to_the_survey() {
    set_in_process(true);
    let server = server(Db::Sqlite);
    let running = server.in_process.as_ref().expect("in process");
    let calls = running.floor.calls.clone();
    let port = free_port();
    register_agent(&server, "1001", port);
    let agent = start_answering_agent(&server, port, 1, 300);
    let caller = start_ivr_caller(
        &server,
        &[(800, "0"), (4200, "5"), (1500, "3")],
        20_000,
        true,
    );
    let (protocol, _) = wait_for_event(&server, "bridged");
    let to_survey = CallCommand::Transfer {
        to: TransferTarget::Survey,
        blind: true,
    };
    assert_eq!(
        running.block_on(calls.command(&protocol, to_survey.clone())),
        Ok(())
    );
    assert_eq!(
        running.block_on(calls.command(&protocol, to_survey)),
        Err(CommandError::NotInTalk)
    );
    wait_ok(caller, "caller", &server);
    wait_ok(agent, "agent phone (hung up by atende)", &server);
    let (protocol, events) = wait_for_event(&server, "recording_finalized");
    assert_eq!(
        answers(&events),
        [a("atendente", Some(5), None), a("instituto", Some(3), None)]
    );
    assert_survey_story(&server, &protocol, &events);
}

/// A service without IVR (`services = [...]`): the welcome, the agent rings, answers and
/// hangs up; the caller answers the first question by SIP INFO and the second by an
/// RFC 4733 key, as the IVR takes keys.
#[test]
fn a_service_survey_takes_sip_info_and_rfc4733_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let prompts = dir.path().join("prompts");
    let tones = [
        "welcome",
        "hold-music",
        "pesquisa/q1",
        "pesquisa/q2",
        "pesquisa/de-novo",
    ];
    for (i, name) in tones.iter().enumerate() {
        let path = prompts.join(format!("pt-BR/{name}.wav"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let secs = if i < 2 { 1.0 } else { 0.2 };
        wav_tone(&path, 600 + 100 * i as u32, secs);
    }
    let (sip_port, http_port) = (free_port(), free_port());
    let rtp = free_rtp_range(40);
    let base = base_config(
        (sip_port, http_port),
        (rtp, rtp + 38),
        "\"MD5\"",
        &format!("sqlite://{}/atende.db", dir.path().display()),
        dir.path(),
        &prompts,
    );
    let config = format!(
        r#"{base}[[routes]]
did = "{DID}"
service = "direto"
[services.direto]
welcome_prompt = "pt-BR/welcome"
hold_music = "pt-BR/hold-music"
agents = ["1001"]
[[agents]]
id = "1001"
password = "pw1001"
[surveys.direto]
services = ["direto"]
questions = [
    {{ id = "atendente", prompt = "pt-BR/pesquisa/q1" }},
    {{ id = "instituto", prompt = "pt-BR/pesquisa/q2", isa = false }},
]
timeout_secs = 4
timeout_prompt = "pt-BR/pesquisa/de-novo"
invalid_prompt = "pt-BR/pesquisa/de-novo"
"#
    );
    let server = Server::launch(dir, &config, sip_port, http_port);
    let agent = agent_hanging_up(&server, 1500);
    let d = server.dir.path();
    let info = r#"  <pause milliseconds="5000"/>
  <send retrans="500">
    <![CDATA[
      INFO [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: "Cidadao" <sip:1133334444@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 3 INFO
      Contact: <sip:1133334444@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/dtmf-relay
      Content-Length: [len]

      Signal=2
      Duration=160
    ]]>
  </send>
  <recv response="200"/>
  <pause milliseconds="1500"/>
"#;
    let keys = format!(
        "{info}  <nop><action><exec play_pcap_audio=\"{}\"/></action></nop>\n",
        dtmf_pcap(d, '4', 1).display()
    );
    let sf = scenario(
        d,
        "ivr_caller_served.xml",
        &[
            ("AUDIO", caller_audio(d).display().to_string()),
            ("KEYS", keys),
            ("TALK_MS", "20000".into()),
        ],
    );
    let mut args = trunk_caller_args(&server, &sf, 4);
    args.extend(["-m".into(), "1".into()]);
    let caller = sipp(&args).spawn().expect("caller sipp starts");
    wait_ok(caller, "caller", &server);
    wait_ok(agent, "agent phone", &server);
    let (_, events) = wait_for_event(&server, "recording_finalized");
    let answered: Vec<(String, Option<u64>)> = events
        .iter()
        .filter(|e| e["kind"] == "survey_answered")
        .map(|e| {
            let d = &e["detail"];
            assert_eq!(
                (&d["survey"], &d["agent"]),
                (&"direto".into(), &"1001".into())
            );
            (
                d["question"].as_str().unwrap_or("?").to_owned(),
                d["score"].as_u64(),
            )
        })
        .collect();
    assert_eq!(
        answered,
        [
            ("atendente".to_owned(), Some(2)),
            ("instituto".to_owned(), Some(4))
        ]
    );
    let vias: Vec<&str> = events
        .iter()
        .filter(|e| e["kind"] == "dtmf")
        .map(|e| e["detail"]["via"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(vias, ["info", "rfc4733"]);
    // No thank-you prompt: the last answer ends the call.
    assert_eq!(
        event(&events, "hung_up")["detail"]["cause"],
        "survey_completed"
    );
}
