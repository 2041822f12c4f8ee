//! The serde shape of `dutywatch.toml`, before validation. Values keep their
//! spans where an error may need to name a line.

use std::collections::BTreeMap;

use dutywatch_checks::duty::Quantifier;
use dutywatch_checks::party::Party;
use dutywatch_checks::period::Period;
use dutywatch_checks::predicate::{FieldPath, Predicate};
use dutywatch_checks::time::Cadence;
use serde::Deserialize;
use toml::Spanned;

use super::{FileFormat, Perspective, SmtpTls};
use crate::secret::SecretRef;

/// A part of the config as read, or why it does not read. The document is parsed whole
/// before it is read into types, so a part that fails leaves the rest to be read.
pub(super) enum Lenient<T> {
    Read(T),
    Refused(String),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match T::deserialize(deserializer) {
            Ok(read) => Lenient::Read(read),
            Err(error) => Lenient::Refused(error.to_string()),
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub(super) perspective: Perspective,
    pub(super) timezone: Spanned<String>,
    pub(super) database: Option<String>,
    pub(super) evaluate: Option<Spanned<String>>,
    /// Each section below is read on its own (`Lenient`), so a mistake in one does not
    /// hide the next one's.
    pub(super) mail: Spanned<Lenient<Spanned<RawMail>>>,
    pub(super) msp: Spanned<Lenient<Spanned<RawMsp>>>,
    /// Evidence kinds of the config's own, beside the built-in ones.
    #[serde(default)]
    pub(super) kind: Vec<Spanned<Lenient<Spanned<RawKind>>>>,
    /// Each read on its own, as a client's duties are.
    #[serde(default)]
    pub(super) duty: Vec<Spanned<Lenient<Spanned<RawDuty>>>>,
    /// Each client's block read on its own: one that does not read (an unknown key, a value
    /// of the wrong type) is that client's problem, which in MSP mode quarantines it alone.
    #[serde(default)]
    pub(super) contractor: Vec<Spanned<Lenient<Spanned<RawContractor>>>>,
    /// Service packages and the ones they include (Premium includes Basic).
    #[serde(default)]
    pub(super) package: Vec<Spanned<Lenient<Spanned<RawPackage>>>>,
    /// The standard duty library: attestations derived from the CRM.
    pub(super) library: Option<Spanned<Lenient<Spanned<RawLibrary>>>>,
    /// The incident clocks (`config/incidents.rs`).
    pub(super) incidents: Option<Spanned<Lenient<Spanned<super::incidents::RawIncidents>>>>,
    /// The weekly digest per party.
    pub(super) digest: Option<Spanned<Lenient<Spanned<RawDigest>>>>,
    /// Partial-credit facts of the SPRS projection.
    pub(super) sprs: Option<Spanned<Lenient<Spanned<RawSprs>>>>,
    /// The escalation ladder.
    pub(super) escalation: Option<Spanned<Lenient<Spanned<RawEscalation>>>>,
    /// How collections run (`config/runtime.rs`).
    pub(super) runtime: Option<Spanned<Lenient<Spanned<super::runtime::RawRuntime>>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDigest {
    pub(super) schedule: Spanned<String>,
    pub(super) base_url: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSprs {
    pub(super) mfa_remote_and_privileged_duty: Option<Spanned<String>>,
    pub(super) encryption_not_fips_validated_duty: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEscalation {
    pub(super) management_after: Option<Period>,
    pub(super) repeat_every: Option<Period>,
    pub(super) base_url: Option<Spanned<String>>,
    #[serde(default, rename = "override")]
    pub(super) overrides: Vec<Spanned<RawEscalationOverride>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEscalationOverride {
    pub(super) duty: Option<String>,
    pub(super) kind: Option<String>,
    pub(super) party: Option<Party>,
    pub(super) management_after: Option<Period>,
    pub(super) repeat_every: Option<Period>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLibrary {
    pub(super) enabled: Option<bool>,
    #[serde(default, rename = "override")]
    pub(super) overrides: Vec<Spanned<RawLibraryOverride>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLibraryOverride {
    /// A requirement (`3.1.1`) or an objective (`3.1.1[a]`).
    pub(super) requirement: Option<Spanned<String>>,
    pub(super) objective: Option<Spanned<String>>,
    pub(super) every: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) disable: bool,
    pub(super) reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPackage {
    pub(super) name: Spanned<String>,
    #[serde(default)]
    pub(super) includes: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMail {
    pub(super) from: Spanned<String>,
    pub(super) transport: Spanned<RawTransport>,
    // file
    pub(super) dir: Option<Spanned<String>>,
    // smtp
    pub(super) host: Option<Spanned<String>>,
    pub(super) port: Option<Spanned<u16>>,
    pub(super) tls: Option<Spanned<SmtpTls>>,
    pub(super) username: Option<Spanned<String>>,
    pub(super) password: Option<Spanned<SecretRef>>,
    pub(super) timeout: Option<Spanned<Period>>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub(super) enum RawTransport {
    File,
    Smtp,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMsp {
    pub(super) name: String,
    #[serde(default)]
    pub(super) contacts: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) backup_contacts: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) management_contacts: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawContractor {
    pub(super) id: Spanned<String>,
    pub(super) name: String,
    pub(super) contacts: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) backup_contacts: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) management_contacts: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) msp_contacts: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) msp_backup_contacts: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) msp_management_contacts: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) packages: Vec<String>,
    pub(super) crm_file: Option<Spanned<String>>,
    /// The CRM sheet of an XLSX crm_file.
    pub(super) crm_sheet: Option<Spanned<String>>,
    /// Our CRM column → the file's header.
    pub(super) crm_columns: Option<Spanned<BTreeMap<String, Spanned<String>>>>,
    /// Owner word → contractor, msp, shared or not_applicable.
    pub(super) crm_owner_words: Option<Spanned<BTreeMap<String, Spanned<String>>>>,
    #[serde(default)]
    pub(super) crm: Vec<Spanned<RawInlineCrmRow>>,
    /// Each source and duty read on its own: a mistake in one does not hide the next one's.
    #[serde(default)]
    pub(super) source: Vec<Spanned<Lenient<Spanned<RawSource>>>>,
    #[serde(default)]
    pub(super) duty: Vec<Spanned<Lenient<Spanned<RawDuty>>>>,
    /// This contractor's own `[library]`: `enabled` replaces the top level's, and its
    /// overrides come before the top level's.
    pub(super) library: Option<Spanned<RawLibrary>>,
    /// This contractor's incident deadlines where its CRM differs from `[incidents]`.
    pub(super) incidents: Option<super::incidents::RawIncidentOverrides>,
    /// Its CMMC status dates: the POA&M closeout and affirmation countdowns.
    pub(super) cmmc: Option<Spanned<super::cmmc::RawCmmc>>,
    /// Requests a minute shared by all Graph and ARM sources of one Microsoft tenant.
    pub(super) tenant_rate_limit: Option<Spanned<u32>>,
    /// The contractor's own zone where it is not the config's (an MSP's clients in several).
    pub(super) timezone: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawInlineCrmRow {
    pub(super) id: Option<String>,
    pub(super) owner: Option<String>,
    pub(super) contractor_does: Option<String>,
    pub(super) msp_does: Option<String>,
    pub(super) evidence_producer: Option<String>,
    pub(super) verification: Option<String>,
    pub(super) package: Option<String>,
    pub(super) justification: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawKind {
    pub(super) name: Spanned<String>,
    #[serde(default)]
    pub(super) subject: Vec<String>,
    pub(super) empty: Option<RawEmpty>,
    #[serde(default)]
    pub(super) field: Vec<RawField>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub(super) enum RawEmpty {
    Plausible,
    NoEvidence,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawField {
    pub(super) name: String,
    #[serde(rename = "type")]
    pub(super) ty: String,
    #[serde(default)]
    pub(super) required: bool,
    #[serde(default)]
    pub(super) from: Vec<String>,
    #[serde(default)]
    pub(super) values: Vec<String>,
    /// A time set ahead on purpose (an expiry, a due date): not checked against the
    /// evidence's instant as an event time is.
    #[serde(default)]
    pub(super) ahead: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSource {
    pub(super) id: Spanned<String>,
    pub(super) kind: RawSourceKind,
    /// The evidence kind its records are.
    pub(super) evidence: Spanned<String>,
    /// Kind field → column or JSON path, where the export does not use
    /// the kind's default names.
    #[serde(default)]
    pub(super) fields: BTreeMap<String, Spanned<String>>,
    pub(super) timezone: Option<Spanned<String>>,
    pub(super) date_format: Option<Spanned<String>>,
    pub(super) path: Option<Spanned<String>>,
    pub(super) format: Option<FileFormat>,
    pub(super) records: Option<FieldPath>,
    pub(super) schedule: Spanned<String>,
    pub(super) max_age: Option<Period>,
    /// The largest export read, as `"64MiB"`, `"500KB"` or a number of bytes.
    pub(super) max_bytes: Option<Spanned<toml::Value>>,
    // graph
    pub(super) tenant: Option<Spanned<String>>,
    pub(super) client_id: Option<Spanned<String>>,
    pub(super) client_secret: Option<Spanned<SecretRef>>,
    pub(super) cloud: Option<super::source::Cloud>,
    pub(super) graph_url: Option<Spanned<String>>,
    pub(super) token_url: Option<Spanned<String>>,
    pub(super) resource: Option<Spanned<String>>,
    // arm
    pub(super) subscription: Option<Spanned<String>>,
    pub(super) resource_group: Option<Spanned<String>>,
    pub(super) workspace: Option<Spanned<String>>,
    pub(super) arm_url: Option<Spanned<String>>,
    pub(super) api_version: Option<Spanned<String>>,
    // ninjaone, splunk, elastic, http_json (config/connector.rs)
    pub(super) base_url: Option<Spanned<String>>,
    pub(super) url: Option<Spanned<String>>,
    pub(super) token: Option<Spanned<SecretRef>>,
    /// HTTP Basic instead of `token` (splunk, elastic).
    pub(super) username: Option<Spanned<String>>,
    pub(super) password: Option<Spanned<SecretRef>>,
    pub(super) header: Option<Spanned<String>>,
    pub(super) scope: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) params: BTreeMap<String, Spanned<String>>,
    pub(super) page_size: Option<Spanned<u32>>,
    pub(super) rate_limit: Option<Spanned<u32>>,
    pub(super) next: Option<Spanned<String>>,
    pub(super) records_pointer: Option<Spanned<String>>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub(super) enum RawSourceKind {
    File,
    Graph,
    Arm,
    #[serde(rename = "ninjaone")]
    NinjaOne,
    Splunk,
    Elastic,
    HttpJson,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDuty {
    pub(super) id: Spanned<String>,
    pub(super) title: String,
    pub(super) objectives: Vec<Spanned<String>>,
    pub(super) party: Option<Party>,
    pub(super) source: Spanned<String>,
    pub(super) max_age: Option<Period>,
    pub(super) rule: RawRuleKind,
    // recurring
    pub(super) every: Option<Cadence>,
    pub(super) warn_before: Option<Period>,
    pub(super) completed_at: Option<FieldPath>,
    #[serde(rename = "where")]
    pub(super) filter: Option<Spanned<Predicate>>,
    // continuous
    pub(super) expect: Option<Quantifier>,
    pub(super) check: Option<Spanned<Predicate>>,
    pub(super) min_records: Option<usize>,
    pub(super) tolerance: Option<Period>,
    pub(super) unknown_when: Option<Spanned<Predicate>>,
    pub(super) required_subjects: Option<Vec<String>>,
    pub(super) required_field: Option<Spanned<FieldPath>>,
    pub(super) join: Option<Vec<Spanned<RawJoin>>>,
    pub(super) min_share: Option<f64>,
    // event clock
    #[serde(default)]
    pub(super) step: Vec<RawStep>,
}

/// One `join = [{ source = "…", on = "left = right", as = "alias" }]` entry of a
/// continuous duty (`checks::join`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawJoin {
    pub(super) source: Spanned<String>,
    pub(super) on: Option<Spanned<String>>,
    #[serde(rename = "as")]
    pub(super) alias: Spanned<String>,
    pub(super) max_age: Option<Period>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(super) enum RawRuleKind {
    Recurring,
    Continuous,
    EventClock,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStep {
    pub(super) name: String,
    pub(super) starts: FieldPath,
    pub(super) done: FieldPath,
    pub(super) within: Period,
    pub(super) warn_before: Option<Period>,
}
