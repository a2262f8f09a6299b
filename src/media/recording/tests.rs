use std::path::Path;

use sha2::{Digest, Sha256};

use super::*;

fn tone(freq: f64, start: u64, n: usize) -> Vec<i16> {
    (0..n)
        .map(|i| {
            let t = (start + i as u64) as f64 / RATE as f64;
            (8000.0 * (2.0 * std::f64::consts::PI * freq * t).sin()) as i16
        })
        .collect()
}

/// A sample as the recording holds it: through A-law, with the silence code as zero.
fn rec(s: i16) -> i16 {
    let code = crate::media::g711::alaw_encode(s);
    if code == SILENCE {
        0
    } else {
        crate::media::g711::alaw_decode(code)
    }
}

fn recorded(s: &[i16]) -> Vec<i16> {
    s.iter().map(|&v| rec(v)).collect()
}

/// Bytes of a frame in the default format (A-law).
const BPF: u64 = 2;

/// Channels of a stereo 8 kHz recording, after checking its format. The blocks' silence
/// code (0xD5) reads as +8 from an A-law file and as 0 from a PCM one (the writer maps
/// it); it is read as 0 here so that expectations hold for both formats.
fn read_back(path: &Path) -> (Vec<i16>, Vec<i16>) {
    let d = wav::decode(&std::fs::read(path).unwrap()).expect("recording parses as WAV");
    assert_eq!((d.channels, d.sample_rate), (2, 8000));
    let silent = crate::media::g711::alaw_decode(SILENCE);
    let fix = |v: Vec<i16>| -> Vec<i16> {
        if d.format == RecordingFormat::Alaw {
            v.into_iter()
                .map(|s| if s == silent { 0 } else { s })
                .collect()
        } else {
            v
        }
    };
    (fix(d.channel(0)), fix(d.channel(1)))
}

fn rms(s: &[i16]) -> f64 {
    if s.is_empty() {
        return 0.0;
    }
    (s.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / s.len() as f64).sqrt()
}

/// Frequency from the zero-crossing rate.
fn pitch(s: &[i16]) -> f64 {
    let crossings = s.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count();
    crossings as f64 / 2.0 / (s.len() as f64 / RATE as f64)
}

fn service() -> RecordingService {
    RecordingService::start(RecordingConfig::default()).unwrap()
}

/// Pushes `seconds` of a 20 ms-framed call like a media task: caller tone, other tone,
/// then `advance` on every tick.
fn talk(h: &mut RecordingHandle, from: u64, frames: u64, caller: Option<f64>, other: Option<f64>) {
    for f in 0..frames {
        let at = from + f * 160;
        if let Some(hz) = caller {
            h.push(Channel::Caller, at, &tone(hz, at, 160));
        }
        if let Some(hz) = other {
            h.push(Channel::Other, at, &tone(hz, at, 160));
        }
        h.advance(at + 160);
    }
}

#[test]
fn two_tones_come_back_on_their_own_channels_with_exact_duration() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("calls/2024/call.wav");
    let svc = service();
    let mut h = svc.open(&path);
    talk(&mut h, 0, 150, Some(440.0), Some(1000.0)); // 3 s
    let summary = h.finish(24_000).wait().unwrap();
    assert_eq!(summary.duration_ms, 3000);
    assert_eq!(summary.path, path);
    assert_eq!(summary.bytes, 4096 + 24_000 * BPF);
    let (left, right) = read_back(&path);
    assert_eq!(left.len(), 24_000);
    assert!(rms(&left) > 4000.0 && rms(&right) > 4000.0);
    assert!((430.0..450.0).contains(&pitch(&left)), "{}", pitch(&left));
    assert!(
        (990.0..1010.0).contains(&pitch(&right)),
        "{}",
        pitch(&right)
    );
    assert_eq!(
        left,
        recorded(&tone(440.0, 0, 24_000)),
        "audio is exact at A-law resolution"
    );
    assert_eq!(svc.error_count(), 0);
    assert_eq!(svc.stats().late_samples, 0);
}

