//! `[escalation]`: how the ladder climbs (`dutywatch_checks::ladder`), per duty, evidence kind
//! or party, and where the reports live that mails link to.

use dutywatch_checks::duty::Duty;
use dutywatch_checks::ladder::Policy;
use dutywatch_checks::party::Party;
use dutywatch_checks::period::Period;
use toml::Spanned;

use super::Context;
use super::raw::{RawEscalation, RawEscalationOverride};

/// The validated `[escalation]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EscalationConfig {
    /// The ladder of every duty no override names.
    pub default: Policy,
    /// `[[escalation.override]]`, the first that matches a duty wins.
    pub overrides: Vec<PolicyOverride>,
    /// Where the published reports are (`https://compliance.example/dutywatch`): mails link
    /// to the client's report there.
    pub base_url: Option<String>,
}

/// One `[[escalation.override]]`: a ladder for the duties it selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyOverride {
    pub duty: Option<String>,
    /// The evidence kind of the duty's source (`restore_test`).
    pub kind: Option<String>,
    pub party: Option<Party>,
    pub policy: Policy,
}

impl EscalationConfig {
    /// The ladder of `duty`, whose source gives evidence of kind `kind`.
    pub fn policy(&self, duty: &Duty, kind: Option<&str>) -> Policy {
        self.overrides
            .iter()
            .find(|o| {
                o.duty.as_deref().is_none_or(|id| id == duty.id.as_str())
                    && o.kind.as_deref().is_none_or(|k| Some(k) == kind)
                    && o.party.is_none_or(|p| p == duty.responsible)
            })
            .map_or(self.default, |o| o.policy)
    }

    /// The report of `client`, when the config says where reports live.
    pub fn report_link(&self, client: &str) -> Option<String> {
        self.base_url
            .as_ref()
            .map(|base| format!("{}/{client}/", base.trim_end_matches('/')))
    }
}

