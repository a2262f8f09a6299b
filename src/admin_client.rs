//! The admin API's command-line client: log in as a user (`POST /api/login`, the password
//! from `ATENDE_PASSWORD` or the first line of stdin), then one `POST` to the running
//! server (`atende ivr reload`, `atende reload`) with the session cookie, in plain
//! HTTP/1.1 over a std `TcpStream` (`Connection: close`, the answer read to its end).
//! Returns the status code and body; what they mean is each command's business.
//!
//! Only `http://` URLs: use it on loopback (a server with HTTPS only is reloaded with
//! SIGHUP; its flows are reloaded by the file watcher).

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

use thiserror::Error;

/// A reload reads and checks files: give it time, but never hang forever.
const TIMEOUT: Duration = Duration::from_secs(30);
/// Largest answer read (a refused change lists every problem).
const MAX_ANSWER: u64 = 4 * 1024 * 1024;

#[derive(Debug, Error)]
pub enum ClientError {
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
}

/// Who a command logs in as.
#[derive(Clone)]
pub struct Credentials {
    pub user: String,
    pub password: String,
}

/// The user of a command: `--user`, else `ATENDE_USER`; the password from
/// `ATENDE_PASSWORD`, else the first line of stdin. `None` (after telling the operator how
/// to give them) when either is missing.
pub fn token(given: Option<String>) -> Option<Credentials> {
    let user = given
        .or_else(|| std::env::var("ATENDE_USER").ok())
        .filter(|u| !u.is_empty());
    let Some(user) = user else {
        eprintln!("no user: pass --user NAME or set ATENDE_USER (an admin user)");
        return None;
    };
    let password = match std::env::var("ATENDE_PASSWORD") {
        Ok(p) if !p.is_empty() => p,
        _ => {
            let mut line = String::new();
            if std::io::stdin().read_line(&mut line).is_err() {
                line.clear();
            }
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    if password.is_empty() {
        eprintln!("no password: set ATENDE_PASSWORD or give it on stdin");
        return None;
    }
    Some(Credentials { user, password })
}

/// Prints a command's answer (to stdout when the server `accepted` it, else to stderr)
/// and the exit code that says which.
pub fn report<L: std::fmt::Display>(
    accepted: bool,
    lines: impl IntoIterator<Item = L>,
) -> ExitCode {
    for line in lines {
        if accepted {
            println!("{line}");
        } else {
            eprintln!("{line}");
        }
    }
    if accepted {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Logs in with `who`, then `POST {url}{path}` with no body: (status, body). A refused
/// login is returned as its own answer (401 or 429).
pub fn post(url: &str, path: &str, who: &Credentials) -> Result<(u16, Vec<u8>), ClientError> {
    let login = serde_json::json!({ "user": who.user, "password": who.password }).to_string();
    let (status, headers, body) = request(url, "/api/login", "", Some(&login))?;
    if status != 204 {
        return Ok((status, body));
    }
    let cookie = headers
        .split("\r\n")
        .filter_map(|l| l.split_once(':'))
        .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
        .find_map(|(_, v)| v.trim().split(';').next().map(str::to_owned))
        .ok_or_else(|| ClientError::BadAnswer {
            url: url.to_owned(),
        })?;
    let (status, _, body) = request(url, path, &format!("Cookie: {cookie}\r\n"), None)?;
    Ok((status, body))
}

/// One `POST` with `extra` header lines and an optional JSON body: (status, head, body).
fn request(
    url: &str,
    path: &str,
    extra: &str,
    json: Option<&str>,
) -> Result<(u16, String, Vec<u8>), ClientError> {
    let (authority, prefix) = split_url(url)?;
    let connect = |source| ClientError::Connect {
        url: url.to_owned(),
        source,
    };
    let io = |source| ClientError::Io {
        url: url.to_owned(),
        source,
    };
    let addr = authority
        .to_socket_addrs()
        .map_err(connect)?
        .next()
        .ok_or_else(|| ClientError::BadUrl(url.to_owned()))?;
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT).map_err(connect)?;
    stream.set_read_timeout(Some(TIMEOUT)).map_err(io)?;
    stream.set_write_timeout(Some(TIMEOUT)).map_err(io)?;
    let body = json.unwrap_or("");
    let content_type = if json.is_some() {
        "Content-Type: application/json\r\n"
    } else {
        ""
    };
    let request = format!(
        "POST {prefix}{path} HTTP/1.1\r\nHost: {authority}\r\n{extra}{content_type}\
         Content-Length: {}\r\nAccept: application/json\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).map_err(io)?;
    let mut answer = Vec::new();
    stream
        .take(MAX_ANSWER)
        .read_to_end(&mut answer)
        .map_err(io)?;
    let (status, body) = parse_answer(&answer).ok_or_else(|| ClientError::BadAnswer {
        url: url.to_owned(),
    })?;
    let end = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(0);
    let head = String::from_utf8_lossy(&answer[..end]).into_owned();
    Ok((status, head, body))
}

/// `http://host:port[/prefix]` → ("host:port", "/prefix").
fn split_url(url: &str) -> Result<(String, String), ClientError> {
    let bad = || ClientError::BadUrl(url.to_owned());
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
                matches!(split_url(bad), Err(ClientError::BadUrl(_))),
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
}
