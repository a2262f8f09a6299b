use super::*;
use crate::cti::protocol::ResyncReason;

fn frame(text: &str) -> serde_json::Value {
    serde_json::from_str(text).expect("json")
}

fn heartbeat(s: &mut Session, now: i64) -> String {
    s.push(
        ServerMessage::Heartbeat {
            server_time_ms: now,
        },
        now,
    )
}

#[test]
fn seq_is_gapless_from_one_over_every_message() {
    let mut s = Session::new("c".into(), 10, 60_000);
    let a = heartbeat(&mut s, 0);
    let b = s.push(
        ServerMessage::ResyncRequired {
            reason: ResyncReason::Lagged,
        },
        0,
    );
    let c = s.on_client_text("not json", 0);
    assert_eq!(frame(&a)["seq"], 1);
    assert_eq!(frame(&b)["seq"], 2);
    let Action::Send(err) = &c[0] else {
        panic!("an error frame")
    };
    assert_eq!(frame(err)["seq"], 3);
    assert_eq!(frame(err)["type"], "error");
}

#[test]
fn each_command_id_gets_one_reply_and_a_reused_one_is_refused() {
    let mut s = Session::new("c".into(), 10, 60_000);
    let cmd = r#"{"v":1,"type":"command","id":"a","command":"ready","args":{}}"#;
    assert_eq!(
        s.on_client_text(cmd, 0),
        vec![Action::Run {
            id: "a".into(),
            command: Command::Ready {}
        }]
    );
    let again = s.on_client_text(cmd, 0);
    let Action::Send(err) = &again[0] else {
        panic!("an error frame")
    };
    assert_eq!(frame(err)["code"], "duplicate_id");
    assert_eq!(frame(err)["id"], "a");
    let unknown = s.on_client_text(r#"{"v":1,"type":"command","id":"b","command":"fly"}"#, 0);
    let Action::Send(reply) = &unknown[0] else {
        panic!("a reply")
    };
    assert_eq!(frame(reply)["type"], "reply");
    assert_eq!(frame(reply)["error"]["code"], "unknown_command");
}

#[test]
fn the_fifth_malformed_message_closes_with_4002() {
    let mut s = Session::new("c".into(), 10, 60_000);
    for _ in 0..4 {
        let out = s.on_client_text("{", 0);
        assert_eq!(out.len(), 1);
    }
    let out = s.on_client_text(r#"{"v":2,"type":"snapshot_request"}"#, 0);
    assert_eq!(out.last(), Some(&Action::Close(close::PROTOCOL_ERROR)));
}

#[test]
fn events_while_a_command_runs_and_up_to_its_version_carry_its_id() {
    let mut s = Session::new("c".into(), 10, 60_000);
    let agent = |v| {
        ServerMessage::AgentState(crate::cti::protocol::AgentStateBody {
            agent: "1001".into(),
            version: v,
            state: crate::cti::protocol::AgentState::Paused,
            reason: None,
            since_ms: 0,
            queues: vec![],
            call: None,
            next_state: None,
            command_id: None,
        })
    };
    s.begin_command("p1", Some(Entity::Agent("1001".into())));
    assert_eq!(frame(&s.push(agent(1), 0))["command_id"], "p1");
    s.finish_command("p1", Some(Entity::Agent("1001".into())), Ok(Some(2)), 0);
    assert_eq!(frame(&s.push(agent(2), 0))["command_id"], "p1");
    assert!(frame(&s.push(agent(3), 0)).get("command_id").is_none());
}

#[test]
fn replay_gives_what_followed_or_nothing_when_it_is_gone() {
    let mut s = Session::new("c".into(), 3, 60_000);
    for _ in 0..5 {
        heartbeat(&mut s, 0);
    }
    // Kept: 3, 4, 5.
    let replay = s.replay_after(3, 0).expect("kept");
    assert_eq!(replay.len(), 2);
    assert_eq!(frame(&replay[0])["seq"], 4);
    assert_eq!(s.replay_after(5, 0).map(|r| r.len()), Some(0));
    assert!(s.replay_after(1, 0).is_none(), "2 is gone");
    assert!(s.replay_after(9, 0).is_none(), "never sent");
    assert!(
        s.replay_after(3, 120_000).is_none(),
        "older than the window"
    );
}

fn agent_state(agent: &str, version: u64) -> ServerMessage {
    ServerMessage::AgentState(crate::cti::protocol::AgentStateBody {
        agent: agent.into(),
        version,
        state: crate::cti::protocol::AgentState::Available,
        reason: Some("almoço \"longo\"".into()),
        since_ms: 1_000,
        queues: vec!["sac".into(), "geral".into()],
        call: None,
        next_state: None,
        command_id: None,
    })
}

#[test]
fn a_spliced_frame_is_what_serde_writes_for_the_envelope() {
    let messages = [
        agent_state("1001", 7),
        ServerMessage::Heartbeat { server_time_ms: 5 },
        ServerMessage::ResyncRequired {
            reason: ResyncReason::Lagged,
        },
        ServerMessage::Resumed { replayed: 0 },
    ];
    for (i, message) in messages.into_iter().enumerate() {
        let seq = 10u64.pow(i as u32) + 3;
        let expected = serde_json::to_string(&crate::cti::protocol::ServerFrame {
            v: VERSION,
            seq,
            message: message.clone(),
        })
        .expect("serializes");
        assert_eq!(super::frame(seq, &body(&message)), expected);
    }
}

#[test]
fn a_shared_event_is_numbered_per_connection_and_marked_only_where_a_command_caused_it() {
    let message = agent_state("1001", 3);
    let shared = body(&message);
    let mut quiet = Session::new("a".into(), 10, 60_000);
    let mut busy = Session::new("b".into(), 10, 60_000);
    heartbeat(&mut busy, 0);
    busy.begin_command("p1", Some(Entity::Agent("1001".into())));
    let a = frame(&quiet.push_shared(&message, &shared, 0));
    let b = frame(&busy.push_shared(&message, &shared, 0));
    assert_eq!((a["seq"].clone(), b["seq"].clone()), (1.into(), 2.into()));
    assert!(a.get("command_id").is_none());
    assert_eq!(b["command_id"], "p1");
    assert_eq!(a["reason"], "almoço \"longo\"");
    // The replay re-numbers the kept body with its own seq.
    let replay = quiet.replay_after(0, 0).expect("kept");
    assert_eq!(frame(&replay[0]), a);
    let replay = busy.replay_after(1, 0).expect("kept");
    assert_eq!(frame(&replay[0]), b);
}

#[test]
fn a_resume_from_before_the_snapshot_is_a_resync_after_it_a_replay() {
    let mut s = Session::new("c".into(), 100, 60_000);
    heartbeat(&mut s, 0);
    let snapshot = s.push(
        ServerMessage::Snapshot(crate::cti::protocol::Snapshot {
            as_of_seq: 2,
            agent: None,
            agents: vec![],
            calls: vec![],
            queues: vec![],
            figures: None,
        }),
        0,
    );
    assert_eq!(frame(&snapshot)["type"], "snapshot");
    heartbeat(&mut s, 0);
    assert!(s.replay_after(1, 0).is_none(), "the snapshot is not kept");
    assert_eq!(s.replay_after(2, 0).map(|r| r.len()), Some(1));
}

#[test]
fn the_resume_buffer_is_bounded_by_bytes_too() {
    let mut s = Session::new("c".into(), usize::MAX, 60_000);
    let big = ServerMessage::Error(crate::cti::protocol::ProtocolError {
        code: crate::cti::protocol::ProtocolErrorCode::Malformed,
        message: "x".repeat(100_000),
        id: None,
    });
    let shared = body(&big);
    let n = RESUME_BYTES / 100_000 + 5;
    for _ in 0..n {
        s.push_shared(&big, &shared, 0);
    }
    let last = n as u64;
    assert!(s.replay_after(0, 0).is_none(), "the first are gone");
    let kept = s.replay_after(last - 10, 0).expect("the last are kept");
    assert_eq!(kept.len(), 10);
    assert!(s.buffer_bytes <= RESUME_BYTES);
}

#[test]
fn a_burst_gives_its_room_back_once_it_expires() {
    let mut s = Session::new("c".into(), usize::MAX, 1_000);
    let message = ServerMessage::Heartbeat { server_time_ms: 1 };
    let shared = body(&message);
    for _ in 0..4_000 {
        s.push_shared(&message, &shared, 0);
    }
    assert!(s.buffer.capacity() >= 4_000);
    // Past the window the burst expires: the room goes with it, the new message stays.
    s.push_shared(&message, &shared, 2_000);
    assert_eq!(s.buffer.len(), 1);
    assert!(s.buffer.capacity() < 64, "capacity {}", s.buffer.capacity());
    assert_eq!(s.replay_after(4_000, 2_000).map(|f| f.len()), Some(1));
}
