//! End to end, what E1 media gateways send and expect: the caller's number from
//! `P-Asserted-Identity` on a trusted trunk only, `Privacy: id` masking the number where
//! it is shown, Q.850 `Reason` headers both ways, and RFC 4028 session timers (refreshed
//! by atende, refreshed by the gateway until it stops, refused when too small).
//!
//! Two trunks: `test-gateway` (127.0.0.1, untrusted, the RFC's 90 s minimum) and
//! `e1-gateway` (127.0.0.2, trusted, a 10 s minimum so a timer runs out within a test).
//! The server's config is the example trunk config of docs/operations.md.

mod support;

use std::process::Child;

use support::*;

/// DID of a service nobody answers for 60 s (the gateway hangs up first).
const DID_WAIT: &str = "4000";
/// DID of a service that gives up after 2 s of ringing (atende hangs up: no_answer).
const DID_SHORT: &str = "4001";
/// DID whose IVR flow transfers to an external number.
const DID_TRANSFER: &str = "4002";
/// DID of a service ringing agent 1001.
const DID_AGENT: &str = "4003";
const TRUSTED_IP: &str = "127.0.0.2";
const UNTRUSTED_IP: &str = "127.0.0.1";

fn start_server(db: Db) -> Server {
    start_server_with(db, "")
}

/// As `start_server`, with `extra` at the end of the config (an `[outbound]` section).
fn start_server_with(db: Db, extra: &str) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let flows = dir.path().join("ivr-flows");
    std::fs::create_dir_all(&flows).unwrap();
    std::fs::write(flows.join("entry.yaml"), "default_flow: principal\n").unwrap();
    std::fs::write(
        flows.join("principal.yaml"),
        "description: Straight to another institution's line.\nstart: aviso\nnodes:\n  aviso:\n    type: play\n    prompts: [pt-BR/welcome]\n    next: externo\n  externo:\n    type: transfer\n    number: \"33334444\"\n",
    )
    .unwrap();
    let prompts = dir.path().join("prompts/pt-BR");
    std::fs::create_dir_all(&prompts).unwrap();
    wav_tone(&prompts.join("welcome.wav"), 600, 1.0);
    wav_tone(&prompts.join("hold-music.wav"), 300, 3.0);
    let (sip_port, http_port) = (free_port(), free_port());
    let rtp = free_rtp_range(16);
    let db_url = match db {
        Db::Sqlite => format!("sqlite://{}/atende.db", dir.path().display()),
        Db::Postgres => atende::testkit::pg::fresh_pg_database(),
    };
    let base = base_config(
        (sip_port, http_port),
        (rtp, rtp + 14),
        "\"MD5\"",
        &db_url,
        dir.path(),
        &dir.path().join("prompts"),
    );
    let config = format!(
        r#"{base}
[[trunks]]
name = "e1-gateway"
allow = ["{TRUSTED_IP}"]
trust_identity = true
min_session_expires_secs = 10

[ivr]
dir = "{flows}"

[[routes]]
did = "{DID_TRANSFER}"
service = "ura"
[[routes]]
did = "{DID_AGENT}"
service = "agents"
[[routes]]
did = "{DID_WAIT}"
service = "wait"
[[routes]]
did = "{DID_SHORT}"
service = "short"
[services.wait]
welcome_prompt = "pt-BR/welcome"
hold_music = "pt-BR/hold-music"
ring_timeout_secs = 60
[services.short]
welcome_prompt = "pt-BR/welcome"
hold_music = "pt-BR/hold-music"
ring_timeout_secs = 2
[services.agents]
welcome_prompt = "pt-BR/welcome"
hold_music = "pt-BR/hold-music"
agents = ["1001"]
[[agents]]
id = "1001"
password = "pw1001"
[services.ura]
ivr = true
hold_music = "pt-BR/hold-music"
{extra}"#,
        flows = flows.display(),
    );
    Server::launch(dir, &config, sip_port, http_port)
}

/// A sipp gateway at `ip` dialling `did` with scenario `name` filled with `vars`.
fn gateway(server: &Server, ip: &str, did: &str, name: &str, vars: &[(&str, String)]) -> Child {
    let sf = scenario(server.dir.path(), name, vars);
    let args: Vec<String> = vec![
        server.sip_target(),
        "-sf".into(),
        sf.display().to_string(),
        "-s".into(),
        did.into(),
        "-i".into(),
        ip.into(),
        "-p".into(),
        free_port().to_string(),
        "-mi".into(),
        ip.into(),
        "-mp".into(),
        free_rtp_range(4).to_string(),
        "-m".into(),
        "1".into(),
    ];
    sipp(&args).spawn().expect("sipp starts")
}

