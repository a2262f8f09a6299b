//! The README's softphone steps, as a new user takes them: atende runs the SHIPPED
//! `config/atende.toml` (only its ports, database and data folder moved to the test's),
//! Debian's baresip registers with the README's own account line, and a citizen's call to
//! the demo DID rings it, is answered, bridged and recorded. This failed while the demo
//! offered SHA-256: that baresip refuses any challenge listing an algorithm but MD5.

mod support;

use std::path::Path;

use support::*;

/// The shipped config with as little changed as a test needs: free loopback ports, the
/// test's database and recordings, (the helpers log in as the shipped demo `admin`). Prompts and flows
/// are the repository's own.
fn shipped_config(db: &Db, data: &Path, sip_port: u16, http_port: u16, rtp: u16) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("config/atende.toml")).expect("shipped config");
    let db_url = match db {
        Db::Sqlite => format!("sqlite://{}/atende.db", data.display()),
        Db::Postgres => atende::testkit::pg::fresh_pg_database(),
    };
    let replacements = [
        (
            "listen_udp = \"127.0.0.1:5060\"",
            format!("listen_udp = \"127.0.0.1:{sip_port}\""),
        ),
        (
            "listen_tcp = \"127.0.0.1:5060\"",
            format!("listen_tcp = \"127.0.0.1:{sip_port}\""),
        ),
        (
            "listen = \"127.0.0.1:8080\"",
            format!("listen = \"127.0.0.1:{http_port}\""),
        ),
        (
            "url = \"sqlite://data/atende.db\"",
            format!("url = \"{db_url}\""),
        ),
        (
            "dir = \"data/recordings\"",
            format!("dir = \"{}/recordings\"", data.display()),
        ),
        (
            "dir = \"prompts\"",
            format!("dir = \"{}\"", root.join("prompts").display()),
        ),
        (
            "dir = \"ivr-flows\"",
            format!("dir = \"{}\"", root.join("ivr-flows").display()),
        ),
        ("rtp_port_min = 20000", format!("rtp_port_min = {rtp}")),
        (
            "rtp_port_max = 29999",
            format!("rtp_port_max = {}", rtp + 38),
        ),
    ];
    let mut config = text;
    for (from, to) in replacements {
        assert!(
            config.contains(from),
            "the shipped config no longer has {from}"
        );
        config = config.replace(from, &to);
    }
    // What the issue is about: the shipped digest setting is untouched.
    assert!(config.contains("digest_algorithms = [\"MD5\"]"));
    config
}

/// The README's account line for agent 1001 (answermode auto instead of manual: no one
/// is at the keyboard), against the shipped config's port.
fn readme_account_line(sip_port: u16) -> String {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README");
    let line = readme
        .lines()
        .find_map(|l| {
            let l = l.trim().trim_matches('`');
            l.starts_with("<sip:1001@127.0.0.1:5060>")
                .then(|| l.to_owned())
        })
        .expect("the README gives a baresip account line");
    line.replace("127.0.0.1:5060", &format!("127.0.0.1:{sip_port}"))
        .replace("answermode=manual", "answermode=auto")
}

fn readme_softphone_takes_a_call(db: Db) {
    require("baresip");
    let dir = tempfile::tempdir().expect("tempdir");
    let (sip_port, http_port, rtp) = (free_port(), free_port(), free_rtp_range(40));
    let config = shipped_config(&db, dir.path(), sip_port, http_port, rtp);
    let server = Server::launch(dir, &config, sip_port, http_port);

    let phone_dir = server.dir.path().join("baresip");
    std::fs::create_dir_all(&phone_dir).unwrap();
    let wav = phone_dir.join("agent.wav");
    wav_tone(&wav, 1000, 60.0);
    let phone_rtp = free_rtp_range(20);
    std::fs::write(
        phone_dir.join("config"),
        format!(
            "poll_method epoll\nsip_listen 127.0.0.1:{}\nnet_interface 127.0.0.1\n\
             audio_player aufile,/dev/null\naudio_alert aufile,/dev/null\n\
             audio_source aufile,{}\nrtp_ports {phone_rtp}-{}\n\
             module_path /usr/lib/baresip/modules\nmodule g711.so\nmodule aufile.so\n\
             module_app account.so\nmodule_app menu.so\n",
            free_port(),
            wav.display(),
            phone_rtp + 19,
        ),
    )
    .unwrap();
    let account = readme_account_line(sip_port);
    assert!(account.contains("auth_pass=demo1001"), "{account}");
    std::fs::write(phone_dir.join("accounts"), format!("{account}\n")).unwrap();
    let phone = start_baresip(&phone_dir);
    wait_baresip_registered(&server, &phone_dir, " with the README's account line");

    // The citizen dials the demo line that rings the agents directly (08000000001).
    let audio = server.dir.path().join("caller.al");
    alaw_tone(&audio, 440, 120.0);
    let sf = scenario(
        server.dir.path(),
        "caller.xml",
        &[
            ("AUDIO", audio.display().to_string()),
            // The shipped welcome prompt lasts 11.6 s before the agents ring.
            ("DTMF_AT_MS", "16000".into()),
            ("TALK_MS", "3000".into()),
        ],
    );
    let mut args = trunk_caller_args(&server, &sf, 10);
    let at = args.iter().position(|a| a == "-s").expect("-s") + 1;
    args[at] = "08000000001".into();
    args.extend(["-m".into(), "1".into()]);
    let caller = sipp(&args).spawn().expect("caller sipp starts");
    end_call_with_baresip(&server, caller, phone, &phone_dir, "the citizen's call");

    let (protocol, events) = wait_for_event(&server, "recording_finalized");
    let kinds = kinds(&events);
    assert_eq!(event(&events, "agent_answered")["detail"]["agent"], "1001");
    assert!(kinds.contains(&"bridged".to_owned()), "{kinds:?}");
    // baresip's 1000 Hz tone is in the recording's agent channel after the bridge.
    let (_, right) = recording(&server, &protocol);
    let bridged = (at_ms(&events, "bridged") - at_ms(&events, "answered")) as usize * 8 + 4000;
    let agent_part = &right[bridged.min(right.len())..right.len().saturating_sub(2000)];
    assert!(agent_part.len() > 4000, "bridge too short to check");
    let zc = crossings_per_sec(agent_part);
    assert!(
        (1850.0..2150.0).contains(&zc),
        "the agent's 1000 Hz is not in the recording: {zc} crossings/s"
    );
}

#[test]
fn readme_softphone_registers_to_the_shipped_config_and_takes_a_call_sqlite() {
    readme_softphone_takes_a_call(Db::Sqlite);
}

#[test]
fn readme_softphone_registers_to_the_shipped_config_and_takes_a_call_postgres() {
    readme_softphone_takes_a_call(Db::Postgres);
}
