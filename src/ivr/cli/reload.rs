//! `atende ivr reload`: one `POST /api/ivr/reload` to the running server, in plain
//! HTTP/1.1 over a std `TcpStream` (`Connection: close`, the answer read to its end).
//!
//! Only `http://` URLs: the admin API is reached on loopback or a management network until
//! the HTTPS listener exists. The answer is the API's JSON: `{version, flows}` when
//! accepted, `{error, version, errors: [{file, line, node, problem}]}` (422) when refused.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use serde::Deserialize;
use thiserror::Error;

/// A reload reads and checks every flow file: give it time, but never hang forever.
const TIMEOUT: Duration = Duration::from_secs(30);
/// Largest answer read (a refused set lists every problem).
const MAX_ANSWER: u64 = 4 * 1024 * 1024;

#[derive(Debug, Error)]
pub enum ReloadError {
    #[error("--url {0:?}: expected http://HOST:PORT (https is not supported yet)")]
    BadUrl(String),
    #[error("cannot reach {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: std::io::Error,
    },
    #[error("talking to {url}: {source}")]
    Io {
        url: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{url} did not answer in HTTP")]
    BadAnswer { url: String },
    #[error("the server refused the admin token (check --token or ATENDE_ADMIN_TOKEN)")]
    Unauthorized,
    #[error("the server answered {status}: {message}")]
    Status { status: u16, message: String },
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Problem {
    pub file: String,
    pub line: u64,
    pub node: Option<String>,
    pub problem: String,
}

/// What the server did with the reload.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Accepted {
        version: u64,
        flows: usize,
    },
    Refused {
        running: u64,
        problems: Vec<Problem>,
    },
}

impl Outcome {
    pub fn is_accepted(&self) -> bool {
        matches!(self, Outcome::Accepted { .. })
    }

    /// What the terminal shows, like `atende ivr check`: `file:line: node `x`: problem`.
    pub fn lines(&self) -> Vec<String> {
        match self {
            Outcome::Accepted { version, flows } => vec![format!(
                "reloaded: version {version} ({flows} flows); new calls take it, calls in \
                 progress finish on theirs"
            )],
            Outcome::Refused { running, problems } => {
                let mut v: Vec<String> = problems
                    .iter()
                    .map(|p| {
                        let mut s = p.file.clone();
                        if p.line > 0 {
                            s.push_str(&format!(":{}", p.line));
                        }
                        if let Some(n) = &p.node {
                            s.push_str(&format!(": node `{n}`"));
                        }
                        format!("{s}: {}", p.problem)
                    })
                    .collect();
                v.push(format!(
                    "refused ({} problems): the running version {running} stays",
                    problems.len()
                ));
                v
            }
        }
    }
}

#[derive(Deserialize)]
struct Accepted {
    version: u64,
    flows: usize,
}

#[derive(Deserialize)]
struct Refused {
    version: u64,
    #[serde(default)]
    errors: Vec<Problem>,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: String,
}

/// `http://host:port[/prefix]` → ("host:port", "/prefix").
fn split_url(url: &str) -> Result<(String, String), ReloadError> {
    let bad = || ReloadError::BadUrl(url.to_owned());
    let rest = url.strip_prefix("http://").ok_or_else(bad)?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
        None => (rest, ""),
    };
    if authority.is_empty() || authority.contains('@') {
        return Err(bad());
    }
    let authority = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    Ok((authority, path.to_owned()))
}

/// Asks the server at `url` to reload its flows.
pub fn reload(url: &str, token: &str) -> Result<Outcome, ReloadError> {
    let (authority, prefix) = split_url(url)?;
    let connect = |source| ReloadError::Connect {
        url: url.to_owned(),
        source,
    };
    let io = |source| ReloadError::Io {
        url: url.to_owned(),
        source,
    };
    let addr = authority
        .to_socket_addrs()
        .map_err(connect)?
        .next()
        .ok_or_else(|| ReloadError::BadUrl(url.to_owned()))?;
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT).map_err(connect)?;
    stream.set_read_timeout(Some(TIMEOUT)).map_err(io)?;
    stream.set_write_timeout(Some(TIMEOUT)).map_err(io)?;
    let request = format!(
        "POST {prefix}/api/ivr/reload HTTP/1.1\r\nHost: {authority}\r\n\
         Authorization: Bearer {token}\r\nContent-Length: 0\r\nAccept: application/json\r\n\
         Connection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).map_err(io)?;
    let mut answer = Vec::new();
    stream
        .take(MAX_ANSWER)
        .read_to_end(&mut answer)
        .map_err(io)?;
    let (status, body) = parse_answer(&answer).ok_or_else(|| ReloadError::BadAnswer {
        url: url.to_owned(),
    })?;
    interpret(status, &body)
}

