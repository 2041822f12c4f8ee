//! Secrets named by the config and resolved at startup.
//!
//! Configs only say where a secret is (`password = { credential = "smtp-password" }`), so a
//! config file can be shared, diffed and attached to a ticket. Under systemd the place is a
//! credential (`LoadCredential=` puts it in `$CREDENTIALS_DIRECTORY`); files and environment
//! variables are for development runs.

use std::fmt;
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Largest secret we read. A password or client secret is far smaller; the cap stops a
/// mistyped path (`/dev/zero`, a log file) from being slurped into memory.
const MAX_SECRET_BYTES: u64 = 64 * 1024;

/// Where a secret comes from; configs never hold a literal secret.
///
/// TOML: `password = { env = "SMTP_PASSWORD" }`, `{ file = "/etc/dutywatch/smtp-password" }`
/// or `{ credential = "smtp-password" }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretRef {
    /// An environment variable, used verbatim. Development only: under systemd, environment
    /// variables leak into `systemctl show` and child processes; use `Credential`.
    Env(String),
    /// A file; one trailing newline is stripped.
    File(PathBuf),
    /// A systemd credential id, read from `$CREDENTIALS_DIRECTORY/<id>`; one trailing newline
    /// is stripped.
    Credential(String),
}

/// What to write instead of a literal secret; every deserialize error says it.
const SECRET_FORMS: &str = "where to find the secret: { credential = \"smtp-password\" } (systemd LoadCredential=), { file = \"/path\" } or { env = \"VAR\" }";

/// Hand-written so that no error repeats what was written: a plain value in a secret's place is
/// most likely the secret itself, and serde's stock messages (`unknown variant `hunter2``,
/// `invalid type: integer `1234``) would carry it into `check-config` output and the journal.
impl<'de> serde::Deserialize<'de> for SecretRef {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<SecretRef, D::Error> {
        deserializer.deserialize_any(SecretRefVisitor)
    }
}

struct SecretRefVisitor;

impl SecretRefVisitor {
    fn literal<E: serde::de::Error>(what: &str) -> E {
        E::custom(format_args!(
            "a secret is never written into the config, and this {what} (not repeated here) \
             looks like one; remove it from the file and write {SECRET_FORMS}"
        ))
    }
}

impl<'de> serde::de::Visitor<'de> for SecretRefVisitor {
    type Value = SecretRef;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(SECRET_FORMS)
    }

    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<SecretRef, E> {
        Err(Self::literal("text"))
    }

    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<SecretRef, E> {
        Err(Self::literal("number"))
    }

    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<SecretRef, E> {
        Err(Self::literal("number"))
    }

    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<SecretRef, E> {
        Err(Self::literal("number"))
    }

    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<SecretRef, E> {
        Err(Self::literal("value"))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, _: A) -> Result<SecretRef, A::Error> {
        Err(Self::literal("list"))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<SecretRef, A::Error> {
        use serde::de::Error as _;
        const FORMS: &[&str] = &["credential", "file", "env"];
        let Some(form) = map.next_key::<String>()? else {
            return Err(A::Error::custom(format_args!(
                "the table is empty; write {SECRET_FORMS}"
            )));
        };
        let secret = match form.as_str() {
            "env" => SecretRef::Env(map.next_value()?),
            "file" => SecretRef::File(map.next_value()?),
            "credential" => SecretRef::Credential(map.next_value()?),
            // Not `unknown_field`: it would quote the key, which may be the secret itself
            // (`password = { hunter2 = "" }`).
            _ => {
                return Err(A::Error::custom(format_args!(
                    "the table must hold one of {}, and this key (not repeated here) is none of them; write {SECRET_FORMS}",
                    FORMS.join(", ")
                )));
            }
        };
        if map.next_key::<String>()?.is_some() {
            return Err(A::Error::custom(format_args!(
                "give one place, not several; write {SECRET_FORMS}"
            )));
        }
        Ok(secret)
    }
}

