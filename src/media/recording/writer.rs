//! The writer thread: owns every open recording file, and is the only code that touches
//! the disk for recordings.
//!
//! Order of writes for crash safety: audio is appended through a per-file buffer; every
//! `header_interval` of audio the buffer is flushed to the OS *first*, then the RIFF and
//! data sizes are rewritten in place, so after a process crash the header never claims
//! more audio than the file holds. What a power cut can lose is bounded by the `flusher`,
//! which syncs the filesystem every `sync_interval`; at its end each file gets its final
//! header here and goes to the `finalizer` (fdatasync, checksum, receipt). The header is
//! one page (`wav`) so that audio starts at 4096 and appends stay page-aligned: a write
//! that covers only part of a new page-cache page makes the kernel zero the rest first.
//! An error makes the recording failed: later blocks for
//! it are discarded and the finish reply carries the error.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, LazyLock};

use crossbeam_channel::{Receiver, Sender};

use super::finalizer::Sealed;
use super::reserve::Reservation;
use super::{Block, Msg, RATE, RecordingConfig, RecordingError, Reply, SILENCE, Shared};

use super::wav::{DATA_SIZE_AT, HEADER_LEN, RecordingFormat};

/// Per-file buffer: none. Blocks already arrive as whole 128 ms writes, so a buffer would
/// only copy them; at thousands of calls its 16 KB per open file was a quarter of a
/// call's memory. Large writes go straight through a zero-capacity `BufWriter`.
const FILE_BUFFER: usize = 0;
/// A page of silence in each format.
const PCM_SILENCE: [u8; 4096] = [0; 4096];
const ALAW_SILENCE: [u8; 4096] = [SILENCE; 4096];
/// How long the writer lets work gather after draining its queue. Bounds the delay of a
/// recording's final receipt too; far below what a crash may lose (`sync_interval`).
const GATHER: std::time::Duration = std::time::Duration::from_millis(20);

/// Each A-law code as the file's little-endian 16-bit sample; the blocks' initial code
/// (`SILENCE`) as digital zero.
static PCM_LE: LazyLock<[[u8; 2]; 256]> = LazyLock::new(|| {
    std::array::from_fn(|code| {
        let code = code as u8;
        if code == SILENCE {
            [0, 0]
        } else {
            crate::media::g711::alaw_decode(code).to_le_bytes()
        }
    })
});

struct Recording {
    path: PathBuf,
    /// `None` once failed (or never opened).
    sink: Option<BufWriter<File>>,
    error: Option<RecordingError>,
    /// Frames appended so far.
    written: u64,
    since_header: u64,
    /// File bytes below which the page cache has been told to let go (`release_synced`).
    released: u64,
    /// Disk space allocated ahead of the audio.
    reserved: Reservation,
    /// (flusher syncs completed, file bytes written) when last looked: once two more syncs
    /// have completed, one of them began after those bytes were written.
    mark: (u64, u64),
}

#[derive(Debug, Clone, Copy)]
struct Limits {
    header_frames: u64,
    format: RecordingFormat,
}

pub(super) struct Writer {
    files: HashMap<u64, Recording>,
    limits: Limits,
    pool: Sender<Block>,
    shared: Arc<Shared>,
    /// Reused for expanding A-law codes to PCM (`pcm16` files only).
    scratch: Vec<u8>,
    /// Where sealed recordings go to be synced and checksummed.
    finalizer: Sender<Sealed>,
    /// Where the flusher learns which filesystems to sync; told once per device.
    flusher: Sender<File>,
    devices: HashSet<u64>,
}

