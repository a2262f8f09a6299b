//! Shared RTP ports: many call legs on one UDP socket, so a media worker reads and sends
//! their packets dozens per system call (`recvmmsg`/`sendmmsg`) instead of one call per
//! packet per leg.
//!
//! Why: with a socket per leg, each packet cost its own readiness event, file lookup and
//! system call on top of the kernel's UDP work; batching them across legs took a third
//! off the relaying side's time per packet in a stand-alone test, 5-16 % off a media
//! worker's in the load harness (see `docs/performance.md`).
//!
//! Limits: a shared port tells its legs apart by the source address of their packets, so
//! it only serves a peer whose media address is known beforehand: one that signals from
//! the address its SDP names (the SIP layer seats only such callers here; agents' phones
//! answer after their port is offered). A peer behind NAT keeps a port of its own, where symmetric RTP latches to whatever
//! source its media really comes from. Two calls whose peer announces one address never
//! sit on one port when that is known at seating (a caller); when it shows only later (an
//! agent's answer) the worker delivers that address's packets to neither. A port seats
//! at most `LEGS_PER_PORT` legs, which keeps what queues on it between two batches well
//! inside its 1 MB receive buffer. Ports are opened as calls need them and kept for reuse while the server runs.

use std::collections::HashSet;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use super::ports::{PortError, RtpPorts};

/// Legs seated on one shared port at most.
pub const LEGS_PER_PORT: usize = 128;
/// Receive and send buffer asked for a shared port (the kernel caps it at `rmem_max`).
const SOCKET_BUFFER: libc::c_int = 1 << 20;

/// Where a call leg's RTP comes and goes: a socket of its own or a seat on a shared port.
#[derive(Debug)]
pub enum LegPort {
    Own(UdpSocket),
    Shared(SharedPort),
}

impl LegPort {
    /// The local address to advertise in SDP for this leg.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        match self {
            LegPort::Own(s) => s.local_addr(),
            LegPort::Shared(p) => Ok(p.local),
        }
    }
}

/// A leg's seat on a shared port, given back when dropped (the call's media ended, or
/// the call failed before its media started).
#[derive(Debug)]
pub struct SharedPort {
    pub(super) worker: usize,
    pub(super) port: usize,
    pub(super) fd: RawFd,
    local: SocketAddr,
    taken: Arc<AtomicUsize>,
    /// The peer address this seat was taken for, if known when seated.
    peer: Option<SocketAddr>,
    peers: Arc<Mutex<HashSet<SocketAddr>>>,
}

impl Drop for SharedPort {
    fn drop(&mut self) {
        self.taken.fetch_sub(1, Ordering::Relaxed);
        if let Some(peer) = self.peer {
            self.peers
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&peer);
        }
    }
}

#[derive(Debug)]
struct PortSeats {
    worker: usize,
    port: usize,
    fd: RawFd,
    local: SocketAddr,
    taken: Arc<AtomicUsize>,
    /// Peer addresses known for the legs seated here: a leg whose peer is already here
    /// goes elsewhere, as the port could not tell the two calls' packets apart.
    peers: Arc<Mutex<HashSet<SocketAddr>>>,
}

impl PortSeats {
    fn fits(&self, worker: usize, n: usize, peer: Option<SocketAddr>) -> bool {
        self.worker == worker
            && self.taken.load(Ordering::Relaxed) + n <= LEGS_PER_PORT
            && peer.is_none_or(|a| {
                !self
                    .peers
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .contains(&a)
            })
    }
}

/// The reactor's book of shared ports and their free seats.
#[derive(Debug, Default)]
pub(super) struct SharedPorts {
    ports: Vec<PortSeats>,
}

/// A newly opened shared port, for the worker that will read it.
pub(super) struct OpenedPort {
    pub(super) port: usize,
    pub(super) socket: UdpSocket,
}

