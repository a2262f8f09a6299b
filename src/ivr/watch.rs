//! Live reload from the file system: reloads [`LiveFlows`] when a flow file changes, and
//! the logging every reload shares (watcher, `POST /api/ivr/reload`, `atende ivr reload`).
//!
//! The one part of `ivr` besides `cli` that touches the outside world: the watch itself
//! (debounced, and re-armed when the directory is replaced whole) is [`crate::dirwatch`];
//! its thread calls `reload()` (blocking file reads, never on a tokio worker). An accepted
//! set is logged with its version; a refused one with every error (file, line, node), and
//! the running version stays. Editors save in bursts (temp file, rename, chmod), so events
//! are debounced and only `.yaml`/`.yml` paths count, besides a replaced directory.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use notify::RecursiveMode;
use tracing::{error, info, warn};

use super::error::CheckErrors;
use super::live::LiveFlows;
use crate::dirwatch::{self, DirWatchError, DirWatcher};

/// How long the directory must stay quiet before a reload.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(500);

/// What a reload did, for whoever wants to know besides the log (tests, the API).
pub type ReloadResult = Result<u64, CheckErrors>;

/// Reloads and logs the outcome: the new version, or each problem on its own line.
/// `trigger` says who asked ("watcher", "api").
pub fn reload_logged(flows: &LiveFlows, trigger: &str) -> ReloadResult {
    let result = flows.reload();
    match &result {
        Ok(version) => info!(
            trigger,
            version,
            flows = flows.current().flows().len(),
            dir = %flows.dir().display(),
            "IVR flows reloaded: new calls take this version"
        ),
        Err(errors) => {
            warn!(
                trigger,
                running = flows.version(),
                problems = errors.0.len(),
                dir = %flows.dir().display(),
                "IVR flows refused: the running version stays"
            );
            for e in &errors.0 {
                warn!(
                    file = %e.file.display(),
                    line = e.line,
                    node = e.node.as_deref().unwrap_or(""),
                    problem = %e.problem,
                    "refused flow: {e}"
                );
            }
        }
    }
    result
}

/// A running watcher; dropping it stops watching.
pub struct FlowWatcher {
    _watch: DirWatcher,
}

impl std::fmt::Debug for FlowWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FlowWatcher")
    }
}

impl FlowWatcher {
    /// Keeps the watcher alive until `cancel` fires (for `tokio::spawn` at start-up).
    pub async fn run_until(self, cancel: tokio_util::sync::CancellationToken) {
        cancel.cancelled().await;
    }
}

/// Watches `flows.dir()` and reloads on a change to a flow file, or when the directory
/// was replaced whole, `debounce` after the last event. Each reload's result is also
/// passed to `observer`.
pub fn start_with(
    flows: Arc<LiveFlows>,
    debounce: Duration,
    mut observer: impl FnMut(&ReloadResult) + Send + 'static,
) -> Result<FlowWatcher, DirWatchError> {
    let dir = flows.dir().to_path_buf();
    let watch = dirwatch::watch(
        "IVR flows",
        &dir,
        RecursiveMode::NonRecursive,
        debounce,
        move |changes| {
            if changes.everything || changes.paths.iter().any(|p| is_flow_file(p)) {
                let result = reload_logged(&flows, "watcher");
                observer(&result);
            }
        },
    )?;
    info!(dir = %dir.display(), "watching IVR flows for changes");
    Ok(FlowWatcher { _watch: watch })
}

/// `start_with` the default debounce, only logging. A failure to watch is logged and not
/// fatal: `POST /api/ivr/reload` still works.
pub fn start(flows: Arc<LiveFlows>) -> Option<FlowWatcher> {
    match start_with(flows, DEFAULT_DEBOUNCE, |_| {}) {
        Ok(w) => Some(w),
        Err(e) => {
            error!(error = %e, "IVR live reload from files is off; use `atende ivr reload`");
            None
        }
    }
}

/// At start-up: watches the server's flows (if it has any) until `cancel` fires.
pub fn spawn(flows: Option<Arc<LiveFlows>>, cancel: tokio_util::sync::CancellationToken) {
    if let Some(w) = flows.and_then(start) {
        tokio::spawn(w.run_until(cancel));
    }
}