impl Writer {
    pub(super) fn new(
        cfg: &RecordingConfig,
        pool: Sender<Block>,
        shared: Arc<Shared>,
        flusher: Sender<File>,
        finalizer: Sender<Sealed>,
    ) -> Self {
        let frames = |d: std::time::Duration| (d.as_millis() as u64 * RATE / 1000).max(1);
        Writer {
            files: HashMap::new(),
            limits: Limits {
                header_frames: frames(cfg.header_interval),
                format: cfg.format,
            },
            flusher,
            finalizer,
            devices: HashSet::new(),
            pool,
            shared,
            scratch: Vec::with_capacity(
                cfg.block_frames * RecordingFormat::Pcm16.bytes_per_frame() as usize,
            ),
        }
    }

    pub(super) fn run(mut self, rx: Receiver<Msg>) {
        raise_priority();
        while let Ok(msg) = rx.recv() {
            self.handle(msg);
            while let Ok(msg) = rx.try_recv() {
                self.handle(msg);
            }
            // Let blocks gather: a sender to a writer that sleeps (rather than waits on
            // the channel) wakes no thread, so thousands of calls cost ~50 wake-ups a
            // second instead of one per block.
            std::thread::sleep(GATHER);
        }
        // Files never finished (the service gone first) keep their audio up to the last
        // header update; the space reserved past it is given back.
        for rec in self.files.values() {
            if let Some(sink) = &rec.sink {
                let _ = rec.reserved.release_at_size(sink.get_ref());
            }
        }
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Open { id, path } => self.open(id, path),
            Msg::Block {
                id,
                start,
                frames,
                buf,
            } => self.block(id, start, frames, buf),
            Msg::Finish { id, end, reply } => self.finish(id, end, reply),
            #[cfg(test)]
            Msg::Barrier(done) => {
                let _ = done.send(());
            }
        }
    }

    fn open(&mut self, id: u64, path: PathBuf) {
        let mut rec = Recording {
            path,
            sink: None,
            error: None,
            written: 0,
            since_header: 0,
            // The header page stays cached: its sizes are rewritten in place, which on an
            // uncached page would first read it back from disk.
            released: HEADER_LEN,
            reserved: Reservation::new(HEADER_LEN),
            mark: (self.shared.syncs.load(Ordering::Relaxed), HEADER_LEN),
        };
        match create(&rec.path, self.limits.format) {
            Ok(file) => {
                self.tell_flusher(&file, &rec.path);
                rec.sink = Some(BufWriter::with_capacity(FILE_BUFFER, file));
            }
            Err(e) => fail(&self.shared, &mut rec, e),
        }
        self.files.insert(id, rec);
    }

    /// Hands the flusher the directory of the first recording on each filesystem (a
    /// recordings tree may span mounts, e.g. a day's directory on another disk). A
    /// directory, not the file: an open recording deleted later would keep its space.
    fn tell_flusher(&mut self, file: &File, path: &std::path::Path) {
        let Ok(dev) = file.metadata().map(|m| m.dev()) else {
            return;
        };
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        if self.devices.insert(dev)
            && let Ok(handle) = File::open(dir)
        {
            let _ = self.flusher.send(handle);
        }
    }

    fn block(&mut self, id: u64, start: u64, frames: usize, buf: Option<Block>) {
        if buf.is_some() {
            self.shared.queued_blocks.fetch_sub(1, Ordering::Relaxed);
        }
        if let Some(rec) = self.files.get_mut(&id) {
            let codes = buf.as_deref().map(|b| &b[..(frames * 2).min(b.len())]);
            let syncs = self.shared.syncs.load(Ordering::Relaxed);
            let appended = append(rec, &mut self.scratch, self.limits, start, frames, codes);
            match appended {
                Ok(true) => release_synced(rec, syncs, self.limits.format),
                Ok(false) => {}
                Err(e) => fail(&self.shared, rec, e),
            }
        }
        if let Some(buf) = buf {
            super::recycle(&self.pool, buf);
        }
    }

    fn finish(&mut self, id: u64, end: u64, reply: Option<Reply>) {
        let Some(mut rec) = self.files.remove(&id) else {
            return;
        };
        let sealed = match rec.error.take() {
            Some(e) => Err(e),
            None => seal(&mut rec, end, self.limits.format).inspect_err(|e| {
                report(&self.shared, &rec.path, e);
            }),
        };
        match sealed {
            Ok((file, frames)) => {
                let sealed = Sealed {
                    file,
                    path: rec.path,
                    frames,
                    bytes: HEADER_LEN + frames * self.limits.format.bytes_per_frame(),
                    reserved: rec.reserved,
                    reply,
                };
                if let Err(lost) = self.finalizer.send(sealed) {
                    let Sealed {
                        path,
                        reply,
                        file,
                        bytes,
                        reserved,
                        ..
                    } = lost.into_inner();
                    let _ = reserved.release(&file, bytes);
                    let e = RecordingError::WriterGone { path: path.clone() };
                    report(&self.shared, &path, &e);
                    if let Some(reply) = reply {
                        let _ = reply.send(Err(e));
                    }
                }
            }
            Err(e) => {
                if let Some(reply) = reply {
                    let _ = reply.send(Err(e));
                }
            }
        }
    }
}

