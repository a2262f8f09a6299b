//! Sealing a recording its writer never finished (the process was killed): the file is
//! cut to its last whole frame, its size fields are rewritten for the audio on disk, and
//! it is synced and checksummed like a normal finalize.
//!
//! Idempotent by construction: every value written is a function of the audio bytes on
//! disk, which sealing never changes (only a trailing half frame, and space reserved past
//! the end, are dropped). A crash in the middle leaves a file that the next attempt seals
//! to the same bytes; the header's sizes are two small in-place writes, the same ones the
//! writer makes every `header_interval`, never a rewrite of the file.

use std::fs::OpenOptions;
use std::path::Path;

use super::wav::{self, HEADER_LEN};
use super::{RATE, RecordingError, RecordingSummary};

/// Seals the recording at `path` for the audio it holds and returns its summary.
pub fn seal_after_crash(path: &Path) -> Result<RecordingSummary, RecordingError> {
    let write_err = |source| RecordingError::Write {
        path: path.to_owned(),
        source,
    };
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(write_err)?;
    let len = file.metadata().map_err(write_err)?.len();
    let mut head = vec![0u8; HEADER_LEN as usize];
    let unsealable = |reason: String| RecordingError::Unsealable {
        path: path.to_owned(),
        reason,
    };
    if len < HEADER_LEN {
        return Err(unsealable(format!("{len} bytes, shorter than its header")));
    }
    std::os::unix::fs::FileExt::read_exact_at(&file, &mut head, 0).map_err(write_err)?;
    let layout = wav::layout(&head).map_err(|e| unsealable(e.to_string()))?;
    if layout.data_at != HEADER_LEN || layout.channels != 2 {
        return Err(unsealable("not a recording atende wrote".into()));
    }
    // The audio on disk, whatever the lagging header claims.
    let frames = (len - HEADER_LEN) / layout.frame_bytes();
    let bytes = HEADER_LEN + frames * layout.frame_bytes();
    // Also gives back the space reserved past the end (`reserve`).
    file.set_len(bytes).map_err(write_err)?;
    super::writer::write_sizes(&file, frames, layout.format).map_err(write_err)?;
    file.sync_all().map_err(|source| RecordingError::Sync {
        path: path.to_owned(),
        source,
    })?;
    let mut scratch = vec![0u8; 64 * 1024];
    let sha256_hex = super::finalizer::hash(&file, bytes, &mut scratch).map_err(|source| {
        RecordingError::Checksum {
            path: path.to_owned(),
            source,
        }
    })?;
    Ok(RecordingSummary {
        path: path.to_owned(),
        duration_ms: frames * 1000 / RATE,
        sha256_hex,
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::recording::RecordingFormat;

    /// A file as a killed writer leaves it: the header sized for less audio than follows,
    /// half a frame at the end.
    fn killed(path: &Path, format: RecordingFormat, frames_on_disk: u64) -> Vec<u8> {
        let mut bytes = format.header(frames_on_disk / 2).to_vec();
        let audio = frames_on_disk * format.bytes_per_frame();
        bytes.extend((0..audio).map(|i| (i % 251) as u8));
        bytes.push(0x55);
        std::fs::write(path, &bytes).expect("write");
        bytes
    }

    #[test]
    fn a_killed_recording_is_sealed_for_its_audio_and_sealing_again_changes_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        for format in [RecordingFormat::Alaw, RecordingFormat::Pcm16] {
            let path = dir.path().join(format!("{format:?}.wav"));
            let before = killed(&path, format, 8000);
            let first = seal_after_crash(&path).expect("sealed");
            let sealed = std::fs::read(&path).expect("read");
            assert_eq!(first.duration_ms, 1000);
            assert_eq!(first.bytes, sealed.len() as u64);
            assert_eq!(
                sealed[..],
                {
                    let mut want = format.header(8000).to_vec();
                    want.extend_from_slice(&before[HEADER_LEN as usize..before.len() - 1]);
                    want
                }[..]
            );
            let l = wav::layout(&sealed).expect("layout");
            assert_eq!(l.data_len, 8000 * format.bytes_per_frame());
            let again = seal_after_crash(&path).expect("sealed again");
            assert_eq!(again, first);
            assert_eq!(std::fs::read(&path).expect("read"), sealed);
            use sha2::Digest;
            assert_eq!(first.sha256_hex, hex::encode(sha2::Sha256::digest(&sealed)));
        }
    }

    #[test]
    fn a_file_that_is_no_recording_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.wav");
        std::fs::write(&path, b"RIFF").expect("write");
        assert!(matches!(
            seal_after_crash(&path),
            Err(RecordingError::Unsealable { .. })
        ));
        assert!(seal_after_crash(&dir.path().join("missing.wav")).is_err());
    }
}
