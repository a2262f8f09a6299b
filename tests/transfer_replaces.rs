//! End to end: attended transfer from the agent phone's own key (REFER with Replaces,
//! RFC 3891/5589). caller (440 Hz) → IVR → queue "pericia" → agent 1001 (1000 Hz). 1001's
//! phone calls colleague 1002 (1500 Hz) through atende (an internal call), then REFERs
//! the citizen's call to 1002 with `Replaces` naming that internal call's dialog. atende
//! joins the citizen to 1002 (re-offering 1002's leg its media), NOTIFYs 100 and 200,
//! hangs up 1001's two legs, and logs `transferred` (not blind) on the citizen's call,
//! whose one recording goes on: caller on the left throughout, 1001 then 1002 on the
//! right. A REFER whose Replaces names no dialog of ours, or the consultation's Call-ID
//! with other tags, gets 481 first, and the call goes on. The ACD sees 1002 on the citizen's call. SQLite and PostgreSQL.

#[path = "support/answered.rs"]
mod answered;
mod support;

use std::path::Path;
use std::process::Child;
use std::time::Duration;

use answered::pericia_caller;
use atende::floor::calls::CallCommand;
use support::in_process::set_in_process;
use support::ivr::*;
use support::*;

fn tone(samples: &[i16], freq: u32) -> bool {
    rms(samples) > 500.0 && (crossings_per_sec(samples) / 2.0 - freq as f64).abs() < 40.0
}

/// A sipp phone running `file` (filled with `vars`) on `port`, for one call.
fn phone(
    server: &Server,
    file: &str,
    port: u16,
    vars: &[(&str, String)],
    extra: &[String],
) -> Child {
    let sf = scenario(server.dir.path(), file, vars);
    let mut args = extra.to_vec();
    args.extend([
        "-sf".into(),
        sf.display().to_string(),
        "-i".into(),
        "127.0.0.1".into(),
        "-p".into(),
        port.to_string(),
        "-mi".into(),
        "127.0.0.1".into(),
        "-mp".into(),
        free_rtp_range(4).to_string(),
        "-m".into(),
        "1".into(),
    ]);
    let child = sipp(&args).spawn().expect("sipp starts");
    std::thread::sleep(Duration::from_millis(200));
    child
}

/// The words a phone wrote to `path`, once it did.
fn written(path: &Path, what: &str) -> Vec<String> {
    for _ in 0..100 {
        if let Ok(text) = std::fs::read_to_string(path)
            && !text.trim().is_empty()
        {
            return text
                .split_whitespace()
                .map(|w| w.trim_start_matches("tag=").to_owned())
                .collect();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what} never wrote {}", path.display());
}

/// The REFER's two NOTIFYs, answered 200, for agent_consulting.xml.
fn notify_twice() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sipp/notify_twice.xml");
    std::fs::read_to_string(path).expect("notify_twice.xml")
}