/// Completes a recording's audio at exactly `end` frames (silence for a missing tail, a
/// cut for audio past it) and writes its final header; returns the file and its frames
/// for the finalizer.
fn seal(
    rec: &mut Recording,
    end: u64,
    format: RecordingFormat,
) -> Result<(File, u64), RecordingError> {
    let Some(mut sink) = rec.sink.take() else {
        return Err(RecordingError::WriterGone {
            path: rec.path.clone(),
        });
    };
    let path = &rec.path;
    let write_err = |source| RecordingError::Write {
        path: path.clone(),
        source,
    };
    if end > rec.written {
        write_silence(&mut sink, end - rec.written, format).map_err(write_err)?;
        rec.written = end;
    }
    sink.flush().map_err(write_err)?;
    if end < rec.written {
        // Audio shipped past the announced end (a late finish) is cut off: the length
        // is what the caller said.
        sink.get_ref()
            .set_len(HEADER_LEN + end * format.bytes_per_frame())
            .map_err(write_err)?;
        rec.written = end;
    }
    update_header(&mut sink, rec.written, format).map_err(write_err)?;
    let file = sink.into_inner().map_err(|e| write_err(e.into_error()))?;
    Ok((file, rec.written))
}

/// Marks a recording failed (once): alarm, log, stop writing.
fn fail(shared: &Shared, rec: &mut Recording, e: RecordingError) {
    if rec.error.is_none() {
        report(shared, &rec.path, &e);
        rec.error = Some(e);
    }
    if let Some(sink) = rec.sink.take() {
        // No more audio comes to this file: its reserved space goes back (a disk that
        // filled up needs it most).
        let _ = rec.reserved.release_at_size(sink.get_ref());
    }
}

/// Raises the alarm for one failed recording.
pub(super) fn report(shared: &Shared, path: &std::path::Path, e: &RecordingError) {
    shared.errors.fetch_add(1, Ordering::Relaxed);
    tracing::error!(path = %path.display(), error = %e,
        "recording failed; the call continues unrecorded");
}

