//! The weekly digest per party: where a contractor's duties stand for one party (the
//! contractor, who is accountable for all of them, or the MSP, for its own), what changed in
//! the last week, what falls due in the next 14 days, open incident clocks, evidence about to
//! go stale, mail that could not be delivered, and for the contractor the SPRS projection;
//! with up to 12 weeks of history for the charts.
//!
//! [`build`] gathers it from the config and the store; [`html::render_html`] and
//! [`text::render_text`] only render what it gathered. [`due`] tells the daemon which week's
//! digest is due and [`record_week`] stores the week's figures (once per party and week).

mod html;
mod text;

use std::collections::BTreeMap;

use dutywatch_checks::catalog;
use dutywatch_checks::duty::Rule;
use dutywatch_checks::party::Party;
use dutywatch_checks::verdict::StateKind;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

pub use html::render_html;
pub use text::render_text;

use crate::config::{Config, Contractor};
use crate::coverage;
use crate::sprs::{self, ContractorProjection};
use crate::status::{self, StatusRow};
use crate::store::{Store, UndeliveredMail, WeekRecord};

/// How far ahead deadlines and evidence about to go stale are listed.
pub const LOOKAHEAD: SignedDuration = SignedDuration::from_hours(14 * 24);

/// What "since last week" means.
const WEEK: SignedDuration = SignedDuration::from_hours(7 * 24);

/// How many weeks the charts show, this one included.
pub const HISTORY_WEEKS: usize = 12;

/// Subjects listed per duty at most in a deadline list; the rest are counted.
const SUBJECTS_SHOWN: usize = 10;

/// How many duties are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Counts {
    pub met: u32,
    pub open: u32,
    pub due_soon: u32,
    pub lapsed: u32,
    pub no_evidence: u32,
    pub stale_evidence: u32,
    pub source_error: u32,
}

impl Counts {
    pub fn add(&mut self, state: StateKind) {
        let slot = match state {
            StateKind::Met => &mut self.met,
            StateKind::Open => &mut self.open,
            StateKind::DueSoon => &mut self.due_soon,
            StateKind::Lapsed => &mut self.lapsed,
            StateKind::NoEvidence => &mut self.no_evidence,
            StateKind::StaleEvidence => &mut self.stale_evidence,
            StateKind::SourceError => &mut self.source_error,
        };
        *slot += 1;
    }

    pub fn total(&self) -> u32 {
        self.met
            + self.open
            + self.due_soon
            + self.lapsed
            + self.no_evidence
            + self.stale_evidence
            + self.source_error
    }

    /// The counts with their state names, in the order the digest shows them.
    pub fn named(&self) -> [(StateKind, u32); 7] {
        [
            (StateKind::Met, self.met),
            (StateKind::Open, self.open),
            (StateKind::DueSoon, self.due_soon),
            (StateKind::Lapsed, self.lapsed),
            (StateKind::NoEvidence, self.no_evidence),
            (StateKind::StaleEvidence, self.stale_evidence),
            (StateKind::SourceError, self.source_error),
        ]
    }
}

/// The counts of one row of the digest's table: a party or a family.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CountRow {
    /// `contractor`, `msp`, or a family abbreviation (`AC`).
    pub scope: String,
    pub counts: Counts,
}

/// A duty's state change in the last week.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Change {
    pub at: Timestamp,
    pub duty: String,
    pub title: String,
    /// `None` for a first evaluation.
    pub from: Option<StateKind>,
    pub to: StateKind,
    pub reason: String,
}

/// Something due within [`LOOKAHEAD`]: a duty, or one subject of it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Deadline {
    pub due: Timestamp,
    pub duty: String,
    pub title: String,
    pub responsible: Party,
    /// The user, device or incident it concerns; `None` for the duty as a whole.
    pub subject: Option<String>,
    pub state: StateKind,
}

/// An incident whose steps are not all done, with the clock that runs on it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IncidentClock {
    pub duty: String,
    pub title: String,
    pub incident: String,
    pub state: StateKind,
    pub due: Option<Timestamp>,
    pub reason: String,
}

