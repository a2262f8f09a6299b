//! Draining a UDP socket in one system call (`recvmmsg`), into buffers allocated once.
//!
//! Why: a media worker visits each readable RTP socket once per batch interval and usually
//! finds one packet there. Reading it with `recv_from` costs two calls — the packet, then
//! the `WouldBlock` that proves the socket drained (mio's readiness is edge-triggered).
//! `recvmmsg` with `MSG_DONTWAIT` returns every queued datagram up to the batch size and
//! stops when the queue is empty, so fewer than `SLOTS` packets back means drained: one
//! call per socket per batch.
//!
//! Limits: Linux only (the server's platform); IPv4 and IPv6 sources; datagrams longer
//! than `MTU` are truncated (RTP from phones and gateways stays well under it). The only
//! `unsafe` in the media path lives here, around the C structures `recvmmsg` fills.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;

use super::session::MTU;

/// Datagrams read per call; a socket rarely holds more than one or two per batch.
pub const SLOTS: usize = 8;

/// Receive buffers and the C headers pointing into them, reused for every call.
pub struct RecvBatch {
    bufs: Box<[[u8; MTU]; SLOTS]>,
    addrs: Box<[libc::sockaddr_storage; SLOTS]>,
    lens: [usize; SLOTS],
    count: usize,
}

impl Default for RecvBatch {
    fn default() -> Self {
        RecvBatch {
            bufs: Box::new([[0u8; MTU]; SLOTS]),
            // SAFETY: sockaddr_storage is plain old data; all-zero is a valid value.
            addrs: Box::new(unsafe { std::mem::zeroed() }),
            lens: [0; SLOTS],
            count: 0,
        }
    }
}

impl RecvBatch {
    /// Reads every datagram waiting on `fd` (up to `SLOTS`); returns how many. `Ok(0)`
    /// means nothing was waiting.
    pub fn recv(&mut self, fd: RawFd) -> io::Result<usize> {
        // SAFETY: iovec, mmsghdr are plain old data; zero is valid before we fill them.
        let mut iovs: [libc::iovec; SLOTS] = unsafe { std::mem::zeroed() };
        let mut hdrs: [libc::mmsghdr; SLOTS] = unsafe { std::mem::zeroed() };
        for i in 0..SLOTS {
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
                SLOTS as libc::c_uint,
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
        let mut batch = RecvBatch::default();
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
        let mut batch = RecvBatch::default();
        assert_eq!(batch.recv(rx.as_raw_fd()).unwrap(), SLOTS);
        assert_eq!(batch.packet(0).unwrap().1, tx.local_addr().unwrap());
        assert_eq!(batch.recv(rx.as_raw_fd()).unwrap(), 2);
    }
}
