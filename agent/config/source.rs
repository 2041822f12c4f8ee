//! `[[contractor.source]]`: evidence collectors.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use dutywatch_checks::kind::EvidenceKind;
use dutywatch_checks::period::Period;
use dutywatch_checks::predicate::FieldPath;
use dutywatch_checks::record::{Mapping, RecordReader};
use dutywatch_checks::time::{DateFormat, TimeReader};
use jiff::tz::TimeZone;
use toml::Spanned;

use super::raw::{RawSource, RawSourceKind};
use super::{Context, MANUAL_SOURCE, resolve};
use crate::schedule::Schedule;
use crate::secret::{Secret, SecretError, SecretRef};
use crate::sources::http::https_or_loopback;

/// An evidence collector.
#[derive(Debug, Clone)]
pub struct Source {
    pub id: String,
    pub kind: SourceKind,
    /// The kind of record it produces.
    pub evidence: Arc<EvidenceKind>,
    /// Where the kind's fields sit in this source's exports.
    pub mapping: Mapping,
    /// How its local times and dates are read.
    pub time: TimeReader,
    pub schedule: Schedule,
    pub max_age: Option<Period>,
    /// The largest export it reads, in bytes (`max_bytes`, default
    /// [`DEFAULT_MAX_BYTES`]); a larger one is a failed collection.
    pub max_bytes: u64,
}

/// The evidence size limit when a source sets no `max_bytes`, and the limit
/// of `dutywatch evidence add`: 64 MiB. Reading holds the file and its
/// records in memory (about three times the file for short CSV rows, measured
/// by `benches/evidence_read.rs`), so the limit bounds a collection's memory.
pub const DEFAULT_MAX_BYTES: u64 = 64 * MIB;

/// The largest `max_bytes` accepted: 4 GiB. A cycle holds several times the
/// file in memory; past this an export is a mistake, not evidence.
pub const MAX_MAX_BYTES: u64 = 4 * GIB;

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// Reads a size: a number of bytes, or a number with a unit: `B`, `KB`,
/// `MB`, `GB` (powers of 1000) or `KiB`, `MiB`, `GiB` (powers of 1024),
/// case-insensitive, e.g. `"64MiB"`, `"500KB"`, `"1.5 GiB"`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let unit_size = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "kib" => KIB,
        "mib" => MIB,
        "gib" => GIB,
        _ => {
            return Err(format!(
                "`{text}` is not a size; write e.g. \"64MiB\", \"500KB\" or a number of bytes"
            ));
        }
    };
    let number: f64 = number.parse().map_err(|_| {
        format!("`{text}` is not a size; write e.g. \"64MiB\", \"500KB\" or a number of bytes")
    })?;
    // Exact for whole numbers below 2^53; a fraction rounds to a byte.
    let bytes = (number * unit_size as f64).round();
    check_size(bytes, text)
}

fn check_size(bytes: f64, text: &str) -> Result<u64, String> {
    if bytes < 1.0 {
        return Err(format!(
            "`{text}` would refuse every export; the limit must be at least one byte"
        ));
    }
    if bytes > MAX_MAX_BYTES as f64 {
        return Err(format!(
            "`{text}` is more than the 4 GiB dutywatch reads in one go (reading takes several times the file in memory); export less per file"
        ));
    }
    Ok(bytes as u64)
}

/// A size for people: `64 MiB (67108864 bytes)`.
pub fn describe_size(bytes: u64) -> String {
    let (unit_size, unit) = if bytes >= GIB {
        (GIB, "GiB")
    } else if bytes >= MIB {
        (MIB, "MiB")
    } else if bytes >= KIB {
        (KIB, "KiB")
    } else {
        return format!("{bytes} bytes");
    };
    // Whole units only when exact, so a file one byte over a limit never
    // reads as the limit itself.
    let value = if bytes.is_multiple_of(unit_size) {
        (bytes / unit_size).to_string()
    } else {
        format!("{:.1}", bytes as f64 / unit_size as f64)
    };
    format!("{value} {unit} ({bytes} bytes)")
}

