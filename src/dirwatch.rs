//! A debounced watch on one directory that survives the directory being replaced: what
//! the IVR flows and the prompt library use to go live without a restart.
//!
//! Deploy tools often swap a directory whole (`mv new flows`, `rm -rf flows && mkdir
//! flows`, a symlink switched with `ln -sfn`). A plain watch follows the old inode and
//! goes deaf. So the parent is watched too (not recursively: only its entries), and
//! when the directory's own name is created, removed or renamed there, the watch on the
//! directory is dropped and set up again on whatever now carries the name. Every change
//! after a re-arm is reported as "read everything again", because files copied into the
//! new directory before the watch was back produced no events.
//!
//! Limits: notify's own thread delivers events; ours (one per watcher) turns each
//! debounced batch into one [`Changes`] call, so the callback may block (it reads files)
//! without holding up notify. Reads (inotify's open/close) are not changes: reacting to
//! them would loop, as the callbacks read the directory. A directory that is gone stays
//! unwatched until its name comes back in the parent. A watch on `/` has no parent and
//! cannot notice being replaced.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use notify::event::ModifyKind;
use notify::{EventKind, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};
use thiserror::Error;
use tracing::{error, info, warn};

#[derive(Debug, Error)]
pub enum DirWatchError {
    #[error("cannot watch {what} directory {dir}: {source}")]
    Watch {
        what: &'static str,
        dir: String,
        #[source]
        source: notify::Error,
    },
    #[error("cannot watch {what} directory {dir}: {source}")]
    Io {
        what: &'static str,
        dir: String,
        #[source]
        source: std::io::Error,
    },
}

/// One debounced batch of changes under the watched directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// Paths under the directory that were created, written, renamed or removed, sorted
    /// and without repeats (the directory's own path never appears here).
    pub paths: Vec<PathBuf>,
    /// The directory was replaced (or events were lost): read all of it again.
    pub everything: bool,
}

/// A running watch; dropping it stops watching (the callback is not called again once
/// the batch in hand, if any, is done).
pub struct DirWatcher {
    stop: mpsc::Sender<Msg>,
}

impl std::fmt::Debug for DirWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DirWatcher")
    }
}

impl Drop for DirWatcher {
    fn drop(&mut self) {
        // The worker ends only on this message; if it is somehow gone, nothing is left
        // to stop.
        let _ = self.stop.send(Msg::Stop);
    }
}

enum Msg {
    Events(DebounceEventResult),
    Stop,
}

type Notify = Debouncer<notify::RecommendedWatcher, RecommendedCache>;

/// Watches `dir` (`mode`: its sub-directories too, or not) and calls `on_change` with each
/// batch of changes, `debounce` after the last event of the batch. `what` names the
/// directory in log lines ("IVR flows", "prompts").
pub fn watch(
    what: &'static str,
    dir: &Path,
    mode: RecursiveMode,
    debounce: Duration,
    mut on_change: impl FnMut(&Changes) + Send + 'static,
) -> Result<DirWatcher, DirWatchError> {
    let io = |source| DirWatchError::Io {
        what,
        dir: dir.display().to_string(),
        source,
    };
    let root = stable_path(dir).map_err(io)?;
    let notify_err = |source| DirWatchError::Watch {
        what,
        dir: root.display().to_string(),
        source,
    };
    let (tx, rx) = mpsc::channel();
    let events = tx.clone();
    let mut debouncer = new_debouncer(debounce, None, move |r| {
        // The worker only goes away after a Stop; a failed send then is harmless.
        let _ = events.send(Msg::Events(r));
    })
    .map_err(notify_err)?;
    debouncer.watch(&root, mode).map_err(notify_err)?;
    let parent = root.parent().map(Path::to_path_buf);
    if let Some(parent) = &parent
        && let Err(e) = debouncer.watch(parent, RecursiveMode::NonRecursive)
    {
        warn!(
            dir = %root.display(),
            parent = %parent.display(),
            error = %e,
            "cannot watch the parent of the {what} directory: replacing the directory \
             whole will not be noticed until a restart"
        );
    }
    let worker = Worker {
        what,
        root,
        mode,
        debouncer,
    };
    std::thread::Builder::new()
        .name(format!("watch {what}"))
        .spawn(move || worker.run(&rx, &mut on_change))
        .map_err(io)?;
    Ok(DirWatcher { stop: tx })
}

