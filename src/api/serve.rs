//! The HTTP listener: plain HTTP, or HTTPS when `[http] tls_cert`/`tls_key` are set
//! (rustls with the ring provider, through axum-server). Plain HTTP on an address other
//! than loopback logs a WARN at start: passwords and session cookies would cross the
//! network in clear. Every request carries its peer address (for the login limiter).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use axum::Router;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tracing::{info, warn};

use crate::config::HttpConfig;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen for HTTP on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("http.tls_cert {path}: {message}")]
    Cert { path: String, message: String },
    #[error("http.tls_key {path}: {message}")]
    Key { path: String, message: String },
    #[error("http.tls_cert/tls_key do not make a TLS server: {0}")]
    Tls(#[from] rustls::Error),
}

/// The TLS server configuration from PEM files.
fn tls_config(cert: &Path, key: &Path) -> Result<rustls::ServerConfig, ServeError> {
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
        .map_err(|e| ServeError::Cert {
            path: cert.display().to_string(),
            message: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(ServeError::Cert {
            path: cert.display().to_string(),
            message: "no certificate in the file".into(),
        });
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| ServeError::Key {
        path: key.display().to_string(),
        message: e.to_string(),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Binds `http.listen` and serves `app` on it: the bound address and the server's task.
pub async fn start(
    http: &HttpConfig,
    app: Router,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>), ServeError> {
    let bind = |source| ServeError::Bind {
        addr: http.listen,
        source,
    };
    let tls = match (&http.tls_cert, &http.tls_key) {
        (Some(c), Some(k)) => Some(tls_config(c, k)?),
        _ => None,
    };
    let listener = std::net::TcpListener::bind(http.listen).map_err(bind)?;
    let addr = listener.local_addr().unwrap_or(http.listen);
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    let task = match tls {
        Some(config) => {
            let config = axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(config));
            let server =
                axum_server::tls_rustls::from_tcp_rustls(listener, config).map_err(bind)?;
            info!(%addr, "HTTPS listening");
            tokio::spawn(async move {
                if let Err(e) = server.serve(service).await {
                    warn!(error = %e, "HTTPS server stopped");
                }
            })
        }
        None => {
            if !addr.ip().is_loopback() {
                warn!(
                    %addr,
                    "HTTP without TLS on a non-loopback address: passwords and session cookies cross the network in clear; set [http] tls_cert and tls_key"
                );
            }
            listener.set_nonblocking(true).map_err(bind)?;
            let listener = tokio::net::TcpListener::from_std(listener).map_err(bind)?;
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, service).await {
                    warn!(error = %e, "HTTP server stopped");
                }
            })
        }
    };
    Ok((addr, task))
}
