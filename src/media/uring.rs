//! A media worker's sockets through io_uring: every watched socket has one multishot
//! `recvmsg` armed that fills buffers from a ring shared by all of them, and a pass's
//! sends go to the kernel in one `io_uring_enter`.
//!
//! Why: on the epoll path each relayed packet cost two system calls (a `recvmmsg` on the
//! socket it arrived on, a `sendmmsg` on the other leg's), plus the readiness list. Here a
//! worker pass is two `io_uring_enter` calls whatever the packet count, sockets are
//! registered files (no descriptor lookup per datagram), and with `DEFER_TASKRUN` the
//! receives run when the worker asks, in its own batch. A stand-alone relay of 1,500 leg
//! pairs measured 4.2–4.6 µs of CPU per packet this way against 7.0–7.9 µs with epoll.
//!
//! Limits: needs Linux 6.1 (multishot `recvmsg`, provided buffer rings, `DEFER_TASKRUN`);
//! when the ring cannot be set up the worker keeps the epoll path. Datagrams longer than
//! a buffer (`BUF_LEN`, room for a full Ethernet MTU) are dropped as truncated. When every
//! buffer is in use, receiving pauses until the next pass (the datagrams wait in the
//! socket) and the receive is armed again.

use std::io;
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::{IoUring, cqueue, opcode, squeue, types};

use super::udp_batch::{SendBatch, sockaddr_from_bytes};

/// Buffers in the receive ring. A pass at 1,500 calls on two workers takes ~400 on
/// average, but peers send in bursts (sipp sends every call's packet at once): with
/// 1,024 the ring ran dry every pass and some sockets, always served last, overflowed.
const BUFS: u16 = 4096;
/// One buffer: the kernel's `io_uring_recvmsg_out` header (16 bytes), the source address
/// (28), then the datagram: up to 724 bytes, G.711 at 80 ms per packet. Longer ones are
/// dropped as truncated (counted as invalid).
const BUF_LEN: usize = 768;
const GROUP: u16 = 0;
/// Registered-file slots: one per watched socket.
const FILES: u32 = 16384;
const SQ_ENTRIES: u32 = 1024;
const CQ_ENTRIES: u32 = 8192;

/// What a completion belongs to (top bits of its user data).
const KIND_SEND: u64 = 1 << 62;
const KIND_CANCEL: u64 = 2 << 62;
const KIND_MASK: u64 = 3 << 62;

