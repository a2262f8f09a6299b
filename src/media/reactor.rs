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
//! epoll path below stays as the fallback where the kernel offers no io_uring.
//!
//! Legs on a shared port (`shared_port`) are read 64 datagrams per `recvmmsg` and handed
//! to their session by source address; every send of a pass is queued and flushed with
//! `sendmmsg`, one call per run of datagrams for the same socket.
//!
//! Limits: sessions stay on the worker they were attached to (round-robin, or the worker
//! owning their shared port); a worker that falls behind delays its own calls only.
//! Commands from call actors arrive on an unbounded channel and are applied at the start
//! of the next batch.

use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TryRecvError};
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token};
use tracing::{debug, warn};

use super::ports::{PortError, RtpPorts};
use super::session::{
    Leg, LegSocket, MAX_SUPERVISORS, MediaCommand, MediaHandle, MediaSession, MediaStats, TICK,
};
use super::shared_port::{LegPort, OpenedPort, SharedPorts};
use super::udp_batch::{self, RecvBatch, SHARED_SLOTS, SendBatch};
use super::uring::Uring;

mod consult;
mod monitor;

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

impl Worker {
    fn run(mut self) {
        let mut events = Events::with_capacity(4096);
        let mut batch = RecvBatch::<{ udp_batch::SLOTS }>::default();
        let mut wide = RecvBatch::<SHARED_SLOTS>::default();
        let mut tx = SendBatch::default();
        if self.want_uring {
            match Uring::new() {
                Ok(u) => {
                    self.uring = Some(u);
                    self.stats.workers_io_uring.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => warn!(error = %e, "media worker falls back to epoll"),
            }
        }
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
            self.relay(&mut events, &mut batch, &mut wide, &mut tx);
            self.flush(&mut tx);
            self.tick(Instant::now(), &mut tx);
            self.flush(&mut tx);
            let (mut sent, mut failed) = tx.take_counts();
            if let Some(u) = self.uring.as_mut() {
                let (s, f) = u.take_counts();
                sent += s;
                failed += f;
                let (rearms, truncated) = u.take_rearms();
                self.stats
                    .receive_rearms
                    .fetch_add(rearms, Ordering::Relaxed);
                self.stats
                    .packets_invalid
                    .fetch_add(truncated, Ordering::Relaxed);
            }
            self.stats.packets_out.fetch_add(sent, Ordering::Relaxed);
            self.stats
                .packets_dropped
                .fetch_add(failed, Ordering::Relaxed);
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
                Ok(WorkerMsg::Port(p)) => self.open_port(p),
                Ok(WorkerMsg::Command(id, MediaCommand::Finish { reply })) => {
                    let receipt = self.remove(id).and_then(|mut s| s.finish());
                    let _ = reply.send(receipt);
                }
                Ok(WorkerMsg::Command(id, MediaCommand::ConsultLeg { socket, seed })) => {
                    self.seat_consult(id, socket, seed)
                }
                Ok(WorkerMsg::Command(id, MediaCommand::ConsultEnd)) => self.end_consult(id),
                Ok(WorkerMsg::Command(
                    id,
                    MediaCommand::SupervisorLeg {
                        key,
                        mode,
                        socket,
                        seed,
                        track,
                    },
                )) => self.seat_supervisor(id, key, mode, socket, seed, track),
                Ok(WorkerMsg::Command(id, MediaCommand::SupervisorEnd { key, reply })) => {
                    self.end_supervisor(id, key, reply)
                }
                Ok(WorkerMsg::Command(id, MediaCommand::ConsultComplete)) => {
                    self.complete_consult(id)
                }
                Ok(WorkerMsg::Command(id, cmd)) => {
                    if let Some(slot) = self.by_id.get(&id).copied()
                        && let Some(s) = self.slots[slot].as_mut()
                    {
                        s.session.command(cmd);
                        sync_keys(&mut self.ports, slot, s);
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
            let LegSocket::Own(sock) = &mut leg.sock else {
                continue;
            };
            if let Some(u) = self.uring.as_mut() {
                if let Err(e) = u.watch(sock.as_raw_fd(), slot * 2 + i) {
                    warn!(error = %e, "cannot watch an RTP socket");
                }
                continue;
            }
            if let Err(e) = registry.register(sock, Token(slot * 2 + i), Interest::READABLE) {
                // The session still plays and records; that leg's incoming audio is lost.
                warn!(error = %e, "cannot watch an RTP socket");
            }
        }
        self.by_id.insert(id, slot);
        let mut s = Slot {
            id,
            session,
            keys: [[None; 2]; 2],
        };
        sync_keys(&mut self.ports, slot, &mut s);
        self.slots[slot] = Some(s);
    }

    fn open_port(&mut self, opened: OpenedPort) {
        let mut sock = UdpSocket::from_std(opened.socket);
        let token = Token(PORT_TOKEN + opened.port);
        if let Some(u) = self.uring.as_mut() {
            if let Err(e) = u.watch(sock.as_raw_fd(), token.0) {
                warn!(error = %e, "cannot watch a shared RTP port");
            }
        } else if let Err(e) = self
            .poll
            .registry()
            .register(&mut sock, token, Interest::READABLE)
        {
            // Its legs still send, play and record; their incoming audio is lost.
            warn!(error = %e, "cannot watch a shared RTP port");
        }
        let legs = HashMap::new();
        self.ports.insert(opened.port, Port { sock, legs });
    }

    fn remove(&mut self, id: u64) -> Option<Box<MediaSession>> {
        let slot = self.by_id.remove(&id)?;
        let mut s = self.slots[slot].take()?;
        if let Some(mut c) = s.session.take_consult() {
            self.unwatch(&mut c);
        }
        for mut l in s.session.take_supervisors() {
            self.unwatch(&mut l);
        }
        for (i, leg) in s.session.legs.iter_mut().enumerate() {
            if let LegSocket::Own(sock) = &mut leg.sock {
                match self.uring.as_mut() {
                    Some(u) => u.unwatch(sock.as_raw_fd()),
                    None => {
                        let _ = self.poll.registry().deregister(sock);
                    }
                }
            }
            let me = (slot, if i == 0 { Leg::Caller } else { Leg::Agent });
            for key in std::mem::take(&mut s.keys[i]) {
                forget_key(&mut self.ports, key, me);
            }
        }
        self.free.push(slot);
        Some(s.session)
    }

    /// Reads every packet waiting on every readable socket and relays it.
    fn relay(
        &mut self,
        events: &mut Events,
        batch: &mut RecvBatch<{ udp_batch::SLOTS }>,
        wide: &mut RecvBatch<SHARED_SLOTS>,
        tx: &mut SendBatch,
    ) {
        if let Some(mut u) = self.uring.take() {
            let now = Instant::now();
            let mut stray = 0;
            u.reap(tx, |token, packet, from, tx| {
                if !self.deliver(token, packet, from, now, tx) {
                    stray += 1;
                }
            });
            self.uring = Some(u);
            if stray > 0 {
                self.stats.packets_stray.fetch_add(stray, Ordering::Relaxed);
            }
            return;
        }
        if let Err(e) = self.poll.poll(events, Some(Duration::ZERO)) {
            if e.kind() != ErrorKind::Interrupted {
                warn!(error = %e, "media poll failed");
            }
            return;
        }
        let now = Instant::now();
        for ev in events.iter() {
            let Token(t) = ev.token();
            if t >= PORT_TOKEN {
                self.drain_port(t - PORT_TOKEN, now, wide, tx);
                continue;
            }
            let (slot, leg) = own_token(t);
            let Some(Some(s)) = self.slots.get_mut(slot) else {
                continue;
            };
            // Edge-triggered: drain until the kernel says there is no more; a batch short
            // of full says it at once, without a further call.
            let fd = match leg {
                Owned::Leg(leg) => s.session.legs[leg.index()].sock.fd(),
                Owned::Consult => match s.session.consult_leg() {
                    Some(c) => c.sock.fd(),
                    None => continue,
                },
                Owned::Supervisor(i) => match s.session.supervisor_leg(i) {
                    Some(c) => c.sock.fd(),
                    None => continue,
                },
            };
            loop {
                match batch.recv(fd) {
                    Ok(n) => {
                        for i in 0..n {
                            if let Some((packet, from)) = batch.packet(i) {
                                on_owned_packet(&mut s.session, leg, packet, from, now, tx);
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

    /// Reads a shared port dry, handing each packet to the leg its source belongs to.
    fn drain_port(
        &mut self,
        port: usize,
        now: Instant,
        wide: &mut RecvBatch<SHARED_SLOTS>,
        tx: &mut SendBatch,
    ) {
        let Some(fd) = self.ports.get(&port).map(|p| p.sock.as_raw_fd()) else {
            return;
        };
        let mut stray = 0;
        loop {
            let n = match wide.recv(fd) {
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    debug!(error = %e, "RTP receive error on a shared port");
                    break;
                }
            };
            for i in 0..n {
                let Some((packet, from)) = wide.packet(i) else {
                    continue;
                };
                if !self.deliver_shared(port, packet, from, now, tx) {
                    stray += 1;
                }
            }
            if n < SHARED_SLOTS {
                break;
            }
        }
        if stray > 0 {
            self.stats.packets_stray.fetch_add(stray, Ordering::Relaxed);
        }
    }

    /// Hands a datagram that arrived on the socket of `token` to its leg; false for a
    /// stray on a shared port (no leg there owns its source).
    fn deliver(
        &mut self,
        token: usize,
        packet: &[u8],
        from: SocketAddr,
        now: Instant,
        tx: &mut SendBatch,
    ) -> bool {
        if token >= PORT_TOKEN {
            return self.deliver_shared(token - PORT_TOKEN, packet, from, now, tx);
        }
        let (slot, leg) = own_token(token);
        if let Some(Some(s)) = self.slots.get_mut(slot) {
            on_owned_packet(&mut s.session, leg, packet, from, now, tx);
        }
        true
    }

    /// Hands a datagram from shared port `port` to the leg its source belongs to; false
    /// when none does.
    fn deliver_shared(
        &mut self,
        port: usize,
        packet: &[u8],
        from: SocketAddr,
        now: Instant,
        tx: &mut SendBatch,
    ) -> bool {
        let Some((slot, leg)) = self.leg_for(port, from) else {
            return false;
        };
        if let Some(Some(s)) = self.slots.get_mut(slot) {
            s.session.on_packet(leg, packet, from, now, tx);
            sync_keys(&mut self.ports, slot, s);
        }
        true
    }

    /// Sends what the pass queued, by the worker's IO path.
    fn flush(&mut self, tx: &mut SendBatch) {
        match self.uring.as_mut() {
            Some(u) => u.send(tx),
            None => tx.flush(),
        }
    }

    /// The leg a packet from `from` on shared port `port` belongs to: the one expecting
    /// that address, else the only leg there still waiting for its first packet from that
    /// host (symmetric RTP for a peer that sends from another port than it announced).
    /// Never a guess between two.
    fn leg_for(&self, port: usize, from: SocketAddr) -> Option<(usize, Leg)> {
        let p = self.ports.get(&port)?;
        if let Some(owners) = p.legs.get(&from) {
            return match owners.as_slice() {
                [one] => Some(*one),
                _ => None,
            };
        }
        let mut waiting = p.legs.values().flatten().filter(|(slot, leg)| {
            self.slots
                .get(*slot)
                .and_then(Option::as_ref)
                .is_some_and(|s| s.session.legs[leg.index()].awaits_first_packet_from(from))
        });
        let first = waiting.next().copied();
        match waiting.next() {
            None => first,
            Some(_) => None,
        }
    }

    /// Runs the clock work of every session that is due, and clears orphaned ones.
    fn tick(&mut self, now: Instant, tx: &mut SendBatch) {
        let mut orphans = Vec::new();
        for s in self.slots.iter_mut().flatten() {
            if now < s.session.next_tick {
                continue;
            }
            if tx.nearly_full()
                && let Some(u) = self.uring.as_mut()
            {
                u.send(tx);
            }
            s.session.on_tick(tx);
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
        if self.uring.take().is_some() {
            self.stats.workers_io_uring.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Which of a slot's own sockets a token names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owned {
    Leg(Leg),
    Consult,
    /// A supervisor leg, by its place in the session's mixer.
    Supervisor(usize),
}

/// The slot and leg of an own-socket token.
fn own_token(token: usize) -> (usize, Owned) {
    if token >= CONSULT_TOKEN {
        return (token - CONSULT_TOKEN, Owned::Consult);
    }
    if token >= MONITOR_TOKEN {
        let t = token - MONITOR_TOKEN;
        return (t / MAX_SUPERVISORS, Owned::Supervisor(t % MAX_SUPERVISORS));
    }
    let leg = if token.is_multiple_of(2) {
        Leg::Caller
    } else {
        Leg::Agent
    };
    (token / 2, Owned::Leg(leg))
}

/// Hands a datagram read from one of a session's own sockets to the leg it belongs to.
fn on_owned_packet(
    session: &mut MediaSession,
    leg: Owned,
    packet: &[u8],
    from: SocketAddr,
    now: Instant,
    tx: &mut SendBatch,
) {
    match leg {
        Owned::Leg(leg) => session.on_packet(leg, packet, from, now, tx),
        Owned::Consult => session.on_consult_packet(packet, from, now, tx),
        Owned::Supervisor(i) => session.on_supervisor_packet(i, packet, from, now),
    }
}

/// Brings a slot's entries in its legs' shared ports up to date with where each leg now
/// expects its peer (after SDP arrived, or the peer was latched to).
fn sync_keys(ports: &mut HashMap<usize, Port>, slot: usize, s: &mut Slot) {
    for (i, leg) in [Leg::Caller, Leg::Agent].into_iter().enumerate() {
        let now = s.session.legs[i].shared_keys();
        if now == s.keys[i] {
            continue;
        }
        for old in s.keys[i] {
            if !now.contains(&old) {
                forget_key(ports, old, (slot, leg));
            }
        }
        for (port, addr) in now.into_iter().flatten() {
            match ports.get_mut(&port) {
                Some(p) => {
                    let owners = p.legs.entry(addr).or_default();
                    if !owners.contains(&(slot, leg)) {
                        owners.push((slot, leg));
                    }
                    if owners.len() > 1 {
                        // Handing the packets to either leg could let one call hear
                        // another's caller; dropping them (counted as stray) cannot.
                        warn!(
                            %addr,
                            legs = owners.len(),
                            "call legs on one shared RTP port expect media from the same address; its packets are dropped"
                        );
                    }
                }
                None => warn!(
                    port,
                    "a leg sits on a shared RTP port its worker does not hold"
                ),
            }
        }
        s.keys[i] = now;
    }
}

/// Removes a leg's entry from its shared port (other legs naming the address keep theirs).
fn forget_key(
    ports: &mut HashMap<usize, Port>,
    key: Option<(usize, SocketAddr)>,
    me: (usize, Leg),
) {
    if let Some((port, addr)) = key
        && let Some(p) = ports.get_mut(&port)
        && let Some(owners) = p.legs.get_mut(&addr)
    {
        owners.retain(|o| *o != me);
        if owners.is_empty() {
            p.legs.remove(&addr);
        }
    }
}
