//! Evidence kinds: what a record of each kind of evidence must hold.
//!
//! A check used to read raw vendor JSON, so an empty object, a renamed
//! field or a typo in a condition compared "false" and a duty could read
//! `met` over nothing. Every source now produces records of a named kind
//! whose fields have types, say whether they are required, and say which of
//! them name the record's subject (a user, a device, a patch on a device).
//! A record that lacks a required field, or holds a value of the wrong
//! type, is not evidence; a condition that names a field its kind lacks is
//! a config error.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::predicate::FieldPath;

/// The type of one field. Values are converted once, when evidence is
/// read; a value that does not convert makes its record unreadable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldType {
    Text,
    Bool,
    Integer,
    Number,
    /// An instant; a bare date stands for the whole local day.
    Timestamp,
    /// A calendar day (an instant is read as its local day).
    Date,
    /// A length of time: `30d`, or a number of seconds.
    Duration,
    /// A list of texts (a JSON array of scalars, or `a; b` in a cell).
    List,
    /// One of a fixed set of words, compared ignoring ASCII case and
    /// stored as the kind spells it.
    Enum(Vec<String>),
}

impl FieldType {
    /// Whether the field holds a time a deadline can be counted from.
    pub fn is_time(&self) -> bool {
        matches!(self, FieldType::Timestamp | FieldType::Date)
    }

    pub fn name(&self) -> &'static str {
        match self {
            FieldType::Text => "text",
            FieldType::Bool => "bool",
            FieldType::Integer => "integer",
            FieldType::Number => "number",
            FieldType::Timestamp => "timestamp",
            FieldType::Date => "date",
            FieldType::Duration => "duration",
            FieldType::List => "list",
            FieldType::Enum(_) => "enum",
        }
    }

    /// Reads a type name as configs write it; `values` only for `enum`.
    pub fn parse(name: &str, values: Vec<String>) -> Result<FieldType, String> {
        if !values.is_empty() && name != "enum" {
            return Err(format!(
                "`values` belongs to type = \"enum\", not \"{name}\""
            ));
        }
        let ty = match name {
            "text" => FieldType::Text,
            "bool" => FieldType::Bool,
            "integer" => FieldType::Integer,
            "number" => FieldType::Number,
            "timestamp" => FieldType::Timestamp,
            "date" => FieldType::Date,
            "duration" => FieldType::Duration,
            "list" => FieldType::List,
            "enum" if values.is_empty() => {
                return Err(
                    "an enum field needs `values`, e.g. values = [\"allow\", \"deny\"]".to_owned(),
                );
            }
            "enum" => FieldType::Enum(values),
            other => {
                return Err(format!(
                    "`{other}` is not a field type: use text, bool, integer, number, timestamp, date, duration, list or enum"
                ));
            }
        };
        Ok(ty)
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldType::Enum(values) => write!(f, "enum ({})", values.join(", ")),
            other => f.write_str(other.name()),
        }
    }
}

/// One field of a kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    /// The name conditions use: lowercase, digits and `_`.
    pub name: String,
    pub ty: FieldType,
    /// A record without it is not evidence of this kind.
    pub required: bool,
    /// Where the field sits in the exports this kind is made from (Graph,
    /// NinjaOne, ARM, the usual spreadsheet column), tried in order; a
    /// source's `fields` mapping replaces the list.
    pub from: Vec<FieldPath>,
    /// An instant something happened (a completion, a sync, an install, a detection): a
    /// value after the instant its evidence speaks for is a typo or a clock ahead, never
    /// evidence, so a record holding one is not judged. False for times that are set ahead
    /// (the end of a review period; in a kind a config declares, a field with `ahead = true`).
    pub event: bool,
}

/// What an empty set of records means for a kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Empty {
    /// A real answer: no pending patches, no open incidents.
    Plausible,
    /// A broken export: a tenant always has users, a firewall always has
    /// rules, a workspace always has tables.
    NoEvidence,
}

/// A named kind of evidence record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvidenceKind {
    pub name: String,
    pub fields: Vec<Field>,
    /// The fields that together name a record's subject, joined with ` / `
    /// (a patch on a device: `device / name`). Empty for kinds whose
    /// records speak for the duty as a whole (a hand-added completion).
    pub subject: Vec<String>,
    pub empty: Empty,
}

