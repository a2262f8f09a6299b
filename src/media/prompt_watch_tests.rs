//! Prompt files copied in, replaced, broken and deleted by hand while the library is
//! watched; and the API's own writes, which must cost no second decode.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::prompt::{Prompt, PromptLibrary};
use super::prompt_watch::{PromptSync, PromptWatcher, SyncReport, Users, start_with};

/// A library on `<tmp>/prompts` holding `pt-BR/welcome` (800 samples of 1), where only
/// `pt-BR/used` counts as played (by flow `principal`).
struct Setup {
    tmp: tempfile::TempDir,
    dir: PathBuf,
    lib: Arc<PromptLibrary>,
}

fn setup() -> Setup {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("prompts");
    std::fs::create_dir_all(dir.join("pt-BR")).expect("mkdir");
    wav(&dir.join("pt-BR/welcome.wav"), 1, 800);
    wav(&dir.join("pt-BR/used.wav"), 3, 800);
    let lib = Arc::new(PromptLibrary::load_dir(&dir).expect("library loads"));
    Setup { tmp, dir, lib }
}

fn users() -> Users {
    Box::new(|name| {
        if name == "pt-BR/used" {
            vec!["principal".to_owned()]
        } else {
            Vec::new()
        }
    })
}

fn watched(s: &Setup) -> (mpsc::Receiver<SyncReport>, PromptWatcher) {
    let (tx, rx) = mpsc::channel();
    let w = start_with(
        s.lib.clone(),
        users(),
        Duration::from_millis(50),
        move |r| {
            let _ = tx.send(r.clone());
        },
    )
    .expect("watcher starts");
    (rx, w)
}

/// A WAV of `n` samples of `value`, 8 kHz mono, written the way `cp` does: elsewhere, then
/// copied over the target (same inode, new contents).
fn wav(path: &Path, value: i16, n: usize) {
    let bytes = Prompt::from_samples("x", vec![value; n])
        .to_wav_bytes()
        .expect("encode");
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, bytes).expect("write");
}

/// Waits (bounded) until the library's `name` satisfies `want`.
fn eventually(lib: &PromptLibrary, name: &str, want: impl Fn(Option<&Prompt>) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !want(lib.get(name).as_ref()) {
        assert!(Instant::now() < deadline, "{name} never got there");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn first_sample(p: Option<&Prompt>) -> Option<i16> {
    p.and_then(|p| p.samples.first().copied())
}

/// The next report that `want` accepts, within 20 s.
fn report(rx: &mpsc::Receiver<SyncReport>, want: impl Fn(&SyncReport) -> bool) -> SyncReport {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let r = rx.recv_timeout(left).expect("the watcher syncs");
        if want(&r) {
            return r;
        }
    }
}

#[test]
fn a_wav_copied_in_goes_live_converted_and_an_overwrite_replaces_it() {
    let s = setup();
    let (_rx, _w) = watched(&s);
    // A new sub-directory and a 16 kHz stereo file in it: converted as at start-up.
    let path = s.dir.join("pt-BR/avisos/greve.wav");
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&path, spec).expect("create");
    for _ in 0..16_000 {
        w.write_sample(1000i16).expect("sample");
        w.write_sample(3000i16).expect("sample");
    }
    w.finalize().expect("finalize");
    eventually(&s.lib, "pt-BR/avisos/greve", |p| p.is_some());
    let p = s.lib.get("pt-BR/avisos/greve").expect("live");
    assert!(
        (7999..=8001).contains(&p.samples.len()),
        "{}",
        p.samples.len()
    );
    assert!((1900..2100).contains(&p.samples[4000]), "mixed down");

    wav(&s.dir.join("pt-BR/welcome.wav"), 7, 1600);
    eventually(&s.lib, "pt-BR/welcome", |p| first_sample(p) == Some(7));
    assert_eq!(
        s.lib.get("pt-BR/welcome").expect("live").samples.len(),
        1600
    );
}

