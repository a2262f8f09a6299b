//! Fuzz target: any bytes through what a SIP datagram meets before a call exists:
//! rsipstack's parser (as its UDP and TCP transports call it), then atende's request
//! validation (`sip::validate`), the header readers the registrar and the call use, the
//! digest `Authorization` parser, the multipart SDP extraction and the SDP reader.
//! Each must answer with a value or an error; libFuzzer reports any panic, hang or
//! runaway allocation.

#![no_main]

use atende::sip::{digest, request, validate};
use libfuzzer_sys::fuzz_target;
use rsipstack::sip::SipMessage;

fuzz_target!(|data: &[u8]| {
    let Ok(SipMessage::Request(req)) = SipMessage::try_from(data) else {
        return;
    };
    let _ = validate::check(&req);
    let _ = (request::request_user(&req), request::to_user(&req));
    let _ = (request::from_user(&req), request::has_to_tag(&req));
    let _ = (request::call_id(&req), request::cseq(&req));
    for value in request::header_values(&req, "Contact") {
        let _ = value.len();
    }
    for name in ["Authorization", "Proxy-Authorization"] {
        if let Some(value) = request::header(&req, name) {
            let _ = digest::parse_authorization(&value);
        }
    }
    if let Some(sdp) = request::sdp_body(&req) {
        let _ = validate::sdp_profile(sdp);
        let _ = atende::sdp::parse(sdp);
    }
});
