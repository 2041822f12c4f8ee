//! The one HTTP layer every API source goes through: one shared client (connect and request
//! timeouts, no redirects, rustls), HTTPS unless to loopback, throttling honoured within
//! bounds, per-source and per-tenant request rates, a cap on what a collection reads, and
//! cancellation on shutdown. One module per job: `retry` (Retry-After, back-off), `oauth`
//! (client credentials, the token cache), `paging` (Graph's and ARM's pages, error envelopes
//! and single objects, NinjaOne cursors, Splunk `count`/`offset`, a next link by JSON pointer
//! or `Link` header), `fetch` (one authenticated JSON page), `pace` (the request-rate limits),
//! `cancel` (the shutdown flag every wait and request checks).
//!
//! Blocking on purpose: the engine collects on a few worker threads of its own (`Http` is
//! shared by them: the client, the token cache and the pacer are behind locks), so an async
//! client would need a runtime handed in for nothing; `reqwest::blocking` keeps one small
//! runtime of its own.

mod cancel;
mod fetch;
mod oauth;
mod pace;
mod paging;
mod redact;
mod retry;

use std::collections::HashMap;
use std::io::Read as _;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use reqwest::Url;
use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::header::{CONTENT_LENGTH, RETRY_AFTER};

pub use cancel::Cancel;
pub(crate) use fetch::{Auth, Budget, Session};
pub use oauth::ClientCredentials;
pub use pace::RateLimit;
pub(crate) use paging::{Api, Dialect, to_document};
pub(crate) use paging::{
    collect_after, collect_cursor, collect_link, collect_offset, splunk_messages,
};
use redact::{Secrets, quote};

/// The bounds of every HTTP collection. The defaults suit the daemon; tests shorten the
/// back-off so they take milliseconds.
#[derive(Debug, Clone)]
pub struct HttpPolicy {
    pub connect_timeout: Duration,
    /// One request, body included.
    pub request_timeout: Duration,
    /// Pages of one collection; more is a failed collection.
    pub max_pages: usize,
    /// Retries of one request after 429 or 503.
    pub max_retries: u32,
    /// One collection, retries and waits included.
    pub max_total: Duration,
    /// The first back-off when a 429 or 503 gives no `Retry-After`; it doubles per retry,
    /// up to `backoff_cap`, jittered to between half and all of it.
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// The longest `Retry-After` honoured; a server asking for more fails the collection.
    pub max_retry_after: Duration,
    /// A cached token is renewed this long before it expires (at most half its lifetime).
    pub refresh_before_expiry: Duration,
}

impl Default for HttpPolicy {
    fn default() -> Self {
        HttpPolicy {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            max_pages: 1_000,
            max_retries: 6,
            max_total: Duration::from_secs(300),
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(60),
            max_retry_after: Duration::from_secs(120),
            refresh_before_expiry: Duration::from_secs(300),
        }
    }
}

/// The shared client and token cache. Cheap to create: the client is built on first use.
#[derive(Debug, Default)]
pub struct Http {
    policy: HttpPolicy,
    client: Mutex<Option<Clients>>,
    tokens: Mutex<HashMap<oauth::TokenKey, oauth::Token>>,
    /// Per credential, held while its token is requested, with how its last request failed
    /// (see `oauth`).
    issuing: Mutex<HashMap<oauth::TokenKey, std::sync::Arc<Mutex<Option<oauth::Failed>>>>>,
    /// Per rate limit (a source's, a tenant's): the earliest instant its next request may go.
    pacer: Mutex<pace::Pacer>,
    /// Raised when the daemon stops: waits end, no further request goes.
    cancel: Cancel,
}

/// The shared clients, built on first use: through the environment's proxy, and direct.
#[derive(Debug)]
struct Clients {
    proxied: Client,
    direct: Client,
}

/// One collection in progress: its deadline and the instant it speaks for.
#[derive(Debug)]
pub(crate) struct Run {
    started: Instant,
    deadline: Instant,
    /// The engine's `now` when the collection started; HTTP dates are read against it.
    now: Timestamp,
    /// The request-rate limits its requests keep: the source's, then its tenant's.
    paces: Vec<RateLimit>,
}

