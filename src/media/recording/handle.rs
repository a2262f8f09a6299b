//! One call's recording as its media session holds it: samples placed at their absolute
//! position in a window of two open blocks, blocks shipped to the writer once time has
//! passed them (plus the jitter allowance), and the end that asks for a receipt. Never
//! touches the disk and never blocks; blocks come from and go back to the shared pool.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crossbeam_channel::{Receiver, Sender};
use tokio::sync::oneshot;

use super::{
    Block, Channel, JITTER, MAX_LEAD, Msg, OPEN_BLOCKS, RecordingReceipt, RecordingService, Reply,
    SILENCE, Shared,
};

/// One call's recording, owned by its media task. Not shared, never blocks.
pub struct RecordingHandle {
    id: u64,
    path: PathBuf,
    tx: Sender<Msg>,
    pool: Receiver<Block>,
    pool_tx: Sender<Block>,
    shared: Arc<Shared>,
    block_frames: u64,
    max_queued: usize,
    /// First frame of `open[0]`: everything before it has been shipped.
    base: u64,
    /// Furthest time known, from `advance` or the end of a push.
    horizon: u64,
    open: [Option<Block>; OPEN_BLOCKS],
    closed: bool,
}

impl std::fmt::Debug for RecordingHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingHandle")
            .field("path", &self.path)
            .finish()
    }
}

impl RecordingHandle {
    /// Recording `id` at `path`, from sample 0, shipping its blocks to `service`'s writer.
    pub(super) fn new(service: &RecordingService, id: u64, path: PathBuf) -> RecordingHandle {
        RecordingHandle {
            id,
            path,
            tx: service.tx.clone(),
            pool: service.pool.clone(),
            pool_tx: service.pool_tx.clone(),
            shared: service.shared.clone(),
            block_frames: service.block_frames as u64,
            max_queued: service.max_queued,
            base: 0,
            horizon: 0,
            open: std::array::from_fn(|_| None),
            closed: false,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Places `samples` of one channel at frame `at_sample` (samples since the recording
    /// started). Gaps stay silent; samples for an already-shipped block are dropped.
    pub fn push(&mut self, channel: Channel, at_sample: u64, samples: &[i16]) {
        self.place(channel, at_sample, samples, crate::media::g711::alaw_encode);
    }

    /// As `push`, for samples already A-law coded (a PCMA payload): copied as they are.
    pub fn push_alaw(&mut self, channel: Channel, at_sample: u64, codes: &[u8]) {
        self.place(channel, at_sample, codes, |c| c);
    }

    fn place<T: Copy>(
        &mut self,
        channel: Channel,
        at_sample: u64,
        samples: &[T],
        code: impl Fn(T) -> u8,
    ) {
        if samples.is_empty() {
            return;
        }
        let len = samples.len() as u64;
        if at_sample > self.horizon.saturating_add(MAX_LEAD) {
            self.shared.ahead_samples.fetch_add(len, Ordering::Relaxed);
            return;
        }
        let end = at_sample + len;
        self.horizon = self.horizon.max(end);
        while end > self.base + OPEN_BLOCKS as u64 * self.block_frames {
            self.ship_first();
        }
        let (mut at, mut samples) = (at_sample, samples);
        if at < self.base {
            let late = (self.base - at).min(len);
            self.shared.late_samples.fetch_add(late, Ordering::Relaxed);
            samples = &samples[late as usize..];
            at += late;
        }
        let ch = channel.index();
        while !samples.is_empty() {
            let rel = at - self.base;
            let slot = (rel / self.block_frames) as usize;
            let offset = (rel % self.block_frames) as usize;
            let n = samples.len().min(self.block_frames as usize - offset);
            let buf = self.block(slot);
            for (frame, &s) in buf[offset * 2..(offset + n) * 2]
                .chunks_exact_mut(2)
                .zip(&samples[..n])
            {
                frame[ch] = code(s);
            }
            samples = &samples[n..];
            at += n as u64;
        }
    }

    /// Tells the current time: blocks that ended more than 100 ms ago are shipped, so a
    /// side that sends nothing is recorded as silence.
    pub fn advance(&mut self, now_sample: u64) {
        self.horizon = self.horizon.max(now_sample);
        while self.base + self.block_frames + JITTER <= now_sample {
            self.ship_first();
        }
    }

    /// Ends the recording at frame `end_sample` (its exact length) and returns the receipt
    /// for the writer's summary.
    pub fn finish(mut self, end_sample: u64) -> RecordingReceipt {
        let (tx, rx) = oneshot::channel();
        self.close(end_sample, Some(tx));
        RecordingReceipt {
            rx,
            path: self.path.clone(),
        }
    }

    fn close(&mut self, end: u64, reply: Option<Reply>) {
        self.closed = true;
        while self.base + self.block_frames <= end {
            self.ship_first();
        }
        if end > self.base {
            let buf = self.open[0].take();
            let frames = (end - self.base) as usize;
            self.send_block(self.base, frames, buf);
            self.base = end;
        }
        for slot in &mut self.open {
            if let Some(buf) = slot.take() {
                recycle(&self.pool_tx, buf);
            }
        }
        let _ = self.tx.send(Msg::Finish {
            id: self.id,
            end,
            reply,
        });
    }

    /// The block for `slot` of the open window, taken from the pool on first use.
    fn block(&mut self, slot: usize) -> &mut Block {
        let frames = self.block_frames as usize;
        let (pool, shared) = (&self.pool, &self.shared);
        self.open[slot].get_or_insert_with(|| match pool.try_recv() {
            Ok(buf) => buf,
            Err(_) => {
                shared.blocks_allocated.fetch_add(1, Ordering::Relaxed);
                silent_block(frames)
            }
        })
    }

    fn ship_first(&mut self) {
        let buf = self.open[0].take();
        self.open.rotate_left(1);
        self.send_block(self.base, self.block_frames as usize, buf);
        self.base += self.block_frames;
    }

    fn send_block(&mut self, start: u64, frames: usize, buf: Option<Block>) {
        let Some(buf) = buf else {
            let _ = self.tx.send(Msg::Block {
                id: self.id,
                start,
                frames,
                buf: None,
            });
            return;
        };
        let queued = self.shared.queued_blocks.fetch_add(1, Ordering::Relaxed);
        if queued >= self.max_queued {
            self.shared.queued_blocks.fetch_sub(1, Ordering::Relaxed);
            let n = self.shared.blocks_discarded.fetch_add(1, Ordering::Relaxed);
            if (n + 1).is_power_of_two() {
                tracing::warn!(path = %self.path.display(), discarded = n + 1,
                    "recording writer is behind; audio blocks discarded");
            }
            recycle(&self.pool_tx, buf);
            return;
        }
        let msg = Msg::Block {
            id: self.id,
            start,
            frames,
            buf: Some(buf),
        };
        if self.tx.send(msg).is_err() {
            self.shared.queued_blocks.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// A block of `frames` stereo frames, all silence (written, so its pages are resident).
pub(super) fn silent_block(frames: usize) -> Block {
    vec![SILENCE; frames * 2].into_boxed_slice()
}

/// Returns a block to the pool, cleared (the pool's invariant: a taken block is silence).
/// A full pool frees it.
pub(super) fn recycle(pool: &Sender<Block>, mut buf: Block) {
    buf.fill(SILENCE);
    let _ = pool.try_send(buf);
}

impl Drop for RecordingHandle {
    /// A media task that ends without `finish` (panic, abort) still gets a playable file.
    fn drop(&mut self) {
        if !self.closed {
            let end = self.horizon;
            self.close(end, None);
        }
    }
}
