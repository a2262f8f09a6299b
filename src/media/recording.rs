//! Call recording: stereo WAV files (8 kHz, G.711 A-law by default or 16-bit PCM; caller
//! left, other side right), written off the packet path by ONE shared writer thread,
//! crash-safe.
//!
//! The split of work:
//!
//! ```text
//!  media task (per call)                       writer thread (shared)
//!  RecordingHandle::push/advance ──Block──►   append PCM, rewrite sizes every
//!     fills fixed-size interleaved blocks      header_interval; at Finish: final
//!     ◄──────────── pool (recycled blocks) ──  header, then the file goes to the
//!  RecordingHandle::finish ───────Finish──►    finalizer thread: fdatasync, SHA-256
//!  RecordingReceipt::wait / .await ◄────────── of the file, reply (summary or error)
//!                                              flusher thread: syncfs of the recordings'
//!                                              filesystem(s) every sync_interval
//! ```
//!
//! The handle never touches the disk and never blocks: it places samples at their absolute
//! position (gaps stay silent, late samples for a shipped block are dropped and counted) and
//! ships a block once time has passed its end plus a 100 ms jitter allowance. Blocks come
//! from a shared pool (filled at start) and go back to it after writing; when the pool is
//! empty (the writer far behind) a block is allocated rather than audio dropped. Only if the writer is
//! more than `max_queued_blocks` behind are blocks discarded; the writer then fills their
//! span with silence so the timeline stays right.
//!
//! Failures (unwritable directory, disk full) never reach the call: the writer logs them,
//! raises the shared alarm counter, discards that recording's later blocks, and the
//! receipt carries the error.
//!
//! Blocks hold G.711 A-law codes, one byte a sample, which the writer stores as they are
//! (`RecordingFormat::Alaw`, the default: half the disk and the writer's work of PCM) or
//! expands to 16-bit PCM (`Pcm16`). Holding A-law halves a call's recording memory (its two open blocks and
//! those in flight: 9 KB of the ~74 KB a call held at the peak of a load run), and a PCMA
//! leg, the trunks' codec, is recorded straight from its payload, bit-exact and with no
//! decoding. What other codecs carry (PCMU, Opus, prompts) is kept at A-law's resolution:
//! what a trunk caller hears anyway. The code a block starts filled with (0xD5, A-law's +8
//! of 32,768) is written as digital zero, so a side nobody spoke on is exactly silent,
//! like the gaps the writer fills (in an A-law file it stays 0xD5, +8: -72 dBFS).
//!
//! Limits: one open window of two blocks per call (a sender more than ~150 ms ahead of the
//! clock forces the oldest block out early); a recording is capped at the 4 GiB a RIFF size
//! field holds (~37 h). Header updates and syncs are counted in audio written, not wall
//! time, so the writer never reads the clock.

mod finalizer;
mod flusher;
mod handle;
mod receipt;
mod recover;
mod reserve;
pub mod wav;
mod writer;

pub use handle::RecordingHandle;
use handle::{recycle, silent_block};
pub use receipt::{RecordingFuture, RecordingReceipt};
pub use recover::seal_after_crash;
pub use wav::RecordingFormat;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use thiserror::Error;
use tokio::sync::oneshot;

/// Recording sample rate (G.711).
pub const RATE: u64 = 8000;
/// How long the handle waits for late packets before shipping a block: 100 ms.
const JITTER: u64 = RATE / 10;
/// Samples pushed further than this beyond the known time are a bogus timestamp, not audio
/// (they would otherwise make us write minutes of silence): 10 s.
const MAX_LEAD: u64 = 10 * RATE;
/// Blocks a handle fills at once: the current one and the next (for packets straddling).
const OPEN_BLOCKS: usize = 2;

/// Which side of the call a sample belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// Left channel: the caller.
    Caller,
    /// Right channel: what the caller hears (prompts, hold music, the agent).
    Other,
}

impl Channel {
    fn index(self) -> usize {
        match self {
            Channel::Caller => 0,
            Channel::Other => 1,
        }
    }
}

