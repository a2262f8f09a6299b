//! Request validation in the order of RFC 3261 §8.2, before any request reaches the
//! registrar, a call or a dialog: the answer a peer can act on instead of silence.
//!
//! Pure: a parsed request in, `Ok` or the rejection (status, headers, a reason to log)
//! out. Order: SIP version (505), framing and mandatory headers (400), method (405 with
//! `Allow`), Request-URI scheme (416), `Require` (420 with `Unsupported`), body type (415
//! with `Accept`). The SDP transport profile (488) is checked where the offer is read
//! (`sdp_profile`), after the trunk is authenticated.
//!
//! Limits: rsipstack's parser drops a request whose method it does not know (no `Method`
//! variant), so the 501 for unknown methods cannot be sent: such datagrams are dropped
//! (and logged by rsipstack at debug). ACK is never answered (RFC 3261 §17.2.3), and
//! neither ACK nor CANCEL is held to `Require` (§8.2.2.3).

use rsipstack::sip::headers::Header;
use rsipstack::sip::uri::Scheme;
use rsipstack::sip::{Method, Request, StatusCode, Version};

use crate::sip::request;

/// The methods atende serves, in and out of dialogs; every other known one gets 405.
pub const METHODS: &[Method] = &[
    Method::Invite,
    Method::Ack,
    Method::Cancel,
    Method::Bye,
    Method::Options,
    Method::Register,
    Method::Info,
    Method::Update,
    // In a call's dialog only: the bridged agent's phone transfers the caller.
    Method::Refer,
];

/// The option-tags atende supports (a `Require` naming any other gets 420), also sent in
/// `Supported`: session timers (RFC 4028, `sip::session_timer`) and reliable provisional
/// responses (RFC 3262: an inbound call is answered with no provisional response but
/// 100 Trying, so a gateway requiring 100rel is served; outbound legs PRACK).
pub const SUPPORTED: &[&str] = &["timer", "100rel"];

/// The body types atende reads: SDP, alone or as a part of a multipart body.
pub const ACCEPT: &str = "application/sdp";

/// Why a request is refused before it is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub status: StatusCode,
    /// Headers the status needs (`Allow`, `Unsupported`, `Accept`).
    pub headers: Vec<(&'static str, String)>,
    /// For the log line: what was wrong, without the request's personal data.
    pub reason: String,
}

impl Rejection {
    fn new(status: StatusCode, reason: impl Into<String>) -> Self {
        Rejection {
            status,
            headers: Vec::new(),
            reason: reason.into(),
        }
    }

    fn with(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }
}

