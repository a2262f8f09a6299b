//! The "answered call" set-up several end-to-end tests repeat: agents' sipp phones
//! registered and answering, a citizen through the IVR (1 perícia, 1 agendar: queue
//! "pericia") who stays until atende's BYE, and the call found in the log once bridged.
//! Include with `#[path = "support/answered.rs"] mod answered;` next to `mod support;`.

#![allow(dead_code)] // each test file uses its own part

use std::process::Child;
use std::time::Duration;

use crate::support::ivr::start_ivr_caller;
use crate::support::{Server, free_port, register_agent, start_phone};

/// Registers each agent's phone (its `agent.xml` tone in Hz) and starts it answering one
/// call 500 ms after it rings; the phones, in the same order.
pub fn answering_phones(server: &Server, agents: &[(&str, u32)]) -> Vec<Child> {
    agents
        .iter()
        .map(|(agent, freq)| {
            let port = free_port();
            register_agent(server, agent, port);
            start_phone(
                server,
                "agent.xml",
                port,
                1,
                *freq,
                &[("ANSWER_AFTER_MS", "500".into())],
            )
        })
        .collect()
}

/// A citizen who picks 1 (perícia), 1 (agendar) in the IVR, so the call waits in queue
/// "pericia", and stays on the line until atende hangs up.
pub fn pericia_caller(server: &Server) -> Child {
    start_ivr_caller(server, &[(800, "1"), (500, "1")], 40_000, true)
}

/// The newest call's protocol and events once `kind` appears `n` times in its log (20 s
/// at most).
pub fn wait_for_nth(server: &Server, kind: &str, n: usize) -> (String, Vec<serde_json::Value>) {
    for _ in 0..200 {
        let calls = server.api("/api/calls");
        if let Some(p) = calls
            .as_array()
            .and_then(|a| a.last())
            .and_then(|c| c["protocol"].as_str())
        {
            let events = server.api(&format!("/api/calls/{p}"))["events"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if events.iter().filter(|e| e["kind"] == kind).count() >= n {
                return (p.to_owned(), events);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("no call with {n} {kind} in time");
}

/// An answered call: the citizen's call bridged to one of `agents`' phones.
pub struct AnsweredCall {
    pub protocol: String,
    pub caller: Child,
    pub phones: Vec<Child>,
}

/// Phones for `agents`, a citizen to queue "pericia", and the call once bridged.
pub fn answered_call(server: &Server, agents: &[(&str, u32)]) -> AnsweredCall {
    let phones = answering_phones(server, agents);
    let caller = pericia_caller(server);
    let (protocol, _) = wait_for_nth(server, "bridged", 1);
    AnsweredCall {
        protocol,
        caller,
        phones,
    }
}
