//! `[contractor.cmmc]`: the contractor's CMMC status dates, from which `sprs` and the weekly
//! digest count down to the POA&M closeout and the next affirmation.

use dutywatch_checks::cmmc::{DatesError, PROGRAM_START, StatusDates};
use jiff::civil::Date;
use serde::Deserialize;
use toml::Spanned;

use super::Context;

/// The contractor's CMMC status as recorded in SPRS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cmmc {
    pub dates: StatusDates,
    /// Who affirms (§ 170.22's Affirming Official), named in what asks for an affirmation.
    pub affirming_official: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCmmc {
    conditional_status_date: Option<Spanned<toml::Value>>,
    final_status_date: Option<Spanned<toml::Value>>,
    poam_closeout_date: Option<Spanned<toml::Value>>,
    last_affirmation_date: Option<Spanned<toml::Value>>,
    affirming_official: Option<String>,
}

impl Context<'_> {
    /// The status dates of `raw`, every date that does not read and every inconsistency
    /// reported at its line.
    pub(super) fn cmmc(&mut self, raw: &Spanned<RawCmmc>, key: &str) -> Option<Cmmc> {
        let table = raw.get_ref();
        let start = self.errors.len();
        // In the order `StatusDates::new` takes them; `DatesError::field` names one of them.
        let fields = [
            ("conditional_status_date", &table.conditional_status_date),
            ("final_status_date", &table.final_status_date),
            ("poam_closeout_date", &table.poam_closeout_date),
            ("last_affirmation_date", &table.last_affirmation_date),
        ];
        let [conditional, final_status, closeout, affirmed] =
            fields.map(|(name, value)| self.cmmc_date(value.as_ref()?, key, name));
        if self.errors.len() > start {
            return None;
        }
        match StatusDates::new(conditional, final_status, closeout, affirmed) {
            Ok(dates) => Some(Cmmc {
                dates,
                affirming_official: table
                    .affirming_official
                    .as_deref()
                    .map(str::trim)
                    .filter(|name| !name.is_empty())
                    .map(str::to_owned),
            }),
            Err(error) => {
                // At the date that is wrong, where one is.
                let wrong = error.field().and_then(|field| {
                    let (name, value) = fields.iter().find(|(name, _)| *name == field)?;
                    Some((value.as_ref()?.span().start, *name))
                });
                let (offset, at) = match wrong {
                    Some((offset, name)) => (offset, format!("{key}.cmmc.{name}")),
                    None => (raw.span().start, format!("{key}.cmmc")),
                };
                self.error(offset, &at, error.to_string());
                None
            }
        }
    }

    /// One date of the table: a `"2026-09-15"` string or a TOML local date; anything else is
    /// an error at its line.
    ///
    /// A date before the CMMC rule took effect is an error here too, so that each such date
    /// is reported, not only the first `StatusDates::new` meets.
    fn cmmc_date(
        &mut self,
        value: &Spanned<toml::Value>,
        key: &str,
        name: &'static str,
    ) -> Option<Date> {
        let read = match value.get_ref() {
            toml::Value::String(text) => text.trim().parse::<Date>().ok(),
            toml::Value::Datetime(dt) if dt.time.is_none() && dt.offset.is_none() => {
                dt.to_string().parse::<Date>().ok()
            }
            _ => None,
        };
        if read.is_none() {
            self.error(
                value.span().start,
                &format!("{key}.cmmc.{name}"),
                format!(
                    "{} is not a date: write the day as SPRS shows it, e.g. \"2026-09-15\" (a date in the contractor's zone, no time)",
                    value.get_ref()
                ),
            );
        }
        if let Some(date) = read.filter(|date| *date < PROGRAM_START) {
            let error = DatesError::BeforeProgram { field: name, date };
            self.error(
                value.span().start,
                &format!("{key}.cmmc.{name}"),
                error.to_string(),
            );
            return None;
        }
        read
    }
}

#[cfg(test)]
mod tests {
    use dutywatch_checks::cmmc::{CloseoutState, Status};

    use super::super::tests::contractor_config;

    /// `[contractor.cmmc]` with `cmmc` in it, its first key on line 20 (the tests name lines).
    fn config(cmmc: &str) -> Result<super::super::Config, String> {
        contractor_config("", &format!("\n[contractor.cmmc]\n{cmmc}"))
    }

    #[test]
    fn status_dates_read_as_text_or_as_toml_dates() {
        for written in [
            "conditional_status_date = \"2026-09-15\"\npoam_closeout_date = 2027-01-05\n",
            "conditional_status_date = 2026-09-15\npoam_closeout_date = \" 2027-01-05 \"\n",
        ] {
            let config = config(written).unwrap();
            let cmmc = config.contractors[0].cmmc.as_ref().expect("a status");
            let outlook = cmmc.dates.outlook("2027-02-01".parse().unwrap());
            assert_eq!(outlook.status, Status::Final, "{written}");
            assert_eq!(
                outlook.closeout.unwrap().state,
                CloseoutState::Closed {
                    on: "2027-01-05".parse().unwrap()
                }
            );
        }
    }

    #[test]
    fn a_date_that_does_not_read_or_dates_that_contradict_are_errors_at_their_line() {
        let error = config("conditional_status_date = \"15/09/2026\"\n").unwrap_err();
        assert!(
            error.contains("dutywatch.toml:20")
                && error.contains("contractor[acme].cmmc.conditional_status_date")
                && error.contains("\"15/09/2026\" is not a date"),
            "{error}"
        );
        let error = config("final_status_date = 2026-09-15T10:00:00\n").unwrap_err();
        assert!(
            error.contains("final_status_date") && error.contains("no time"),
            "{error}"
        );
        let error = config(
            "conditional_status_date = \"2026-09-15\"\nfinal_status_date = \"2027-01-10\"\n",
        )
        .unwrap_err();
        assert!(
            error.contains("dutywatch.toml:21: contractor[acme].cmmc.final_status_date")
                && error.contains("set `poam_closeout_date`"),
            "{error}"
        );
        let error = config("final_status_date = \"2021-05-01\"\n").unwrap_err();
        assert!(
            error.contains("dutywatch.toml:20: contractor[acme].cmmc.final_status_date")
                && error.contains("check the year"),
            "{error}"
        );
        let error = config("affirming_official = \"J. Doe\"\n").unwrap_err();
        assert!(
            error.contains("neither a Conditional nor a Final"),
            "{error}"
        );
        let error = config("conditional_status = \"2026-09-15\"\n").unwrap_err();
        assert!(error.contains("conditional_status"), "{error}");
    }
    #[test]
    fn every_date_before_the_rule_is_reported_at_its_own_line() {
        let error = config(
            "conditional_status_date = \"2023-09-15\"\nlast_affirmation_date = \"2023-09-16\"\n",
        )
        .unwrap_err();
        for (line, field, date) in [
            (20, "conditional_status_date", "2023-09-15"),
            (21, "last_affirmation_date", "2023-09-16"),
        ] {
            assert!(
                error.contains(&format!("dutywatch.toml:{line}"))
                    && error.contains(&format!("contractor[acme].cmmc.{field}"))
                    && error.contains(&format!("{date} is before 2024-12-16")),
                "{field}: {error}"
            );
        }
    }
}
