//! One [`RawCrmRow`] → one [`CrmRow`], or the reasons it cannot be one.
//!
//! Every problem in a row is reported, not just the first, so one edit pass fixes the row.

use super::vocabulary::OwnerWords;
use super::{
    Assignment, CrmColumn as Column, CrmRow, EvidenceProducer, Location, RawCrmRow, RejectedRow,
    Responsibility,
};
use crate::catalog::ControlRef;
use crate::lint::{Finding, code};

pub(super) struct Parsed {
    /// The row, or what is left of it for the linter when it has errors.
    pub(super) outcome: Result<CrmRow, RejectedRow>,
    /// Errors (the row is rejected) and warnings (it is kept).
    pub(super) problems: Vec<Finding>,
}

pub(super) fn parse(raw: RawCrmRow, words: &OwnerWords) -> Parsed {
    // A problem in one field names its cell, where the reader knows it.
    let cells: Vec<(Column, Location)> = Column::ALL
        .iter()
        .map(|column| (*column, raw.location_of(*column)))
        .collect();
    let location = raw.location;
    let positions = raw.positions;
    let cell = |value: Option<String>| value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let id = cell(raw.id);
    let owner = cell(raw.owner);
    let contractor_does = cell(raw.contractor_does);
    let msp_does = cell(raw.msp_does);
    let evidence_producer = cell(raw.evidence_producer);
    let verification = cell(raw.verification);
    let package = cell(raw.package);
    let justification = cell(raw.justification);

    let mut problems = Vec::new();
    let mut error = |at: Option<Column>, code, message: String, help: String| {
        let location = at
            .and_then(|column| cells.iter().find(|(c, _)| *c == column))
            .map_or_else(|| location.clone(), |(_, cell)| cell.clone());
        problems.push(Finding::error(Some(location), code, message, help));
    };

    let control = match &id {
        None => {
            error(
                Some(Column::Id),
                code::MISSING_ID,
                "row has no id".to_owned(),
                "write the requirement (e.g. 3.1.1) or objective (e.g. 3.1.1[a]) in the id column"
                    .to_owned(),
            );
            None
        }
        Some(text) => match ControlRef::parse_lenient(text) {
            Ok(control) => Some(control),
            Err(err) => {
                error(
                    Some(Column::Id),
                    code::INVALID_ID,
                    err.to_string(),
                    "write a NIST SP 800-171 rev2 number such as 3.1.1 or AC.L2-3.1.1, or 3.1.1[a] (3.1.1a, 3.1.1.a, 3.1.1(a)) for one objective"
                        .to_owned(),
                );
                None
            }
        },
    };
    // Names the row in messages even when its id is missing or malformed.
    let subject = match (&control, &id) {
        (Some(control), _) => control.to_string(),
        (None, Some(text)) => format!("`{text}`"),
        (None, None) => "this row".to_owned(),
    };

    let owner = match owner.as_deref() {
        None => {
            error(
                Some(Column::Owner),
                code::MISSING_OWNER,
                format!("{subject} has no owner"),
                OWNER_HELP.to_owned(),
            );
            None
        }
        Some(text) => {
            let parsed = words.lookup(text);
            if parsed.is_none() {
                let why = if words.only_in_inheritance_column(text) {
                    " here: Yes and No are owner words only in a \"Can Be Inherited\" column"
                } else {
                    ""
                };
                error(
                    Some(Column::Owner),
                    code::INVALID_OWNER,
                    format!("owner `{text}` of {subject} is not an owner word{why}"),
                    format!(
                        "accepted words (case, spaces and punctuation do not matter) are {}; map another word in [contractor.crm_owner_words] to the owner it means here (e.g. \"{text}\" = \"{}\"; or \"msp\", \"contractor\", \"shared\", \"not_applicable\")",
                        words.accepted(),
                        likely_owner(text)
                    ),
                );
            }
            parsed
        }
    };

    // The MSP-side columns are read only when the MSP has a part.
    let msp_has_part = matches!(owner, Some(Responsibility::Msp | Responsibility::Shared));
    let producer = match evidence_producer.as_deref() {
        Some(text) if msp_has_part => {
            let parsed = parse_evidence_producer(text);
            if parsed.is_none() {
                error(
                    Some(Column::EvidenceProducer),
                    code::INVALID_EVIDENCE_PRODUCER,
                    format!(
                        "evidence_producer `{text}` of {subject} is not one of contractor, msp, both"
                    ),
                    "write who produces the evidence of the MSP's work: contractor, msp or both"
                        .to_owned(),
                );
            }
            parsed
        }
        _ => None,
    };

    let mut missing_duty = |party: &str, column: &str, at: Column| {
        error(
            Some(at),
            code::MISSING_DUTY,
            format!("{subject} is owned by the {party} but {column} is empty"),
            format!("describe what the {party} does for {subject} in {column}"),
        );
    };
    let assignment = match owner {
        None => None,
        Some(Responsibility::Contractor) => match &contractor_does {
            Some(text) => Some(Assignment::Contractor {
                contractor_does: text.clone(),
            }),
            None => {
                missing_duty("contractor", "contractor_does", Column::ContractorDoes);
                None
            }
        },
        Some(Responsibility::Msp) => match &msp_does {
            Some(text) => Some(Assignment::Msp {
                msp_does: text.clone(),
                evidence_producer: producer,
                verification: verification.clone(),
            }),
            None => {
                missing_duty("MSP", "msp_does", Column::MspDoes);
                None
            }
        },
        Some(Responsibility::Shared) => match (&contractor_does, &msp_does) {
            (Some(contractor), Some(msp)) => Some(Assignment::Shared {
                contractor_does: contractor.clone(),
                msp_does: msp.clone(),
                evidence_producer: producer,
                verification: verification.clone(),
            }),
            (contractor, msp) => {
                let empty: Vec<&str> = [
                    contractor.is_none().then_some("contractor_does"),
                    msp.is_none().then_some("msp_does"),
                ]
                .into_iter()
                .flatten()
                .collect();
                let verb = if empty.len() == 1 { "is" } else { "are" };
                let at = match (contractor.is_none(), msp.is_none()) {
                    (true, false) => Some(Column::ContractorDoes),
                    (false, true) => Some(Column::MspDoes),
                    _ => None,
                };
                error(
                    at,
                    code::SHARED_MISSING_SIDE,
                    format!(
                        "{subject} is shared but {} {verb} empty",
                        empty.join(" and ")
                    ),
                    "a shared row needs both sides written out: what the contractor does \
                     (contractor_does) and what the MSP does (msp_does); if only one party \
                     does the work, make it the owner"
                        .to_owned(),
                );
                None
            }
        },
        Some(Responsibility::NotApplicable) => match &justification {
            Some(text) => Some(Assignment::NotApplicable {
                justification: text.clone(),
            }),
            None => {
                error(
                    Some(Column::Justification),
                    code::NOT_APPLICABLE_WITHOUT_REASON,
                    format!("{subject} is not_applicable but has no justification"),
                    format!(
                        "say in justification why {subject} does not apply (an assessor will ask)"
                    ),
                );
                None
            }
        },
    };

    if let Some(owner) = owner {
        let ignored = ignored_columns(
            owner,
            [
                ("contractor_does", contractor_does.is_some()),
                ("msp_does", msp_does.is_some()),
                ("evidence_producer", evidence_producer.is_some()),
                ("verification", verification.is_some()),
                ("justification", justification.is_some()),
            ],
        );
        if !ignored.is_empty() {
            let help = match owner {
                Responsibility::Msp => {
                    "clear the cells, or make the row shared if the contractor has a part"
                }
                Responsibility::Contractor => {
                    "clear the cells, or make the row shared or msp if the MSP has a part"
                }
                Responsibility::Shared | Responsibility::NotApplicable => "clear the cells",
            };
            problems.push(Finding::warning(
                Some(location.clone()),
                code::IGNORED_FIELD,
                format!(
                    "{} of {subject} {} ignored because the owner is {owner}",
                    ignored.join(", "),
                    if ignored.len() == 1 { "is" } else { "are" },
                ),
                help.to_owned(),
            ));
        }
    }

    // Any error rejects the row, including ones that still left an assignment behind (an
    // unreadable evidence_producer).
    let clean = !problems.iter().any(Finding::is_error);
    let outcome = match (control, assignment) {
        (Some(control), Some(assignment)) if clean => Ok(CrmRow {
            location,
            control,
            assignment,
            package,
            positions,
        }),
        (control, _) => Err(RejectedRow { location, control }),
    };
    Parsed { outcome, problems }
}

