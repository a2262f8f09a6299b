//! Agent feature codes dialled from an agent's phone: `*45<agent id><PIN>` logs that agent
//! in (their queues and skills follow the id dialled, not the phone), `*46` logs out, `*47`
//! pauses with reason "pausa" and `*47<n>` with the n-th (1-based) of `[acd]
//! pause_reasons`, `*48` makes ready — the last three for the account the phone
//! authenticated as.
//!
//! The INVITE must carry an agent account's digest (407 challenge, checked by the
//! registrar as for REGISTER); a trunk's allow-list or trunk credentials never reach these
//! codes. The state change goes through the ACD actor; this module then answers, plays the
//! confirmation (or `codigo-invalido`) prompt over the ordinary media path and sends BYE
//! when it ends.
//!
//! ```text
//!  INVITE *4x ──407──▶ INVITE + credentials ──▶ ACD command ──▶ 200 OK ──ACK──▶ prompt
//!                                                                              │ ends
//!                                                                              ▼
//!                                                                             BYE
//! ```
//!
//! `parse` is pure; `serve` is the IO shell. It owns no state beyond one short call, and
//! never touches the call actor, the recording writer or the event log.

use std::sync::Arc;
use std::time::Duration;

use rsipstack::dialog::dialog::DialogState;
use rsipstack::sip::StatusCode;
use rsipstack::transaction::transaction::Transaction;
use subtle::ConstantTimeEq;
use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::acd::AgentId;
use crate::floor::acd::AgentCommand;
use crate::media::session::{Leg, MediaCommand, MediaEvent, MediaSession};
use crate::media::shared_port::LegPort;
use crate::sdp;
use crate::sip::exchange::Exchange;
use crate::sip::legs::contact_uri;
use crate::sip::registrar::AuthOutcome;
use crate::sip::request;

pub use crate::floor::acd::PAUSE_REASON;

/// Longest PIN the config accepts (`config::AgentConfig::pin`).
const MAX_PIN: usize = 12;

/// A confirmation prompt that never ends (or an ACK that never comes) must not keep the
/// RTP ports: the short call is given up after this long.
const CALL_LIMIT: Duration = Duration::from_secs(60);

const PROMPT_INVALID: &str = "pt-BR/agente/codigo-invalido";

/// What an agent dialled. `Debug` leaves the PIN out: codes are logged.
#[derive(Clone, PartialEq, Eq)]
pub enum FeatureCode {
    Login {
        agent: String,
        pin: String,
    },
    Logout,
    /// `reason`: the 1-based index into `[acd] pause_reasons`; `None` = "pausa".
    Pause {
        reason: Option<usize>,
    },
    Ready,
}

impl std::fmt::Debug for FeatureCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FeatureCode::Login { agent, .. } => f
                .debug_struct("Login")
                .field("agent", agent)
                .field("pin", &"<redacted>")
                .finish(),
            FeatureCode::Logout => f.write_str("Logout"),
            FeatureCode::Pause { reason } => {
                f.debug_struct("Pause").field("reason", reason).finish()
            }
            FeatureCode::Ready => f.write_str("Ready"),
        }
    }
}

