//! The recordings' WAV layout, in both stored formats, and a reader for them.
//!
//! A recording is stereo 8 kHz WAV with a header exactly one page long: RIFF, `fmt `
//! (and for A-law the `fact` chunk non-PCM formats carry), a `JUNK` chunk as padding (as
//! broadcast WAV does), then the `data` chunk's 8 bytes, so audio starts at byte 4096 and
//! whole-page writes land on page boundaries. The sizes live in the first `FIELDS` bytes
//! and the last 4 of the page, which the writer rewrites in place as the file grows.
//!
//! The reader (`decode`) turns either format back into 16-bit samples: tests, the load
//! harness and the API's PCM download use it, since hound reads PCM only.

use serde::Deserialize;
use thiserror::Error;

use super::RATE;
#[cfg(test)]
use super::SILENCE;

/// Header length: the audio starts here.
pub const HEADER_LEN: u64 = 4096;
/// Where the data chunk's size field sits.
pub(super) const DATA_SIZE_AT: usize = HEADER_LEN as usize - 4;
const CHANNELS: u16 = 2;
/// `fact` chunk's sample count, A-law only.
const FACT_SAMPLES_AT: usize = 46;

/// How a recording's samples are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordingFormat {
    /// G.711 A-law (WAVE_FORMAT_ALAW), one byte a sample: what a PCMA trunk carries,
    /// stored as received, half the size of `pcm16` and no less faithful (every side of
    /// a call is held at A-law's resolution before it is written).
    #[default]
    Alaw,
    /// Linear 16-bit PCM, for players that know nothing else; twice the disk.
    Pcm16,
}

impl RecordingFormat {
    /// Bytes of one stereo frame in the file.
    pub fn bytes_per_frame(self) -> u64 {
        match self {
            RecordingFormat::Alaw => 2,
            RecordingFormat::Pcm16 => 4,
        }
    }

    /// Leading header bytes holding sizes (RIFF size, and the `fact` count for A-law),
    /// rewritten together with the data size.
    pub(super) fn fields_end(self) -> usize {
        match self {
            RecordingFormat::Alaw => FACT_SAMPLES_AT + 4,
            RecordingFormat::Pcm16 => 8,
        }
    }

    /// The page-long header for `frames` stereo frames.
    pub fn header(self, frames: u64) -> [u8; HEADER_LEN as usize] {
        let bpf = self.bytes_per_frame();
        let room = u64::from(u32::MAX - (HEADER_LEN as u32 - 8));
        let data = (frames * bpf).min(room) as u32;
        let frames = data / bpf as u32;
        let rate = RATE as u32;
        let mut h = [0u8; HEADER_LEN as usize];
        let mut at = 0;
        let mut put = |bytes: &[u8]| {
            h[at..at + bytes.len()].copy_from_slice(bytes);
            at += bytes.len();
        };
        put(b"RIFF");
        put(&(data + HEADER_LEN as u32 - 8).to_le_bytes());
        put(b"WAVEfmt ");
        let (fmt_len, tag) = match self {
            RecordingFormat::Alaw => (18u32, 6),
            RecordingFormat::Pcm16 => (16, 1),
        };
        put(&fmt_len.to_le_bytes());
        put_fmt(&mut put, tag, CHANNELS, rate, bpf as u16 / CHANNELS * 8);
        if self == RecordingFormat::Alaw {
            put(&0u16.to_le_bytes()); // cbSize
            put(b"fact");
            put(&4u32.to_le_bytes());
            put(&frames.to_le_bytes());
        }
        // Where the chunks above end: the JUNK chunk pads from there to the data chunk.
        let junk_at: u32 = match self {
            RecordingFormat::Alaw => 50,
            RecordingFormat::Pcm16 => 36,
        };
        let junk = DATA_SIZE_AT as u32 - 4 - junk_at - 8;
        put(b"JUNK");
        put(&junk.to_le_bytes());
        h[DATA_SIZE_AT - 4..DATA_SIZE_AT].copy_from_slice(b"data");
        h[DATA_SIZE_AT..].copy_from_slice(&data.to_le_bytes());
        h
    }
}

/// A WAV file's audio as 16-bit samples.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub format: RecordingFormat,
    pub channels: u16,
    pub sample_rate: u32,
    /// Interleaved samples; for A-law, each code expanded.
    pub samples: Vec<i16>,
}

impl Decoded {
    /// One channel's samples (0 = left, the caller).
    pub fn channel(&self, index: usize) -> Vec<i16> {
        let n = usize::from(self.channels.max(1));
        self.samples
            .iter()
            .skip(index)
            .step_by(n)
            .copied()
            .collect()
    }

