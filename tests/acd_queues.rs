//! End to end, queue settings as a caller and the wallboard see them (sipp agent phones
//! registered with digest, the shipped flows): ring-all rings every available agent at
//! once, the first to answer is bridged and the others get CANCEL and are available
//! again; tiers keep a second-line agent for calls that waited past `next_tier`.

mod support;

use support::ivr::*;
use support::*;

fn ring_all_rings_three_phones_and_one_answers(db: Db) {
    let server = Server::start_ivr_config(
        db,
        &IvrOptions {
            hours: Hours::Open,
            agents: &["1001", "1002", "1003"],
            auto_login: true,
            ring_timeout_secs: 20,
            http_port: None,
        },
        Prompts::Short,
        10,
        r#"strategy = "ring_all""#,
        "",
    );
    let ports = [free_port(), free_port(), free_port()];
    for (agent, port) in ["1001", "1002", "1003"].iter().zip(ports) {
        register_agent(&server, agent, port);
    }
    let answers = start_answering_agent(&server, ports[0], 1, 1500);
    let silent2 = start_agent(&server, "agent_no_answer.xml", ports[1], 1, &[]);
    let silent3 = start_agent(&server, "agent_no_answer.xml", ports[2], 1, &[]);
    // 1 (perícia), 1 (agendar): queue "pericia", which every agent serves.
    let caller = start_ivr_caller(&server, &[(800, "1"), (500, "1")], 4000, false);
    // The two phones that did not answer were rung and then got CANCEL (their scenario
    // ends only after CANCEL, 487 and ACK).
    wait_ok(silent2, "agent 1002 (cancelled)", &server);
    wait_ok(silent3, "agent 1003 (cancelled)", &server);
    let agents = server.api("/api/agents");
    for id in ["1002", "1003"] {
        let a = agents
            .as_array()
            .and_then(|a| a.iter().find(|x| x["agent"] == id).cloned())
            .unwrap_or_else(|| panic!("agent {id} not on the wallboard: {agents}"));
        assert_eq!(a["state"], "available", "{id} after the cancel: {agents}");
    }
    wait_ok(caller, "caller", &server);
    wait_ok(answers, "agent 1001", &server);

    let (_, events) = wait_for_event(&server, "recording_finalized");
    let acd = steps(&events, "acd", "kind");
    let of_kind = |kind: &str| -> Vec<String> {
        let mut v: Vec<String> = acd
            .iter()
            .filter(|e| e["kind"] == kind)
            .map(|e| e["agent"].as_str().unwrap_or("?").to_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(of_kind("offered"), ["1001", "1002", "1003"], "{acd:?}");
    assert_eq!(of_kind("answered"), ["1001"], "one answer: {acd:?}");
    assert_eq!(of_kind("offer_cancelled"), ["1002", "1003"], "{acd:?}");
    assert!(
        acd.iter()
            .filter(|e| e["kind"] == "offer_cancelled")
            .all(|e| e["reason"] == "answered_elsewhere"),
        "{acd:?}"
    );
    let k = kinds(&events);
    let count = |kind: &str| k.iter().filter(|x| *x == kind).count();
    assert_eq!(count("ringing"), 3, "all three phones rang: {k:?}");
    assert_eq!(count("agent_answered"), 1, "{k:?}");
    assert_eq!(count("bridged"), 1, "{k:?}");
    assert_eq!(
        event(&events, "agent_answered")["detail"]["agent"],
        "1001",
        "{k:?}"
    );
}

#[test]
fn ring_all_three_agents_sqlite() {
    ring_all_rings_three_phones_and_one_answers(Db::Sqlite);
}

#[test]
fn ring_all_three_agents_postgres() {
    ring_all_rings_three_phones_and_one_answers(Db::Postgres);
}

/// An agent serving "pericia" at tier 2 gets no fresh call (start_tier = 1); the queue's
/// `next_tier` escalation widens the call to tier 2 and that agent answers.
fn a_second_tier_agent_answers_after_next_tier(db: Db) {
    let agent = r#"
[[agents]]
id = "1001"
password = "pw1001"
queues = ["geral", "pericia"]
tiers = { pericia = 2 }
skills = { agendamento = 5 }
auto_login = true
"#;
    let server = Server::start_ivr_config(
        db,
        &IvrOptions::open_without_agents(),
        Prompts::Short,
        10,
        "start_tier = 1\nescalation = [{ after_secs = 2, action = { do = \"next_tier\" } }]",
        agent,
    );
    let port = free_port();
    register_agent(&server, "1001", port);
    let phone = start_answering_agent(&server, port, 1, 300);
    let caller = start_ivr_caller(&server, &[(800, "1"), (500, "1")], 6000, false);
    wait_ok(caller, "caller", &server);
    wait_ok(phone, "agent 1001 (tier 2)", &server);
    let (_, events) = wait_for_event(&server, "recording_finalized");
    let k = acd_kinds(&events);
    let at = |kind: &str| {
        k.iter()
            .position(|x| x == kind)
            .unwrap_or_else(|| panic!("no {kind} in {k:?}"))
    };
    assert!(
        at("queue_entered") < at("escalated") && at("escalated") < at("offered"),
        "offered only after the next_tier step: {k:?}"
    );
    assert_eq!(acd_event(&events, "escalated")["queue"], "pericia");
    assert_eq!(acd_event(&events, "answered")["agent"], "1001");
    assert!(kinds(&events).contains(&"bridged".to_owned()));
}

#[test]
fn tiers_sqlite() {
    a_second_tier_agent_answers_after_next_tier(Db::Sqlite);
}

#[test]
fn tiers_postgres() {
    a_second_tier_agent_answers_after_next_tier(Db::Postgres);
}

/// Announcements with `position_cap = 1`: three callers wait (nobody logged in); the
/// third, with two callers ahead, hears "Sua posição na fila é mais de 1".
#[test]
fn a_caller_beyond_the_position_cap_hears_more_than_the_cap() {
    let server = Server::start_ivr_config(
        Db::Sqlite,
        &IvrOptions::open_without_agents(),
        Prompts::Short,
        10,
        "announcements = { first_after_secs = 2, every_secs = 60, position_cap = 1 }",
        "",
    );
    let callers: Vec<_> = (0..3)
        .map(|_| {
            let c = start_ivr_caller(&server, &[(800, "0")], 5000, false);
            std::thread::sleep(std::time::Duration::from_millis(700));
            c
        })
        .collect();
    for c in callers {
        wait_ok(c, "waiting caller", &server);
    }
    let (_, events) = wait_for_event(&server, "hung_up");
    let played: Vec<&str> = events
        .iter()
        .filter(|e| e["kind"] == "prompt_played")
        .filter_map(|e| e["detail"]["prompt"].as_str())
        .collect();
    let at = played
        .iter()
        .position(|p| *p == "pt-BR/fila/sua-posicao")
        .unwrap_or_else(|| panic!("no position announcement: {played:?}"));
    assert_eq!(
        &played[at..at + 3],
        [
            "pt-BR/fila/sua-posicao",
            "pt-BR/fila/mais-de",
            "pt-BR/numbers/1"
        ],
        "{played:?}"
    );
}
