//! The media reactor: a few worker threads, each driving many calls' RTP sessions.
//!
//! Why not a task per call: at a thousand calls the per-packet cost of waking a task
//! through the runtime (readiness futures, wakers, and above all a thread park/unpark per
//! packet) was larger than the relaying itself. A worker here instead sleeps for one short
//! batch interval, asks the kernel once which sockets are readable (`epoll` through mio),
//! drains each with one `recvmmsg` (`udp_batch`), and runs the 20 ms clock work of the
//! sessions that are due. Packets wait at most one batch interval (5 ms by default), well
//! inside any phone's jitter buffer.
//!
//! With `media.io_uring` (the default) a worker drives its sockets through io_uring
//! instead (`uring`): receives are armed once per socket and a pass is a few enters; the
//! epoll path stays as the fallback where the kernel offers no io_uring.
//!
//! Legs on a shared port (`shared_port`) are read 64 datagrams per `recvmmsg` and handed
//! to their session by source address; every send of a pass is queued and flushed with
//! `sendmmsg`, one call per run of datagrams for the same socket.
//!
//! Limits: sessions stay on the worker they were attached to (round-robin, or the worker
//! owning their shared port); a worker that falls behind delays its own calls only.
//! Commands from call actors arrive on an unbounded channel and are applied at the start
//! of the next batch.
//!
//! Here: the pool (`MediaReactor`) and what a worker holds. A worker's pass loop and its
//! sessions coming and going are `worker`; reading and delivering packets, `packets`;
//! which leg owns an address on a shared port, `port_legs`; the consultation and
//! supervisor legs' sockets, `consult` and `monitor`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use mio::Poll;
use mio::net::UdpSocket;

use super::ports::{PortError, RtpPorts};
use super::session::{Leg, MAX_SUPERVISORS, MediaCommand, MediaHandle, MediaSession, MediaStats};
use super::shared_port::{LegPort, OpenedPort, SharedPorts};
use super::uring::Uring;

mod consult;
mod monitor;
mod packets;
mod port_legs;
mod worker;

/// Tokens from here up are shared ports (`PORT_TOKEN + port`); from `CONSULT_TOKEN` up
/// to it, a slot's consultation leg (`CONSULT_TOKEN + slot`); below, a slot's own sockets
/// (`2 * slot + leg`).
const PORT_TOKEN: usize = 1 << (usize::BITS - 2);
const CONSULT_TOKEN: usize = 1 << (usize::BITS - 3);
/// From here up to `CONSULT_TOKEN`: a slot's supervisor legs
/// (`MONITOR_TOKEN + slot * MAX_SUPERVISORS + place`).
const MONITOR_TOKEN: usize = 1 << (usize::BITS - 4);

#[derive(Debug, thiserror::Error)]
pub enum ReactorError {
    #[error("cannot start a media worker: {0}")]
    Start(#[source] std::io::Error),
}

/// How a worker's sockets are read and written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaIo {
    /// io_uring (`uring`), falling back to epoll when the kernel does not offer it.
    Uring,
    /// epoll readiness with `recvmmsg`/`sendmmsg`.
    Epoll,
}

pub(super) enum WorkerMsg {
    Attach(u64, Box<MediaSession>),
    Command(u64, MediaCommand),
    /// A shared port opened for this worker; it arrives before any session seated on it.
    Port(OpenedPort),
}

impl std::fmt::Debug for WorkerMsg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WorkerMsg::Attach(id, _) => write!(f, "Attach({id})"),
            WorkerMsg::Command(id, c) => write!(f, "Command({id}, {c:?})"),
            WorkerMsg::Port(p) => write!(f, "Port({})", p.port),
        }
    }
}

/// The pool of media worker threads.
pub struct MediaReactor {
    workers: Vec<Sender<WorkerMsg>>,
    threads: Vec<JoinHandle<()>>,
    next_worker: AtomicUsize,
    next_id: AtomicU64,
    stop: Arc<AtomicBool>,
    /// Held only while seating a call's legs, never across an await.
    shared: Mutex<SharedPorts>,
    stats: Arc<MediaStats>,
}

impl MediaReactor {
    /// Starts `threads` workers (0: one per CPU core) that wake every `batch`, on epoll.
    pub fn start(threads: usize, batch: Duration) -> Result<MediaReactor, ReactorError> {
        MediaReactor::start_with(threads, batch, MediaIo::Epoll)
    }

