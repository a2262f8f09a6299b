//! End to end: listen, whisper and barge (issue 20). caller (440 Hz) → IVR → queue
//! "pericia" → agent 1001 (1000 Hz); supervisor "sup" (scope: pericia), whose phone is
//! account 2001 (1500 Hz), monitors the call through `POST /api/calls/{p}/monitor` and
//! switches mode live with `PATCH`. The caller's, the agent's and the supervisor's
//! phones are the test's own RTP peers (the caller presses the IVR's keys as RFC 4733
//! events), so the test hears what each party receives (a Goertzel detector per tone).
//! For listen, whisper, barge, barge on hold and back to listen (modes switched
//! mid-call), then stopped and started again in barge and switched to whisper from the
//! supervisor's keypad (an RFC 4733 2), and with a second supervisor "sup2" (phone 2002,
//! 1250 Hz) barging in beside the whisper, it asserts the issue's table; the recording's
//! right channel (the caller's mix as sent) has the barge and not the whisper; the
//! supervisors' tracks (one per monitoring) have the supervisor. A blind transfer by the
//! agent ends the monitoring (`transferred`). Authorization: an agent is refused (403), a
//! supervisor outside the call's queues is refused (403); every request and refusal is
//! audited. The agent's desktop (CTI) badge follows the strongest mode still attached:
//! whisper and barge, listen only with `[cti] show_listen` (off on SQLite, on on
//! PostgreSQL), and "sup2" leaving leaves "sup"'s whisper; a desktop opened meanwhile
//! (the agent's reconnecting during the whisper and the listen, the supervisor's) has
//! that mode in its snapshot. SQLite and PostgreSQL.

#[path = "support/cti_ws.rs"]
mod cti_ws;
#[path = "support/rtp_peer.rs"]
mod rtp_peer;
mod support;

use std::process::Child;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use atende::floor::calls::{CallCommand, TransferTarget};
use rtp_peer::RtpPeer;
use support::monitor::*;
use support::*;

const HOLD_MUSIC: u32 = 500;
const SUPERVISOR_2: u32 = 1250;

/// A second supervisor of pericia, on phone 2002.
const SUP2: &str = r#"
[[users]]
name = "sup2"
role = "supervisor"
agent = "2002"
queues = ["pericia"]
password_hash = "HASH"
"#;