impl Run {
    fn now(&self) -> Timestamp {
        let elapsed = jiff::SignedDuration::try_from(self.started.elapsed()).unwrap_or_default();
        self.now.checked_add(elapsed).unwrap_or(self.now)
    }
}

impl Http {
    pub fn new(policy: HttpPolicy) -> Http {
        Http {
            policy,
            ..Http::default()
        }
    }

    pub fn policy(&self) -> &HttpPolicy {
        &self.policy
    }

    pub(crate) fn start(&self, now: Timestamp) -> Run {
        let started = Instant::now();
        Run {
            started,
            deadline: started + self.policy.max_total,
            now,
            paces: Vec::new(),
        }
    }

    /// [`Http::start`] for a source whose requests keep `paces` (its own limit first).
    pub(crate) fn start_paced(
        &self,
        now: Timestamp,
        paces: impl IntoIterator<Item = RateLimit>,
    ) -> Run {
        Run {
            paces: paces.into_iter().collect(),
            ..self.start(now)
        }
    }

    /// The flag that stops this client's collections (see [`Cancel`]).
    pub fn cancellation(&self) -> &Cancel {
        &self.cancel
    }

    /// The client for `url`: one that never goes through a proxy for a loopback URL (its
    /// plain HTTP, allowed because it stays on this host, would otherwise carry the client
    /// secret and the bearer token in clear text to whatever `HTTP_PROXY` names), else one
    /// that honours the environment's `HTTPS_PROXY`, `ALL_PROXY` and `NO_PROXY`.
    fn client(&self, url: &Url) -> Result<Client, String> {
        let mut clients = self.client.lock().unwrap_or_else(PoisonError::into_inner);
        if clients.is_none() {
            *clients = Some(Clients {
                proxied: self.build_client(true)?,
                direct: self.build_client(false)?,
            });
        }
        let Some(clients) = &*clients else {
            return Err("cannot set up the HTTP client".to_owned());
        };
        Ok(if is_loopback(url) {
            clients.direct.clone()
        } else {
            clients.proxied.clone()
        })
    }

    fn build_client(&self, proxied: bool) -> Result<Client, String> {
        let builder = Client::builder()
            .connect_timeout(self.policy.connect_timeout)
            .timeout(self.policy.request_timeout)
            // A redirect could carry the bearer token (or, from the token endpoint, the
            // form) somewhere else; every URL dutywatch calls is configured or a nextLink.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("dutywatch/", env!("CARGO_PKG_VERSION")));
        let builder = if proxied { builder } else { builder.no_proxy() };
        builder
            .build()
            .map_err(|error| format!("cannot set up the HTTP client: {}", chain(&error)))
    }

    /// Sends the request `build` makes, again after a 429 or 503 as long as the bounds allow:
    /// the wait its `Retry-After` asks (seconds or an HTTP date), else a jittered exponential
    /// back-off. A redirect is refused, naming the host it points to. Any other answer is
    /// returned as it is, with the timeout its body is read within.
    pub(crate) fn send(
        &self,
        run: &Run,
        url: &Url,
        what: &str,
        build: &dyn Fn(&Client) -> RequestBuilder,
    ) -> Result<(Response, Duration), String> {
        let client = self.client(url)?;
        let mut retries = 0;
        loop {
            self.cancel.check(what)?;
            let remaining = run.deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(format!(
                    "{what}: gave up after {} s, the most one collection may take",
                    self.policy.max_total.as_secs()
                ));
            }
            self.wait_for_pace(run, what)?;
            self.cancel.check(what)?;
            let remaining = run.deadline.saturating_duration_since(Instant::now());
            let timeout = self.policy.request_timeout.min(remaining);
            let response = build(&client)
                .timeout(timeout)
                .send()
                .map_err(|error| describe_send_error(what, &error, timeout))?;
            let status = response.status();
            if status.is_redirection() {
                return Err(redirect_refused(what, url, &response));
            }
            if status != reqwest::StatusCode::TOO_MANY_REQUESTS
                && status != reqwest::StatusCode::SERVICE_UNAVAILABLE
            {
                return Ok((response, timeout));
            }
            if retries >= self.policy.max_retries {
                return Err(format!(
                    "{what}: still HTTP {} after {retries} retries",
                    status.as_u16()
                ));
            }
            let asked = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| retry::retry_after(value, run.now()));
            let wait = match asked {
                Some(wait) if wait > self.policy.max_retry_after => {
                    return Err(format!(
                        "{what}: HTTP {} asks to retry after {} s, longer than the {} s dutywatch waits; the next scheduled collection tries again",
                        status.as_u16(),
                        wait.as_secs(),
                        self.policy.max_retry_after.as_secs()
                    ));
                }
                Some(wait) => wait,
                None => retry::backoff(&self.policy, retries),
            };
            if Instant::now()
                .checked_add(wait)
                .is_none_or(|until| until >= run.deadline)
            {
                return Err(format!(
                    "{what}: HTTP {}, and waiting {} ms more would pass the {} s one collection may take",
                    status.as_u16(),
                    wait.as_millis(),
                    self.policy.max_total.as_secs()
                ));
            }
            tracing::info!(
                status = status.as_u16(),
                wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                retry_after = asked.is_some(),
                retry = retries + 1,
                "HttpThrottledRetrying"
            );
            drop(response);
            self.cancel.sleep(wait, what)?;
            retries += 1;
        }
    }
}

