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
//! Limits: sessions stay on the worker they were attached to (round-robin); a worker
//! that falls behind delays its own calls only. Commands from call actors arrive on an
//! unbounded channel and are applied at the start of the next batch.

use std::collections::HashMap;
use std::io::ErrorKind;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TryRecvError};
use mio::{Events, Interest, Poll, Token};
use tracing::{debug, warn};

use super::session::{Leg, MediaCommand, MediaHandle, MediaSession, TICK};
use super::udp_batch::{self, RecvBatch};

#[derive(Debug, thiserror::Error)]
pub enum ReactorError {
    #[error("cannot start a media worker: {0}")]
    Start(#[source] std::io::Error),
}

pub(super) enum WorkerMsg {
    Attach(u64, Box<MediaSession>),
    Command(u64, MediaCommand),
}

impl std::fmt::Debug for WorkerMsg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WorkerMsg::Attach(id, _) => write!(f, "Attach({id})"),
            WorkerMsg::Command(id, c) => write!(f, "Command({id}, {c:?})"),
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
}

impl MediaReactor {
    /// Starts `threads` workers (0: one per CPU core) that wake every `batch`.
    pub fn start(threads: usize, batch: Duration) -> Result<MediaReactor, ReactorError> {
        let threads = if threads == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            threads
        };
        let stop = Arc::new(AtomicBool::new(false));
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
                stop: stop.clone(),
                batch,
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
        })
    }

    /// Hands a session to a worker; the handle is how the call's actor steers it.
    pub fn attach(&self, session: MediaSession) -> MediaHandle {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let n = self.next_worker.fetch_add(1, Ordering::Relaxed) % self.workers.len();
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
}

struct Worker {
    poll: Poll,
    commands: Receiver<WorkerMsg>,
    /// Sessions by slot; a slot's sockets are registered as tokens 2*slot (caller) and
    /// 2*slot+1 (agent).
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    by_id: HashMap<u64, usize>,
    stop: Arc<AtomicBool>,
    batch: Duration,
}

impl Worker {
    fn run(mut self) {
        let mut events = Events::with_capacity(4096);
        let mut batch = RecvBatch::default();
        let mut next_batch = Instant::now();
        loop {
            if self.stop.load(Ordering::Relaxed) {
                self.close_all();
                return;
            }
            if !self.apply_commands() {
                self.close_all();
                return;
            }
            self.relay(&mut events, &mut batch);
            self.tick(Instant::now());
            // Sleep to the next batch boundary rather than blocking in epoll: waking per
            // packet is exactly the cost this reactor exists to avoid.
            next_batch += self.batch;
            let now = Instant::now();
            if next_batch > now {
                std::thread::sleep(next_batch - now);
            } else {
                // Behind (overload or a long pause): do not try to catch up in a burst.
                next_batch = now;
            }
        }
    }

    /// Applies queued commands; false once every handle and the reactor are gone.
    fn apply_commands(&mut self) -> bool {
        loop {
            match self.commands.try_recv() {
                Ok(WorkerMsg::Attach(id, session)) => self.insert(id, session),
                Ok(WorkerMsg::Command(id, MediaCommand::Finish { reply })) => {
                    let receipt = self.remove(id).and_then(|mut s| s.finish());
                    let _ = reply.send(receipt);
                }
                Ok(WorkerMsg::Command(id, cmd)) => {
                    if let Some(slot) = self.by_id.get(&id).copied()
                        && let Some(s) = self.slots[slot].as_mut()
                    {
                        s.session.command(cmd);
                    }
                }
                Err(TryRecvError::Empty) => return true,
                Err(TryRecvError::Disconnected) => return false,
            }
        }
    }

    fn insert(&mut self, id: u64, mut session: Box<MediaSession>) {
        let slot = self.free.pop().unwrap_or_else(|| {
            self.slots.push(None);
            self.slots.len() - 1
        });
        let registry = self.poll.registry();
        for (i, leg) in session.legs.iter_mut().enumerate() {
            if let Err(e) =
                registry.register(&mut leg.sock, Token(slot * 2 + i), Interest::READABLE)
            {
                // The session still plays and records; that leg's incoming audio is lost.
                warn!(error = %e, "cannot watch an RTP socket");
            }
        }
        self.by_id.insert(id, slot);
        self.slots[slot] = Some(Slot { id, session });
    }

    fn remove(&mut self, id: u64) -> Option<Box<MediaSession>> {
        let slot = self.by_id.remove(&id)?;
        let mut s = self.slots[slot].take()?;
        for leg in s.session.legs.iter_mut() {
            let _ = self.poll.registry().deregister(&mut leg.sock);
        }
        self.free.push(slot);
        Some(s.session)
    }

    /// Reads every packet waiting on every readable socket and relays it.
    fn relay(&mut self, events: &mut Events, batch: &mut RecvBatch) {
        if let Err(e) = self.poll.poll(events, Some(Duration::ZERO)) {
            if e.kind() != ErrorKind::Interrupted {
                warn!(error = %e, "media poll failed");
            }
            return;
        }
        for ev in events.iter() {
            let Token(t) = ev.token();
            let (slot, leg) = (t / 2, if t % 2 == 0 { Leg::Caller } else { Leg::Agent });
            let Some(Some(s)) = self.slots.get_mut(slot) else {
                continue;
            };
            // Edge-triggered: drain until the kernel says there is no more; a batch short
            // of full says it at once, without a further call.
            let fd = s.session.legs[leg.index()].sock.as_raw_fd();
            loop {
                match batch.recv(fd) {
                    Ok(n) => {
                        for i in 0..n {
                            if let Some((packet, from)) = batch.packet(i) {
                                s.session.on_packet(leg, packet, from);
                            }
                        }
                        if n < udp_batch::SLOTS {
                            break;
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) => {
                        // ICMP port unreachable from a peer that left, and the like.
                        debug!(error = %e, "RTP receive error");
                        break;
                    }
                }
            }
        }
    }

    /// Runs the clock work of every session that is due, and clears orphaned ones.
    fn tick(&mut self, now: Instant) {
        let mut orphans = Vec::new();
        for s in self.slots.iter_mut().flatten() {
            if now < s.session.next_tick {
                continue;
            }
            s.session.on_tick();
            s.session.next_tick += TICK;
            if s.session.next_tick + TICK < now {
                // Far behind: skip the missed ticks instead of bursting them out.
                s.session.next_tick = now + TICK;
            }
            if s.session.orphaned() {
                orphans.push(s.id);
            }
        }
        for id in orphans {
            warn!("media session outlived its call; closing it");
            if let Some(mut s) = self.remove(id) {
                let _ = s.finish();
            }
        }
    }

    fn close_all(&mut self) {
        let ids: Vec<u64> = self.by_id.keys().copied().collect();
        for id in ids {
            if let Some(mut s) = self.remove(id) {
                let _ = s.finish();
            }
        }
    }
}
