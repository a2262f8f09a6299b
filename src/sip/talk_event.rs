//! Remote answer (`auto_answer = "notify-talk"`): a SIP NOTIFY with `Event: talk` sent to
//! a ringing agent phone in the early dialog of the INVITE that rings it, which phones
//! that support the BroadSoft "talk" event (Yealink, Polycom, Snom, …) take as "pick up
//! now". The phone then answers the INVITE with its 200 OK as if the agent had pressed
//! the key, so everything after it is the ordinary answered call.
//!
//! The request: request-URI the phone's registered contact (the INVITE's request-URI),
//! the INVITE's Call-ID, From (with our tag) and To with the tag of the phone's 18x,
//! CSeq one past the INVITE's, sent to where the INVITE went. No credentials: phones
//! accept it from the server they are registered with once remote control is allowed
//! (Yealink asks on screen the first time, or "accept SIP trust server only"; Snom and
//! Polycom have a setting). Limits: needs the phone's 18x with a To tag first (an early
//! dialog to send in); a phone that answers 4xx/5xx or nothing within `WAIT` is reported.

use std::net::SocketAddr;
use std::time::Duration;

use rsipstack::dialog::invite_dialog::InviteDialog;
use rsipstack::sip::prelude::{HeadersExt, ToTypedHeader};
use rsipstack::sip::{Header, Method, Param, SipMessage};
use rsipstack::transaction::key::{TransactionKey, TransactionRole};
use rsipstack::transaction::transaction::Transaction;
use rsipstack::transport::SipAddr;

use crate::sip::exchange::Exchange;

/// How long the phone has to answer the NOTIFY.
const WAIT: Duration = Duration::from_secs(4);

/// Why the phone was not told to pick up.
#[derive(Debug, thiserror::Error)]
pub enum TalkError {
    #[error("the phone has not answered the INVITE provisionally yet")]
    NoEarlyDialog,
    #[error("the INVITE lacks {0}")]
    Malformed(&'static str),
    #[error("could not send the NOTIFY: {0}")]
    Send(String),
    #[error("the phone refused the remote answer ({0})")]
    Refused(u16),
    #[error("the phone did not reply to the remote answer")]
    NoReply,
}

/// Sends `Event: talk` in `dialog`'s early dialog to `destination`; `Ok` on the phone's 2xx.
pub async fn notify_talk(
    ex: &Exchange,
    dialog: &InviteDialog,
    destination: SocketAddr,
) -> Result<(), TalkError> {
    let id = dialog.id();
    if id.remote_tag.is_empty() {
        return Err(TalkError::NoEarlyDialog);
    }
    let invite = dialog.initial_request();
    let from = invite
        .from_header()
        .ok()
        .and_then(|h| h.typed().ok())
        .ok_or(TalkError::Malformed("From"))?;
    let mut to = invite
        .to_header()
        .ok()
        .and_then(|h| h.typed().ok())
        .ok_or(TalkError::Malformed("To"))?;
    to.params.retain(|p| !matches!(p, Param::Tag(_)));
    to.params.push(Param::Tag(id.remote_tag.clone().into()));
    let seq = invite
        .cseq_header()
        .ok()
        .and_then(|c| c.seq().ok())
        .ok_or(TalkError::Malformed("CSeq"))?;
    let endpoint = &ex.dialogs.endpoint;
    let via = endpoint
        .get_via(None, None)
        .map_err(|e| TalkError::Send(e.to_string()))?;
    let mut request = endpoint.make_request(
        Method::Notify,
        invite.uri.clone(),
        via,
        from,
        to,
        seq.saturating_add(1),
        Some(id.call_id.clone().into()),
    );
    request.headers.push(Header::Event("talk".into()));
    request.headers.push(Header::ContentLength(0u32.into()));
    let key = TransactionKey::from_request(&request, TransactionRole::Client)
        .map_err(|e| TalkError::Send(e.to_string()))?;
    let mut tx = Transaction::new_client(key, request, endpoint.clone(), None);
    tx.destination = Some(SipAddr::from(destination));
    tx.send()
        .await
        .map_err(|e| TalkError::Send(e.to_string()))?;
    let reply = tokio::time::timeout(WAIT, async {
        while let Some(msg) = tx.receive().await {
            if let SipMessage::Response(r) = msg {
                let code = r.status_code.code();
                if code >= 200 {
                    return Some(code);
                }
            }
        }
        None
    })
    .await
    .ok()
    .flatten();
    match reply {
        Some(code) if code < 300 => Ok(()),
        Some(code) => Err(TalkError::Refused(code)),
        None => Err(TalkError::NoReply),
    }
}

/// Headers asking `agent`'s phone to answer at once, for agents with
/// `auto_answer = "call-info"` (none for the others): `Call-Info` with `answer-after=0`
/// (Snom, Yealink, Grandstream) and `Alert-Info` with `info=alert-autoanswer` (Yealink,
/// Polycom once configured for it).
pub fn answer_headers(ex: &Exchange, config: &crate::config::Config, agent: &str) -> Vec<Header> {
    let call_info = config
        .agents
        .iter()
        .any(|a| a.id == agent && a.auto_answer == crate::config::AutoAnswer::CallInfo);
    if !call_info {
        return Vec::new();
    }
    let host = ex.contact_host();
    vec![
        crate::sip::request::raw_header("Call-Info", format!("<sip:{host}>;answer-after=0")),
        crate::sip::request::raw_header(
            "Alert-Info",
            format!("<sip:{host}>;info=alert-autoanswer;delay=0"),
        ),
    ]
}

/// Tells each ringing phone in `targets` (dialog, where its INVITE went) to pick up, in a
/// task of its own so the call's actor goes on; replies `Ok` once one phone accepted.
pub fn answer_all(
    ex: std::sync::Arc<Exchange>,
    protocol: String,
    agent: String,
    targets: Vec<(InviteDialog, SocketAddr)>,
    reply: tokio::sync::oneshot::Sender<Result<(), crate::floor::calls::CommandError>>,
) {
    use crate::floor::calls::CommandError;
    if targets.is_empty() {
        let _ = reply.send(Err(CommandError::Invalid(
            "nothing ringing for the agent".into(),
        )));
        return;
    }
    tokio::spawn(async move {
        let mut result = Err(CommandError::Invalid(
            "the phone refused the remote answer".into(),
        ));
        for (dialog, to) in targets {
            match notify_talk(&ex, &dialog, to).await {
                Ok(()) => {
                    tracing::info!(%protocol, %agent, "phone told to answer (Event: talk)");
                    result = Ok(());
                }
                Err(e) => {
                    tracing::warn!(%protocol, %agent, error = %e, "remote answer not taken")
                }
            }
        }
        let _ = reply.send(result);
    });
}
