//! Disk space reserved ahead of a recording's audio, a megabyte at a time, and given back
//! at its end (by the finalizer).
//!
//! Why: a recording grows by a 2 KB append every 128 ms. Left to delayed allocation, ext4
//! allocates its blocks at writeback, under the inode's `i_data_sem`, and each append into
//! a new page takes the same lock to note a delayed block; so while the flusher's
//! `syncfs` writes back 1,500 files, the writer's append to the one being allocated waits
//! (the writer was seen asleep 100–150 ms at a time in `ext4_da_get_block_prep`, its queue
//! growing by ~1,500 blocks each time). Space reserved with `fallocate(KEEP_SIZE)` is
//! allocated once a minute per call, by the writer itself; appends and writeback then find
//! it mapped.
//!
//! Limits: advisory. A filesystem without `fallocate`, or one too full to reserve, gets
//! plain appends (a full disk then fails the append itself, as before). A crash, or a disk
//! error while a recording is sealed, leaves up to `RESERVE_BYTES` allocated past the end
//! of that file; its size and audio are unaffected.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

/// Reserved ahead at a time: 64 s of stereo A-law (32 s of PCM).
pub(super) const RESERVE_BYTES: u64 = 1 << 20;

#[derive(Debug)]
pub(super) struct Reservation {
    /// File offset up to which space is reserved.
    upto: u64,
    /// Set when the filesystem refused: no more attempts for this file.
    refused: bool,
}

impl Reservation {
    /// A reservation for a file whose first `from` bytes are written already.
    pub(super) fn new(from: u64) -> Self {
        Reservation {
            upto: from,
            refused: false,
        }
    }

    /// Makes sure the file's space up to offset `end` is reserved, in whole
    /// `RESERVE_BYTES` steps, without changing its size.
    pub(super) fn cover(&mut self, file: &File, end: u64) {
        if end <= self.upto || self.refused {
            return;
        }
        let len = (end - self.upto).div_ceil(RESERVE_BYTES) * RESERVE_BYTES;
        let (Ok(off), Ok(len_i)) = (i64::try_from(self.upto), i64::try_from(len)) else {
            self.refused = true;
            return;
        };
        // SAFETY: fallocate only reads its integer arguments; `file` keeps the fd open.
        let rc =
            unsafe { libc::fallocate(file.as_raw_fd(), libc::FALLOC_FL_KEEP_SIZE, off, len_i) };
        if rc == 0 {
            self.upto += len;
        } else {
            self.refused = true;
            tracing::debug!(error = %io::Error::last_os_error(),
                "cannot reserve space ahead of a recording; appending without");
        }
    }

    /// Gives back what was reserved past `len`, the file's final size.
    pub(super) fn release(&self, file: &File, len: u64) -> io::Result<()> {
        if self.upto <= len {
            return Ok(());
        }
        // Setting the size it already has drops the blocks allocated beyond it.
        file.set_len(len)
    }

    /// Gives back what was reserved past the file's current size: for a recording that
    /// stops without being sealed (failed, or still open when the writer ends).
    pub(super) fn release_at_size(&self, file: &File) -> io::Result<()> {
        self.release(file, file.metadata()?.len())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::os::unix::fs::MetadataExt;

    use super::*;

    fn allocated(file: &File) -> u64 {
        file.metadata().unwrap().blocks() * 512
    }

    #[test]
    fn space_is_reserved_ahead_without_growing_the_file_and_given_back_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = File::create(dir.path().join("r.wav")).unwrap();
        file.write_all(&[1u8; 4096]).unwrap();
        let mut r = Reservation::new(4096);
        r.cover(&file, 4096 + 2048);
        assert!(!r.refused, "this filesystem refused fallocate");
        assert_eq!(
            file.metadata().unwrap().len(),
            4096,
            "the size must not change"
        );
        assert!(
            allocated(&file) >= RESERVE_BYTES,
            "{} bytes",
            allocated(&file)
        );
        // Appends within the reservation need no more.
        r.cover(&file, 4096 + RESERVE_BYTES);
        assert_eq!(r.upto, 4096 + RESERVE_BYTES);
        r.cover(&file, 4096 + RESERVE_BYTES + 1);
        assert_eq!(r.upto, 4096 + 2 * RESERVE_BYTES);
        file.write_all(&[2u8; 6000]).unwrap();
        r.release(&file, 10_096).unwrap();
        assert_eq!(file.metadata().unwrap().len(), 10_096);
        assert!(
            allocated(&file) <= 16_384,
            "{} bytes kept",
            allocated(&file)
        );
    }

    #[test]
    fn an_unsealed_file_gives_back_what_lies_past_its_size() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = File::create(dir.path().join("cut.wav")).unwrap();
        file.write_all(&[3u8; 8192]).unwrap();
        let mut r = Reservation::new(8192);
        r.cover(&file, 9000);
        assert!(allocated(&file) >= RESERVE_BYTES);
        r.release_at_size(&file).unwrap();
        assert_eq!(file.metadata().unwrap().len(), 8192);
        assert!(
            allocated(&file) <= 12_288,
            "{} bytes kept",
            allocated(&file)
        );
    }

    #[test]
    fn a_refused_reservation_is_not_retried_and_releases_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ro.wav");
        std::fs::write(&path, [0u8; 100]).unwrap();
        // Read-only: fallocate fails with EBADF.
        let file = File::open(&path).unwrap();
        let mut r = Reservation::new(100);
        r.cover(&file, 5000);
        assert!(r.refused);
        assert_eq!(r.upto, 100);
        r.release(&file, 100).unwrap();
        assert_eq!(file.metadata().unwrap().len(), 100);
    }
}