const OWNER_HELP: &str = "set owner to contractor, msp, shared or not_applicable (or a word such as customer, provider, inherited, partial, N/A)";

fn parse_evidence_producer(text: &str) -> Option<EvidenceProducer> {
    match text.to_ascii_lowercase().as_str() {
        "contractor" => Some(EvidenceProducer::Contractor),
        "msp" => Some(EvidenceProducer::Msp),
        "both" => Some(EvidenceProducer::Both),
        _ => None,
    }
}

/// Filled columns the owner gives no meaning to; worth a warning because the author clearly
/// meant something by them.
fn ignored_columns(owner: Responsibility, filled: [(&'static str, bool); 5]) -> Vec<&'static str> {
    let used: &[&str] = match owner {
        // Who produces the evidence is worth saying for any owner's work.
        Responsibility::Contractor => &["contractor_does", "evidence_producer"],
        Responsibility::Msp => &["msp_does", "evidence_producer", "verification"],
        Responsibility::Shared => &[
            "contractor_does",
            "msp_does",
            "evidence_producer",
            "verification",
        ],
        Responsibility::NotApplicable => &["justification"],
    };
    filled
        .into_iter()
        .filter(|(column, is_filled)| *is_filled && !used.contains(column))
        .map(|(column, _)| column)
        .collect()
}

/// The owner a CRM word most likely stands for, for the example of a fix: in an inheritance
/// column `Yes` is the provider's and `No` the customer's (crm-formats); anything else is
/// only an example.
fn likely_owner(text: &str) -> &'static str {
    match text.trim().to_ascii_lowercase().as_str() {
        "yes" | "y" => "msp",
        "no" | "n" => "contractor",
        _ => "shared",
    }
}