impl Source {
    pub fn reader(&self) -> RecordReader<'_> {
        RecordReader {
            kind: &self.evidence,
            mapping: &self.mapping,
            time: &self.time,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceKind {
    /// The newest file matching `pattern` (a path or glob).
    File {
        pattern: PathBuf,
        format: FileFormat,
        records: Option<FieldPath>,
    },
    /// A Microsoft Graph list (`{"value": [...]}` pages), read with an app's client
    /// credentials.
    Graph(Box<GraphSource>),
    /// Azure Resource Manager: a Log Analytics workspace's tables, or its Sentinel incidents.
    Arm(Box<ArmSource>),
    /// NinjaOne, Splunk, Elastic or a portal, from its API or a saved answer.
    Connector(Box<super::connector::Connector>),
}

impl SourceKind {
    /// The files it reads: a file source's, or a connector's saved answers.
    pub fn file_pattern(&self) -> Option<&Path> {
        match self {
            SourceKind::File { pattern, .. } => Some(pattern),
            SourceKind::Connector(connector) => match &connector.input {
                super::connector::ConnectorInput::File { pattern } => Some(pattern),
                super::connector::ConnectorInput::Api(_) => None,
            },
            SourceKind::Graph(_) | SourceKind::Arm(_) => None,
        }
    }
}

impl SourceKind {
    /// The API a source calls, for `check-config`'s notes; `None` for files.
    pub fn api_url(&self) -> Option<reqwest::Url> {
        match self {
            SourceKind::File { .. } => None,
            SourceKind::Graph(graph) => Some(graph.url.clone()),
            SourceKind::Arm(arm) => Some(arm.resource_url()),
            SourceKind::Connector(connector) => match &connector.input {
                super::connector::ConnectorInput::Api(api) => Some(api.url.clone()),
                super::connector::ConnectorInput::File { .. } => None,
            },
        }
    }
}

mod arm;
pub use arm::{ARM_RESOURCES, ArmResource, ArmSource};

pub use dutywatch_checks::read::Format as FileFormat;

/// A `kind = "graph"` source, as validated: every URL absolute, HTTPS unless to loopback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphSource {
    pub tenant: String,
    pub client_id: String,
    pub client_secret: ClientSecret,
    /// The first page: the Graph base URL and the resource's path.
    pub url: reqwest::Url,
    /// The OAuth 2 token endpoint (`https://{login host}/{tenant}/oauth2/v2.0/token`).
    pub token_url: reqwest::Url,
    /// `{graph host of the cloud}/.default`.
    pub scope: String,
    /// The application permission the resource needs, for error messages.
    pub permission: Option<&'static str>,
    /// How the resource answers: a list, one object, or a list per access review definition.
    pub shape: GraphShape,
    /// Request headers sent with every page (Defender's `Prefer`).
    pub headers: &'static [(&'static str, &'static str)],
    /// `rate_limit`: at most this many requests a minute for this source.
    pub rate_limit: Option<u32>,
    /// The contractor's `tenant_rate_limit`: requests a minute that every Graph and ARM source
    /// of this tenant shares.
    pub tenant_rate_limit: Option<u32>,
}

/// How a Graph resource answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphShape {
    /// `{"value": [...]}` pages.
    List,
    /// One object (security defaults), stored as a list of one.
    Object,
    /// The `instances` of each item of the list (access review definitions), each instance
    /// marked with its definition's `definitionId` and `definitionName`.
    InstancesOfEach,
    /// The `decisions` of every instance of every access review definition, each decision
    /// marked with its instance (`instanceId`, `instanceStatus`, `instanceStartDateTime`,
    /// `instanceEndDateTime`) and definition (`definitionId`, `definitionName`).
    DecisionsOfEach,
}

/// A Graph resource a source can name by `resource`.
#[derive(Debug, Clone, Copy)]
pub struct GraphResource {
    pub name: &'static str,
    pub path: &'static str,
    /// The least-privilege application permission.
    pub permission: &'static str,
    pub shape: GraphShape,
    pub headers: &'static [(&'static str, &'static str)],
}

/// The client secret of an API source: read when the config was loaded by what collects
/// (`run`, `once`), otherwise only where it is, and read when a collection needs it (see
/// [`Secrets`]). Compared by where it is, never by value.
#[derive(Debug, Clone)]
pub struct ClientSecret {
    pub reference: SecretRef,
    /// Shared, not copied: [`Secret`] is deliberately not `Clone`.
    pub read: Option<Arc<Secret>>,
}

