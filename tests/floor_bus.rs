//! End to end, inside the test process: every change of a call, an agent and a queue is
//! published once on the floor's bus with its entity's version, in the order it happened
//! — what the CTI hub and live statistics subscribe to. A real server (SIP, RTP, SQLite
//! or PostgreSQL) and real sipp peers: caller → IVR → queue "pericia" → agent 1001.

mod support;

use std::sync::Arc;

use atende::bus::{AgentState, Change, Published};
use support::in_process::set_in_process;
use support::ivr::*;
use support::*;

/// Everything published so far (the receiver holds far more than one call makes).
fn drain(rx: &mut tokio::sync::broadcast::Receiver<Arc<Published>>) -> Vec<Arc<Published>> {
    let mut out = Vec::new();
    while let Ok(p) = rx.try_recv() {
        out.push(p);
    }
    out
}

fn a_call_through_the_queue_is_published_in_order(db: Db) {
    set_in_process(true);
    let server = Server::start_ivr_config(
        db,
        &IvrOptions {
            hours: Hours::Open,
            agents: &["1001"],
            auto_login: true,
            ring_timeout_secs: 20,
            http_port: None,
        },
        Prompts::Short,
        10,
        r#"wrap_up = { mode = "auto", secs = 1 }"#,
        "",
    );
    let floor = server
        .in_process
        .as_ref()
        .expect("in process")
        .floor
        .clone();
    let mut rx = floor.bus.subscribe();
    let port = free_port();
    register_agent(&server, "1001", port);
    let agent = start_answering_agent(&server, port, 1, 1000);
    // 1 (perícia), 1 (agendar): queue "pericia", which 1001 serves.
    let caller = start_ivr_caller(&server, &[(800, "1"), (500, "1")], 3000, false);
    wait_ok(caller, "caller", &server);
    wait_ok(agent, "agent 1001", &server);
    let (protocol, _) = wait_for_event(&server, "recording_finalized");
    // Wrap-up (1 s) ends and 1001 is available again.
    let mut seen = Vec::new();
    for _ in 0..50 {
        seen.extend(drain(&mut rx));
        let back = seen.iter().rev().find_map(|p| match &p.change {
            Change::Agent(a) if a.agent == "1001" => Some(a.state),
            _ => None,
        });
        if back == Some(AgentState::Available) && seen.len() > 10 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }

    // One gapless bus-wide sequence.
    for w in seen.windows(2) {
        assert_eq!(w[1].seq, w[0].seq + 1, "gapless bus sequence");
    }

    // The call: every entry of its log, versions (log seq) increasing, in log order.
    let call: Vec<_> = seen
        .iter()
        .filter_map(|p| match &p.change {
            Change::Call(e) if e.protocol.to_string() == protocol => Some(e.clone()),
            _ => None,
        })
        .collect();
    let stored = server.api(&format!("/api/calls/{protocol}"))["events"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        call.len(),
        stored.len(),
        "every stored entry was published once"
    );
    let mut by_version = call.clone();
    by_version.sort_by_key(|e| e.seq);
    let kinds: Vec<String> = by_version
        .iter()
        .map(|e| {
            serde_json::to_value(&e.kind).expect("kind")["kind"]
                .as_str()
                .unwrap_or("?")
                .to_owned()
        })
        .collect();
    let pos = |k: &str| {
        kinds
            .iter()
            .position(|x| x == k)
            .unwrap_or_else(|| panic!("no {k} in {kinds:?}"))
    };
    assert!(
        pos("offered") < pos("ringing")
            && pos("ringing") < pos("agent_answered")
            && pos("agent_answered") < pos("bridged")
            && pos("bridged") < pos("hung_up")
            && pos("hung_up") < pos("recording_finalized"),
        "{kinds:?}"
    );
    for w in by_version.windows(2) {
        assert!(w[1].seq > w[0].seq, "call versions increase");
    }

    // The agent: available → ringing → on_call → wrap_up → available, versions counting.
    let agent: Vec<_> = seen
        .iter()
        .filter_map(|p| match &p.change {
            Change::Agent(a) if a.agent == "1001" => Some(a.clone()),
            _ => None,
        })
        .collect();
    let states: Vec<AgentState> = agent.iter().map(|a| a.state).collect();
    assert_eq!(
        states,
        [
            AgentState::Ringing,
            AgentState::OnCall,
            AgentState::WrapUp,
            AgentState::Available
        ],
        "{agent:?}"
    );
    for w in agent.windows(2) {
        assert_eq!(w[1].version, w[0].version + 1, "agent versions count");
    }
    assert_eq!(agent[1].call.as_deref(), Some(protocol.as_str()));
    assert_eq!(
        agent[2].call.as_deref(),
        Some(protocol.as_str()),
        "wrap-up names the call"
    );
    assert!(agent[0].queues.contains(&"pericia".to_owned()));

    // The queue: its one agent is taken (available 0) and comes back (1); nobody had to
    // wait (the call rang 1001 at once); versions count.
    let queue: Vec<_> = seen
        .iter()
        .filter_map(|p| match &p.change {
            Change::Queue(q) if q.queue == "pericia" => Some(q.clone()),
            _ => None,
        })
        .collect();
    let figures: Vec<(usize, usize, usize)> = queue
        .iter()
        .map(|q| (q.waiting, q.staffed, q.available))
        .collect();
    assert_eq!(figures, [(0, 1, 0), (0, 1, 1)], "{queue:?}");
    assert!(queue.iter().all(|q| q.oldest_since_ms.is_none() && q.open));
    for w in queue.windows(2) {
        assert_eq!(w[1].version, w[0].version + 1, "queue versions count");
    }

    // The CTI's snapshot: the same entities at the same versions, as of the bus now.
    let running = server.in_process.as_ref().expect("in process");
    let acd = floor.acd.clone().expect("ACD");
    let snap = running.block_on(acd.snapshot()).expect("snapshot");
    let last_seq = seen.last().map(|p| p.seq).unwrap_or(0);
    assert!(
        snap.as_of_seq >= last_seq,
        "{} < {last_seq}",
        snap.as_of_seq
    );
    assert_eq!(snap.epoch, floor.bus.epoch());
    let a = snap
        .agents
        .iter()
        .find(|a| a.agent == "1001")
        .expect("1001 in the snapshot");
    assert_eq!(a, agent.last().expect("agent changes"));
    let q = snap
        .queues
        .iter()
        .find(|q| q.queue == "pericia")
        .expect("pericia in the snapshot");
    assert_eq!(q, queue.last().expect("queue changes"));
    assert_eq!(
        snap.queues.len(),
        5,
        "every configured queue: {:?}",
        snap.queues
    );
}

#[test]
fn bus_sqlite() {
    a_call_through_the_queue_is_published_in_order(Db::Sqlite);
}

#[test]
fn bus_postgres() {
    a_call_through_the_queue_is_published_in_order(Db::Postgres);
}