/// Whose limit a body is read within, which the message for one too large names.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Cap {
    /// The source's `max_bytes`, for all its pages together.
    Source(u64),
    /// A token endpoint's answer, which is small; this is dutywatch's own limit on it.
    TokenAnswer(u64),
}

/// Reads `response`'s body, refusing one over `limit` bytes (by its `Content-Length`, then
/// while reading), within `timeout` (what `send` gave the request); `cap` says whose limit.
pub(crate) fn read_capped(
    (response, timeout): (Response, Duration),
    limit: u64,
    cap: Cap,
    what: &str,
) -> Result<Vec<u8>, String> {
    let too_large = || match cap {
        Cap::Source(cap) => format!(
            "{what}: the pages pass the source's `max_bytes` of {}",
            crate::config::describe_size(cap.max(1))
        ),
        Cap::TokenAnswer(cap) => format!(
            "{what}: the token answer is larger than the {} dutywatch reads of one; this is no token endpoint's answer (check `token_url`)",
            crate::config::describe_size(cap.max(1))
        ),
    };
    let declared = response
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(too_large());
    }
    let mut body =
        Vec::with_capacity(usize::try_from(declared.unwrap_or(0).min(limit)).unwrap_or(0));
    response
        .take(limit.saturating_add(1))
        .read_to_end(&mut body)
        .map_err(|error| describe_read_error(what, &error, timeout))?;
    if body.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(body)
}

/// Why a body stopped coming: the request's timeout (headers came, the rest did not), or
/// the connection broke.
fn describe_read_error(what: &str, error: &std::io::Error, timeout: Duration) -> String {
    let timed_out = error.kind() == std::io::ErrorKind::TimedOut
        || error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<reqwest::Error>())
            .is_some_and(reqwest::Error::is_timeout)
        || chain(error).contains("timed out");
    if timed_out {
        format!("{what}: no complete answer within {}", seconds(timeout))
    } else {
        format!("{what}: the response broke off: {}", chain(error))
    }
}

/// A redirect's refusal: dutywatch follows none (a bearer token or client secret would go
/// along), so the message says where it pointed, by host only (its path and query may carry
/// anything), for the URL to be configured if that is right.
fn redirect_refused(what: &str, url: &Url, response: &Response) -> String {
    let status = response.status().as_u16();
    let target = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|location| url.join(location).ok());
    match target {
        Some(target) => format!(
            "{what}: HTTP {status}, a redirect to `{}`; dutywatch follows no redirects (the credential would go along), so configure the URL it should call",
            target.origin().ascii_serialization()
        ),
        None => format!(
            "{what}: HTTP {status}, a redirect with no usable `Location`; dutywatch follows no redirects, so configure the URL it should call"
        ),
    }
}