impl SharedPorts {
    /// Seats `n` legs side by side on one port of `worker`, opening a port from `range`
    /// when none has room. `peer` is the first leg's peer address when already known
    /// (a caller's, from its INVITE): never seated beside another leg with that peer.
    pub(super) fn seat(
        &mut self,
        worker: usize,
        n: usize,
        peer: Option<SocketAddr>,
        range: &RtpPorts,
    ) -> Result<(Vec<SharedPort>, Option<OpenedPort>), PortError> {
        let found = self.ports.iter().position(|p| p.fits(worker, n, peer));
        let (index, opened) = match found {
            Some(i) => (i, None),
            None => {
                let socket = range.bind()?;
                tune(&socket);
                let local = socket.local_addr().map_err(|_| range.exhausted())?;
                let port = self.ports.len();
                self.ports.push(PortSeats {
                    worker,
                    port,
                    fd: socket.as_raw_fd(),
                    local,
                    taken: Arc::new(AtomicUsize::new(0)),
                    peers: Arc::default(),
                });
                (port, Some(OpenedPort { port, socket }))
            }
        };
        let p = &self.ports[index];
        if let Some(a) = peer {
            p.peers
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(a);
        }
        let seats = (0..n)
            .map(|i| {
                p.taken.fetch_add(1, Ordering::Relaxed);
                SharedPort {
                    worker: p.worker,
                    port: p.port,
                    fd: p.fd,
                    local: p.local,
                    taken: p.taken.clone(),
                    peer: peer.filter(|_| i == 0),
                    peers: p.peers.clone(),
                }
            })
            .collect();
        Ok((seats, opened))
    }
}

/// Larger socket buffers: one port carries many legs' packets between two batches.
fn tune(socket: &UdpSocket) {
    for opt in [libc::SO_RCVBUF, libc::SO_SNDBUF] {
        // SAFETY: a valid socket and an int option, passed by pointer with its size.
        let r = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                opt,
                (&SOCKET_BUFFER as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r != 0 {
            tracing::debug!(error = %std::io::Error::last_os_error(), "shared RTP port keeps its default buffer");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legs_fill_a_port_before_another_opens_and_seats_come_back() {
        let range = RtpPorts::new("127.0.0.1".parse().unwrap(), 42000, 42100);
        let mut book = SharedPorts::default();
        let (first, opened) = book.seat(0, 2, None, &range).unwrap();
        let opened = opened.expect("the first seats open a port");
        assert_eq!(first[0].local, opened.socket.local_addr().unwrap());
        assert_eq!(first[1].local, first[0].local);
        let mut held = first;
        while held.len() < LEGS_PER_PORT {
            let (more, opened) = book.seat(0, 1, None, &range).unwrap();
            assert!(opened.is_none(), "room left on the open port");
            held.extend(more);
        }
        let (other, second) = book.seat(0, 1, None, &range).unwrap();
        let second = second.expect("a full port opens another");
        assert_ne!(other[0].local, held[0].local);
        // Another worker's legs never sit on this worker's port.
        let (_theirs, third) = book.seat(1, 1, None, &range).unwrap();
        assert!(third.is_some());
        drop(held.pop());
        let (back, none) = book.seat(0, 1, None, &range).unwrap();
        assert!(none.is_none(), "a freed seat is reused");
        assert_eq!(back[0].local, held[0].local);
        drop(second);
    }

    #[test]
    fn a_caller_whose_address_is_seated_already_goes_to_another_port_until_it_leaves() {
        let range = RtpPorts::new("127.0.0.1".parse().unwrap(), 42200, 42300);
        let mut book = SharedPorts::default();
        let gateway: SocketAddr = "127.0.0.1:4000".parse().unwrap();
        let (first, _) = book.seat(0, 2, Some(gateway), &range).unwrap();
        // Another call from the same announced address cannot share the port...
        let (second, opened) = book.seat(0, 2, Some(gateway), &range).unwrap();
        assert!(opened.is_some());
        assert_ne!(second[0].local, first[0].local);
        // ...while other peers still can.
        let other: SocketAddr = "127.0.0.1:4002".parse().unwrap();
        let (third, opened) = book.seat(0, 1, Some(other), &range).unwrap();
        assert!(opened.is_none());
        assert_eq!(third[0].local, first[0].local);
        // Once the first call's caller is gone its address may sit there again.
        let first_local = first[0].local;
        drop(first);
        let (again, opened) = book.seat(0, 1, Some(gateway), &range).unwrap();
        assert!(opened.is_none());
        assert_eq!(again[0].local, first_local);
    }
}
