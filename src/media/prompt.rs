//! Audio prompts: WAV files loaded once at start-up into 8 kHz mono 16-bit PCM, shared by
//! every call, and a cursor that plays one 20 ms frame at a time.
//!
//! Loading does all the conversion (integer or float PCM, any channel count, any rate) so
//! the media path only copies samples. Formats hound cannot read (A-law/µ-law or ADPCM
//! WAVs, truncated files) are errors naming the file; the server refuses to start rather
//! than play garbage. Resampling is our own windowed-sinc filter: prompts are converted
//! once, so a simple, exact-ratio, well-filtered resampler beats pulling in a streaming
//! resampler crate (see `resample`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use thiserror::Error;

/// Rate of everything we play: G.711.
pub const RATE: u32 = 8000;
/// Samples per 20 ms frame at 8 kHz.
pub const FRAME: usize = 160;

#[derive(Debug, Error)]
pub enum PromptError {
    #[error("prompt {path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "prompt {path}: unsupported WAV encoding (only PCM integer or IEEE float WAVs are \
         read; convert A-law/µ-law/ADPCM files with \
         `sox in.wav -e signed-integer -b 16 -c 1 -r 8000 out.wav`)"
    )]
    Unsupported { path: PathBuf },
    #[error("prompt {path}: not a valid WAV file: {source}")]
    Invalid {
        path: PathBuf,
        #[source]
        source: hound::Error,
    },
    #[error("prompt {path}: {problem}")]
    BadFormat {
        path: PathBuf,
        problem: &'static str,
    },
}

/// One prompt: 8 kHz mono 16-bit PCM, cheap to clone.
#[derive(Debug, Clone)]
pub struct Prompt {
    pub name: String,
    pub samples: Arc<[i16]>,
}

impl Prompt {
    /// Loads a WAV file, converting it to 8 kHz mono 16-bit; named after the file stem.
    pub fn load(path: &Path) -> Result<Prompt, PromptError> {
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        Self::load_named(path, name)
    }

    fn load_named(path: &Path, name: String) -> Result<Prompt, PromptError> {
        let samples = read_pcm(path)?;
        Ok(Prompt {
            name,
            samples: samples.into(),
        })
    }

    /// A prompt from samples already at 8 kHz mono (tests, generated tones).
    pub fn from_samples(name: impl Into<String>, samples: Vec<i16>) -> Prompt {
        Prompt {
            name: name.into(),
            samples: samples.into(),
        }
    }

    pub fn duration_ms(&self) -> u64 {
        self.samples.len() as u64 * 1000 / u64::from(RATE)
    }
}

fn hound_error(path: &Path, e: hound::Error) -> PromptError {
    match e {
        hound::Error::IoError(source) => PromptError::Io {
            path: path.to_owned(),
            source,
        },
        hound::Error::Unsupported => PromptError::Unsupported {
            path: path.to_owned(),
        },
        other => PromptError::Invalid {
            path: path.to_owned(),
            source: other,
        },
    }
}

fn read_pcm(path: &Path) -> Result<Vec<i16>, PromptError> {
    let err = |e| hound_error(path, e);
    let reader = hound::WavReader::open(path).map_err(err)?;
    let spec = reader.spec();
    let bad = |problem| PromptError::BadFormat {
        path: path.to_owned(),
        problem,
    };
    if spec.channels == 0 {
        return Err(bad("zero channels"));
    }
    if spec.sample_rate == 0 {
        return Err(bad("zero sample rate"));
    }
    if spec.sample_format == hound::SampleFormat::Int
        && spec.bits_per_sample == 16
        && spec.channels == 1
        && spec.sample_rate == RATE
    {
        return reader
            .into_samples::<i16>()
            .collect::<Result<_, _>>()
            .map_err(err);
    }
    // Everything else goes through f32 in [-1, 1]: downmix, resample, requantize.
    let channels = usize::from(spec.channels);
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader
            .into_samples::<f32>()
            .collect::<Result<_, _>>()
            .map_err(err)?,
        hound::SampleFormat::Int => {
            if !(1..=32).contains(&spec.bits_per_sample) {
                return Err(bad("integer samples wider than 32 bits"));
            }
            let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f64;
            reader
                .into_samples::<i32>()
                .map(|s| s.map(|v| (f64::from(v) * scale) as f32))
                .collect::<Result<_, _>>()
                .map_err(err)?
        }
    };
    let mono: Vec<f32> = interleaved
        .chunks_exact(channels)
        .map(|frame| frame.iter().sum::<f32>() / channels as f32)
        .collect();
    let at_rate = if spec.sample_rate == RATE {
        mono
    } else {
        resample(&mono, spec.sample_rate, RATE)
    };
    Ok(at_rate.iter().map(|&x| to_i16(x)).collect())
}

