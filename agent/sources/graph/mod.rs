//! The `graph` source: one Microsoft Graph resource as one `{"value": [...]}` document: a list
//! and all its pages (userRegistrationDetails, Conditional Access policies, Intune managed
//! devices, access review definitions, Defender XDR incidents, or any `path`), a single object
//! as a list of one (security defaults), or the instances of every access review definition.

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
    let items = match graph.shape {
        GraphShape::List => client.list(http, &run, &graph.url),
        GraphShape::Object => client
            .object(http, &run, &graph.url, graph.url.as_str())
            .map(|object| vec![serde_json::Value::Object(object)]),
        GraphShape::InstancesOfEach => instances_of_each(&mut client, http, &run, &graph.url),
    }
    .map_err(api)?;
    let payload = to_document(&graph.url, serde_json::json!({ "value": items })).map_err(api)?;
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
        let Some(id) = definition.get("id").and_then(|id| id.as_str()) else {
            return Err(format!(
                "{definitions}: an access review definition has no `id`, so its instances cannot be listed"
            ));
        };
        let name = definition.get("displayName").cloned();
        let mut url = definitions.clone();
        url.set_query(None);
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().extend([id, "instances"]);
        }
        for mut instance in client.list(http, run, &url)? {
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
