//! One pass of the data flow: source → evidence store → checks →
//! escalation → mail. The daemon decides *when* to call these; the engine
//! decides nothing about time except through the `now` it is given.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use anyhow::Context as _;
use dutywatch_checks::duty::{Duty, EvidenceWindow, Quantifier, Rule};
use dutywatch_checks::evaluate::evaluate_holding;
use dutywatch_checks::evidence::{Collection, EvidenceView, Snapshot};
use dutywatch_checks::kind;
use dutywatch_checks::library;
use dutywatch_checks::read::{self, ReadError};
use dutywatch_checks::record::{Mapping, Position, Record, RecordReader};
use dutywatch_checks::time::TimeReader;
use dutywatch_checks::verdict::{State, StateKind, Verdict, WholeRun};
use jiff::{SignedDuration, Timestamp};

mod collect;
mod held;
mod joined;

use crate::clock::{Clock, SystemClock};
use crate::config::{CLIENT_CONFIG_DUTY, Config, Contractor, FileFormat, MANUAL_SOURCE, Source};
use crate::escalation;
use crate::mail::{self, MailError, Mailer};
use crate::parse_cache::{self, ParseCache, SharedParsed};
use crate::sources;
use crate::store::{
    EvidenceHeader, KeptDuty, Lease, NewEvidence, PendingMail, Store, StoreError, Tampered,
};

/// At most this many mails are sent per delivery pass, so one pass stays
/// short even after a long mail outage.
const DELIVERY_BATCH: usize = 200;

/// How long a claimed mail stays with the sender that claimed it, on the wall clock from the
/// claim. Longer than one send can take (connect, TLS, AUTH and DATA, each within
/// `[mail] timeout`) by far, so a second sender never takes a mail that is still being sent;
/// if the claimant dies or cannot record the outcome, the mail goes out again after this,
/// once, or at once when the daemon restarts (see [`Engine::take_over_claims`]).
const CLAIM_HOLD: SignedDuration = SignedDuration::from_mins(30);

/// The sender name the daemon registers under; see [`Engine::take_over_claims`].
pub const DAEMON_SENDER: &str = crate::store::DAEMON_LOCK;

/// The evidence source under which each version of a contractor's CRM file is kept. A colon
/// cannot appear in a configured source id, so it never meets one.
pub const CRM_SOURCE: &str = "crm:file";

/// The engine owns the store's one writing connection.
#[derive(Debug)]
pub struct Engine {
    config: Arc<Config>,
    store: Store,
    mailer: Box<dyn Mailer>,
    /// Where outbox leases take their time from: the wall clock, even in a pass run as of
    /// another instant (`once --at`), since they guard against other live processes.
    clock: Arc<dyn Clock>,
    /// This engine's owner token on the leases it takes: random, drawn when it is created.
    ///
    /// It is not persisted or derived from anything stable on purpose: a token that came back
    /// after a restart (one derived from the host and unit, say) would let any second process
    /// with the same identity (a `once` beside the daemon, a second daemon started by hand)
    /// take over claims that are live. Instead the daemon records its token under a name
    /// (`outbox_senders`), and its next instance, once it holds the daemon's lock on the
    /// database and so knows the previous one is dead, releases that token's claims.
    token: String,
    /// The HTTP client and OAuth token cache the API sources share.
    http: Arc<sources::Http>,
    /// The records of evidence content read before, so unchanged evidence is not parsed
    /// again (see `parse_cache`). A mutex because `verdict` reads through `&self` and the
    /// collection workers read into it; shared so a pass can judge a contractor while its
    /// workers collect the next ones.
    parsed: Arc<std::sync::Mutex<ParseCache>>,
    /// The verdicts that hold on unchanged evidence, so those duties are not judged again
    /// (see `held`), and the store's data version they were judged under.
    held: held::Held,
    held_version: Option<i64>,
    /// The clients whose escalation ladder has nothing to do for a while (`escalation::ladder`),
    /// under the same data version.
    ladder_quiet: escalation::ladder::Quiet,
    /// Whether the stored clients were brought in line with the configured ones since the
    /// config was set (`Store::retain_clients`): the clients change only with the config.
    clients_settled: bool,
    /// Counts what a pass gets done (a collection recorded, a contractor judged, a mail
    /// handed over), so the daemon can tell a long pass from a wedged one ([`Engine::progress`]).
    progress: Arc<std::sync::atomic::AtomicU64>,
}

/// What a pass did, for logs and the service manager's status line.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub collected: usize,
    /// Of those collected, files found unwritten since their last collection: not read.
    pub unchanged: usize,
    pub collection_failures: usize,
    pub evaluated: usize,
    /// Duties not judged again: their evidence is unchanged and their verdict still holds.
    pub held: usize,
    pub changed: usize,
    pub mails_sent: usize,
    pub mail_failures: usize,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} collected ({} unchanged file(s) not read), {} collection failure(s), {} duties evaluated, {} held, {} changed state, {} mail(s) sent, {} mail failure(s)",
            self.collected,
            self.unchanged,
            self.collection_failures,
            self.evaluated,
            self.held,
            self.changed,
            self.mails_sent,
            self.mail_failures
        )
    }
}

/// What the evaluation of a pass counted: duties judged, held and changed.
#[derive(Debug, Default)]
struct Tally {
    evaluated: usize,
    held: usize,
    changed: usize,
}

/// The collections of `sources`, each with the position of its contractor in the config,
/// grouped by contractor in config order (a pass judges each contractor after its last one).
fn jobs<'a>(
    config: &'a Config,
    sources: &'a [(String, String)],
) -> anyhow::Result<Vec<(usize, collect::Job<'a>)>> {
    // Looked up, not searched: an MSP's pass has thousands of sources over a thousand clients.
    let contractors: HashMap<&str, (usize, &Contractor)> = config
        .contractors
        .iter()
        .enumerate()
        .map(|(position, c)| (c.id.as_str(), (position, c)))
        .collect();
    let mut jobs = Vec::with_capacity(sources.len());
    for (contractor, source_id) in sources {
        let Some((position, source)) = contractors
            .get(contractor.as_str())
            .and_then(|&(position, c)| Some((position, c.source(source_id)?)))
        else {
            anyhow::bail!("no source `{source_id}` for contractor `{contractor}`");
        };
        jobs.push((position, collect::Job { contractor, source }));
    }
    jobs.sort_by_key(|(position, _)| *position);
    Ok(jobs)
}

/// Which duties a pass re-evaluates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    All,
    /// Duties reading these (contractor, source) pairs.
    Sources(BTreeSet<(String, String)>),
}

