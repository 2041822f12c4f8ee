//! `dutywatch run`: the scheduler around the engine.
//!
//! Timers here are wall-clock, not monotonic: the loop sleeps in short
//! slices and recomputes what is due from `Clock::now()` on every wake, so
//! a suspend, a clock step or a long cycle can delay a job but never skip
//! it. A job that missed several occurrences runs once, not once per miss.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use dutywatch_checks::evidence::EvidenceId;
use jiff::Timestamp;
use tokio::sync::mpsc;

use crate::clock::{Clock, SystemClock};
use crate::config::{self, Config};
use crate::engine::{DAEMON_SENDER, Engine, Scope, Summary};
use crate::store::{ChainPosition, Store, StoreError};
use crate::systemd::ServiceManager;

/// The longest the loop sleeps before looking at the clock again.
const MAX_SLEEP: Duration = Duration::from_secs(30);

/// How often a daemon held by `Daemon::may_run` looks again.
const HOLD_RECHECK: jiff::SignedDuration = jiff::SignedDuration::from_mins(1);

/// How long the outbox rests after a pass that failed before it could say
/// when its next mail is due.
const OUTBOX_ERROR_BACKOFF: jiff::SignedDuration = jiff::SignedDuration::from_mins(1);

/// How long a pass may go without getting anything done (a collection recorded, a contractor
/// judged, a mail attempted) while the watchdog is still fed for it. Longer than one
/// collection may take (`HttpPolicy::max_total`, 5 minutes), so only a wedged pass runs out of
/// it: a long one over a thousand clients, or through a token endpoint that hangs for all of
/// them, keeps getting things done and is not restarted half-way, again and again.
const MAX_STALL: Duration = Duration::from_secs(600);

/// Whether a pass is still getting things done: the [`Engine::progress`] count it last showed,
/// and when that count last moved.
///
/// [`Engine::progress`]: crate::engine::Engine::progress
#[derive(Debug, Clone, Copy)]
struct Liveness {
    count: u64,
    moved_at: std::time::Instant,
}

impl Liveness {
    fn new(count: u64, at: std::time::Instant) -> Liveness {
        Liveness {
            count,
            moved_at: at,
        }
    }

    /// Takes the count seen at `at`; `false` once it has not moved for [`MAX_STALL`].
    fn alive(&mut self, count: u64, at: std::time::Instant) -> bool {
        if count != self.count {
            *self = Liveness::new(count, at);
        }
        at.saturating_duration_since(self.moved_at) < MAX_STALL
    }
}

/// What the outside world can ask of a running daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Reload,
    Shutdown,
}

/// The scheduler's state: the engine plus when each job runs next.
#[derive(Debug)]
pub struct Daemon {
    config_path: PathBuf,
    engine: Engine,
    /// Next run per (contractor, source).
    next_collect: BTreeMap<(String, String), Timestamp>,
    next_evaluate: Timestamp,
    /// When the incident clocks are checked next (`[incidents] check`, every few minutes).
    next_incidents: Timestamp,
    /// Whether the incident clocks have anything to watch (an incident source, an open
    /// incident): only then do they wake the daemon between its other jobs. An incident
    /// opened by hand while none was open is picked up at the next evaluation.
    incidents_active: bool,
    /// When the outbox next has a mail to (re)try.
    next_mail: Option<Timestamp>,
    chain: ChainWatch,
    /// The latest instant the database has worked at (`Store::latest_activity` at start,
    /// then each pass's `now`): a clock behind it holds every job (`crate::clock::ClockBehind`).
    worked_until: Option<Timestamp>,
    /// While something holds every job (`Daemon::may_run`): when to look again, and which
    /// reason it was, so each new reason is said once.
    hold: Option<(Timestamp, std::mem::Discriminant<Hold>)>,
    /// The daemon's lock on its database, held while it runs; `None` when another daemon
    /// holds it (or it could not be taken).
    _lock: Option<std::fs::File>,
}

/// Why the daemon holds every job (`Daemon::may_run`).
#[derive(Debug, thiserror::Error)]
enum Hold {
    #[error(transparent)]
    File(StoreError),
    #[error(transparent)]
    Clock(crate::clock::ClockBehind),
}

/// The daemon's incremental check of the evidence chain: the first check (in the first
/// step) verifies every row, each later one only the last verified row and the rows added
/// since, so its cost per pass follows the new rows, not the database. The position lives in
/// memory only: a restart verifies from the beginning once.
#[derive(Debug, Default)]
struct ChainWatch {
    /// The newest row verified intact, and its chain value.
    verified: Option<ChainPosition>,
    /// The break the last check found. While it lasts, each check starts again from
    /// `verified` (the last good row) and finds it again; it is logged when first found.
    broken: Option<(EvidenceId, String)>,
    checked: bool,
    /// The incident timeline's first broken step, as the last check found (its chain is
    /// walked whole each pass: a few steps per incident).
    timeline: Option<(i64, String)>,
}

