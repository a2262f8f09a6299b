//! Audio prompts: WAV files loaded at start-up into 8 kHz mono 16-bit PCM, shared by
//! every call, and a cursor that plays one 20 ms frame at a time.
//!
//! The library is live: an upload (`save`) or a deletion (`delete`) over the API writes
//! the file atomically and swaps the entry in memory, so the next call hears it without a
//! restart; a call that already took a `Prompt` keeps playing its own samples (an `Arc`).
//! Files copied in by hand are brought in by `prompt_watch`; each entry remembers the
//! [`FileStamp`] of the file it came from, so a file the library wrote or read itself is
//! never decoded twice. The map sits behind a `RwLock` held only for one lookup or
//! insert, never across `.await`.
//!
//! Loading does all the conversion (integer or float PCM, any channel count, any rate) so
//! the media path only copies samples. Formats hound cannot read (A-law/µ-law or ADPCM
//! WAVs, truncated files) are errors naming the file; the server refuses to start rather
//! than play garbage. Resampling is our own windowed-sinc filter: prompts are converted
//! once, so a simple, exact-ratio, well-filtered resampler beats pulling in a streaming
//! resampler crate (see `resample`).

use std::collections::{BTreeMap, HashMap};
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

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
    #[error("prompt {path}: the WAV file is truncated (its header promises more audio)")]
    Truncated { path: PathBuf },
    #[error("prompt {path}: the recording holds no audio")]
    Empty { path: PathBuf },
    #[error(
        "prompt name {0:?} is not allowed: use letters, digits, `_`, `-` and `/` between \
         non-empty parts (e.g. pt-BR/ura/aviso), without `..` or a leading `/`"
    )]
    BadName(String),
    #[error("prompt {0}: no such prompt")]
    NotFound(String),
    #[error("the prompt library has no directory to store uploads in")]
    NoDirectory,
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
        let err = |e| hound_error(path, e);
        let reader = hound::WavReader::open(path).map_err(err)?;
        let samples = read_pcm(reader, path)?;
        Ok(Prompt {
            name,
            samples: samples.into(),
        })
    }

    /// Loads a WAV file copied into the library by hand, as strictly as an upload: a
    /// truncated file or one without audio is an error naming the file (at start-up the
    /// whole directory is read leniently by `load_dir`). The file is read whole first, so
    /// that running out of bytes while decoding can only mean a file cut short (hound
    /// does not tell a short read from an IO fault).
    pub fn load_strict(path: &Path, name: String) -> Result<Prompt, PromptError> {
        let bytes = std::fs::read(path).map_err(|source| PromptError::Io {
            path: path.to_owned(),
            source,
        })?;
        decode(&bytes, path, name)
    }

    /// Decodes an uploaded WAV (any PCM or float format) into a prompt called `name`.
    /// A short read is `Truncated` and a file without samples `Empty`.
    pub fn from_wav_bytes(name: &str, bytes: &[u8]) -> Result<Prompt, PromptError> {
        decode(bytes, Path::new(name), name.to_owned())
    }

    /// The prompt as an 8 kHz mono 16-bit WAV file's bytes.
    pub fn to_wav_bytes(&self) -> Result<Vec<u8>, PromptError> {
        let path = Path::new(&self.name);
        let err = |e| hound_error(path, e);
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: RATE,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut out = Cursor::new(Vec::with_capacity(44 + 2 * self.samples.len()));
        let mut w = hound::WavWriter::new(&mut out, spec).map_err(err)?;
        for &s in self.samples.iter() {
            w.write_sample(s).map_err(err)?;
        }
        w.finalize().map_err(err)?;
        Ok(out.into_inner())
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

/// A whole WAV file's bytes into prompt `name`; errors name `path`. An IO error can only
/// be running out of bytes (`Truncated`), and a file without samples is `Empty`.
fn decode(bytes: &[u8], path: &Path, name: String) -> Result<Prompt, PromptError> {
    let cut_short = |e| match e {
        PromptError::Io { .. } => PromptError::Truncated {
            path: path.to_owned(),
        },
        other => other,
    };
    let empty = || PromptError::Empty {
        path: path.to_owned(),
    };
    if bytes.is_empty() {
        return Err(empty());
    }
    let reader =
        hound::WavReader::new(Cursor::new(bytes)).map_err(|e| cut_short(hound_error(path, e)))?;
    let samples = read_pcm(reader, path).map_err(cut_short)?;
    if samples.is_empty() {
        return Err(empty());
    }
    Ok(Prompt {
        name,
        samples: samples.into(),
    })
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

fn read_pcm<R: std::io::Read>(
    reader: hound::WavReader<R>,
    path: &Path,
) -> Result<Vec<i16>, PromptError> {
    let err = |e| hound_error(path, e);
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

/// Largest phase table kept (phases × taps weights); odd rates with a tiny common divisor
/// with 8000 compute each output's weights on the fly instead.
const MAX_TABLE: usize = 1 << 21;

/// Band-limited resampling with a Blackman-windowed sinc, polyphase: output `n` sits at
/// input position `n·from/to`, whose fraction takes only `to/gcd` values, so the weights
/// of each fraction are computed once. A 4-minute 48 kHz upload is ~400 M multiply-adds
/// (a fraction of a second in release builds).
fn resample(input: &[f32], from: u32, to: u32) -> Vec<f32> {
    if input.is_empty() {
        return Vec::new();
    }
    let ratio = f64::from(to) / f64::from(from);
    // Cutoff in cycles per input sample: the lower of the two Nyquist frequencies.
    let cutoff = 0.5 * ratio.min(1.0) * PASS;
    let half_width = ZERO_CROSSINGS / (2.0 * cutoff);
    let g = gcd(from, to);
    let (step, phases) = (u64::from(from / g), u64::from(to / g));
    let taps = 2 * half_width.ceil() as usize + 2;
    let table: Option<Vec<(i64, Vec<f32>)>> = (phases as usize * taps <= MAX_TABLE).then(|| {
        (0..phases)
            .map(|ph| phase_weights(ph as f64 / phases as f64, cutoff, half_width))
            .collect()
    });
    let out_len = (input.len() as u64 * u64::from(to)).div_ceil(u64::from(from)) as usize;
    let len = input.len() as i64;
    let mut out = Vec::with_capacity(out_len);
    let mut scratch;
    for n in 0..out_len {
        let pos = n as u64 * step;
        let i0 = (pos / phases) as i64;
        let ph = pos % phases;
        let (j_lo, weights) = match &table {
            Some(t) => (t[ph as usize].0, t[ph as usize].1.as_slice()),
            None => {
                scratch = phase_weights(ph as f64 / phases as f64, cutoff, half_width);
                (scratch.0, scratch.1.as_slice())
            }
        };
        // Input indices i0 + j_lo + w for each weight w, clipped to the input.
        let first = i0 + j_lo;
        let skip = (-first).max(0) as usize;
        let end = (first + weights.len() as i64).min(len);
        let start = first.max(0);
        let acc: f32 = if end > start {
            let xs = &input[start as usize..end as usize];
            xs.iter().zip(&weights[skip..]).map(|(x, w)| x * w).sum()
        } else {
            0.0
        };
        out.push(acc);
    }
    out
}

/// The weights for an output at fraction `frac` past an input sample: the first tap's
/// offset from that sample, then one weight per tap.
fn phase_weights(frac: f64, cutoff: f64, half_width: f64) -> (i64, Vec<f32>) {
    let lo = (frac - half_width).ceil() as i64;
    let hi = (frac + half_width).floor() as i64;
    let w = (lo..=hi)
        .map(|j| kernel(frac - j as f64, cutoff, half_width) as f32)
        .collect();
    (lo, w)
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.max(1)
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

/// What a prompt's file looked like when the library read or wrote it. A file whose stamp
/// is unchanged holds the same audio (a replacement changes the size, the modification
/// time or, renamed over it, the inode), so it need not be decoded again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    len: u64,
    modified: Option<SystemTime>,
    inode: u64,
}

impl FileStamp {
    /// The stamp of the file at `path` now (`None` if it cannot be read).
    pub fn of(path: &Path) -> Option<FileStamp> {
        let m = std::fs::metadata(path).ok()?;
        Some(FileStamp {
            len: m.len(),
            modified: m.modified().ok(),
            inode: std::os::unix::fs::MetadataExt::ino(&m),
        })
    }
}

#[derive(Debug, Clone)]
struct Entry {
    prompt: Prompt,
    /// The file it came from; `None` for a prompt put in memory only.
    file: Option<FileStamp>,
}

/// Every prompt under a directory, named by relative path without extension
/// ("pt-BR/welcome"); uploads, deletions and files copied in change it while calls run.
#[derive(Debug, Default)]
pub struct PromptLibrary {
    dir: Option<PathBuf>,
    prompts: RwLock<HashMap<String, Entry>>,
}

impl Clone for PromptLibrary {
    /// A snapshot: later changes to either copy do not show in the other.
    fn clone(&self) -> Self {
        PromptLibrary {
            dir: self.dir.clone(),
            prompts: RwLock::new(self.read().clone()),
        }
    }
}

impl PromptLibrary {
    /// Loads every `.wav` under `dir` (recursively). Other files are ignored; one bad WAV
    /// fails the whole load with an error naming it. Uploads are stored under `dir`.
    pub fn load_dir(dir: &Path) -> Result<Self, PromptError> {
        let files = library_files(dir)?;
        let mut prompts = HashMap::with_capacity(files.len());
        for (name, path) in files {
            // Stamped before reading: a file changed meanwhile looks changed afterwards.
            let file = FileStamp::of(&path);
            let prompt = Prompt::load_named(&path, name.clone())?;
            prompts.insert(name, Entry { prompt, file });
        }
        Ok(PromptLibrary {
            dir: Some(dir.to_owned()),
            prompts: RwLock::new(prompts),
        })
    }

    /// Where the prompts live (`None` for a library built in memory).
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Entry>> {
        // A panicking writer left a whole map: each insert or remove is one operation.
        self.prompts.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Entry>> {
        self.prompts.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The prompt as it is now (cheap: the samples are shared).
    pub fn get(&self, name: &str) -> Option<Prompt> {
        self.read().get(name).map(|e| e.prompt.clone())
    }

    pub fn insert(&mut self, prompt: Prompt) {
        self.put(prompt);
    }

    /// Adds or replaces a prompt in memory only (see `save` for uploads).
    pub fn put(&self, prompt: Prompt) {
        self.put_stamped(prompt, None);
    }

    fn put_stamped(&self, prompt: Prompt, file: Option<FileStamp>) {
        self.write()
            .insert(prompt.name.clone(), Entry { prompt, file });
    }

    /// The stamp of the file a prompt was last read from or written to (`None` for an
    /// unknown prompt or one held in memory only).
    pub fn file_stamp(&self, name: &str) -> Option<FileStamp> {
        self.read().get(name).and_then(|e| e.file)
    }

    /// The prompts that came from files, with their stamps, sorted by name.
    pub fn files(&self) -> Vec<(String, FileStamp)> {
        let mut v: Vec<(String, FileStamp)> = self
            .read()
            .iter()
            .filter_map(|(n, e)| e.file.map(|f| (n.clone(), f)))
            .collect();
        v.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Puts a prompt read from a file with stamp `file`, unless the entry changed since
    /// its stamp was `expected` (an upload got there first: the newer audio stays).
    /// Whether it was put.
    pub fn put_from_file(
        &self,
        prompt: Prompt,
        file: FileStamp,
        expected: Option<FileStamp>,
    ) -> bool {
        let mut map = self.write();
        if map.get(&prompt.name).and_then(|e| e.file) != expected {
            return false;
        }
        map.insert(
            prompt.name.clone(),
            Entry {
                prompt,
                file: Some(file),
            },
        );
        true
    }

    /// Drops a prompt whose file is gone, unless its entry changed since its stamp was
    /// `expected`. Whether it was dropped.
    pub fn forget_file(&self, name: &str, expected: FileStamp) -> bool {
        let mut map = self.write();
        if map.get(name).and_then(|e| e.file) != Some(expected) {
            return false;
        }
        map.remove(name);
        true
    }

    /// Prompt names, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.read().keys().cloned().collect();
        names.sort_unstable();
        names
    }

    /// Every prompt, sorted by name.
    pub fn list(&self) -> Vec<Prompt> {
        let mut all: Vec<Prompt> = self.read().values().map(|e| e.prompt.clone()).collect();
        all.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        all
    }

    pub fn len(&self) -> usize {
        self.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    /// Stores an uploaded prompt as `<dir>/<name>.wav` (8 kHz mono 16-bit), replacing any
    /// file of that name atomically (a temporary file renamed over it), then makes new
    /// calls hear it. Returns the file written.
    pub fn save(&self, prompt: Prompt) -> Result<PathBuf, PromptError> {
        check_name(&prompt.name)?;
        let dir = self.dir.as_deref().ok_or(PromptError::NoDirectory)?;
        let path = dir.join(format!("{}.wav", prompt.name));
        let parent = path.parent().unwrap_or(dir);
        let io = |source| PromptError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(parent).map_err(io)?;
        let bytes = prompt.to_wav_bytes()?;
        static UPLOADS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = UPLOADS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = parent.join(format!(".upload-{}-{n}.tmp", std::process::id()));
        let written = (|| {
            let mut f = std::fs::File::create(&tmp)?;
            std::io::Write::write_all(&mut f, &bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)
        })();
        if let Err(source) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(io(source));
        }
        // The watcher will see the rename; the stamp tells it this audio is already live.
        self.put_stamped(prompt, FileStamp::of(&path));
        Ok(path)
    }

    /// Removes a prompt's file and entry; calls already playing it finish it.
    pub fn delete(&self, name: &str) -> Result<(), PromptError> {
        check_name(name)?;
        if self.read().get(name).is_none() {
            return Err(PromptError::NotFound(name.to_owned()));
        }
        if let Some(dir) = &self.dir {
            for ext in ["wav", "WAV", "Wav"] {
                let path = dir.join(format!("{name}.{ext}"));
                match std::fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(source) => return Err(PromptError::Io { path, source }),
                }
            }
        }
        self.write().remove(name);
        Ok(())
    }
}

/// Whether `name` may name a prompt file under the library: `/`-separated parts of
/// `[A-Za-z0-9_-]`, none empty, so it can never leave the directory.
pub fn check_name(name: &str) -> Result<(), PromptError> {
    let part_ok = |p: &str| {
        !p.is_empty()
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    if name.len() <= 200 && name.split('/').all(part_ok) {
        Ok(())
    } else {
        Err(PromptError::BadName(name.to_owned()))
    }
}

/// The prompt files under `dir` by prompt name, as `load_dir` reads them: every `.wav`
/// (any case) in any sub-directory; of two files with one name (`a.wav`, `a.WAV`) the
/// last in path order.
pub fn library_files(dir: &Path) -> Result<BTreeMap<String, PathBuf>, PromptError> {
    let mut files = Vec::new();
    collect_wavs(dir, &mut files)?;
    files.sort();
    Ok(files
        .into_iter()
        .map(|path| (prompt_name(dir, &path), path))
        .collect())
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

    fn wav_bytes(spec: hound::WavSpec, seconds: f64) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.wav");
        write_wav(&p, spec, seconds, 440.0);
        std::fs::read(p).unwrap()
    }

    #[test]
    fn uploads_are_decoded_converted_and_bad_ones_named() {
        let ok =
            Prompt::from_wav_bytes("pt-BR/a", &wav_bytes(spec(2, 44_100, 24, false), 0.5)).unwrap();
        assert_eq!(ok.name, "pt-BR/a");
        assert!((3999..=4001).contains(&ok.samples.len()));
        let good = wav_bytes(spec(1, 8000, 16, false), 0.5);
        let silent = wav_bytes(spec(1, 8000, 16, false), 0.0);
        type Expect = fn(&PromptError) -> bool;
        let cases: [(&[u8], Expect); 5] = [
            (b"", |e| matches!(e, PromptError::Empty { .. })),
            (b"hello, not a wav at all", |e| {
                matches!(e, PromptError::Invalid { .. })
            }),
            (&good[..good.len() / 2], |e| {
                matches!(e, PromptError::Truncated { .. })
            }),
            (&good[..44], |e| matches!(e, PromptError::Truncated { .. })),
            (&silent, |e| matches!(e, PromptError::Empty { .. })),
        ];
        for (bytes, expected) in cases {
            let e = Prompt::from_wav_bytes("pt-BR/x", bytes).unwrap_err();
            assert!(expected(&e), "{} bytes: {e:?}", bytes.len());
            assert!(e.to_string().contains("pt-BR/x"), "{e}");
        }
    }

    #[test]
    fn prompt_names_stay_inside_the_library() {
        for ok in ["pt-BR/ura/aviso", "a", "x_y-z/1"] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "../etc/passwd",
            "/abs",
            "a//b",
            "a/",
            "a/../b",
            "a.wav",
            "a b",
            "é",
            "a\\b",
        ] {
            assert!(
                matches!(check_name(bad), Err(PromptError::BadName(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn save_replaces_atomically_and_delete_removes_file_and_entry() {
        let dir = tempfile::tempdir().unwrap();
        let lib = PromptLibrary::load_dir(dir.path()).unwrap();
        assert!(lib.is_empty());
        let first = Prompt::from_samples("pt-BR/aviso", vec![1; 800]);
        let path = lib.save(first).unwrap();
        assert_eq!(path, dir.path().join("pt-BR/aviso.wav"));
        let held_by_a_call = lib.get("pt-BR/aviso").unwrap();
        lib.save(Prompt::from_samples("pt-BR/aviso", vec![2; 1600]))
            .unwrap();
        assert_eq!(lib.get("pt-BR/aviso").unwrap().samples.len(), 1600);
        assert_eq!(
            held_by_a_call.samples.len(),
            800,
            "a call keeps its samples"
        );
        // What is on disk reloads the same, and no temporary file is left.
        let again = PromptLibrary::load_dir(dir.path()).unwrap();
        assert_eq!(again.names(), ["pt-BR/aviso"]);
        assert_eq!(again.get("pt-BR/aviso").unwrap().samples[0], 2);
        let left: Vec<_> = std::fs::read_dir(dir.path().join("pt-BR"))
            .unwrap()
            .collect();
        assert_eq!(left.len(), 1);
        assert!(matches!(
            lib.save(Prompt::from_samples("../x", vec![1])),
            Err(PromptError::BadName(_))
        ));
        lib.delete("pt-BR/aviso").unwrap();
        assert!(lib.get("pt-BR/aviso").is_none());
        assert!(!path.exists());
        assert!(matches!(
            lib.delete("pt-BR/aviso"),
            Err(PromptError::NotFound(_))
        ));
        let memory = PromptLibrary::default();
        assert!(matches!(
            memory.save(Prompt::from_samples("a", vec![1])),
            Err(PromptError::NoDirectory)
        ));
    }

    #[test]
    fn polyphase_matches_direct_evaluation() {
        let input: Vec<f32> = (0..2000)
            .map(|i| ((i * 7919) % 200) as f32 / 100.0 - 1.0)
            .collect();
        for (from, to) in [(44_100, 8000), (48_000, 8000), (7000, 8000), (8001, 8000)] {
            let fast = resample(&input, from, to);
            let ratio = f64::from(to) / f64::from(from);
            let cutoff = 0.5 * ratio.min(1.0) * PASS;
            let hw = ZERO_CROSSINGS / (2.0 * cutoff);
            for (n, y) in fast.iter().enumerate().step_by(37) {
                let t = n as f64 * f64::from(from) / f64::from(to);
                let lo = ((t - hw).ceil() as i64).max(0);
                let hi = ((t + hw).floor() as i64).min(input.len() as i64 - 1);
                let direct: f64 = (lo..=hi)
                    .map(|k| f64::from(input[k as usize]) * kernel(t - k as f64, cutoff, hw))
                    .sum();
                assert!((f64::from(*y) - direct).abs() < 1e-3, "{from}->{to} #{n}");
            }
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
