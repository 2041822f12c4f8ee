//! `[[contractor]]`: contacts, the CRM, and the sources and duties checked against it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use dutywatch_checks::catalog::{self, ControlRef, ObjectiveId};
use dutywatch_checks::crm::{
    Crm, CrmColumn, CrmImport, CrmLoad, Location, OwnerWords, PackageDef, RawCrmRow,
    Responsibility, expand_packages,
};
use dutywatch_checks::duty::{AssignError, Duty, Rule};
use dutywatch_checks::kind::EvidenceKind;
use dutywatch_checks::lint::Severity;
use dutywatch_checks::party::Party;
use jiff::tz::TimeZone;
use lettre::Address;
use toml::Spanned;

use dutywatch_checks::library::{self, PlanRow};

use super::library::LibraryPart;
use super::raw::{Lenient, RawContractor, RawDuty, RawPackage};
use super::{Context, MspInfo, Source, SourceKind, resolve};

/// One contractor: the MSP's client, or the organisation itself.
#[derive(Debug, Clone)]
pub struct Contractor {
    pub id: String,
    pub name: String,
    pub contacts: Vec<Address>,
    /// Who at the MSP answers for this client's duties.
    pub msp_contacts: Vec<Address>,
    /// Who is told when the first contacts do not act (`backup_contacts`,
    /// `msp_backup_contacts`), and the senior people told last (`management_contacts`,
    /// `msp_management_contacts`). See `contacts_at`.
    pub backup_contacts: Vec<Address>,
    pub management_contacts: Vec<Address>,
    pub msp_backup_contacts: Vec<Address>,
    pub msp_management_contacts: Vec<Address>,
    /// The packages held, with every package they include (`[[package]] includes`).
    pub packages: Vec<String>,
    pub crm: CrmLoad,
    /// The CRM file as loaded, when the CRM is a file: the engine records each new version,
    /// and a new version makes the CRM reviews due again.
    pub crm_file: Option<CrmFile>,
    pub sources: Vec<Source>,
    pub duties: Vec<Duty>,
    /// `[library]` as it applies to this contractor: whether it derived attestation duties,
    /// and its overrides. The plan per objective is derived again when asked for
    /// ([`Contractor::plan`]): kept, its 320 rows took some 58 KB per client, most of an
    /// MSP daemon's resident memory at 1,000 clients.
    pub library: library::Settings,
    /// How many of `duties`, from the first, are not the library's.
    pub hand_written: usize,
    /// `[contractor.incidents]`: its own hand-off and other incident deadlines.
    pub incident_overrides: super::incidents::IncidentOverrides,
    /// `[contractor.cmmc]`: its CMMC status dates, when it has a status.
    pub cmmc: Option<super::cmmc::Cmmc>,
    /// Where its people are (its `timezone`, else the config's): its local dates and times
    /// are read there, its calendar cadences fall due there, and its mails say times there.
    pub timezone: TimeZone,
}

impl Contractor {
    /// Per catalog objective: its owner and the duty watching each side, or why none does
    /// (`dutywatch duties plan`), derived from the CRM and the duties as loaded, in the
    /// contractor's zone as when they were loaded. Empty without a CRM.
    pub fn plan(&self) -> Vec<PlanRow> {
        let zone = &self.timezone;
        let Ok(lib) = library::library() else {
            // Loading the config reported it; nothing to plan with.
            return Vec::new();
        };
        let ownership = self.crm.crm.ownership(Some(&self.packages));
        let hand = &self.duties[..self.hand_written.min(self.duties.len())];
        library::derive(lib, &ownership, hand, &self.library, zone).plan
    }

    pub fn source(&self, id: &str) -> Option<&Source> {
        self.sources.iter().find(|s| s.id == id)
    }

    pub fn duty(&self, id: &str) -> Option<&Duty> {
        self.duties.iter().find(|d| d.id.as_str() == id)
    }

    pub fn contacts_of(&self, party: Party) -> &[Address] {
        self.contacts_at(party, ContactRole::Primary)
    }