#[derive(Debug, Clone)]
pub struct RecordingConfig {
    /// How samples are stored in the file.
    pub format: RecordingFormat,
    /// Audio written between rewrites of the RIFF/data sizes (what a crash can lose).
    pub header_interval: Duration,
    /// How often the recordings' filesystems are synced (what a power cut can lose).
    pub sync_interval: Duration,
    /// Frames per block shipped to the writer; 1024 frames = 128 ms = 2048 bytes of A-law,
    /// a page of the file in PCM, half a page in A-law (appends stay page-aligned in
    /// pairs; doubling the frames would double the open blocks' memory). A call holds two open blocks, so this
    /// sets most of a recording's memory per call.
    pub block_frames: usize,
    /// Blocks waiting for the writer beyond which new blocks are discarded (memory cap).
    /// 32,768 blocks (64 MB) hold 2.8 s of 1,500 calls' audio: a disk or filesystem stall
    /// that long costs memory, not audio. With 8,192 (0.7 s) one saturated load run in ten
    /// lost 1,542 blocks when the writer stopped for ~0.7 s during a filesystem sync.
    pub max_queued_blocks: usize,
    /// Blocks kept for reuse after writing; more are freed. The writer hands back one
    /// drain's worth (~20 ms of every call's audio: ~250 blocks at 1,500 calls), so 1,024
    /// keeps steady state allocation-free without parking megabytes of idle blocks after
    /// a burst (4,096 could hold 16 MB, ~11 KB per call at 1,500 calls). The pool is
    /// filled at start (2 MB of A-law blocks): a fixed cost the server carries whatever its
    /// load, so the first calls and a writer briefly behind take blocks from it instead of
    /// allocating on the media path.
    pub pool_blocks: usize,
}

impl Default for RecordingConfig {
    fn default() -> Self {
        RecordingConfig {
            format: RecordingFormat::default(),
            header_interval: Duration::from_secs(2),
            sync_interval: Duration::from_secs(5),
            block_frames: 1024,
            max_queued_blocks: 32_768,
            pool_blocks: 1024,
        }
    }
}

