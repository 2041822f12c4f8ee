//! `kind = "arm"` sources: Azure Resource Manager reads of one Log Analytics workspace.

use toml::Spanned;

use super::{ClientSecret, Context, RawSource};

/// The keys only an ARM source takes, refused on the others.
pub(super) const ARM_ONLY_KEYS: &[&str] = &[
    "subscription",
    "resource_group",
    "workspace",
    "arm_url",
    "api_version",
];

/// What an ARM source reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArmResource {
    /// The workspace and all its tables, stored together so the effective retention of a
    /// table that inherits the workspace's can be computed from both.
    LogAnalyticsTables,
    /// `Microsoft.SecurityInsights/incidents` of the workspace.
    SentinelIncidents,
}

/// The ARM resources a source can name by `resource`: (name, what, default `api-version`,
/// least-privilege Azure role).
pub const ARM_RESOURCES: &[(&str, ArmResource, &str, &str)] = &[
    (
        "logAnalyticsTables",
        ArmResource::LogAnalyticsTables,
        "2022-10-01",
        "Log Analytics Reader",
    ),
    (
        "sentinelIncidents",
        ArmResource::SentinelIncidents,
        "2023-02-01",
        "Microsoft Sentinel Reader",
    ),
];

/// A `kind = "arm"` source, as validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArmSource {
    pub tenant: String,
    pub client_id: String,
    pub client_secret: ClientSecret,
    pub resource: ArmResource,
    /// The workspace resource (`…/providers/Microsoft.OperationalInsights/workspaces/{ws}`)
    /// with `api-version`; the resource's lists hang below it.
    pub url: reqwest::Url,
    pub api_version: String,
    pub token_url: reqwest::Url,
    /// `{ARM host of the cloud}/.default`.
    pub scope: String,
    /// The Azure role named when ARM refuses.
    pub role: &'static str,
    /// `rate_limit`: at most this many requests a minute for this source.
    pub rate_limit: Option<u32>,
    /// The contractor's `tenant_rate_limit`, shared with the tenant's Graph sources.
    pub tenant_rate_limit: Option<u32>,
}

impl ArmSource {
    /// The list its resource reads: the Sentinel incidents below the workspace, or the
    /// workspace itself (read first, then its `tables`).
    pub fn resource_url(&self) -> reqwest::Url {
        match self.resource {
            ArmResource::LogAnalyticsTables => self.url.clone(),
            ArmResource::SentinelIncidents => {
                self.below(&["providers", "Microsoft.SecurityInsights", "incidents"])
            }
        }
    }

    /// `…/workspaces/{ws}/{suffix}?api-version=…`: a list below the workspace.
    pub fn below(&self, suffix: &[&str]) -> reqwest::Url {
        let mut url = self.url.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().extend(suffix);
        }
        url
    }
}