/// Flow and entry files: `*.yaml`/`*.yml`, not editor back-ups or hidden temp files.
fn is_flow_file(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    !name.starts_with('.')
        && matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    fn shipped_copy() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        copy_shipped(dir.path());
        dir
    }

    fn copy_shipped(to: &Path) {
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("ivr-flows");
        std::fs::create_dir_all(to).expect("mkdir");
        for e in std::fs::read_dir(shipped).expect("shipped flows") {
            let p = e.expect("entry").path();
            if is_flow_file(&p) {
                std::fs::copy(&p, to.join(p.file_name().expect("name"))).expect("copy");
            }
        }
    }

    /// A flow no shipped set has, to tell which directory a reload read.
    const EXTRA: &str = "start: fim\nnodes:\n  fim: { type: hangup }\n";

    #[test]
    fn only_flow_files_trigger_a_reload() {
        assert!(is_flow_file(Path::new("/f/principal.yaml")));
        assert!(is_flow_file(Path::new("entry.yml")));
        assert!(!is_flow_file(Path::new("/f/.principal.yaml.swp")));
        assert!(!is_flow_file(Path::new("/f/.#principal.yaml")));
        assert!(!is_flow_file(Path::new("/f/principal.yaml~")));
        assert!(!is_flow_file(Path::new("/f/notes.txt")));
    }

    /// Waits for the watcher's reload that `want` accepts (not a sleep: the OS event
    /// arrives when it does; one save may come in more than one batch).
    fn until(
        rx: &mpsc::Receiver<ReloadResult>,
        want: impl Fn(&ReloadResult) -> bool,
    ) -> ReloadResult {
        loop {
            let r = rx
                .recv_timeout(Duration::from_secs(20))
                .expect("the watcher reloads after a change");
            if want(&r) {
                return r;
            }
        }
    }

    /// The shipped flows loaded from `dir`, watched with a short debounce; each reload's
    /// result arrives on the receiver.
    fn watched(
        dir: &tempfile::TempDir,
    ) -> (Arc<LiveFlows>, mpsc::Receiver<ReloadResult>, FlowWatcher) {
        watched_at(dir.path())
    }

    fn watched_at(dir: &Path) -> (Arc<LiveFlows>, mpsc::Receiver<ReloadResult>, FlowWatcher) {
        let flows = Arc::new(LiveFlows::load(dir, None).expect("shipped flows load"));
        let (tx, rx) = mpsc::channel();
        let w = start_with(flows.clone(), Duration::from_millis(50), move |r| {
            let _ = tx.send(r.clone());
        })
        .expect("watcher starts");
        (flows, rx, w)
    }

    #[test]
    fn a_file_change_reloads_and_a_broken_one_is_refused() {
        let dir = shipped_copy();
        let (flows, rx, _w) = watched(&dir);
        let main = dir.path().join("principal.yaml");
        let good = std::fs::read_to_string(&main).expect("read");

        std::fs::write(&main, "nodes: [broken").expect("write");
        let errors = until(&rx, Result::is_err).expect_err("a broken flow is refused");
        assert!(errors.0.iter().any(|e| e.file.ends_with("principal.yaml")));
        assert_eq!(flows.version(), 1, "the running version stays");

        std::fs::write(&main, format!("{good}\n# edited\n")).expect("write");
        assert_eq!(until(&rx, Result::is_ok).expect("accepted"), 2);
        assert_eq!(flows.version(), 2);
    }

    #[test]
    fn reading_the_flows_reloads_nothing() {
        let dir = shipped_copy();
        let (flows, rx, _w) = watched(&dir);
        // Someone (or the reload itself) reads every file.
        flows.reload().expect("reload by hand");
        for _ in 0..3 {
            let _ = std::fs::read_to_string(dir.path().join("principal.yaml"));
        }
        assert!(
            rx.recv_timeout(Duration::from_millis(800)).is_err(),
            "no reload from reads"
        );
        assert_eq!(flows.version(), 2, "only the reload by hand");
    }

    #[test]
    fn a_flows_directory_replaced_by_rename_is_loaded_and_watched_again() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let live_dir = tmp.path().join("ivr-flows");
        copy_shipped(&live_dir);
        let (flows, rx, _w) = watched_at(&live_dir);
        assert!(flows.current().flow_id("extra").is_none());

        // A deploy: the new set prepared next to the live one, then swapped in.
        let new = tmp.path().join("ivr-flows.new");
        copy_shipped(&new);
        std::fs::write(new.join("extra.yaml"), EXTRA).expect("write");
        std::fs::rename(&live_dir, tmp.path().join("ivr-flows.old")).expect("move away");
        std::fs::rename(&new, &live_dir).expect("move in");
        let version = until(&rx, |r| r.is_ok()).expect("the new set is accepted");
        assert!(
            flows.current().flow_id("extra").is_some(),
            "the new set runs"
        );

        // The watch followed: an edit in the new directory reloads again, one in the old
        // directory does not.
        std::fs::remove_file(tmp.path().join("ivr-flows.old/operador.yaml")).expect("rm");
        std::fs::write(live_dir.join("extra.yaml"), format!("{EXTRA}# edited\n")).expect("edit");
        let next = until(&rx, |r| r.is_ok()).expect("the edit is accepted");
        assert!(next > version);
        assert!(flows.current().flow_id("operador").is_some());
    }

    #[test]
    fn a_flows_directory_removed_and_made_again_is_loaded_and_watched_again() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let live_dir = tmp.path().join("ivr-flows");
        copy_shipped(&live_dir);
        let (flows, rx, _w) = watched_at(&live_dir);
        std::fs::remove_dir_all(&live_dir).expect("rm -rf");
        let _refused = until(&rx, Result::is_err);
        assert_eq!(flows.version(), 1, "a missing directory is refused");
        copy_shipped(&live_dir);
        std::fs::write(live_dir.join("extra.yaml"), EXTRA).expect("write");
        until(&rx, |r| r.is_ok()).expect("the new set is accepted");
        assert!(flows.current().flow_id("extra").is_some());
    }
}
