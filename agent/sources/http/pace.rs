//! Request-rate limits: requests under one limit are spaced evenly, so a vendor's published
//! limit (or the MSP's agreement with it) is kept by construction instead of by being
//! throttled. A limit is keyed: a source's own (`rate_limit`), or a Microsoft tenant's
//! (`tenant_rate_limit`), which every Graph and ARM source of that tenant shares, since Graph
//! throttles per tenant across all apps. The spacing is kept across collections, and across
//! the concurrent collections of a pass, in [`Http`]'s [`Pacer`], so a source collected often
//! does not burst at the start of each run and two sources of one tenant share its budget.

use std::collections::HashMap;
use std::sync::PoisonError;
use std::time::{Duration, Instant};

use super::{Http, Run};

/// At most `per_minute` requests under `key` per minute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimit {
    pub key: String,
    pub per_minute: u32,
}

impl RateLimit {
    /// The interval between two requests.
    pub fn interval(&self) -> Duration {
        Duration::from_secs(60) / self.per_minute.max(1)
    }

    /// The budget of a Microsoft tenant: the tenant as written (ids and domains are not
    /// case-sensitive) at the origin of its token endpoint, which tells the clouds apart.
    pub fn tenant(tenant: &str, token_url: &reqwest::Url, per_minute: u32) -> RateLimit {
        RateLimit {
            key: format!(
                "tenant {}@{}",
                tenant.to_ascii_lowercase(),
                token_url.origin().ascii_serialization()
            ),
            per_minute,
        }
    }
}

/// Per key, the earliest instant its next request may go.
#[derive(Debug, Default)]
pub(super) struct Pacer {
    next: HashMap<String, Instant>,
}

impl Pacer {
    /// Books the first slot of `limit` at or after `at` and returns it; the next one is an
    /// interval later.
    pub(super) fn book(&mut self, limit: &RateLimit, at: Instant) -> Instant {
        let slot = self.next.get(&limit.key).copied().unwrap_or(at).max(at);
        self.next.insert(limit.key.clone(), slot + limit.interval());
        slot
    }

    /// A request went at `sent`, later than the slot `limit` booked for it (another limit
    /// held it back): its next request keeps a whole interval from this one.
    pub(super) fn sent(&mut self, limit: &RateLimit, sent: Instant) {
        let next = self.next.entry(limit.key.clone()).or_insert(sent);
        *next = (*next).max(sent + limit.interval());
    }
}

impl Http {
    /// Waits until every limit of the run lets its next request go, booking their slots one
    /// after the other (the source's, then its tenant's): a request waiting for its source's
    /// slot does not hold a slot of the tenant that the tenant's other sources could use.
    /// Refuses when a slot would pass the collection's deadline; wakes at once on cancel.
    pub(super) fn wait_for_pace(&self, run: &Run, what: &str) -> Result<(), String> {
        let mut at = Instant::now();
        for limit in &run.paces {
            let slot = self
                .pacer
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .book(limit, at);
            if slot >= run.deadline {
                return Err(format!(
                    "{what}: the rate limit of {} request(s) a minute ({}) leaves no time for this request within the {} s one collection may take; raise the limit or narrow the query",
                    limit.per_minute,
                    limit.key,
                    self.policy.max_total.as_secs()
                ));
            }
            let wait = slot.saturating_duration_since(Instant::now());
            if !wait.is_zero() {
                tracing::debug!(
                    limit = %limit.key,
                    wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                    "HttpRateLimited"
                );
                self.cancel.sleep(wait, what)?;
            }
            at = slot.max(at);
        }
        if run.paces.len() > 1 {
            let mut pacer = self.pacer.lock().unwrap_or_else(PoisonError::into_inner);
            for limit in &run.paces {
                pacer.sent(limit, at);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(key: &str, per_minute: u32) -> RateLimit {
        RateLimit {
            key: key.to_owned(),
            per_minute,
        }
    }

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    #[test]
    fn requests_under_one_key_are_booked_an_interval_apart() {
        let mut pacer = Pacer::default();
        let ninja = limit("ninja", 1200);
        assert_eq!(ninja.interval(), ms(50));
        let t0 = Instant::now();
        let slots: Vec<Duration> = (0..4).map(|_| pacer.book(&ninja, t0) - t0).collect();
        assert_eq!(slots, [ms(0), ms(50), ms(100), ms(150)]);
        // A request long after the last slot goes at once.
        assert_eq!(pacer.book(&ninja, t0 + ms(1000)) - t0, ms(1000));
        // Another key is not held back by this one.
        assert_eq!(pacer.book(&limit("splunk", 1), t0) - t0, ms(0));
    }

    #[test]
    fn two_sources_of_one_tenant_share_its_budget() {
        let url = reqwest::Url::parse("https://login.microsoftonline.us/x/oauth2/v2.0/token")
            .expect("url");
        // Written differently, the same tenant.
        let tenant = RateLimit::tenant("Contoso.onmicrosoft.com", &url, 600);
        assert_eq!(
            tenant,
            RateLimit::tenant("contoso.onmicrosoft.com", &url, 600)
        );
        // The same tenant name in another cloud is another tenant.
        let commercial =
            reqwest::Url::parse("https://login.microsoftonline.com/x/oauth2/v2.0/token")
                .expect("url");
        assert_ne!(
            tenant.key,
            RateLimit::tenant("contoso.onmicrosoft.com", &commercial, 600).key
        );

        let mut pacer = Pacer::default();
        let t0 = Instant::now();
        // Graph users, Intune devices and an ARM source of the tenant, all at t0: 100 ms apart.
        let slots: Vec<Duration> = (0..3).map(|_| pacer.book(&tenant, t0) - t0).collect();
        assert_eq!(slots, [ms(0), ms(100), ms(200)]);
    }

    #[test]
    fn a_request_under_a_source_and_a_tenant_limit_keeps_both() {
        let mut pacer = Pacer::default();
        let t0 = Instant::now();
        let slow = limit("slow-source", 30); // every 2 s
        let tenant = limit("tenant", 60); // every 1 s
        // The slow source's first request: both slots free at t0.
        let source_slot = pacer.book(&slow, t0);
        let sent = pacer.book(&tenant, source_slot);
        assert_eq!((source_slot - t0, sent - t0), (ms(0), ms(0)));
        pacer.sent(&slow, sent);
        pacer.sent(&tenant, sent);
        // Another source of the tenant takes the tenant's next slot (1 s) while the slow
        // source waits for its own (2 s): the tenant's slots are not held by that wait.
        assert_eq!(pacer.book(&tenant, t0) - t0, ms(1000));
        let source_slot = pacer.book(&slow, t0);
        assert_eq!(source_slot - t0, ms(2000));
        let sent = pacer.book(&tenant, source_slot);
        assert_eq!(sent - t0, ms(2000));
        // The tenant's busy: a third source waits behind, and the slow source's next request
        // keeps its 2 s from the one that went, even when the tenant held it back.
        let third = pacer.book(&tenant, t0);
        assert_eq!(third - t0, ms(3000));
        pacer.sent(&slow, ms_after(t0, 2500));
        assert_eq!(pacer.book(&slow, t0) - t0, ms(4500));
    }

    fn ms_after(t0: Instant, millis: u64) -> Instant {
        t0 + ms(millis)
    }
}