/// A gateway call (as `gateway`) waited to its end, `what` naming it when sipp fails:
/// its protocol and call log once its recording is final.
fn call_through(
    what: &str,
    server: &Server,
    ip: &str,
    did: &str,
    name: &str,
    vars: &[(&str, String)],
) -> (String, Vec<serde_json::Value>) {
    let c = gateway(server, ip, did, name, vars);
    wait_ok(c, what, server);
    wait_for_event(server, "recording_finalized")
}

/// One gateway call from the trusted trunk to `DID_WAIT` on a server of its own (as
/// `call_through`): its call log.
fn call_on_new_server(what: &str, name: &str, vars: &[(&str, String)]) -> Vec<serde_json::Value> {
    let server = start_server(Db::Sqlite);
    call_through(what, &server, TRUSTED_IP, DID_WAIT, name, vars).1
}

/// The call log's `hung_up` says who hung up and why.
fn assert_hung_up(events: &[serde_json::Value], by: &str, cause: &str) {
    let hung = &event(events, "hung_up")["detail"];
    assert_eq!(hung["by"], by, "{hung}");
    assert_eq!(hung["cause"], cause, "{hung}");
}

fn caller_vars(from: &str, headers: &[&str], bye_headers: &[&str]) -> Vec<(&'static str, String)> {
    let lines = |hs: &[&str]| {
        hs.iter()
            .map(|h| format!("\n      {h}"))
            .collect::<String>()
    };
    vec![
        ("FROM_USER", from.to_owned()),
        ("HEADERS", lines(headers)),
        ("BYE_HEADERS", lines(bye_headers)),
        ("TALK_MS", "1500".into()),
    ]
}

fn offered(events: &[serde_json::Value]) -> serde_json::Value {
    event(events, "offered")["detail"].clone()
}

fn identity_and_privacy(db: Db) {
    let server = start_server(db);
    let pai = "P-Asserted-Identity: \"Cidadao\" <sip:2733334444@gw.example;user=phone>";

    // Trusted trunk: the asserted number, and Privacy: id masks it where shown.
    let (protocol, events) = call_through(
        "trusted gateway with privacy",
        &server,
        TRUSTED_IP,
        DID_WAIT,
        "gw_caller.xml",
        &caller_vars("anonymous", &[pai, "Privacy: id"], &[]),
    );
    let detail = offered(&events);
    assert_eq!(detail["a_number"], "restrito", "{detail}");
    assert_eq!(detail["restricted"], true);
    let shown = server.api(&format!("/api/calls/{protocol}"));
    assert_eq!(shown["summary"]["a_number"], "restrito");
    assert!(!shown.to_string().contains("2733334444"), "{shown}");
    let list = server.api("/api/calls");
    let row = &list.as_array().unwrap()[0];
    assert_eq!(row["protocol"], protocol.as_str());
    assert_eq!(row["a_number"], "restrito");
    // The record keeps the asserted number (the log, not the API, shows it to operators
    // who may see it: here, the server's own log must not).
    assert!(!server.log().contains("2733334444"), "number logged");

    // Trusted trunk without privacy: the asserted number is shown.
    let (_, events) = call_through(
        "trusted gateway",
        &server,
        TRUSTED_IP,
        DID_WAIT,
        "gw_caller.xml",
        &caller_vars("anonymous", &[pai], &[]),
    );
    let detail = offered(&events);
    assert_eq!(detail["a_number"], "2733334444", "{detail}");
    assert!(detail.get("restricted").is_none(), "{detail}");

    // Untrusted trunk: its P-Asserted-Identity is not believed; From is the number.
    let (_, events) = call_through(
        "untrusted gateway",
        &server,
        UNTRUSTED_IP,
        DID_WAIT,
        "gw_caller.xml",
        &caller_vars("1133334444", &[pai], &[]),
    );
    assert_eq!(offered(&events)["a_number"], "1133334444");

    // Privacy is honoured from an untrusted trunk too.
    let (_, events) = call_through(
        "untrusted gateway with privacy",
        &server,
        UNTRUSTED_IP,
        DID_WAIT,
        "gw_caller.xml",
        &caller_vars("1144445555", &["Privacy: id;critical"], &[]),
    );
    assert_eq!(offered(&events)["restricted"], true);

    let list = server.api("/api/calls");
    assert_eq!(list.as_array().unwrap().len(), 4);
    assert_eq!(list[1]["a_number"], "2733334444");
    assert_eq!(list[2]["a_number"], "1133334444");
    assert_eq!(list[3]["a_number"], "restrito");
    assert!(!list.to_string().contains("1144445555"), "{list}");
}