#[derive(Debug, Error)]
pub enum RecordingError {
    #[error("recording writer thread could not start: {0}")]
    Spawn(#[source] std::io::Error),
    #[error("recording config: block_frames must be positive")]
    ZeroBlock,
    #[error("recording {path}: cannot create directory: {source}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("recording {path}: cannot create file: {source}")]
    Create {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("recording {path}: write failed: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("recording {path}: fdatasync failed: {source}")]
    Sync {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("recording {path}: reading back for the checksum failed: {source}")]
    Checksum {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("recording {path}: cannot be sealed after a crash: {reason}")]
    Unsealable { path: PathBuf, reason: String },
    #[error("recording {path}: the writer thread is gone")]
    WriterGone { path: PathBuf },
}

/// What a finished recording is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingSummary {
    pub path: PathBuf,
    /// Frames written / 8000, in milliseconds.
    pub duration_ms: u64,
    /// SHA-256 of the whole final file, lowercase hex.
    pub sha256_hex: String,
    /// File size.
    pub bytes: u64,
}

/// Counters for the metrics endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordingStats {
    /// Recordings that failed (the alarm).
    pub errors: u64,
    /// Samples dropped because their block had already been shipped.
    pub late_samples: u64,
    /// Samples dropped for lying implausibly far in the future.
    pub ahead_samples: u64,
    /// Blocks allocated because the pool was empty (none until more than `pool_blocks`
    /// are in use at once; flat in steady state).
    pub blocks_allocated: u64,
    /// Blocks discarded because the writer was too far behind.
    pub blocks_discarded: u64,
    /// Blocks waiting for the writer now.
    pub queued_blocks: u64,
    /// Syncs of the recordings' filesystems so far (one per `sync_interval`).
    pub syncs: u64,
}

/// Interleaved A-law codes: caller, other, caller, …
type Block = Box<[u8]>;
/// What an unwritten sample of a block holds.
const SILENCE: u8 = 0xD5;
type Reply = oneshot::Sender<Result<RecordingSummary, RecordingError>>;

enum Msg {
    Open {
        id: u64,
        path: PathBuf,
    },
    /// `frames` frames starting at frame `start`; `None` is a block nobody spoke in.
    Block {
        id: u64,
        start: u64,
        frames: usize,
        buf: Option<Block>,
    },
    Finish {
        id: u64,
        end: u64,
        reply: Option<Reply>,
    },
    /// Answered once everything sent before it is processed (tests).
    #[cfg(test)]
    Barrier(oneshot::Sender<()>),
}

#[derive(Debug, Default)]
struct Shared {
    errors: Arc<AtomicU64>,
    late_samples: AtomicU64,
    ahead_samples: AtomicU64,
    blocks_allocated: AtomicU64,
    blocks_discarded: AtomicU64,
    queued_blocks: AtomicUsize,
    next_id: AtomicU64,
    /// Filesystem syncs done by the flusher.
    syncs: AtomicU64,
    /// Tests: while set, the finalizer waits on it before each file (a slow disk).
    #[cfg(test)]
    finalize_hold: std::sync::Mutex<Option<Receiver<()>>>,
}

/// Handle to the shared writer; clone freely.
#[derive(Clone)]
pub struct RecordingService {
    // Unbounded on purpose: Open and Finish must never be refused and must stay ordered
    // with the blocks, so the bound is applied to audio blocks only, by `queued_blocks`.
    tx: Sender<Msg>,
    pool: Receiver<Block>,
    pool_tx: Sender<Block>,
    shared: Arc<Shared>,
    block_frames: usize,
    max_queued: usize,
}

impl RecordingService {
    /// Spawns the writer thread. It ends when the service and every handle are dropped.
    pub fn start(cfg: RecordingConfig) -> Result<Self, RecordingError> {
        if cfg.block_frames == 0 {
            return Err(RecordingError::ZeroBlock);
        }
        let (tx, rx) = crossbeam_channel::unbounded();
        let (pool_tx, pool_rx) = crossbeam_channel::bounded(cfg.pool_blocks.max(1));
        for _ in 0..cfg.pool_blocks {
            let _ = pool_tx.try_send(silent_block(cfg.block_frames));
        }
        let shared = Arc::new(Shared::default());
        let flusher = flusher::start(cfg.sync_interval, shared.clone())?;
        let finalizer = finalizer::start(shared.clone())?;
        let writer = writer::Writer::new(&cfg, pool_tx.clone(), shared.clone(), flusher, finalizer);
        std::thread::Builder::new()
            .name("recording-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(RecordingError::Spawn)?;
        Ok(RecordingService {
            tx,
            pool: pool_rx,
            pool_tx,
            shared,
            block_frames: cfg.block_frames,
            max_queued: cfg.max_queued_blocks,
        })
    }

    /// Starts a recording at `path`; sample 0 is now. Never fails here: problems with the
    /// file are reported by the receipt and the alarm counter.
    pub fn open(&self, path: &Path) -> RecordingHandle {
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let path = path.to_owned();
        if self
            .tx
            .send(Msg::Open {
                id,
                path: path.clone(),
            })
            .is_err()
        {
            self.shared.errors.fetch_add(1, Ordering::Relaxed);
            tracing::error!(path = %path.display(), "recording writer thread is gone");
        }
        RecordingHandle::new(self, id, path)
    }

    /// Recordings that failed since start (the alarm).
    pub fn error_count(&self) -> u64 {
        self.shared.errors.load(Ordering::Relaxed)
    }

    /// The alarm counter itself, to share with a metrics registry.
    pub fn error_counter(&self) -> Arc<AtomicU64> {
        self.shared.errors.clone()
    }

    pub fn stats(&self) -> RecordingStats {
        let s = &self.shared;
        RecordingStats {
            errors: s.errors.load(Ordering::Relaxed),
            late_samples: s.late_samples.load(Ordering::Relaxed),
            ahead_samples: s.ahead_samples.load(Ordering::Relaxed),
            blocks_allocated: s.blocks_allocated.load(Ordering::Relaxed),
            blocks_discarded: s.blocks_discarded.load(Ordering::Relaxed),
            queued_blocks: s.queued_blocks.load(Ordering::Relaxed) as u64,
            syncs: s.syncs.load(Ordering::Relaxed),
        }
    }

    #[cfg(test)]
    fn barrier(&self) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        let _ = self.tx.send(Msg::Barrier(tx));
        rx
    }
}