impl FeatureCode {
    fn confirmation(&self) -> &'static str {
        match self {
            FeatureCode::Login { .. } => "pt-BR/agente/login-ok",
            FeatureCode::Logout => "pt-BR/agente/logout-ok",
            FeatureCode::Pause { .. } => "pt-BR/agente/pausa-ok",
            FeatureCode::Ready => "pt-BR/agente/pronto-ok",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeatureCodeError {
    #[error("not an agent feature code")]
    NotFeatureCode,
    #[error("*{0} takes no digits after it")]
    TrailingDigits(&'static str),
    #[error("the login digits start with no configured agent id")]
    UnknownAgent,
    #[error("the PIN must be 1 to {MAX_PIN} digits")]
    BadPin,
    #[error("*47 takes the number of a pause reason (1, 2, …) or nothing")]
    BadPauseReason,
}

/// Whether a request-URI user is one of our feature codes (`*45`…`*48`).
pub fn is_feature_code(user: &str) -> bool {
    let user = unescape_star(user);
    ["*45", "*46", "*47", "*48"]
        .iter()
        .any(|p| user.starts_with(p))
}

/// Phones may percent-escape the star (`%2A`); both spellings mean the same code.
fn unescape_star(user: &str) -> String {
    user.replace("%2A", "*").replace("%2a", "*")
}

/// Reads a dialled code. For `*45` the agent id is the longest configured id the digits
/// start with, the rest is the PIN; a `*` may separate them (`*451001*1234`) for ids that
/// are prefixes of one another.
pub fn parse(user: &str, agents: &[&str]) -> Result<FeatureCode, FeatureCodeError> {
    let user = unescape_star(user);
    let bare = |code: &'static str, c: FeatureCode| match user.strip_prefix('*') {
        Some(rest) if rest == code => Ok(c),
        _ => Err(FeatureCodeError::TrailingDigits(code)),
    };
    let Some(rest) = user.strip_prefix("*45") else {
        return match user.get(..3) {
            Some("*46") => bare("46", FeatureCode::Logout),
            Some("*47") => match &user[3..] {
                "" => Ok(FeatureCode::Pause { reason: None }),
                n if n.len() <= 3 && n.bytes().all(|b| b.is_ascii_digit()) => n
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n > 0)
                    .map(|n| FeatureCode::Pause { reason: Some(n) })
                    .ok_or(FeatureCodeError::BadPauseReason),
                _ => Err(FeatureCodeError::BadPauseReason),
            },
            Some("*48") => bare("48", FeatureCode::Ready),
            _ => Err(FeatureCodeError::NotFeatureCode),
        };
    };
    let (agent, pin) = match rest.split_once('*') {
        Some((agent, pin)) => {
            if !agents.contains(&agent) {
                return Err(FeatureCodeError::UnknownAgent);
            }
            (agent, pin)
        }
        None => {
            let agent = agents
                .iter()
                .filter(|a| !a.is_empty() && rest.starts_with(**a))
                .max_by_key(|a| a.len())
                .ok_or(FeatureCodeError::UnknownAgent)?;
            (*agent, &rest[agent.len()..])
        }
    };
    if pin.is_empty() || pin.len() > MAX_PIN || !pin.bytes().all(|b| b.is_ascii_digit()) {
        return Err(FeatureCodeError::BadPin);
    }
    Ok(FeatureCode::Login {
        agent: agent.to_owned(),
        pin: pin.to_owned(),
    })
}

/// Constant-time PIN check, so response timing tells nothing about how much matched.
fn pin_matches(expected: Option<&str>, given: &str) -> bool {
    expected.is_some_and(|e| bool::from(e.as_bytes().ct_eq(given.as_bytes())))
}

/// The account a feature code's INVITE authenticated as, and where it came from; `None`
/// once the INVITE was answered (challenged with 407, or refused).
pub(super) async fn phone_account(
    ex: &Exchange,
    tx: &mut Transaction,
) -> Option<(std::net::SocketAddr, String)> {
    let Some(source) = request::source(tx) else {
        let _ = tx.reply(StatusCode::BadRequest).await;
        return None;
    };
    let req = &tx.original;
    // Phones answer a 407 with Proxy-Authorization; a few send Authorization regardless.
    let auth = request::header(req, "Proxy-Authorization")
        .or_else(|| request::header(req, "Authorization"));
    match ex
        .registrar
        .authenticate(auth.as_deref(), "INVITE", source.ip())
    {
        AuthOutcome::Authenticated(user) => Some((source, user)),
        AuthOutcome::Challenge { stale } => {
            let user = request::from_user(req);
            let headers =
                ex.registrar
                    .challenge_headers("Proxy-Authenticate", stale, user.as_deref());
            let r = tx
                .reply_with(StatusCode::ProxyAuthenticationRequired, headers, None)
                .await;
            if let Err(e) = r {
                warn!(error = %e, "could not challenge a feature code");
            }
            None
        }
        AuthOutcome::Forbidden(why) => {
            info!(%source, why, "feature code refused");
            let _ = tx.reply(StatusCode::Forbidden).await;
            None
        }
        AuthOutcome::Blocked => {
            warn!(%source, "feature code from a blocked source");
            let _ = tx.reply(StatusCode::Forbidden).await;
            None
        }
    }
}

/// Serves a feature-code INVITE (the request-URI user passed `is_feature_code`).
pub(super) async fn serve(ex: Arc<Exchange>, mut tx: Transaction) {
    let Some((source, account)) = phone_account(&ex, &mut tx).await else {
        return;
    };
    let Some(acd) = ex.acd.clone() else {
        info!(%source, "feature code without an ACD configured");
        let _ = tx.reply(StatusCode::ServiceUnavailable).await;
        return;
    };
    let user = request::request_user(&tx.original).unwrap_or_default();
    let config = ex.config();
    let ids: Vec<&str> = config.agents.iter().map(|a| a.id.as_str()).collect();
    let prompt = match parse(&user, &ids) {
        Ok(code) => {
            let (agent, command) = match &code {
                FeatureCode::Login { agent, pin } => {
                    let expected = config
                        .agents
                        .iter()
                        .find(|a| a.id == *agent)
                        .and_then(|a| a.pin.as_deref());
                    if !ex.registrar.pin_allowed(source.ip()) {
                        warn!(%source, %account, "agent PIN tries blocked for this source");
                        finish(ex, tx, PROMPT_INVALID).await;
                        return;
                    }
                    if !pin_matches(expected, pin) {
                        ex.registrar.record_pin_failure(source.ip());
                        warn!(%source, %account, %agent, "agent login with a wrong PIN");
                        finish(ex, tx, PROMPT_INVALID).await;
                        return;
                    }
                    let id = AgentId::new(agent.as_str());
                    let login = AgentCommand::Login {
                        agent: id.clone(),
                        ready: true,
                    };
                    (id, login)
                }
                // The phone's codes act on the agent working at it (hot-desking).
                FeatureCode::Logout => (seated(&ex, &account), AgentCommand::Logout),
                FeatureCode::Pause { reason } => {
                    let Some(reason) = pause_reason(&ex, *reason) else {
                        warn!(%source, %account, ?code, "*47 names no configured pause reason");
                        finish(ex, tx, PROMPT_INVALID).await;
                        return;
                    };
                    (seated(&ex, &account), AgentCommand::Pause { reason })
                }
                FeatureCode::Ready => (seated(&ex, &account), AgentCommand::Ready),
            };
            match acd.agent(agent.clone(), command).await {
                Ok(()) => {
                    match &code {
                        FeatureCode::Login { agent, .. } => ex.hot_desk.sit(agent, &account),
                        FeatureCode::Logout => ex.hot_desk.leave(agent.as_str()),
                        _ => {}
                    }
                    info!(%source, %account, %agent, ?code, "agent feature code");
                    code.confirmation()
                }
                Err(e) => {
                    info!(%source, %account, %agent, error = %e, "ACD refused a feature code");
                    PROMPT_INVALID
                }
            }
        }
        Err(e) => {
            info!(%source, %account, error = %e, "unusable feature code");
            PROMPT_INVALID
        }
    };
    finish(ex, tx, prompt).await;
}

/// The reason `*47<n>` names: the n-th (1-based) of the configured pause reasons (the
/// same list the ACD accepts and the CTI offers); `*47` alone is "pausa".
fn pause_reason(ex: &Exchange, n: Option<usize>) -> Option<String> {
    match n {
        None => Some(PAUSE_REASON.to_owned()),
        Some(n) => ex
            .config()
            .engine_config()
            .pause_reasons
            .get(n.checked_sub(1)?)
            .cloned(),
    }
}

/// The agent working at the phone that authenticated as `account`.
fn seated(ex: &Exchange, account: &str) -> AgentId {
    AgentId::new(ex.hot_desk.agent_at(account).as_str())
}

/// Answers, plays `prompt` to the phone and hangs up when it ends.
pub(super) async fn finish(ex: Arc<Exchange>, mut tx: Transaction, prompt: &str) {
    let req = &tx.original;
    let offer = request::sdp_body(req)
        .and_then(|b| sdp::parse(b).ok())
        .and_then(|r| sdp::negotiate(&r, &ex.codecs).ok().map(|n| (r, n)));
    let Some((remote, neg)) = offer else {
        let _ = tx.reply(StatusCode::NotAcceptableHere).await;
        return;
    };
    // The media session has two legs; the second stays idle for this one-party call.
    let (phone_sock, idle_sock) = match ex.ports.bind_pair() {
        Ok(pair) => pair,
        Err(e) => {
            warn!(error = %e, "no RTP port for a feature code");
            let _ = tx.reply(StatusCode::ServiceUnavailable).await;
            return;
        }
    };
    let Ok(local) = phone_sock.local_addr() else {
        let _ = tx.reply(StatusCode::ServerInternalError).await;
        return;
    };
    let (state_tx, mut states) = ex.dialogs.new_dialog_state_channel();
    let contact = contact_uri(&ex, "atende");
    let dialog = match ex
        .dialogs
        .get_or_create_server_invite(&tx, state_tx, None, Some(contact))
    {
        Ok(d) => d,
        Err(e) => {
            warn!(error = %e, "cannot create a feature code's dialog");
            let _ = tx.reply(StatusCode::ServerInternalError).await;
            return;
        }
    };
    let mut handler = dialog.clone();
    tokio::spawn(async move {
        let _ = handler.handle(&mut tx).await;
    });
    let answer = sdp::write(
        rand::random::<u32>() as u64,
        1,
        ex.advertised(local),
        &[(neg.pt, neg.codec)],
        neg.telephone_event_pt,
        remote.direction.answer(),
    );
    let headers = vec![request::raw_header("Content-Type", "application/sdp")];
    if let Err(e) = dialog.accept(Some(headers), Some(answer.into_bytes())) {
        warn!(error = %e, "could not answer a feature code");
    }
    let (media_tx, mut media_events) = mpsc::channel(8);
    let media = ex.media.attach(MediaSession::new(
        LegPort::Own(phone_sock),
        LegPort::Own(idle_sock),
        None,
        media_tx,
        ex.media_stats.clone(),
        rand::random(),
    ));
    media
        .send(MediaCommand::Remote {
            leg: Leg::Caller,
            addr: remote.rtp_addr,
            negotiated: neg,
        })
        .await;
    let samples = match ex.prompts.get(prompt) {
        Some(p) => p.samples,
        None => {
            // An empty playback ends at once: the phone still gets its BYE.
            warn!(prompt, "feature code prompt missing");
            Arc::from(Vec::<i16>::new())
        }
    };
    let playing = media.play(samples, false).await;
    let (mut confirmed, mut played) = (false, false);
    let limit = tokio::time::sleep(CALL_LIMIT);
    tokio::pin!(limit);
    loop {
        tokio::select! {
            Some(st) = states.recv() => match st {
                DialogState::Confirmed(..) => confirmed = true,
                // The phone hung up first (or never ACKed): nothing left to say.
                DialogState::Terminated(..) => break,
                DialogState::Options(_, _, h) | DialogState::Info(_, _, h) => {
                    let _ = h.reply(StatusCode::OK).await;
                }
                _ => {}
            },
            Some(MediaEvent::PromptFinished { id }) = media_events.recv() => {
                played = played || id == playing;
            }
            _ = &mut limit => {
                warn!("feature code call given up");
                let _ = dialog.bye().await;
                break;
            }
        }
        if confirmed && played {
            if let Err(e) = dialog.bye().await {
                warn!(error = %e, "could not hang up a feature code");
            }
            break;
        }
    }
    let _ = media.finish().await;
    ex.dialogs.remove_dialog(&dialog.id());
}

#[cfg(test)]
mod tests {
    use super::*;

