//! End to end on the real server, SQLite and PostgreSQL: the CTI checks every connected
//! desktop's login session together, once per heartbeat (`src/cti/session_check.rs`).
//! Among eight desktops, one whose session is logged out and two of a user who is
//! disabled are closed with 4004 within a heartbeat; the five others stay open and keep
//! getting heartbeats after that check.

#[path = "support/cti_ws.rs"]
mod cti_ws;
mod support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cti_ws::*;
use support::*;

/// The server's heartbeat (`atende::cti::HEARTBEAT_SECS`) and some slack for the check.
const WITHIN: Duration = Duration::from_secs(atende::cti::HEARTBEAT_SECS + 10);

fn post(port: u16, method: &str, path: &str, cookie: &str, body: Option<&str>) -> u16 {
    let (status, _, _) = raw_request(port, method, path, &format!("Cookie: {cookie}\r\n"), body)
        .expect("HTTP reachable");
    status
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The close code, or a panic if the desktop is still open after `WITHIN`.
async fn closed_within(ws: &mut Ws) -> u16 {
    use futures_util::StreamExt;
    let read = async {
        loop {
            match ws.socket.next().await {
                Some(Ok(tokio_tungstenite::tungstenite::Message::Close(Some(c)))) => {
                    return u16::from(c.code);
                }
                Some(Ok(_)) => {}
                other => panic!("no close frame: {other:?}"),
            }
        }
    };
    tokio::time::timeout(WITHIN, read)
        .await
        .expect("closed within a heartbeat")
}

/// A heartbeat sent after `after_ms` (the desktop outlived the check that closed others).
async fn heartbeat_after(ws: &mut Ws, after_ms: i64) {
    let read = async {
        loop {
            let hb = any(ws, "heartbeat").await;
            if hb["type"] == "heartbeat" && hb["server_time_ms"].as_i64() > Some(after_ms) {
                return;
            }
        }
    };
    tokio::time::timeout(WITHIN, read)
        .await
        .expect("a heartbeat after the check");
}

fn a_revoked_session_among_many_is_closed_the_others_stay(db: Db) {
    let server = Server::start(db, &["1001"]);
    let port = server.http_port;
    let origin = format!("http://127.0.0.1:{port}");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let admin = login(port, ADMIN_USER, ADMIN_PASSWORD)
        .expect("HTTP reachable")
        .expect("the admin logs in");
    let sup = serde_json::json!({"name": "sup", "role": "supervisor", "password": "senha-sup-1"});
    assert_eq!(
        post(port, "POST", "/api/users", &admin, Some(&sup.to_string())),
        201
    );
    // Six admin sessions (one of them logged out below) and two of the supervisor's.
    let admins: Vec<String> = (0..6)
        .map(|_| {
            login(port, ADMIN_USER, ADMIN_PASSWORD)
                .expect("HTTP reachable")
                .expect("the admin logs in")
        })
        .collect();
    let sups: Vec<String> = (0..2)
        .map(|_| {
            login(port, "sup", "senha-sup-1")
                .expect("HTTP reachable")
                .expect("sup logs in")
        })
        .collect();
    let mut desks: Vec<Ws> = admins
        .iter()
        .chain(&sups)
        .map(|cookie| {
            let mut ws = rt.block_on(open(port, cookie, &origin));
            rt.block_on(start(&mut ws));
            ws
        })
        .collect();

    assert!(post(port, "POST", "/api/logout", &admins[0], None) < 300);
    assert_eq!(
        post(
            port,
            "PATCH",
            "/api/users/sup",
            &admin,
            Some(r#"{"disabled":true}"#)
        ),
        200
    );
    let mut sup_desks = desks.split_off(6);
    let mut kept = desks.split_off(1);
    let mut logged_out = desks.pop().expect("the logged-out desktop");
    assert_eq!(rt.block_on(closed_within(&mut logged_out)), 4004);
    for ws in &mut sup_desks {
        assert_eq!(rt.block_on(closed_within(ws)), 4004);
    }
    let checked = now_ms();
    for ws in &mut kept {
        rt.block_on(heartbeat_after(ws, checked));
    }
}

#[test]
fn a_revoked_session_among_many_is_closed_the_others_stay_sqlite() {
    a_revoked_session_among_many_is_closed_the_others_stay(Db::Sqlite);
}

#[test]
fn a_revoked_session_among_many_is_closed_the_others_stay_postgres() {
    a_revoked_session_among_many_is_closed_the_others_stay(Db::Postgres);
}