impl ChainWatch {
    /// Verifies from the last verified row on and logs `EvidenceChainBroken` for a break not
    /// logged before (one line per distinct break, not one per pass).
    fn check(&mut self, store: &Store) {
        match store.verify_incident_chain() {
            Ok(report) => {
                if report.broken != self.timeline
                    && let Some((step, reason)) = &report.broken
                {
                    tracing::error!(step, %reason, "IncidentTimelineBroken");
                }
                self.timeline = report.broken;
            }
            Err(error) => {
                tracing::error!(error = format!("{error:#}"), "IncidentTimelineVerifyError");
            }
        }
        let report = match store.verify_chain_from(self.verified.as_ref()) {
            Ok(report) => report,
            Err(error) => {
                tracing::error!(error = format!("{error:#}"), "EvidenceChainVerifyError");
                return;
            }
        };
        self.checked = true;
        match report.broken {
            Some(broken) => {
                if self.broken.as_ref() != Some(&broken) {
                    let (id, reason) = &broken;
                    tracing::error!(
                        evidence = %id,
                        %reason,
                        verified_up_to = %self.verified.as_ref().map_or("none".to_owned(), |p| p.id.to_string()),
                        "EvidenceChainBroken"
                    );
                }
                self.broken = Some(broken);
            }
            None => {
                if let Some((id, reason)) = self.broken.take() {
                    tracing::warn!(was = %id, %reason, "EvidenceChainIntactAgain");
                }
                if report.head.is_some() {
                    self.verified = report.head;
                }
            }
        }
    }
}

impl Daemon {
    /// Opens the store for `config` and plans the first runs: a source
    /// that has never run, or whose last run is older than its schedule's
    /// previous occurrence, runs at once.
    pub fn start(config_path: PathBuf, config: Config, now: Timestamp) -> anyhow::Result<Daemon> {
        Daemon::start_with_clock(config_path, config, now, Arc::new(SystemClock))
    }