/// An API answer's JSON, read as a saved answer is (`connector::vendor_json`): a UTF-8 BOM
/// or UTF-16 accepted, and a key twice in one object refused, not resolved last-wins: a user
/// who is `"isMfaRegistered": false` and then `true` is ambiguous, never `met`.
pub(crate) fn answer_json(body: &[u8], what: &str) -> Result<serde_json::Value, String> {
    let (text, _) = dutywatch_checks::decode::text(body)
        .map_err(|error| format!("{what}: the answer is not JSON ({error})"))?;
    dutywatch_checks::decode::json(&text).map_err(|error| {
        if error.message().starts_with("not valid JSON") {
            let cut = if error.message().contains("EOF while parsing") {
                "; it ends in the middle, as if cut off"
            } else {
                ""
            };
            format!("{what}: the answer is not JSON ({error}){cut}")
        } else {
            format!("{what}: the answer cannot be used ({error})")
        }
    })
}

/// HTTPS, or plain HTTP to this host only (a test server, a local proxy): a token or client
/// secret must never cross a network in clear text.
pub fn https_or_loopback(url: &Url) -> Result<(), String> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        "http" => Err(format!(
            "`{url}` is plain HTTP: the bearer token and client secret would cross the network in clear text; use https:// (plain http:// only to localhost, 127.0.0.1 or ::1)"
        )),
        other => Err(format!("`{url}` is a `{other}` URL; use https://")),
    }
}

fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Why a next link `next` may not be followed from a collection that began at `first`, if it
/// may not: it leads to another scheme, host or port, or it carries a user part (the client
/// would send Basic credentials of the server's choosing instead of the bearer token).
fn leads_away(first: &Url, next: &Url) -> Option<String> {
    if !next.username().is_empty() || next.password().is_some() {
        return Some(
            "carries a user part (`user@`), which would send credentials of the server's choosing"
                .to_owned(),
        );
    }
    (!same_origin(first, next)).then(|| {
        format!(
            "leads to `{}`, away from `{}`",
            next.origin().ascii_serialization(),
            first.origin().ascii_serialization()
        )
    })
}

/// Scheme, host and port equal.
fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str().map(str::to_ascii_lowercase) == b.host_str().map(str::to_ascii_lowercase)
        && a.port_or_known_default() == b.port_or_known_default()
}

fn describe_send_error(what: &str, error: &reqwest::Error, timeout: Duration) -> String {
    if error.is_timeout() {
        format!("{what}: no complete answer within {}", seconds(timeout))
    } else if error.is_connect() {
        format!("{what}: cannot connect: {}", chain(error))
    } else {
        format!("{what}: {}", chain(error))
    }
}

/// `timeout` as a message says it, `0.3 s`: tenths of a second at most, as what was left of a
/// collection's budget is no round number.
fn seconds(timeout: Duration) -> String {
    let tenths = (timeout.as_secs_f64() * 10.0).round() / 10.0;
    format!("{tenths} s")
}

