//! Prompt files copied into the library's directory by hand go live without a restart: a
//! watch on the directory ([`crate::dirwatch`], re-armed if the directory is replaced)
//! that brings the running [`PromptLibrary`] in line with the files.
//!
//! Each batch of changes (debounced) runs one [`PromptSync::sync`] over the whole
//! directory: every `.wav` is stat'ed and only those whose [`FileStamp`] differs from the
//! entry's are decoded (converted as at start-up, checked as strictly as an upload). So a
//! file the API wrote (temporary file renamed over the old one) costs a stat, not a
//! second decode, and a directory swapped whole or renamed sub-directories need no event
//! bookkeeping. The rules:
//!
//! - a new or changed file that decodes replaces the entry: the next prompt played is it;
//! - one that does not (truncated, not a WAV, A-law…) is refused with a log line naming
//!   the file, the previous version keeps playing, and it is not tried again until it
//!   changes;
//! - a deleted file drops its prompt, unless something still plays it (a flow of the
//!   running set, the emergency announcement, a service's prompts: the `users` function
//!   says): then the copy in memory stays and an error names the users, once;
//! - a directory that cannot be read (gone mid-deploy) changes nothing.
//!
//! Decoding runs on the watcher's own thread, never on a tokio worker.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::RecursiveMode;
use tracing::{error, info, warn};

use super::prompt::{FileStamp, Prompt, PromptLibrary, library_files};
use crate::dirwatch::{self, DirWatchError, DirWatcher};

/// How long the directory must stay quiet before the library is synced.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(500);

/// Who plays a prompt (flow names, "the emergency announcement", …); empty when nothing.
pub type Users = Box<dyn Fn(&str) -> Vec<String> + Send>;

/// What one sync changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Prompts added or replaced from their files.
    pub loaded: Vec<String>,
    /// Prompts dropped because their file was deleted.
    pub removed: Vec<String>,
    /// Files that did not decode; their prompts (if any) keep the previous audio.
    pub refused: Vec<PathBuf>,
    /// Prompts whose file was deleted but that are still played, so kept in memory.
    pub kept: Vec<String>,
}

/// Brings a library in line with its directory, remembering what it already refused or
/// warned about so that each problem is logged once.
pub struct PromptSync {
    library: Arc<PromptLibrary>,
    users: Users,
    /// Files that did not decode, as they were then.
    refused: HashMap<PathBuf, FileStamp>,
    /// Prompts kept without a file, already logged.
    kept: HashSet<String>,
}

impl PromptSync {
    pub fn new(library: Arc<PromptLibrary>, users: Users) -> PromptSync {
        PromptSync {
            library,
            users,
            refused: HashMap::new(),
            kept: HashSet::new(),
        }
    }

    /// Loads new and changed prompt files, drops prompts whose file is gone (unless in
    /// use), and logs each change.
    pub fn sync(&mut self) -> SyncReport {
        let mut report = SyncReport::default();
        let Some(dir) = self.library.dir().map(Path::to_path_buf) else {
            return report;
        };
        let files = match library_files(&dir) {
            Ok(files) => files,
            Err(e) => {
                warn!(
                    dir = %dir.display(),
                    error = %e,
                    "prompts directory unreadable: the loaded prompts stay as they are"
                );
                return report;
            }
        };
        for (name, path) in &files {
            self.sync_file(name, path, &mut report);
        }
        self.refused.retain(|path, _| path.exists());
        for (name, stamp) in self.library.files() {
            if !files.contains_key(&name) {
                self.file_gone(&name, stamp, &mut report);
            }
        }
        report
    }

