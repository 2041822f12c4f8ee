//! Delivery through an SMTP relay with lettre's blocking `SmtpConnection`, driven step by step
//! as lettre's unpooled `SmtpTransport` would, except that the relay's acceptance is handed
//! back before QUIT (see [`Accepted`]), so the outbox records it before the session ends.
//!
//! The engine sends from blocking code, a few mails at a time, so there is no connection pool
//! (a pooled connection the relay has dropped fails the next send, lettre #743): every mail
//! opens, authenticates, sends and quits. TLS is rustls with aws-lc-rs and the platform's trust
//! store.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use lettre::address::Envelope;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{SmtpConnection, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::response::{Category, Code, Severity};

use super::{Accepted, MailError, Mailer, wire};
use crate::config::{SmtpConfig, SmtpLogin, SmtpPassword, SmtpTls};
use crate::secret::Secret;
use crate::store::OutgoingMail;

/// Longest relay reply or library message kept in an error; the rest of a
/// multi-line banner says nothing an operator needs.
const MAX_DETAIL_CHARS: usize = 300;

/// Reply codes that concern the session, not one message: every mail would
/// get the same answer (RFC 5321 421, RFC 4954 454/530/534/535/538).
const SESSION_CODES: [u16; 6] = [421, 454, 530, 534, 535, 538];

/// Why the relay did not take a mail. Each message says whether retrying can help, and none
/// contains the password (see [`scrub`]).
#[derive(Debug, Clone, thiserror::Error)]
pub enum SmtpFailure {
    /// A 4xx reply.
    #[error("deferred with {code} ({category}): {reply}; transient, will be retried")]
    Transient {
        code: u16,
        category: &'static str,
        reply: String,
    },
    /// A 5xx reply.
    #[error(
        "rejected with {code} ({category}): {reply}; permanent: retried at growing intervals \
         (1, 5, 25 minutes, …) up to every 6 hours, but only a change at the relay (the login, \
         the sender, the recipient's mailbox) will let it through"
    )]
    Permanent {
        code: u16,
        category: &'static str,
        reply: String,
    },
    #[error(
        "no answer within {secs}s (`[mail] timeout`); transient, will be retried. A relay this \
         slow to answer the end of a message may have taken it, and the retry then delivers it \
         twice (same Message-ID): RFC 5321 gives that answer up to 10 minutes, so raise \
         `timeout` for a slow relay"
    )]
    Timeout { secs: u64 },
    #[error("cannot talk to the relay: {detail}; transient, will be retried")]
    Connection { detail: String },
    #[error(
        "tls = \"{mode}\" failed: {detail}; check that `tls` matches the relay's port \
         (implicit on 465, starttls on 587) and that its certificate is valid for its host name"
    )]
    Tls { mode: SmtpTls, detail: String },
    #[error("{detail}; permanent, retrying will not help until the relay or `[mail]` changes")]
    Protocol { detail: String },
    /// The config was loaded without reading the password (by a command that sends no mail).
    #[error("the password ({origin}) was not read, so nothing can be sent from here")]
    PasswordNotRead { origin: String },
    /// TLS could not even be configured, typically no CA certificates on the host.
    #[error(
        "cannot set up tls: {detail}; rustls-platform-verifier reads the system's CA \
         certificates (Debian: ca-certificates); permanent until they are installed"
    )]
    TlsSetup { detail: String },
}

/// Replies a relay gives to one RCPT TO: that recipient, not the message, is the problem
/// (RFC 5321 4.2.2: mailbox unavailable, not local, name not allowed; and 452, too many
/// recipients, 4.5.3.1.10), so the others may still be sent to one by one.
const RECIPIENT_CODES: [u16; 5] = [450, 452, 550, 551, 553];

impl SmtpFailure {
    /// Whether the relay refused a recipient rather than the message: worth trying the other
    /// recipients alone. (lettre does not say which command failed; these codes mean RCPT.)
    pub(super) fn refuses_a_recipient(&self) -> bool {
        match self {
            SmtpFailure::Transient { code, .. } | SmtpFailure::Permanent { code, .. } => {
                RECIPIENT_CODES.contains(code)
            }
            _ => false,
        }
    }

