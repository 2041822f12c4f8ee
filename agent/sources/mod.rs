//! Evidence collectors. Each kind turns its configuration into raw bytes
//! plus the instant they speak for; parsing those bytes into records is
//! kept separate so stored evidence can be re-read exactly as received.

mod arm;
mod connector;
mod elastic;
pub(crate) mod file;
mod graph;
pub mod http;
mod http_json;
mod ninjaone;
mod splunk;

pub use file::read_bounded;
pub(crate) use file::{closed_folder, newest_match};

use dutywatch_checks::library::Outcome;
use dutywatch_checks::read::{self, Parsed};
use jiff::Timestamp;

pub use dutywatch_checks::read::ReadError;

use crate::config::{FileFormat, Source, SourceKind, describe_size};
pub use http::{Cancel, Http, HttpPolicy};

/// What one successful collection produced, before it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collected {
    pub effective_at: Timestamp,
    pub media_type: &'static str,
    /// Where it came from, for the assessor: a file path, an API URL.
    pub origin: String,
    pub payload: Vec<u8>,
}

/// Why a collection failed. The text lands in verdicts and mails, so it
/// names the file and the place in it, and never holds a secret.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("no file matches `{pattern}`")]
    NoMatch { pattern: String },
    /// The OS error is part of the text (verdicts and mails show the text alone), so it is
    /// not also the error's `source`, which a chain of causes would print a second time.
    #[error("cannot read `{path}`: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("`{path}` is {what}, not a regular file; evidence is read only from regular files")]
    NotAFile { path: String, what: &'static str },
    #[error(
        "`{path}` is {}, over the limit of {}; {raise}",
        size.map_or_else(|| "larger than that (it grew while being read)".to_owned(), describe_size),
        describe_size(*limit)
    )]
    TooLarge {
        path: String,
        /// From its metadata; `None` when it grew past the limit while read.
        size: Option<u64>,
        limit: u64,
        /// How to raise the limit.
        raise: String,
    },
    /// An API source failed: the request, the page and what the server said, never a
    /// secret or a token.
    #[error("{message}")]
    Api { message: String },
    #[error(transparent)]
    Unreadable(#[from] ReadError),
}

/// Runs one collection for `source` as of `now`, API sources through `http`.
pub fn collect(source: &Source, http: &Http, now: Timestamp) -> Result<Collected, CollectError> {
    collect_parsed(source, http, now).map(|(collected, _)| collected)
}

/// [`collect`], also handing back the records the collection was read into.
pub fn collect_parsed(
    source: &Source,
    http: &Http,
    now: Timestamp,
) -> Result<(Collected, Parsed), CollectError> {
    let collected = collect_unparsed(source, http, now, None)?;
    // Refuse evidence we could not read later: a half-written, empty or malformed export,
    // or one none of whose records is of the source's kind, is a failed collection, not
    // evidence.
    let parsed = read_evidence(source, &collected.origin, &collected.payload)?;
    Ok((collected, parsed))
}

/// The bytes of one collection, not yet read: the caller must refuse them unless
/// [`read_evidence`] reads them (as [`collect_parsed`] does), or it knows it has read the
/// same bytes for this source before (the engine's parse cache). For a file source, `stamp`
/// names the file to read when the caller took its stamp already (`file::stamp`), so the
/// stamp it keeps is the stamp of what was read.
pub fn collect_unparsed(
    source: &Source,
    http: &Http,
    now: Timestamp,
    stamp: Option<&file::FileStamp>,
) -> Result<Collected, CollectError> {
    Ok(match &source.kind {
        SourceKind::Graph(graph) => graph::collect(source, graph, http, now)?,
        SourceKind::Arm(arm) => arm::collect(source, arm, http, now)?,
        SourceKind::Connector(connector) => connector::collect(source, connector, http, now)?,
        SourceKind::File {
            pattern, format, ..
        } => {
            let raise = format!(
                "if exports this large are expected, raise `max_bytes` on source `{}` above the file's size (reading takes about three times it in memory)",
                source.id
            );
            match stamp {
                Some(stamp) => file::collect_stamped(stamp, *format, source.max_bytes, &raise)?,
                None => file::collect(pattern, *format, source.max_bytes, &raise)?,
            }
        }
    })
}

/// Reads stored or collected bytes of `source` into records of its kind.
pub fn read_evidence(source: &Source, origin: &str, payload: &[u8]) -> Result<Parsed, ReadError> {
    let (format, records) = match &source.kind {
        SourceKind::File {
            format, records, ..
        } => (*format, records.as_ref()),
        SourceKind::Graph(_) | SourceKind::Arm(_) => (FileFormat::Json, None),
        SourceKind::Connector(connector) => {
            return connector::read(source, connector, origin, payload);
        }
    };
    // Log Analytics tables saved with their workspace (the `arm` source's document, or the
    // same two answers saved by hand): the effective retention needs both.
    if source.evidence.name == "log_table"
        && format == FileFormat::Json
        && records.is_none()
        && let Some(effective) = arm::retention::with_effective_retention(payload)
    {
        return read::read(format, None, origin, &effective, source.reader());
    }
    read::read(format, records, origin, payload, source.reader())
}

/// The single record a hand-added piece of evidence stands for. A verification of the MSP
/// carries its outcome at the end of its origin (`manual_origin`), the one place it is kept.
pub fn manual_record(completed_at: Timestamp, origin: &str, sha256: &str) -> serde_json::Value {
    let mut record = serde_json::json!({
        "completed_at": completed_at.to_string(),
        "origin": origin,
        "sha256": sha256,
    });
    let outcome = origin
        .strip_suffix(']')
        .and_then(|rest| rest.rsplit_once(OUTCOME_MARK))
        .map(|(_, outcome)| outcome)
        .filter(|outcome| {
            [Outcome::Satisfied, Outcome::NotSatisfied]
                .iter()
                .any(|known| known.as_str() == *outcome)
        });
    if let (Some(outcome), Some(fields)) = (outcome, record.as_object_mut()) {
        fields.insert("outcome".to_owned(), outcome.into());
    }
    record
}

const OUTCOME_MARK: &str = " [outcome: ";

/// The stored origin of hand-added evidence: the file, who added it, and for a verification
/// of the MSP what was looked at and what it found, the outcome last.
pub fn manual_origin(
    file_name: &str,
    by: &str,
    note: Option<&str>,
    verification: Option<(&str, Outcome)>,
) -> String {
    let mut origin = format!("manual: {file_name} added by {by}");
    if let Some((looked_at, _)) = verification {
        origin.push_str(&format!(": verified the MSP's part, looked at {looked_at}"));
    }
    if let Some(note) = note {
        origin.push_str(&format!(": {note}"));
    }
    if let Some((_, outcome)) = verification {
        origin.push_str(&format!("{OUTCOME_MARK}{}]", outcome.as_str()));
    }
    origin
}