/// Evidence that has used half its allowed age and turns stale within [`LOOKAHEAD`] unless
/// newer evidence arrives.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GoingStale {
    pub duty: String,
    pub title: String,
    /// Where the evidence comes from, in the user's terms (the file or system).
    pub origin: String,
    pub effective_at: Timestamp,
    pub stale_at: Timestamp,
}

/// One week's figures, for the charts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WeekFigures {
    /// The scheduled instant of the week's digest (or the preview's instant).
    pub week: Timestamp,
    pub counts: Counts,
    pub sprs_proven: Option<i32>,
    pub sprs_lapses: Option<i32>,
}

/// The digest of one contractor for one party.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Digest {
    pub party: Party,
    /// The party's name in words: the contractor's name, or the MSP's.
    pub party_name: String,
    pub contractor: String,
    pub contractor_name: String,
    pub msp_name: String,
    pub made_at: Timestamp,
    /// The zone every time is shown in: the contractor's for its people, the config's for
    /// the MSP's.
    #[serde(serialize_with = "zone_name")]
    pub zone: TimeZone,
    /// All counted duties, then per responsible party (the contractor's digest has both).
    pub totals: Counts,
    pub parties: Vec<CountRow>,
    /// Per family a duty's objectives touch, in catalog order.
    pub families: Vec<CountRow>,
    pub changes: Vec<Change>,
    pub deadlines: Vec<Deadline>,
    /// Subjects left out of `deadlines` (more than [`SUBJECTS_SHOWN`] for one duty).
    pub deadlines_not_shown: usize,
    pub incidents: Vec<IncidentClock>,
    pub going_stale: Vec<GoingStale>,
    pub undelivered: Vec<UndeliveredMail>,
    /// Acknowledgements and silences in force: who holds back which reminders, and why.
    pub acks: Vec<crate::store::Ack>,
    /// When the CRM is next to be reviewed, when the config knows it.
    pub crm_next_review: Option<String>,
    /// The contractor's SPRS projection; `None` in the MSP's digest.
    pub sprs: Option<ContractorProjection>,
    /// Up to [`HISTORY_WEEKS`] weeks, oldest first, this one last.
    pub history: Vec<WeekFigures>,
    pub base_url: Option<String>,
    /// Who gets it: the party's contacts for this contractor.
    pub recipients: Vec<String>,
}

fn zone_name<S: serde::Serializer>(zone: &TimeZone, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(zone.iana_name().unwrap_or("UTC"))
}

impl Digest {
    /// This week's figures, as recorded for the charts.
    pub fn figures(&self, week: Timestamp) -> WeekFigures {
        WeekFigures {
            week,
            counts: self.totals,
            sprs_proven: self.sprs.as_ref().and_then(|s| s.projection.proven.score),
            sprs_lapses: self.sprs.as_ref().and_then(|s| s.projection.lapses.score),
        }
    }

    /// The mail's subject line.
    pub fn subject(&self) -> String {
        let evidence =
            self.totals.no_evidence + self.totals.stale_evidence + self.totals.source_error;
        format!(
            "Weekly compliance digest for {} ({}): {} lapsed, {} due soon, {} need evidence",
            self.contractor_name,
            self.party_name,
            self.totals.lapsed,
            self.totals.due_soon,
            evidence
        )
    }

    /// An instant in the digest's zone with its offset, as people read it.
    pub fn local(&self, at: Timestamp) -> String {
        crate::escalation::local(at, &self.zone)
    }
}

