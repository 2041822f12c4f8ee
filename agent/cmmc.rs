//! The CMMC calendar's reminders by mail: the POA&M closeout, the next affirmation and the
//! reassessment, each told at its reminder days ahead and once missed
//! (`dutywatch_checks::cmmc::Outlook::reminders`).
//!
//! A missed closeout ends the Conditional status, and with it the contracts that require
//! one, so it cannot wait for the weekly digest. Each reminder is decided under its key
//! (`cmmc:<client>:poam-closeout:2027-03-14:14d`) through the keyed outbox, so it goes out
//! once whatever the number of passes, restarts or daemons.
//!
//! Only the contractor's own instance mails them: the status and its affirmations are the
//! contractor's (its Affirming Official's), and an MSP's instance shows the calendar in
//! `sprs` without telling the client's people from the MSP's side.

use std::fmt::Write as _;

use anyhow::Context as _;
use dutywatch_checks::cmmc::{CloseoutState, Due, Reminder, Stage};
use dutywatch_checks::party::Party;
use jiff::Timestamp;

use crate::config::{Config, ContactRole, Contractor, Perspective};
use crate::sprs::{CmmcView, cmmc_lines};
use crate::store::{KeyedMail, OutgoingMail, Store};

/// [`tick`], a failure logged and not fatal: the incident warnings and digests of the same
/// step still go out, and the next evaluation decides the reminders again. How many it
/// queued.
pub fn remind(store: &mut Store, config: &Config, now: Timestamp) -> usize {
    tick(store, config, now).unwrap_or_else(|error| {
        tracing::error!(error = format!("{error:#}"), "CmmcReminderError");
        0
    })
}

/// Queues the reminders due at `now` for every contractor with `[contractor.cmmc]`; answers
/// how many were queued now (a reminder decided before queues nothing).
pub fn tick(store: &mut Store, config: &Config, now: Timestamp) -> anyhow::Result<usize> {
    if config.perspective != Perspective::Contractor {
        return Ok(0);
    }
    let mut queued = 0;
    for contractor in &config.contractors {
        let Some(view) = CmmcView::of(contractor, now) else {
            continue;
        };
        for reminder in view.outlook.reminders() {
            let key = format!("cmmc:{}:{}", contractor.id, reminder.key());
            // Most passes of a reminder's days find it decided: a read, not a write.
            if store.keyed_mail_exists(&key)? {
                continue;
            }
            let mail = mail(contractor, &view, &reminder);
            let duty = format!("cmmc:{}", reminder.due.key());
            let state = match reminder.stage {
                Stage::Missed => "lapsed",
                Stage::Within(_) => "due_soon",
            };
            let keyed = KeyedMail {
                key: &key,
                client: &contractor.id,
                duty: &duty,
                state,
                mail: &mail,
            };
            if store
                .queue_keyed(keyed, now)
                .with_context(|| format!("queueing the CMMC reminder {key}"))?
            {
                tracing::warn!(contractor = %contractor.id, %key, "CmmcReminderQueued");
                queued += 1;
            }
        }
    }
    Ok(queued)
}

