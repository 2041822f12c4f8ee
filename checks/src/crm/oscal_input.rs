//! OSCAL responsibility statements as CRM rows: an SSP's `by-components` or a component
//! definition's implemented requirements (JSON).
//!
//! Which side a text is on comes from the OSCAL object it sits in, where there is one:
//! `provided` and `inherited` are the provider's work (the customer inherits it),
//! `responsibilities` (`responsibility`) and `satisfied` are the customer's. A plain
//! description (an implemented requirement, a statement, a by-component without those
//! objects) is the side of the component it belongs to, read from its responsible roles
//! (`provider`, `customer`, …), a `control-origination` or `responsibility-kind` prop, or
//! dutywatch's own `dutywatch-party` prop; a component whose side none of these tells is a
//! `component-party-unknown` error, and its texts are not guessed into a row.
//!
//! The texts found for one control (a requirement, or one objective from a statement id)
//! make one row: provider text only is `msp`, customer text only `contractor`, both `shared`;
//! `implementation-status` `not-applicable` makes it `not_applicable`. Every problem and row
//! carries `file#<JSON pointer>:<line>`.

use serde_json::{Map, Value};

use super::csv_input::CsvRead;
use super::{Location, RawCrmRow};
use crate::lint::{Finding, code};

/// Whether `bytes` are an OSCAL document (by content): a JSON object whose text names one of
/// the models that carry responsibilities.
pub(super) fn is_oscal(bytes: &[u8]) -> bool {
    let Ok((text, _)) = crate::decode::text(bytes) else {
        return false;
    };
    text.trim_start().starts_with('{')
        && ["\"system-security-plan\"", "\"component-definition\""]
            .iter()
            .any(|model| text.contains(model))
}

/// Which side of the CRM a text belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Provider,
    Customer,
}

/// What is gathered for one control id, in the order the ids first appear.
#[derive(Debug)]
struct Control {
    id: String,
    location: Location,
    provider: Vec<String>,
    customer: Vec<String>,
    not_applicable: Option<String>,
    /// dutywatch's `evidence-producer` and `verification` props, when the document has them.
    evidence_producer: Option<String>,
    verification: Option<String>,
}

struct Reader<'a> {
    file: &'a str,
    text: &'a str,
    controls: Vec<Control>,
    problems: Vec<Finding>,
}

pub(super) fn read(file: &str, bytes: &[u8]) -> CsvRead {
    let mut out = CsvRead {
        rows: Vec::new(),
        problems: Vec::new(),
        rejected: Vec::new(),
        inheritance_column: false,
    };
    let invalid = |line: usize, message: String| {
        Finding::error(
            Some(Location::new(file, u32::try_from(line).unwrap_or(u32::MAX))),
            code::INVALID_OSCAL,
            message,
            "export the SSP or component definition as OSCAL JSON (1.1), as the tool that \
             wrote it saves it",
        )
    };
    let text = match crate::decode::text(bytes) {
        Ok((text, _)) => text,
        Err(error) => {
            out.problems.push(invalid(1, error.to_string()));
            return out;
        }
    };
    let document = match crate::decode::json(&text) {
        Ok(document) => document,
        Err(error) => {
            out.problems.push(invalid(error.line, error.to_string()));
            return out;
        }
    };
    let mut reader = Reader {
        file,
        text: &text,
        controls: Vec::new(),
        problems: Vec::new(),
    };
    if let Some(ssp) = document.get("system-security-plan") {
        reader.ssp(ssp, "/system-security-plan");
    } else if let Some(definition) = document.get("component-definition") {
        reader.component_definition(definition, "/component-definition");
    } else {
        out.problems.push(invalid(
            1,
            "the document is neither a `system-security-plan` nor a `component-definition`; \
             only those carry responsibility statements"
                .to_owned(),
        ));
        return out;
    }
    if reader.controls.is_empty() && reader.problems.is_empty() {
        reader.problems.push(Finding::error(
            Some(Location::new(file, 1)),
            code::INVALID_OSCAL,
            "the document has no implemented requirement with a responsibility text",
            "give each implemented requirement (or its statements or by-components) a \
             description",
        ));
    }
    out.problems = reader.problems;
    out.rows = reader.controls.into_iter().filter_map(row).collect();
    out
}