impl fmt::Display for SecretRef {
    /// Names the source, never the value: used in error messages and logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Env(name) => write!(f, "environment variable {name}"),
            Self::File(path) => write!(f, "secret file {}", path.display()),
            Self::Credential(name) => write!(f, "credential {name}"),
        }
    }
}

/// Why a secret could not be resolved. Names the source and the cause, never the value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("environment variable {name} is not set or not valid utf-8")]
    MissingEnv { name: String },
    // The OS reason is in the message (not a `#[source]`): the config's errors print
    // the message alone, and without it a missing file and a closed one read the same.
    #[error("cannot read secret file `{}`: {reason}", path.display())]
    ReadFile { path: PathBuf, reason: io::Error },
    #[error(
        "credential {name} needs $CREDENTIALS_DIRECTORY, which is not set; \
         add LoadCredential={name}:<path> to the systemd unit"
    )]
    NoCredentialsDirectory { name: String },
    #[error("credential name {name:?} must be a plain file name (no '/', not '.' or '..')")]
    InvalidCredentialName { name: String },
    #[error(
        "cannot read credential {name} from `{}`: {reason} (check LoadCredential={name}:<path> in the systemd unit)",
        path.display()
    )]
    ReadCredential {
        name: String,
        path: PathBuf,
        reason: io::Error,
    },
    #[error("{origin} is larger than {} bytes", MAX_SECRET_BYTES)]
    TooLarge { origin: SecretRef },
    #[error("{origin} is not valid utf-8")]
    NotUtf8 { origin: SecretRef },
    #[error("{origin} is empty")]
    Empty { origin: SecretRef },
}

/// A resolved secret value.
///
/// `Debug` and `Display` print `[redacted]`, so a secret inside a logged struct or error stays
/// hidden; call [`Secret::expose`] only where the value is handed to a client library. Not
/// `Clone`, to keep copies few; share it behind an `Arc`.
pub struct Secret(String);

impl Secret {
    /// Wraps a value obtained elsewhere (tests, a future secret store).
    pub fn new(value: String) -> Self {
        Self(value)
    }

    /// The value, for the one place that must send it (SMTP login, token request).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Drop for Secret {
    /// Zeroes the buffer so the value does not linger in freed heap memory. Best effort:
    /// without `unsafe` volatile writes the compiler is only discouraged (via `black_box`)
    /// from dropping the stores, and copies made by client libraries are out of our reach.
    fn drop(&mut self) {
        wipe(std::mem::take(&mut self.0).into_bytes());
    }
}

/// Overwrites the whole allocation, spare capacity included, then frees it.
fn wipe(mut bytes: Vec<u8>) {
    let capacity = bytes.capacity();
    bytes.clear();
    bytes.resize(capacity, 0);
    std::hint::black_box(&bytes);
}

impl SecretRef {
    /// A relative `{ file = … }` is read from the config's directory (`base`), as every other
    /// path in the config is, not from wherever the command happens to run.
    pub fn relative_to(&self, base: &Path) -> SecretRef {
        match self {
            SecretRef::File(path) if path.is_relative() => SecretRef::File(base.join(path)),
            other => other.clone(),
        }
    }

    /// Resolves against the process environment.
    pub fn resolve(&self) -> Result<Secret, SecretError> {
        self.resolve_with(&|name| std::env::var(name).ok())
    }

    /// Resolves with `env` standing in for the process environment (for `Env` and for
    /// `$CREDENTIALS_DIRECTORY`), so tests need not mutate global state.
    pub fn resolve_with(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Secret, SecretError> {
        let value = match self {
            Self::Env(name) => {
                env(name).ok_or_else(|| SecretError::MissingEnv { name: name.clone() })?
            }
            Self::File(path) => {
                warn_if_world_readable(path);
                read_secret(path, self).map_err(|error| match error {
                    ReadError::Io(reason) => SecretError::ReadFile {
                        path: path.clone(),
                        reason,
                    },
                    ReadError::Secret(error) => error,
                })?
            }
            Self::Credential(name) => {
                if !is_plain_file_name(name) {
                    return Err(SecretError::InvalidCredentialName { name: name.clone() });
                }
                let dir = env("CREDENTIALS_DIRECTORY")
                    .filter(|dir| !dir.is_empty())
                    .ok_or_else(|| SecretError::NoCredentialsDirectory { name: name.clone() })?;
                let path = Path::new(&dir).join(name);
                read_secret(&path, self).map_err(|error| match error {
                    ReadError::Io(reason) => SecretError::ReadCredential {
                        name: name.clone(),
                        path,
                        reason,
                    },
                    ReadError::Secret(error) => error,
                })?
            }
        };
        if value.is_empty() {
            return Err(SecretError::Empty {
                origin: self.clone(),
            });
        }
        Ok(Secret(value))
    }
}

/// A credential id names one file in `$CREDENTIALS_DIRECTORY`; anything else would let a config
/// reach outside it.
fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\0'])
}