#[test]
fn a_pcma_payload_is_recorded_bit_exact_as_its_decoding() {
    // Trunk audio arrives A-law coded and is recorded from the payload itself.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pcma.wav");
    let svc = service();
    let mut h = svc.open(&path);
    let codes: Vec<u8> = (0..=255u8)
        .filter(|&c| c != SILENCE)
        .cycle()
        .take(1600)
        .collect();
    for (k, frame) in codes.chunks(160).enumerate() {
        let at = k as u64 * 160;
        h.push_alaw(Channel::Caller, at, frame);
        h.push(Channel::Other, at, &tone(1000.0, at, 160));
        h.advance(at + 160);
    }
    h.finish(1600).wait().unwrap();
    let (left, right) = read_back(&path);
    let want: Vec<i16> = codes
        .iter()
        .map(|&c| crate::media::g711::alaw_decode(c))
        .collect();
    assert_eq!(left, want);
    assert_eq!(right, recorded(&tone(1000.0, 0, 1600)));
}

#[test]
fn checksum_matches_the_file_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.wav");
    let svc = service();
    let mut h = svc.open(&path);
    talk(&mut h, 0, 37, Some(300.0), None);
    let summary = h.finish(37 * 160).wait().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes.len() as u64, summary.bytes);
    assert_eq!(summary.sha256_hex, hex::encode(Sha256::digest(&bytes)));
    assert_eq!(summary.duration_ms, 740);
}

#[test]
fn a_slow_finalization_does_not_hold_up_other_calls_audio() {
    // A finished file's sync and checksum can take milliseconds on a busy disk; the
    // writer must keep appending everyone else's audio meanwhile (at 1,500 calls it fell
    // behind and discarded audio when it did both).
    let dir = tempfile::tempdir().unwrap();
    let svc = service();
    let (release, hold) = crossbeam_channel::bounded::<()>(0);
    *svc.shared.finalize_hold.lock().unwrap() = Some(hold);
    let mut ended = svc.open(&dir.path().join("ended.wav"));
    let mut live = svc.open(&dir.path().join("live.wav"));
    talk(&mut ended, 0, 50, Some(440.0), None);
    let mut receipt = ended.finish(50 * 160);
    talk(&mut live, 0, 100, Some(600.0), Some(900.0));
    svc.barrier().blocking_recv().unwrap();
    assert!(!receipt.is_ready(), "the finalizer is still held");
    let on_disk = std::fs::metadata(dir.path().join("live.wav"))
        .unwrap()
        .len();
    assert!(
        on_disk >= 4096 + 6 * 1024 * BPF,
        "the live call's shipped blocks are written: {on_disk} bytes"
    );
    *svc.shared.finalize_hold.lock().unwrap() = None;
    drop(release);
    let summary = receipt.wait().unwrap();
    assert_eq!(summary.duration_ms, 1000);
    let summary = live.finish(100 * 160).wait().unwrap();
    assert_eq!(summary.duration_ms, 2000);
}

#[test]
fn recordings_finishing_together_each_get_their_own_receipt() {
    // The end of a busy hour: many calls end at once and are finalized off the writer
    // thread, in turn. Each receipt must describe its own file.
    let dir = tempfile::tempdir().unwrap();
    let svc = service();
    let mut handles: Vec<_> = (0..40u64)
        .map(|i| (i, svc.open(&dir.path().join(format!("r{i}.wav")))))
        .collect();
    for (i, h) in &mut handles {
        talk(h, 0, 10 + *i, Some(200.0 + *i as f64 * 10.0), None);
    }
    let receipts: Vec<_> = handles
        .into_iter()
        .map(|(i, h)| (i, h.finish((10 + i) * 160)))
        .collect();
    for (i, receipt) in receipts {
        let summary = receipt.wait().unwrap();
        let bytes = std::fs::read(dir.path().join(format!("r{i}.wav"))).unwrap();
        assert_eq!(summary.path, dir.path().join(format!("r{i}.wav")));
        assert_eq!(summary.bytes, bytes.len() as u64);
        assert_eq!(summary.sha256_hex, hex::encode(Sha256::digest(&bytes)));
        assert_eq!(summary.duration_ms, (10 + i) * 20);
    }
    assert_eq!(svc.error_count(), 0);
}

