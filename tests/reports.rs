//! End to end: a small real day driven by sipp through the shipped IVR and the ACD (an
//! answered call, calls refused while the server is full, a caller who gives up in the
//! queue while an agent's phone rings, a caller who hangs up in the IVR), whose reports
//! (`/api/reports/…`, kept by the live projector) agree with a second, independent
//! computation from the raw event log (`/api/calls/{protocol}`); then `atende reports
//! rebuild` gives the same numbers.

mod support;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use support::ivr::*;
use support::*;

/// What the test computes itself from one call's raw events.
#[derive(Debug, Default, PartialEq)]
struct Own {
    outcome: &'static str,
    wait_ms: i64,
    talk_ms: i64,
}

fn at(events: &[serde_json::Value], pred: impl Fn(&serde_json::Value) -> bool) -> Option<i64> {
    events
        .iter()
        .find(|e| pred(e))
        .and_then(|e| e["at_ms"].as_i64())
}

/// The contract's rules, written again from `docs/reports.md` without the projector's
/// code: answered by a human if the ACD logged an answer; else abandoned in queue if it
/// queued and the caller hung up; else abandoned in the IVR if the caller hung up; else
/// not received if the system ended it without the platform ever answering.
fn own(events: &[serde_json::Value]) -> Own {
    let acd = |kind: &'static str| {
        move |e: &serde_json::Value| e["kind"] == "acd" && e["detail"]["event"]["kind"] == kind
    };
    let queued = at(events, acd("queue_entered"));
    let answered = at(events, acd("answered"));
    let hung = events
        .iter()
        .find(|e| e["kind"] == "hung_up")
        .expect("every call ended");
    let end = hung["at_ms"].as_i64().unwrap_or(0);
    let by_caller = hung["detail"]["by"] == "caller";
    match (queued, answered) {
        (Some(q), Some(a)) => {
            let bridged = at(events, |e| e["kind"] == "bridged").expect("bridged");
            Own {
                outcome: "human_answered",
                wait_ms: a - q,
                talk_ms: end - bridged,
            }
        }
        (Some(q), None) if by_caller => Own {
            outcome: "queue_abandon",
            wait_ms: end.min(at(events, acd("abandoned")).unwrap_or(end)) - q,
            talk_ms: 0,
        },
        (None, None) if by_caller => Own {
            outcome: "ivr_abandon",
            ..Own::default()
        },
        (None, None) if !events.iter().any(|e| e["kind"] == "answered") => Own {
            outcome: "not_received",
            ..Own::default()
        },
        other => panic!("unexpected call shape {other:?}: {events:?}"),
    }
}

/// Sets `[sip] max_calls` (it applies on a live reload).
fn set_max_calls(server: &Server, n: usize) {
    let path = server.dir.path().join("atende.toml");
    let config = std::fs::read_to_string(&path).expect("config");
    let config = match config.find("[sip]\nmax_calls = ") {
        Some(at) => {
            let end = at + config[at..].find("\nlisten_udp").expect("sip table");
            format!("{}[sip]\nmax_calls = {n}{}", &config[..at], &config[end..])
        }
        None => config.replacen("[sip]\n", &format!("[sip]\nmax_calls = {n}\n"), 1),
    };
    std::fs::write(&path, config).expect("config written");
    let (status, body) =
        http_request(server.http_port, "POST", "/api/config/reload", true, None).expect("reload");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
}

/// Sends one INVITE over UDP twice (a gateway's retransmission, same branch) and returns
/// the final statuses it got back (the transaction may answer the copy again or absorb
/// it); then ACKs the refusal.
fn invite_retransmitted(server: &Server) -> Vec<u16> {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("udp");
    let local = sock.local_addr().expect("addr");
    let sdp = "v=0\r\no=gw 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n";
    let head = |method: &str, cseq: &str| {
        format!(
            "{method} sip:{DID}@127.0.0.1:{port} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {local};branch=z9hG4bKretrans{pid};rport\r\n\
             From: <sip:1133334444@127.0.0.1>;tag=retrans{pid}\r\n\
             To: <sip:{DID}@127.0.0.1>\r\n\
             Call-ID: retrans{pid}@test\r\n\
             CSeq: 1 {cseq}\r\n\
             Contact: <sip:1133334444@{local}>\r\n\
             Max-Forwards: 70\r\n",
            port = server.sip_port,
            pid = std::process::id(),
        )
    };
    let invite = format!(
        "{}Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        head("INVITE", "INVITE"),
        sdp.len()
    );
    let mut finals = Vec::new();
    let mut buf = [0u8; 65536];
    for wait_ms in [1500, 300] {
        sock.set_read_timeout(Some(Duration::from_millis(wait_ms)))
            .expect("timeout");
        sock.send_to(invite.as_bytes(), server.sip_target())
            .expect("send");
        while let Ok((n, _)) = sock.recv_from(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]);
            let code: u16 = text
                .split_whitespace()
                .nth(1)
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            if code >= 200 {
                finals.push(code);
                break;
            }
        }
    }
    let ack = format!("{}Content-Length: 0\r\n\r\n", head("ACK", "ACK"));
    sock.send_to(ack.as_bytes(), server.sip_target())
        .expect("ack");
    finals
}