    /// Whether it may pass by itself: a 4xx, no answer, no connection.
    pub(super) fn is_transient(&self) -> bool {
        matches!(
            self,
            SmtpFailure::Transient { .. }
                | SmtpFailure::Timeout { .. }
                | SmtpFailure::Connection { .. }
        )
    }

    pub(super) fn affects_every_mail(&self) -> bool {
        match self {
            SmtpFailure::Transient { code, .. } | SmtpFailure::Permanent { code, .. } => {
                SESSION_CODES.contains(code)
            }
            SmtpFailure::Timeout { .. }
            | SmtpFailure::Connection { .. }
            | SmtpFailure::Tls { .. }
            | SmtpFailure::Protocol { .. }
            | SmtpFailure::PasswordNotRead { .. }
            | SmtpFailure::TlsSetup { .. } => true,
        }
    }
}

/// Sends each mail through one relay.
pub struct SmtpMailer {
    from: Mailbox,
    config: SmtpConfig,
    /// Built once; `Err` when TLS could not be set up (no usable trust store), reported by every
    /// send so the outbox keeps the mail and says why.
    relay: Result<Relay, SmtpFailure>,
}

/// How to open a session with the relay: the TLS parameters for the configured mode and the
/// login, if any. Not `Debug`: the credentials are in it.
struct Relay {
    /// Implicit TLS from the first byte, or STARTTLS before anything else is said.
    tls: Option<(SmtpTls, TlsParameters)>,
    credentials: Option<Credentials>,
    hello: ClientId,
}

/// An SMTP session after the relay accepted a message. Dropping it sends QUIT (its reply is
/// not waited on for longer than the timeout, nor does it matter) and shuts the connection
/// down, exactly as lettre's unpooled `SmtpTransport` does after each mail.
pub(super) struct Session(SmtpConnection);

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("encrypted", &self.0.is_encrypted())
            .finish_non_exhaustive()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl fmt::Debug for SmtpMailer {
    /// The relay, not the transport: lettre's `Debug` is not ours to vouch for.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("from", &self.from.to_string())
            .field("relay", &self.config.relay())
            .field("tls", &self.config.tls)
            .field(
                "username",
                &self.config.login.as_ref().map(|l| l.username.as_str()),
            )
            .field("timeout", &self.config.timeout)
            .finish_non_exhaustive()
    }
}

impl SmtpMailer {
    pub fn new(from: Mailbox, config: &SmtpConfig) -> SmtpMailer {
        let relay = match config.login.as_ref().map(|login| &login.password) {
            // Loaded by a command that sends no mail; never log in without the password.
            Some(SmtpPassword::NotRead(origin)) => Err(SmtpFailure::PasswordNotRead {
                origin: origin.to_string(),
            }),
            _ => Relay::new(config).map_err(|error| {
                let failure = SmtpFailure::TlsSetup {
                    detail: scrub(&error.to_string(), config.login.as_ref()),
                };
                tracing::error!(relay = %config.relay(), error = %failure, "SmtpSetupError");
                failure
            }),
        };
        SmtpMailer {
            from,
            config: config.clone(),
            relay,
        }
    }

    fn error(&self, failure: SmtpFailure) -> MailError {
        MailError::Smtp {
            relay: self.config.relay(),
            failure,
        }
    }
}

impl Mailer for SmtpMailer {
    fn send(
        &self,
        mail: &OutgoingMail,
        message_id: &str,
        recipients: &[String],
    ) -> Result<Accepted, MailError> {
        let (envelope, message) = wire(&self.from, mail, message_id, recipients)?;
        let relay = self
            .relay
            .as_ref()
            .map_err(|failure| self.error(failure.clone()))?;
        let classified = |error| self.error(classify(&error, &self.config));
        let mut connection = relay.open(&self.config).map_err(classified)?;
        // MAIL, RCPT, DATA and the message. `Ok` is the relay's positive reply to the
        // message's final dot.
        transmit(&mut connection, &envelope, &message).map_err(classified)?;
        Ok(Accepted {
            session: Some(Session(connection)),
        })
    }
}

