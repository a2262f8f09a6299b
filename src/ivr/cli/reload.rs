//! `atende ivr reload`: one `POST /api/ivr/reload` to the running server through the
//! admin client (`crate::admin_client`). The answer is the API's JSON: `{version, flows}`
//! when accepted, `{error, version, errors: [{file, line, node, problem}]}` (422) when
//! refused.

use serde::Deserialize;
use thiserror::Error;

use crate::admin_client::{self, ClientError};

#[derive(Debug, Error)]
pub enum ReloadError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("the server refused the login (check --user and ATENDE_PASSWORD)")]
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

/// Asks the server at `url` to reload its flows.
pub fn reload(url: &str, token: &admin_client::Credentials) -> Result<Outcome, ReloadError> {
    let (status, body) = admin_client::post(url, "/api/ivr/reload", token)?;
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

#[cfg(test)]
mod tests {
    use super::*;

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