/// The `Allow` header value.
pub fn allow() -> String {
    METHODS
        .iter()
        .map(|m| m.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The `Supported` header value of OPTIONS answers.
pub fn supported() -> String {
    SUPPORTED.join(", ")
}

/// Checks a request as RFC 3261 §8.2 orders it; the first failing rule answers.
pub fn check(req: &Request) -> Result<(), Rejection> {
    if req.version != Version::V2 {
        return Err(Rejection::new(
            StatusCode::VersionNotSupported,
            format!("SIP version {} is not SIP/2.0", req.version),
        ));
    }
    framing(req)?;
    if !METHODS.contains(&req.method) {
        return Err(Rejection::new(
            StatusCode::MethodNotAllowed,
            format!("method {} is not served", req.method),
        )
        .with("Allow", allow()));
    }
    if req.uri.scheme.as_ref().is_some_and(|s| *s != Scheme::Sip) {
        let scheme = req.uri.scheme.as_ref().map(|s| s.to_string());
        return Err(Rejection::new(
            StatusCode::UnsupportedUriScheme,
            format!(
                "Request-URI scheme {} is not served (sip only)",
                scheme.unwrap_or_default()
            ),
        ));
    }
    if !matches!(req.method, Method::Ack | Method::Cancel) {
        // Read in place: this runs on every request, most of which carry no Require.
        let unsupported: Vec<String> = req
            .headers
            .iter()
            .filter(|h| h.name().eq_ignore_ascii_case("Require"))
            .flat_map(|h| request::split_list(h.value()))
            .filter(|tag| !SUPPORTED.iter().any(|s| s.eq_ignore_ascii_case(tag)))
            .collect();
        if !unsupported.is_empty() {
            let list = unsupported.join(", ");
            return Err(Rejection::new(
                StatusCode::BadExtension,
                format!("Require names unsupported option-tags: {list}"),
            )
            .with("Unsupported", list));
        }
    }
    if req.method == Method::Invite && !req.body.is_empty() && request::sdp_body(req).is_none() {
        let ct = request::header(req, "Content-Type").unwrap_or_else(|| "none".into());
        return Err(Rejection::new(
            StatusCode::UnsupportedMediaType,
            format!("body of type {ct} holds no SDP"),
        )
        .with("Accept", ACCEPT.to_owned()));
    }
    Ok(())
}

/// 400 for what makes the request ambiguous: a missing mandatory header, a CSeq whose
/// method is not the request's, or two `Content-Length` values that disagree.
fn framing(req: &Request) -> Result<(), Rejection> {
    let bad = |why: String| Err(Rejection::new(StatusCode::BadRequest, why));
    for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
        if !req
            .headers
            .iter()
            .any(|h| h.name().eq_ignore_ascii_case(name))
        {
            return bad(format!("missing {name} header"));
        }
    }
    let cseq = req
        .headers
        .iter()
        .find_map(|h| match h {
            Header::CSeq(c) => Some(c.value()),
            _ => None,
        })
        .unwrap_or_default();
    let mut words = cseq.split_whitespace();
    let number_ok = words.next().is_some_and(|n| n.parse::<u32>().is_ok());
    let method = words.next().unwrap_or_default();
    if !number_ok || words.next().is_some() {
        return bad(format!("malformed CSeq {cseq:?}"));
    }
    if method != req.method.to_string() {
        return bad(format!(
            "CSeq method {method:?} differs from the request's {}",
            req.method
        ));
    }
    let lengths: Vec<&str> = req
        .headers
        .iter()
        .filter(|h| h.name().eq_ignore_ascii_case("Content-Length"))
        .map(|h| h.value().trim())
        .collect();
    if lengths.iter().any(|l| l.parse::<u32>().is_err()) {
        return bad("malformed Content-Length".into());
    }
    if lengths.windows(2).any(|w| w[0] != w[1]) {
        return bad(format!(
            "Content-Length values disagree: {}",
            lengths.join(", ")
        ));
    }
    // rsipstack keeps what arrived of a datagram's body; a length beyond it means the
    // body was cut (RFC 3261 §18.3: 400). Over TCP the stream waits for the whole body.
    let declared = lengths.first().and_then(|l| l.parse::<usize>().ok());
    if declared.is_some_and(|l| l > req.body.len()) {
        return bad(format!(
            "Content-Length {} beyond the {} body bytes received",
            lengths[0],
            req.body.len()
        ));
    }
    Ok(())
}

/// The transport profile of the offer's first audio stream, when atende cannot serve it
/// (only plain `RTP/AVP`: no SRTP, no AVPF feedback): the 488's log reason.
pub fn sdp_profile(sdp: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(sdp);
    let m = text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("m=audio "))?;
    let proto = m.split_whitespace().nth(2).unwrap_or_default();
    (!proto.eq_ignore_ascii_case("RTP/AVP")).then(|| format!("SDP profile {proto} is not served"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsipstack::sip::SipMessage;

    fn parse(text: &str) -> Request {
        let text = text.replace("\r\n", "\n").replace('\n', "\r\n");
        match rsipstack::sip::parser::parse_message(text.as_bytes()) {
            Ok(SipMessage::Request(r)) => r,
            other => panic!("not a request: {other:?}"),
        }
    }

    fn msg(start: &str, extra: &str, body: &str) -> Request {
        let method = start.split(' ').next().unwrap_or_default();
        parse(&format!(
            "{start}\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK1\nFrom: <sip:a@h>;tag=1\n\
             To: <sip:b@h>\nCall-ID: c1\nCSeq: 1 {method}\n{extra}Content-Length: {}\n\n{body}",
            body.len()
        ))
    }

    fn status(req: &Request) -> Option<u16> {
        check(req).err().map(|r| u16::from(r.status))
    }

    const SDP: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 7000 RTP/AVP 8\r\n";

    #[test]
    fn a_plain_invite_passes() {
        let r = msg(
            "INVITE sip:0800@h SIP/2.0",
            "Content-Type: application/sdp\n",
            SDP,
        );
        assert_eq!(check(&r), Ok(()));
        assert_eq!(status(&msg("OPTIONS sip:h SIP/2.0", "", "")), None);
    }

    #[test]
    fn each_rule_answers_its_status() {
        assert_eq!(status(&msg("INVITE sip:a@h SIP/3.0", "", "")), Some(505));
        let r = msg("MESSAGE sip:a@h SIP/2.0", "", "");
        let e = check(&r).unwrap_err();
        assert_eq!(u16::from(e.status), 405);
        assert_eq!(e.headers, vec![("Allow", allow())]);
        assert!(allow().starts_with("INVITE, ACK, CANCEL, BYE"));
        assert_eq!(status(&msg("OPTIONS tel:+5511 SIP/2.0", "", "")), Some(416));
        assert_eq!(status(&msg("OPTIONS sips:a@h SIP/2.0", "", "")), Some(416));
        let e = check(&msg(
            "OPTIONS sip:a@h SIP/2.0",
            "Require: foo, Bar\nRequire: baz\n",
            "",
        ))
        .unwrap_err();
        assert_eq!(u16::from(e.status), 420);
        assert_eq!(e.headers, vec![("Unsupported", "foo, Bar, baz".to_owned())]);
        // The extensions atende implements pass, in any case; only the others are listed.
        assert_eq!(
            status(&msg(
                "OPTIONS sip:a@h SIP/2.0",
                "Require: Timer, 100rel
",
                ""
            )),
            None
        );
        let e = check(&msg(
            "OPTIONS sip:a@h SIP/2.0",
            "Require: timer, foo
",
            "",
        ))
        .unwrap_err();
        assert_eq!(e.headers, vec![("Unsupported", "foo".to_owned())]);
        let e = check(&msg(
            "INVITE sip:a@h SIP/2.0",
            "Content-Type: text/plain\n",
            "hello",
        ))
        .unwrap_err();
        assert_eq!(u16::from(e.status), 415);
        assert_eq!(e.headers, vec![("Accept", "application/sdp".to_owned())]);
    }

    #[test]
    fn framing_errors_are_400() {
        let cseq = parse(
            "OPTIONS sip:a@h SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nFrom: <sip:a@h>;tag=1\n\
             To: <sip:b@h>\nCall-ID: c\nCSeq: 1 INVITE\nContent-Length: 0\n\n",
        );
        assert_eq!(status(&cseq), Some(400));
        let two = msg("OPTIONS sip:a@h SIP/2.0", "Content-Length: 7\n", "");
        assert_eq!(status(&two), Some(400));
        let cut = parse(
            "OPTIONS sip:a@h SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nFrom: <sip:a@h>;tag=1\n\
             To: <sip:b@h>\nCall-ID: c\nCSeq: 1 OPTIONS\nContent-Length: 50\n\nshort",
        );
        assert_eq!(status(&cut), Some(400), "body shorter than its length");
        let same = msg("OPTIONS sip:a@h SIP/2.0", "Content-Length: 0\n", "");
        assert_eq!(status(&same), None, "a repeated equal length is harmless");
        let no_call_id = parse(
            "OPTIONS sip:a@h SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nFrom: <sip:a@h>;tag=1\n\
             To: <sip:b@h>\nCSeq: 1 OPTIONS\n\n",
        );
        assert_eq!(status(&no_call_id), Some(400));
    }

    #[test]
    fn the_earlier_rule_wins_when_several_apply() {
        // Version beats everything, even a method atende does not serve.
        assert_eq!(
            status(&msg("MESSAGE tel:1 SIP/1.0", "Require: x\n", "")),
            Some(505)
        );
        // A broken CSeq beats the method, URI, Require and body rules.
        let r = parse(
            "MESSAGE tel:1 SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nFrom: <sip:a@h>;tag=1\n\
             To: <sip:b@h>\nCall-ID: c\nCSeq: 1 INVITE\nRequire: x\n\n",
        );
        assert_eq!(status(&r), Some(400));
        // The method beats the URI scheme.
        assert_eq!(status(&msg("MESSAGE tel:1 SIP/2.0", "", "")), Some(405));
        // The URI scheme beats Require.
        assert_eq!(
            status(&msg("INVITE tel:1 SIP/2.0", "Require: x\n", "")),
            Some(416)
        );
        // Require beats the body type.
        assert_eq!(
            status(&msg(
                "INVITE sip:a@h SIP/2.0",
                "Require: x\nContent-Type: text/plain\n",
                "hi"
            )),
            Some(420)
        );
    }

    #[test]
    fn ack_and_cancel_ignore_require() {
        assert_eq!(
            status(&msg("ACK sip:a@h SIP/2.0", "Require: x\n", "")),
            None
        );
        assert_eq!(
            status(&msg("CANCEL sip:a@h SIP/2.0", "Require: x\n", "")),
            None
        );
    }

    #[test]
    fn multipart_with_sdp_is_read_and_without_is_415() {
        let body = "--b1\r\nContent-Type: application/sdp\r\n\r\nv=0\r\nm=audio 7000 RTP/AVP 8\r\n\r\n--b1\r\nContent-Type: application/isup\r\n\r\nxx\r\n--b1--\r\n";
        let r = msg(
            "INVITE sip:a@h SIP/2.0",
            "Content-Type: multipart/mixed;boundary=b1\n",
            body,
        );
        assert_eq!(check(&r), Ok(()));
        assert!(
            request::sdp_body(&r)
                .is_some_and(|s| s.starts_with(b"v=0") && s.ends_with(b"RTP/AVP 8\r\n"))
        );
        let no_sdp = body.replace("application/sdp", "text/plain");
        let r = msg(
            "INVITE sip:a@h SIP/2.0",
            "Content-Type: multipart/mixed; boundary=\"b1\"\n",
            &no_sdp,
        );
        assert_eq!(status(&r), Some(415));
    }

    #[test]
    fn only_plain_rtp_avp_is_served() {
        assert_eq!(sdp_profile(SDP.as_bytes()), None);
        let savp = SDP.replace("RTP/AVP", "RTP/SAVP");
        assert!(sdp_profile(savp.as_bytes()).is_some_and(|r| r.contains("RTP/SAVP")));
        let avpf = SDP.replace("RTP/AVP", "UDP/TLS/RTP/SAVPF");
        assert!(sdp_profile(avpf.as_bytes()).is_some());
    }
}