fn interpret(status: u16, body: &[u8]) -> Result<Outcome, ReloadError> {
    match status {
        200 => {
            let a: Accepted = serde_json::from_slice(body).map_err(|_| ReloadError::Status {
                status,
                message: "unexpected answer".into(),
            })?;
            Ok(Outcome::Accepted {
                version: a.version,
                flows: a.flows,
            })
        }
        422 => {
            let r: Refused = serde_json::from_slice(body).map_err(|_| ReloadError::Status {
                status,
                message: "unexpected answer".into(),
            })?;
            Ok(Outcome::Refused {
                running: r.version,
                problems: r.errors,
            })
        }
        401 => Err(ReloadError::Unauthorized),
        _ => Err(ReloadError::Status {
            status,
            message: serde_json::from_slice::<ErrorBody>(body)
                .map(|e| e.error)
                .unwrap_or_else(|_| String::from_utf8_lossy(body).chars().take(200).collect()),
        }),
    }
}

/// The status code and body of an HTTP/1.1 answer (chunked or not).
fn parse_answer(raw: &[u8]) -> Option<(u16, Vec<u8>)> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let body = &raw[end + 4..];
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let chunked = lines.any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    if !chunked {
        return Some((status, body.to_vec()));
    }
    let mut out = Vec::new();
    let mut rest = body;
    loop {
        let eol = rest.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&rest[..eol]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[eol + 2..];
        if size == 0 {
            return Some((status, out));
        }
        out.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_split_into_address_and_prefix() {
        let ok = |u: &str| split_url(u).expect("valid");
        assert_eq!(
            ok("http://127.0.0.1:8080"),
            ("127.0.0.1:8080".into(), "".into())
        );
        assert_eq!(ok("http://localhost/"), ("localhost:80".into(), "".into()));
        assert_eq!(
            ok("http://[::1]:9000/atende/"),
            ("[::1]:9000".into(), "/atende".into())
        );
        for bad in ["https://h:1", "h:1", "http://", "http://u:p@h:1"] {
            assert!(
                matches!(split_url(bad), Err(ReloadError::BadUrl(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn answers_are_parsed_plain_and_chunked() {
        let plain = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";
        assert_eq!(parse_answer(plain), Some((200, b"{}".to_vec())));
        let chunked = b"HTTP/1.1 422 Unprocessable Entity\r\nTransfer-Encoding: chunked\r\n\r\n\
                        3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        assert_eq!(parse_answer(chunked), Some((422, b"abcde".to_vec())));
        assert_eq!(parse_answer(b"garbage"), None);
        assert_eq!(parse_answer(b"HTTP/1.1 abc\r\n\r\n"), None);
    }

    #[test]
    fn outcomes_print_like_ivr_check() {
        let body = br#"{"error":"x","version":3,"errors":[
            {"file":"principal.yaml","line":12,"node":"menu","problem":"no path to a human"},
            {"file":"entry.yaml","line":0,"node":null,"problem":"cannot read"}]}"#;
        let out = interpret(422, body).expect("parsed");
        assert!(!out.is_accepted());
        assert_eq!(
            out.lines(),
            [
                "principal.yaml:12: node `menu`: no path to a human",
                "entry.yaml: cannot read",
                "refused (2 problems): the running version 3 stays",
            ]
        );
        let ok = interpret(200, br#"{"version":4,"flows":6}"#).expect("parsed");
        assert_eq!(
            ok,
            Outcome::Accepted {
                version: 4,
                flows: 6
            }
        );
        assert!(matches!(
            interpret(401, b""),
            Err(ReloadError::Unauthorized)
        ));
        let e = interpret(503, br#"{"error":"database unavailable"}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the server answered 503: database unavailable"
        );
    }
}