impl PartialEq for ClientSecret {
    fn eq(&self, other: &Self) -> bool {
        self.reference == other.reference
    }
}

impl Eq for ClientSecret {}

impl ClientSecret {
    /// The secret: as read at load, or read now from the process environment.
    pub fn get(&self) -> Result<Arc<Secret>, SecretError> {
        match &self.read {
            Some(secret) => Ok(Arc::clone(secret)),
            None => self.reference.resolve().map(Arc::new),
        }
    }
}

/// Which Microsoft cloud a tenant lives in: its Graph and login hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cloud {
    /// Commercial (and Microsoft 365 GCC, which uses the commercial endpoints).
    #[default]
    Commercial,
    Gcc,
    /// US Government L4.
    GccHigh,
    /// US Government L5 (DoD).
    Dod,
}

impl Cloud {
    pub fn graph_url(self) -> &'static str {
        match self {
            Cloud::Commercial | Cloud::Gcc => "https://graph.microsoft.com",
            Cloud::GccHigh => "https://graph.microsoft.us",
            Cloud::Dod => "https://dod-graph.microsoft.us",
        }
    }

    /// Azure Resource Manager; GCC tenants use the commercial Azure.
    pub fn arm_url(self) -> &'static str {
        match self {
            Cloud::Commercial | Cloud::Gcc => "https://management.azure.com",
            Cloud::GccHigh | Cloud::Dod => "https://management.usgovcloudapi.net",
        }
    }

    pub fn login_url(self) -> &'static str {
        match self {
            Cloud::Commercial | Cloud::Gcc => "https://login.microsoftonline.com",
            Cloud::GccHigh | Cloud::Dod => "https://login.microsoftonline.us",
        }
    }
}

/// The Graph resources a source can name by `resource`.
pub const GRAPH_RESOURCES: &[GraphResource] = &[
    GraphResource {
        name: "userRegistrationDetails",
        path: "/v1.0/reports/authenticationMethods/userRegistrationDetails",
        permission: "AuditLog.Read.All",
        shape: GraphShape::List,
        headers: &[],
    },
    GraphResource {
        name: "conditionalAccessPolicies",
        path: "/v1.0/identity/conditionalAccess/policies",
        permission: "Policy.Read.All",
        shape: GraphShape::List,
        headers: &[],
    },
    GraphResource {
        name: "securityDefaults",
        path: "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy",
        permission: "Policy.Read.All",
        shape: GraphShape::Object,
        headers: &[],
    },
    // Pages of 1,000 linked by `@odata.nextLink`; `$skip` does not page this resource.
    GraphResource {
        name: "managedDevices",
        path: "/v1.0/deviceManagement/managedDevices",
        permission: "DeviceManagementManagedDevices.Read.All",
        shape: GraphShape::List,
        headers: &[],
    },
    GraphResource {
        name: "accessReviewDefinitions",
        path: "/v1.0/identityGovernance/accessReviews/definitions",
        permission: "AccessReview.Read.All",
        shape: GraphShape::List,
        headers: &[],
    },
    GraphResource {
        name: "accessReviewInstances",
        path: "/v1.0/identityGovernance/accessReviews/definitions",
        permission: "AccessReview.Read.All",
        shape: GraphShape::InstancesOfEach,
        headers: &[],
    },
    GraphResource {
        name: "accessReviewDecisions",
        path: "/v1.0/identityGovernance/accessReviews/definitions",
        permission: "AccessReview.Read.All",
        shape: GraphShape::DecisionsOfEach,
        headers: &[],
    },
    // Without the header Graph hides newer enum values (`awaitingAction`) behind
    // `unknownFutureValue`.
    GraphResource {
        name: "securityIncidents",
        path: "/v1.0/security/incidents",
        permission: "SecurityIncident.Read.All",
        shape: GraphShape::List,
        headers: &[("Prefer", "include-unknown-enum-members")],
    },
];

