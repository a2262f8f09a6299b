//! End to end with a real softphone: baresip registers as agent 1001 with digest
//! authentication, auto-answers the citizen's call (sipp on the trunk) and streams its
//! audio; atende bridges and records both sides.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

#[test]
fn baresip_agent_registers_answers_and_is_recorded() {
    require("baresip");
    // Debian's baresip 1.0 (libre 1.x) rejects a 401 that lists any algorithm but MD5.
    let server = Server::start_with(Db::Sqlite, &["1001"], &["MD5"]);
    let dir = server.dir.path().join("baresip");
    std::fs::create_dir_all(dir.join("rec")).unwrap();
    let wav = dir.join("agent.wav");
    wav_tone(&wav, 1000, 60.0);
    let sip_port = free_port();
    let rtp = free_rtp_range(20);
    let ctrl = free_port();
    std::fs::write(
        dir.join("config"),
        format!(
            "poll_method epoll\nsip_listen 127.0.0.1:{sip_port}\nnet_interface 127.0.0.1\n\
             audio_player aufile,/dev/null\naudio_alert aufile,/dev/null\n\
             audio_source aufile,{wav}\nrtp_ports {rtp}-{}\n\
             module_path /usr/lib/baresip/modules\nmodule g711.so\nmodule aufile.so\n\
             module_app account.so\nmodule_app menu.so\nmodule_app ctrl_tcp.so\n\
             ctrl_tcp_listen 127.0.0.1:{ctrl}\n",
            rtp + 19,
            wav = wav.display(),
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("accounts"),
        format!(
            "<sip:1001@127.0.0.1:{}>;auth_pass=pw1001;regint=60;answermode=auto;audio_codecs=PCMA\n",
            server.sip_port
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.join("baresip.log")).unwrap();
    let mut phone = Command::new("baresip")
        .arg("-f")
        .arg(&dir)
        .args(["-t", "40"])
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .expect("baresip starts");

    let deadline = Instant::now() + Duration::from_secs(15);
    while server.metric("atende_registrations") < 1.0 {
        assert!(
            Instant::now() < deadline,
            "baresip did not register; its log:\n{}\natende log:\n{}",
            std::fs::read_to_string(dir.join("baresip.log")).unwrap_or_default(),
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let caller = start_caller(&server, 3000, 2000, &[]);
    let out = caller.wait_with_output().expect("caller ran");
    let _ = phone.kill();
    let _ = phone.wait();
    assert!(
        out.status.success(),
        "caller failed: {}\nbaresip log:\n{}\natende log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(dir.join("baresip.log")).unwrap_or_default(),
        server.log()
    );

    let (protocol, events) = wait_for_event(&server, "recording_finalized");
    assert_eq!(event(&events, "agent_answered")["detail"]["agent"], "1001");
    let (_, right) = recording(&server, &protocol);
    let bridged = (at_ms(&events, "bridged") - at_ms(&events, "answered")) as usize * 8 + 4000;
    let agent_part = &right[bridged.min(right.len())..right.len().saturating_sub(2000)];
    assert!(agent_part.len() > 4000, "bridge too short to check");
    let zc = crossings_per_sec(agent_part);
    assert!(
        (1850.0..2150.0).contains(&zc),
        "baresip's 1000 Hz not heard: {zc}"
    );
}
