//! `[incidents]`: how often the incident clocks are checked, the hand-off and other
//! deadlines the CRM sets, and which incidents open a reportable-incident clock.

use dutywatch_checks::incident::{Policy, Reportable, Terms};
use dutywatch_checks::period::Period;
use jiff::SignedDuration;
use jiff::tz::TimeZone;
use serde::Deserialize;
use toml::Spanned;

use super::{Context, Contractor};
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

impl IncidentConfig {
    /// The policy for `contractor`: `[incidents]` with its `[contractor.incidents]` deadlines.
    pub fn policy_for(&self, contractor: &Contractor) -> Policy {
        let own = &contractor.incident_overrides;
        let mut policy = self.policy.clone();
        if let Some(within) = own.handoff_within {
            policy.terms.handoff_within = within;
        }
        if let Some(within) = own.ack_within {
            policy.terms.ack_within = within;
        }
        if let Some(sub) = own.subcontractor {
            policy.terms.subcontractor = sub;
        }
        if let Some(within) = own.prime_within {
            policy.terms.prime_within = within;
        }
        policy
    }
}

/// A contractor's own incident deadlines (its CRM's hand-off time, whether it is a
/// subcontractor); what it leaves out comes from `[incidents]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IncidentOverrides {
    pub handoff_within: Option<SignedDuration>,
    pub ack_within: Option<SignedDuration>,
    pub subcontractor: Option<bool>,
    pub prime_within: Option<SignedDuration>,
}

impl IncidentOverrides {
    pub(super) fn from_raw(raw: Option<&RawIncidentOverrides>) -> IncidentOverrides {
        let Some(raw) = raw else {
            return IncidentOverrides::default();
        };
        IncidentOverrides {
            handoff_within: raw.handoff_within.map(Period::as_signed_duration),
            ack_within: raw.ack_within.map(Period::as_signed_duration),
            subcontractor: raw.subcontractor,
            prime_within: raw.prime_within.map(Period::as_signed_duration),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawIncidentOverrides {
    pub(super) handoff_within: Option<Period>,
    pub(super) ack_within: Option<Period>,
    pub(super) subcontractor: Option<bool>,
    pub(super) prime_within: Option<Period>,
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
            terms: Terms {
                handoff_within: hours(raw.handoff_within, defaults.terms.handoff_within),
                ack_within: hours(raw.ack_within, defaults.terms.ack_within),
                subcontractor: raw.subcontractor,
                prime_within: hours(raw.prime_within, defaults.terms.prime_within),
            },
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

#[cfg(test)]
mod tests {
    use super::super::tests::contractor_config as config;
    use super::*;

    #[test]
    fn defaults_then_the_top_level_then_the_contractors_own_deadlines() {
        let plain = config("", "").unwrap();
        let policy = plain.incidents.policy_for(&plain.contractors[0]);
        assert_eq!(policy, Policy::default());
        assert_eq!(
            plain
                .incidents
                .check
                .next_after("2026-11-23T09:01:00Z".parse().unwrap()),
            Some("2026-11-23T09:05:00Z".parse().unwrap())
        );

        let top = "[incidents]\nhandoff_within = \"24h\"\nseverities = [\"high\"]\nsubcontractor = true\n";
        let own = "[contractor.incidents]\nhandoff_within = \"4h\"\n";
        let both = config(top, own).unwrap();
        let policy = both.incidents.policy_for(&both.contractors[0]);
        assert_eq!(policy.terms.handoff_within, SignedDuration::from_hours(4));
        assert!(policy.terms.subcontractor);
        assert_eq!(policy.reportable.severities, ["high"]);
    }

    #[test]
    fn a_bad_incidents_table_names_its_key() {
        let error = config("[incidents]\ncheck = \"*/5 * *\"\n", "").unwrap_err();
        assert!(error.contains("incidents.check"), "{error}");
        let error = config("[incidents]\nhandof_within = \"4h\"\n", "").unwrap_err();
        assert!(error.contains("handof_within"), "{error}");
    }
}