/// The CRM row of one control, or nothing when no side has text (its problems are reported).
fn row(control: Control) -> Option<RawCrmRow> {
    let mut raw = RawCrmRow::new(control.location);
    raw.id = Some(control.id);
    let join = |texts: &[String]| texts.join(" ");
    let owner = match (
        control.provider.is_empty(),
        control.customer.is_empty(),
        control.not_applicable,
    ) {
        (true, true, Some(justification)) => {
            raw.justification = Some(justification);
            "not_applicable"
        }
        (false, true, _) => "msp",
        (true, false, _) => "contractor",
        (false, false, _) => "shared",
        (true, true, None) => return None,
    };
    raw.owner = Some(owner.to_owned());
    raw.msp_does = Some(join(&control.provider)).filter(|t| !t.is_empty());
    raw.contractor_does = Some(join(&control.customer)).filter(|t| !t.is_empty());
    if owner == "msp" || owner == "shared" {
        raw.evidence_producer = control.evidence_producer;
        raw.verification = control.verification;
    }
    Some(raw)
}

/// The component a by-component or implemented requirement belongs to: its side, if known.
#[derive(Debug, Clone)]
struct Component {
    uuid: String,
    title: String,
    side: Option<Side>,
    location: Location,
}

impl Reader<'_> {
    /// `file#pointer:line`, the line being the first where the object's uuid (or, lacking
    /// one, its control or statement id) appears in the text.
    fn location(&self, object: &Value, pointer: &str) -> Location {
        let needle = ["uuid", "statement-id", "control-id"]
            .iter()
            .find_map(|key| object.get(*key).and_then(Value::as_str))
            .map(|value| format!("\"{value}\""));
        let line = needle
            .and_then(|needle| self.text.find(&needle))
            .map_or(1, |at| {
                self.text
                    .get(..at)
                    .map_or(1, |before| before.matches('\n').count() + 1)
            });
        Location::new(
            format!("{}#{pointer}", self.file),
            u32::try_from(line).unwrap_or(u32::MAX),
        )
    }

    fn components(&mut self, list: Option<&Value>, pointer: &str) -> Vec<Component> {
        let mut out = Vec::new();
        for (i, component) in array(list).iter().enumerate() {
            let at = format!("{pointer}/{i}");
            out.push(Component {
                uuid: string(component, "uuid"),
                title: string(component, "title"),
                side: side_of(component),
                location: self.location(component, &at),
            });
        }
        out
    }

    fn ssp(&mut self, ssp: &Value, pointer: &str) {
        let components = self.components(
            ssp.get("system-implementation")
                .and_then(|s| s.get("components")),
            &format!("{pointer}/system-implementation/components"),
        );
        let base = format!("{pointer}/control-implementation/implemented-requirements");
        let requirements = ssp
            .get("control-implementation")
            .and_then(|c| c.get("implemented-requirements"));
        let mut unknown_reported = Vec::new();
        let provided_here = provided_uuids(requirements);
        for (i, requirement) in array(requirements).iter().enumerate() {
            let at = format!("{base}/{i}");
            let control_id = string(requirement, "control-id");
            let control = self.control_id(requirement, &at);
            // The requirement's own by-components, then each statement's.
            let mut texts = Vec::new();
            for (j, by) in array(requirement.get("by-components")).iter().enumerate() {
                texts.push((control.clone(), by, format!("{at}/by-components/{j}")));
            }
            for (j, statement) in array(requirement.get("statements")).iter().enumerate() {
                let statement_at = format!("{at}/statements/{j}");
                let id = statement_control(statement, &control_id).unwrap_or(control.clone());
                for (k, by) in array(statement.get("by-components")).iter().enumerate() {
                    texts.push((id.clone(), by, format!("{statement_at}/by-components/{k}")));
                }
            }
            for (id, by, by_at) in texts {
                let location = self.location(by, &by_at);
                let component_uuid = string(by, "component-uuid");
                let component = components.iter().find(|c| c.uuid == component_uuid);
                let not_applicable = by
                    .get("implementation-status")
                    .and_then(|s| s.get("state"))
                    .and_then(Value::as_str)
                    == Some("not-applicable");
                let responsibility_objects = ["inherited", "satisfied"]
                    .iter()
                    .any(|key| !array(by.get(*key)).is_empty())
                    || by.get("export").is_some_and(|export| {
                        ["provided", "responsibilities", "responsibility"]
                            .iter()
                            .any(|key| !array(export.get(*key)).is_empty())
                    });
                let mut sided = Vec::new();
                if let Some(export) = by.get("export") {
                    sided.extend(texts_of(export.get("provided"), Side::Provider));
                    sided.extend(texts_of(export.get("responsibilities"), Side::Customer));
                    sided.extend(texts_of(export.get("responsibility"), Side::Customer));
                }
                // An `inherited` that points at a `provided` of this same document is that
                // capability once more, seen from the leveraging side: counted once.
                let inherited: Vec<Value> = array(by.get("inherited"))
                    .iter()
                    .filter(|i| {
                        i.get("provided-uuid")
                            .and_then(Value::as_str)
                            .is_none_or(|uuid| !provided_here.iter().any(|p| p == uuid))
                    })
                    .cloned()
                    .collect();
                sided.extend(texts_of(Some(&Value::Array(inherited)), Side::Provider));
                sided.extend(texts_of(by.get("satisfied"), Side::Customer));
                let description = string(by, "description");
                if not_applicable {
                    self.add_not_applicable(&id, location, &description);
                    continue;
                }
                // A by-component with provided / responsibilities / inherited / satisfied
                // says whose each text is there; its description only tells how the
                // component implements the control.
                if !responsibility_objects && !description.trim().is_empty() {
                    match component {
                        Some(Component {
                            side: Some(side), ..
                        }) => sided.push((*side, description)),
                        Some(component) => {
                            if !unknown_reported.contains(&component.uuid) {
                                unknown_reported.push(component.uuid.clone());
                                self.problems.push(unknown_party(component));
                            }
                        }
                        None => self.problems.push(Finding::error(
                            Some(location.clone()),
                            code::COMPONENT_PARTY_UNKNOWN,
                            format!(
                                "by-component names component `{component_uuid}`, which the \
                                 SSP's system-implementation does not list, so whose text \
                                 this is cannot be told"
                            ),
                            "list the component in system-implementation/components with a \
                             responsible role (provider or customer)",
                        )),
                    }
                }
                self.msp_props(&id, by, location.clone());
                for (side, text) in sided {
                    self.add(&id, location.clone(), side, text);
                }
            }
        }
    }

    fn component_definition(&mut self, definition: &Value, pointer: &str) {
        let base = format!("{pointer}/components");
        for (i, component) in array(definition.get("components")).iter().enumerate() {
            let component_at = format!("{base}/{i}");
            let info = Component {
                uuid: string(component, "uuid"),
                title: string(component, "title"),
                side: side_of(component),
                location: self.location(component, &component_at),
            };
            let mut reported = false;
            for (j, implementation) in array(component.get("control-implementations"))
                .iter()
                .enumerate()
            {
                let implementation_at = format!("{component_at}/control-implementations/{j}");
                for (k, requirement) in array(implementation.get("implemented-requirements"))
                    .iter()
                    .enumerate()
                {
                    let at = format!("{implementation_at}/implemented-requirements/{k}");
                    let control_id = string(requirement, "control-id");
                    let control = self.control_id(requirement, &at);
                    let mut items = vec![(control.clone(), requirement, at.clone())];
                    for (s, statement) in array(requirement.get("statements")).iter().enumerate() {
                        let id =
                            statement_control(statement, &control_id).unwrap_or(control.clone());
                        items.push((id, statement, format!("{at}/statements/{s}")));
                    }
                    for (id, item, item_at) in items {
                        let location = self.location(item, &item_at);
                        let mut sided = Vec::new();
                        sided.extend(texts_of(item.get("provided"), Side::Provider));
                        sided.extend(texts_of(item.get("inherited"), Side::Provider));
                        sided.extend(texts_of(item.get("responsibility"), Side::Customer));
                        sided.extend(texts_of(item.get("responsibilities"), Side::Customer));
                        sided.extend(texts_of(item.get("satisfied"), Side::Customer));
                        let kind = prop_value(item, "responsibility-kind");
                        let description = string(item, "description");
                        // A requirement's description is only its side's text when it has no
                        // statements saying more (dutywatch's own export titles it).
                        let has_statements = !array(item.get("statements")).is_empty();
                        match kind.as_deref() {
                            Some("not-applicable") => {
                                self.add_not_applicable(&id, location, &description);
                                continue;
                            }
                            // The contractor's side of an MSP-only objective: no text of
                            // the contractor's, the provider's statement carries the work.
                            Some("inherited") => continue,
                            Some("provided") => sided.push((Side::Provider, description)),
                            Some("responsibility") => sided.push((Side::Customer, description)),
                            _ if has_statements || description.trim().is_empty() => {}
                            _ => match side_of(item).or(info.side) {
                                Some(side) => sided.push((side, description)),
                                None if sided.is_empty() && !reported => {
                                    reported = true;
                                    self.problems.push(unknown_party(&info));
                                }
                                None => {}
                            },
                        }
                        self.msp_props(&id, item, location.clone());
                        for (side, text) in sided {
                            self.add(&id, location.clone(), side, text);
                        }
                    }
                }
            }
        }
    }

    /// The `evidence-producer` and `verification` props of an item (dutywatch's own export
    /// writes them on the MSP's statements), kept for the control's row.
    fn msp_props(&mut self, id: &str, item: &Value, location: Location) {
        let producer = prop_value(item, "evidence-producer");
        let verification = prop_value(item, "verification");
        if producer.is_none() && verification.is_none() {
            return;
        }
        if let Some(control) = self.entry(id, location) {
            control.evidence_producer = control.evidence_producer.take().or(producer);
            control.verification = control.verification.take().or(verification);
        }
    }

    /// The requirement's control id in the CRM's form; a missing one is reported and the
    /// empty id left for the row parser to reject with its location.
    fn control_id(&mut self, requirement: &Value, at: &str) -> String {
        let id = string(requirement, "control-id");
        if id.trim().is_empty() {
            self.problems.push(Finding::error(
                Some(self.location(requirement, at)),
                code::MISSING_ID,
                "implemented requirement has no control-id",
                "give it the NIST SP 800-171 rev2 requirement it implements, e.g. 3.1.1 or \
                 sp800-171_3.1.1",
            ));
        }
        normalise_id(&id)
    }

    fn entry(&mut self, id: &str, location: Location) -> Option<&mut Control> {
        if id.trim().is_empty() {
            return None;
        }
        let index = match self.controls.iter().position(|c| c.id == id) {
            Some(index) => index,
            None => {
                self.controls.push(Control {
                    id: id.to_owned(),
                    location,
                    provider: Vec::new(),
                    customer: Vec::new(),
                    not_applicable: None,
                    evidence_producer: None,
                    verification: None,
                });
                self.controls.len() - 1
            }
        };
        self.controls.get_mut(index)
    }

    fn add(&mut self, id: &str, location: Location, side: Side, text: String) {
        let text = text.trim().to_owned();
        if text.is_empty() {
            return;
        }
        if let Some(control) = self.entry(id, location) {
            let texts = match side {
                Side::Provider => &mut control.provider,
                Side::Customer => &mut control.customer,
            };
            if !texts.contains(&text) {
                texts.push(text);
            }
        }
    }

    fn add_not_applicable(&mut self, id: &str, location: Location, description: &str) {
        if let Some(control) = self.entry(id, location) {
            let reason = description.trim();
            control.not_applicable = Some(if reason.is_empty() {
                "not applicable per the OSCAL document".to_owned()
            } else {
                reason.to_owned()
            });
        }
    }
}