#[test]
fn caller_identity_from_trusted_trunks_and_privacy_on_sqlite() {
    identity_and_privacy(Db::Sqlite);
}

#[test]
fn caller_identity_from_trusted_trunks_and_privacy_on_postgres() {
    identity_and_privacy(Db::Postgres);
}

#[test]
fn a_gateways_q850_reason_sets_the_hangup_cause() {
    let events = call_on_new_server(
        "gateway BYE with Reason",
        "gw_caller.xml",
        &caller_vars(
            "2733334444",
            &[],
            &["Reason: Q.850;cause=17;text=\"User busy\""],
        ),
    );
    assert_hung_up(&events, "caller", "user_busy");
}

#[test]
fn atendes_bye_carries_the_q850_cause() {
    let server = start_server(Db::Sqlite);
    let (_, events) = call_through(
        "gateway checking atende's BYE",
        &server,
        UNTRUSTED_IP,
        DID_SHORT,
        "gw_hung_up.xml",
        &[(
            "REASON",
            "^ *Q\\.850;cause=19;text=.No answer from user.$".into(),
        )],
    );
    assert_hung_up(&events, "system", "no_answer");
}

#[test]
fn atende_refreshes_a_session_timer_and_the_call_outlives_it() {
    let events = call_on_new_server(
        "gateway answering atende's refreshes",
        "gw_session_refreshed.xml",
        &[
            ("SE", "10;refresher=uas".into()),
            ("SEVAL", "10".into()),
            ("EXPECT_SE", "^ *10;refresher=uas$".into()),
        ],
    );
    assert_hung_up(&events, "caller", "normal_clearing");
    assert!(at_ms(&events, "hung_up") - at_ms(&events, "answered") >= 10_000);
}

#[test]
fn a_session_the_gateway_stops_refreshing_is_ended() {
    let events = call_on_new_server(
        "gateway that stops refreshing",
        "gw_session_expired.xml",
        &[
            ("SE", "10".into()),
            ("SEVAL", "10".into()),
            ("EXPECT_SE", "^ *10;refresher=uac$".into()),
            ("REFRESH_MS", "4000".into()),
            ("REASON", "^ *Q\\.850;cause=102".into()),
        ],
    );
    assert_hung_up(&events, "system", "session_timer_expired");
}

#[test]
fn a_session_interval_below_the_trunks_minimum_gets_422() {
    let server = start_server(Db::Sqlite);
    // The trusted trunk's minimum is 10 s; the other keeps the RFC's 90 s.
    for (ip, se, min) in [(TRUSTED_IP, "5", "10"), (UNTRUSTED_IP, "60", "90")] {
        let c = gateway(
            &server,
            ip,
            DID_WAIT,
            "gw_session_too_small.xml",
            &[("SE", se.into()), ("MIN_SE", format!("^ *{min}$"))],
        );
        wait_ok(c, "gateway asking for a too short session", &server);
    }
    assert_eq!(
        server.api("/api/calls").as_array().map(Vec::len),
        Some(0),
        "a refused INVITE makes no call record"
    );
}

#[test]
fn a_gateway_requiring_100rel_is_served() {
    // atende answers at once, with no provisional response but 100 Trying (never sent
    // reliably): RFC 3262 is met without a PRACK exchange.
    let events = call_on_new_server(
        "gateway requiring 100rel",
        "gw_caller.xml",
        &caller_vars(
            "2733334444",
            &["Supported: 100rel, timer", "Require: 100rel"],
            &[],
        ),
    );
    assert!(kinds(&events).contains(&"answered".to_owned()));
    assert_eq!(
        event(&events, "hung_up")["detail"]["cause"],
        "normal_clearing"
    );
}

#[test]
fn an_ivr_transfer_to_a_number_is_bridged_through_the_outbound_gateway() {
    transfer_out("citizen.xml");
}

#[test]
fn an_ivr_transfer_through_a_gateway_insisting_on_100rel_pracks_its_ringing() {
    transfer_out("far_end_100rel.xml");
}