/// The directory's path as events will name it: the parent resolved (so events from the
/// parent's watch and from the directory's agree), the last part kept as given, so a
/// symlink switched to another target is noticed.
fn stable_path(dir: &Path) -> std::io::Result<PathBuf> {
    let abs = std::path::absolute(dir)?;
    match (abs.parent(), abs.file_name()) {
        (Some(parent), Some(name)) => Ok(std::fs::canonicalize(parent)
            .unwrap_or_else(|_| parent.to_path_buf())
            .join(name)),
        _ => Ok(abs),
    }
}

struct Worker {
    what: &'static str,
    root: PathBuf,
    mode: RecursiveMode,
    debouncer: Notify,
}

impl Worker {
    fn run(mut self, rx: &mpsc::Receiver<Msg>, on_change: &mut impl FnMut(&Changes)) {
        while let Ok(msg) = rx.recv() {
            match msg {
                Msg::Stop => break,
                Msg::Events(Err(errors)) => {
                    for e in errors {
                        error!(dir = %self.root.display(), error = %e, "{} watcher error", self.what);
                    }
                }
                Msg::Events(Ok(events)) => {
                    let (mut changes, replaced) = self.sort(&events);
                    if replaced {
                        self.rearm();
                        changes.everything = true;
                    }
                    if changes.everything || !changes.paths.is_empty() {
                        // A panic in one reload must not end live reloading for good.
                        let run = std::panic::AssertUnwindSafe(|| on_change(&changes));
                        if std::panic::catch_unwind(run).is_err() {
                            error!(
                                dir = %self.root.display(),
                                "handling a {} change panicked; still watching", self.what
                            );
                        }
                    }
                }
            }
        }
    }

    /// The batch's changes under the directory, and whether the directory itself was
    /// replaced.
    fn sort(&self, events: &[notify_debouncer_full::DebouncedEvent]) -> (Changes, bool) {
        let mut changes = Changes::default();
        let mut replaced = false;
        for e in events {
            if e.need_rescan() {
                changes.everything = true;
            }
            if matches!(e.kind, EventKind::Access(_)) {
                continue;
            }
            for p in &e.paths {
                if *p == self.root {
                    replaced |= matches!(
                        e.kind,
                        EventKind::Create(_)
                            | EventKind::Remove(_)
                            | EventKind::Modify(ModifyKind::Name(_))
                    );
                } else if p.starts_with(&self.root) {
                    changes.paths.push(p.clone());
                }
            }
        }
        changes.paths.sort();
        changes.paths.dedup();
        (changes, replaced)
    }

