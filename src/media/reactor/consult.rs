//! The worker's part of an attended transfer's consultation leg (`MediaCommand::
//! ConsultLeg`, `ConsultEnd`, `ConsultComplete`): watching its socket under the slot's
//! consultation token, and moving it to the agent leg's token when the consulted agent
//! takes the call. Commands only; no packet passes here.

use std::os::fd::AsRawFd;

use mio::net::UdpSocket;
use mio::{Interest, Token};
use tracing::warn;

use super::port_legs::sync_keys;
use super::{CONSULT_TOKEN, Worker};
use crate::media::session::{Leg, LegSocket, LegState};

impl Worker {
    /// Watches a socket of a slot's under `token`; a failure leaves that leg unheard
    /// (it still sends), and is logged.
    pub(super) fn watch(&mut self, sock: &mut UdpSocket, token: usize) {
        let r = match self.uring.as_mut() {
            Some(u) => u.watch(sock.as_raw_fd(), token).map_err(|e| e.to_string()),
            None => self
                .poll
                .registry()
                .register(sock, Token(token), Interest::READABLE)
                .map_err(|e| e.to_string()),
        };
        if let Err(e) = r {
            warn!(error = %e, "cannot watch an RTP socket");
        }
    }

    /// Stops watching a leg's own socket (before it is closed or watched anew).
    pub(super) fn unwatch(&mut self, leg: &mut LegState) {
        if let LegSocket::Own(sock) = &mut leg.sock {
            match self.uring.as_mut() {
                Some(u) => u.unwatch(sock.as_raw_fd()),
                None => {
                    let _ = self.poll.registry().deregister(sock);
                }
            }
        }
    }

    /// Seats session `id`'s consultation leg on `socket` and watches it.
    pub(super) fn seat_consult(&mut self, id: u64, socket: std::net::UdpSocket, seed: [u32; 2]) {
        let Some(slot) = self.by_id.get(&id).copied() else {
            return;
        };
        let Some(mut s) = self.slots[slot].take() else {
            return;
        };
        if let Some(mut old) = s.session.set_consult(socket, seed) {
            self.unwatch(&mut old);
        }
        if let Some(LegSocket::Own(sock)) = s.session.consult_leg().map(|c| &mut c.sock) {
            self.watch(sock, CONSULT_TOKEN + slot);
        }
        self.slots[slot] = Some(s);
    }

    /// Closes session `id`'s consultation leg (a transfer that did not happen).
    pub(super) fn end_consult(&mut self, id: u64) {
        let Some(slot) = self.by_id.get(&id).copied() else {
            return;
        };
        let Some(mut leg) = self.slots[slot]
            .as_mut()
            .and_then(|s| s.session.take_consult())
        else {
            return;
        };
        self.unwatch(&mut leg);
    }

    /// The consultation leg of session `id` becomes its agent leg: watched under the agent
    /// leg's token; the first agent's socket is closed.
    pub(super) fn complete_consult(&mut self, id: u64) {
        let Some(slot) = self.by_id.get(&id).copied() else {
            return;
        };
        let Some(mut s) = self.slots[slot].take() else {
            return;
        };
        if let Some(mut old) = s.session.complete_consult() {
            self.unwatch(&mut old);
            // Watched under the consultation's token until now: the agent leg's from here.
            let agent = s.session.agent_leg();
            self.unwatch(agent);
            if let LegSocket::Own(sock) = &mut agent.sock {
                self.watch(sock, slot * 2 + Leg::Agent.index());
            }
        }
        sync_keys(&mut self.ports, slot, &mut s);
        self.slots[slot] = Some(s);
    }
}
