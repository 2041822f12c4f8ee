//! The `arm` source: Azure Resource Manager reads of one Log Analytics workspace, with ARM's
//! `api-version`, `nextLink` pages and error envelope (`http::Dialect::Arm`).
//!
//! - `logAnalyticsTables`: the workspace and its tables, stored as one document
//!   `{"workspace": {...}, "value": [tables]}`, both as ARM sent them; [`retention`] computes
//!   each table's effective retention from the two when the evidence is read.
//! - `sentinelIncidents`: `Microsoft.SecurityInsights/incidents`, read as `incident` records
//!   through the kind's `properties.*` names.

pub(crate) mod retention;

use jiff::Timestamp;

use super::http::{Api, ClientCredentials, Dialect, Http, RateLimit, to_document};
use super::{CollectError, Collected};
use crate::config::{ArmResource, ArmSource, Source};

pub(super) fn collect(
    source: &Source,
    arm: &ArmSource,
    http: &Http,
    now: Timestamp,
) -> Result<Collected, CollectError> {
    let api = |message: String| CollectError::Api { message };
    let secret = arm.client_secret.get().map_err(|error| {
        api(format!(
            "cannot read the client secret of source `{}`: {error}",
            source.id
        ))
    })?;
    let credentials = ClientCredentials {
        token_url: &arm.token_url,
        client_id: &arm.client_id,
        secret: &secret,
        scope: &arm.scope,
    };
    // The source's own limit first, then its tenant's (see `http::pace`).
    let own = arm.rate_limit.map(|per_minute| RateLimit {
        key: format!(
            "source {} of {}@{}",
            source.id,
            arm.tenant,
            arm.url.origin().ascii_serialization()
        ),
        per_minute,
    });
    let tenant = arm
        .tenant_rate_limit
        .map(|per_minute| RateLimit::tenant(&arm.tenant, &arm.token_url, per_minute));
    let run = http.start_paced(now, own.into_iter().chain(tenant));
    let mut client = Api::new(&credentials, Dialect::Arm, Some(arm.role), source.max_bytes);
    let (origin, document) = match arm.resource {
        ArmResource::LogAnalyticsTables => {
            let workspace = client
                .object(http, &run, &arm.url, &format!("workspace ({})", arm.url))
                .map_err(api)?;
            let tables_url = arm.below(&["tables"]);
            let tables = client.list(http, &run, &tables_url).map_err(api)?;
            (
                tables_url,
                serde_json::json!({ "workspace": workspace, "value": tables }),
            )
        }
        ArmResource::SentinelIncidents => {
            let url = arm.resource_url();
            let incidents = client.list(http, &run, &url).map_err(api)?;
            (url, serde_json::json!({ "value": incidents }))
        }
    };
    let payload = to_document(&origin, document).map_err(api)?;
    // The API speaks for the moment it answered; whole seconds, as the store keeps them.
    let effective_at = Timestamp::from_second(now.as_second()).unwrap_or(now);
    Ok(Collected {
        effective_at,
        media_type: "application/json",
        origin: origin.to_string(),
        payload,
    })
}