/// The digest of `contractor` for `party` as of `now`. `history` is the recorded weeks, oldest
/// first; this week's figures are appended as of `now`.
pub fn build(
    config: &Config,
    store: &Store,
    contractor: &Contractor,
    party: Party,
    now: Timestamp,
) -> anyhow::Result<Digest> {
    let filter = status::Filter {
        contractor: Some(contractor.id.clone()),
        party: match party {
            Party::Contractor => None,
            Party::Msp => Some(Party::Msp),
        },
    };
    let rows: Vec<StatusRow> = status::rows(config, store, &filter)?
        .into_iter()
        .filter(|r| r.contractor == contractor.id)
        .collect();

    let mut totals = Counts::default();
    let mut parties: BTreeMap<Party, Counts> = BTreeMap::new();
    let mut families: BTreeMap<u8, Counts> = BTreeMap::new();
    for row in &rows {
        totals.add(row.state);
        parties.entry(row.responsible).or_default().add(row.state);
        let mut touched: Vec<u8> = row
            .objectives
            .iter()
            .filter_map(|o| o.parse::<catalog::ObjectiveId>().ok())
            .map(|o| o.requirement().family())
            .collect();
        touched.dedup();
        touched.sort_unstable();
        touched.dedup();
        for family in touched {
            families.entry(family).or_default().add(row.state);
        }
    }

    let since = now.checked_sub(WEEK).unwrap_or(Timestamp::MIN);
    let mut changes = Vec::new();
    for row in &rows {
        let history = store.history(&contractor.id, &row.duty)?;
        let mut previous: Option<StateKind> = None;
        for (at, verdict) in history {
            let to = verdict.state.kind();
            if at > since && at <= now {
                changes.push(Change {
                    at,
                    duty: row.duty.clone(),
                    title: row.title.clone(),
                    from: previous,
                    to,
                    reason: verdict.reason.clone(),
                });
            }
            previous = Some(to);
        }
    }
    changes.sort_by(|a, b| (b.at, &a.duty).cmp(&(a.at, &b.duty)));

    let horizon = now.checked_add(LOOKAHEAD).unwrap_or(Timestamp::MAX);
    let within = |due: Option<Timestamp>| due.filter(|d| *d > now && *d <= horizon);
    let mut deadlines = Vec::new();
    let mut deadlines_not_shown = 0;
    for row in &rows {
        let live: Vec<_> = row
            .subjects
            .iter()
            .filter(|s| s.gone_at.is_none())
            .collect();
        if live.is_empty() {
            if let Some(due) = within(row.due) {
                deadlines.push(Deadline {
                    due,
                    duty: row.duty.clone(),
                    title: row.title.clone(),
                    responsible: row.responsible,
                    subject: None,
                    state: row.state,
                });
            }
            continue;
        }
        let mut due_subjects: Vec<_> = live
            .iter()
            .filter_map(|s| within(s.due).map(|due| (due, *s)))
            .collect();
        due_subjects.sort_by_key(|(due, s)| (*due, s.subject.clone()));
        deadlines_not_shown += due_subjects.len().saturating_sub(SUBJECTS_SHOWN);
        for (due, subject) in due_subjects.into_iter().take(SUBJECTS_SHOWN) {
            deadlines.push(Deadline {
                due,
                duty: row.duty.clone(),
                title: row.title.clone(),
                responsible: row.responsible,
                subject: Some(subject.subject.clone()),
                state: subject.state,
            });
        }
    }

    // Times as its readers live them: the contractor's people in the contractor's zone, the
    // MSP's in the config's.
    let zone = match party {
        Party::Contractor => contractor.timezone.clone(),
        Party::Msp => config.timezone.clone(),
    };
    // The incidents the 72-hour clocks run on (`dutywatch incident …`) first; an
    // `event_clock` duty's subject with the same id is that incident, listed once.
    let mut incidents = Vec::new();
    for open in crate::incident::status::open(config, store, Some(&contractor.id), now)? {
        let id = &open.stored.incident.id;
        let next = open.next();
        incidents.push(IncidentClock {
            duty: format!("incident:{id}"),
            title: open
                .stored
                .incident
                .title
                .clone()
                .unwrap_or_else(|| "(no title)".to_owned()),
            incident: id.clone(),
            state: if next.is_some_and(|d| d.overdue()) {
                StateKind::Lapsed
            } else {
                StateKind::Open
            },
            due: next.map(|d| d.due),
            reason: open.summary(&zone),
        });
    }
    for row in &rows {
        let is_clock = contractor
            .duty(&row.duty)
            .is_some_and(|d| matches!(d.rule, Rule::EventClock(_)));
        if !is_clock {
            continue;
        }
        for subject in &row.subjects {
            if subject.gone_at.is_none()
                && subject.state != StateKind::Met
                && !incidents.iter().any(|i| i.incident == subject.subject)
            {
                incidents.push(IncidentClock {
                    duty: row.duty.clone(),
                    title: row.title.clone(),
                    incident: subject.subject.clone(),
                    state: subject.state,
                    due: subject.due,
                    reason: subject.reason.clone(),
                });
            }
        }
    }

    let coverage = coverage::coverage(config, store, Some(&contractor.id))?;
    let client = coverage.clients.first();
    let mut going_stale = Vec::new();
    if let Some(client) = client {
        let mut seen = std::collections::BTreeSet::new();
        for duty in client.objectives.iter().flat_map(|o| o.duties.iter()) {
            if !rows.iter().any(|r| r.duty == duty.duty) || !seen.insert(duty.duty.clone()) {
                continue;
            }
            let Some(configured) = contractor.duty(&duty.duty) else {
                continue;
            };
            let max_age = configured.max_age.or_else(|| {
                contractor
                    .source(&configured.source)
                    .and_then(|s| s.max_age)
            });
            let (Some(max_age), Some(evidence)) = (max_age, &duty.newest_evidence) else {
                continue;
            };
            let Some(effective_at) = evidence.effective_at else {
                continue;
            };
            let Ok(stale_at) =
                effective_at.checked_add(SignedDuration::from_secs(max_age.as_secs()))
            else {
                continue;
            };
            // Evidence a collector has just refreshed is not news: listed once it has used
            // half its allowed age and turns stale within the look-ahead.
            let half_used = effective_at
                .checked_add(SignedDuration::from_secs(max_age.as_secs() / 2))
                .is_ok_and(|half| half <= now);
            if half_used && stale_at > now && stale_at <= horizon {
                going_stale.push(GoingStale {
                    duty: duty.duty.clone(),
                    title: duty.title.clone(),
                    origin: evidence.origin.clone(),
                    effective_at,
                    stale_at,
                });
            }
        }
    }
    going_stale.sort_by_key(|g| (g.stale_at, g.duty.clone()));

    let sprs = match (party, client) {
        (Party::Contractor, Some(client)) => Some(sprs::project_client(config, client, now)),
        _ => None,
    };
    // The CMMC calendar's own deadlines, in the contractor's digest beside its duties'.
    if let Some(view) = sprs.as_ref().and_then(|p| p.cmmc.as_ref()) {
        // Counted in the contractor's days: a deadline on the 14th day from today is within
        // the next 14 days, whatever the hour of the digest.
        let last_day = view
            .today
            .checked_add(jiff::Span::new().days(LOOKAHEAD.as_hours() / 24))
            .unwrap_or(jiff::civil::Date::MAX);
        for (due, day) in view.outlook.deadlines_ahead() {
            // Its last day is the contractor's whole day.
            let end = crate::cmmc::last_second(day, &contractor.timezone);
            if end > now && day <= last_day {
                deadlines.push(Deadline {
                    due: end,
                    duty: format!("cmmc:{}", due.key()),
                    title: crate::cmmc::title(due),
                    responsible: Party::Contractor,
                    subject: None,
                    state: StateKind::DueSoon,
                });
            }
        }
    }
    // The duties' deadlines and the calendar's, soonest first.
    deadlines.sort_by(|a, b| (a.due, &a.duty, &a.subject).cmp(&(b.due, &b.duty, &b.subject)));

    let mut digest = Digest {
        party,
        party_name: match party {
            Party::Contractor => contractor.name.clone(),
            Party::Msp => config.msp.name.clone(),
        },
        contractor: contractor.id.clone(),
        contractor_name: contractor.name.clone(),
        msp_name: config.msp.name.clone(),
        made_at: now,
        zone: zone.clone(),
        totals,
        parties: parties
            .into_iter()
            .map(|(p, counts)| CountRow {
                scope: p.to_string(),
                counts,
            })
            .collect(),
        families: families
            .into_iter()
            .map(|(f, counts)| CountRow {
                scope: catalog::family(f).map_or_else(|| format!("3.{f}"), |f| f.abbrev.to_owned()),
                counts,
            })
            .collect(),
        changes,
        deadlines,
        deadlines_not_shown,
        incidents,
        going_stale,
        undelivered: store.undelivered_mail(Some(&contractor.id))?,
        acks: store.active_acks(Some(&contractor.id), now)?,
        crm_next_review: crm_next_review(&rows, party, &zone),
        sprs,
        history: Vec::new(),
        base_url: config.digest.as_ref().and_then(|d| d.base_url.clone()),
        recipients: match party {
            Party::Contractor => &contractor.contacts,
            Party::Msp if contractor.msp_contacts.is_empty() => &config.msp.contacts,
            Party::Msp => &contractor.msp_contacts,
        }
        .iter()
        .map(ToString::to_string)
        .collect(),
    };
    let mut history: Vec<WeekFigures> = store
        .digest_weeks(&contractor.id, party)?
        .into_iter()
        .filter(|w| w.week < now)
        .map(|w: WeekRecord| WeekFigures {
            week: w.week,
            counts: w.counts,
            sprs_proven: w.sprs_proven,
            sprs_lapses: w.sprs_lapses,
        })
        .collect();
    history.push(digest.figures(now));
    let skip = history.len().saturating_sub(HISTORY_WEEKS);
    digest.history = history.into_iter().skip(skip).collect();
    Ok(digest)
}

