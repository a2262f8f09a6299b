//! `atende reload`: asks the running server to apply its config file again, through the
//! admin API (`POST /api/config/reload`, `crate::admin_client`). Prints what changed, or
//! every problem and exits non-zero when the server refused the file.

use std::process::ExitCode;

use serde::Deserialize;

use super::Changes;
use crate::admin_client;

#[derive(Deserialize)]
struct Accepted {
    changes: Changes,
}

#[derive(Deserialize)]
struct Refused {
    error: String,
    #[serde(default)]
    problems: Vec<String>,
}

/// What the terminal shows for the server's answer, and whether it applied the file.
pub fn outcome(status: u16, body: &[u8]) -> (bool, Vec<String>) {
    match status {
        200 => match serde_json::from_slice::<Accepted>(body) {
            Ok(a) => (
                true,
                vec![format!(
                    "reloaded: {}; new calls take it, calls in progress finish on theirs",
                    a.changes
                )],
            ),
            Err(_) => (
                false,
                vec!["the server answered 200 with an unexpected body".into()],
            ),
        },
        401 => (
            false,
            vec!["the server refused the login (check --user and ATENDE_PASSWORD)".into()],
        ),
        _ => match serde_json::from_slice::<Refused>(body) {
            Ok(r) => {
                let mut lines = r.problems;
                lines.push(format!("{} (HTTP {status})", r.error));
                (false, lines)
            }
            Err(_) => (
                false,
                vec![format!(
                    "the server answered {status}: {}",
                    String::from_utf8_lossy(body)
                        .chars()
                        .take(200)
                        .collect::<String>()
                )],
            ),
        },
    }
}

pub fn run(url: &str, token: Option<String>) -> ExitCode {
    let Some(token) = admin_client::token(token) else {
        return ExitCode::FAILURE;
    };
    match admin_client::post(url, "/api/config/reload", &token) {
        Ok((status, body)) => {
            let (ok, lines) = outcome(status, &body);
            admin_client::report(ok, lines)
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_print_what_changed_or_every_problem() {
        let ok = br#"{"changes":{"agents":{"added":["2001"],"removed":[],"changed":[]},
            "queues":{"added":[],"removed":[],"changed":[]},"trunks":{"added":[],"removed":[],"changed":[]},
            "routes":{"added":["0800"],"removed":[],"changed":[]},"services":{"added":[],"removed":[],"changed":[]},
            "other":false}}"#;
        let (applied, lines) = outcome(200, ok);
        assert!(applied);
        assert_eq!(
            lines,
            [
                "reloaded: agents +1 -0 ~0, queues +0 -0 ~0, trunks +0 -0 ~0, routes +1 -0 ~0, \
              services +0 -0 ~0, teams +0 -0 ~0; new calls take it, calls in progress finish \
              on theirs"
            ]
        );
        let refused = br#"{"error":"config refused; the running config is unchanged",
            "problems":["media.threads cannot change while the server runs (restart to apply it)"]}"#;
        let (applied, lines) = outcome(422, refused);
        assert!(!applied);
        assert_eq!(
            lines,
            [
                "media.threads cannot change while the server runs (restart to apply it)",
                "config refused; the running config is unchanged (HTTP 422)"
            ]
        );
        assert!(!outcome(401, b"").0);
        assert_eq!(
            outcome(502, b"bad gateway").1,
            ["the server answered 502: bad gateway"]
        );
    }
}
