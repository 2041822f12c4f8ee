//! `[digest]` (the weekly digest's schedule and report link) and `[sprs]` (the duties whose
//! `met` shows a partial-credit fact of the SPRS projection).

use dutywatch_checks::catalog::RequirementId;
use toml::Spanned;

use super::Context;
use super::raw::{RawDigest, RawSprs};
use crate::schedule::Schedule;

/// When the weekly digest is made, and where the report lives.
#[derive(Debug, Clone, PartialEq)]
pub struct DigestConfig {
    /// A cron line in the config's zone, e.g. `0 8 * * MON`.
    pub schedule: Schedule,
    /// A link to the report that every digest carries, when given.
    pub base_url: Option<String>,
}

/// Which duty, when met, shows each partial-credit fact (DoD Assessment Methodology: 3.5.3
/// MFA for remote and privileged users only; 3.13.11 encryption not FIPS-validated). Without
/// one, the full 5 points are lost: a fact nobody proves earns no credit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SprsConfig {
    pub mfa_remote_and_privileged_duty: Option<String>,
    pub encryption_not_fips_validated_duty: Option<String>,
}

impl Context<'_> {
    pub(super) fn digest(
        &mut self,
        raw: Option<&Spanned<RawDigest>>,
        zone: &jiff::tz::TimeZone,
    ) -> Option<DigestConfig> {
        let raw = raw?.get_ref();
        let schedule = self.schedule(&raw.schedule, "digest.schedule", zone)?;
        let base_url =
            raw.base_url
                .as_ref()
                .and_then(|url| match super::source::link_url(url.get_ref()) {
                    Ok(text) => Some(text.trim_end_matches('/').to_owned()),
                    Err(message) => {
                        self.error(url.span().start, "digest.base_url", message);
                        None
                    }
                });
        Some(DigestConfig { schedule, base_url })
    }

    /// `[sprs]`; in the contractor perspective each named duty must exist and watch the
    /// requirement whose partial credit it shows (`watches(duty, requirement)`: `None` when
    /// no such duty; the MSP's config may name a duty some clients lack).
    pub(super) fn sprs(
        &mut self,
        raw: Option<&Spanned<RawSprs>>,
        watches: &dyn Fn(&str, RequirementId) -> Option<bool>,
    ) -> SprsConfig {
        let Some(raw) = raw.map(Spanned::get_ref) else {
            return SprsConfig::default();
        };
        let mut duty = |value: &Option<Spanned<String>>, key: &str, requirement: RequirementId| {
            let value = value.as_ref()?;
            let id = value.get_ref().trim();
            let problem = match watches(id, requirement) {
                Some(true) => return Some(id.to_owned()),
                Some(false) => format!(
                    "duty `{id}` does not watch {requirement}, so its `met` cannot show this; name a duty whose `objectives` are {requirement}'s"
                ),
                None => {
                    format!("no duty `{id}` is configured; name the duty whose `met` shows this")
                }
            };
            self.error(value.span().start, key, problem);
            None
        };
        SprsConfig {
            mfa_remote_and_privileged_duty: duty(
                &raw.mfa_remote_and_privileged_duty,
                "sprs.mfa_remote_and_privileged_duty",
                dutywatch_checks::sprs::MFA,
            ),
            encryption_not_fips_validated_duty: duty(
                &raw.encryption_not_fips_validated_duty,
                "sprs.encryption_not_fips_validated_duty",
                dutywatch_checks::sprs::FIPS_CRYPTO,
            ),
        }
    }
}
