//! Talking to systemd: `sd_notify` state messages and the directories the unit hands us.
//!
//! `systemd/dutywatch.service` is `Type=notify` with `WatchdogSec=`, so systemd waits for
//! `READY=1` before the unit counts as started and restarts the daemon if `WATCHDOG=1` stops
//! arriving. Outside systemd (tests, development runs) every call here is a no-op, so callers
//! never need to check how they were started.

use std::env;
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::Duration;

use sd_notify::NotifyState;

/// Talks to the service manager when started by systemd (`NOTIFY_SOCKET` set); no-ops otherwise.
///
/// Sending never fails from the caller's point of view: a vanished notify socket is logged and
/// ignored, because losing the status channel must not take the daemon down with it (systemd
/// notices a dead watchdog on its own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceManager {
    notify: bool,
    watchdog: Option<Duration>,
}

impl ServiceManager {
    /// Reads `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID` once, at startup.
    ///
    /// The variables are left in the environment: removing them is `unsafe` (and we forbid
    /// `unsafe`); dutywatch starts no child processes that could inherit them.
    pub fn from_env() -> Self {
        let notify = env::var_os("NOTIFY_SOCKET").is_some_and(|socket| !socket.is_empty());
        Self::new(notify, sd_notify::watchdog_enabled())
    }

    /// `watchdog_usec` is the full `WATCHDOG_USEC` timeout already filtered for our pid, as
    /// returned by [`sd_notify::watchdog_enabled`]. Without a notify socket there is nobody to
    /// ping, so there is no watchdog either.
    fn new(notify: bool, watchdog_usec: Option<Duration>) -> Self {
        Self {
            notify,
            watchdog: watchdog_usec.filter(|timeout| notify && !timeout.is_zero()),
        }
    }

    /// Whether a service manager is listening; useful for a startup log line.
    pub fn is_active(&self) -> bool {
        self.notify
    }

    /// `READY=1`: startup is complete (config loaded, store open); `systemctl start` returns.
    pub fn ready(&self) {
        self.send(&[NotifyState::Ready]);
    }

    /// `RELOADING=1` plus `MONOTONIC_USEC=`: a SIGHUP reload has begun; send [`Self::ready`] when
    /// it is done. systemd ≥ 253 rejects a reload notification without the timestamp; 252
    /// ignores the extra field.
    pub fn reloading(&self) {
        if !self.notify {
            return;
        }
        match NotifyState::monotonic_usec_now() {
            Ok(now) => self.send(&[NotifyState::Reloading, now]),
            Err(error) => {
                tracing::warn!(
                    name: "SystemdClockReadError",
                    %error,
                    "cannot read the monotonic clock; sending RELOADING=1 without MONOTONIC_USEC"
                );
                self.send(&[NotifyState::Reloading]);
            }
        }
    }

    /// `STOPPING=1`: shutdown has begun, so a slow stop is not mistaken for a hang.
    pub fn stopping(&self) {
        self.send(&[NotifyState::Stopping]);
    }

    /// `STATUS=...`: one line shown by `systemctl status`.
    ///
    /// Line breaks and other control characters are replaced by spaces: the protocol is one
    /// `KEY=value` per line, so a status built from an upstream error message could otherwise
    /// smuggle in `READY=1` or `WATCHDOG=1`.
    pub fn status(&self, text: &str) {
        if !self.notify {
            return;
        }
        let line = single_line(text);
        self.send(&[NotifyState::Status(&line)]);
    }

    /// `WATCHDOG=1`: the daemon is alive. Send it from the scheduler loop itself, every
    /// [`Self::watchdog_interval`], so a wedged scheduler stops the pings and gets restarted.
    pub fn watchdog(&self) {
        self.send(&[NotifyState::Watchdog]);
    }

    /// How often to call [`Self::watchdog`]: half of `WATCHDOG_USEC` (as `sd_watchdog_enabled(3)`
    /// recommends), or `None` when systemd enabled no watchdog for this process — including when
    /// `WATCHDOG_PID` names another process.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog.map(|timeout| timeout / 2)
    }

    fn send(&self, states: &[NotifyState<'_>]) {
        if !self.notify {
            return;
        }
        if let Err(error) = sd_notify::notify(states) {
            let states: Vec<String> = states.iter().map(ToString::to_string).collect();
            tracing::warn!(
                name: "SystemdNotifySendError",
                %error,
                states = %states.join(" "),
                "cannot notify the service manager"
            );
        }
    }
}

/// Replaces every control character (including CR and LF) with a space.
fn single_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// `$CREDENTIALS_DIRECTORY`: where `LoadCredential=` put the unit's secrets, if it did.
pub fn credentials_dir() -> Option<PathBuf> {
    first_path(env::var_os("CREDENTIALS_DIRECTORY"))
}

/// `$STATE_DIRECTORY`: where the database lives (`StateDirectory=`). systemd joins several
/// state directories with `:`; dutywatch declares one, so the first entry is ours.
pub fn state_dir() -> Option<PathBuf> {
    first_path(env::var_os("STATE_DIRECTORY"))
}

/// First non-empty entry of a colon-separated path list; `None` for unset or empty values so an
/// empty variable never turns into "the current directory".
fn first_path(value: Option<OsString>) -> Option<PathBuf> {
    let value = value?;
    value
        .as_bytes()
        .split(|&byte| byte == b':')
        .find(|entry| !entry.is_empty())
        .map(|entry| PathBuf::from(std::ffi::OsStr::from_bytes(entry)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_path_takes_the_first_non_empty_entry() {
        assert_eq!(first_path(None), None);
        assert_eq!(first_path(Some("".into())), None);
        assert_eq!(first_path(Some(":".into())), None);
        assert_eq!(
            first_path(Some("/var/lib/dutywatch".into())),
            Some(PathBuf::from("/var/lib/dutywatch"))
        );
        assert_eq!(
            first_path(Some("/var/lib/dutywatch/acme:/var/lib/other".into())),
            Some(PathBuf::from("/var/lib/dutywatch/acme"))
        );
        assert_eq!(
            first_path(Some(":/var/lib/dutywatch".into())),
            Some(PathBuf::from("/var/lib/dutywatch"))
        );
    }

    #[test]
    fn watchdog_interval_is_half_the_timeout() {
        let manager = ServiceManager::new(true, Some(Duration::from_secs(60)));
        assert_eq!(manager.watchdog_interval(), Some(Duration::from_secs(30)));
        assert_eq!(ServiceManager::new(true, None).watchdog_interval(), None);
        assert_eq!(
            ServiceManager::new(true, Some(Duration::ZERO)).watchdog_interval(),
            None
        );
        assert_eq!(
            ServiceManager::new(false, Some(Duration::from_secs(60))).watchdog_interval(),
            None
        );
    }

    #[test]
    fn status_cannot_inject_other_assignments() {
        assert_eq!(
            single_line("api error\nREADY=1\r\tWATCHDOG=1"),
            "api error READY=1  WATCHDOG=1"
        );
        assert_eq!(single_line("next run 02:00 UTC"), "next run 02:00 UTC");
    }

    #[test]
    fn without_notify_socket_everything_is_a_no_op() {
        let manager = ServiceManager::new(false, None);
        assert!(!manager.is_active());
        manager.ready();
        manager.reloading();
        manager.status("idle");
        manager.watchdog();
        manager.stopping();
    }
}
