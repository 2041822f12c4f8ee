//! Evidence added by hand (`dutywatch evidence add`, the demo's attestations): a file stored
//! as it is, with its SHA-256, who did the work and when, and for a verification of the MSP
//! what was looked at and what it found.

use std::path::Path;

use anyhow::{Context as _, bail};
use dutywatch_checks::evidence::EvidenceId;
use dutywatch_checks::library::{self, Outcome};
use jiff::Timestamp;
use sha2::Digest as _;

use crate::config::{Contractor, MANUAL_SOURCE};
use crate::engine::evidence_source;
use crate::sources;
use crate::store::{NewEvidence, Store};

/// What `evidence add` says about the file beyond the file itself.
#[derive(Debug, Clone, Default)]
pub struct ManualNote {
    pub note: Option<String>,
    /// Who did the work; default the login name.
    pub by: Option<String>,
    /// When the work was done; default now.
    pub done_at: Option<Timestamp>,
    /// `--looked-at` and `--outcome`, for a verification of the MSP.
    pub verification: (Option<String>, Option<Outcome>),
}

/// What [`add`] stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Added {
    pub id: EvidenceId,
    /// The file's name, as the artifact list shows it.
    pub name: String,
    pub sha256: String,
    pub done_at: Timestamp,
    pub by: String,
}

/// Why a file with nothing in it (or only blanks) is not evidence of work done.
pub const EMPTY: &str = "is empty: a file with nothing in it proves nothing; add the evidence itself (the report, the export, the signed record)";

/// Stores `file` as hand-added evidence of `duty_id` as of `now`, refusing a duty that does
/// not take it, a verification without what was looked at and found, a FIFO, a device, an
/// empty file or one over the limit, and work dated in the future.
pub fn add(
    store: &mut Store,
    contractor: &Contractor,
    duty_id: &str,
    file: &Path,
    manual: ManualNote,
    now: Timestamp,
) -> anyhow::Result<Added> {
    let ManualNote {
        note,
        by,
        done_at,
        verification,
    } = manual;
    let duty = contractor
        .duty(duty_id)
        .with_context(|| format!("no duty `{duty_id}` for contractor `{}`", contractor.id))?;
    if duty.source != MANUAL_SOURCE {
        bail!(
            "duty `{duty_id}` reads evidence from source `{}`; only duties with source = \"{MANUAL_SOURCE}\" take hand-added evidence",
            duty.source
        );
    }
    let verification = match (library::is_verification(&duty.id), verification) {
        (true, (Some(looked_at), Some(outcome))) if !looked_at.trim().is_empty() => {
            Some((looked_at, outcome))
        }
        (true, _) => bail!(
            "duty `{duty_id}` is the contractor's verification of the MSP: say what was looked at and what it found, e.g. --looked-at \"the MSP's October patch report\" --outcome satisfied (or not-satisfied, which records the finding and leaves the duty open)"
        ),
        (false, (None, None)) => None,
        (false, _) => bail!(
            "--looked-at and --outcome record a verification of the MSP; duty `{duty_id}` is not one (verification duties are named `ver-…`, see `dutywatch duties plan`)"
        ),
    };
    // A FIFO would block the read forever, a device never end, and a huge
    // file would be stored whole: refused before anything is read.
    let payload = sources::read_bounded(
        file,
        crate::config::DEFAULT_MAX_BYTES,
        "hand-added evidence is limited to 64 MiB; add a summary or an excerpt of the evidence instead",
    )?;
    if dutywatch_checks::decode::is_blank(&payload) {
        bail!("{} {EMPTY}", file.display());
    }
    let done_at = done_at.unwrap_or(now);
    if done_at > now {
        bail!("--done-at {done_at} is in the future; evidence records work already done");
    }
    let by = by
        .or_else(|| std::env::var("SUDO_USER").ok())
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "unknown".to_owned());
    let name = file.file_name().map_or_else(
        || file.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let origin = sources::manual_origin(
        &name,
        &by,
        note.as_deref(),
        verification
            .as_ref()
            .map(|(looked_at, outcome)| (looked_at.trim(), *outcome)),
    );
    let media_type = match file
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("pdf") => "application/pdf",
        Some("csv") => "text/csv",
        Some("json") => "application/json",
        Some("txt") => "text/plain",
        _ => "application/octet-stream",
    };
    let source = evidence_source(duty);
    let id = store.add_evidence(&NewEvidence {
        client: &contractor.id,
        source: &source,
        fetched_at: now,
        effective_at: Timestamp::from_second(done_at.as_second())?,
        media_type,
        origin: &origin,
        payload: &payload,
    })?;
    Ok(Added {
        id,
        name,
        sha256: hex::encode(sha2::Sha256::digest(&payload)),
        done_at,
        by,
    })
}