/// The events of call `protocol` once `kind` is among them.
fn wait_in(server: &Server, protocol: &str, kind: &str) -> Vec<serde_json::Value> {
    for _ in 0..100 {
        let events = server.api(&format!("/api/calls/{protocol}"))["events"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if events.iter().any(|e| e["kind"] == kind) {
            return events;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("no {kind} in call {protocol}");
}

/// `Replaces` as a URI header value.
fn escaped(call_id: &str, to_tag: &str, from_tag: &str) -> String {
    format!("{call_id};to-tag={to_tag};from-tag={from_tag}")
        .replace('@', "%40")
        .replace(';', "%3B")
        .replace('=', "%3D")
}

/// Sends the REFER into the citizen's call's dialog with 1001 and expects `status`.
fn refer(
    server: &Server,
    dialog: &[String],
    a1_port: u16,
    replaces: String,
    cseq: u32,
    status: u16,
) {
    let child = phone(
        server,
        "refer_replaces.xml",
        free_port(),
        &[
            ("A1_TAG", "a1tag".into()),
            ("ATENDE_TAG", dialog[1].clone()),
            ("A1_PORT", a1_port.to_string()),
            ("REPLACES", replaces),
            ("CSEQ", cseq.to_string()),
            ("EXPECT", status.to_string()),
        ],
        &[server.sip_target(), "-cid_str".into(), dialog[0].clone()],
    );
    wait_ok(child, &format!("REFER expecting {status}"), server);
}

/// Agent `user`'s phone calls `to` through atende (agent_dials_consult.xml), writing its
/// dialog to `out`.
fn consult_call(server: &Server, user: &str, to: &str, out: &Path, audio: String) -> Child {
    let sf = scenario(
        server.dir.path(),
        "agent_dials_consult.xml",
        &[
            ("USER", user.into()),
            ("OUT", out.display().to_string()),
            ("AUDIO", audio),
        ],
    );
    // One scenario file per phone: the next one must not overwrite it before sipp reads it.
    let own = server
        .dir
        .path()
        .join(format!("agent_dials_consult_{user}.xml"));
    std::fs::rename(&sf, &own).unwrap();
    sipp(&[
        server.sip_target(),
        "-sf".into(),
        own.display().to_string(),
        "-s".into(),
        to.into(),
        "-i".into(),
        "127.0.0.1".into(),
        "-p".into(),
        free_port().to_string(),
        "-mi".into(),
        "127.0.0.1".into(),
        "-mp".into(),
        free_rtp_range(4).to_string(),
        "-au".into(),
        user.into(),
        "-ap".into(),
        format!("pw{user}"),
        "-m".into(),
        "1".into(),
    ])
    .spawn()
    .expect("a consulting phone starts")
}

fn replaces(db: Db) {
    set_in_process(true);
    let other = "[[agents]]\nid = \"1002\"\npassword = \"pw1002\"\npin = \"1234\"\nqueues = [\"geral\"]\nauto_login = true\n";
    let server = Server::start_ivr_config(
        db,
        &IvrOptions {
            hours: Hours::Open,
            agents: &["1001"],
            auto_login: true,
            ring_timeout_secs: 20,
            http_port: None,
        },
        Prompts::Short,
        10,
        "",
        other,
    );
    let running = server.in_process.as_ref().expect("in process");
    let calls = running.floor.calls.clone();
    let acd = running.floor.acd.clone().expect("the ACD runs");
    let state_of = |agent: &str| {
        running
            .block_on(acd.status())
            .expect("ACD status")
            .agents
            .into_iter()
            .find(|v| v.agent == agent)
            .map(|v| v.state)
    };
    let dir = server.dir.path().to_owned();
    let tone_file = |freq: u32| {
        let p = dir.join(format!("phone{freq}.al"));
        if !p.exists() {
            alaw_tone(&p, freq, 120.0);
        }
        p.display().to_string()
    };
    let (p1, p2) = (free_port(), free_port());
    register_agent(&server, "1001", p1);
    register_agent(&server, "1002", p2);
    let out1 = dir.join("dialog1.txt");
    let a1 = phone(
        &server,
        "agent_consulting.xml",
        p1,
        &[
            ("TAG", "a1tag".into()),
            ("OUT", out1.display().to_string()),
            ("AUDIO", tone_file(1000)),
            ("NOTIFYS", notify_twice()),
        ],
        &[],
    );
    let b = phone(
        &server,
        "agent_reinvited.xml",
        p2,
        &[
            ("ANSWER_AFTER_MS", "500".into()),
            ("AUDIO", tone_file(1500)),
        ],
        &[],
    );
    let caller = pericia_caller(&server);
    let (protocol, _) = wait_for_event(&server, "bridged");
    let dialog1 = written(&out1, "1001's phone");
    std::thread::sleep(Duration::from_millis(1500));

    // 1001's phone consults 1002 through atende.
    let out2 = dir.join("dialog2.txt");
    let a2 = consult_call(&server, "1001", "1002", &out2, tone_file(1000));
    let dialog2 = written(&out2, "1001's consulting phone");
    assert_eq!(
        state_of("1002"),
        Some("on_call"),
        "1002 busy with the consultation"
    );
    std::thread::sleep(Duration::from_millis(1000));

    // A Replaces naming no dialog of ours: 481, the call goes on.
    refer(
        &server,
        &dialog1,
        p1,
        escaped("nosuch@x", "a", "b"),
        10,
        481,
    );
    // The real one: 202, then the citizen is 1002's.
    refer(
        &server,
        &dialog1,
        p1,
        escaped(&dialog2[0], &dialog2[1], &dialog2[2]),
        12,
        202,
    );
    let events = wait_in(&server, &protocol, "transferred");
    assert_eq!(
        state_of("1002"),
        Some("on_call"),
        "1002 on the citizen's call"
    );
    std::thread::sleep(Duration::from_millis(3000));
    let command = |c: CallCommand| running.block_on(calls.command(&protocol, c));
    assert_eq!(command(CallCommand::HangUp), Ok(()));
    wait_ok(caller, "caller", &server);
    wait_ok(a1, "1001's phone (NOTIFYs, BYE)", &server);
    wait_ok(a2, "1001's consulting phone (BYE)", &server);
    wait_ok(b, "1002's phone (re-INVITE, BYE)", &server);

    let t = &event(&events, "transferred")["detail"];
    assert_eq!(
        (t["from"].as_str(), t["to"].as_str(), t["blind"].as_bool()),
        (Some("1001"), Some("agent:1002"), Some(false)),
        "{t}"
    );
    let events = wait_in(&server, &protocol, "recording_finalized");
    let k = kinds(&events);
    let bridged: Vec<_> = events
        .iter()
        .filter(|e| e["kind"] == "bridged")
        .map(|e| e["detail"]["agent"].clone())
        .collect();
    assert_eq!(
        bridged,
        vec![serde_json::json!("1001"), serde_json::json!("1002")]
    );
    assert_eq!(k.iter().filter(|x| *x == "recording_started").count(), 1);
    for _ in 0..50 {
        if state_of("1002") == Some("available") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        state_of("1002"),
        Some("available"),
        "1002 free after the call"
    );

    // The consultation was its own call, ended by the transfer.
    let list = server.api("/api/calls");
    let internal = list
        .as_array()
        .and_then(|a| a.iter().find(|c| c["service"] == "internal"))
        .and_then(|c| c["protocol"].as_str())
        .expect("the consultation is logged")
        .to_owned();
    let events2 = server.api(&format!("/api/calls/{internal}"))["events"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(event(&events2, "hung_up")["detail"]["cause"], "replaced");

    let (left, right) = recording(&server, &protocol);
    let secs = right.len() / 8000;
    let second = |s: &[i16], i: usize| s[i * 8000..((i + 1) * 8000).min(s.len())].to_vec();
    let first = (0..secs).position(|i| tone(&second(&right, i), 1000));
    let then = (0..secs).rposition(|i| tone(&second(&right, i), 1500));
    assert!(
        matches!((first, then), (Some(a), Some(b)) if a < b),
        "1001 then 1002 on the right: {first:?} {then:?}"
    );
    let caller_secs = (1..secs - 1)
        .filter(|&i| tone(&second(&left, i), 440))
        .count();
    assert!(
        caller_secs >= secs - 3,
        "the caller's audio runs through the recording ({caller_secs} of {secs} s)"
    );
}

/// 1001's phone REFERs its citizen to the call agent 1003 has with 1004: 403, logged, and
/// the citizen stays with 1001.
fn others_call(db: Db) {
    set_in_process(true);
    let others = "[[agents]]\nid = \"1003\"\npassword = \"pw1003\"\npin = \"1234\"\nqueues = [\"geral\"]\nauto_login = true\n\n[[agents]]\nid = \"1004\"\npassword = \"pw1004\"\npin = \"1234\"\nqueues = [\"geral\"]\nauto_login = true\n";
    let server = Server::start_ivr_config(
        db,
        &IvrOptions {
            hours: Hours::Open,
            agents: &["1001"],
            auto_login: true,
            ring_timeout_secs: 20,
            http_port: None,
        },
        Prompts::Short,
        10,
        "",
        others,
    );
    let running = server.in_process.as_ref().expect("in process");
    let calls = running.floor.calls.clone();
    let dir = server.dir.path().to_owned();
    let audio = dir.join("phone1000.al");
    alaw_tone(&audio, 1000, 120.0);
    let audio = audio.display().to_string();
    let (p1, p4) = (free_port(), free_port());
    register_agent(&server, "1001", p1);
    register_agent(&server, "1004", p4);
    let out1 = dir.join("dialog1.txt");
    let a1 = phone(
        &server,
        "agent_consulting.xml",
        p1,
        &[
            ("TAG", "a1tag".into()),
            ("OUT", out1.display().to_string()),
            ("AUDIO", audio.clone()),
            ("NOTIFYS", String::new()),
        ],
        &[],
    );
    let d = phone(
        &server,
        "agent.xml",
        p4,
        &[("ANSWER_AFTER_MS", "300".into()), ("AUDIO", audio.clone())],
        &[],
    );
    let caller = pericia_caller(&server);
    let (protocol, _) = wait_for_event(&server, "bridged");
    let dialog1 = written(&out1, "1001's phone");
    let out2 = dir.join("dialog2.txt");
    let c = consult_call(&server, "1003", "1004", &out2, audio);
    let dialog2 = written(&out2, "1003's phone");
    refer(
        &server,
        &dialog1,
        p1,
        escaped(&dialog2[0], &dialog2[1], &dialog2[2]),
        10,
        403,
    );
    std::thread::sleep(Duration::from_millis(1000));
    let internal = server
        .api("/api/calls")
        .as_array()
        .and_then(|a| a.iter().find(|c| c["service"] == "internal"))
        .and_then(|c| c["protocol"].as_str())
        .expect("1003's call is logged")
        .to_owned();
    for p in [&protocol, &internal] {
        assert_eq!(
            running.block_on(calls.command(p, CallCommand::HangUp)),
            Ok(())
        );
    }
    wait_ok(caller, "caller", &server);
    wait_ok(a1, "1001's phone", &server);
    wait_ok(c, "1003's phone", &server);
    wait_ok(d, "1004's phone", &server);
    let events = wait_in(&server, &protocol, "hung_up");
    let k = kinds(&events);
    assert!(!k.iter().any(|x| x == "transferred"), "{k:?}");
    let bridged: Vec<_> = events
        .iter()
        .filter(|e| e["kind"] == "bridged")
        .map(|e| e["detail"]["agent"].clone())
        .collect();
    assert_eq!(bridged, vec![serde_json::json!("1001")]);
    let events = wait_in(&server, &internal, "hung_up");
    assert_eq!(
        event(&events, "hung_up")["detail"]["cause"],
        "operator_hang_up"
    );
}

#[test]
fn refer_naming_another_agents_call_is_forbidden_sqlite() {
    others_call(Db::Sqlite);
}

#[test]
fn refer_naming_another_agents_call_is_forbidden_postgres() {
    others_call(Db::Postgres);
}

#[test]
fn attended_transfer_by_the_phone_sqlite() {
    replaces(Db::Sqlite);
}

#[test]
fn attended_transfer_by_the_phone_postgres() {
    replaces(Db::Postgres);
}
