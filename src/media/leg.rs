//! A call leg's RTP endpoint inside a media session: its socket, where its peer's media
//! comes from (symmetric RTP latching), the codec it speaks and the outgoing stream it
//! is sent. Used by `session` (the caller's and agent's legs, and an attended transfer's
//! consultation leg); no IO beyond building and queueing one packet at a time.

use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Instant;

use mio::net::UdpSocket;
use rtp_rs::{RtpPacketBuilder, Seq};

use crate::media::dtmf::DtmfReceiver;
use crate::media::shared_port::{LegPort, SharedPort};
use crate::media::stream::{InClock, OutHeader, OutStream};
use crate::media::udp_batch::{self, SendBatch};
use crate::media::voice::Voice;
use crate::sdp::Negotiated;

/// A leg's socket as its worker sees it.
pub(super) enum LegSocket {
    /// Registered with the worker's poll under the leg's own token.
    Own(UdpSocket),
    /// Read by the worker on the shared port; packets reach the leg by source address.
    Shared(SharedPort),
}

impl LegSocket {
    pub(super) fn fd(&self) -> RawFd {
        match self {
            LegSocket::Own(s) => s.as_raw_fd(),
            LegSocket::Shared(p) => p.fd,
        }
    }
}

pub(super) struct LegState {
    pub(super) sock: LegSocket,
    pub(super) remote: Option<SocketAddr>,
    /// Where the peer's SDP says its RTP comes from.
    pub(super) announced: Option<SocketAddr>,
    /// Whether `remote` came from real packets (symmetric RTP) rather than SDP.
    pub(super) latched: bool,
    /// Whether the leg's own socket is connected to `remote` (see `latch`).
    pub(super) connected: bool,
    pub(super) negotiated: Option<Negotiated>,
    /// The codec state for what this leg speaks; set with `negotiated`.
    pub(super) voice: Option<Voice>,
    pub(super) out: OutStream,
    pub(super) in_clock: InClock,
    pub(super) dtmf: DtmfReceiver,
    pub(super) sending: bool,
    pub(super) last_rx: Instant,
    pub(super) timeout_reported: bool,
}

impl LegState {
    pub(super) fn new(port: LegPort, ssrc: u32, seq: u16, ts: u32, now: Instant) -> Self {
        let sock = match port {
            LegPort::Own(s) => LegSocket::Own(UdpSocket::from_std(s)),
            LegPort::Shared(p) => LegSocket::Shared(p),
        };
        LegState {
            sock,
            remote: None,
            announced: None,
            latched: false,
            connected: false,
            negotiated: None,
            voice: None,
            out: OutStream::new(ssrc, seq, ts),
            in_clock: InClock::default(),
            dtmf: DtmfReceiver::default(),
            sending: true,
            last_rx: now,
            timeout_reported: false,
        }
    }

    /// The shared port and the source addresses this leg's packets are taken from, when
    /// it sits on a shared port: the one its peer's SDP announced (always, so a peer
    /// that sends from there again is heard even after a stray packet was latched to),
    /// and the one latched to, if another.
    pub(super) fn shared_keys(&self) -> [Option<(usize, SocketAddr)>; 2] {
        let LegSocket::Shared(p) = &self.sock else {
            return [None, None];
        };
        let latched = self.remote.filter(|r| Some(*r) != self.announced);
        [
            self.announced.map(|a| (p.port, a)),
            latched.map(|a| (p.port, a)),
        ]
    }

    /// Whether a packet from `from` may be this leg's first: nothing came in yet and it
    /// comes from the host its SDP names (a gateway sending from another port than it
    /// announced).
    pub(super) fn awaits_first_packet_from(&self, from: SocketAddr) -> bool {
        !self.latched && self.announced.is_some_and(|r| r.ip() == from.ip())
    }

    /// Symmetric RTP: sends follow where the peer's packets come from. A leg on its own
    /// port whose peer sends from exactly the address its SDP announced (a gateway, a LAN
    /// phone) has its socket connected there: the kernel then skips a route lookup per
    /// datagram sent, and packets from anywhere else never reach the call (no injected or
    /// stray audio). A peer sending from elsewhere (NAT) stays unconnected and followed.
    pub(super) fn latch(&mut self, from: SocketAddr) {
        if self.connected {
            // Only a datagram queued before the connect can come from elsewhere.
            return;
        }
        if !self.latched || self.remote != Some(from) {
            self.remote = Some(from);
            self.latched = true;
        }
        if let LegSocket::Own(sock) = &self.sock
            && self.announced == Some(from)
        {
            match sock.connect(from) {
                Ok(()) => self.connected = true,
                Err(e) => tracing::debug!(error = %e, %from, "cannot connect an RTP socket"),
            }
        }
    }

    /// The peer announced a new media address (a re-INVITE): forget the old association
    /// so its packets, from wherever they now come, are heard again.
    pub(super) fn reannounce(&mut self, addr: SocketAddr) {
        // A zero address is old-style hold (RFC 3264 §8.4), not a move: on resume the peer
        // names its address again.
        if self.announced == Some(addr) || addr.ip().is_unspecified() {
            return;
        }
        if self.connected {
            if let Err(e) = udp_batch::disconnect(self.sock.fd()) {
                tracing::warn!(error = %e, "cannot disconnect an RTP socket; the peer's new address may go unheard");
            }
            self.connected = false;
            self.latched = false;
        }
        if !self.latched {
            self.remote = Some(addr);
        }
        self.announced = Some(addr);
    }
}

impl LegState {
    /// Where the peer's RTP goes and which codec it speaks (its SDP); a codec that cannot
    /// be set up leaves the leg silent, the call and its recording go on.
    pub(super) fn set_remote(&mut self, addr: SocketAddr, negotiated: Negotiated) {
        self.reannounce(addr);
        self.negotiated = Some(negotiated);
        if self.voice.as_ref().map(Voice::codec) != Some(negotiated.codec) {
            match Voice::new(negotiated.codec) {
                Ok(v) => {
                    self.out.set_ticks(v.ticks_per_sample());
                    self.in_clock.set_ticks(v.ticks_per_sample());
                    self.voice = Some(v);
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot set up the leg's codec");
                    self.voice = None;
                }
            }
        }
    }

    /// Builds one RTP packet of this leg's stream and queues it on the worker's send
    /// batch; false when it could not be built. (A full socket buffer at the flush drops
    /// the packet rather than block the worker; the worker counts those.)
    pub(super) fn send_rtp(
        &self,
        tx: &mut SendBatch,
        pt: u8,
        header: OutHeader,
        payload: &[u8],
        dest: SocketAddr,
    ) -> bool {
        let built = RtpPacketBuilder::new()
            .payload_type(pt)
            .ssrc(self.out.ssrc)
            .sequence(Seq::from(header.seq))
            .timestamp(header.ts)
            .marked(header.marker)
            .payload(payload)
            .build_into(tx.buffer());
        match built {
            Ok(len) => {
                if self.connected && self.remote == Some(dest) {
                    tx.queue_connected(self.sock.fd(), len);
                } else {
                    tx.queue(self.sock.fd(), len, dest);
                }
                true
            }
            Err(_) => false,
        }
    }
}
