//! How long a verdict holds: the earliest instant after `now` from which the same evidence
//! may read differently.
//!
//! A verdict depends on `now` only through comparisons (is a deadline past, is the evidence
//! older than `max_age`, is a completion in the future, is `last_sync < now-7d`). Each such
//! comparison notes the instant at which its answer flips ([`Horizon::flips_at`]), and the
//! verdict holds until the earliest of them. The engine then need not read, parse or judge
//! unchanged evidence again before that instant: re-evaluating earlier gives the same states
//! (held by a property test that evaluates again at instants before the horizon).
//!
//! Noting an instant too early is always safe (the duty is merely judged again sooner), so a
//! comparison whose exact flip is awkward to work out may note a lower bound.
//!
//! Reasons that count time from `now` ("due again in 2d 4h", "3d overdue") read differently
//! every second. They are allowed to lag by at most [`RELATIVE_TEXT_LAG`]
//! ([`Horizon::relative_text`]), so a duty that is due soon or lapsed is judged again at
//! least that often and its stored reason is never much older than that.

use std::cell::Cell;

use jiff::{SignedDuration, Timestamp};

/// How stale a reason that counts time from `now` may get before the duty is judged again.
pub const RELATIVE_TEXT_LAG: SignedDuration = SignedDuration::from_hours(1);

/// The instants the comparisons of one evaluation noted; see the module docs.
#[derive(Debug)]
pub struct Horizon {
    now: Timestamp,
    until: Cell<Timestamp>,
}

impl Horizon {
    /// Nothing noted yet: a verdict that compares nothing with `now` holds for ever.
    pub fn new(now: Timestamp) -> Horizon {
        Horizon {
            now,
            until: Cell::new(Timestamp::MAX),
        }
    }

    /// The instant the evaluation is made for.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// A comparison of `now` with `at` (`now > at`, `now >= at`, or their negations) may
    /// answer differently from `at` on. An `at` already past cannot flip again; one equal to
    /// `now` flips right after it (`now > at` turns true), so the verdict holds for no time.
    pub fn flips_at(&self, at: Timestamp) {
        let flip = if at > self.now {
            at
        } else if at == self.now {
            self.now
                .checked_add(SignedDuration::from_nanos(1))
                .unwrap_or(Timestamp::MAX)
        } else {
            return;
        };
        if flip < self.until.get() {
            self.until.set(flip);
        }
    }

    /// The verdict's reason counts time from `now`; it may lag by [`RELATIVE_TEXT_LAG`].
    pub fn relative_text(&self) {
        self.flips_at(
            self.now
                .checked_add(RELATIVE_TEXT_LAG)
                .unwrap_or(Timestamp::MAX),
        );
    }

    /// The earliest instant noted: the verdict holds for every instant in `[now, until)`.
    pub fn until(&self) -> Timestamp {
        self.until.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().expect("a timestamp")
    }

    #[test]
    fn the_earliest_future_flip_wins_and_past_ones_are_ignored() {
        let horizon = Horizon::new(at("2026-03-01T12:00:00Z"));
        assert_eq!(horizon.until(), Timestamp::MAX);
        horizon.flips_at(at("2026-03-05T00:00:00Z"));
        horizon.flips_at(at("2026-02-01T00:00:00Z"));
        horizon.flips_at(at("2026-03-03T00:00:00Z"));
        horizon.flips_at(at("2026-03-04T00:00:00Z"));
        assert_eq!(horizon.until(), at("2026-03-03T00:00:00Z"));
    }

    #[test]
    fn a_flip_at_now_leaves_no_time() {
        let now = at("2026-03-01T12:00:00Z");
        let horizon = Horizon::new(now);
        horizon.flips_at(now);
        assert_eq!(
            horizon.until(),
            now.checked_add(SignedDuration::from_nanos(1)).unwrap()
        );
    }

    #[test]
    fn relative_texts_hold_for_the_allowed_lag() {
        let now = at("2026-03-01T12:00:00Z");
        let horizon = Horizon::new(now);
        horizon.flips_at(at("2026-04-01T00:00:00Z"));
        horizon.relative_text();
        assert_eq!(horizon.until(), at("2026-03-01T13:00:00Z"));
    }
}