impl Context<'_> {
    pub(super) fn escalation(&mut self, raw: Option<&Spanned<RawEscalation>>) -> EscalationConfig {
        let Some(raw) = raw else {
            return EscalationConfig::default();
        };
        let offset = raw.span().start;
        let raw = raw.get_ref();
        let default = self.ladder_policy(
            Policy::default(),
            raw.management_after,
            raw.repeat_every,
            offset,
            "escalation",
        );
        let base_url =
            raw.base_url
                .as_ref()
                .and_then(|url| match super::source::link_url(url.get_ref()) {
                    Ok(text) => Some(text),
                    Err(message) => {
                        self.error(url.span().start, "escalation.base_url", message);
                        None
                    }
                });
        let overrides = raw
            .overrides
            .iter()
            .filter_map(|o| self.policy_override(o, default))
            .collect();
        EscalationConfig {
            default,
            overrides,
            base_url,
        }
    }

    fn policy_override(
        &mut self,
        raw: &Spanned<RawEscalationOverride>,
        default: Policy,
    ) -> Option<PolicyOverride> {
        let offset = raw.span().start;
        let o = raw.get_ref();
        if o.duty.is_none() && o.kind.is_none() && o.party.is_none() {
            self.error(
                offset,
                "escalation.override",
                "an override must say which duties it is for: `duty`, `kind` (the evidence kind) or `party`".to_owned(),
            );
            return None;
        }
        if let Some(kind) = &o.kind
            && self.kinds.get(kind).is_none()
        {
            let known: Vec<&str> = self.kinds.names().collect();
            self.error(
                offset,
                "escalation.override.kind",
                format!(
                    "`{kind}` is not an evidence kind; known kinds: {}",
                    known.join(", ")
                ),
            );
            return None;
        }
        let policy = self.ladder_policy(
            default,
            o.management_after,
            o.repeat_every,
            offset,
            "escalation.override",
        );
        Some(PolicyOverride {
            duty: o.duty.clone(),
            kind: o.kind.clone(),
            party: o.party,
            policy,
        })
    }

    fn ladder_policy(
        &mut self,
        base: Policy,
        management_after: Option<Period>,
        repeat_every: Option<Period>,
        offset: usize,
        key: &str,
    ) -> Policy {
        let repeat_every = match repeat_every {
            Some(every) if every.as_secs() < 3600 => {
                self.error(
                    offset,
                    &format!("{key}.repeat_every"),
                    format!(
                        "`{every}` would mail people every pass; repeat at most hourly, e.g. `7d`"
                    ),
                );
                base.repeat_every
            }
            Some(every) => every,
            None => base.repeat_every,
        };
        let management_after = match management_after {
            Some(after) if after.as_secs() < 0 => {
                self.error(
                    offset,
                    &format!("{key}.management_after"),
                    format!("`{after}` is negative; write how long a lapse waits for management, e.g. `3d`"),
                );
                base.management_after
            }
            Some(after) => after,
            None => base.management_after,
        };
        Policy {
            management_after,
            repeat_every,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use dutywatch_checks::ladder::Policy;
    use dutywatch_checks::party::Party;
    use dutywatch_checks::period::Period;

    use crate::config::{Config, ConfigErrors, parse_with_env};

    fn parse(escalation: &str) -> Result<Config, ConfigErrors> {
        let text = format!(
            r#"perspective = "contractor"
timezone = "UTC"
database = "state/dutywatch.db"

[mail]
from = "dutywatch@acme.example"
transport = "file"

[msp]
name = "Keystone IT"
contacts = ["soc@keystone.example"]

{escalation}

[[contractor]]
id = "acme"
name = "Acme Machining"
contacts = ["it@acme.example"]

[[contractor.crm]]
id = "3.1.1"
owner = "contractor"
contractor_does = "Approves access"
"#
        );
        parse_with_env(Path::new("/etc/dutywatch/dutywatch.toml"), &text, &|_| None)
    }

    fn days(n: i64) -> Period {
        Period::from_secs(n * 86_400)
    }

    #[test]
    fn defaults_fit_and_an_override_selects_by_kind_party_or_duty() {
        let config = parse("").expect("loads");
        assert_eq!(config.escalation.default, Policy::default());
        assert_eq!(config.escalation.report_link("acme"), None);
        let config = parse(
            r#"[escalation]
management_after = "2d"
base_url = "https://reports.acme.example/dw/"

[[escalation.override]]
kind = "restore_test"
management_after = "1d"

[[escalation.override]]
party = "msp"
repeat_every = "3d""#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let e = &config.escalation;
        assert_eq!(e.default.management_after, days(2));
        assert_eq!(e.default.repeat_every, days(7));
        assert_eq!(e.overrides[0].policy.management_after, days(1));
        assert_eq!(e.overrides[0].kind.as_deref(), Some("restore_test"));
        assert_eq!(e.overrides[1].party, Some(Party::Msp));
        assert_eq!(
            e.overrides[1].policy.management_after,
            days(2),
            "from the default"
        );
        assert_eq!(e.overrides[1].policy.repeat_every, days(3));
        assert_eq!(
            e.report_link("acme").as_deref(),
            Some("https://reports.acme.example/dw/acme/")
        );
    }

    #[test]
    fn a_bad_ladder_is_refused_naming_the_key() {
        for (escalation, key, says) in [
            (
                "[escalation]\nrepeat_every = \"10m\"",
                "escalation.repeat_every",
                "every pass",
            ),
            (
                "[escalation]\nbase_url = \"reports.acme.example\"",
                "escalation.base_url",
                "not a web address",
            ),
            (
                "[escalation]\nbase_url = \"https://ops:Hunter2pw@reports.acme.example/\"",
                "escalation.base_url",
                "carries a user name, a password or a `#…` part, which every mail would carry",
            ),
            (
                "[escalation]\nbase_url = \"https://reports.acme.example/?sig=Hunter2pw\"",
                "escalation.base_url",
                "the query parameter `sig` carries a credential",
            ),
            (
                "[[escalation.override]]\nrepeat_every = \"3d\"",
                "escalation.override",
                "which duties",
            ),
            (
                "[[escalation.override]]\nkind = \"restore_tset\"",
                "escalation.override.kind",
                "not an evidence kind",
            ),
        ] {
            let Err(ConfigErrors(errors)) = parse(escalation) else {
                panic!("{escalation} should fail");
            };
            assert_eq!(errors.len(), 1, "{errors:#?}");
            assert_eq!(errors[0].key, key, "{escalation}");
            assert!(errors[0].message.contains(says), "{}", errors[0].message);
            assert!(
                !errors[0].message.contains("Hunter2pw"),
                "{}",
                errors[0].message
            );
            assert!(errors[0].line.is_some(), "{escalation}");
        }
    }
}
