//! Where the daemon's "now" comes from. Everything below the daemon loop
//! takes `now` as an argument, so `dutywatch once --at …` and the tests
//! decide what time it is.

use jiff::Timestamp;

pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> Timestamp;
}

/// The host's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that reads what it was last set to: tests move it by hand, so a lease or a
/// back-off measured on the wall clock runs out exactly when the test says.
#[derive(Debug)]
pub struct ManualClock(std::sync::Mutex<Timestamp>);

impl ManualClock {
    pub fn new(at: Timestamp) -> ManualClock {
        ManualClock(std::sync::Mutex::new(at))
    }

    pub fn set(&self, at: Timestamp) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = at;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A clock that always reads one instant: `--clock` for tests and reproducible one-shot
/// runs, so no result depends on the day it is run.
#[derive(Clone, Copy, Debug)]
pub struct FixedClock(pub Timestamp);

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        self.0
    }
}

/// The clock reads `now`, but the database holds work done as of `latest`, later: a cycle
/// now would take what it collected then for evidence from the future, store verdicts and
/// history dated before what they follow, restart every lapse's clock and mail about it. Even
/// a minute counts (evidence a minute ahead is not used); a daemon just waits it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the clock reads {now}, but the database already holds work done as of {latest}: a cycle now would write its history out of order and mail about it. Either this host's clock is behind (check `timedatectl`; dutywatch carries on once it reads {latest} or later), or it was ahead when that work was done (then restore a backup from before it)"
)]
pub struct ClockBehind {
    pub now: Timestamp,
    pub latest: Timestamp,
}

/// Whether a cycle may run at `now` on a database whose latest work was at `latest`.
pub fn check_not_behind(now: Timestamp, latest: Option<Timestamp>) -> Result<(), ClockBehind> {
    match latest {
        Some(latest) if now < latest => Err(ClockBehind { now, latest }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clock_behind_the_database_is_refused() {
        let latest: Timestamp = "2026-12-01T12:00:00Z".parse().unwrap();
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        assert!(check_not_behind(at("2000-01-01T00:00:00Z"), Some(latest)).is_err());
        assert!(check_not_behind(at("2026-12-01T11:59:59Z"), Some(latest)).is_err());
        assert!(
            check_not_behind(latest, Some(latest)).is_ok(),
            "the same instant again"
        );
        assert!(check_not_behind(at("2026-12-02T00:00:00Z"), Some(latest)).is_ok());
        assert!(
            check_not_behind(at("2000-01-01T00:00:00Z"), None).is_ok(),
            "a new database"
        );
    }
}
