//! OAuth 2 client credentials (RFC 6749 §4.4), hand-written: one form POST, one JSON answer.
//! Tokens are cached per token endpoint, client and scope, renewed before they expire and
//! once when a resource server answers 401. The client secret goes only to the token
//! endpoint, and nothing here logs or quotes it.

use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use reqwest::Url;
use reqwest::header::ACCEPT;

use super::{Cap, Http, Run, Secrets, answer_json, quote, read_capped};
use crate::secret::Secret;

/// What the token request needs.
#[derive(Debug)]
pub struct ClientCredentials<'a> {
    pub token_url: &'a Url,
    pub client_id: &'a str,
    pub secret: &'a Secret,
    pub scope: &'a str,
}

impl ClientCredentials<'_> {
    pub(super) fn key(&self) -> TokenKey {
        TokenKey {
            token_url: self.token_url.to_string(),
            client_id: self.client_id.to_owned(),
            scope: self.scope.to_owned(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct TokenKey {
    token_url: String,
    client_id: String,
    scope: String,
}

#[derive(Debug)]
pub(super) struct Token {
    access: Arc<Secret>,
    /// When it is renewed: before its expiry by the policy's margin, or half its lifetime.
    renew_at: Instant,
}

/// A token request that failed: when, and why.
#[derive(Debug)]
pub(super) struct Failed {
    at: Instant,
    error: String,
}

/// The largest token response read.
const MAX_TOKEN_RESPONSE: u64 = 64 * 1024;

/// The longest a token is kept, whatever the endpoint says: Entra issues tokens for one to
/// a few hours; a larger `expires_in` (up to `u64::MAX`, which an `Instant` cannot hold) is
/// an endpoint's mistake, and a day keeps a revoked credential from living on.
const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);

/// A token answer's `expires_in`: whole seconds, a number (v2.0) or a string of digits (the
/// older v1.0 endpoint), capped at [`MAX_TOKEN_LIFETIME`]; else what it holds instead.
fn token_lifetime(
    expires_in: Option<&serde_json::Value>,
    secrets: &Secrets<'_>,
) -> Result<Duration, String> {
    let seconds = match expires_in {
        None | Some(serde_json::Value::Null) => {
            return Err("the answer holds no `expires_in`".to_owned());
        }
        Some(serde_json::Value::Number(n)) => n.as_u64().map(Some),
        Some(serde_json::Value::String(s)) => {
            let s = s.trim();
            if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
                // All digits: too many for a u64 is a lifetime past any cap.
                Some(s.parse::<u64>().ok())
            } else {
                None
            }
        }
        Some(_) => None,
    };
    match seconds {
        Some(seconds) => Ok(seconds.map_or(MAX_TOKEN_LIFETIME, |seconds| {
            Duration::from_secs(seconds).min(MAX_TOKEN_LIFETIME)
        })),
        None => Err(format!(
            "the answer's `expires_in` is {}, not a whole number of seconds",
            quote(
                &expires_in.map(ToString::to_string).unwrap_or_default(),
                secrets
            )
        )),
    }
}

impl Http {
    /// A bearer token for `credentials`: the cached one while it is fresh, else a new one.
    pub(super) fn token(
        &self,
        run: &Run,
        credentials: &ClientCredentials<'_>,
    ) -> Result<Arc<Secret>, String> {
        let key = credentials.key();
        if let Some(token) = self.cached_token(&key) {
            return Ok(token);
        }
        let arrived = Instant::now();
        // One token request per credential at a time: concurrent collections that share the
        // credential wait for that one token instead of each asking for their own.
        let issuing = Arc::clone(
            self.issuing
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(key.clone())
                .or_default(),
        );
        let mut last_failure = issuing.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(token) = self.cached_token(&key) {
            return Ok(token);
        }
        // A request that failed while this one waited for it answers this one too: with the
        // token endpoint hanging, the sources sharing a credential would otherwise each wait
        // out the request timeout in turn, one after the other (six Graph sources: six
        // minutes). The next collection that comes after the failure asks again.
        if let Some(failed) = last_failure.as_ref().filter(|failed| failed.at >= arrived) {
            return Err(format!(
                "{} (the same token request failed moments ago for another collection)",
                failed.error
            ));
        }
        // Only what the endpoint did is handed on: a request this collection cut short itself
        // (its own deadline near, or the daemon stopping) says nothing of the others' chances.
        let full_budget =
            run.deadline.saturating_duration_since(Instant::now()) >= self.policy.request_timeout;
        let issued = self.issue(run, credentials, key);
        *last_failure = match &issued {
            Err(error) if full_budget && !self.cancel.is_cancelled() => Some(Failed {
                at: Instant::now(),
                error: error.clone(),
            }),
            _ => None,
        };
        issued
    }

    /// Asks the token endpoint for a new token for `credentials` and caches it under `key`.
    fn issue(
        &self,
        run: &Run,
        credentials: &ClientCredentials<'_>,
        key: TokenKey,
    ) -> Result<Arc<Secret>, String> {
        let requested = Instant::now();
        let what = format!("token request to {}", credentials.token_url);
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", credentials.client_id),
            ("client_secret", credentials.secret.expose()),
            ("scope", credentials.scope),
        ];
        let response = self.send(run, credentials.token_url, &what, &|client| {
            client
                .post(credentials.token_url.clone())
                .header(ACCEPT, "application/json")
                .form(&form)
        })?;
        let status = response.0.status();
        let body = read_capped(
            response,
            MAX_TOKEN_RESPONSE,
            Cap::TokenAnswer(MAX_TOKEN_RESPONSE),
            &what,
        )?;
        let decoded = answer_json(&body, &what);
        if !status.is_success() {
            let field = |name: &str| {
                decoded
                    .as_ref()
                    .ok()
                    .and_then(|json| json.get(name))
                    .and_then(|value| value.as_str())
                    .map(str::to_owned)
            };
            let detail = match (field("error"), field("error_description")) {
                (Some(code), Some(description)) => format!("{code}: {description}"),
                (Some(code), None) => code,
                _ => String::from_utf8_lossy(&body).into_owned(),
            };
            return Err(format!(
                "{what}: HTTP {} {}; check the tenant, client_id and client_secret of the app registration",
                status.as_u16(),
                quote(&detail, &Secrets::client(credentials, None))
            ));
        }
        let json = decoded?;
        let access = json
            .get("access_token")
            .and_then(|token| token.as_str())
            .filter(|token| !token.is_empty())
            .ok_or_else(|| format!("{what}: the answer holds no `access_token`"))?;
        // It goes into an `Authorization` header, which takes visible ASCII only: a CR, LF or
        // other control character (a header of its own smuggled in) or non-ASCII is refused
        // here, with what is wrong, instead of failing every request as "a builder error".
        if !access.bytes().all(|byte| byte.is_ascii_graphic()) {
            return Err(format!(
                "{what}: the answer's `access_token` holds a space, a control character or non-ASCII, which no bearer token does and no HTTP header can carry; this is no token endpoint's answer (check `token_url`)"
            ));
        }
        let access = Arc::new(Secret::new(access.to_owned()));
        let lifetime = token_lifetime(
            json.get("expires_in"),
            &Secrets::client(credentials, Some(&access)),
        )
        .map_err(|error| format!("{what}: {error}"))?;
        let margin = self.policy.refresh_before_expiry.min(lifetime / 2);
        // `lifetime` is capped, so this cannot overflow; should it, the token is used for
        // this collection only and asked for again by the next.
        let renew_at = requested
            .checked_add(lifetime.saturating_sub(margin))
            .unwrap_or(requested);
        self.tokens
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                key,
                Token {
                    access: Arc::clone(&access),
                    renew_at,
                },
            );
        tracing::debug!(token_url = %credentials.token_url, lifetime_s = lifetime.as_secs(), "HttpTokenIssued");
        Ok(access)
    }

    /// The cached token for `key` while it is fresh.
    fn cached_token(&self, key: &TokenKey) -> Option<Arc<Secret>> {
        let tokens = self.tokens.lock().unwrap_or_else(PoisonError::into_inner);
        tokens
            .get(key)
            .filter(|token| Instant::now() < token.renew_at)
            .map(|token| Arc::clone(&token.access))
    }

    /// Drops the cached token for `key` if it is still `refused` (a server answered 401 to
    /// it): one that another collection already renewed stays.
    pub(super) fn forget_token(&self, key: &TokenKey, refused: &Arc<Secret>) {
        let mut tokens = self.tokens.lock().unwrap_or_else(PoisonError::into_inner);
        if tokens
            .get(key)
            .is_some_and(|token| Arc::ptr_eq(&token.access, refused))
        {
            tokens.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_lifetime_is_capped_and_what_is_no_lifetime_is_said() {
        let json = |text: &str| serde_json::from_str::<serde_json::Value>(text).unwrap();
        assert_eq!(
            token_lifetime(Some(&json("3599")), &Secrets::none()),
            Ok(Duration::from_secs(3599))
        );
        assert_eq!(
            token_lifetime(Some(&json("\" 3599\"")), &Secrets::none()),
            Ok(Duration::from_secs(3599))
        );
        for huge in [
            "18446744073709551615",
            "9223372036854775807",
            "\"18446744073709551615\"",
            "\"123456789012345678901234567890\"",
        ] {
            assert_eq!(
                token_lifetime(Some(&json(huge)), &Secrets::none()),
                Ok(MAX_TOKEN_LIFETIME),
                "{huge}"
            );
        }
        assert_eq!(
            token_lifetime(None, &Secrets::none()),
            Err("the answer holds no `expires_in`".to_owned())
        );
        for (odd, said) in [
            ("-5", "-5"),
            ("\"abc\"", "\"abc\""),
            ("1e10", "10000000000.0"),
            ("true", "true"),
            ("\"-5\"", "\"-5\""),
        ] {
            assert_eq!(
                token_lifetime(Some(&json(odd)), &Secrets::none()),
                Err(format!(
                    "the answer's `expires_in` is {said}, not a whole number of seconds"
                )),
                "{odd}"
            );
        }
    }
}
