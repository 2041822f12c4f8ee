//! `dutywatch ack`, `dutywatch silence` and `dutywatch acks`: what people say about a duty's
//! escalations, recorded with who and when. An acknowledgement stops the ladder's climb
//! (management and reminders), a silence holds every mail but the resolution until it
//! expires; neither changes a verdict, and `status` keeps showing the state.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use dutywatch_checks::verdict::StateKind;
use jiff::Timestamp;

use crate::clock::Clock;
use crate::config::{self, Config, Contractor, Secrets};
use crate::escalation::local;
use crate::store::{Ack, AckKind, NewAck, Store};

/// What `ack` or `silence` was asked to record.
#[derive(Debug)]
pub struct Said<'a> {
    pub kind: AckKind,
    pub client: Option<&'a str>,
    pub duty: &'a str,
    pub subject: Option<&'a str>,
    pub by: Option<String>,
    pub reason: &'a str,
    pub until: Option<Timestamp>,
}

/// The longest a silence may last.
const MAX_SILENCE: jiff::SignedDuration = jiff::SignedDuration::from_hours(90 * 24);

/// Records an acknowledgement or a silence.
pub fn record(config_path: &Path, said: &Said<'_>, clock: &dyn Clock) -> anyhow::Result<ExitCode> {
    let config = load(config_path)?;
    let contractor = contractor(&config, said.client)?;
    let duty = contractor.duty(said.duty).with_context(|| {
        // A CRM library makes hundreds of duties: the likeliest one, not all of them.
        let ids = contractor.duties.iter().map(|d| d.id.as_str());
        let hint = match dutywatch_checks::join::closest(said.duty, ids) {
            Some(id) => format!("did you mean `{id}`?"),
            None => "`dutywatch status --library` lists them".to_owned(),
        };
        format!(
            "no duty `{}` for contractor `{}` ({} duties); {hint}",
            said.duty,
            contractor.id,
            contractor.duties.len()
        )
    })?;
    let reason = said.reason.trim();
    if reason.is_empty() {
        bail!(
            "say why with --reason: it is kept for the record and shown in every mail and digest"
        );
    }
    let now = clock.now();
    let word = match said.kind {
        AckKind::Ack => "ack",
        AckKind::Silence => "silence",
    };
    if said.kind == AckKind::Silence && said.until.is_none() {
        bail!(
            "a silence needs --until (RFC 3339, e.g. 2026-12-05T18:00:00-05:00): planned work ends, and the silence with it"
        );
    }
    if let Some(until) = said.until
        && until <= now
    {
        bail!(
            "--until {until} is not in the future (now is {now}); give the instant the {word} should end"
        );
    }
    // A silence is for planned work, which has an end in sight; a longer one would quietly
    // take the duty off the ladder. It can be said again when the work runs longer.
    if said.kind == AckKind::Silence
        && let Some(until) = said.until
        && until > now.saturating_add(MAX_SILENCE).unwrap_or(Timestamp::MAX)
    {
        bail!(
            "--until {until} is more than {} days away: a silence is for planned work and lasts at most that long; give an earlier end, and silence it again if the work runs longer",
            MAX_SILENCE.as_hours() / 24
        );
    }
    // Who said it stays on record: the login that ran the command when --by is not given
    // (the one behind sudo first), never a placeholder when no login is known (a cron job, a
    // container, `systemd-run`).
    // A variable set but empty (`SUDO_USER=` in a wrapper script) names nobody: the next one
    // is asked.
    let login = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let by = said
        .by
        .clone()
        .or_else(|| login("SUDO_USER"))
        .or_else(|| login("USER"))
        .or_else(|| login("LOGNAME"))
        .unwrap_or_default();
    if by.trim().is_empty() {
        bail!(
            "say who with --by NAME: the {word} is recorded with who said it, and no login name is known here (SUDO_USER, USER and LOGNAME are unset or empty)"
        );
    }
    if !config
        .database
        .try_exists()
        .with_context(|| format!("looking for `{}`", config.database.display()))?
    {
        bail!(
            "no database at `{}`: is this the service's config? Run `dutywatch once` or start the service first",
            config.database.display()
        );
    }
    let mut store = Store::open_checked(&config.database)
        .with_context(|| format!("opening the database `{}`", config.database.display()))?;
    if let Some(subject) = said.subject {
        let known = store.subjects(&contractor.id, duty.id.as_str())?;
        if !known.iter().any(|s| s.subject == subject) {
            let names: Vec<&str> = known.iter().map(|s| s.subject.as_str()).take(10).collect();
            bail!(
                "duty `{}` has no subject `{subject}` that was ever failing or unknown{}",
                duty.id,
                if names.is_empty() {
                    " (it judges the duty as a whole, or every subject has been met since first seen: leave out --subject)".to_owned()
                } else {
                    format!(
                        " (one met since first seen needs no acknowledgement); its subjects include: {}",
                        names.join(", ")
                    )
                }
            );
        }
    }
    // An acknowledgement is of a problem in progress, and ends with it; said of a duty or
    // subject that is met, it would hold back the management step of the next lapse.
    if said.kind == AckKind::Ack {
        // What it is now, when that needs no acknowledgement.
        let now_is = match said.subject {
            Some(subject) => match store
                .subjects(&contractor.id, duty.id.as_str())?
                .into_iter()
                .find(|s| s.subject == subject)
            {
                Some(s) if s.gone_at.is_some() => Some("no longer in the evidence"),
                Some(s) if s.state == StateKind::Met => Some("met"),
                Some(_) => None,
                None => Some("not judged yet"),
            },
            None => match store.duty_state(&contractor.id, duty.id.as_str())? {
                Some(StateKind::Met) => Some("met"),
                Some(_) => None,
                None => Some("not judged yet"),
            },
        };
        if let Some(now_is) = now_is {
            let what = said.subject.map_or_else(
                || format!("duty `{}`", duty.id),
                |subject| format!("`{subject}` of duty `{}`", duty.id),
            );
            bail!(
                "{what} needs no acknowledgement: it is {now_is}; an acknowledgement is of a warning or lapse in progress (for planned work ahead, use `dutywatch silence … --until TIME`)"
            );
        }
    }
    let id = store.add_ack(&NewAck {
        kind: said.kind,
        client: &contractor.id,
        duty: duty.id.as_str(),
        subject: said.subject,
        by: by.trim(),
        reason,
        at: now,
        until: said.until,
    })?;
    let what = said.subject.map_or_else(
        || format!("`{}`", duty.id),
        |s| format!("`{}` / {s}", duty.id),
    );
    let until = said.until.map_or_else(
        || " until it is resolved".to_owned(),
        |u| format!(" until {}", local(u, &config.timezone)),
    );
    match said.kind {
        AckKind::Ack => println!(
            "#{id}: {what} acknowledged by {}{until}: no more reminders or management escalation; its state stays as it is in `dutywatch status`",
            by.trim()
        ),
        AckKind::Silence => println!(
            "#{id}: {what} silenced{until}: no mail but a resolution until then; the ladder picks up again afterwards"
        ),
    }
    Ok(ExitCode::SUCCESS)
}

