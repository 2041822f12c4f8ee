//! `dutywatch coverage`: every one of the 320 assessment objectives, in catalog order, with
//! its owner per the CRM, the duties that watch it and their current state, and the newest
//! evidence behind those verdicts; a summary per family and overall.
//!
//! The same report feeds `dutywatch export` ([`crate::export`]), so the assessor's package and
//! what `coverage` prints never disagree.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use dutywatch_checks::catalog;
use dutywatch_checks::crm::Responsibility;
use dutywatch_checks::evidence::EvidenceId;
use dutywatch_checks::party::Party;
use dutywatch_checks::verdict::StateKind;
use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::config::Config;
use crate::status;
use crate::store::Store;

/// Who carries an objective: the CRM's owner, or nobody when no row covers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Owner {
    Contractor,
    Msp,
    Shared,
    NotApplicable,
    Unowned,
}

impl Owner {
    pub fn as_str(self) -> &'static str {
        match self {
            Owner::Contractor => "contractor",
            Owner::Msp => "msp",
            Owner::Shared => "shared",
            Owner::NotApplicable => "not_applicable",
            Owner::Unowned => "unowned",
        }
    }

    /// Whether some party has work to do on it (contractor, MSP or both).
    pub fn has_work(self) -> bool {
        matches!(self, Owner::Contractor | Owner::Msp | Owner::Shared)
    }
}

impl From<Responsibility> for Owner {
    fn from(value: Responsibility) -> Self {
        match value {
            Responsibility::Contractor => Owner::Contractor,
            Responsibility::Msp => Owner::Msp,
            Responsibility::Shared => Owner::Shared,
            Responsibility::NotApplicable => Owner::NotApplicable,
        }
    }
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One stored evidence row a current verdict rests on.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EvidenceRow {
    pub id: i64,
    pub client: String,
    pub source: String,
    pub origin: String,
    /// `None` only for a row that fails its integrity check (see `problem`).
    pub fetched_at: Option<Timestamp>,
    pub effective_at: Option<Timestamp>,
    pub media_type: String,
    /// Lowercase hex SHA-256 of the bytes as received; `None` for a tampered row.
    pub sha256: Option<String>,
    /// What does not check out about the row (payload hash, chain link); `None` when intact.
    pub problem: Option<String>,
}

/// The newest evidence behind a duty's verdict.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NewestEvidence {
    pub id: i64,
    pub origin: String,
    pub effective_at: Option<Timestamp>,
}

/// A duty that watches an objective, with its current state.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct WatchingDuty {
    pub duty: String,
    pub title: String,
    pub responsible: Party,
    pub state: StateKind,
    /// Whether its state shows the objective implemented now (`Rule::shows_implemented`):
    /// a continuous condition failing inside its tolerance is `due_soon` and does not.
    pub shows_implemented: bool,
    /// It has lapsed: its state, or a subject still in the evidence as last judged (an
    /// export that tells nothing for a while, `no_evidence` or a failing collector, leaves
    /// its lapsed subjects lapsed, and so does this).
    pub lapsed: bool,
    pub due: Option<Timestamp>,
    pub reason: String,
    /// Every evidence row the verdict rests on.
    pub evidence: Vec<i64>,
    pub newest_evidence: Option<NewestEvidence>,
}

/// Where one objective stands.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ObjectiveCoverage {
    pub objective: String,
    pub requirement: String,
    /// The family's abbreviation (`AC`).
    pub family: String,
    pub owner: Owner,
    /// The deciding CRM row's text for each side (empty when that side has no part).
    pub contractor_does: String,
    pub msp_does: String,
    /// The not-applicable justification, for an objective the CRM rules out.
    pub justification: String,
    /// The duties that watch it; empty for an unwatched objective.
    pub duties: Vec<WatchingDuty>,
    /// Owned (someone has work), but no duty watches it.
    pub unwatched: bool,
    /// Every duty watching it shows it implemented now (`Rule::shows_implemented`), and it is
    /// watched at all; a not-applicable one needs no duty, but those that watch it (the
    /// library's re-confirmation, `lib-na-…`) must show it too.
    pub met: bool,
}

/// Counts over a family or the whole catalog.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    /// The family's abbreviation, or `all`.
    pub scope: String,
    pub objectives: usize,
    /// Someone has work on it (contractor, MSP or shared).
    pub owned: usize,
    pub not_applicable: usize,
    pub unowned: usize,
    /// Owned and watched by at least one duty.
    pub watched: usize,
    /// See [`ObjectiveCoverage::met`]: a not-applicable objective counts as met while what
    /// re-confirms it shows it.
    pub met: usize,
}

impl Summary {
    fn add(&mut self, objective: &ObjectiveCoverage) {
        self.objectives += 1;
        match objective.owner {
            Owner::NotApplicable => self.not_applicable += 1,
            Owner::Unowned => self.unowned += 1,
            _ => self.owned += 1,
        }
        if objective.owner.has_work() && !objective.duties.is_empty() {
            self.watched += 1;
        }
        if objective.met {
            self.met += 1;
        }
    }
}

