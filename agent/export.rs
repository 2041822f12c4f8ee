//! `dutywatch export --format csv --out DIR`: the assessor's package.
//!
//! Written from the same [`coverage`](crate::coverage) report `dutywatch coverage` prints:
//! `objectives.csv` (one row per objective and duty), `evidence.csv` (every evidence row the
//! current verdicts rest on), `artifacts.csv` (each evidence file's name and SHA-256, as the
//! DoD artifact hashing procedure lists them), `chain.txt` (the evidence chain head and whether
//! the chain is intact) and `README.txt`. Times are RFC 3339 UTC, with a column in the
//! configured zone next to those people read. `--format oscal` writes the same report as
//! OSCAL documents instead ([`oscal`]), `--format html` as one page ([`html`]).

pub mod html;
mod incidents;
pub mod oscal;

use std::path::Path;

use anyhow::Context as _;
use dutywatch_checks::incident::Outcome;
use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::coverage::{self, ClientCoverage, Coverage, EvidenceRow, local};
use crate::store::{ChainReport, Store};

/// Marks a directory as an export's own, so a later export may replace it.
pub const MARKER: &str = ".dutywatch-export";

/// The files an export writes.
pub const FILES: [&str; 7] = [
    "README.txt",
    "objectives.csv",
    "evidence.csv",
    "artifacts.csv",
    incidents::TIMELINE,
    incidents::DEADLINES,
    "chain.txt",
];

/// What [`export`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct Exported {
    pub coverage: Coverage,
    pub chain: ChainReport,
}

impl Exported {
    pub fn chain_intact(&self) -> bool {
        self.chain.broken.is_none()
    }
}

/// The header of `objectives.csv`.
pub const OBJECTIVE_COLUMNS: [&str; 16] = [
    "client",
    "objective",
    "requirement",
    "family",
    "owner",
    "contractor_responsibility",
    "msp_responsibility",
    "duty",
    "responsible",
    "state",
    "due",
    "due_local",
    "reason",
    "evidence",
    // Added after the columns above, so readers by position keep working. `yes` when this
    // duty's state shows the objective implemented now; a `state` alone does not say
    // (`due_soon` is implemented for a recurring duty inside its period, not for a failing
    // condition).
    "duty_shows_implemented",
    // `yes` when every duty watching the objective shows it implemented now (as coverage and
    // the SPRS projection decide it), else `no`.
    "objective_met",
];

/// Writes the CSV package of `client` (or every contractor) into `out` as of `now`. `out`
/// must be new, empty or an earlier export. A broken evidence chain still exports (and says
/// so on top of `chain.txt`): check [`Exported::chain_intact`].
pub fn export(
    config: &crate::config::Config,
    store: &Store,
    client: Option<&str>,
    out: &Path,
    now: Timestamp,
) -> anyhow::Result<Exported> {
    let (now, coverage, chain) = prepare(config, store, client, out, now)?;
    let zone = &config.timezone;
    write_objectives(&out.join("objectives.csv"), &coverage.clients, zone)?;
    let evidence: Vec<&EvidenceRow> = coverage
        .clients
        .iter()
        .flat_map(|c| c.evidence.iter())
        .collect();
    write_evidence(&out.join("evidence.csv"), &evidence, zone)?;
    write_artifacts(&out.join("artifacts.csv"), &evidence)?;
    let on_record = incidents::on_record(config, store, &coverage.clients, now)?;
    incidents::write(out, &on_record, zone)?;
    write(&out.join("chain.txt"), &chain_text(&chain, now))?;
    write(
        &out.join("README.txt"),
        &readme(&coverage, &chain, now, zone),
    )?;
    Ok(Exported { coverage, chain })
}

/// What every format starts from: `now` to the second, the coverage report, the chain as
/// verified now, and `out` cleared of an earlier export and marked as this one's.
fn prepare(
    config: &crate::config::Config,
    store: &Store,
    client: Option<&str>,
    out: &Path,
    now: Timestamp,
) -> anyhow::Result<(Timestamp, Coverage, ChainReport)> {
    let now = Timestamp::from_second(now.as_second())?;
    // An assessor's package does not rest on a damaged file: restore the backup first.
    store.ensure_undamaged()?;
    let coverage = coverage::coverage(config, store, client)?;
    let chain = store.verify_chain()?;
    crate::out_dir::clear_previous(out, MARKER, "dutywatch export")?;
    std::fs::create_dir_all(out).with_context(|| format!("creating `{}`", out.display()))?;
    std::fs::write(
        out.join(MARKER),
        "written by `dutywatch export`; replaced by the next export into this directory\n",
    )
    .with_context(|| format!("writing `{}`", out.join(MARKER).display()))?;
    Ok((now, coverage, chain))
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing `{}`", path.display()))
}