impl Relay {
    /// The TLS mode exactly as configured, PLAIN or LOGIN when there is a login.
    fn new(config: &SmtpConfig) -> Result<Relay, lettre::transport::smtp::Error> {
        let tls = match config.tls {
            SmtpTls::Starttls | SmtpTls::Implicit => {
                Some((config.tls, TlsParameters::new_rustls(config.host.clone())?))
            }
            SmtpTls::None => None,
        };
        let credentials = config
            .login
            .as_ref()
            .and_then(|login| {
                login
                    .password
                    .secret()
                    .map(|password| (login.username.clone(), password))
            })
            .map(|(username, password)| Credentials::new(username, password.expose().to_owned()));
        Ok(Relay {
            tls,
            credentials,
            hello: ClientId::default(),
        })
    }

    /// A session ready for MAIL FROM, as lettre's own transport opens one: connect (inside
    /// TLS for `implicit`) with the timeout on every read and write, EHLO, STARTTLS when
    /// required (an error when the relay does not offer it), and only over the verified
    /// connection AUTH. On an error the connection is dropped, which closes it.
    fn open(&self, config: &SmtpConfig) -> Result<SmtpConnection, lettre::transport::smtp::Error> {
        let wrapper = match &self.tls {
            Some((SmtpTls::Implicit, parameters)) => Some(parameters),
            _ => None,
        };
        let mut connection = SmtpConnection::connect(
            (config.host.as_str(), config.port),
            Some(config.timeout),
            &self.hello,
            wrapper,
            None,
        )?;
        if let Some((SmtpTls::Starttls, parameters)) = &self.tls {
            connection.starttls(parameters, &self.hello)?;
        }
        if let Some(credentials) = &self.credentials {
            connection.auth(&[Mechanism::Plain, Mechanism::Login], credentials)?;
        }
        Ok(connection)
    }
}

/// MAIL, RCPT, DATA and the message, as lettre's `SmtpConnection::send` sends them, except
/// that the message and the dot that ends it leave in one write.
///
/// lettre writes the message, then `CRLF.CRLF` on its own; without `TCP_NODELAY` (which lettre
/// does not set) Nagle's algorithm holds that small second write until the relay acknowledges
/// the first, and a relay delaying its ACK makes that about 40 ms (measured against the test
/// relay). Killed in that time, the process leaves the dot in the kernel's send buffer, which
/// still delivers it: the relay takes the mail, nobody records it, and it goes out again. One
/// write leaves only the relay's own processing and its reply in that window.
///
/// A message or envelope that is not plain ASCII (never one built by [`super::wire`], whose
/// body lettre encodes to 7 bits) goes through lettre's `send`, which checks the SMTPUTF8 and
/// 8BITMIME extensions such mail needs. On a refusal the session is ended with QUIT, as lettre
/// does.
fn transmit(
    connection: &mut SmtpConnection,
    envelope: &Envelope,
    message: &[u8],
) -> Result<(), lettre::transport::smtp::Error> {
    let ascii_addresses = envelope
        .to()
        .iter()
        .chain(envelope.from())
        .all(|address| AsRef::<str>::as_ref(address).is_ascii());
    let plain = match std::str::from_utf8(message) {
        Ok(text) if text.is_ascii() && ascii_addresses => text,
        _ => return connection.send(envelope, message).map(drop),
    };
    let payload = Payload(dot_stuffed(plain));
    let mut exchange = || -> Result<(), lettre::transport::smtp::Error> {
        connection.command(Mail::new(envelope.from().cloned(), Vec::new()))?;
        for to in envelope.to() {
            connection.command(Rcpt::new(to.clone(), Vec::new()))?;
        }
        connection.command(Data)?;
        connection.command(&payload)?;
        Ok(())
    };
    let outcome = exchange();
    if outcome.is_err() {
        connection.abort();
    }
    outcome
}

/// The message as DATA carries it, written by `SmtpConnection::command` in one go.
struct Payload(String);