impl Context<'_> {
    pub(super) fn source(
        &mut self,
        raw: &Spanned<RawSource>,
        base: &Path,
        zone: &TimeZone,
        contractor: &str,
    ) -> Option<Source> {
        let start = self.errors.len();
        let offset = raw.span().start;
        let raw = raw.get_ref();
        let id = raw.id.get_ref().clone();
        let key = format!("{contractor}.source[{id}]");
        self.id(&raw.id, &format!("{key}.id"));
        if id == MANUAL_SOURCE {
            self.error(
                raw.id.span().start,
                &format!("{key}.id"),
                format!("`{MANUAL_SOURCE}` is reserved for evidence added with `dutywatch evidence add`; pick another id"),
            );
        }
        let schedule = self.schedule(&raw.schedule, &format!("{key}.schedule"), zone);
        let evidence = self.kinds.get(raw.evidence.get_ref()).cloned();
        let refused_kind = self.refused_kinds.contains(raw.evidence.get_ref());
        if evidence.is_none() && !refused_kind {
            self.error(
                raw.evidence.span().start,
                &format!("{key}.evidence"),
                format!(
                    "`{}` is not an evidence kind; {}",
                    raw.evidence.get_ref(),
                    self.kinds.unknown_hint(raw.evidence.get_ref())
                ),
            );
        }
        let mapping = evidence
            .as_deref()
            .map(|kind| self.mapping(kind, &raw.fields, &key));
        let zone = match &raw.timezone {
            None => Some(zone.clone()),
            Some(name) => self.time_zone(
                name,
                &format!("{key}.timezone"),
                "write e.g. `America/Chicago`, or leave it out to read this source's local times in the contractor's zone",
            ),
        };
        let date_format = match &raw.date_format {
            None => None,
            Some(text) => match text.get_ref().parse::<DateFormat>() {
                Ok(format) => Some(format),
                Err(error) => {
                    self.error(
                        text.span().start,
                        &format!("{key}.date_format"),
                        error.to_string(),
                    );
                    None
                }
            },
        };
        let kind = match raw.kind {
            RawSourceKind::File => {
                let Some(path) = &raw.path else {
                    self.error(
                        offset,
                        &format!("{key}.path"),
                        "a file source needs `path` (a file or a glob such as `exports/*.csv`)"
                            .to_owned(),
                    );
                    return None;
                };
                let pattern = resolve(base, path.get_ref());
                let format = raw.format.or_else(|| {
                    match pattern
                        .extension()
                        .and_then(|e| e.to_str())
                        .map(str::to_ascii_lowercase)
                        .as_deref()
                    {
                        Some("csv") => Some(FileFormat::Csv),
                        Some("json") => Some(FileFormat::Json),
                        _ => None,
                    }
                });
                let Some(format) = format else {
                    self.error(path.span().start, &format!("{key}.format"), "cannot tell the format from the file name; set format = \"csv\" or \"json\"".to_owned());
                    return None;
                };
                if format == FileFormat::Csv && raw.records.is_some() {
                    self.error(
                        offset,
                        &format!("{key}.records"),
                        "`records` says where the records sit inside a JSON document; a CSV file's rows are the records, so remove it (or set format = \"json\")".to_owned(),
                    );
                }
                if glob::Pattern::new(&pattern.to_string_lossy()).is_err() {
                    self.error(
                        path.span().start,
                        &format!("{key}.path"),
                        format!("`{}` is not a valid glob", path.get_ref()),
                    );
                }
                self.refuse_keys(
                    offset,
                    &key,
                    &[
                        ("tenant", raw.tenant.is_some()),
                        ("client_id", raw.client_id.is_some()),
                        ("client_secret", raw.client_secret.is_some()),
                        ("cloud", raw.cloud.is_some()),
                        ("graph_url", raw.graph_url.is_some()),
                        ("token_url", raw.token_url.is_some()),
                        ("resource", raw.resource.is_some()),
                    ],
                    |name| {
                        format!(
                            "`{name}` is for kind = \"graph\" sources; a file source reads `path`"
                        )
                    },
                );
                self.not_for(raw, offset, &key, "file", arm::ARM_ONLY_KEYS);
                SourceKind::File {
                    pattern,
                    format,
                    records: raw.records.clone(),
                }
            }
            RawSourceKind::Graph => SourceKind::Graph(Box::new(self.graph(raw, offset, &key)?)),
            RawSourceKind::Arm => SourceKind::Arm(Box::new(self.arm(raw, offset, &key)?)),
            connector @ (RawSourceKind::NinjaOne
            | RawSourceKind::Splunk
            | RawSourceKind::Elastic
            | RawSourceKind::HttpJson) => SourceKind::Connector(Box::new(
                self.connector(raw, connector, base, offset, &key)?,
            )),
        };
        if !matches!(kind, SourceKind::Connector(_)) {
            let api = !matches!(kind, SourceKind::File { .. });
            self.reject_connector_keys(raw, offset, &key, api);
        }
        let max_bytes = match &raw.max_bytes {
            None => Some(DEFAULT_MAX_BYTES),
            Some(value) => {
                let parsed = match value.get_ref() {
                    toml::Value::Integer(n) => check_size(*n as f64, &n.to_string()),
                    toml::Value::String(text) => parse_size(text),
                    other => Err(format!(
                        "`{other}` is not a size; write e.g. \"64MiB\", \"500KB\" or a number of bytes"
                    )),
                };
                match parsed {
                    Ok(bytes) => Some(bytes),
                    Err(message) => {
                        self.error(value.span().start, &format!("{key}.max_bytes"), message);
                        None
                    }
                }
            }
        };
        if self.errors.len() > start {
            return None;
        }
        Some(Source {
            id,
            kind,
            evidence: evidence?,
            mapping: mapping?,
            time: TimeReader {
                zone: zone?,
                format: date_format,
            },
            schedule: schedule?,
            max_age: raw.max_age,
            max_bytes: max_bytes?,
        })
    }

    /// Refuses each key of `keys` that is set (`(name, set)`), `why(name)` saying what it is
    /// for instead: one error per key, at the source, so every misplaced key shows at once.
    pub(super) fn refuse_keys(
        &mut self,
        offset: usize,
        key: &str,
        keys: &[(&str, bool)],
        why: impl Fn(&str) -> String,
    ) {
        for (name, set) in keys {
            if *set {
                self.error(offset, &format!("{key}.{name}"), why(name));
            }
        }
    }

    /// The keys of a `kind = "graph"` source.
    fn graph(&mut self, raw: &RawSource, offset: usize, key: &str) -> Option<GraphSource> {
        let start = self.errors.len();
        self.refuse_keys(
            offset,
            key,
            &[
                ("format", raw.format.is_some()),
                ("records", raw.records.is_some()),
            ],
            |name| {
                format!(
                    "`{name}` is for file sources; a graph source reads Graph's JSON `value` list"
                )
            },
        );
        let (tenant, client_id, client_secret) = self.app_registration(raw, offset, key, "graph");
        self.not_for(raw, offset, key, "graph", arm::ARM_ONLY_KEYS);
        let cloud = raw.cloud.unwrap_or_default();
        let path = match (&raw.resource, &raw.path) {
            (Some(resource), None) => {
                match GRAPH_RESOURCES
                    .iter()
                    .find(|known| known.name == resource.get_ref())
                {
                    Some(known) => Some((known.path.to_owned(), Some(*known))),
                    None => {
                        let known: Vec<_> = GRAPH_RESOURCES
                            .iter()
                            .map(|known| format!("`{}`", known.name))
                            .collect();
                        self.error(
                            resource.span().start,
                            &format!("{key}.resource"),
                            format!("`{}` is not a Graph resource dutywatch knows; write one of {}, or a `path` such as \"/v1.0/identity/conditionalAccess/policies\"", resource.get_ref(), known.join(", ")),
                        );
                        None
                    }
                }
            }
            (None, Some(path)) => {
                let text = path.get_ref().trim();
                if text.starts_with('/') && !text.starts_with("//") {
                    Some((text.to_owned(), None))
                } else {
                    self.error(
                        path.span().start,
                        &format!("{key}.path"),
                        format!("`{text}` is not a Graph path; write the part after the host, starting with `/`, e.g. \"/v1.0/identity/conditionalAccess/policies\""),
                    );
                    None
                }
            }
            (Some(_), Some(path)) => {
                self.error(
                    path.span().start,
                    &format!("{key}.path"),
                    "set either `resource` or `path`, not both".to_owned(),
                );
                None
            }
            (None, None) => {
                self.error(
                    offset,
                    &format!("{key}.resource"),
                    format!(
                        "a graph source needs `resource` (one of {}) or a `path`",
                        GRAPH_RESOURCES
                            .iter()
                            .map(|known| format!("\"{}\"", known.name))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
                None
            }
        };
        let graph_base = self.api_url(
            key,
            offset,
            "graph_url",
            raw.graph_url.as_ref(),
            cloud.graph_url().to_owned(),
        );
        let token_url = self.api_url(
            key,
            offset,
            "token_url",
            raw.token_url.as_ref(),
            format!(
                "{}/{}/oauth2/v2.0/token",
                cloud.login_url(),
                tenant.as_deref().unwrap_or("tenant")
            ),
        );
        let first = match (&graph_base, &path) {
            (Some(base), Some((path, _))) => {
                let text = format!("{}{path}", base.as_str().trim_end_matches('/'));
                match reqwest::Url::parse(&text) {
                    Ok(url) => match credential_free_query(&url) {
                        Ok(()) => Some(url),
                        Err(message) => {
                            self.error(offset, &format!("{key}.path"), message);
                            None
                        }
                    },
                    Err(error) => {
                        self.error(
                            offset,
                            &format!("{key}.path"),
                            format!("`{path}` does not make a URL: {error}"),
                        );
                        None
                    }
                }
            }
            _ => None,
        };
        let rate_limit = self.rate_limit(raw, key);
        if self.errors.len() > start {
            return None;
        }
        let resource = path.as_ref().and_then(|(_, resource)| *resource);
        Some(GraphSource {
            tenant: tenant?,
            client_id: client_id?,
            client_secret: client_secret?,
            url: first?,
            token_url: token_url?,
            scope: format!("{}/.default", cloud.graph_url()),
            permission: resource.map(|known| known.permission),
            shape: resource.map_or(GraphShape::List, |known| known.shape),
            headers: resource.map_or(&[], |known| known.headers),
            rate_limit,
            // Set by the contractor once its sources load.
            tenant_rate_limit: None,
        })
    }

    /// The app registration of a Microsoft API source: `tenant`, `client_id` and the
    /// `client_secret` (read now when the config is loaded by what collects).
    pub(super) fn app_registration(
        &mut self,
        raw: &RawSource,
        offset: usize,
        key: &str,
        kind: &str,
    ) -> (Option<String>, Option<String>, Option<ClientSecret>) {
        let mut required = |name: &str, value: &Option<Spanned<String>>, example: &str| match value
        {
            Some(value) if !value.get_ref().trim().is_empty() => {
                Some(value.get_ref().trim().to_owned())
            }
            Some(value) => {
                self.error(
                    value.span().start,
                    &format!("{key}.{name}"),
                    format!("`{name}` is empty; {example}"),
                );
                None
            }
            None => {
                self.error(
                    offset,
                    &format!("{key}.{name}"),
                    format!("a {kind} source needs `{name}`; {example}"),
                );
                None
            }
        };
        let tenant = required(
            "tenant",
            &raw.tenant,
            "write the tenant id (a GUID) or its domain, e.g. tenant = \"contoso.onmicrosoft.com\"",
        );
        let client_id = required(
            "client_id",
            &raw.client_id,
            "write the application (client) id of the app registration",
        );
        if let (Some(tenant), Some(span)) = (&tenant, &raw.tenant)
            && !tenant
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        {
            self.error(
                span.span().start,
                &format!("{key}.tenant"),
                format!(
                    "`{tenant}` is not a tenant id or domain (letters, digits, `-` and `.` only)"
                ),
            );
        }
        let client_secret = match &raw.client_secret {
            None => {
                self.error(offset, &format!("{key}.client_secret"), format!("a {kind} source needs `client_secret`, e.g. client_secret = {{ credential = \"{kind}-client-secret\" }}"));
                None
            }
            Some(reference) => self.source_secret(reference, &format!("{key}.client_secret")),
        };
        (tenant, client_id, client_secret)
    }

    /// An API URL as configured (`value`) or preset (`default`): absolute, HTTPS unless to
    /// loopback.
    pub(super) fn api_url(
        &mut self,
        key: &str,
        offset: usize,
        name: &str,
        value: Option<&Spanned<String>>,
        default: String,
    ) -> Option<reqwest::Url> {
        let (text, at) = match value {
            Some(value) => (value.get_ref().trim().to_owned(), value.span().start),
            None => (default, offset),
        };
        match checked_url(&text) {
            Ok(url) => Some(url),
            Err(message) => {
                self.error(at, &format!("{key}.{name}"), message);
                None
            }
        }
    }

    /// A source's `fields`: each key a field of its kind, each value a
    /// column name or a JSON path.
    fn mapping(
        &mut self,
        kind: &EvidenceKind,
        fields: &BTreeMap<String, Spanned<String>>,
        key: &str,
    ) -> Mapping {
        let mut overrides = BTreeMap::new();
        for (name, path) in fields {
            if kind.field(name).is_none() {
                self.error(
                    path.span().start,
                    &format!("{key}.fields.{name}"),
                    format!(
                        "`{name}` is not a field of `{}` evidence; {}",
                        kind.name,
                        kind.unknown_field_hint(name)
                    ),
                );
                continue;
            }
            let text = path.get_ref().trim();
            if text.is_empty() {
                self.error(
                    path.span().start,
                    &format!("{key}.fields.{name}"),
                    "the column or JSON path is empty".to_owned(),
                );
                continue;
            }
            // `a.b` walks JSON objects; anything else (a header with spaces)
            // is one column name as written.
            let path = text
                .parse::<FieldPath>()
                .unwrap_or_else(|_| FieldPath::single(text));
            overrides.insert(name.clone(), path);
        }
        Mapping::new(overrides)
    }
}

/// Words of a query parameter's name (split at `-`, `_`, `.` and where lower case turns
/// upper) that say it carries a credential: `apiToken`, `private_token`, `X-Amz-Signature`.
const CREDENTIAL_WORDS: &[&str] = &[
    "bearer",
    "credential",
    "credentials",
    "jwt",
    "passhash",
    "passphrase",
    "passwd",
    "password",
    "pwd",
    "secret",
    "sig",
    "signature",
    "ticket",
    "token",
];

/// Whole names, the words run together, that carry a credential: `api_key`, `x-api-key`,
/// PRTG's `apitoken`, `sessionid`.
const CREDENTIAL_NAMES: &[&str] = &[
    "accesskey",
    "accesstoken",
    "apikey",
    "apitoken",
    "auth",
    "authkey",
    "authorization",
    "authtoken",
    "clientsecret",
    "code",
    "hapikey",
    "key",
    "privatekey",
    "privatetoken",
    "secretkey",
    "sessionid",
    "sessiontoken",
    "sid",
    "subscriptionkey",
    "xapikey",
];

/// Words beside `token` that make it a page's or a type's, not a credential: `pageToken`,
/// `nextPageToken`, `continuationToken`, `tokenType`.
const NOT_CREDENTIAL_WORDS: &[&str] = &["continuation", "next", "page", "skip", "type"];

/// Whether a query parameter's `name` reads as carrying a credential.
fn names_a_credential(name: &str) -> bool {
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut lower_before = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.' | '$') {
            words.push(std::mem::take(&mut word));
            lower_before = false;
            continue;
        }
        if c.is_uppercase() && lower_before {
            words.push(std::mem::take(&mut word));
        }
        lower_before = c.is_lowercase() || c.is_ascii_digit();
        word.extend(c.to_lowercase());
    }
    words.push(word);
    words.retain(|word| !word.is_empty());
    let joined: String = words.concat();
    if CREDENTIAL_NAMES.contains(&joined.as_str()) {
        return true;
    }
    let paging = words
        .iter()
        .any(|word| NOT_CREDENTIAL_WORDS.contains(&word.as_str()) || word.ends_with("skiptoken"));
    !paging
        && words
            .iter()
            .any(|word| CREDENTIAL_WORDS.contains(&word.as_str()))
}