fn unknown_party(component: &Component) -> Finding {
    Finding::error(
        Some(component.location.clone()),
        code::COMPONENT_PARTY_UNKNOWN,
        format!(
            "component `{}` ({}) has no responsible role or prop saying whether it is the \
             provider's or the customer's, so its descriptions are not read as either side",
            component.title, component.uuid
        ),
        "give the component a responsible-roles entry with role-id `provider` (the MSP) or \
         `customer` (the contractor), or write its texts as provided / responsibilities / \
         inherited / satisfied",
    )
}

/// The side a component (or statement) is on, from its responsible roles or props.
fn side_of(object: &Value) -> Option<Side> {
    let mut sides = Vec::new();
    for role in array(object.get("responsible-roles")) {
        if let Some(side) = role
            .get("role-id")
            .and_then(Value::as_str)
            .and_then(word_side)
        {
            sides.push(side);
        }
    }
    for prop in array(object.get("props")) {
        let name = prop.get("name").and_then(Value::as_str).unwrap_or_default();
        let value = prop
            .get("value")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if matches!(
            name,
            "dutywatch-party" | "control-origination" | "responsibility-kind" | "party"
        ) && let Some(side) = word_side(value)
        {
            sides.push(side);
        }
    }
    match sides.as_slice() {
        [first, rest @ ..] if rest.iter().all(|s| s == first) => Some(*first),
        _ => None,
    }
}

