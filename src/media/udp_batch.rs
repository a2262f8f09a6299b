//! Draining a UDP socket in one system call (`recvmmsg`), and sending a worker's packets
//! in as few as possible (`sendmmsg`), through buffers allocated once.
//!
//! Why: a media worker visits each readable RTP socket once per batch interval and usually
//! finds one packet there. Reading it with `recv_from` costs two calls — the packet, then
//! the `WouldBlock` that proves the socket drained (mio's readiness is edge-triggered).
//! `recvmmsg` with `MSG_DONTWAIT` returns every queued datagram up to the batch size and
//! stops when the queue is empty, so fewer than `SLOTS` packets back means drained: one
//! call per socket per batch. A port shared by many legs (`shared_port`) holds dozens of
//! datagrams per batch; reading them 64 at a time is where batching pays.
//!
//! Sends are queued in a `SendBatch` while a worker relays and flushed once per pass:
//! consecutive datagrams for the same socket go out in one `sendmmsg`.
//!
//! Limits: Linux only (the server's platform); IPv4 and IPv6 sources; datagrams longer
//! than `MTU` are truncated (RTP from phones and gateways stays well under it). The only
//! Most `unsafe` of the packet path lives here, around the C structures `recvmmsg` and
//! `sendmmsg` use (the rest is in `uring`).

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;

use super::session::MTU;

/// Datagrams read per call from a leg's own socket; it rarely holds more than one or two
/// per batch.
pub const SLOTS: usize = 8;
/// Datagrams read per call from a shared port.
pub const SHARED_SLOTS: usize = 64;
/// Datagrams a worker pass queues before they go out: a whole pass's worth (~400 at
/// 1,500 calls on two workers), so the io_uring path hands them over in one call.
pub const SEND_SLOTS: usize = 512;

/// Receive buffers and the C headers pointing into them, reused for every call.
pub struct RecvBatch<const N: usize = SLOTS> {
    bufs: Box<[[u8; MTU]; N]>,
    addrs: Box<[libc::sockaddr_storage; N]>,
    lens: [usize; N],
    count: usize,
}

impl<const N: usize> Default for RecvBatch<N> {
    fn default() -> Self {
        RecvBatch {
            bufs: Box::new([[0u8; MTU]; N]),
            // SAFETY: sockaddr_storage is plain old data; all-zero is a valid value.
            addrs: Box::new(unsafe { std::mem::zeroed() }),
            lens: [0; N],
            count: 0,
        }
    }
}

impl<const N: usize> RecvBatch<N> {
    /// Reads every datagram waiting on `fd` (up to `N`); returns how many. `Ok(0)` means
    /// nothing was waiting.
    pub fn recv(&mut self, fd: RawFd) -> io::Result<usize> {
        // SAFETY: iovec, mmsghdr are plain old data; zero is valid before we fill them.
        let mut iovs: [libc::iovec; N] = unsafe { std::mem::zeroed() };
        let mut hdrs: [libc::mmsghdr; N] = unsafe { std::mem::zeroed() };
        for i in 0..N {
            iovs[i].iov_base = self.bufs[i].as_mut_ptr().cast();
            iovs[i].iov_len = MTU;
            let h = &mut hdrs[i].msg_hdr;
            h.msg_name = (&mut self.addrs[i] as *mut libc::sockaddr_storage).cast();
            h.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_iov = &mut iovs[i];
            h.msg_iovlen = 1;
        }
        // SAFETY: every header points at a live buffer and address slot of `self`, sized
        // as declared; the kernel writes only within them. The timeout may be null.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                hdrs.as_mut_ptr(),
                N as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            self.count = 0;
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock => Ok(0),
                _ => Err(e),
            };
        }
        let n = n as usize;
        for (len, h) in self.lens.iter_mut().zip(hdrs.iter()).take(n) {
            *len = (h.msg_len as usize).min(MTU);
        }
        self.count = n;
        Ok(n)
    }

    /// Datagram `i` of the last `recv` and where it came from (`None` for a source that is
    /// not IPv4/IPv6, which RTP never has).
    pub fn packet(&self, i: usize) -> Option<(&[u8], SocketAddr)> {
        if i >= self.count {
            return None;
        }
        let from = sockaddr(&self.addrs[i])?;
        Some((&self.bufs[i][..self.lens[i]], from))
    }
}