    const AGENTS: &[&str] = &["1001", "1002", "100"];

    fn login(agent: &str, pin: &str) -> FeatureCode {
        FeatureCode::Login {
            agent: agent.into(),
            pin: pin.into(),
        }
    }

    #[test]
    fn login_splits_the_longest_agent_id_from_the_pin() {
        assert_eq!(parse("*4510011234", AGENTS), Ok(login("1001", "1234")));
        assert_eq!(parse("*451002%2A9", AGENTS), Ok(login("1002", "9")));
        assert_eq!(parse("%2A4510011234", AGENTS), Ok(login("1001", "1234")));
    }

    #[test]
    fn a_star_separates_ids_that_prefix_one_another() {
        assert_eq!(parse("*45100*11234", AGENTS), Ok(login("100", "11234")));
        assert_eq!(
            parse("*45999*1234", AGENTS),
            Err(FeatureCodeError::UnknownAgent)
        );
    }

    #[test]
    fn login_needs_a_known_agent_and_a_pin_of_digits() {
        assert_eq!(parse("*45", AGENTS), Err(FeatureCodeError::UnknownAgent));
        assert_eq!(
            parse("*459991234", AGENTS),
            Err(FeatureCodeError::UnknownAgent)
        );
        assert_eq!(parse("*451001", AGENTS), Err(FeatureCodeError::BadPin));
        assert_eq!(parse("*451001ab", AGENTS), Err(FeatureCodeError::BadPin));
        assert_eq!(
            parse("*4510011234567890123", AGENTS),
            Err(FeatureCodeError::BadPin)
        );
    }