fn transfer_out(far_end_scenario: &str) {
    let gateway_port = free_port();
    let server = start_server_with(
        Db::Sqlite,
        &format!(
            "[outbound]\ngateway = \"127.0.0.1:{gateway_port}\"\ncaller_id = \"08000000000\"\nprefix = \"0\"\nring_timeout_secs = 10\n"
        ),
    );
    let far_end = start_phone(
        &server,
        far_end_scenario,
        gateway_port,
        1,
        440,
        &[
            ("ANSWER_AFTER_MS", "500".into()),
            ("TALK_MS", "2000".into()),
        ],
    );
    // The far end hangs up: atende's BYE to the caller carries Q.850 16.
    let c = gateway(
        &server,
        UNTRUSTED_IP,
        DID_TRANSFER,
        "gw_hung_up.xml",
        &[("REASON", "^ *Q\\.850;cause=16".into())],
    );
    wait_ok(far_end, "far end behind the outbound gateway", &server);
    wait_ok(c, "caller transferred out", &server);
    let (protocol, events) = wait_for_event(&server, "recording_finalized");
    let ringing = &event(&events, "ringing")["detail"];
    assert_eq!(ringing["agent"], "external");
    assert!(
        ringing["contact"]
            .as_str()
            .is_some_and(|c| c.starts_with("sip:033334444@")),
        "{ringing}"
    );
    assert!(
        kinds(&events).contains(&"bridged".to_owned()),
        "{:?}",
        kinds(&events)
    );
    assert_hung_up(&events, "agent", "normal_clearing");
    // The far end's 440 Hz tone is in the recording (the right channel: what the caller
    // heard).
    let (_, right) = recording(&server, &protocol);
    let bridged = ((at_ms(&events, "bridged") - at_ms(&events, "answered")) as usize * 8 + 2000)
        .min(right.len());
    let heard = &right[bridged..right.len().saturating_sub(2000)];
    assert!(heard.len() > 4000, "bridge too short to check");
    let zc = crossings_per_sec(heard);
    assert!((800.0..960.0).contains(&zc), "far end not heard: {zc}");
}

#[test]
fn an_ivr_transfer_to_a_number_without_outbound_releases_the_caller() {
    let server = start_server(Db::Sqlite);
    let (_, events) = call_through(
        "caller transferred with no outbound gateway",
        &server,
        UNTRUSTED_IP,
        DID_TRANSFER,
        "gw_hung_up.xml",
        &[("REASON", "^ *Q\\.850;cause=3".into())],
    );
    assert_eq!(
        event(&events, "hung_up")["detail"]["cause"],
        "no_outbound_trunk"
    );
}

#[test]
fn a_refresh_the_gateway_answers_481_ends_the_call() {
    let events = call_on_new_server(
        "gateway refusing atende's refresh",
        "gw_session_refresh_refused.xml",
        &[
            ("SE", "10;refresher=uas".into()),
            ("EXPECT_SE", "^ *10;refresher=uas$".into()),
            ("REASON", "^ *Q\\.850;cause=102".into()),
        ],
    );
    assert_hung_up(&events, "system", "session_timer_expired");
}

#[test]
fn atende_refreshes_with_re_invite_a_gateway_without_update() {
    let events = call_on_new_server(
        "gateway answering atende's re-INVITE refresh",
        "gw_session_reinvite.xml",
        &[
            ("SE", "10;refresher=uas".into()),
            ("SEVAL", "10".into()),
            ("EXPECT_SE", "^ *10;refresher=uas$".into()),
        ],
    );
    assert_hung_up(&events, "caller", "normal_clearing");
}

#[test]
fn a_restricted_caller_rings_the_agent_as_anonymous() {
    let server = start_server(Db::Sqlite);
    let agent_port = free_port();
    register_agent(&server, "1001", agent_port);
    let agent = start_agent(
        &server,
        "agent_shown_caller.xml",
        agent_port,
        1,
        &[
            ("ANSWER_AFTER_MS", "200".into()),
            ("FROM", "sip:anonymous@".into()),
        ],
    );
    let mut vars = caller_vars(
        "anonymous",
        &[
            "P-Asserted-Identity: <sip:2733334444@gw.example>",
            "Privacy: id",
        ],
        &[],
    );
    vars.retain(|(k, _)| *k != "TALK_MS");
    vars.push(("TALK_MS", "3000".into()));
    let c = gateway(&server, TRUSTED_IP, DID_AGENT, "gw_caller.xml", &vars);
    wait_ok(c, "restricted caller", &server);
    wait_ok(agent, "agent phone shown an anonymous caller", &server);
    let (_, events) = wait_for_event(&server, "recording_finalized");
    assert!(
        kinds(&events).contains(&"bridged".to_owned()),
        "{:?}",
        kinds(&events)
    );
}
