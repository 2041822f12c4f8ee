//! Mail delivery behind one interface, so the escalation path does not
//! care whether mail goes to a folder or an SMTP relay.

mod smtp;

use std::path::PathBuf;

use lettre::address::Envelope;
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::{Address, FileTransport, Message, Transport as _};

use crate::config::{MailConfig, Transport};
use crate::store::OutgoingMail;

pub use smtp::{SmtpFailure, SmtpMailer};

/// Delivers one message to `recipients`, the envelope: a subset of its `To`
/// and `Cc`, which the headers always show whole. `message_id` is stable per
/// outbox row so a receiving system can drop a re-delivery after a crash
/// mid-send.
pub trait Mailer: Send + std::fmt::Debug {
    /// `Ok` as soon as the relay has accepted the message (its reply to the end of DATA),
    /// with the session still open: the caller records the delivery first and then
    /// [`close`](Accepted::close)s it, so a crash during QUIT and the teardown cannot make
    /// the mail go out again.
    fn send(
        &self,
        mail: &OutgoingMail,
        message_id: &str,
        recipients: &[String],
    ) -> Result<Accepted, MailError>;
}

/// A message the relay (or the folder) has taken, and what is left of the session: for SMTP
/// the QUIT and the connection teardown, done by [`close`](Accepted::close) or on drop. Its
/// reply to QUIT changes nothing: the mail is the relay's from its reply to DATA on.
#[must_use = "record the delivery, then close the session"]
#[derive(Debug)]
pub struct Accepted {
    session: Option<smtp::Session>,
}

impl Accepted {
    /// Nothing left to close (the file transport).
    fn done() -> Accepted {
        Accepted { session: None }
    }

    /// Ends the session: QUIT, then the connection is shut down.
    pub fn close(mut self) {
        drop(self.session.take());
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("`{address}` is not a deliverable address: {reason}")]
    Address { address: String, reason: String },
    #[error("cannot build the message: {0}")]
    Build(String),
    #[error("cannot write the message to `{dir}`: {reason}")]
    File { dir: PathBuf, reason: String },
    /// Names the relay and what it answered; never the login's password.
    #[error("smtp relay {relay}: {failure}")]
    Smtp { relay: String, failure: SmtpFailure },
    /// Sent to each recipient alone, some were refused: `address: why` each.
    #[error("not delivered to {}", refused.join("; "))]
    Refused { refused: Vec<String> },
}

impl MailError {
    /// Whether the relay refused one of the recipients (so the others may still get it), not
    /// the message itself.
    pub fn refuses_a_recipient(&self) -> bool {
        self.smtp_failure()
            .is_some_and(SmtpFailure::refuses_a_recipient)
    }

    /// Whether every other mail would fail the same way right now (relay
    /// unreachable, login refused), so a delivery pass should stop instead of
    /// waiting out one timeout per mail.
    pub fn affects_every_mail(&self) -> bool {
        self.smtp_failure()
            .is_some_and(SmtpFailure::affects_every_mail)
    }

    /// Whether the failure may pass by itself (a 4xx, no answer, the relay unreachable, a
    /// folder that could not be written), as opposed to a refusal only a change at the relay
    /// or in the config ends. A partial refusal counts as permanent: its transient part is
    /// retried with it.
    pub fn is_transient(&self) -> bool {
        match self {
            MailError::Smtp { failure, .. } => failure.is_transient(),
            MailError::File { .. } => true,
            MailError::Address { .. } | MailError::Build(_) | MailError::Refused { .. } => false,
        }
    }

    /// What the relay said, when it was the relay.
    fn smtp_failure(&self) -> Option<&SmtpFailure> {
        match self {
            MailError::Smtp { failure, .. } => Some(failure),
            MailError::Address { .. }
            | MailError::Build(_)
            | MailError::File { .. }
            | MailError::Refused { .. } => None,
        }
    }
}

/// Writes each message as an `.eml` file into a directory.
#[derive(Debug)]
pub struct FileMailer {
    from: Mailbox,
    dir: PathBuf,
}

pub fn mailer(config: &MailConfig) -> Box<dyn Mailer> {
    match &config.transport {
        Transport::File { dir } => Box::new(FileMailer {
            from: config.from.clone(),
            dir: dir.clone(),
        }),
        Transport::Smtp(smtp) => Box::new(SmtpMailer::new(config.from.clone(), smtp)),
    }
}

/// What goes on the wire for `mail`: the envelope (`from` as the sender, `recipients` as
/// RCPT TO) and the RFC 5322 message, whose headers name all of its `To` and `Cc`.
pub fn wire(
    from: &Mailbox,
    mail: &OutgoingMail,
    message_id: &str,
    recipients: &[String],
) -> Result<(Envelope, Vec<u8>), MailError> {
    let mut builder = Message::builder()
        .from(from.clone())
        .subject(mail.subject.clone())
        .message_id(Some(message_id.to_owned()));
    if let Some(parent) = &mail.thread.in_reply_to {
        builder = builder.in_reply_to(parent.clone());
    }
    if !mail.thread.references.is_empty() {
        builder = builder.references(mail.thread.references.join(" "));
    }
    for address in &mail.to {
        builder = builder.to(mailbox(address)?);
    }
    for address in &mail.cc {
        builder = builder.cc(mailbox(address)?);
    }
    let message = match &mail.html {
        // The plain text first: a client that cannot show HTML shows it, one that can picks
        // the last alternative it understands.
        Some(html) => builder.multipart(
            MultiPart::alternative()
                .singlepart(text_part(ContentType::TEXT_PLAIN, &mail.body))
                .singlepart(text_part(ContentType::TEXT_HTML, html)),
        ),
        None => builder
            .header(ContentType::TEXT_PLAIN)
            .body(mail.body.clone()),
    }
    .map_err(|e| MailError::Build(e.to_string()))?;
    let addresses = recipients
        .iter()
        .map(|address| mailbox(address).map(|mailbox| mailbox.email))
        .collect::<Result<Vec<Address>, MailError>>()?;
    let envelope = Envelope::new(Some(from.email.clone()), addresses)
        .map_err(|e| MailError::Build(e.to_string()))?;
    Ok((envelope, message.formatted()))
}

/// A text part in quoted-printable: lines stay readable in the raw message whatever their
/// length or characters, where base64 would hide them.
fn text_part(content_type: ContentType, text: &str) -> SinglePart {
    SinglePart::builder()
        .header(content_type)
        .header(ContentTransferEncoding::QuotedPrintable)
        .body(text.to_owned())
}

fn mailbox(address: &str) -> Result<Mailbox, MailError> {
    address.parse::<Mailbox>().map_err(|e| MailError::Address {
        address: address.to_owned(),
        reason: e.to_string(),
    })
}

impl Mailer for FileMailer {
    fn send(
        &self,
        mail: &OutgoingMail,
        message_id: &str,
        recipients: &[String],
    ) -> Result<Accepted, MailError> {
        let file_error = |reason: String| MailError::File {
            dir: self.dir.clone(),
            reason,
        };
        std::fs::create_dir_all(&self.dir).map_err(|e| file_error(e.to_string()))?;
        let (envelope, message) = wire(&self.from, mail, message_id, recipients)?;
        FileTransport::new(&self.dir)
            .send_raw(&envelope, &message)
            .map(|_| Accepted::done())
            .map_err(|e| file_error(e.to_string()))
    }
}
