//! The effective retention of Log Analytics tables. ARM reports a table's own settings; a
//! table that has none (`retentionInDaysAsDefault: true`, a missing value or `-1`) keeps its
//! data as long as its workspace does, and a table without its own total retention keeps it
//! only for its interactive retention (no archive). Only the two documents together say how
//! long a table's logs are kept, so the reading of a `log_table` export that holds both
//! (`{"workspace": {...}, "value": [tables]}`, as the `arm` source stores it and as an MSP can
//! save it by hand) puts the effective values in each table's `properties.retentionInDays`
//! and `properties.totalRetentionInDays`, where the kind reads them, keeps what ARM reported
//! as `properties.reportedRetentionInDays` and `properties.reportedTotalRetentionInDays`, and
//! names the `workspace`. The stored bytes stay as ARM sent them.

use serde_json::{Map, Value};

/// `payload` with each table's effective retention added, or `None` when it is not a
/// workspace-and-tables document (a plain table list is read as it is). Read as every
/// export is (`decode`): a byte-order mark or UTF-16 (an export saved from Notepad or
/// PowerShell) is still this document, and one that does not read (a key given twice, so
/// that which retention holds is ambiguous) is left to the plain reading, whose error
/// says so: never a reading of it that picks one of the two.
pub(crate) fn with_effective_retention(payload: &[u8]) -> Option<Vec<u8>> {
    let (text, _) = dutywatch_checks::decode::text(payload).ok()?;
    // Cheap refusal first: most log_table exports are plain lists or CSV.
    if !text.contains("\"workspace\"") {
        return None;
    }
    let mut document: Value = dutywatch_checks::decode::json(&text).ok()?;
    let object = document.as_object_mut()?;
    let workspace = object.get("workspace")?.as_object()?.clone();
    let tables = object.get_mut("value")?.as_array_mut()?;
    let workspace_days = workspace
        .get("properties")
        .and_then(|p| p.get("retentionInDays"))
        .and_then(Value::as_i64)
        .filter(|days| *days >= 0);
    let workspace_name = workspace.get("name").cloned();
    for table in tables.iter_mut() {
        let Some(table) = table.as_object_mut() else {
            continue;
        };
        let effective = effective(table, workspace_days);
        let properties = table
            .entry("properties")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(properties) = properties.as_object_mut() {
            for (name, value) in effective {
                let reported = format!("reported{}{}", name[..1].to_ascii_uppercase(), &name[1..]);
                if let Some(old) = properties.insert(name, value) {
                    properties.insert(reported, old);
                }
            }
        }
        if let Some(name) = &workspace_name {
            table.entry("workspace").or_insert_with(|| name.clone());
        }
    }
    serde_json::to_vec(&document).ok()
}

