//! One authenticated JSON page: the credential put on the request (a cached OAuth token,
//! renewed once on a 401, or a fixed header), the body read within the collection's byte
//! budget, a vendor's error body turned into one line, and the JSON parsed. The pagers in
//! `paging` call it per page, so every connector fails the same way for the same fault.

use reqwest::header::{ACCEPT, HeaderMap};
use reqwest::{StatusCode, Url};

use std::sync::Arc;

use super::{
    Cap, ClientCredentials, Http, Run, Secrets, answer_json, https_or_loopback, quote, read_capped,
};
use crate::secret::Secret;

/// How a request proves who sends it.
// `OAuth` is the protocol's own name, not `Auth` repeated.
#[allow(clippy::enum_variant_names)]
#[derive(Debug)]
pub(crate) enum Auth<'a> {
    /// OAuth 2 client credentials (NinjaOne): a cached bearer token, renewed once when the
    /// server answers 401.
    OAuth(ClientCredentials<'a>),
    /// A fixed credential in a header: `Authorization: Bearer …` (Splunk, a portal),
    /// `Authorization: ApiKey …` (Elastic) or a header of the portal's own (`X-API-Key: …`).
    Header {
        name: &'a str,
        /// Written before the secret, e.g. `"Bearer "`; empty for a bare header value.
        prefix: &'a str,
        secret: &'a Secret,
    },
    /// HTTP Basic (Splunk, Elastic): `Authorization: Basic base64(username:password)`.
    Basic {
        username: &'a str,
        password: &'a Secret,
    },
}

/// What one collection may still read: the source's `max_bytes` for all pages together.
#[derive(Debug)]
pub(crate) struct Budget {
    read: u64,
    limit: u64,
}

impl Budget {
    pub(crate) fn new(limit: u64) -> Budget {
        Budget { read: 0, limit }
    }
}

/// Turns a vendor's error answer (status and body) into what the message says after the
/// page: the vendor's own code and text (quoted: the secret taken out, cut to a readable
/// length), and what to do about it (kept whole).
pub(crate) type VendorError<'a> = &'a dyn Fn(StatusCode, &[u8]) -> (String, &'static str);

/// What every page of one collection is fetched with: the client, the run's bounds, the
/// credential, the vendor's error reading and the byte budget left.
pub(crate) struct Session<'a> {
    pub(crate) http: &'a Http,
    pub(crate) run: &'a Run,
    pub(crate) auth: &'a Auth<'a>,
    pub(crate) vendor_error: VendorError<'a>,
    pub(crate) budget: Budget,
    /// The bearer token the last page went with (OAuth), which text quoted from that page
    /// must not repeat.
    pub(crate) token: Option<Arc<Secret>>,
}

impl Session<'_> {
    /// [`Http::fetch_json`] within this session.
    pub(crate) fn fetch(&mut self, url: &Url, what: &str) -> Result<Page, String> {
        let page = self.http.fetch_json(
            self.run,
            self.auth,
            url,
            &mut self.budget,
            what,
            self.vendor_error,
        )?;
        self.token = page.token.clone();
        Ok(page)
    }

    /// `text` from a page of this session as an error quotes it: without the credential
    /// and the token the page went with.
    pub(crate) fn quote(&self, text: &str) -> String {
        quote(text, &Secrets::of(self.auth, self.token.as_ref()))
    }

    pub(crate) fn policy(&self) -> &super::HttpPolicy {
        &self.http.policy
    }
}

/// One page's JSON and the headers it came with (a `Link` header may name the next page).
#[derive(Debug)]
pub(crate) struct Page {
    pub(crate) json: serde_json::Value,
    pub(crate) headers: HeaderMap,
    /// The bearer token it was fetched with (OAuth).
    pub(crate) token: Option<Arc<Secret>>,
}

impl Http {
    /// GETs `url` as `auth`, and parses the answer as JSON; any other outcome is the reason
    /// the collection failed, led by `what` (the page and its URL).
    pub(crate) fn fetch_json(
        &self,
        run: &Run,
        auth: &Auth<'_>,
        url: &Url,
        budget: &mut Budget,
        what: &str,
        vendor_error: VendorError<'_>,
    ) -> Result<Page, String> {
        https_or_loopback(url)?;
        let mut refreshed = false;
        loop {
            let token = match auth {
                Auth::OAuth(credentials) => Some(self.token(run, credentials)?),
                Auth::Header { .. } | Auth::Basic { .. } => None,
            };
            let response = self.send(run, url, what, &|client| {
                let request = client.get(url.clone()).header(ACCEPT, "application/json");
                match (auth, &token) {
                    (
                        Auth::Header {
                            name,
                            prefix,
                            secret,
                        },
                        _,
                    ) => request.header(*name, format!("{prefix}{}", secret.expose())),
                    (Auth::Basic { username, password }, _) => {
                        request.basic_auth(username, Some(password.expose()))
                    }
                    (Auth::OAuth(_), Some(token)) => request.bearer_auth(token.expose()),
                    (Auth::OAuth(_), None) => request,
                }
            })?;
            let status = response.0.status();
            if status == StatusCode::UNAUTHORIZED
                && !refreshed
                && let (Auth::OAuth(credentials), Some(token)) = (auth, &token)
            {
                // Expired or revoked before we thought: one new token, the same page again.
                refreshed = true;
                self.forget_token(&credentials.key(), token);
                tracing::info!(what, "HttpTokenRefreshedAfter401");
                continue;
            }
            let headers = response.0.headers().clone();
            let remaining = budget.limit.saturating_sub(budget.read);
            let body = read_capped(response, remaining, Cap::Source(budget.limit), what)?;
            budget.read += body.len() as u64;
            if !status.is_success() {
                let (text, hint) = vendor_error(status, &body);
                let again = if status == StatusCode::UNAUTHORIZED && refreshed {
                    "; refused even with a new token"
                } else {
                    ""
                };
                return Err(format!(
                    "{what}: {}{hint}{again}",
                    quote(&text, &Secrets::of(auth, token.as_ref()))
                ));
            }
            let json = answer_json(&body, what)?;
            return Ok(Page {
                json,
                headers,
                token,
            });
        }
    }
}