/// Appends `frames` frames at `start` (A-law codes, stored as they are or expanded to
/// PCM; silence if `codes` is `None`), then updates the header when due; true if it did.
fn append(
    rec: &mut Recording,
    scratch: &mut Vec<u8>,
    limits: Limits,
    start: u64,
    frames: usize,
    codes: Option<&[u8]>,
) -> Result<bool, RecordingError> {
    let Some(sink) = rec.sink.as_mut() else {
        return Ok(false);
    };
    let path = &rec.path;
    let write_err = |source| RecordingError::Write {
        path: path.clone(),
        source,
    };
    let end = (start + frames as u64).max(rec.written);
    rec.reserved.cover(
        sink.get_ref(),
        HEADER_LEN + end * limits.format.bytes_per_frame(),
    );
    // A block discarded upstream leaves a hole: keep the timeline with silence.
    if start > rec.written {
        let gap = start - rec.written;
        write_silence(sink, gap, limits.format).map_err(write_err)?;
        rec.since_header += gap;
        rec.written = start;
    }
    let skip = (rec.written - start).min(frames as u64) as usize;
    let n = frames - skip;
    match codes {
        // The block's bytes are the file's: interleaved A-law, written as they are.
        Some(c) if limits.format == RecordingFormat::Alaw => {
            sink.write_all(&c[skip * 2..]).map_err(write_err)?;
        }
        Some(c) => {
            let c = &c[skip * 2..];
            // Sized once, then filled pairwise from a table: a per-sample
            // `extend_from_slice` checks capacity for each of the 24 M samples a second
            // of 1,500 calls.
            let pcm = &*PCM_LE;
            scratch.resize(c.len() * 2, 0);
            for (dst, &code) in scratch.chunks_exact_mut(2).zip(c) {
                dst.copy_from_slice(&pcm[usize::from(code)]);
            }
            sink.write_all(scratch).map_err(write_err)?;
        }
        None => write_silence(sink, n as u64, limits.format).map_err(write_err)?,
    }
    rec.written += n as u64;
    rec.since_header += n as u64;
    if rec.since_header < limits.header_frames {
        return Ok(false);
    }
    rec.since_header = 0;
    update_header(sink, rec.written, limits.format).map_err(write_err)?;
    Ok(true)
}

/// Lets the page cache drop a recording's audio that the flusher has surely synced (its
/// pages are clean then; dirty ones would only be queued for writeback).
///
/// Why: recordings are written once and read once more, at the end, for the checksum; kept
/// cached, 1,500 calls push ~48 MB a second of them through memory, evicting the database
/// and prompts and leaving reclaim to kswapd. Dropped early, the same pages are reused for
/// the next audio, which on a virtual machine also avoids the host's cost of touching
/// fresh memory (4× the kernel time per byte written, measured with `dd`). The final
/// checksum then reads the older audio back from disk, sequentially.
/// `syncs` is the flusher's count of completed syncs.
fn release_synced(rec: &mut Recording, syncs: u64, format: RecordingFormat) {
    let Some(sink) = rec.sink.as_ref() else {
        return;
    };
    let (seen, upto) = rec.mark;
    if syncs < seen + 2 {
        return;
    }
    let upto = upto & !(PAGE - 1);
    if upto > rec.released {
        drop_cached(sink.get_ref(), rec.released, upto - rec.released);
        rec.released = upto;
    }
    rec.mark = (syncs, HEADER_LEN + rec.written * format.bytes_per_frame());
}

const PAGE: u64 = 4096;

/// Advises the kernel that `len` bytes at `from` will not be needed soon. Only clean
/// pages go; dirty ones are queued for writeback and stay. Advice: failure is harmless.
pub(super) fn drop_cached(file: &File, from: u64, len: u64) {
    use std::os::fd::AsRawFd;
    let (Ok(from), Ok(len)) = (i64::try_from(from), i64::try_from(len)) else {
        return;
    };
    // SAFETY: posix_fadvise only reads its integer arguments; the fd is open for as long
    // as `file` is borrowed.
    let rc = unsafe { libc::posix_fadvise(file.as_raw_fd(), from, len, libc::POSIX_FADV_DONTNEED) };
    if rc != 0 {
        tracing::debug!(errno = rc, "posix_fadvise(DONTNEED) on a recording failed");
    }
}

/// The writer's nice value when the process may raise it (CAP_SYS_NICE; systemd's
/// `Nice=`/`AmbientCapabilities=` or root).
const WRITER_NICE: i32 = -5;
/// The scheduler slice the writer asks for (Linux 6.12+ `sched_setattr` on a normal
/// thread; no privilege needed): a short slice lets it run as soon as it wakes.
const WRITER_SLICE_NS: u64 = 500_000;

