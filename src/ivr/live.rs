//! The running set of flows, swapped whole on reload.
//!
//! New calls take `current()` once and keep that `Arc` to their end, so a reload never
//! changes a call in progress; a set that fails its checks is refused and the running one
//! stays. Shared read-mostly state: a `RwLock` held only to clone or replace the `Arc`,
//! never across an `.await`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use super::error::CheckErrors;
use super::model::FlowSet;

/// The flows callers meet now, with where they came from and a version that grows with
/// each accepted reload.
#[derive(Debug)]
pub struct LiveFlows {
    dir: PathBuf,
    prompts: Option<PathBuf>,
    /// The configured queue ids a reloaded set must stay within (`None`: not checked).
    queues: RwLock<Option<Vec<String>>>,
    current: RwLock<Arc<FlowSet>>,
    version: AtomicU64,
}

impl LiveFlows {
    /// Loads and checks `dir` (prompts checked under `prompts` when given).
    pub fn load(dir: &Path, prompts: Option<&Path>) -> Result<LiveFlows, CheckErrors> {
        let set = FlowSet::load_dir(dir, prompts)?;
        Ok(LiveFlows {
            dir: dir.to_path_buf(),
            prompts: prompts.map(Path::to_path_buf),
            queues: RwLock::new(None),
            current: RwLock::new(Arc::new(set)),
            version: AtomicU64::new(1),
        })
    }

    /// The set a new call should run, to keep for the whole call.
    pub fn current(&self) -> Arc<FlowSet> {
        match self.current.read() {
            Ok(g) => g.clone(),
            // A writer panicked mid-swap: the Arc inside is still a whole, checked set.
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Relaxed)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// From now on a reloaded set must name only these queues (the server's `[[queues]]`;
    /// a configuration reload that changes them calls this after `check_queue_names`).
    pub fn set_queues(&self, queues: Vec<String>) {
        match self.queues.write() {
            Ok(mut g) => *g = Some(queues),
            Err(poisoned) => *poisoned.into_inner() = Some(queues),
        }
    }

    /// Re-reads the directory; on success new calls get the new set and its version is
    /// returned, on failure nothing changes.
    pub fn reload(&self) -> Result<u64, CheckErrors> {
        let set = Arc::new(FlowSet::load_dir(&self.dir, self.prompts.as_deref())?);
        let queues = match self.queues.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        if let Some(queues) = queues {
            super::check_queue_names(&set, queues.iter().map(String::as_str))?;
        }
        let mut g = match self.current.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        *g = set;
        Ok(self.version.fetch_add(1, Ordering::Relaxed) + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("ivr-flows")
    }

    #[test]
    fn a_broken_reload_keeps_the_running_set_and_a_good_one_replaces_it() {
        let dir = tempfile::tempdir().unwrap();
        for e in std::fs::read_dir(shipped()).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "yaml") {
                std::fs::copy(&p, dir.path().join(p.file_name().unwrap())).unwrap();
            }
        }
        let live = LiveFlows::load(dir.path(), None).unwrap();
        let before = live.current();
        let call_in_progress = live.current();
        let main = dir.path().join("principal.yaml");
        let good = std::fs::read_to_string(&main).unwrap();
        std::fs::write(&main, "nodes: [this is not a flow").unwrap();
        assert!(live.reload().is_err());
        assert_eq!(live.version(), 1);
        assert!(Arc::ptr_eq(&before, &live.current()), "running set kept");
        std::fs::write(&main, good).unwrap();
        assert_eq!(live.reload().unwrap(), 2);
        assert!(!Arc::ptr_eq(&call_in_progress, &live.current()));
        // The call that started before still holds its own, whole set.
        assert!(Arc::strong_count(&call_in_progress) >= 2);
    }
}
