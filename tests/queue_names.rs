//! End to end: the flows may hand callers only to queues in `[[queues]]`. A misspelt
//! queue is refused by a flows reload (the running set stays), by `atende ivr check
//! --config` and at start, each time naming the file, the node and the queue.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use support::ivr::*;
use support::*;

/// Copies the test server's folder (config, flows, prompts; not its database) to `to`,
/// the config's paths pointing there.
fn copy_setup(server: &Server, to: &Path) -> std::path::PathBuf {
    fn walk(src: &Path, dst: &Path) {
        std::fs::create_dir_all(dst).unwrap();
        for e in std::fs::read_dir(src).unwrap() {
            let p = e.unwrap().path();
            let target = dst.join(p.file_name().unwrap());
            if p.is_dir() {
                if !p.ends_with("recordings") {
                    walk(&p, &target);
                }
            } else if p.extension().is_some_and(|x| x == "yaml" || x == "wav") {
                std::fs::copy(&p, target).unwrap();
            }
        }
    }
    walk(server.dir.path(), to);
    let config = std::fs::read_to_string(server.dir.path().join("atende.toml")).unwrap();
    let config = config.replace(
        &server.dir.path().display().to_string(),
        &to.display().to_string(),
    );
    let path = to.join("atende.toml");
    std::fs::write(&path, config).unwrap();
    path
}

#[test]
fn a_misspelt_queue_in_the_flows_is_refused_at_reload_check_and_start() {
    let server = Server::start_ivr(Db::Sqlite, &IvrOptions::open_without_agents());
    let version = server.api("/api/ivr")["version"].as_u64();
    let main = server.dir.path().join("ivr-flows/principal.yaml");
    let good = std::fs::read_to_string(&main).unwrap();
    assert!(good.contains("queue: pericia,"), "shipped flow changed");
    std::fs::write(&main, good.replace("queue: pericia,", "queue: perica,")).unwrap();

    // Reload: refused with the place and the name; the running version stays.
    let (status, body) =
        http_request(server.http_port, "POST", "/api/ivr/reload", true, None).unwrap();
    let body = String::from_utf8_lossy(&body).to_string();
    assert_eq!(status, 422, "{body}");
    assert!(
        body.contains("queue `perica` is not configured in [[queues]]"),
        "{body}"
    );
    assert!(body.contains("pericia_agendar"), "names the node: {body}");
    assert_eq!(server.api("/api/ivr")["version"].as_u64(), version);

    // `atende ivr check --config`: the same problem, non-zero exit.
    let copy = tempfile::tempdir().unwrap();
    let config = copy_setup(&server, copy.path());
    drop(server);
    let out = Command::new(env!("CARGO_BIN_EXE_atende"))
        .args(["ivr", "check", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "check passed: {stderr}");
    assert!(
        stderr.contains("principal.yaml:") && stderr.contains("queue `perica` is not configured"),
        "{stderr}"
    );

    // Start: refused with the same message instead of leaving callers on hold music.
    let mut child = Command::new(env!("CARGO_BIN_EXE_atende"))
        .args(["serve", "--config"])
        .arg(&config)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("atende started with a flow naming an unknown queue");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("queue `perica` is not configured"), "{text}");

    // The fixed flow passes the check.
    let fixed = copy.path().join("ivr-flows/principal.yaml");
    std::fs::write(&fixed, good).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_atende"))
        .args(["ivr", "check", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