impl fmt::Display for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `message` with RFC 5321 4.5.2 transparency (a `.` that starts a line is doubled, a line
/// starting after CRLF exactly as lettre's own codec counts it) and the `CRLF.CRLF` that ends
/// DATA, byte for byte what lettre's `message` would put on the wire.
fn dot_stuffed(message: &str) -> String {
    let mut out = String::with_capacity(message.len() + 16);
    // At the start of a line; just after a CR (a line starts if LF follows).
    let (mut line_start, mut after_cr) = (true, false);
    for c in message.chars() {
        if c == '.' && line_start {
            out.push('.');
        }
        out.push(c);
        line_start = after_cr && c == '\n';
        after_cr = c == '\r';
    }
    out.push_str("\r\n.\r\n");
    out
}

/// Sorts a lettre error into what an operator can act on.
fn classify(error: &lettre::transport::smtp::Error, config: &SmtpConfig) -> SmtpFailure {
    let login = config.login.as_ref();
    if let Some(code) = error.status() {
        // lettre keeps the reply text as the error's source.
        let reply = std::error::Error::source(error)
            .map(|text| scrub(&text.to_string(), login))
            .unwrap_or_default();
        let (number, category) = (u16::from(code), category(code));
        return match code.severity {
            Severity::TransientNegativeCompletion => SmtpFailure::Transient {
                code: number,
                category,
                reply,
            },
            _ => SmtpFailure::Permanent {
                code: number,
                category,
                reply,
            },
        };
    }
    let detail = scrub(&error.to_string(), login);
    if error.is_timeout() || is_socket_timeout(error) {
        SmtpFailure::Timeout {
            secs: config.timeout.as_secs(),
        }
    } else if error.is_tls() || (config.tls != SmtpTls::None && is_tls_io(error)) {
        SmtpFailure::Tls {
            mode: config.tls,
            detail,
        }
    } else if error.is_client() || error.is_response() {
        SmtpFailure::Protocol { detail }
    } else {
        SmtpFailure::Connection { detail }
    }
}

/// A read or write that ran past the socket's timeout: lettre files it as a network error,
/// and Linux reports it as `EAGAIN` ("Resource temporarily unavailable"), not as timed out.
fn is_socket_timeout(error: &lettre::transport::smtp::Error) -> bool {
    has_io_error(
        error,
        &[std::io::ErrorKind::WouldBlock, std::io::ErrorKind::TimedOut],
    )
}

/// A handshake that fails inside rustls surfaces as an I/O error wrapping a `rustls::Error`
/// (lettre files it under network or connection); find it so the message can point at `tls`.
fn is_tls_io(error: &lettre::transport::smtp::Error) -> bool {
    has_io_error(error, &[std::io::ErrorKind::InvalidData])
}

/// Whether an I/O error of one of `kinds` is among `error`'s causes.
fn has_io_error(error: &lettre::transport::smtp::Error, kinds: &[std::io::ErrorKind]) -> bool {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>()
            && kinds.contains(&io.kind())
        {
            return true;
        }
        source = cause.source();
    }
    false
}

/// The reply code's second digit (RFC 5321 4.2.1), or what the code means
/// when it is one of the authentication replies.
fn category(code: Code) -> &'static str {
    if matches!(u16::from(code), 454 | 530 | 534 | 535 | 538) {
        return "authentication";
    }
    match code.category {
        Category::Syntax => "syntax",
        Category::Information => "information",
        Category::Connections => "connection",
        Category::MailSystem => "mail system",
        Category::Unspecified3 | Category::Unspecified4 => "unspecified",
    }
}

