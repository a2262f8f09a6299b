//! End to end with a real softphone: baresip registers as agent 1001 with digest
//! authentication, auto-answers the citizen's call (sipp on the trunk, G.711 A-law) and
//! streams its audio; atende bridges and records both sides. Run once with the agent on
//! PCMA (relayed as is) and once on Opus (transcoded both ways).

mod support;

use std::path::Path;

use support::*;

#[test]
fn baresip_agent_registers_answers_and_is_recorded() {
    let dir = agent_call("PCMA", "g711.so", 8000, 1);
    // The phone ran; nothing more to check on its side for the relayed codec.
    drop(dir);
}

#[test]
fn opus_agent_is_transcoded_both_ways_and_recorded() {
    let dir = agent_call("opus/48000/2", "opus.so", 48000, 2);
    // What baresip received (sndfile writes the decoded far end per call): the caller's
    // 440 Hz A-law tone, turned into Opus by atende.
    let received = std::fs::read_dir(dir.path().join("baresip/rec"))
        .expect("sndfile folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.to_string_lossy().ends_with("-dec.wav"))
        .expect("baresip wrote what it received");
    let (rate, samples) = mono_wav(&received);
    // Skip the welcome prompt and hold music (600/300 Hz) before the bridge.
    let bridged = &samples[samples.len() * 2 / 3..];
    let zc = crossings(bridged) as f64 * f64::from(rate) / bridged.len() as f64;
    assert!(
        (840.0..920.0).contains(&zc),
        "the agent did not hear the caller's 440 Hz through Opus: {zc} crossings/s"
    );
    assert!(rms(bridged) > 1000.0, "the agent heard silence");
}

/// Runs one call to a baresip agent speaking `codec` (its audio file at `wav_rate`); asserts the call was answered by
/// 1001 and the recording's right channel carries baresip's 1000 Hz tone. Returns the
/// server's folder (which holds baresip's).
fn agent_call(codec: &str, module: &str, wav_rate: u32, wav_channels: u16) -> tempfile::TempDir {
    require("baresip");
    // Debian's baresip 1.0 (libre 1.x) rejects a 401 that lists any algorithm but MD5.
    let mut server = Server::start_with(Db::Sqlite, &["1001"], &["MD5"]);
    let dir = server.dir.path().join("baresip");
    std::fs::create_dir_all(dir.join("rec")).unwrap();
    let wav = dir.join("agent.wav");
    // baresip's aufile wants the codec's own sample rate and channels.
    wav_tone_at(&wav, wav_rate, wav_channels, 1000, 60.0);
    let sip_port = free_port();
    let rtp = free_rtp_range(20);
    let ctrl = free_port();
    std::fs::write(
        dir.join("config"),
        format!(
            "poll_method epoll\nsip_listen 127.0.0.1:{sip_port}\nnet_interface 127.0.0.1\n\
             audio_player aufile,/dev/null\naudio_alert aufile,/dev/null\n\
             audio_source aufile,{wav}\nrtp_ports {rtp}-{}\n\
             module_path /usr/lib/baresip/modules\nmodule {module}\nmodule aufile.so\n\
             module sndfile.so\nsnd_path {rec}\n\
             module_app account.so\nmodule_app menu.so\nmodule_app ctrl_tcp.so\n\
             ctrl_tcp_listen 127.0.0.1:{ctrl}\n",
            rtp + 19,
            wav = wav.display(),
            rec = dir.join("rec").display(),
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("accounts"),
        format!(
            "<sip:1001@127.0.0.1:{}>;auth_pass=pw1001;regint=60;answermode=auto;audio_codecs={codec}\n",
            server.sip_port
        ),
    )
    .unwrap();
    let phone = start_baresip(&dir);
    let phone_log = || baresip_log(&dir);
    wait_baresip_registered(&server, &dir, "");

    let caller = start_caller(&server, 3000, 2000, &[]);
    end_call_with_baresip(&server, caller, phone, &dir, "caller");

    let (protocol, events) = wait_for_event(&server, "recording_finalized");
    assert_eq!(event(&events, "agent_answered")["detail"]["agent"], "1001");
    let (_, right) = recording(&server, &protocol);
    let bridged = (at_ms(&events, "bridged") - at_ms(&events, "answered")) as usize * 8 + 4000;
    let agent_part = &right[bridged.min(right.len())..right.len().saturating_sub(2000)];
    assert!(agent_part.len() > 4000, "bridge too short to check");
    let zc = crossings_per_sec(agent_part);
    assert!(
        (1850.0..2150.0).contains(&zc),
        "baresip's 1000 Hz not heard over {codec}: {zc}\nbaresip log:\n{}",
        phone_log()
    );
    assert!(server.alive(), "atende still runs");
    std::mem::replace(&mut server.dir, tempfile::tempdir().unwrap())
}

fn mono_wav(path: &Path) -> (u32, Vec<i16>) {
    let mut r = hound::WavReader::open(path).expect("baresip's WAV opens");
    let spec = r.spec();
    let all: Vec<i16> = r.samples::<i16>().map(|s| s.expect("sample")).collect();
    let mono = all
        .iter()
        .step_by(usize::from(spec.channels))
        .copied()
        .collect();
    (spec.sample_rate, mono)
}

fn crossings(samples: &[i16]) -> usize {
    samples
        .windows(2)
        .filter(|w| (w[0] < 0) != (w[1] < 0))
        .count()
}
