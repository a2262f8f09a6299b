//! What goes into the interpreter and what comes out: inputs, actions and the step log.
//!
//! Pure data. The media/SIP shell turns actions into prompts, HTTP requests and ACD
//! hand-offs, and feeds back what happened as inputs. `IvrEvent` is the IVR's own step log
//! (serde-serializable); the call's event log maps it in. Events never carry what the
//! caller typed into a `collect` (a CPF is personal data under the LGPD): only its length.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::format::HttpMethod;

/// Numbers one playback (a list of prompts played back to back) so a late "finished" for
/// a playback that was stopped is recognised and ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PlaybackId(pub u32);

/// Numbers one HTTP request so a late answer after a timeout is ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RequestId(pub u32);

/// What the shell knows when the IVR takes the call.
#[derive(Debug, Clone, PartialEq)]
pub struct CallInfo {
    /// Calling number (A-number).
    pub ani: String,
    /// Dialled number (DID / B-number).
    pub did: String,
    /// The call's protocol number, told to the citizen on request.
    pub protocol: String,
    /// Wall-clock time at the `CallStarted` input; later wall times are derived from it
    /// and the monotonic `now` of each input, so the interpreter never reads a clock.
    pub wall: jiff::Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// The call is answered and its media runs: start the flow.
    CallStarted(CallInfo),
    /// A keypad key (RFC 4733 or in-band), `0`-`9`, `*`, `#`.
    Digit(char),
    /// The playback ran to its end (not sent for a stopped playback; ignored if it is).
    PromptFinished(PlaybackId),
    /// The answer to a `Fetch` (or the reason there is none).
    HttpResult {
        request: RequestId,
        result: Result<HttpReply, String>,
    },
    /// The caller hung up.
    HungUp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HttpReply {
    pub status: u16,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Play these prompts back to back; `barge_in`: the shell should keep sending keys,
    /// the interpreter will stop the playback itself.
    Play {
        playback: PlaybackId,
        prompts: Vec<String>,
        barge_in: bool,
    },
    StopPlayback(PlaybackId),
    /// Send this request; the interpreter enforces `timeout` itself with its own timer.
    Fetch(FetchRequest),
    /// The interpreter gave up on this request (timeout, hang-up): drop it.
    CancelFetch(RequestId),
    /// Hand the call to the ACD. The IVR's part ends here.
    Enqueue(Enqueue),
    /// Transfer the call. The IVR's part ends here.
    Transfer(Destination),
    /// Hang up: the IVR served the call (or the flow said so).
    HangUp,
    /// Append to the call's event log.
    Log(IvrEvent),
}

#[derive(Debug, Clone, PartialEq)]
pub struct FetchRequest {
    pub request: RequestId,
    pub method: HttpMethod,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Enqueue {
    pub queue: String,
    pub priority: i32,
    pub skills: Vec<String>,
    /// Shown on the agent's screen.
    pub variables: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Destination {
    Number(String),
    Extension(String),
}

/// How the IVR's part of a call ended (one per call).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    Queued {
        queue: String,
    },
    Transferred {
        to: Destination,
    },
    /// Fully served by the IVR (a `hangup` node).
    ServedByIvr,
    /// The caller hung up in the IVR (abandoned in IVR).
    Abandoned,
}

/// Why a digit entry failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Failure {
    Timeout,
    Invalid,
}

/// One step of the IVR, for the call's event log and the IVR statistics (entries, exits by
/// option, timeouts, invalid inputs, hang-ups per node).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum IvrEvent {
    FlowStarted {
        flow: String,
        route: String,
    },
    NodeEntered {
        flow: String,
        node: String,
        kind: String,
    },
    Played {
        node: String,
        prompts: Vec<String>,
    },
    /// A key cut a playback short.
    BargedIn {
        node: String,
    },
    OptionChosen {
        node: String,
        digits: String,
        target: String,
    },
    Timeout {
        node: String,
        attempt: u32,
    },
    InvalidInput {
        node: String,
        attempt: u32,
        /// Menus only: the keys pressed (collect entries are personal data).
        digits: Option<String>,
    },
    /// The last attempt failed: the node's `on_failure` is taken.
    LastFailure {
        node: String,
        failure: Failure,
        target: String,
    },
    Collected {
        node: String,
        variable: String,
        length: usize,
    },
    /// The caller pressed 2 at a read-back: type again.
    EntryRejected {
        node: String,
    },
    BranchTaken {
        node: String,
        case: Option<usize>,
        target: String,
    },
    ScheduleChecked {
        node: String,
        open: bool,
        holiday: bool,
        target: String,
    },
    HttpRequested {
        node: String,
        request: RequestId,
    },
    HttpAnswered {
        node: String,
        status: u16,
    },
    /// Error, timeout, bad status or missing field: `on_error` is taken.
    HttpFailed {
        node: String,
        reason: String,
    },
    SubflowCalled {
        flow: String,
    },
    SubflowReturned {
        flow: String,
    },
    /// The flow could not go on (a `say` value that is not a number, a loop of nodes that
    /// never waits); the call goes to the fallback queue.
    FlowError {
        node: String,
        problem: String,
    },
    /// The caller hung up while in this node.
    HungUpIn {
        flow: String,
        node: String,
    },
    Finished {
        #[serde(flatten)]
        outcome: Outcome,
    },
}
