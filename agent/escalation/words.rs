//! The words mails use: states, parties, times in the reader's zone, where evidence comes from.

use dutywatch_checks::duty::Duty;
use dutywatch_checks::party::Party;
use dutywatch_checks::verdict::StateKind;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use lettre::Address;

use crate::config::{Config, Contractor, MANUAL_SOURCE, SourceKind};

pub(super) fn addresses(list: &[Address]) -> Vec<String> {
    list.iter().map(ToString::to_string).collect()
}

/// An instant in the contractor's zone, with its offset: people read mail where they are.
pub fn local(at: Timestamp, zone: &TimeZone) -> String {
    at.to_zoned(zone.clone())
        .strftime("%Y-%m-%d %H:%M %Z (%:z)")
        .to_string()
}

/// The subject line's word for a state.
pub(super) fn headline(kind: StateKind) -> &'static str {
    match kind {
        StateKind::Met => "MET",
        StateKind::Open => "OPEN",
        StateKind::DueSoon => "DUE SOON",
        StateKind::Lapsed => "LAPSED",
        StateKind::NoEvidence => "NO EVIDENCE",
        StateKind::StaleEvidence => "STALE EVIDENCE",
        StateKind::SourceError => "COLLECTOR FAILING",
    }
}

/// A state in a sentence ("2 lapsed, 1 due soon").
pub(super) fn words(kind: StateKind) -> &'static str {
    match kind {
        StateKind::Met => "met",
        StateKind::Open => "open",
        StateKind::DueSoon => "due soon",
        StateKind::Lapsed => "lapsed",
        StateKind::NoEvidence => "without evidence",
        StateKind::StaleEvidence => "on stale evidence",
        StateKind::SourceError => "unverifiable",
    }
}

/// Which side the readers of one mail are on, so a party can be named as they know it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Readers {
    Contractor,
    Msp,
    Both,
}

/// "Bluewater IT (your MSP)", "Acme Corp (your company)", "Acme Corp (your client)".
pub(super) fn party(
    config: &Config,
    contractor: &Contractor,
    party: Party,
    readers: Readers,
) -> String {
    match (party, readers) {
        (Party::Msp, Readers::Contractor) => format!("{} (your MSP)", config.msp.name),
        (Party::Msp, Readers::Msp) => format!("{} (your team)", config.msp.name),
        (Party::Msp, Readers::Both) => format!("{} (the MSP)", config.msp.name),
        (Party::Contractor, Readers::Contractor) => format!("{} (your company)", contractor.name),
        (Party::Contractor, Readers::Msp) => format!("{} (your client)", contractor.name),
        (Party::Contractor, Readers::Both) => format!("{} (the contractor)", contractor.name),
    }
}

/// Where a duty's evidence comes from, in the reader's terms: the file or the system, never
/// the config's internal source id alone.
pub(super) fn evidence_from(contractor: &Contractor, duty: &Duty) -> String {
    match contractor.source(&duty.source) {
        Some(source) => {
            let what = &source.evidence.name;
            match &source.kind {
                SourceKind::File { pattern, .. } => {
                    format!("the file {} ({what} records)", pattern.display())
                }
                SourceKind::Graph(graph) => format!(
                    "Microsoft Graph, tenant {} ({}{})",
                    graph.tenant,
                    graph.url.host_str().unwrap_or("graph"),
                    graph.url.path()
                ),
                SourceKind::Arm(arm) => {
                    let url = arm.resource_url();
                    format!(
                        "Azure Resource Manager, tenant {} ({}{})",
                        arm.tenant,
                        url.host_str().unwrap_or("management"),
                        url.path()
                    )
                }
                SourceKind::Connector(connector) => {
                    let vendor = match connector.vendor.name() {
                        "ninjaone" => "NinjaOne",
                        "splunk" => "Splunk",
                        "elastic" => "Elastic",
                        _ => "the MSP's portal",
                    };
                    match &source.kind.api_url() {
                        Some(url) => format!(
                            "{vendor} ({}{}, {what} records)",
                            url.host_str().unwrap_or("api"),
                            url.path()
                        ),
                        None => match source.kind.file_pattern() {
                            Some(pattern) => format!(
                                "{vendor}'s answer saved to {} ({what} records)",
                                pattern.display()
                            ),
                            None => format!("{vendor} ({what} records)"),
                        },
                    }
                }
            }
        }
        None if duty.source == MANUAL_SOURCE => format!(
            "evidence added by hand (`dutywatch evidence add --duty {}`, a signed record or a roster)",
            duty.id
        ),
        None => format!("the source `{}`", duty.source),
    }
}

/// A state in a sentence where it stands alone ("no evidence since …").
pub(super) fn state(kind: StateKind) -> &'static str {
    match kind {
        StateKind::Met => "met",
        StateKind::Open => "open",
        StateKind::DueSoon => "due soon",
        StateKind::Lapsed => "lapsed",
        StateKind::NoEvidence => "no evidence",
        StateKind::StaleEvidence => "stale evidence",
        StateKind::SourceError => "collector failing",
    }
}

/// What the reader should do next.
pub(super) fn next_step(kind: StateKind, from: &str) -> String {
    match kind {
        StateKind::Open => format!(
            "A clock is running: complete the open step before it is due and record it in {from}."
        ),
        StateKind::DueSoon => {
            format!(
                "Complete this duty before it is due and make sure the evidence reaches {from}."
            )
        }
        StateKind::Lapsed => format!(
            "Complete it now and record the evidence in {from}. Until then the objectives are at risk of being scored NOT MET."
        ),
        StateKind::NoEvidence => format!(
            "Provide the evidence in {from}. Missing evidence is never counted as compliance."
        ),
        StateKind::StaleEvidence => {
            format!("Refresh the export in {from}; old evidence says nothing about today.")
        }
        StateKind::SourceError => {
            format!("Fix the collection from {from}; until it works, this duty cannot be verified.")
        }
        StateKind::Met => "Nothing: it is met again.".to_owned(),
    }
}
