//! The call's set-up: admits the INVITE (feature codes, draining, capacity, trunk, DID,
//! SDP), logs it as offered, answers it with the negotiated SDP and starts the media
//! session and recording, handing back a ready `CallActor`. A refusal is answered here and
//! never reaches the actor.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use rsipstack::sip::StatusCode;
use rsipstack::transaction::transaction::Transaction;
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::{CallActor, Inputs, internal};
use crate::call::machine::{CallMachine, Input};
use crate::events::{EventKind, Party};
use crate::floor::call_log::CallLog;
use crate::media::session::{Leg, MediaCommand, MediaSession};
use crate::sdp;
use crate::sip::admit::{Refusal, RefusedCall, admit};
use crate::sip::exchange::Exchange;
use crate::sip::feature_code;
use crate::sip::identity;
use crate::sip::legs::contact_uri;
use crate::sip::request;
use crate::sip::session_timer::{self, SessionTimer};

/// Refuses a call already logged as offered, closing its log with the refusal.
async fn refuse_offered(tx: &mut Transaction, log: &CallLog, status: StatusCode, cause: &str) {
    let sip_status = Some(status.code());
    let _ = tx.reply(status).await;
    log.record(EventKind::HungUp {
        by: Party::System,
        cause: cause.into(),
        sip_status,
    });
}

/// Answers a refused INVITE; a trunk's call the platform could not take is then logged
/// as not received.
async fn refuse(ex: &Exchange, tx: &mut Transaction, refusal: Refusal) {
    let src = request::source(tx);
    let status = refusal.status();
    let (refusal, counted) = match refusal {
        Refusal::Counted(inner, call) => (*inner, Some(call)),
        other => (other, None),
    };
    let r = match refusal {
        Refusal::Status(status, why) => {
            info!(source = ?src, status = status.code(), why, "INVITE refused");
            tx.reply(status).await
        }
        Refusal::Challenge(headers) => {
            tx.reply_with(StatusCode::ProxyAuthenticationRequired, headers, None)
                .await
        }
        Refusal::WithHeaders(status, headers, why) => {
            info!(source = ?src, status = status.code(), why, "INVITE refused");
            tx.reply_with(status, headers, None).await
        }
        // Never nested (admit wraps a plain refusal once).
        Refusal::Counted(..) => tx.reply(StatusCode::ServiceUnavailable).await,
    };
    if let Err(e) = r {
        warn!(error = %e, "could not answer refused INVITE");
    }
    if let Some(call) = counted {
        log_refused(ex, tx, &call, status);
    }
}

/// Gives a refused trunk call a protocol number and its minimal log (offered, then hung
/// up by the system with cause `refused_<reason>`), handed to the event writer through
/// the bus: no database wait here, where overload refusals run. A retransmitted INVITE
/// is absorbed by its transaction and never gets here twice.
fn log_refused(ex: &Exchange, tx: &Transaction, call: &RefusedCall, status: u16) {
    let protocol = ex.next_protocol();
    info!(%protocol, status, reason = call.reason, "refused call logged as not received");
    let log = CallLog::new(ex.bus.clone(), protocol);
    log.record(EventKind::Offered {
        call_id: request::call_id(&tx.original).unwrap_or_default(),
        a_number: call.a_number.clone(),
        b_number: call.b_number.clone(),
        service: call.service.clone(),
        source: call.source.to_string(),
        restricted: call.restricted,
    });
    log.record(EventKind::HungUp {
        by: Party::System,
        cause: format!("refused_{}", call.reason),
        sip_status: Some(status),
    });
}