enum ReadError {
    Io(io::Error),
    Secret(SecretError),
}

/// Reads at most [`MAX_SECRET_BYTES`], strips one trailing newline (`\n` or `\r\n`) and wipes
/// the buffer on every error path.
fn read_secret(path: &Path, origin: &SecretRef) -> Result<String, ReadError> {
    let file = fs::File::open(path).map_err(ReadError::Io)?;
    let size_hint = file
        .metadata()
        .map_or(0, |meta| meta.len())
        .min(MAX_SECRET_BYTES);
    // Sized up front so reading does not reallocate and leave copies in freed memory.
    let mut bytes = Vec::with_capacity(usize::try_from(size_hint).unwrap_or(0) + 1);
    if let Err(error) = file.take(MAX_SECRET_BYTES + 1).read_to_end(&mut bytes) {
        wipe(bytes);
        return Err(ReadError::Io(error));
    }
    if bytes.len() as u64 > MAX_SECRET_BYTES {
        wipe(bytes);
        return Err(ReadError::Secret(SecretError::TooLarge {
            origin: origin.clone(),
        }));
    }
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
    }
    String::from_utf8(bytes).map_err(|error| {
        wipe(error.into_bytes());
        ReadError::Secret(SecretError::NotUtf8 {
            origin: origin.clone(),
        })
    })
}

/// The secret files said to be world-readable since the config was last loaded.
static SAID_WORLD_READABLE: std::sync::Mutex<Vec<std::path::PathBuf>> =
    std::sync::Mutex::new(Vec::new());

/// A secret file others can read is an access-control finding (NIST SP 800-171 3.1.1) on the
/// very system that checks them; say so, but keep going. Said at error level, so one-shot
/// commands (which log errors only) say it too, and once per file per load of the config: a
/// secret shared by a dozen sources is one finding, and a reload says it again.
fn warn_if_world_readable(path: &Path) {
    if let Ok(meta) = fs::metadata(path)
        && meta.permissions().mode() & 0o004 != 0
    {
        let mut said = SAID_WORLD_READABLE
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if said.iter().any(|p| p == path) {
            return;
        }
        said.push(path.to_owned());
        tracing::error!(
            name: "SecretFileModeWarning",
            path = %path.display(),
            "secret file is world-readable; chmod 0600 it or use a systemd credential"
        );
    }
}

