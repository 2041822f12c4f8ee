//! The keys of the MSP-tool connectors: `kind = "ninjaone"`, `"splunk"`, `"elastic"` and
//! `"http_json"`. Each reads its vendor's API (`base_url` or `url` and a credential) or the
//! same vendor answer saved to a file (`path`), and the same normalizer reads both.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use toml::Spanned;

use super::raw::{RawSource, RawSourceKind};
use super::source::ClientSecret;
use super::{Context, Secrets, resolve};
use crate::secret::{SecretError, SecretRef};

/// A connector source, as validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connector {
    pub vendor: Vendor,
    pub input: ConnectorInput,
}

/// Which API, and what of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Vendor {
    NinjaOne(NinjaQuery),
    /// Splunk `/services/data/indexes`.
    Splunk,
    /// Elastic `GET /_ilm/policy`.
    Elastic,
    /// An MSP's own portal.
    HttpJson {
        /// A JSON pointer to the records of a page (`""`: the page is the list).
        records: String,
        next: NextPage,
    },
}

/// A portal's records pointer as the dotted path the JSON reader takes: `/data/items` is
/// `data.items`; `None` for `""` (the page is the list) and for a pointer that has no such
/// form (array indexes and escapes are refused when the config loads).
pub fn pointer_path(pointer: &str) -> Option<dutywatch_checks::predicate::FieldPath> {
    let tokens = pointer.strip_prefix('/')?;
    tokens.replace('/', ".").parse().ok()
}

impl Vendor {
    pub fn name(&self) -> &'static str {
        match self {
            Vendor::NinjaOne(_) => "ninjaone",
            Vendor::Splunk => "splunk",
            Vendor::Elastic => "elastic",
            Vendor::HttpJson { .. } => "http_json",
        }
    }
}

/// The NinjaOne lists dutywatch reads (`resource`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NinjaQuery {
    /// `/v2/queries/os-patches`: pending, failed and rejected OS patches.
    OsPatches,
    /// `/v2/queries/os-patch-installs`: installed and failed patches.
    OsPatchInstalls,
    /// `/v2/devices`.
    Devices,
}

/// (resource name, path, query) of every NinjaOne list.
pub(crate) const NINJA_QUERIES: &[(&str, &str, NinjaQuery)] = &[
    (
        "os-patches",
        "/v2/queries/os-patches",
        NinjaQuery::OsPatches,
    ),
    (
        "os-patch-installs",
        "/v2/queries/os-patch-installs",
        NinjaQuery::OsPatchInstalls,
    ),
    ("devices", "/v2/devices", NinjaQuery::Devices),
];

/// Where a portal's next page is named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextPage {
    /// One page.
    None,
    /// The next page's URL at this JSON pointer of the body.
    Pointer(String),
    /// The `Link: <…>; rel="next"` header.
    LinkHeader,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectorInput {
    Api(Box<Api>),
    /// The vendor's answer saved to a file: the newest match of a path or glob.
    File {
        pattern: PathBuf,
    },
}

/// A connector's API: the first request and how it is authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Api {
    /// The first page, filters included.
    pub url: reqwest::Url,
    pub auth: ApiAuth,
    /// Items per page (NinjaOne `pageSize`, Splunk `count`).
    pub page_size: u32,
    /// At most this many requests a minute (`rate_limit`).
    pub rate_limit: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiAuth {
    /// OAuth 2 client credentials.
    OAuth {
        token_url: reqwest::Url,
        client_id: String,
        client_secret: ClientSecret,
        scope: String,
    },
    /// A fixed secret in a header, after `prefix` (`"Bearer "`, `"ApiKey "`, or none).
    Header {
        name: String,
        prefix: String,
        secret: ClientSecret,
    },
    /// HTTP Basic (`username` and `password`; Splunk and Elastic): the password is read and
    /// redacted like every secret, and goes only into the `Authorization` header.
    Basic {
        username: String,
        password: ClientSecret,
    },
}

/// Items per page when the config says none: NinjaOne's and Splunk's lists are small per
/// item, so few requests.
const DEFAULT_PAGE_SIZE: u32 = 500;