pub(super) fn checked_url(text: &str) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(text).map_err(|error| {
        // Up to its query only: a user part or a query may hold the credential.
        let shown = text.split(['?', '#']).next().unwrap_or_default();
        if shown.contains('@') {
            format!("this is not an absolute URL: {error}")
        } else {
            format!("`{shown}` is not an absolute URL: {error}")
        }
    })?;
    if url.fragment().is_some() {
        return Err("the URL has a `#…` part, which is never sent to the server but would be logged and stored with the evidence (a token after `#` included); remove it".to_owned());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the URL carries a user name or password before its host, which would be logged and stored with the evidence; remove it and give the credential as the source's secret reference (`client_secret`, `token` or `password` = { credential = \"…\" })".to_owned());
    }
    credential_free_query(&url)?;
    https_or_loopback(&url)?;
    Ok(url)
}

/// The web address reports are published at (`[escalation]`, `[digest]` `base_url`), as a
/// mail links it: http or https, and no credential in it (every mail would carry it), or why
/// not.
pub(super) fn link_url(text: &str) -> Result<String, String> {
    let text = text.trim();
    let url = reqwest::Url::parse(text)
        .ok()
        .filter(|url| matches!(url.scheme(), "https" | "http"))
        .ok_or_else(|| {
            let shown = text.split(['?', '#', '@']).next().unwrap_or_default();
            format!("`{shown}` is not a web address; write it with its scheme, e.g. `https://compliance.example.com/dutywatch`, where the reports are published")
        })?;
    if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
        return Err("the address carries a user name, a password or a `#…` part, which every mail would carry; publish the reports behind a sign-in instead".to_owned());
    }
    if let Some((name, _)) = url.query_pairs().find(|(name, _)| names_a_credential(name)) {
        return Err(format!(
            "the query parameter `{name}` carries a credential, which every mail would carry; publish the reports behind a sign-in instead"
        ));
    }
    Ok(text.to_owned())
}

