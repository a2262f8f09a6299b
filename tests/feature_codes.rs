//! End to end: agent feature codes dialled from a registered sipp phone. Agent 1001 starts
//! logged out; a wrong PIN leaves them out (a queued caller abandons, never offered), the
//! right one logs them in (the next queued caller is answered by 1001). Each dial answers
//! atende's 407 with the phone's digest credentials and ends with atende's BYE after the
//! confirmation prompt. Then *47, *47<n> (the n-th pause reason), *48 and *46 pause,
//! pause with a chosen reason, ready and log the phone's agent out.

mod support;

use support::ivr::*;
use support::*;

#[test]
fn agent_logs_in_with_a_feature_code_and_a_wrong_pin_does_not() {
    let server = Server::start_ivr(
        Db::Sqlite,
        &IvrOptions {
            auto_login: false,
            ..IvrOptions::open_with(&["1001"])
        },
    );
    let agent_port = free_port();
    register_agent(&server, "1001", agent_port);

    // Wrong PIN: the phone hears the failure prompt and is hung up on; 1001 stays out.
    dial_feature_code(&server, "1001", "*4510019999");
    assert!(
        server.log().contains("agent login with a wrong PIN"),
        "no wrong-PIN warning:\n{}",
        server.log()
    );
    let caller = start_ivr_caller(&server, &[(800, "0")], 2000, false);
    wait_ok(caller, "caller while nobody is logged in", &server);
    let (_, events) = wait_for_event(&server, "recording_finalized");
    let k = acd_kinds(&events);
    assert!(k.contains(&"abandoned".to_owned()), "{k:?}");
    assert!(
        !k.contains(&"offered".to_owned()),
        "offered to nobody: {k:?}"
    );

    // The right PIN logs 1001 in: the next queued caller reaches their phone.
    dial_feature_code(&server, "1001", "*4510011234");
    let agent = start_answering_agent(&server, agent_port, 1, 300);
    let caller = start_ivr_caller(&server, &[(800, "0")], 2000, false);
    wait_ok(caller, "caller after the login", &server);
    wait_ok(agent, "agent phone", &server);
    let (_, events) = wait_for_event(&server, "recording_finalized");
    let answered = acd_event(&events, "answered");
    assert_eq!(answered["agent"], "1001");
    assert_eq!(server.metric("atende_active_calls"), 0.0);

    // Pause, ready and logout act on the phone's own account, through the ACD; the
    // wallboard shows each state and the agent log keeps every change.
    let state_of = |id: &str| {
        let agents = server.api("/api/agents");
        agents
            .as_array()
            .and_then(|a| a.iter().find(|x| x["agent"] == id).cloned())
            .unwrap_or_else(|| panic!("agent {id} not on the wallboard: {agents}"))
    };
    dial_feature_code(&server, "1001", "*47");
    let a = state_of("1001");
    assert_eq!(
        (a["state"].as_str(), a["reason"].as_str()),
        (Some("paused"), Some("pausa"))
    );
    assert_eq!(a["name"], "");
    // *47<n>: the n-th configured pause reason (the defaults: break, lunch, …).
    dial_feature_code(&server, "1001", "*472");
    let a = state_of("1001");
    assert_eq!(
        (a["state"].as_str(), a["reason"].as_str()),
        (Some("paused"), Some("lunch"))
    );
    // A number with no reason behind it is refused (failure prompt, a log line) and
    // changes nothing.
    dial_feature_code(&server, "1001", "*479");
    assert!(
        server
            .log()
            .contains("*47 names no configured pause reason"),
        "no refusal logged:\n{}",
        server.log()
    );
    assert_eq!(state_of("1001")["reason"], "lunch");
    dial_feature_code(&server, "1001", "*48");
    assert_eq!(state_of("1001")["state"], "available");
    dial_feature_code(&server, "1001", "*46");
    assert_eq!(state_of("1001")["state"], "logged_out");
    let queues = server.api("/api/queues");
    let geral = queues
        .as_array()
        .and_then(|q| q.iter().find(|x| x["queue"] == "geral").cloned())
        .expect("queue geral on the wallboard");
    assert_eq!(
        (geral["waiting"].as_u64(), geral["staffed"].as_u64()),
        (Some(0), Some(0))
    );

    let mut changes = Vec::new();
    for _ in 0..50 {
        let events = server.api("/api/agents/1001/events");
        changes = events
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|e| {
                format!(
                    "{}>{}{}",
                    e["from_state"].as_str().unwrap_or("?"),
                    e["to_state"].as_str().unwrap_or("?"),
                    e["reason"]
                        .as_str()
                        .map(|r| format!("({r})"))
                        .unwrap_or_default()
                )
            })
            .collect::<Vec<_>>();
        if changes.last().is_some_and(|c| c.ends_with(">logged_out")) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let expected_in_order = [
        "logged_out>available",
        "available>ringing",
        "ringing>on_call",
        "available>paused(pausa)",
        "paused>available",
        "available>logged_out",
    ];
    let mut at = 0;
    for c in &changes {
        if at < expected_in_order.len() && c == expected_in_order[at] {
            at += 1;
        }
    }
    assert_eq!(at, expected_in_order.len(), "agent log: {changes:?}");
    let (status, _) = server.get("/api/agents/9999/events", true);
    assert_eq!(status, 404, "unknown agent");
    assert!(
        !server.log().contains(r#"pin: "1234""#),
        "the PIN reached the log"
    );
}

/// Hot-desking: agent 1001 logs in from the phone registered as 1002. Their queued call
/// rings that phone, and that phone's `*46` logs 1001 (not 1002) out.
#[test]
fn an_agent_logged_in_from_another_phone_is_rung_there() {
    let server = Server::start_ivr(
        Db::Sqlite,
        &IvrOptions {
            auto_login: false,
            ..IvrOptions::open_with(&["1001", "1002"])
        },
    );
    let desk = free_port();
    register_agent(&server, "1002", desk);
    dial_feature_code(&server, "1002", "*4510011234");

    let phone = start_answering_agent(&server, desk, 1, 300);
    let caller = start_ivr_caller(&server, &[(800, "0")], 2000, false);
    wait_ok(caller, "caller", &server);
    wait_ok(phone, "the desk phone (registered as 1002)", &server);
    let (_, events) = wait_for_event(&server, "recording_finalized");
    let answered = acd_event(&events, "answered");
    assert_eq!(
        answered["agent"], "1001",
        "the agent, not the phone's account"
    );

    dial_feature_code(&server, "1002", "*46");
    let log = server.log();
    assert!(
        log.lines()
            .any(|l| l.contains(r#"AgentId("1001")"#) && l.contains("to: LoggedOut")),
        "1001 logged out from the desk phone:\n{log}"
    );
}