/// A CSV file of the package. A cell a spreadsheet would take for a formula (one beginning
/// with `=`, `+`, `-`, `@`, a tab or a carriage return) is written with a leading `'`: the text
/// of evidence (an incident title from Sentinel, a reason quoting a vendor's value) is not the
/// export's to run in an assessor's spreadsheet.
struct PackageCsv {
    path: std::path::PathBuf,
    writer: csv::Writer<std::fs::File>,
}

impl PackageCsv {
    fn create(path: &Path) -> anyhow::Result<PackageCsv> {
        Ok(PackageCsv {
            path: path.to_owned(),
            writer: csv::Writer::from_path(path)
                .with_context(|| format!("creating `{}`", path.display()))?,
        })
    }

    fn row<S: AsRef<str>>(&mut self, cells: impl IntoIterator<Item = S>) -> anyhow::Result<()> {
        let cells = cells
            .into_iter()
            .map(|cell| as_text(cell.as_ref()).into_owned());
        self.writer
            .write_record(cells.collect::<Vec<_>>())
            .with_context(|| format!("writing `{}`", self.path.display()))
    }

    fn finish(mut self) -> anyhow::Result<()> {
        self.writer
            .flush()
            .with_context(|| format!("writing `{}`", self.path.display()))
    }
}

/// `cell` as a spreadsheet shows it as text.
fn as_text(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

fn utc(at: Option<Timestamp>) -> String {
    at.map(|t| t.to_string()).unwrap_or_default()
}

fn write_objectives(
    path: &Path,
    clients: &[ClientCoverage],
    zone: &TimeZone,
) -> anyhow::Result<()> {
    let mut csv = PackageCsv::create(path)?;
    csv.row(OBJECTIVE_COLUMNS)?;
    for client in clients {
        for objective in &client.objectives {
            let lead = [
                client.contractor.clone(),
                objective.objective.clone(),
                objective.requirement.clone(),
                objective.family.clone(),
                objective.owner.to_string(),
                objective.contractor_does.clone(),
                objective.msp_does.clone(),
            ];
            if objective.duties.is_empty() {
                let mut record = lead.to_vec();
                record.extend(std::iter::repeat_n(String::new(), 8));
                record.push(yes_no(objective.met));
                csv.row(&record)?;
            }
            for duty in &objective.duties {
                let mut record = lead.to_vec();
                record.extend([
                    duty.duty.clone(),
                    duty.responsible.to_string(),
                    duty.state.to_string(),
                    utc(duty.due),
                    local(duty.due, zone),
                    duty.reason.clone(),
                    duty.evidence
                        .iter()
                        .map(|id| format!("E{id}"))
                        .collect::<Vec<_>>()
                        .join(" "),
                    yes_no(duty.shows_implemented),
                    yes_no(objective.met),
                ]);
                csv.row(&record)?;
            }
        }
    }
    csv.finish()
}

fn yes_no(value: bool) -> String {
    if value { "yes" } else { "no" }.to_owned()
}

fn write_evidence(path: &Path, evidence: &[&EvidenceRow], zone: &TimeZone) -> anyhow::Result<()> {
    let mut csv = PackageCsv::create(path)?;
    csv.row([
        "id",
        "client",
        "source",
        "origin",
        "fetched_at",
        "effective_at",
        "effective_at_local",
        "media_type",
        "sha256",
        "integrity",
    ])?;
    for row in evidence {
        csv.row([
            format!("E{}", row.id),
            row.client.clone(),
            row.source.clone(),
            row.origin.clone(),
            utc(row.fetched_at),
            utc(row.effective_at),
            local(row.effective_at, zone),
            row.media_type.clone(),
            row.sha256.clone().unwrap_or_default(),
            row.problem
                .as_ref()
                .map_or_else(|| "ok".to_owned(), |p| format!("TAMPERED: {p}")),
        ])?;
    }
    csv.finish()
}

/// `artifacts.csv`: the file name and SHA-256 of each evidence file, once per distinct pair
/// (the same export collected twice is one artifact), with the evidence rows it stands for.
fn write_artifacts(path: &Path, evidence: &[&EvidenceRow]) -> anyhow::Result<()> {
    let mut csv = PackageCsv::create(path)?;
    csv.row(["file_name", "sha256", "evidence"])?;
    for (name, hash, ids) in artifacts(evidence) {
        csv.row([name, hash, ids.join(" ")])?;
    }
    csv.finish()
}

/// The artifact list: (file name, SHA-256 or why there is none, evidence ids), once per
/// distinct name and hash, in the order the evidence comes.
fn artifacts(evidence: &[&EvidenceRow]) -> Vec<(String, String, Vec<String>)> {
    let mut artifacts: Vec<(String, String, Vec<String>)> = Vec::new();
    for row in evidence {
        let name = artifact_name(&row.origin);
        let hash = row
            .sha256
            .clone()
            .unwrap_or_else(|| "TAMPERED: not hashed".to_owned());
        let id = format!("E{}", row.id);
        match artifacts
            .iter_mut()
            .find(|(n, h, _)| *n == name && *h == hash)
        {
            Some((_, _, ids)) => ids.push(id),
            None => artifacts.push((name, hash, vec![id])),
        }
    }
    artifacts
}

/// The file name of an evidence origin: a path's or URL's last segment, or the file name a
/// manual upload records (`manual: roster.pdf added by alice`).
pub fn artifact_name(origin: &str) -> String {
    if let Some(rest) = origin.strip_prefix("manual: ") {
        let name = rest.split(" added by ").next().unwrap_or(rest);
        return name.to_owned();
    }
    if let Some((_, rest)) = origin.split_once("://") {
        let path = rest.split(['?', '#']).next().unwrap_or(rest);
        return path
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or(path)
            .to_owned();
    }
    Path::new(origin)
        .file_name()
        .map_or_else(|| origin.to_owned(), |n| n.to_string_lossy().into_owned())
}

/// `chain.txt`: a broken chain says so on its first line.
pub fn chain_text(chain: &ChainReport, now: Timestamp) -> String {
    let mut out = String::new();
    if let Some((id, reason)) = &chain.broken {
        out.push_str(&format!(
            "EVIDENCE CHAIN BROKEN at {id}: {reason}\n\
             The rows from {id} on do not check out; the verdicts and hashes in this export \
             that rest on them cannot be trusted.\n\n"
        ));
    } else {
        out.push_str("evidence chain intact\n\n");
    }
    out.push_str(&format!("verified_at: {now}\nrows: {}\n", chain.rows));
    match &chain.head {
        Some(head) => out.push_str(&format!("head_id: {}\nhead: {}\n", head.id, head.chain)),
        None if chain.broken.is_some() => out.push_str("head: none (the chain is broken)\n"),
        None => out.push_str("head: none (no evidence stored)\n"),
    }
    out
}

fn readme(coverage: &Coverage, chain: &ChainReport, now: Timestamp, zone: &TimeZone) -> String {
    let clients: Vec<String> = coverage
        .clients
        .iter()
        .map(|c| format!("{} ({})", c.name, c.contractor))
        .collect();
    let mut out = format!(
        "dutywatch export\n\
         ================\n\n\
         Exported at {now} ({})\n\
         Contractor(s): {}\n\
         Evidence chain: {}\n\n\
         Times are RFC 3339 in UTC; columns ending in _local give the same instant in {}.\n\n\
         objectives.csv  every assessment objective (all 320, catalog order) per contractor: its\n\
         \x20               requirement, family, owner per the CRM (contractor, msp, shared,\n\
         \x20               not_applicable, unowned), whether it is met now (objective_met:\n\
         \x20               every duty watching it shows it implemented), each side's\n\
         \x20               responsibility text from the\n\
         \x20               CRM row, and each duty watching it with its state, due time, reason\n\
         \x20               and evidence ids; one row per objective and duty, or one row with an\n\
         \x20               empty duty for an objective no duty watches\n\
         evidence.csv    every stored evidence row the current verdicts rest on, with the\n\
         \x20               CRM's current version and each incident source's newest answer: id, client,\n\
         \x20               source, origin, collection (fetched_at) and effective time, media\n\
         \x20               type, SHA-256 of the bytes as received, and whether the row checks out\n\
         artifacts.csv   the artifact list of the DoD artifact hashing procedure: each evidence\n\
         \x20               file's name and its SHA-256, with the evidence rows it stands for\n\
         incident_timeline.csv\n\
         \x20               every incident that opened a reportable clock (open and closed)\n\
         \x20               and each step of it recorded:\n\
         \x20               detected, discovered, handed off, acknowledged, reported to DoD (with\n\
         \x20               the DIBNet report number), malware submitted, prime notified, media\n\
         \x20               preserved and released, closed; when, by whom, with its note\n\
         incident_deadlines.csv\n\
         \x20               each deadline of a reportable incident: the hand-off and its\n\
         \x20               acknowledgement (the CRM's hours), the DoD report 72 hours from\n\
         \x20               discovery (from detection while no discovery is recorded), the\n\
         \x20               prime's notice, the 90-day media hold, in the hours the incident\n\
         \x20               opened under (fixed then: a later config edit moves none of them);\n\
         \x20               when its step was recorded, its note, and its outcome (below);\n\
         \x20               by_seconds says by how much it was late or early\n\
         chain.txt       the evidence hash chain: whether it is intact, the row count and its head\n\
         \x20               (newest row id and chain value; keep it outside this system)\n\n\
         A cell that a spreadsheet would read as a formula (beginning with =, +, -, @, a tab or a\n\
         carriage return) is written with a leading ' so it shows as the text it is.\n",
        local(Some(now), zone),
        clients.join(", "),
        if chain.broken.is_some() {
            "BROKEN (see chain.txt)"
        } else {
            "intact"
        },
        zone.iana_name().unwrap_or("the configured zone"),
    );
    // From the outcomes themselves, in the words the HTML page uses, so the two cannot part.
    out.push_str("\nincident_deadlines.csv outcome, and what it means:\n");
    for outcome in Outcome::ALL {
        out.push_str(&format!(
            "  {:<20} {}\n",
            outcome.as_str(),
            outcome.describe()
        ));
    }
    out.push_str(
        "  (released_early is allowed once DoD declines interest: the release's note says so)\n",
    );
    if !coverage.quarantined.is_empty() {
        out.push_str(&format!(
            "\nQuarantined (configuration does not load, not exported): {}\n",
            coverage.quarantined.join(", ")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readme_says_what_each_outcome_of_a_deadline_means() {
        let zone = TimeZone::UTC;
        let readme = readme(
            &Coverage {
                clients: Vec::new(),
                quarantined: Vec::new(),
            },
            &ChainReport {
                rows: 0,
                broken: None,
                head: None,
            },
            Timestamp::UNIX_EPOCH,
            &zone,
        );
        for outcome in Outcome::ALL {
            let line = format!("  {:<20} {}", outcome.as_str(), outcome.describe());
            assert!(readme.contains(&line), "no `{line}` in:\n{readme}");
        }
    }

    #[test]
    fn a_cell_a_spreadsheet_would_run_is_written_as_text() {
        for formula in ["=1+1", "+1", "-2", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(as_text(formula), format!("'{formula}"));
        }
        for text in ["a=b", "E1 E2", "", "2026-12-01T00:00:00Z", "'quoted"] {
            assert_eq!(as_text(text), text);
        }
    }

    #[test]
    fn artifact_names_come_from_the_origin() {
        assert_eq!(artifact_name("/srv/evidence/mfa.json"), "mfa.json");
        assert_eq!(
            artifact_name("manual: roster.pdf added by alice: Q3"),
            "roster.pdf"
        );
        assert_eq!(
            artifact_name(
                "https://graph.microsoft.us/v1.0/reports/credentialUserRegistrationDetails?$top=5"
            ),
            "credentialUserRegistrationDetails"
        );
    }

    #[test]
    fn refuses_a_directory_it_did_not_write() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        std::fs::write(out.join("notes.txt"), "mine").unwrap();
        let error = crate::out_dir::clear_previous(&out, MARKER, "dutywatch export")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("was not made by `dutywatch export`"),
            "{error}"
        );
        assert!(out.join("notes.txt").exists());
        std::fs::write(out.join(MARKER), "").unwrap();
        crate::out_dir::clear_previous(&out, MARKER, "dutywatch export").unwrap();
        assert!(!out.exists());
    }
}
