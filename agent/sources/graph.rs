//! The `graph` source: one Microsoft Graph list (userRegistrationDetails, Conditional Access
//! policies, or any `path`), all its pages as one `{"value": [...]}` document.

use jiff::Timestamp;

use super::http::{ClientCredentials, Http, collect_odata};
use super::{CollectError, Collected};
use crate::config::{GraphSource, Source};

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
    let run = http.start(now);
    let payload = collect_odata(
        http,
        &run,
        &credentials,
        &graph.url,
        source.max_bytes,
        graph.permission,
    )
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