/// The contractor `id` names, or the only one when `id` is `None`.
pub fn contractor<'a>(config: &'a Config, id: Option<&str>) -> anyhow::Result<&'a Contractor> {
    match id {
        Some(id) => config
            .contractors
            .iter()
            .find(|c| c.id == id)
            .ok_or_else(|| match config.quarantined(id) {
                Some(_) => {
                    anyhow::anyhow!("client `{id}` is quarantined: its configuration does not load")
                }
                None => anyhow::anyhow!("no contractor `{id}` in {}", config.path.display()),
            }),
        None => match config.contractors.as_slice() {
            [only] => Ok(only),
            _ => {
                let ids: Vec<&str> = config.contractors.iter().map(|c| c.id.as_str()).collect();
                anyhow::bail!(
                    "{} contractors are configured; say which with --contractor ({})",
                    ids.len(),
                    ids.join(", ")
                )
            }
        },
    }
}

/// The scheduled instant of the newest digest that is due by `now`: the last occurrence of
/// the schedule at or before `now` within the last 8 days (a weekly schedule fires within any
/// 7). `None` when the schedule has not fired in that time.
pub fn due(schedule: &crate::schedule::Schedule, now: Timestamp) -> Option<Timestamp> {
    // Widening windows keep the walk short for any schedule: a dense one (every minute, in a
    // test) has an occurrence within the first, a weekly one within the last.
    for window in [
        SignedDuration::from_mins(1),
        SignedDuration::from_hours(1),
        SignedDuration::from_hours(24),
        SignedDuration::from_hours(8 * 24),
    ] {
        let mut at = now.checked_sub(window).ok()?;
        let mut last = None;
        while let Some(next) = schedule.next_after(at).filter(|next| *next <= now) {
            last = Some(next);
            at = next;
        }
        if last.is_some() {
            return last;
        }
    }
    None
}

