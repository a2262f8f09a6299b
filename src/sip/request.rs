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

/// The SDP body of a request, when it declares one: the whole body, or the
/// `application/sdp` part of a multipart body (SIP-I/SIP-T gateways add ISUP parts).
pub fn sdp_body(req: &Request) -> Option<&[u8]> {
    if req.body.is_empty() {
        return None;
    }
    let ct = header(req, "Content-Type")?;
    let lower = ct.to_ascii_lowercase();
    if lower.starts_with("application/sdp") {
        Some(req.body.as_slice())
    } else if lower.starts_with("multipart/") {
        multipart_sdp(&ct, &req.body)
    } else {
        None
    }
}

/// The first `application/sdp` part of a multipart body (RFC 2046 §5.1.1), if any.
fn multipart_sdp<'a>(content_type: &str, body: &'a [u8]) -> Option<&'a [u8]> {
    let boundary = content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"'))
    })?;
    if boundary.is_empty() {
        return None;
    }
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    let mut at = find(body, delimiter, 0)?;
    loop {
        let start = at + delimiter.len();
        if body[start..].starts_with(b"--") {
            return None;
        }
        let next = find(body, delimiter, start)?;
        let part = &body[start..next];
        let part = part.strip_prefix(b"\r\n").unwrap_or(part);
        let part = part.strip_suffix(b"\r\n").unwrap_or(part);
        if let Some(split) = find(part, b"\r\n\r\n", 0) {
            let head = String::from_utf8_lossy(&part[..split]);
            let is_sdp = head.split("\r\n").any(|line| {
                line.split_once(':').is_some_and(|(n, v)| {
                    let n = n.trim();
                    (n.eq_ignore_ascii_case("Content-Type") || n.eq_ignore_ascii_case("c"))
                        && v.trim().to_ascii_lowercase().starts_with("application/sdp")
                })
            });
            if is_sdp {
                return Some(&part[split + 4..]);
            }
        }
        at = next;
    }
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
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
