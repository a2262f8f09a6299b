//! A report mail on the wire: the pt-BR message with its files, and the SMTP transport.
//!
//! TLS is rustls (ring provider), trusting the system's certificate store plus an
//! optional CA file; with `starttls` the upgrade is required, never opportunistic, so a
//! man in the middle cannot strip it and read the password. The password is handed to
//! lettre only; nothing here logs it.

use std::path::PathBuf;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{Job, MailError, MailSettings, TlsMode};
use crate::export::Format;

/// How long one SMTP conversation may take before it counts as failed.
const SMTP_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("building the message: {0}")]
    Message(#[from] lettre::error::Error),
    #[error("reading the attachment {path}: {source}")]
    Attachment {
        path: String,
        source: std::io::Error,
    },
    #[error("SMTP: {0}")]
    Smtp(#[from] lettre::transport::smtp::Error),
}

fn mailbox(field: &'static str, value: &str) -> Result<Mailbox, MailError> {
    Ok(crate::config::mail::mailbox(field, value)?)
}

/// The connection to the SMTP server, with its sender and recipients (also the alarms').
pub(crate) struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
    /// Used in Message-IDs (so a resent mail has the same id and can be recognised).
    domain: String,
}

impl Smtp {
    /// Builds the transport; reads the password (environment or file) now.
    pub(crate) fn new(settings: &MailSettings) -> Result<Smtp, MailError> {
        let transport_error =
            |e: lettre::transport::smtp::Error| MailError::Transport(e.to_string());
        let tls_parameters = || -> Result<TlsParameters, MailError> {
            let mut builder = TlsParameters::builder(settings.server.clone());
            if let Some(path) = &settings.ca_file {
                let pem = std::fs::read(path).map_err(|source| MailError::CaFile {
                    path: path.display().to_string(),
                    source,
                })?;
                builder = builder
                    .add_root_certificate(Certificate::from_pem(&pem).map_err(transport_error)?);
            }
            builder.build_rustls().map_err(transport_error)
        };
        let tls = match settings.tls {
            TlsMode::Starttls => Tls::Required(tls_parameters()?),
            TlsMode::Tls => Tls::Wrapper(tls_parameters()?),
            TlsMode::None => Tls::None,
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.server)
            .port(settings.port())
            .tls(tls)
            .timeout(Some(SMTP_TIMEOUT));
        if let (Some(user), Some(password)) = (&settings.user, super::password(settings)?) {
            builder = builder.credentials(Credentials::new(user.clone(), password));
        }
        let from = mailbox("from", &settings.from)?;
        let to = settings
            .to
            .iter()
            .map(|t| mailbox("to", t))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Smtp {
            transport: builder.build(),
            domain: from.email.domain().to_owned(),
            from,
            to,
        })
    }

    /// Sends `job`'s mail with `files` attached.
    pub(super) async fn send(
        &self,
        job: Job,
        body: &str,
        files: &[(PathBuf, Format)],
    ) -> Result<(), SendError> {
        let mut parts = MultiPart::mixed().singlepart(SinglePart::plain(body.to_owned()));
        for (path, format) in files {
            let bytes = tokio::fs::read(path)
                .await
                .map_err(|source| SendError::Attachment {
                    path: path.display().to_string(),
                    source,
                })?;
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| format!("relatorio.{}", format.extension()));
            let content_type =
                ContentType::parse(format.mime_type()).unwrap_or(ContentType::TEXT_PLAIN);
            parts = parts.singlepart(Attachment::new(name).body(bytes, content_type));
        }
        let mut message = Message::builder()
            .from(self.from.clone())
            .subject(job.subject())
            .message_id(Some(format!(
                "<{}@{}>",
                job.key().replace(':', "."),
                self.domain
            )));
        for to in &self.to {
            message = message.to(to.clone());
        }
        let message = message.multipart(parts)?;
        self.transport.send(message).await?;
        Ok(())
    }
}

impl Smtp {
    /// Sends a plain-text mail (an alarm's raise or clear) to the report recipients.
    pub(crate) async fn send_text(&self, subject: &str, body: &str) -> Result<(), SendError> {
        let mut message = Message::builder()
            .from(self.from.clone())
            .subject(subject)
            .header(ContentType::TEXT_PLAIN);
        for to in &self.to {
            message = message.to(to.clone());
        }
        self.transport.send(message.body(body.to_owned())?).await?;
        Ok(())
    }
}