/// One table's effective retention; a value that cannot be known is a sentence, which the
/// kind's integer field refuses as unreadable, so the table is `no_evidence`, never met.
fn effective(table: &Map<String, Value>, workspace_days: Option<i64>) -> Map<String, Value> {
    let properties = table.get("properties");
    let get = |name: &str| properties.and_then(|p| p.get(name));
    let own = |days: &str, as_default: &str| {
        let inherited = get(as_default).and_then(Value::as_bool) == Some(true);
        get(days)
            .and_then(Value::as_i64)
            .filter(|days| *days >= 0 && !inherited)
    };
    let interactive = own("retentionInDays", "retentionInDaysAsDefault").or(workspace_days);
    // The total is never shorter than the interactive part; without its own it is that part.
    let total = match (
        own("totalRetentionInDays", "totalRetentionInDaysAsDefault"),
        interactive,
    ) {
        (Some(total), Some(interactive)) => Some(total.max(interactive)),
        (Some(total), None) => Some(total),
        (None, interactive) => interactive,
    };
    let unknown = || {
        Value::String(
            "unknown: the table inherits the workspace's retention and the workspace gives no properties.retentionInDays"
                .to_owned(),
        )
    };
    let mut out = Map::new();
    out.insert(
        "retentionInDays".to_owned(),
        interactive.map_or_else(unknown, Value::from),
    );
    out.insert(
        "totalRetentionInDays".to_owned(),
        total.map_or_else(unknown, Value::from),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(document: Value) -> Vec<Value> {
        let bytes = with_effective_retention(&serde_json::to_vec(&document).unwrap()).unwrap();
        let document: Value = serde_json::from_slice(&bytes).unwrap();
        document["value"].as_array().unwrap().clone()
    }

    #[test]
    fn a_table_without_its_own_retention_has_the_workspaces() {
        let tables = read(serde_json::json!({
            "workspace": {"name": "soc-ws", "properties": {"retentionInDays": 90}},
            "value": [
                {"name": "SigninLogs", "properties": {"retentionInDays": 90, "totalRetentionInDays": 90,
                    "retentionInDaysAsDefault": true, "totalRetentionInDaysAsDefault": true}},
                {"name": "AuditLogs", "properties": {"retentionInDays": 30, "totalRetentionInDays": 400,
                    "archiveRetentionInDays": 370, "retentionInDaysAsDefault": false,
                    "totalRetentionInDaysAsDefault": false}},
                {"name": "SecurityEvent", "properties": {"retentionInDays": -1, "totalRetentionInDays": -1}},
                {"name": "Syslog", "properties": {"retentionInDaysAsDefault": true, "totalRetentionInDays": 20}}
            ]
        }));
        let days = |index: usize| {
            (
                tables[index]["properties"]["retentionInDays"].clone(),
                tables[index]["properties"]["totalRetentionInDays"].clone(),
            )
        };
        assert_eq!(days(0), (90.into(), 90.into()));
        assert_eq!(days(1), (30.into(), 400.into()));
        assert_eq!(days(2), (90.into(), 90.into()), "-1 is the workspace's");
        assert_eq!(
            days(3),
            (90.into(), 90.into()),
            "never less than interactive"
        );
        assert_eq!(tables[0]["workspace"], "soc-ws");
        assert_eq!(
            tables[2]["properties"]["reportedRetentionInDays"], -1,
            "what ARM reported is kept"
        );
    }

    #[test]
    fn an_inherited_retention_without_the_workspaces_is_unknown() {
        let tables = read(serde_json::json!({
            "workspace": {"name": "soc-ws", "properties": {}},
            "value": [{"name": "SigninLogs", "properties": {"retentionInDaysAsDefault": true}}]
        }));
        assert!(
            tables[0]["properties"]["retentionInDays"]
                .as_str()
                .unwrap()
                .starts_with("unknown")
        );
    }

    /// The same document with a byte-order mark, or in UTF-16, as Windows tools save it,
    /// gets the workspace's retention too; one with a key given twice is left to the plain
    /// reading, which refuses it.
    #[test]
    fn the_document_is_read_as_every_export_is() {
        let document = r#"{"workspace": {"name": "soc-ws", "properties": {"retentionInDays": 90}},
            "value": [{"name": "SigninLogs", "properties": {"retentionInDays": 400,
                "totalRetentionInDays": 400, "retentionInDaysAsDefault": true,
                "totalRetentionInDaysAsDefault": true}}]}"#;
        let total = |bytes: &[u8]| {
            let bytes = with_effective_retention(bytes).expect("a workspace document");
            let document: Value = serde_json::from_slice(&bytes).unwrap();
            document["value"][0]["properties"]["totalRetentionInDays"].clone()
        };
        assert_eq!(total(document.as_bytes()), 90);
        let bom = [b"\xef\xbb\xbf".as_slice(), document.as_bytes()].concat();
        assert_eq!(total(&bom), 90, "UTF-8 with a byte-order mark");
        let utf16: Vec<u8> = [0xfeff_u16]
            .into_iter()
            .chain(document.encode_utf16())
            .flat_map(u16::to_le_bytes)
            .collect();
        assert_eq!(total(&utf16), 90, "UTF-16 LE");

        let twice = document.replace(
            r#""totalRetentionInDays": 400,"#,
            r#""totalRetentionInDays": 30, "totalRetentionInDays": 400,"#,
        );
        assert_eq!(with_effective_retention(twice.as_bytes()), None);
    }

    #[test]
    fn a_plain_table_list_is_left_alone() {
        assert_eq!(
            with_effective_retention(br#"{"value": [{"name": "SigninLogs"}]}"#),
            None
        );
    }
}