/// Which of the test's tones `samples` hold, in the order given.
fn tones(samples: &[i16]) -> Vec<u32> {
    tones_among(
        samples,
        &[CALLER, HOLD_MUSIC, AGENT, SUPERVISOR_2, SUPERVISOR],
    )
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A citizen whose media is `peer`: calls the service, goes through the IVR (1, then 1,
/// pressed by the peer as RFC 4733 events) and waits for atende's BYE.
fn media_caller(server: &Server, peer: &RtpPeer) -> Child {
    let sf = scenario(
        server.dir.path(),
        "caller_media.xml",
        &[
            ("RTP_PORT", peer.port.to_string()),
            ("TALK_MS", "90000".into()),
        ],
    );
    let mut args = trunk_caller_args(server, &sf, 4);
    args.extend(["-m".into(), "1".into()]);
    let child = sipp(&args).spawn().expect("caller sipp starts");
    // The keys as `start_ivr_caller` presses them: once the IVR speaks, 1, then 1.
    for _ in 0..100 {
        if peer.heard_secs() > 0.0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    for pause in [800, 500] {
        std::thread::sleep(Duration::from_millis(pause));
        peer.press(1);
    }
    child
}

/// What a party heard in a window: from `settle` s after now, for `secs` s.
struct Window {
    from: std::time::Instant,
    to: std::time::Instant,
    from_ms: i64,
    to_ms: i64,
}

fn window(settle: f64, secs: f64) -> Window {
    std::thread::sleep(Duration::from_secs_f64(settle));
    let (from, from_ms) = (std::time::Instant::now(), now_ms());
    std::thread::sleep(Duration::from_secs_f64(secs));
    Window {
        from,
        to: std::time::Instant::now(),
        from_ms,
        to_ms: now_ms(),
    }
}

fn monitored(db: Db, show_listen: bool) {
    let server = server(db, &format!("{SUP2}\n[cti]\nshow_listen = {show_listen}\n"));
    let running = server.in_process.as_ref().expect("in process");
    let calls = running.floor.calls.clone();
    let (agent, sup) = (RtpPeer::start(AGENT), RtpPeer::start(SUPERVISOR));
    let (citizen, sup2) = (RtpPeer::start(CALLER), RtpPeer::start(SUPERVISOR_2));
    let (sup_port, sup2_port) = (free_port(), free_port());
    register_agent(&server, "2001", sup_port);
    register_agent(&server, "2002", sup2_port);
    let agent_phone = agent_phone(&server, agent.port);
    let sup_phone = media_phone(&server, "2001", sup_port, sup.port, 0);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let desk_cookie = login_as(&server, "ag1001");
    let origin = format!("http://127.0.0.1:{}", server.http_port);
    let mut desk = rt.block_on(cti_ws::open(server.http_port, &desk_cookie, &origin));
    rt.block_on(cti_ws::start(&mut desk));
    let caller = media_caller(&server, &citizen);
    let (protocol, _) = wait_for_event(&server, "bridged");
    let path = format!("/api/calls/{protocol}/monitor");
    let login_as = |user: &str| login_as(&server, user);

    // Who may not: an agent (the role), a supervisor of other queues (the scope).
    let ag = login_as("ag1001");
    let (status, _) = request(&server, "POST", &path, &ag, Some(r#"{"mode":"listen"}"#));
    assert_eq!(status, 403, "an agent cannot monitor");
    let far = login_as("far");
    let (status, _) = request(&server, "POST", &path, &far, Some(r#"{"mode":"listen"}"#));
    assert_eq!(
        status, 403,
        "a supervisor outside the call's queues cannot monitor"
    );

    // `cookie`'s user starts monitoring in `mode`: the `n`th monitoring of the call.
    let start = |cookie: &str, mode: &str, n: usize| {
        let body = format!(r#"{{"mode":"{mode}"}}"#);
        let (status, body) = request(&server, "POST", &path, cookie, Some(&body));
        assert_eq!(status, 202, "{mode}: {body}");
        wait_events(&server, &protocol, "monitor_started", n);
    };
    let sup_cookie = login_as("sup");
    start(&sup_cookie, "listen", 1);
    for _ in 0..50 {
        if sup.heard_secs() > 0.5 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }

    let mut spans: Vec<(&str, Window)> = Vec::new();
    // What each party receives in a window: the issue's table, row by row.
    let mut check = |name: &'static str,
                     w: Window,
                     caller_hears: &[u32],
                     agent_hears: &[u32],
                     sup_hears: &[u32]| {
        let (c, a, s) = (
            tones(&citizen.heard_between(w.from, w.to)),
            tones(&agent.heard_between(w.from, w.to)),
            tones(&sup.heard_between(w.from, w.to)),
        );
        assert_eq!(c, caller_hears, "{name}: what the caller hears");
        assert_eq!(a, agent_hears, "{name}: what the agent hears");
        assert_eq!(s, sup_hears, "{name}: what the supervisor hears");
        spans.push((name, w));
    };
    check(
        "listen",
        window(0.5, 1.5),
        &[AGENT],
        &[CALLER],
        &[CALLER, AGENT],
    );
    // The desktop's badge, in order: listen only when shown, whisper and barge always.
    let badge = |desk: &mut cti_ws::Ws, want: Option<&str>, what: &str| {
        let told = rt.block_on(cti_ws::next(desk, "monitoring"));
        assert_eq!(told["protocol"], protocol.as_str(), "{what}: {told}");
        assert_eq!(told["mode"].as_str(), want, "{what}: {told}");
    };
    if show_listen {
        badge(&mut desk, Some("listen"), "listen shown");
    }

    let mode = |m: &str| {
        let (status, body) = request(
            &server,
            "PATCH",
            &path,
            &sup_cookie,
            Some(&format!(r#"{{"mode":"{m}"}}"#)),
        );
        assert_eq!(status, 202, "{m}: {body}");
    };
    mode("whisper");
    check(
        "whisper",
        window(0.5, 1.5),
        &[AGENT],
        &[CALLER, SUPERVISOR],
        &[CALLER, AGENT],
    );
    badge(&mut desk, Some("whisper"), "whisper");
    // A desktop opened now (the agent's reconnecting, a supervisor's) gets the mode it
    // would have been told in its snapshot's call.
    let open_desk = |user: &str| {
        let mut desk = rt.block_on(cti_ws::open(server.http_port, &login_as(user), &origin));
        let snapshot = rt.block_on(cti_ws::start(&mut desk))["snapshot"].clone();
        let call = snapshot["calls"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["protocol"] == protocol.as_str()))
            .unwrap_or_else(|| panic!("{user} sees the call: {snapshot}"));
        let mode = call["monitoring"].as_str().map(str::to_owned);
        (desk, mode)
    };
    rt.block_on(desk.socket.close(None))
        .expect("the desktop closes");
    let (again, mode_seen) = open_desk("ag1001");
    desk = again;
    assert_eq!(
        mode_seen.as_deref(),
        Some("whisper"),
        "the agent's desktop reconnected during the whisper has the badge"
    );
    mode("barge");
    check(
        "barge",
        window(0.5, 1.5),
        &[AGENT, SUPERVISOR],
        &[CALLER, SUPERVISOR],
        &[CALLER, AGENT],
    );
    badge(&mut desk, Some("barge"), "barge");
    assert_eq!(
        running.block_on(calls.command(&protocol, CallCommand::Hold)),
        Ok(())
    );
    // On hold the caller is apart (music); the supervisor still hears the agent, whose
    // held leg is sent nothing (as without monitoring).
    check("hold", window(0.7, 1.5), &[HOLD_MUSIC], &[], &[AGENT]);
    assert_eq!(
        running.block_on(calls.command(&protocol, CallCommand::Resume)),
        Ok(())
    );
    mode("listen");
    check(
        "listen again",
        window(0.5, 1.5),
        &[AGENT],
        &[CALLER],
        &[CALLER, AGENT],
    );
    // An unshown listen clears the badge.
    badge(&mut desk, show_listen.then_some("listen"), "listen again");
    // Reconnected now, the agent's desktop still follows `show_listen`; the supervisor's
    // sees the listen.
    rt.block_on(desk.socket.close(None))
        .expect("the desktop closes");
    let (again, mode_seen) = open_desk("ag1001");
    desk = again;
    assert_eq!(
        mode_seen.as_deref(),
        show_listen.then_some("listen"),
        "the agent's desktop reconnected during the listen"
    );
    let (_sup_desk, mode_seen) = open_desk("sup");
    assert_eq!(
        mode_seen.as_deref(),
        Some("listen"),
        "the supervisor's desktop opened during the listen"
    );

    // Stopped, then monitored again (barge from the start): a second track.
    let (status, body) = request(&server, "DELETE", &path, &sup_cookie, None);
    assert_eq!(status, 202, "{body}");
    wait_ok(sup_phone, "supervisor phone (BYE from atende)", &server);
    wait_events(&server, &protocol, "monitor_track_finalized", 1);
    if show_listen {
        badge(&mut desk, None, "stopped");
    }
    let sup_phone = media_phone(&server, "2001", sup_port, sup.port, 0);
    start(&sup_cookie, "barge", 2);
    check(
        "barge again",
        window(1.0, 1.5),
        &[AGENT, SUPERVISOR],
        &[CALLER, SUPERVISOR],
        &[CALLER, AGENT],
    );
    badge(&mut desk, Some("barge"), "barge again");
    // The supervisor's keypad: 2 is whisper.
    sup.press(2);
    wait_events(&server, &protocol, "monitor_mode_changed", 4);
    check(
        "whisper by keypad",
        window(0.5, 1.5),
        &[AGENT],
        &[CALLER, SUPERVISOR],
        &[CALLER, AGENT],
    );
    badge(&mut desk, Some("whisper"), "whisper by keypad");

    // A second supervisor barges in beside the whisper: the caller hears only the one
    // barging, the agent both; whisperer and barger do not hear each other.
    let sup2_phone = media_phone(&server, "2002", sup2_port, sup2.port, 0);
    let sup2_cookie = login_as("sup2");
    start(&sup2_cookie, "barge", 3);
    badge(&mut desk, Some("barge"), "the second supervisor barges");
    let w = window(1.0, 1.5);
    assert_eq!(
        tones(&sup2.heard_between(w.from, w.to)),
        [CALLER, AGENT],
        "two supervisors: what the second supervisor hears"
    );
    check(
        "two supervisors",
        w,
        &[AGENT, SUPERVISOR_2],
        &[CALLER, SUPERVISOR_2, SUPERVISOR],
        &[CALLER, AGENT],
    );
    // The second one leaves: the first still whispers, and the badge says so.
    let (status, body) = request(&server, "DELETE", &path, &sup2_cookie, None);
    assert_eq!(status, 202, "{body}");
    wait_ok(
        sup2_phone,
        "second supervisor phone (BYE from atende)",
        &server,
    );
    badge(&mut desk, Some("whisper"), "one of two supervisors left");

    // The agent sends the caller away: the monitoring ends with the agent's part.
    assert_eq!(
        running.block_on(calls.command(
            &protocol,
            CallCommand::Transfer {
                to: TransferTarget::Queue("geral".into()),
                blind: true,
            }
        )),
        Ok(())
    );
    wait_ok(agent_phone, "agent phone (BYE from atende)", &server);
    wait_ok(sup_phone, "supervisor phone (BYE from atende)", &server);
    wait_events(&server, &protocol, "monitor_track_finalized", 2);
    assert_eq!(
        running.block_on(calls.command(&protocol, CallCommand::HangUp)),
        Ok(())
    );
    wait_ok(caller, "caller (BYE from atende)", &server);
    let events = wait_events(&server, &protocol, "monitor_track_finalized", 2);
    let events = {
        let _ = events;
        wait_events(&server, &protocol, "recording_finalized", 1)
    };

    // The log: started, three switches (whisper, barge, listen), stopped; started again,
    // ended with the call.
    assert_eq!(
        event(&events, "monitor_started")["detail"]["mode"],
        "listen"
    );
    assert_eq!(
        event(&events, "monitor_started")["detail"]["supervisor"],
        "sup"
    );
    let modes: Vec<&str> = events
        .iter()
        .filter(|e| e["kind"] == "monitor_mode_changed")
        .filter_map(|e| e["detail"]["mode"].as_str())
        .collect();
    assert_eq!(modes, ["whisper", "barge", "listen", "whisper"]);
    let of = |kind: &str, field: &str| -> Vec<String> {
        events
            .iter()
            .filter(|e| e["kind"] == kind)
            .filter_map(|e| e["detail"][field].as_str().map(str::to_owned))
            .collect()
    };
    assert_eq!(of("monitor_started", "mode"), ["listen", "barge", "barge"]);
    assert_eq!(of("monitor_started", "supervisor"), ["sup", "sup", "sup2"]);
    assert_eq!(
        of("monitor_mode_changed", "via"),
        ["api", "api", "api", "keypad"]
    );
    assert_eq!(
        of("monitor_ended", "reason"),
        ["stopped", "stopped", "transferred"]
    );
    assert_eq!(of("monitor_ended", "supervisor"), ["sup", "sup2", "sup"]);
    let tracks = of("monitor_track_finalized", "path");
    assert_eq!(tracks.len(), 2, "{tracks:?}");
    assert!(
        tracks[1].ends_with(&format!("{protocol}.supervisor-2.wav")),
        "{tracks:?}"
    );

    // The recording's right channel is what the caller heard (the same mix as the
    // caller's RTP): the agent always, a supervisor only while barging (not whispering),
    // the music on hold.
    let rec_start = at_ms(&events, "recording_started");
    let (_, right) = recording(&server, &protocol);
    let heard = |w: &Window| {
        let a = ((w.from_ms - rec_start).max(0) * 8) as usize;
        let b = (((w.to_ms - rec_start).max(0) * 8) as usize).min(right.len());
        tones(&right[a.min(b)..b])
    };
    let expected: [(&str, &[u32]); 8] = [
        ("listen", &[AGENT]),
        ("whisper", &[AGENT]),
        ("barge", &[AGENT, SUPERVISOR]),
        ("hold", &[HOLD_MUSIC]),
        ("listen again", &[AGENT]),
        ("barge again", &[AGENT, SUPERVISOR]),
        ("whisper by keypad", &[AGENT]),
        ("two supervisors", &[AGENT, SUPERVISOR_2]),
    ];
    for ((name, w), (n, want)) in spans.iter().zip(expected) {
        assert_eq!(*name, n);
        assert_eq!(heard(w), want, "{name}: what the caller heard (recording)");
    }

    // The supervisors' track: the supervisor on the left, the agent's hearing on the right.
    let track = event(&events, "monitor_track_finalized")["detail"]["path"]
        .as_str()
        .expect("a track path")
        .to_owned();
    assert!(
        track.ends_with(&format!("{protocol}.supervisor.wav")),
        "{track}"
    );
    let bytes = std::fs::read(&track).expect("the track is on disk");
    let wav = atende::media::recording::wav::decode(&bytes).expect("valid WAV");
    let (left, right) = (wav.channel(0), wav.channel(1));
    assert!(
        tones(&left).contains(&SUPERVISOR),
        "the supervisor on the track"
    );
    assert!(
        tones(&right).contains(&CALLER),
        "what the agent heard on the track"
    );

    // Audited: the refusals and every request of "sup".
    let entries = audit(&server);
    let has = |actor: &str, action: &str| {
        entries
            .iter()
            .any(|e| e["actor"] == actor && e["action"] == action)
    };
    assert!(has("ag1001", "denied"), "the agent's refusal is audited");
    assert!(has("far", "denied"), "the out-of-scope refusal is audited");
    let count = |action: &str| {
        entries
            .iter()
            .filter(|e| e["actor"] == "sup" && e["action"] == action)
            .count()
    };
    assert_eq!(count("monitor.start"), 2);
    assert_eq!(count("monitor.stop"), 1);
    assert_eq!(
        entries
            .iter()
            .filter(|e| e["actor"] == "sup" && e["action"] == "monitor.mode")
            .count(),
        3
    );
}

#[test]
fn listen_whisper_barge_and_hold_sqlite() {
    monitored(Db::Sqlite, false);
}

#[test]
fn listen_whisper_barge_and_hold_postgres() {
    monitored(Db::Postgres, true);
}