/// The reminder's mail: what is due by when, what happens if it is missed, what to do, and
/// the whole calendar below.
fn mail(contractor: &Contractor, view: &CmmcView, reminder: &Reminder) -> OutgoingMail {
    let on = reminder.on;
    let when = match reminder.stage {
        Stage::Within(_) if reminder.days == 0 => "due today".to_owned(),
        Stage::Within(_) if reminder.days == 1 => "due tomorrow".to_owned(),
        Stage::Within(_) => format!("due in {} days", reminder.days),
        Stage::Missed => "MISSED".to_owned(),
    };
    let subject = format!("[dutywatch] {}: {when} ({on})", title(reminder.due));
    let mut body = String::new();
    let _ = writeln!(body, "Contractor: {}\n", contractor.name);
    let missed = reminder.stage == Stage::Missed;
    let official = official(view);
    // A date recorded after today is not counted: most likely a typo, which is the first
    // thing to check before acting again. Which recorded date would have met this deadline:
    let meets: &[&str] = match reminder.due {
        Due::Closeout => &["poam_closeout_date"],
        Due::Affirmation(_) => &["last_affirmation_date"],
        Due::Reassessment => &["conditional_status_date", "final_status_date"],
    };
    for ahead in view
        .outlook
        .dated_ahead
        .iter()
        .filter(|a| meets.contains(&a.field))
    {
        let _ = writeln!(
            body,
            "Check the date first: `{}` in [contractor.cmmc] is {}, after today ({}), so it is not counted. If it is a typo for something already done, correct it and this reminder stops.\n",
            ahead.field, ahead.date, view.today
        );
    }
    let _ = match (reminder.due, missed) {
        (Due::Closeout, false) => writeln!(
            body,
            "The closeout assessment must confirm every POA&M item closed by {on}, 180 days after the Conditional status date (32 CFR 170.21(b)). If it does not, the Conditional status expires, and with it eligibility for contracts that require CMMC Level 2.\n\nBook or hold the closeout assessment now. Once it is done, record its date as `poam_closeout_date` in [contractor.cmmc]. The Affirming Official{official} then affirms in SPRS (32 CFR 170.22), at the latest by {on}, and its date goes in as `last_affirmation_date`."
        ),
        (Due::Closeout, true) => match view.outlook.closeout.map(|c| c.state) {
            Some(CloseoutState::ClosedLate {
                on: closed,
                days_late,
            }) => writeln!(
                body,
                "The POA&M closeout recorded on {closed} came {} after its last day, {on}: the Conditional status had expired by then (32 CFR 170.21(b)), and a closeout does not revive it. Only a new assessment gives a CMMC status again.\n\nIf the closeout's date is wrong, correct `poam_closeout_date` in [contractor.cmmc].",
                crate::sprs::days(days_late)
            ),
            _ => writeln!(
                body,
                "The POA&M closeout was due by {on} and none is recorded: the Conditional status has expired (32 CFR 170.21(b)). Only a new assessment gives a CMMC status again.\n\nIf the closeout did take place in time, record its date as `poam_closeout_date` in [contractor.cmmc]."
            ),
        },
        (Due::Affirmation(_), false) => {
            // Reminded while an earlier one is still missing. One affirmation covers both once
            // it counts for this one (30 days before an anniversary), which a reminder's day
            // always is.
            let behind = view
                .outlook
                .affirmation
                .filter(|a| a.due < on)
                .map(|a| format!(" The one due {} ({}) is still missing too: one affirmation now covers both.", a.due, a.occasion))
                .unwrap_or_default();
            writeln!(
                body,
                "The Affirming Official{official} affirms in SPRS that the contractor meets and keeps meeting the CMMC requirements (32 CFR 170.22), due by {on}.{behind}\n\nOnce affirmed, record the date as `last_affirmation_date` in [contractor.cmmc]."
            )
        }
        (Due::Affirmation(_), true) => writeln!(
            body,
            "The affirmation in SPRS was due by {on} and none is recorded since. 32 CFR 170.22 requires it on this occasion; until it is submitted, SPRS does not show the CMMC status as affirmed.\n\nAffirm now{official}, then record the date as `last_affirmation_date` in [contractor.cmmc]."
        ),
        (Due::Reassessment, false) => writeln!(
            body,
            "The CMMC status runs three years from its status date, {}: the next assessment must give a new status by {on}. Assessments are booked months ahead.\n\nOnce it is done, record the new status date in [contractor.cmmc].",
            view.outlook.status_date
        ),
        (Due::Reassessment, true) => writeln!(
            body,
            "The CMMC status of {} ran out after {on}, three years on, and no new status is recorded. Only a new assessment gives one.\n\nRecord the new status date in [contractor.cmmc] once it is done.",
            view.outlook.status_date
        ),
    };
    let _ = writeln!(body, "\nThe CMMC calendar on {}:", view.today);
    for line in cmmc_lines(view) {
        let _ = writeln!(body, "  {line}");
    }
    let _ = writeln!(
        body,
        "\nThis reminder is sent once at this stage. `dutywatch sprs` shows the calendar at any time."
    );
    OutgoingMail {
        to: recipients(contractor, reminder),
        subject,
        body,
        ..OutgoingMail::default()
    }
}

/// What a deadline of the calendar is, as a mail's subject and the digest name it.
pub fn title(due: Due) -> String {
    match due {
        Due::Closeout => "CMMC POA&M closeout (32 CFR 170.21)".to_owned(),
        Due::Affirmation(occasion) => format!("CMMC affirmation in SPRS, {occasion}"),
        Due::Reassessment => "CMMC reassessment".to_owned(),
    }
}

/// The last second of `day` in `zone`: a day-counted deadline holds through its last day
/// where the contractor is (and reads `23:59` of that day, not `00:00` of the next).
pub fn last_second(day: jiff::civil::Date, zone: &jiff::tz::TimeZone) -> Timestamp {
    let end = dutywatch_checks::time::When::Day(day).end(zone);
    end.checked_sub(jiff::SignedDuration::from_secs(1))
        .unwrap_or(end)
}

fn official(view: &CmmcView) -> String {
    view.affirming_official
        .as_deref()
        .map_or_else(String::new, |name| format!(" ({name})"))
}

/// The contractor's people; management too when it is a week off or missed, and the
/// backups once missed.
fn recipients(contractor: &Contractor, reminder: &Reminder) -> Vec<String> {
    let mut roles = vec![ContactRole::Primary];
    if reminder.stage == Stage::Missed {
        roles.push(ContactRole::Backup);
    }
    if reminder.urgent() {
        roles.push(ContactRole::Management);
    }
    let mut to: Vec<String> = Vec::new();
    for role in roles {
        for address in contractor.contacts_at(Party::Contractor, role) {
            let address = address.to_string();
            if !to.contains(&address) {
                to.push(address);
            }
        }
    }
    to
}