    /// A party's contacts in a role. A role nobody was named for falls back to the role
    /// below it (management → backup → primary), so a warning meant for someone senior
    /// reaches at least the people who work the duty rather than nobody.
    pub fn contacts_at(&self, party: Party, role: ContactRole) -> &[Address] {
        let (primary, backup, management) = match party {
            Party::Contractor => (
                &self.contacts,
                &self.backup_contacts,
                &self.management_contacts,
            ),
            Party::Msp => (
                &self.msp_contacts,
                &self.msp_backup_contacts,
                &self.msp_management_contacts,
            ),
        };
        let chain: &[&Vec<Address>] = match role {
            ContactRole::Primary => &[primary],
            ContactRole::Backup => &[backup, primary],
            ContactRole::Management => &[management, backup, primary],
        };
        chain
            .iter()
            .find(|list| !list.is_empty())
            .map_or(&[], |list| list.as_slice())
    }
}

/// Who at a party is told: the people who work its duties, their backups (or the MSP's
/// escalation desk), and management.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ContactRole {
    Primary,
    Backup,
    Management,
}

/// A CRM file's bytes as the config loaded them, and when the file was last modified.
#[derive(Clone)]
pub struct CrmFile {
    pub path: PathBuf,
    pub bytes: Arc<[u8]>,
    /// The file's modification time: the instant this version speaks for.
    pub modified: Option<jiff::Timestamp>,
}

impl std::fmt::Debug for CrmFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CrmFile")
            .field("path", &self.path)
            .field("bytes", &self.bytes.len())
            .field("modified", &self.modified)
            .finish()
    }
}

/// What the config's top level gives every contractor.
pub(super) struct Common<'a> {
    /// `[[package]]` tables.
    pub(super) package_defs: &'a [PackageDef],
    /// `[library]`.
    pub(super) library: &'a LibraryPart,
    /// The top-level `[[duty]]`s that read, which a client's packages may give it.
    pub(super) shared_duties: &'a [&'a Spanned<RawDuty>],
}

impl Context<'_> {
    /// `tenant_rate_limit`: at least one request a minute, given to each Graph and ARM source
    /// of the contractor; the sources of one tenant (and cloud) share it when they collect.
    fn tenant_rate_limit(&mut self, raw: &RawContractor, key: &str, sources: &mut [Source]) {
        let Some(limit) = &raw.tenant_rate_limit else {
            return;
        };
        if *limit.get_ref() == 0 {
            self.error(
                limit.span().start,
                &format!("{key}.tenant_rate_limit"),
                "a rate limit of 0 requests a minute would never collect; write at least 1 (Graph allows some 2,000 a minute per tenant for most resources), or leave it out".to_owned(),
            );
            return;
        }
        for source in sources {
            match &mut source.kind {
                SourceKind::Graph(graph) => graph.tenant_rate_limit = Some(*limit.get_ref()),
                SourceKind::Arm(arm) => arm.tenant_rate_limit = Some(*limit.get_ref()),
                SourceKind::File { .. } | SourceKind::Connector(_) => {}
            }
        }
    }
}

