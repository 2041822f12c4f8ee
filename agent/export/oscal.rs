//! `dutywatch export --format oscal --out DIR`: the assessor's package as OSCAL 1.1.2 JSON.
//!
//! Per contractor three documents, from the same [`coverage`](crate::coverage) report the CSV
//! package is written from:
//! - `<client>.assessment-results.json` ([`assessment`]): one result with a finding per
//!   assessment objective (satisfied only when the report calls it met; absent evidence is
//!   `not-satisfied` with the reason), an observation per evidence row (the artifact's name and
//!   SHA-256), the reviewed controls, and the evidence chain head in the result's props;
//! - `<client>.assessment-plan.json`: the plan stub the results' `import-ap` points to;
//! - `<client>.component-definition.json` ([`component`]): the CRM as responsibility
//!   statements of two components, the MSP's service and the contractor's system.
//!
//! Identifiers are deterministic: every UUID is a version-4-shaped UUID taken from a SHA-256 of
//! what it names ([`uuid`]), so the same state exports the same documents.

mod assessment;
pub mod component;

use std::path::Path;

use anyhow::Context as _;
use jiff::Timestamp;
use serde_json::{Value, json};
use sha2::Digest as _;

use crate::store::Store;

use super::Exported;

/// The OSCAL version the documents are written against.
pub const OSCAL_VERSION: &str = "1.1.2";

/// The namespace of dutywatch's own props (OSCAL requires one for names it does not define;
/// an absolute URL, as trestle checks, under the reserved `.invalid` domain since it names
/// no web page).
pub const NS: &str = "https://dutywatch.invalid/ns/oscal";

/// The files written per contractor, after its id: `acme.assessment-results.json`.
pub const SUFFIXES: [&str; 3] = [
    ".assessment-results.json",
    ".assessment-plan.json",
    ".component-definition.json",
];

/// Writes the OSCAL package of `client` (or every contractor) into `out` as of `now`, with
/// `chain.txt` and a `README.txt` beside it. `out` must be new, empty or an earlier export.
pub fn export(
    config: &crate::config::Config,
    store: &Store,
    client: Option<&str>,
    out: &Path,
    now: Timestamp,
) -> anyhow::Result<Exported> {
    let (now, coverage, chain) = super::prepare(config, store, client, out, now)?;
    let incidents = super::incidents::on_record(config, store, &coverage.clients, now)?;
    let mut written = Vec::new();
    for client in &coverage.clients {
        let Some(contractor) = config
            .contractors
            .iter()
            .find(|c| c.id == client.contractor)
        else {
            continue;
        };
        let names = SUFFIXES.map(|suffix| format!("{}{suffix}", client.contractor));
        let [results_name, plan_name, component_name] = &names;
        let theirs = super::incidents::of_client(&incidents, &client.contractor);
        let results =
            assessment::results(client, &theirs, &chain, &config.msp.name, plan_name, now);
        let plan = assessment::plan(client, component_name, now);
        let component = component::definition(
            &client.contractor,
            &client.name,
            &config.msp.name,
            contractor.crm.crm.ownership(Some(&contractor.packages)),
            now,
        );
        write_json(&out.join(results_name), &results)?;
        write_json(&out.join(plan_name), &plan)?;
        write_json(&out.join(component_name), &component)?;
        written.extend(names);
    }
    super::write(&out.join("chain.txt"), &super::chain_text(&chain, now))?;
    super::write(&out.join("README.txt"), &readme(&written, &chain, now))?;
    Ok(Exported { coverage, chain })
}

/// `dutywatch export --format oscal`: exit 1 when the evidence chain is broken (the package
/// is written all the same and says so).
pub fn run(
    config_path: &Path,
    client: Option<&str>,
    out: &Path,
    now: Timestamp,
) -> anyhow::Result<std::process::ExitCode> {
    let config = crate::config::load_with(config_path, crate::config::Secrets::Skip)
        .map_err(|errors| anyhow::anyhow!("{errors}"))?;
    let store = Store::open_read_only(&config.database)?;
    let exported = export(&config, &store, client, out, now)?;
    println!("OSCAL export written to {} as of {now}", out.display());
    if let Some((id, what)) = &exported.chain.broken {
        eprintln!(
            "error: the evidence chain is broken at {id}: {what}; the export says so in \
             chain.txt and in the assessment results' evidence-chain prop"
        );
        return Ok(std::process::ExitCode::FAILURE);
    }
    Ok(std::process::ExitCode::SUCCESS)
}

fn write_json(path: &Path, document: &Value) -> anyhow::Result<()> {
    let mut text = serde_json::to_string_pretty(document)
        .with_context(|| format!("serialising `{}`", path.display()))?;
    text.push('\n');
    super::write(path, &text)
}

