//! The flusher thread: one `syncfs` per filesystem every `sync_interval`, in place of an
//! `fdatasync` per open recording.
//!
//! Why: at 1,500 calls a per-file sync every 5 s is 300 syncs a second (~3.5 % of the
//! server's CPU, and as many small flushes for the disk). `syncfs` makes everything
//! written to the filesystem so far durable in one call, so the power-cut bound stays
//! "at most `sync_interval` of audio, plus the time the sync itself takes". It runs on
//! its own thread so a slow disk never stalls the writer (whose queue would otherwise
//! fill and discard audio while the sync waits).
//!
//! Limits: a writeback error found by `syncfs` cannot be pinned on one file; it raises the
//! alarm and is logged, and the final `fdatasync` of each recording at its end still
//! reports it against that recording (the kernel keeps the error for each file).

use std::fs::File;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::{RecordingError, Shared};

/// Starts the flusher; hand it an open file or directory on each filesystem recordings
/// are written to (the writer sends the directory of its first recording on each device).
pub(super) fn start(every: Duration, shared: Arc<Shared>) -> Result<Sender<File>, RecordingError> {
    let (tx, rx) = crossbeam_channel::unbounded();
    std::thread::Builder::new()
        .name("recording-sync".into())
        .spawn(move || run(&rx, every, &shared))
        .map_err(RecordingError::Spawn)?;
    Ok(tx)
}

fn run(rx: &Receiver<File>, every: Duration, shared: &Shared) {
    let mut targets: Vec<File> = Vec::new();
    let mut next = Instant::now() + every;
    loop {
        match rx.recv_timeout(next.saturating_duration_since(Instant::now())) {
            Ok(file) => targets.push(file),
            Err(RecvTimeoutError::Timeout) => {
                let started = Instant::now();
                for file in &targets {
                    sync(file, shared);
                }
                let took = started.elapsed();
                if took > every {
                    tracing::warn!(
                        ?took,
                        "syncing the recordings took longer than sync_interval: \
                        the disk is slower than the audio written to it"
                    );
                }
                shared.syncs.fetch_add(1, Ordering::Relaxed);
                next = Instant::now() + every;
            }
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

fn sync(file: &File, shared: &Shared) {
    // SAFETY: syncfs only reads the descriptor, which `file` keeps open.
    if unsafe { libc::syncfs(file.as_raw_fd()) } != 0 {
        let e = std::io::Error::last_os_error();
        shared.errors.fetch_add(1, Ordering::Relaxed);
        tracing::error!(error = %e, "syncing the recordings' filesystem failed; \
            audio written since the last sync may not survive a power cut");
    }
}
