//! Media primitive benchmarks: G.711 per 20 ms frame, DTMF receiver per packet, and call
//! recording for 1,500 concurrent calls through the real writer thread into a temp dir.
//!
//! `cargo bench --bench media`. The recording benchmark's iteration is 2 s of audio for all
//! calls (100 ticks of 20 ms, both channels), timed until the writer has drained it; it
//! also prints the share of that time spent on the pushing side (the media tasks' cost),
//! once for PCMA payloads (a bridged trunk call) and once for linear PCM (prompts, PCMU, Opus).

use std::hint::black_box;
use std::time::{Duration, Instant};

use atende::media::dtmf::DtmfReceiver;
use atende::media::g711;
use atende::media::recording::{Channel, RecordingConfig, RecordingHandle, RecordingService};
use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};

const FRAME: usize = 160;
const CALLS: usize = 1500;
const TICKS_PER_ITER: u64 = 100;

fn g711(c: &mut Criterion) {
    let pcm: Vec<i16> = (0..FRAME)
        .map(|i| ((i as f64 * 0.3).sin() * 12_000.0) as i16)
        .collect();
    let mut alaw = [0u8; FRAME];
    g711::encode_alaw(&pcm, &mut alaw);
    let mut ulaw = [0u8; FRAME];
    g711::encode_ulaw(&pcm, &mut ulaw);
    let mut out_pcm = [0i16; FRAME];
    let mut out_bytes = [0u8; FRAME];

    let mut g = c.benchmark_group("g711_frame_160");
    g.throughput(Throughput::Elements(FRAME as u64));
    g.bench_function("decode_alaw", |b| {
        b.iter(|| g711::decode_alaw(black_box(&alaw), &mut out_pcm))
    });
    g.bench_function("decode_ulaw", |b| {
        b.iter(|| g711::decode_ulaw(black_box(&ulaw), &mut out_pcm))
    });
    g.bench_function("encode_alaw", |b| {
        b.iter(|| g711::encode_alaw(black_box(&pcm), &mut out_bytes))
    });
    g.bench_function("encode_ulaw", |b| {
        b.iter(|| g711::encode_ulaw(black_box(&pcm), &mut out_bytes))
    });
    g.bench_function("alaw_to_ulaw", |b| {
        b.iter(|| g711::alaw_to_ulaw(black_box(&alaw), &mut out_bytes))
    });
    g.finish();
}

fn dtmf(c: &mut Criterion) {
    // A realistic stream: 8 presses, each 5 updates + 3 end packets.
    let mut packets = Vec::new();
    for press in 0..8u32 {
        let ts = press * 4000;
        for k in 1..=5u16 {
            let [hi, lo] = (k * 160).to_be_bytes();
            packets.push((ts, [press as u8, 10, hi, lo]));
        }
        for _ in 0..3 {
            packets.push((ts, [press as u8, 0x8a, 3, 0x20]));
        }
    }
    let mut g = c.benchmark_group("dtmf");
    g.throughput(Throughput::Elements(packets.len() as u64));
    g.bench_function("receiver_per_packet", |b| {
        b.iter(|| {
            let mut rx = DtmfReceiver::new();
            for (ts, p) in &packets {
                black_box(rx.on_packet(*ts, p).ok());
            }
        })
    });
    g.finish();
}

/// Ticks pushed before waiting for the writer: 500 ms of audio, two blocks per call. Live
/// calls push in real time; the benchmark pushes far faster, so it lets the writer catch up
/// every half second of audio instead of overflowing its queue.
const TICKS_PER_BURST: u64 = 25;

