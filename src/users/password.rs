//! Password hashing and checking (argon2id, default parameters: 19 MiB and tens of
//! milliseconds of CPU each) on a few threads of its own.
//!
//! Run on the blocking pool, a burst of logins (a shift starting, or anyone posting to
//! `/api/login` in a loop) hashed one per request at once: 40 logins together took the
//! server from 49 MB to 829 MB and every core, the media workers' too. Taken one at a time
//! but still on the pool's threads, each thread's allocator kept its own 19 MiB (455 MB
//! after the same burst). Here `hashers` long-lived threads (half the cores, at least one:
//! the calls keep the rest) take the checks in order and give each check's memory back;
//! past `MAX_WAITING` in line a request is refused at once (`AccountError::Busy`, a 503
//! the login page explains) instead of piling up.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex, mpsc};

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use tokio::sync::oneshot;

use super::AccountError;

/// Requests that may wait for a hasher (each waits ~50 ms per one ahead of it, over the
/// hashers): a shift of a few hundred agents logging in together is served in turn.
pub const MAX_WAITING: usize = 256;

/// The process's hashers: every hash and check goes through them.
static GATE: LazyLock<Gate> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    Gate::new((cores / 2).max(1), MAX_WAITING)
});

/// Hashes `password` into a PHC string (argon2id, default parameters, random salt).
pub async fn hash(password: String) -> Result<String, AccountError> {
    GATE.run(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|_| AccountError::Hash)
    })
    .await?
}

/// Whether `password` matches `phc` (false for a malformed hash); `Busy` when too many
/// checks are waiting already.
pub async fn matches(password: String, phc: String) -> Result<bool, AccountError> {
    GATE.run(move || {
        Argon2::default()
            .verify_password(password.as_bytes(), phc.as_str())
            .is_ok()
    })
    .await
}

type Job = Box<dyn FnOnce() + Send>;

/// `hashers` threads taking jobs in order, at most `hashers + waiting` admitted at once
/// (running or in line).
pub(super) struct Gate {
    jobs: Mutex<mpsc::Sender<Job>>,
    queued: Arc<AtomicUsize>,
    max_queued: usize,
}

/// A job's place in line, given back when it has run (or could not be queued).
struct Place(Arc<AtomicUsize>);

impl Drop for Place {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Gate {
    pub(super) fn new(hashers: usize, waiting: usize) -> Gate {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..hashers {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("password-{i}"))
                .spawn(move || {
                    loop {
                        // The lock is held only to take the next job, never while it runs.
                        let job = match rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(poisoned) => poisoned.into_inner().recv(),
                        };
                        match job {
                            Ok(job) => {
                                // A job that panics answers nobody (its caller gets an
                                // error) but must not take the hasher with it.
                                let ran = std::panic::catch_unwind(AssertUnwindSafe(job));
                                if ran.is_err() {
                                    tracing::error!("a password check panicked");
                                }
                                give_back_memory();
                            }
                            Err(_) => return,
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password hasher thread");
            }
        }
        Gate {
            jobs: Mutex::new(tx),
            queued: Arc::new(AtomicUsize::new(0)),
            max_queued: hashers + waiting,
        }
    }

    /// Runs `job` on a hasher when its turn comes (first come, first served). A job whose
    /// caller went away meanwhile still runs (it holds its place until then).
    pub(super) async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AccountError> {
        if self.queued.fetch_add(1, Ordering::AcqRel) >= self.max_queued {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(AccountError::Busy);
        }
        let place = Place(self.queued.clone());
        let (done, result) = oneshot::channel();
        let boxed: Job = Box::new(move || {
            let _ = done.send(job());
            drop(place);
        });
        let sent = self
            .jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(boxed);
        // No hasher thread (none could start): the job comes back and its place with it.
        if sent.is_err() {
            return Err(AccountError::Hash);
        }
        result.await.map_err(|_| AccountError::Hash)
    }
}

/// Returns the freed 19 MiB of a hash to the system. glibc keeps a freed block of that
/// size in the thread's arena and, measured, did not reuse it for the next hash: each of
/// the first logins added 19.5 MB to the server's memory for good (78 MB after four).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn give_back_memory() {
    // SAFETY: malloc_trim only releases free memory of the allocator's own arenas; it
    // takes no pointer and touches nothing in use.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn give_back_memory() {}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_more_than_the_permits_run_at_once() {
        let gate = Arc::new(Gate::new(2, 100));
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let jobs: Vec<_> = (0..12)
            .map(|_| {
                let (gate, running, most) = (gate.clone(), running.clone(), most.clone());
                tokio::spawn(async move {
                    gate.run(move || {
                        let now = running.fetch_add(1, Ordering::AcqRel) + 1;
                        most.fetch_max(now, Ordering::AcqRel);
                        std::thread::sleep(Duration::from_millis(20));
                        running.fetch_sub(1, Ordering::AcqRel);
                    })
                    .await
                })
            })
            .collect();
        for job in jobs {
            assert!(job.await.expect("task").is_ok(), "every job ran in turn");
        }
        assert_eq!(most.load(Ordering::Acquire), 2);
    }

    /// Waits (bounded) until `n` requests are admitted: running or in line.
    async fn admitted(gate: &Gate, n: usize) {
        for _ in 0..500 {
            if gate.queued.load(Ordering::Acquire) == n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("never {n} admitted");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn past_the_line_a_request_is_refused_at_once_and_its_place_given_back() {
        let gate = Arc::new(Gate::new(1, 1));
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let (started, running) = oneshot::channel::<()>();
        let first = {
            let gate = gate.clone();
            tokio::spawn(async move {
                gate.run(move || {
                    let _ = started.send(());
                    let _ = hold.recv();
                })
                .await
            })
        };
        running.await.expect("the first runs");
        // The first holds the hasher; the second waits in line; a third is refused.
        let second = {
            let gate = gate.clone();
            tokio::spawn(async move { gate.run(|| 2).await })
        };
        admitted(&gate, 2).await;
        assert!(matches!(gate.run(|| 3).await, Err(AccountError::Busy)));
        admitted(&gate, 2).await;
        release.send(()).expect("release");
        assert!(first.await.expect("task").is_ok());
        assert_eq!(second.await.expect("task").ok(), Some(2));
        // Both places given back: the line takes requests again.
        admitted(&gate, 0).await;
        assert_eq!(gate.run(|| 4).await.ok(), Some(4));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_job_that_panics_leaves_the_hasher_working() {
        let gate = Gate::new(1, 4);
        let panicked = gate.run(|| -> u8 { panic!("a bad check") }).await;
        assert!(matches!(panicked, Err(AccountError::Hash)));
        assert_eq!(gate.run(|| 5).await.ok(), Some(5));
        admitted(&gate, 0).await;
    }
}
