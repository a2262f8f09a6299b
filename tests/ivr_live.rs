//! The IVR changed while calls run, end to end: the emergency announcement switched on over
//! the API is heard first by the next caller, also after a restart (and gone once switched
//! off); a broken flow
//! file is refused while a call is in progress, which goes on unharmed, and a good change
//! is taken by the next call.

mod support;

use std::time::Duration;

use support::ivr::*;
use support::*;

fn server() -> Server {
    Server::start_ivr(Db::Sqlite, &IvrOptions::open_without_agents())
}

fn call(server: &Server, talk_ms: u64) -> Vec<serde_json::Value> {
    let before = server.api("/api/calls").as_array().map_or(0, Vec::len);
    let caller = start_ivr_caller(server, &[], talk_ms, false);
    wait_ok(caller, "caller", server);
    // The newest call, once its recording is finalized.
    for _ in 0..100 {
        let calls = server.api("/api/calls");
        let calls = calls.as_array().cloned().unwrap_or_default();
        if calls.len() > before
            && let Some(c) = calls.last()
            && !c["recording_sha256"].is_null()
        {
            let p = c["protocol"].as_str().unwrap_or_default();
            let detail = server.api(&format!("/api/calls/{p}"));
            return detail["events"].as_array().cloned().unwrap_or_default();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the call was not recorded; log:\n{}", server.log());
}

/// Position of the first event matching `f`.
fn first(events: &[serde_json::Value], f: impl Fn(&serde_json::Value) -> bool) -> Option<usize> {
    events.iter().position(f)
}

fn api(server: &Server, method: &str, path: &str, json: Option<&str>) -> (u16, serde_json::Value) {
    let (status, body) =
        http_request(server.http_port, method, path, true, json).expect("API reachable");
    (status, serde_json::from_slice(&body).unwrap_or_default())
}

#[test]
fn the_emergency_announcement_is_heard_first_by_the_next_caller_until_switched_off() {
    require("sipp");
    let server = server();
    let (status, body) = api(
        &server,
        "PUT",
        "/api/ivr/emergency",
        Some(r#"{"prompt":"pt-BR/welcome"}"#),
    );
    assert_eq!(status, 200, "{body}");

    let events = call(&server, 2500);
    let announced = first(&events, |e| {
        e["kind"] == "prompt_played" && e["detail"]["prompt"] == "pt-BR/welcome"
    })
    .unwrap_or_else(|| panic!("no emergency announcement in {:?}", kinds(&events)));
    let flow = first(&events, |e| e["kind"] == "ivr").expect("the flow ran after it");
    assert!(
        announced < flow,
        "announced before the flow: {:?}",
        kinds(&events)
    );

    // A restart keeps the switch on: in an emergency nobody must remember to redo it.
    let server = server.restart();
    let (_, body) = api(&server, "GET", "/api/ivr/emergency", None);
    assert_eq!(body["prompt"], "pt-BR/welcome", "still on after a restart");
    let events = call(&server, 2500);
    assert!(
        first(&events, |e| e["kind"] == "prompt_played").is_some(),
        "heard after the restart: {:?}",
        kinds(&events)
    );

    let (status, _) = api(&server, "DELETE", "/api/ivr/emergency", None);
    assert_eq!(status, 200);
    // Prompts in use elsewhere than in flows are not deleted under the calls' feet.
    let (status, body) = api(&server, "DELETE", "/api/prompts/pt-BR/hold-music", None);
    assert_eq!(status, 409, "{body}");
    assert!(
        body["flows"].to_string().contains("service ura"),
        "names the service that plays it: {body}"
    );
    let (status, body) = api(&server, "DELETE", "/api/prompts/pt-BR/digits/7", None);
    assert_eq!(status, 409, "a say fragment is in use: {body}");
    let server = server.restart();
    let events = call(&server, 1500);
    assert!(
        first(&events, |e| e["kind"] == "prompt_played").is_none(),
        "switched off: {:?}",
        kinds(&events)
    );
    assert!(first(&events, |e| e["kind"] == "ivr").is_some());
}

#[test]
fn a_broken_flow_is_refused_while_a_call_runs_and_a_good_change_reaches_the_next_call() {
    require("sipp");
    let mut server = server();
    let version = |s: &Server| s.api("/api/ivr")["version"].as_u64().unwrap_or(0);
    let v1 = version(&server);
    let flows = server.dir.path().join("ivr-flows");
    let main = flows.join("principal.yaml");
    let good = std::fs::read_to_string(&main).expect("shipped flow copied");

    // A call in progress while IT staff save a broken file.
    let caller = start_ivr_caller(&server, &[], 5000, false);
    std::thread::sleep(Duration::from_millis(1500));
    std::fs::write(&main, "nodes: [this is not a flow").unwrap();
    let (status, body) = api(&server, "POST", "/api/ivr/reload", None);
    assert_eq!(status, 422, "refused: {body}");
    assert_eq!(body["version"].as_u64(), Some(v1), "running version stays");
    assert!(
        body["errors"]
            .as_array()
            .is_some_and(|e| e.iter().any(|e| e["file"] == "principal.yaml")),
        "the error names the file: {body}"
    );
    wait_ok(caller, "caller during the refused reload", &server);
    assert!(server.alive(), "atende still runs");

    // A good change (the welcome prompt name kept, a comment added) is taken.
    std::fs::write(&main, format!("# revised by IT\n{good}")).unwrap();
    let (status, body) = api(&server, "POST", "/api/ivr/reload", None);
    assert_eq!(status, 200, "{body}");
    assert!(version(&server) > v1, "a new version runs");
    let events = call(&server, 1500);
    assert!(
        first(&events, |e| e["kind"] == "ivr").is_some(),
        "the next call runs the flows: {:?}",
        kinds(&events)
    );
    // The call in progress during the refused reload was recorded and ended normally.
    let calls = server.api("/api/calls");
    let calls = calls.as_array().cloned().unwrap_or_default();
    assert_eq!(calls.len(), 2);
    assert!(calls.iter().all(|c| !c["recording_sha256"].is_null()));
    assert_eq!(calls[0]["hangup_by"], "caller");
}
