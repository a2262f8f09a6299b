//! Requests atende cannot serve get the status RFC 3261 §8.2 gives them, from a real
//! server over UDP: 505, 400, 405 with Allow, 416, 420 with Unsupported, 415 with Accept,
//! 488 for an SRTP offer; OPTIONS keeps its 200 and the User-Agent is the configured one,
//! without a version by default. Each refusal is logged, and the server keeps serving.

mod support;

use std::net::UdpSocket;
use std::time::Duration;

use support::*;

/// Sends one datagram; the first final response's whole text, if any.
fn answer(server: &Server, msg: &str) -> Option<String> {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    sock.send_to(msg.as_bytes(), server.sip_target()).unwrap();
    let mut buf = [0u8; 65536];
    loop {
        let (n, _) = sock.recv_from(&mut buf).ok()?;
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        let code: u16 = text.split_whitespace().nth(1)?.parse().ok()?;
        if code >= 200 {
            return Some(text);
        }
    }
}

fn status(text: &Option<String>) -> Option<u16> {
    text.as_ref()?.split_whitespace().nth(1)?.parse().ok()
}

/// The value of a response header, by full name.
fn header<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    text.lines()
        .filter_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then_some(v.trim())
        })
        .collect()
}

fn token() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(1);
    format!(
        "{}v{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A request from the trunk's address; `start` is the request line, `extra` more headers
/// (each ending in CRLF), `cseq` the CSeq method.
fn request(start: &str, cseq: &str, extra: &str, body: &str) -> String {
    let t = token();
    format!(
        "{start}\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK{t};rport\r\n\
         From: <sip:1133334444@127.0.0.1>;tag=f{t}\r\nTo: <sip:{DID}@127.0.0.1>\r\n\
         Call-ID: {t}@validation\r\nCSeq: 1 {cseq}\r\nContact: <sip:1133334444@127.0.0.1:9>\r\n\
         Max-Forwards: 70\r\n{extra}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// An OPTIONS to atende itself (`version` on its request line, `cseq` its CSeq method,
/// `extra` more headers): the final response.
fn send_options(server: &Server, version: &str, cseq: &str, extra: &str) -> Option<String> {
    let start = format!("OPTIONS sip:atende@127.0.0.1:{} {version}", server.sip_port);
    answer(server, &request(&start, cseq, extra, ""))
}

/// An INVITE to the service's DID with `extra` headers and `body`: the final response.
fn send_invite(server: &Server, extra: &str, body: &str) -> Option<String> {
    let start = format!("INVITE sip:{DID}@127.0.0.1:{} SIP/2.0", server.sip_port);
    answer(server, &request(&start, "INVITE", extra, body))
}

const PCMA: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 7000 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n";

#[test]
fn requests_are_refused_in_rfc3261_order_with_what_the_peer_needs() {
    let mut server = Server::start(Db::Sqlite, &["1001"]);
    let port = server.sip_port;
    let uri = |user: &str| format!("sip:{user}@127.0.0.1:{port}");

    let options = send_options(&server, "SIP/2.0", "OPTIONS", "").expect("OPTIONS answered");
    assert_eq!(status(&Some(options.clone())), Some(200));
    assert_eq!(
        header(&options, "User-Agent"),
        ["atende"],
        "default User-Agent, no version:\n{options}"
    );
    assert!(header(&options, "Allow")[0].contains("INVITE"));
    assert_eq!(header(&options, "Accept"), ["application/sdp"]);
    assert_eq!(header(&options, "Supported"), ["timer, 100rel"]);

    // 505, and the status line speaks SIP/2.0, not the request's version.
    let v3 = send_options(&server, "SIP/3.0", "OPTIONS", "");
    assert_eq!(status(&v3), Some(505), "{v3:?}");
    assert!(v3.as_deref().is_some_and(|t| t.starts_with("SIP/2.0 505")));

    let cseq = send_options(&server, "SIP/2.0", "INVITE", "");
    assert_eq!(status(&cseq), Some(400), "CSeq method differs");
    let lengths = send_options(&server, "SIP/2.0", "OPTIONS", "Content-Length: 12\r\n");
    assert_eq!(status(&lengths), Some(400), "two Content-Length values");

    let message = answer(
        &server,
        &request(&format!("MESSAGE {} SIP/2.0", uri(DID)), "MESSAGE", "", ""),
    )
    .expect("MESSAGE answered");
    assert_eq!(status(&Some(message.clone())), Some(405));
    assert!(header(&message, "Allow")[0].starts_with("INVITE, ACK, CANCEL, BYE"));

    let tel = answer(
        &server,
        &request(
            "INVITE tel:+558000000000 SIP/2.0",
            "INVITE",
            "Content-Type: application/sdp\r\n",
            PCMA,
        ),
    );
    assert_eq!(status(&tel), Some(416), "tel: Request-URI");

    let require = send_invite(
        &server,
        "Require: foo, precondition\r\nContent-Type: application/sdp\r\n",
        PCMA,
    )
    .expect("Require answered");
    assert_eq!(status(&Some(require.clone())), Some(420));
    assert_eq!(header(&require, "Unsupported"), ["foo, precondition"]);

    let text =
        send_invite(&server, "Content-Type: text/plain\r\n", "hello").expect("text body answered");
    assert_eq!(status(&Some(text.clone())), Some(415));
    assert_eq!(header(&text, "Accept"), ["application/sdp"]);

    let srtp = send_invite(
        &server,
        "Content-Type: application/sdp\r\n",
        &PCMA.replace("RTP/AVP", "RTP/SAVP"),
    );
    assert_eq!(status(&srtp), Some(488), "SRTP offer");

    assert!(server.alive(), "server died; log:\n{}", server.log());
    let log = server.log();
    for reason in [
        "SIP version SIP/3.0 is not SIP/2.0",
        "CSeq method",
        "Content-Length values disagree",
        "method MESSAGE is not served",
        "Request-URI scheme tel",
        "Require names unsupported option-tags: foo, precondition",
        "holds no SDP",
        "SDP transport profile not served",
    ] {
        assert!(log.contains(reason), "no log line with {reason:?}:\n{log}");
    }
    assert_eq!(server.metric("atende_active_calls"), 0.0);

    // Configured: another User-Agent, and agent 1001 held to SHA-256.
    let path = server.dir.path().join("atende.toml");
    let config = std::fs::read_to_string(&path)
        .unwrap()
        .replacen("[sip]\n", "[sip]\nuser_agent = \"Central 156\"\n", 1)
        .replace(
            "password = \"pw1001\"",
            "password = \"pw1001\"\ndigest_algorithms = [\"SHA-256\"]",
        );
    std::fs::write(&path, config).unwrap();
    let server = server.restart();
    let options = send_options(&server, "SIP/2.0", "OPTIONS", "").expect("OPTIONS answered");
    assert_eq!(header(&options, "User-Agent"), ["Central 156"]);

    let register = |user: &str| {
        let t = token();
        let msg = format!(
            "REGISTER sip:127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK{t}\r\n\
             From: <sip:{user}@127.0.0.1>;tag=r{t}\r\nTo: <sip:{user}@127.0.0.1>\r\n\
             Call-ID: {t}@reg\r\nCSeq: 1 REGISTER\r\nContact: <sip:{user}@127.0.0.1:9>\r\n\
             Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        );
        let text = answer(&server, &msg).expect("REGISTER answered");
        assert!(text.starts_with("SIP/2.0 401"), "{text}");
        header(&text, "WWW-Authenticate")
            .iter()
            .map(|v| {
                let at = v.find("algorithm=").expect("algorithm") + 10;
                v[at..].split(',').next().unwrap_or_default().to_owned()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(register("1001"), ["SHA-256"], "the agent's own list");
    assert_eq!(
        register("7777"),
        ["MD5", "SHA-256"],
        "an unknown user gets sip.digest_algorithms"
    );
}

/// A gateway's INVITE from `sock` to the DID, with `auth` as Proxy-Authorization.
fn gateway_invite(server: &Server, sock: &UdpSocket, auth: Option<&str>) -> String {
    let t = token();
    let port = server.sip_port;
    let auth = auth
        .map(|a| format!("Proxy-Authorization: {a}\r\n"))
        .unwrap_or_default();
    let msg = format!(
        "INVITE sip:{DID}@127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.2:9;branch=z9hG4bK{t};rport\r\n\
         From: <sip:1133334444@127.0.0.2>;tag=g{t}\r\nTo: <sip:{DID}@127.0.0.1>\r\n\
         Call-ID: {t}@gw\r\nCSeq: 1 INVITE\r\nContact: <sip:gw@127.0.0.2:9>\r\nMax-Forwards: 70\r\n\
         {auth}Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{PCMA}",
        PCMA.len()
    );
    sock.send_to(msg.as_bytes(), server.sip_target()).unwrap();
    let mut buf = [0u8; 65536];
    loop {
        let (n, _) = sock.recv_from(&mut buf).expect("an answer");
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        let code: u16 = text.split_whitespace().nth(1).unwrap().parse().unwrap();
        if code >= 200 {
            return text;
        }
    }
}

/// The gateway's answer to the first challenge with `alg` (RFC 2617 style, no qop).
fn gateway_answer(challenge: &str, alg: &str, user: &str, pass: &str, uri: &str) -> String {
    use sha2::Digest;
    let h = |s: String| match alg {
        "MD5" => hex::encode(md5::Md5::digest(s.as_bytes())),
        _ => hex::encode(sha2::Sha256::digest(s.as_bytes())),
    };
    let at = challenge.find("nonce=\"").unwrap() + 7;
    let nonce = challenge[at..].split('"').next().unwrap();
    let response = h(format!(
        "{}:{nonce}:{}",
        h(format!("{user}:atende:{pass}")),
        h(format!("INVITE:{uri}"))
    ));
    format!(
        "Digest username=\"{user}\", realm=\"atende\", nonce=\"{nonce}\", uri=\"{uri}\", \
         response=\"{response}\", algorithm={alg}"
    )
}

#[test]
fn a_trunk_with_its_own_digest_algorithms_is_held_to_them() {
    let server = Server::start(Db::Sqlite, &["1001"]);
    // Two gateways outside the allow-list: one on the default list, one on SHA-256 only.
    let path = server.dir.path().join("atende.toml");
    let config = std::fs::read_to_string(&path).unwrap().replacen(
        "[[routes]]",
        "[[trunks]]\nname = \"old-gw\"\nusername = \"old\"\npassword = \"p1\"\n\n\
         [[trunks]]\nname = \"new-gw\"\nusername = \"new\"\npassword = \"p2\"\n\
         digest_algorithms = [\"SHA-256\"]\n\n[[routes]]",
        1,
    );
    std::fs::write(&path, config).unwrap();
    let server = server.restart();
    let sock = UdpSocket::bind("127.0.0.2:0").expect("loopback 127.0.0.2");
    sock.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let uri = format!("sip:{DID}@127.0.0.1:{}", server.sip_port);

    let challenge = gateway_invite(&server, &sock, None);
    assert!(challenge.starts_with("SIP/2.0 407"), "{challenge}");
    let offered: Vec<&str> = header(&challenge, "Proxy-Authenticate")
        .into_iter()
        .map(|v| {
            let at = v.find("algorithm=").unwrap() + 10;
            v[at..].split(',').next().unwrap()
        })
        .collect();
    assert_eq!(offered, ["MD5", "SHA-256"], "every trunk's algorithms");
    let first = header(&challenge, "Proxy-Authenticate")[0].to_owned();

    let md5_new = gateway_answer(&first, "MD5", "new", "p2", &uri);
    let refused = gateway_invite(&server, &sock, Some(&md5_new));
    assert!(
        refused.starts_with("SIP/2.0 403"),
        "the SHA-256 trunk answered with MD5 is refused:\n{refused}"
    );
    let sha_new = gateway_answer(&first, "SHA-256", "new", "p2", &uri);
    let admitted = gateway_invite(&server, &sock, Some(&sha_new));
    assert!(
        admitted.starts_with("SIP/2.0 200"),
        "the SHA-256 trunk is admitted with SHA-256:\n{admitted}\n{}",
        server.log()
    );
}
