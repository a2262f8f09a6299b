//! Admission of an inbound INVITE: capacity, trunk (allow-list or digest), DID to
//! service, SDP offer and codec. Decides only; the call actor answers or refuses.

use std::net::SocketAddr;
use std::time::Duration;

use rsipstack::sip::StatusCode;
use rsipstack::transaction::transaction::Transaction;

use crate::sdp::{self, Negotiated, SdpError};
use crate::sip::exchange::Exchange;
use crate::sip::registrar::AuthOutcome;
use crate::sip::request;

/// Why an INVITE was refused before a call existed.
#[derive(Debug)]
pub(super) enum Refusal {
    Status(StatusCode, &'static str),
    Challenge(Vec<rsipstack::sip::Header>),
}

pub(super) struct Admitted {
    /// The config this call started with: it keeps it to its end, whatever reloads come.
    pub(super) config: std::sync::Arc<crate::config::Config>,
    pub(super) service: String,
    pub(super) ring_timeout: Duration,
    pub(super) welcome: String,
    pub(super) hold_music: String,
    pub(super) agents: Vec<String>,
    /// The service runs the IVR.
    pub(super) ivr: bool,
    pub(super) a_number: String,
    pub(super) b_number: String,
    pub(super) source: SocketAddr,
    pub(super) remote: sdp::RemoteAudio,
    pub(super) negotiated: Negotiated,
}

pub(super) fn admit(ex: &Exchange, tx: &Transaction) -> Result<Admitted, Refusal> {
    let req = &tx.original;
    let source = request::source(tx).ok_or(Refusal::Status(StatusCode::BadRequest, "no source"))?;
    let config = ex.config();
    if ex.active_calls() >= config.sip.max_calls {
        return Err(Refusal::Status(
            StatusCode::ServiceUnavailable,
            "at capacity",
        ));
    }
    if ex.trunk_for(source.ip()).is_none() {
        let auth = request::header(req, "Proxy-Authorization");
        match ex
            .registrar
            .authenticate_trunk(auth.as_deref(), "INVITE", source.ip())
        {
            AuthOutcome::Authenticated(_) => {}
            AuthOutcome::Challenge { stale } => {
                return Err(Refusal::Challenge(
                    ex.registrar.trunk_challenge_headers(stale),
                ));
            }
            AuthOutcome::Forbidden(_) | AuthOutcome::Blocked => {
                return Err(Refusal::Status(StatusCode::Forbidden, "not a trunk"));
            }
        }
    }
    let b_number = request::request_user(req)
        .filter(|u| config.service_for_did(u).is_some())
        .or_else(|| request::to_user(req))
        .unwrap_or_default();
    let (service, cfg) = config
        .service_for_did(&b_number)
        .ok_or(Refusal::Status(StatusCode::NotFound, "unknown DID"))?;
    let body = request::sdp_body(req).ok_or(Refusal::Status(
        StatusCode::NotAcceptableHere,
        "INVITE without SDP offer",
    ))?;
    let remote = sdp::parse(body).map_err(|e| match e {
        SdpError::Syntax(_) => Refusal::Status(StatusCode::BadRequest, "malformed SDP"),
        _ => Refusal::Status(StatusCode::NotAcceptableHere, "unusable SDP"),
    })?;
    let negotiated = sdp::negotiate(&remote, &ex.codecs)
        .map_err(|_| Refusal::Status(StatusCode::NotAcceptableHere, "no common codec"))?;
    let (service, ring_timeout, welcome, hold_music, agents, ivr) = (
        service.to_owned(),
        cfg.ring_timeout(),
        cfg.welcome_prompt.clone().unwrap_or_default(),
        cfg.hold_music.clone(),
        cfg.agents.clone(),
        cfg.ivr && ex.flows.is_some(),
    );
    Ok(Admitted {
        config,
        service,
        ring_timeout,
        welcome,
        hold_music,
        agents,
        ivr,
        a_number: request::from_user(req).unwrap_or_default(),
        b_number,
        source,
        remote,
        negotiated,
    })
}
