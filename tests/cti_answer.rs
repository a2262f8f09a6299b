//! End to end: the CTI's `answer` makes the agent's ringing phone pick up. Agent 1001 has
//! `auto_answer = "notify-talk"`; its sipp phone rings and answers the INVITE only after
//! atende's NOTIFY `Event: talk` in the ringing call's dialog (the scenario fails
//! otherwise). Agent 1002 has no `auto_answer`: its `answer` while its phone rings is
//! refused `unavailable` and the phone is answered by hand. On SQLite and PostgreSQL.
//!
//! The other mechanism, `auto_answer = "call-info"`: the offer's INVITE itself asks the
//! phone to answer at once (`Call-Info: …;answer-after=0`, `Alert-Info:
//! …;info=alert-autoanswer`; the sipp phone checks both), and the call is answered by
//! that agent without a hand on the phone; the desktop's `answer` is refused.

#[path = "support/answered.rs"]
mod answered;
#[path = "support/cti_ws.rs"]
mod cti_ws;
mod support;

use answered::pericia_caller;
use cti_ws::*;
use serde_json::json;
use support::*;

/// Follows the last `[[agents]]` entry (1001's) in the generated config.
const NOTIFY_TALK: &str = "auto_answer = \"notify-talk\"\n";

fn the_desktop_answers_the_ringing_phone(db: Db) {
    let server = server_with_desks(db, &["1002", "1001"], NOTIFY_TALK);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut ana = desk(&rt, &server, "ag1001");
    let mut bruno = desk(&rt, &server, "ag1002");

    // First call: 1001 away, it rings at 1002, whose phone has no remote answer.
    accepted(&rt, &mut ana, "a-1", "pause", json!({"reason": "lunch"}));
    let bruno_port = free_port();
    register_agent(&server, "1002", bruno_port);
    let by_hand = start_answering_agent(&server, bruno_port, 1, 3000);
    let caller = pericia_caller(&server);
    let first = offered_protocol(&rt, &mut bruno);
    let r = rt.block_on(command(&mut bruno, "b-1", "answer", json!({})));
    assert_eq!(r["error"]["code"], "unavailable", "{r}");
    let answered = rt.block_on(next(&mut bruno, "call_answered"));
    assert_eq!(answered["protocol"], first.as_str());
    hang_up(
        &rt,
        &mut bruno,
        "b-2",
        &first,
        &server,
        vec![(caller, "first caller"), (by_hand, "1002's phone")],
    );

    // Second call: 1002 away, 1001 ready; nothing rings yet, so `answer` is refused.
    accepted(&rt, &mut bruno, "b-3", "pause", json!({"reason": "lunch"}));
    accepted(&rt, &mut ana, "a-2", "ready", json!({}));
    let r = rt.block_on(command(&mut ana, "a-3", "answer", json!({})));
    assert_eq!(r["error"]["code"], "invalid_state", "{r}");
    let ana_port = free_port();
    register_agent(&server, "1001", ana_port);
    let remote = start_agent(&server, "agent_notify_talk.xml", ana_port, 1, &[]);
    let caller = pericia_caller(&server);
    let second = offered_protocol(&rt, &mut ana);
    // The phone has rung (180) by the time the pop arrives only if the INVITE went
    // first: ask until the phone's early dialog is there.
    let mut r = serde_json::Value::Null;
    for i in 0..20 {
        r = rt.block_on(command(&mut ana, &format!("a-4-{i}"), "answer", json!({})));
        if r["ok"] == true || r["error"]["code"] != "invalid_state" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(r["ok"], true, "{r}");
    let answered = rt.block_on(next(&mut ana, "call_answered"));
    assert_eq!(answered["protocol"], second.as_str());
    assert_eq!(answered["agent"], "1001");
    hang_up(
        &rt,
        &mut ana,
        "a-5",
        &second,
        &server,
        vec![
            (caller, "second caller"),
            (remote, "1001's phone (answered on Event: talk)"),
        ],
    );

    // The call's log: offered to 1001, answered by 1001.
    let detail = server.api(&format!("/api/calls/{second}"));
    let events = detail["events"].as_array().expect("events");
    let answered = events
        .iter()
        .find(|e| e["kind"] == "acd" && e["detail"]["event"]["kind"] == "answered")
        .expect("the ACD's answered entry");
    assert_eq!(answered["detail"]["event"]["agent"], "1001", "{answered}");
}

#[test]
fn the_desktop_answers_the_ringing_phone_sqlite() {
    the_desktop_answers_the_ringing_phone(Db::Sqlite);
}

#[test]
fn the_desktop_answers_the_ringing_phone_postgres() {
    the_desktop_answers_the_ringing_phone(Db::Postgres);
}

fn an_offer_asks_the_phone_to_answer_by_itself(db: Db) {
    let server = server_with_desks(
        db,
        &["1001"],
        &NOTIFY_TALK.replace("notify-talk", "call-info"),
    );
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut ana = desk(&rt, &server, "ag1001");
    let port = free_port();
    register_agent(&server, "1001", port);
    let phone = start_agent(&server, "agent_call_info.xml", port, 1, &[]);
    let caller = pericia_caller(&server);
    let protocol = offered_protocol(&rt, &mut ana);
    let r = rt.block_on(command(&mut ana, "a-1", "answer", json!({})));
    assert!(
        r["ok"] == false,
        "the phone answers by itself, not on request: {r}"
    );
    let answered = rt.block_on(next(&mut ana, "call_answered"));
    assert_eq!(answered["protocol"], protocol.as_str());
    assert_eq!(answered["agent"], "1001");
    hang_up(
        &rt,
        &mut ana,
        "a-2",
        &protocol,
        &server,
        vec![
            (caller, "caller"),
            (phone, "1001's phone (Call-Info: answer-after=0)"),
        ],
    );
}

#[test]
fn an_offer_asks_the_phone_to_answer_by_itself_sqlite() {
    an_offer_asks_the_phone_to_answer_by_itself(Db::Sqlite);
}

#[test]
fn an_offer_asks_the_phone_to_answer_by_itself_postgres() {
    an_offer_asks_the_phone_to_answer_by_itself(Db::Postgres);
}
