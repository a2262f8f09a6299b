//! A pass's packets: every readable socket read dry (`recvmmsg`, or the io_uring
//! completions), each datagram handed to the leg it belongs to, and what the sessions
//! queued sent in one go. The hot path: nothing here allocates or locks per packet.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mio::{Events, Token};
use tracing::{debug, warn};

use super::port_legs::sync_keys;
use super::{CONSULT_TOKEN, MONITOR_TOKEN, PORT_TOKEN, Worker};
use crate::media::session::{Leg, MAX_SUPERVISORS, MediaSession};
use crate::media::udp_batch::{self, RecvBatch, SHARED_SLOTS, SendBatch};

impl Worker {
    /// Reads every packet waiting on every readable socket and relays it.
    pub(super) fn relay(
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
    pub(super) fn flush(&mut self, tx: &mut SendBatch) {
        match self.uring.as_mut() {
            Some(u) => u.send(tx),
            None => tx.flush(),
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