fn a_day_of_calls_reports_what_its_event_log_says(db: Db) {
    let server = Server::start_ivr(db, &IvrOptions::open_with(&["1001"]));
    // 1. Menu 1 → 1 → queue "pericia": the agent answers after 1 s; 6 s of talk.
    let agent_port = free_port();
    register_agent(&server, "1001", agent_port);
    set_max_calls(&server, 1);
    let agent = start_answering_agent(&server, agent_port, 1, 1000);
    let caller = start_ivr_caller(&server, &[(800, "1"), (500, "1")], 6000, false);
    // 2. While it is up the server (max_calls = 1) is full: two trunk calls from sipp and
    // one INVITE sent twice (a retransmission: one call) are refused with 503 and each
    // logged under a protocol number as not received.
    wait_for_event(&server, "answered");
    let sf = scenario(server.dir.path(), "refused_caller.xml", &[]);
    let mut args = trunk_caller_args(&server, &sf, 2);
    args.extend(["-m".into(), "2".into()]);
    let refused = sipp(&args).spawn().expect("refused callers start");
    wait_ok(refused, "refused callers", &server);
    let finals = invite_retransmitted(&server);
    assert!(
        finals.first() == Some(&503) && finals.iter().all(|&c| c == 503),
        "{finals:?}"
    );
    wait_ok(caller, "answered caller", &server);
    wait_ok(agent, "agent phone", &server);
    set_max_calls(&server, 10);
    // 3. 0 (operator) → queue "geral": the agent's phone is gone, so it rings unanswered
    // while the caller waits 2.5 s and gives up: abandoned in queue, within 30 s.
    let caller = start_ivr_caller(&server, &[(800, "0")], 2500, false);
    wait_ok(caller, "abandoning caller", &server);
    // 4. Hangs up in the IVR's menu without pressing anything.
    let caller = start_ivr_caller(&server, &[], 600, false);
    wait_ok(caller, "caller leaving the IVR", &server);

    // The independent computation, from the stored raw events.
    let calls = server.api("/api/calls");
    let calls = calls.as_array().expect("call list");
    assert_eq!(calls.len(), 6, "six calls, the retransmitted INVITE once");
    let mut mine = Vec::new();
    for c in calls {
        let p = c["protocol"].as_str().expect("protocol").to_owned();
        let detail = server.api(&format!("/api/calls/{p}"));
        let events = detail["events"].as_array().cloned().unwrap_or_default();
        mine.push((p, own(&events)));
    }
    let outcomes: Vec<&str> = mine.iter().map(|(_, o)| o.outcome).collect();
    assert_eq!(
        outcomes,
        [
            "human_answered",
            "not_received",
            "not_received",
            "not_received",
            "queue_abandon",
            "ivr_abandon"
        ]
    );
    let refusals = 3;
    let within = |o: &Own| o.wait_ms <= 30_000;
    let talk: i64 = mine.iter().map(|(_, o)| o.talk_ms).sum();
    let wait_answered: i64 = mine
        .iter()
        .filter(|(_, o)| o.outcome == "human_answered")
        .map(|(_, o)| o.wait_ms)
        .sum();

    // The projector's report, once it has seen every call end.
    let deadline = Instant::now() + Duration::from_secs(20);
    let today = loop {
        let r = server.api("/api/reports/today");
        let s = &r["total"]["stats"];
        if s["offered"] == 6 && s["in_progress"] == 0 && s["talk_ms"] == talk {
            break r;
        }
        assert!(Instant::now() < deadline, "projection never caught up: {r}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let s = &today["total"]["stats"];
    assert_eq!(s["not_received"], refusals);
    assert_eq!(s["answered_within"], u64::from(within(&mine[0].1)));
    assert_eq!(s["answered_beyond"], u64::from(!within(&mine[0].1)));
    assert_eq!(s["queue_abandon_within"], u64::from(within(&mine[4].1)));
    assert_eq!(s["ivr_abandon"], 1);
    assert_eq!(s["lost"], 0);
    assert_eq!(s["wait_answered_ms"], wait_answered);
    assert_eq!(s["wait_abandon_ms"], mine[4].1.wait_ms);
    // NS = (1 answered ≤ 30 s + 1 queue abandon ≤ 30 s) ÷ (1 + 1 + 0 lost); TAB = 0 ÷ 3
    // received; INR = 3 refused ÷ 6 offered.
    let k = &today["total"]["kpis"];
    assert_eq!(
        (
            k["inr"]["numerator"].as_u64(),
            k["inr"]["denominator"].as_u64()
        ),
        (Some(refusals), Some(6))
    );
    assert_eq!(
        (
            k["ns"]["numerator"].as_u64(),
            k["ns"]["denominator"].as_u64()
        ),
        (Some(2), Some(2))
    );
    assert_eq!(
        (
            k["tab"]["numerator"].as_u64(),
            k["tab"]["denominator"].as_u64()
        ),
        (Some(0), Some(3))
    );
    assert_eq!(k["tma"]["total_ms"], talk);
    assert_eq!(today["definitions"]["threshold_ms"], 30_000);
    assert_eq!(
        today["definitions"]["version"],
        atende::reports::DEFINITIONS_VERSION
    );
    assert_eq!(today["definitions"]["timezone"], "America/Sao_Paulo");
    let date = today["period"]["from"].as_str().expect("period").to_owned();
    let day = server.api(&format!("/api/reports/day?date={date}"));
    assert_eq!(
        day["total"], today["total"],
        "today's figures are the day report's"
    );
    let table = server.api(&format!("/api/reports/day?date={date}&format=table"));
    let columns = table["columns"].as_array().cloned().unwrap_or_default();
    let total_row = table["rows"]
        .as_array()
        .and_then(|r| r.last())
        .cloned()
        .unwrap_or_default();
    assert_eq!(total_row.as_array().map(Vec::len), Some(columns.len()));
    let offered = columns
        .iter()
        .position(|c| c["key"] == "offered")
        .expect("offered column");
    assert_eq!(
        total_row[offered],
        serde_json::json!({"type": "count", "value": 6})
    );
    assert_eq!(columns[offered]["label"], "Oferecidas");
    let calls_table = server.api(&format!("/api/reports/calls?from={date}&format=table"));
    assert_eq!(calls_table["rows"].as_array().map(Vec::len), Some(6));

    // The per-call list: one line per call, same outcomes, the caller's number shown to
    // an admin, paged by key set.
    let mut rows: Vec<serde_json::Value> = Vec::new();
    let mut pages = 0;
    let mut after = String::new();
    loop {
        let list = server.api(&format!("/api/reports/calls?from={date}&limit=2{after}"));
        rows.extend(list["calls"].as_array().cloned().unwrap_or_default());
        pages += 1;
        match list["next"].as_str() {
            Some(next) => after = format!("&after={next}"),
            None => break,
        }
        assert!(pages < 10, "paging ends");
    }
    assert!(pages >= 3, "six calls, two a page");
    let listed: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            (
                r["protocol"].as_str().unwrap_or("").to_owned(),
                r["outcome"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = mine
        .iter()
        .map(|(p, o)| (p.clone(), o.outcome.to_owned()))
        .collect();
    assert_eq!(listed, expected);
    assert_eq!(rows[0]["wait_ms"], mine[0].1.wait_ms);
    assert_eq!(rows[0]["talk_ms"], mine[0].1.talk_ms);
    assert_eq!(rows[0]["agent"], "1001");
    assert!(
        rows[0]["caller"]
            .as_str()
            .is_some_and(|c| !c.is_empty() && !c.contains('•'))
    );
    let (status, _) =
        http_get(server.http_port, "/api/reports/day?date=2026-13-01", true).expect("http");
    assert_eq!(status, 400, "a bad date is refused");

    // Roles: an agent is refused; a supervisor of "geral" sees that queue's call only,
    // with the caller's number masked to its last four digits.
    for user in [
        serde_json::json!({"name": "sup", "role": "supervisor", "queues": ["geral"], "password": "senha-sup-1"}),
        serde_json::json!({"name": "ag", "role": "agent", "agent": "1001", "password": "senha-ag-1"}),
    ] {
        let (status, body) = http_request(
            server.http_port,
            "POST",
            "/api/users",
            true,
            Some(&user.to_string()),
        )
        .expect("add user");
        assert!(
            (200..300).contains(&status),
            "{}",
            String::from_utf8_lossy(&body)
        );
    }
    let as_user = |user: &str, pw: &str, path: &str| -> (u16, serde_json::Value) {
        let cookie = login(server.http_port, user, pw)
            .expect("login")
            .expect("logged in");
        let (status, _, body) = raw_request(
            server.http_port,
            "GET",
            path,
            &format!("Cookie: {cookie}\r\n"),
            None,
        )
        .expect("GET");
        (status, serde_json::from_slice(&body).unwrap_or_default())
    };
    assert_eq!(
        as_user("ag", "senha-ag-1", "/api/reports/today").0,
        403,
        "an agent is refused"
    );
    let (status, sup_today) = as_user("sup", "senha-sup-1", "/api/reports/today");
    assert_eq!(status, 200);
    assert_eq!(
        sup_today["total"]["stats"]["offered"], 1,
        "only the call of geral"
    );
    assert_eq!(sup_today["total"]["stats"]["queue_abandon_within"], 1);
    assert_eq!(
        as_user(
            "sup",
            "senha-sup-1",
            &format!("/api/reports/day?date={date}&queue=pericia")
        )
        .0,
        403
    );
    let (_, sup_calls) = as_user(
        "sup",
        "senha-sup-1",
        &format!("/api/reports/calls?from={date}"),
    );
    let sup_rows = sup_calls["calls"].as_array().cloned().unwrap_or_default();
    assert_eq!(sup_rows.len(), 1);
    assert_eq!(sup_rows[0]["protocol"].as_str(), Some(mine[4].0.as_str()));
    assert!(
        sup_rows[0]["caller"]
            .as_str()
            .is_some_and(|c| c.starts_with('•')),
        "{sup_rows:?}"
    );

    // The operators' rebuild gives exactly the live projector's numbers.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_atende"))
        .args(["reports", "rebuild", "--config"])
        .arg(server.dir.path().join("atende.toml"))
        .output()
        .expect("atende reports rebuild runs");
    assert!(
        out.status.success(),
        "rebuild: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("rebuilt: 6 calls"));
    let again = server.api(&format!("/api/reports/day?date={date}"));
    assert_eq!(again["total"], day["total"]);
    assert_eq!(again["rows"], day["rows"]);

    // The `[reports]` settings work: a 500 ms threshold, the tender's literal NS (IVR
    // abandons in the denominator) and TMA with after-call work. The server refuses them
    // on a live reload, and after a restart the projection is rebuilt with them.
    let config_path = server.dir.path().join("atende.toml");
    let mut config = std::fs::read_to_string(&config_path).expect("config");
    config.push_str(
        "\n[reports]\nthreshold_ms = 500\nns_counts_ivr_abandons = true\ntma_includes_after_call = true\n",
    );
    std::fs::write(&config_path, &config).expect("config written");
    let (status, body) =
        http_request(server.http_port, "POST", "/api/config/reload", true, None).expect("reload");
    assert_ne!(status, 200, "a live reload of [reports] is refused");
    assert!(
        String::from_utf8_lossy(&body).contains("reports"),
        "{}",
        String::from_utf8_lossy(&body)
    );
    let acw = day["total"]["stats"]["acw_ms"].as_i64().unwrap_or(0);
    let server = server.restart();
    let fast = |o: &Own| o.wait_ms <= 500;
    let deadline = Instant::now() + Duration::from_secs(20);
    let strict = loop {
        let r = server.api(&format!("/api/reports/day?date={date}"));
        let s = &r["total"]["stats"];
        // Mid-rebuild a report may show part of the day: wait for all of it.
        if r["definitions"]["threshold_ms"] == 500
            && s["offered"] == 6
            && r["total"]["kpis"]["ns"]["denominator"] == 3
            && s["answered_within"] == u64::from(fast(&mine[0].1))
            && s["queue_abandon_within"] == u64::from(fast(&mine[4].1))
        {
            break r;
        }
        assert!(
            Instant::now() < deadline,
            "never rebuilt with the new threshold: {r}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let k = &strict["total"]["kpis"];
    let ns_within = u64::from(fast(&mine[0].1)) + u64::from(fast(&mine[4].1));
    assert_eq!(
        (
            k["ns"]["numerator"].as_u64(),
            k["ns"]["denominator"].as_u64()
        ),
        (Some(ns_within), Some(3))
    );
    assert_eq!(
        k["tab"]["numerator"].as_u64(),
        Some(u64::from(!fast(&mine[4].1)))
    );
    assert_eq!(k["tma"]["total_ms"].as_i64(), Some(talk + acw));
    assert_eq!(strict["definitions"]["ns_counts_ivr_abandons"], true);
    assert_eq!(strict["definitions"]["tma_includes_after_call"], true);
}

#[test]
fn a_day_of_calls_reports_what_its_event_log_says_sqlite() {
    a_day_of_calls_reports_what_its_event_log_says(Db::Sqlite);
}

#[test]
fn a_day_of_calls_reports_what_its_event_log_says_postgres() {
    a_day_of_calls_reports_what_its_event_log_says(Db::Postgres);
}

/// Closing a month over HTTP and from the command line: an admin closes a past month and
/// the month report shows "fechado em …, hash …"; the same figures write no new revision;
/// a month not yet ended is refused; an agent and an auditor cannot close; an auditor
/// lists the revisions; late events into the closed month and `atende reports rebuild`
/// make revision 2, both hashes listed and the revision audited.
fn closing_a_month(db: Db) {
    let server = Server::start(db, &["1001"]);
    for user in [
        serde_json::json!({"name": "aud", "role": "auditor", "password": "senha-aud-1"}),
        serde_json::json!({"name": "ag", "role": "agent", "agent": "1001", "password": "senha-ag-1"}),
    ] {
        let (status, body) = http_request(
            server.http_port,
            "POST",
            "/api/users",
            true,
            Some(&user.to_string()),
        )
        .expect("add user");
        assert!(
            (200..300).contains(&status),
            "{}",
            String::from_utf8_lossy(&body)
        );
    }
    let close = |month: &str| {
        let body = serde_json::json!({"month": month, "reason": "fechamento do mês"}).to_string();
        let (status, body) = http_request(
            server.http_port,
            "POST",
            "/api/reports/close",
            true,
            Some(&body),
        )
        .expect("close");
        (
            status,
            serde_json::from_slice::<serde_json::Value>(&body).unwrap_or_default(),
        )
    };
    let (status, first) = close("2026-11");
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["written"], true);
    assert_eq!(first["revision"]["revision"], 1);
    assert_eq!(first["revision"]["closed_by"], ADMIN_USER);
    assert_eq!(first["revision"]["reason"], "fechamento do mês");
    let sha = first["revision"]["sha256"]
        .as_str()
        .expect("hash")
        .to_owned();
    assert_eq!(sha.len(), 64);
    let (status, again) = close("2026-11");
    assert_eq!(status, 200);
    assert_eq!(
        (
            again["written"].as_bool(),
            again["revision"]["revision"].as_i64()
        ),
        (Some(false), Some(1)),
        "the same figures write no revision"
    );
    let (status, early) = close("2099-01");
    assert_eq!(status, 400, "a month not yet ended: {early}");

    let month = server.api("/api/reports/month?month=2026-11");
    let label = month["closed"]["label"].as_str().expect("closed label");
    assert!(
        label.starts_with("fechado em ") && label.ends_with(&format!("hash {sha}")),
        "{label}"
    );
    assert_eq!(month["closed"]["revision"], 1);
    assert_eq!(month["total"]["stats"]["offered"], 0);
    let table = server.api("/api/reports/month?month=2026-11&format=table");
    assert!(
        table["notes"]
            .as_array()
            .is_some_and(|n| n.iter().any(|l| l.as_str() == Some(label))),
        "{table}"
    );
    let open = server.api("/api/reports/month?month=2026-10");
    assert!(
        open.get("closed").is_none(),
        "an open month is live: {open}"
    );

    let as_user = |user: &str, pw: &str, method: &str, path: &str, body: Option<&str>| {
        let cookie = login(server.http_port, user, pw)
            .expect("login")
            .expect("logged in");
        let (status, _, body) = raw_request(
            server.http_port,
            method,
            path,
            &format!("Cookie: {cookie}\r\n"),
            body,
        )
        .expect("request");
        (
            status,
            serde_json::from_slice::<serde_json::Value>(&body).unwrap_or_default(),
        )
    };
    let body = r#"{"month": "2026-09"}"#;
    let path = "/api/reports/close";
    assert_eq!(
        as_user("ag", "senha-ag-1", "POST", path, Some(body)).0,
        403,
        "an agent cannot close"
    );
    assert_eq!(
        as_user("aud", "senha-aud-1", "POST", path, Some(body)).0,
        403,
        "nor an auditor"
    );
    let (status, listed) = as_user(
        "aud",
        "senha-aud-1",
        "GET",
        "/api/reports/closures?month=2026-11",
        None,
    );
    assert_eq!(status, 200);
    let revisions = listed["revisions"].as_array().cloned().unwrap_or_default();
    assert_eq!(revisions.len(), 1, "{listed}");
    assert_eq!(revisions[0]["sha256"], sha.as_str());
    assert!(
        revisions[0].get("content").is_none(),
        "listings leave the content out"
    );
    let (_, sept) = as_user(
        "aud",
        "senha-aud-1",
        "GET",
        "/api/reports/closures?month=2026-09",
        None,
    );
    assert_eq!(sept["closed"], false, "the refused closes wrote nothing");

    // The operators' command does the same.
    let config = server.dir.path().join("atende.toml");
    let run = |month: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_atende"))
            .args([
                "reports",
                "close",
                month,
                "--reason",
                "fechamento",
                "--by",
                "ana",
                "--config",
            ])
            .arg(&config)
            .output()
            .expect("atende reports close runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (ok, out) = run("2026-10");
    assert!(
        ok && out.contains("2026-10 closed: revision 1 sha256 "),
        "{out}"
    );
    let (ok, out) = run("2026-10");
    assert!(ok && out.contains("2026-10 unchanged: revision 1"), "{out}");
    let (ok, out) = run("2099-01");
    assert!(!ok && out.contains("has not ended"), "{out}");
    let oct = server.api("/api/reports/closures?month=2026-10");
    assert_eq!(oct["current"]["closed_by"], "ana");

    // Late events into the closed November, then the operators' rebuild: the month is not
    // silently changed but revised (revision 2 by the system, both hashes listed).
    a_month_of_logged_calls(&server, 3);
    let nov = server.api("/api/reports/closures?month=2026-11");
    let hashes: Vec<&str> = nov["revisions"]
        .as_array()
        .map(|r| r.iter().filter_map(|r| r["sha256"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(hashes.len(), 2, "{nov}");
    assert_eq!(hashes[0], sha);
    assert_ne!(hashes[1], sha);
    assert_eq!(nov["current"]["revision"], 2);
    assert_eq!(nov["current"]["closed_by"], "system");
    assert_eq!(nov["current"]["reason"], "rebuild");
    let month = server.api("/api/reports/month?month=2026-11");
    assert_eq!(
        month["total"]["stats"]["offered"], 3,
        "the revision's figures"
    );
    let label = month["closed"]["label"].as_str().unwrap_or_default();
    assert!(
        label.contains("revisão 2") && label.ends_with(hashes[1]),
        "{label}"
    );
    let audit = server.api("/api/audit?limit=20");
    assert!(
        audit.to_string().contains("reports.revise"),
        "the revision is audited: {audit}"
    );
}

#[test]
fn closing_a_month_sqlite() {
    closing_a_month(Db::Sqlite);
}

#[test]
fn closing_a_month_postgres() {
    closing_a_month(Db::Postgres);
}

/// A supervisor of two queues asks for a closed month: the answer is the frozen copy (the
/// queues' frozen figures summed), with the same "fechado em …, hash …" block and line as
/// the whole month's, not a live sum.
fn a_supervisors_several_queues_get_the_closed_month(db: Db) {
    let server = Server::start_ivr(db, &IvrOptions::open_with(&["1001"]));
    let sup = serde_json::json!({"name": "sup2", "role": "supervisor",
        "queues": ["geral", "pericia"], "password": "senha-sup-2"});
    let (status, body) = http_request(
        server.http_port,
        "POST",
        "/api/users",
        true,
        Some(&sup.to_string()),
    )
    .expect("add user");
    assert!(
        (200..300).contains(&status),
        "{}",
        String::from_utf8_lossy(&body)
    );
    let as_sup = |path: &str| {
        let cookie = login(server.http_port, "sup2", "senha-sup-2")
            .expect("login")
            .expect("logged in");
        let (status, _, body) = raw_request(
            server.http_port,
            "GET",
            path,
            &format!("Cookie: {cookie}\r\n"),
            None,
        )
        .expect("request");
        assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
        serde_json::from_slice::<serde_json::Value>(&body).expect("json")
    };
    let open = as_sup("/api/reports/month?month=2026-11");
    assert!(open.get("closed").is_none(), "open: live figures: {open}");
    assert_eq!(open["queue"], "geral,pericia");

    let body = serde_json::json!({"month": "2026-11", "reason": "fechamento"}).to_string();
    let (status, closed) = http_request(
        server.http_port,
        "POST",
        "/api/reports/close",
        true,
        Some(&body),
    )
    .expect("close");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&closed));
    let whole = server.api("/api/reports/month?month=2026-11");
    let label = whole["closed"]["label"].as_str().expect("closed label");

    let month = as_sup("/api/reports/month?month=2026-11");
    assert_eq!(month["closed"]["label"], label, "{month}");
    assert_eq!(month["queue"], "geral,pericia");
    assert_eq!(month["total"]["stats"]["offered"], 0);
    let table = as_sup("/api/reports/month?month=2026-11&format=table");
    assert!(
        table["notes"]
            .as_array()
            .is_some_and(|n| n.iter().any(|l| l.as_str() == Some(label))),
        "{table}"
    );
}

#[test]
fn a_supervisors_several_queues_get_the_closed_month_sqlite() {
    a_supervisors_several_queues_get_the_closed_month(Db::Sqlite);
}

#[test]
fn a_supervisors_several_queues_get_the_closed_month_postgres() {
    a_supervisors_several_queues_get_the_closed_month(Db::Postgres);
}

/// Calls in the test's own log: 1 250 calls of November 2026 written through the event
/// log's public writer into the server's database (half refused before answer, half
/// abandoned in the IVR), then `atende reports rebuild` projects them. Returns the
/// protocols.
fn a_month_of_logged_calls(server: &Server, calls: u32) -> Vec<String> {
    use atende::events::{EventKind, Party};
    use atende::store::event::CallEvent;
    let url = support::records::database_url(server);
    let spill = server.dir.path().join("test-spill.jsonl");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let protocols = rt.block_on(async {
        let store = atende::store::Store::connect(&url).await.expect("database");
        let log = atende::store::event_log::EventLog::spawn(
            store,
            atende::store::event_log::EventLogConfig {
                spill_path: spill,
                ..Default::default()
            },
        )
        .await
        .expect("event log");
        // 2026-11-10 08:00 -03:00, a call every 20 s.
        let t0 = 1_794_308_400_000_i64;
        let mut protocols = Vec::new();
        for i in 0..calls {
            let protocol = format!("20261110-{:06}", i + 1);
            let at = t0 + i64::from(i) * 20_000;
            let answered = i % 2 == 1;
            let mut kinds = vec![EventKind::Offered {
                call_id: format!("c{i}@test"),
                a_number: "1133334444".into(),
                b_number: DID.into(),
                service: "test".into(),
                source: "127.0.0.1:5060".into(),
                restricted: false,
            }];
            if answered {
                kinds.push(EventKind::Answered);
            }
            kinds.push(EventKind::HungUp {
                by: if answered {
                    Party::Caller
                } else {
                    Party::System
                },
                cause: if answered {
                    "normal"
                } else {
                    "refused_capacity"
                }
                .into(),
                sip_status: (!answered).then_some(503),
            });
            for (seq, kind) in kinds.into_iter().enumerate() {
                log.record(CallEvent {
                    protocol: protocol.parse().expect("protocol"),
                    seq: seq as u32,
                    at_ms: at + seq as i64 * 1000,
                    kind,
                });
            }
            protocols.push(protocol);
        }
        log.flush().await;
        protocols
    });
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_atende"))
        .args(["reports", "rebuild", "--config"])
        .arg(server.dir.path().join("atende.toml"))
        .output()
        .expect("atende reports rebuild runs");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("rebuilt: {calls} calls")),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    protocols
}

/// The protocols (`YYYYMMDD-NNNNNN`) found in any cell of a downloaded sheet, read by
/// openpyxl (XLSX) or Python's csv module (CSV, also LibreOffice's conversion).
const PROTOCOLS_READ: &str = r#"
import sys, re, json, csv
pat = re.compile(r"^\d{8}-\d{6}$")
path = sys.argv[1]
if path.endswith(".xlsx"):
    import openpyxl
    ws = openpyxl.load_workbook(path, read_only=True).active
    cells = (c for row in ws.iter_rows(values_only=True) for c in row)
else:
    with open(path, newline="", encoding="utf-8-sig") as f:
        sample = f.read(4096); f.seek(0)
        delim = ";" if sample.count(";") >= sample.count(",") else ","
        cells = [c for row in csv.reader(f, delimiter=delim) for c in row]
print(json.dumps([c for c in cells if isinstance(c, str) and pat.match(c)]))
"#;

fn protocols_in(python: &std::path::Path, file: &std::path::Path) -> Vec<String> {
    let out = std::process::Command::new(python)
        .args(["-c", PROTOCOLS_READ])
        .arg(file)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("protocol list")
}

/// The per-call list downloads whole, unpaged: 1 250 calls (more than the API's largest
/// page) in one XLSX and one CSV, every protocol once, read by openpyxl, Python's csv
/// and LibreOffice; then with a damaged record at the end of the first page, the CSV
/// still holds every call, the damaged one marked unreadable.
fn the_call_list_downloads_unpaged(db: Db) {
    let server = Server::start(db, &["1001"]);
    let protocols = a_month_of_logged_calls(&server, 1250);
    let python = python_with("openpyxl", "python3-openpyxl");
    let dir = server.dir.path();
    let cookie = login(server.http_port, ADMIN_USER, ADMIN_PASSWORD)
        .expect("login")
        .expect("admin logs in");
    for format in ["xlsx", "csv"] {
        let (status, head, body) = raw_request(
            server.http_port,
            "GET",
            &format!("/api/reports/calls?from=2026-11-01&to=2026-11-30&format={format}"),
            &format!("Cookie: {cookie}\r\n"),
            None,
        )
        .expect("download");
        assert_eq!(status, 200, "{head}");
        assert!(head.contains(&format!(
            "relatorio-chamadas-2026-11-01-a-2026-11-30.{format}"
        )));
        let file = dir.join(format!("lista.{format}"));
        std::fs::write(&file, body).expect("file");
        let found = protocols_in(&python, &file);
        assert!(
            found == protocols,
            "{format}: {} protocols found of {} ({:?}…)",
            found.len(),
            protocols.len(),
            found.iter().take(3).collect::<Vec<_>>(),
        );
        if format == "xlsx" {
            // LibreOffice opens it too: converted to CSV, the same protocols.
            let soffice = require("soffice");
            let out = std::process::Command::new(soffice)
                .arg(format!(
                    "-env:UserInstallation=file://{}/lo-profile",
                    dir.display()
                ))
                .args([
                    "--headless",
                    "--convert-to",
                    // `;`-separated, UTF-8 (76), as shown.
                    "csv:Text - txt - csv (StarCalc):59,34,76,1,,1046,false,true,true",
                    "--outdir",
                ])
                .arg(dir.join("lo"))
                .arg(&file)
                .output()
                .expect("soffice runs");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let converted = dir.join("lo/lista.csv");
            let found = protocols_in(&python, &converted);
            assert!(
                found == protocols,
                "LibreOffice: {} protocols found",
                found.len()
            );
        }
    }

    // The last call of the first 1000-row page gets a damaged record: the page is still
    // full, so the list and the file go on past it, and its row says it is unreadable.
    let damaged = &protocols[999];
    support::records::damage_call_record(&server, damaged);
    let page = server.api("/api/reports/calls?from=2026-11-01&to=2026-11-30&limit=1000");
    assert_eq!(page["calls"].as_array().map(Vec::len), Some(999));
    assert_eq!(
        page["unreadable"][0]["protocol"],
        damaged.as_str(),
        "{}",
        page["unreadable"]
    );
    assert!(
        page["next"]
            .as_str()
            .is_some_and(|n| n.ends_with(damaged.as_str()))
    );
    let (status, head, body) = raw_request(
        server.http_port,
        "GET",
        "/api/reports/calls?from=2026-11-01&to=2026-11-30&format=csv",
        &format!("Cookie: {cookie}\r\n"),
        None,
    )
    .expect("download");
    assert_eq!(status, 200, "{head}");
    let file = dir.join("lista-danificada.csv");
    std::fs::write(&file, &body).expect("file");
    assert_eq!(protocols_in(&python, &file), protocols);
    let text = String::from_utf8_lossy(&body);
    let marked: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("registro ilegível (dados omitidos)"))
        .collect();
    assert!(
        marked.len() == 1 && marked[0].contains(damaged.as_str()),
        "{marked:?}"
    );
    let log = server.log();
    assert!(
        log.lines()
            .any(|l| l.contains("unreadable call fact") && l.contains(damaged.as_str())),
        "{log}"
    );
}

#[test]
fn the_call_list_downloads_unpaged_sqlite() {
    the_call_list_downloads_unpaged(Db::Sqlite);
}

#[test]
fn the_call_list_downloads_unpaged_postgres() {
    the_call_list_downloads_unpaged(Db::Postgres);
}
