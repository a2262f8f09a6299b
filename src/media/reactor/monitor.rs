//! The worker's part of monitoring (`MediaCommand::SupervisorLeg`, `SupervisorEnd`):
//! watching a supervisor leg's socket under the slot's monitor token for its place in
//! the session's mixer, and closing it when that supervisor leaves. Commands only; the
//! packets go to `session::mixer`.

use tokio::sync::oneshot;

use super::{MAX_SUPERVISORS, MONITOR_TOKEN, Worker};
use crate::media::monitor::MonitorMode;
use crate::media::recording::{RecordingHandle, RecordingReceipt};
use crate::media::session::LegSocket;

impl Worker {
    /// Seats supervisor `key` on session `id` and watches its socket.
    pub(super) fn seat_supervisor(
        &mut self,
        id: u64,
        key: u32,
        mode: MonitorMode,
        socket: std::net::UdpSocket,
        seed: [u32; 2],
        track: Option<RecordingHandle>,
    ) {
        let Some(slot) = self.by_id.get(&id).copied() else {
            return;
        };
        let Some(mut s) = self.slots[slot].take() else {
            return;
        };
        match s.session.add_supervisor(key, mode, socket, seed, track) {
            Some(place) => {
                if let Some(LegSocket::Own(sock)) =
                    s.session.supervisor_leg(place).map(|l| &mut l.sock)
                {
                    self.watch(sock, MONITOR_TOKEN + slot * MAX_SUPERVISORS + place);
                }
            }
            None => tracing::warn!("a call has the most supervisors it takes; one more refused"),
        }
        self.slots[slot] = Some(s);
    }

    /// Supervisor `key` leaves session `id`: its socket is closed.
    pub(super) fn end_supervisor(
        &mut self,
        id: u64,
        key: u32,
        reply: Option<oneshot::Sender<Option<RecordingReceipt>>>,
    ) {
        let Some(slot) = self.by_id.get(&id).copied() else {
            if let Some(r) = reply {
                let _ = r.send(None);
            }
            return;
        };
        let Some(mut leg) = self.slots[slot]
            .as_mut()
            .and_then(|s| s.session.remove_supervisor(key, reply))
        else {
            return;
        };
        self.unwatch(&mut leg);
    }
}
