//! Reading what we need out of rsipstack's request types, in one place.
//!
//! Wrapping rsipstack here keeps its API (which changes every minor release) out of the
//! registrar and the call actor. Nothing here panics on a malformed request: missing or
//! unparsable parts come back as `None`.

use std::net::SocketAddr;

use rsipstack::sip::prelude::{HeadersExt, ToTypedHeader};
use rsipstack::sip::{Header, Request};
use rsipstack::transaction::transaction::Transaction;

/// The address the request really came from (not what its Via claims): NAT-proof.
pub fn source(tx: &Transaction) -> Option<SocketAddr> {
    tx.connection
        .as_ref()?
        .get_remote_addr()?
        .get_socketaddr()
        .ok()
}

pub fn is_reliable(tx: &Transaction) -> bool {
    tx.connection.as_ref().is_some_and(|c| c.is_reliable())
}

/// The user part of the request-URI, e.g. the dialled DID.
pub fn request_user(req: &Request) -> Option<String> {
    req.uri.auth.as_ref().map(|a| a.user.clone())
}

pub fn to_user(req: &Request) -> Option<String> {
    let to = req.to_header().ok()?.typed().ok()?;
    to.uri.auth.map(|a| a.user)
}

pub fn from_user(req: &Request) -> Option<String> {
    let from = req.from_header().ok()?.typed().ok()?;
    from.uri.auth.map(|a| a.user)
}

pub fn has_to_tag(req: &Request) -> bool {
    req.to_header()
        .ok()
        .and_then(|t| t.tag().ok().flatten())
        .is_some()
}

pub fn call_id(req: &Request) -> Option<String> {
    req.call_id_header().ok().map(|c| c.value().to_owned())
}

pub fn cseq(req: &Request) -> Option<u32> {
    req.cseq_header().ok()?.seq().ok()
}

/// The first value of a header by name, case-insensitive (compact forms not included).
pub fn header(req: &Request, name: &str) -> Option<String> {
    req.headers.iter().find_map(|h| {
        let text = h.to_string();
        let (n, v) = text.split_once(':')?;
        n.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_owned())
    })
}

/// Every value of a header (repeated headers and comma-separated lists), quote/angle aware.
pub fn header_values(req: &Request, name: &str) -> Vec<String> {
    let mut out = Vec::new();
    for h in req.headers.iter() {
        let text = h.to_string();
        let Some((n, v)) = text.split_once(':') else {
            continue;
        };
        if n.trim().eq_ignore_ascii_case(name) {
            out.extend(split_list(v));
        }
    }
    out
}

/// Splits a SIP header list on commas that are outside quotes and angle brackets.
pub fn split_list(v: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let (mut quoted, mut angle, mut start) = (false, false, 0);
    let bytes = v.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'"' => quoted = !quoted,
            b'<' if !quoted => angle = true,
            b'>' if !quoted => angle = false,
            b',' if !quoted && !angle => {
                parts.push(v[start..i].trim().to_owned());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(v[start..].trim().to_owned());
    parts.retain(|p| !p.is_empty());
    parts
}

/// A header we add to responses; `Other` keeps us independent of rsipstack's typed set.
pub fn raw_header(name: &str, value: impl Into<String>) -> Header {
    Header::Other(name.to_owned(), value.into())
}

/// The SDP body of a request, when it declares one.
pub fn sdp_body(req: &Request) -> Option<&[u8]> {
    let ct = header(req, "Content-Type").unwrap_or_default();
    (!req.body.is_empty() && ct.to_ascii_lowercase().starts_with("application/sdp"))
        .then_some(req.body.as_slice())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_contact_lists_but_not_inside_quotes_or_brackets() {
        let v = r#""Doe, J" <sip:a@h;x=1,2>;expires=60, <sip:b@h>"#;
        assert_eq!(
            split_list(v),
            vec![
                r#""Doe, J" <sip:a@h;x=1,2>;expires=60"#.to_owned(),
                "<sip:b@h>".to_owned()
            ]
        );
        assert!(split_list(" , ").is_empty());
    }
}