impl Context<'_> {
    /// The keys of a connector source of `kind`.
    pub(super) fn connector(
        &mut self,
        raw: &RawSource,
        kind: RawSourceKind,
        base: &Path,
        offset: usize,
        key: &str,
    ) -> Option<Connector> {
        let start = self.errors.len();
        let vendor_name = match kind {
            RawSourceKind::NinjaOne => "ninjaone",
            RawSourceKind::Splunk => "splunk",
            RawSourceKind::Elastic => "elastic",
            RawSourceKind::HttpJson => "http_json",
            // Not a connector: `source` handles it.
            _ => return None,
        };
        self.refuse_keys(
            offset,
            key,
            &[
                ("format", raw.format.is_some()),
                ("records", raw.records.is_some()),
                ("tenant", raw.tenant.is_some()),
                ("cloud", raw.cloud.is_some()),
                ("graph_url", raw.graph_url.is_some()),
            ],
            |name| {
                format!(
                    "`{name}` is not a key of kind = \"{vendor_name}\" sources; remove it (see the README's section on {vendor_name})"
                )
            },
        );
        let vendor = match kind {
            RawSourceKind::NinjaOne => {
                let query = match &raw.resource {
                    Some(resource) => {
                        match NINJA_QUERIES
                            .iter()
                            .find(|(name, ..)| name == resource.get_ref())
                        {
                            Some((.., query)) => Some(*query),
                            None => {
                                self.error(
                                    resource.span().start,
                                    &format!("{key}.resource"),
                                    format!("`{}` is not a NinjaOne list dutywatch reads; write \"os-patches\", \"os-patch-installs\" or \"devices\"", resource.get_ref()),
                                );
                                None
                            }
                        }
                    }
                    None => {
                        self.error(
                            offset,
                            &format!("{key}.resource"),
                            "a ninjaone source needs `resource`: \"os-patches\", \"os-patch-installs\" or \"devices\"".to_owned(),
                        );
                        None
                    }
                };
                Vendor::NinjaOne(query?)
            }
            RawSourceKind::Splunk => Vendor::Splunk,
            RawSourceKind::Elastic => Vendor::Elastic,
            // http_json: the only connector left.
            _ => {
                let records = match &raw.records_pointer {
                    None => String::new(),
                    Some(pointer) => {
                        let text = pointer.get_ref().trim();
                        if !(text.is_empty() || pointer_path(text).is_some()) || text.contains('.')
                        {
                            self.error(
                                pointer.span().start,
                                &format!("{key}.records_pointer"),
                                format!("`{text}` is not a JSON pointer to the records dutywatch can read; write it from the top of the page with object keys only (letters, digits, `_`, `-`), e.g. \"/data/items\", or leave it out when the page is the list"),
                            );
                        }
                        text.to_owned()
                    }
                };
                let next = match raw
                    .next
                    .as_ref()
                    .map(|n| (n.get_ref().trim(), n.span().start))
                {
                    None | Some(("none", _)) => NextPage::None,
                    Some(("link", _)) => NextPage::LinkHeader,
                    Some((pointer, _)) if pointer.starts_with('/') => {
                        NextPage::Pointer(pointer.to_owned())
                    }
                    Some((other, at)) => {
                        self.error(
                            at,
                            &format!("{key}.next"),
                            format!("`{other}` is no paging dutywatch knows; write \"link\" (the Link header's rel=\"next\"), a JSON pointer to the next page's URL such as \"/links/next\", or \"none\""),
                        );
                        NextPage::None
                    }
                };
                Vendor::HttpJson { records, next }
            }
        };
        if !matches!(vendor, Vendor::NinjaOne(_) | Vendor::Elastic)
            && let Some(resource) = &raw.resource
        {
            self.error(
                resource.span().start,
                &format!("{key}.resource"),
                format!("`resource` names a NinjaOne list or Elastic policies; a {vendor_name} source reads one list"),
            );
        }
        if !matches!(vendor, Vendor::HttpJson { .. }) {
            self.refuse_keys(
                offset,
                key,
                &[
                    ("url", raw.url.is_some()),
                    ("next", raw.next.is_some()),
                    ("records_pointer", raw.records_pointer.is_some()),
                    ("header", raw.header.is_some()),
                ],
                |name| format!("`{name}` is for kind = \"http_json\" sources; a {vendor_name} source knows its vendor's API"),
            );
        }
        let input = match (&raw.path, raw.base_url.as_ref().or(raw.url.as_ref())) {
            (Some(path), None) => {
                let pattern = resolve(base, path.get_ref());
                if glob::Pattern::new(&pattern.to_string_lossy()).is_err() {
                    self.error(
                        path.span().start,
                        &format!("{key}.path"),
                        format!("`{}` is not a valid glob", path.get_ref()),
                    );
                }
                self.refuse_keys(
                    offset,
                    key,
                    &[
                        ("client_id", raw.client_id.is_some()),
                        ("client_secret", raw.client_secret.is_some()),
                        ("token", raw.token.is_some()),
                        ("username", raw.username.is_some()),
                        ("password", raw.password.is_some()),
                        ("token_url", raw.token_url.is_some()),
                        ("scope", raw.scope.is_some()),
                        ("rate_limit", raw.rate_limit.is_some()),
                        ("page_size", raw.page_size.is_some()),
                    ],
                    |name| format!("`{name}` is for reading the API; this source reads the saved answer at `path`"),
                );
                Some(ConnectorInput::File { pattern })
            }
            (None, Some(_)) => self
                .connector_api(raw, &vendor, offset, key)
                .map(|api| ConnectorInput::Api(Box::new(api))),
            (Some(path), Some(_)) => {
                self.error(
                    path.span().start,
                    &format!("{key}.path"),
                    format!(
                        "set either `path` (a saved answer) or the API's `{}`, not both",
                        if matches!(vendor, Vendor::HttpJson { .. }) {
                            "url"
                        } else {
                            "base_url"
                        }
                    ),
                );
                None
            }
            (None, None) => {
                let api = if matches!(vendor, Vendor::HttpJson { .. }) {
                    "`url` (the first page)"
                } else {
                    "`base_url` (scheme, host and port of the API)"
                };
                self.error(
                    offset,
                    &format!("{key}.base_url"),
                    format!("a {vendor_name} source needs {api}, or `path` to read the vendor's answer saved to a file"),
                );
                None
            }
        };
        if self.errors.len() > start {
            return None;
        }
        Some(Connector {
            vendor,
            input: input?,
        })
    }

    fn connector_api(
        &mut self,
        raw: &RawSource,
        vendor: &Vendor,
        offset: usize,
        key: &str,
    ) -> Option<Api> {
        let start = self.errors.len();
        let is_portal = matches!(vendor, Vendor::HttpJson { .. });
        let (base_key, given) = if is_portal {
            ("url", raw.url.as_ref())
        } else {
            ("base_url", raw.base_url.as_ref())
        };
        let Some(given) = given else {
            let (wrong, right) = if is_portal {
                ("base_url", "url")
            } else {
                ("url", "base_url")
            };
            self.error(
                offset,
                &format!("{key}.{wrong}"),
                format!("write the API's address as `{right}`"),
            );
            return None;
        };
        let base = self.absolute_url(given, &format!("{key}.{base_key}"))?;
        let mut url = if is_portal {
            base.clone()
        } else {
            let path = match vendor {
                Vendor::NinjaOne(query) => NINJA_QUERIES
                    .iter()
                    .find(|(.., q)| q == query)
                    .map_or("/v2/devices", |(_, path, _)| *path),
                Vendor::Splunk => "/services/data/indexes",
                _ => "/_ilm/policy",
            };
            // Elastic: one policy (or a comma-separated few) instead of all.
            let policy = match (vendor, &raw.resource) {
                (Vendor::Elastic, Some(resource)) => {
                    let name = resource.get_ref().trim();
                    if name.is_empty()
                        || !name
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"-_.,+".contains(&b))
                    {
                        self.error(
                            resource.span().start,
                            &format!("{key}.resource"),
                            format!("`{name}` is not an ILM policy name (letters, digits, `-`, `_`, `.`, `+`; several separated by `,`)"),
                        );
                    }
                    format!("/{name}")
                }
                _ => String::new(),
            };
            let text = format!("{}{path}{policy}", base.as_str().trim_end_matches('/'));
            match reqwest::Url::parse(&text) {
                Ok(url) => url,
                Err(error) => {
                    self.error(
                        given.span().start,
                        &format!("{key}.{base_key}"),
                        format!("`{text}` is not a URL: {error}"),
                    );
                    return None;
                }
            }
        };
        if matches!(vendor, Vendor::Splunk) {
            url.query_pairs_mut().append_pair("output_mode", "json");
        }
        if !raw.params.is_empty() {
            if matches!(vendor, Vendor::Elastic) {
                self.error(
                    offset,
                    &format!("{key}.params"),
                    "`params` adds query parameters; Elastic's `_ilm/policy` takes none".to_owned(),
                );
            }
            let mut pairs = url.query_pairs_mut();
            for (name, value) in &raw.params {
                pairs.append_pair(name, value.get_ref());
            }
            drop(pairs);
            // Said at the parameter, as the URL check would say it at the source.
            let paging: &[&str] = match vendor {
                Vendor::NinjaOne(_) => &["pageSize", "cursor", "after"],
                Vendor::Splunk => &["count", "offset", "output_mode"],
                _ => &[],
            };
            for (name, value) in &raw.params {
                if let Err(message) = super::source::credential_free_name(name) {
                    self.error(value.span().start, &format!("{key}.params.{name}"), message);
                } else if paging.iter().any(|p| p.eq_ignore_ascii_case(name)) {
                    self.error(
                        value.span().start,
                        &format!("{key}.params.{name}"),
                        format!("`{name}` is set by dutywatch as it pages ({}); remove it, and set the page size with `page_size`", paging.join(", ")),
                    );
                }
            }
        }
        let page_size = match &raw.page_size {
            None => DEFAULT_PAGE_SIZE,
            Some(size) if (1..=10_000).contains(size.get_ref()) => *size.get_ref(),
            Some(size) => {
                self.error(
                    size.span().start,
                    &format!("{key}.page_size"),
                    format!(
                        "`{}` items a page is out of range; write 1 to 10000",
                        size.get_ref()
                    ),
                );
                DEFAULT_PAGE_SIZE
            }
        };
        let rate_limit = self.rate_limit(raw, key);
        if !matches!(vendor, Vendor::Splunk | Vendor::Elastic) {
            self.refuse_keys(
                offset,
                key,
                &[
                    ("username", raw.username.is_some()),
                    ("password", raw.password.is_some()),
                ],
                |name| format!("`{name}` (HTTP Basic) is for kind = \"splunk\" and \"elastic\" sources; a {} source takes {}", vendor.name(), if matches!(vendor, Vendor::NinjaOne(_)) { "`client_id` and `client_secret`" } else { "`token`" }),
            );
        }
        let basic = matches!(vendor, Vendor::Splunk | Vendor::Elastic)
            && (raw.username.is_some() || raw.password.is_some());
        let auth = if basic {
            self.basic_auth(raw, vendor, offset, key)
        } else if matches!(vendor, Vendor::NinjaOne(_)) {
            self.refuse_keys(offset, key, &[("token", raw.token.is_some())], |_| "NinjaOne takes OAuth client credentials: `client_id` and `client_secret`, not `token`".to_owned());
            let client_id = match &raw.client_id {
                Some(id) if !id.get_ref().trim().is_empty() => Some(id.get_ref().trim().to_owned()),
                _ => {
                    self.error(offset, &format!("{key}.client_id"), "a ninjaone source needs `client_id`, the client id of the API application (Administration → Apps → API)".to_owned());
                    None
                }
            };
            let client_secret = match &raw.client_secret {
                Some(reference) => self.source_secret(reference, &format!("{key}.client_secret")),
                None => {
                    self.error(offset, &format!("{key}.client_secret"), "a ninjaone source needs `client_secret`, e.g. client_secret = { credential = \"ninjaone-client-secret\" }".to_owned());
                    None
                }
            };
            let token_url = match &raw.token_url {
                Some(text) => self.absolute_url(text, &format!("{key}.token_url")),
                None => reqwest::Url::parse(&format!(
                    "{}/ws/oauth/token",
                    base.as_str().trim_end_matches('/')
                ))
                .ok(),
            };
            let scope = raw.scope.as_ref().map_or_else(
                || "monitoring".to_owned(),
                |s| s.get_ref().trim().to_owned(),
            );
            match (token_url, client_id, client_secret) {
                (Some(token_url), Some(client_id), Some(client_secret)) => Some(ApiAuth::OAuth {
                    token_url,
                    client_id,
                    client_secret,
                    scope,
                }),
                _ => None,
            }
        } else {
            self.refuse_keys(
                offset,
                key,
                &[
                    ("client_id", raw.client_id.is_some()),
                    ("client_secret", raw.client_secret.is_some()),
                    ("token_url", raw.token_url.is_some()),
                    ("scope", raw.scope.is_some()),
                ],
                |name| {
                    format!(
                        "`{name}` is for OAuth (kind = \"ninjaone\"); this source sends `token`"
                    )
                },
            );
            let example = match vendor {
                Vendor::Splunk => {
                    "a Splunk authentication token, e.g. token = { credential = \"splunk-token\" }"
                }
                Vendor::Elastic => {
                    "the base64 `encoded` value of an Elastic API key, e.g. token = { credential = \"elastic-api-key\" }"
                }
                _ => "the portal's API token, e.g. token = { credential = \"portal-token\" }",
            };
            let secret = match &raw.token {
                Some(reference) => self.source_secret(reference, &format!("{key}.token")),
                None => {
                    self.error(
                        offset,
                        &format!("{key}.token"),
                        format!("this source needs `token`: {example}"),
                    );
                    None
                }
            };
            let (name, prefix) = match (vendor, &raw.header) {
                (Vendor::Elastic, _) => ("Authorization".to_owned(), "ApiKey ".to_owned()),
                (Vendor::HttpJson { .. }, Some(header)) => {
                    let name = header.get_ref().trim();
                    if name.is_empty()
                        || !name
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                    {
                        self.error(
                            header.span().start,
                            &format!("{key}.header"),
                            // Not repeated: `X-API-Key: <the key>` is the likeliest mistake.
                            "this is not a header name (not repeated here: it may hold the key itself); write the name only, e.g. \"X-API-Key\", and give the key as `token` = { credential = \"…\" }".to_owned(),
                        );
                    }
                    (name.to_owned(), String::new())
                }
                _ => ("Authorization".to_owned(), "Bearer ".to_owned()),
            };
            secret.map(|secret| ApiAuth::Header {
                name,
                prefix,
                secret,
            })
        };
        if self.errors.len() > start {
            return None;
        }
        Some(Api {
            url,
            auth: auth?,
            page_size,
            rate_limit,
        })
    }

    /// `username` and `password` (HTTP Basic) of a Splunk or Elastic source: both, and no
    /// `token` or OAuth key beside them, since which credential is sent must never be a guess.
    fn basic_auth(
        &mut self,
        raw: &RawSource,
        vendor: &Vendor,
        offset: usize,
        key: &str,
    ) -> Option<ApiAuth> {
        let vendor_name = vendor.name();
        self.refuse_keys(
            offset,
            key,
            &[
                ("token", raw.token.is_some()),
                ("client_id", raw.client_id.is_some()),
                ("client_secret", raw.client_secret.is_some()),
                ("token_url", raw.token_url.is_some()),
                ("scope", raw.scope.is_some()),
            ],
            |name| format!("`{name}` and `username`/`password` are two ways to sign in; a {vendor_name} source takes either `token` or `username` with `password`, so remove one"),
        );
        let username = match &raw.username {
            Some(name) if !name.get_ref().trim().is_empty() && !name.get_ref().contains(':') => {
                Some(name.get_ref().trim().to_owned())
            }
            Some(name) => {
                self.error(
                    name.span().start,
                    &format!("{key}.username"),
                    "`username` is empty or holds a `:`, which HTTP Basic cannot send; write the account's name, e.g. username = \"dutywatch\"".to_owned(),
                );
                None
            }
            None => {
                self.error(
                    offset,
                    &format!("{key}.username"),
                    "`password` needs the account's `username`, e.g. username = \"dutywatch\""
                        .to_owned(),
                );
                None
            }
        };
        let password = match &raw.password {
            Some(reference) => self.source_secret(reference, &format!("{key}.password")),
            None => {
                self.error(
                    offset,
                    &format!("{key}.password"),
                    format!("`username` needs `password`, a reference such as password = {{ credential = \"{vendor_name}-password\" }}, {{ file = \"/path\" }} or {{ env = \"VAR\" }}"),
                );
                None
            }
        };
        Some(ApiAuth::Basic {
            username: username?,
            password: password?,
        })
    }

    fn absolute_url(&mut self, value: &Spanned<String>, key: &str) -> Option<reqwest::Url> {
        match super::source::checked_url(value.get_ref().trim()) {
            Ok(url) => Some(url),
            Err(message) => {
                self.error(value.span().start, key, message);
                None
            }
        }
    }

    /// A source's secret (a client secret, a token): read now by what collects, else only
    /// where it is. A relative file path is the config directory's.
    pub(super) fn source_secret(
        &mut self,
        reference: &Spanned<SecretRef>,
        key: &str,
    ) -> Option<ClientSecret> {
        let resolved = reference
            .get_ref()
            .relative_to(&super::config_dir(&self.file));
        let read = match self.secrets {
            Secrets::Skip => Ok(None),
            Secrets::Read | Secrets::ReadWhereReadable => match resolved.resolve_with(self.env) {
                Ok(secret) => Ok(Some(Arc::new(secret))),
                Err(SecretError::NoCredentialsDirectory { .. })
                    if self.secrets == Secrets::ReadWhereReadable =>
                {
                    Ok(None)
                }
                Err(error) => Err(error),
            },
        };
        match read {
            Ok(read) => Some(ClientSecret {
                reference: resolved,
                read,
            }),
            Err(error) => {
                self.error(
                    reference.span().start,
                    key,
                    format!(
                        "cannot resolve the {}: {error}",
                        if key.ends_with("client_secret") {
                            "client secret"
                        } else {
                            "secret"
                        }
                    ),
                );
                None
            }
        }
    }

    /// Connector keys on a `file` or `graph` source are mistakes, not options.
    /// The keys only the connectors take, refused on another kind of source; `rate_limit`
    /// is refused only on a file source (`api`: a Graph or ARM source takes it).
    pub(super) fn reject_connector_keys(
        &mut self,
        raw: &RawSource,
        offset: usize,
        key: &str,
        api: bool,
    ) {
        self.refuse_keys(
            offset,
            key,
            &[
                ("base_url", raw.base_url.is_some()),
                ("url", raw.url.is_some()),
                ("token", raw.token.is_some()),
                ("username", raw.username.is_some()),
                ("password", raw.password.is_some()),
                ("header", raw.header.is_some()),
                ("scope", raw.scope.is_some()),
                ("params", !raw.params.is_empty()),
                ("page_size", raw.page_size.is_some()),
                ("next", raw.next.is_some()),
                ("records_pointer", raw.records_pointer.is_some()),
            ],
            |name| match name {
                "username" | "password" => {
                    format!("`{name}` (HTTP Basic) is for the splunk and elastic sources")
                }
                _ => format!("`{name}` is for the ninjaone, splunk, elastic and http_json sources"),
            },
        );
        if !api {
            self.refuse_keys(
                offset,
                key,
                &[("rate_limit", raw.rate_limit.is_some())],
                |_| "`rate_limit` is for the API sources (graph, arm, ninjaone, splunk, elastic, http_json); a file is read, not requested".to_owned(),
            );
        }
    }

    /// `rate_limit`: at most this many requests a minute for the source, at least 1.
    pub(super) fn rate_limit(&mut self, raw: &RawSource, key: &str) -> Option<u32> {
        match &raw.rate_limit {
            None => None,
            Some(limit) if *limit.get_ref() >= 1 => Some(*limit.get_ref()),
            Some(limit) => {
                self.error(
                    limit.span().start,
                    &format!("{key}.rate_limit"),
                    "a rate limit of 0 requests a minute would never collect; write at least 1 (or leave it out)".to_owned(),
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::{SourceKind, parse_with_env};

    /// A config with one connector source of `keys`, the token in `$TOKEN`.
    fn parse(keys: &str) -> Result<Connector, String> {
        let text = format!(
            r#"perspective = "contractor"
timezone = "UTC"
database = "state/dutywatch.db"

[mail]
from = "dutywatch@acme.example"
transport = "file"

[msp]
name = "Keystone IT"
contacts = ["soc@keystone.example"]

[[contractor]]
id = "acme"
name = "Acme Machining"
contacts = ["it@acme.example"]

[[contractor.crm]]
id = "3.3.1"
owner = "msp"
msp_does = "Keeps logs"

[[contractor.source]]
id = "s"
schedule = "0 6 * * *"
{keys}
"#
        );
        let env = |name: &str| (name == "TOKEN").then(|| "tok-value".to_owned());
        let config = parse_with_env(Path::new("/etc/dutywatch/dutywatch.toml"), &text, &env)
            .map_err(|errors| errors.to_string())?;
        match &config.contractors[0].sources[0].kind {
            SourceKind::Connector(connector) => Ok((**connector).clone()),
            other => panic!("not a connector: {other:?}"),
        }
    }

    #[test]
    fn each_vendor_builds_its_first_request_and_credential() {
        let ninja = parse(
            "kind = \"ninjaone\"\nevidence = \"patch\"\nresource = \"os-patches\"\nbase_url = \"https://eu.ninjarmm.com/\"\nclient_id = \"c\"\nclient_secret = { env = \"TOKEN\" }\nparams = { df = \"org = 7\" }\nrate_limit = 30",
        )
        .unwrap();
        let ConnectorInput::Api(api) = &ninja.input else {
            panic!("api")
        };
        assert_eq!(
            api.url.as_str(),
            "https://eu.ninjarmm.com/v2/queries/os-patches?df=org+%3D+7"
        );
        assert_eq!(api.rate_limit, Some(30));
        let ApiAuth::OAuth {
            token_url, scope, ..
        } = &api.auth
        else {
            panic!("oauth")
        };
        assert_eq!(token_url.as_str(), "https://eu.ninjarmm.com/ws/oauth/token");
        assert_eq!(scope, "monitoring");

        let splunk = parse("kind = \"splunk\"\nevidence = \"log_retention\"\nbase_url = \"https://splunk:8089\"\ntoken = { env = \"TOKEN\" }").unwrap();
        let ConnectorInput::Api(api) = &splunk.input else {
            panic!("api")
        };
        assert_eq!(
            api.url.as_str(),
            "https://splunk:8089/services/data/indexes?output_mode=json"
        );
        assert!(
            matches!(&api.auth, ApiAuth::Header { name, prefix, .. } if name == "Authorization" && prefix == "Bearer ")
        );

        let elastic = parse("kind = \"elastic\"\nevidence = \"log_retention\"\nbase_url = \"https://es:9200\"\ntoken = { env = \"TOKEN\" }\nresource = \"audit,win\"").unwrap();
        let ConnectorInput::Api(api) = &elastic.input else {
            panic!("api")
        };
        assert_eq!(api.url.as_str(), "https://es:9200/_ilm/policy/audit,win");
        assert!(matches!(&api.auth, ApiAuth::Header { prefix, .. } if prefix == "ApiKey "));

        let basic = parse("kind = \"elastic\"\nevidence = \"log_retention\"\nbase_url = \"https://es:9200\"\nusername = \"svc-dutywatch\"\npassword = { env = \"TOKEN\" }").unwrap();
        let ConnectorInput::Api(api) = &basic.input else {
            panic!("api")
        };
        let ApiAuth::Basic { username, password } = &api.auth else {
            panic!("basic: {:?}", api.auth)
        };
        assert_eq!(username, "svc-dutywatch");
        assert_eq!(password.get().unwrap().expose(), "tok-value");
        assert!(
            !format!("{basic:?}").contains("tok-value"),
            "Debug never shows it"
        );

        let portal = parse("kind = \"http_json\"\nevidence = \"patch\"\nurl = \"https://portal.example/api?page=1\"\ntoken = { env = \"TOKEN\" }\nheader = \"X-API-Key\"\nnext = \"link\"\nrecords_pointer = \"/data/items\"").unwrap();
        assert_eq!(
            portal.vendor,
            Vendor::HttpJson {
                records: "/data/items".to_owned(),
                next: NextPage::LinkHeader
            }
        );

        let saved =
            parse("kind = \"elastic\"\nevidence = \"log_retention\"\npath = \"/srv/ilm.json\"")
                .unwrap();
        assert_eq!(
            saved.input,
            ConnectorInput::File {
                pattern: "/srv/ilm.json".into()
            }
        );
    }

    #[test]
    fn mistakes_are_named_with_their_key_and_the_fix() {
        for (keys, expected) in [
            (
                "kind = \"ninjaone\"\nevidence = \"patch\"\nresource = \"patches\"\nbase_url = \"https://app.ninjarmm.com\"\nclient_id = \"c\"\nclient_secret = { env = \"TOKEN\" }",
                "source[s].resource: `patches` is not a NinjaOne list",
            ),
            (
                "kind = \"splunk\"\nevidence = \"log_retention\"\nbase_url = \"http://splunk.example:8089\"\ntoken = { env = \"TOKEN\" }",
                "is plain HTTP",
            ),
            (
                "kind = \"splunk\"\nevidence = \"log_retention\"\nbase_url = \"https://splunk:8089\"\npath = \"x.json\"\ntoken = { env = \"TOKEN\" }",
                "set either `path` (a saved answer) or the API's `base_url`, not both",
            ),
            (
                "kind = \"elastic\"\nevidence = \"log_retention\"\nbase_url = \"https://es:9200\"",
                "source[s].token: this source needs `token`",
            ),
            (
                "kind = \"ninjaone\"\nevidence = \"patch\"\nresource = \"devices\"\nbase_url = \"https://app.ninjarmm.com\"\ntoken = { env = \"TOKEN\" }\nclient_id = \"c\"\nclient_secret = { env = \"TOKEN\" }",
                "NinjaOne takes OAuth client credentials",
            ),
            (
                "kind = \"http_json\"\nevidence = \"patch\"\nurl = \"https://p.example/a\"\ntoken = { env = \"TOKEN\" }\nnext = \"links.next\"",
                "source[s].next: `links.next` is no paging dutywatch knows",
            ),
            (
                "kind = \"http_json\"\nevidence = \"patch\"\nurl = \"https://p.example/a\"\ntoken = { env = \"TOKEN\" }\nrecords_pointer = \"data.items\"",
                "source[s].records_pointer: `data.items` is not a JSON pointer",
            ),
            (
                "kind = \"file\"\nevidence = \"patch\"\npath = \"x.json\"\nrate_limit = 5",
                "source[s].rate_limit: `rate_limit` is for the API sources (graph, arm, ninjaone, splunk, elastic, http_json)",
            ),
            (
                "kind = \"splunk\"\nevidence = \"log_retention\"\nbase_url = \"https://splunk:8089\"\ntoken = { env = \"MISSING\" }",
                "source[s].token: cannot resolve the secret",
            ),
            (
                "kind = \"splunk\"\nevidence = \"log_retention\"\nbase_url = \"https://splunk:8089\"\ntoken = { env = \"TOKEN\" }\nusername = \"svc\"\npassword = { env = \"TOKEN\" }",
                "source[s].token: `token` and `username`/`password` are two ways to sign in; a splunk source takes either",
            ),
            (
                "kind = \"splunk\"\nevidence = \"log_retention\"\nbase_url = \"https://splunk:8089\"\nusername = \"svc\"",
                "source[s].password: `username` needs `password`",
            ),
            (
                "kind = \"elastic\"\nevidence = \"log_retention\"\nbase_url = \"https://es:9200\"\npassword = { env = \"TOKEN\" }",
                "source[s].username: `password` needs the account's `username`",
            ),
            (
                "kind = \"elastic\"\nevidence = \"log_retention\"\nbase_url = \"https://es:9200\"\nusername = \"a:b\"\npassword = { env = \"TOKEN\" }",
                "source[s].username: `username` is empty or holds a `:`",
            ),
            (
                "kind = \"elastic\"\nevidence = \"log_retention\"\nbase_url = \"https://es:9200\"\nusername = \"svc\"\npassword = { env = \"MISSING\" }",
                "source[s].password: cannot resolve the secret",
            ),
            (
                "kind = \"http_json\"\nevidence = \"patch\"\nurl = \"https://p.example/a\"\nusername = \"svc\"\npassword = { env = \"TOKEN\" }",
                "source[s].username: `username` (HTTP Basic) is for kind = \"splunk\" and \"elastic\" sources",
            ),
            (
                "kind = \"splunk\"\nevidence = \"log_retention\"\npath = \"indexes.json\"\nusername = \"svc\"\npassword = { env = \"TOKEN\" }",
                "source[s].password: `password` is for reading the API",
            ),
            (
                "kind = \"file\"\nevidence = \"patch\"\npath = \"x.json\"\npassword = { env = \"TOKEN\" }",
                "source[s].password: `password` (HTTP Basic) is for the splunk and elastic sources",
            ),
        ] {
            let error = parse(keys).unwrap_err();
            assert!(error.contains(expected), "{keys}\n→ {error}");
            assert!(!error.contains("tok-value"));
        }
    }
}