/// The coverage of one contractor.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ClientCoverage {
    pub contractor: String,
    pub name: String,
    /// All 320 objectives, in catalog order.
    pub objectives: Vec<ObjectiveCoverage>,
    /// One per family, in catalog order.
    pub families: Vec<Summary>,
    pub overall: Summary,
    /// Every evidence row the current verdicts rest on, and the CRM's current version and
    /// each incident source's newest answer (what the owners and the incidents rest on), by id.
    pub evidence: Vec<EvidenceRow>,
}

/// What `coverage --json` prints.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Coverage {
    pub clients: Vec<ClientCoverage>,
    /// MSP clients whose configuration does not load: nothing of theirs can be covered.
    pub quarantined: Vec<String>,
}

/// The coverage of every contractor, or of `client` alone.
pub fn coverage(config: &Config, store: &Store, client: Option<&str>) -> anyhow::Result<Coverage> {
    if let Some(id) = client
        && !config.contractors.iter().any(|c| c.id == id)
    {
        match config.quarantined(id) {
            Some(_) => {
                anyhow::bail!("client `{id}` is quarantined: its configuration does not load")
            }
            None => anyhow::bail!("no contractor `{id}` in {}", config.path.display()),
        }
    }
    let mut clients = Vec::new();
    for contractor in &config.contractors {
        if client.is_some_and(|id| id != contractor.id) {
            continue;
        }
        let filter = status::Filter {
            contractor: Some(contractor.id.clone()),
            party: None,
        };
        let rows: Vec<status::StatusRow> = status::rows(config, store, &filter)?
            .into_iter()
            .filter(|row| row.contractor == contractor.id)
            .collect();
        // Beside what the verdicts rest on, what the package's other files rest on: the CRM
        // that says who owns each objective, and the newest answer of each incident source,
        // which the incident timeline's "stated by" steps come from.
        let others = std::iter::once(crate::engine::CRM_SOURCE)
            .chain(
                (contractor.sources.iter())
                    .filter(|source| source.evidence.name == "incident")
                    .map(|source| source.id.as_str()),
            )
            .map(|source| store.newest_evidence(&contractor.id, source))
            .collect::<Result<Vec<_>, _>>()?;
        let mut evidence = BTreeMap::new();
        for id in (rows.iter().flat_map(|row| row.evidence.iter().copied()))
            .chain(others.into_iter().flatten().map(|(id, _)| id.0))
        {
            if evidence.contains_key(&id) {
                continue;
            }
            if let Some(row) = evidence_row(store, id)? {
                evidence.insert(id, row);
            }
        }
        let ownership = contractor.crm.crm.ownership(Some(&contractor.packages));
        let mut objectives = Vec::new();
        for objective in catalog::objectives() {
            let requirement = objective.requirement();
            let family = catalog::family(requirement.family()).map_or("", |f| f.abbrev);
            let row = ownership.row(objective);
            let owner = row.map_or(Owner::Unowned, |r| r.assignment.responsible().into());
            let text = |party| {
                row.and_then(|r| r.assignment.duty_of(party))
                    .unwrap_or_default()
                    .to_owned()
            };
            let justification = match row.map(|r| &r.assignment) {
                Some(dutywatch_checks::crm::Assignment::NotApplicable { justification }) => {
                    justification.clone()
                }
                _ => String::new(),
            };
            let name = objective.to_string();
            let duties: Vec<WatchingDuty> = rows
                .iter()
                .filter(|row| row.objectives.contains(&name))
                .map(|row| WatchingDuty {
                    duty: row.duty.clone(),
                    title: row.title.clone(),
                    responsible: row.responsible,
                    state: row.state,
                    shows_implemented: row.shows_implemented,
                    lapsed: row.state == StateKind::Lapsed
                        || row
                            .subjects
                            .iter()
                            .any(|s| s.gone_at.is_none() && s.state == StateKind::Lapsed),
                    due: row.due,
                    reason: row.reason.clone(),
                    evidence: row.evidence.clone(),
                    newest_evidence: row
                        .evidence
                        .iter()
                        .filter_map(|id| evidence.get(id))
                        .max_by_key(|e| (e.effective_at, e.id))
                        .map(|e| NewestEvidence {
                            id: e.id,
                            origin: e.origin.clone(),
                            effective_at: e.effective_at,
                        }),
                })
                .collect();
            // Met: every duty watching it shows it implemented now. A not-applicable
            // objective counts as met on the CRM's word unless the duty that re-confirms it
            // (the policy that keeps it not applicable, `lib-na-…`) does not show that.
            let all_shown = duties.iter().all(|d| d.shows_implemented);
            let met = match owner {
                Owner::NotApplicable => all_shown,
                owner => owner.has_work() && !duties.is_empty() && all_shown,
            };
            objectives.push(ObjectiveCoverage {
                objective: name,
                requirement: requirement.to_string(),
                family: family.to_owned(),
                owner,
                contractor_does: text(Party::Contractor),
                msp_does: text(Party::Msp),
                justification,
                unwatched: owner.has_work() && duties.is_empty(),
                met,
                duties,
            });
        }
        let mut families: Vec<Summary> = catalog::families()
            .iter()
            .map(|f| Summary {
                scope: f.abbrev.to_owned(),
                ..Summary::default()
            })
            .collect();
        let mut overall = Summary {
            scope: "all".to_owned(),
            ..Summary::default()
        };
        for objective in &objectives {
            if let Some(summary) = families.iter_mut().find(|s| s.scope == objective.family) {
                summary.add(objective);
            }
            overall.add(objective);
        }
        clients.push(ClientCoverage {
            contractor: contractor.id.clone(),
            name: contractor.name.clone(),
            objectives,
            families,
            overall,
            evidence: evidence.into_values().collect(),
        });
    }
    Ok(Coverage {
        clients,
        quarantined: config
            .quarantined
            .iter()
            .filter(|q| client.is_none_or(|id| id == q.id))
            .map(|q| q.id.clone())
            .collect(),
    })
}