/// Lists the acknowledgements and silences in force.
pub fn list(
    config_path: &Path,
    client: Option<&str>,
    json: bool,
    clock: &dyn Clock,
) -> anyhow::Result<ExitCode> {
    let config = load(config_path)?;
    if let Some(id) = client {
        contractor(&config, Some(id))?;
    }
    let store = Store::open_read_only(&config.database)
        .with_context(|| format!("opening the database `{}`", config.database.display()))?;
    let acks = store.active_acks(client, clock.now())?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&acks).context("writing the list as JSON")?
        );
        return Ok(ExitCode::SUCCESS);
    }
    if acks.is_empty() {
        println!("No acknowledgement or silence is in force.");
        return Ok(ExitCode::SUCCESS);
    }
    for ack in &acks {
        println!("{}", line(ack, &config));
    }
    Ok(ExitCode::SUCCESS)
}

/// The acknowledgements and silences in force, as `status` prints them under its table;
/// nothing when there are none.
pub fn status_lines(config: &Config, acks: &[Ack]) -> String {
    if acks.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "\n{} acknowledgement(s) and silence(s) in force (the states above are unchanged by them):\n",
        acks.len()
    );
    for ack in acks {
        out += &format!("  {}\n", line(ack, config));
    }
    out
}

fn line(ack: &Ack, config: &Config) -> String {
    let zone = &config.timezone;
    let what = match &ack.subject {
        Some(subject) => format!("{}/{} {subject}", ack.client, ack.duty),
        None => format!("{}/{}", ack.client, ack.duty),
    };
    let kind = match ack.kind {
        AckKind::Ack => "ack    ",
        AckKind::Silence => "silence",
    };
    let until = ack.until.map_or_else(
        || "until resolved".to_owned(),
        |u| format!("until {}", local(u, zone)),
    );
    format!(
        "#{} {kind} {what}: by {} on {}, {until}: {}",
        ack.id,
        ack.by,
        local(ack.created_at, zone),
        ack.reason
    )
}

/// The config, a quarantined client on the config it last loaded from as the daemon runs it
/// (`daemon::restore_last_good`): the mails about it say to ack and silence it.
fn load(path: &Path) -> anyhow::Result<Config> {
    let config =
        config::load_with(path, Secrets::Skip).map_err(|errors| anyhow::anyhow!("{errors}"))?;
    if config.quarantined.is_empty() {
        return Ok(config);
    }
    Ok(match Store::open_read_only(&config.database) {
        Ok(store) => crate::daemon::restore_last_good(config, &store, Secrets::Skip),
        // No database yet: nothing kept either.
        Err(_) => config,
    })
}

fn contractor<'a>(config: &'a Config, client: Option<&str>) -> anyhow::Result<&'a Contractor> {
    match (client, config.contractors.as_slice()) {
        (Some(id), all) => all
            .iter()
            .find(|c| c.id == id)
            .with_context(|| format!("no contractor `{id}` in {}", config.path.display())),
        (None, [only]) => Ok(only),
        (None, all) => {
            let ids: Vec<&str> = all.iter().map(|c| c.id.as_str()).collect();
            bail!(
                "several contractors are configured; say which with --client ({})",
                ids.join(", ")
            )
        }
    }
}
