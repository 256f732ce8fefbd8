//! Sending one mail over SMTP with lettre (tokio, rustls): `smtp://` upgrades with STARTTLS
//! when the server offers it, `smtps://` speaks TLS from the start.

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use url::Url;

use crate::service::recovery::Mail;

/// How long one SMTP conversation may take.
const TIMEOUT: Duration = Duration::from_secs(20);

/// Why a mail was not sent.
#[derive(Debug)]
pub enum SendError {
    /// Worth another try later (the server is down, busy, or answered 4xx).
    Transient(String),
    /// Never worth another try (an address lettre cannot write, a 5xx refusal).
    Permanent(String),
}

/// Whether the server refused this mail for good: a 5xx about its recipient, its sender or
/// its content (550-553, 501, 554). Other permanent answers, such as 530 or 535 (the server
/// wants other credentials), are about sesame's configuration: the mail waits until it is fixed.
fn refuses_this_mail(e: &lettre::transport::smtp::Error) -> bool {
    e.is_permanent()
        && e.status().is_some_and(|code| {
            matches!(
                code.to_string().as_str(),
                "550" | "551" | "552" | "553" | "501" | "554"
            )
        })
}

/// The SMTP server of `SMTP_URL`, and the sender.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

fn decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

impl Mailer {
    /// A mailer for `url` (`smtp://` or `smtps://`, optional credentials) sending as `from`.
    pub fn new(url: &Url, from: &str) -> Result<Self, String> {
        let host = url.host_str().ok_or("SMTP_URL has no host")?;
        let implicit_tls = url.scheme() == "smtps";
        let params = TlsParameters::new(host.to_owned()).map_err(|e| e.to_string())?;
        let (tls, port) = if implicit_tls {
            (Tls::Wrapper(params), 465)
        } else {
            (Tls::Opportunistic(params), 25)
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(url.port().unwrap_or(port))
            .tls(tls)
            .timeout(Some(TIMEOUT));
        if !url.username().is_empty() {
            builder = builder.credentials(Credentials::new(
                decode(url.username()),
                decode(url.password().unwrap_or_default()),
            ));
        }
        let from = from
            .parse::<Mailbox>()
            .map_err(|e| format!("MAIL_FROM: {e}"))?;
        Ok(Self {
            transport: builder.build(),
            from,
        })
    }

    /// Sends `mail` (plain text and HTML alternatives).
    pub async fn send(&self, mail: &Mail) -> Result<(), SendError> {
        let to = mail
            .to
            .parse::<Mailbox>()
            .map_err(|e| SendError::Permanent(format!("recipient: {e}")))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.clone())
            .multipart(MultiPart::alternative_plain_html(
                mail.text.clone(),
                mail.html.clone(),
            ))
            .map_err(|e| SendError::Permanent(format!("message: {e}")))?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) if refuses_this_mail(&e) => Err(SendError::Permanent(e.to_string())),
            Err(e) => Err(SendError::Transient(e.to_string())),
        }
    }
}
