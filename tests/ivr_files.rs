//! Files changed by hand under a running server, end to end (the real process and its
//! API, no restart): a WAV copied into the prompts directory is listed, a broken one is
//! refused with a log line naming it, the flows directory replaced whole by a deploy is
//! loaded, and a prompt file the running flows play is kept in memory when deleted.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use support::ivr::*;
use support::*;

/// Waits (at most 20 s) for `done`, else fails with the server's log.
fn until(server: &Server, what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen; log:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn prompt_names(server: &Server) -> Vec<String> {
    let list = server.api("/api/prompts");
    list["prompts"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .filter_map(|p| p["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read dir") {
        let p = e.expect("entry").path();
        if p.is_file() {
            std::fs::copy(&p, to.join(p.file_name().expect("name"))).expect("copy");
        }
    }
}

#[test]
fn files_changed_by_hand_under_a_running_server_go_live() {
    let server = Server::start_ivr(Db::Sqlite, &IvrOptions::open_without_agents());
    let prompts = server.dir.path().join("prompts");

    // A new recording, at 16 kHz stereo, copied into a new sub-directory.
    std::fs::create_dir_all(prompts.join("pt-BR/avisos")).expect("mkdir");
    wav_tone_at(&prompts.join("pt-BR/avisos/greve.wav"), 16_000, 2, 440, 1.0);
    until(&server, "the copied prompt listed", || {
        prompt_names(&server).contains(&"pt-BR/avisos/greve".to_owned())
    });
    let list = server.api("/api/prompts");
    let greve = list["prompts"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == "pt-BR/avisos/greve"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(greve["duration_ms"], 1000, "{greve}");

    // A broken one: refused, named in the log, not listed.
    std::fs::write(
        prompts.join("pt-BR/avisos/quebrado.wav"),
        b"RIFF\x10\0\0\0WAVE",
    )
    .expect("write");
    until(&server, "the broken file refused", || {
        let log = server.log();
        log.contains("prompt file refused")
            && log.contains("quebrado.wav")
            && log.contains("truncated")
    });
    assert!(!prompt_names(&server).contains(&"pt-BR/avisos/quebrado".to_owned()));

    // The flows directory replaced whole, as a deploy tool does.
    let flows = server.dir.path().join("ivr-flows");
    let new = server.dir.path().join("ivr-flows.new");
    copy_dir(&flows, &new);
    std::fs::write(
        new.join("extra.yaml"),
        "start: fim\nnodes:\n  fim: { type: hangup }\n",
    )
    .expect("write");
    std::fs::rename(&flows, server.dir.path().join("ivr-flows.old")).expect("move away");
    std::fs::rename(&new, &flows).expect("move in");
    until(&server, "the new flow set loaded", || {
        let ivr = server.api("/api/ivr");
        ivr["flows"]
            .as_array()
            .is_some_and(|fs| fs.iter().any(|f| f["name"] == "extra"))
    });

    // A prompt the running flows play, deleted by hand: kept, and the log says who plays it.
    std::fs::remove_file(prompts.join("pt-BR/ura/boas-vindas.wav")).expect("rm");
    until(&server, "the deletion refused", || {
        server.log().contains("still played by principal")
    });
    assert!(prompt_names(&server).contains(&"pt-BR/ura/boas-vindas".to_owned()));
    // An unused one goes.
    std::fs::remove_file(prompts.join("pt-BR/avisos/greve.wav")).expect("rm");
    until(&server, "the unused prompt removed", || {
        !prompt_names(&server).contains(&"pt-BR/avisos/greve".to_owned())
    });
}
