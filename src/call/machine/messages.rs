//! What the call machine is told (`Input`, from the call's actor) and what it asks the
//! actor to do (`Action`). Plain data: the actor turns them into SIP, media and log
//! entries.

use std::time::Duration;

use super::LegId;
use crate::events::{EventKind, Party};

#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// The caller's leg is answered and its media runs.
    Answered,
    PromptFinished,
    /// The actor started ringing these legs (zero when no agent phone is registered).
    RingStarted {
        legs: Vec<(LegId, String, String)>,
    },
    AgentAnswered {
        leg: LegId,
    },
    AgentFailed {
        leg: LegId,
        sip_status: u16,
        reason: String,
    },
    CallerHungUp,
    /// The caller hung up giving a cause (a gateway's Q.850 `Reason`).
    CallerCleared {
        cause: String,
    },
    AgentHungUp {
        leg: LegId,
    },
    Hold {
        by: Party,
        on: bool,
    },
    Dtmf {
        digit: char,
        via: &'static str,
    },
    RtpTimeout {
        party: Party,
    },
    /// Routed calls: ring this agent's phones (`ring_timeout`: give up after it; `None`
    /// when the ACD keeps the time itself).
    Offer {
        agent: String,
        ring_timeout: Option<Duration>,
    },
    /// Routed calls: stop ringing this agent (the ACD withdrew the offer).
    CancelOffer {
        agent: String,
    },
    /// The shell ends the call (IVR served it, a queue hung it up).
    Release {
        cause: String,
    },
    /// A blind transfer while bridged: the agent's leg is hung up and the call goes back
    /// to `Routing` (the shell then queues it or rings the target); `to` is logged.
    TransferAway {
        to: String,
    },
    /// An attended transfer completes: the consulted agent's answered leg takes the
    /// bridged agent's place (whose leg is hung up); `to` is logged, not blind.
    TransferTo {
        leg: LegId,
        agent: String,
        to: String,
    },
    /// While bridged: the agent sends the caller to the call's survey (their leg is hung
    /// up). Ignored without a survey (`set_survey`).
    ToSurvey,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Append to the call's event log.
    Log(EventKind),
    PlayWelcome,
    PlayHoldMusic,
    /// Ring every registered phone of the service's agents not already ringing.
    RingAgents,
    CancelLeg(LegId),
    Bridge(LegId),
    Unbridge,
    /// Stop/resume sending media to a party that holds (sendonly/inactive).
    Sending {
        to: Party,
        enabled: bool,
    },
    HangUpAgent(LegId),
    HangUpCaller,
    /// Finalize the recording and release media.
    FinishMedia,
    /// Routed calls: ring every registered phone of this agent.
    RingAgent(String),
    /// Routed calls: the offered agent answered (the call is bridged).
    OfferAnswered {
        agent: String,
    },
    /// Routed calls: the offer failed; `rejected` when the phone declined (4xx/6xx other
    /// than a timeout), otherwise not answered. The call is back in `Routing`.
    OfferFailed {
        agent: String,
        rejected: bool,
    },
    /// The caller is put to survey `survey` about `agent` (already logged).
    StartSurvey {
        survey: String,
        agent: String,
    },
    /// The call ends while the survey has the caller: it records where it stopped.
    EndSurvey,
}
