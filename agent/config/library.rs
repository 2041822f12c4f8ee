//! `[library]` and `[contractor.library]`: the standard duty library's switch and overrides.

use dutywatch_checks::catalog::{self, ControlRef};
use dutywatch_checks::library::{self, Override, OverrideAction, Settings};
use dutywatch_checks::time::Cadence;
use toml::Spanned;

use super::Context;
use super::raw::RawLibrary;

/// A `[library]` table as read: `enabled` when it says so, and its overrides.
#[derive(Debug, Clone, Default)]
pub(super) struct LibraryPart {
    pub(super) enabled: Option<bool>,
    pub(super) overrides: Vec<Override>,
}

impl LibraryPart {
    /// A contractor's part over the top level's: its `enabled` wins, and an override of its
    /// own for a control replaces the top level's for the same control.
    pub(super) fn over(&self, top: &LibraryPart) -> Settings {
        let mut overrides = self.overrides.clone();
        for o in &top.overrides {
            if !overrides.iter().any(|mine| mine.control == o.control) {
                overrides.push(o.clone());
            }
        }
        Settings {
            enabled: self.enabled.or(top.enabled).unwrap_or(false),
            overrides,
        }
    }
}

impl Context<'_> {
    pub(super) fn library_part(
        &mut self,
        raw: Option<&Spanned<RawLibrary>>,
        key: &str,
    ) -> LibraryPart {
        let Some(raw) = raw else {
            return LibraryPart::default();
        };
        let mut part = LibraryPart {
            enabled: raw.get_ref().enabled,
            overrides: Vec::new(),
        };
        for (index, spanned) in raw.get_ref().overrides.iter().enumerate() {
            let at = spanned.span().start;
            let o = spanned.get_ref();
            let key = format!("{key}.override[{index}]");
            let control = match (&o.requirement, &o.objective) {
                (Some(text), None) | (None, Some(text)) => {
                    let control = self.parsed(text, &format!("{key}.requirement"), |t| {
                        t.parse::<ControlRef>().map_err(|e| e.to_string())
                    });
                    control.filter(|control| match catalog::resolve(*control) {
                        Ok(_) => true,
                        Err(error) => {
                            self.error(
                                text.span().start,
                                &format!("{key}.requirement"),
                                error.to_string(),
                            );
                            false
                        }
                    })
                }
                (None, None) => {
                    self.error(at, &key, "an override names the `requirement` (\"3.1.1\") or `objective` (\"3.1.1[a]\") it changes".to_owned());
                    None
                }
                (Some(_), Some(_)) => {
                    self.error(
                        at,
                        &key,
                        "give either `requirement` or `objective`, not both".to_owned(),
                    );
                    None
                }
            };
            let action = match (&o.every, o.disable) {
                (Some(_), true) => {
                    self.error(
                        at,
                        &key,
                        "an override either sets `every` or has `disable = true`, not both"
                            .to_owned(),
                    );
                    None
                }
                (Some(every), false) => self
                    .parsed(every, &format!("{key}.every"), |text| {
                        let cadence: Cadence = text.parse().map_err(
                            |e: dutywatch_checks::time::ParseCadenceError| e.to_string(),
                        )?;
                        library::check_every(cadence, text.trim())?;
                        Ok::<_, String>(cadence)
                    })
                    .map(OverrideAction::Every),
                (None, true) => match o.reason.as_deref().map(str::trim) {
                    Some(reason) if !reason.is_empty() => Some(OverrideAction::Disable {
                        reason: reason.to_owned(),
                    }),
                    _ => {
                        self.error(at, &format!("{key}.reason"), "a disabled library duty needs a `reason`: an assessor asks why nobody watches the objective".to_owned());
                        None
                    }
                },
                (None, false) => {
                    self.error(
                        at,
                        &key,
                        "an override sets `every = \"90d\"` or `disable = true` with a `reason`"
                            .to_owned(),
                    );
                    None
                }
            };
            if let (Some(control), Some(action)) = (control, action) {
                if part.overrides.iter().any(|other| other.control == control) {
                    self.error(at, &key, format!("{control} is overridden twice"));
                } else {
                    part.overrides.push(Override { control, action });
                }
            }
        }
        part
    }
}
