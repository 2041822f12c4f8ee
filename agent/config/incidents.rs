//! `[incidents]`: how often the incident clocks are checked, the hand-off and other
//! deadlines the CRM sets, and which incidents open a reportable-incident clock.

use dutywatch_checks::incident::{Policy, Reportable};
use dutywatch_checks::period::Period;
use jiff::SignedDuration;
use jiff::tz::TimeZone;
use serde::Deserialize;
use toml::Spanned;

use super::Context;
use crate::schedule::Schedule;

/// How often the clocks are checked when `[incidents] check` is not set: every five minutes,
/// as a 72-hour clock with a 4-hour hand-off cannot wait for the daily schedule.
pub const DEFAULT_INCIDENT_CHECK: &str = "*/5 * * * *";

/// The incident clocks' settings.
#[derive(Debug, Clone)]
pub struct IncidentConfig {
    /// When the daemon checks the clocks (and merges the incident sources' newest evidence).
    pub check: Schedule,
    pub policy: Policy,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawIncidents {
    pub(super) check: Option<Spanned<String>>,
    pub(super) handoff_within: Option<Period>,
    pub(super) ack_within: Option<Period>,
    #[serde(default)]
    pub(super) subcontractor: bool,
    pub(super) prime_within: Option<Period>,
    pub(super) preserve_remind_before: Option<Period>,
    #[serde(default)]
    pub(super) severities: Vec<String>,
    #[serde(default)]
    pub(super) classifications: Vec<String>,
    pub(super) ignore_classifications: Option<Vec<String>>,
    #[serde(default)]
    pub(super) tags: Vec<String>,
    pub(super) not_incidents: Option<Vec<String>>,
}

impl Context<'_> {
    pub(super) fn incidents(
        &mut self,
        raw: Option<&RawIncidents>,
        zone: &TimeZone,
    ) -> Option<IncidentConfig> {
        let empty = RawIncidents::default();
        let raw = raw.unwrap_or(&empty);
        let check = match &raw.check {
            Some(line) => self.schedule(line, "incidents.check", zone)?,
            None => Schedule::parse(DEFAULT_INCIDENT_CHECK, zone.clone()).ok()?,
        };
        let defaults = Policy::default();
        let hours = |p: Option<Period>, default: SignedDuration| {
            p.map_or(default, Period::as_signed_duration)
        };
        let reportable_defaults = Reportable::default();
        let policy = Policy {
            handoff_within: hours(raw.handoff_within, defaults.handoff_within),
            ack_within: hours(raw.ack_within, defaults.ack_within),
            subcontractor: raw.subcontractor,
            prime_within: hours(raw.prime_within, defaults.prime_within),
            preserve_remind_before: hours(
                raw.preserve_remind_before,
                defaults.preserve_remind_before,
            ),
            reportable: Reportable {
                severities: raw.severities.clone(),
                classifications: raw.classifications.clone(),
                ignore_classifications: raw
                    .ignore_classifications
                    .clone()
                    .unwrap_or(reportable_defaults.ignore_classifications),
                tags: raw.tags.clone(),
                not_incidents: raw
                    .not_incidents
                    .clone()
                    .unwrap_or(reportable_defaults.not_incidents),
            },
        };
        Some(IncidentConfig { check, policy })
    }
}