impl Context<'_> {
    /// The keys of a `kind = "arm"` source.
    pub(super) fn arm(&mut self, raw: &RawSource, offset: usize, key: &str) -> Option<ArmSource> {
        let start = self.errors.len();
        self.refuse_keys(
            offset,
            key,
            &[
                ("format", raw.format.is_some()),
                ("records", raw.records.is_some()),
                ("path", raw.path.is_some()),
                ("graph_url", raw.graph_url.is_some()),
            ],
            |name| format!("`{name}` is not a key of an arm source; it reads ARM's JSON `value` list of the `resource`"),
        );
        let (tenant, client_id, client_secret) = self.app_registration(raw, offset, key, "arm");
        let resource = match &raw.resource {
            Some(name) => match ARM_RESOURCES
                .iter()
                .find(|(known, ..)| known == name.get_ref())
            {
                Some(found) => Some(*found),
                None => {
                    self.error(
                        name.span().start,
                        &format!("{key}.resource"),
                        format!(
                            "`{}` is not an ARM resource dutywatch knows; write one of {}",
                            name.get_ref(),
                            resource_names()
                        ),
                    );
                    None
                }
            },
            None => {
                self.error(
                    offset,
                    &format!("{key}.resource"),
                    format!(
                        "an arm source needs `resource`, one of {}",
                        resource_names()
                    ),
                );
                None
            }
        };
        let mut segment = |name: &str, value: &Option<Spanned<String>>, example: &str| {
            let Some(value) = value else {
                self.error(
                    offset,
                    &format!("{key}.{name}"),
                    format!("an arm source needs `{name}`; {example}"),
                );
                return None;
            };
            let text = value.get_ref().trim();
            // One path segment of an ARM resource id: no `/`, `?` or `#`, not empty.
            if text.is_empty() || text.contains(['/', '?', '#', '%']) {
                self.error(
                    value.span().start,
                    &format!("{key}.{name}"),
                    format!("`{text}` is not a {name} name; {example}"),
                );
                return None;
            }
            Some(text.to_owned())
        };
        let subscription = segment(
            "subscription",
            &raw.subscription,
            "write the subscription id, a GUID",
        );
        let resource_group = segment(
            "resource_group",
            &raw.resource_group,
            "write the name of the resource group that holds the workspace",
        );
        let workspace = segment(
            "workspace",
            &raw.workspace,
            "write the Log Analytics workspace's name (not its customer id)",
        );
        let api_version = match (&raw.api_version, resource) {
            (Some(version), _) => {
                let text = version.get_ref().trim();
                if text.is_empty()
                    || !text
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
                {
                    self.error(
                        version.span().start,
                        &format!("{key}.api_version"),
                        format!("`{text}` is not an api-version; write e.g. \"2022-10-01\""),
                    );
                    None
                } else {
                    Some(text.to_owned())
                }
            }
            (None, Some((_, _, default, _))) => Some(default.to_owned()),
            (None, None) => None,
        };
        let cloud = raw.cloud.unwrap_or_default();
        let base = self.api_url(
            key,
            offset,
            "arm_url",
            raw.arm_url.as_ref(),
            cloud.arm_url().to_owned(),
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
        let rate_limit = self.rate_limit(raw, key);
        if self.errors.len() > start {
            return None;
        }
        let (_, resource, _, role) = resource?;
        let mut url = base?;
        let api_version = api_version?;
        {
            let mut segments = url.path_segments_mut().ok()?;
            segments.pop_if_empty().extend([
                "subscriptions",
                subscription?.as_str(),
                "resourceGroups",
                resource_group?.as_str(),
                "providers",
                "Microsoft.OperationalInsights",
                "workspaces",
                workspace?.as_str(),
            ]);
        }
        url.query_pairs_mut()
            .clear()
            .append_pair("api-version", &api_version);
        Some(ArmSource {
            tenant: tenant?,
            client_id: client_id?,
            client_secret: client_secret?,
            resource,
            url,
            api_version,
            token_url: token_url?,
            scope: format!("{}/.default", cloud.arm_url()),
            role,
            rate_limit,
            // Set by the contractor once its sources load.
            tenant_rate_limit: None,
        })
    }

    /// Refuses the keys of another source kind that `raw` sets.
    pub(super) fn not_for(
        &mut self,
        raw: &RawSource,
        offset: usize,
        key: &str,
        kind: &str,
        names: &[&str],
    ) {
        let keys: Vec<(&str, bool)> = names
            .iter()
            .map(|name| {
                let set = match *name {
                    "subscription" => raw.subscription.is_some(),
                    "resource_group" => raw.resource_group.is_some(),
                    "workspace" => raw.workspace.is_some(),
                    "arm_url" => raw.arm_url.is_some(),
                    "api_version" => raw.api_version.is_some(),
                    _ => false,
                };
                (*name, set)
            })
            .collect();
        self.refuse_keys(offset, key, &keys, |name| {
            format!("`{name}` is for kind = \"arm\" sources, not {kind} sources")
        });
    }
}

fn resource_names() -> String {
    ARM_RESOURCES
        .iter()
        .map(|(name, ..)| format!("\"{name}\""))
        .collect::<Vec<_>>()
        .join(", ")
}