#[test]
fn a_silent_side_is_filled_by_advance_and_the_end_is_padded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("one-sided.wav");
    let svc = service();
    let mut h = svc.open(&path);
    // Only the other side (hold music) plays for 2 s; the caller says nothing.
    talk(&mut h, 0, 100, None, Some(500.0));
    // Then nobody sends anything for 1 s: only the clock moves.
    for t in (16_000..24_000).step_by(160) {
        h.advance(t + 160);
    }
    let summary = h.finish(24_000).wait().unwrap();
    assert_eq!(summary.duration_ms, 3000);
    let (left, right) = read_back(&path);
    assert_eq!(right.len(), 24_000);
    assert!(left.iter().all(|&s| s == 0), "caller channel is silence");
    assert!((490.0..510.0).contains(&pitch(&right[..16_000])));
    assert!(right[16_000..].iter().all(|&s| s == 0));
}

#[test]
fn gaps_are_silence_and_late_samples_are_dropped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gaps.wav");
    let svc = service();
    let mut h = svc.open(&path);
    h.push(Channel::Caller, 0, &[1000; 160]);
    // 5 packets lost: next audio at 960.
    h.push(Channel::Caller, 960, &[2000; 160]);
    // A jump of 1.5 s (no advance calls in between), across several blocks.
    h.push(Channel::Caller, 13_000, &[3000; 160]);
    // A packet for the first block arrives far too late: dropped.
    h.push(Channel::Caller, 160, &[4000; 160]);
    // A packet straddling two blocks.
    h.push(Channel::Other, 15_950, &[5000; 100]);
    let summary = h.finish(16_100).wait().unwrap();
    assert_eq!(summary.duration_ms, 16_100 * 1000 / 8000);
    let (left, right) = read_back(&path);
    assert_eq!(left.len(), 16_100);
    assert!(left[..160].iter().all(|&s| s == rec(1000)));
    assert!(
        left[160..960].iter().all(|&s| s == 0),
        "lost packets are silence"
    );
    assert!(left[960..1120].iter().all(|&s| s == rec(2000)));
    assert!(left[1120..13_000].iter().all(|&s| s == 0));
    assert!(left[13_000..13_160].iter().all(|&s| s == rec(3000)));
    assert!(right[15_950..16_050].iter().all(|&s| s == rec(5000)));
    assert!(right[..15_950].iter().all(|&s| s == 0));
    assert_eq!(svc.stats().late_samples, 160);
}

#[test]
fn a_timestamp_far_in_the_future_is_not_hours_of_silence() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jump.wav");
    let svc = service();
    let mut h = svc.open(&path);
    h.push(Channel::Caller, 0, &[1; 160]);
    h.push(Channel::Caller, 3_000_000_000, &[1; 160]);
    let summary = h.finish(160).wait().unwrap();
    assert_eq!(summary.bytes, 4096 + 160 * BPF);
    assert_eq!(svc.stats().ahead_samples, 160);
}

#[test]
fn a_crash_after_a_header_update_leaves_a_playable_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.wav");
    let svc = service();
    let mut h = svc.open(&path);
    // Right after open the file is already a valid, empty WAV.
    svc.barrier().blocking_recv().unwrap();
    assert_eq!(read_back(&path).0.len(), 0);
    // 3.1 s of audio: blocks up to 3.0 s are shipped, the header was updated at 2.0 s.
    talk(&mut h, 0, 155, Some(440.0), Some(1000.0));
    svc.barrier().blocking_recv().unwrap();
    // The process dies now: what is on disk is all that is left.
    let snapshot = dir.path().join("snapshot.wav");
    std::fs::copy(&path, &snapshot).unwrap();
    let (left, right) = read_back(&snapshot);
    assert!(
        left.len() >= 16_000,
        "holds the audio up to the last header update"
    );
    assert_eq!(left[..16_000], recorded(&tone(440.0, 0, 16_000))[..]);
    assert_eq!(right[..16_000], recorded(&tone(1000.0, 0, 16_000))[..]);
    // The handle dropped without finish (the media task died) still closes the file.
    drop(h);
    svc.barrier().blocking_recv().unwrap();
    let (left, _) = read_back(&path);
    assert_eq!(left.len(), 155 * 160);
}

