//! A worker thread's loop: one pass per batch interval (commands, packets, clock work,
//! sends, counters), and the sessions it holds coming and going (attached, finished,
//! orphaned). Reading and handing out packets is `packets`; which leg owns an address on
//! a shared port is `port_legs`.

use std::collections::HashMap;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::time::Instant;

use crossbeam_channel::TryRecvError;
use mio::net::UdpSocket;
use mio::{Events, Interest, Token};
use tracing::warn;

use super::port_legs::{forget_key, sync_keys};
use super::{PORT_TOKEN, Port, Slot, Worker, WorkerMsg};
use crate::media::session::{Leg, LegSocket, MediaCommand, MediaSession, TICK};
use crate::media::shared_port::OpenedPort;
use crate::media::udp_batch::{self, RecvBatch, SHARED_SLOTS, SendBatch};
use crate::media::uring::Uring;

impl Worker {
    pub(super) fn run(mut self) {
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
