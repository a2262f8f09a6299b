//! Bad input from the network gets the right answer (or is dropped), and the server keeps
//! serving: a good call placed alongside the garbage still goes through end to end. The
//! corpus in `tests/sip-corpus/` (one datagram per file, named for its expected answer)
//! runs against a real server too.

mod support;

use std::net::UdpSocket;
use std::time::Duration;

use support::*;

/// Sends one datagram and returns the status code of the first response, if any.
fn exchange(server: &Server, msg: &[u8]) -> Option<u16> {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    sock.send_to(msg, server.sip_target()).unwrap();
    let mut buf = [0u8; 65536];
    loop {
        let (n, _) = sock.recv_from(&mut buf).ok()?;
        let text = String::from_utf8_lossy(&buf[..n]);
        let code: u16 = text.split_whitespace().nth(1)?.parse().ok()?;
        if code >= 200 {
            return Some(code);
        }
    }
}

fn request(server: &Server, method: &str, user: &str, extra: &str, body: &str) -> String {
    let port = server.sip_port;
    let ct = if body.is_empty() {
        String::new()
    } else {
        "Content-Type: application/sdp\r\n".to_owned()
    };
    format!(
        "{method} sip:{user}@127.0.0.1:{port} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK{branch};rport\r\n\
         From: <sip:1133334444@127.0.0.1>;tag=abc{branch}\r\n\
         To: <sip:{user}@127.0.0.1>{extra}\r\n\
         Call-ID: {branch}@test\r\n\
         CSeq: 1 {method}\r\n\
         Contact: <sip:1133334444@127.0.0.1:9>\r\n\
         Max-Forwards: 70\r\n\
         {ct}Content-Length: {len}\r\n\r\n{body}",
        branch = rand_token(),
        len = body.len(),
    )
}