fn to_i16(x: f32) -> i16 {
    let v = (f64::from(x) * 32768.0).round();
    v.clamp(f64::from(i16::MIN), f64::from(i16::MAX)) as i16
}

/// Zero crossings of the sinc kernel on each side, at the output's bandwidth. 16 gives a
/// transition band of a few hundred Hz under 4 kHz and, with a Blackman window, ~70 dB of
/// stop-band rejection — below G.711's own quantization noise.
const ZERO_CROSSINGS: f64 = 16.0;
/// Pass band as a share of the lower Nyquist frequency; the rest is the transition band.
const PASS: f64 = 0.92;

/// Band-limited resampling by direct evaluation of a Blackman-windowed sinc at each output
/// instant. O(len × taps) — fine for prompts converted once at start-up (a 30 s 48 kHz
/// file takes tens of milliseconds in release builds).
fn resample(input: &[f32], from: u32, to: u32) -> Vec<f32> {
    if input.is_empty() {
        return Vec::new();
    }
    let ratio = f64::from(to) / f64::from(from);
    // Cutoff in cycles per input sample: the lower of the two Nyquist frequencies.
    let cutoff = 0.5 * ratio.min(1.0) * PASS;
    let half_width = ZERO_CROSSINGS / (2.0 * cutoff);
    let out_len = (input.len() as u64 * u64::from(to)).div_ceil(u64::from(from)) as usize;
    let last = input.len() as i64 - 1;
    let mut out = Vec::with_capacity(out_len);
    for n in 0..out_len {
        let t = n as f64 * f64::from(from) / f64::from(to);
        let lo = ((t - half_width).ceil() as i64).max(0);
        let hi = ((t + half_width).floor() as i64).min(last);
        let mut acc = 0.0f64;
        for k in lo..=hi {
            let d = t - k as f64;
            acc += f64::from(input[k as usize]) * kernel(d, cutoff, half_width);
        }
        out.push(acc as f32);
    }
    out
}

fn kernel(d: f64, cutoff: f64, half_width: f64) -> f64 {
    use std::f64::consts::PI;
    let x = 2.0 * cutoff * d;
    let sinc = if x.abs() < 1e-12 {
        1.0
    } else {
        (PI * x).sin() / (PI * x)
    };
    let w = d / half_width; // -1..1
    let blackman = 0.42 + 0.5 * (PI * w).cos() + 0.08 * (2.0 * PI * w).cos();
    2.0 * cutoff * sinc * blackman
}

/// Every prompt under a directory, named by relative path without extension
/// ("pt-BR/welcome").
#[derive(Debug, Default, Clone)]
pub struct PromptLibrary {
    prompts: HashMap<String, Prompt>,
}

impl PromptLibrary {
    /// Loads every `.wav` under `dir` (recursively). Other files are ignored; one bad WAV
    /// fails the whole load with an error naming it.
    pub fn load_dir(dir: &Path) -> Result<Self, PromptError> {
        let mut files = Vec::new();
        collect_wavs(dir, &mut files)?;
        files.sort();
        let mut prompts = HashMap::with_capacity(files.len());
        for path in files {
            let name = prompt_name(dir, &path);
            let prompt = Prompt::load_named(&path, name.clone())?;
            prompts.insert(name, prompt);
        }
        Ok(PromptLibrary { prompts })
    }

    pub fn get(&self, name: &str) -> Option<&Prompt> {
        self.prompts.get(name)
    }

    pub fn insert(&mut self, prompt: Prompt) {
        self.prompts.insert(prompt.name.clone(), prompt);
    }

    /// Prompt names, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.prompts.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    pub fn len(&self) -> usize {
        self.prompts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.prompts.is_empty()
    }
}

fn collect_wavs(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), PromptError> {
    let io = |source| PromptError::Io {
        path: dir.to_owned(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.is_dir() {
            collect_wavs(&path, out)?;
        } else if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("wav"))
        {
            out.push(path);
        }
    }
    Ok(())
}

