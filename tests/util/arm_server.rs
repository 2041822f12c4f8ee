//! A fake Azure Resource Manager on loopback for the `arm` source tests: the graph server of
//! `graph_server` playing ARM ([`Flavor::Arm`]: `nextLink` pages, the ARM error envelope,
//! `api-version` required, the `https://management.azure.com/.default` audience), with the
//! documented paths and bodies of a Log Analytics workspace, its tables and its Microsoft
//! Sentinel incidents.

use super::graph_server::{Flavor, GraphServer};

pub(crate) const SUBSCRIPTION: &str = "00000000-0000-0000-0000-00000000c0de";
pub(crate) const RESOURCE_GROUP: &str = "rg-soc";
pub(crate) const WORKSPACE: &str = "soc-ws";

/// `/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.OperationalInsights/workspaces/{ws}`.
pub(crate) fn workspace_path() -> String {
    format!(
        "/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers/Microsoft.OperationalInsights/workspaces/{WORKSPACE}"
    )
}

pub(crate) fn tables_path() -> String {
    format!("{}/tables", workspace_path())
}

pub(crate) fn incidents_path() -> String {
    format!(
        "{}/providers/Microsoft.SecurityInsights/incidents",
        workspace_path()
    )
}

pub(crate) fn start(secret: &str) -> GraphServer {
    GraphServer::start_as(secret, Flavor::Arm)
}

/// [`start`] on `listener`.
pub(crate) fn start_on(secret: &str, listener: std::net::TcpListener) -> GraphServer {
    GraphServer::start_on(secret, Flavor::Arm, listener)
}

/// The workspace, as in the vendor's WorkspacesGet example (`properties.retentionInDays`).
pub(crate) fn workspace(retention_days: i64) -> serde_json::Value {
    serde_json::json!({
        "id": workspace_path(),
        "name": WORKSPACE,
        "type": "Microsoft.OperationalInsights/workspaces",
        "location": "usgovvirginia",
        "properties": {
            "provisioningState": "Succeeded",
            "customerId": "bc089d7b-485c-4aff-a71e-c00f362d8d2f",
            "sku": { "name": "PerGB2018" },
            "retentionInDays": retention_days
        }
    })
}

/// A table as in the vendor's TablesGet example; `own` is its own (interactive, total)
/// retention, `None` for a table that inherits the workspace's (ARM then reports the
/// workspace's value with `retentionInDaysAsDefault: true`).
pub(crate) fn table(name: &str, own: Option<(i64, i64)>, workspace_days: i64) -> serde_json::Value {
    let (retention, total, inherited) = match own {
        Some((retention, total)) => (retention, total, false),
        None => (workspace_days, workspace_days, true),
    };
    serde_json::json!({
        "id": format!("{}/tables/{name}", workspace_path()),
        "name": name,
        "type": "Microsoft.OperationalInsights/workspaces/tables",
        "properties": {
            "retentionInDays": retention,
            "totalRetentionInDays": total,
            "archiveRetentionInDays": total - retention,
            "retentionInDaysAsDefault": inherited,
            "totalRetentionInDaysAsDefault": inherited,
            "plan": "Analytics",
            "provisioningState": "Succeeded",
            "schema": { "name": name, "tableType": "Microsoft" }
        }
    })
}

/// A Sentinel incident as in the vendor's GetIncidents example.
pub(crate) fn incident(
    name: &str,
    status: &str,
    severity: &str,
    created: &str,
) -> serde_json::Value {
    serde_json::json!({
        "id": format!("{}/providers/Microsoft.SecurityInsights/Incidents/{name}", workspace_path()),
        "name": name,
        "etag": "\"0300bf09-0000-0000-0000-5c37296e0000\"",
        "type": "Microsoft.SecurityInsights/Incidents",
        "properties": {
            "title": format!("Incident {name}"),
            "severity": severity,
            "status": status,
            "incidentNumber": 3177,
            "createdTimeUtc": created,
            "firstActivityTimeUtc": created,
            "classification": "FalsePositive",
            "owner": { "email": "john.doe@contoso.com" },
            "additionalData": { "alertsCount": 1 }
        }
    })
}