impl Engine {
    /// An engine whose outbox leases run on the host's clock.
    pub fn new(config: Arc<Config>, store: Store) -> Engine {
        Engine::with_clock(config, store, Arc::new(SystemClock))
    }

    /// An engine whose outbox leases run on `clock`.
    pub fn with_clock(config: Arc<Config>, store: Store, clock: Arc<dyn Clock>) -> Engine {
        let cache_cap = config.runtime.parse_cache_records;
        let mailer = mail::mailer(&config.mail);
        // SQLite's randomblob; should it fail, a token from the clock and the pid is still
        // this process's own.
        let token = store
            .new_owner_token()
            .unwrap_or_else(|_| format!("{}-{}", std::process::id(), clock.now().as_nanosecond()));
        Engine {
            config,
            store,
            mailer,
            clock,
            token,
            http: Arc::new(sources::Http::default()),
            parsed: Arc::new(std::sync::Mutex::new(ParseCache::with_cap(cache_cap))),
            held: held::Held::default(),
            held_version: None,
            ladder_quiet: escalation::ladder::Quiet::default(),
            clients_settled: false,
            progress: Arc::default(),
        }
    }

    /// Bounds the records kept of evidence read before (default
    /// [`parse_cache::DEFAULT_CAP_RECORDS`]; 0 keeps none), emptying what is kept.
    pub fn set_parse_cache_cap(&mut self, records: usize) {
        *self.cache() = ParseCache::with_cap(records);
    }