#[derive(Debug, thiserror::Error)]
pub enum UringError {
    #[error("io_uring is not available: {0}")]
    Setup(#[source] io::Error),
    #[error("no free registered-file slot for an RTP socket")]
    Full,
    #[error("cannot register an RTP socket with io_uring: {0}")]
    Register(#[source] io::Error),
}

/// One watched socket, by registered-file slot.
#[derive(Clone, Copy)]
struct Watch {
    token: usize,
    fd: RawFd,
    /// Raised at every unwatch, so completions of a slot's former socket are not taken
    /// for its new one.
    generation: u32,
    active: bool,
}

/// The receive buffers and the ring through which the kernel is handed them back.
struct BufRing {
    /// Page-aligned ring of `BUFS` entries, shared with the kernel.
    entries: *mut types::BufRingEntry,
    bufs: Box<[u8]>,
    tail: u16,
}

impl BufRing {
    fn new() -> io::Result<BufRing> {
        let bytes = usize::from(BUFS) * std::mem::size_of::<types::BufRingEntry>();
        // SAFETY: a fresh anonymous private mapping; checked below.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let mut ring = BufRing {
            entries: p.cast(),
            bufs: vec![0u8; usize::from(BUFS) * BUF_LEN].into_boxed_slice(),
            tail: 0,
        };
        commit_pages(&mut ring.bufs);
        for id in 0..BUFS {
            ring.give_back(id);
        }
        ring.publish();
        Ok(ring)
    }

    fn buf(&self, id: u16) -> &[u8] {
        let at = usize::from(id) * BUF_LEN;
        &self.bufs[at..at + BUF_LEN]
    }

    /// Queues buffer `id` for the kernel again; seen by it at `publish`.
    fn give_back(&mut self, id: u16) {
        if id >= BUFS {
            return;
        }
        let addr = self.bufs.as_ptr() as u64 + (usize::from(id) * BUF_LEN) as u64;
        // SAFETY: the index is masked into the ring's `BUFS` entries (a power of two).
        let e = unsafe { &mut *self.entries.add(usize::from(self.tail & (BUFS - 1))) };
        e.set_addr(addr);
        e.set_len(BUF_LEN as u32);
        e.set_bid(id);
        self.tail = self.tail.wrapping_add(1);
    }

    fn publish(&self) {
        // SAFETY: the ring's tail field lives in its first entry, as the kernel defines it;
        // it is written with release ordering so the kernel sees the entries first.
        unsafe {
            let tail = types::BufRingEntry::tail(self.entries).cast::<AtomicU16>();
            (*tail).store(self.tail, Ordering::Release);
        }
    }
}

/// Touches every page of `buf` so that the kernel backs it now. A zeroed allocation this
/// large is a fresh mapping whose pages arrive one fault at a time as the kernel first
/// writes datagrams into them: faults on the packet path while load ramps up, and a fixed
/// 3 MB per worker that would otherwise show up as memory "per call" under load.
fn commit_pages(buf: &mut [u8]) {
    for page in buf.chunks_mut(4096) {
        // SAFETY: `page` is a live, exclusively borrowed, non-empty slice. Volatile so the
        // store is not dropped as redundant on memory known to be zero.
        unsafe { std::ptr::write_volatile(page.as_mut_ptr(), 0) };
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        let bytes = usize::from(BUFS) * std::mem::size_of::<types::BufRingEntry>();
        // SAFETY: the mapping made in `new`, unmapped once; the ring that used it is gone
        // (`Uring` drops its `IoUring` first).
        unsafe {
            libc::munmap(self.entries.cast(), bytes);
        }
    }
}

/// A worker's io_uring: watched sockets, their receive buffers, and the send path.
pub(super) struct Uring {
    // Field order matters: the ring closes before the buffers it may write go away.
    ring: IoUring,
    bufs: BufRing,
    /// The `recvmsg` template every multishot receive uses (only its name length counts).
    template: Box<libc::msghdr>,
    watches: Vec<Option<Watch>>,
    free_slots: Vec<u32>,
    /// Registered slot by descriptor number, for sends.
    slot_of_fd: Vec<u32>,
    /// Slots whose receive ended (no buffers, an error) and is armed again next pass.
    rearm: Vec<u32>,
    /// Send entries being built (kept to reuse its allocation).
    outgoing: Vec<squeue::Entry>,
    /// Sends handed to the kernel since the last `take_counts`.
    queued: u64,
    /// Sends that failed since the last `take_counts`.
    failed: u64,
    /// Failures not yet taken off a count of queued sends.
    unsettled: u64,
    /// Receives that ended and were armed again since the last `take_rearms` (mostly: the
    /// buffer ring ran dry).
    rearms: u64,
    /// Datagrams too long for a buffer, dropped, since the last `take_rearms`.
    truncated: u64,
}

// SAFETY: every raw pointer a `Uring` holds (its buffer ring mapping, its msghdr
// template's null fields) points into memory it owns alone; moving it to another thread
// moves that ownership. (The ring itself takes submissions from its creating thread
// only, which the worker guarantees by setting it up there.)
unsafe impl Send for Uring {}

const NO_SLOT: u32 = u32::MAX;
/// Enters per `reap` at most: bounds a pass when datagrams arrive as fast as it reads.
/// The kernel runs ~20 deferred receives per enter, so 1,500 sockets with a datagram
/// each take ~75; a cap of 64 left work over every pass, the backlog grew into bursts
/// that emptied the buffer ring, and receives had to be re-armed by the hundred thousand.
const MAX_ROUNDS: usize = 1024;
/// `IORING_ENTER_GETEVENTS`: also run deferred work and post its completions.
const ENTER_GETEVENTS: u32 = 1;

impl Uring {
    pub(super) fn new() -> Result<Uring, UringError> {
        let ring = IoUring::builder()
            .setup_single_issuer()
            .setup_defer_taskrun()
            .setup_taskrun_flag()
            .setup_cqsize(CQ_ENTRIES)
            .build(SQ_ENTRIES)
            .map_err(UringError::Setup)?;
        ring.submitter()
            .register_files_sparse(FILES)
            .map_err(UringError::Setup)?;
        let bufs = BufRing::new().map_err(UringError::Setup)?;
        // SAFETY: the ring memory stays mapped for as long as `bufs`, which outlives the
        // registration (the ring is dropped first).
        unsafe {
            ring.submitter()
                .register_buf_ring_with_flags(bufs.entries as u64, BUFS, GROUP, 0)
                .map_err(UringError::Setup)?;
        }
        // SAFETY: plain old data; all-zero is a valid msghdr.
        let mut template: Box<libc::msghdr> = Box::new(unsafe { std::mem::zeroed() });
        template.msg_namelen = std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
        Ok(Uring {
            ring,
            bufs,
            template,
            watches: Vec::new(),
            free_slots: (0..FILES).rev().collect(),
            slot_of_fd: Vec::new(),
            rearm: Vec::new(),
            outgoing: Vec::with_capacity(super::udp_batch::SEND_SLOTS),
            queued: 0,
            failed: 0,
            unsettled: 0,
            rearms: 0,
            truncated: 0,
        })
    }

