//! The SIP front door: binds UDP/TCP, runs rsipstack's endpoint, and dispatches each new
//! server transaction to the registrar, a new call, or the dialog it belongs to.
//!
//! Every transaction is handled in its own short task so a slow one never delays the
//! dispatcher. Every request but ACK is first checked by `validate` (RFC 3261 §8.2 order:
//! 505, 400, 405, 416, 420, 415) and refused there with a log line; then unknown
//! dialogs get 481.

use std::net::SocketAddr;
use std::sync::Arc;

use rsipstack::EndpointBuilder;
use rsipstack::sip::Version;
use rsipstack::sip::{Method, StatusCode};
use rsipstack::transaction::endpoint::Endpoint;
use rsipstack::transaction::transaction::Transaction;
use rsipstack::transport::TransportLayer;
use rsipstack::transport::tcp_listener::TcpListenerConnection;
use rsipstack::transport::udp::UdpConnection;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::config::SipConfig;
use crate::sip::exchange::Exchange;
use crate::sip::{call, request, validate};

#[derive(Debug, thiserror::Error)]
pub enum SipServerError {
    #[error("cannot listen for SIP on {transport} {addr}: {message}")]
    Bind {
        transport: &'static str,
        addr: SocketAddr,
        message: String,
    },
    #[error("SIP needs at least one of sip.listen_udp / sip.listen_tcp")]
    NoListener,
}

/// Binds the configured transports and builds the endpoint (not yet serving).
pub async fn bind(
    cfg: &SipConfig,
    cancel: CancellationToken,
) -> Result<(Endpoint, SocketAddr), SipServerError> {
    let transport = TransportLayer::new(cancel.clone());
    let mut first = None;
    if let Some(addr) = cfg.listen_udp {
        let conn =
            UdpConnection::create_connection(addr, cfg.public_address, Some(cancel.child_token()))
                .await
                .map_err(|e| SipServerError::Bind {
                    transport: "UDP",
                    addr,
                    message: e.to_string(),
                })?;
        let bound = conn.get_addr().get_socketaddr().unwrap_or(addr);
        first.get_or_insert(bound);
        transport.add_transport(conn.into());
    }
    if let Some(addr) = cfg.listen_tcp {
        let conn = TcpListenerConnection::new(addr, cfg.public_address)
            .await
            .map_err(|e| SipServerError::Bind {
                transport: "TCP",
                addr,
                message: e.to_string(),
            })?;
        first.get_or_insert(addr);
        transport.add_transport(conn.into());
    }
    let addr = first.ok_or(SipServerError::NoListener)?;
    let endpoint = EndpointBuilder::new()
        .with_cancel_token(cancel)
        .with_transport_layer(transport)
        .with_user_agent(&cfg.user_agent)
        .build();
    Ok((endpoint, addr))
}

/// Dispatches incoming transactions until the endpoint stops.
pub async fn dispatch(exchange: Arc<Exchange>, endpoint: Arc<Endpoint>) {
    let mut incoming = match endpoint.incoming_transactions() {
        Ok(rx) => rx,
        Err(e) => {
            warn!(error = %e, "SIP endpoint gave no transaction receiver");
            return;
        }
    };
    while let Some(tx) = incoming.recv().await {
        let ex = exchange.clone();
        if tx.original.method != Method::Ack
            && let Err(rejection) = validate::check(&tx.original)
        {
            tokio::spawn(refuse(tx, rejection));
            continue;
        }
        // A call's task lives as long as the call, so it gets a task of its own, sized by
        // what a call holds rather than by the largest future of the short transactions
        // `route` serves (a call in `route` was a 24.7 KB task; alone it is 5.2 KB).
        if tx.original.method == Method::Invite && !request::has_to_tag(&tx.original) {
            tokio::spawn(call::inbound(ex, tx));
        } else {
            tokio::spawn(route(ex, tx));
        }
    }
}

/// Answers a request `validate` refused, and says why in the log.
async fn refuse(mut tx: Transaction, rejection: validate::Rejection) {
    info!(
        status = u16::from(rejection.status.clone()),
        method = %tx.original.method,
        source = ?request::source(&tx),
        reason = %rejection.reason,
        "SIP request refused"
    );
    // The status line must be SIP/2.0 even when the request's was not (a 505 names the
    // version atende speaks); rsipstack copies the request's version into its responses.
    tx.original.version = Version::V2;
    let headers = rejection
        .headers
        .into_iter()
        .map(|(name, value)| request::raw_header(name, value))
        .collect();
    if let Err(e) = tx.reply_with(rejection.status, headers, None).await {
        debug!(error = %e, "could not send a refusal");
    }
}

async fn route(ex: Arc<Exchange>, mut tx: Transaction) {
    let in_dialog = request::has_to_tag(&tx.original);
    let method = tx.original.method;
    debug!(%method, in_dialog, "SIP request");
    let result = match (method, in_dialog) {
        (Method::Register, _) => {
            ex.registrar.handle(&mut tx).await;
            Ok(())
        }
        (Method::Invite, false) => {
            // `dispatch` spawns new calls itself; boxed here so it never sizes `route`.
            Box::pin(call::inbound(ex, tx)).await;
            Ok(())
        }
        (Method::Options, false) => {
            let headers = vec![
                request::raw_header("Allow", validate::allow()),
                request::raw_header("Accept", validate::ACCEPT),
                request::raw_header("Supported", validate::supported()),
            ];
            tx.reply_with(StatusCode::OK, headers, None).await
        }
        (Method::Ack, _) => Ok(()),
        (_, true) | (Method::Bye | Method::Cancel | Method::Info | Method::Update, false) => {
            // A gateway's Q.850 cause, noted before the dialog reports the hang-up.
            crate::sip::q850::note_hangup_reason(&ex, &tx.original);
            match ex.dialogs.match_dialog(&tx) {
                Some(mut dialog) => dialog.handle(&mut tx).await,
                None => tx.reply(StatusCode::CallTransactionDoesNotExist).await,
            }
        }
        (_, false) => {
            tx.reply_with(
                StatusCode::MethodNotAllowed,
                vec![request::raw_header("Allow", validate::allow())],
                None,
            )
            .await
        }
    };
    if let Err(e) = result {
        debug!(error = %e, "transaction ended with an error");
    }
}