    /// Records kept now of evidence read before.
    pub fn parse_cache_records(&self) -> usize {
        self.cache().records()
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, ParseCache> {
        parse_cache::lock(&self.parsed)
    }

    /// Before collecting and before judging: another process wrote to the store (evidence
    /// added by hand, rows altered), so neither the records read before nor what held may be
    /// trusted any more, and an edited payload is read, and refused, in the same pass. Asked
    /// before each contractor is judged, since a pass that judges as it collects can last as
    /// long as its slowest APIs.
    fn check_versions(&mut self) -> anyhow::Result<()> {
        let version = self.store.data_version()?;
        self.cache().check_version(version);
        if self.held_version != Some(version) {
            self.held.clear();
            self.ladder_quiet.clear();
            self.held_version = Some(version);
        }
        Ok(())
    }

    /// Replaces the bounds of the API sources' HTTP requests (timeouts, retries, back-off),
    /// dropping the client, the cached tokens, the rate limits' slots and the cancellation
    /// flag (take [`Engine::cancellation`] after this).
    pub fn set_http_policy(&mut self, policy: sources::HttpPolicy) {
        self.http = Arc::new(sources::Http::new(policy));
    }

    /// The owner token on this engine's outbox leases.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Registers this engine as the sender `name` and releases the claims its previous
    /// instance left behind (it was killed mid-send), so those mails go out in this pass
    /// instead of when their leases run out; returns how many. The caller must know that
    /// instance is gone: the daemon calls it only while it holds its lock on the database.
    pub fn take_over_claims(&mut self, name: &str) -> anyhow::Result<usize> {
        let released = self
            .store
            .take_over_claims(name, &self.token, self.clock.now())?;
        if released > 0 {
            tracing::warn!(released, sender = name, "OutboxClaimsTakenOver");
        }
        Ok(released)
    }

    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The store for writes outside a pass: the weekly digest's record, the incident
    /// clocks' own transactions (`incident::tick`).
    pub fn store_mut(&mut self) -> &mut Store {
        &mut self.store
    }

    /// Swaps in a new, already validated config.
    pub fn set_config(&mut self, config: Arc<Config>) {
        self.mailer = mail::mailer(&config.mail);
        // A source's kind, mapping or zone may have changed: content reads anew, and every
        // duty is judged again.
        *self.cache() = ParseCache::with_cap(config.runtime.parse_cache_records);
        self.config = config;
        self.held.clear();
        self.ladder_quiet.clear();
        self.clients_settled = false;
    }

    /// Collects everything, evaluates every watched duty and delivers mail.
    pub fn cycle(&mut self, now: Timestamp) -> anyhow::Result<Summary> {
        let config = Arc::clone(&self.config);
        let pairs: Vec<(String, String)> = config
            .contractors
            .iter()
            .flat_map(|c| c.sources.iter().map(|s| (c.id.clone(), s.id.clone())))
            .collect();
        self.pass(&pairs, &Scope::All, now)
    }

    /// Collects `sources`, re-evaluates the duties in `scope`, delivers mail. A pass the
    /// shutdown cancelled stops after its collections (see [`Engine::cancellation`]).
    ///
    /// Each contractor's duties are judged as soon as its own collections are recorded, while
    /// the workers collect the next contractors' sources: the records its collections read are
    /// then still at hand (`parse_cache`), so a first cycle reads each export once, not once to
    /// collect and again to judge.
    pub fn pass(
        &mut self,
        sources: &[(String, String)],
        scope: &Scope,
        now: Timestamp,
    ) -> anyhow::Result<Summary> {
        let mut summary = Summary::default();
        let config = Arc::clone(&self.config);
        let jobs = jobs(&config, sources)?;
        let mut tally = self.evaluation_begin(now)?;
        // The contractors judged so far, in config order; `last[i]` is the index of the last
        // job of contractor `i`, after whose recording it is judged.
        let mut judged = 0;
        let mut last: Vec<Option<usize>> = vec![None; config.contractors.len()];
        for (index, (position, _)) in jobs.iter().enumerate() {
            last[*position] = Some(index);
        }
        // A contractor that cannot be judged (a row of its in the store that no longer reads)
        // stops neither the collections nor the judging of the others: the pass fails with
        // its error once everything else is done.
        let mut first_error: Option<anyhow::Error> = None;
        let mut judge = |engine: &mut Engine, contractor: &Contractor, tally: &mut Tally| {
            engine.progressed();
            if let Err(error) = engine.evaluate_contractor(contractor, scope, now, tally) {
                tracing::error!(contractor = %contractor.id, error = %format!("{error:#}"), "ContractorJudgeFailed");
                first_error.get_or_insert(error);
            }
        };
        let (collected, unchanged, failed) =
            self.collect_jobs(&jobs, now, &mut |engine: &mut Engine, index: usize| {
                engine.progressed();
                let position = jobs[index].0;
                if last[position] != Some(index) || engine.cancelled() {
                    return Ok(());
                }
                for contractor in &config.contractors[judged..=position] {
                    judge(engine, contractor, &mut tally);
                }
                judged = position + 1;
                Ok(())
            })?;
        summary.collected = collected;
        summary.unchanged = unchanged;
        summary.collection_failures = failed;
        if !self.cancelled() {
            for contractor in &config.contractors[judged..] {
                judge(self, contractor, &mut tally);
            }
        }
        summary.held = tally.held;
        summary.evaluated = tally.evaluated;
        summary.changed = tally.changed;
        if self.cancelled() {
            tracing::warn!(%summary, "PassCancelled");
            return first_error.map_or(Ok(summary), Err);
        }
        // Mail already decided is delivered even when a client's ladder failed this pass.
        if let Err(error) = self.evaluation_end(now) {
            first_error.get_or_insert(error);
        }
        let (sent, failed) = self.deliver_since(now)?;
        summary.mails_sent = sent;
        summary.mail_failures = failed;
        first_error.map_or(Ok(summary), Err)
    }

    /// Runs one collection and stores its outcome; `Ok(false)` when the
    /// collector failed (recorded, so verdicts say so) or was cancelled (nothing recorded).
    pub fn collect(
        &mut self,
        contractor_id: &str,
        source_id: &str,
        now: Timestamp,
    ) -> anyhow::Result<bool> {
        let config = Arc::clone(&self.config);
        let pair = [(contractor_id.to_owned(), source_id.to_owned())];
        let jobs = jobs(&config, &pair)?;
        let collected = self.collect_jobs(&jobs, now, &mut |_: &mut Engine, _: usize| Ok(()))?;
        // Nothing judges what it read in this call: the records do not stay beyond the cap.
        self.cache().end_client(contractor_id);
        Ok(collected.0 == 1)
    }

    /// Collects each job, up to `[runtime] max_concurrent_collections` at once, and records
    /// each outcome in their order (see `engine/collect.rs`), calling `recorded` with the
    /// job's index after each; returns (collected, of those unchanged files, failed).
    fn collect_jobs(
        &mut self,
        jobs: &[(usize, collect::Job<'_>)],
        now: Timestamp,
        recorded: &mut dyn FnMut(&mut Engine, usize) -> anyhow::Result<()>,
    ) -> anyhow::Result<(usize, usize, usize)> {
        if jobs.is_empty() {
            return Ok((0, 0, 0));
        }
        self.check_versions()?;
        let (mut collected, mut unchanged, mut failed) = (0, 0, 0);
        let (http, parsed) = (Arc::clone(&self.http), Arc::clone(&self.parsed));
        // Concurrency is for the APIs' latency. Files are read as fast as one thread can,
        // while the pass thread judges what it read: more readers only held more payloads
        // and records at once (at 100 x 2,500, four readers: 11.2 s CPU and 77 MB resident
        // after the cycle; one: 9.6 s and 49 MB).
        let workers = if jobs
            .iter()
            .any(|(_, job)| job.source.kind.api_url().is_some())
        {
            self.config.runtime.max_concurrent_collections
        } else {
            1
        };
        let only: Vec<&collect::Job<'_>> = jobs.iter().map(|(_, job)| job).collect();
        collect::run(
            &only,
            workers,
            &http,
            &parsed,
            now,
            |index, job, outcome| {
                match collect::record(&mut self.store, &parsed, &http, job, outcome, now)? {
                    collect::Recorded::Collected => collected += 1,
                    collect::Recorded::Unchanged => {
                        collected += 1;
                        unchanged += 1;
                    }
                    collect::Recorded::Failed => failed += 1,
                    collect::Recorded::Cancelled => {}
                }
                recorded(self, index)
            },
        )?;
        Ok((collected, unchanged, failed))
    }

    /// The flag that stops the collections under way (their waits wake, no further request
    /// goes, and a cancelled collection records nothing) and makes the pass end after them.
    /// Raised by the daemon on shutdown; once raised it stays raised.
    pub fn cancellation(&self) -> sources::Cancel {
        self.http.cancellation().clone()
    }

    /// A count that grows with every step a pass gets done: a collection recorded, a
    /// contractor judged, a mail attempted. Read from another thread while the pass runs.
    pub fn progress(&self) -> Arc<std::sync::atomic::AtomicU64> {
        Arc::clone(&self.progress)
    }

    fn progressed(&self) {
        self.progress
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    fn cancelled(&self) -> bool {
        self.http.cancellation().is_cancelled()
    }

    /// Evaluates the watched duties in `scope` (but those whose verdict holds, see `held`),
    /// then runs the escalation ladder over every watched duty's recorded state (reminders
    /// fall due whether or not anything changed); returns (evaluated, held, changed).
    pub fn evaluate(
        &mut self,
        scope: &Scope,
        now: Timestamp,
    ) -> anyhow::Result<(usize, usize, usize)> {
        let config = Arc::clone(&self.config);
        let mut tally = self.evaluation_begin(now)?;
        for contractor in &config.contractors {
            self.evaluate_contractor(contractor, scope, now, &mut tally)?;
        }
        self.evaluation_end(now)?;
        Ok((tally.evaluated, tally.held, tally.changed))
    }

    /// What starts the evaluation of a pass: the cache and held verdicts checked against the
    /// store's data version, and each quarantined client's state recorded.
    fn evaluation_begin(&mut self, now: Timestamp) -> anyhow::Result<Tally> {
        self.cache().next_pass();
        self.check_versions()?;
        let config = Arc::clone(&self.config);
        if !self.clients_settled {
            // A client removed from the config: its threads close, so nobody is reminded of
            // it again (quarantined clients stay: they are still watched, through their
            // `client-config` duty).
            let kept: Vec<&str> = config
                .contractors
                .iter()
                .map(|c| c.id.as_str())
                .chain(config.quarantined.iter().map(|q| q.id.as_str()))
                .collect();
            let gone = self
                .store
                .retain_clients(&kept, now)
                .context("settling the stored clients with the configured ones")?;
            for client in gone {
                tracing::info!(contractor = %client, "ClientNoLongerWatched");
            }
            // Threads a dutywatch before this one left open for duties it forgot.
            let watched: HashMap<&str, std::collections::HashSet<&str>> = config
                .contractors
                .iter()
                .map(|c| {
                    let duties = (c.duties.iter())
                        .filter(|duty| config.perspective.watches(duty))
                        .map(|duty| duty.id.as_str())
                        .collect();
                    (c.id.as_str(), duties)
                })
                .collect();
            let configured = |client: &str, duty: &str| match watched.get(client) {
                Some(duties) => duty == CLIENT_CONFIG_DUTY || duties.contains(duty),
                // Quarantined without a good config to run on: left as it is.
                None => config.quarantined(client).is_some(),
            };
            let closed = self
                .store
                .close_unconfigured_threads(&configured, now)
                .context("closing the threads of duties no longer configured")?;
            if closed > 0 {
                tracing::info!(duties = closed, "UnconfiguredThreadsClosed");
            }
            self.clients_settled = true;
        }
        let mut changed = 0;
        // A quarantined client's state is recorded as its `client-config` duty, through the
        // same transaction as any escalation: the MSP hears of a quarantine once.
        for client in &config.quarantined {
            let verdict = Verdict {
                state: State::SourceError {
                    since: now,
                    error: format!("{} problem(s) in its config", client.errors.len()),
                },
                reason: client.summary(),
                evidence: Vec::new(),
                subjects: None,
                whole_run: WholeRun::NotJudged,
            };
            let recorded = self
                .store
                .record_verdict(
                    &client.id,
                    CLIENT_CONFIG_DUTY,
                    now,
                    &verdict,
                    &mut |transition| escalation::quarantine(&config, client, transition),
                )
                .with_context(|| format!("recording the quarantine of {}", client.id))?;
            if recorded.state.is_some() {
                changed += 1;
                self.ladder_quiet.forget(&client.id);
                tracing::error!(contractor = %client.id, errors = client.errors.len(), last_good = client.last_good, "ClientQuarantineRecorded");
            }
        }
        Ok(Tally {
            changed,
            ..Tally::default()
        })
    }

    /// Evaluates the watched duties of `contractor` in `scope` (but those whose verdict holds,
    /// see `held`), counting into `tally`; then the records read for it may go.
    fn evaluate_contractor(
        &mut self,
        contractor: &Contractor,
        scope: &Scope,
        now: Timestamp,
        tally: &mut Tally,
    ) -> anyhow::Result<()> {
        self.check_versions()?;
        let config = Arc::clone(&self.config);
        let watched: Vec<&Duty> = contractor
            .duties
            .iter()
            .filter(|duty| config.perspective.watches(duty))
            .collect();
        let mut keep: Vec<KeptDuty<'_>> = watched
            .iter()
            .map(|d| KeptDuty {
                id: d.id.as_str(),
                judges_subjects: d.rule.judges_subjects(),
            })
            .collect();
        // Running on its last good config while the file's version is quarantined: the
        // quarantine stays recorded. Otherwise it is over: recorded as `met` (which mails
        // the MSP once that the client is back to normal), then forgotten, so a later
        // break is told again.
        if config.quarantined(&contractor.id).is_some() {
            keep.push(KeptDuty {
                id: CLIENT_CONFIG_DUTY,
                judges_subjects: false,
            });
        } else if self
            .store
            .duty_state(&contractor.id, CLIENT_CONFIG_DUTY)?
            .is_some()
        {
            let verdict = Verdict {
                state: State::Met { next_due: None },
                reason: "client config loads again".to_owned(),
                evidence: Vec::new(),
                subjects: None,
                whole_run: WholeRun::NotJudged,
            };
            let recorded = self
                .store
                .record_verdict(
                    &contractor.id,
                    CLIENT_CONFIG_DUTY,
                    now,
                    &verdict,
                    &mut |transition| {
                        escalation::quarantine_lifted(&config, contractor, transition)
                    },
                )
                .with_context(|| format!("recording the end of {}'s quarantine", contractor.id))?;
            if recorded.state.is_some() {
                tally.changed += 1;
                self.ladder_quiet.forget(&contractor.id);
                tracing::info!(contractor = %contractor.id, "ClientQuarantineLiftRecorded");
            }
        }
        let retired = self
            .store
            .retain_duties(&contractor.id, &keep, now)
            .context("settling the stored duties with the configured ones")?;
        if retired > 0 {
            // Subjects left: their threads are the ladder's to resolve.
            self.ladder_quiet.forget(&contractor.id);
        }
        self.record_crm_version(contractor, now)?;
        // Judged first, then recorded together: one commit per client, not one per duty.
        let mut judged = Vec::new();
        for duty in watched {
            let in_scope = match scope {
                Scope::All => true,
                Scope::Sources(pairs) => {
                    pairs.contains(&(contractor.id.clone(), duty.source.clone()))
                }
            };
            if !in_scope {
                continue;
            }
            let inputs = self.inputs(&contractor.id, duty, now)?;
            if let Some(inputs) = &inputs
                && self
                    .held
                    .holds(&contractor.id, duty.id.as_str(), inputs, now)
            {
                tally.held += 1;
                continue;
            }
            let (verdict, until) = self.verdict_holding(contractor, duty, now)?;
            judged.push((duty, verdict, until, inputs));
        }
        // A duty's mail is the ladder's, decided below from what is recorded here.
        let verdicts: Vec<(&str, &Verdict)> = (judged.iter())
            .map(|(duty, verdict, _, _)| (duty.id.as_str(), verdict))
            .collect();
        let recorded = self
            .store
            .record_verdicts(&contractor.id, now, &verdicts)
            .with_context(|| format!("recording the verdicts of {}", contractor.id))?;
        drop(verdicts);
        // A duty that could not be recorded is judged again next pass (nothing holds it) and
        // fails this client's judgement once the others are recorded.
        let mut failed: Option<anyhow::Error> = None;
        for ((duty, verdict, until, inputs), recorded) in judged.into_iter().zip(recorded) {
            let recorded = match recorded {
                Ok(recorded) => recorded,
                Err(error) => {
                    let error = anyhow::Error::new(error);
                    tracing::error!(contractor = %contractor.id, duty = %duty.id, error = %format!("{error:#}"), "DutyRecordFailed");
                    failed.get_or_insert(error);
                    continue;
                }
            };
            tally.evaluated += 1;
            self.held.judged(
                &contractor.id,
                duty.id.as_str(),
                now,
                inputs.filter(|_| until > now).map(|inputs| (inputs, until)),
            );
            if recorded.state.is_some() || recorded.subjects > 0 {
                // What the ladder reads changed: it runs for this client.
                self.ladder_quiet.forget(&contractor.id);
            }
            if let Some(kind) = recorded.state {
                tally.changed += 1;
                log_change(&contractor.id, duty, kind, &verdict);
            }
            if recorded.subjects > 0 {
                tracing::info!(contractor = %contractor.id, duty = %duty.id, subjects = recorded.subjects, "DutySubjectsChanged");
            }
        }
        self.cache().end_client(&contractor.id);
        match failed {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// What ends the evaluation of a pass: the escalation ladder over every watched duty's
    /// recorded state (reminders fall due whether or not anything changed).
    fn evaluation_end(&mut self, now: Timestamp) -> anyhow::Result<()> {
        let config = Arc::clone(&self.config);
        escalation::ladder::run(&mut self.store, &config, now, &mut self.ladder_quiet)
            .context("deciding the escalations")?;
        Ok(())
    }

    /// Keeps each version of the contractor's CRM file in the evidence chain; a new one makes
    /// the CRM reviews due again (`verdict`).
    fn record_crm_version(
        &mut self,
        contractor: &Contractor,
        now: Timestamp,
    ) -> anyhow::Result<()> {
        // Kept when something reads it: the library's CRM reviews.
        let reviewed = contractor
            .duties
            .iter()
            .any(|duty| library::is_crm_review(&duty.id));
        let Some(file) = contractor.crm_file.as_ref().filter(|_| reviewed) else {
            return Ok(());
        };
        let origin = file.path.display().to_string();
        let effective_at = file
            .modified
            .filter(|modified| *modified <= now)
            .unwrap_or(now);
        let media_type = if file.bytes.starts_with(b"PK") {
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        } else {
            "text/csv"
        };
        let new = self
            .store
            .record_crm_version(&NewEvidence {
                client: &contractor.id,
                source: CRM_SOURCE,
                fetched_at: now,
                effective_at: Timestamp::from_second(effective_at.as_second())?,
                media_type,
                origin: &origin,
                payload: &file.bytes,
            })
            .with_context(|| format!("recording the CRM of {}", contractor.id))?;
        if new {
            tracing::info!(contractor = %contractor.id, crm = %origin, "CrmVersionRecorded");
        }
        Ok(())
    }

    /// The verdict of one duty at `now`, from stored evidence.
    pub fn verdict(
        &self,
        contractor: &Contractor,
        duty: &Duty,
        now: Timestamp,
    ) -> anyhow::Result<Verdict> {
        self.verdict_holding(contractor, duty, now)
            .map(|(verdict, _)| verdict)
    }

    /// [`verdict`](Engine::verdict), and the instant until which it holds on the same
    /// inputs (`held`); `now` for a verdict that must be made again next time (evidence that
    /// cannot be trusted or read).
    fn verdict_holding(
        &self,
        contractor: &Contractor,
        duty: &Duty,
        now: Timestamp,
    ) -> anyhow::Result<(Verdict, Timestamp)> {
        let manual = duty.source == MANUAL_SOURCE;
        let source_key = evidence_source(duty);
        let mut collection = if manual {
            Collection::Manual
        } else {
            self.store.collection(&contractor.id, &source_key)?
        };
        let window = duty.evidence_window(now, manual);
        // Evidence dated after `now` does not exist yet as far as a what-if
        // run at an earlier instant is concerned; in a live run it means a
        // clock ahead (a file share's), which the reason must say, or the
        // verdict would rest on older evidence without a word.
        let headers = match intact_or_verdict(
            duty,
            self.store
                .snapshot_headers(&contractor.id, &source_key, window.since(now))?,
            now,
        ) {
            Ok(headers) if matches!(window, EvidenceWindow::NewestPerOrigin(_)) => {
                let pattern = contractor
                    .source(&duty.source)
                    .and_then(|source| source.kind.file_pattern())
                    .and_then(crate::sources::file::origin_pattern);
                newest_per_origin(headers, now, pattern.as_ref())
            }
            Ok(headers) => headers,
            Err(verdict) => return Ok((*verdict, now)),
        };
        let duty_reader = match self.reader(contractor, duty) {
            Ok(reader) => reader,
            Err(error) => return Ok((untrusted(now, error), now)),
        };
        // Every row of the window is checked, as before any was read from the cache: its
        // payload, unless its content was read (and checked) before.
        let mut rows: Vec<StoredRow> = Vec::with_capacity(headers.len());
        for header in headers {
            let key = parse_cache::Key {
                client: contractor.id.clone(),
                source: source_key.clone(),
                sha256: header.sha256.clone(),
                origin: header.origin.clone(),
            };
            let content = match (&duty_reader, self.cache().get(&key)) {
                (DutyReader::Source(_), Some(parsed)) => Gathered::Ready(Content::Read(parsed)),
                // The same content as an earlier row of the window (an API that answered the
                // same bytes again): one payload, stored once by its hash, checked once.
                (DutyReader::Source(_), None) if rows.iter().any(|row| row.key == key) => {
                    Gathered::Again
                }
                _ => match self.payload_of(duty, &header, now)? {
                    Ok(payload) => Gathered::Ready(Content::Bytes(payload)),
                    Err(verdict) => return Ok((verdict, now)),
                },
            };
            rows.push(StoredRow {
                header,
                key,
                content,
            });
        }
        let (ahead, mut stored): (Vec<StoredRow>, Vec<StoredRow>) = rows
            .into_iter()
            .partition(|row| row.header.effective_at > now);
        // A review of the CRM speaks for the version it reviewed: one done while other content
        // was the current CRM no longer counts, so a changed CRM is re-confirmed by each party
        // (and one reverted to a version reviewed before is that version, with its reviews).
        let mut voided_by_crm_change = None;
        let spans = if library::is_crm_review(&duty.id) {
            self.store
                .spans_of_newest_content(&contractor.id, CRM_SOURCE)?
        } else {
            Vec::new()
        };
        // The newest version's own row starts the last span; no CRM on record voids nothing.
        if let Some(&(changed_at, _)) = spans.last() {
            let before = stored.len();
            stored.retain(|row| {
                let at = row.header.effective_at;
                spans
                    .iter()
                    .any(|(from, until)| at >= *from && until.is_none_or(|until| at < until))
            });
            if stored.len() < before {
                voided_by_crm_change = Some(changed_at);
            }
        }
        if window == EvidenceWindow::Latest && stored.len() > 1 {
            stored.drain(..stored.len() - 1);
        }
        let reader = duty_reader.get();
        let mut snapshots = Vec::with_capacity(stored.len());
        // What this window read, so a row of the same content shares its records.
        let mut read_now: HashMap<parse_cache::Key, SharedParsed> = HashMap::new();
        for row in stored {
            let content = match row.content {
                Gathered::Again => match read_now.get(&row.key) {
                    Some(parsed) => Content::Read(parsed.clone()),
                    // Its earlier row was left out (dated ahead, or not the latest).
                    None => match self.payload_of(duty, &row.header, now)? {
                        Ok(payload) => Content::Bytes(payload),
                        Err(verdict) => return Ok((verdict, now)),
                    },
                },
                Gathered::Ready(content) => content,
            };
            let key = row.key.clone();
            match self.records(&duty_reader, content, &row.header, row.key) {
                Ok(parsed) => {
                    snapshots.push(Snapshot {
                        id: row.header.id,
                        effective_at: row.header.effective_at,
                        records: Arc::clone(&parsed.records),
                        findings: Arc::clone(&parsed.findings),
                    });
                    read_now.insert(key, parsed);
                }
                Err(error) => {
                    // Stored evidence that no longer reads (the config's kind or
                    // format changed under it) cannot vouch for anything.
                    collection = Collection::Failed {
                        since: row.header.fetched_at,
                        error: error.to_string(),
                    };
                }
            }
        }
        let kept = match duty.rule {
            Rule::EventClock(_) => self.kept(contractor, duty, reader)?,
            _ => Vec::new(),
        };
        // A continuous rule's runs of failures carry their start over from the last
        // evaluation: the window slides, the start does not.
        let failing_since = match (&duty.rule, snapshots.first()) {
            (Rule::Continuous(_), Some(oldest)) => {
                self.store
                    .failing_since(&contractor.id, duty.id.as_str(), oldest.effective_at)?
            }
            _ => std::collections::BTreeMap::new(),
        };
        let duty_failing_since = match (&duty.rule, snapshots.first()) {
            (Rule::Continuous(rule), Some(oldest)) if rule.expect == Quantifier::Any => self
                .store
                .duty_failing_since(&contractor.id, duty.id.as_str(), oldest.effective_at)?,
            _ => None,
        };
        let view = EvidenceView {
            source: &duty.source,
            kind: reader.kind,
            zone: &reader.time.zone,
            collection: &collection,
            snapshots: &snapshots,
            kept: &kept,
            failing_since: &failing_since,
            duty_failing_since,
        };
        let joined = match self.joined(contractor, duty, now)? {
            Ok(joined) => joined,
            Err(verdict) => return Ok((verdict, now)),
        };
        let joined: Vec<EvidenceView<'_>> =
            joined.iter().map(joined::JoinedEvidence::view).collect();
        let (mut verdict, mut until) = evaluate_holding(duty, view, &joined, now);
        // Evidence dated after `now` is used from the instant it speaks for.
        if let Some(first) = ahead.first() {
            until = until.min(first.header.effective_at);
        }
        if let Some(changed_at) = voided_by_crm_change {
            verdict.reason += &format!(
                "; the CRM changed (the version of {}): reviews before it no longer count",
                changed_at
                    .to_zoned(duty.zone.clone())
                    .strftime("%Y-%m-%d %H:%M %Z")
            );
        }
        if let Some(newest) = ahead.last() {
            verdict.reason += &format!(
                "; not used: {} snapshot(s) dated after {now}, the newest `{}` as of {} \
                 (a what-if run, or the clock of whatever wrote it is ahead)",
                ahead.len(),
                newest.header.origin,
                newest.header.effective_at
            );
        }
        Ok((verdict, until))
    }

    /// How the duty's evidence is read: its source's kind, mapping and zone, or for
    /// hand-added evidence the manual-completion kind in the contractor's zone.
    fn reader<'a>(
        &self,
        contractor: &'a Contractor,
        duty: &Duty,
    ) -> Result<DutyReader<'a>, String> {
        if duty.source == MANUAL_SOURCE {
            return Ok(DutyReader::Manual(TimeReader::new(duty.zone.clone())));
        }
        contractor
            .source(&duty.source)
            .map(DutyReader::Source)
            .ok_or_else(|| format!("source `{}` is no longer configured", duty.source))
    }

    /// A row's payload, or the verdict it makes instead: `source_error` when it was tampered
    /// with, or when it is intact but the memory at hand cannot hold it (judged again on the
    /// next pass; the client's other duties are judged as usual).
    fn payload_of(
        &self,
        duty: &Duty,
        header: &EvidenceHeader,
        now: Timestamp,
    ) -> anyhow::Result<Result<Vec<u8>, Verdict>> {
        match self.store.payload(header) {
            Ok(Ok(payload)) => Ok(Ok(payload)),
            Ok(Err(tampered)) => Ok(Err(tampered_verdict(duty, tampered, now))),
            Err(error @ StoreError::NoRoom { .. }) => {
                tracing::error!(duty = %duty.id, error = %error, "EvidenceNoRoom");
                Ok(Err(untrusted(now, error.to_string())))
            }
            Err(error) => Err(error.into()),
        }
    }

    /// The records of one row: those read before, else its (checked) bytes read now and
    /// kept under `key`.
    fn records(
        &self,
        reader: &DutyReader<'_>,
        content: Content,
        row: &EvidenceHeader,
        key: parse_cache::Key,
    ) -> Result<SharedParsed, ReadError> {
        match (reader, content) {
            (_, Content::Read(parsed)) => Ok(parsed),
            (DutyReader::Source(source), Content::Bytes(payload)) => {
                let parsed = sources::read_evidence(source, &row.origin, &payload)?;
                Ok(self.cache().insert(key, parsed.into()))
            }
            // Added before `evidence add` refused empty files: still proves nothing.
            (DutyReader::Manual(_), Content::Bytes(payload))
                if dutywatch_checks::decode::is_blank(&payload) =>
            {
                Err(ReadError {
                    origin: row.origin.clone(),
                    location: None,
                    message: crate::manual::EMPTY.to_owned(),
                })
            }
            (DutyReader::Manual(_), Content::Bytes(_)) => {
                let record = sources::manual_record(row.effective_at, &row.origin, &row.sha256);
                let payload = record.to_string();
                read::read(
                    FileFormat::Json,
                    None,
                    &row.origin,
                    payload.as_bytes(),
                    reader.get(),
                )
                .map(SharedParsed::from)
            }
        }
    }

    /// The events of an event-clock duty still open when last evaluated, read back with the
    /// kind's own field names. One that no longer reads (its kind changed) is logged and
    /// left out: it can no longer be judged, and the duty's other events still can.
    fn kept(
        &self,
        contractor: &Contractor,
        duty: &Duty,
        reader: RecordReader<'_>,
    ) -> anyhow::Result<Vec<Record>> {
        let identity = Mapping::identity(reader.kind);
        let reader = RecordReader {
            mapping: &identity,
            ..reader
        };
        let mut kept = Vec::new();
        for (index, value) in self
            .store
            .kept_events(&contractor.id, duty.id.as_str())?
            .into_iter()
            .enumerate()
        {
            let read = match &value {
                serde_json::Value::Object(object) => {
                    let reading = reader.read(object, Position::Record(index + 1));
                    reading.record.ok_or_else(|| {
                        reading
                            .findings
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join("; ")
                    })
                }
                _ => Err("not an object".to_owned()),
            };
            match read {
                Ok(record) => kept.push(record),
                Err(error) => {
                    tracing::warn!(contractor = %contractor.id, duty = %duty.id, %error, "KeptEventUnreadable");
                }
            }
        }
        Ok(kept)
    }

    /// Sends what the outbox holds; returns (sent, failed).
    ///
    /// After a failure every other mail would share (relay unreachable,
    /// login refused) the rest of the batch is not tried: each would wait out
    /// its own timeout while the scheduler loop cannot feed the watchdog.
    /// They are deferred with that reason, without counting an attempt (an outage must not
    /// push them up the back-off), and retried on their own schedule; the mail that hit the
    /// failure counts one.
    pub fn deliver(&mut self, now: Timestamp) -> anyhow::Result<(usize, usize)> {
        self.deliver_since(now)
    }

    /// [`deliver`](Engine::deliver) in a pass, `now` being the instant it runs as: due
    /// times are on it, leases on the wall clock (so the time the pass has taken so far
    /// cannot eat into them).
    fn deliver_since(&mut self, now: Timestamp) -> anyhow::Result<(usize, usize)> {
        let pending = self.store.due_mail(now, self.clock.now(), DELIVERY_BATCH)?;
        let mut sent = 0;
        let mut failed = 0;
        let mut relay_down: Option<String> = None;
        let mut deferred = 0;
        for item in pending {
            self.progressed();
            if self.cancelled() {
                // Stopping: a mail not claimed yet waits for the next start. One being sent
                // is never cut short here; the outbox's lease covers a kill mid-send.
                break;
            }
            if let Some(reason) = &relay_down {
                // Its own next attempt as if this pass had not happened: no attempt counted.
                let retry_at = now
                    .checked_add(retry_delay(
                        item.attempts,
                        backoff_ceiling(&item.state, true),
                    ))
                    .unwrap_or(now);
                if self.store.defer_mail(
                    item.id,
                    self.clock.now(),
                    &format!("not attempted: {reason}"),
                    retry_at,
                )? {
                    failed += 1;
                    deferred += 1;
                }
                continue;
            }
            let clock = self.clock.now();
            let lease = Lease {
                owner: &self.token,
                at: clock,
                until: clock.checked_add(CLAIM_HOLD).unwrap_or(Timestamp::MAX),
            };
            if !self.store.claim_mail(item.id, now, &lease)? {
                // Another sender on this database took it since it was read.
                continue;
            }
            // A thread's first mail carries the thread's root id, decided with it.
            let message_id = item.mail.thread.message_id.clone().unwrap_or_else(|| {
                format!(
                    "<escalation-{}.{}.{}@{}>",
                    item.id,
                    item.message_token,
                    item.client,
                    self.config.mail.from.email.domain()
                )
            });
            // A delivery is recorded inside `send`, before the session's QUIT.
            match self.send(&item, &message_id, now)? {
                Ok(()) => sent += 1,
                Err(error) => {
                    let ceiling = backoff_ceiling(&item.state, error.is_transient());
                    let retry_at = now
                        .checked_add(retry_delay(item.attempts, ceiling))
                        .unwrap_or(now);
                    tracing::warn!(outbox = item.id, duty = %item.duty, %error, %retry_at, "MailSendError");
                    let recorded = self.store.mark_failed(
                        item.id,
                        &self.token,
                        now,
                        &error.to_string(),
                        retry_at,
                    )?;
                    if !recorded {
                        // The attempt outlived its lease and another sender took the mail
                        // over (or delivered it): that sender's outcome stands.
                        tracing::warn!(outbox = item.id, "MailOutcomeSuperseded");
                    }
                    failed += 1;
                    if error.affects_every_mail() {
                        relay_down = Some(error.to_string());
                    }
                }
            }
        }
        if deferred > 0 {
            // The reason was logged with the MailSendError that set it.
            tracing::warn!(deferred, "MailDeliveryDeferred");
        }
        Ok((sent, failed))
    }

    /// Sends `item` to the recipients still waiting for it and records the delivery as soon
    /// as the relay has accepted it, before the session's QUIT: a crash after the relay's
    /// reply and before that record is the only way left to send a mail twice. When the relay
    /// refuses one of the recipients, they are tried one by one, so a single bad address
    /// cannot keep the mail from the others; each that takes it is recorded the same way, so
    /// a retry goes only to the rest. `Err` is the store's, the inner error the mail's.
    fn send(
        &mut self,
        item: &PendingMail,
        message_id: &str,
        now: Timestamp,
    ) -> anyhow::Result<Result<(), MailError>> {
        let remaining = item.remaining();
        if remaining.is_empty() {
            // Everyone has it; only recording that failed last time.
            self.store.mark_sent(item.id, now)?;
            return Ok(Ok(()));
        }
        let error = match self.mailer.send(&item.mail, message_id, &remaining) {
            Ok(accepted) => {
                // Should this fail, dropping `accepted` still ends the session.
                self.store.mark_sent(item.id, now)?;
                accepted.close();
                return Ok(Ok(()));
            }
            Err(error) => error,
        };
        // A message the relay refuses as such (too large, content) would be refused for each
        // recipient alone too: no point in N more sessions.
        if remaining.len() < 2 || !error.refuses_a_recipient() {
            return Ok(Err(error));
        }
        let mut refused = Vec::new();
        for address in &remaining {
            match self
                .mailer
                .send(&item.mail, message_id, std::slice::from_ref(address))
            {
                Ok(accepted) => {
                    self.store.mark_delivered_to(item.id, address)?;
                    accepted.close();
                }
                Err(error) if error.affects_every_mail() => return Ok(Err(error)),
                Err(error) => refused.push(format!("{address}: {error}")),
            }
        }
        if refused.is_empty() {
            self.store.mark_sent(item.id, now)?;
            Ok(Ok(()))
        } else {
            Ok(Err(MailError::Refused { refused }))
        }
    }
}

/// The rows of a duty's evidence window if every one is intact; else the verdict
/// `source_error`, naming the first row the store found altered (logged as
/// `EvidenceTampered`). A tampered row is never evaluated, and neither is an older intact row
/// in its place: the newest is what the duty would use, an older one a verdict on stale data.
fn intact_or_verdict<T>(
    duty: &Duty,
    rows: Vec<Result<T, Tampered>>,
    now: Timestamp,
) -> Result<Vec<T>, Box<Verdict>> {
    match rows.into_iter().collect::<Result<Vec<_>, Tampered>>() {
        Ok(rows) => Ok(rows),
        Err(tampered) => Err(Box::new(tampered_verdict(duty, tampered, now))),
    }
}

/// `source_error` naming a row the store found altered, logged as `EvidenceTampered`.
fn tampered_verdict(duty: &Duty, tampered: Tampered, now: Timestamp) -> Verdict {
    tracing::error!(client = %tampered.client, source = %tampered.source, evidence = %tampered.id, problem = %tampered.problem, duty = %duty.id, "EvidenceTampered");
    let mut verdict = untrusted(now, tampered.to_string());
    verdict.evidence.push(tampered.id);
    verdict
}

/// Of a window's headers (oldest first), the newest of each file the source's `pattern` still
/// matches, up to `now`, and those dated ahead of it (for the reason to name); without a
/// pattern (an API's answer is the whole story) only the newest. Read before any payload is,
/// so a year of daily snapshots of one file costs one payload. A file the pattern no longer
/// matches (a moved export folder, a database copied beside other files) is not this
/// source's evidence any more, and cannot stand in for what its current files say.
fn newest_per_origin(
    headers: Vec<EvidenceHeader>,
    now: Timestamp,
    pattern: Option<&glob::Pattern>,
) -> Vec<EvidenceHeader> {
    let mut seen = std::collections::HashSet::new();
    let mut kept: Vec<EvidenceHeader> = headers
        .into_iter()
        .rev()
        .filter(|header| {
            if header.effective_at > now {
                return true;
            }
            let current = match pattern {
                Some(pattern) => crate::sources::file::matches_origin(pattern, &header.origin),
                None => seen.is_empty(),
            };
            current && seen.insert(header.origin.clone())
        })
        .collect();
    kept.reverse();
    kept
}

/// One row of a duty's evidence window, checked, with what is known of its content.
struct StoredRow {
    header: EvidenceHeader,
    key: parse_cache::Key,
    content: Gathered,
}

/// A row's content: read before (from the cache), or its checked bytes.
enum Content {
    Read(SharedParsed),
    Bytes(Vec<u8>),
}

/// A row's content as the window is gathered: at hand, or the same as an earlier row's.
enum Gathered {
    Ready(Content),
    Again,
}

/// `source_error` for evidence that cannot be trusted or read at all (altered in the
/// database, its source gone from the config): the reason is the error itself, not a
/// collector's failure.
fn untrusted(now: Timestamp, error: String) -> Verdict {
    Verdict {
        state: State::SourceError {
            since: now,
            error: error.clone(),
        },
        reason: error,
        evidence: Vec::new(),
        subjects: None,
        whole_run: WholeRun::NotJudged,
    }
}

/// How one duty's evidence is read; owns the time reader of hand-added evidence.
enum DutyReader<'a> {
    Source(&'a Source),
    Manual(TimeReader),
}

impl DutyReader<'_> {
    fn get(&self) -> RecordReader<'_> {
        static NO_MAPPING: std::sync::LazyLock<Mapping> =
            std::sync::LazyLock::new(Mapping::default);
        match self {
            DutyReader::Source(source) => source.reader(),
            DutyReader::Manual(time) => RecordReader {
                kind: kind::manual_completion(),
                mapping: &NO_MAPPING,
                time,
            },
        }
    }
}

/// The store's source key for a duty's evidence: hand-added evidence is
/// kept per duty, collected evidence per source.
pub fn evidence_source(duty: &Duty) -> String {
    if duty.source == MANUAL_SOURCE {
        format!("{MANUAL_SOURCE}:{}", duty.id)
    } else {
        duty.source.clone()
    }
}

/// 1 min, 5 min, 25 min, … capped at `ceiling`: quick after a blip, patient with a relay that
/// refuses the mail for good.
fn retry_delay(attempts: u32, ceiling: SignedDuration) -> SignedDuration {
    let minutes = 5_i64.saturating_pow(attempts.min(6));
    SignedDuration::from_mins(minutes).min(ceiling)
}

/// The longest wait between two attempts at a mail, by the state its duty entered (the
/// escalation's) and whether the failure may pass by itself.
///
/// - A transient failure (4xx, no answer, relay unreachable) of a mail about a clock (an
///   open incident's reporting clock, `due_soon`, `lapsed`, or a subject's change inside a
///   duty): 5 minutes. Whoever must act has hours at most; one connection every few minutes
///   costs a relay nothing.
/// - A transient failure of a mail about the evidence itself (`no_evidence`,
///   `stale_evidence`, `source_error`): 30 minutes; that mail says a collector needs looking
///   at, which has no deadline by the minute.
/// - A permanent refusal (5xx, a refused login, a protocol or TLS problem): 6 hours. Only a
///   change at the relay or in `[mail]` lets it through, as its message says.
fn backoff_ceiling(state: &str, transient: bool) -> SignedDuration {
    if !transient {
        return SignedDuration::from_hours(6);
    }
    let about_evidence = [
        StateKind::NoEvidence,
        StateKind::StaleEvidence,
        StateKind::SourceError,
    ];
    if about_evidence.iter().any(|kind| kind.as_str() == state) {
        SignedDuration::from_mins(30)
    } else {
        SignedDuration::from_mins(5)
    }
}

fn log_change(contractor: &str, duty: &Duty, kind: StateKind, verdict: &Verdict) {
    if kind.needs_attention() {
        tracing::warn!(contractor, duty = %duty.id, state = %kind, reason = %verdict.reason, "DutyStateChanged");
    } else {
        tracing::info!(contractor, duty = %duty.id, state = %kind, reason = %verdict.reason, "DutyStateChanged");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minutes(state: &str, transient: bool) -> Vec<i64> {
        (0..8)
            .map(|a| retry_delay(a, backoff_ceiling(state, transient)).as_mins())
            .collect()
    }

    #[test]
    fn retry_backs_off_up_to_a_ceiling_that_suits_the_mail() {
        for state in ["lapsed", "open", "due_soon", "met"] {
            assert_eq!(minutes(state, true), [1, 5, 5, 5, 5, 5, 5, 5], "{state}");
        }
        for state in ["no_evidence", "stale_evidence", "source_error"] {
            assert_eq!(
                minutes(state, true),
                [1, 5, 25, 30, 30, 30, 30, 30],
                "{state}"
            );
        }
        for state in ["lapsed", "source_error"] {
            assert_eq!(
                minutes(state, false),
                [1, 5, 25, 125, 360, 360, 360, 360],
                "{state}"
            );
        }
    }
}