/// Refuses a query parameter named like a credential ([`names_a_credential`]).
pub(super) fn credential_free_query(url: &reqwest::Url) -> Result<(), String> {
    url.query_pairs()
        .try_for_each(|(name, _)| credential_free_name(&name))
}

/// Refuses the query parameter `name` if it is named like a credential.
pub(super) fn credential_free_name(name: &str) -> Result<(), String> {
    if names_a_credential(name) {
        return Err(format!(
            "the query parameter `{name}` carries a credential, which in a URL would be logged and stored with the evidence; give it as the source's secret reference instead (`token`, or `header` with `token` for an API key)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod credential_tests {
    use super::names_a_credential;

    #[test]
    fn a_query_parameter_named_like_a_credential_is_known_however_it_is_spelt() {
        for name in [
            "api_key",
            "x-api-key",
            "apiToken",
            "ApiKey",
            "X-Amz-Signature",
            "X-Amz-Credential",
            "access_token",
            "subscription-key",
            "private_token",
            "pwd",
            "hapikey",
            "code",
            "apitoken",
            "APITOKEN",
            "passhash",
            "accesstoken",
            "authtoken",
            "Authorization",
            "clientsecret",
            "secretkey",
            "sessionid",
            "sid",
            "passphrase",
            "ticket",
            "bearer",
            "accessKey",
        ] {
            assert!(names_a_credential(name), "{name}");
        }
        for name in [
            "page",
            "df",
            "output_mode",
            "pageSize",
            "$filter",
            "$top",
            "after",
            "cursor",
            "author",
            "authorId",
            "bypass",
            "country_code",
            "statusCode",
            "sort_key",
            "sortKey",
            "partitionKey",
            "keyId",
            "sessionCount",
            "tokenType",
            "$skiptoken",
            "pageToken",
            "nextPageToken",
            "continuationToken",
        ] {
            assert!(!names_a_credential(name), "{name}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_with_decimal_and_binary_units() {
        for (text, bytes) in [
            ("64MiB", 64 << 20),
            ("64 mib", 64 << 20),
            ("500KB", 500_000),
            ("1.5GiB", 3 << 29),
            ("12", 12),
            ("12B", 12),
            ("4GiB", 4 << 30),
        ] {
            assert_eq!(parse_size(text), Ok(bytes), "{text}");
        }
        for text in [
            "", "MiB", "0", "0.1", "4.01GiB", "1e9", "-1KB", "64 MiBs", "1..2MB",
        ] {
            assert!(parse_size(text).is_err(), "{text}");
        }
        assert_eq!(describe_size(64 << 20), "64 MiB (67108864 bytes)");
        assert_eq!(describe_size(1536), "1.5 KiB (1536 bytes)");
        assert_eq!(describe_size(100), "100 bytes");
    }
}
