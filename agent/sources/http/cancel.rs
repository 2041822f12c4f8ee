//! Stopping collections that are under way: the daemon raises a [`Cancel`] on SIGTERM, and
//! every wait of the HTTP layer (a `Retry-After`, a back-off, a rate limit's slot) wakes at
//! once, while every request and page checks it before it goes. A request already sent is
//! not interrupted: blocking reqwest cannot abort it, so it ends within its own
//! `request_timeout`, and the daemon waits for it only as long as its shutdown grace.

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// A cancellation flag shared by every collection of one engine. Raised once, it stays
/// raised: it means the daemon is stopping.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<(Mutex<bool>, Condvar)>);

impl Cancel {
    /// Raises the flag and wakes every wait.
    pub fn cancel(&self) {
        let (raised, woken) = &*self.0;
        *raised.lock().unwrap_or_else(PoisonError::into_inner) = true;
        woken.notify_all();
    }

    pub fn is_cancelled(&self) -> bool {
        *self.0.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `Err` with why, naming `what`, once the flag is raised.
    pub(crate) fn check(&self, what: &str) -> Result<(), String> {
        if self.is_cancelled() {
            Err(format!("{what}: cancelled, dutywatch is stopping"))
        } else {
            Ok(())
        }
    }

    /// Waits `wait` unless the flag is raised first (or already); then `Err`, naming `what`.
    pub(crate) fn sleep(&self, wait: Duration, what: &str) -> Result<(), String> {
        // A wait past what an `Instant` holds is a wait until the flag is raised.
        let until = Instant::now().checked_add(wait);
        let (raised, woken) = &*self.0;
        let mut cancelled = raised.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if *cancelled {
                drop(cancelled);
                return self.check(what);
            }
            let left = until.map_or(Duration::MAX, |until| {
                until.saturating_duration_since(Instant::now())
            });
            if left.is_zero() {
                return Ok(());
            }
            // A spurious wake-up just goes round again.
            cancelled = woken
                .wait_timeout(cancelled, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_wait_ends_as_soon_as_the_flag_is_raised() {
        let cancel = Cancel::default();
        assert_eq!(cancel.sleep(Duration::ZERO, "page 1"), Ok(()));
        let waiter = {
            let cancel = cancel.clone();
            std::thread::spawn(move || {
                let started = Instant::now();
                let outcome = cancel.sleep(Duration::from_secs(3600), "page 1");
                (outcome, started.elapsed())
            })
        };
        cancel.cancel();
        let (outcome, waited) = waiter.join().expect("waiter");
        assert_eq!(
            outcome,
            Err("page 1: cancelled, dutywatch is stopping".to_owned())
        );
        assert!(waited < Duration::from_secs(60), "{waited:?}");
        // Raised stays raised: a later wait does not start.
        assert!(cancel.sleep(Duration::from_secs(3600), "page 2").is_err());
        assert!(cancel.check("page 3").is_err());
    }
}