/// Datagrams waiting to be sent, each with its socket and destination; `flush` sends
/// them in order, one `sendmmsg` per run of the same socket.
pub struct SendBatch {
    bufs: Box<[[u8; MTU]; SEND_SLOTS]>,
    addrs: Box<[libc::sockaddr_storage; SEND_SLOTS]>,
    addr_lens: [libc::socklen_t; SEND_SLOTS],
    lens: [usize; SEND_SLOTS],
    fds: [RawFd; SEND_SLOTS],
    count: usize,
    /// The kernel's view of the queue, filled at `flush` for every queued datagram at
    /// once (a run is often a single datagram: clearing a full array per run cost more
    /// than the few headers it needed).
    hdrs: Box<[libc::mmsghdr; SEND_SLOTS]>,
    iovs: Box<[libc::iovec; SEND_SLOTS]>,
    /// Datagrams handed to the kernel and refused (a full socket buffer, a peer's ICMP
    /// error) since the last `take_counts`.
    sent: u64,
    failed: u64,
}

/// `SEND_SLOTS` all-zero values, built on the heap (the buffers, 768 KB, would not fit a
/// thread's stack).
///
/// # Safety
/// All-zero bytes must be a valid `T` (plain old data).
unsafe fn zeroed_slots<T>() -> Box<[T; SEND_SLOTS]> {
    let slots: Box<[T]> = (0..SEND_SLOTS)
        // SAFETY: as the caller promises.
        .map(|_| unsafe { std::mem::zeroed() })
        .collect();
    slots
        .try_into()
        .unwrap_or_else(|_| unreachable!("collected SEND_SLOTS values"))
}

impl Default for SendBatch {
    fn default() -> Self {
        SendBatch {
            // SAFETY (these four): byte arrays, sockaddr_storage, mmsghdr and iovec are
            // plain old data; all-zero (null pointers) is valid, and `flush` points the
            // headers at live buffers before any use.
            bufs: unsafe { zeroed_slots() },
            addrs: unsafe { zeroed_slots() },
            addr_lens: [0; SEND_SLOTS],
            lens: [0; SEND_SLOTS],
            fds: [-1; SEND_SLOTS],
            count: 0,
            hdrs: unsafe { zeroed_slots() },
            iovs: unsafe { zeroed_slots() },
            sent: 0,
            failed: 0,
        }
    }
}

impl SendBatch {
    /// The buffer the next datagram is built in (sending the queue first when it is
    /// full); `queue` then commits it.
    pub fn buffer(&mut self) -> &mut [u8; MTU] {
        if self.count == SEND_SLOTS {
            self.flush();
        }
        &mut self.bufs[self.count]
    }

    /// Queues the first `len` bytes of the last `buffer` for `dest` through `fd`.
    pub fn queue(&mut self, fd: RawFd, len: usize, dest: SocketAddr) {
        self.commit(fd, len, Some(dest));
    }

    /// Like `queue`, for a socket connected to its peer: no destination is passed, so the
    /// kernel uses the socket's cached route instead of looking one up per datagram.
    pub fn queue_connected(&mut self, fd: RawFd, len: usize) {
        self.commit(fd, len, None);
    }

    fn commit(&mut self, fd: RawFd, len: usize, dest: Option<SocketAddr>) {
        if self.count == SEND_SLOTS {
            // `buffer` was not called first: nothing was built for this datagram.
            self.failed += 1;
            return;
        }
        let i = self.count;
        self.addr_lens[i] = dest.map_or(0, |d| write_sockaddr(d, &mut self.addrs[i]));
        self.lens[i] = len.min(MTU);
        self.fds[i] = fd;
        self.count += 1;
    }

    /// Sends everything queued. A datagram the kernel refuses is dropped and counted;
    /// the rest of its run still goes.
    pub fn flush(&mut self) {
        self.prepare();
        let mut start = 0;
        while start < self.count {
            let fd = self.fds[start];
            let mut end = start + 1;
            while end < self.count && self.fds[end] == fd {
                end += 1;
            }
            self.send_run(fd, start, end);
            start = end;
        }
        self.count = 0;
    }

    /// Points the kernel headers at every queued datagram.
    fn prepare(&mut self) {
        for i in 0..self.count {
            self.iovs[i].iov_base = self.bufs[i].as_mut_ptr().cast();
            self.iovs[i].iov_len = self.lens[i];
            let h = &mut self.hdrs[i].msg_hdr;
            h.msg_name = if self.addr_lens[i] == 0 {
                std::ptr::null_mut()
            } else {
                (&mut self.addrs[i] as *mut libc::sockaddr_storage).cast()
            };
            h.msg_namelen = self.addr_lens[i];
            h.msg_iov = &mut self.iovs[i];
            h.msg_iovlen = 1;
        }
    }