/// A role id or prop value naming a side (case and separators ignored).
fn word_side(word: &str) -> Option<Side> {
    let key: String = word
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_lowercase();
    match key.as_str() {
        "provider"
        | "serviceprovider"
        | "cloudserviceprovider"
        | "csp"
        | "msp"
        | "esp"
        | "spcorporate"
        | "spsystem"
        | "inherited"
        | "provided"
        | "leveragedsystem" => Some(Side::Provider),
        "customer" | "contractor" | "osa" | "consumer" | "customerconfigured"
        | "customerprovided" | "responsibility" | "leveragingsystem" => Some(Side::Customer),
        _ => None,
    }
}

/// The uuids of every `export.provided` in an SSP's implemented requirements and their
/// statements.
fn provided_uuids(requirements: Option<&Value>) -> Vec<String> {
    let mut out = Vec::new();
    for requirement in array(requirements) {
        let statements = array(requirement.get("statements"));
        let holders = std::iter::once(requirement).chain(statements.iter());
        for holder in holders {
            for by in array(holder.get("by-components")) {
                let provided = by.get("export").and_then(|e| e.get("provided"));
                out.extend(array(provided).iter().map(|p| string(p, "uuid")));
            }
        }
    }
    out
}

/// The texts of a list of responsibility objects (`provided`, `inherited`, …) on `side`.
fn texts_of(list: Option<&Value>, side: Side) -> Vec<(Side, String)> {
    array(list)
        .iter()
        .map(|item| (side, string(item, "description")))
        .filter(|(_, text)| !text.trim().is_empty())
        .collect()
}

