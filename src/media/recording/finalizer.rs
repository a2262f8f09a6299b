//! The finalizer thread: makes each finished recording durable (`fdatasync`) and computes
//! its SHA-256 from the file, then answers the recording's receipt.
//!
//! Why a thread of its own: both steps are slow next to appending audio. At 1,500 calls
//! of 40 s, ~37 recordings end every second; their syncs and checksums (each re-reads
//! ~1.3 MB) took 1.47 s of the single writer thread per 40 s cycle, while its queue holds
//! only ~0.7 s of all calls' audio, so blocks were discarded. The writer now only writes
//! the final header and hands the file over; audio keeps flowing while a disk sync waits.
//!
//! Limits: files are finalized one at a time, in the order they finished; a slow disk
//! delays receipts (the queue holds only open file handles), never audio.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};
use sha2::{Digest, Sha256};

use super::reserve::Reservation;
use super::{RATE, RecordingError, RecordingSummary, Reply, Shared};

/// A recording whose audio and header are complete: what is left is durability and the
/// checksum.
pub(super) struct Sealed {
    pub(super) file: File,
    pub(super) path: PathBuf,
    /// Audio frames in the file.
    pub(super) frames: u64,
    /// The whole file's length (header + audio).
    pub(super) bytes: u64,
    /// Disk space reserved past `bytes`, given back here: on a filesystem mounted with
    /// `discard` freeing it waits for the disk (~1 ms a file), which the writer must not.
    pub(super) reserved: Reservation,
    pub(super) reply: Option<Reply>,
}

/// Starts the finalizer thread; it ends when every sender is dropped, after finishing the
/// files already handed to it.
pub(super) fn start(shared: Arc<Shared>) -> Result<Sender<Sealed>, RecordingError> {
    let (tx, rx) = crossbeam_channel::unbounded();
    std::thread::Builder::new()
        .name("recording-final".into())
        .spawn(move || run(&rx, &shared))
        .map_err(RecordingError::Spawn)?;
    Ok(tx)
}

fn run(rx: &Receiver<Sealed>, shared: &Shared) {
    let mut scratch = vec![0u8; 64 * 1024];
    while let Ok(sealed) = rx.recv() {
        #[cfg(test)]
        {
            let hold = shared.finalize_hold.lock().ok().and_then(|h| h.clone());
            if let Some(hold) = hold {
                let _ = hold.recv();
            }
        }
        let Sealed {
            file,
            path,
            frames,
            bytes,
            reserved,
            reply,
        } = sealed;
        if let Err(e) = reserved.release(&file, bytes) {
            // The audio is complete; only space reserved past it stays allocated.
            tracing::warn!(path = %path.display(), error = %e,
                "cannot give back the disk space reserved past a recording's end");
        }
        let result = finalize(&file, &path, frames, bytes, &mut scratch)
            .inspect_err(|e| super::writer::report(shared, &path, e));
        if let Some(reply) = reply {
            let _ = reply.send(result);
        }
    }
}

fn finalize(
    file: &File,
    path: &std::path::Path,
    frames: u64,
    bytes: u64,
    scratch: &mut [u8],
) -> Result<RecordingSummary, RecordingError> {
    file.sync_data().map_err(|source| RecordingError::Sync {
        path: path.to_owned(),
        source,
    })?;
    let sha256_hex = hash(file, bytes, scratch).map_err(|source| RecordingError::Checksum {
        path: path.to_owned(),
        source,
    })?;
    // Synced and checksummed: nothing reads it again soon (see `writer::release_synced`).
    super::writer::drop_cached(file, 0, 0);
    Ok(RecordingSummary {
        path: path.to_owned(),
        duration_ms: frames * 1000 / RATE,
        sha256_hex,
        bytes,
    })
}

/// SHA-256 of the first `len` bytes, read back from the file (the last seconds from the
/// page cache, older audio from disk).
pub(super) fn hash(file: &File, len: u64, scratch: &mut [u8]) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    let mut at = 0u64;
    while at < len {
        let want = ((len - at) as usize).min(scratch.len());
        let got = file.read_at(&mut scratch[..want], at)?;
        if got == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        hasher.update(&scratch[..got]);
        at += got as u64;
    }
    Ok(hex::encode(hasher.finalize()))
}