    #[test]
    fn the_other_codes_take_no_digits() {
        assert_eq!(parse("*46", AGENTS), Ok(FeatureCode::Logout));
        assert_eq!(parse("*48", AGENTS), Ok(FeatureCode::Ready));
        assert_eq!(
            parse("*481", AGENTS),
            Err(FeatureCodeError::TrailingDigits("48"))
        );
        assert_eq!(
            parse("08000000000", AGENTS),
            Err(FeatureCodeError::NotFeatureCode)
        );
    }

    #[test]
    fn pause_takes_an_optional_reason_number() {
        assert_eq!(
            parse("*47", AGENTS),
            Ok(FeatureCode::Pause { reason: None })
        );
        assert_eq!(
            parse("*472", AGENTS),
            Ok(FeatureCode::Pause { reason: Some(2) })
        );
        assert_eq!(
            parse("%2A4712", AGENTS),
            Ok(FeatureCode::Pause { reason: Some(12) })
        );
        for bad in ["*470", "*47x", "*471234", "*47*1"] {
            assert_eq!(
                parse(bad, AGENTS),
                Err(FeatureCodeError::BadPauseReason),
                "{bad}"
            );
        }
    }

    #[test]
    fn only_the_four_codes_are_feature_codes() {
        assert!(is_feature_code("*4510011234"));
        assert!(is_feature_code("*46"));
        assert!(is_feature_code("%2a48"));
        assert!(!is_feature_code("*49"));
        assert!(!is_feature_code("08000000000"));
        assert!(!is_feature_code(""));
    }

    #[test]
    fn debug_output_leaves_the_pin_out() {
        let shown = format!("{:?}", login("1001", "4321"));
        assert!(shown.contains("1001") && !shown.contains("4321"), "{shown}");
    }

    #[test]
    fn pins_compare_whole() {
        assert!(pin_matches(Some("1234"), "1234"));
        assert!(!pin_matches(Some("1234"), "123"));
        assert!(!pin_matches(Some("1234"), "12345"));
        assert!(!pin_matches(None, "1234"));
    }
}
