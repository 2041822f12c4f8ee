//! How long to wait before retrying a throttled request.

use std::hash::{BuildHasher as _, Hasher as _};
use std::time::Duration;

use jiff::Timestamp;

use super::HttpPolicy;

/// A `Retry-After` value: delay-seconds, or an HTTP date read against `now` (a date already
/// past means at once). `None` when it is neither. Delay-seconds too many for a `u64` are a
/// wait past any limit ([`Duration::MAX`]), not an unreadable header: the server asked for
/// longer than dutywatch waits, so the collection fails at once instead of backing off.
pub(super) fn retry_after(value: &str, now: Timestamp) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return Some(
            value
                .parse::<u64>()
                .map_or(Duration::MAX, Duration::from_secs),
        );
    }
    let at = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
    Some(Duration::try_from(at.duration_since(now)).unwrap_or(Duration::ZERO))
}

/// The wait before retry `retry` (0 for the first) when the server gave none: the base
/// doubled per retry, capped, then jittered to between half and all of it so that many
/// sources throttled together do not come back together.
pub(super) fn backoff(policy: &HttpPolicy, retry: u32) -> Duration {
    let full = policy
        .backoff_base
        .saturating_mul(2u32.saturating_pow(retry.min(31)))
        .min(policy.backoff_cap);
    let half = full / 2;
    let spread = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
    let jitter = if spread == 0 { 0 } else { random() % spread };
    half + Duration::from_nanos(jitter)
}

/// A random number without a dependency: std's per-process random hash keys.
fn random() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now: Timestamp = "2015-10-21T07:27:50Z".parse().unwrap();
        assert_eq!(retry_after("2", now), Some(Duration::from_secs(2)));
        assert_eq!(retry_after(" 120 ", now), Some(Duration::from_secs(120)));
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now),
            Some(Duration::ZERO),
            "a date already past"
        );
        assert_eq!(
            retry_after("99999999999999999999", now),
            Some(Duration::MAX),
            "longer than any limit, not absent"
        );
        assert_eq!(retry_after("soon", now), None);
        assert_eq!(retry_after("-1", now), None);
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter() {
        let policy = HttpPolicy {
            backoff_base: Duration::from_millis(100),
            backoff_cap: Duration::from_millis(700),
            ..HttpPolicy::default()
        };
        for (retry, full) in [
            (0, 100),
            (1, 200),
            (2, 400),
            (3, 700),
            (30, 700),
            (1000, 700),
        ] {
            for _ in 0..20 {
                let wait = backoff(&policy, retry);
                let full = Duration::from_millis(full);
                assert!(wait >= full / 2 && wait <= full, "retry {retry}: {wait:?}");
            }
        }
    }
}