/// What sox, an independent reader, decodes a WAV file to: (encoding it reports, the
/// interleaved 16-bit samples). sox is a test dependency (`scripts/install-test-deps.sh`).
fn sox_decode(path: &Path) -> (String, Vec<i16>) {
    let run = |args: &[&std::ffi::OsStr]| {
        let out = std::process::Command::new(args[0])
            .args(&args[1..])
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "{:?} not runnable ({e}): run scripts/install-test-deps.sh",
                    args[0]
                )
            });
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let p = path.as_os_str();
    let encoding = run(&["soxi".as_ref(), "-e".as_ref(), p]);
    let raw = run(&[
        "sox".as_ref(),
        p,
        "-t".as_ref(),
        "raw".as_ref(),
        "-e".as_ref(),
        "signed-integer".as_ref(),
        "-b".as_ref(),
        "16".as_ref(),
        "-".as_ref(),
    ]);
    let samples = raw
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    (
        String::from_utf8_lossy(&encoding).trim().to_owned(),
        samples,
    )
}

#[test]
fn sox_reads_an_alaw_recording_mid_call_and_finished_as_we_do() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sox.wav");
    let svc = service();
    let mut h = svc.open(&path);
    talk(&mut h, 0, 155, Some(440.0), Some(1000.0));
    svc.barrier().blocking_recv().unwrap();
    // Mid-call (as after a crash): sox plays what the header covers.
    let snapshot = dir.path().join("snapshot.wav");
    std::fs::copy(&path, &snapshot).unwrap();
    let (encoding, mid) = sox_decode(&snapshot);
    assert!(encoding.contains("A-law"), "sox sees {encoding}");
    assert!(mid.len() >= 2 * 16_000, "{} samples", mid.len());
    let ours = wav::decode(&std::fs::read(&snapshot).unwrap()).unwrap();
    assert_eq!(mid, ours.samples);
    h.finish(155 * 160).wait().unwrap();
    let (_, done) = sox_decode(&path);
    let ours = wav::decode(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(done.len(), 2 * 155 * 160);
    assert_eq!(done, ours.samples);
}

#[test]
fn an_unwritable_directory_is_counted_and_reported_without_stopping_the_call() {
    let dir = tempfile::tempdir().unwrap();
    // A path under a regular file cannot be created, even by root.
    std::fs::write(dir.path().join("file"), b"x").unwrap();
    let path = dir.path().join("file/sub/rec.wav");
    let svc = service();
    let mut h = svc.open(&path);
    talk(&mut h, 0, 100, Some(440.0), Some(1000.0));
    let err = h.finish(16_000).wait().unwrap_err();
    assert!(matches!(err, RecordingError::CreateDir { .. }), "{err:?}");
    assert!(err.to_string().contains("rec.wav"));
    assert_eq!(svc.error_count(), 1);
    assert_eq!(svc.error_counter().load(Ordering::Relaxed), 1);
    // The service keeps working for other calls.
    let ok = dir.path().join("ok.wav");
    let mut h = svc.open(&ok);
    talk(&mut h, 0, 10, Some(440.0), None);
    assert!(h.finish(1600).wait().is_ok());
    assert_eq!(svc.error_count(), 1);
}