/// Forgets which secret files were said to be world-readable, so reading them again says it
/// again: a reload is when an operator reads what the new config brought, and a file still
/// open to everyone is still a finding.
pub fn say_world_readable_again() {
    SAID_WORLD_READABLE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clear();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const VALUE: &str = "hunter2-correct-horse";

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn write(dir: &Path, name: &str, contents: &[u8]) -> PathBuf {
        let path = dir.join(name);
        fs::write(&path, contents).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        path
    }

    /// Neither the message chain nor `Debug` may contain the value.
    fn assert_no_value(error: &SecretError) {
        let mut text = format!("{error} {error:?}");
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        assert!(!text.contains(VALUE), "{text}");
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Smtp {
        password: SecretRef,
    }

    #[test]
    fn parses_each_kind_from_toml() {
        let parse = |text: &str| toml::from_str::<Smtp>(text).map(|smtp| smtp.password);
        assert_eq!(
            parse(r#"password = { env = "SMTP_PASSWORD" }"#).unwrap(),
            SecretRef::Env("SMTP_PASSWORD".into())
        );
        assert_eq!(
            parse(r#"password = { file = "/etc/dutywatch/smtp-password" }"#).unwrap(),
            SecretRef::File("/etc/dutywatch/smtp-password".into())
        );
        assert_eq!(
            parse(r#"password = { credential = "smtp-password" }"#).unwrap(),
            SecretRef::Credential("smtp-password".into())
        );
        assert!(parse(r#"password = { vault = "x" }"#).is_err());
        assert!(parse(r#"password = { env = "A", file = "/b" }"#).is_err());
        assert!(parse(r#"password = {}"#).is_err());
    }

    #[test]
    fn a_literal_in_a_secrets_place_is_refused_without_being_repeated() {
        for (text, secret) in [
            (
                r#"password = "hunter2-correct-horse""#,
                "hunter2-correct-horse",
            ),
            ("password = 80474112", "80474112"),
            (
                r#"password = ["hunter2-correct-horse"]"#,
                "hunter2-correct-horse",
            ),
            (r#"password = { env = "A", hunter2 = "x" }"#, "hunter2"),
            (r#"password = { hunter2 = "x" }"#, "hunter2"),
        ] {
            // The config loader reports `message()`: toml's own Display quotes the source line.
            let error = toml::from_str::<Smtp>(text).unwrap_err();
            let shown = error.message();
            assert!(!shown.contains(secret), "{text}: {shown}");
            assert!(
                shown.contains("credential = \"smtp-password\""),
                "says what to write: {shown}"
            );
        }
    }

    #[test]
    fn env_is_used_verbatim() {
        let secret = SecretRef::Env("SMTP_PASSWORD".into())
            .resolve_with(&env_of(&[("SMTP_PASSWORD", "pw\n")]))
            .unwrap();
        assert_eq!(secret.expose(), "pw\n");
    }

    #[test]
    fn missing_env_names_the_variable() {
        let error = SecretRef::Env("SMTP_PASSWORD".into())
            .resolve_with(&env_of(&[]))
            .unwrap_err();
        assert!(matches!(error, SecretError::MissingEnv { .. }));
        assert_eq!(
            error.to_string(),
            "environment variable SMTP_PASSWORD is not set or not valid utf-8"
        );
    }

    #[test]
    fn empty_env_is_an_error() {
        let error = SecretRef::Env("SMTP_PASSWORD".into())
            .resolve_with(&env_of(&[("SMTP_PASSWORD", "")]))
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "environment variable SMTP_PASSWORD is empty"
        );
    }

    #[test]
    fn file_strips_exactly_one_trailing_newline() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            ("plain", VALUE.to_owned(), VALUE.to_owned()),
            ("lf", format!("{VALUE}\n"), VALUE.to_owned()),
            ("crlf", format!("{VALUE}\r\n"), VALUE.to_owned()),
            ("two", format!("{VALUE}\n\n"), format!("{VALUE}\n")),
            ("inner", format!(" {VALUE} x\n"), format!(" {VALUE} x")),
        ];
        for (name, contents, expected) in cases {
            let path = write(dir.path(), name, contents.as_bytes());
            let secret = SecretRef::File(path).resolve_with(&env_of(&[])).unwrap();
            assert_eq!(secret.expose(), expected, "{name}");
        }
    }

    #[test]
    fn missing_file_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope");
        let error = SecretRef::File(path.clone())
            .resolve_with(&env_of(&[]))
            .unwrap_err();
        assert!(
            matches!(&error, SecretError::ReadFile { reason, .. } if reason.kind() == io::ErrorKind::NotFound)
        );
        // The path and the OS's reason, as for a CRM file that does not read.
        assert_eq!(
            error.to_string(),
            format!(
                "cannot read secret file `{}`: No such file or directory (os error 2)",
                path.display()
            )
        );
    }

    #[test]
    fn empty_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        for (name, contents) in [("empty", &b""[..]), ("newline", &b"\n"[..])] {
            let path = write(dir.path(), name, contents);
            let error = SecretRef::File(path)
                .resolve_with(&env_of(&[]))
                .unwrap_err();
            assert!(
                matches!(error, SecretError::Empty { .. }),
                "{name}: {error}"
            );
        }
    }

    #[test]
    fn oversized_or_binary_file_is_rejected_without_echoing_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut big = VALUE.as_bytes().to_vec();
        big.resize(usize::try_from(MAX_SECRET_BYTES).unwrap() + 1, b'x');
        let path = write(dir.path(), "big", &big);
        let error = SecretRef::File(path)
            .resolve_with(&env_of(&[]))
            .unwrap_err();
        assert!(matches!(error, SecretError::TooLarge { .. }), "{error}");
        assert_no_value(&error);

        let mut binary = VALUE.as_bytes().to_vec();
        binary.push(0xff);
        let path = write(dir.path(), "binary", &binary);
        let error = SecretRef::File(path.clone())
            .resolve_with(&env_of(&[]))
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("secret file {} is not valid utf-8", path.display())
        );
        assert_no_value(&error);
    }

    #[test]
    fn credential_reads_from_credentials_directory() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "smtp-password", format!("{VALUE}\n").as_bytes());
        let env = env_of(&[("CREDENTIALS_DIRECTORY", dir.path().to_str().unwrap())]);
        let secret = SecretRef::Credential("smtp-password".into())
            .resolve_with(&env)
            .unwrap();
        assert_eq!(secret.expose(), VALUE);
    }

    #[test]
    fn credential_without_directory_points_at_load_credential() {
        for env in [env_of(&[]), env_of(&[("CREDENTIALS_DIRECTORY", "")])] {
            let error = SecretRef::Credential("smtp-password".into())
                .resolve_with(&env)
                .unwrap_err();
            assert!(matches!(error, SecretError::NoCredentialsDirectory { .. }));
            assert!(
                error
                    .to_string()
                    .contains("add LoadCredential=smtp-password:<path> to the systemd unit"),
                "{error}"
            );
        }
    }

    #[test]
    fn missing_credential_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let env = env_of(&[("CREDENTIALS_DIRECTORY", dir.path().to_str().unwrap())]);
        let error = SecretRef::Credential("smtp-password".into())
            .resolve_with(&env)
            .unwrap_err();
        assert!(matches!(error, SecretError::ReadCredential { .. }));
        assert!(
            error
                .to_string()
                .starts_with("cannot read credential smtp-password from "),
            "{error}"
        );
    }

    #[test]
    fn credential_name_cannot_leave_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let env = env_of(&[("CREDENTIALS_DIRECTORY", dir.path().to_str().unwrap())]);
        for name in ["", ".", "..", "../etc/shadow", "a/b", "/etc/shadow"] {
            let error = SecretRef::Credential(name.into())
                .resolve_with(&env)
                .unwrap_err();
            assert!(
                matches!(error, SecretError::InvalidCredentialName { .. }),
                "{name}: {error}"
            );
        }
    }

    #[test]
    fn debug_and_display_are_redacted() {
        let secret = Secret::new(VALUE.to_owned());
        assert_eq!(format!("{secret:?}"), "[redacted]");
        assert_eq!(format!("{secret}"), "[redacted]");
        #[derive(Debug)]
        // The fields are only ever read through Debug, which is the point.
        #[allow(dead_code)]
        struct Login {
            user: String,
            password: Secret,
        }
        let login = Login {
            user: "dutywatch".into(),
            password: secret,
        };
        let debug = format!("{login:?} {login:#?}");
        assert!(!debug.contains(VALUE), "{debug}");
        assert!(debug.contains("[redacted]"));
    }

    #[test]
    fn secret_ref_display_names_only_the_source() {
        assert_eq!(
            SecretRef::Credential("smtp-password".into()).to_string(),
            "credential smtp-password"
        );
        assert_eq!(
            SecretRef::Env("SMTP_PASSWORD".into()).to_string(),
            "environment variable SMTP_PASSWORD"
        );
    }
}
