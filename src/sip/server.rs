//! The SIP front door: binds UDP/TCP, runs rsipstack's endpoint, and dispatches each new
//! server transaction to the registrar, a new call, or the dialog it belongs to.
//!
//! Every transaction is handled in its own short task so a slow one never delays the
//! dispatcher. Requests we do not serve get the right 4xx instead of silence: 481 for
//! unknown dialogs, 405 for methods outside a dialog we do not support.

use std::net::SocketAddr;
use std::sync::Arc;

use rsipstack::EndpointBuilder;
use rsipstack::sip::{Method, StatusCode};
use rsipstack::transaction::endpoint::Endpoint;
use rsipstack::transaction::transaction::Transaction;
use rsipstack::transport::TransportLayer;
use rsipstack::transport::tcp_listener::TcpListenerConnection;
use rsipstack::transport::udp::UdpConnection;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::config::SipConfig;
use crate::sip::exchange::Exchange;
use crate::sip::{call, request};

pub const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, INFO, UPDATE";

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
        .with_user_agent(concat!("atende/", env!("CARGO_PKG_VERSION")))
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
            tx.reply_with(
                StatusCode::OK,
                vec![
                    request::raw_header("Allow", ALLOW),
                    request::raw_header("Accept", "application/sdp"),
                ],
                None,
            )
            .await
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
                vec![request::raw_header("Allow", ALLOW)],
                None,
            )
            .await
        }
    };
    if let Err(e) = result {
        debug!(error = %e, "transaction ended with an error");
    }
}