#[test]
fn a_full_disk_is_an_error_in_the_receipt() {
    let full = Path::new("/dev/full");
    if !full.exists() {
        return;
    }
    let svc = service();
    let mut h = svc.open(full);
    talk(&mut h, 0, 20, Some(440.0), None);
    let err = h.finish(3200).wait().unwrap_err();
    assert!(
        matches!(
            err,
            RecordingError::Create { .. } | RecordingError::Write { .. }
        ),
        "{err:?}"
    );
    assert_eq!(svc.error_count(), 1);
}

#[test]
fn receipt_can_be_awaited() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.wav");
    let svc = service();
    let mut h = svc.open(&path);
    talk(&mut h, 0, 5, Some(440.0), None);
    let receipt = h.finish(800);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let summary = rt.block_on(async { receipt.await }).unwrap();
    assert_eq!(summary.duration_ms, 100);
}

#[test]
fn a_finish_before_the_last_shipped_block_cuts_the_file_to_length() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("short.wav");
    let svc = service();
    let mut h = svc.open(&path);
    talk(&mut h, 0, 50, Some(440.0), None); // 1 s, blocks shipped up to 0.75 s
    let summary = h.finish(4000).wait().unwrap();
    assert_eq!(summary.duration_ms, 500);
    assert_eq!(read_back(&path).0.len(), 4000);
}

#[test]
fn space_is_reserved_ahead_while_recording_and_none_is_kept_past_the_end() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reserved.wav");
    let svc = service();
    let mut h = svc.open(&path);
    talk(&mut h, 0, 150, Some(440.0), Some(1000.0)); // 3 s
    svc.barrier().blocking_recv().unwrap();
    let meta = std::fs::metadata(&path).unwrap();
    assert!(
        meta.blocks() * 512 >= meta.len() + 512 * 1024,
        "mid-call: {} bytes allocated for {} written",
        meta.blocks() * 512,
        meta.len()
    );
    h.finish(150 * 160).wait().unwrap();
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(meta.len(), wav::HEADER_LEN + 150 * 160 * BPF);
    assert!(
        meta.blocks() * 512 <= meta.len().next_multiple_of(4096),
        "finished: {} bytes allocated for {}",
        meta.blocks() * 512,
        meta.len()
    );
    let (left, right) = read_back(&path);
    assert_eq!(left[..], recorded(&tone(440.0, 0, 24_000))[..]);
    assert_eq!(right[..], recorded(&tone(1000.0, 0, 24_000))[..]);
}

#[test]
fn a_fresh_service_records_from_its_pool_without_allocating() {
    let dir = tempfile::tempdir().unwrap();
    let svc = service();
    let mut h = svc.open(&dir.path().join("first.wav"));
    talk(&mut h, 0, 100, Some(440.0), Some(1000.0)); // 2 s = 16 blocks
    h.finish(100 * 160).wait().unwrap();
    let stats = svc.stats();
    assert_eq!(stats.blocks_allocated, 0, "{stats:?}");
    let (left, right) = read_back(&dir.path().join("first.wav"));
    assert_eq!(left.len(), 16_000);
    assert!(left.iter().any(|s| *s != 0) && right.iter().any(|s| *s != 0));
}

#[test]
fn blocks_are_recycled_in_steady_state() {
    let dir = tempfile::tempdir().unwrap();
    let svc = service();
    let mut h = svc.open(&dir.path().join("long.wav"));
    talk(&mut h, 0, 250, Some(440.0), Some(1000.0)); // 5 s = 20 blocks
    svc.barrier().blocking_recv().unwrap();
    let warm = svc.stats().blocks_allocated;
    // 10 s more, at a pace the writer keeps up with (as in a live call).
    for second in 0..10 {
        talk(
            &mut h,
            (250 + second * 50) * 160,
            50,
            Some(440.0),
            Some(1000.0),
        );
        svc.barrier().blocking_recv().unwrap();
    }
    h.finish(750 * 160).wait().unwrap();
    let stats = svc.stats();
    // With the writer keeping up, a few extra blocks at most are ever allocated.
    assert!(stats.blocks_allocated <= warm + 3, "{stats:?}");
    assert_eq!(stats.queued_blocks, 0);
    assert_eq!(stats.blocks_discarded, 0);
}