/// Admits and answers the call, starting its media and recording; `None` when it was
/// refused (and answered so). Also says whether the call goes to the IVR first.
pub(super) async fn answer(
    ex: Arc<Exchange>,
    mut tx: Transaction,
) -> Option<(CallActor, Inputs, bool)> {
    // An agent's feature code is no call: no protocol, recording or call counters.
    if request::request_user(&tx.original).is_some_and(|u| feature_code::is_feature_code(&u)) {
        feature_code::serve(ex, tx).await;
        return None;
    }
    // Nor is a supervisor's monitoring code: its call joins another call's mixer.
    if request::request_user(&tx.original)
        .is_some_and(|u| crate::sip::monitor_code::is_monitor_code(&u))
    {
        crate::sip::monitor_code::serve(ex, tx).await;
        return None;
    }
    ex.counters.offered.fetch_add(1, Ordering::Relaxed);
    let admitted = match admit(&ex, &tx) {
        Ok(a) => a,
        Err(refusal) => {
            ex.counters.rejected.fetch_add(1, Ordering::Relaxed);
            refuse(&ex, &mut tx, refusal).await;
            return None;
        }
    };
    // A shared port only for a caller reached directly (the gateway signalling from the
    // host its SDP names). The agent leg keeps its own: its port is offered before anyone
    // knows which phone will answer, and one behind NAT would send from an address its
    // SDP does not name, which only a port of its own can latch to.
    let share_caller =
        ex.config().media.shared_ports && admitted.remote.rtp_addr.ip() == admitted.source.ip();
    let [caller_sock, agent_sock] =
        match ex
            .media
            .leg_ports(&ex.ports, [share_caller, false], admitted.remote.rtp_addr)
        {
            Ok(pair) => pair,
            Err(e) => {
                warn!(error = %e, "no RTP port for a new call");
                let _ = tx.reply(StatusCode::ServiceUnavailable).await;
                if admitted.internal.is_none() {
                    let refused = RefusedCall {
                        reason: "no_media_port",
                        service: admitted.service.clone(),
                        a_number: admitted.a_number.clone(),
                        restricted: admitted.restricted,
                        b_number: admitted.b_number.clone(),
                        source: admitted.source,
                    };
                    log_refused(&ex, &tx, &refused, StatusCode::ServiceUnavailable.code());
                }
                return None;
            }
        };
    let (Ok(caller_local), Ok(agent_local)) = (caller_sock.local_addr(), agent_sock.local_addr())
    else {
        let _ = tx.reply(StatusCode::ServerInternalError).await;
        return None;
    };

    let protocol = ex.next_protocol();
    let log = CallLog::new(ex.bus.clone(), protocol.clone());
    log.record(EventKind::Offered {
        call_id: request::call_id(&tx.original).unwrap_or_default(),
        a_number: admitted.a_number.clone(),
        b_number: admitted.b_number.clone(),
        service: admitted.service.clone(),
        source: admitted.source.to_string(),
        restricted: admitted.restricted,
    });

    // An internal call rings an agent the ACD must hold busy for it: one who cannot take
    // it (on a call, paused, logged out) is answered 486 before anything is set up.
    let internal_from = match admitted.internal.clone() {
        Some(from) => match internal::reserve(&ex, &protocol, &from, &admitted.b_number).await {
            Ok(caller_held) => Some((from, caller_held)),
            Err(()) => {
                refuse_offered(&mut tx, &log, StatusCode::BusyHere, "agent_busy").await;
                return None;
            }
        },
        None => None,
    };

    // Dialog states come through the server's one state channel (`DialogRouter`), routed
    // here by Call-ID: the caller's now, each agent leg's when it is rung. States carry
    // their dialog's id, which tells the caller's (fixed) from the legs'.
    let caller_call_id = request::call_id(&tx.original).unwrap_or_default();
    let Some((dialog_route, dialog_states)) = ex.dialog_router.register(&caller_call_id) else {
        warn!(%protocol, "INVITE reuses the Call-ID of a call in progress: refused");
        internal::release(&ex, &protocol, &admitted, internal_from.as_ref()).await;
        refuse_offered(&mut tx, &log, StatusCode::BadRequest, "call_id_in_use").await;
        return None;
    };
    let state_tx = ex.dialog_router.sender();
    let agent_state_tx = state_tx.clone();
    let contact = contact_uri(&ex, "atende");
    let dialog = match ex
        .dialogs
        .get_or_create_server_invite(&tx, state_tx, None, Some(contact))
    {
        Ok(d) => d,
        Err(e) => {
            ex.dialog_router.remove(&[&caller_call_id]);
            warn!(error = %e, %protocol, "cannot create the caller's dialog");
            internal::release(&ex, &protocol, &admitted, internal_from.as_ref()).await;
            refuse_offered(
                &mut tx,
                &log,
                StatusCode::ServerInternalError,
                "internal_error",
            )
            .await;
            return None;
        }
    };
    ex.counters.active.fetch_add(1, Ordering::Relaxed);
    let mut invite_handler = dialog.clone();
    tokio::spawn(async move {
        let _ = invite_handler.handle(&mut tx).await;
    });

    let neg = admitted.negotiated;
    let answer = sdp::write(
        rand::random::<u32>() as u64,
        1,
        ex.advertised(caller_local),
        &[(neg.pt, neg.codec)],
        neg.telephone_event_pt,
        admitted.remote.direction.answer(),
    );
    let mut sdp_headers = vec![request::raw_header("Content-Type", "application/sdp")];
    let session = admitted.session.as_ref().map(|s| {
        sdp_headers.push(request::raw_header(
            "Session-Expires",
            session_timer::response_header(s.expires, s.refresher),
        ));
        if s.require {
            sdp_headers.push(request::raw_header("Require", "timer"));
        }
        SessionTimer::start(std::time::Instant::now(), s.expires, s.refresher)
    });
    if let Err(e) = dialog.accept(Some(sdp_headers), Some(answer.into_bytes())) {
        warn!(error = %e, %protocol, "could not answer the call");
    }
    let shown = if admitted.restricted {
        identity::RESTRICTED
    } else {
        admitted.a_number.as_str()
    };
    info!(%protocol, a = %shown, did = %admitted.b_number, "call answered");

    let path = ex.recording_path(&protocol);
    let recording = ex.recordings.open(&path);
    log.record(EventKind::RecordingStarted {
        path: path.display().to_string(),
    });
    let (media_tx, media_events) = mpsc::channel(32);
    let media = ex.media.attach(MediaSession::new(
        caller_sock,
        agent_sock,
        Some(recording),
        media_tx,
        ex.media_stats.clone(),
        rand::random(),
    ));
    media
        .send(MediaCommand::Remote {
            leg: Leg::Caller,
            addr: admitted.remote.rtp_addr,
            negotiated: neg,
        })
        .await;

    // Boxed messages: a tokio channel allocates its first block of 32 messages when made,
    // so a channel of pointers costs 256 bytes per call where one of outcomes cost 2 KB.
    let (outcome_tx, outcomes) = mpsc::channel(16);
    let (notice_tx, notices) = mpsc::channel(32);
    let routed = admitted.ivr;
    let internal = admitted.internal.is_some();
    let mut actor = CallActor {
        ex: ex.clone(),
        log,
        protocol,
        machine: if routed || internal {
            CallMachine::routed()
        } else {
            CallMachine::new(admitted.ring_timeout)
        },
        caller: dialog,
        media,
        caller_local,
        agent_local,
        admitted,
        legs: HashMap::new(),
        next_leg: 1,
        agent_state_tx,
        dialog_route,
        outcome_tx,
        sdp_version: 1,
        session_id: rand::random::<u32>() as u64,
        ivr: None,
        fetches: None,
        notice_tx,
        acd_call: None,
        waiting: None,
        transferring: false,
        release_after_prompt: None,
        callback: None,
        ivr_set: None,
        queued_vars: Default::default(),
        session,
        bye_caller: false,
        external: None,
        held: false,
        refer: None,
        direct: None,
        consult: None,
        monitoring: None,
        survey: None,
        internal_from: None,
        handover: None,
    };
    actor.choose_survey(None);
    actor
        .machine
        .handle(std::time::Instant::now(), Input::Answered);
    if let Some((from, caller_held)) = internal_from {
        actor.start_internal(from, caller_held);
    }
    let inputs = Inputs {
        dialog_states,
        media_events,
        outcomes,
        notices,
    };
    Some((actor, inputs, routed))
}