fn rand_token() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(1);
    format!(
        "{}x{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

const G729_ONLY: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 7000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n";
const PCMA: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 7000 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n";

#[test]
fn malformed_and_unwanted_requests_get_clear_answers_and_the_server_keeps_serving() {
    let server = Server::start(Db::Sqlite, &["1001"]);
    // A good call runs through everything below.
    let agent_port = free_port();
    register_agent(&server, "1001", agent_port);
    let agent = start_answering_agent(&server, agent_port, 1, 200);
    let caller = start_caller(&server, 2000, 6000, &[]);

    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    for junk in [
        &b"\x00\x01\x02garbage"[..],
        b"INVITE sip:x SIP/2.0\r\nVia: SIP/2.0/UDP",
        b"SIP/2.0 200 OK\r\n\r\n",
        &[0xffu8; 1400][..],
        b"\r\n\r\n",
    ] {
        sock.send_to(junk, server.sip_target()).unwrap();
    }
    // A request without Call-ID or CSeq: it cannot be answered by the rules; it must not
    // crash anything.
    let headless = format!(
        "OPTIONS sip:x@127.0.0.1:{} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKq\r\n\r\n",
        server.sip_port
    );
    sock.send_to(headless.as_bytes(), server.sip_target())
        .unwrap();
    // Huge header: 30 KB in one datagram.
    let huge = request(
        &server,
        "OPTIONS",
        "x",
        &format!("\r\nX-Filler: {}", "a".repeat(30_000)),
        "",
    );
    let _ = exchange(&server, huge.as_bytes());

    assert_eq!(
        exchange(
            &server,
            request(&server, "OPTIONS", "atende", "", "").as_bytes()
        ),
        Some(200),
        "trunk keep-alive OPTIONS"
    );
    assert_eq!(
        exchange(
            &server,
            request(&server, "INVITE", "0800999999", "", PCMA).as_bytes()
        ),
        Some(404),
        "unknown DID"
    );
    assert_eq!(
        exchange(
            &server,
            request(&server, "INVITE", DID, "", G729_ONLY).as_bytes()
        ),
        Some(488),
        "no common codec"
    );
    assert_eq!(
        exchange(
            &server,
            request(&server, "INVITE", DID, "", "v=0\r\nthis is not sdp").as_bytes()
        ),
        Some(400),
        "malformed SDP"
    );
    assert_eq!(
        exchange(
            &server,
            request(&server, "BYE", DID, ";tag=nosuch", "").as_bytes()
        ),
        Some(481),
        "BYE for an unknown dialog"
    );
    assert_eq!(
        exchange(
            &server,
            request(&server, "SUBSCRIBE", DID, "", "").as_bytes()
        ),
        Some(405),
        "unsupported method"
    );

    // A wrong REGISTER password is refused (sipp answers the challenge with it).
    register_expecting(
        &server,
        ("1001", "wrong"),
        5999,
        "403",
        "registration with a wrong password gets 403",
    );
    assert_eq!(
        server.metric("atende_registrations"),
        1.0,
        "only the good agent is registered"
    );

    // Nothing above hurt the server: the good call went through, recorded and logged.
    wait_ok(caller, "the good call's caller", &server);
    wait_ok(agent, "the good call's agent", &server);
    // The good call is the one bridged; the trunk's INVITEs refused for their offer (488,
    // 400) are logged as calls not received: offered, then hung up by the system.
    let mut good = None;
    for _ in 0..100 {
        let calls = server.api("/api/calls");
        let mut logs = Vec::new();
        for c in calls.as_array().cloned().unwrap_or_default() {
            let p = c["protocol"].as_str().unwrap_or_default().to_owned();
            let events = server.api(&format!("/api/calls/{p}"))["events"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            logs.push(kinds(&events));
        }
        let finished = logs
            .iter()
            .find(|k| k.contains(&"recording_finalized".to_owned()))
            .cloned();
        if let Some(k) = finished {
            let refused: Vec<&Vec<String>> = logs
                .iter()
                .filter(|k| !k.contains(&"answered".to_owned()))
                .collect();
            assert_eq!(refused.len(), 2, "the 488 and the 400: {logs:?}");
            assert!(
                refused
                    .iter()
                    .all(|k| k == &&vec!["offered".to_owned(), "hung_up".to_owned()]),
                "{logs:?}"
            );
            good = Some(k);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let good = good.unwrap_or_else(|| panic!("the good call never ended; log:\n{}", server.log()));
    assert!(good.contains(&"bridged".to_owned()));
    let mut server = server;
    assert!(server.alive(), "server died; log:\n{}", server.log());
    assert_eq!(
        exchange(
            &server,
            request(&server, "OPTIONS", "atende", "", "").as_bytes()
        ),
        Some(200)
    );
    let log = server.log();
    assert!(
        log.contains("INVITE refused"),
        "refusals are logged with their reason:\n{log}"
    );
}

/// Sends one datagram; the first final status, waiting at most `wait` for it.
fn status_within(server: &Server, msg: &[u8], wait: Duration) -> Option<u16> {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(wait)).unwrap();
    sock.send_to(msg, server.sip_target()).unwrap();
    let mut buf = [0u8; 65536];
    loop {
        let (n, _) = sock.recv_from(&mut buf).ok()?;
        let text = String::from_utf8_lossy(&buf[..n]);
        let code: u16 = text.split_whitespace().nth(1)?.parse().ok()?;
        if code >= 200 {
            return Some(code);
        }
    }
}

/// `tests/sip-corpus/`: malformed and unusual messages, one datagram per file, each named
/// for what it must get: `<status>-…` that status, `none-…` no answer at all (dropped:
/// unparsable, a response, an ACK), `any-…` an answer or none, as long as the server
/// lives. A good call placed afterwards still goes through.
#[test]
fn corpus_of_odd_messages_gets_sane_answers_and_a_call_still_works() {
    let mut server = Server::start(Db::Sqlite, &["1001"]);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sip-corpus");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("corpus folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "sip"))
        .collect();
    files.sort();
    assert!(files.len() >= 40, "the corpus is there");
    let mut wrong = Vec::new();
    for path in &files {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let expect = name.split('-').next().unwrap_or_default().to_owned();
        let wait = Duration::from_millis(if expect == "none" { 400 } else { 1500 });
        let got = status_within(&server, &std::fs::read(path).unwrap(), wait);
        let ok = match expect.as_str() {
            "none" => got.is_none(),
            "any" => true,
            code => got.map(|g| g.to_string()).as_deref() == Some(code),
        };
        if !ok {
            wrong.push(format!("{name}: got {got:?}"));
        }
        assert!(
            server.alive(),
            "server died on {name}; log:\n{}",
            server.log()
        );
    }
    assert!(
        wrong.is_empty(),
        "corpus answers differ:\n{}\nlog:\n{}",
        wrong.join("\n"),
        server.log()
    );

    let agent_port = free_port();
    register_agent(&server, "1001", agent_port);
    let agent = start_answering_agent(&server, agent_port, 1, 200);
    let caller = start_caller(&server, 2000, 2000, &[]);
    wait_ok(caller, "the call after the corpus", &server);
    wait_ok(agent, "the agent after the corpus", &server);
    let (_, events) = wait_for_event(&server, "recording_finalized");
    assert_eq!(event(&events, "agent_answered")["detail"]["agent"], "1001");
    assert!(kinds(&events).contains(&"bridged".to_owned()));
}