#[test]
fn header_fields_describe_8khz_stereo_pcm() {
    let h = RecordingFormat::Pcm16.header(8000);
    assert_eq!(&h[0..4], b"RIFF");
    assert_eq!(h.len(), 4096, "one page: audio starts page-aligned");
    assert_eq!(
        u32::from_le_bytes(h[4..8].try_into().unwrap()),
        32_000 + 4088
    );
    assert_eq!(&h[8..16], b"WAVEfmt ");
    assert_eq!(u16::from_le_bytes([h[20], h[21]]), 1, "PCM");
    assert_eq!(u16::from_le_bytes([h[22], h[23]]), 2);
    assert_eq!(u32::from_le_bytes(h[24..28].try_into().unwrap()), 8000);
    assert_eq!(u32::from_le_bytes(h[28..32].try_into().unwrap()), 32_000);
    assert_eq!(&h[36..40], b"JUNK");
    assert_eq!(u32::from_le_bytes(h[40..44].try_into().unwrap()), 4096 - 52);
    assert_eq!(&h[4088..4092], b"data");
    assert_eq!(
        u32::from_le_bytes(h[4092..4096].try_into().unwrap()),
        32_000
    );
}

#[test]
fn a_pcm16_recording_holds_the_same_audio_at_twice_the_size() {
    let dir = tempfile::tempdir().unwrap();
    let files = [RecordingFormat::Alaw, RecordingFormat::Pcm16].map(|format| {
        let path = dir.path().join(format!("{format:?}.wav"));
        let svc = RecordingService::start(RecordingConfig {
            format,
            ..RecordingConfig::default()
        })
        .unwrap();
        let mut h = svc.open(&path);
        talk(&mut h, 0, 100, Some(440.0), None); // 2 s, the other side silent
        let summary = h.finish(16_000).wait().unwrap();
        assert_eq!(summary.duration_ms, 2000);
        assert_eq!(summary.bytes, 4096 + 16_000 * format.bytes_per_frame());
        // hound, a PCM-only reader, opens the PCM file and refuses the A-law one.
        assert_eq!(
            hound::WavReader::open(&path).is_ok(),
            format == RecordingFormat::Pcm16
        );
        read_back(&path)
    });
    assert_eq!(files[0], files[1]);
    assert_eq!(files[0].0, recorded(&tone(440.0, 0, 16_000)));
    assert!(files[1].1.iter().all(|&s| s == 0), "PCM silence is zero");
    let raw = wav::decode(&std::fs::read(dir.path().join("Alaw.wav")).unwrap()).unwrap();
    assert!(
        raw.channel(1).iter().all(|&s| s == 8),
        "A-law silence is its quietest code"
    );
}

#[test]
fn blocks_discarded_when_the_writer_is_too_far_behind_become_silence() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("behind.wav");
    let cfg = RecordingConfig {
        max_queued_blocks: 0,
        ..RecordingConfig::default()
    };
    let svc = RecordingService::start(cfg).unwrap();
    let mut h = svc.open(&path);
    talk(&mut h, 0, 128, Some(440.0), Some(1000.0));
    let summary = h.finish(20_480).wait().unwrap();
    assert_eq!(summary.duration_ms, 2560, "the timeline is kept");
    let (left, _) = read_back(&path);
    assert!(left.iter().all(|&s| s == 0));
    // Every block of the 2.56 s was dropped, none written.
    let blocks = 20_480 / RecordingConfig::default().block_frames as u64;
    assert_eq!(svc.stats().blocks_discarded, blocks);
}

#[test]
fn handles_and_receipts_can_move_into_tasks() {
    fn is_send<T: Send>() {}
    fn is_shared<T: Send + Sync + Clone>() {}
    is_send::<RecordingHandle>();
    is_send::<RecordingReceipt>();
    is_send::<RecordingFuture>();
    is_shared::<RecordingService>();
}