    /// Drops the watch on the old directory (notify may have dropped it already) and
    /// watches what carries the name now, if anything does.
    fn rearm(&mut self) {
        let _ = self.debouncer.unwatch(&self.root);
        if !self.root.is_dir() {
            warn!(
                dir = %self.root.display(),
                "the {} directory is gone: watching for it to come back", self.what
            );
            return;
        }
        match self.debouncer.watch(&self.root, self.mode) {
            Ok(()) => info!(
                dir = %self.root.display(),
                "the {} directory was replaced: watching the new one", self.what
            ),
            Err(e) => error!(
                dir = %self.root.display(),
                error = %e,
                "the {} directory was replaced and the new one cannot be watched", self.what
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A watcher on `<tmp>/watched` whose batches arrive on the receiver.
    fn watched(
        mode: RecursiveMode,
    ) -> (
        tempfile::TempDir,
        PathBuf,
        mpsc::Receiver<Changes>,
        DirWatcher,
    ) {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("watched");
        std::fs::create_dir(&dir).expect("mkdir");
        let (tx, rx) = mpsc::channel();
        let w = watch("test", &dir, mode, Duration::from_millis(50), move |c| {
            let _ = tx.send(c.clone());
        })
        .expect("watch starts");
        (tmp, dir, rx, w)
    }

    /// The first batch that `want` accepts, within 20 s (the OS sends events when it does).
    fn until(rx: &mpsc::Receiver<Changes>, want: impl Fn(&Changes) -> bool) -> Changes {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let c = rx.recv_timeout(left).expect("a batch of changes arrives");
            if want(&c) {
                return c;
            }
        }
    }

    fn names(c: &Changes) -> Vec<String> {
        c.paths
            .iter()
            .filter_map(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn a_write_is_reported_and_reads_are_not() {
        let (_tmp, dir, rx, _w) = watched(RecursiveMode::NonRecursive);
        std::fs::write(dir.join("a.yaml"), "x").expect("write");
        let c = until(&rx, |c| !c.paths.is_empty());
        assert_eq!(names(&c), ["a.yaml"]);
        assert!(!c.everything);
        let _ = std::fs::read(dir.join("a.yaml"));
        assert!(
            rx.recv_timeout(Duration::from_millis(500)).is_err(),
            "no batch for a read"
        );
    }

    #[test]
    fn a_directory_renamed_over_is_watched_again() {
        let (tmp, dir, rx, _w) = watched(RecursiveMode::NonRecursive);
        let new = tmp.path().join("new");
        std::fs::create_dir(&new).expect("mkdir");
        std::fs::write(new.join("b.yaml"), "x").expect("write");
        std::fs::rename(&dir, tmp.path().join("old")).expect("move away");
        std::fs::rename(&new, &dir).expect("move in");
        until(&rx, |c| c.everything);
        // The new directory is the one watched now, the old one no longer.
        std::fs::write(tmp.path().join("old/stale.yaml"), "x").expect("write old");
        std::fs::write(dir.join("c.yaml"), "x").expect("write new");
        let c = until(&rx, |c| !c.paths.is_empty());
        assert_eq!(names(&c), ["c.yaml"]);
        assert!(c.paths[0].starts_with(tmp.path().canonicalize().expect("canonical")));
    }

    #[test]
    fn a_symlink_switched_to_another_directory_is_followed() {
        let tmp = tempfile::tempdir().expect("tempdir");
        for release in ["r1", "r2"] {
            std::fs::create_dir(tmp.path().join(release)).expect("mkdir");
        }
        let link = tmp.path().join("current");
        std::os::unix::fs::symlink(tmp.path().join("r1"), &link).expect("symlink");
        let (tx, rx) = mpsc::channel();
        let _w = watch(
            "test",
            &link,
            RecursiveMode::NonRecursive,
            Duration::from_millis(50),
            move |c| {
                let _ = tx.send(c.clone());
            },
        )
        .expect("watch starts");
        // `ln -sfn r2 current`, atomically: a new link renamed over the old.
        std::os::unix::fs::symlink(tmp.path().join("r2"), tmp.path().join("next"))
            .expect("symlink");
        std::fs::rename(tmp.path().join("next"), &link).expect("switch");
        until(&rx, |c| c.everything);
        std::fs::write(tmp.path().join("r2/a.yaml"), "x").expect("write");
        let c = until(&rx, |c| !c.paths.is_empty());
        assert_eq!(names(&c), ["a.yaml"]);
        assert!(
            c.paths[0].starts_with(
                tmp.path()
                    .canonicalize()
                    .expect("canonical")
                    .join("current")
            )
        );
    }

    #[test]
    fn a_panicking_callback_does_not_stop_the_watch() {
        let (tx, rx) = mpsc::channel();
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut first = true;
        let _w = watch(
            "test",
            tmp.path(),
            RecursiveMode::NonRecursive,
            Duration::from_millis(50),
            move |c| {
                if std::mem::take(&mut first) {
                    panic!("a bug in a reload");
                }
                let _ = tx.send(c.clone());
            },
        )
        .expect("watch starts");
        std::fs::write(tmp.path().join("a"), "x").expect("write");
        std::thread::sleep(Duration::from_millis(300));
        std::fs::write(tmp.path().join("b"), "x").expect("write");
        let c = until(&rx, |c| !c.paths.is_empty());
        assert!(names(&c).contains(&"b".to_owned()), "{c:?}");
    }

    #[test]
    fn a_directory_removed_and_made_again_is_watched_again() {
        let (_tmp, dir, rx, _w) = watched(RecursiveMode::Recursive);
        std::fs::write(dir.join("a.wav"), "x").expect("write");
        until(&rx, |c| !c.paths.is_empty());
        std::fs::remove_dir_all(&dir).expect("rm -rf");
        std::fs::create_dir_all(dir.join("sub")).expect("mkdir");
        until(&rx, |c| c.everything);
        std::fs::write(dir.join("sub/d.wav"), "x").expect("write");
        let c = until(&rx, |c| !c.paths.is_empty());
        assert_eq!(names(&c), ["d.wav"]);
    }
}