impl Context<'_> {
    /// The `index`th `[[contractor]]` block, `raw`.
    pub(super) fn contractor(
        &mut self,
        index: usize,
        raw: &Spanned<RawContractor>,
        base: &Path,
        zone: &TimeZone,
        msp: &MspInfo,
        common: &Common<'_>,
    ) -> Option<Contractor> {
        let (package_defs, top_library, shared_duties) =
            (common.package_defs, common.library, common.shared_duties);
        let start = self.errors.len();
        let raw = raw.get_ref();
        let id = raw.id.get_ref().clone();
        let key = format!("contractor[{id}]");
        self.id(&raw.id, &format!("{key}.id"));
        let own_zone = match &raw.timezone {
            None => Some(zone.clone()),
            Some(name) => self.time_zone(
                name,
                &format!("{key}.timezone"),
                "write e.g. `America/Chicago`, or leave it out for the config's `timezone`",
            ),
        };
        // A zone that did not read was said; the rest is still checked, in the config's.
        let zone = own_zone.as_ref().unwrap_or(zone);
        let contacts = self.addresses(&raw.contacts, &format!("{key}.contacts"));
        if raw.contacts.is_empty() {
            self.error(
                raw.id.span().start,
                &format!("{key}.contacts"),
                "a contractor needs at least one contact: duties escalate to it and it is accountable for all of them".to_owned(),
            );
        }
        let mut msp_contacts = self.addresses(&raw.msp_contacts, &format!("{key}.msp_contacts"));
        if msp_contacts.is_empty() {
            msp_contacts = msp.contacts.clone();
        }
        let backup_contacts =
            self.addresses(&raw.backup_contacts, &format!("{key}.backup_contacts"));
        let management_contacts = self.addresses(
            &raw.management_contacts,
            &format!("{key}.management_contacts"),
        );
        let mut msp_backup_contacts = self.addresses(
            &raw.msp_backup_contacts,
            &format!("{key}.msp_backup_contacts"),
        );
        if msp_backup_contacts.is_empty() {
            msp_backup_contacts = msp.backup_contacts.clone();
        }
        let mut msp_management_contacts = self.addresses(
            &raw.msp_management_contacts,
            &format!("{key}.msp_management_contacts"),
        );
        if msp_management_contacts.is_empty() {
            msp_management_contacts = msp.management_contacts.clone();
        }

        // A CRM that cannot be read still leaves the sources and duties to
        // check, so one run shows every problem.
        let (crm, crm_file) = match self.crm(raw, base, &key) {
            Some((crm, file)) => (Some(crm), file),
            None => (None, None),
        };
        let packages = self.held_packages(raw, package_defs, crm.as_ref(), &key);

        let mut sources = Vec::new();
        // The ids of the sources that did not read, as far as they say one.
        let mut refused_sources = Vec::new();
        for (n, entry) in raw.source.iter().enumerate() {
            let path = [("contractor", Some(index)), ("source", Some(n))];
            let raw_source = match self.lenient(
                entry,
                &path,
                &format!("{key}.source"),
                "this source was not read",
            ) {
                Ok(raw_source) => raw_source,
                Err(table) => {
                    let Some(table) = table else { continue };
                    let id = table.word("id");
                    if let Some(id) = &id {
                        let kind = table.word("evidence");
                        refused_sources.push((id.clone(), entry.span().start, kind));
                    }
                    // Its other problems in the same run: read again without what was refused.
                    if let Some(rest) = table.read_without_refused_keys::<super::raw::RawSource>() {
                        let own = format!("{key}.source[{}]", id.as_deref().unwrap_or("?"));
                        self.check_without_refused(&rest, &own, &mut |cx, raw| {
                            let _ = cx.source(raw, base, zone, &key);
                        });
                    }
                    continue;
                }
            };
            if let Some(source) = self.source(raw_source, base, zone, &key) {
                if sources.iter().any(|s: &Source| s.id == source.id) {
                    self.error(
                        raw_source.span().start,
                        &format!("{key}.source"),
                        format!("source `{}` is configured twice", source.id),
                    );
                } else {
                    sources.push(source);
                }
            }
        }
        // A source that did not read still has its id: given twice, that is said now too.
        let read_ids: Vec<&str> = (raw.source.iter())
            .filter_map(|entry| match entry.get_ref() {
                Lenient::Read(s) => Some(s.get_ref().id.get_ref().as_str()),
                Lenient::Refused(_) => None,
            })
            .collect();
        let refused_ids: Vec<(String, usize)> = (refused_sources.iter())
            .map(|(id, start, _)| (id.clone(), *start))
            .collect();
        self.refused_twice(
            &refused_ids,
            &|id| read_ids.contains(&id),
            &format!("{key}.source"),
            &|id| format!("source `{id}` is configured twice"),
        );
        self.tenant_rate_limit(raw, &key, &mut sources);

        // Duties may name a source whose own definition is broken: that is
        // one problem, reported at the source, not one more per duty. Its
        // duties' fields are still checked against the kind it declares, so
        // mending the source does not bring a second round of problems.
        let declared_kind =
            |word: Option<&str>| word.and_then(|word| self.kinds.get(word).cloned());
        let declared_sources: Vec<(String, Option<Arc<EvidenceKind>>)> = raw
            .source
            .iter()
            .filter_map(|entry| match entry.get_ref() {
                Lenient::Read(s) => Some(s.get_ref()),
                Lenient::Refused(_) => None,
            })
            .map(|raw_source| {
                let id = raw_source.id.get_ref().clone();
                let kind = sources
                    .iter()
                    .find(|source| source.id == id)
                    .map(|source| Arc::clone(&source.evidence))
                    .or_else(|| declared_kind(Some(raw_source.evidence.get_ref())));
                (id, kind)
            })
            .chain(
                (refused_sources.iter())
                    .map(|(id, _, kind)| (id.clone(), declared_kind(kind.as_deref()))),
            )
            .collect();
        let mut own_duties = Vec::with_capacity(raw.duty.len());
        let mut refused_duties = Vec::new();
        for (n, entry) in raw.duty.iter().enumerate() {
            let path = [("contractor", Some(index)), ("duty", Some(n))];
            match self.lenient(
                entry,
                &path,
                &format!("{key}.duty"),
                "this duty was not read",
            ) {
                Ok(raw_duty) => own_duties.push(raw_duty),
                Err(table) => {
                    let Some(table) = table else { continue };
                    let id = table.word("id");
                    if let Some(rest) = table.read_without_refused_keys::<RawDuty>() {
                        let own = format!("{key}.duty[{}]", id.as_deref().unwrap_or("?"));
                        self.check_without_refused(&rest, &own, &mut |cx, raw| {
                            let _ = cx.duty_spec(raw, &key, &declared_sources, zone);
                        });
                    }
                    refused_duties.extend(id.map(|id| (id, entry.span().start)));
                }
            }
        }
        // A duty that did not read still has its id: given twice, that is said now too.
        self.refused_twice(
            &refused_duties,
            &|id| {
                (shared_duties.iter().chain(&own_duties))
                    .any(|duty| duty.get_ref().id.get_ref() == id)
            },
            &format!("{key}.duty"),
            &|id| format!("duty `{id}` is configured twice for this contractor"),
        );
        let ownership = crm.as_ref().map(|crm| crm.crm.ownership(Some(&packages)));
        let mut duties: Vec<Duty> = Vec::new();
        // Each duty id read so far: where, and whether it was a shared `[[duty]]`.
        let mut ids: Vec<(String, usize, bool)> = Vec::new();
        for (n, raw_duty) in shared_duties.iter().chain(&own_duties).copied().enumerate() {
            let shared = n < shared_duties.len();
            let id = raw_duty.get_ref().id.get_ref();
            // Said whether or not either copy reads: one run shows it with their other problems.
            if let Some((_, first, first_shared)) = ids.iter().find(|(seen, _, _)| seen == id) {
                let (line, first_shared) = (self.line(*first), *first_shared);
                let first = if first_shared {
                    format!("the shared [[duty]] at line {line}, which every client gets")
                } else {
                    format!("line {line}")
                };
                self.error(
                    raw_duty.get_ref().id.span().start,
                    &format!("{key}.duty"),
                    format!(
                        "duty `{id}` is configured twice for this contractor (the first is {first}); give this one its own id{}",
                        if first_shared { " (a client cannot change a shared duty: copy it into each client that needs it otherwise)" } else { "" }
                    ),
                );
                // Its own problems too, in the same run; the copy itself is not kept.
                let _ = self.duty_spec(raw_duty, &key, &declared_sources, zone);
                continue;
            }
            ids.push((id.clone(), raw_duty.get_ref().id.span().start, shared));
            let Some(spec) = self.duty_spec(raw_duty, &key, &declared_sources, zone) else {
                continue;
            };
            let (Some(crm), Some(ownership)) = (&crm, &ownership) else {
                // Reported at crm_file; nobody can be made responsible without it.
                continue;
            };

            let source_max_age = sources
                .iter()
                .find(|s| s.id == spec.source)
                .and_then(|s| s.max_age);
            match spec.assign(ownership) {
                Ok(mut duty) => {
                    duty.max_age = duty.max_age.or(source_max_age);
                    // A joined source goes stale by its own `max_age` (the join's, else its
                    // source's), never by the duty's: a weekly Intune export is not a day's.
                    let mut unlimited = Vec::new();
                    if let Rule::Continuous(rule) = &mut duty.rule {
                        for join in &mut rule.joins {
                            join.max_age = join.max_age.or_else(|| {
                                sources
                                    .iter()
                                    .find(|s| s.id == join.source)
                                    .and_then(|s| s.max_age)
                            });
                            let broken = !sources.iter().any(|s| s.id == join.source);
                            if join.max_age.is_none() && !broken {
                                unlimited.push(join.alias.clone());
                            }
                        }
                    }
                    for alias in unlimited {
                        self.error(
                            raw_duty.span().start,
                            &format!("{key}.duty[{}].join[{alias}].max_age", duty.id),
                            "how old may this joined source's evidence be and still count as current? set `max_age` on the source or in the join entry, e.g. { source = \"intune\", on = \"device = device\", as = \"intune\", max_age = \"1d\" }".to_owned(),
                        );
                    }
                    // A recurring duty reads dated completions, so an old export can only
                    // make it look late. A condition or an incident list, though, would
                    // keep saying what it said when the export was written: without a
                    // limit, an export nobody refreshes would count as current forever.
                    let judges_the_present =
                        matches!(duty.rule, Rule::Continuous(_) | Rule::EventClock(_));
                    // A source whose own definition is broken is reported there: its
                    // `max_age` is not known, not missing.
                    let source_broken = !sources.iter().any(|s| s.id == duty.source);
                    if judges_the_present && duty.max_age.is_none() && !source_broken {
                        self.error(
                            raw_duty.span().start,
                            &format!("{key}.duty[{}].max_age", duty.id),
                            format!(
                                "how old may source `{}`'s evidence be and still count as current? set `max_age` on the source (e.g. \"8d\" for a weekly export) or on this duty; without it an export nobody refreshes would count forever",
                                duty.source
                            ),
                        );
                        continue;
                    }
                    duties.push(duty);
                }
                Err(error) => {
                    let why = match &error {
                        AssignError::Unowned { objective } => set_aside(crm, *objective),
                        _ => String::new(),
                    };
                    self.error(
                        raw_duty
                            .get_ref()
                            .objectives
                            .first()
                            .map_or(raw_duty.span().start, |o| o.span().start),
                        &format!("{key}.duty[{}].objectives", raw_duty.get_ref().id.get_ref()),
                        format!("{error}{why}"),
                    );
                }
            }
        }

        let library_settings = self
            .library_part(raw.library.as_ref(), &format!("{key}.library"))
            .over(top_library);
        // The duties written by hand (and by connectors) come first; the library's follow.
        let hand_written = duties.len();
        if let Some(ownership) = &ownership {
            match library::library() {
                Ok(lib) => {
                    let derived = library::derive(lib, ownership, &duties, &library_settings, zone);
                    for duty in derived.duties {
                        if duties.iter().any(|d| d.id == duty.id) {
                            self.error(
                                raw.id.span().start,
                                &format!("{key}.duty"),
                                format!("duty id `{}` is the library's for that requirement and party; name the hand-written duty differently", duty.id),
                            );
                        } else {
                            duties.push(duty);
                        }
                    }
                }
                Err(error) => self.error(
                    raw.id.span().start,
                    &format!("{key}.library"),
                    format!("the built-in duty library does not load: {error}"),
                ),
            }
        }

        let cmmc = raw.cmmc.as_ref().and_then(|table| self.cmmc(table, &key));
        if self.errors.len() > start {
            return None;
        }
        let crm = crm?;
        // Kept for the daemon's life, a thousand times over at an MSP: no spare room.
        sources.shrink_to_fit();
        duties.shrink_to_fit();
        Some(Contractor {
            id,
            name: raw.name.clone(),
            contacts,
            msp_contacts,
            backup_contacts,
            management_contacts,
            msp_backup_contacts,
            msp_management_contacts,
            packages,
            crm,
            crm_file,
            sources,
            duties,
            hand_written,
            library: library_settings,
            incident_overrides: super::incidents::IncidentOverrides::from_raw(
                raw.incidents.as_ref(),
            ),
            cmmc,
            timezone: zone.clone(),
        })
    }

    /// `[[package]]` tables; a repeated name is an error.
    pub(super) fn packages(&mut self, raw: &[&Spanned<RawPackage>]) -> Vec<PackageDef> {
        let mut defs: Vec<PackageDef> = Vec::new();
        for package in raw {
            let package = package.get_ref();
            let name = package.name.get_ref().trim().to_owned();
            if name.is_empty() || defs.iter().any(|d| d.name.eq_ignore_ascii_case(&name)) {
                self.error(
                    package.name.span().start,
                    "package.name",
                    format!(
                        "package `{name}` is empty or defined twice (names compare without case)"
                    ),
                );
                continue;
            }
            defs.push(PackageDef {
                name,
                includes: package.includes.clone(),
            });
        }
        defs
    }

    /// The packages a contractor holds, with the ones they include. Once `[[package]]` tables
    /// exist, a name that is neither defined nor used by a CRM row is an error.
    fn held_packages(
        &mut self,
        raw: &RawContractor,
        defs: &[PackageDef],
        crm: Option<&CrmLoad>,
        key: &str,
    ) -> Vec<String> {
        let known: Vec<String> = if defs.is_empty() {
            Vec::new()
        } else {
            crm.into_iter()
                .flat_map(|crm| crm.crm.rows())
                .filter_map(|row| row.package.clone())
                .collect()
        };
        match expand_packages(&raw.packages, defs, &known) {
            Ok(held) => held,
            Err(errors) => {
                for error in errors {
                    self.error(
                        raw.id.span().start,
                        &format!("{key}.packages"),
                        error.to_string(),
                    );
                }
                raw.packages.clone()
            }
        }
    }

    /// `crm_columns` and `crm_owner_words`, checked.
    fn crm_import(&mut self, raw: &RawContractor, key: &str) -> CrmImport {
        let mut import = CrmImport::default();
        for (column, header) in raw.crm_columns.iter().flat_map(|m| m.get_ref()) {
            match CrmColumn::from_name(column) {
                Some(column) => import.columns.push((column, header.get_ref().clone())),
                None => {
                    let known: Vec<&str> = CrmColumn::ALL.iter().map(|c| c.name()).collect();
                    self.error(
                        header.span().start,
                        &format!("{key}.crm_columns.{column}"),
                        format!(
                            "`{column}` is not a CRM column; map one of {} to the file's header",
                            known.join(", ")
                        ),
                    );
                }
            }
        }
        for (word, owner) in raw.crm_owner_words.iter().flat_map(|m| m.get_ref()) {
            let parsed = match owner.get_ref().trim().to_ascii_lowercase().as_str() {
                "contractor" => Some(Responsibility::Contractor),
                "msp" => Some(Responsibility::Msp),
                "shared" => Some(Responsibility::Shared),
                "not_applicable" => Some(Responsibility::NotApplicable),
                _ => None,
            };
            match parsed {
                Some(owner) => import.owner_words.push((word.clone(), owner)),
                None => self.error(
                    owner.span().start,
                    &format!("{key}.crm_owner_words.{word}"),
                    format!(
                        "owner word `{word}` maps to `{}`; it must map to contractor, msp, shared or not_applicable",
                        owner.get_ref()
                    ),
                ),
            }
        }
        import
    }

    fn crm(
        &mut self,
        raw: &RawContractor,
        base: &Path,
        key: &str,
    ) -> Option<(CrmLoad, Option<CrmFile>)> {
        let import = self.crm_import(raw, key);
        if !import.columns.is_empty() && raw.crm_file.is_none() {
            self.error(
                raw.crm_columns
                    .as_ref()
                    .map_or(raw.id.span().start, |m| m.span().start),
                &format!("{key}.crm_columns"),
                "crm_columns maps the headers of a crm_file; inline [[contractor.crm]] rows use dutywatch's own keys".to_owned(),
            );
        }
        if let (Some(sheet), None) = (&raw.crm_sheet, &raw.crm_file) {
            self.error(
                sheet.span().start,
                &format!("{key}.crm_sheet"),
                "crm_sheet names the sheet of an XLSX crm_file; there is no crm_file".to_owned(),
            );
        }
        match (&raw.crm_file, raw.crm.is_empty()) {
            (Some(file), true) => {
                let path = resolve(base, file.get_ref());
                match std::fs::read(&path) {
                    Ok(bytes) => {
                        let load = Crm::from_file_with(
                            &path.display().to_string(),
                            &bytes,
                            raw.crm_sheet.as_ref().map(|s| s.get_ref().as_str()),
                            &import,
                        );
                        let modified = std::fs::metadata(&path)
                            .and_then(|m| m.modified())
                            .ok()
                            .and_then(|t| jiff::Timestamp::try_from(t).ok());
                        let file = CrmFile {
                            path,
                            bytes: bytes.into(),
                            modified,
                        };
                        Some((load, Some(file)))
                    }
                    Err(error) => {
                        self.error(
                            file.span().start,
                            &format!("{key}.crm_file"),
                            format!("cannot read the CRM `{}`: {error}", path.display()),
                        );
                        None
                    }
                }
            }
            (None, false) => {
                let rows = raw
                    .crm
                    .iter()
                    .map(|row| {
                        let location = Location::new(
                            self.file.display().to_string(),
                            u32::try_from(self.line(row.span().start)).unwrap_or(u32::MAX),
                        );
                        let row = row.get_ref();
                        RawCrmRow {
                            location,
                            id: row.id.clone(),
                            owner: row.owner.clone(),
                            contractor_does: row.contractor_does.clone(),
                            msp_does: row.msp_does.clone(),
                            evidence_producer: row.evidence_producer.clone(),
                            verification: row.verification.clone(),
                            package: row.package.clone(),
                            justification: row.justification.clone(),
                            positions: Vec::new(),
                        }
                    })
                    .collect();
                let words = OwnerWords {
                    extra: import.owner_words,
                    inheritance_column: false,
                };
                // Inline rows change with the config itself, which is reviewed with it.
                Some((Crm::from_raw_with(rows, &words), None))
            }
            (Some(file), false) => {
                self.error(
                    file.span().start,
                    &format!("{key}.crm_file"),
                    "give the CRM either as crm_file or as inline [[contractor.crm]] rows, not both".to_owned(),
                );
                None
            }
            (None, true) => {
                self.error(
                    raw.id.span().start,
                    &format!("{key}.crm_file"),
                    "no CRM: set crm_file = \"crm.csv\" or add [[contractor.crm]] rows".to_owned(),
                );
                None
            }
        }
    }
}

