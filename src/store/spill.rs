//! The spill journal: an append-only JSON-lines file of call events that could not be
//! held in memory (channel full, backlog full, database down at shutdown). It is the last
//! resort before losing a call record, so it is written synchronously.
//!
//! Replaying never truncates a file whose events are not yet committed: the journal is
//! first renamed to `<spill>.replaying` (new spills start a fresh journal), read in
//! chunks, and removed only once everything read from it is in the database. A crash in
//! between replays it again at the next start, which is harmless because writing an
//! event twice stores it once.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use tracing::warn;

use super::event::CallEvent;

pub(super) struct Spill {
    path: PathBuf,
    replay_path: PathBuf,
    /// The open journal; `None` until the first spill after start or after a rotation.
    file: Mutex<Option<File>>,
    /// Set by every append, cleared when the writer rotates the journal for replay.
    dirty: AtomicBool,
}

/// Events read from the replay file, and where reading stopped.
pub(super) struct ReplayChunk {
    pub events: Vec<CallEvent>,
    pub next_offset: u64,
    pub at_end: bool,
    /// Lines that did not parse (typically the last line of a crash mid-write).
    pub unreadable: u64,
}

impl Spill {
    /// Prepares the journal at `path` (creating its directory). Anything left by an
    /// earlier run is gathered into the replay file, to be written first.
    pub fn open(path: PathBuf) -> io::Result<Spill> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir)?;
        }
        let mut replay_path = path.clone().into_os_string();
        replay_path.push(".replaying");
        let replay_path = PathBuf::from(replay_path);
        if path.exists() {
            if replay_path.exists() {
                let mut replay = OpenOptions::new().append(true).open(&replay_path)?;
                io::copy(&mut File::open(&path)?, &mut replay)?;
                replay.sync_data()?;
                fs::remove_file(&path)?;
            } else {
                fs::rename(&path, &replay_path)?;
            }
        }
        Ok(Spill {
            path,
            replay_path,
            file: Mutex::new(None),
            dirty: AtomicBool::new(false),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends events as JSON lines; `sync` forces them to disk (used at shutdown).
    pub fn append<'a>(
        &self,
        events: impl IntoIterator<Item = &'a CallEvent>,
        sync: bool,
    ) -> io::Result<u64> {
        let mut buf = Vec::new();
        let mut n = 0;
        for ev in events {
            serde_json::to_writer(&mut buf, ev).map_err(io::Error::other)?;
            buf.push(b'\n');
            n += 1;
        }
        // A poisoned lock only means another spiller panicked mid-append; the file
        // handle itself is still usable.
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if file.is_none() {
            *file = Some(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.path)?,
            );
        }
        let f = file.as_mut().expect("journal opened just above");
        f.write_all(&buf)?;
        if sync {
            f.sync_data()?;
        }
        self.dirty.store(true, Ordering::Release);
        Ok(n)
    }

    /// Whether a replay file is waiting (from start-up or an earlier rotation).
    pub fn replay_pending(&self) -> bool {
        self.replay_path.exists()
    }

    /// Moves the journal aside for replay if anything was spilled since the last
    /// rotation. Only called when no replay file exists.
    pub fn rotate(&self) -> io::Result<bool> {
        if !self.dirty.swap(false, Ordering::AcqRel) {
            return Ok(false);
        }
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        *file = None;
        if !self.path.exists() {
            return Ok(false);
        }
        fs::rename(&self.path, &self.replay_path)?;
        Ok(true)
    }

    /// Reads up to `max` events from the replay file, starting at byte `offset`.
    pub fn read_replay(&self, offset: u64, max: usize) -> io::Result<ReplayChunk> {
        let mut file = File::open(&self.replay_path)?;
        file.seek(SeekFrom::Start(offset))?;
        let mut reader = BufReader::new(file);
        let mut chunk = ReplayChunk {
            events: Vec::new(),
            next_offset: offset,
            at_end: false,
            unreadable: 0,
        };
        let mut line = String::new();
        while chunk.events.len() < max {
            line.clear();
            let n = reader.read_line(&mut line)?;
            if n == 0 {
                chunk.at_end = true;
                break;
            }
            chunk.next_offset += n as u64;
            match serde_json::from_str(line.trim_end()) {
                Ok(ev) => chunk.events.push(ev),
                Err(e) if !line.trim().is_empty() => {
                    warn!(path = %self.replay_path.display(), offset = chunk.next_offset,
                          error = %e, line = %line.trim_end(), "unreadable line in the event spill journal");
                    chunk.unreadable += 1;
                }
                Err(_) => {}
            }
        }
        Ok(chunk)
    }

    /// Forgets the replay file once all its events are committed.
    pub fn remove_replay(&self) -> io::Result<()> {
        match fs::remove_file(&self.replay_path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::{event, offered};

    #[test]
    fn spilled_events_come_back_in_chunks_and_leftovers_are_gathered_at_open() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("sub/spill.jsonl");
        let events: Vec<CallEvent> = (0..5)
            .map(|i| event("20261123-000001", i, 1, offered("x")))
            .collect();

        let spill = Spill::open(path.clone()).expect("opens");
        assert!(!spill.replay_pending());
        assert!(!spill.rotate().expect("nothing to rotate"));
        assert_eq!(spill.append(&events[..3], false).expect("appends"), 3);
        assert!(spill.rotate().expect("rotates"));
        spill
            .append(&events[3..], true)
            .expect("appends after rotation");

        let first = spill.read_replay(0, 2).expect("reads");
        assert_eq!(first.events, events[..2]);
        assert!(!first.at_end);
        let rest = spill.read_replay(first.next_offset, 10).expect("reads");
        assert_eq!(rest.events, events[2..3]);
        assert!(rest.at_end);

        // A restart before the replay was committed: both files are replayed, old first.
        drop(spill);
        let spill = Spill::open(path).expect("reopens");
        assert!(spill.replay_pending());
        let all = spill.read_replay(0, 100).expect("reads");
        assert_eq!(all.events, events);
        spill.remove_replay().expect("removes");
        assert!(!spill.replay_pending());
    }

    #[test]
    fn a_torn_last_line_is_counted_not_fatal() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("spill.jsonl");
        let good = event("20261123-000001", 0, 1, offered("x"));
        let mut text = serde_json::to_string(&good).expect("serializes");
        text.push_str("\n{\"protocol\":\"2026");
        fs::write(&path, text).expect("writes");
        let spill = Spill::open(path).expect("opens");
        let chunk = spill.read_replay(0, 10).expect("reads");
        assert_eq!(chunk.events, [good]);
        assert_eq!(chunk.unreadable, 1);
        assert!(
            chunk.at_end
                || spill
                    .read_replay(chunk.next_offset, 10)
                    .expect("reads")
                    .at_end
        );
    }
}
