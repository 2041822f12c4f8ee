//! The `graph` source: one Microsoft Graph resource as one `{"value": [...]}` document: a list
//! and all its pages (userRegistrationDetails, Conditional Access policies, Intune managed
//! devices, access review definitions, Defender XDR incidents, or any `path`), a single object
//! as a list of one (security defaults), the instances of every access review definition, or
//! the decisions of every instance.

use jiff::Timestamp;
use reqwest::Url;

use super::http::{Api, ClientCredentials, Dialect, Http, RateLimit, Run, to_document};
use super::{CollectError, Collected};
use crate::config::{GraphShape, GraphSource, Source};

pub(super) fn collect(
    source: &Source,
    graph: &GraphSource,
    http: &Http,
    now: Timestamp,
) -> Result<Collected, CollectError> {
    let api = |message: String| CollectError::Api { message };
    let secret = graph.client_secret.get().map_err(|error| {
        api(format!(
            "cannot read the client secret of source `{}`: {error}",
            source.id
        ))
    })?;
    let credentials = ClientCredentials {
        token_url: &graph.token_url,
        client_id: &graph.client_id,
        secret: &secret,
        scope: &graph.scope,
    };
    // The source's own limit first, then its tenant's (see `http::pace`).
    let own = graph.rate_limit.map(|per_minute| RateLimit {
        key: format!(
            "source {} of {}@{}",
            source.id,
            graph.tenant,
            graph.url.origin().ascii_serialization()
        ),
        per_minute,
    });
    let tenant = graph
        .tenant_rate_limit
        .map(|per_minute| RateLimit::tenant(&graph.tenant, &graph.token_url, per_minute));
    let run = http.start_paced(now, own.into_iter().chain(tenant));
    let mut client = Api::new(
        &credentials,
        Dialect::Graph,
        graph.permission,
        source.max_bytes,
    );
    client.headers = graph.headers;
    let document = |items: Vec<serde_json::Value>| {
        to_document(&graph.url, serde_json::json!({ "value": items }))
    };
    let payload = match graph.shape {
        // The largest lists (devices, users): written out page by page.
        GraphShape::List => client.list_document(http, &run, &graph.url),
        GraphShape::Object => client
            .object(http, &run, &graph.url, graph.url.as_str())
            .and_then(|object| document(vec![serde_json::Value::Object(object)])),
        GraphShape::InstancesOfEach => {
            instances_of_each(&mut client, http, &run, &graph.url).and_then(document)
        }
        GraphShape::DecisionsOfEach => {
            decisions_of_each(&mut client, http, &run, &graph.url).and_then(document)
        }
    }
    .map_err(api)?;
    // The API speaks for the moment it answered; whole seconds, as the store keeps them.
    let effective_at = Timestamp::from_second(now.as_second()).unwrap_or(now);
    Ok(Collected {
        effective_at,
        media_type: "application/json",
        origin: graph.url.to_string(),
        payload,
    })
}

/// The `instances` of every access review definition listed at `definitions`, each marked
/// with its definition's id and name (an instance itself names neither). One failing list
/// fails the collection.
fn instances_of_each(
    client: &mut Api<'_>,
    http: &Http,
    run: &Run,
    definitions: &Url,
) -> Result<Vec<serde_json::Value>, String> {
    let mut instances = Vec::new();
    for definition in client.list(http, run, definitions)? {
        let id = required_id(
            &definition,
            definitions,
            "access review definition",
            "instances",
        )?;
        let name = definition.get("displayName").cloned();
        for mut instance in client.list(http, run, &below(definitions, &[&id, "instances"]))? {
            if let Some(object) = instance.as_object_mut() {
                object.insert("definitionId".to_owned(), serde_json::json!(id));
                if let Some(name) = &name {
                    object.insert("definitionName".to_owned(), name.clone());
                }
            }
            instances.push(instance);
        }
    }
    Ok(instances)
}

/// The `decisions` of every instance of every definition at `definitions` (Graph pages them
/// 100 at a time), each marked with its instance and definition: a decision names neither,
/// and a cadence check needs to know which review, ended when, in what state, it belongs to.
///
/// Every instance the definitions list, not only the completed ones of some period: which
/// period counts is the duty's business (its `where`), so a changed cadence or a later
/// evaluation judges the same stored snapshot, and an instance still `InProgress` past its
/// end, the very thing a reviewer must hear about, is in the evidence with its open
/// decisions. Graph keeps the instances of a recurring review, so a long history costs
/// requests; `max_bytes` bounds what is read.
fn decisions_of_each(
    client: &mut Api<'_>,
    http: &Http,
    run: &Run,
    definitions: &Url,
) -> Result<Vec<serde_json::Value>, String> {
    let mut decisions = Vec::new();
    for instance in instances_of_each(client, http, run, definitions)? {
        let id = required_id(
            &instance,
            definitions,
            "access review instance",
            "decisions",
        )?;
        let Some(definition) = instance.get("definitionId").and_then(|d| d.as_str()) else {
            continue;
        };
        let url = below(definitions, &[definition, "instances", &id, "decisions"]);
        let marks = [
            ("instanceId", Some(serde_json::json!(id))),
            ("instanceStatus", instance.get("status").cloned()),
            (
                "instanceStartDateTime",
                instance.get("startDateTime").cloned(),
            ),
            ("instanceEndDateTime", instance.get("endDateTime").cloned()),
            ("definitionId", instance.get("definitionId").cloned()),
            ("definitionName", instance.get("definitionName").cloned()),
        ];
        for mut decision in client.list(http, run, &url)? {
            if let Some(object) = decision.as_object_mut() {
                for (name, value) in &marks {
                    if let Some(value) = value {
                        object.insert((*name).to_owned(), value.clone());
                    }
                }
            }
            decisions.push(decision);
        }
    }
    Ok(decisions)
}

/// The `id` of an item whose sub-list (`what`) is read next; without one that list cannot
/// be asked for, so the collection fails rather than silently skipping it.
fn required_id(
    item: &serde_json::Value,
    listed_at: &Url,
    item_kind: &str,
    what: &str,
) -> Result<String, String> {
    item.get("id")
        .and_then(|id| id.as_str())
        .map(str::to_owned)
        .ok_or_else(|| {
            format!("{listed_at}: an {item_kind} has no `id`, so its {what} cannot be listed")
        })
}

/// `base` without its query, with `segments` appended to its path.
fn below(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    url.set_query(None);
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    url
}