/// Why `objective` has no owner when the CRM did try to give it one: rows for it that were
/// set aside, with their errors (which `crm_problems` would only show once the config loads),
/// rows in packages the client does not hold, or a CRM with no usable row at all. Empty when
/// the CRM simply has no row for it.
fn set_aside(crm: &CrmLoad, objective: ObjectiveId) -> String {
    let covers = |control: ControlRef| {
        catalog::resolve(control).is_ok_and(|objectives| objectives.contains(&objective))
    };
    // The errors at `location`, or all of them.
    let errors_at = |location: Option<&Location>| -> Vec<String> {
        crm.problems
            .iter()
            .filter(|finding| {
                finding.severity == Severity::Error
                    && location.is_none_or(|row| {
                        finding.location.as_ref().is_some_and(|at| at.same_row(row))
                    })
            })
            .map(|finding| match &finding.location {
                Some(at) => format!("{at}: {}", finding.message),
                None => finding.message.clone(),
            })
            .collect()
    };
    let mut reasons: Vec<String> = crm
        .rejected
        .iter()
        .filter(|row| row.control.is_some_and(covers))
        .flat_map(|row| errors_at(Some(&row.location)))
        .map(|reason| format!("set aside, {reason}"))
        .collect();
    // The row that would decide it if every package applied, as `crm lint` finds it: with
    // the client's packages nothing decides it, so that row is in one it does not hold.
    if let Some(row) = crm.crm.ownership(None).row(objective) {
        reasons.push(format!(
            "{} is in package `{}`, which this client does not hold",
            row.location,
            row.package.as_deref().unwrap_or_default()
        ));
    }
    // Nothing names it, but rows were set aside: one of them may have meant it (an id typed
    // `3.1.995` for 3.1.5), and their errors are otherwise shown only once the config loads.
    if reasons.is_empty() {
        let lead = if crm.crm.rows().is_empty() {
            "the CRM has no usable row"
        } else {
            "the CRM set aside a row that may be meant for it"
        };
        let errors = errors_at(None);
        let more = errors.len().saturating_sub(3);
        reasons.extend(
            errors
                .into_iter()
                .take(3)
                .map(|reason| format!("{lead}: {reason}")),
        );
        if more > 0 {
            reasons.push(format!(
                "{more} more problem(s): `dutywatch crm lint` lists them"
            ));
        }
    }
    if reasons.is_empty() {
        String::new()
    } else {
        format!(" ({})", reasons.join("; "))
    }
}

/// CRM findings as config-level messages for `check-config` and start-up.
pub fn crm_problems(contractor: &Contractor) -> Vec<String> {
    crm_findings(contractor, Severity::Error)
}

/// The CRM lint's warnings for the contractor (rows above the header, a shared row without
/// its split written out, …): nothing is set aside for them, but `check-config` says them.
pub fn crm_warnings(contractor: &Contractor) -> Vec<String> {
    crm_findings(contractor, Severity::Warning)
}

fn crm_findings(contractor: &Contractor, severity: Severity) -> Vec<String> {
    dutywatch_checks::lint::lint(&contractor.crm, Some(&contractor.packages))
        .findings
        .iter()
        .filter(|f| f.severity == severity)
        .map(|f| format!("contractor[{}]: {f}", contractor.id))
        .collect()
}