    /// As `start`, choosing the sockets' IO path.
    pub fn start_with(
        threads: usize,
        batch: Duration,
        io: MediaIo,
    ) -> Result<MediaReactor, ReactorError> {
        let threads = if threads == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            threads
        };
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(MediaStats::default());
        let mut workers = Vec::with_capacity(threads);
        let mut handles = Vec::with_capacity(threads);
        for n in 0..threads {
            let (tx, rx) = crossbeam_channel::unbounded();
            let poll = Poll::new().map_err(ReactorError::Start)?;
            let worker = Worker {
                poll,
                commands: rx,
                slots: Vec::new(),
                free: Vec::new(),
                by_id: HashMap::new(),
                ports: HashMap::new(),
                stop: stop.clone(),
                batch,
                stats: stats.clone(),
                want_uring: io == MediaIo::Uring,
                uring: None,
            };
            let handle = std::thread::Builder::new()
                .name(format!("media-{n}"))
                .spawn(move || worker.run())
                .map_err(ReactorError::Start)?;
            workers.push(tx);
            handles.push(handle);
        }
        Ok(MediaReactor {
            workers,
            threads: handles,
            next_worker: AtomicUsize::new(0),
            next_id: AtomicU64::new(1),
            stop,
            shared: Mutex::new(SharedPorts::default()),
            stats,
        })
    }

    /// The media counters every session and worker adds to (/metrics).
    pub fn stats(&self) -> Arc<MediaStats> {
        self.stats.clone()
    }

    /// Ports for a call's two legs (caller, agent). A leg with `share` set is seated on a
    /// shared port, both such legs on the same one; the others get a socket of their own
    /// from `range`. Share only a leg whose peer's media address will be known from its
    /// SDP (see `shared_port`); `caller_peer`, the caller's announced RTP address, keeps
    /// two calls from one address off the same port.
    pub fn leg_ports(
        &self,
        range: &RtpPorts,
        share: [bool; 2],
        caller_peer: SocketAddr,
    ) -> Result<[LegPort; 2], PortError> {
        let n = share.iter().filter(|s| **s).count();
        let mut seats = Vec::new().into_iter();
        if n > 0 {
            let worker = self.next_worker.fetch_add(1, Ordering::Relaxed) % self.workers.len();
            let mut book = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
            let peer = Some(caller_peer).filter(|_| share[0]);
            let (got, opened) = book.seat(worker, n, peer, range)?;
            if let Some(port) = opened {
                // Sent under the lock: a session seated on this port by another call
                // cannot reach the worker before the port does.
                let _ = self.workers[worker].send(WorkerMsg::Port(port));
            }
            seats = got.into_iter();
        }
        let mut port = |shared: bool| -> Result<LegPort, PortError> {
            if shared {
                seats
                    .next()
                    .map(LegPort::Shared)
                    .ok_or_else(|| range.exhausted())
            } else {
                range.bind().map(LegPort::Own)
            }
        };
        Ok([port(share[0])?, port(share[1])?])
    }

    /// Hands a session to a worker (the one owning its shared port, if it has one); the
    /// handle is how the call's actor steers it.
    pub fn attach(&self, session: MediaSession) -> MediaHandle {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let n = session
            .worker()
            .unwrap_or_else(|| self.next_worker.fetch_add(1, Ordering::Relaxed))
            % self.workers.len();
        let tx = self.workers[n].clone();
        // A worker only goes away at shutdown; the session is then dropped with it.
        let _ = tx.send(WorkerMsg::Attach(id, Box::new(session)));
        MediaHandle {
            id,
            tx,
            latest_play: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Stops the workers after they close every session they still hold (recordings are
    /// finalized, not cut off).
    pub fn shutdown(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for MediaReactor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

struct Slot {
    id: u64,
    session: Box<MediaSession>,
    /// Where each leg's packets are expected on its shared port, as entered in that
    /// port's `legs` (`LegState::shared_keys`).
    keys: [[Option<(usize, SocketAddr)>; 2]; 2],
}

/// A shared port as its worker holds it.
struct Port {
    sock: UdpSocket,
    /// Which slot's leg a source address belongs to. Two legs naming one address (a peer
    /// announcing one RTP address for two calls) are both listed, and that address's
    /// packets go to neither: which call they belong to cannot be told.
    legs: HashMap<SocketAddr, Vec<(usize, Leg)>>,
}

struct Worker {
    poll: Poll,
    commands: Receiver<WorkerMsg>,
    /// Sessions by slot; a slot's sockets are registered as tokens 2*slot (caller) and
    /// 2*slot+1 (agent).
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    by_id: HashMap<u64, usize>,
    ports: HashMap<usize, Port>,
    stop: Arc<AtomicBool>,
    batch: Duration,
    stats: Arc<MediaStats>,
    want_uring: bool,
    /// Set up on the worker's own thread (the ring accepts one submitter); `None` on the
    /// epoll path.
    uring: Option<Uring>,
}