/// Makes relay replies and library messages safe to log and store: the password in every form
/// it was sent in (raw, base64 for AUTH LOGIN, the base64 AUTH PLAIN response) becomes
/// `[redacted]`, control characters become spaces, and the text is cut to
/// [`MAX_DETAIL_CHARS`]. A relay echoing a command it did not like would otherwise put the
/// credentials into the log and the outbox table.
fn scrub(text: &str, login: Option<&SmtpLogin>) -> String {
    let controls_to_spaces = |text: &str| -> String {
        text.chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect()
    };
    let mut text = text.to_owned();
    if let Some(login) = login
        && let Some(password) = login.password.secret()
    {
        let password = password.expose();
        // Wrapped as secrets so they are wiped when dropped, like the password itself. The
        // raw forms go first, before control characters are replaced, so a password holding
        // one (a trailing newline from `{ env = … }`) still matches; the replaced form catches
        // it in text that had been cleaned already.
        let forms = [
            Secret::new(BASE64.encode(format!("\0{}\0{password}", login.username))),
            Secret::new(BASE64.encode(password)),
            Secret::new(password.to_owned()),
            Secret::new(controls_to_spaces(password)),
            Secret::new(password.trim().to_owned()),
        ];
        for form in &forms {
            if !form.expose().is_empty() && text.contains(form.expose()) {
                text = text.replace(form.expose(), "[redacted]");
            }
        }
    }
    let text = controls_to_spaces(&text);
    let text = text.trim();
    match text.char_indices().nth(MAX_DETAIL_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    const PASSWORD: &str = "hunter2-correct-horse";

    fn config(tls: SmtpTls) -> SmtpConfig {
        SmtpConfig {
            host: "smtp.example.com".into(),
            port: tls.default_port(),
            tls,
            login: Some(SmtpLogin {
                username: "dutywatch".into(),
                password: SmtpPassword::Read(Arc::new(Secret::new(PASSWORD.into()))),
            }),
            timeout: Duration::from_secs(30),
        }
    }

    #[test]
    fn scrub_removes_every_form_of_the_password() {
        let config = config(SmtpTls::Starttls);
        let plain = BASE64.encode(format!("\0dutywatch\0{PASSWORD}"));
        let login = BASE64.encode(PASSWORD);
        let reply =
            format!("500 5.5.2 unrecognized: AUTH PLAIN {plain}\r\nor {login} or {PASSWORD}");
        let scrubbed = scrub(&reply, config.login.as_ref());
        assert_eq!(
            scrubbed,
            "500 5.5.2 unrecognized: AUTH PLAIN [redacted]  or [redacted] or [redacted]"
        );
    }

    #[test]
    fn scrub_finds_a_password_that_holds_control_characters() {
        let login = SmtpLogin {
            username: "dutywatch".into(),
            password: SmtpPassword::Read(Arc::new(Secret::new("pw\tsecret\n".into()))),
        };
        for reply in [
            "535 rejected pw\tsecret\n for dutywatch",
            "535 rejected pw secret  for dutywatch",
            "535 rejected pw\tsecret for dutywatch",
        ] {
            let scrubbed = scrub(reply, Some(&login));
            assert!(!scrubbed.contains("secret"), "{reply:?} -> {scrubbed}");
            assert!(scrubbed.contains("[redacted]"), "{scrubbed}");
        }
    }

    #[test]
    fn the_payload_is_dot_stuffed_and_ends_data_like_lettre() {
        assert_eq!(dot_stuffed("a\r\nb"), "a\r\nb\r\n.\r\n");
        assert_eq!(
            dot_stuffed(".x\r\n.\r\n..y\r\nz.\r\n"),
            "..x\r\n..\r\n...y\r\nz.\r\n\r\n.\r\n"
        );
        // Only CRLF starts a line, as in lettre's codec.
        assert_eq!(dot_stuffed("a\n.b\r.c"), "a\n.b\r.c\r\n.\r\n");
        assert_eq!(dot_stuffed("a\r\r\n.b"), "a\r\r\n..b\r\n.\r\n");
    }

    #[test]
    fn scrub_cuts_long_replies() {
        let scrubbed = scrub(&"x".repeat(1000), None);
        assert_eq!(scrubbed.chars().count(), MAX_DETAIL_CHARS + 1);
        assert!(scrubbed.ends_with('…'));
    }

    #[test]
    fn reply_codes_name_their_category() {
        let code = |text: &str| -> Code {
            format!("{text} x\r\n")
                .parse::<lettre::transport::smtp::response::Response>()
                .unwrap()
                .code()
        };
        assert_eq!(category(code("550")), "mail system");
        assert_eq!(category(code("451")), "mail system");
        assert_eq!(category(code("421")), "connection");
        assert_eq!(category(code("535")), "authentication");
        assert_eq!(category(code("501")), "syntax");
    }

    #[test]
    fn a_relay_that_never_answers_the_end_of_a_message_is_a_timeout_said_as_such() {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        // Answers everything up to the message's final dot, then says nothing (and keeps the
        // connection open until the client gives up).
        let relay = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut out = stream.try_clone().unwrap();
            let mut lines = BufReader::new(stream);
            out.write_all(b"220 relay ESMTP\r\n").unwrap();
            let mut line = String::new();
            let mut in_data = false;
            loop {
                line.clear();
                if lines.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                if in_data {
                    if line == ".\r\n" {
                        // Wait for the client to hang up.
                        let _ = lines.read_line(&mut line);
                        return;
                    }
                    continue;
                }
                let reply: &[u8] = match line.get(..4).map(str::to_ascii_uppercase).as_deref() {
                    Some("EHLO") => b"250 relay\r\n",
                    Some("DATA") => {
                        in_data = true;
                        b"354 go on\r\n"
                    }
                    Some("QUIT") => return,
                    _ => b"250 ok\r\n",
                };
                out.write_all(reply).unwrap();
            }
        });
        let config = SmtpConfig {
            host: "127.0.0.1".into(),
            port,
            tls: SmtpTls::None,
            login: None,
            timeout: Duration::from_secs(1),
        };
        let mailer = SmtpMailer::new("dutywatch@acme.example".parse().unwrap(), &config);
        let mail = OutgoingMail {
            to: vec!["it@acme.example".into()],
            cc: Vec::new(),
            subject: "s".into(),
            body: "b".into(),
            html: None,
            thread: crate::store::MailThread::default(),
        };
        let error = mailer
            .send(&mail, "<m@acme.example>", &["it@acme.example".to_owned()])
            .expect_err("no answer to the final dot");
        let text = error.to_string();
        assert!(text.contains("no answer within 1s"), "{text}");
        assert!(text.contains("may have taken it"), "{text}");
        assert!(!text.contains("temporarily unavailable"), "{text}");
        relay.join().unwrap();
    }

    #[test]
    fn session_failures_stop_the_batch_message_failures_do_not() {
        let failure = |code| SmtpFailure::Permanent {
            code,
            category: "",
            reply: String::new(),
        };
        assert!(failure(535).affects_every_mail());
        assert!(!failure(550).affects_every_mail());
        assert!(
            SmtpFailure::Timeout { secs: 30 }.affects_every_mail(),
            "one timeout per mail would stall the scheduler"
        );
    }

    #[test]
    fn debug_names_the_relay_not_the_password() {
        let from: Mailbox = "dutywatch@acme.example".parse().unwrap();
        for tls in [SmtpTls::Starttls, SmtpTls::Implicit, SmtpTls::None] {
            let mailer = SmtpMailer::new(from.clone(), &config(tls));
            let debug = format!("{mailer:?} {mailer:#?}");
            assert!(!debug.contains(PASSWORD), "{debug}");
            assert!(debug.contains("smtp.example.com:"), "{debug}");
        }
    }

    #[test]
    fn messages_say_whether_retrying_helps() {
        let transient = SmtpFailure::Transient {
            code: 451,
            category: "mail system",
            reply: "4.3.0 try later".into(),
        };
        assert_eq!(
            transient.to_string(),
            "deferred with 451 (mail system): 4.3.0 try later; transient, will be retried"
        );
        let permanent = SmtpFailure::Permanent {
            code: 535,
            category: "authentication",
            reply: "5.7.8 credentials invalid".into(),
        };
        assert!(
            permanent.to_string().starts_with(
                "rejected with 535 (authentication): 5.7.8 credentials invalid; permanent"
            ),
            "{permanent}"
        );
    }
}