    /// For another send path (io_uring): each queued datagram as (socket, bytes, length,
    /// and its `msghdr` when it has a destination; `None` for a connected socket). The
    /// pointers stay valid until `clear` or the next `queue`.
    pub(super) fn for_each_prepared(
        &mut self,
        mut f: impl FnMut(RawFd, *const u8, u32, Option<*const libc::msghdr>),
    ) {
        self.prepare();
        for i in 0..self.count {
            let msg = (self.addr_lens[i] != 0).then_some(&raw const self.hdrs[i].msg_hdr);
            f(self.fds[i], self.bufs[i].as_ptr(), self.lens[i] as u32, msg);
        }
    }

    /// Whether the queue is close to full: a caller with another send path (io_uring)
    /// flushes it then, between sessions, rather than let `buffer` fall back to
    /// `sendmmsg`. One session's turn queues a few datagrams at most.
    pub fn nearly_full(&self) -> bool {
        self.count + 16 >= SEND_SLOTS
    }

    /// Forgets the queued datagrams (after another path sent them).
    pub(super) fn clear(&mut self) {
        self.count = 0;
    }

    /// (sent, failed) since the last call.
    pub fn take_counts(&mut self) -> (u64, u64) {
        (
            std::mem::take(&mut self.sent),
            std::mem::take(&mut self.failed),
        )
    }

    /// Sends datagrams `start..end`, all through `fd`; their headers are filled.
    fn send_run(&mut self, fd: RawFd, start: usize, end: usize) {
        let n = end - start;
        let mut done = 0;
        while done < n {
            // SAFETY: headers `start + done..end` were just pointed at live buffers and
            // addresses of `self` (boxed, so they do not move), sized as declared; the
            // kernel only reads them.
            let r = unsafe {
                libc::sendmmsg(
                    fd,
                    self.hdrs.as_mut_ptr().add(start + done),
                    (n - done) as libc::c_uint,
                    libc::MSG_DONTWAIT,
                )
            };
            if r > 0 {
                done += r as usize;
                self.sent += r as u64;
                continue;
            }
            if r < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            // The first remaining datagram was refused: drop it, send the rest.
            done += 1;
            self.failed += 1;
        }
    }
}

