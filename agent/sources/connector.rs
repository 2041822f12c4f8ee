//! The MSP-tool connectors (`ninjaone`, `splunk`, `elastic`, `http_json`): the vendor's API
//! through the one HTTP layer, or the same answer saved to a file, and then the same
//! normalizer, so an MSP that exports by hand is judged exactly as one that connects.

use dutywatch_checks::read::{Parsed, ReadError};
use jiff::Timestamp;

use super::http::{Auth, Budget, ClientCredentials, Http, RateLimit, Session};
use super::{CollectError, Collected, elastic, file, http_json, ninjaone, splunk};
use crate::config::{ApiAuth, Connector, ConnectorInput, FileFormat, Source, Vendor};

pub(super) fn collect(
    source: &Source,
    connector: &Connector,
    http: &Http,
    now: Timestamp,
) -> Result<Collected, CollectError> {
    let api = match &connector.input {
        ConnectorInput::File { pattern } => {
            let raise = format!(
                "if saved answers this large are expected, raise `max_bytes` on source `{}` above the file's size",
                source.id
            );
            return file::collect(pattern, FileFormat::Json, source.max_bytes, &raise);
        }
        ConnectorInput::Api(api) => api,
    };
    let failed = |message: String| CollectError::Api { message };
    let secret = match &api.auth {
        ApiAuth::OAuth { client_secret, .. } => client_secret,
        ApiAuth::Header { secret, .. } => secret,
        ApiAuth::Basic { password, .. } => password,
    }
    .get()
    .map_err(|error| {
        failed(format!(
            "cannot read the secret of source `{}`: {error}",
            source.id
        ))
    })?;
    let auth = match &api.auth {
        ApiAuth::OAuth {
            token_url,
            client_id,
            scope,
            ..
        } => Auth::OAuth(ClientCredentials {
            token_url,
            client_id,
            secret: &secret,
            scope,
        }),
        ApiAuth::Header { name, prefix, .. } => Auth::Header {
            name,
            prefix,
            secret: &secret,
        },
        ApiAuth::Basic { username, .. } => Auth::Basic {
            username,
            password: &secret,
        },
    };
    let pace = api.rate_limit.map(|per_minute| RateLimit {
        key: format!("{}@{}", source.id, api.url.origin().ascii_serialization()),
        per_minute,
    });
    let run = http.start_paced(now, pace);
    let budget = Budget::new(source.max_bytes);
    let session = |vendor_error| Session {
        http,
        run: &run,
        auth: &auth,
        vendor_error,
        budget,
        token: None,
    };
    let payload = match &connector.vendor {
        Vendor::NinjaOne(query) => ninjaone::collect(&mut session(&ninjaone::error), api, *query),
        Vendor::Splunk => splunk::collect(&mut session(&splunk::error), api),
        Vendor::Elastic => elastic::collect(&mut session(&elastic::error), api),
        Vendor::HttpJson { records, next } => {
            http_json::collect(&mut session(&http_json::error), api, records, next)
        }
    }
    // The verdict that tells of the failure names the collector's source (as its log line
    // does): the message need not.
    .map_err(failed)?;
    // The API speaks for the moment it answered; whole seconds, as the store keeps them.
    let effective_at = Timestamp::from_second(now.as_second()).unwrap_or(now);
    Ok(Collected {
        effective_at,
        media_type: "application/json",
        origin: api.url.to_string(),
        payload,
    })
}

/// Reads a vendor answer (collected or saved) into records of the source's kind.
pub(super) fn read(
    source: &Source,
    connector: &Connector,
    origin: &str,
    payload: &[u8],
) -> Result<Parsed, ReadError> {
    match &connector.vendor {
        Vendor::NinjaOne(query) => ninjaone::read(source, *query, origin, payload),
        Vendor::Splunk => splunk::read(source, origin, payload),
        Vendor::Elastic => elastic::read(source, origin, payload),
        Vendor::HttpJson { records, .. } => http_json::read(source, records, origin, payload),
    }
}

/// The vendor document in `payload`, decoded as every export is (BOM, UTF-16, duplicate keys
/// refused), for the normalizers that rebuild it into records.
pub(super) fn vendor_json(origin: &str, payload: &[u8]) -> Result<serde_json::Value, ReadError> {
    let error = |message: String| ReadError {
        origin: origin.to_owned(),
        location: None,
        message,
    };
    let (text, _) = dutywatch_checks::decode::text(payload).map_err(|e| error(e.to_string()))?;
    if text.trim().is_empty() {
        return Err(error(
            "is empty: an export with nothing in it proves nothing".to_owned(),
        ));
    }
    dutywatch_checks::decode::json(&text).map_err(|e| error(e.to_string()))
}

/// Normalized records read as the source's kind.
pub(super) fn read_records(
    source: &Source,
    origin: &str,
    records: Vec<serde_json::Value>,
) -> Result<Parsed, ReadError> {
    let bytes = serde_json::to_vec(&records).map_err(|error| ReadError {
        origin: origin.to_owned(),
        location: None,
        message: format!("cannot hand the records on: {error}"),
    })?;
    dutywatch_checks::read::read(FileFormat::Json, None, origin, &bytes, source.reader())
}

/// An error body's text at the first of `keys` that holds one (`message`, `errorMessage`, …).
pub(super) fn text_at<'a>(json: Option<&'a serde_json::Value>, keys: &[&str]) -> Option<&'a str> {
    let json = json?;
    keys.iter()
        .find_map(|key| json.pointer(key).and_then(serde_json::Value::as_str))
        .filter(|text| !text.trim().is_empty())
}