#[test]
fn the_filesystem_is_synced_again_and_again_while_recordings_are_open() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = RecordingConfig {
        sync_interval: std::time::Duration::from_millis(50),
        ..RecordingConfig::default()
    };
    let svc = RecordingService::start(cfg).unwrap();
    let mut a = svc.open(&dir.path().join("a.wav"));
    let mut b = svc.open(&dir.path().join("b.wav"));
    talk(&mut a, 0, 50, Some(440.0), None);
    talk(&mut b, 0, 50, None, Some(1000.0));
    // A sync may take a while when other tests write to the same disk: wait for two.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while svc.stats().syncs < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let stats = svc.stats();
    assert!(stats.syncs >= 2, "the flusher kept syncing: {stats:?}");
    assert_eq!(stats.errors, 0);
    for h in [a, b] {
        let summary = h.finish(8000).wait().unwrap();
        assert_eq!(summary.duration_ms, 1000);
    }
}

/// Which of a file's pages are in the page cache (`mincore` over a read-only mapping).
fn cached_pages(path: &Path) -> Vec<bool> {
    use std::os::fd::AsRawFd;
    let file = std::fs::File::open(path).unwrap();
    let len = file.metadata().unwrap().len() as usize;
    let pages = len.div_ceil(4096);
    let mut vec = vec![0u8; pages];
    // SAFETY: a private read-only mapping of an open file, unmapped before returning;
    // `vec` has one byte per page of it, as mincore requires.
    unsafe {
        let map = libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_SHARED,
            file.as_raw_fd(),
            0,
        );
        assert_ne!(map, libc::MAP_FAILED);
        assert_eq!(libc::mincore(map, len, vec.as_mut_ptr()), 0);
        libc::munmap(map, len);
    }
    vec.iter().map(|v| v & 1 == 1).collect()
}

#[test]
fn synced_audio_leaves_the_page_cache_and_the_checksum_still_covers_it() {
    // Not in the default temp dir: on tmpfs, pages cannot leave memory.
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    let dir = tempfile::tempdir_in(base).unwrap();
    let path = dir.path().join("long.wav");
    let cfg = RecordingConfig {
        sync_interval: std::time::Duration::from_millis(100),
        header_interval: std::time::Duration::from_millis(200),
        ..RecordingConfig::default()
    };
    let svc = RecordingService::start(cfg).unwrap();
    let mut h = svc.open(&path);
    let wait_syncs = |n: u64| {
        let target = svc.stats().syncs + n;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while svc.stats().syncs < target && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    };
    // 10 s of audio; a second more once two syncs have passed marks where it ends, and a
    // second more after two further syncs lets it go.
    talk(&mut h, 0, 500, Some(440.0), Some(1000.0));
    wait_syncs(2);
    talk(&mut h, 500 * 160, 50, Some(440.0), Some(1000.0));
    svc.barrier().blocking_recv().unwrap();
    wait_syncs(2);
    talk(&mut h, 550 * 160, 50, Some(440.0), Some(1000.0));
    svc.barrier().blocking_recv().unwrap();
    let cached = cached_pages(&path);
    assert!(
        cached[0],
        "the header page, rewritten in place, stays cached"
    );
    // 8 s of the first 10 are at least two sync intervals old: none of it is cached.
    let old = &cached[1..1 + (8 * 8000 * BPF / 4096) as usize];
    let still = old.iter().filter(|c| **c).count();
    assert_eq!(
        still,
        0,
        "{still} of {} synced audio pages still cached",
        old.len()
    );

    let summary = h.finish(600 * 160).wait().unwrap();
    assert!(
        cached_pages(&path).iter().all(|c| !c),
        "a finalized recording is not kept cached"
    );
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(summary.sha256_hex, hex::encode(Sha256::digest(&bytes)));
    let (left, right) = read_back(&path);
    assert_eq!(left.len(), 600 * 160);
    assert!((pitch(&left[..8000]) - 440.0).abs() < 10.0);
    assert!((pitch(&right[..8000]) - 1000.0).abs() < 20.0);
}