/// One evidence row as the report shows it; a row that fails its check is shown with what is
/// wrong, never silently left out.
fn evidence_row(store: &Store, id: i64) -> anyhow::Result<Option<EvidenceRow>> {
    Ok(store
        .evidence(EvidenceId(id))?
        .map(|checked| match checked {
            Ok(row) => EvidenceRow {
                id: row.id.0,
                client: row.client,
                source: row.source,
                origin: row.origin,
                fetched_at: Some(row.fetched_at),
                effective_at: Some(row.effective_at),
                media_type: row.media_type,
                sha256: Some(row.sha256),
                problem: None,
            },
            Err(tampered) => EvidenceRow {
                id: tampered.id.0,
                client: tampered.client,
                source: tampered.source,
                origin: tampered.origin,
                fetched_at: None,
                effective_at: None,
                media_type: String::new(),
                sha256: None,
                problem: Some(tampered.problem.to_string()),
            },
        }))
}

/// An instant in `zone`, as people read it.
pub fn local(at: Option<Timestamp>, zone: &TimeZone) -> String {
    at.map(|t| {
        t.to_zoned(zone.clone())
            .strftime("%Y-%m-%d %H:%M:%S %Z")
            .to_string()
    })
    .unwrap_or_default()
}

/// The report as text: one line per objective (and one per further duty), then the summaries.
pub fn text(coverage: &Coverage, zone: &TimeZone) -> String {
    let mut out = String::new();
    for client in &coverage.clients {
        let _ = writeln!(out, "{} ({})", client.name, client.contractor);
        let _ = writeln!(
            out,
            "{:<12} {:<14} {:<22} {:<14} {:<22} EVIDENCE",
            "OBJECTIVE", "OWNER", "DUTY", "STATE", "DUE"
        );
        for objective in &client.objectives {
            let lead = format!(
                "{:<12} {:<14}",
                objective.objective,
                objective.owner.as_str()
            );
            if objective.duties.is_empty() {
                let what = match objective.owner {
                    Owner::Unowned => "(no CRM row)",
                    Owner::NotApplicable => "(not applicable)",
                    _ => "UNWATCHED: no duty watches it",
                };
                let _ = writeln!(out, "{lead} {what}");
                continue;
            }
            for (i, duty) in objective.duties.iter().enumerate() {
                let lead = if i == 0 { lead.as_str() } else { "" };
                let evidence = duty.newest_evidence.as_ref().map_or_else(
                    || "-".to_owned(),
                    |e| format!("E{} {} ({})", e.id, e.origin, local(e.effective_at, zone)),
                );
                let due = match duty.due {
                    Some(_) => local(duty.due, zone),
                    None => "-".to_owned(),
                };
                let _ = writeln!(
                    out,
                    "{lead:<27} {:<22} {:<14} {:<22} {evidence}",
                    duty.duty,
                    duty.state.to_string(),
                    due
                );
            }
        }
        let _ = writeln!(out);
        for summary in client
            .families
            .iter()
            .chain(std::iter::once(&client.overall))
        {
            let _ = writeln!(
                out,
                "{:<4} {:>3} objectives: {:>3} owned, {:>3} watched, {:>3} met, {:>3} not applicable, {:>3} unowned",
                summary.scope,
                summary.objectives,
                summary.owned,
                summary.watched,
                summary.met,
                summary.not_applicable,
                summary.unowned
            );
        }
        let _ = writeln!(out);
    }
    for id in &coverage.quarantined {
        let _ = writeln!(
            out,
            "client {id} is QUARANTINED: its configuration does not load, so none of its objectives is covered"
        );
    }
    out
}