/// The control a statement addresses: its objective when its statement id names one
/// (`3.1.1_smt.a`, `sp800-171_3.1.1.a`), else `None` (the requirement's).
fn statement_control(statement: &Value, control_id: &str) -> Option<String> {
    let id = normalise_id(&string(statement, "statement-id"));
    let requirement = normalise_id(control_id);
    (id != requirement && id.starts_with(&requirement) && id.len() > requirement.len())
        .then_some(id)
}

/// A control id in the forms OSCAL files use, in a form `ControlRef::parse_lenient` reads:
/// `sp800-171_3.1.1` and other prefixes before the number are dropped, `_smt`, `_obj` and
/// `_stmt` parts (`3.1.1_smt.a`, `3.1.1.a_obj`) too. An id without a rev2 number (an 800-53
/// `ac-2`, rev3's `03.01.01`) is left as it is, for the row parser to reject with its
/// location.
pub(super) fn normalise_id(id: &str) -> String {
    let text = id.trim().to_ascii_lowercase();
    let start = text.char_indices().find(|(i, c)| {
        *c == '3'
            && text.get(i + 1..i + 2) == Some(".")
            && text
                .get(..*i)
                .and_then(|before| before.chars().last())
                .is_none_or(|p| !(p.is_ascii_digit() || p == '.'))
    });
    let Some((start, _)) = start else {
        return id.trim().to_owned();
    };
    let rest = text.get(start..).unwrap_or_default();
    let mut cleaned = rest.to_owned();
    for part in ["_stmt", "_smt", "_obj"] {
        cleaned = cleaned.replace(part, "");
    }
    cleaned
        .trim_matches(|c: char| c == '.' || c == '_')
        .to_owned()
}

fn array(value: Option<&Value>) -> &[Value] {
    value.and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

fn string(object: &Value, key: &str) -> String {
    object
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn prop_value(object: &Value, name: &str) -> Option<String> {
    array(object.get("props"))
        .iter()
        .filter_map(Value::as_object)
        .find(|p: &&Map<String, Value>| p.get("name").and_then(Value::as_str) == Some(name))
        .and_then(|p| p.get("value").and_then(Value::as_str))
        .map(str::to_owned)
}