/// Dissolves a UDP socket's `connect`: it takes datagrams from anyone again.
pub fn disconnect(fd: RawFd) -> io::Result<()> {
    // SAFETY: an all-zero sockaddr with family AF_UNSPEC is what connect(2) takes to
    // dissolve an association; the kernel only reads it.
    let mut addr: libc::sockaddr = unsafe { std::mem::zeroed() };
    addr.sa_family = libc::AF_UNSPEC as libc::sa_family_t;
    let len = std::mem::size_of::<libc::sockaddr>() as libc::socklen_t;
    // SAFETY: `addr` is live and `len` long.
    if unsafe { libc::connect(fd, &addr, len) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn write_sockaddr(a: SocketAddr, s: &mut libc::sockaddr_storage) -> libc::socklen_t {
    match a {
        SocketAddr::V4(v) => {
            // SAFETY: sockaddr_storage is large and aligned enough for a sockaddr_in.
            let sin =
                unsafe { &mut *(s as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = v.port().to_be();
            sin.sin_addr.s_addr = u32::from(*v.ip()).to_be();
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t
        }
        SocketAddr::V6(v) => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 =
                unsafe { &mut *(s as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = v.port().to_be();
            sin6.sin6_flowinfo = v.flowinfo();
            sin6.sin6_addr.s6_addr = v.ip().octets();
            sin6.sin6_scope_id = v.scope_id();
            std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t
        }
    }
}

/// A socket address as the kernel wrote it into a buffer (`sockaddr_in` or `_in6`).
pub(super) fn sockaddr_from_bytes(name: &[u8]) -> Option<SocketAddr> {
    // SAFETY: plain old data; all-zero is valid.
    let mut s: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let n = name
        .len()
        .min(std::mem::size_of::<libc::sockaddr_storage>());
    // SAFETY: `n` bytes fit both the source slice and the storage.
    unsafe {
        std::ptr::copy_nonoverlapping(name.as_ptr(), (&raw mut s).cast::<u8>(), n);
    }
    sockaddr(&s)
}

fn sockaddr(s: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match i32::from(s.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in, which fits in it.
            let a = unsafe { &*(s as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
            Some(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(a.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for sockaddr_in6.
            let a = unsafe { &*(s as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
            Some(SocketAddr::V6(SocketAddrV6::new(
                ip,
                u16::from_be(a.sin6_port),
                a.sin6_flowinfo,
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn one_call_drains_every_waiting_datagram_with_its_source() {
        let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_nonblocking(true).unwrap();
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut batch = RecvBatch::<SLOTS>::default();
        assert_eq!(batch.recv(rx.as_raw_fd()).unwrap(), 0, "nothing waiting");
        for i in 0..3u8 {
            tx.send_to(&[i; 172], rx.local_addr().unwrap()).unwrap();
        }
        // Loopback delivery is immediate, but give the kernel a moment to queue.
        std::thread::sleep(std::time::Duration::from_millis(10));
        assert_eq!(batch.recv(rx.as_raw_fd()).unwrap(), 3);
        for i in 0..3u8 {
            let (data, from) = batch.packet(usize::from(i)).unwrap();
            assert_eq!(data, &[i; 172][..]);
            assert_eq!(from, tx.local_addr().unwrap());
        }
        assert!(batch.packet(3).is_none());
        assert_eq!(batch.recv(rx.as_raw_fd()).unwrap(), 0, "drained");
    }

    #[test]
    fn more_than_a_batch_is_read_over_several_calls() {
        let rx = std::net::UdpSocket::bind("[::1]:0").unwrap();
        rx.set_nonblocking(true).unwrap();
        let tx = std::net::UdpSocket::bind("[::1]:0").unwrap();
        for _ in 0..SLOTS + 2 {
            tx.send_to(b"rtp", rx.local_addr().unwrap()).unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
        let mut batch = RecvBatch::<SLOTS>::default();
        assert_eq!(batch.recv(rx.as_raw_fd()).unwrap(), SLOTS);
        assert_eq!(batch.packet(0).unwrap().1, tx.local_addr().unwrap());
        assert_eq!(batch.recv(rx.as_raw_fd()).unwrap(), 2);
    }

    #[test]
    fn queued_datagrams_reach_each_destination_in_order_across_sockets() {
        let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = std::net::UdpSocket::bind("[::1]:0").unwrap();
        let to_a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let to_b = std::net::UdpSocket::bind("[::1]:0").unwrap();
        let mut tx = SendBatch::default();
        // More than one batch's worth, alternating runs of the two sockets.
        let mut expect_a = Vec::new();
        let mut expect_b = Vec::new();
        for i in 0..(SHARED_SLOTS as u16 + 10) {
            let (fd, dest, expect) = if (i / 3) % 2 == 0 {
                (a.as_raw_fd(), to_a.local_addr().unwrap(), &mut expect_a)
            } else {
                (b.as_raw_fd(), to_b.local_addr().unwrap(), &mut expect_b)
            };
            let buf = tx.buffer();
            buf[..2].copy_from_slice(&i.to_be_bytes());
            tx.queue(fd, 2, dest);
            expect.push(i);
        }
        tx.flush();
        assert_eq!(tx.take_counts(), (u64::from(SHARED_SLOTS as u16 + 10), 0));
        for (sock, expect, from) in [
            (&to_a, &expect_a, a.local_addr().unwrap()),
            (&to_b, &expect_b, b.local_addr().unwrap()),
        ] {
            sock.set_read_timeout(Some(std::time::Duration::from_secs(2)))
                .unwrap();
            for want in expect {
                let mut got = [0u8; 8];
                let (n, src) = sock.recv_from(&mut got).unwrap();
                assert_eq!((n, src), (2, from));
                assert_eq!(u16::from_be_bytes([got[0], got[1]]), *want);
            }
        }
    }

    #[test]
    fn a_refused_datagram_is_counted_and_the_rest_still_go() {
        let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut tx = SendBatch::default();
        for dest in [
            to.local_addr().unwrap(),
            // An IPv6 destination through an IPv4 socket: the kernel refuses it.
            "[::1]:9".parse().unwrap(),
            to.local_addr().unwrap(),
        ] {
            tx.buffer()[0] = 7;
            tx.queue(a.as_raw_fd(), 1, dest);
        }
        tx.flush();
        assert_eq!(tx.take_counts(), (2, 1));
        to.set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        let mut got = [0u8; 4];
        assert_eq!(to.recv(&mut got).unwrap(), 1);
        assert_eq!(to.recv(&mut got).unwrap(), 1);
    }
}
