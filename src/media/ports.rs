//! The RTP port range: hands out UDP sockets bound to even ports, round-robin.
//!
//! Round-robin rather than lowest-free so a port just released is not reused at once (a
//! late packet of the old call would otherwise land in the new one). The OS is the source
//! of truth for what is in use: a port another process holds is simply skipped.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};

use std::net::UdpSocket;

#[derive(Debug, thiserror::Error)]
pub enum PortError {
    #[error("no free RTP port in {min}-{max} on {ip}")]
    Exhausted { ip: IpAddr, min: u16, max: u16 },
}

#[derive(Debug)]
pub struct RtpPorts {
    ip: IpAddr,
    min: u16,
    max: u16,
    next: AtomicU32,
}

impl RtpPorts {
    pub fn new(ip: IpAddr, min: u16, max: u16) -> Self {
        RtpPorts {
            ip,
            min,
            max,
            next: AtomicU32::new(0),
        }
    }

    fn slots(&self) -> u32 {
        (u32::from(self.max) - u32::from(self.min))
            .div_ceil(2)
            .max(1)
    }

    /// Two ports for a call's two legs (a media session's caller and agent sockets).
    pub fn bind_pair(&self) -> Result<(UdpSocket, UdpSocket), PortError> {
        Ok((self.bind()?, self.bind()?))
    }

    /// Binds the next free even port of the range.
    pub fn bind(&self) -> Result<UdpSocket, PortError> {
        let slots = self.slots();
        for _ in 0..slots {
            let slot = self.next.fetch_add(1, Ordering::Relaxed) % slots;
            let port = u32::from(self.min) + slot * 2;
            let Ok(port) = u16::try_from(port) else {
                continue;
            };
            let addr = SocketAddr::new(self.ip, port);
            if let Ok(sock) = UdpSocket::bind(addr) {
                if sock.set_nonblocking(true).is_err() {
                    continue;
                }
                return Ok(sock);
            }
        }
        Err(self.exhausted())
    }

    pub(super) fn exhausted(&self) -> PortError {
        PortError::Exhausted {
            ip: self.ip,
            min: self.min,
            max: self.max,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hands_out_distinct_even_ports_and_skips_taken_ones() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        // Hold the first port of the range elsewhere.
        let blocker = std::net::UdpSocket::bind((ip, 41000)).unwrap();
        let ports = RtpPorts::new(ip, 41000, 41010);
        let a = ports.bind().unwrap();
        let b = ports.bind().unwrap();
        let pa = a.local_addr().unwrap().port();
        let pb = b.local_addr().unwrap().port();
        assert_ne!(pa, 41000);
        assert_ne!(pa, pb);
        assert_eq!(pa % 2, 0);
        assert_eq!(pb % 2, 0);
        drop(blocker);
    }

    #[test]
    fn exhaustion_is_an_error() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let ports = RtpPorts::new(ip, 41100, 41102);
        let _a = ports.bind().unwrap();
        assert!(ports.bind().is_err());
    }
}
