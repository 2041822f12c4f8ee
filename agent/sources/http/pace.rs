//! A per-source request-rate limit: requests of one source are spaced evenly, so a vendor's
//! published limit (or the MSP's agreement with it) is kept by construction instead of by
//! being throttled. The spacing is kept across collections in [`Http`], keyed by the source,
//! so a source collected often does not burst at the start of each run.

use std::sync::PoisonError;
use std::time::{Duration, Instant};

use super::{Http, Run};

/// At most `per_minute` requests of source `key` per minute.
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
}

impl Http {
    /// Waits until the run's source may send again and books the slot after it; refuses when
    /// the wait would pass the collection's deadline.
    pub(super) fn wait_for_pace(&self, run: &Run, what: &str) -> Result<(), String> {
        let Some(pace) = &run.pace else {
            return Ok(());
        };
        let slot = {
            let mut paces = self.paces.lock().unwrap_or_else(PoisonError::into_inner);
            let now = Instant::now();
            let slot = paces.get(&pace.key).copied().unwrap_or(now).max(now);
            paces.insert(pace.key.clone(), slot + pace.interval());
            slot
        };
        if slot >= run.deadline {
            return Err(format!(
                "{what}: the source's rate limit of {} request(s) a minute leaves no time for this request within the {} s one collection may take; raise `rate_limit` or narrow the query",
                pace.per_minute,
                self.policy.max_total.as_secs()
            ));
        }
        let wait = slot.saturating_duration_since(Instant::now());
        if !wait.is_zero() {
            tracing::debug!(
                wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                "HttpRateLimited"
            );
            std::thread::sleep(wait);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_of_a_limited_source_are_spaced_by_its_interval() {
        let http = Http::default();
        let pace = RateLimit {
            key: "ninja".to_owned(),
            per_minute: 1200,
        };
        assert_eq!(pace.interval(), Duration::from_millis(50));
        let run = http.start_paced(jiff::Timestamp::UNIX_EPOCH, Some(pace));
        let started = Instant::now();
        for _ in 0..4 {
            http.wait_for_pace(&run, "test").unwrap();
        }
        // Slots at 0, 50, 100, 150 ms: the fourth request waited for the third interval.
        assert!(started.elapsed() >= Duration::from_millis(150));
        // Another source is not held back by this one.
        let other = http.start_paced(
            jiff::Timestamp::UNIX_EPOCH,
            Some(RateLimit {
                key: "splunk".to_owned(),
                per_minute: 1,
            }),
        );
        let started = Instant::now();
        http.wait_for_pace(&other, "test").unwrap();
        assert!(started.elapsed() < Duration::from_millis(40));
    }
}
