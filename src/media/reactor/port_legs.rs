//! Which call leg owns each source address on a shared port: the entries kept in step
//! with where each leg expects its peer (`sync_keys`, `forget_key`), and the lookup a
//! shared port's datagram goes through (`Worker::leg_for`). Two legs naming one address
//! get neither's packets: a guess could let one call hear another.

use std::collections::HashMap;
use std::net::SocketAddr;

use tracing::warn;

use super::{Port, Slot, Worker};
use crate::media::session::Leg;

impl Worker {
    /// The leg a packet from `from` on shared port `port` belongs to: the one expecting
    /// that address, else the only leg there still waiting for its first packet from that
    /// host (symmetric RTP for a peer that sends from another port than it announced).
    /// Never a guess between two.
    pub(super) fn leg_for(&self, port: usize, from: SocketAddr) -> Option<(usize, Leg)> {
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
}

/// Brings a slot's entries in its legs' shared ports up to date with where each leg now
/// expects its peer (after SDP arrived, or the peer was latched to).
pub(super) fn sync_keys(ports: &mut HashMap<usize, Port>, slot: usize, s: &mut Slot) {
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
pub(super) fn forget_key(
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