/// "pt-BR/welcome" for `<dir>/pt-BR/welcome.wav`, with `/` on every platform.
fn prompt_name(dir: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(dir).unwrap_or(path).with_extension("");
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Plays a prompt 20 ms at a time, optionally looping (hold music).
#[derive(Debug, Clone)]
pub struct PromptCursor {
    samples: Arc<[i16]>,
    pos: usize,
    looping: bool,
}

impl PromptCursor {
    pub fn new(prompt: &Prompt, looping: bool) -> Self {
        PromptCursor {
            samples: prompt.samples.clone(),
            pos: 0,
            looping,
        }
    }

    /// Fills `out` with the next samples; returns how many came from the prompt. Any rest
    /// of `out` is silence. A return below `out.len()` means the prompt has ended (never
    /// for a looping non-empty prompt).
    pub fn fill(&mut self, out: &mut [i16]) -> usize {
        let mut filled = 0;
        while filled < out.len() {
            let left = self.samples.len() - self.pos;
            if left == 0 {
                if self.looping && !self.samples.is_empty() {
                    self.pos = 0;
                    continue;
                }
                break;
            }
            let take = left.min(out.len() - filled);
            out[filled..filled + take].copy_from_slice(&self.samples[self.pos..self.pos + take]);
            self.pos += take;
            filled += take;
        }
        out[filled..].fill(0);
        filled
    }

    /// True once a non-looping prompt has been played to the end.
    pub fn is_finished(&self) -> bool {
        (!self.looping || self.samples.is_empty()) && self.pos >= self.samples.len()
    }

    pub fn rewind(&mut self) {
        self.pos = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_wav(path: &Path, spec: hound::WavSpec, seconds: f64, freq: f64) {
        let mut w = hound::WavWriter::create(path, spec).unwrap();
        let frames = (seconds * f64::from(spec.sample_rate)) as usize;
        for i in 0..frames {
            let v = 0.5
                * (2.0 * std::f64::consts::PI * freq * i as f64 / f64::from(spec.sample_rate))
                    .sin();
            for _ in 0..spec.channels {
                match (spec.sample_format, spec.bits_per_sample) {
                    (hound::SampleFormat::Float, _) => w.write_sample(v as f32).unwrap(),
                    (_, 8) => w.write_sample((v * 127.0) as i8).unwrap(),
                    (_, 16) => w.write_sample((v * 32767.0) as i16).unwrap(),
                    (_, bits) => w
                        .write_sample((v * ((1i64 << (bits - 1)) - 1) as f64) as i32)
                        .unwrap(),
                }
            }
        }
        w.finalize().unwrap();
    }

    fn spec(channels: u16, rate: u32, bits: u16, float: bool) -> hound::WavSpec {
        hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: bits,
            sample_format: if float {
                hound::SampleFormat::Float
            } else {
                hound::SampleFormat::Int
            },
        }
    }

    /// RMS and the frequency estimated from zero crossings.
    fn analyse(s: &[i16]) -> (f64, f64) {
        let rms = (s.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / s.len() as f64).sqrt();
        let crossings = s.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count();
        (rms, crossings as f64 / 2.0 / (s.len() as f64 / 8000.0))
    }

    #[test]
    fn native_format_loads_as_is() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("beep.wav");
        write_wav(&p, spec(1, 8000, 16, false), 0.5, 440.0);
        let prompt = Prompt::load(&p).unwrap();
        assert_eq!(prompt.name, "beep");
        assert_eq!(prompt.samples.len(), 4000);
        assert_eq!(prompt.duration_ms(), 500);
    }

    #[test]
    fn other_formats_are_converted_to_8khz_mono_keeping_pitch_and_level() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            spec(2, 44_100, 16, false),
            spec(1, 48_000, 24, false),
            spec(2, 16_000, 32, false),
            spec(1, 22_050, 8, false),
            spec(6, 48_000, 32, true),
            spec(1, 8000, 32, true),
            spec(1, 11_025, 16, false),
        ];
        for (i, s) in cases.into_iter().enumerate() {
            let p = dir.path().join(format!("c{i}.wav"));
            write_wav(&p, s, 1.0, 440.0);
            let prompt = Prompt::load(&p).unwrap_or_else(|e| panic!("{s:?}: {e}"));
            let n = prompt.samples.len();
            assert!((7999..=8001).contains(&n), "{s:?}: {n} samples");
            let (rms, freq) = analyse(&prompt.samples[400..7600]);
            // 0.5 full scale sine: RMS ≈ 11585.
            assert!((10_500.0..12_500.0).contains(&rms), "{s:?}: rms {rms}");
            assert!((435.0..445.0).contains(&freq), "{s:?}: freq {freq}");
        }
    }

    #[test]
    fn downsampling_removes_what_8khz_cannot_carry() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("high.wav");
        // 6 kHz would alias to 2 kHz if not filtered.
        write_wav(&p, spec(1, 48_000, 16, false), 0.5, 6000.0);
        let prompt = Prompt::load(&p).unwrap();
        let (rms, _) = analyse(&prompt.samples[200..3800]);
        assert!(rms < 50.0, "alias energy rms {rms}");
    }

    #[test]
    fn alaw_wav_is_a_clear_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("alaw.wav");
        // Minimal WAVE_FORMAT_ALAW (6) file: 8-bit, 8 kHz, mono, 4 samples.
        let mut b = Vec::new();
        b.extend_from_slice(b"RIFF");
        b.extend_from_slice(&(36u32 + 4).to_le_bytes());
        b.extend_from_slice(b"WAVEfmt ");
        b.extend_from_slice(&16u32.to_le_bytes());
        for v in [6u16, 1] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(&8000u32.to_le_bytes());
        b.extend_from_slice(&8000u32.to_le_bytes());
        for v in [1u16, 8] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(b"data");
        b.extend_from_slice(&4u32.to_le_bytes());
        b.extend_from_slice(&[0xD5; 4]);
        std::fs::write(&p, b).unwrap();
        let err = Prompt::load(&p).unwrap_err();
        assert!(matches!(err, PromptError::Unsupported { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(
            msg.contains("alaw.wav") && msg.contains("unsupported"),
            "{msg}"
        );
    }

    #[test]
    fn library_names_prompts_by_relative_path_and_rejects_a_bad_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("pt-BR/ivr")).unwrap();
        write_wav(
            &dir.path().join("pt-BR/welcome.wav"),
            spec(1, 8000, 16, false),
            0.1,
            440.0,
        );
        write_wav(
            &dir.path().join("pt-BR/ivr/menu.WAV"),
            spec(2, 16_000, 16, false),
            0.1,
            440.0,
        );
        std::fs::write(dir.path().join("README.txt"), "not audio").unwrap();
        let lib = PromptLibrary::load_dir(dir.path()).unwrap();
        assert_eq!(lib.names(), ["pt-BR/ivr/menu", "pt-BR/welcome"]);
        assert_eq!(lib.get("pt-BR/welcome").unwrap().samples.len(), 800);
        assert_eq!(lib.get("pt-BR/welcome").unwrap().name, "pt-BR/welcome");
        assert!(lib.get("welcome").is_none());

        std::fs::write(dir.path().join("pt-BR/broken.wav"), b"RIFF\0\0").unwrap();
        let err = PromptLibrary::load_dir(dir.path()).unwrap_err();
        assert!(err.to_string().contains("broken.wav"), "{err}");
        let missing = PromptLibrary::load_dir(&dir.path().join("nope")).unwrap_err();
        assert!(missing.to_string().contains("nope"), "{missing}");
    }

    #[test]
    fn shipped_prompts_load_as_8khz_mono() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts");
        let lib = PromptLibrary::load_dir(&dir).unwrap();
        for name in ["pt-BR/welcome", "pt-BR/hold-music"] {
            let p = lib.get(name).unwrap_or_else(|| panic!("{name} missing"));
            assert!(p.duration_ms() > 3000, "{name}: {} ms", p.duration_ms());
            let reader = hound::WavReader::open(dir.join(format!("{name}.wav"))).unwrap();
            let spec = reader.spec();
            assert_eq!(
                (spec.sample_rate, spec.channels, spec.bits_per_sample),
                (8000, 1, 16)
            );
        }
    }

    #[test]
    fn cursor_plays_frames_then_reports_the_end() {
        let prompt = Prompt::from_samples("p", (1..=400).collect());
        let mut c = PromptCursor::new(&prompt, false);
        let mut frame = [0i16; FRAME];
        assert_eq!(c.fill(&mut frame), 160);
        assert_eq!(frame[0], 1);
        assert_eq!(c.fill(&mut frame), 160);
        assert!(!c.is_finished());
        assert_eq!(c.fill(&mut frame), 80);
        assert_eq!((frame[79], frame[80], frame[159]), (400, 0, 0));
        assert!(c.is_finished());
        assert_eq!(c.fill(&mut frame), 0);
        let empty = Prompt::from_samples("e", vec![]);
        let mut e = PromptCursor::new(&empty, true);
        assert_eq!(e.fill(&mut frame), 0);
        assert!(e.is_finished(), "an empty looping prompt ends at once");
    }

    #[test]
    fn looping_cursor_wraps_without_a_gap() {
        let prompt = Prompt::from_samples("m", (0..100).collect());
        let mut c = PromptCursor::new(&prompt, true);
        let mut frame = [0i16; FRAME];
        for round in 0..10 {
            assert_eq!(c.fill(&mut frame), 160);
            let start = (round * 160 % 100) as i16;
            assert_eq!(frame[0], start);
            assert!(!c.is_finished());
        }
    }
}