/// Pushes `TICKS_PER_ITER` ticks of audio for every call, waiting for the writer to drain
/// after each burst; returns the time spent pushing.
fn push_ticks(
    svc: &RecordingService,
    handles: &mut [RecordingHandle],
    first_tick: u64,
    audio: &Audio,
) -> Duration {
    let mut pushing = Duration::ZERO;
    for burst in (first_tick..first_tick + TICKS_PER_ITER).step_by(TICKS_PER_BURST as usize) {
        let start = Instant::now();
        for tick in burst..burst + TICKS_PER_BURST {
            let at = tick * FRAME as u64;
            for h in handles.iter_mut() {
                match audio {
                    Audio::Pcma(caller, other) => {
                        h.push_alaw(Channel::Caller, at, caller);
                        h.push_alaw(Channel::Other, at, other);
                    }
                    Audio::Pcm(caller, other) => {
                        h.push(Channel::Caller, at, caller);
                        h.push(Channel::Other, at, other);
                    }
                }
                h.advance(at + FRAME as u64);
            }
        }
        pushing += start.elapsed();
        // End-to-end: until the writer has written every block shipped so far.
        while svc.stats().queued_blocks > 0 {
            std::thread::yield_now();
        }
    }
    pushing
}

/// One 20 ms frame of each side: as PCMA payloads (a bridged trunk call, recorded from
/// the payload) or as linear PCM (prompts, PCMU and Opus legs, A-law coded on push).
enum Audio {
    Pcma(Vec<u8>, Vec<u8>),
    Pcm(Vec<i16>, Vec<i16>),
}

fn recording(c: &mut Criterion) {
    let caller: Vec<i16> = (0..FRAME).map(|i| (i as i16 - 80) * 100).collect();
    let other: Vec<i16> = (0..FRAME).map(|i| (80 - i as i16) * 90).collect();
    let law = |s: &[i16]| s.iter().map(|&v| g711::alaw_encode(v)).collect();
    let pcma = Audio::Pcma(law(&caller), law(&other));
    recording_of(c, "1500_calls_2s_pcma_to_disk", &pcma);
    recording_of(c, "1500_calls_2s_pcm_to_disk", &Audio::Pcm(caller, other));
}

fn recording_of(c: &mut Criterion, name: &str, audio: &Audio) {
    let dir = tempfile::tempdir().expect("temp dir for the benchmark");
    let svc = RecordingService::start(RecordingConfig::default()).expect("writer starts");
    let mut handles: Vec<RecordingHandle> = (0..CALLS)
        .map(|i| svc.open(&dir.path().join(format!("calls/{i:04}.wav"))))
        .collect();
    let mut tick = 0u64;
    let mut pushing = Duration::ZERO;
    let mut total = Duration::ZERO;

    let mut g = c.benchmark_group("recording");
    g.sampling_mode(SamplingMode::Flat);
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(8));
    g.throughput(Throughput::Elements(
        CALLS as u64 * TICKS_PER_ITER * FRAME as u64 * 2,
    ));
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                pushing += push_ticks(&svc, &mut handles, tick, audio);
                tick += TICKS_PER_ITER;
            }
            let elapsed = start.elapsed();
            total += elapsed;
            elapsed
        })
    });
    g.finish();

    let stats = svc.stats();
    let audio_s = tick as f64 * 0.02;
    eprintln!(
        "recording {name}: {audio_s:.0} s of audio x {CALLS} calls; pushing side {:.0} ns per call per \
         20 ms frame; pushing + writer = {:.1}% of real time; {stats:?}",
        pushing.as_nanos() as f64 / (tick as f64 * CALLS as f64),
        100.0 * total.as_secs_f64() / audio_s,
    );
    let end = tick * FRAME as u64;
    let receipts: Vec<_> = handles.into_iter().map(|h| h.finish(end)).collect();
    let start = Instant::now();
    let ok = receipts.into_iter().filter_map(|r| r.wait().ok()).count();
    eprintln!(
        "recording: finished {ok}/{CALLS} files (final header, fdatasync, SHA-256) in {:.2} s",
        start.elapsed().as_secs_f64()
    );
}

criterion_group!(benches, g711, dtmf, recording);
criterion_main!(benches);