    /// Seconds of audio.
    pub fn seconds(&self) -> f64 {
        let frames = self.samples.len() / usize::from(self.channels.max(1));
        frames as f64 / f64::from(self.sample_rate.max(1))
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum WavError {
    #[error("not a RIFF/WAVE file")]
    NotWave,
    #[error("no fmt chunk before the data")]
    NoFormat,
    #[error("no data chunk")]
    NoData,
    #[error("unsupported WAV encoding: format tag {tag}, {bits} bits a sample")]
    Unsupported { tag: u16, bits: u16 },
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Where a WAV file's audio lies and how it is encoded, read from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub format: RecordingFormat,
    pub channels: u16,
    pub sample_rate: u32,
    /// Offset of the first audio byte.
    pub data_at: u64,
    /// Audio bytes the data chunk claims (a file cut short holds fewer).
    pub data_len: u64,
}

impl Layout {
    /// Bytes of one frame (a sample of every channel) as stored.
    pub fn frame_bytes(&self) -> u64 {
        let per_sample = match self.format {
            RecordingFormat::Alaw => 1,
            RecordingFormat::Pcm16 => 2,
        };
        per_sample * u64::from(self.channels.max(1))
    }

    /// Whole frames in a file of `file_len` bytes: what the data chunk claims, or less if
    /// the file is shorter.
    pub fn frames(&self, file_len: u64) -> u64 {
        self.data_len.min(file_len.saturating_sub(self.data_at)) / self.frame_bytes()
    }
}

/// Finds the format and data chunks of a 16-bit PCM or A-law WAV in `head`, its first
/// bytes (the data chunk's header must lie within them; ours is at 4088).
pub fn layout(head: &[u8]) -> Result<Layout, WavError> {
    if head.get(0..4) != Some(b"RIFF") || head.get(8..12) != Some(b"WAVE") {
        return Err(WavError::NotWave);
    }
    let mut at = 12;
    let mut fmt: Option<(u16, u16, u32, u16)> = None;
    while let (Some(id), Some(size)) = (head.get(at..at + 4), u32_at(head, at + 4)) {
        let body = at + 8;
        match id {
            b"fmt " => {
                fmt = Some((
                    u16_at(head, body).ok_or(WavError::NoFormat)?,
                    u16_at(head, body + 2).ok_or(WavError::NoFormat)?,
                    u32_at(head, body + 4).ok_or(WavError::NoFormat)?,
                    u16_at(head, body + 14).ok_or(WavError::NoFormat)?,
                ));
            }
            b"data" => {
                let (tag, channels, sample_rate, bits) = fmt.ok_or(WavError::NoFormat)?;
                let format = match (tag, bits) {
                    (1, 16) => RecordingFormat::Pcm16,
                    (6, 8) => RecordingFormat::Alaw,
                    (tag, bits) => return Err(WavError::Unsupported { tag, bits }),
                };
                return Ok(Layout {
                    format,
                    channels,
                    sample_rate,
                    data_at: body as u64,
                    data_len: u64::from(size),
                });
            }
            _ => {}
        }
        // Chunks are padded to an even length.
        at = body.saturating_add(size as usize + (size as usize & 1));
    }
    Err(WavError::NoData)
}

/// Reads a 16-bit PCM or A-law WAV. A data chunk claiming more than the file holds (a
/// file cut short) yields what is there, in whole frames.
pub fn decode(bytes: &[u8]) -> Result<Decoded, WavError> {
    let l = layout(bytes)?;
    let start = l.data_at as usize;
    let data = &bytes[start..start + (l.frames(bytes.len() as u64) * l.frame_bytes()) as usize];
    let mut samples = Vec::with_capacity(data.len());
    append_samples(l.format, data, |s| samples.push(s));
    Ok(Decoded {
        format: l.format,
        channels: l.channels,
        sample_rate: l.sample_rate,
        samples,
    })
}

fn append_samples(format: RecordingFormat, data: &[u8], mut put: impl FnMut(i16)) {
    match format {
        RecordingFormat::Pcm16 => data
            .chunks_exact(2)
            .for_each(|s| put(i16::from_le_bytes([s[0], s[1]]))),
        RecordingFormat::Alaw => data
            .iter()
            .for_each(|&c| put(crate::media::g711::alaw_decode(c))),
    }
}

/// The fields of a `fmt ` chunk from the format tag on (the byte rate and block align
/// follow from the rest).
fn put_fmt(put: &mut impl FnMut(&[u8]), tag: u16, channels: u16, rate: u32, bits: u16) {
    let align = channels * (bits / 8);
    put(&tag.to_le_bytes());
    put(&channels.to_le_bytes());
    put(&rate.to_le_bytes());
    put(&(rate * u32::from(align)).to_le_bytes());
    put(&align.to_le_bytes());
    put(&bits.to_le_bytes());
}

/// A plain 44-byte 16-bit PCM WAV header for `data_bytes` of audio.
pub fn pcm16_header(channels: u16, sample_rate: u32, data_bytes: u32) -> [u8; 44] {
    let mut h = [0u8; 44];
    let mut at = 0;
    let mut put = |b: &[u8]| {
        h[at..at + b.len()].copy_from_slice(b);
        at += b.len();
    };
    put(b"RIFF");
    put(&(36u32.saturating_add(data_bytes)).to_le_bytes());
    put(b"WAVEfmt ");
    put(&16u32.to_le_bytes());
    put_fmt(&mut put, 1, channels, sample_rate, 16);
    put(b"data");
    put(&data_bytes.to_le_bytes());
    h
}

/// Appends `data`, audio stored as `format`, to `out` as 16-bit little-endian PCM (for a
/// conversion streamed a piece at a time).
pub fn append_pcm16(format: RecordingFormat, data: &[u8], out: &mut Vec<u8>) {
    append_samples(format, data, |s| out.extend_from_slice(&s.to_le_bytes()));
}

/// The same audio as a 16-bit PCM WAV (plain 44-byte header), whole: the reference the
/// streamed conversion (`pcm16_header` + `append_pcm16`) is checked against.
#[cfg(test)]
pub(crate) fn to_pcm16(decoded: &Decoded) -> Vec<u8> {
    let data = (decoded.samples.len() * 2) as u32;
    let mut out = Vec::with_capacity(44 + data as usize);
    out.extend_from_slice(&pcm16_header(decoded.channels, decoded.sample_rate, data));
    for s in &decoded.samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_headers_are_one_page_and_read_back() {
        for format in [RecordingFormat::Alaw, RecordingFormat::Pcm16] {
            let mut file = format.header(3).to_vec();
            let silence = (3 * format.bytes_per_frame()) as usize;
            let quiet = match format {
                RecordingFormat::Alaw => SILENCE,
                RecordingFormat::Pcm16 => 0,
            };
            file.extend(std::iter::repeat_n(quiet, silence));
            file.extend_from_slice(match format {
                RecordingFormat::Alaw => &[0x55u8, 0x2A][..],
                RecordingFormat::Pcm16 => &[0xE8, 0x03, 0x18, 0xFC, 0, 0, 0, 0][..],
            });
            // The header says 3 frames: a fourth one past it is not audio.
            let d = decode(&file).expect("decodes");
            assert_eq!((d.format, d.channels, d.sample_rate), (format, 2, 8000));
            assert_eq!(d.samples.len(), 6);
            assert!(d.samples.iter().all(|s| s.abs() <= 8), "{format:?}");
        }
    }

    #[test]
    fn alaw_header_declares_alaw_with_its_fact_chunk() {
        let h = RecordingFormat::Alaw.header(16_000);
        assert_eq!(u16_at(&h, 20), Some(6));
        assert_eq!(u16_at(&h, 34), Some(8));
        assert_eq!(u32_at(&h, 28), Some(16_000), "byte rate");
        assert_eq!(&h[38..42], b"fact");
        assert_eq!(u32_at(&h, FACT_SAMPLES_AT), Some(16_000));
        assert_eq!(&h[50..54], b"JUNK");
        assert_eq!(u32_at(&h, DATA_SIZE_AT), Some(32_000));
        assert_eq!(u32_at(&h, 4), Some(32_000 + 4088));
        // The JUNK chunk ends exactly where the data chunk starts.
        let junk = u32_at(&h, 54).unwrap() as usize;
        assert_eq!(58 + junk, DATA_SIZE_AT - 4);
    }

    #[test]
    fn a_file_cut_short_yields_its_whole_frames() {
        let mut file = RecordingFormat::Pcm16.header(100).to_vec();
        file.extend_from_slice(&[1, 0, 2, 0, 3]);
        let d = decode(&file).unwrap();
        assert_eq!(d.samples, vec![1, 2]);
    }

    #[test]
    fn foreign_input_is_refused_clearly() {
        assert_eq!(decode(b"OggS...."), Err(WavError::NotWave));
        let mut h = RecordingFormat::Pcm16.header(0);
        h[20] = 2; // MS ADPCM
        assert_eq!(decode(&h), Err(WavError::Unsupported { tag: 2, bits: 16 }));
    }

    #[test]
    fn a_conversion_in_pieces_equals_the_whole() {
        let mut file = RecordingFormat::Alaw.header(5).to_vec();
        file.extend_from_slice(&[0x55, 0xD5, 0x2A, 0xAA, 0x01, 0x80, 0x7F, 0xFF, 0x10, 0x20]);
        file.push(0x33); // half a frame past the end: not audio
        let l = layout(&file[..HEADER_LEN as usize]).unwrap();
        assert_eq!(
            (l.data_at, l.data_len, l.frame_bytes()),
            (HEADER_LEN, 10, 2)
        );
        assert_eq!(l.frames(file.len() as u64), 5);
        let data = &file[l.data_at as usize..][..10];
        let mut pieces = pcm16_header(2, 8000, 20).to_vec();
        for piece in data.chunks(4) {
            append_pcm16(l.format, piece, &mut pieces);
        }
        assert_eq!(pieces, to_pcm16(&decode(&file).unwrap()));
    }

    #[test]
    fn pcm16_copy_holds_the_same_samples() {
        let mut file = RecordingFormat::Alaw.header(2).to_vec();
        file.extend_from_slice(&[0x55, 0xD5, 0x2A, 0xAA]);
        let d = decode(&file).unwrap();
        let again = decode(&to_pcm16(&d)).unwrap();
        assert_eq!(again.format, RecordingFormat::Pcm16);
        assert_eq!(again.samples, d.samples);
        assert_eq!(again.channels, 2);
    }
}