/// Makes and records the digests of `week` for every contractor and party this instance
/// serves that has none recorded yet; returns how many it recorded. The record is UNIQUE per
/// contractor, party and week, so a restart (or a second pass in the same week) records
/// nothing twice.
pub fn record_due(
    config: &Config,
    store: &mut Store,
    week: Timestamp,
    now: Timestamp,
) -> anyhow::Result<usize> {
    let mut made = 0;
    for contractor in &config.contractors {
        for party in parties_served(config) {
            if store.digest_week_recorded(&contractor.id, party, week)? {
                continue;
            }
            let digest = build(config, store, contractor, party, now)?;
            if record_week(store, &digest, week, now)? {
                made += 1;
            }
        }
    }
    Ok(made)
}

/// Records the week's figures and the rendered plain-text mail; `false` when this week's
/// digest of that party was already recorded.
pub fn record_week(
    store: &mut Store,
    digest: &Digest,
    week: Timestamp,
    now: Timestamp,
) -> anyhow::Result<bool> {
    let figures = digest.figures(week);
    Ok(store.record_digest_week(&crate::store::NewWeek {
        client: &digest.contractor,
        party: digest.party,
        week,
        made_at: now,
        counts: figures.counts,
        sprs_proven: figures.sprs_proven,
        sprs_lapses: figures.sprs_lapses,
        to: &digest.recipients,
        subject: &digest.subject(),
        body: &render_text(digest),
        html: Some(&render_html(digest)),
    })?)
}