fn readme(written: &[String], chain: &crate::store::ChainReport, now: Timestamp) -> String {
    format!(
        "dutywatch export (OSCAL {OSCAL_VERSION})\n\
         ================================\n\n\
         Exported at {now}. Evidence chain: {}.\n\n\
         Per contractor:\n\
         \x20 <client>.assessment-results.json   one result: a finding per assessment objective\n\
         \x20                                    (satisfied, or not-satisfied with the reason),\n\
         \x20                                    an observation per evidence file with its SHA-256,\n\
         \x20                                    the reviewed controls and the evidence chain head\n\
         \x20 <client>.assessment-plan.json      the plan stub the results import (import-ap)\n\
         \x20 <client>.component-definition.json the CRM: the MSP's and the contractor's\n\
         \x20                                    responsibility statements per requirement and\n\
         \x20                                    objective (provided / responsibility / inherited)\n\
         chain.txt                             the evidence chain head, as in the CSV export\n\n\
         Control ids are `sp800-171_3.1.1`, objective ids `sp800-171_3.1.1.a`; each also\n\
         carries the NIST label (`3.1.1[a]`) as a `label` prop.\n\n\
         Files: {}\n",
        if chain.broken.is_some() {
            "BROKEN (see chain.txt)"
        } else {
            "intact"
        },
        written.join(", "),
    )
}

/// A UUID (version 4 form, RFC 4122 variant) taken from a SHA-256 of `parts`: stable for the
/// same parts, different for different ones, and no random source needed.
pub fn uuid(parts: &[&str]) -> String {
    let mut hasher = sha2::Sha256::new();
    for part in parts {
        // Length-prefixed, so ("ab", "c") and ("a", "bc") differ.
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    let digest = hasher.finalize();
    let mut bytes = [0u8; 16];
    for (byte, from) in bytes.iter_mut().zip(digest.iter()) {
        *byte = *from;
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    format!(
        "{}-{}-{}-{}-{}",
        hex::encode(&bytes[0..4]),
        hex::encode(&bytes[4..6]),
        hex::encode(&bytes[6..8]),
        hex::encode(&bytes[8..10]),
        hex::encode(&bytes[10..16]),
    )
}

/// A dutywatch prop. OSCAL prop values are one line without surrounding blanks, so the value
/// is flattened and trimmed; an empty value becomes `none`.
pub fn prop(name: &str, value: &str) -> Value {
    let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
    json!({
        "name": name,
        "ns": NS,
        "value": if value.is_empty() { "none".to_owned() } else { value },
    })
}

/// The OSCAL control id of a requirement (`3.1.1` → `sp800-171_3.1.1`): OSCAL ids are tokens,
/// which cannot begin with a digit.
pub fn control_id(requirement: &str) -> String {
    format!("sp800-171_{requirement}")
}

/// The OSCAL objective id of an objective (`3.1.1[a]` → `sp800-171_3.1.1.a`).
pub fn objective_id(objective: &str) -> String {
    let dotted = objective.replace('[', ".").replace(']', "");
    format!("sp800-171_{dotted}")
}

/// The `metadata` every document carries.
pub fn metadata(title: &str, now: Timestamp, parties: Vec<Value>, remarks: &str) -> Value {
    json!({
        "title": title,
        "last-modified": now.to_string(),
        "version": now.to_string(),
        "oscal-version": OSCAL_VERSION,
        "parties": parties,
        "remarks": remarks,
    })
}

/// An organisation party: the contractor or the MSP.
pub fn party(uuid: &str, name: &str, role: &str) -> Value {
    json!({
        "uuid": uuid,
        "type": "organization",
        "name": if name.trim().is_empty() { role } else { name },
        "props": [prop("dutywatch-party", role)],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_version_4_shaped_and_stable() {
        let a = uuid(&["finding", "acme", "3.1.1[a]"]);
        assert_eq!(a, uuid(&["finding", "acme", "3.1.1[a]"]));
        assert_ne!(a, uuid(&["finding", "acme", "3.1.1[b]"]));
        assert_ne!(uuid(&["ab", "c"]), uuid(&["a", "bc"]));
        let groups: Vec<&str> = a.split('-').collect();
        assert_eq!(
            groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(groups[2].starts_with('4'), "{a}");
        assert!(
            matches!(groups[3].chars().next(), Some('8' | '9' | 'a' | 'b')),
            "{a}"
        );
    }

    #[test]
    fn ids_are_tokens() {
        assert_eq!(control_id("3.14.1"), "sp800-171_3.14.1");
        assert_eq!(objective_id("3.14.1[c]"), "sp800-171_3.14.1.c");
        assert_eq!(prop("x", "  two\n lines ")["value"], "two lines");
        assert_eq!(prop("x", " ")["value"], "none");
    }
}
