//! The call actor's side of its media: the commands it sends (`MediaCommand`), the events
//! it hears back (`MediaEvent`), the handle it sends them through, and the process-wide
//! media counters. Nothing here touches a socket; the session (`super`) carries the
//! commands out on its worker thread.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::oneshot;

use super::Leg;
use crate::media::reactor::WorkerMsg;
use crate::media::recording::{RecordingHandle, RecordingReceipt};
use crate::sdp::Negotiated;

#[derive(Debug)]
pub enum MediaCommand {
    /// Where a leg's RTP goes and which codec it speaks (from SDP).
    Remote {
        leg: Leg,
        addr: SocketAddr,
        negotiated: Negotiated,
    },
    /// Play audio (8 kHz PCM) to one leg, replacing whatever is playing; `id` comes
    /// back in `PromptFinished`. Sent by `MediaHandle::play`, which numbers playbacks.
    /// Only what the caller hears is recorded (a prompt to the agent is a private cue).
    Play {
        leg: Leg,
        /// Played back to back; shared with the prompt library, never copied per call.
        parts: Vec<Arc<[i16]>>,
        looped: bool,
        id: u64,
    },
    /// Stop what is playing, without a `PromptFinished` (barge-in).
    Stop,
    /// Relay audio both ways between the legs; stops any playback.
    Bridge,
    /// Stop relaying (the agent put the call on hold, or left).
    Unbridge,
    /// Whether a leg may be sent to (false while that party holds with sendonly/inactive).
    Sending { leg: Leg, enabled: bool },
    /// Send these digits to a leg as RFC 4733 events (`dtmf_out`), alongside whatever
    /// it hears; dropped when that leg negotiated no telephone-event.
    Dtmf { leg: Leg, digits: String },
    /// An attended transfer's consultation leg, on a socket of its own (the one offered
    /// to the target): once its peer is known (`ConsultRemote`) and while the caller is
    /// not bridged, the agent and the target hear each other; the caller hears what
    /// plays to them (hold music) and the recording keeps what the caller hears.
    ConsultLeg {
        socket: std::net::UdpSocket,
        /// SSRC and initial sequence number/timestamp of what the target is sent.
        seed: [u32; 2],
    },
    /// Where the consulted target's RTP goes and which codec it speaks (its answer).
    ConsultRemote {
        addr: SocketAddr,
        negotiated: Negotiated,
    },
    /// The consultation ends without a transfer: its leg and socket are closed.
    ConsultEnd,
    /// The target takes the agent's place: the consultation leg becomes the agent leg
    /// (its stream and socket go on) and the first agent's socket is closed.
    ConsultComplete,
    /// A supervisor's leg (issue 20), on a socket of its own (the one offered to the
    /// supervisor's phone): the first one turns the session into a mixer (`mixer`);
    /// `track` is the supervisors' track, opened by the first. `key` names it in the
    /// other monitor commands.
    SupervisorLeg {
        key: u32,
        mode: crate::media::monitor::MonitorMode,
        socket: std::net::UdpSocket,
        seed: [u32; 2],
        track: Option<RecordingHandle>,
    },
    /// Where supervisor `key`'s RTP goes and which codec it speaks (its answer).
    SupervisorRemote {
        key: u32,
        addr: SocketAddr,
        negotiated: Negotiated,
    },
    /// Supervisor `key` switches mode.
    SupervisorMode {
        key: u32,
        mode: crate::media::monitor::MonitorMode,
    },
    /// Supervisor `key` leaves; the last one out closes the track, whose receipt goes to
    /// `reply`, and the call goes back to the plain relay.
    SupervisorEnd {
        key: u32,
        reply: Option<oneshot::Sender<Option<RecordingReceipt>>>,
    },
    /// End the call's media: the recording is finalized and its receipt returned.
    Finish {
        reply: oneshot::Sender<Option<RecordingReceipt>>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaEvent {
    Dtmf {
        leg: Leg,
        digit: char,
    },
    /// Playback `id` reached its end (a replaced or stopped one never reports).
    PromptFinished {
        id: u64,
    },
    RtpTimeout {
        leg: Leg,
    },
    /// A digit from supervisor `key`'s phone (keypad mode switching).
    SupervisorDigit {
        key: u32,
        digit: char,
    },
}

/// Process-wide counters exported on /metrics.
#[derive(Debug, Default)]
pub struct MediaStats {
    pub packets_in: AtomicU64,
    pub packets_out: AtomicU64,
    pub packets_dropped: AtomicU64,
    pub packets_invalid: AtomicU64,
    /// Packets on a shared port from a source no leg there expects (a peer's stray or
    /// late packets, a scan); dropped.
    pub packets_stray: AtomicU64,
    /// Media workers running on io_uring (the others fell back to epoll).
    pub workers_io_uring: AtomicU64,
    /// io_uring receives that ended and were armed again (the receive buffers ran out,
    /// or a socket reported an error); the datagrams waited in their socket meanwhile.
    pub receive_rearms: AtomicU64,
}

/// The actor's side of a running media session.
#[derive(Debug, Clone)]
pub struct MediaHandle {
    pub(in crate::media) id: u64,
    pub(in crate::media) tx: crossbeam_channel::Sender<WorkerMsg>,
    /// The id of the latest playback started or stop requested, shared by the handle's
    /// clones (the call actor, its IVR driver and its queue music), so an end report
    /// from a playback already replaced is told apart from the current one's.
    pub(in crate::media) latest_play: Arc<AtomicU64>,
}

impl MediaHandle {
    /// Sends a command; a session that already ended ignores it. Never blocks: the
    /// reactor's queue is unbounded and commands are a handful per call.
    pub async fn send(&self, cmd: MediaCommand) {
        let _ = self.tx.send(WorkerMsg::Command(self.id, cmd));
    }

    /// Plays `samples` to the caller in place of whatever plays; returns the playback's
    /// id, which `MediaEvent::PromptFinished` reports at its end.
    pub async fn play(&self, samples: Arc<[i16]>, looped: bool) -> u64 {
        self.play_parts(vec![samples], looped).await
    }

    /// Plays prompts back to back as one playback (a menu, a number said in fragments)
    /// without copying their audio.
    pub async fn play_parts(&self, parts: Vec<Arc<[i16]>>, looped: bool) -> u64 {
        self.play_to(Leg::Caller, parts, looped).await
    }

    /// Plays to `leg`: the agent hears a cue (a callback's "calling the citizen") while
    /// the caller leg is not up yet.
    pub async fn play_to(&self, leg: Leg, parts: Vec<Arc<[i16]>>, looped: bool) -> u64 {
        let id = self.latest_play.fetch_add(1, Ordering::Relaxed) + 1;
        self.send(MediaCommand::Play {
            leg,
            parts,
            looped,
            id,
        })
        .await;
        id
    }

    /// Stops the playback; no end is reported for it.
    pub async fn stop(&self) {
        self.latest_play.fetch_add(1, Ordering::Relaxed);
        self.send(MediaCommand::Stop).await;
    }

    /// Whether playback `id` is the latest one started (its end is news, not stale).
    pub fn is_latest(&self, id: u64) -> bool {
        self.latest_play.load(Ordering::Relaxed) == id
    }

    /// Finalizes the recording and stops the session.
    pub async fn finish(&self) -> Option<RecordingReceipt> {
        let (reply, rx) = oneshot::channel();
        self.send(MediaCommand::Finish { reply }).await;
        rx.await.ok().flatten()
    }
}
