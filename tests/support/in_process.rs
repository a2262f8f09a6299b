//! A test server inside the test process (`atende::app::start` on its own runtime), for
//! tests that watch what only the process itself can see: the bus and the registry of
//! live calls on the floor. Ports, config, database and peers are the same as for a
//! server process; only the process boundary is gone.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use atende::floor::Floor;

static IN_PROCESS: AtomicBool = AtomicBool::new(false);

/// Whether `Server::launch` runs the server inside the test process.
pub fn enabled() -> bool {
    IN_PROCESS.load(Ordering::Relaxed)
}

/// From now on, `Server::launch` in this test process starts the server in-process.
pub fn set_in_process(on: bool) {
    IN_PROCESS.store(on, Ordering::Relaxed);
}

/// A running in-process server.
pub struct InProcess {
    pub floor: Arc<Floor>,
    runtime: tokio::runtime::Handle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl InProcess {
    /// Starts the server on `config` in a thread of its own; returns once it is up.
    pub fn start(config: &Path) -> InProcess {
        let config = atende::config::Config::load(config).expect("test config is valid");
        let (up_tx, up_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            let handle = rt.handle().clone();
            rt.block_on(async move {
                let running = atende::app::start(config).await.expect("atende starts");
                let _ = up_tx.send((running.exchange.floor().clone(), handle));
                let _ = stopped.await;
                running.shutdown().await;
            });
        });
        let (floor, runtime) = up_rx.recv().expect("in-process server started");
        InProcess {
            floor,
            runtime,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Runs `f` on the server's runtime and waits for it.
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.runtime.block_on(f)
    }

    /// The clean stop, waited for.
    pub fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
