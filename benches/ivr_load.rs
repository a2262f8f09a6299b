//! IVR load: callers in the shipped IVR flows at once, hearing the real pt-BR prompts,
//! each call recorded and every IVR step logged.
//!
//! `cargo bench --bench ivr_load -- [--calls N] [--hold SECS] [--rate CPS]` reports
//! atende's CPU per concurrent IVR call (share of one core) and RSS per call, and checks
//! that every call has its record, its IVR steps and a finalized recording. Callers press
//! nothing: they hear the welcome, the business-hours check and the main menu with its
//! retries, as a citizen thinking it over does. Under `cargo test` it runs a 3-call smoke
//! version so the harness itself stays working.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use support::ivr::*;
use support::*;

fn arg(name: &str, bench: u32, smoke: u32) -> u32 {
    let argv: Vec<String> = std::env::args().collect();
    if !argv.iter().any(|a| a == "--bench") {
        return smoke;
    }
    argv.iter()
        .position(|a| a == name)
        .and_then(|i| argv.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(bench)
}

fn proc_field(pid: u32, file: &str, pick: impl Fn(&str) -> Option<f64>) -> f64 {
    pick(&std::fs::read_to_string(format!("/proc/{pid}/{file}")).unwrap_or_default()).unwrap_or(0.0)
}

/// CPU seconds (user + system) the process has used so far.
fn cpu_secs(pid: u32) -> f64 {
    proc_field(pid, "stat", |s| {
        let f: Vec<&str> = s.rsplit_once(')')?.1.split_whitespace().collect();
        let t: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
        Some(t / 100.0)
    })
}

fn rss_kb(pid: u32) -> f64 {
    proc_field(pid, "status", |s| {
        s.lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    })
}

fn main() {
    let calls = arg("--calls", 40, 3);
    let hold_secs = arg("--hold", 30, 8);
    let rate = arg("--rate", 10, 3);
    require("sipp");
    let server = Server::start_ivr_sized(
        Db::Sqlite,
        &IvrOptions::open_without_agents(),
        Prompts::Shipped,
        u16::try_from(calls + 5).unwrap_or(u16::MAX),
    );
    let pid = server.pid();
    let dir = server.dir.path();
    let audio = dir.join("caller.al");
    alaw_tone(&audio, 440, 120.0);
    let sf = scenario(
        dir,
        "ivr_caller.xml",
        &[
            ("AUDIO", audio.display().to_string()),
            ("KEYS", String::new()),
            ("TALK_MS", (u64::from(hold_secs) * 1000).to_string()),
        ],
    );
    let rss0 = rss_kb(pid);
    let mut args = trunk_caller_args(&server, &sf, u16::try_from(calls * 2).unwrap_or(4000));
    let n = calls.to_string();
    args.extend([
        "-r".into(),
        rate.to_string(),
        "-l".into(),
        n.clone(),
        "-m".into(),
        n,
    ]);
    let caller = sipp(&args).spawn().expect("IVR callers start");
    // Steady state: every caller in the IVR; measure over half the hold.
    std::thread::sleep(Duration::from_secs_f64(
        f64::from(calls) / f64::from(rate) + 2.0,
    ));
    let (c0, t0) = (cpu_secs(pid), Instant::now());
    std::thread::sleep(Duration::from_secs(u64::from(hold_secs) / 2));
    let (c1, t1) = (cpu_secs(pid), Instant::now());
    let rss1 = rss_kb(pid);
    let active = server.metric("atende_active_calls").max(1.0);
    wait_ok(caller, "IVR callers", &server);
    let share = (c1 - c0) / (t1 - t0).as_secs_f64();

    // Every call: a record, IVR steps with prompts played, a finalized recording.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut complete = 0;
    while Instant::now() < deadline {
        let list = server.api("/api/calls?limit=10000");
        let list = list.as_array().cloned().unwrap_or_default();
        complete = list
            .iter()
            .filter(|c| !c["recording_sha256"].is_null())
            .count();
        if complete >= calls as usize {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let list = server.api("/api/calls?limit=10000");
    let list = list.as_array().cloned().unwrap_or_default();
    let mut with_prompts = 0;
    for c in &list {
        let protocol = c["protocol"].as_str().unwrap_or_default();
        let detail = server.api(&format!("/api/calls/{protocol}"));
        let played = detail["events"]
            .as_array()
            .map(|evs| {
                evs.iter()
                    .filter(|e| e["kind"] == "ivr" && e["detail"]["event"]["step"] == "played")
                    .count()
            })
            .unwrap_or(0);
        if played >= 1 {
            with_prompts += 1;
        }
    }
    println!(
        "IVR: {active} calls in the shipped flows, atende used {:.1} % of one core, RSS {:.0} MB",
        share * 100.0,
        rss1 / 1024.0
    );
    println!(
        "per concurrent IVR call: {:.4} % of a core, {:.1} KB RSS; {} call records, {with_prompts} with IVR prompts logged, {complete} recordings finalized",
        share * 100.0 / active,
        (rss1 - rss0) / active,
        list.len()
    );
    assert_eq!(list.len(), calls as usize, "every call has a record");
    assert_eq!(with_prompts, calls as usize, "every call heard IVR prompts");
    assert_eq!(complete, calls as usize, "every recording finalized");
}