impl EvidenceKind {
    /// The built-in field that says when a subject last reported, for the kinds whose records
    /// are a device's latest state (Intune's last sync, an RMM agent's last contact).
    pub fn freshness_field(&self) -> Option<&'static str> {
        match self.name.as_str() {
            "managed_device" => Some("last_sync"),
            "rmm_device" => Some("last_contact"),
            _ => None,
        }
    }

    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|field| field.name == name)
    }

    /// The field a mistyped name most likely meant (`severty` → `severity`).
    pub fn suggest(&self, name: &str) -> Option<&str> {
        let wanted = name.to_ascii_lowercase();
        self.fields
            .iter()
            .map(|field| (edit_distance(&wanted, &field.name), field.name.as_str()))
            .filter(|(distance, candidate)| *distance <= (candidate.len() / 3).max(2))
            .min()
            .map(|(_, candidate)| candidate)
    }

    /// "did you mean `x`?" or the list of fields, for error messages.
    pub fn unknown_field_hint(&self, name: &str) -> String {
        match self.suggest(name) {
            Some(candidate) => format!("did you mean `{candidate}`?"),
            None => format!(
                "its fields are {}",
                self.fields
                    .iter()
                    .map(|f| format!("`{}`", f.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    /// Checks a kind declared in a config: names, subject fields, enums.
    pub fn validate(&self) -> Result<(), String> {
        if !is_field_name(&self.name) {
            return Err(format!(
                "`{}` is not a kind name: use lowercase letters, digits and `_`",
                self.name
            ));
        }
        if self.fields.is_empty() {
            return Err("a kind needs at least one field".to_owned());
        }
        for (index, field) in self.fields.iter().enumerate() {
            if !is_field_name(&field.name) {
                return Err(format!(
                    "`{}` is not a field name: use lowercase letters, digits and `_`, starting with a letter",
                    field.name
                ));
            }
            if self.fields[..index].iter().any(|f| f.name == field.name) {
                return Err(format!("the field `{}` is declared twice", field.name));
            }
            if field.from.is_empty() {
                return Err(format!(
                    "the field `{}` says nowhere to read it from; set from = [\"column or.json.path\"]",
                    field.name
                ));
            }
        }
        for name in &self.subject {
            match self.field(name) {
                None => {
                    return Err(format!(
                        "the subject field `{name}` is not a field of this kind; {}",
                        self.unknown_field_hint(name)
                    ));
                }
                Some(field) if !field.required => {
                    return Err(format!(
                        "the subject field `{name}` must be required: a record without it names nothing"
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }
}

/// The kinds a config can name: the built-in ones and its own.
#[derive(Clone, Debug)]
pub struct Kinds(BTreeMap<String, Arc<EvidenceKind>>);

impl Default for Kinds {
    fn default() -> Kinds {
        Kinds(
            builtin()
                .into_iter()
                .map(|kind| (kind.name.clone(), Arc::new(kind)))
                .collect(),
        )
    }
}

impl Kinds {
    pub fn get(&self, name: &str) -> Option<&Arc<EvidenceKind>> {
        self.0.get(name)
    }

    /// Adds a custom kind; a name already taken is an error.
    pub fn add(&mut self, kind: EvidenceKind) -> Result<(), String> {
        kind.validate()?;
        if self.0.contains_key(&kind.name) {
            return Err(format!(
                "a kind named `{}` exists already (built in or declared above); pick another name",
                kind.name
            ));
        }
        self.0.insert(kind.name.clone(), Arc::new(kind));
        Ok(())
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// "did you mean" for a kind name, else the list.
    pub fn unknown_hint(&self, name: &str) -> String {
        let best = self
            .names()
            .map(|candidate| (edit_distance(name, candidate), candidate))
            .filter(|(distance, candidate)| *distance <= (candidate.len() / 3).max(2))
            .min();
        match best {
            Some((_, candidate)) => format!("did you mean `{candidate}`?"),
            None => format!(
                "known kinds: {}",
                self.names().collect::<Vec<_>>().join(", ")
            ),
        }
    }
}

/// The kind of hand-added evidence (`dutywatch evidence add`).
pub const MANUAL_COMPLETION: &str = "manual_completion";

/// Whether `name` is a built-in kind (a config's own kinds cannot take a built-in name).
pub fn is_builtin(name: &str) -> bool {
    static NAMES: std::sync::LazyLock<Vec<String>> =
        std::sync::LazyLock::new(|| builtin().into_iter().map(|kind| kind.name).collect());
    NAMES.iter().any(|builtin| builtin == name)
}

/// The built-in kind of hand-added evidence.
pub fn manual_completion() -> &'static EvidenceKind {
    static KIND: std::sync::LazyLock<EvidenceKind> = std::sync::LazyLock::new(|| {
        builtin()
            .into_iter()
            .find(|kind| kind.name == MANUAL_COMPLETION)
            .unwrap_or_else(|| kind(MANUAL_COMPLETION, &[], Empty::NoEvidence, Vec::new()))
    });
    &KIND
}

fn is_field_name(text: &str) -> bool {
    text.starts_with(|c: char| c.is_ascii_lowercase())
        && text.len() <= 64
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Levenshtein distance over bytes; names are short ASCII.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b = b.as_bytes();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, &ca) in a.as_bytes().iter().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, &cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

// ---- the built-in kinds ----------------------------------------------------

struct FieldDef(&'static str, FieldType, bool, &'static [&'static str]);

/// The built-in time fields that are set ahead rather than recorded when something
/// happened: a review instance or period may end, or start, after the export was taken.
const SCHEDULED: [(&str, &str); 6] = [
    ("access_review_instance", "start_at"),
    ("access_review_instance", "end_at"),
    ("access_review_decision", "instance_start"),
    ("access_review_decision", "instance_end"),
    ("access_review", "period_start"),
    ("access_review", "period_end"),
];

fn kind(name: &str, subject: &[&str], empty: Empty, fields: Vec<FieldDef>) -> EvidenceKind {
    let kind_name = name;
    EvidenceKind {
        name: name.to_owned(),
        subject: subject.iter().map(|s| (*s).to_owned()).collect(),
        empty,
        fields: fields
            .into_iter()
            .map(|FieldDef(name, ty, required, from)| Field {
                name: name.to_owned(),
                event: ty.is_time() && !SCHEDULED.contains(&(kind_name, name)),
                ty,
                required,
                from: from
                    .iter()
                    .map(|path| {
                        // The built-in paths are literals of this file; a test
                        // parses every one of them.
                        path.parse().unwrap_or_else(|_| FieldPath::single(path))
                    })
                    .collect(),
            })
            .collect(),
    }
}

fn words(values: &[&str]) -> FieldType {
    FieldType::Enum(values.iter().map(|v| (*v).to_owned()).collect())
}

/// Every built-in kind. The `from` paths are the vendors' field names
/// (`../shared/reference/evidence-apis.md`), then the usual spreadsheet
/// column names.
pub fn builtin() -> Vec<EvidenceKind> {
    use FieldType::{Bool, Date, Integer, List, Number, Text, Timestamp};
    const REQ: bool = true;
    const OPT: bool = false;
    vec![
        // Graph reports/authenticationMethods/userRegistrationDetails.
        kind(
            "mfa_registration",
            &["user"],
            Empty::NoEvidence,
            vec![
                FieldDef(
                    "user",
                    Text,
                    REQ,
                    &["userPrincipalName", "user", "upn", "email"],
                ),
                FieldDef(
                    "display_name",
                    Text,
                    OPT,
                    &["userDisplayName", "display_name"],
                ),
                FieldDef("user_type", Text, OPT, &["userType", "user_type"]),
                FieldDef("is_admin", Bool, OPT, &["isAdmin", "is_admin"]),
                FieldDef(
                    "mfa_registered",
                    Bool,
                    REQ,
                    &["isMfaRegistered", "mfa_registered"],
                ),
                FieldDef("mfa_capable", Bool, OPT, &["isMfaCapable", "mfa_capable"]),
                FieldDef("methods", List, OPT, &["methodsRegistered", "methods"]),
                FieldDef(
                    "updated_at",
                    Timestamp,
                    OPT,
                    &["lastUpdatedDateTime", "updated_at"],
                ),
            ],
        ),
        // Graph identity/conditionalAccess/policies.
        kind(
            "conditional_access_policy",
            &["name"],
            Empty::NoEvidence,
            vec![
                FieldDef("name", Text, REQ, &["displayName", "name"]),
                FieldDef("id", Text, OPT, &["id"]),
                FieldDef(
                    "state",
                    words(&["enabled", "disabled", "enabledForReportingButNotEnforced"]),
                    REQ,
                    &["state"],
                ),
                FieldDef(
                    "include_users",
                    List,
                    OPT,
                    &["conditions.users.includeUsers", "include_users"],
                ),
                FieldDef(
                    "exclude_users",
                    List,
                    OPT,
                    &["conditions.users.excludeUsers", "exclude_users"],
                ),
                FieldDef(
                    "include_applications",
                    List,
                    OPT,
                    &[
                        "conditions.applications.includeApplications",
                        "include_applications",
                    ],
                ),
                FieldDef(
                    "grant_controls",
                    List,
                    OPT,
                    &["grantControls.builtInControls", "grant_controls"],
                ),
                FieldDef(
                    "authentication_strength",
                    Text,
                    OPT,
                    &[
                        "grantControls.authenticationStrength.requirementsSatisfied",
                        "authentication_strength",
                    ],
                ),
                FieldDef(
                    "modified_at",
                    Timestamp,
                    OPT,
                    &["modifiedDateTime", "modified_at"],
                ),
            ],
        ),
        // Graph deviceManagement/managedDevices (Intune).
        kind(
            "managed_device",
            &["device"],
            Empty::NoEvidence,
            vec![
                FieldDef("device", Text, REQ, &["deviceName", "device"]),
                FieldDef("id", Text, OPT, &["id"]),
                FieldDef("user", Text, OPT, &["userPrincipalName", "user"]),
                FieldDef("os", Text, OPT, &["operatingSystem", "os"]),
                FieldDef("os_version", Text, OPT, &["osVersion", "os_version"]),
                FieldDef(
                    "compliance",
                    words(&[
                        "compliant",
                        "noncompliant",
                        "unknown",
                        "conflict",
                        "error",
                        "inGracePeriod",
                        "configManager",
                    ]),
                    REQ,
                    &["complianceState", "compliance"],
                ),
                FieldDef("encrypted", Bool, OPT, &["isEncrypted", "encrypted"]),
                FieldDef(
                    "last_sync",
                    Timestamp,
                    REQ,
                    &["lastSyncDateTime", "last_sync"],
                ),
                FieldDef(
                    "enrolled_at",
                    Timestamp,
                    OPT,
                    &["enrolledDateTime", "enrolled_at"],
                ),
            ],
        ),
        // NinjaOne /v2/queries/os-patches and /v2/queries/os-patch-installs.
        kind(
            "patch",
            &["device", "name"],
            Empty::Plausible,
            vec![
                FieldDef("device", Text, REQ, &["deviceId", "device"]),
                FieldDef("name", Text, REQ, &["name", "title"]),
                FieldDef("kb", Text, OPT, &["kbNumber", "kb"]),
                FieldDef("id", Text, OPT, &["id"]),
                FieldDef("severity", Text, REQ, &["severity"]),
                FieldDef("status", Text, REQ, &["status"]),
                FieldDef("type", Text, OPT, &["type"]),
                FieldDef(
                    "pending_since",
                    Timestamp,
                    REQ,
                    &["timestamp", "pending_since"],
                ),
                FieldDef(
                    "installed_at",
                    Timestamp,
                    OPT,
                    &["installedAt", "installed_at"],
                ),
            ],
        ),
        // ARM Microsoft.OperationalInsights/workspaces/{ws}/tables.
        kind(
            "log_table",
            &["table"],
            Empty::NoEvidence,
            vec![
                FieldDef("table", Text, REQ, &["name", "table"]),
                FieldDef("workspace", Text, OPT, &["workspace"]),
                // Read with its workspace, a table's values are the effective ones (see the
                // agent's `sources/arm/retention.rs`).
                FieldDef(
                    "retention_days",
                    Integer,
                    REQ,
                    &["properties.retentionInDays", "retention_days"],
                ),
                FieldDef(
                    "total_retention_days",
                    Integer,
                    REQ,
                    &["properties.totalRetentionInDays", "total_retention_days"],
                ),
                FieldDef(
                    "retention_inherited",
                    Bool,
                    OPT,
                    &["properties.retentionInDaysAsDefault", "retention_inherited"],
                ),
                FieldDef(
                    "total_retention_inherited",
                    Bool,
                    OPT,
                    &[
                        "properties.totalRetentionInDaysAsDefault",
                        "total_retention_inherited",
                    ],
                ),
                FieldDef("plan", Text, OPT, &["properties.plan", "plan"]),
            ],
        ),
        // Graph policies/identitySecurityDefaultsEnforcementPolicy (a single object).
        kind(
            "security_defaults",
            &["name"],
            Empty::NoEvidence,
            vec![
                FieldDef("name", Text, REQ, &["displayName", "name"]),
                FieldDef("id", Text, OPT, &["id"]),
                FieldDef("enabled", Bool, REQ, &["isEnabled", "enabled"]),
            ],
        ),
        // Graph identityGovernance/accessReviews/definitions.
        kind(
            "access_review_definition",
            &["name"],
            Empty::NoEvidence,
            vec![
                FieldDef("name", Text, REQ, &["displayName", "name"]),
                FieldDef("id", Text, OPT, &["id"]),
                FieldDef("status", Text, OPT, &["status"]),
                FieldDef("scope", Text, OPT, &["scope.query", "review_scope"]),
                FieldDef(
                    "recurrence",
                    Text,
                    OPT,
                    &["settings.recurrence.pattern.type", "recurrence"],
                ),
                FieldDef(
                    "recurrence_interval",
                    Integer,
                    OPT,
                    &[
                        "settings.recurrence.pattern.interval",
                        "recurrence_interval",
                    ],
                ),
                FieldDef(
                    "created_at",
                    Timestamp,
                    OPT,
                    &["createdDateTime", "created_at"],
                ),
            ],
        ),
        // Graph identityGovernance/accessReviews/definitions/{id}/instances; the graph
        // connector adds `definitionId` and `definitionName` to each.
        kind(
            "access_review_instance",
            &["id"],
            Empty::NoEvidence,
            vec![
                FieldDef("id", Text, REQ, &["id"]),
                FieldDef("definition", Text, OPT, &["definitionId", "definition"]),
                FieldDef(
                    "definition_name",
                    Text,
                    OPT,
                    &["definitionName", "definition_name"],
                ),
                FieldDef("status", Text, REQ, &["status"]),
                FieldDef("start_at", Timestamp, OPT, &["startDateTime", "start_at"]),
                FieldDef("end_at", Timestamp, REQ, &["endDateTime", "end_at"]),
            ],
        ),
        // Graph …/definitions/{id}/instances/{id}/decisions, one record per decision; the
        // graph connector marks each with its instance (id, status, start, end) and its
        // definition (id, name), which a decision itself does not name. A principal is
        // judged within its instance: the same guest is reviewed again next quarter.
        kind(
            "access_review_decision",
            &["instance", "principal"],
            Empty::NoEvidence,
            vec![
                FieldDef(
                    "instance",
                    Text,
                    REQ,
                    &["instanceId", "accessReviewId", "instance"],
                ),
                FieldDef(
                    "principal",
                    Text,
                    REQ,
                    &[
                        "principal.userPrincipalName",
                        "target.userPrincipalName",
                        // Not `principal`: that is Graph's identity object.
                        "principal_upn",
                    ],
                ),
                FieldDef(
                    "principal_name",
                    Text,
                    OPT,
                    &["principal.displayName", "principal_name"],
                ),
                FieldDef("id", Text, OPT, &["id"]),
                FieldDef("definition", Text, OPT, &["definitionId", "definition"]),
                FieldDef(
                    "definition_name",
                    Text,
                    OPT,
                    &["definitionName", "definition_name"],
                ),
                FieldDef(
                    "instance_status",
                    Text,
                    OPT,
                    &["instanceStatus", "instance_status"],
                ),
                FieldDef(
                    "instance_start",
                    Timestamp,
                    OPT,
                    &["instanceStartDateTime", "instance_start"],
                ),
                FieldDef(
                    "instance_end",
                    Timestamp,
                    OPT,
                    &["instanceEndDateTime", "instance_end"],
                ),
                FieldDef(
                    "decision",
                    words(&["Approve", "Deny", "NotReviewed", "DontKnow"]),
                    REQ,
                    &["decision"],
                ),
                FieldDef("recommendation", Text, OPT, &["recommendation"]),
                FieldDef("justification", Text, OPT, &["justification"]),
                FieldDef(
                    "reviewer",
                    Text,
                    OPT,
                    &["reviewedBy.userPrincipalName", "reviewer"],
                ),
                // Graph sends the all-zero GUID for "nobody"; `reviewed_at` is what tells.
                FieldDef("reviewer_id", Text, OPT, &["reviewedBy.id", "reviewer_id"]),
                FieldDef(
                    "reviewed_at",
                    Timestamp,
                    OPT,
                    &["reviewedDateTime", "reviewed_at"],
                ),
                FieldDef(
                    "applied_at",
                    Timestamp,
                    OPT,
                    &["appliedDateTime", "applied_at"],
                ),
                FieldDef("apply_result", Text, OPT, &["applyResult", "apply_result"]),
            ],
        ),
        // NinjaOne /v2/devices: what a patch's `deviceId` names (joined to Intune by `device`).
        kind(
            "rmm_device",
            &["id"],
            Empty::NoEvidence,
            vec![
                FieldDef("id", Text, REQ, &["id"]),
                FieldDef("device", Text, REQ, &["systemName", "device"]),
                FieldDef("display_name", Text, OPT, &["displayName", "display_name"]),
                FieldDef(
                    "organization",
                    Text,
                    OPT,
                    &["organizationId", "organization"],
                ),
                FieldDef("node_class", Text, OPT, &["nodeClass", "node_class"]),
                FieldDef("approval", Text, OPT, &["approvalStatus", "approval"]),
                FieldDef("offline", Bool, OPT, &["offline"]),
                FieldDef("os", Text, OPT, &["os.name", "os_name"]),
                FieldDef(
                    "last_contact",
                    Timestamp,
                    OPT,
                    &["lastContact", "last_contact"],
                ),
                FieldDef(
                    "last_update",
                    Timestamp,
                    OPT,
                    &["lastUpdate", "last_update"],
                ),
            ],
        ),
        // A log store's retention: a Splunk index, an Elastic ILM policy (the connectors'
        // normalizers name the computed fields; see the README).
        kind(
            "log_retention",
            &["name"],
            Empty::NoEvidence,
            vec![
                FieldDef("name", Text, REQ, &["name"]),
                FieldDef("system", Text, OPT, &["system"]),
                FieldDef("retention", FieldType::Duration, OPT, &["retention"]),
                FieldDef("kept_forever", Bool, REQ, &["kept_forever"]),
                FieldDef(
                    "effective_retention",
                    FieldType::Duration,
                    OPT,
                    &["effective_retention"],
                ),
                FieldDef("size_capped", Bool, OPT, &["size_capped"]),
                FieldDef(
                    "size_limit_mb",
                    Integer,
                    OPT,
                    &["content.maxTotalDataSizeMB", "size_limit_mb"],
                ),
                FieldDef(
                    "size_mb",
                    Number,
                    OPT,
                    &["content.currentDBSizeMB", "size_mb"],
                ),
                FieldDef(
                    "oldest_event",
                    Timestamp,
                    OPT,
                    &["content.minTime", "oldest_event"],
                ),
                FieldDef("archived", Bool, OPT, &["archived"]),
                FieldDef("disabled", Bool, OPT, &["content.disabled", "disabled"]),
                FieldDef("indices", List, OPT, &["in_use_by.indices", "indices"]),
            ],
        ),
        // A review of accounts: Entra ID Governance decisions, or the
        // contractor's spreadsheet (one row per account per review).
        kind(
            "access_review",
            &["review", "account"],
            Empty::NoEvidence,
            vec![
                FieldDef(
                    "review",
                    Text,
                    REQ,
                    &["review_id", "accessReviewId", "review"],
                ),
                FieldDef(
                    "account",
                    Text,
                    REQ,
                    &[
                        "account_id",
                        "principal.userPrincipalName",
                        "target.userPrincipalName",
                        "account",
                    ],
                ),
                FieldDef("account_name", Text, OPT, &["account_name"]),
                FieldDef("system", Text, OPT, &["system"]),
                FieldDef("role", Text, OPT, &["role_or_group", "role"]),
                FieldDef("privileged", Bool, OPT, &["privileged"]),
                FieldDef(
                    "reviewer",
                    Text,
                    OPT,
                    &["reviewer", "reviewedBy.displayName"],
                ),
                FieldDef("decision", Text, REQ, &["decision"]),
                FieldDef(
                    "action_date",
                    Date,
                    OPT,
                    &["action_date", "appliedDateTime"],
                ),
                FieldDef("period_start", Date, OPT, &["period_start"]),
                FieldDef("period_end", Date, OPT, &["period_end"]),
                FieldDef("signed_off_by", Text, OPT, &["signed_off_by"]),
                FieldDef(
                    "signed_off_at",
                    Timestamp,
                    OPT,
                    &["signed_off_at", "reviewedDateTime"],
                ),
            ],
        ),
        // The training platform's completion export, one row per person.
        kind(
            "training_completion",
            &["person"],
            Empty::NoEvidence,
            vec![
                FieldDef(
                    "person",
                    Text,
                    REQ,
                    &["email", "userPrincipalName", "person"],
                ),
                FieldDef("name", Text, OPT, &["employee", "name"]),
                FieldDef("status", Text, OPT, &["status"]),
                FieldDef("course", Text, OPT, &["course"]),
                FieldDef("completed_on", Date, OPT, &["completed_on", "completed_at"]),
            ],
        ),
        // An incident as the MSP's tools and the shared register see it.
        kind(
            "incident",
            &["id"],
            Empty::Plausible,
            vec![
                FieldDef("id", Text, REQ, &["incident_id", "id"]),
                FieldDef(
                    "title",
                    Text,
                    OPT,
                    &["title", "displayName", "properties.title"],
                ),
                FieldDef(
                    "classification",
                    Text,
                    OPT,
                    &["classification", "properties.classification"],
                ),
                FieldDef("severity", Text, OPT, &["severity", "properties.severity"]),
                FieldDef("status", Text, OPT, &["status", "properties.status"]),
                FieldDef("source_system", Text, OPT, &["source_system"]),
                FieldDef(
                    "detected_at",
                    Timestamp,
                    REQ,
                    &[
                        "detected_at",
                        "createdDateTime",
                        "properties.createdTimeUtc",
                    ],
                ),
                FieldDef("discovered_at", Timestamp, OPT, &["discovered_at"]),
                FieldDef("handed_off_at", Timestamp, OPT, &["handed_off_at"]),
                FieldDef("acknowledged_at", Timestamp, OPT, &["acknowledged_at"]),
                FieldDef("reported_at", Timestamp, OPT, &["reported_at"]),
                FieldDef(
                    "report_number",
                    Text,
                    OPT,
                    &["dibnet_report_number", "report_number"],
                ),
                // Who determined it reportable (the register's column).
                FieldDef("discovered_by", Text, OPT, &["discovered_by"]),
                // Sentinel: the incident's number, and for an incident mirrored from
                // Defender XDR the provider and the Defender id (`checks::incident` merges
                // the two into one incident).
                FieldDef(
                    "incident_number",
                    Integer,
                    OPT,
                    &["incident_number", "properties.incidentNumber"],
                ),
                FieldDef(
                    "provider_name",
                    Text,
                    OPT,
                    &["provider_name", "properties.providerName"],
                ),
                FieldDef(
                    "provider_incident_id",
                    Text,
                    OPT,
                    &["provider_incident_id", "properties.providerIncidentId"],
                ),
                // Defender XDR: the incident this one was merged into.
                FieldDef(
                    "redirect_incident_id",
                    Text,
                    OPT,
                    &["redirect_incident_id", "redirectIncidentId"],
                ),
                FieldDef("tags", List, OPT, &["tags", "customTags"]),
                // A ticket feed's type: an `alert` is not an incident and opens no clock.
                FieldDef(
                    "record_type",
                    Text,
                    OPT,
                    &["record_type", "ticket_type", "type"],
                ),
            ],
        ),
        // A rule of a managed firewall's rule base.
        kind(
            "firewall_rule",
            &["name"],
            Empty::NoEvidence,
            vec![
                FieldDef("name", Text, REQ, &["name", "rule"]),
                FieldDef(
                    "action",
                    words(&["allow", "deny", "drop", "reject"]),
                    REQ,
                    &["action"],
                ),
                FieldDef("source", Text, REQ, &["source"]),
                FieldDef("destination", Text, REQ, &["destination"]),
                FieldDef("service", Text, OPT, &["service"]),
                FieldDef("enabled", Bool, OPT, &["enabled"]),
            ],
        ),
        // A backup restore test.
        kind(
            "restore_test",
            &["test"],
            Empty::NoEvidence,
            vec![
                FieldDef("test", Text, REQ, &["test_id", "test"]),
                FieldDef("system", Text, OPT, &["system"]),
                FieldDef("restored_at", Timestamp, REQ, &["restored_at"]),
                FieldDef(
                    "result",
                    words(&["success", "partial", "failed"]),
                    REQ,
                    &["result"],
                ),
                FieldDef("verified_by", Text, OPT, &["verified_by"]),
            ],
        ),
        // A vulnerability scan's summary.
        kind(
            "scan_report",
            &["scan"],
            Empty::NoEvidence,
            vec![
                FieldDef("scan", Text, REQ, &["scan_id", "id", "scan"]),
                FieldDef("scope", Text, OPT, &["scope", "target"]),
                FieldDef(
                    "finished_at",
                    Timestamp,
                    REQ,
                    &["scan_finished_at", "finished_at"],
                ),
                FieldDef("critical", Integer, OPT, &["critical", "findings.critical"]),
                FieldDef("high", Integer, OPT, &["high", "findings.high"]),
                FieldDef("score", Number, OPT, &["score"]),
            ],
        ),
        // A sign-off of a periodic log or report review.
        kind(
            "log_review",
            &["review"],
            Empty::NoEvidence,
            vec![
                FieldDef("review", Text, REQ, &["summary_id", "review_id", "review"]),
                FieldDef("reviewer", Text, REQ, &["reviewer"]),
                FieldDef("reviewed_at", Timestamp, REQ, &["reviewed_at"]),
                FieldDef("findings", Text, OPT, &["findings"]),
            ],
        ),
        // Evidence added by hand with `dutywatch evidence add`.
        kind(
            MANUAL_COMPLETION,
            &[],
            Empty::NoEvidence,
            vec![
                FieldDef("completed_at", Timestamp, REQ, &["completed_at"]),
                FieldDef("origin", Text, OPT, &["origin"]),
                FieldDef("sha256", Text, OPT, &["sha256"]),
                // A verification of the MSP: `satisfied` or `not_satisfied`.
                FieldDef("outcome", Text, OPT, &["outcome"]),
            ],
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_kind_is_valid_and_its_paths_parse() {
        let kinds = builtin();
        for kind in &kinds {
            kind.validate()
                .unwrap_or_else(|e| panic!("{}: {e}", kind.name));
        }
        // The fallback in `kind` is never taken.
        for kind in &kinds {
            for field in &kind.fields {
                for path in &field.from {
                    let text = path.to_string();
                    assert_eq!(text.parse::<FieldPath>().unwrap(), *path);
                }
            }
        }
        let names: Vec<&str> = kinds.iter().map(|k| k.name.as_str()).collect();
        for wanted in [
            "mfa_registration",
            "conditional_access_policy",
            "managed_device",
            "patch",
            "log_table",
            "access_review",
            "training_completion",
            "incident",
            "firewall_rule",
            "restore_test",
            "scan_report",
            "rmm_device",
            "log_retention",
            "access_review_decision",
        ] {
            assert!(names.contains(&wanted), "{wanted}");
        }
    }

    #[test]
    fn did_you_mean() {
        let kinds = Kinds::default();
        let patch = kinds.get("patch").unwrap();
        assert_eq!(patch.suggest("severty"), Some("severity"));
        assert_eq!(patch.suggest("Severity"), Some("severity"));
        assert_eq!(patch.suggest("pendingsince"), Some("pending_since"));
        assert_eq!(patch.suggest("zzzzzzzz"), None);
        assert!(patch.unknown_field_hint("zzzzzzzz").contains("`severity`"));
        assert_eq!(kinds.unknown_hint("pach"), "did you mean `patch`?");
    }

    #[test]
    fn custom_kinds_are_checked() {
        let mut kinds = Kinds::default();
        let field = |name: &str, required| Field {
            name: name.to_owned(),
            ty: FieldType::Text,
            required,
            from: vec![FieldPath::single(name)],
            event: false,
        };
        let mut custom = EvidenceKind {
            name: "badge_audit".to_owned(),
            fields: vec![field("badge", true), field("note", false)],
            subject: vec!["note".to_owned()],
            empty: Empty::NoEvidence,
        };
        assert!(
            kinds
                .add(custom.clone())
                .unwrap_err()
                .contains("must be required")
        );
        custom.subject = vec!["bagde".to_owned()];
        assert!(
            kinds
                .add(custom.clone())
                .unwrap_err()
                .contains("did you mean `badge`")
        );
        custom.subject = vec!["badge".to_owned()];
        kinds.add(custom.clone()).unwrap();
        assert!(kinds.add(custom).unwrap_err().contains("exists already"));
        let mut patch = (**kinds.get("patch").unwrap()).clone();
        patch.fields.push(patch.fields[0].clone());
        assert!(patch.validate().unwrap_err().contains("declared twice"));
        assert!(FieldType::parse("enum", vec![]).is_err());
        assert!(FieldType::parse("text", vec!["a".to_owned()]).is_err());
        assert!(
            FieldType::parse("txt", vec![])
                .unwrap_err()
                .contains("not a field type")
        );
    }
}