    /// Starts receiving on `fd`; its datagrams are reported with `token`.
    pub(super) fn watch(&mut self, fd: RawFd, token: usize) -> Result<(), UringError> {
        let slot = self.free_slots.pop().ok_or(UringError::Full)?;
        if let Err(e) = self.ring.submitter().register_files_update(slot, &[fd]) {
            self.free_slots.push(slot);
            return Err(UringError::Register(e));
        }
        let i = slot as usize;
        if self.watches.len() <= i {
            self.watches.resize(i + 1, None);
        }
        let generation = self.watches[i].map_or(0, |w| w.generation);
        self.watches[i] = Some(Watch {
            token,
            fd,
            generation,
            active: true,
        });
        if let Ok(n) = usize::try_from(fd) {
            if self.slot_of_fd.len() <= n {
                self.slot_of_fd.resize(n + 1, NO_SLOT);
            }
            self.slot_of_fd[n] = slot;
        }
        self.arm(slot);
        Ok(())
    }

    /// Stops receiving on `fd`. The socket may be closed right after: the cancelled
    /// request and the file slot let go of it in the kernel's own time.
    pub(super) fn unwatch(&mut self, fd: RawFd) {
        let Some(slot) = usize::try_from(fd)
            .ok()
            .and_then(|n| self.slot_of_fd.get_mut(n))
            .map(|s| std::mem::replace(s, NO_SLOT))
            .filter(|s| *s != NO_SLOT)
        else {
            return;
        };
        let Some(Some(w)) = self.watches.get_mut(slot as usize) else {
            return;
        };
        let old = user_data(slot, w.generation);
        w.active = false;
        w.generation = w.generation.wrapping_add(1);
        self.push(opcode::AsyncCancel::new(old).build().user_data(KIND_CANCEL));
        let _ = self.ring.submit();
        let _ = self.ring.submitter().register_files_update(slot, &[-1]);
        self.free_slots.push(slot);
    }

    fn arm(&mut self, slot: u32) {
        let Some(Some(w)) = self.watches.get(slot as usize) else {
            return;
        };
        let entry = opcode::RecvMsgMulti::new(types::Fixed(slot), &raw const *self.template, GROUP)
            .build()
            .user_data(user_data(slot, w.generation));
        self.push(entry);
    }

    fn push(&mut self, entry: squeue::Entry) {
        loop {
            // SAFETY: every entry pushed points at memory of `self` (the template, send
            // batch buffers flushed before they are reused) that outlives its use.
            if unsafe { self.ring.submission().push(&entry) }.is_ok() {
                return;
            }
            if self.ring.submit().is_err() {
                return;
            }
        }
    }

    /// Runs the receives that are due and hands each datagram to `deliver` with its
    /// socket's token and source; counts send completions.
    pub(super) fn reap(
        &mut self,
        tx: &mut SendBatch,
        mut deliver: impl FnMut(usize, &[u8], SocketAddr, &mut SendBatch),
    ) {
        // One enter runs only ~20 deferred receives (the kernel caps a round of local
        // work), so enter again while it flags work still pending.
        for _ in 0..MAX_ROUNDS {
            self.reap_round(tx, &mut deliver);
            if !self.ring.submission().taskrun() {
                break;
            }
        }
    }