/// When the party next reviews the CRM, from its library duty (`lib-crm-review-…`): the due
/// time, or what stands in the way (never reviewed, the file changed since).
fn crm_next_review(rows: &[StatusRow], party: Party, zone: &TimeZone) -> Option<String> {
    let id = dutywatch_checks::library::crm_review_id(party);
    let row = rows.iter().find(|row| row.duty == id)?;
    Some(match (row.state, row.due) {
        (StateKind::Met | StateKind::DueSoon | StateKind::Open, Some(due)) => {
            // The digest's one formatter for instants, with the offset like its other times.
            format!(
                "due {} ({})",
                crate::escalation::local(due, zone),
                row.state.as_str()
            )
        }
        (state, _) => format!("{}: {}", state.as_str(), row.reason),
    })
}

/// The parties whose digest this instance makes: both for the contractor's own instance, the
/// MSP's alone for an MSP's (it cannot see the contractor's duties).
pub fn parties_served(config: &Config) -> Vec<Party> {
    match config.perspective {
        crate::config::Perspective::Contractor => vec![Party::Contractor, Party::Msp],
        crate::config::Perspective::Msp => vec![Party::Msp],
    }
}

#[cfg(test)]
mod tests {
    use jiff::tz::TimeZone;

    use super::*;
    use crate::schedule::Schedule;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn the_due_week_is_the_last_occurrence_at_or_before_now() {
        let zone = TimeZone::get("America/New_York").unwrap();
        let monday = Schedule::parse("0 8 * * MON", zone.clone()).unwrap();
        // Monday 2026-11-30 08:00 EST is 13:00 UTC.
        assert_eq!(
            due(&monday, at("2026-11-30T12:59:59Z")),
            Some(at("2026-11-23T13:00:00Z"))
        );
        assert_eq!(
            due(&monday, at("2026-11-30T13:00:00Z")),
            Some(at("2026-11-30T13:00:00Z"))
        );
        assert_eq!(
            due(&monday, at("2026-12-06T23:00:00Z")),
            Some(at("2026-11-30T13:00:00Z"))
        );
        // A dense schedule still yields the newest occurrence, not one a week old.
        let minutely = Schedule::parse("* * * * *", zone.clone()).unwrap();
        assert_eq!(
            due(&minutely, at("2026-11-30T13:00:30Z")),
            Some(at("2026-11-30T13:00:00Z"))
        );
        // A yearly line that has not fired in the last 8 days: nothing is due.
        let yearly = Schedule::parse("0 8 1 6 *", zone).unwrap();
        assert_eq!(due(&yearly, at("2026-11-30T13:00:00Z")), None);
    }

    #[test]
    fn counts_name_every_state_once() {
        let mut counts = Counts::default();
        for state in [
            StateKind::Met,
            StateKind::Met,
            StateKind::Lapsed,
            StateKind::SourceError,
            StateKind::StaleEvidence,
        ] {
            counts.add(state);
        }
        assert_eq!(counts.total(), 5);
        let named = counts.named();
        assert_eq!(named[0], (StateKind::Met, 2));
        assert_eq!(named[3], (StateKind::Lapsed, 1));
        assert_eq!(named.iter().map(|(_, n)| n).sum::<u32>(), 5);
    }
}
