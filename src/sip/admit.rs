//! Admission of an inbound INVITE: capacity, trunk (allow-list or digest), DID to
//! service, caller identity, session timer, SDP offer and codec. Decides only; the call
//! actor answers or refuses.

use std::net::SocketAddr;
use std::time::Duration;

use rsipstack::sip::StatusCode;
use rsipstack::transaction::transaction::Transaction;

use crate::sdp::{self, Negotiated, SdpError};
use crate::sip::exchange::Exchange;
use crate::sip::identity::caller_identity;
use crate::sip::registrar::AuthOutcome;
use crate::sip::request;
use crate::sip::session_timer::{self, RFC_MIN_SE};

/// Why an INVITE was refused before a call existed.
#[derive(Debug)]
pub(super) enum Refusal {
    Status(StatusCode, &'static str),
    Challenge(Vec<rsipstack::sip::Header>),
    /// A status that needs headers (422 with `Min-SE`).
    WithHeaders(StatusCode, Vec<rsipstack::sip::Header>, &'static str),
    /// A trunk's call the platform could not take (draining, capacity, an unusable
    /// offer): answered with the inner refusal and logged under a protocol number as not
    /// received (`docs/reports.md` §1), so INR counts it.
    Counted(Box<Refusal>, Box<RefusedCall>),
}

/// What a refused trunk call's minimal log says: who called which service, and why it was
/// refused (`hung_up.cause` = `refused_<reason>`).
#[derive(Debug)]
pub(super) struct RefusedCall {
    pub(super) reason: &'static str,
    pub(super) service: String,
    pub(super) a_number: String,
    pub(super) restricted: bool,
    pub(super) b_number: String,
    pub(super) source: SocketAddr,
}

impl Refusal {
    /// The SIP status this refusal answers with.
    pub(super) fn status(&self) -> u16 {
        match self {
            Refusal::Status(s, _) | Refusal::WithHeaders(s, _, _) => s.code(),
            Refusal::Challenge(_) => 407,
            Refusal::Counted(inner, _) => inner.status(),
        }
    }
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
    /// The caller asked for privacy: the number is masked where shown.
    pub(super) restricted: bool,
    pub(super) b_number: String,
    /// The session timer the INVITE asked for, as agreed (RFC 4028).
    pub(super) session: Option<SessionAgreed>,
    /// The trunk's shortest session interval, for the peer's refreshes.
    pub(super) min_se: u32,
    /// The peer accepts UPDATE (atende refreshes with it rather than a re-INVITE).
    pub(super) peer_allows_update: bool,
    pub(super) source: SocketAddr,
    pub(super) remote: sdp::RemoteAudio,
    pub(super) negotiated: Negotiated,
    /// An internal call (`internal`): the agent whose phone dialled another agent's id.
    pub(super) internal: Option<String>,
}

pub use crate::events::INTERNAL_SERVICE;
/// How long an internal call rings the dialled agent's phones before it is given up.
pub const INTERNAL_RING: Duration = Duration::from_secs(30);

pub(super) struct SessionAgreed {
    pub(super) expires: u32,
    pub(super) refresher: session_timer::Refresher,
    pub(super) require: bool,
}

pub(super) fn admit(ex: &Exchange, tx: &Transaction) -> Result<Admitted, Refusal> {
    let req = &tx.original;
    let source = request::source(tx).ok_or(Refusal::Status(StatusCode::BadRequest, "no source"))?;
    let config = ex.config();
    // An agent's phone dialling another agent's id (no DID of that name): an internal
    // call, admitted on the agent account's digest whatever the source (a trunk's
    // allow-listed address gives no right to ring agents' phones).
    let dialled = request::request_user(req).unwrap_or_default();
    if config.service_for_did(&dialled).is_none() && config.agents.iter().any(|a| a.id == dialled) {
        if let Some(refusal) = full(ex, &config) {
            return Err(refusal.1);
        }
        return admit_internal(ex, req, source, config, dialled);
    }
    let trunk = match ex.trunk_for(source.ip()) {
        Some(name) => config.trunks.iter().find(|t| t.name == name),
        None => {
            let auth = request::header(req, "Proxy-Authorization");
            match ex
                .registrar
                .authenticate_trunk(auth.as_deref(), "INVITE", source.ip())
            {
                AuthOutcome::Authenticated(user) => config
                    .trunks
                    .iter()
                    .find(|t| t.username.as_deref() == Some(user.as_str())),
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
    };
    let trusted = trunk.is_some_and(|t| t.trust_identity);
    // From here on the INVITE is a trunk's call: one the platform cannot take is counted
    // (checked after the trunk is known, so an unknown source cannot fill the log).
    let counted = |refusal: Refusal, reason: &'static str| {
        Refusal::Counted(
            Box::new(refusal),
            Box::new(refused_call(req, &config, source, trusted, reason)),
        )
    };
    if let Some((reason, refusal)) = full(ex, &config) {
        return Err(counted(refusal, reason));
    }
    let min_se = trunk.map_or(RFC_MIN_SE, |t| t.min_session_expires_secs);
    let session = session_request(req, min_se)?;
    let b_number = dialled_service_number(req, &config);
    let (service, cfg) = config
        .service_for_did(&b_number)
        .ok_or(Refusal::Status(StatusCode::NotFound, "unknown DID"))?;
    let (remote, negotiated) = offer(ex, req).map_err(|r| counted(r, "offer"))?;
    let identity = caller_identity(
        request::from_user(req),
        &request::header_values(req, "P-Asserted-Identity"),
        &request::header_values(req, "Privacy"),
        trusted,
    );
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
        a_number: identity.number,
        restricted: identity.restricted,
        b_number,
        session,
        min_se,
        peer_allows_update: request::header_values(req, "Allow")
            .iter()
            .any(|m| m.eq_ignore_ascii_case("UPDATE")),
        source,
        remote,
        negotiated,
        internal: None,
    })
}

/// Draining or at capacity: the reason (`draining`, `capacity`) and the 503 to answer.
fn full(ex: &Exchange, config: &crate::config::Config) -> Option<(&'static str, Refusal)> {
    if ex.lifecycle.is_draining() {
        let retry = vec![request::raw_header("Retry-After", "30")];
        return Some((
            "draining",
            Refusal::WithHeaders(StatusCode::ServiceUnavailable, retry, "draining"),
        ));
    }
    (ex.active_calls() >= config.sip.max_calls).then_some((
        "capacity",
        Refusal::Status(StatusCode::ServiceUnavailable, "at capacity"),
    ))
}

/// The number the caller dialled that names a service (the Request-URI's, else the To's).
fn dialled_service_number(req: &rsipstack::sip::Request, config: &crate::config::Config) -> String {
    request::request_user(req)
        .filter(|u| config.service_for_did(u).is_some())
        .or_else(|| request::to_user(req))
        .unwrap_or_default()
}

/// The minimal log of a trunk's call refused for `reason` (service empty when the DID
/// names none).
pub(super) fn refused_call(
    req: &rsipstack::sip::Request,
    config: &crate::config::Config,
    source: SocketAddr,
    trusted: bool,
    reason: &'static str,
) -> RefusedCall {
    let b_number = dialled_service_number(req, config);
    let service = config
        .service_for_did(&b_number)
        .map(|(s, _)| s.to_owned())
        .unwrap_or_default();
    let identity = caller_identity(
        request::from_user(req),
        &request::header_values(req, "P-Asserted-Identity"),
        &request::header_values(req, "Privacy"),
        trusted,
    );
    RefusedCall {
        reason,
        service,
        a_number: identity.number,
        restricted: identity.restricted,
        b_number,
        source,
    }
}

/// The INVITE's SDP offer and the codec agreed from it.
fn offer(
    ex: &Exchange,
    req: &rsipstack::sip::Request,
) -> Result<(sdp::RemoteAudio, Negotiated), Refusal> {
    let body = request::sdp_body(req).ok_or(Refusal::Status(
        StatusCode::NotAcceptableHere,
        "INVITE without SDP offer",
    ))?;
    if crate::sip::validate::sdp_profile(body).is_some() {
        return Err(Refusal::Status(
            StatusCode::NotAcceptableHere,
            "SDP transport profile not served (RTP/AVP only)",
        ));
    }
    let remote = sdp::parse(body).map_err(|e| match e {
        SdpError::Syntax(_) => Refusal::Status(StatusCode::BadRequest, "malformed SDP"),
        _ => Refusal::Status(StatusCode::NotAcceptableHere, "unusable SDP"),
    })?;
    let negotiated = sdp::negotiate(&remote, &ex.codecs)
        .map_err(|_| Refusal::Status(StatusCode::NotAcceptableHere, "no common codec"))?;
    Ok((remote, negotiated))
}

/// An agent's phone calling agent `callee`: the INVITE must carry an agent account's
/// digest (challenged with 407, as feature codes are); the caller is the agent working at
/// that phone (hot-desking). Calling oneself is refused (486).
fn admit_internal(
    ex: &Exchange,
    req: &rsipstack::sip::Request,
    source: SocketAddr,
    config: std::sync::Arc<crate::config::Config>,
    callee: String,
) -> Result<Admitted, Refusal> {
    // Phones answer a 407 with Proxy-Authorization; a few send Authorization regardless.
    let auth = request::header(req, "Proxy-Authorization")
        .or_else(|| request::header(req, "Authorization"));
    let account = match ex
        .registrar
        .authenticate(auth.as_deref(), "INVITE", source.ip())
    {
        AuthOutcome::Authenticated(user) => user,
        AuthOutcome::Challenge { stale } => {
            let user = request::from_user(req);
            return Err(Refusal::Challenge(ex.registrar.challenge_headers(
                "Proxy-Authenticate",
                stale,
                user.as_deref(),
            )));
        }
        AuthOutcome::Forbidden(_) | AuthOutcome::Blocked => {
            return Err(Refusal::Status(
                StatusCode::Forbidden,
                "internal call without an agent's credentials",
            ));
        }
    };
    let from = ex.hot_desk.agent_at(&account);
    if from == callee {
        return Err(Refusal::Status(
            StatusCode::BusyHere,
            "an agent calling themself",
        ));
    }
    let session = session_request(req, RFC_MIN_SE)?;
    let (remote, negotiated) = offer(ex, req)?;
    Ok(Admitted {
        config,
        service: INTERNAL_SERVICE.to_owned(),
        ring_timeout: INTERNAL_RING,
        welcome: String::new(),
        hold_music: String::new(),
        agents: vec![callee.clone()],
        ivr: false,
        a_number: from.clone(),
        restricted: false,
        b_number: callee,
        session,
        min_se: RFC_MIN_SE,
        peer_allows_update: request::header_values(req, "Allow")
            .iter()
            .any(|m| m.eq_ignore_ascii_case("UPDATE")),
        source,
        remote,
        negotiated,
        internal: Some(from),
    })
}

/// The session timer an INVITE asks for (RFC 4028), or its refusal with 422.
fn session_request(
    req: &rsipstack::sip::Request,
    min_se: u32,
) -> Result<Option<SessionAgreed>, Refusal> {
    let Some(asked) = session_timer::read_request(
        request::header(req, "Session-Expires")
            .or_else(|| request::header(req, "x"))
            .as_deref(),
        &request::header_values(req, "Supported"),
        &request::header_values(req, "Require"),
    ) else {
        return Ok(None);
    };
    match session_timer::answer(&asked, min_se) {
        session_timer::Answer::TooSmall { min_se } => Err(Refusal::WithHeaders(
            StatusCode::SessionIntervalTooSmall,
            vec![request::raw_header("Min-SE", min_se.to_string())],
            "session interval too small",
        )),
        session_timer::Answer::Run {
            expires,
            refresher,
            require,
        } => Ok(Some(SessionAgreed {
            expires,
            refresher,
            require,
        })),
    }
}