    fn reap_round(
        &mut self,
        tx: &mut SendBatch,
        deliver: &mut impl FnMut(usize, &[u8], SocketAddr, &mut SendBatch),
    ) {
        for slot in std::mem::take(&mut self.rearm) {
            self.arm(slot);
        }
        // Submits what is queued and runs the deferred receive work, without waiting.
        let pending = self.ring.submission().len() as u32;
        // SAFETY: no signal mask is passed; the queued entries are valid (see `push`).
        let entered = unsafe {
            self.ring
                .submitter()
                .enter::<libc::sigset_t>(pending, 0, ENTER_GETEVENTS, None)
        };
        if let Err(e) = entered
            && e.raw_os_error() != Some(libc::EINTR)
            && e.raw_os_error() != Some(libc::EBUSY)
        {
            tracing::warn!(error = %e, "io_uring submit failed");
        }
        let mut returned = false;
        loop {
            if tx.nearly_full() {
                self.send(tx);
            }
            let Some(c) = self.ring.completion().next() else {
                break;
            };
            let data = c.user_data();
            match data & KIND_MASK {
                // Sends post a completion only when they fail (`SKIP_SUCCESS`).
                KIND_SEND => {
                    if c.result() < 0 {
                        self.failed += 1;
                    }
                    continue;
                }
                KIND_CANCEL => continue,
                _ => {}
            }
            let slot = (data & 0xffff_ffff) as u32;
            let generation = ((data >> 32) & 0x3fff_ffff) as u32;
            let current = self
                .watches
                .get(slot as usize)
                .copied()
                .flatten()
                .filter(|w| w.active && (w.generation & 0x3fff_ffff) == generation);
            if let Some(id) = cqueue::buffer_select(c.flags()) {
                if c.result() >= 0
                    && let Some(w) = current
                    && let Ok(out) = types::RecvMsgOut::parse(self.bufs.buf(id), &self.template)
                    && let Some(from) = sockaddr_from_bytes(out.name_data())
                {
                    if out.is_payload_truncated() {
                        self.truncated += 1;
                    } else {
                        deliver(w.token, out.payload_data(), from, tx);
                    }
                }
                self.bufs.give_back(id);
                returned = true;
            }
            if !cqueue::more(c.flags()) && current.is_some() {
                if c.result() < 0 && c.result() != -libc::ENOBUFS {
                    tracing::debug!(
                        errno = -c.result(),
                        fd = current.map(|w| w.fd),
                        "RTP receive ended; armed again"
                    );
                }
                self.rearm.push(slot);
                self.rearms += 1;
            }
        }
        if returned {
            self.bufs.publish();
        }
    }

    /// Hands every datagram queued in `tx` to the kernel in one call. Sends on
    /// `MSG_DONTWAIT` complete during that call, so `tx`'s buffers are free after it.
    pub(super) fn send(&mut self, tx: &mut SendBatch) {
        let slot_of_fd = &self.slot_of_fd;
        let entries = &mut self.outgoing;
        tx.for_each_prepared(|fd, buf, len, msg| {
            let slot = usize::try_from(fd)
                .ok()
                .and_then(|n| slot_of_fd.get(n))
                .copied()
                .filter(|s| *s != NO_SLOT);
            let entry = match (slot, msg) {
                (Some(s), None) => opcode::Send::new(types::Fixed(s), buf, len)
                    .flags(libc::MSG_DONTWAIT)
                    .build(),
                (None, None) => opcode::Send::new(types::Fd(fd), buf, len)
                    .flags(libc::MSG_DONTWAIT)
                    .build(),
                (Some(s), Some(m)) => opcode::SendMsg::new(types::Fixed(s), m)
                    .flags(libc::MSG_DONTWAIT as u32)
                    .build(),
                (None, Some(m)) => opcode::SendMsg::new(types::Fd(fd), m)
                    .flags(libc::MSG_DONTWAIT as u32)
                    .build(),
            };
            // A successful send posts no completion: half the completions the kernel
            // writes and this worker reads, at one per datagram relayed.
            entries.push(
                entry
                    .user_data(KIND_SEND)
                    .flags(squeue::Flags::SKIP_SUCCESS),
            );
        });
        self.queued += entries.len() as u64;
        let mut entries = std::mem::take(&mut self.outgoing);
        for e in entries.drain(..) {
            self.push(e);
        }
        self.outgoing = entries;
        if let Err(e) = self.ring.submit()
            && e.raw_os_error() != Some(libc::EINTR)
        {
            tracing::warn!(error = %e, "io_uring submit failed");
        }
        tx.clear();
    }

    /// (receives armed again, datagrams dropped as too long) since the last call.
    pub(super) fn take_rearms(&mut self) -> (u64, u64) {
        (
            std::mem::take(&mut self.rearms),
            std::mem::take(&mut self.truncated),
        )
    }

    /// (sent, failed) since the last call. Sends are counted when queued; a failure
    /// reported later is taken off what a later call reports, so the totals are exact.
    pub(super) fn take_counts(&mut self) -> (u64, u64) {
        let failed = std::mem::take(&mut self.failed);
        self.unsettled += failed;
        let settled = self.unsettled.min(self.queued);
        self.unsettled -= settled;
        let sent = std::mem::take(&mut self.queued) - settled;
        (sent, failed)
    }
}

fn user_data(slot: u32, generation: u32) -> u64 {
    (u64::from(generation & 0x3fff_ffff) << 32) | u64::from(slot)
}

#[cfg(test)]
mod tests {
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;