    fn sync_file(&mut self, name: &str, path: &Path, report: &mut SyncReport) {
        let Some(stamp) = FileStamp::of(path) else {
            return; // Gone since the listing: the next batch sees the removal.
        };
        let expected = self.library.file_stamp(name);
        if expected == Some(stamp) || self.refused.get(path) == Some(&stamp) {
            return;
        }
        self.kept.remove(name);
        match Prompt::load_strict(path, name.to_owned()) {
            Ok(prompt) => {
                self.refused.remove(path);
                let duration_ms = prompt.duration_ms();
                let replaced = self.library.get(name).is_some();
                if self.library.put_from_file(prompt, stamp, expected) {
                    info!(
                        prompt = name,
                        file = %path.display(),
                        duration_ms,
                        replaced,
                        "prompt file loaded: the next call hears it"
                    );
                    report.loaded.push(name.to_owned());
                }
            }
            Err(e) => {
                let had = self.library.get(name).is_some();
                error!(
                    prompt = name,
                    file = %path.display(),
                    error = %e,
                    "prompt file refused: {}",
                    if had {
                        "the previous version keeps playing"
                    } else {
                        "the prompt stays out of the library"
                    }
                );
                self.refused.insert(path.to_owned(), stamp);
                report.refused.push(path.to_owned());
            }
        }
    }

    fn file_gone(&mut self, name: &str, stamp: FileStamp, report: &mut SyncReport) {
        let users = (self.users)(name);
        if users.is_empty() {
            if self.library.forget_file(name, stamp) {
                self.kept.remove(name);
                info!(prompt = name, "prompt file deleted: prompt removed");
                report.removed.push(name.to_owned());
            }
            return;
        }
        report.kept.push(name.to_owned());
        if self.kept.insert(name.to_owned()) {
            error!(
                prompt = name,
                users = ?users,
                "prompt file deleted but still played by {}: the loaded copy stays until \
                 nothing plays it; put the file back, or change the flows first",
                users.join(", ")
            );
        }
    }
}

/// A running prompt watcher; dropping it stops watching.
pub struct PromptWatcher {
    _watch: DirWatcher,
}

impl std::fmt::Debug for PromptWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PromptWatcher")
    }
}

impl PromptWatcher {
    /// Keeps the watcher alive until `cancel` fires (for `tokio::spawn` at start-up).
    pub async fn run_until(self, cancel: tokio_util::sync::CancellationToken) {
        cancel.cancelled().await;
    }
}

/// Watches the library's directory (with its sub-directories) and syncs the library
/// `debounce` after each batch of changes; each sync's report also goes to `observer`.
/// A library without a directory is an error.
pub fn start_with(
    library: Arc<PromptLibrary>,
    users: Users,
    debounce: Duration,
    mut observer: impl FnMut(&SyncReport) + Send + 'static,
) -> Result<PromptWatcher, DirWatchError> {
    let dir = library.dir().map(Path::to_path_buf).unwrap_or_default();
    let mut sync = PromptSync::new(library, users);
    let watch = dirwatch::watch(
        "prompts",
        &dir,
        RecursiveMode::Recursive,
        debounce,
        move |changes| {
            if changes.everything || changes.paths.iter().any(|p| may_hold_prompts(p)) {
                let report = sync.sync();
                observer(&report);
            }
        },
    )?;
    info!(dir = %dir.display(), "watching prompts for files copied in");
    Ok(PromptWatcher { _watch: watch })
}

/// At start-up: watches the library's directory until `cancel` fires. A failure to watch
/// is logged and not fatal: uploads over the API still work.
pub fn spawn(
    library: Arc<PromptLibrary>,
    users: Users,
    cancel: tokio_util::sync::CancellationToken,
) {
    if library.dir().is_none() {
        return;
    }
    match start_with(library, users, DEFAULT_DEBOUNCE, |_| {}) {
        Ok(w) => {
            tokio::spawn(w.run_until(cancel));
        }
        Err(e) => {
            error!(error = %e, "prompt files copied in need a restart; uploads over the API still work")
        }
    }
}

/// A WAV file, or something that may be a directory of them (a removed one cannot be
/// asked); hidden files (the API's `.upload-…tmp`, editors' temporaries) never are.
fn may_hold_prompts(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if name.starts_with('.') {
        return false;
    }
    match path.extension().and_then(|e| e.to_str()) {
        Some(ext) => ext.eq_ignore_ascii_case("wav") || path.is_dir(),
        None => true,
    }
}