/// An error and its causes, `a: b: c`.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
        source = std::error::Error::source(source.expect("is some"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A token endpoint that accepts connections and never answers, and a channel that
    /// hears of each connection it accepts.
    fn silent_token_endpoint() -> (Url, std::sync::mpsc::Receiver<()>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let token_url = Url::parse(&format!(
            "http://{}/tenant/oauth2/v2.0/token",
            listener.local_addr().unwrap()
        ))
        .unwrap();
        let (accepted, connections) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming() {
                held.push(stream);
                if accepted.send(()).is_err() {
                    return;
                }
            }
        });
        (token_url, connections)
    }

    #[test]
    fn a_token_request_cut_short_by_its_own_collection_deadline_does_not_fail_the_others() {
        let (token_url, connections) = silent_token_endpoint();
        let http = Http::new(HttpPolicy {
            request_timeout: Duration::from_secs(3),
            ..HttpPolicy::default()
        });
        let secret = crate::secret::Secret::new("s3cret-value".to_owned());
        let credentials = ClientCredentials {
            token_url: &token_url,
            client_id: "app",
            secret: &secret,
            scope: "https://graph.microsoft.com/.default",
        };
        let now = Timestamp::from_second(1_790_000_000).unwrap();
        std::thread::scope(|scope| {
            // A collection that has all but used up its own 5 minutes (a 401 renewal after
            // many slow pages): its token request gets what is left, 300 ms.
            let first = scope.spawn(|| {
                let mut run = http.start(now);
                run.deadline = Instant::now() + Duration::from_millis(300);
                http.token(&run, &credentials)
            });
            connections.recv().unwrap();
            // A fresh collection with its whole budget waits for that request.
            let second = scope.spawn(|| http.token(&http.start(now), &credentials));
            let first = first.join().unwrap().unwrap_err();
            let second = second.join().unwrap().unwrap_err();
            assert!(first.contains("no complete answer"), "{first}");
            assert!(
                !second.contains("failed moments ago for another collection"),
                "a failure due to another collection's own deadline was handed on: {second}"
            );
        });
    }

    #[test]
    fn a_token_request_that_fails_while_others_wait_for_it_answers_them_too() {
        let (token_url, connections) = silent_token_endpoint();
        let http = Http::new(HttpPolicy {
            request_timeout: Duration::from_millis(500),
            ..HttpPolicy::default()
        });
        let secret = crate::secret::Secret::new("s3cret-value".to_owned());
        let credentials = ClientCredentials {
            token_url: &token_url,
            client_id: "app",
            secret: &secret,
            scope: "https://graph.microsoft.com/.default",
        };
        let now = Timestamp::from_second(1_790_000_000).unwrap();
        std::thread::scope(|scope| {
            let first = scope.spawn(|| http.token(&http.start(now), &credentials));
            // The second asks while the first's request is out.
            connections.recv().unwrap();
            let second = scope.spawn(|| http.token(&http.start(now), &credentials));
            let first = first.join().unwrap().unwrap_err();
            let second = second.join().unwrap().unwrap_err();
            assert!(first.contains("no complete answer within 0.5 s"), "{first}");
            assert!(
                second.starts_with(&first)
                    && second.ends_with(
                        "(the same token request failed moments ago for another collection)"
                    ),
                "{second}"
            );
        });
        assert!(
            connections.try_recv().is_err(),
            "the second collection sent no request of its own"
        );
        // One that comes later asks again.
        assert!(http.token(&http.start(now), &credentials).is_err());
        assert!(connections.try_recv().is_ok(), "asked again");
    }

    #[test]
    fn plain_http_only_to_loopback() {
        for ok in [
            "https://graph.microsoft.us/v1.0",
            "http://127.0.0.1:8080/x",
            "http://localhost/x",
            "http://[::1]:9/x",
        ] {
            assert_eq!(https_or_loopback(&Url::parse(ok).unwrap()), Ok(()), "{ok}");
        }
        for bad in [
            "http://graph.microsoft.com/v1.0",
            "http://10.0.0.1/",
            "ftp://localhost/",
        ] {
            assert!(
                https_or_loopback(&Url::parse(bad).unwrap()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_next_link_stays_on_the_first_pages_origin() {
        let first = Url::parse("https://graph.microsoft.com/v1.0/a").unwrap();
        assert!(same_origin(
            &first,
            &Url::parse("https://GRAPH.microsoft.com:443/v1.0/a?$skiptoken=x").unwrap()
        ));
        assert!(!same_origin(
            &first,
            &Url::parse("https://evil.example/v1.0/a").unwrap()
        ));
        assert!(!same_origin(
            &first,
            &Url::parse("http://graph.microsoft.com/v1.0/a").unwrap()
        ));
        assert!(!same_origin(
            &first,
            &Url::parse("https://graph.microsoft.com:8443/v1.0/a").unwrap()
        ));
        let with_user = Url::parse("https://evil@graph.microsoft.com/v1.0/a?page=2").unwrap();
        assert!(
            leads_away(&first, &with_user).is_some_and(|why| why.contains("carries a user part"))
        );
        assert_eq!(
            leads_away(
                &first,
                &Url::parse("https://graph.microsoft.com/v1.0/a?p=2").unwrap()
            ),
            None
        );
    }
}