#[test]
fn a_broken_wav_is_refused_and_the_previous_version_keeps_playing() {
    let s = setup();
    let (rx, _w) = watched(&s);
    let path = s.dir.join("pt-BR/welcome.wav");
    let good = std::fs::read(&path).expect("read");
    // Cut short, as a copy interrupted half-way leaves it.
    std::fs::write(&path, &good[..good.len() / 2]).expect("write");
    let r = report(&rx, |r| !r.refused.is_empty());
    assert_eq!(r.refused, vec![path.clone()]);
    let why = Prompt::load_strict(&path, "pt-BR/welcome".into()).expect_err("still broken");
    assert!(
        matches!(why, super::prompt::PromptError::Truncated { .. })
            && why.to_string().contains("welcome.wav"),
        "{why}"
    );
    assert_eq!(first_sample(s.lib.get("pt-BR/welcome").as_ref()), Some(1));
    assert_eq!(s.lib.get("pt-BR/welcome").expect("kept").samples.len(), 800);
    // Not a WAV at all, under a new name: stays out.
    std::fs::write(s.dir.join("pt-BR/lixo.wav"), b"not audio").expect("write");
    report(&rx, |r| !r.refused.is_empty());
    assert!(s.lib.get("pt-BR/lixo").is_none());
    // The whole file again: taken.
    wav(&path, 9, 400);
    eventually(&s.lib, "pt-BR/welcome", |p| first_sample(p) == Some(9));
}

#[test]
fn a_deleted_prompt_goes_unless_a_flow_plays_it() {
    let s = setup();
    let (rx, _w) = watched(&s);
    std::fs::remove_file(s.dir.join("pt-BR/welcome.wav")).expect("rm");
    eventually(&s.lib, "pt-BR/welcome", |p| p.is_none());

    std::fs::remove_file(s.dir.join("pt-BR/used.wav")).expect("rm");
    let r = report(&rx, |r| !r.kept.is_empty());
    assert_eq!(r.kept, ["pt-BR/used"]);
    assert_eq!(
        first_sample(s.lib.get("pt-BR/used").as_ref()),
        Some(3),
        "kept"
    );
}

#[test]
fn the_apis_own_writes_are_not_decoded_again() {
    let s = setup();
    let (rx, _w) = watched(&s);
    s.lib
        .save(Prompt::from_samples("pt-BR/novo", vec![5; 160]))
        .expect("save");
    s.lib
        .save(Prompt::from_samples("pt-BR/welcome", vec![6; 160]))
        .expect("save");
    s.lib.delete("pt-BR/novo").expect("delete");
    // Whatever batches the renames and the deletion make, none decodes or drops anything.
    let quiet = Instant::now() + Duration::from_millis(1500);
    while let Ok(r) = rx.recv_timeout(quiet.saturating_duration_since(Instant::now())) {
        assert_eq!(
            r,
            SyncReport::default(),
            "the API's writes are already live"
        );
    }
    assert_eq!(first_sample(s.lib.get("pt-BR/welcome").as_ref()), Some(6));
    assert!(s.lib.get("pt-BR/novo").is_none());
}

#[test]
fn a_prompts_directory_replaced_whole_is_synced_and_watched_again() {
    let s = setup();
    let (_rx, _w) = watched(&s);
    let new = s.tmp.path().join("prompts.new");
    wav(&new.join("pt-BR/welcome.wav"), 4, 800);
    wav(&new.join("pt-BR/used.wav"), 3, 800);
    wav(&new.join("pt-BR/extra.wav"), 2, 800);
    std::fs::rename(&s.dir, s.tmp.path().join("prompts.old")).expect("move away");
    std::fs::rename(&new, &s.dir).expect("move in");
    eventually(&s.lib, "pt-BR/extra", |p| p.is_some());
    assert_eq!(first_sample(s.lib.get("pt-BR/welcome").as_ref()), Some(4));
    // The new directory is the one watched now.
    wav(&s.dir.join("pt-BR/depois.wav"), 8, 800);
    eventually(&s.lib, "pt-BR/depois", |p| p.is_some());
}

#[test]
fn a_sync_without_changes_does_nothing_and_problems_are_reported_once() {
    let s = setup();
    let mut sync = PromptSync::new(s.lib.clone(), users());
    assert_eq!(
        sync.sync(),
        SyncReport::default(),
        "start-up already loaded it all"
    );
    std::fs::write(s.dir.join("pt-BR/broken.wav"), b"RIFF").expect("write");
    std::fs::remove_file(s.dir.join("pt-BR/used.wav")).expect("rm");
    let first = sync.sync();
    assert_eq!(first.refused.len(), 1);
    assert_eq!(first.kept, ["pt-BR/used"]);
    let again = sync.sync();
    assert!(
        again.refused.is_empty(),
        "an unchanged broken file is not read again"
    );
    // A directory that vanished changes nothing.
    std::fs::remove_dir_all(&s.dir).expect("rm -rf");
    assert_eq!(sync.sync(), SyncReport::default());
    assert!(s.lib.get("pt-BR/welcome").is_some());
}