/// Asks the scheduler to run the writer promptly when the cores are saturated. Why: the
/// writer needs ~10 % of a core, but while it waits for one every block it has not written
/// is memory (2 KB each) and past `max_queued_blocks` audio is lost, while a media worker
/// that runs a little later only leaves datagrams in its sockets' buffers. In a saturated
/// load run the writer spent more time runnable-but-waiting than running (17–89 % of wall
/// time against 5–22 %) and its queue reached 5,856 blocks during a filesystem sync, 8 KB
/// per call. Without a privilege or on an older kernel nothing changes; that is logged.
fn raise_priority() {
    // SAFETY: plain system calls on integers and a local struct; gettid always succeeds.
    let tid = unsafe { libc::syscall(libc::SYS_gettid) } as libc::id_t;
    // SAFETY: as above.
    if unsafe { libc::setpriority(libc::PRIO_PROCESS, tid, WRITER_NICE) } != 0 {
        tracing::info!(
            error = %std::io::Error::last_os_error(),
            "recording writer keeps its nice value (nice {WRITER_NICE} needs CAP_SYS_NICE)"
        );
    }
    // SAFETY: as above; errno is cleared first because -1 is also a valid nice value.
    let nice = unsafe {
        *libc::__errno_location() = 0;
        libc::getpriority(libc::PRIO_PROCESS, tid)
    };
    // SAFETY: the struct is zero-initialised plain data of the size the kernel is told.
    let rc = unsafe {
        let mut attr: libc::sched_attr = std::mem::zeroed();
        attr.size = std::mem::size_of::<libc::sched_attr>() as u32;
        attr.sched_policy = libc::SCHED_OTHER as u32;
        attr.sched_nice = nice;
        attr.sched_runtime = WRITER_SLICE_NS;
        libc::syscall(
            libc::SYS_sched_setattr,
            tid,
            &attr as *const libc::sched_attr,
            0,
        )
    };
    if rc != 0 {
        tracing::info!(
            error = %std::io::Error::last_os_error(),
            "recording writer keeps the default scheduler slice (custom slices need Linux 6.12)"
        );
    }
}

fn create(path: &std::path::Path, format: RecordingFormat) -> Result<File, RecordingError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| RecordingError::CreateDir {
            path: path.to_owned(),
            source,
        })?;
    }
    let create_err = |source| RecordingError::Create {
        path: path.to_owned(),
        source,
    };
    // Read access too: the checksum is computed from the file itself at finish.
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(create_err)?;
    // An empty but valid WAV from the first moment.
    file.write_all_at(&format.header(0), 0)
        .map_err(create_err)?;
    let mut file = file;
    std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(HEADER_LEN)).map_err(create_err)?;
    Ok(file)
}

fn write_silence(
    sink: &mut BufWriter<File>,
    frames: u64,
    format: RecordingFormat,
) -> std::io::Result<()> {
    let page = match format {
        RecordingFormat::Alaw => &ALAW_SILENCE,
        RecordingFormat::Pcm16 => &PCM_SILENCE,
    };
    let mut left = frames * format.bytes_per_frame();
    while left > 0 {
        let n = left.min(page.len() as u64) as usize;
        sink.write_all(&page[..n])?;
        left -= n as u64;
    }
    Ok(())
}

/// Flushes buffered audio to the OS, then rewrites the sizes for `frames` frames.
fn update_header(
    sink: &mut BufWriter<File>,
    frames: u64,
    format: RecordingFormat,
) -> std::io::Result<()> {
    sink.flush()?;
    write_sizes(sink.get_ref(), frames, format)
}

/// Rewrites a recording's size fields in place for `frames` frames (the rest of the
/// header never changes); also what seals a recording after a crash.
pub(super) fn write_sizes(
    file: &File,
    frames: u64,
    format: RecordingFormat,
) -> std::io::Result<()> {
    let header = format.header(frames);
    file.write_all_at(&header[4..format.fields_end()], 4)?;
    file.write_all_at(&header[DATA_SIZE_AT..], DATA_SIZE_AT as u64)
}