    /// [`start`](Daemon::start) with outbox leases on `clock`. Once the daemon holds its lock
    /// on the database, the previous daemon on it is known to be gone (killed mid-send, say),
    /// and the mails it had claimed are taken over at once rather than after their lease.
    pub fn start_with_clock(
        config_path: PathBuf,
        config: Config,
        now: Timestamp,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Daemon> {
        let mut store = Store::open_checked(&config.database)
            .with_context(|| format!("opening the database `{}`", config.database.display()))?;
        let lock = daemon_lock(&config.database);
        let worked_until = store
            .latest_activity()
            .context("reading when the database last worked")?;
        let config = restore_last_good(config, &store, config::Secrets::Read);
        remember_good(&mut store, &config, now);
        log_quarantined(&config);
        let config = Arc::new(config);
        let mut engine = Engine::with_clock(Arc::clone(&config), store, clock);
        if lock.is_some() {
            engine
                .take_over_claims(DAEMON_SENDER)
                .context("taking over the previous daemon's outbox claims")?;
        }
        let mut daemon = Daemon {
            config_path,
            engine,
            next_collect: BTreeMap::new(),
            // Evaluate everything on start: time has passed while we were down.
            next_evaluate: now,
            next_incidents: now,
            incidents_active: crate::incident::has_incident_sources(&config),
            next_mail: None,
            chain: ChainWatch::default(),
            worked_until,
            hold: None,
            _lock: lock,
        };
        daemon.next_collect = plan(daemon.engine.store(), &config, None, now)?;
        Ok(daemon)
    }

    pub fn config(&self) -> &Arc<Config> {
        self.engine.config()
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The first broken evidence row and what is wrong with it, as the last chain check found;
    /// `None` while the chain verifies (or before the first step).
    pub fn chain_break(&self) -> Option<&(EvidenceId, String)> {
        self.chain.broken.as_ref()
    }

    /// The first broken step of the incident timeline, as the last check found.
    pub fn timeline_break(&self) -> Option<&(i64, String)> {
        self.chain.timeline.as_ref()
    }

    /// The evidence row the chain is verified up to, and its chain value.
    pub fn chain_verified(&self) -> Option<&ChainPosition> {
        self.chain.verified.as_ref()
    }

    /// When the next job is due.
    pub fn next_wake(&self) -> Timestamp {
        if let Some((recheck, _)) = &self.hold {
            return *recheck;
        }
        self.next_collect
            .values()
            .copied()
            .chain([self.next_evaluate])
            .chain(self.incidents_active.then_some(self.next_incidents))
            .chain(self.next_mail)
            .min()
            .unwrap_or(self.next_evaluate)
    }

    /// Runs every job due at `now`; returns a summary when anything ran.
    ///
    /// What [`may_run`](Daemon::may_run) refuses holds every job, collections and mail
    /// included: the first step that finds a reason fails with it (the log and the service's
    /// status line say it), the later ones do nothing, and each looks again a minute on.
    pub fn step(&mut self, now: Timestamp) -> anyhow::Result<Option<Summary>> {
        if let Err(why) = self.may_run(now) {
            let reason = std::mem::discriminant(&why);
            let first = self.hold.is_none_or(|(_, before)| before != reason);
            let recheck = now.checked_add(HOLD_RECHECK).unwrap_or(Timestamp::MAX);
            self.hold = Some((recheck, reason));
            return if first { Err(why.into()) } else { Ok(None) };
        }
        if self.hold.take().is_some() {
            tracing::info!(%now, "DaemonResumed");
        }
        let summary = self.run_due(now);
        // Also after a failed pass: it may have stored rows before failing.
        self.worked_until = Some(self.worked_until.map_or(now, |w| w.max(now)));
        summary
    }

    /// Whether the jobs may run at `now`: not while the database file is no longer the one
    /// opened (deleted, or another put in its place: writes would be lost), nor while the
    /// clock reads behind what the database holds (a host clock stepped back: history would
    /// be written out of order, and lapses told again).
    fn may_run(&self, now: Timestamp) -> Result<(), Hold> {
        self.engine.store().check_file().map_err(Hold::File)?;
        crate::clock::check_not_behind(now, self.worked_until).map_err(Hold::Clock)?;
        Ok(())
    }

    /// [`step`](Daemon::step) once [`may_run`](Daemon::may_run) allows it.
    fn run_due(&mut self, now: Timestamp) -> anyhow::Result<Option<Summary>> {
        let due: Vec<(String, String)> = self
            .next_collect
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(key, _)| key.clone())
            .collect();
        let evaluate_all = self.next_evaluate <= now;
        let scope = if evaluate_all {
            Scope::All
        } else {
            Scope::Sources(due.iter().cloned().collect::<BTreeSet<_>>())
        };
        // Advance the schedule before running: a pass that fails (disk
        // full, database locked) is retried at the next occurrence instead
        // of spinning on the same instant.
        let config = Arc::clone(self.engine.config());
        for key in &due {
            let next = config
                .contractors
                .iter()
                .find(|c| c.id == key.0)
                .and_then(|c| c.source(&key.1))
                .and_then(|s| s.schedule.next_after(now))
                .unwrap_or(Timestamp::MAX);
            self.next_collect.insert(key.clone(), next);
        }
        if evaluate_all {
            self.next_evaluate = config.evaluate.next_after(now).unwrap_or(Timestamp::MAX);
        }
        // Likewise the outbox, until a finished pass reads its real next
        // attempt: a pass that fails after the relay took a mail (the store
        // cannot record it) must not loop straight back to the same mail.
        if self.next_mail.is_some_and(|at| at <= now) {
            self.next_mail = now.checked_add(OUTBOX_ERROR_BACKOFF).ok();
        }
        if !self.chain.checked {
            // At start: the whole chain, once.
            self.chain.check(self.engine.store());
        }
        let check_incidents = self.next_incidents <= now;
        if check_incidents {
            self.next_incidents = config
                .incidents
                .check
                .next_after(now)
                .unwrap_or(Timestamp::MAX);
        }
        let outcome = self.engine.pass(&due, &scope, now);
        // Also after a failed pass: it may have stored rows before failing.
        self.chain.check(self.engine.store());
        // A pass that failed for one client (a damaged row it could not judge, its ladder)
        // still did the others' work; the incident clocks and digests of every client run
        // all the same, and the failure is answered after them.
        let (mut summary, failed) = match outcome {
            Ok(summary) => (summary, None),
            Err(error) => (crate::engine::Summary::default(), Some(error)),
        };
        if self.engine.cancellation().is_cancelled() {
            // Stopping: the rest (incident clocks, digests, mail) is done by the next start.
            return failed.map_or(Ok(Some(summary)), Err);
        }
        // The CMMC calendar counts days: every full evaluation (a quarter hour by default)
        // looks, and each reminder is decided once. Before the incident clocks, whose store
        // error ends the step.
        if evaluate_all && crate::cmmc::remind(self.engine.store_mut(), &config, now) > 0 {
            let (sent, failed) = self.engine.deliver(now)?;
            summary.mails_sent += sent;
            summary.mail_failures += failed;
        }
        // After the pass, so an incident source collected just now is merged at once.
        if check_incidents {
            let incidents = crate::incident::tick(self.engine.store_mut(), &config, now)?;
            self.incidents_active =
                incidents.open > 0 || crate::incident::has_incident_sources(&config);
            if incidents.queued > 0 {
                let (sent, failed) = self.engine.deliver(now)?;
                summary.mails_sent += sent;
                summary.mail_failures += failed;
            }
        }
        if evaluate_all && self.make_digests(&config, now) > 0 {
            let (sent, failed) = self.engine.deliver(now)?;
            summary.mails_sent += sent;
            summary.mail_failures += failed;
        }
        self.next_mail = self.engine.store().next_mail_attempt()?;
        let worked = summary.collected
            + summary.collection_failures
            + summary.evaluated
            + summary.held
            + summary.mails_sent
            + summary.mail_failures;
        if let Some(error) = failed {
            return Err(error);
        }
        Ok((worked > 0).then_some(summary))
    }

    /// Makes this week's digests once the `[digest]` schedule has fired, after an evaluation
    /// of every duty so they show fresh states. A failure is logged, never fatal: the next
    /// evaluation tries again, and the week's UNIQUE record keeps it to one digest.
    /// How many digests it made (and queued).
    fn make_digests(&mut self, config: &Config, now: Timestamp) -> usize {
        let Some(week) = config
            .digest
            .as_ref()
            .and_then(|d| crate::digest::due(&d.schedule, now))
        else {
            return 0;
        };
        match crate::digest::record_due(config, self.engine.store_mut(), week, now) {
            Ok(0) => 0,
            Ok(made) => {
                tracing::info!(made, %week, "WeeklyDigestMade");
                made
            }
            Err(error) => {
                tracing::error!(error = format!("{error:#}"), %week, "WeeklyDigestError");
                0
            }
        }
    }

    /// Re-reads the config file. On any problem outside the clients (or the
    /// store's while planning it) the running config stays and the problem
    /// is returned; on success every duty is re-evaluated at the next step.
    ///
    /// In MSP mode a reload applies per client: a client quarantined by the new file keeps
    /// its last good config while the others take the new one, and a client fixed by it
    /// leaves quarantine.
    pub fn reload(&mut self, now: Timestamp) -> anyhow::Result<()> {
        crate::secret::say_world_readable_again();
        let config = keep_last_good(config::load(&self.config_path)?, self.engine.config());
        // A client broken since before this daemon started runs on what the database kept.
        let config = restore_last_good(config, self.engine.store(), config::Secrets::Read);
        remember_good(self.engine.store_mut(), &config, now);
        for client in &self.engine.config().quarantined {
            if config.quarantined(&client.id).is_none() {
                tracing::info!(contractor = %client.id, "ClientQuarantineLifted");
            }
        }
        // A client onboarded by this edit is said, as one removed is (`ClientNoLongerWatched`).
        let running = self.engine.config();
        for client in &config.contractors {
            let known = running.contractors.iter().any(|c| c.id == client.id)
                || running.quarantined(&client.id).is_some();
            if !known {
                let watched = (client.duties.iter())
                    .filter(|duty| config.perspective.watches(duty))
                    .count();
                tracing::info!(contractor = %client.id, duties = watched, sources = client.sources.len(), "ClientAdded");
            }
        }
        log_quarantined(&config);
        let next_collect = plan(
            self.engine.store(),
            &config,
            Some(self.engine.config()),
            now,
        )
        .context("planning the new config's collections")?;
        log_crm_problems(&config);
        if config.database != self.engine.config().database {
            tracing::warn!(
                old = %self.engine.config().database.display(),
                new = %config.database.display(),
                "ConfigReloadDatabaseIgnored"
            );
        }
        self.engine.set_config(Arc::new(config));
        self.next_collect = next_collect;
        self.next_evaluate = now;
        self.next_incidents = now;
        Ok(())
    }
}

/// When each source of `config` runs next: at once a source that has never run, whose last
/// run is older than its schedule's previous occurrence, or that reads somewhere else now
/// (`moved`); else at its next occurrence.
fn plan(
    store: &Store,
    config: &Config,
    running: Option<&Config>,
    now: Timestamp,
) -> anyhow::Result<BTreeMap<(String, String), Timestamp>> {
    let mut next = BTreeMap::new();
    for contractor in &config.contractors {
        for source in &contractor.sources {
            let key = (contractor.id.clone(), source.id.clone());
            if moved(store, running, &contractor.id, source)? {
                tracing::info!(contractor = %contractor.id, source = %source.id, "SourceChangedCollectingNow");
                next.insert(key, now);
                continue;
            }
            let at = match store.last_run(&contractor.id, &source.id)? {
                None => now,
                // Recorded ahead of now by less than the clock's tolerance (further ahead
                // holds every job, see `may_run`): due at once, not at its next occurrence.
                Some(last) if last > now => now,
                // Missed while down (or never due since): next
                // occurrence after the last run, which may be past.
                Some(last) => source.schedule.next_after(last).unwrap_or(Timestamp::MAX),
            };
            next.insert(key, at);
        }
    }
    Ok(next)
}

/// Whether `source` reads somewhere its stored evidence did not come from, so until it is
/// collected again its duties would be judged on evidence it no longer names (a continuous
/// duty kept `met` on the old file) or on none (a recurring duty's window keeps only files
/// the current path matches): its path or address differs from the running config's (a
/// reload), or its newest evidence is a file its path no longer matches (a moved export
/// folder or config directory, across a restart too; an API source's new address is only
/// seen on a reload).
fn moved(
    store: &Store,
    running: Option<&Config>,
    client: &str,
    source: &config::Source,
) -> anyhow::Result<bool> {
    let before = running
        .and_then(|running| running.contractors.iter().find(|c| c.id == client))
        .and_then(|contractor| contractor.source(&source.id));
    // Where it reads, not how (a rate limit or a rotated secret moves nothing).
    if before.is_some_and(|before| {
        before.kind.file_pattern() != source.kind.file_pattern()
            || before.kind.api_url() != source.kind.api_url()
    }) {
        return Ok(true);
    }
    let Some(pattern) = source
        .kind
        .file_pattern()
        .and_then(crate::sources::file::origin_pattern)
    else {
        return Ok(false);
    };
    Ok(store
        .newest_evidence(client, &source.id)?
        .is_some_and(|(_, origin)| !crate::sources::file::matches_origin(&pattern, &origin)))
}

/// `new` with each client it quarantines that `running` watches kept on the running version
/// (itself perhaps a last good one), marked `last_good`.
fn keep_last_good(mut new: Config, running: &Config) -> Config {
    let mut kept = Vec::new();
    for client in &mut new.quarantined {
        if let Some(good) = running.contractors.iter().find(|c| c.id == client.id) {
            client.last_good = true;
            kept.push(with_current_msp(good.clone(), &running.msp, &new.msp));
        }
    }
    new.contractors.extend(kept);
    new
}

/// `config` with each client it quarantines and runs on nothing yet given the config text it
/// last loaded from (`Store::good_config`), marked `last_good`: across a restart, as a reload
/// keeps the running one (`keep_last_good`). A kept text that no longer gives the client (its
/// CRM file gone, say) leaves it unwatched, and says why.
pub(crate) fn restore_last_good(
    mut config: Config,
    store: &Store,
    secrets: config::Secrets,
) -> Config {
    // One parse per kept text, however many clients it is the last good one of.
    let mut parsed: Vec<(String, Option<Config>)> = Vec::new();
    let mut restored = Vec::new();
    for client in config.quarantined.iter_mut().filter(|c| !c.last_good) {
        let good = match store.good_config(&client.id) {
            Ok(Some(good)) => good,
            Ok(None) => continue,
            Err(error) => {
                tracing::warn!(contractor = %client.id, error = %error, "ClientLastGoodUnread");
                continue;
            }
        };
        let index = match parsed.iter().position(|(text, _)| *text == good.text) {
            Some(index) => index,
            None => {
                let old = config::parse_with(
                    &config.path,
                    &good.text,
                    &|name| std::env::var(name).ok(),
                    secrets,
                );
                parsed.push((good.text.clone(), old.ok()));
                parsed.len() - 1
            }
        };
        let found = parsed[index].1.as_ref().and_then(|old| {
            let contractor = old.contractors.iter().find(|c| c.id == client.id)?;
            Some((old, contractor))
        });
        match found {
            Some((old, contractor)) => {
                client.last_good = true;
                tracing::info!(contractor = %client.id, loaded_at = %good.loaded_at, "ClientLastGoodRestored");
                restored.push(with_current_msp(contractor.clone(), &old.msp, &config.msp));
            }
            None => tracing::warn!(
                contractor = %client.id,
                loaded_at = %good.loaded_at,
                "ClientLastGoodNoLongerLoads"
            ),
        }
    }
    config.contractors.extend(restored);
    config
}

/// A contractor restored from an older config (`old`) with the MSP's contacts it took from
/// that config's `[msp]` replaced by the current one's: the client's block is what broke, not
/// the MSP's desk, whose people may have changed since.
fn with_current_msp(
    mut contractor: config::Contractor,
    old: &config::MspInfo,
    current: &config::MspInfo,
) -> config::Contractor {
    for (contacts, was, now) in [
        (
            &mut contractor.msp_contacts,
            &old.contacts,
            &current.contacts,
        ),
        (
            &mut contractor.msp_backup_contacts,
            &old.backup_contacts,
            &current.backup_contacts,
        ),
        (
            &mut contractor.msp_management_contacts,
            &old.management_contacts,
            &current.management_contacts,
        ),
    ] {
        if contacts == was {
            contacts.clone_from(now);
        }
    }
    contractor
}

/// Keeps what `config` was read from as the last good config of each client that loaded
/// from it ([`kept_text`]); a client quarantined keeps the one it had, a client removed has
/// its own forgotten.
pub(crate) fn remember_good(store: &mut Store, config: &Config, now: Timestamp) {
    if config.perspective != config::Perspective::Msp {
        return;
    }
    let quarantined: Vec<&str> = config.quarantined.iter().map(|q| q.id.as_str()).collect();
    let Some(text) = kept_text(&config.text, &quarantined) else {
        tracing::warn!("GoodConfigNotKept");
        return;
    };
    // A client running on a kept config is among the contractors too: not from this text.
    let clients: Vec<&str> = (config.contractors.iter())
        .map(|c| c.id.as_str())
        .filter(|id| !quarantined.contains(id))
        .collect();
    let configured: Vec<&str> = clients.iter().chain(&quarantined).copied().collect();
    if let Err(error) = store.remember_good_config(&text, &clients, &configured, now) {
        tracing::warn!(error = %error, "GoodConfigNotKept");
    }
}

/// The config `text` as the database may keep it: read as TOML and written out again, which
/// leaves its comments behind (a secret commented out above its reference), without the
/// `[[contractor]]` blocks of the `quarantined` clients (one that does not load may hold a
/// secret where its reference belongs). `None` if it does not read as TOML.
pub(crate) fn kept_text(text: &str, quarantined: &[&str]) -> Option<String> {
    let mut table: toml::Table = text.parse().ok()?;
    if let Some(toml::Value::Array(clients)) = table.get_mut("contractor") {
        // A block without a readable id is no client's: it is not kept either.
        clients.retain(|client| {
            client
                .get("id")
                .and_then(toml::Value::as_str)
                .is_some_and(|id| !quarantined.contains(&id))
        });
    }
    toml::to_string(&table).ok()
}

/// Every quarantined client, as an error each time a config is (re)loaded.
pub(crate) fn log_quarantined(config: &Config) {
    for client in &config.quarantined {
        tracing::error!(
            contractor = %client.id,
            last_good = client.last_good,
            errors = %config::ConfigErrors(client.errors.clone()),
            "ClientQuarantined"
        );
    }
}

/// CRM rows the loader set aside run without their duties; every (re)load
/// says which, so an edit that breaks a row is never silent.
pub(crate) fn log_crm_problems(config: &Config) {
    for contractor in &config.contractors {
        for problem in config::crm_problems(contractor) {
            tracing::warn!(%problem, "CrmProblem");
        }
    }
}

/// The service manager's status line: a broken evidence chain first, then the quarantined
/// clients, where `systemctl status` shows them even when the cycles run fine.
fn status_line(
    chain_break: Option<&(EvidenceId, String)>,
    timeline_break: Option<&(i64, String)>,
    quarantined: &[config::Quarantined],
    status: &str,
) -> String {
    let mut line = String::new();
    if let Some((id, reason)) = chain_break {
        line.push_str(&format!(
            "EVIDENCE CHAIN BROKEN at {id}: {reason} (run `dutywatch evidence verify`); "
        ));
    }
    if let Some((step, reason)) = timeline_break {
        line.push_str(&format!(
            "INCIDENT TIMELINE BROKEN at step {step}: {reason} (run `dutywatch evidence verify`); "
        ));
    }
    if !quarantined.is_empty() {
        let clients: Vec<String> = quarantined
            .iter()
            .map(|client| {
                let running = if client.last_good {
                    ", last good config running"
                } else {
                    ""
                };
                format!(
                    "{} ({} problem(s){running})",
                    client.id,
                    client.errors.len()
                )
            })
            .collect();
        line.push_str(&format!(
            "{} client(s) QUARANTINED: {} (run `dutywatch check-config`); ",
            quarantined.len(),
            clients.join(", ")
        ));
    }
    line.push_str(status);
    line
}

/// Runs the daemon until `commands` says stop (or closes).
pub async fn run(
    config_path: PathBuf,
    clock: Arc<dyn Clock>,
    mut commands: mpsc::Receiver<Command>,
    service: ServiceManager,
) -> anyhow::Result<()> {
    let config = config::load(&config_path).map_err(|errors| anyhow::anyhow!("{errors}"))?;
    log_crm_problems(&config);
    let mut daemon =
        Daemon::start_with_clock(config_path, config, clock.now(), Arc::clone(&clock))?;
    service.ready();
    tracing::info!(next = %daemon.next_wake(), "DaemonStarted");
    let watchdog = service.watchdog_interval();

    loop {
        // The watchdog is fed from the loop itself: a wedged loop stops
        // feeding it and systemd restarts the service.
        service.watchdog();
        let now = clock.now();
        if daemon.next_wake() <= now {
            let grace = daemon.config().runtime.shutdown_grace;
            let (returned, outcome, after) =
                match run_pass(daemon, now, &service, &mut commands, grace).await? {
                    Passed::Done {
                        daemon,
                        outcome,
                        after,
                    } => (daemon, outcome, after),
                    Passed::Abandoned => {
                        tracing::warn!(grace_s = grace.as_secs(), "ShutdownPassAbandoned");
                        break;
                    }
                };
            daemon = *returned;
            let status = match outcome {
                Ok(Some(summary)) => {
                    tracing::info!(%summary, "CycleFinished");
                    Some(format!("last cycle {now}: {summary}"))
                }
                Ok(None) => None,
                Err(error) => {
                    // A store failure is logged and retried at the next
                    // wake rather than killing the watch for everyone.
                    tracing::error!(error = format!("{error:#}"), "CycleError");
                    Some(format!("last cycle {now} failed: {error}"))
                }
            };
            if let Some(status) = status {
                service.status(&status_line(
                    daemon.chain_break(),
                    daemon.timeline_break(),
                    &daemon.config().quarantined,
                    &status,
                ));
            }
            match after {
                Some(Command::Shutdown) => break,
                Some(Command::Reload) => reload(&mut daemon, clock.as_ref(), &service),
                None => {}
            }
            continue;
        }
        let until_next = daemon.next_wake().duration_since(now);
        let mut sleep = Duration::try_from(until_next)
            .unwrap_or(MAX_SLEEP)
            .min(MAX_SLEEP);
        if let Some(interval) = watchdog {
            sleep = sleep.min(interval);
        }
        tokio::select! {
            () = tokio::time::sleep(sleep) => {}
            command = commands.recv() => match command {
                Some(Command::Reload) => reload(&mut daemon, clock.as_ref(), &service),
                Some(Command::Shutdown) | None => break,
            }
        }
    }
    service.stopping();
    tracing::info!("DaemonStopped");
    Ok(())
}

/// How a pass run by [`run`] ended.
enum Passed {
    /// It returned: the daemon, its outcome, and a command that came in meanwhile and waits.
    Done {
        daemon: Box<Daemon>,
        outcome: anyhow::Result<Option<Summary>>,
        after: Option<Command>,
    },
    /// A shutdown came and the pass did not end within the grace: it is left to the process's
    /// exit (a request under way ends within its own timeout; mail mid-send is covered by the
    /// outbox's lease, as after a kill).
    Abandoned,
}

/// Runs `daemon.step(now)` on a thread of its own (SQLite, files, HTTP and SMTP block), feeding
/// the watchdog meanwhile, but only for a bounded time: a wedged pass still gets the service
/// restarted. A reload that comes in waits for the pass; a shutdown cancels it (its waits
/// wake, no further request goes) and waits for it at most `grace`.
///
/// A plain thread rather than `spawn_blocking`: an abandoned pass must not hold up the
/// runtime's shutdown, which waits for its blocking tasks.
async fn run_pass(
    mut daemon: Daemon,
    now: Timestamp,
    service: &ServiceManager,
    commands: &mut mpsc::Receiver<Command>,
    grace: Duration,
) -> anyhow::Result<Passed> {
    let cancel = daemon.engine().cancellation();
    let progress = daemon.engine().progress();
    let mut liveness = Liveness::new(
        progress.load(std::sync::atomic::Ordering::Relaxed),
        std::time::Instant::now(),
    );
    let (done, mut pass) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("dutywatch-pass".to_owned())
        .spawn(move || {
            let outcome = daemon.step(now);
            // The receiver is gone only when the pass was abandoned.
            let _ = done.send((Box::new(daemon), outcome));
        })
        .context("starting the pass thread")?;
    let watchdog = service.watchdog_interval();
    let started = std::time::Instant::now();
    let mut after = None;
    let (daemon, outcome) = loop {
        tokio::select! {
            joined = &mut pass => break joined.context("the pass thread panicked")?,
            () = tick(watchdog) => {
                // A pass may rightly take a while (a slow relay, a big export, a thousand
                // clients) as long as it keeps getting things done.
                let count = progress.load(std::sync::atomic::Ordering::Relaxed);
                if liveness.alive(count, std::time::Instant::now()) {
                    service.watchdog();
                } else {
                    tracing::error!(
                        seconds = started.elapsed().as_secs(),
                        stalled_s = MAX_STALL.as_secs(),
                        "CyclePassStuck"
                    );
                }
            }
            command = commands.recv() => match command {
                Some(Command::Reload) => after = Some(Command::Reload),
                Some(Command::Shutdown) | None => {
                    after = Some(Command::Shutdown);
                    service.stopping();
                    tracing::info!(grace_s = grace.as_secs(), "ShutdownCancellingPass");
                    cancel.cancel();
                    match tokio::time::timeout(grace, &mut pass).await {
                        Ok(joined) => break joined.context("the pass thread panicked")?,
                        Err(_) => return Ok(Passed::Abandoned),
                    }
                }
            }
        }
    };
    Ok(Passed::Done {
        daemon,
        outcome,
        after,
    })
}

/// The watchdog's interval, or never.
async fn tick(interval: Option<Duration>) {
    match interval {
        Some(interval) => tokio::time::sleep(interval).await,
        None => std::future::pending().await,
    }
}

/// SIGHUP: the config read again; a broken one leaves the running one in place.
fn reload(daemon: &mut Daemon, clock: &dyn Clock, service: &ServiceManager) {
    service.reloading();
    match daemon.reload(clock.now()) {
        Ok(()) => {
            let config = daemon.config();
            tracing::info!(
                clients = config.contractors.len(),
                quarantined = config.quarantined.len(),
                "ConfigReloaded"
            );
        }
        Err(error) => tracing::error!(errors = format!("{error:#}"), "ConfigReloadRejected"),
    }
    service.ready();
}

/// The daemon's exclusive lock on `database`; see [`sender_lock`].
pub fn daemon_lock(database: &Path) -> Option<std::fs::File> {
    sender_lock(database, DAEMON_SENDER)
}

/// An exclusive lock for the sender `name` on `database`: `<database>.<name>-lock`, 0600,
/// locked with `flock` for as long as the file stays open; the kernel lets go of it when the
/// process dies, however it dies, so whoever holds it knows the previous holder is gone and
/// may take over its outbox claims. `None`, with a warning, when another live process holds
/// it: its claims must run out on their own.
pub fn sender_lock(database: &Path, name: &str) -> Option<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let path = crate::store::lock_path(database, name);
    let file = match std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
    {
        Ok(file) => file,
        Err(error) => {
            tracing::warn!(lock = %path.display(), %error, "SenderLockError");
            return None;
        }
    };
    match file.try_lock() {
        Ok(()) => Some(file),
        Err(error) => {
            tracing::warn!(lock = %path.display(), %error, "SenderLockHeld");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kept_text_has_no_comment_and_no_quarantined_block() {
        let text = "perspective = \"msp\"\n# password = \"hunter2\"\n\n[[contractor]]\nid = \"acme\" # ours\nname = \"Acme\"\n\n[[contractor]]\nid = \"birch\"\nname = \"Birch\"\nkey = \"typo-with-a-secret\"\n\n[[contractor]]\nname = \"no id\"\n";
        let kept = kept_text(text, &["birch"]).expect("reads");
        assert!(!kept.contains("hunter2") && !kept.contains('#'), "{kept}");
        assert!(
            !kept.contains("birch") && !kept.contains("typo-with-a-secret"),
            "{kept}"
        );
        assert!(
            !kept.contains("no id"),
            "a block of no client is no client's: {kept}"
        );
        let table: toml::Table = kept.parse().expect("kept text is TOML");
        assert_eq!(table["contractor"][0]["id"].as_str(), Some("acme"));
        assert_eq!(kept_text("not = = toml", &[]), None);
    }

    #[test]
    fn a_pass_that_keeps_getting_things_done_stays_alive_and_a_stalled_one_does_not() {
        let start = std::time::Instant::now();
        let at = |secs: u64| start + Duration::from_secs(secs);
        let mut liveness = Liveness::new(0, start);
        // An hour-long pass that records something every few minutes.
        for (minute, count) in (5..=60).step_by(5).zip(1..) {
            assert!(liveness.alive(count, at(minute * 60)), "minute {minute}");
        }
        // Then nothing for MAX_STALL: wedged.
        assert!(liveness.alive(12, at(3600 + 599)));
        assert!(!liveness.alive(12, at(3600 + 600)));
        // It moves again: alive again.
        assert!(liveness.alive(13, at(3600 + 700)));
    }

    #[test]
    fn a_broken_chain_leads_the_status_line() {
        assert_eq!(
            status_line(None, None, &[], "last cycle x: ok"),
            "last cycle x: ok"
        );
        let broken = (
            EvidenceId(42),
            "payload does not match its recorded sha256".to_owned(),
        );
        assert_eq!(
            status_line(Some(&broken), None, &[], "last cycle x: ok"),
            "EVIDENCE CHAIN BROKEN at E42: payload does not match its recorded sha256 \
             (run `dutywatch evidence verify`); last cycle x: ok"
        );
    }

    #[test]
    fn a_broken_incident_timeline_is_on_the_status_line() {
        let broken = (
            7,
            "its fields do not match its chain: the step was edited".to_owned(),
        );
        assert_eq!(
            status_line(None, Some(&broken), &[], "last cycle x: ok"),
            "INCIDENT TIMELINE BROKEN at step 7: its fields do not match its chain: the step was \
             edited (run `dutywatch evidence verify`); last cycle x: ok"
        );
    }

    #[test]
    fn quarantined_clients_are_on_the_status_line() {
        let error = |message: &str| config::ConfigError {
            file: PathBuf::from("/etc/dutywatch/dutywatch.toml"),
            line: Some(12),
            key: "crm_file".to_owned(),
            message: message.to_owned(),
        };
        let quarantined = [
            config::Quarantined {
                id: "acme".to_owned(),
                name: "Acme Machining".to_owned(),
                errors: vec![error("missing"), error("unreadable")],
                last_good: true,
            },
            config::Quarantined {
                id: "birch".to_owned(),
                name: "Birch Avionics".to_owned(),
                errors: vec![error("missing")],
                last_good: false,
            },
        ];
        assert_eq!(
            status_line(None, None, &quarantined, "last cycle x: ok"),
            "2 client(s) QUARANTINED: acme (2 problem(s), last good config running), \
             birch (1 problem(s)) (run `dutywatch check-config`); last cycle x: ok"
        );
        let broken = (EvidenceId(7), "gone".to_owned());
        let line = status_line(Some(&broken), None, &quarantined[1..], "s");
        assert!(
            line.starts_with("EVIDENCE CHAIN BROKEN at E7: gone (run `dutywatch evidence verify`); 1 client(s) QUARANTINED: birch"),
            "{line}"
        );
    }
}