    use super::*;

    #[test]
    fn the_receive_buffers_are_resident_from_the_start() {
        let ring = BufRing::new().expect("buffer ring");
        let start = ring.bufs.as_ptr() as usize;
        let end = start + ring.bufs.len();
        // Whole pages inside the buffers only: the allocation need not be page-aligned.
        let (first, last) = ((start + 4095) & !4095, end & !4095);
        let pages = (last - first) / 4096;
        let mut resident = vec![0u8; pages];
        // SAFETY: the range lies inside `ring.bufs`, alive for the call; `resident` holds
        // one byte per page of it.
        let rc = unsafe {
            libc::mincore(
                first as *mut libc::c_void,
                last - first,
                resident.as_mut_ptr(),
            )
        };
        assert_eq!(rc, 0, "mincore: {}", io::Error::last_os_error());
        let absent = resident.iter().filter(|r| **r & 1 == 0).count();
        assert_eq!(absent, 0, "{absent} of {pages} buffer pages not backed yet");
    }

    #[test]
    fn one_reap_takes_a_datagram_from_each_of_hundreds_of_sockets() {
        let mut uring = Uring::new().expect("io_uring on this kernel");
        let sockets: Vec<UdpSocket> = (0..300)
            .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
            .collect();
        for (i, s) in sockets.iter().enumerate() {
            s.set_nonblocking(true).unwrap();
            uring.watch(s.as_raw_fd(), i).unwrap();
        }
        let mut tx = SendBatch::default();
        uring.reap(&mut tx, |_, _, _, _| {});
        let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
        for (i, s) in sockets.iter().enumerate() {
            peer.send_to(&(i as u32).to_be_bytes(), s.local_addr().unwrap())
                .unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        let mut got = vec![false; sockets.len()];
        uring.reap(&mut tx, |token, bytes, from, _| {
            assert_eq!(from, peer.local_addr().unwrap());
            assert_eq!(bytes, (token as u32).to_be_bytes());
            got[token] = true;
        });
        let missing = got.iter().filter(|g| !**g).count();
        assert_eq!(
            missing, 0,
            "{missing} sockets' datagrams not delivered in one pass"
        );
    }

    #[test]
    fn an_unwatched_socket_is_not_reported_and_its_slot_serves_the_next() {
        let mut uring = Uring::new().expect("io_uring on this kernel");
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        uring.watch(a.as_raw_fd(), 7).unwrap();
        let mut tx = SendBatch::default();
        uring.reap(&mut tx, |_, _, _, _| {});
        uring.unwatch(a.as_raw_fd());
        let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
        peer.send_to(b"old", a.local_addr().unwrap()).unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        uring.watch(b.as_raw_fd(), 9).unwrap();
        peer.send_to(b"new", b.local_addr().unwrap()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(30));
        let mut seen = Vec::new();
        for _ in 0..3 {
            uring.reap(&mut tx, |token, bytes, _, _| {
                seen.push((token, bytes.to_vec()))
            });
        }
        assert_eq!(seen, vec![(9, b"new".to_vec())]);
    }

    #[test]
    fn sends_are_counted_and_a_refused_one_as_failed_only() {
        let mut uring = Uring::new().expect("io_uring on this kernel");
        let from = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = UdpSocket::bind("127.0.0.1:0").unwrap();
        to.set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        // Not connected: a send without a destination is refused (EDESTADDRREQ).
        let lonely = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut tx = SendBatch::default();
        for i in 0..3u8 {
            tx.buffer()[0] = i;
            tx.queue(from.as_raw_fd(), 1, to.local_addr().unwrap());
        }
        tx.buffer()[0] = 9;
        tx.queue_connected(lonely.as_raw_fd(), 1);
        uring.send(&mut tx);
        let mut buf = [0u8; 4];
        for i in 0..3u8 {
            assert_eq!(to.recv(&mut buf).unwrap(), 1);
            assert_eq!(buf[0], i);
        }
        uring.reap(&mut tx, |_, _, _, _| {});
        let (mut sent, mut failed) = uring.take_counts();
        // A failure may complete after the counts were first taken.
        for _ in 0..10 {
            if failed > 0 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
            uring.reap(&mut tx, |_, _, _, _| {});
            let (s, f) = uring.take_counts();
            (sent, failed) = (sent + s, failed + f);
        }
        assert_eq!((sent, failed), (3, 1));
    }
}
