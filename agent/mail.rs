//! Mail delivery behind one interface, so the escalation path does not
//! care whether mail goes to a folder or an SMTP relay.

mod smtp;

use std::path::PathBuf;

use lettre::address::Envelope;
use lettre::message::{Mailbox, header::ContentType};
use lettre::{Address, FileTransport, Message, Transport as _};

use crate::config::{MailConfig, Transport};
use crate::store::OutgoingMail;

pub use smtp::{SmtpFailure, SmtpMailer};

/// Delivers one message to `recipients`, the envelope: a subset of its `To`
/// and `Cc`, which the headers always show whole. `message_id` is stable per
/// outbox row so a receiving system can drop a re-delivery after a crash
/// mid-send.
pub trait Mailer: Send + std::fmt::Debug {
    fn send(
        &self,
        mail: &OutgoingMail,
        message_id: &str,
        recipients: &[String],
    ) -> Result<(), MailError>;
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
        .message_id(Some(message_id.to_owned()))
        .header(ContentType::TEXT_PLAIN);
    for address in &mail.to {
        builder = builder.to(mailbox(address)?);
    }
    for address in &mail.cc {
        builder = builder.cc(mailbox(address)?);
    }
    let message = builder
        .body(mail.body.clone())
        .map_err(|e| MailError::Build(e.to_string()))?;
    let addresses = recipients
        .iter()
        .map(|address| mailbox(address).map(|mailbox| mailbox.email))
        .collect::<Result<Vec<Address>, MailError>>()?;
    let envelope = Envelope::new(Some(from.email.clone()), addresses)
        .map_err(|e| MailError::Build(e.to_string()))?;
    Ok((envelope, message.formatted()))
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
    ) -> Result<(), MailError> {
        let file_error = |reason: String| MailError::File {
            dir: self.dir.clone(),
            reason,
        };
        std::fs::create_dir_all(&self.dir).map_err(|e| file_error(e.to_string()))?;
        let (envelope, message) = wire(&self.from, mail, message_id, recipients)?;
        FileTransport::new(&self.dir)
            .send_raw(&envelope, &message)
            .map(|_| ())
            .map_err(|e| file_error(e.to_string()))
    }
}
